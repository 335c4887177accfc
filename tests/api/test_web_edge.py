"""core.web on a tiny in-process Starlette app: envelope, request ids, error mapping, body
decoding, datetimes, identity. No servers needed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
import msgspec
import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import web
from core.errors import BadRequest, NotFound, RateLimited
from core.settings import load_settings
from core.tokens import issue_access

SEOUL = ZoneInfo("Asia/Seoul")
SETTINGS = load_settings(
    {
        "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "JWT_SECRET": "s" * 32,
    }
)


class Body(msgspec.Struct, forbid_unknown_fields=True):
    content_id: int
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=5)] = "x"


async def echo(request: Request) -> Response:
    body = await web.decode_body(request, Body)
    return web.ok(request, body, 201)


async def when(request: Request) -> Response:
    return web.ok(request, {"at": datetime(2026, 1, 1, 0, 0, tzinfo=UTC)})


async def boom(request: Request) -> Response:
    raise RuntimeError("secret detail")


async def limited(request: Request) -> Response:
    raise RateLimited("slow down", retry_after=7)


async def missing(request: Request) -> Response:
    raise NotFound("no such thing", details={"id": 3})


async def me(request: Request) -> Response:
    identity = web.require_identity(request, SETTINGS, roles=("admin",))
    return web.ok(request, {"user_id": identity.user_id})


def make_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/when", when),
            Route("/boom", boom),
            Route("/limited", limited),
            Route("/missing", missing),
            Route("/me", me),
        ],
        middleware=[Middleware(web.RequestContext)],
        exception_handlers=web.exception_handlers(),
    )
    app.state.tz = SEOUL
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def test_valid_request_ids():
    """Client request ids are used only when 1-128 safe characters."""
    assert web.valid_request_id("abc-123_x.y:z")
    assert web.valid_request_id("a" * 128)
    assert not web.valid_request_id("a" * 129)
    assert not web.valid_request_id("")
    assert not web.valid_request_id(None)
    assert not web.valid_request_id("has space")
    assert not web.valid_request_id("new\nline")
    assert not web.valid_request_id("<script>")


def test_encode_renders_structs_and_datetimes_in_zone():
    """Structs encode as objects; aware and naive (UTC) datetimes get the zone's offset."""

    class S(msgspec.Struct):
        at: datetime
        ids: frozenset[int]

    out = orjson.loads(
        web.encode(
            {"s": S(datetime(2026, 1, 1, tzinfo=UTC), frozenset({3})), "n": datetime(2026, 1, 1)},
            SEOUL,
        )
    )
    assert out == {
        "s": {"at": "2026-01-01T09:00:00+09:00", "ids": [3]},
        "n": "2026-01-01T09:00:00+09:00",
    }


def test_validation_details_name_the_path():
    """msgspec validation messages become details with the field and its path."""
    with pytest.raises(BadRequest) as info:
        web.decode_json(b'{"content_id": "7"}', Body)
    assert info.value.details == {
        "field": "content_id",
        "path": "$.content_id",
        "reason": "Expected `int`, got `str`",
    }
    with pytest.raises(BadRequest) as info:
        web.decode_json(b'{"content_id": 1, "zz": 1}', Body)
    assert info.value.details["field"] == "zz"
    with pytest.raises(BadRequest) as info:
        web.decode_json(b"{}", Body)
    assert info.value.details["field"] == "content_id"
    with pytest.raises(BadRequest) as info:
        web.decode_json(b"{not json", Body)
    assert info.value.message == "body is not valid JSON"


async def test_success_envelope_and_generated_request_id(client):
    """A success answers {success, data} and a generated X-Request-ID."""
    r = await client.post("/echo", json={"content_id": 5})
    assert r.status_code == 201
    assert r.json() == {"success": True, "data": {"content_id": 5, "title": "x"}}
    assert web.valid_request_id(r.headers["x-request-id"])


async def test_request_id_echoed_and_equal_to_trace_id(client):
    """A valid client X-Request-ID is echoed and is the error's traceId."""
    r = await client.post("/echo", json={"content_id": "x"}, headers={"X-Request-ID": "req-42"})
    assert r.status_code == 400
    assert r.headers["x-request-id"] == "req-42"
    body = r.json()
    assert body["success"] is False and body["data"] is None
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["details"]["field"] == "content_id"
    assert body["error"]["traceId"] == "req-42"


async def test_invalid_request_id_replaced(client):
    """An unsafe X-Request-ID is replaced by a generated one."""
    r = await client.get("/when", headers={"X-Request-ID": "bad id!"})
    assert r.headers["x-request-id"] != "bad id!"
    assert web.valid_request_id(r.headers["x-request-id"])


async def test_datetimes_in_app_timezone(client):
    """Response datetimes carry the APP_TIMEZONE offset."""
    r = await client.get("/when")
    assert r.json()["data"]["at"] == "2026-01-01T09:00:00+09:00"


async def test_unknown_route_and_method(client):
    """404 and 405 are envelopes with not_found / method_not_allowed and a request id."""
    r = await client.get("/nope", headers={"X-Request-ID": "r404"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["traceId"] == r.headers["x-request-id"] == "r404"
    r = await client.delete("/echo")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["x-request-id"] == r.json()["error"]["traceId"]


async def test_unexpected_exception_is_internal_envelope(client, caplog):
    """An unexpected exception answers a 500 `internal` envelope, without its detail, and is
    logged."""
    r = await client.get("/boom", headers={"X-Request-ID": "r500"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "r500"
    err = r.json()["error"]
    assert err["code"] == "internal" and err["traceId"] == "r500"
    assert "secret" not in r.text
    assert any("unhandled error" in rec.message for rec in caplog.records)


async def test_domain_errors_map_to_status(client):
    """DomainErrors answer their status and code; RateLimited adds Retry-After."""
    r = await client.get("/limited")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limited"
    r = await client.get("/missing")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "not_found",
        "message": "no such thing",
        "details": {"id": 3},
        "traceId": r.headers["x-request-id"],
    }


async def test_body_too_large(client):
    """A body over the limit answers 413 payload_too_large."""
    r = await client.post("/echo", content=b"[" + b"1," * 40_000 + b"1]")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_require_identity(client):
    """No token, a bad token and an expired one are 401s; a missing role is 403."""
    r = await client.get("/me")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await client.get("/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    expired = issue_access(SETTINGS, 5, ("admin",), now=1_000_000, ttl_s=10)
    r = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_expired")
    viewer = issue_access(SETTINGS, 5, ("viewer",))
    r = await client.get("/me", headers={"Authorization": f"Bearer {viewer}"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    admin = issue_access(SETTINGS, 5, ("admin",))
    r = await client.get("/me", headers={"Authorization": f"Bearer {admin}"})
    assert r.json() == {"success": True, "data": {"user_id": 5}}
