"""Mission rules without I/O: the kinds, the window a moment falls in, the reward id of a
window, and the longest run of consecutive days.

Windows are calendar periods in APP_TIMEZONE: `daily` runs from local midnight to the next,
`weekly` from Monday 00:00 to the next Monday, `range` from `starts_at` to `ends_at`. A
daily or weekly mission may also carry `starts_at`/`ends_at`, which bound when it runs at
all (a window is cut to them). A window's key names it (`d:2026-12-03`, `w:2026-11-30`,
`r`), and the reward id `m:<mission>:<user>:<key>` is unique in the ledger: one payment per
user, mission and window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WATCH_MINUTES = "watch_minutes"  # N minutes of credited watch time, any content
WATCH_CONTENT_MINUTES = "watch_content_minutes"  # ... of one content (`content_id`)
WATCH_TAG_MINUTES = "watch_tag_minutes"  # ... of contents with a tag (`tag`)
WATCH_CONTENTS = "watch_contents"  # N different contents watched (any credited time)
OPEN_BOXES = "open_boxes"  # N random boxes opened
WATCH_STREAK_DAYS = "watch_streak_days"  # watched on N consecutive local days
KINDS = (
    WATCH_MINUTES,
    WATCH_CONTENT_MINUTES,
    WATCH_TAG_MINUTES,
    WATCH_CONTENTS,
    OPEN_BOXES,
    WATCH_STREAK_DAYS,
)
PERIODS = ("daily", "weekly", "range")
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    start: datetime
    end: datetime  # exclusive


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def window_at(
    period: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    tz: ZoneInfo,
) -> Window | None:
    """The mission's window that holds `now`, or None when it does not run at `now`."""
    if (starts_at is not None and now < starts_at) or (ends_at is not None and now >= ends_at):
        return None
    if period == "range":
        if starts_at is None or ends_at is None:
            return None
        return Window("r", starts_at, ends_at)
    today = now.astimezone(tz).date()
    if period == "daily":
        first, days, key = today, 1, f"d:{today.isoformat()}"
    elif period == "weekly":
        first = today - timedelta(days=today.weekday())
        days, key = 7, f"w:{first.isoformat()}"
    else:
        raise ValueError(f"unknown period {period!r}")
    start, end = _midnight(first, tz), _midnight(first + timedelta(days=days), tz)
    if starts_at is not None:
        start = max(start, starts_at)
    if ends_at is not None:
        end = min(end, ends_at)
    return Window(key, start, end)


def reward_id(mission_id: int, user_id: int, window: Window) -> str:
    return f"m:{mission_id}:{user_id}:{window.key}"


def longest_streak(days: Iterable[date]) -> int:
    """The longest run of consecutive calendar days among `days`."""
    best = run = 0
    previous: date | None = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    return best


def progress_of(kind: str, total: int) -> int:
    """The figure compared with the target: whole minutes for the minute kinds (credited ms
    summed), else the count itself."""
    if kind in (WATCH_MINUTES, WATCH_CONTENT_MINUTES, WATCH_TAG_MINUTES):
        return total // MINUTE_MS
    return total
