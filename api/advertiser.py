"""Advertiser routes (role `advertiser`): the wallet and its ledger, charges, ads and their
stats. An advertiser only ever sees their own ads: another advertiser's ad answers 404, the
same as a missing one, so ids cannot be probed.

A charge is a payment record (there is no real gateway) that credits the wallet. Its
`Idempotency-Key` header is required: a retry with the same key answers the first charge
(`Idempotent-Replayed: true`) and credits nothing; the same key with another amount is a
409 `conflict`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
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
from api.campaigns import Micros as Amount
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.pages import Page, PageQuery, id_page
from api.wallets import (
    WalletEntry,
    WalletView,
    ensure_wallet,
    get_wallet,
    list_entries,
    lock_wallet,
    post_entry,
)
from core.errors import Conflict
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

ADVERTISER = ("advertiser",)


class ChargeBody(Struct, forbid_unknown_fields=True):
    amount_micros: Amount  # 1 .. 10^12 micro-units (1,000,000 currency units)


class ChargeView(Struct, frozen=True):
    id: int
    amount_micros: int
    status: str  # succeeded (no real gateway: a charge is a payment record)
    balance_after_micros: int
    transaction_id: int  # the wallet ledger row it made
    created_at: datetime


_CHARGE_COLUMNS = "id, amount_micros, status, balance_after_micros, transaction_id, created_at"


async def _find_charge(session: AsyncSession, advertiser_id: int, key: str) -> Any:
    return (
        await session.execute(
            text(
                f"SELECT {_CHARGE_COLUMNS} FROM wallet_charges"
                " WHERE advertiser_id = :a AND idempotency_key = :k"
            ),
            {"a": advertiser_id, "k": key},
        )
    ).first()


async def charge(
    session: AsyncSession, advertiser_id: int, key: str, amount: int
) -> tuple[ChargeView, bool]:
    """Credit the wallet once per key: (the charge, replayed?). No commit."""
    await ensure_wallet(session, advertiser_id)
    await lock_wallet(session, advertiser_id)  # serialises this advertiser's charges
    found = await _find_charge(session, advertiser_id, key)
    if found is not None:
        view = ChargeView(**found._mapping)
        if view.amount_micros != amount:
            raise Conflict(
                f"{HEADER} already used for a charge of another amount",
                details={"field": HEADER, "amount_micros": view.amount_micros},
            )
        return view, True
    tx_id, balance = await post_entry(
        session, advertiser_id, "charge", amount, f"charge:{advertiser_id}:{key}"
    )
    row = (
        await session.execute(
            text(
                "INSERT INTO wallet_charges (advertiser_id, idempotency_key, amount_micros,"
                " balance_after_micros, transaction_id)"
                f" VALUES (:a, :k, :m, :b, :tx) RETURNING {_CHARGE_COLUMNS}"
            ),
            {"a": advertiser_id, "k": key, "m": amount, "b": balance, "tx": tx_id},
        )
    ).one()
    return ChargeView(**row._mapping), False


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


async def post_charge(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await decode_body(request, ChargeBody)
    async with request.app.state.sessions.begin() as session:
        view, replayed = await charge(session, identity.user_id, key, body.amount_micros)
    return ok(request, view, 201, headers=replay_headers(replayed))


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
        "/api/advertiser/wallet/charges",
        post_charge,
        summary="Charge the wallet (Idempotency-Key required: a retry is applied once)",
        auth="advertiser",
        body=ChargeBody,
        response=ChargeView,
        status=201,
        errors=["conflict"],
        headers=[HEADER],
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
