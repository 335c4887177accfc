"""Structured logs: one JSON object per line, and the HTTP access log.

`setup_logging()` puts a JSON formatter on the root logger (stderr), once per process; call
it from `lifespan`. It also sends uvicorn's own loggers through it, so a container's output
is JSON from the first request on (the two lines uvicorn prints before the lifespan runs stay
plain text). `LOG_FORMAT=text` gives classic lines instead (the dev run uses it); `LOG_LEVEL`
sets the level. A line is `{"ts", "level", "logger", "msg", ...}`: fields given as
`extra={...}` (request_id, user_id, conn_id, ...) become keys of the line, and so do the
fields bound for the current task with `bind(...)` / `bound(...)` (a connection handler binds
conn_id and user_id once, and every line it logs carries them).

`AccessLog` is a pure-ASGI middleware that writes one line per HTTP request to the `access`
logger: request id, method, path, route template, status, duration, client address and the
user id when the request authenticated one (`scope["user_id"]`, set by whoever
authenticates); it binds the request id, so every line logged while serving the request
carries it. Run uvicorn with `--no-access-log`: this replaces its access log.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# uvicorn's color_message repeats msg with terminal colours: not for a JSON line.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}
)
_MARK = "_watch_json_handler"

access_log = logging.getLogger("access")

# uvicorn installs handlers of its own on these (plain text); setup_logging reroutes them.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_fields", default=None
)


def bind(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add `fields` to every line logged from this task (and tasks it starts) from now on;
    `unbind(token)` restores the previous fields. Asyncio copies the context into each new
    task, so one connection's or request's fields never leak into another's."""
    return _bound.set({**(_bound.get() or {}), **fields})


def unbind(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _bound.reset(token)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """`with bound(conn_id=..., user_id=...):` the fields are on every line logged inside."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra, "exc"}` as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == 5
        ):
            # uvicorn's access line: (client, method, path with query, http version, status)
            client, method, path, _, status = record.args
            line.update(client=client, method=method, path=path, status=status)
        fields = _bound.get()
        if fields:
            line.update(fields)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    """uvicorn logs request and WebSocket paths with their query: browsers send `?token=`,
    which must not reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Log to stderr as JSON (`fmt` "json", the default, or "text"; default from LOG_FORMAT)
    at `level` (default LOG_LEVEL, else INFO), uvicorn's loggers included. Idempotent;
    handlers that others installed (pytest's, for one) are left alone."""
    root = logging.getLogger()
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("LOG_FORMAT") or "json").lower()
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    if any(getattr(h, _MARK, False) for h in root.handlers):
        return
    for name in UVICORN_LOGGERS:
        # Swap uvicorn's text handlers for ours on the root; the loggers' own filters (the
        # token redaction) still apply. A logger without handlers is left alone:
        # that is how --no-access-log turns the access log off (uvicorn checks hasHandlers).
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers.clear()
            logger.propagate = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    setattr(handler, _MARK, True)
    root.addHandler(handler)


class AccessLog:
    """Pure-ASGI middleware: one `access` log line per HTTP request. Place it just inside
    RequestContext, so that the request id exists and every answer passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that escapes becomes RequestContext's 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = bind(request_id=scope.get("request_id"))  # on every line of this request
        try:
            await self.app(scope, receive, send_status)
        finally:
            unbind(token)
            route = getattr(scope.get("route"), "path", None)
            client = scope.get("client")
            access_log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": scope.get("request_id"),
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "user_id": scope.get("user_id"),
                    "client": client[0] if client else None,
                },
            )
