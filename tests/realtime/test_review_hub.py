"""Multi-account review through real hub processes: a WebSocket `start` and an HTTP fallback
session start are both counted per device and per address; the flagged accounts keep
watching (ticks go on) but their grants are held: no `reward` frame, no balance growth."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from live import keys

P = 8  # REDIS_PARTITIONS of the FAST hubs


async def _outbox(redis: Any, uid: int, kind: bytes) -> list[dict[bytes, bytes]]:
    entries = await redis.xrange(keys.outbox(uid % P))
    return [f for _, f in entries if f[b"t"] == kind and f[b"uid"] == str(uid).encode()]


async def _watch(client: Any, seconds: float) -> tuple[list[dict[str, Any]], int]:
    """Heartbeat (playing, visible) for `seconds`: the reward frames and the last elapsed."""
    rewards: list[dict[str, Any]] = []
    elapsed = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.2)
        await client.send(type="heartbeat", playing=True, visible=True)
        while (frame := await client.expect_one_of("reward", "tick", "error"))["type"] == "reward":
            rewards.append(frame)
        assert frame["type"] == "tick", frame
        elapsed = frame["elapsed_ms"]
    return rewards, elapsed


async def test_accounts_over_the_device_limit_watch_on_with_held_rewards(
    hub: Any, player: Any, content: Any, redis: Any
) -> None:
    h = hub(REVIEW_ACCOUNTS_PER_DEVICE="2")
    cid = await content()
    shared = [await player(h, uid) for uid in (31, 32, 33)]
    for i, client in enumerate(shared[:2]):
        assert (await client.start(cid, tab=f"t{i}", device="shared-tv"))["type"] == "started"
    assert await redis.hget(keys.UserKeys(31, P).balance, "hold") is None  # two are allowed
    started = await shared[2].start(cid, tab="t2", device="shared-tv")
    assert started["type"] == "started" and started["balance"] == 0
    for uid in (31, 32, 33):
        [flag] = await _outbox(redis, uid, b"f")
        assert (flag[b"why"], flag[b"key"], flag[b"n"]) == (b"device", b"shared-tv", b"3")
    alone = await player(h, 34)
    await alone.start(cid, device="own-phone")
    results = await asyncio.gather(*(_watch(c, 2.5) for c in [*shared, alone]))
    for uid, (rewards, elapsed) in zip((31, 32, 33), results[:3], strict=False):
        assert rewards == [] and elapsed >= 1500, (uid, rewards, elapsed)
        held = await _outbox(redis, uid, b"g")
        assert held and all(g[b"hold"] == b"1" for g in held)
        assert [g[b"rid"].decode() for g in held] == [
            f"w:{uid}:{cid}:{n}" for n in range(1, len(held) + 1)
        ]
        assert int(await redis.hget(keys.UserKeys(uid, P).balance, "pend") or 0) == 0
    rewards, _ = results[3]  # the account on its own device is paid and shown as usual
    assert rewards and rewards[-1]["balance"] == 10 * len(rewards)
    assert all(b"hold" not in g for g in await _outbox(redis, 34, b"g"))


async def test_fallback_starts_count_per_address(
    hub: Any, content: Any, redis: Any, token: Any
) -> None:
    """Three accounts opening HTTP fallback sessions from one address (limit 2) on three
    devices: flagged as `ip`; their later timer calls announce no rewards."""
    h = hub(REVIEW_ACCOUNTS_PER_IP="2")
    cid = await content()
    bodies = {
        uid: {
            "content_id": cid,
            "tab_id": "t",
            "device_id": f"d{uid}",
            "playing": True,
            "visible": True,
        }
        for uid in (41, 42, 43)
    }
    async with httpx.AsyncClient(timeout=10) as http:

        async def call(uid: int) -> dict[str, Any]:
            r = await http.post(
                f"{h.url}/api/service/timer-session",
                json=bodies[uid],
                headers={"Authorization": f"Bearer {token(uid)}"},
            )
            assert r.status_code == 200, r.text
            return dict(r.json()["data"])

        for uid in (41, 42, 43):
            await call(uid)
        for uid in (41, 42, 43):
            [flag] = await _outbox(redis, uid, b"f")
            assert (flag[b"why"], flag[b"key"], flag[b"n"]) == (b"ip", b"127.0.0.1", b"3")
        rewards: list[Any] = []
        elapsed = 0
        for _ in range(8):
            await asyncio.sleep(0.3)
            data = await call(41)
            rewards += data["rewards"]
            elapsed = data["elapsed_ms"]
    assert rewards == [] and elapsed >= 1000
    assert len(await _outbox(redis, 41, b"g")) >= 1
