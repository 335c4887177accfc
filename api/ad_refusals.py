"""Refused ad reports, counted by reason where advertisers and admins see them: a row per
(ad, local day, event, reason) in `ad_refusals` (the ad's stats) and the Prometheus counter
`ad_refused_total{event,reason}`.

Reasons (docs/api.md "Ads"): `invalid_token` (not a token this service served to this
viewer for this ad and content: made up, altered, another viewer's), `expired`, `too_early`
(the ad's required exposure has not yet passed on the server's clock since it was served),
`duplicate` (already counted), `not_in_flight`, `frequency_cap`, `daily_budget`,
`budget_exhausted`, `wallet_empty`; clicks also `not_counted` (no counted impression behind
it) and `click_window` (too long after the impression).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_UPSERT = text(
    "INSERT INTO ad_refusals (ad_id, day, event, reason, count)"
    " VALUES (:ad, (now() AT TIME ZONE :tz)::date, :event, :reason, 1)"
    " ON CONFLICT (ad_id, day, event, reason) DO UPDATE SET count = ad_refusals.count + 1"
)


def refusal_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "ad_refused",
        "Impression and click reports refused (not billed), by reason",
        ["event", "reason"],
        registry=registry,
    )


async def record_refusal(
    session: AsyncSession, ad_id: int, event: str, reason: str, tz: str
) -> None:
    """Count one refused report of the ad today. No commit (the report's transaction)."""
    await session.execute(_UPSERT, {"ad": ad_id, "tz": tz, "event": event, "reason": reason})
