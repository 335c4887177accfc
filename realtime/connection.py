"""One WebSocket connection: authentication, the read loop, and the edge where outcomes and
errors become frames and close codes (PROTOCOL section 4).

`/ws` is served as plain ASGI (realtime.app routes it past Starlette): no router, middleware
or WebSocket wrapper objects per connection, and one coroutine frame (`serve`) for the life of
a connection. That keeps an idle connection near the bare uvicorn echo's memory and a frame's
path short (docs/performance.md)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

from core.errors import ContentUnavailable, DomainError, NoSession
from core.tokens import TokenError, TokenExpired, bearer_token, verify_access
from realtime import closes, protocol
from realtime.limits import MalformedCounter, RateLimiter
from realtime.protocol import Auth, FrameError, Heartbeat, Ping, Start, Stop
from realtime.service import Replaced, SessionRef

if TYPE_CHECKING:
    from realtime.hub import Hub

log = logging.getLogger("realtime.connection")

ACCEPT = {"type": "websocket.accept"}
CAP_NOTICE = protocol.encode(protocol.Notice(
    code="daily_cap_reached", message="daily reward cap reached: watching goes on, no rewards today"))


class Connection:
    """The state of one connection. Pushes from other tasks go through `push`, which never
    buffers more than `send_limit` frames: a client that does not read is disconnected.
    Token expiry and stalled sends are checked by the hub's once-a-second sweep (`Hub.check`),
    not by a timer per connection."""

    __slots__ = ("id", "hub", "user_id", "expires_at", "ip", "ref", "rate", "malformed",
                 "closed", "sending", "send_since", "task", "_send")

    def __init__(self, send: Send, hub: Hub, user_id: int, expires_at: int, ip: str) -> None:
        self.id = secrets.token_hex(8)
        self._send = send
        self.hub = hub
        self.user_id = user_id
        self.expires_at = expires_at
        self.ip = ip
        self.ref: SessionRef | None = None
        self.rate = RateLimiter(hub.settings.ws_max_messages_per_second)
        self.malformed = MalformedCounter()
        self.closed = False
        self.sending = 0
        self.send_since = 0.0  # when the oldest unfinished send began (monotonic)
        self.task = asyncio.current_task()

    def log_extra(self) -> dict[str, Any]:
        return {"conn_id": self.id, "user_id": self.user_id}

    async def send(self, text: str) -> None:
        if self.closed:
            return
        if not self.sending:
            self.send_since = time.monotonic()
        self.sending += 1
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (RuntimeError, OSError):  # closed under us
            self.closed = True
        finally:
            self.sending -= 1

    def push(self, text: str) -> None:
        """Send from outside the read loop without waiting; a backlog means a slow reader."""
        if self.closed:
            return
        if self.sending >= self.hub.settings.ws_send_queue:
            self.abort("send queue full")
            return
        self.hub.spawn(self.send(text))

    def stalled(self, now: float, limit_s: float) -> bool:
        return self.sending > 0 and now - self.send_since > limit_s

    def abort(self, why: str) -> None:
        """Drop a client that does not read: a close frame could not reach it either, so the
        connection's task is cancelled, which frees its state; uvicorn closes the socket."""
        if self.closed:
            return
        self.closed = True
        log.info("dropping connection: %s", why, extra=self.log_extra())
        self.hub.metrics.closes_total.labels(str(closes.SLOW_CONSUMER)).inc()
        if self.task is not None:
            self.task.cancel()

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.metrics.closes_total.labels(str(code)).inc()
        await _close(self._send, code, reason)


async def _close(send: Send, code: int, reason: str) -> None:
    try:
        # A peer that stopped reading can block even the close frame: bound the wait.
        await asyncio.wait_for(send({"type": "websocket.close", "code": code, "reason": reason}), 2.0)
    except (RuntimeError, OSError, asyncio.TimeoutError):
        pass


def _token(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token:
                return token
            break
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if name == "token":
            return value
    return ""


async def serve(scope: Scope, receive: Receive, send: Send, hub: Hub) -> None:
    """The `/ws` endpoint, from the handshake to the last frame."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send(ACCEPT)
    if hub.draining:
        await _close(send, closes.SERVICE_RESTART, "node draining")
        return
    client = scope.get("client")
    ip = client[0] if client else ""
    if not hub.gate.admit(ip, time.monotonic()):
        await _close(send, closes.RATE_LIMITED, "too many connections from this address")
        return
    try:
        conn = await _admit(scope, send, hub, ip)
        if conn is None:
            return
        hub.register(conn)
        try:
            await conn.send(protocol.encode(protocol.Hello(
                user_id=str(conn.user_id),
                heartbeat_interval_ms=hub.runtime.heartbeat_interval_ms,
                session_ttl_ms=hub.runtime.session_ttl_ms,
                server_time=int(time.time() * 1000),
            )))
            while not conn.closed:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    conn.closed = True
                    return
                await _frame(conn, hub, message)
        finally:
            hub.unregister(conn)
    finally:
        hub.gate.release(ip)


async def _admit(scope: Scope, send: Send, hub: Hub, ip: str) -> Connection | None:
    """The token, blocks and the user's PostgreSQL row; None once the refusal is sent."""
    try:
        identity = verify_access(hub.settings, _token(scope))
    except TokenExpired:
        await _close(send, closes.TOKEN_EXPIRED, "token expired")
        return None
    except TokenError:
        await _close(send, closes.UNAUTHORIZED, "unauthorized")
        return None
    if hub.blocks.user_blocked(identity.user_id) or hub.blocks.ip_blocked(ip):
        await _close(send, closes.FORBIDDEN, "forbidden")
        return None
    try:
        await hub.provision(identity.user_id)
    except (SQLAlchemyError, OSError):
        log.exception("cannot provision user %s", identity.user_id)
        await _close(send, closes.TRY_AGAIN, "try again later")
        return None
    return Connection(send, hub, identity.user_id, identity.expires_at, ip)


async def _frame(conn: Connection, hub: Hub, message: dict[str, Any]) -> None:
    """One client frame: bounds, decoding, then the message's handler."""
    text = message.get("text")
    now = time.monotonic()
    frames = hub.metrics.frames
    max_bytes = hub.settings.ws_max_frame_bytes
    if text is None:
        data = message.get("bytes") or b""
        if len(data) > max_bytes:
            await conn.close(closes.TOO_BIG, "frame too big")
            return
        frames.inc("binary")
        await _malformed(conn, "frames must be JSON text", None, now)
        return
    if len(text) > max_bytes and len(text.encode()) > max_bytes:
        frames.inc("too_big")
        await conn.close(closes.TOO_BIG, "frame too big")
        return
    if not conn.rate.hit(now):
        frames.inc("rate_limited")
        if conn.rate.should_close:
            await conn.close(closes.RATE_LIMITED, "rate limited")
            return
        await conn.send(protocol.encode(protocol.Error(code="rate_limited", message="slow down")))
        return
    try:
        msg = protocol.decode_client(text)
    except FrameError as exc:
        frames.inc("malformed")
        await _malformed(conn, str(exc), exc.ref, now)
        return
    frames.inc("ok")
    await _dispatch(conn, hub, msg)


async def _malformed(conn: Connection, message: str, ref: str | None, now: float) -> None:
    if conn.malformed.hit(now):
        await conn.close(closes.BAD_REQUEST, "too many malformed frames")
        return
    await conn.send(protocol.encode(protocol.Error(code="bad_request", message=message, ref=ref)))


async def _dispatch(conn: Connection, hub: Hub, msg: protocol.ClientMessage) -> None:
    try:
        match msg:
            case Heartbeat():
                await _heartbeat(conn, hub, msg)
            case Start():
                await _start(conn, hub, msg)
            case Stop():
                await _stop(conn, hub, msg)
            case Ping():
                await conn.send(protocol.encode(protocol.Pong(ref=msg.id)))
            case Auth():
                await _auth(conn, hub, msg)
    except Replaced as exc:
        hub.leave(conn)
        await conn.send(protocol.encode(
            protocol.Replaced(content_id=exc.content_id, by_device_id=exc.by_device_id)))
        await conn.close(closes.REPLACED, "replaced")
    except DomainError as exc:
        if isinstance(msg, Heartbeat) and isinstance(exc, (NoSession, ContentUnavailable)):
            hub.leave(conn)  # the session is over: the client must start again
        await conn.send(protocol.encode(protocol.Error(
            code=exc.code, message=exc.message, ref=msg.id, **exc.extra)))
    except (RedisError, SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
        log.warning("internal error on %s: %r", type(msg).__name__, exc, extra=conn.log_extra())
        await conn.send(protocol.encode(protocol.Error(
            code="internal", message="the server failed; retry", ref=msg.id)))


async def _start(conn: Connection, hub: Hub, msg: Start) -> None:
    out = await hub.service.start(conn.user_id, msg.content_id, msg.tab_id, msg.device_id,
                                  msg.takeover, conn.id, "ws", conn.ip)
    hub.join(conn, out.ref)
    await conn.send(protocol.encode(protocol.Started(
        content_id=out.ref.content_id, session_id=out.ref.session_id, resumed=out.resumed,
        elapsed_ms=out.elapsed_ms, interval_ms=out.interval_ms, remaining_ms=out.remaining_ms,
        balance=out.balance, viewers=out.viewers, ref=msg.id,
    )))


async def _heartbeat(conn: Connection, hub: Hub, msg: Heartbeat) -> None:
    ref = conn.ref
    if ref is None:
        raise NoSession("no live watch session: start first")
    started = time.perf_counter()
    try:
        out = await hub.service.heartbeat(conn.user_id, ref, msg.playing, msg.visible)
    except DomainError as exc:
        hub.metrics.heartbeats.inc(exc.code)
        raise
    except Replaced:
        hub.metrics.heartbeats.inc("replaced")
        raise
    if out.grants:
        for grant in out.grants:
            await conn.send(protocol.encode(protocol.Reward(
                reward_id=grant.reward_id, kind="watch", amount=grant.amount,
                balance=grant.balance, content_id=out.content_id)))
        hub.metrics.rewards_total.inc(len(out.grants))
        hub.metrics.coins_total.inc(sum(g.amount for g in out.grants))
    if out.cap_reached:
        await conn.send(CAP_NOTICE)
    await conn.send(protocol.encode(protocol.Tick(
        content_id=out.content_id, elapsed_ms=out.elapsed_ms, credited_ms=out.credited_ms,
        remaining_ms=out.remaining_ms, ref=msg.id)))
    hub.metrics.heartbeats.inc("ok")
    hub.metrics.heartbeat_seconds.observe(time.perf_counter() - started)


async def _stop(conn: Connection, hub: Hub, msg: Stop) -> None:
    ref = conn.ref
    if ref is None:
        raise NoSession("no live watch session")
    hub.leave(conn)
    content_id, watched = await hub.service.stop(conn.user_id, ref)
    await conn.send(protocol.encode(protocol.Stopped(content_id=content_id, watched_ms=watched, ref=msg.id)))


async def _auth(conn: Connection, hub: Hub, msg: Auth) -> None:
    try:
        identity = verify_access(hub.settings, msg.token)
    except TokenError as exc:  # TokenExpired included: the old token still holds until it ends
        await conn.send(protocol.encode(protocol.Error(
            code="bad_request", message=f"token refused: {exc}", ref=msg.id)))
        return
    if identity.user_id != conn.user_id:
        await conn.send(protocol.encode(protocol.Error(
            code="bad_request", message="token is for another user", ref=msg.id)))
        return
    conn.expires_at = identity.expires_at
    await conn.send(protocol.encode(protocol.Authed(expires_at=identity.expires_at, ref=msg.id)))
