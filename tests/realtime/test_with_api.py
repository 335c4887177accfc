"""The hub together with the api process: content created the supported way, probes."""

import asyncio

import httpx


async def test_content_created_through_the_api_is_watchable_on_every_node_within_5s(
    hub, spawn, player, token
) -> None:  # type: ignore[no-untyped-def]
    nodes = [hub(CONTROL_POLL_MS="2000"), hub(CONTROL_POLL_MS="2000")]
    api = spawn("api.app:app")
    # Both nodes have already loaded the catalog once: the new id is unknown to them.
    viewers = [await player(n, 90 + i) for i, n in enumerate(nodes)]
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{api.url}/api/admin/contents",
            json={"title": "Fresh", "source_url": "https://example.test/a.mp4", "duration_s": 30},
            headers={"Authorization": f"Bearer {token(1, roles=('admin',))}"},
        )
    assert r.status_code == 201, r.text
    cid = r.json()["data"]["id"]
    loop = asyncio.get_running_loop()
    created = loop.time()
    for v in viewers:
        while (started := await v.start(cid))["type"] != "started":
            assert loop.time() - created < 5, started
            await asyncio.sleep(0.2)


async def test_hub_probes_and_metrics(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    p = await player(h, 95)
    await p.start(await content())
    await p.request("heartbeat", "tick", playing=True, visible=True)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{h.url}/health")).json() == {"status": "ok"}
        assert (await http.get(f"{h.url}/ready")).status_code == 200
        text = (await http.get(f"{h.url}/metrics")).text
    for name in (
        "hub_connections_open 1.0",
        'hub_heartbeats_total{outcome="ok"} 1.0',
        "hub_heartbeat_seconds_bucket",
        "hub_rewards_granted_total",
        "hub_outbox_entries",
        "hub_sessions_live",
    ):
        assert name in text, name


async def test_ready_names_a_dead_redis(spawn, make_redis_server) -> None:  # type: ignore[no-untyped-def]
    r = make_redis_server()
    h = spawn("realtime.app:app", {"REDIS_URL": r.url})
    r.kill()
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{h.url}/ready", timeout=10)
    assert reply.status_code == 503 and "redis" in reply.json()["down"]


async def test_missing_settings_stop_the_hub_with_one_line(spawn) -> None:  # type: ignore[no-untyped-def]
    h = spawn("realtime.app:app", {"JWT_SECRET": None}, wait=False)
    assert h.proc.wait(20) == 2
    assert "configuration error: JWT_SECRET is required but not set" in h.stderr_text()
