"""Helpers for tests that drive real hub processes over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# Short timings so rewards arrive in about a second; every hub of a test shares them.
FAST = {
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": "1000",
    "SESSION_TTL_MS": "3000",
    "CONTROL_POLL_MS": "500",
    "REDIS_PARTITIONS": "8",
    "DRAIN_SECONDS": "2",
}


class Client:
    """A test player on one WebSocket: send messages, read frames by type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of this type, skipping pushes of other types (viewers, rewards)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == type_:
                return frame

    async def request(self, type_: str, reply: str, **fields: Any) -> dict[str, Any]:
        await self.send(type=type_, **fields)
        return await self.expect(reply)

    async def start(
        self, content_id: int, tab: str = "tab-1", device: str = "dev-1", takeover: bool = False
    ) -> dict[str, Any]:
        await self.send(
            type="start", content_id=content_id, tab_id=tab, device_id=device, takeover=takeover
        )
        return await self.expect_one_of("started", "error")

    async def expect_one_of(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] in types:
                return frame

    async def closed_with(self, timeout: float = 8.0) -> int | None:
        """Read until the server closes; the close code."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
def hub(spawn: Callable[..., Any]) -> Callable[..., Any]:
    """`hub(**env)` starts a realtime hub process with the FAST timings (plus overrides)."""

    def start(**overrides: str) -> Any:
        return spawn("realtime.app:app", {**FAST, **overrides})

    return start


@pytest.fixture
async def player(token: Callable[..., str]):  # type: ignore[no-untyped-def]
    """`await player(hub, user_id)` opens an authenticated WebSocket and reads `hello`."""
    opened: list[Client] = []

    async def open_(
        hub: Any, user_id: int, tok: str | None = None, hello: bool = True, **connect_kw: Any
    ) -> Client:
        tok = tok if tok is not None else token(user_id)
        ws = await connect(f"{hub.ws_url}/ws?token={tok}", open_timeout=5, **connect_kw)
        client = Client(ws)
        opened.append(client)
        if hello:
            frame = await client.recv()
            assert frame["type"] == "hello", frame
        return client

    yield open_
    for client in opened:
        await client.ws.close()


@pytest.fixture
async def http():  # type: ignore[no-untyped-def]
    """An httpx.AsyncClient (10 s timeout) for the hub's HTTP endpoints."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def content(engine: Any) -> Callable[..., Any]:
    """`await content(**columns)` inserts a published content and returns its id."""

    async def make(
        title: str = "Clip",
        reward_interval_ms: int | None = None,
        status: str = "published",
        **extra: Any,
    ) -> int:
        async with engine.begin() as conn:
            row = await conn.execute(
                text(
                    "INSERT INTO contents (title, source_url, duration_s, status, reward_interval_ms,"
                    " published_at, updated_at) VALUES (:t, 'https://example.test/v.mp4', 600, :s,"
                    " :ri, now(), now()) RETURNING id"
                ),
                {"t": title, "s": status, "ri": reward_interval_ms},
            )
            return int(row.scalar_one())

    return make


STORE_PARTITIONS = 8


@pytest.fixture(params=["single", "fast", "cluster"])
async def store(request):  # type: ignore[no-untyped-def]
    """A LiveStore (8 partitions) on a plain redis-server (heartbeats through redis-py
    pipelines, or through the hub's own RESP connection: `fast`) and on a real 3-master Redis
    Cluster: every test that takes it runs on all three."""
    from redis.asyncio import Redis, RedisCluster

    from live.resp import RespConnection
    from live.store import LiveStore

    if request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        client = RedisCluster.from_url(cluster.url)
    else:
        server = request.getfixturevalue("redis_server")
        client = Redis.from_url(server.url)
        await client.flushall()
    fast = RespConnection.from_url(server.url) if request.param == "fast" else None
    s = LiveStore(client, STORE_PARTITIONS, fast=fast)
    await s.load_scripts()
    yield s
    await s.close()
    await client.aclose()
