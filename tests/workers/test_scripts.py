"""The worker's Lua scripts on a real Redis: acknowledge once, trim only what is
acknowledged, leave what the group no longer knows, dead-letter once, leases, take-over."""

from __future__ import annotations

from typing import Any

from live import keys, scripts
from live.scripts import ScriptRunner
from tests.workers.conftest import PARTITIONS, produce
from workers.entries import Bad, Grant
from workers.outbox import Outbox

P = 5  # a partition; users 5, 21, 37 are in it
G = keys.OUTBOX_GROUP


async def _setup(redis: Any, grants: list[tuple[int, int, int, int]]) -> tuple[Outbox, list[Grant]]:
    ids = await produce(redis, grants)
    outbox = Outbox(redis, PARTITIONS, "c1")
    await outbox.ensure_groups([P])
    await outbox.ensure_groups([P])  # BUSYGROUP is fine
    reads = await outbox.read([P], set(), 100)
    assert [e for e, _ in reads[0].entries] == ids
    return outbox, [
        Grant(i, f"w:{g[0]}:{g[1]}:{g[2]}", g[0], g[1], g[3], 0)
        for i, g in zip(ids, grants, strict=False)
    ]


async def _bal(redis: Any, uid: int) -> list[Any]:
    return list(await redis.hmget(keys.UserKeys(uid, PARTITIONS).balance, "pg", "v", "pend"))


async def test_ack_takes_each_grant_off_pend_once_trims_and_caches_newer_balances(
    redis: Any,
) -> None:
    outbox, grants = await _setup(redis, [(5, 1, 1, 10), (21, 1, 1, 7), (5, 1, 2, 10)])
    await redis.hset(keys.UserKeys(21, PARTITIONS).balance, mapping={"pg": 500, "v": 9})
    work = {P: (grants, {5: (20, 1), 21: (7, 3)})}
    assert await outbox.ack(work) == [[3, 27]]
    assert await _bal(redis, 5) == [b"20", b"1", b"0"]
    assert await _bal(redis, 21) == [b"500", b"9", b"0"]  # the cache held a newer version
    assert await redis.xlen(keys.outbox(P)) == 0
    # Again (a replayed ack): XACK answers 0, nothing changes.
    assert await outbox.ack(work) == [[0, 0]]
    assert await _bal(redis, 5) == [b"20", b"1", b"0"]


async def test_ack_deletes_one_by_one_while_other_entries_are_pending(redis: Any) -> None:
    outbox, grants = await _setup(redis, [(5, 1, 1, 10), (21, 1, 1, 7), (37, 1, 1, 3)])
    assert await outbox.ack({P: (grants[1:2], {})}) == [[1, 7]]
    # The first and third are still pending: a trim up to the second would drop the first.
    left = [e[0].decode() for e in await redis.xrange(keys.outbox(P))]
    assert left == [grants[0].entry_id, grants[2].entry_id]


async def test_entries_the_group_lost_are_left_for_their_redelivery(redis: Any) -> None:
    outbox, grants = await _setup(redis, [(5, 1, 1, 10)])
    # The group is lost and created again (a Redis restart): the entry is undelivered again.
    await redis.xgroup_destroy(keys.outbox(P), G)
    await outbox.ensure_groups([P])
    assert await outbox.ack({P: (grants, {5: (10, 1)})}) == [[0, 0]]
    assert await redis.xlen(keys.outbox(P)) == 1 and (await _bal(redis, 5))[2] == b"10"
    again = await outbox.read([P], set(), 100)
    assert again[0].entries[0][0] == grants[0].entry_id


async def test_dead_letter_moves_once_and_takes_the_grant_off_pend(redis: Any) -> None:
    outbox, grants = await _setup(redis, [(5, 1, 1, 10), (21, 1, 1, 7)])
    bad = [Bad(grants[0].entry_id, "refused", 5, 10), Bad(grants[1].entry_id, "odd")]
    assert await outbox.dead_letter(P, bad, 123, 1000) == 2
    assert await outbox.dead_letter(P, bad, 123, 1000) == 0
    dead = await redis.xrange(keys.dead_letters(P))
    assert [d[1][b"dl_why"] for d in dead] == [b"refused", b"odd"]
    assert dead[0][1][b"rid"] == b"w:5:1:1" and dead[0][1][b"dl_src"] == grants[0].entry_id.encode()
    assert (await _bal(redis, 5))[2] == b"0"
    assert (await _bal(redis, 21))[2] == b"7"  # not named as counting in pend: left alone
    assert await redis.xlen(keys.outbox(P)) == 0


async def test_lease_is_held_renewed_and_released_only_by_its_holder(redis: Any) -> None:
    run = ScriptRunner(redis).run
    key = keys.lease(P)
    assert await run(scripts.LEASE, (key,), ("a", 1000, "hold")) == 1
    assert await run(scripts.LEASE, (key,), ("b", 1000, "hold")) == 0
    assert await run(scripts.LEASE, (key,), ("a", 5000, "hold")) == 1
    assert 1000 < await redis.pttl(key) <= 5000
    assert await run(scripts.LEASE, (key,), ("b", 1000, "release")) == 0
    assert await run(scripts.LEASE, (key,), ("a", 1000, "release")) == 1
    assert await run(scripts.LEASE, (key,), ("b", 1000, "hold")) == 1


async def test_claim_takes_idle_entries_of_others_without_counting_a_delivery(redis: Any) -> None:
    _, grants = await _setup(redis, [(5, 1, 1, 10), (21, 1, 1, 7)])
    await redis.xdel(keys.outbox(P), grants[1].entry_id)  # pending, but gone from the stream
    me = Outbox(redis, PARTITIONS, "c2")
    # Not idle long enough: not taken. (Redis 7 drops the deleted one from the pending list
    # whatever its idle time, and names it.)
    assert await me.claim(P, 60_000) == (0, [grants[1].entry_id])
    assert await me.claim(P, 0) == (1, [])
    detail = await redis.xpending_range(keys.outbox(P), G, "-", "+", 10)
    assert [(d["consumer"], d["times_delivered"]) for d in detail] == [(b"c2", 1)]
    pending = {P}
    reads = await me.read([P], pending, 100)
    assert reads[0].deliveries == {grants[0].entry_id: 2} and pending == set()


async def test_held_grants_never_touch_pend_on_ack_dead_letter_or_replay(redis: Any) -> None:
    """A held grant was never added to `pend` (tick.lua), so its ack, its move to the dead
    letters and its replay leave `pend` alone; the paid grant beside it is taken off once."""
    from tests.workers.test_reviews import produce_held
    from workers.deadletters import replay
    from workers.entries import as_dict, parse_flat

    await produce(redis, [(5, 1, 1, 10)])
    await produce_held(redis, [(5, 1, 2), (5, 1, 3)])
    outbox = Outbox(redis, PARTITIONS, "c1")
    await outbox.ensure_groups([P])
    [read] = await outbox.read([P], set(), 100)
    paid, held, poison = [parse_flat(eid, flat, P, PARTITIONS) for eid, flat in read.entries]
    assert isinstance(held, Grant) and held.held and not paid.held  # type: ignore[union-attr]
    assert (await _bal(redis, 5))[2] == b"10"
    assert await outbox.ack({P: ([paid, held], {})}) == [[2, 10]]  # type: ignore[list-item]
    assert (await _bal(redis, 5))[2] == b"0"
    # The third goes to the dead letters (no pend share: it is held) and comes back.
    assert as_dict(read.entries[2][1])[b"hold"] == b"1"
    assert await outbox.dead_letter(P, [Bad(poison.entry_id, "refused")], 1, 1000) == 1
    assert await replay(redis, P, None, PARTITIONS) == 1
    assert (await _bal(redis, 5))[2] == b"0"
    [(_, fields)] = await redis.xrange(keys.outbox(P))
    assert fields[b"hold"] == b"1" and fields[b"rid"] == b"w:5:1:3"
