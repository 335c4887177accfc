"""The JSON envelope of PROTOCOL 6: responses encoded by orjson (msgspec Structs encode, and datetimes
are rendered in ISO 8601 with the offset of APP_TIMEZONE, `app.state.tz`), and error bodies."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response

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
