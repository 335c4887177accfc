"""The hub on a real 3-master Redis Cluster (REDIS_CLUSTER=1): sessions, rewards, takeover
across nodes, the HTTP fallback, viewer counts and the sweep."""

import asyncio

import httpx
import pytest
from redis.asyncio import RedisCluster

from live import keys


@pytest.fixture
def cluster_hub(hub, redis_cluster):  # type: ignore[no-untyped-def]
    def start(**env: str):  # type: ignore[no-untyped-def]
        return hub(REDIS_URL=redis_cluster.url, REDIS_CLUSTER="1", **env)

    return start


async def test_watch_and_earn_on_a_cluster(cluster_hub, player, content, redis_cluster) -> None:  # type: ignore[no-untyped-def]
    h = cluster_hub()
    cid = await content()
    p = await player(h, 101)
    assert (await p.start(cid))["type"] == "started"
    for _ in range(5):
        await asyncio.sleep(0.3)
        tick = await p.request("heartbeat", "tick", playing=True, visible=True)
    rewards = [f for f in p.frames if f["type"] == "reward"]
    assert len(rewards) == tick["elapsed_ms"] // 1000 >= 1
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        grants = [f for _, f in await client.xrange(keys.outbox(101 % 8)) if f[b"t"] == b"g"]
    finally:
        await client.aclose()
    assert [g[b"rid"].decode() for g in grants] == [r["reward_id"] for r in rewards]


async def test_takeover_across_nodes_on_a_cluster(cluster_hub, player, content) -> None:  # type: ignore[no-untyped-def]
    a, b = cluster_hub(), cluster_hub()
    cid = await content()
    old = await player(a, 102)
    await old.start(cid, tab="A", device="tv")
    new = await player(b, 102)
    assert (await new.start(cid, tab="B", device="phone", takeover=True))["type"] == "started"
    assert (await old.expect("replaced"))["by_device_id"] == "phone"
    assert await old.closed_with() == 4509


async def test_fallback_viewers_and_expiry_on_a_cluster(
    cluster_hub, player, content, token
) -> None:  # type: ignore[no-untyped-def]
    h = cluster_hub()
    cid = await content()
    ws = await player(h, 103)
    assert (await ws.start(cid))["viewers"] == 1
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{h.url}/api/service/timer-session",
            json=body,
            headers={"Authorization": f"Bearer {token(104)}"},
        )
    assert r.status_code == 200 and r.json()["data"]["viewers"] == 2
    # The HTTP player stops calling: its session is swept after the TTL (3 s here).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 8
    while True:
        await asyncio.sleep(0.5)
        await ws.request("heartbeat", "tick", playing=True, visible=True)
        counts = [f["count"] for f in ws.frames if f["type"] == "viewers"]
        if counts and counts[-1] == 1 and 2 in counts:
            break
        assert loop.time() < deadline, counts
