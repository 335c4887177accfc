"""The watch session over a real WebSocket to a real hub process."""

import asyncio
import time
from typing import Any

from sqlalchemy import text

from live import keys
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until


async def test_happy_path_hello_start_heartbeats_reward_stop(hub, player, content, redis) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    p = await player(h, 42)
    started = await p.start(cid)
    assert started["type"] == "started", started
    assert (started["resumed"], started["elapsed_ms"], started["interval_ms"]) == (False, 0, 1000)
    assert started["viewers"] == 1 and started["balance"] == 0
    rewards = []
    for i in range(6):
        await asyncio.sleep(0.3)
        await p.send(type="heartbeat", playing=True, visible=True, id=f"h{i}")
        tick = await p.expect("tick")
        assert tick["ref"] == f"h{i}" and tick["content_id"] == cid
        rewards += [f for f in p.frames if f["type"] == "reward" and f not in rewards]
    assert tick["elapsed_ms"] >= 1500
    assert [r["reward_id"] for r in rewards] == [
        f"w:42:{cid}:{n}" for n in range(1, len(rewards) + 1)
    ]
    assert rewards and rewards[-1]["balance"] == 10 * len(rewards) and rewards[0]["kind"] == "watch"
    stopped = await p.request("stop", "stopped")
    assert stopped["content_id"] == cid and stopped["watched_ms"] == tick["elapsed_ms"]
    err = await p.request("heartbeat", "error", playing=True, visible=True)
    assert err["code"] == "no_session"
    outbox = await redis.xrange(keys.outbox(42 % 8))
    assert sum(1 for _, f in outbox if f[b"t"] == b"g") == len(rewards)


async def test_ping_pong_and_message_ids(hub, player) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    p = await player(h, 5)
    assert await p.request("ping", "pong", id="abc") == {"type": "pong", "ref": "abc"}
    assert "token=[redacted]" in h.stderr_text() and "token=ey" not in h.stderr_text()


async def test_heartbeat_before_start_is_no_session(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 5)
    err = await p.request("heartbeat", "error", playing=True, visible=True, id="x")
    assert (err["code"], err["ref"]) == ("no_session", "x")


async def test_unknown_or_unpublished_content_is_unavailable(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    draft = await content(status="draft")
    p = await player(hub(), 5)
    assert (await p.start(999_999))["code"] == "content_unavailable"
    assert (await p.start(draft))["code"] == "content_unavailable"


async def test_deleted_content_ends_live_sessions_at_the_next_heartbeat(
    hub, player, content, engine
) -> None:  # type: ignore[no-untyped-def]
    cid = await content()
    p = await player(hub(), 5)
    assert (await p.start(cid))["type"] == "started"
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE contents SET deleted_at = now(), updated_at = now() WHERE id = :id"),
            {"id": cid},
        )

    async def refused() -> dict | None:  # type: ignore[type-arg]
        # Ticks until the hub's catalog poll (CONTROL_POLL_MS, 500 here) sees the deletion.
        await p.send(type="heartbeat", playing=True, visible=True)
        reply = await p.expect_one_of("tick", "error")
        return reply if reply["type"] == "error" else None

    err = await wait_until(refused, 10, "the deletion to end the session")
    assert err["code"] == "content_unavailable"
    assert (await p.request("heartbeat", "error", playing=True, visible=True))[
        "code"
    ] == "no_session"


async def test_paused_or_hidden_heartbeats_earn_nothing(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    cid = await content()
    p = await player(hub(), 5)
    await p.start(cid)
    for playing, visible in ((False, True), (True, False), (False, False)):
        await asyncio.sleep(0.2)
        tick = await p.request("heartbeat", "tick", playing=playing, visible=visible)
        assert tick["credited_ms"] == 0 and tick["elapsed_ms"] == 0


async def test_reconnect_resumes_the_session_with_its_credited_time(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    p = await player(h, 9)
    await p.start(cid)
    await asyncio.sleep(0.4)
    tick = await p.request("heartbeat", "tick", playing=True, visible=True)
    await p.ws.close()
    q = await player(h, 9)
    again = await q.start(cid)
    assert again["resumed"] is True and again["elapsed_ms"] == tick["elapsed_ms"]
    assert again["session_id"]


async def test_other_tab_conflicts_and_takeover_replaces_it(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    first = await player(h, 11)
    await first.start(cid, tab="A", device="phone")
    second = await player(h, 11)
    err = await second.start(cid, tab="B", device="laptop")
    assert err["code"] == "session_conflict"
    assert (err["active_content_id"], err["active_device_id"]) == (cid, "phone")
    taken = await second.start(cid, tab="B", device="laptop", takeover=True)
    assert taken["type"] == "started" and taken["resumed"] is False
    replaced = await first.expect("replaced")
    assert replaced == {"type": "replaced", "content_id": cid, "by_device_id": "laptop"}
    assert await first.closed_with() == 4509


async def test_token_refresh_in_the_connection(hub, player, token) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 12, tok=token(12, ttl_s=2))
    fresh = token(12, ttl_s=3600)
    authed = await p.request("auth", "authed", token=fresh, id="a")
    assert authed["ref"] == "a" and authed["expires_at"] > 0
    other = await p.request("auth", "error", token=token(13))
    assert other["code"] == "bad_request"
    await asyncio.sleep(2.5)  # past the first token's expiry: still open
    assert (await p.request("ping", "pong"))["type"] == "pong"


async def test_unrefreshed_token_expiry_closes_4005(hub, player, token) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 12, tok=token(12, ttl_s=1))
    assert await p.closed_with(5) == 4005


async def test_daily_cap_notice_once_then_no_rewards(hub, player, content, engine, worker) -> None:  # type: ignore[no-untyped-def]
    """At the cap (1 a day) time is still credited and nothing more is granted: one reward in
    the ledger, one notice, and the ticks after the cap keep adding to the elapsed time."""
    worker(REDIS_PARTITIONS="8")
    cid = await content(reward_interval_ms=1000)
    p = await player(hub(DAILY_REWARD_CAP="1", HEARTBEAT_INTERVAL_MS="2000"), 14)
    watch = Watch(14, [p.frames])
    await p.start(cid)
    ticks = []
    for _ in range(8):
        await asyncio.sleep(0.45)
        ticks.append(await p.request("heartbeat", "tick", playing=True, visible=True))
    watch.ended = time.time()
    kinds = [f["type"] for f in p.frames]
    assert kinds.count("reward") == 1
    notices = [f for f in p.frames if f["type"] == "notice"]
    assert [n["code"] for n in notices] == ["daily_cap_reached"]
    after_cap = [t for t in ticks if t["elapsed_ms"] > 2000]
    assert after_cap and all(t["credited_ms"] > 0 for t in after_cap), ticks
    assert ticks[-1]["elapsed_ms"] == watch.credited_ms() >= 3000
    paid = await conserved(engine, [watch], heartbeat_ms=2000)
    assert list(paid) == [f"w:14:{cid}:1"]


async def test_viewer_counts_are_pushed_to_watchers(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    a = await player(h, 21)
    assert (await a.start(cid))["viewers"] == 1
    b = await player(h, 22)
    assert (await b.start(cid))["viewers"] == 2

    def counts() -> list[int]:
        return [f["count"] for f in a.frames if f["type"] == "viewers"]

    def heartbeats_until(clients: tuple, seen: Any) -> Any:  # type: ignore[type-arg]
        async def check() -> bool:
            await asyncio.sleep(0.5)  # keep the sessions live (TTL is 3 s here)
            for c in clients:
                await c.request("heartbeat", "tick", playing=True, visible=True)
            return bool(seen(counts()))

        return check

    await wait_until(heartbeats_until((a, b), lambda c: 2 in c), 10, "a push of 2 viewers")
    await b.request("stop", "stopped")
    await wait_until(heartbeats_until((a,), lambda c: c[-1] == 1), 10, "a push of 1 viewer")
