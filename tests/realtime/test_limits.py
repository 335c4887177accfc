"""Per-connection bounds, with an explicit clock."""

from realtime.limits import MalformedCounter, RateLimiter


def test_rate_limiter_allows_the_limit_then_refuses() -> None:
    r = RateLimiter(3)
    assert [r.hit(10.1), r.hit(10.2), r.hit(10.3), r.hit(10.4)] == [True, True, True, False]
    assert r.hit(11.0)  # a new window


def test_rate_limiter_closes_on_a_burst_of_three_times_the_limit() -> None:
    r = RateLimiter(2)
    for _ in range(6):
        r.hit(5.0)
    assert not r.should_close
    r.hit(5.0)
    assert r.should_close


def test_rate_limiter_closes_when_three_windows_in_a_row_are_over() -> None:
    r = RateLimiter(2)
    for second in (1, 2):
        for _ in range(3):
            r.hit(second)
        assert not r.should_close
    for _ in range(3):
        r.hit(3)
    assert r.should_close


def test_rate_limiter_forgives_a_quiet_window() -> None:
    r = RateLimiter(2)
    for second in (1, 3, 5):  # over the limit, but never in consecutive windows
        for _ in range(3):
            r.hit(second)
        assert not r.should_close


def test_malformed_counter_trips_on_the_eleventh_within_a_minute() -> None:
    m = MalformedCounter()
    assert not any(m.hit(float(i)) for i in range(10))
    assert m.hit(30.0)


def test_malformed_counter_forgets_after_a_minute() -> None:
    m = MalformedCounter()
    for i in range(10):
        m.hit(float(i))
    assert not m.hit(75.0)


def test_address_gate_bounds_open_connections_per_address() -> None:
    from realtime.limits import AddressGate

    g = AddressGate(max_open=2, per_minute=100)
    assert g.admit("1.1.1.1", 0) and g.admit("1.1.1.1", 0)
    assert not g.admit("1.1.1.1", 0)
    assert g.admit("2.2.2.2", 0)  # other addresses are not affected
    g.release("1.1.1.1")
    assert g.admit("1.1.1.1", 0)


def test_address_gate_bounds_new_connections_per_minute() -> None:
    from realtime.limits import AddressGate

    g = AddressGate(max_open=100, per_minute=2)
    for _ in range(2):
        assert g.admit("1.1.1.1", 10)
        g.release("1.1.1.1")
    assert not g.admit("1.1.1.1", 59)
    assert g.admit("1.1.1.1", 61)  # a new minute
