"""Admin ad review: list ads (by status, advertiser), approve, reject. An approved ad is
served at once; rejecting an approved ad stops serving it (impressions and clicks of its
earlier showings are then recorded but not counted). Approving an approved ad, or
rejecting a rejected one with the same reason, changes nothing and writes no audit entry.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate, path_id
from api.campaigns import NO_NUL, AdStatus, AdView, get_ad, list_ads
from api.pages import Page, PageQuery, id_page
from core import audit
from core.tokens import Identity
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route


class AdsQuery(PageQuery):
    status: AdStatus | None = None
    advertiser_id: Annotated[int, Meta(ge=1, le=BIGINT_MAX)] | None = None


class RejectBody(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)] | None = None


async def list_all_ads(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, AdsQuery)
    async with request.app.state.sessions() as session:
        ads = await id_page(
            query,
            "ads",
            lambda after, n: list_ads(
                session,
                advertiser_id=query.advertiser_id,
                status=query.status,
                after_id=after,
                limit=n,
            ),
        )
    return ok(request, ads)


async def _review(
    request: Request, identity: Identity, status: str, reason: str | None
) -> Response:
    ad_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        before = await get_ad(session, ad_id, lock=True)
        if before.status == status and before.review_reason == reason:
            return ok(request, before)
        await session.execute(
            text(
                "UPDATE ads SET status = :s, review_reason = :r, reviewed_at = now(),"
                " reviewed_by = :by, updated_at = now() WHERE id = :id"
            ),
            {"s": status, "r": reason, "by": identity.user_id, "id": ad_id},
        )
        after = await get_ad(session, ad_id)
        action = "ad.approve" if status == "approved" else "ad.reject"
        audit.record(
            session,
            identity.user_id,
            action,
            f"ad:{ad_id}",
            {"status": before.status, "review_reason": before.review_reason},
            {"status": after.status, "review_reason": after.review_reason},
        )
    return ok(request, after)


async def approve_ad(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    return await _review(request, identity, "approved", None)


async def reject_ad(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, RejectBody | None) or RejectBody()  # type: ignore[arg-type]
    return await _review(request, identity, "rejected", body.reason)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/ads",
        list_all_ads,
        summary="List ads (review queue: ?status=pending)",
        auth="admin",
        query=AdsQuery,
        response=Page[AdView],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/ads/{id:int}/approve",
        approve_ad,
        summary="Approve an ad",
        auth="admin",
        response=AdView,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/ads/{id:int}/reject",
        reject_ad,
        summary="Reject an ad (stops serving an approved one)",
        auth="admin",
        body=RejectBody | None,
        response=AdView,
        tags=TAGS,
    ),
]
