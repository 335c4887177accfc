"""Multi-account review against real Redis (a plain server and a 3-master Cluster): the
device and address sets, the hold (flag.lua), held grants (tick.lua), decisions (decide.lua)."""

from __future__ import annotations

import asyncio

from live import holds, keys, rules
from live.review import ReviewLimits
from live.review_store import ReviewTracker
from live.store import LiveStore
from tests.realtime.conftest import STORE_PARTITIONS as P
from tests.realtime.test_store import params

DAY_MS = 86_400_000
LIMITS = ReviewLimits(per_device=3, per_ip=5, window_ms=DAY_MS)


async def _hold(store: LiveStore, uid: int) -> bytes | None:
    return await store.redis.hget(store.user_keys(uid).balance, "hold")


async def _flags(store: LiveStore, uid: int) -> list[dict[bytes, bytes]]:
    entries = await store.redis.xrange(keys.outbox(uid % P))
    return [f for _, f in entries if f[b"t"] == b"f" and f[b"uid"] == str(uid).encode()]


async def _grants(store: LiveStore, uid: int) -> list[dict[bytes, bytes]]:
    entries = await store.redis.xrange(keys.outbox(uid % P))
    return [f for _, f in entries if f[b"t"] == b"g" and f[b"uid"] == str(uid).encode()]


async def test_more_accounts_on_one_device_than_allowed_are_all_put_on_hold(
    store: LiveStore,
) -> None:
    tracker = ReviewTracker(store, LIMITS)
    for uid in (1, 2, 3):  # three accounts: the limit itself is allowed
        assert await tracker.record(uid, "tv", "10.0.0.1") == []
    assert [await _hold(store, u) for u in (1, 2, 3)] == [None, None, None]
    held = await tracker.record(4, "tv", "10.0.0.2")
    assert sorted(f.user_id for f in held) == [1, 2, 3, 4]
    for uid in (1, 2, 3, 4):
        assert await _hold(store, uid) == b"1"
        [flag] = await _flags(store, uid)
        assert (flag[b"why"], flag[b"key"], flag[b"n"]) == (b"device", b"tv", b"4")
        assert flag[b"fid"].startswith(f"f:{uid}:".encode())
    # Starting again, or a fifth account joining, raises no second flag for the held ones.
    assert await tracker.record(2, "tv", "10.0.0.1") == []
    assert [f.user_id for f in await tracker.record(5, "tv", "10.0.0.3")] == [5]
    assert [len(await _flags(store, u)) for u in (1, 2, 3, 4, 5)] == [1, 1, 1, 1, 1]
    # Another device with few accounts is not affected.
    assert await tracker.record(6, "phone", "10.0.0.4") == [] and await _hold(store, 6) is None


async def test_many_accounts_from_one_address_are_flagged_as_ip(store: LiveStore) -> None:
    tracker = ReviewTracker(store, LIMITS)
    for uid in range(1, 6):
        assert await tracker.record(uid, f"dev-{uid}", "192.0.2.7") == []
    held = await tracker.record(6, "dev-6", "192.0.2.7")
    assert sorted(f.user_id for f in held) == [1, 2, 3, 4, 5, 6]
    [flag] = await _flags(store, 3)
    assert (flag[b"why"], flag[b"key"], flag[b"n"]) == (b"ip", b"192.0.2.7", b"6")


async def test_only_accounts_within_the_window_count_and_the_sets_expire(store: LiveStore) -> None:
    tracker = ReviewTracker(store, LIMITS)
    now = 1_800_000_000_000
    for uid in (1, 2, 3):
        await tracker.record(uid, "tv", "", now_ms=now - DAY_MS - 1)  # a day and 1 ms ago
    assert await tracker.record(4, "tv", "", now_ms=now) == []  # the old three fell out
    assert await store.redis.zrange(keys.review_device("tv"), 0, -1) == [b"4"]
    assert 0 < await store.redis.pttl(keys.review_device("tv")) <= DAY_MS


async def test_checks_that_are_off_record_nothing(store: LiveStore) -> None:
    tracker = ReviewTracker(store, ReviewLimits(per_device=0, per_ip=0, window_ms=DAY_MS))
    for uid in range(1, 10):
        assert await tracker.record(uid, "tv", "10.0.0.1") == []
    assert not await store.redis.exists(keys.review_device("tv"), keys.review_ip("10.0.0.1"))


async def test_a_held_user_earns_held_grants_outside_pend_with_the_same_ids(
    store: LiveStore,
) -> None:
    """While held, each boundary is still granted once (same reward id, counted toward the
    daily cap) but the entry is marked held, `pend` does not grow and the tick does not list
    it; after the hold is lifted the next boundaries are paid as usual."""
    uid = 9
    await store.start(uid, 3, "t", "d", False, "s1", "n1", "c1", "ws", 30_000)
    await asyncio.sleep(0.25)
    paid = await store.tick(uid, 3, "s1", 1, "t", "d", True, params(interval_ms=100))
    assert len(paid.granted) >= 1 and paid.pending == 10 * len(paid.granted)
    await ReviewTracker(store, ReviewLimits(1, 0, DAY_MS)).record(99, "d", "")
    assert [
        f.user_id
        for f in await ReviewTracker(store, ReviewLimits(1, 0, DAY_MS)).record(uid, "d", "")
    ] == [uid, 99]
    await asyncio.sleep(0.25)
    held = await store.tick(uid, 3, "s1", 1, "t", "d", True, params(interval_ms=100))
    assert held.status == "ok" and held.granted == () and held.pending == paid.pending
    grants = await _grants(store, uid)
    marked = [g for g in grants if g.get(b"hold") == b"1"]
    assert len(marked) >= 1 and len(grants) == len(paid.granted) + len(marked)
    # Reward ids run on without a gap or a repeat, held or not.
    assert [g[b"rid"].decode() for g in grants] == [
        f"w:{uid}:3:{n}" for n in range(1, len(grants) + 1)
    ]
    day = await store.redis.hget(store.user_keys(uid).day, "c")
    assert int(day) == len(grants)  # held grants count in the day's tally (the cap)
    # Approved: the hold is lifted; the next boundaries are paid and shown again.
    assert await holds.apply_decision(store.redis, uid, P, "approve", DAY_MS) is True
    await asyncio.sleep(0.25)
    after = await store.tick(uid, 3, "s1", 1, "t", "d", True, params(interval_ms=100, cap=0))
    assert len(after.granted) >= 1
    assert after.pending == paid.pending + 10 * len(after.granted)
    assert after.granted[0] == rules.reward_id(uid, 3, len(grants) + 1)


async def test_approval_exempts_from_new_flags_for_a_window_and_rejection_keeps_the_hold(
    store: LiveStore,
) -> None:
    tracker = ReviewTracker(store, ReviewLimits(per_device=1, per_ip=0, window_ms=DAY_MS))
    await tracker.record(1, "tv", "")
    assert {f.user_id for f in await tracker.record(2, "tv", "")} == {1, 2}
    assert await holds.apply_decision(store.redis, 1, P, "approve", DAY_MS) is True
    assert await holds.apply_decision(store.redis, 2, P, "reject", DAY_MS) is True
    rvok = await store.redis.hget(store.user_keys(1).balance, "rvok")
    assert int(rvok) > 0
    assert (await _hold(store, 1), await _hold(store, 2)) == (b"0", b"1")
    # User 1 starts again on the crowded device: exempt, no new flag; a third account
    # crossing flags everyone else but leaves the approved account alone.
    assert await tracker.record(1, "tv", "") == []
    assert [f.user_id for f in await tracker.record(3, "tv", "")] == [3]
    assert (await _hold(store, 1), len(await _flags(store, 1))) == (b"0", 1)
    # Approving again is harmless; an approval whose exemption ran out can be flagged again.
    assert await holds.apply_decision(store.redis, 1, P, "approve", -1) is False
    assert [f.user_id for f in await tracker.record(1, "tv", "")] == [1]
    assert len(await _flags(store, 1)) == 2
