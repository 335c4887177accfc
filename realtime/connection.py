"""One WebSocket connection: the glue between a socket and its `realtime.session.Session`.

The protocol's state machine is the sans-I/O `Session`; this module authenticates the
handshake, feeds the session what happens (frames, Redis and PostgreSQL answers, the clock,
kicks) and carries out the actions it returns: frames are written, ticks sent, messages that
need I/O run as tasks, watchers joined and left, reads paused, connections closed.

`/ws` is served as plain ASGI (realtime.app routes it past Starlette): no router, middleware
or WebSocket wrapper objects per connection, and one coroutine frame (`serve`) for the life of
a connection. Under realtime.wsdirect's protocol (as deployed) frames skip ASGI events once
the connection is admitted: the protocol calls `Connection.feed` and replies are written to
the socket; otherwise `serve` reads ASGI events and feeds them the same way. That keeps an
idle connection near the bare uvicorn echo's memory and a heartbeat's path free of task
wake-ups (docs/architecture.md, "Hot path"; docs/performance.md)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

from core.errors import DomainError
from core.tokens import TokenError, TokenExpired, bearer_token, verify_access
from live.resp import NOT_RUN
from realtime import closes, protocol
from realtime.protocol import Heartbeat, Start, Stop
from realtime.service import Replaced, Ticked, TickOutcome
from realtime.session import (
    Action,
    Close,
    Join,
    Leave,
    Pause,
    Resume,
    Run,
    Session,
    Tick,
)
from realtime.wsdirect import EXTENSION, DirectProtocol

if TYPE_CHECKING:
    from realtime.hub import Hub

log = logging.getLogger("realtime.connection")

ACCEPT = {"type": "websocket.accept"}


class Connection:
    """One connection's transport and its `Session`.

    Frames go out through `write`: on the direct lane (realtime.wsdirect, `direct` set) they
    are written to the socket at once, and a client that stops reading stops being read
    (backpressure) until the hub's once-a-second sweep drops it (`stalled`); over plain ASGI
    each is a `send` task, at most WS_SEND_QUEUE of them outstanding. `closed`: nothing more
    is written (the session has its own `closed`: nothing more is answered)."""

    __slots__ = (
        "_send",
        "beat_started",
        "closed",
        "direct",
        "hub",
        "id",
        "idle",
        "ip",
        "send_since",
        "sending",
        "session",
        "task",
    )

    def __init__(
        self,
        send: Send,
        hub: Hub,
        user_id: int,
        expires_at: int,
        ip: str,
        direct: DirectProtocol | None = None,
    ) -> None:
        self.id = secrets.token_hex(8)
        self._send = send
        self.hub = hub
        self.ip = ip
        self.session = Session(user_id, expires_at, hub.policy)
        self.closed = False
        self.sending = 0
        self.send_since = 0.0  # when the oldest unfinished send began (monotonic)
        self.task = asyncio.current_task()
        self.direct = direct
        self.idle: asyncio.Future[None] | None = None  # ASGI: the read loop waits on it
        self.beat_started = 0.0  # when the heartbeat at Redis was sent (perf_counter)

    @property
    def user_id(self) -> int:
        return self.session.user_id

    def log_extra(self) -> dict[str, Any]:
        return {"conn_id": self.id, "user_id": self.user_id}

    # The session's actions.

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case str() | bytes():
                    self.write(action)
                case Tick():
                    self._tick(action)
                case Run():
                    self.hub.spawn(self._run(action))
                case Join(content_id):
                    self.hub.join(self, content_id)
                case Leave(content_id):
                    self.hub.leave(self, content_id)
                case Close(code, reason):
                    self.close_soon(code, reason)
                case Pause() | Resume():
                    if self.direct is not None:
                        self.direct.set_backlogged(type(action) is Pause)
        if self.idle is not None and not self.session.busy:
            idle, self.idle = self.idle, None
            if not idle.done():
                idle.set_result(None)

    def feed(self, data: str | bytes) -> None:
        """One client frame (the direct lane calls this from the socket's data callback)."""
        if not self.closed:
            self.apply(self.session.receive(data, time.monotonic()))

    async def wait_idle(self) -> None:
        if self.session.busy:
            self.idle = asyncio.get_running_loop().create_future()
            await self.idle

    # Heartbeats.

    def _tick(self, action: Tick) -> None:
        """Send the heartbeat to Redis with a callback (no task) when the service can;
        else await it in a task."""
        msg = action.msg
        self.beat_started = time.perf_counter()
        try:
            sent = self.hub.service.heartbeat_soon(
                self.user_id,
                action.ref,
                msg.playing,
                msg.visible,
                partial(self._ticked, action),
            )
        except Exception as exc:  # noqa: BLE001 - here it would unwind into the socket's callback
            self._failed(msg, exc)
            return
        if not sent:
            self.hub.spawn(self._heartbeat(action))

    def _ticked(self, action: Tick, outcome: TickOutcome) -> None:
        """The reply to the heartbeat at Redis (WatchService.heartbeat_soon's callback)."""
        if isinstance(outcome, Ticked):
            self._answer(action.msg, outcome, self.beat_started)
        elif isinstance(outcome, NOT_RUN):  # the tick did not run: the redis-py path retries
            self.hub.spawn(self._heartbeat(action))
        elif isinstance(outcome, Exception):
            self._failed(action.msg, outcome)
        else:  # a coroutine that reads the balance from PostgreSQL first
            self.hub.spawn(self._finish_tick(action.msg, outcome, self.beat_started))

    async def _finish_tick(
        self, msg: Heartbeat, outcome: Coroutine[Any, Any, Ticked], started: float
    ) -> None:
        try:
            out = await outcome
        except Exception as exc:  # noqa: BLE001 - turned into the client's error frame
            self._failed(msg, exc)
        else:
            self._answer(msg, out, started)

    async def _heartbeat(self, action: Tick) -> None:
        """A heartbeat off the common path (TLS, a content not in the cache, a redirect)."""
        msg = action.msg
        started = time.perf_counter()
        try:
            out = await self.hub.service.heartbeat(
                self.user_id, action.ref, msg.playing, msg.visible
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes the client's error frame
            self._failed(msg, exc)
        else:
            self._answer(msg, out, started)

    def _answer(self, msg: Heartbeat, out: Ticked, started: float) -> None:
        metrics = self.hub.metrics
        if out.grants:
            metrics.rewards_total.inc(len(out.grants))
            metrics.coins_total.inc(sum(g.amount for g in out.grants))
        self.apply(self.session.ticked(msg, out, time.monotonic()))
        metrics.heartbeats.inc("ok")
        metrics.heartbeat_seconds.observe(time.perf_counter() - started)

    # Start and stop.

    async def _run(self, action: Run) -> None:
        msg, service = action.msg, self.hub.service
        try:
            if type(msg) is Start:
                started = await service.start(
                    self.user_id,
                    msg.content_id,
                    msg.tab_id,
                    msg.device_id,
                    msg.takeover,
                    self.id,
                    "ws",
                    self.ip,
                    None if msg.recover is None else (msg.recover.epoch, msg.recover.offset),
                )
                actions = self.session.started(msg, started, time.monotonic())
            else:
                assert type(msg) is Stop and action.ref is not None
                content_id, watched = await service.stop(self.user_id, action.ref)
                actions = self.session.stopped(msg, content_id, watched, time.monotonic())
        except Exception as exc:  # noqa: BLE001 - every failure becomes the client's error frame
            self._failed(msg, exc)
            return
        self.apply(actions)

    def _failed(self, msg: protocol.ClientMessage, exc: Exception) -> None:
        """A refusal or failure: counted and logged here, answered by the session."""
        if isinstance(msg, Heartbeat):
            if isinstance(exc, Replaced):
                self.hub.metrics.heartbeats.inc("replaced")
            elif isinstance(exc, DomainError):
                self.hub.metrics.heartbeats.inc(exc.code)
        if not isinstance(exc, (Replaced, DomainError)):
            if isinstance(exc, (RedisError, SQLAlchemyError, OSError, asyncio.TimeoutError)):
                log.warning(
                    "internal error on %s: %r", type(msg).__name__, exc, extra=self.log_extra()
                )
            else:
                log.error("bug on %s", type(msg).__name__, exc_info=exc, extra=self.log_extra())
        self.apply(self.session.failed(msg, exc, time.monotonic()))

    # Out.

    def write(self, text: str | bytes) -> None:
        """A text frame to this client (`bytes`: UTF-8), after the ones written before it,
        without waiting: replies and pushes alike. Over ASGI each is a send task, and a client
        with WS_SEND_QUEUE of them outstanding is dropped as a slow reader."""
        if self.closed:
            return
        if self.direct is not None:
            self.direct.write_text(text)
            return
        if self.sending >= self.hub.settings.ws_send_queue:
            self.abort("send queue full")
            return
        self.hub.spawn(self._send_task(text if isinstance(text, str) else text.decode()))

    async def _send_task(self, text: str) -> None:
        """One ASGI send. It does not look at `closed`: a frame written before a close goes
        out before it (uvicorn refuses sends after the close frame)."""
        if not self.sending:
            self.send_since = time.monotonic()
        self.sending += 1
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (RuntimeError, OSError):  # closed under us
            self.closed = True
        finally:
            self.sending -= 1

    def stalled(self, now: float, limit_s: float) -> bool:
        if self.direct is not None:
            since = self.direct.write_paused_since
            return since > 0 and now - since > limit_s
        return self.sending > 0 and now - self.send_since > limit_s

    def abort(self, why: str) -> None:
        """Drop a client that does not read: a close frame could not reach it either. On the
        direct lane the socket is aborted (the read loop then ends); over ASGI the
        connection's task is cancelled, which frees its state, and uvicorn closes the socket."""
        if self.closed:
            return
        log.info("dropping connection: %s", why, extra=self.log_extra())
        self.hub.metrics.closes_total.labels(str(closes.SLOW_CONSUMER)).inc()
        self.lost()
        if self.direct is not None:
            self.direct.abort()
        elif self.task is not None:
            self.task.cancel()

    def close_soon(self, code: int, reason: str) -> None:
        """Send the close frame (in a task: it may wait on a slow peer); nothing more is
        written from now on."""
        if not self.closed:
            self.closed = True
            self.hub.metrics.closes_total.labels(str(code)).inc()
            self.hub.spawn(_close(self._send, code, reason))

    # What the hub tells the connection.

    def end(self, code: int, reason: str) -> None:
        """The hub closes the connection (draining, stopping)."""
        self.apply(self.session.end(code, reason))

    def forbid(self) -> None:
        """The user or the address was blocked."""
        self.apply(self.session.forbid())

    def clock(self, wall_s: float) -> None:
        """The hub's once-a-second walk: closes 4005 when the token ran out."""
        self.apply(self.session.clock(wall_s))

    def kicked(self, content_id: int, by_device_id: str) -> None:
        """Another tab or device took the session over."""
        self.apply(self.session.replaced(content_id, by_device_id))

    def lost(self) -> None:
        """The transport is gone: nothing more is written, and the session leaves."""
        self.closed = True
        self.apply(self.session.lost())


async def _close(send: Send, code: int, reason: str) -> None:
    try:
        # A peer that stopped reading can block even the close frame: bound the wait.
        await asyncio.wait_for(
            send({"type": "websocket.close", "code": code, "reason": reason}), 2.0
        )
    except (TimeoutError, RuntimeError, OSError):
        pass


def _token(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token:
                return token
            break
    query: str = scope.get("query_string", b"").decode("latin-1")  # the scope is untyped
    for name, value in parse_qsl(query):
        if name == "token":
            return value
    return ""


async def _refuse(send: Send, code: int, reason: str, ip: str, user_id: int | None = None) -> None:
    """Close a connection that was never admitted, with one log line saying why."""
    log.info(
        "websocket refused: %d %s",
        code,
        reason,
        extra={"user_id": user_id, "code": code, "reason": reason, "client": ip},
    )
    await _close(send, code, reason)


async def serve(scope: Scope, receive: Receive, send: Send, hub: Hub) -> None:
    """The `/ws` endpoint, from the handshake to the last frame. An admitted connection
    logs one line when it opens and one when it closes (conn_id, user_id, the close code and
    reason, how long it lasted); a refused one logs why."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send(ACCEPT)
    client = scope.get("client")
    ip = client[0] if client else ""
    if hub.draining:
        await _refuse(send, closes.SERVICE_RESTART, "node draining", ip)
        return
    if not hub.gate.admit(ip, time.monotonic()):
        await _refuse(send, closes.RATE_LIMITED, "too many connections from this address", ip)
        return
    try:
        conn = await _admit(scope, send, hub, ip)
        if conn is None:
            return
        hub.register(conn)
        opened = time.monotonic()
        log.info("websocket open", extra={**conn.log_extra(), "client": ip})
        # A task cancelled under us (a slow reader over ASGI) never sees the disconnect
        # event: no close frame was exchanged, which is 1006.
        code, reason = 1006, ""
        try:
            conn.write(
                protocol.encode(
                    protocol.Hello(
                        user_id=str(conn.user_id),
                        heartbeat_interval_ms=hub.runtime.heartbeat_interval_ms,
                        session_ttl_ms=hub.runtime.session_ttl_ms,
                        server_time=int(time.time() * 1000),
                    )
                )
            )
            if conn.direct is not None:
                conn.direct.attach(conn.feed)  # from here on frames skip the loop below
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    # uvicorn gives the code and reason of the first close frame, ours or
                    # the client's (1005 / 1006 when there was none)
                    code, reason = message.get("code", 1005), message.get("reason") or ""
                    return  # hub.unregister tells the connection it is lost
                text = message.get("text")
                conn.feed(text if text is not None else message.get("bytes") or b"")
                await conn.wait_idle()
        finally:
            hub.unregister(conn)
            log.info(
                "websocket closed: %d %s",
                code,
                reason,
                extra={
                    **conn.log_extra(),
                    "code": code,
                    "reason": reason,
                    "duration_s": round(time.monotonic() - opened, 3),
                },
            )
    finally:
        hub.gate.release(ip)


async def _admit(scope: Scope, send: Send, hub: Hub, ip: str) -> Connection | None:
    """The token, blocks and the user's PostgreSQL row; None once the refusal is sent."""
    try:
        identity = verify_access(hub.settings, _token(scope))
    except TokenExpired:
        await _refuse(send, closes.TOKEN_EXPIRED, "token expired", ip)
        return None
    except TokenError:
        await _refuse(send, closes.UNAUTHORIZED, "unauthorized", ip)
        return None
    if hub.blocks.user_blocked(identity.user_id) or hub.blocks.ip_blocked(ip):
        await _refuse(send, closes.FORBIDDEN, "forbidden", ip, identity.user_id)
        return None
    try:
        await hub.provision(identity.user_id)
    except (SQLAlchemyError, OSError):
        log.exception("cannot provision user %s", identity.user_id)
        await _refuse(send, closes.TRY_AGAIN_LATER, "try again later", ip, identity.user_id)
        return None
    direct = scope.get("extensions", {}).get(EXTENSION)
    return Connection(send, hub, identity.user_id, identity.expires_at, ip, direct)
