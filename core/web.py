"""The HTTP edge shared by the REST api and the hub's HTTP endpoints.

- JSON responses in the envelope of PROTOCOL 6, encoded by orjson; msgspec Structs encode,
  and datetimes are rendered in ISO 8601 with the offset of APP_TIMEZONE (`app.state.tz`).
- `RequestContext`: a pure-ASGI middleware that gives each request an id (X-Request-ID),
  puts it on every response, and turns any unexpected exception into a logged 500 envelope.
- `HttpMetrics`: a pure-ASGI middleware counting requests by route template and status.
- `ConcurrencyCap` (503 past a number of requests in flight) and `Cors` (CORS_ORIGINS).
- `exception_handlers()`: DomainError and Starlette's HTTPException (404, 405, 413, ...)
  as envelopes. This is the one place where domain errors become HTTP statuses.
- `decode_body`, `decode_query`, `require_identity`: request parsing and authentication helpers.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import typing
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TypeVar

import msgspec
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.bodies import MAX_BODY_BYTES
from core.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    RateLimited,
    TokenExpiredError,
    Unauthorized,
)
from core.settings import Settings
from core.tokens import Identity, TokenError, TokenExpired, bearer_token, verify_access

log = logging.getLogger(__name__)

T = TypeVar("T")
StructT = TypeVar("StructT", bound=msgspec.Struct)

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

# Codes for the HTTP statuses that Starlette raises itself (routing, body limit).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

# ---------------------------------------------------------------------------- encoding


@functools.lru_cache(maxsize=8)
def _default_for(tz: tzinfo) -> Any:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.astimezone(tz).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, (msgspec.Struct, set, frozenset)):
            # keep datetimes as objects so that they come back here and get the zone
            return msgspec.to_builtins(value, builtin_types=(datetime, date))
        raise TypeError(f"cannot encode {type(value).__name__}")

    return default


def encode(obj: Any, tz: tzinfo = UTC) -> bytes:
    """JSON bytes of `obj`; Structs become objects, datetimes ISO 8601 in `tz` (naive ones
    are taken as UTC), dates ISO 8601, sets lists."""
    return orjson.dumps(obj, default=_default_for(tz), option=orjson.OPT_PASSTHROUGH_DATETIME)


def _tz(request: Request) -> tzinfo:
    return getattr(request.app.state, "tz", None) or UTC


class JSONBytes(Response):
    media_type = "application/json"


def ok(
    request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A success envelope `{"success": true, "data": ...}`."""
    return JSONBytes(ok_body(request, data), status_code=status, headers=headers)


def ok_body(request: Request, data: Any) -> bytes:
    """The encoded success envelope (for bodies kept and sent again: api/pagecache.py)."""
    return encode({"success": True, "data": data}, _tz(request))


def error_body(code: str, message: str, details: Any, trace_id: str | None) -> bytes:
    return encode(
        {
            "success": False,
            "data": None,
            "error": {"code": code, "message": message, "details": details, "traceId": trace_id},
        }
    )


# ---------------------------------------------------------------------------- request id


def valid_request_id(value: str | None) -> bool:
    """A client-given request id is used when it is 1-128 safe characters."""
    return bool(value) and _REQUEST_ID.fullmatch(value) is not None  # type: ignore[arg-type]


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id(scope_or_request: Scope | Request) -> str | None:
    """The id that RequestContext gave this request."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return scope.get("request_id")


def client_ip(request: Request) -> str:
    """The peer address as the server saw it (uvicorn's --proxy-headers rewrites it from
    X-Forwarded-For for trusted proxies)."""
    return request.client.host if request.client else ""


class RequestContext:
    """Pure-ASGI middleware: request id in, X-Request-ID out on every response, and the last
    line of defence that turns an unexpected exception into a logged 500 envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")
                break
        if not valid_request_id(rid):
            rid = new_request_id()
        scope["request_id"] = rid
        header = (b"x-request-id", rid.encode())  # type: ignore[union-attr]
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", ()) if h[0] != b"x-request-id"]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": rid},
            )
            if started:
                raise  # too late for an envelope; the server drops the connection
            body = error_body("internal", "internal server error", None, rid)
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------- guards


class ConcurrencyCap:
    """Pure-ASGI middleware: at most `limit` HTTP requests of this process in flight at once;
    one more is answered at once with 503 `unavailable` and `Retry-After: 1`, rather than
    queued behind the others (a queue only turns overload into timeouts). `limit` None reads
    `max_concurrent_requests` from the app's settings at the first request (they are made
    in lifespan, after the middleware). Probes in `exempt` are never refused."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int | None = None,
        exempt: Iterable[str] = ("/health", "/metrics"),
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.limit is None:
            self.limit = scope["app"].state.settings.max_concurrent_requests
        if self.in_flight >= self.limit:
            body = error_body(
                "unavailable",
                "too many requests in flight, retry shortly",
                {"limit": self.limit},
                scope.get("request_id"),
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"1"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class Cors:
    """Starlette's CORSMiddleware with the origins of `CORS_ORIGINS` (app settings, read at
    the first request); no origins: no CORS headers at all. Bearer tokens, not cookies, so
    credentials are not allowed; X-Request-ID and Retry-After are readable by scripts."""

    HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
    EXPOSE = ("X-Request-ID", "Retry-After")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
                return
            origins = list(scope["app"].state.settings.cors_origins)
            self.inner = (
                self.app
                if not origins
                else CORSMiddleware(
                    self.app,
                    allow_origins=origins,
                    allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                    allow_headers=list(self.HEADERS),
                    expose_headers=list(self.EXPOSE),
                    max_age=600,
                )
            )
        await self.inner(scope, receive, send)


# ---------------------------------------------------------------------------- errors


def error_response(request: Request, exc: DomainError) -> Response:
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after)))}
    body = error_body(exc.code, exc.message, exc.details, request_id(request))
    return JSONBytes(body, status_code=exc.status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message, extra={"request_id": request_id(request)})
    return error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "error")
    body = error_body(code, str(exc.detail).lower(), None, request_id(request))
    return JSONBytes(body, status_code=exc.status_code, headers=exc.headers)


_DOWN_SQLSTATES = ("57P01", "57P02", "57P03", "53300")  # shutdown, crash, starting, too many


def dependency_down(exc: BaseException) -> bool:
    """A refused, lost or timed-out connection to PostgreSQL or Redis (not a bad query)."""
    if isinstance(
        exc, (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError, PoolTimeout)
    ):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        for cause in (exc.orig, getattr(exc.orig, "__cause__", None)):
            if isinstance(cause, OSError):
                return True
            state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
            if isinstance(state, str) and (state.startswith("08") or state in _DOWN_SQLSTATES):
                return True
    return False


async def _dependency_error(request: Request, exc: Exception) -> Response:
    """PostgreSQL or Redis down: 503 `unavailable` with Retry-After, one warning line (no
    traceback per request). Anything else is a bug: on to RequestContext's logged 500."""
    if not dependency_down(exc):
        raise exc
    log.warning(
        "dependency unavailable: %s: %s",
        type(exc).__name__,
        exc,
        extra={"request_id": request_id(request)},
    )
    body = error_body(
        "unavailable", "a dependency is unavailable; retry shortly", None, request_id(request)
    )
    return JSONBytes(body, status_code=503, headers={"Retry-After": "1"})


def exception_handlers() -> dict[Any, Any]:
    """Pass to `Starlette(exception_handlers=...)`."""
    return {
        DomainError: _domain_error,
        HTTPException: _http_error,
        OSError: _dependency_error,
        DBAPIError: _dependency_error,
        PoolTimeout: _dependency_error,
        RedisError: _dependency_error,
    }


# ---------------------------------------------------------------------------- metrics


class HttpMetrics:
    """Pure-ASGI middleware: `http_requests_total{method,route,status}` and
    `http_request_duration_seconds{method,route}`. The route label is the route's path
    template (`/api/admin/contents/{id}`), or `<unmatched>`, so that ids and probes
    for random paths cannot blow up the label set."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            label = _route_label(scope.get("route"))
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.requests.labels(method, label, str(status)).inc()
            self.latency.labels(method, label).observe(time.perf_counter() - start)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTOR = re.compile(r":[a-z]+}")


@functools.lru_cache(maxsize=1024)
def _label_of(path: str) -> str:
    return _CONVERTOR.sub("}", path)  # /contents/{id:int} -> /contents/{id}


def _route_label(route: Any) -> str:
    path = getattr(route, "path", None)
    return _label_of(path) if path else "<unmatched>"


# ---------------------------------------------------------------------------- input


def _validation_details(message: str) -> dict[str, Any]:
    # msgspec: "Expected `int`, got `str` - at `$.content_id`" /
    #          "Object contains unknown field `zz`" / "Object missing required field `title`"
    reason, sep, at = message.rpartition(" - at `")
    path = at.rstrip("`") if sep else "$"
    if not sep:
        reason = message
    m = re.search(r"(?:unknown|required) field `([^`]*)`", reason)
    if m:  # name the field itself, not the object that lacks or has it
        path = f"{path}.{m.group(1)}"
    field = re.sub(r"^\$\.?", "", path) or None
    return {"field": field, "path": path, "reason": reason}


def invalid(field: str, reason: str) -> BadRequest:
    """A BadRequest for one field, in the same shape as body decoding errors."""
    return BadRequest(
        f"{field}: {reason}", details={"field": field, "path": f"$.{field}", "reason": reason}
    )


def _nul_path(document: Any) -> str | None:
    """The JSON path of the first string (value or key) holding a NUL character. Iterative:
    a deeply nested body must not exhaust the stack."""
    stack: list[tuple[Any, str]] = [(document, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return path
                stack.append((item, f"{path}.{key}"))
    return None


def no_nul(field: str, value: str) -> None:
    """PostgreSQL text cannot hold NUL: refuse it at the edge (400), not as a 500 later."""
    if "\x00" in value:
        raise invalid(field, "must not contain NUL characters")


def decode_json(body: bytes, type_: type[T]) -> T:
    """Decode JSON bytes into `type_`, or raise BadRequest with the offending path. Strings
    with NUL characters (`\\u0000`) are refused: PostgreSQL text cannot store them; so are
    invalid UTF-8 and nesting deeper than msgspec decodes (never a 500)."""
    try:
        if b"\\u0000" in body:  # rare: find where, from the untyped document
            path = _nul_path(msgspec.json.decode(body))
            if path is not None:
                field = re.sub(r"^\$\.?", "", path) or None
                reason = "must not contain NUL characters"
                raise BadRequest(
                    f"invalid body: {reason} - at `{path}`",
                    details={"field": field, "path": path, "reason": reason},
                )
        return msgspec.json.decode(body or b"null", type=type_)
    except msgspec.ValidationError as exc:
        details = _validation_details(str(exc))
        raise BadRequest(f"invalid body: {exc}", details=details) from None
    except msgspec.DecodeError as exc:
        raise BadRequest("body is not valid JSON", details={"reason": str(exc)}) from None
    except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
        raise BadRequest(
            "body is not valid JSON: invalid UTF-8", details={"reason": "invalid UTF-8"}
        ) from None
    except RecursionError:  # arrays or objects nested past msgspec's depth limit
        raise BadRequest(
            "body is not valid JSON: nested too deeply", details={"reason": "nested too deeply"}
        ) from None


async def decode_body(request: Request, type_: type[T], *, max_bytes: int = MAX_BODY_BYTES) -> T:
    """Read the request body (at most `max_bytes`) and decode it into `type_`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return decode_json(b"".join(chunks), type_)


def _is_list(type_: Any) -> bool:
    while typing.get_origin(type_) is typing.Annotated:
        type_ = typing.get_args(type_)[0]
    return typing.get_origin(type_) in (list, tuple, set, frozenset)


@functools.cache
def _list_params(type_: type[msgspec.Struct]) -> frozenset[str]:
    """The query parameters of `type_` that take every repetition (built once per Struct:
    msgspec.structs.fields resolves annotations on each call)."""
    return frozenset(f.encode_name for f in msgspec.structs.fields(type_) if _is_list(f.type))


def decode_query(request: Request, type_: type[StructT]) -> StructT:
    """The query string as a Struct `type_` (strings converted: `?limit=5` is an int), or
    BadRequest naming the parameter. A parameter of a list type takes every repetition
    (`?tag=a&tag=b`); any other takes the last one. Parameters the Struct does not name are
    ignored unless it forbids unknown fields."""
    lists = _list_params(type_)
    raw: dict[str, Any] = {}
    params = request.query_params
    for name in params:
        values = params.getlist(name)
        for value in values:
            no_nul(name, value)
        raw[name] = values if name in lists else values[-1]
    try:
        return msgspec.convert(raw, type_, strict=False)
    except msgspec.ValidationError as exc:
        details = _validation_details(str(exc))
        raise BadRequest(f"invalid query: {exc}", details=details) from None


# ---------------------------------------------------------------------------- identity


def require_identity(
    request: Request, settings: Settings, roles: Iterable[str] | None = None
) -> Identity:
    """The identity of the request's bearer token. Raises Unauthorized (no, malformed or
    badly signed token), TokenExpiredError, or Forbidden when `roles` is given and the token
    holds none of them."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("missing bearer token")
    try:
        identity = verify_access(settings, token)
    except TokenExpired:
        raise TokenExpiredError("token expired") from None
    except TokenError:
        raise Unauthorized("invalid token") from None
    if roles is not None:
        wanted = frozenset(roles)
        if not wanted & identity.roles:
            raise Forbidden(f"requires role {' or '.join(sorted(wanted))}")
    return identity
