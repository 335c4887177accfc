"""Server-Sent Events: live viewer counts for pages that should not hold a WebSocket
(docs/protocol-notes.md, "Server-Sent Events").

`GET /sse/contents/{id}/viewers` streams one content's count, `GET /sse/live` the top
`LIVE_TOP` contents by live viewers. Nothing polls per listener: the hub's viewers loop
(realtime.hub, every 2 to 2.4 s) reads the counts of every content that has a stream and
calls `Streams.publish`, which encodes an event once per change and appends that one bytes
object to each listener's bounded queue. A listener whose queue is full (the client stopped
reading) is dropped, never buffered without bound.

An event's id is a digest of its name and data, so it names the value, on every node and
across restarts: a client reconnecting with `Last-Event-ID` equal to the current value's id
already has that value and gets nothing until it changes; any other id gets the current
value at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from core.errors import RateLimited, Unavailable

log = logging.getLogger("realtime.sse")

EVERY_S = 2.0  # at most one event per stream per 2 s (the hub's viewers loop period)
RETRY_MS = 3000  # `retry:` advice: how long a client waits before it reconnects
LIVE_TOP = 20  # contents in a `live` event
LIVE_CANDIDATES = 10_000  # newest watchable contents ranked (the api's live sort ranks as many)
QUEUE_EVENTS = 8  # events one listener may have waiting before it is dropped
LIVE = "live"  # the key of the top-contents stream; a content's stream is keyed by its id

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"access-control-allow-origin", b"*"),  # public counts, no credentials: embeds anywhere
]
PREAMBLE = b"retry: %d\n\n" % RETRY_MS
KEEPALIVE = b": keep-alive\n\n"

Key = int | str


def encode(name: str, data: Any) -> tuple[str, bytes]:
    """(id, the event's bytes) for an event `name` carrying `data` as JSON."""
    body = orjson.dumps(data)
    event_id = hashlib.blake2b(name.encode() + b"\n" + body, digest_size=8).hexdigest()
    return event_id, b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), name.encode(), body)


def top(pairs: list[tuple[int, int]], n: int = LIVE_TOP) -> list[dict[str, int]]:
    """The `live` event's items: (content id, count) pairs with viewers, most viewers first
    (ties: newer id first, as the api's live sort)."""
    ranked = sorted(((c, cid) for cid, c in pairs if c > 0), reverse=True)[:n]
    return [{"content_id": cid, "count": c} for c, cid in ranked]


class Listener:
    """One open event stream: its queue of encoded events and the id of the last one it was
    given (a client's `Last-Event-ID` to begin with)."""

    __slots__ = ("chunks", "closed", "dropped", "ip", "last_id", "task", "wake")

    def __init__(self, ip: str, last_id: str | None) -> None:
        self.ip = ip
        self.last_id = last_id
        self.chunks: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.dropped = False
        self.task: asyncio.Future[None] | None = None  # what sends to the client

    def push(self, event_id: str, chunk: bytes) -> None:
        if self.closed or event_id == self.last_id:
            return
        if len(self.chunks) >= QUEUE_EVENTS:
            self.dropped = True
            self.close()
            if self.task is not None:  # blocked in a send to a client that does not read
                self.task.cancel()
            return
        self.last_id = event_id
        self.chunks.append(chunk)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class Stream:
    __slots__ = ("chunk", "event_id", "listeners", "lock", "published_at")

    def __init__(self) -> None:
        self.listeners: set[Listener] = set()
        self.event_id: str | None = None
        self.chunk = b""
        self.published_at = float("-inf")
        self.lock = asyncio.Lock()


class Streams:
    """This process's event streams and their bounds (per source address, per process)."""

    def __init__(self, max_open: int, max_per_ip: int, keepalive_s: float) -> None:
        self.max_open = max_open
        self.max_per_ip = max_per_ip
        self.keepalive_s = keepalive_s
        self.streams: dict[Key, Stream] = {}
        self.per_ip: dict[str, int] = {}
        self.open = 0

    # Who listens.

    def content_ids(self) -> list[int]:
        return [k for k in self.streams if isinstance(k, int)]

    def live_listened(self) -> bool:
        return LIVE in self.streams

    def listeners(self) -> list[Listener]:
        return [li for s in self.streams.values() for li in s.listeners]

    def attach(self, key: Key, ip: str, last_id: str | None) -> tuple[Stream, Listener]:
        """Admit a listener (RateLimited over the per-address bound, Unavailable over the
        process's) and add it to the stream of `key`."""
        if self.per_ip.get(ip, 0) >= self.max_per_ip:
            raise RateLimited("too many event streams from this address", retry_after=5)
        if self.open >= self.max_open:
            raise Unavailable("too many event streams on this node")
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        self.open += 1
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream()
        listener = Listener(ip, last_id)
        stream.listeners.add(listener)
        return stream, listener

    def detach(self, key: Key, listener: Listener) -> None:
        stream = self.streams.get(key)
        if stream is None or listener not in stream.listeners:
            return
        stream.listeners.discard(listener)
        if not stream.listeners:
            del self.streams[key]
        self.open -= 1
        left = self.per_ip.get(listener.ip, 0) - 1
        if left > 0:
            self.per_ip[listener.ip] = left
        else:
            self.per_ip.pop(listener.ip, None)

    # Values.

    def publish(self, key: Key, name: str, data: Any, now: float) -> None:
        """The stream's value is `data` as of `now` (monotonic): a new event for every
        listener when it changed and the last one is EVERY_S old (else the next call tries
        again)."""
        stream = self.streams.get(key)
        if stream is None or now - stream.published_at < EVERY_S:
            return
        event_id, chunk = encode(name, data)
        if event_id == stream.event_id:
            return
        self._set(stream, event_id, chunk, now)

    def _set(self, stream: Stream, event_id: str, chunk: bytes, now: float) -> None:
        stream.event_id, stream.chunk, stream.published_at = event_id, chunk, now
        for listener in list(stream.listeners):
            listener.push(event_id, chunk)
            if listener.dropped:
                log.info("event stream dropped: the client stopped reading")

    async def ensure(
        self, stream: Stream, listener: Listener, name: str, load: Callable[[], Awaitable[Any]]
    ) -> None:
        """Give `listener` the current value: read it now when the stream has none yet (one
        read for all who wait), else the stream's last event."""
        if stream.event_id is None:
            async with stream.lock:
                if stream.event_id is None:
                    event_id, chunk = encode(name, await load())
                    self._set(stream, event_id, chunk, time.monotonic())
        assert stream.event_id is not None
        listener.push(stream.event_id, stream.chunk)

    def close_all(self) -> None:
        for listener in self.listeners():
            listener.close()


class EventStream:
    """The ASGI response of one listener: the stream's events as they come, a comment every
    `keepalive_s` of silence, until the client goes, the listener is closed (drain) or
    dropped (a full queue)."""

    def __init__(self, streams: Streams, key: Key, listener: Listener) -> None:
        self.streams, self.key, self.listener = streams, key, listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            sender = asyncio.ensure_future(self._events(send))
            self.listener.task = sender
            gone = asyncio.ensure_future(_disconnected(receive))
            try:
                await asyncio.wait({sender, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sender, gone):
                    task.cancel()
                await asyncio.gather(sender, gone, return_exceptions=True)
            if not gone.cancelled() or self.listener.dropped:
                return  # the client is gone, or stopped reading: nothing more to send it
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.streams.detach(self.key, self.listener)

    async def _events(self, send: Send) -> None:
        listener = self.listener
        await send({"type": "http.response.body", "body": PREAMBLE, "more_body": True})
        while True:
            try:
                await asyncio.wait_for(listener.wake.wait(), self.streams.keepalive_s)
            except TimeoutError:
                await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                continue
            listener.wake.clear()
            if listener.closed:
                return
            while listener.chunks:
                chunk = listener.chunks.popleft()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if listener.closed:
                    return


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
