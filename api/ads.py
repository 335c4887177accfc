"""Serving ads to viewers, and their impressions and clicks, which bill the advertiser.

- `GET /api/ads?placement=&content_id=`: a random ad among those that are approved, inside
  their dates, whose remaining budget, remaining budget today (`daily_budget_micros`) and
  advertiser wallet all cover one billable event, and that this viewer has not yet seen
  `frequency_cap` times today; or `data: null`. Each answer carries a fresh impression
  token (`impression_id`, api/ad_tokens.py) bound to the viewer, the ad, its placement and
  the content, stamped with the server's clock.
- `POST /api/ads/{id}/impressions` with that token counts (and, for CPM, bills
  `price_micros / 1000`) once, when the ad's `required_view_ms` has passed on the server's
  clock since it was served; `viewed_ms` is the player's own figure, kept (capped at what
  the server saw pass) but never trusted. Made-up, altered, expired or another viewer's
  tokens bill nothing (api/ad_billing.py).
- `POST /api/ads/{id}/clicks` with the token of a counted impression counts (CPC bills
  `price_micros`) once, within `AD_CLICK_WINDOW_S` of the impression.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api import ad_tokens
from api.access import BIGINT_MAX, authenticate, path_id
from api.ad_billing import NOW_MS, Clocks, EventResult, record_click, record_impression
from api.campaigns import UNIT_SQL, Placement
from core import user_events
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

# An impression token (api/ad_tokens.py); the pattern and length older made-up ids had fit.
Token = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")]
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
    required_view_ms: int  # report the impression once this much of it was shown
    # The impression token: report this showing (and a click on it) with it, once
    # required_view_ms has passed since this answer; it expires after AD_IMPRESSION_TTL_S.
    impression_id: str
    content_id: int | None
    expires_in_ms: int = 0  # the token's life left at serving


class ImpressionBody(Struct, forbid_unknown_fields=True):
    impression_id: Token
    viewed_ms: Annotated[int, Meta(ge=0, le=86_400_000)] = 0  # the player's figure: kept
    content_id: ContentId | None = None


class ClickBody(Struct, forbid_unknown_fields=True):
    impression_id: Token  # the token of the impression that was clicked (counted before)


_SERVE = text(
    "SELECT a.id, a.title, a.creative_url, a.click_url, a.placement, a.required_view_ms,"
    f" {NOW_MS}"
    " FROM ads a JOIN advertiser_wallets w ON w.advertiser_id = a.advertiser_id"
    " WHERE a.status = 'approved' AND a.placement = :placement"
    " AND (a.starts_at IS NULL OR a.starts_at <= now())"
    " AND (a.ends_at IS NULL OR a.ends_at > now())"
    f" AND a.budget_micros - a.spent_micros >= {UNIT_SQL}"
    f" AND w.balance_micros >= {UNIT_SQL}"
    " AND (a.daily_budget_micros IS NULL OR a.daily_budget_micros - COALESCE("
    "   (SELECT d.spent_micros FROM ad_days d WHERE d.ad_id = a.id"
    f"    AND d.day = (now() AT TIME ZONE :tz)::date), 0) >= {UNIT_SQL})"
    " AND (a.frequency_cap IS NULL OR (SELECT count(*) FROM ad_impressions i"
    "   WHERE i.ad_id = a.id AND i.user_id = :u AND i.counted AND i.counted_at >="
    "   ((now() AT TIME ZONE :tz)::date)::timestamp AT TIME ZONE :tz) < a.frequency_cap)"
    " ORDER BY random() LIMIT 1"
)


def clocks(request: Request) -> Clocks:
    state = request.app.state
    found: Clocks | None = getattr(state, "ad_clocks", None)
    if found is None:
        s = state.settings
        found = Clocks(
            key=ad_tokens.token_key(s.jwt_secret),
            tz=s.app_timezone,
            token_ttl_ms=s.ad_impression_ttl_s * 1000,
            click_window_ms=s.ad_click_window_s * 1000,
        )
        state.ad_clocks = found
    return found


async def serve_ad(request: Request) -> Response:
    identity = await authenticate(request)
    query = decode_query(request, AdQuery)
    c = clocks(request)
    params = {"placement": query.placement, "tz": c.tz, "u": identity.user_id}
    async with request.app.state.sessions() as session:
        row = (await session.execute(_SERVE, params)).first()
    if row is None:
        return ok(request, None)
    ad_id, title, creative, click_url, placement, required_ms, now_ms = row
    claims = ad_tokens.Claims(
        int(ad_id),
        identity.user_id,
        placement,
        query.content_id,
        int(now_ms),
        secrets.token_hex(12),
    )
    served = ServedAd(
        id=int(ad_id),
        title=title,
        creative_url=creative,
        click_url=click_url,
        placement=placement,
        required_view_ms=int(required_ms),
        impression_id=ad_tokens.issue(c.key, claims),
        content_id=query.content_id,
        expires_in_ms=c.token_ttl_ms,
    )
    return ok(request, served)


def _count(request: Request, event: str, result: EventResult) -> None:
    if result.reason is not None:
        request.app.state.ad_refused.labels(event, result.reason).inc()


async def post_impression(request: Request) -> Response:
    identity = await authenticate(request)
    ad_id = path_id(request)
    body = await decode_body(request, ImpressionBody)
    c = clocks(request)
    async with request.app.state.sessions.begin() as session:
        result = await record_impression(
            session,
            c,
            ad_id,
            identity.user_id,
            body.impression_id,
            body.viewed_ms,
            body.content_id,
        )
        await user_events.record_ad(session, identity.user_id, "impression", ad_id, result)
    _count(request, "impression", result)
    return ok(request, result)


async def post_click(request: Request) -> Response:
    identity = await authenticate(request)
    ad_id = path_id(request)
    body = await decode_body(request, ClickBody)
    c = clocks(request)
    async with request.app.state.sessions.begin() as session:
        result = await record_click(session, c, ad_id, identity.user_id, body.impression_id)
        await user_events.record_ad(session, identity.user_id, "click", ad_id, result)
    _count(request, "click", result)
    return ok(request, result)


TAGS = ("ads",)
routes = [
    api_route(
        "GET",
        "/api/ads",
        serve_ad,
        summary="Pick an ad to show for a placement, with its impression token "
        "(data null when none has budget left or the viewer reached its daily cap)",
        query=AdQuery,
        response=ServedAd | None,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/ads/{id:int}/impressions",
        post_impression,
        summary="Report an impression with its token (counts and bills once, after the "
        "ad's required exposure has passed on the server's clock since it was served)",
        body=ImpressionBody,
        response=EventResult,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/ads/{id:int}/clicks",
        post_click,
        summary="Report a click on a counted impression (its token; once, within the click "
        "window; CPC ads bill it)",
        body=ClickBody,
        response=EventResult,
        tags=TAGS,
    ),
]
