"""Several hub processes on one Redis: takeover, resume, races, a killed node, drain."""

import asyncio
import signal

from live import keys


async def test_takeover_on_node_b_closes_the_old_connection_on_node_a(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    old = await player(a, 61)
    await old.start(cid, tab="A", device="tv")
    new = await player(b, 61)
    assert (await new.start(cid, tab="B", device="phone", takeover=True))["type"] == "started"
    assert await old.expect("replaced") == {
        "type": "replaced",
        "content_id": cid,
        "by_device_id": "phone",
    }
    assert await old.closed_with() == 4509
    assert (await new.request("heartbeat", "tick", playing=True, visible=True))["type"] == "tick"


async def test_reconnect_to_another_node_resumes(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    p = await player(a, 62)
    first = await p.start(cid)
    await asyncio.sleep(0.3)
    tick = await p.request("heartbeat", "tick", playing=True, visible=True)
    await p.ws.close()
    q = await player(b, 62)
    again = await q.start(cid)
    assert again["resumed"] and again["session_id"] == first["session_id"]
    assert again["elapsed_ms"] == tick["elapsed_ms"]


async def test_two_tabs_racing_heartbeats_earn_exactly_once_per_boundary(
    hub, player, content, redis
) -> None:  # type: ignore[no-untyped-def]
    """Two connections of one user (same tab, resumed on two nodes) flood heartbeats for
    thousands of ticks: rewards == floor(credited / interval), no duplicate id."""
    a, b = hub(WS_MAX_MESSAGES_PER_SECOND="10000"), hub(WS_MAX_MESSAGES_PER_SECOND="10000")
    cid = await content(reward_interval_ms=1000)
    x = await player(a, 63)
    y = await player(b, 63)
    await x.start(cid)
    assert (await y.start(cid))["resumed"]

    async def flood(c, n: int) -> int:  # type: ignore[no-untyped-def]
        last = 0
        for _ in range(n):
            tick = await c.request("heartbeat", "tick", playing=True, visible=True)
            last = max(last, tick["elapsed_ms"])
        return last

    elapsed = max(await asyncio.gather(flood(x, 1500), flood(y, 1500)))
    rewards = [f["reward_id"] for c in (x, y) for f in c.frames if f["type"] == "reward"]
    assert len(rewards) == len(set(rewards)) == elapsed // 1000
    outbox = await redis.xrange(keys.outbox(63 % 8))
    grant_ids = [f[b"rid"].decode() for _, f in outbox if f[b"t"] == b"g"]
    assert sorted(grant_ids) == sorted(rewards)


async def test_killed_node_viewers_leave_within_ttl_plus_5s(hub, player, content, redis) -> None:  # type: ignore[no-untyped-def]
    a, b = hub(), hub()
    cid = await content()
    doomed = await player(a, 64)
    await doomed.start(cid)
    watcher = await player(b, 65)
    assert (await watcher.start(cid))["viewers"] == 2
    a.kill()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    while True:
        await asyncio.sleep(0.5)
        await watcher.request("heartbeat", "tick", playing=True, visible=True)
        counts = [f["count"] for f in watcher.frames if f["type"] == "viewers"]
        if counts and counts[-1] == 1:
            break
        assert loop.time() - killed_at < 3 + 5, "dead node's viewer still counted"
    # The user of the dead node may start anywhere once the session expired.
    again = await player(b, 64)
    assert (await again.start(cid, tab="other", device="other"))["type"] == "started"


async def test_sigterm_drains_with_1012_and_ready_turns_503(hub, player) -> None:  # type: ignore[no-untyped-def]
    import httpx

    h = hub(DRAIN_SECONDS="2")
    clients = [await player(h, 70 + i) for i in range(6)]
    h.proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{h.url}/ready")).status_code == 503
    codes = await asyncio.gather(*(c.closed_with(6) for c in clients))
    assert codes == [1012] * 6
    assert h.proc.wait(10) is not None
