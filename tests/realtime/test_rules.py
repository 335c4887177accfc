"""The pure session rules: crediting, boundaries, caps, days."""

from zoneinfo import ZoneInfo

from live import outbox, rules


def test_credit_is_the_gap_capped_at_one_and_a_half_intervals() -> None:
    assert rules.credit_ms(True, 10_000, 2_000, 10_000) == 8_000
    assert rules.credit_ms(True, 100_000, 0, 10_000) == 15_000


def test_paused_or_hidden_heartbeats_credit_nothing() -> None:
    assert rules.credit_ms(False, 10_000, 2_000, 10_000) == 0


def test_a_clock_that_went_back_credits_nothing() -> None:
    assert rules.credit_ms(True, 1_000, 5_000, 10_000) == 0


def test_crossing_one_boundary_grants_its_index() -> None:
    c = rules.cross(55_000, 65_000, 60_000, 0, cap=0, count=0, warned=False, paused=False)
    assert c.granted == (1,) and c.count == 1 and not c.notice


def test_no_boundary_no_grant() -> None:
    c = rules.cross(1_000, 59_999, 60_000, 0, cap=0, count=0, warned=False, paused=False)
    assert c.granted == ()


def test_landing_exactly_on_a_boundary_grants_it() -> None:
    c = rules.cross(50_000, 60_000, 60_000, 0, cap=0, count=0, warned=False, paused=False)
    assert c.granted == (1,)


def test_boundaries_already_granted_are_never_granted_again() -> None:
    # The interval grew from 30 s to 60 s: boundary 3 of the new interval (180 s) is below the
    # highest index granted before (4), so nothing is granted until index 5.
    c = rules.cross(179_000, 185_000, 60_000, 4, cap=0, count=0, warned=False, paused=False)
    assert c.granted == ()
    c = rules.cross(299_000, 301_000, 60_000, 4, cap=0, count=0, warned=False, paused=False)
    assert c.granted == (5,)


def test_cap_stops_grants_and_notices_once() -> None:
    c = rules.cross(0, 3_000, 1_000, 0, cap=2, count=1, warned=False, paused=False)
    assert c.granted == (1,) and c.count == 2 and c.notice
    again = rules.cross(3_000, 5_000, 1_000, 1, cap=2, count=2, warned=True, paused=False)
    assert again.granted == () and not again.notice


def test_zero_cap_means_no_cap() -> None:
    c = rules.cross(0, 10_000, 1_000, 0, cap=0, count=500, warned=False, paused=False)
    assert c.granted == tuple(range(1, 11))


def test_paused_rewards_grant_nothing_and_forfeit_the_boundary() -> None:
    c = rules.cross(0, 2_000, 1_000, 0, cap=0, count=0, warned=False, paused=True)
    assert c.granted == () and c.count == 0


def test_reward_id_format() -> None:
    assert rules.reward_id(42, 7, 3) == "w:42:7:3"


def test_remaining_to_next_boundary() -> None:
    assert rules.remaining_ms(0, 60_000) == 60_000
    assert rules.remaining_ms(59_000, 60_000) == 1_000
    assert rules.remaining_ms(60_000, 60_000) == 60_000


def test_local_day_follows_the_app_timezone() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    # 2026-11-22 14:59:59 UTC is 23:59:59 in Seoul; one second later it is the next day there.
    before = 1_795_359_599_000
    offset = rules.tz_offset_ms(seoul, before)
    assert offset == 9 * 3600 * 1000
    assert rules.local_day(before + 1000, offset) == rules.local_day(before, offset) + 1
    assert rules.local_day(before, 0) == rules.local_day(before + 1000, 0)


def test_reference_store_resume_conflict_takeover_epochs() -> None:
    s = rules.ReferenceStore(heartbeat_ms=10_000, ttl_ms=30_000)
    assert s.start(0, 1, "t1", "d1", False, "a") == ("new", "a", 1)
    assert s.start(1_000, 1, "t1", "d1", False, "b") == ("resumed", "a", 1)
    assert s.start(2_000, 1, "t2", "d2", False, "c") == ("conflict", 1, "d1")
    assert s.start(3_000, 1, "t2", "d2", True, "d") == ("takeover", "d", 2)
    # The replaced tab's heartbeats are refused: its epoch is stale.
    assert s.tick(
        4_000, "a", 1, True, interval=60_000, amount=10, cap=0, paused=False, offset=0
    ) == ("replaced", "d2", 1)
    # After expiry anyone may start, without conflict.
    assert s.start(40_000, 1, "t1", "d1", False, "e")[0] == "new"


def test_reference_store_holds_grants_without_showing_or_pending_them() -> None:
    """A held user's boundaries are granted once (the same ids, counted for the day), but
    marked held in the outbox, kept out of `pending` and not listed in the reply."""
    s = rules.ReferenceStore(heartbeat_ms=10_000, ttl_ms=30_000, user_id=7)
    s.start(0, 1, "t", "d", False, "a")

    def tick(now: int) -> tuple[object, ...]:
        r = s.tick(now, "a", 1, True, interval=5_000, amount=10, cap=0, paused=False, offset=0)
        return r[-3:]

    assert tick(6_000) == (10, False, ("w:7:1:1",))
    s.hold = True
    assert tick(16_000) == (10, False, ())
    s.hold = False
    assert tick(21_000) == (20, False, ("w:7:1:4",))
    assert [(e.rid, e.hold) for e in s.outbox if isinstance(e, outbox.GrantEntry)] == [
        ("w:7:1:1", 0),
        ("w:7:1:2", 1),
        ("w:7:1:3", 1),
        ("w:7:1:4", 0),
    ]
    assert s.count == 4


def test_reference_store_keeps_the_days_count_when_another_day_wrote_nothing() -> None:
    """Like tick.lua, the day's count is stored only by a tick that grants or notices: a
    tick on the next local day that earns nothing does not reset it, so going back to the
    first day (another hub's offset a moment behind) still sees that day's cap reached."""
    s = rules.ReferenceStore(heartbeat_ms=10_000, ttl_ms=30_000)
    s.start(0, 1, "t", "d", False, "a")
    day = rules.DAY_MS

    def tick(now: int, offset: int) -> tuple[object, ...]:
        r = s.tick(now, "a", 1, True, interval=5_000, amount=10, cap=1, paused=False, offset=offset)
        return r[-2:]

    assert tick(6_000, day - 10_000) == (False, ("w:0:1:1",))  # local day 0, the cap reached
    assert tick(7_000, day) == (False, ())  # day 1, nothing crossed: nothing stored
    assert tick(13_000, day - 20_000) == (True, ())  # day 0 again: still at its cap
    assert tick(16_000, day) == (False, ("w:0:1:3",))  # day 1: its own count
