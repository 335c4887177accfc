"""The Server-Sent Events routes (realtime/sse.py has the streams): public, no token, refused
in the REST envelope before a stream opens (403 blocked address, 404 unknown content, 429 /
503 over the bounds or while the node drains)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from core.errors import Forbidden, NotFound, Unavailable
from core.web import client_ip
from core.web.spec import api_route
from realtime import sse
from realtime.hub import Hub

MAX_ID = 2**63 - 1
MAX_LAST_EVENT_ID = 64  # longer `Last-Event-ID`s cannot be ours: ignored


def _checked(request: Request) -> tuple[Hub, str]:
    hub: Hub = request.app.state.hub
    ip = client_ip(request)
    if hub.blocks.ip_blocked(ip):
        raise Forbidden("blocked")
    if hub.draining:
        raise Unavailable("node draining")
    return hub, ip


def _last_event_id(request: Request) -> str | None:
    value = request.headers.get("last-event-id", "").strip()
    return value if 0 < len(value) <= MAX_LAST_EVENT_ID else None


async def _open(
    request: Request,
    hub: Hub,
    ip: str,
    key: sse.Key,
    name: str,
    load: Callable[[], Awaitable[Any]],
) -> Response:
    stream, listener = hub.sse.attach(key, ip, _last_event_id(request))
    try:
        await hub.sse.ensure(stream, listener, name, load)
    except BaseException:
        hub.sse.detach(key, listener)
        raise
    return _Asgi(sse.EventStream(hub.sse, key, listener))


async def content_viewers(request: Request) -> Response:
    hub, ip = _checked(request)
    content_id: int = request.path_params["content_id"]
    if not 1 <= content_id <= MAX_ID:
        raise NotFound(f"no content {content_id}")
    info = await hub.catalog.get(content_id)
    if info is None or not info.watchable(int(time.time() * 1000)):
        raise NotFound(f"no content {content_id}")
    return await _open(request, hub, ip, content_id, "viewers", lambda: hub.sse_count(content_id))


async def live(request: Request) -> Response:
    hub, ip = _checked(request)
    return await _open(request, hub, ip, sse.LIVE, "live", hub.live_top)


class _Asgi(Response):
    """A Response that hands the connection to a plain ASGI callable (the event stream)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class ViewersEvent(msgspec.Struct):
    content_id: int
    count: int


class LiveEvent(msgspec.Struct):
    items: list[ViewersEvent]  # the top contents by live viewers, most first


TAGS = ("live counts (SSE)",)
routes = [
    api_route(
        "GET",
        "/sse/contents/{content_id:int}/viewers",
        content_viewers,
        summary="A stream of one content's live viewer count",
        auth="none",
        response=ViewersEvent,
        errors=("unavailable",),
        tags=TAGS,
        headers=("Last-Event-ID",),
        stream="`event: viewers` with this data (JSON) when the count changes, at most one per"
        " 2 s; `id:` on each event (send it back as Last-Event-ID); `: keep-alive` comments",
    ),
    api_route(
        "GET",
        "/sse/live",
        live,
        summary="A stream of the top contents by live viewers",
        auth="none",
        response=LiveEvent,
        errors=("unavailable",),
        tags=TAGS,
        headers=("Last-Event-ID",),
        stream="`event: live` with this data (JSON) when the ranking or a count changes, at"
        " most one per 2 s; `id:` on each event; `: keep-alive` comments",
    ),
]
