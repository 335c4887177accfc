"""A pipelining RESP2 connection for the heartbeat path on one Redis server.

redis-py spends most of a heartbeat's client-side cost packing arguments one by one and
walking its pipeline machinery (docs/performance.md). Here the caller hands over commands
already encoded (live.wire builds them, mostly from cached bytes), every command
written in one event-loop iteration leaves in one `write`, and hiredis parses the replies,
which resolve the callers' futures in order. One connection is enough: Redis runs commands one
at a time anyway, and pipelining keeps the socket full.

Failure handling: a lost connection fails every call in flight with ConnectionError and the
next call reconnects; calls made while connecting wait for it. A reply that does not come
within `reply_timeout` (Redis stopped, a network partition) aborts the connection, failing
the calls in flight with TimeoutError. Both are redis.exceptions, which the hub already turns
into an `internal` error for the client (who retries on its next heartbeat).
Redis Cluster and TLS keep using redis-py (live.store picks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from live.wire import command

log = logging.getLogger("live.resp")

# Calls written at once at most: a loop iteration that makes more writes them in several
# pieces, so Redis works on the first while the hub is still making the next.
FLUSH_EVERY = 32

# Called with the reply (an error reply, a lost connection or a timeout as the exception
# instance) from the socket's data callback: it must not raise, nor block.
ReplyCallback = Callable[[Any], None]
Waiter = asyncio.Future[Any] | ReplyCallback | None


class _ReplyError(Exception):
    pass


# Error replies that mean Redis did not run the command: the redis-py path may run it again
# (it reloads scripts, follows redirects and refreshes the cluster's slot table).
NOT_RUN = (NoScriptError, AskError, TryAgainError, ClusterDownError, ReadOnlyError)


_ERRORS: dict[str, type[ResponseError]] = {
    "NOSCRIPT": NoScriptError,
    "TRYAGAIN": TryAgainError,
    "CLUSTERDOWN": ClusterDownError,
    "READONLY": ReadOnlyError,
}
_REDIRECTS: dict[str, type[AskError]] = {"MOVED": MovedError, "ASK": AskError}


def _error(reply: _ReplyError) -> ResponseError:
    """An error reply as the exception redis-py would raise for it."""
    text = str(reply)
    code, _, rest = text.partition(" ")
    redirect = _REDIRECTS.get(code)
    if redirect is not None:
        return redirect(rest)  # parses "<slot> <host>:<port>"
    return _ERRORS.get(code, ResponseError)(text)


class _Protocol(asyncio.Protocol):
    def __init__(self, owner: RespConnection) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost(self, exc)


class RespConnection:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        connect_timeout: float = 5.0,
        reply_timeout: float = 10.0,
    ) -> None:
        self._address = (host, port, path)
        self._hello = []
        if password is not None:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self._hello.append(command(*auth))
        if db:
            self._hello.append(command("SELECT", db))
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._transport: asyncio.Transport | None = None
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._reader = hiredis.Reader(replyError=_ReplyError)
        # One entry per reply expected, in order: the caller's future or callback, or None
        # (reply ignored).
        self._waiting: deque[Waiter] = deque()
        self._handshake: deque[asyncio.Future[Any]] = deque()  # AUTH/SELECT replies come first
        self._out: list[bytes] = []  # written at the end of this loop iteration
        self._flush_scheduled = False
        self._last_reply = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._timed_out = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RespConnection | None:
        """A connection for a redis:// or unix:// URL; None for what it does not speak (TLS)."""
        options = parse_url(url)
        if "connection_class" in options and "path" not in options:
            return None
        keep: Final = ("host", "port", "path", "username", "password", "db")  # literal keys
        # Values of several types for several parameters (str host, int port, ...): Any.
        params: dict[str, Any] = {k: options[k] for k in keep if k in options}
        return cls(**params, **kwargs)

    def call(self, data: bytes, replies: int = 1) -> asyncio.Future[Any]:
        """Send `data`: `replies` encoded commands. The future resolves to the first one's
        reply (an error reply raises); the others' replies are read and dropped."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send(data, replies, future)
        return future

    def call_soon(self, data: bytes, replies: int, callback: ReplyCallback | None) -> None:
        """`call` without a future: `callback` gets the first reply, or the exception an error
        reply, a lost connection or a timeout is, straight from the socket's data callback
        (no task wakes up for it: the heartbeat's path, docs/performance.md). None: the
        replies are read and dropped."""
        self._send(data, replies, callback)

    def _send(self, data: bytes, replies: int, waiter: Waiter) -> None:
        self._waiting.append(waiter)
        for _ in range(replies - 1):
            self._waiting.append(None)
        self._out.append(data)
        if self._transport is not None:
            if len(self._out) >= FLUSH_EVERY:
                self._flush()  # Redis starts on these while this loop iteration goes on
            else:
                self._schedule_flush()
        elif self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
        self._fail(ConnectionError("connection closed"))

    # Internals.

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is None or not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        if self._watchdog is None:
            self._last_reply = time.monotonic()
            self._arm_watchdog()
        self._transport.write(data)

    async def _connect(self) -> None:
        """Connect, authenticate and select the database; the calls made meanwhile wait in
        `_out` and are written once that is done."""
        loop = asyncio.get_running_loop()
        host, port, path = self._address
        try:
            if path:
                connecting = loop.create_unix_connection(lambda: _Protocol(self), path)
            else:
                connecting = loop.create_connection(lambda: _Protocol(self), host, port)
            transport, protocol = await asyncio.wait_for(connecting, self._connect_timeout)
            self._reader = hiredis.Reader(replyError=_ReplyError)
            self._protocol = protocol
            self._timed_out = False
            for data in self._hello:
                future = loop.create_future()
                self._handshake.append(future)
                transport.write(data)
                await asyncio.wait_for(future, self._connect_timeout)
            self._transport = transport
            self._schedule_flush()
        except (
            OSError,
            RedisError,
        ) as exc:  # OSError includes timeouts; RedisError: AUTH refused, lost
            if self._protocol is not None:
                self._protocol = None
                transport.abort()
            self._handshake.clear()
            self._fail(ConnectionError(f"cannot connect to Redis: {exc!r}"))
        finally:
            self._connecting = None

    def _received(self, data: bytes) -> None:
        self._reader.feed(data)
        self._last_reply = time.monotonic()
        waiting = self._waiting
        while True:
            reply = self._reader.gets()
            if reply is False:
                return
            if self._handshake:
                _resolve(self._handshake.popleft(), reply)
            else:
                waiter = waiting.popleft()
                if waiter is not None:
                    _resolve(waiter, reply)

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        self._transport = self._protocol = None
        for future in self._handshake:
            if not future.done():
                future.set_exception(ConnectionError("Redis connection lost"))
        self._handshake.clear()
        if self._timed_out:
            self._fail(TimeoutError(f"no reply from Redis within {self._reply_timeout:g} s"))
        else:
            self._fail(ConnectionError(f"Redis connection lost: {exc!r}"))

    def _fail(self, error: Exception) -> None:
        waiting, self._waiting = self._waiting, deque()
        self._out.clear()
        for waiter in waiting:
            if waiter is not None:
                _deliver(waiter, error)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _arm_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(self._reply_timeout / 4, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        if not self._waiting or self._transport is None:
            return
        if time.monotonic() - self._last_reply > self._reply_timeout:
            self._timed_out = True
            self._transport.abort()
            return
        self._arm_watchdog()


class ClusterResp:
    """One RespConnection per Redis Cluster primary: a call goes to the node that serves its
    slot, read from redis-py's slot table (`RedisCluster.nodes_manager`), which redis-py keeps
    current: the hub's other commands (start, stop, the sweep every second) follow redirects
    and refresh it. A reply that says the node was the wrong one (MOVED, ASK, TRYAGAIN,
    CLUSTERDOWN, READONLY: see NOT_RUN) reaches the callback like any error reply."""

    def __init__(self, cluster: Any, connect: Callable[[str, int], RespConnection]) -> None:
        self.cluster = cluster
        self._connect = connect
        self._nodes: dict[str, RespConnection] = {}

    @classmethod
    def from_url(cls, cluster: Any, url: str, **kwargs: Any) -> ClusterResp | None:
        """For a redis:// URL's credentials; None for what RespConnection does not speak (TLS)."""
        options = parse_url(url)
        if "connection_class" in options:
            return None
        auth: dict[str, Any] = {k: options[k] for k in ("username", "password") if k in options}
        return cls(
            cluster, lambda host, port: RespConnection(host=host, port=port, **auth, **kwargs)
        )

    def call_soon_at(
        self, slot: int, data: bytes, replies: int, callback: ReplyCallback | None
    ) -> None:
        """`RespConnection.call_soon` on the primary of `slot`. Raises redis-py's cluster
        errors when no node is known for it (before the first command, or the cluster down)."""
        node = self.cluster.nodes_manager.get_node_from_slot(slot)
        conn = self._nodes.get(node.name)
        if conn is None:
            conn = self._nodes[node.name] = self._connect(node.host, node.port)
        conn.call_soon(data, replies, callback)

    async def close(self) -> None:
        for conn in self._nodes.values():
            await conn.close()
        self._nodes.clear()


def _resolve(waiter: asyncio.Future[Any] | ReplyCallback, reply: Any) -> None:
    _deliver(waiter, _error(reply) if isinstance(reply, _ReplyError) else reply)


def _deliver(waiter: asyncio.Future[Any] | ReplyCallback, result: Any) -> None:
    """Hand a reply or an error to a future or a callback. A callback that raises is a bug in
    it; it is logged, and the replies behind it still reach their callers."""
    if isinstance(waiter, asyncio.Future):
        if waiter.done():
            return
        if isinstance(result, Exception):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)
        return
    try:
        waiter(result)
    except Exception:  # one caller's bug must not stop the reply stream
        log.exception("reply callback failed")
