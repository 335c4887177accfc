"""Request bodies read whole, bounded in size and time, before the app (and its concurrency
cap) sees the request.

A client that declares a body and sends it slowly, or never, used to hold one of the
process's MAX_CONCURRENT_REQUESTS slots for as long as it liked: 270 such requests from 3
accounts made the api answer 503 to everyone. `BodyGuard` sits outside the cap and:
- answers 413 `payload_too_large` at once when `Content-Length` declares more than the
  limit, and when a chunked body grows past it, without reading further;
- gives the whole body `HTTP_BODY_TIMEOUT_MS` (10 s) to arrive, else answers 408
  `request_timeout` and closes the connection;
- counts the requests still sending their bodies apart (at most `MAX_PENDING_BODIES` per
  process; more are answered 503 at once), so slow clients cannot take the slots of the
  requests that are being served;
- treats a client that goes away mid-body as what it is: one info line, no response, no 500.
Then it hands the app the body in one `http.request` message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 10.0
MAX_PENDING_BODIES = 1024
WITH_BODY = frozenset((b"content-length", b"transfer-encoding"))


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Gone(Exception):
    """The client disconnected before its body was read."""


class BodyGuard:
    """Pure-ASGI middleware (see the module docstring). `timeout_s` None reads
    `http_body_timeout_ms` from the app's settings at the first request (they are made in
    lifespan, after the middleware)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        timeout_s: float | None = None,
        max_pending: int = MAX_PENDING_BODIES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.pending = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(k in WITH_BODY for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        if self.timeout_s is None:
            self.timeout_s = scope["app"].state.settings.http_body_timeout_ms / 1000
        try:
            body = await self._read(scope, receive)
        except _Refusal as refusal:
            await _refuse(scope, send, refusal)
            return
        except _Gone:
            log.info(
                "client went away before its body was read: %s %s", scope["method"], scope["path"]
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect comes

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            raise _Refusal(413, "payload_too_large", f"body larger than {self.max_bytes} bytes")
        if self.pending >= self.max_pending:
            raise _Refusal(503, "unavailable", "too many request bodies in flight, retry shortly")
        self.pending += 1
        try:
            async with asyncio.timeout(self.timeout_s or BODY_TIMEOUT_S):
                return await self._chunks(receive)
        except TimeoutError:
            raise _Refusal(
                408, "request_timeout", f"the body did not arrive within {self.timeout_s:g} s"
            ) from None
        finally:
            self.pending -= 1

    async def _chunks(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _Refusal(413, "payload_too_large", f"body larger than {self.max_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn refuses a malformed one before us
    return None


async def _refuse(scope: Scope, send: Send, refusal: _Refusal) -> None:
    from core.web.envelope import error_body  # core.web.decoding imports this module

    body = error_body(refusal.code, refusal.message, None, scope.get("request_id"))
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if refusal.status == 503:
        headers.append((b"retry-after", b"1"))
    else:  # the rest of the body is not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    start: dict[str, Any] = {"type": "http.response.start", "status": refusal.status}
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
