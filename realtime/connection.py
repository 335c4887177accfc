"""One WebSocket connection: authentication, the message state machine, and the edge where
outcomes and errors become frames and close codes (PROTOCOL section 4).

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
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

from core.errors import ContentUnavailable, DomainError, NoSession
from core.tokens import TokenError, TokenExpired, bearer_token, verify_access
from live.resp import NOT_RUN
from realtime import closes, protocol
from realtime.limits import MalformedCounter, RateLimiter
from realtime.protocol import Auth, FrameError, Heartbeat, Ping, Start, Stop
from realtime.service import Replaced, SessionRef, Ticked, TickOutcome
from realtime.wsdirect import EXTENSION, DirectProtocol

if TYPE_CHECKING:
    from realtime.hub import Hub

log = logging.getLogger("realtime.connection")

ACCEPT = {"type": "websocket.accept"}
CAP_NOTICE = protocol.encode(
    protocol.Notice(
        code="daily_cap_reached",
        message="daily reward cap reached: watching goes on, no rewards today",
    )
)


class Connection:
    """The state of one connection, and the state machine its messages go through.

    `feed` takes one client message. Messages are handled one at a time, in order: a message
    whose answer needs Redis or PostgreSQL makes the connection `busy`, and what arrives
    meanwhile waits in `backlog` (reading from the socket pauses). A heartbeat on the common
    path is sent to Redis from `feed` and answered from the reply's callback (`ticked`: no
    task at all); other messages run as a task (`run`).

    Frames go out through `write`: on the direct lane (realtime.wsdirect, `direct` set) they
    are written to the socket at once, and a client that stops reading stops being read
    (backpressure) until the hub's once-a-second sweep drops it (`stalled`); over plain ASGI
    each is a `send` task, at most WS_SEND_QUEUE of them outstanding."""

    __slots__ = (
        "_send",
        "backlog",
        "beat",
        "beat_started",
        "busy",
        "closed",
        "direct",
        "expires_at",
        "hub",
        "id",
        "idle",
        "ip",
        "malformed",
        "rate",
        "ref",
        "send_since",
        "sending",
        "task",
        "user_id",
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
        self.direct = direct
        self.busy = False
        self.backlog: deque[str | bytes] | None = None
        self.idle: asyncio.Future[None] | None = None  # ASGI: the read loop waits on it
        self.beat: Heartbeat | None = None  # the heartbeat whose tick is at Redis
        self.beat_started = 0.0

    def log_extra(self) -> dict[str, Any]:
        return {"conn_id": self.id, "user_id": self.user_id}

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
        self.closed = True
        log.info("dropping connection: %s", why, extra=self.log_extra())
        self.hub.metrics.closes_total.labels(str(closes.SLOW_CONSUMER)).inc()
        if self.direct is not None:
            self.direct.abort()
        elif self.task is not None:
            self.task.cancel()

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.metrics.closes_total.labels(str(code)).inc()
        await _close(self._send, code, reason)

    def close_soon(self, code: int, reason: str) -> None:
        """`close` from code that cannot wait: nothing more is read or written from now on."""
        if not self.closed:
            self.closed = True
            self.hub.metrics.closes_total.labels(str(code)).inc()
            self.hub.spawn(_close(self._send, code, reason))

    # In.

    def feed(self, data: str | bytes) -> None:
        """One client message (the direct lane calls this from the socket's data callback)."""
        if self.closed:
            return
        if self.busy:
            if self.backlog is None:
                self.backlog = deque()
                if self.direct is not None:
                    self.direct.set_backlogged(True)
            self.backlog.append(data)
            return
        _message(self, self.hub, data)

    def done(self) -> None:
        """The message in hand is answered: go on with the ones that waited."""
        self.busy = False
        backlog = self.backlog
        while backlog and not self.busy and not self.closed:
            _message(self, self.hub, backlog.popleft())
        if backlog is not None and (not backlog or self.closed):
            self.backlog = None
            if self.direct is not None:
                self.direct.set_backlogged(False)
        if not self.busy and self.idle is not None:
            idle, self.idle = self.idle, None
            if not idle.done():
                idle.set_result(None)

    async def wait_idle(self) -> None:
        if self.busy:
            self.idle = asyncio.get_running_loop().create_future()
            await self.idle

    async def run(self, msg: protocol.ClientMessage) -> None:
        """A message that needs its own task; then the next one."""
        try:
            await _dispatch(self, self.hub, msg)
        finally:
            self.done()

    def ticked(self, outcome: TickOutcome) -> None:
        """The reply to the heartbeat at Redis (WatchService.heartbeat_soon's callback)."""
        msg = self.beat
        assert msg is not None
        if isinstance(outcome, Ticked):
            self.beat = None
            _tick_frames(self, self.hub, outcome, msg, self.beat_started)
            self.done()
        elif isinstance(outcome, NOT_RUN):  # the tick did not run: the redis-py path retries
            self.beat = None
            self.hub.spawn(self.run(msg))
        elif isinstance(outcome, Exception):
            self.beat = None
            _failed(self, self.hub, msg, outcome)
            self.done()
        else:  # a coroutine that reads the balance from PostgreSQL first
            self.hub.spawn(self._finish_tick(outcome))

    async def _finish_tick(self, outcome: Coroutine[Any, Any, Ticked]) -> None:
        msg = self.beat
        assert msg is not None
        self.beat = None
        try:
            out = await outcome
        except Exception as exc:  # noqa: BLE001 - turned into the client's error frame
            _failed(self, self.hub, msg, exc)
        else:
            _tick_frames(self, self.hub, out, msg, self.beat_started)
        finally:
            self.done()


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
                    conn.closed = True
                    return
                text = message.get("text")
                conn.feed(text if text is not None else message.get("bytes") or b"")
                await conn.wait_idle()
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
    direct = scope.get("extensions", {}).get(EXTENSION)
    return Connection(send, hub, identity.user_id, identity.expires_at, ip, direct)


def _message(conn: Connection, hub: Hub, data: str | bytes) -> None:
    """One client message: bounds, decoding, then its handler (a heartbeat's goes to Redis
    from here; the others that need I/O run as a task)."""
    now = time.monotonic()
    frames = hub.metrics.frames
    max_bytes = hub.settings.ws_max_frame_bytes
    if not isinstance(data, str):
        if len(data) > max_bytes:
            conn.close_soon(closes.TOO_BIG, "frame too big")
            return
        frames.inc("binary")
        _malformed(conn, "frames must be JSON text", None, now)
        return
    if len(data) > max_bytes and len(data.encode()) > max_bytes:
        frames.inc("too_big")
        conn.close_soon(closes.TOO_BIG, "frame too big")
        return
    if not conn.rate.hit(now):
        frames.inc("rate_limited")
        if conn.rate.should_close:
            conn.close_soon(closes.RATE_LIMITED, "rate limited")
            return
        conn.write(protocol.encode(protocol.Error(code="rate_limited", message="slow down")))
        return
    try:
        msg = protocol.decode_client(data)
    except FrameError as exc:
        frames.inc("malformed")
        _malformed(conn, str(exc), exc.ref, now)
        return
    frames.inc("ok")
    if type(msg) is Heartbeat:
        ref = conn.ref
        if ref is None:
            conn.write(
                protocol.encode(
                    protocol.Error(
                        code="no_session", message="no live watch session: start first", ref=msg.id
                    )
                )
            )
            return
        conn.busy = True
        conn.beat = msg
        conn.beat_started = time.perf_counter()
        try:
            sent = hub.service.heartbeat_soon(
                conn.user_id, ref, msg.playing, msg.visible, conn.ticked
            )
        except Exception as exc:  # noqa: BLE001 - here it would unwind into the socket's callback
            conn.beat, conn.busy = None, False
            _failed(conn, hub, msg, exc)
            return
        if sent:
            return
        conn.beat = None
    elif type(msg) is Ping:
        conn.write(protocol.encode(protocol.Pong(ref=msg.id)))
        return
    elif type(msg) is Auth:
        _auth(conn, hub, msg)
        return
    conn.busy = True
    hub.spawn(conn.run(msg))


def _malformed(conn: Connection, message: str, ref: str | None, now: float) -> None:
    if conn.malformed.hit(now):
        conn.close_soon(closes.BAD_REQUEST, "too many malformed frames")
        return
    conn.write(protocol.encode(protocol.Error(code="bad_request", message=message, ref=ref)))


async def _dispatch(conn: Connection, hub: Hub, msg: protocol.ClientMessage) -> None:
    """The messages that wait for I/O (a heartbeat here is one off the common path)."""
    try:
        match msg:
            case Heartbeat():
                started = time.perf_counter()
                out = await hub.service.heartbeat(
                    conn.user_id, _session(conn), msg.playing, msg.visible
                )
                _tick_frames(conn, hub, out, msg, started)
            case Start():
                await _start(conn, hub, msg)
            case Stop():
                await _stop(conn, hub, msg)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the client's error frame
        _failed(conn, hub, msg, exc)


def _session(conn: Connection) -> SessionRef:
    if conn.ref is None:
        raise NoSession("no live watch session: start first")
    return conn.ref


def _failed(conn: Connection, hub: Hub, msg: protocol.ClientMessage, exc: Exception) -> None:
    """A message's refusal or failure, as the client sees it (PROTOCOL section 4)."""
    heartbeat = isinstance(msg, Heartbeat)
    if isinstance(exc, Replaced):
        if heartbeat:
            hub.metrics.heartbeats.inc("replaced")
        hub.leave(conn)
        conn.write(
            protocol.encode(
                protocol.Replaced(content_id=exc.content_id, by_device_id=exc.by_device_id)
            )
        )
        conn.close_soon(closes.REPLACED, "replaced")
    elif isinstance(exc, DomainError):
        if heartbeat:
            hub.metrics.heartbeats.inc(exc.code)
            if isinstance(exc, (NoSession, ContentUnavailable)):
                hub.leave(conn)  # the session is over: the client must start again
        conn.write(
            protocol.encode(
                protocol.Error(code=exc.code, message=exc.message, ref=msg.id, **exc.extra)
            )
        )
    else:
        if isinstance(exc, (RedisError, SQLAlchemyError, OSError, asyncio.TimeoutError)):
            log.warning("internal error on %s: %r", type(msg).__name__, exc, extra=conn.log_extra())
        else:
            log.error("bug on %s", type(msg).__name__, exc_info=exc, extra=conn.log_extra())
        conn.write(
            protocol.encode(
                protocol.Error(code="internal", message="the server failed; retry", ref=msg.id)
            )
        )


def _tick_frames(conn: Connection, hub: Hub, out: Ticked, msg: Heartbeat, started: float) -> None:
    """A heartbeat's answer: its rewards, the daily-cap notice, then the tick."""
    metrics = hub.metrics
    if out.grants:
        for grant in out.grants:
            conn.write(
                protocol.encode_bytes(
                    protocol.Reward(
                        reward_id=grant.reward_id,
                        kind="watch",
                        amount=grant.amount,
                        balance=grant.balance,
                        content_id=out.content_id,
                    )
                )
            )
        metrics.rewards_total.inc(len(out.grants))
        metrics.coins_total.inc(sum(g.amount for g in out.grants))
    if out.cap_reached:
        conn.write(CAP_NOTICE)
    conn.write(
        protocol.encode_bytes(
            protocol.Tick(
                content_id=out.content_id,
                elapsed_ms=out.elapsed_ms,
                credited_ms=out.credited_ms,
                remaining_ms=out.remaining_ms,
                ref=msg.id,
            )
        )
    )
    metrics.heartbeats.inc("ok")
    metrics.heartbeat_seconds.observe(time.perf_counter() - started)


async def _start(conn: Connection, hub: Hub, msg: Start) -> None:
    out = await hub.service.start(
        conn.user_id,
        msg.content_id,
        msg.tab_id,
        msg.device_id,
        msg.takeover,
        conn.id,
        "ws",
        conn.ip,
    )
    if not hub.join(conn, out.ref):
        return  # closed meanwhile; the session stays live until it expires, for a resume
    conn.write(
        protocol.encode(
            protocol.Started(
                content_id=out.ref.content_id,
                session_id=out.ref.session_id,
                resumed=out.resumed,
                elapsed_ms=out.elapsed_ms,
                interval_ms=out.interval_ms,
                remaining_ms=out.remaining_ms,
                balance=out.balance,
                viewers=out.viewers,
                ref=msg.id,
            )
        )
    )


async def _stop(conn: Connection, hub: Hub, msg: Stop) -> None:
    ref = _session(conn)
    hub.leave(conn)
    content_id, watched = await hub.service.stop(conn.user_id, ref)
    conn.write(
        protocol.encode(protocol.Stopped(content_id=content_id, watched_ms=watched, ref=msg.id))
    )


def _auth(conn: Connection, hub: Hub, msg: Auth) -> None:
    try:
        identity = verify_access(hub.settings, msg.token)
    except TokenError as exc:  # TokenExpired included: the old token still holds until it ends
        conn.write(
            protocol.encode(
                protocol.Error(code="bad_request", message=f"token refused: {exc}", ref=msg.id)
            )
        )
        return
    if identity.user_id != conn.user_id:
        conn.write(
            protocol.encode(
                protocol.Error(code="bad_request", message="token is for another user", ref=msg.id)
            )
        )
        return
    conn.expires_at = identity.expires_at
    conn.write(protocol.encode(protocol.Authed(expires_at=identity.expires_at, ref=msg.id)))
