"""Cross-cutting HTTP guards: concurrency cap, CORS from CORS_ORIGINS, the JSON access log,
per-IP limits of anonymous callers."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.app import create_app, lifespan
from core.logs import JsonFormatter
from core.web import ConcurrencyCap, RequestContext, exception_handlers


def _slow_app(gate: asyncio.Event, limit: int) -> Starlette:
    async def slow(request):
        await gate.wait()
        return PlainTextResponse("done")

    async def health(request):
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/slow", slow), Route("/health", health)],
        middleware=[Middleware(RequestContext), Middleware(ConcurrencyCap, limit=limit)],
        exception_handlers=exception_handlers(),
    )


async def test_concurrency_cap_refuses_excess_with_503():
    """With `limit` requests in flight, one more gets 503 `unavailable` with Retry-After and
    the request id; probes pass; once the others finish, requests pass again."""
    gate = asyncio.Event()
    app = _slow_app(gate, 2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        held = [asyncio.create_task(c.get("/slow")) for _ in range(2)]
        await asyncio.sleep(0.05)
        r = await c.get("/slow", headers={"X-Request-ID": "cap-1"})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        body = r.json()
        assert body["error"]["code"] == "unavailable" and body["error"]["traceId"] == "cap-1"
        assert (await c.get("/health")).status_code == 200
        gate.set()
        assert [t.status_code for t in await asyncio.gather(*held)] == [200, 200]
        assert (await c.get("/slow")).status_code == 200


@pytest.fixture
async def cors_client(env, monkeypatch, pg_server, redis_server):
    for name, value in {**env, "CORS_ORIGINS": "https://app.example, https://b.example"}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


async def test_cors_preflight_and_simple_request(cors_client):
    """A listed origin gets a preflight answer allowing Authorization, and its responses
    expose X-Request-ID; an unlisted origin gets no allow-origin header."""
    r = await cors_client.options(
        "/api/contents",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = await cors_client.get("/health", headers={"Origin": "https://b.example"})
    assert r.headers["access-control-allow-origin"] == "https://b.example"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    r = await cors_client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_cors_credentials_only_on_the_refresh_cookie_routes(cors_client):
    """A listed origin's page may send and receive the refresh cookie on login and refresh
    (credentials allowed there); every other route stays bearer-only (no credentials)."""
    for path in ("/api/auth/login", "/api/auth/refresh"):
        r = await cors_client.options(
            path,
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert r.headers.get("access-control-allow-credentials") == "true", path
    r = await cors_client.options(
        "/api/contents",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-credentials" not in r.headers
    r = await cors_client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-credentials" not in r.headers


async def test_no_cors_without_origins(client):
    """Without CORS_ORIGINS no CORS header is sent."""
    r = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_access_log_line(client, auth, caplog):
    """Each request writes one `access` line with request id, route, status, duration and
    the user id once authenticated; the JSON formatter renders it as one object."""
    caplog.set_level(logging.INFO, logger="access")
    await client.get(
        "/api/admin/settings", headers={**auth(5, ("admin",)), "X-Request-ID": "log-1"}
    )
    [record] = [r for r in caplog.records if r.name == "access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "log-1" and line["user_id"] == 5
    assert (line["route"], line["status"], line["method"]) == ("/api/admin/settings", 200, "GET")
    assert line["duration_ms"] >= 0 and line["level"] == "info" and line["logger"] == "access"


async def test_access_log_for_unmatched_and_anonymous(client, caplog):
    """A 404 for an unknown path is logged with no route and no user."""
    caplog.set_level(logging.INFO, logger="access")
    await client.get("/nope")
    [record] = [r for r in caplog.records if r.name == "access"]
    assert (record.status, record.route, record.user_id) == (404, None, None)
