"""HTTP fallback timer endpoints (PROTOCOL section 5), for players that cannot hold a
WebSocket: the same sessions and rules through WatchService, in the REST envelope."""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from core.errors import Forbidden, RateLimited
from core.web import client_ip, decode_body, ok, require_identity
from core.web.spec import api_route
from live import keys
from realtime.hub import Hub
from realtime.session import timer_reply

Short = Annotated[str, Meta(min_length=1, max_length=64)]
ContentId = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class TimerBody(msgspec.Struct, kw_only=True):
    content_id: ContentId
    tab_id: Short
    device_id: Short
    playing: bool
    visible: bool
    takeover: bool = False


class OutBody(msgspec.Struct, kw_only=True):
    """The out-event; with `device_id`, `playing` and `visible` it also reports the last
    period (a heartbeat credited right before the stop), so a stop loses no watched time."""

    content_id: ContentId
    tab_id: Short
    device_id: Short | None = None
    playing: bool = False
    visible: bool = False


async def _caller(request: Request) -> tuple[Hub, int]:
    hub: Hub = request.app.state.hub
    identity = require_identity(request, hub.settings)
    if hub.blocks.user_blocked(identity.user_id) or hub.blocks.ip_blocked(client_ip(request)):
        raise Forbidden("blocked")
    # Per-user fixed one-second window, shared by all nodes.
    key = keys.fallback_rate(identity.user_id, int(time.time()))
    pipe = hub.redis.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, 2)
    count = (await pipe.execute())[0]
    if count > hub.settings.ws_max_messages_per_second:
        raise RateLimited("too many timer calls", retry_after=1)
    await hub.provision(identity.user_id)
    return hub, identity.user_id


async def timer_session(request: Request) -> Response:
    hub, user_id = await _caller(request)
    body = await decode_body(request, TimerBody)
    started, ticked = await hub.service.timer(
        user_id,
        body.content_id,
        body.tab_id,
        body.device_id,
        body.playing,
        body.visible,
        body.takeover,
        client_ip(request),
    )
    viewers = None if ticked is None else await hub.service.viewers(body.content_id)
    if ticked is not None and ticked.grants:
        hub.metrics.rewards_total.inc(len(ticked.grants))
        hub.metrics.coins_total.inc(sum(g.amount for g in ticked.grants))
    return ok(request, timer_reply(body.content_id, started, ticked, viewers))


async def out_event(request: Request) -> Response:
    hub, user_id = await _caller(request)
    body = await decode_body(request, OutBody)
    watched = await hub.service.out_event(
        user_id, body.content_id, body.tab_id, body.device_id, body.playing and body.visible
    )
    return ok(request, {"content_id": body.content_id, "watched_ms": watched})


class RewardItem(msgspec.Struct):
    reward_id: str
    kind: str  # watch
    amount: int
    balance: int
    content_id: int
    offset: int | None = None  # in the user's push log, with its epoch (docs/protocol-notes.md)
    epoch: str | None = None


class TimerReply(msgspec.Struct):
    """The first call opens or resumes the session (`credited_ms` 0); later ones report the
    time since the previous call (PROTOCOL 5)."""

    content_id: int
    session_id: str
    elapsed_ms: int
    credited_ms: int
    remaining_ms: int
    balance: int
    viewers: int
    resumed: bool
    rewards: list[RewardItem]
    notices: list[str]


class OutReply(msgspec.Struct):
    content_id: int
    watched_ms: int


_ERRORS = ("forbidden", "rate_limited", "unavailable", "content_unavailable")
TAGS = ("watch (HTTP fallback)",)
routes = [
    api_route(
        "POST",
        "/api/service/timer-session",
        timer_session,
        summary="Open or resume the watch session, then one heartbeat per call",
        body=TimerBody,
        response=TimerReply,
        errors=(*_ERRORS, "session_conflict"),
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/service/out-event",
        out_event,
        summary="Stop the session of this tab and content (with the last period, if given)",
        body=OutBody,
        response=OutReply,
        errors=(*_ERRORS, "no_session"),
        tags=TAGS,
    ),
]
