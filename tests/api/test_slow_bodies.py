"""Slow, truncated and oversized request bodies against real api and hub processes on raw
sockets (core/bodies.py): refused with a clear status, never holding the slots of the
requests being served, never logged as a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

LOGIN = b'{"email": "nobody@example.com", "password": "not the password"}'


async def send_head(port: int, path: str, length: int, body: bytes = b"") -> Any:
    """A POST that declares `length` bytes of body and sends only `body`; the open stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    return reader, writer


async def response(reader: Any, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return status, json.loads(await reader.readexactly(length))


async def test_a_declared_body_over_the_limit_is_413_at_once(spawn: Any) -> None:
    """10 MB declared, nothing sent: 413 payload_too_large without waiting for it."""
    api = spawn("api.app:app")
    reader, writer = await send_head(api.port, "/api/auth/login", 10_000_000)
    status, body = await response(reader)
    writer.close()
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


async def test_a_body_that_stops_coming_is_408(spawn: Any) -> None:
    """100 bytes declared, 17 sent: 408 request_timeout once HTTP_BODY_TIMEOUT_MS passed, on
    the api and on the hub's fallback alike."""
    env = {"HTTP_BODY_TIMEOUT_MS": "1000"}
    for app, path in (
        ("api.app:app", "/api/auth/login"),
        ("realtime.app:app", "/api/service/timer-session"),
    ):
        proc = spawn(app, env)
        reader, writer = await send_head(proc.port, path, 100, LOGIN[:17])
        status, body = await response(reader)
        writer.close()
        assert (status, body["error"]["code"]) == (408, "request_timeout"), app


async def test_slow_bodies_do_not_take_the_served_requests_slots(spawn: Any) -> None:
    """Twelve slow bodies against a cap of four requests in flight: the catalog and a whole
    sign-in are still served (not 503), and when the slow clients give up, nothing is
    logged as a 500."""
    api = spawn("api.app:app", {"MAX_CONCURRENT_REQUESTS": "4", "HTTP_BODY_TIMEOUT_MS": "8000"})
    slow = [await send_head(api.port, "/api/auth/login", 100, LOGIN[:17]) for _ in range(12)]
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        assert (await http.get("/api/contents")).status_code == 200
        login = await http.post(
            "/api/auth/login", content=LOGIN, headers={"Content-Type": "application/json"}
        )
        assert login.status_code == 401, login.text
    for _, writer in slow:
        writer.close()
    await asyncio.sleep(0.5)
    assert "unhandled error" not in api.stderr_text()
    assert "Traceback" not in api.stderr_text()
    assert "client went away before its body was read" in api.stderr_text()
