"""Per-request context: the request id (X-Request-ID) on every response, the client address, and
the last line of defence that turns an unexpected exception into a logged 500 envelope."""

from __future__ import annotations

import logging
import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.web.envelope import error_body

log = logging.getLogger(__name__)


REQUEST_ID_HEADER = "x-request-id"


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


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
