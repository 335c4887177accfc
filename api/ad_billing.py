"""Counting and billing an impression or a click: only on a token that `GET /api/ads` served
(api/ad_tokens.py) to this viewer, for this ad and content, once, after the ad's required
exposure has passed on the server's clock since it was served, and within the caps.

Order of checks, cheapest and lock-free first: the token (signature, ad, viewer, content),
its age (expired, too early), then under the wallet lock and the ad lock (the lock order of
api/wallets.py): already counted, in flight, the viewer's frequency cap today, the ad's
daily budget, its total budget, the wallet. Every refusal is counted (api/ad_refusals.py)
and answered as `counted: false` with its reason; nothing refused is billed.

The daily figures (`ad_days`) and the viewer's count today are read and written under the
ad's row lock, so concurrent reports can never pass a cap or a budget together.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api import ad_tokens
from api.ad_refusals import record_refusal
from api.campaigns import UNIT_SQL
from api.wallets import lock_wallet, post_entry
from core.errors import NotFound


class Clocks(Struct, frozen=True):
    """What the rules need besides the database: the token key and windows (settings)."""

    key: bytes
    tz: str
    token_ttl_ms: int
    click_window_ms: int


class EventResult(Struct, frozen=True):
    ad_id: int
    impression_id: str
    counted: bool  # counted (and billed, when it is the ad's billable event)
    duplicate: bool  # this impression (or click) was already counted: nothing changed
    reason: str | None  # why it is not counted (api/ad_refusals.py); None when counted
    cost_micros: int  # billed for this event (0 when not billed)
    click_url: str | None = None  # clicks: where to send the viewer


NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
_AD = text(
    f"SELECT advertiser_id, required_view_ms, {NOW_MS} FROM ads"
    " WHERE id = :id AND status <> 'pending'"
)
# The ad as billing needs it, row-locked (after its wallet), with today's figures.
_BILLING = text(
    f"SELECT a.billing, {UNIT_SQL}, a.budget_micros - a.spent_micros, a.click_url,"
    " a.status = 'approved' AND (a.starts_at IS NULL OR a.starts_at <= now())"
    " AND (a.ends_at IS NULL OR a.ends_at > now()),"
    " a.frequency_cap, a.daily_budget_micros,"
    " COALESCE((SELECT d.spent_micros FROM ad_days d WHERE d.ad_id = a.id"
    "   AND d.day = (now() AT TIME ZONE :tz)::date), 0)"
    " FROM ads a WHERE a.id = :id FOR UPDATE OF a"
)
_VIEWER_TODAY = text(
    "SELECT count(*) FROM ad_impressions WHERE ad_id = :ad AND user_id = :u AND counted"
    " AND counted_at >= ((now() AT TIME ZONE :tz)::date)::timestamp AT TIME ZONE :tz"
)
_DAY = text(
    "INSERT INTO ad_days (ad_id, day, impressions, clicks, spent_micros)"
    " VALUES (:ad, (now() AT TIME ZONE :tz)::date, :i, :c, :m)"
    " ON CONFLICT (ad_id, day) DO UPDATE SET impressions = ad_days.impressions + :i,"
    " clicks = ad_days.clicks + :c, spent_micros = ad_days.spent_micros + :m"
)


class _Billing(Struct, frozen=True):
    billing: str
    unit: int
    remaining: int
    click_url: str | None
    in_flight: bool
    frequency_cap: int | None
    daily_budget: int | None
    spent_today: int


async def _ad(session: AsyncSession, ad_id: int) -> tuple[int, int, int]:
    """(advertiser id, required_view_ms, the server's clock in ms) of an ad that was ever
    servable (not pending); NotFound otherwise."""
    row = (await session.execute(_AD, {"id": ad_id})).first()
    if row is None:
        raise NotFound(f"no ad {ad_id}")
    return int(row[0]), int(row[1]), int(row[2])


async def _lock(
    session: AsyncSession, advertiser_id: int, ad_id: int, tz: str
) -> tuple[int, _Billing]:
    balance = await lock_wallet(session, advertiser_id)
    row = (await session.execute(_BILLING, {"id": ad_id, "tz": tz})).one()
    return balance, _Billing(
        row[0], int(row[1]), int(row[2]), row[3], bool(row[4]), row[5], row[6], int(row[7])
    )


def _money_refusal(ad: _Billing, cost: int, balance: int) -> str | None:
    if not ad.in_flight:
        return "not_in_flight"
    if ad.daily_budget is not None and cost > ad.daily_budget - ad.spent_today:
        return "daily_budget"
    if cost > ad.remaining:
        return "budget_exhausted"
    if cost > balance:
        return "wallet_empty"
    return None


def token_refusal(
    claims: ad_tokens.Claims | None, ad_id: int, user_id: int, content_id: int | None
) -> str | None:
    """`invalid_token` unless the token was served to this viewer for this ad (and, when the
    report names one, this content). Pure."""
    if claims is None or claims.ad_id != ad_id or claims.user_id != user_id:
        return "invalid_token"
    if content_id is not None and claims.content_id != content_id:
        return "invalid_token"
    return None


async def _refuse(
    session: AsyncSession, ad_id: int, event: str, reason: str, tz: str, **result: Any
) -> EventResult:
    await record_refusal(session, ad_id, event, reason, tz)
    fields: dict[str, Any] = {"counted": False, "duplicate": False, "cost_micros": 0, **result}
    return EventResult(ad_id=ad_id, reason=reason, **fields)


async def _counted_impression(
    session: AsyncSession, ad_id: int, nonce: str
) -> tuple[int, int] | None:
    """(viewer, ms since it was counted) of a counted impression, or None."""
    row = (
        await session.execute(
            text(
                f"SELECT user_id, {NOW_MS} - (extract(epoch FROM counted_at) * 1000)::bigint"
                " FROM ad_impressions WHERE ad_id = :ad AND impression_id = :imp AND counted"
            ),
            {"ad": ad_id, "imp": nonce},
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def record_impression(
    session: AsyncSession,
    clocks: Clocks,
    ad_id: int,
    user_id: int,
    token: str,
    viewed_ms: int,
    content_id: int | None,
) -> EventResult:
    """Count and bill (when due) one impression report. No commit."""
    advertiser_id, required_ms, now_ms = await _ad(session, ad_id)
    claims = ad_tokens.read(clocks.key, token)
    tz = clocks.tz
    result = {"impression_id": token}
    reason = token_refusal(claims, ad_id, user_id, content_id)
    if reason is not None or claims is None:
        return await _refuse(session, ad_id, "impression", reason or "invalid_token", tz, **result)
    age = now_ms - claims.served_ms
    if age > clocks.token_ttl_ms:
        return await _refuse(session, ad_id, "impression", "expired", tz, **result)
    if age < required_ms:
        return await _refuse(session, ad_id, "impression", "too_early", tz, **result)
    balance, ad = await _lock(session, advertiser_id, ad_id, tz)
    if await _counted_impression(session, ad_id, claims.nonce) is not None:
        return await _refuse(
            session, ad_id, "impression", "duplicate", tz, **result, counted=True, duplicate=True
        )
    cost = ad.unit if ad.billing == "cpm" else 0
    reason = _money_refusal(ad, cost, balance)
    if reason is None and ad.frequency_cap is not None:
        seen = (
            await session.execute(_VIEWER_TODAY, {"ad": ad_id, "u": user_id, "tz": tz})
        ).scalar_one()
        if seen >= ad.frequency_cap:
            reason = "frequency_cap"
    if reason is not None:
        return await _refuse(session, ad_id, "impression", reason, tz, **result)
    if cost:
        await post_entry(
            session, advertiser_id, "impression", -cost, f"imp:{ad_id}:{claims.nonce}", ad_id
        )
    await session.execute(
        text(
            "UPDATE ads SET spent_micros = spent_micros + :m, impressions = impressions + 1,"
            " updated_at = now() WHERE id = :id"
        ),
        {"id": ad_id, "m": cost},
    )
    await session.execute(_DAY, {"ad": ad_id, "tz": tz, "i": 1, "c": 0, "m": cost})
    await session.execute(
        text(
            "INSERT INTO ad_impressions (ad_id, impression_id, user_id, content_id, viewed_ms,"
            " counted, cost_micros, counted_at, served_at) VALUES (:ad, :imp, :u, :c, :v, true,"
            " :cost, now(), to_timestamp(:served / 1000.0))"
        ),
        {
            "ad": ad_id,
            "imp": claims.nonce,
            "u": user_id,
            "c": claims.content_id,
            "v": min(viewed_ms, age),  # what the server saw pass, at most what was claimed
            "cost": cost,
            "served": claims.served_ms,
        },
    )
    return EventResult(
        ad_id=ad_id,
        impression_id=token,
        counted=True,
        duplicate=False,
        reason=None,
        cost_micros=cost,
    )


async def record_click(
    session: AsyncSession, clocks: Clocks, ad_id: int, user_id: int, token: str
) -> EventResult:
    """Count and bill (when due) a click on one of the viewer's counted impressions, once,
    within the click window. No commit."""
    advertiser_id, _, _ = await _ad(session, ad_id)
    claims = ad_tokens.read(clocks.key, token)
    tz = clocks.tz
    result: dict[str, Any] = {"impression_id": token}
    reason = token_refusal(claims, ad_id, user_id, None)
    if reason is not None or claims is None:
        return await _refuse(session, ad_id, "click", reason or "invalid_token", tz, **result)
    balance, ad = await _lock(session, advertiser_id, ad_id, tz)
    result["click_url"] = ad.click_url
    shown = await _counted_impression(session, ad_id, claims.nonce)
    if shown is None or shown[0] != user_id:
        return await _refuse(session, ad_id, "click", "not_counted", tz, **result)
    clicked = (
        await session.execute(
            text("SELECT 1 FROM ad_clicks WHERE ad_id = :ad AND impression_id = :imp"),
            {"ad": ad_id, "imp": claims.nonce},
        )
    ).first()
    if clicked is not None:
        return await _refuse(
            session, ad_id, "click", "duplicate", tz, **result, counted=True, duplicate=True
        )
    if shown[1] > clocks.click_window_ms:
        return await _refuse(session, ad_id, "click", "click_window", tz, **result)
    cost = ad.unit if ad.billing == "cpc" else 0
    reason = _money_refusal(ad, cost, balance)
    if reason is not None:
        return await _refuse(session, ad_id, "click", reason, tz, **result)
    if cost:
        await post_entry(
            session, advertiser_id, "click", -cost, f"click:{ad_id}:{claims.nonce}", ad_id
        )
    await session.execute(
        text(
            "UPDATE ads SET spent_micros = spent_micros + :m, clicks = clicks + 1,"
            " updated_at = now() WHERE id = :id"
        ),
        {"id": ad_id, "m": cost},
    )
    await session.execute(_DAY, {"ad": ad_id, "tz": tz, "i": 0, "c": 1, "m": cost})
    await session.execute(
        text(
            "INSERT INTO ad_clicks (ad_id, impression_id, user_id, counted, cost_micros)"
            " VALUES (:ad, :imp, :u, true, :cost)"
        ),
        {"ad": ad_id, "imp": claims.nonce, "u": user_id, "cost": cost},
    )
    return EventResult(
        ad_id=ad_id,
        impression_id=token,
        counted=True,
        duplicate=False,
        reason=None,
        cost_micros=cost,
        click_url=ad.click_url,
    )
