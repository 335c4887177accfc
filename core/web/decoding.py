"""Request parsing and authentication: bodies and query strings decoded into msgspec Structs, with
errors that name the field (400), NUL refused, and the caller's identity from the token."""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request

from core.bodies import MAX_BODY_BYTES
from core.errors import (
    BadRequest,
    Forbidden,
    TokenExpiredError,
    Unauthorized,
)
from core.settings import Settings
from core.tokens import Identity, TokenError, TokenExpired, bearer_token, verify_access

T = TypeVar("T")


StructT = TypeVar("StructT", bound=msgspec.Struct)


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
