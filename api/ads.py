"""Serving ads to viewers, and their impressions and clicks, which bill the advertiser.

- `GET /api/ads?placement=`: a random ad among those that are approved, inside their dates,
  and whose remaining budget and advertiser wallet both cover one billable event (so an ad
  whose budget or wallet is spent stops being served), or `data: null`.
- Impressions are unique per (ad, `impression_id`). One counts when its `viewed_ms` reaches
  the ad's `required_view_ms`; a report below it is kept (a later report of the same id
  with more viewing can still count). A CPM impression is billed `price_micros / 1000`
  when it counts; if the budget or wallet cannot pay, it is kept uncounted (`reason`).
- Clicks are unique per impression; a CPC click is billed `price_micros`.
- Billing locks the wallet row, then the ad row, re-reads the impression or click under
  those locks, and writes the ledger row, the wallet, the ad counters and the event in one
  transaction: concurrent events can never take a wallet below zero or bill twice.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, TypedDict

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import BIGINT_MAX, authenticate, path_id
from api.campaigns import UNIT_SQL, Placement
from api.wallets import lock_wallet, post_entry
from core import user_events
from core.errors import Conflict, NotFound
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

EventId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
ContentId = Annotated[int, Meta(ge=1, le=BIGINT_MAX)]


class AdQuery(Struct):
    placement: Placement
    content_id: ContentId | None = None


class ServedAd(Struct, frozen=True):
    id: int
    title: str
    creative_url: str
    click_url: str | None
    placement: str
    required_view_ms: int  # report the impression once this much of it was seen
    impression_id: str  # a fresh id to report this showing with (any unique id will do)
    content_id: int | None


class ImpressionBody(Struct, forbid_unknown_fields=True):
    impression_id: EventId
    viewed_ms: Annotated[int, Meta(ge=0, le=86_400_000)]
    content_id: ContentId | None = None


class ClickBody(Struct, forbid_unknown_fields=True):
    impression_id: EventId  # the impression that was clicked (reported before)


class EventResult(Struct, frozen=True):
    ad_id: int
    impression_id: str
    counted: bool  # counted (and billed, when it is the ad's billable event)
    duplicate: bool  # this id was already counted: nothing changed
    # why it is not counted: below_exposure, not_in_flight, budget_exhausted, wallet_empty
    reason: str | None
    cost_micros: int  # billed for this event (0 when not billed)
    click_url: str | None = None  # clicks: where to send the viewer


class _EventOf(TypedDict):
    """The fields of an EventResult that name the event."""

    ad_id: int
    impression_id: str


_SERVE = text(
    "SELECT a.id, a.title, a.creative_url, a.click_url, a.placement, a.required_view_ms"
    " FROM ads a JOIN advertiser_wallets w ON w.advertiser_id = a.advertiser_id"
    " WHERE a.status = 'approved' AND a.placement = :placement"
    " AND (a.starts_at IS NULL OR a.starts_at <= now())"
    " AND (a.ends_at IS NULL OR a.ends_at > now())"
    f" AND a.budget_micros - a.spent_micros >= {UNIT_SQL}"
    f" AND w.balance_micros >= {UNIT_SQL}"
    " ORDER BY random() LIMIT 1"
)
# The ad as billing needs it, row-locked (after its wallet).
_BILLING = text(
    f"SELECT a.billing, {UNIT_SQL}, a.budget_micros - a.spent_micros, a.click_url,"
    " a.status = 'approved' AND (a.starts_at IS NULL OR a.starts_at <= now())"
    " AND (a.ends_at IS NULL OR a.ends_at > now())"
    " FROM ads a WHERE a.id = :id FOR UPDATE"
)
_UPSERT_IMPRESSION = text(
    "INSERT INTO ad_impressions (ad_id, impression_id, user_id, content_id, viewed_ms,"
    " counted, cost_micros, counted_at) VALUES (:ad, :imp, :u, :c, :v, :counted, :cost,"
    " CASE WHEN :counted THEN now() END)"
    " ON CONFLICT (ad_id, impression_id) DO UPDATE SET"
    " viewed_ms = GREATEST(ad_impressions.viewed_ms, EXCLUDED.viewed_ms),"
    " content_id = COALESCE(ad_impressions.content_id, EXCLUDED.content_id),"
    " counted = ad_impressions.counted OR EXCLUDED.counted,"
    " cost_micros = CASE WHEN ad_impressions.counted THEN ad_impressions.cost_micros"
    "   ELSE EXCLUDED.cost_micros END,"
    " counted_at = COALESCE(ad_impressions.counted_at, EXCLUDED.counted_at)"
    " WHERE ad_impressions.user_id = EXCLUDED.user_id RETURNING counted"
)


async def serve_ad(request: Request) -> Response:
    await authenticate(request)
    query = decode_query(request, AdQuery)
    async with request.app.state.sessions() as session:
        row = (await session.execute(_SERVE, {"placement": query.placement})).first()
    if row is None:
        return ok(request, None)
    # (id, title, creative_url, click_url, placement, required_view_ms), as _SERVE selects them
    ad: tuple[int, str, str, str | None, str, int] = tuple(row)
    return ok(request, ServedAd(*ad, impression_id=uuid.uuid4().hex, content_id=query.content_id))


async def _ad_owner(session: AsyncSession, ad_id: int) -> tuple[int, int]:
    """(advertiser id, required_view_ms) of an ad that was ever servable (not pending)."""
    row = (
        await session.execute(
            text(
                "SELECT advertiser_id, required_view_ms FROM ads WHERE id = :id AND status <> 'pending'"
            ),
            {"id": ad_id},
        )
    ).first()
    if row is None:
        raise NotFound(f"no ad {ad_id}")
    return int(row[0]), int(row[1])


async def _impression(
    session: AsyncSession, ad_id: int, impression_id: str
) -> tuple[int, bool, int] | None:
    row = (
        await session.execute(
            text(
                "SELECT user_id, counted, cost_micros FROM ad_impressions"
                " WHERE ad_id = :ad AND impression_id = :imp"
            ),
            {"ad": ad_id, "imp": impression_id},
        )
    ).first()
    return None if row is None else (int(row[0]), bool(row[1]), int(row[2]))


async def _upsert_impression(
    session: AsyncSession, ad_id: int, user_id: int, body: ImpressionBody, counted: bool, cost: int
) -> None:
    row = (
        await session.execute(
            _UPSERT_IMPRESSION,
            {
                "ad": ad_id,
                "imp": body.impression_id,
                "u": user_id,
                "c": body.content_id,
                "v": body.viewed_ms,
                "counted": counted,
                "cost": cost,
            },
        )
    ).first()
    if row is None:
        raise Conflict("this impression_id was reported by another viewer")


def _refusal(in_flight: bool, cost: int, remaining: int, balance: int) -> str | None:
    if not in_flight:
        return "not_in_flight"
    if cost > remaining:
        return "budget_exhausted"
    if cost > balance:
        return "wallet_empty"
    return None


async def record_impression(
    session: AsyncSession, ad_id: int, user_id: int, body: ImpressionBody
) -> EventResult:
    """Record (and count and bill, when due) one impression report. No commit."""
    advertiser_id, required_ms = await _ad_owner(session, ad_id)
    result: _EventOf = {"ad_id": ad_id, "impression_id": body.impression_id}
    seen = await _impression(session, ad_id, body.impression_id)
    if seen is not None and seen[0] != user_id:
        raise Conflict("this impression_id was reported by another viewer")
    if seen is not None and seen[1]:
        return EventResult(**result, counted=True, duplicate=True, reason=None, cost_micros=0)
    if body.viewed_ms < required_ms:
        await _upsert_impression(session, ad_id, user_id, body, False, 0)
        return EventResult(
            **result, counted=False, duplicate=False, reason="below_exposure", cost_micros=0
        )
    # Counting: wallet lock, then ad lock, then re-read what a racing report may have done.
    balance = await lock_wallet(session, advertiser_id)
    billing, unit, remaining, _, in_flight = (await session.execute(_BILLING, {"id": ad_id})).one()
    seen = await _impression(session, ad_id, body.impression_id)
    if seen is not None and seen[0] != user_id:
        raise Conflict("this impression_id was reported by another viewer")
    if seen is not None and seen[1]:
        return EventResult(**result, counted=True, duplicate=True, reason=None, cost_micros=0)
    cost = int(unit) if billing == "cpm" else 0
    reason = _refusal(bool(in_flight), cost, int(remaining), balance)
    if reason is not None:
        await _upsert_impression(session, ad_id, user_id, body, False, 0)
        return EventResult(**result, counted=False, duplicate=False, reason=reason, cost_micros=0)
    if cost:
        await post_entry(
            session, advertiser_id, "impression", -cost, f"imp:{ad_id}:{body.impression_id}", ad_id
        )
    await session.execute(
        text(
            "UPDATE ads SET spent_micros = spent_micros + :m, impressions = impressions + 1,"
            " updated_at = now() WHERE id = :id"
        ),
        {"id": ad_id, "m": cost},
    )
    await _upsert_impression(session, ad_id, user_id, body, True, cost)
    return EventResult(**result, counted=True, duplicate=False, reason=None, cost_micros=cost)


async def record_click(
    session: AsyncSession, ad_id: int, user_id: int, impression_id: str
) -> EventResult:
    """Record (and count and bill, when due) a click on one of the user's impressions."""
    advertiser_id, _ = await _ad_owner(session, ad_id)
    seen = await _impression(session, ad_id, impression_id)
    if seen is None or seen[0] != user_id:
        raise NotFound(f"no impression {impression_id} of ad {ad_id} by this viewer")
    result: dict[str, Any] = {"ad_id": ad_id, "impression_id": impression_id}
    balance = await lock_wallet(session, advertiser_id)
    billing, unit, remaining, click_url, in_flight = (
        await session.execute(_BILLING, {"id": ad_id})
    ).one()
    result["click_url"] = click_url
    clicked = (
        await session.execute(
            text("SELECT counted FROM ad_clicks WHERE ad_id = :ad AND impression_id = :imp"),
            {"ad": ad_id, "imp": impression_id},
        )
    ).first()
    if clicked is not None:
        return EventResult(
            **result, counted=bool(clicked[0]), duplicate=True, reason=None, cost_micros=0
        )
    cost = int(unit) if billing == "cpc" else 0
    reason = _refusal(bool(in_flight), cost, int(remaining), balance)
    counted = reason is None
    if counted:
        if cost:
            await post_entry(
                session, advertiser_id, "click", -cost, f"click:{ad_id}:{impression_id}", ad_id
            )
        await session.execute(
            text(
                "UPDATE ads SET spent_micros = spent_micros + :m, clicks = clicks + 1,"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": ad_id, "m": cost},
        )
    await session.execute(
        text(
            "INSERT INTO ad_clicks (ad_id, impression_id, user_id, counted, cost_micros)"
            " VALUES (:ad, :imp, :u, :counted, :cost)"
        ),
        {
            "ad": ad_id,
            "imp": impression_id,
            "u": user_id,
            "counted": counted,
            "cost": cost if counted else 0,
        },
    )
    return EventResult(
        **result,
        counted=counted,
        duplicate=False,
        reason=reason,
        cost_micros=cost if counted else 0,
    )


async def post_impression(request: Request) -> Response:
    identity = await authenticate(request)
    ad_id = path_id(request)
    body = await decode_body(request, ImpressionBody)
    async with request.app.state.sessions.begin() as session:
        result = await record_impression(session, ad_id, identity.user_id, body)
        await user_events.record_ad(session, identity.user_id, "impression", ad_id, result)
    return ok(request, result)


async def post_click(request: Request) -> Response:
    identity = await authenticate(request)
    ad_id = path_id(request)
    body = await decode_body(request, ClickBody)
    async with request.app.state.sessions.begin() as session:
        result = await record_click(session, ad_id, identity.user_id, body.impression_id)
        await user_events.record_ad(session, identity.user_id, "click", ad_id, result)
    return ok(request, result)


TAGS = ("ads",)
routes = [
    api_route(
        "GET",
        "/api/ads",
        serve_ad,
        summary="Pick an ad to show for a placement (data null when none has budget left)",
        query=AdQuery,
        response=ServedAd | None,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/ads/{id:int}/impressions",
        post_impression,
        summary="Report an impression (deduplicated by impression_id; counts and "
        "bills once viewed_ms reaches the ad's required exposure)",
        body=ImpressionBody,
        response=EventResult,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/ads/{id:int}/clicks",
        post_click,
        summary="Report a click on a reported impression (once per impression; CPC ads bill it)",
        body=ClickBody,
        response=EventResult,
        tags=TAGS,
    ),
]
