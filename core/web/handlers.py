"""The one place where domain errors become HTTP statuses: DomainError, Starlette's HTTPException
(404, 405, 413, ...) and a dependency that is down (503), as envelopes."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from core.errors import DomainError, RateLimited
from core.web.context import request_id
from core.web.envelope import HTTP_CODES, JSONBytes, error_body

log = logging.getLogger(__name__)


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
