"""The pure mission rules: windows in APP_TIMEZONE, reward ids per window, streaks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.mission_rules import Window, longest_streak, progress_of, reward_id, window_at

SEOUL = ZoneInfo("Asia/Seoul")


def test_daily_window_is_the_local_day():
    """23:30 UTC on Dec 2 is Dec 3 in Seoul: the window is Seoul's Dec 3, midnight to midnight."""
    w = window_at("daily", None, None, datetime(2026, 12, 2, 23, 30, tzinfo=UTC), SEOUL)
    assert w == Window(
        "d:2026-12-03",
        datetime(2026, 12, 3, tzinfo=SEOUL),
        datetime(2026, 12, 4, tzinfo=SEOUL),
    )


def test_weekly_window_starts_on_monday_and_is_cut_to_the_missions_dates():
    """Thursday Dec 3 2026 is in the week of Monday Nov 30; an ends_at inside cuts it."""
    now = datetime(2026, 12, 3, 12, tzinfo=SEOUL)
    ends = datetime(2026, 12, 5, tzinfo=SEOUL)
    w = window_at("weekly", None, ends, now, SEOUL)
    assert w is not None
    assert (w.key, w.start, w.end) == ("w:2026-11-30", datetime(2026, 11, 30, tzinfo=SEOUL), ends)


def test_range_window_and_missions_outside_their_dates():
    """A range runs from starts_at to ends_at (key r); before or after it there is none,
    nor for a range without both dates."""
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 10, tzinfo=UTC)
    inside = datetime(2026, 12, 5, tzinfo=UTC)
    assert window_at("range", start, end, inside, SEOUL) == Window("r", start, end)
    assert window_at("range", start, end, end, SEOUL) is None
    assert window_at("daily", start, end, start - timedelta(seconds=1), SEOUL) is None
    assert window_at("range", start, None, inside, SEOUL) is None


def test_reward_id_names_mission_user_and_window():
    """Two windows of one mission and user have two reward ids; one window has one."""
    day = window_at("daily", None, None, datetime(2026, 12, 3, tzinfo=UTC), SEOUL)
    assert day is not None
    assert reward_id(4, 9, day) == "m:4:9:d:2026-12-03"


def test_longest_streak_counts_consecutive_days_only():
    """Days 1-3 and 5-6 (with a repeat): the longest run is 3; none is 0."""
    days = [date(2026, 12, d) for d in (6, 1, 2, 3, 5, 2)]
    assert longest_streak(days) == 3
    assert longest_streak([]) == 0


def test_minute_kinds_count_whole_minutes():
    """Credited ms become whole minutes for the minute kinds; counts stay counts."""
    assert progress_of("watch_minutes", 179_999) == 2
    assert progress_of("watch_contents", 3) == 3
