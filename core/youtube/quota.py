"""Quota accounting, the pure part: what each call costs and when YouTube's quota day
ends. YouTube resets every project's daily quota at midnight Pacific time (America/
Los_Angeles, so 07:00 or 08:00 UTC depending on daylight saving time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

# Units per call of each list method (YouTube Data API v3 quota table: every list is 1).
COSTS = {"videos": 1, "playlistItems": 1, "channels": 1}


def quota_day(now: datetime) -> str:
    """The quota day `now` falls in, as YYYY-MM-DD in Pacific time."""
    return now.astimezone(PACIFIC).date().isoformat()


def reset_at(now: datetime) -> datetime:
    """The next Pacific midnight after `now` (an aware datetime in Pacific time)."""
    local = now.astimezone(PACIFIC)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)


def seconds_to_reset(now: datetime) -> int:
    return max(1, int((reset_at(now) - now).total_seconds()) + 1)
