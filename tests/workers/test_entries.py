"""Outbox entries parsed and grouped into batches, without Redis."""

from __future__ import annotations

import pytest

from workers.entries import (
    Bad,
    Batch,
    Flag,
    Grant,
    SessionEnd,
    SessionStart,
    as_dict,
    entry_ms,
    parse,
    parse_flat,
    pend_deltas,
    pend_share,
)
from workers.ledger import Written

P = 64


def grant_fields(**over: int | bytes) -> dict[bytes, bytes]:
    """Fields of a grant of user 65 as tick.lua writes them; keyword arguments replace fields
    (an int is written in decimal, bytes as they are)."""
    f = {
        b"t": b"g",
        b"rid": b"w:65:7:1",
        b"uid": b"65",
        b"cid": b"7",
        b"amt": b"10",
        b"ts": b"1795367645150",
    }
    f.update({k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in over.items()})
    return f


def test_a_grant_as_tick_lua_writes_it_parses() -> None:
    assert parse("5-0", grant_fields(), 65 % P, P) == Grant(
        "5-0", "w:65:7:1", 65, 7, 10, 1795367645150
    )


def test_session_start_and_end_parse() -> None:
    start = {
        b"t": b"s",
        b"sid": b"abc",
        b"uid": b"3",
        b"cid": b"9",
        b"dev": b"d",
        b"tab": b"t",
        b"ts": b"100",
    }
    end = {
        b"t": b"e",
        b"sid": b"abc",
        b"uid": b"3",
        b"cid": b"9",
        b"wms": b"1500",
        b"ts": b"200",
        b"why": b"stop",
    }
    assert parse("1-0", start, 3, P) == SessionStart("1-0", "abc", 3, 9, "d", "t", 100)
    assert parse("2-0", end, 3, P) == SessionEnd("2-0", "abc", 3, 9, 1500, 200, "stop")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"foo": b"bar"}, "unknown entry type"),
        (grant_fields(uid=66), "not in partition"),  # its pend would be under another tag
        (grant_fields(amt=-5), "amt is not a non-negative integer"),
        (grant_fields(amt=b"1e3"), "amt is not a non-negative integer"),
        (grant_fields(rid=b""), "empty rid"),
        (grant_fields(rid=b"\xff\xfe"), "rid is not UTF-8"),
        (grant_fields(uid=b"\xd9\xa3"), "uid is not a non-negative integer"),  # Arabic 3
        (grant_fields(amt=10**13), "amt out of range"),
        (grant_fields(ts=b"99999999999999999999"), "ts is not"),
        ({b"t": b"s", b"sid": b"x"}, "missing uid"),
    ],
)
def test_entries_that_cannot_be_written_are_bad_with_a_reason(
    fields: dict[bytes, bytes], reason: str
) -> None:
    e = parse("9-0", fields, 65 % P, P)
    assert isinstance(e, Bad) and reason in e.reason, e


def test_a_bad_grant_still_names_its_pend_share_when_uid_and_amt_are_integers() -> None:
    bad = parse("9-0", grant_fields(rid=b""), 65 % P, P)
    assert isinstance(bad, Bad) and (bad.pend_user, bad.pend_amount) == (65, 10)
    # Not an integer amount: it never counted in pend (reconcile.lua agrees).
    bad = parse("9-0", grant_fields(amt=b"ten"), 65 % P, P)
    assert isinstance(bad, Bad) and bad.pend_user is None
    assert pend_share(grant_fields(amt=b"ten")) is None
    assert pend_share({b"t": b"s", b"uid": b"1", b"amt": b"5"}) is None
    assert pend_share(grant_fields()) == (65, 10)


def test_deleted_entries_read_back_from_the_pending_list_are_bad() -> None:
    assert isinstance(parse("3-0", {}, 0, P), Bad)
    assert isinstance(parse("3-0", None, 0, P), Bad)


def test_batch_keeps_the_first_of_repeated_reward_ids_and_counts_repeats() -> None:
    a = Grant("1-0", "w:1:1:1", 1, 1, 10, 0)
    again = Grant("2-0", "w:1:1:1", 1, 1, 10, 5)
    b = Grant("3-0", "w:2:1:1", 2, 1, 7, 0)
    batch = Batch.build([a, again, b])
    assert batch.grants == [a, b] and batch.repeats == 1
    assert batch.grant_users() == [1, 2]
    assert batch.grant_columns() == (["w:1:1:1", "w:2:1:1"], [1, 2], [1, 1], [10, 7], [0, 0])
    # Acknowledging takes every entry's amount off pend, the repeat's too (it added to it).
    assert pend_deltas([a, again, b]) == {1: 20, 2: 7}


def test_batch_merges_a_sessions_start_and_end_and_keeps_the_first_end() -> None:
    s = SessionStart("1-0", "sid", 3, 9, "dev", "tab", 100)
    e1 = SessionEnd("2-0", "sid", 3, 9, 1500, 200, "stop")
    e2 = SessionEnd("3-0", "sid", 3, 9, 9999, 300, "expired")
    lone = SessionEnd("4-0", "other", 4, 9, 50, 400, "expired")
    batch = Batch.build([s, e1, e2, lone])
    row = batch.sessions["sid"]
    assert (row.device_id, row.started_ms, row.ended_ms, row.credited_ms, row.reason) == (
        "dev",
        100,
        200,
        1500,
        "stop",
    )
    other = batch.sessions["other"]
    assert other.device_id is None and other.started_ms is None and other.ended_ms == 400
    cols = batch.session_columns()
    assert cols[0] == ["sid", "other"] and cols[3] == ["dev", None]
    assert bool(batch) and not bool(Batch.build([]))


def test_entry_time_is_the_first_part_of_its_id() -> None:
    assert entry_ms("1795367645150-3") == 1795367645150


def test_written_merge_keeps_the_newest_balance_version() -> None:
    a = Written(balances={1: (10, 2), 2: (5, 1)}, grants_inserted=2, users=[1, 2])
    b = Written(balances={1: (30, 4), 2: (1, 0)}, grants_inserted=3, grants_replayed=1, users=[1])
    a.merge(b)
    assert a.balances == {1: (30, 4), 2: (5, 1)}
    assert (a.grants_inserted, a.grants_replayed) == (5, 1)


def _flat(fields: dict[bytes, bytes]) -> list[bytes]:
    return [x for kv in fields.items() for x in kv]


def test_parse_flat_reads_tick_lua_grants_by_position_and_agrees_with_parse() -> None:
    f = grant_fields()
    assert parse_flat("5-0", _flat(f), 65 % P, P) == parse("5-0", f, 65 % P, P)
    # Another field order, an extra field, or a fault: the careful path, same answers.
    reordered = {b"uid": b"65", **{k: v for k, v in f.items() if k != b"uid"}}
    assert parse_flat("5-0", _flat(reordered), 65 % P, P) == parse("5-0", f, 65 % P, P)
    for bad in (grant_fields(uid=66), grant_fields(rid=b"\xff"), grant_fields(amt=10**13)):
        assert parse_flat("5-0", _flat(bad), 65 % P, P) == parse("5-0", bad, 65 % P, P)
    assert isinstance(parse_flat("5-0", None, 0, P), Bad)
    assert as_dict(_flat(f)) == f and as_dict(None) == {}


def test_held_grants_and_review_flags_parse_and_stay_out_of_pend() -> None:
    """A grant marked `hold 1` (tick.lua while its user is on hold) parses as held and has
    no pend share, also when it is bad; a review flag (flag.lua) parses as a Flag."""
    held = grant_fields(hold=b"1")
    assert parse("5-0", held, 65 % P, P) == Grant(
        "5-0", "w:65:7:1", 65, 7, 10, 1795367645150, held=True
    )
    assert parse_flat("5-0", [x for kv in held.items() for x in kv], 65 % P, P).held is True
    assert pend_share(held) is None and pend_share(grant_fields()) == (65, 10)
    bad = parse("5-1", grant_fields(hold=b"1", cid=b"x"), 65 % P, P)
    assert isinstance(bad, Bad) and bad.pend_user is None
    flag = {
        b"t": b"f",
        b"fid": b"f:65:100",
        b"uid": b"65",
        b"why": b"device",
        b"key": b"tv-1",
        b"n": b"4",
        b"ts": b"100",
    }
    assert parse("6-0", flag, 65 % P, P) == Flag("6-0", "f:65:100", 65, "device", "tv-1", 4, 100)
    for field, value in ((b"why", b"cat"), (b"uid", b"x"), (b"key", b"")):
        assert isinstance(parse("6-1", {**flag, field: value}, 65 % P, P), Bad), field


def test_batch_keeps_held_grants_and_flags_apart() -> None:
    g = Grant("1-0", "w:1:1:1", 1, 1, 10, 5)
    h = Grant("1-1", "w:1:1:2", 1, 1, 10, 6, held=True)
    f = Flag("1-2", "f:1:7", 1, "ip", "10.0.0.1", 30, 7)
    batch = Batch.build([f, g, h, Grant("1-3", "w:1:1:2", 1, 1, 10, 6, held=True)])
    assert (batch.grants, batch.held, batch.flags, batch.repeats) == ([g], [h], [f], 1)
    assert batch.users() == [1] and bool(Batch.build([f]))
    assert pend_deltas([g, h]) == {1: 10}
