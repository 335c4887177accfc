"""Ads as advertisers and admins see them: the wire shapes, input rules and data helpers
shared by the advertiser routes, the admin review routes and the serving routes.

Billing: `cpm` ads pay `price_micros` per 1000 counted impressions, debited per impression
as `price_micros / 1000` (so a CPM price must be a multiple of 1000 micros, which keeps every
debit exact); `cpc` ads pay `price_micros` per counted click. `unit_micros` is the cost of
one billable event. An ad is served only while approved, inside its dates, and while both
its remaining budget and its advertiser's wallet cover one unit. Helpers never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.web import invalid

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
Placement = Literal["preroll", "midroll", "postroll", "banner"]
Billing = Literal["cpm", "cpc"]
AdStatus = Literal["pending", "approved", "rejected"]
Url = Annotated[str, Meta(min_length=1, max_length=2048, pattern=NO_NUL)]
Micros = Annotated[int, Meta(ge=1, le=10**12)]
Budget = Annotated[int, Meta(ge=1, le=10**15)]
ViewMs = Annotated[int, Meta(ge=0, le=600_000)]
When = Annotated[datetime, Meta(tz=True)]
YEARS = (2000, 9000)  # far from the ends of PostgreSQL's and Python's calendars


class AdView(Struct, frozen=True):
    id: int
    advertiser_id: int
    title: str
    creative_url: str
    click_url: str | None
    placement: str
    billing: str
    price_micros: int  # cpm: per 1000 impressions; cpc: per click
    unit_micros: int  # cost of one billable impression (cpm) or click (cpc)
    budget_micros: int
    spent_micros: int
    remaining_micros: int
    required_view_ms: int
    starts_at: datetime | None
    ends_at: datetime | None
    status: str
    review_reason: str | None
    reviewed_at: datetime | None
    impressions: int  # counted
    clicks: int  # counted
    created_at: datetime
    updated_at: datetime
    frequency_cap: int | None = None  # counted impressions per viewer per local day
    daily_budget_micros: int | None = None  # most spend per local day (APP_TIMEZONE)


class AdCreate(Struct, forbid_unknown_fields=True):
    title: Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]
    creative_url: Url
    placement: Placement
    billing: Billing
    price_micros: Micros
    budget_micros: Budget
    click_url: Url | None = None
    required_view_ms: ViewMs = 5000
    starts_at: When | None = None
    ends_at: When | None = None
    frequency_cap: Annotated[int, Meta(ge=1, le=1000)] | None = None
    daily_budget_micros: Budget | None = None


UNIT_SQL = "CASE WHEN a.billing = 'cpm' THEN a.price_micros / 1000 ELSE a.price_micros END"
AD_COLUMNS = (
    "a.id, a.advertiser_id, a.title, a.creative_url, a.click_url, a.placement, a.billing,"
    f" a.price_micros, {UNIT_SQL} AS unit_micros, a.budget_micros, a.spent_micros,"
    " a.budget_micros - a.spent_micros AS remaining_micros, a.required_view_ms, a.starts_at, a.ends_at, a.status,"
    " a.review_reason, a.reviewed_at, a.impressions, a.clicks, a.created_at, a.updated_at,"
    " a.frequency_cap, a.daily_budget_micros"
)


def unit_of(billing: str, price_micros: int) -> int:
    return price_micros // 1000 if billing == "cpm" else price_micros


def ad_view(row: Any) -> AdView:
    return AdView(**row._mapping)


def _url(field: str, url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise invalid(field, "must be an http(s) URL with a host")
    return url


def clean_create(body: AdCreate) -> dict[str, Any]:
    """The column values of a new ad, or BadRequest naming the field."""
    title = body.title.strip()
    if not title:
        raise invalid("title", "must not be blank")
    if body.billing == "cpm" and body.price_micros % 1000:
        raise invalid(
            "price_micros",
            "a CPM price must be a multiple of 1000 micros, so "
            "that each impression costs a whole micro-unit",
        )
    unit = unit_of(body.billing, body.price_micros)
    if body.budget_micros < unit:
        raise invalid("budget_micros", "must cover at least one billable event")
    if body.daily_budget_micros is not None and body.daily_budget_micros < unit:
        raise invalid("daily_budget_micros", "must cover at least one billable event")
    for field in ("starts_at", "ends_at"):
        when = getattr(body, field)
        if when is not None and not YEARS[0] <= when.year <= YEARS[1]:
            raise invalid(field, f"must be in the years {YEARS[0]}-{YEARS[1]}")
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise invalid("ends_at", "must be after starts_at")
    return {
        "title": title,
        "creative_url": _url("creative_url", body.creative_url),
        "click_url": None if body.click_url is None else _url("click_url", body.click_url),
        "placement": body.placement,
        "billing": body.billing,
        "price_micros": body.price_micros,
        "budget_micros": body.budget_micros,
        "required_view_ms": body.required_view_ms,
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
        "frequency_cap": body.frequency_cap,
        "daily_budget_micros": body.daily_budget_micros,
    }


async def create_ad(session: AsyncSession, advertiser_id: int, values: dict[str, Any]) -> AdView:
    """Insert a pending ad (the advertiser's wallet must exist)."""
    ad_id = (
        await session.execute(
            text(
                "INSERT INTO ads (advertiser_id, title, creative_url, click_url, placement, billing,"
                " price_micros, budget_micros, required_view_ms, starts_at, ends_at,"
                " frequency_cap, daily_budget_micros) VALUES"
                " (:advertiser, :title, :creative_url, :click_url, :placement, :billing,"
                " :price_micros, :budget_micros, :required_view_ms, :starts_at, :ends_at,"
                " :frequency_cap, :daily_budget_micros) RETURNING id"
            ),
            {"advertiser": advertiser_id, **values},
        )
    ).scalar_one()
    return await get_ad(session, ad_id)


async def get_ad(
    session: AsyncSession, ad_id: int, *, advertiser_id: int | None = None, lock: bool = False
) -> AdView:
    """One ad; with `advertiser_id`, only when it is that advertiser's (another's ad is as
    unknown as a missing one). `lock` takes the row lock (callers that also lock a wallet
    must lock it first)."""
    sql = f"SELECT {AD_COLUMNS} FROM ads a WHERE a.id = :id"
    if advertiser_id is not None:
        sql += " AND a.advertiser_id = :advertiser"
    if lock:
        sql += " FOR UPDATE"
    row = (await session.execute(text(sql), {"id": ad_id, "advertiser": advertiser_id})).first()
    if row is None:
        raise NotFound(f"no ad {ad_id}")
    return ad_view(row)


async def list_ads(
    session: AsyncSession,
    *,
    advertiser_id: int | None,
    status: str | None,
    after_id: int | None,
    limit: int,
) -> list[AdView]:
    """Ads by id ascending (oldest first: the review queue order), after `after_id`."""
    rows = (
        await session.execute(
            text(
                f"SELECT {AD_COLUMNS} FROM ads a"
                " WHERE (CAST(:advertiser AS bigint) IS NULL OR a.advertiser_id = :advertiser)"
                " AND (CAST(:status AS text) IS NULL OR a.status = :status)"
                " AND (CAST(:after AS bigint) IS NULL OR a.id > :after)"
                " ORDER BY a.id LIMIT :n"
            ),
            {"advertiser": advertiser_id, "status": status, "after": after_id, "n": limit},
        )
    ).all()
    return [ad_view(row) for row in rows]


class DayStats(Struct, frozen=True):
    day: str  # local date (APP_TIMEZONE), YYYY-MM-DD
    impressions: int
    clicks: int
    spent_micros: int
    ctr: float = 0.0  # clicks / impressions that day (0 when none)
    refused: int = 0  # impression and click reports refused that day (any reason)


class AdStats(Struct, frozen=True):
    ad_id: int
    status: str
    billing: str
    impressions: int  # counted (served, shown long enough, within the caps, paid for CPM)
    impressions_reported: int  # counted + refused impression reports
    clicks: int  # counted
    ctr: float  # clicks / impressions (0 when none)
    spent_micros: int
    budget_micros: int
    remaining_micros: int
    days: list[DayStats]  # the last STATS_DAYS local days with activity, newest first
    # Refused reports over the same days, by "event:reason" (api/ad_refusals.py).
    refused: dict[str, int] = {}


STATS_DAYS = 30


def _ctr(clicks: int, impressions: int) -> float:
    return round(clicks / impressions, 6) if impressions else 0.0


async def ad_stats(session: AsyncSession, ad: AdView, tz: str) -> AdStats:
    window = {"id": ad.id, "tz": tz, "days": STATS_DAYS}
    since = "day > (now() AT TIME ZONE :tz)::date - CAST(:days AS integer)"
    refusals = (
        await session.execute(
            text(
                f"SELECT day, event, reason, count FROM ad_refusals WHERE ad_id = :id AND {since}"
            ),
            window,
        )
    ).all()
    by_reason: dict[str, int] = {}
    by_day: dict[Any, int] = {}
    for day, event, reason, count in refusals:
        by_reason[f"{event}:{reason}"] = by_reason.get(f"{event}:{reason}", 0) + int(count)
        by_day[day] = by_day.get(day, 0) + int(count)
    rows = (
        await session.execute(
            text(
                "SELECT day, impressions, clicks, spent_micros FROM ad_days"
                f" WHERE ad_id = :id AND {since}"
            ),
            window,
        )
    ).all()
    counted = {d: (int(i), int(c), int(m)) for d, i, c, m in rows}
    days = [
        DayStats(
            d.isoformat(),
            counted.get(d, (0, 0, 0))[0],
            counted.get(d, (0, 0, 0))[1],
            counted.get(d, (0, 0, 0))[2],
            _ctr(counted.get(d, (0, 0, 0))[1], counted.get(d, (0, 0, 0))[0]),
            by_day.get(d, 0),
        )
        for d in sorted(set(counted) | set(by_day), reverse=True)
    ]
    refused_impressions = (
        await session.execute(
            text(
                "SELECT COALESCE(sum(count), 0) FROM ad_refusals"
                " WHERE ad_id = :id AND event = 'impression'"
            ),
            {"id": ad.id},
        )
    ).scalar_one()
    return AdStats(
        ad_id=ad.id,
        status=ad.status,
        billing=ad.billing,
        impressions=ad.impressions,
        impressions_reported=ad.impressions + int(refused_impressions),
        clicks=ad.clicks,
        ctr=_ctr(ad.clicks, ad.impressions),
        spent_micros=ad.spent_micros,
        budget_micros=ad.budget_micros,
        remaining_micros=ad.remaining_micros,
        days=days,
        refused=by_reason,
    )
