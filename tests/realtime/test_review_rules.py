"""The multi-account review rules, pure: which keys a start is counted under, when a key is
over its limit, and which accounts a start flags."""

from types import SimpleNamespace

from live import review
from live.review import Flag, ReviewLimits, Seen

LIMITS = ReviewLimits(per_device=3, per_ip=20, window_ms=86_400_000)


def test_limits_come_from_the_settings_with_the_window_in_hours() -> None:
    s = SimpleNamespace(
        review_accounts_per_device=4, review_accounts_per_ip=0, review_window_hours=6
    )
    assert ReviewLimits.from_settings(s) == ReviewLimits(4, 0, 6 * 3_600_000)


def test_a_limit_of_zero_turns_its_check_off() -> None:
    assert LIMITS.checks("tv", "10.0.0.1") == [("device", "tv"), ("ip", "10.0.0.1")]
    assert ReviewLimits(0, 20, 1).checks("tv", "10.0.0.1") == [("ip", "10.0.0.1")]
    assert ReviewLimits(3, 0, 1).checks("tv", "10.0.0.1") == [("device", "tv")]
    assert ReviewLimits(3, 20, 1).checks("tv", "") == [("device", "tv")]  # no address known
    assert not review.over(0, 1_000_000)


def test_the_limit_itself_is_allowed_one_more_is_over() -> None:
    assert not review.over(3, 3)
    assert review.over(3, 4)


def test_only_a_new_account_over_the_limit_needs_every_member() -> None:
    seen = [Seen("device", "tv", True, 4), Seen("ip", "10.0.0.1", True, 4)]
    assert review.needs_members(LIMITS, seen) == [seen[0]]  # the address is under its 20
    assert review.needs_members(LIMITS, [Seen("device", "tv", False, 9)]) == []


def test_the_crossing_flags_every_account_of_the_key() -> None:
    seen = [Seen("device", "tv", True, 4)]
    out = review.flags(4, LIMITS, seen, {("device", "tv"): [1, 2, 3, 4]})
    assert out == [Flag(u, "device", "tv", 4) for u in (4, 1, 2, 3)]


def test_an_account_already_counted_is_flagged_alone() -> None:
    seen = [Seen("device", "tv", False, 5)]
    assert review.flags(2, LIMITS, seen, {}) == [Flag(2, "device", "tv", 5)]


def test_under_the_limits_nobody_is_flagged() -> None:
    seen = [Seen("device", "tv", True, 3), Seen("ip", "10.0.0.1", True, 20)]
    assert review.flags(3, LIMITS, seen, {("device", "tv"): [1, 2, 3]}) == []


def test_each_account_is_flagged_once_device_before_address() -> None:
    limits = ReviewLimits(per_device=1, per_ip=2, window_ms=1)
    seen = [Seen("device", "tv", True, 2), Seen("ip", "10.0.0.1", True, 3)]
    members = {("device", "tv"): [7, 8], ("ip", "10.0.0.1"): [7, 8, 9]}
    out = review.flags(8, limits, seen, members)
    assert out == [
        Flag(8, "device", "tv", 2),
        Flag(7, "device", "tv", 2),
        Flag(9, "ip", "10.0.0.1", 3),
    ]
