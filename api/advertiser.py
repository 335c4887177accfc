"""Advertiser routes (role `advertiser`): the wallet and its ledger, charges, ads and their
stats. An advertiser only ever sees their own ads: another advertiser's ad answers 404, the
same as a missing one, so ids cannot be probed.

Charges go through the payment gateway (api/payments.py): nothing here credits a wallet.
`wallet_charges` keeps the direct charges made before migration 0008 (they still count in
`charged_micros`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate, path_id
from api.campaigns import (
    AdCreate,
    AdStats,
    AdView,
    ad_stats,
    clean_create,
    create_ad,
    get_ad,
    list_ads,
)
from api.pages import Page, PageQuery, id_page
from api.wallets import (
    WalletEntry,
    WalletView,
    ensure_wallet,
    get_wallet,
    list_entries,
)
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

ADVERTISER = ("advertiser",)


async def get_own_wallet(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    async with request.app.state.sessions.begin() as session:
        await ensure_wallet(session, identity.user_id)
        wallet = await get_wallet(session, identity.user_id)
    return ok(request, wallet)


async def list_ledger(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        entries = await id_page(
            query, "wallet", lambda after, n: list_entries(session, identity.user_id, after, n)
        )
    return ok(request, entries)


async def post_ad(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    body = await decode_body(request, AdCreate)
    values = clean_create(body)
    async with request.app.state.sessions.begin() as session:
        await ensure_wallet(session, identity.user_id)
        ad = await create_ad(session, identity.user_id, values)
    return ok(request, ad, 201)


async def list_own_ads(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        ads = await id_page(
            query,
            "my_ads",
            lambda after, n: list_ads(
                session, advertiser_id=identity.user_id, status=None, after_id=after, limit=n
            ),
        )
    return ok(request, ads)


async def get_own_ad(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    ad_id = path_id(request)
    async with request.app.state.sessions() as session:
        ad = await get_ad(session, ad_id, advertiser_id=identity.user_id)
    return ok(request, ad)


async def get_own_stats(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    ad_id = path_id(request)
    async with request.app.state.sessions() as session:
        ad = await get_ad(session, ad_id, advertiser_id=identity.user_id)
        stats = await ad_stats(session, ad, request.app.state.settings.app_timezone)
    return ok(request, stats)


TAGS = ("advertiser",)
routes = [
    api_route(
        "GET",
        "/api/advertiser/wallet",
        get_own_wallet,
        summary="The wallet balance and totals (micro-units)",
        auth="advertiser",
        response=WalletView,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/advertiser/wallet/transactions",
        list_ledger,
        summary="The wallet ledger, newest first",
        auth="advertiser",
        query=PageQuery,
        response=Page[WalletEntry],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/advertiser/ads",
        post_ad,
        summary="Create an ad (pending approval)",
        auth="advertiser",
        body=AdCreate,
        response=AdView,
        status=201,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/advertiser/ads",
        list_own_ads,
        summary="The caller's ads, oldest first",
        auth="advertiser",
        query=PageQuery,
        response=Page[AdView],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/advertiser/ads/{id:int}",
        get_own_ad,
        summary="One of the caller's ads",
        auth="advertiser",
        response=AdView,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/advertiser/ads/{id:int}/stats",
        get_own_stats,
        summary="Stats of one of the caller's ads (totals and the last 30 days)",
        auth="advertiser",
        response=AdStats,
        tags=TAGS,
    ),
]
