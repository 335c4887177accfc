"""Cheap load-client protocols on raw asyncio sockets: a WebSocket client and an HTTP/1.1
keep-alive client.

They exist because the load generator must cost much less CPU per message than the server it
measures, or the benchmark measures the client. Frames are built once as bytes; a client
frame is masked with the all-zero key (valid framing: XOR with zero is the identity, so no
per-byte work), and a reply's type is read from its first bytes (msgspec writes the `type` tag
first) instead of decoding JSON. Servers' frames are parsed just enough to find message
boundaries, answer pings and read close codes; per-message-deflate is inflated only when the
caller needs message types.

Replies are matched to requests in order (the hub and the echo answer one connection's frames
in order), so each connection keeps a FIFO of send times.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, cast

IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the source port at connect(), per 4-tuple
ZERO_MASK = b"\x00\x00\x00\x00"
_TAIL = b"\x00\x00\xff\xff"
perf = time.perf_counter

# Replies that answer the client's last frame; anything else is a push.
REPLY_TYPES = frozenset({b"tick", b"started", b"stopped", b"pong", b"error", b"authed"})


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + ZERO_MASK + payload


def handshake(host: str, port: int, path: str, token: str | None, deflate: bool) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if deflate:  # what browsers offer
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def message_type(payload: bytes) -> bytes:
    if payload[:9] == b'{"type":"':
        end = payload.find(b'"', 9)
        if end > 0:
            return payload[9:end]
    return b"?"


def error_code(payload: bytes) -> str:
    i = payload.find(b'"code":"')
    if i < 0:
        return "error"
    j = payload.find(b'"', i + 8)
    return payload[i + 8 : j].decode(errors="replace")


class Sink:
    """What a connection reports to; the worker implements it."""

    def on_open(self, conn: WsConn) -> None: ...
    def on_reply(
        self, conn: WsConn, sent_at: float, now: float, kind: bytes, payload: bytes
    ) -> None: ...
    def on_push(self, conn: WsConn, kind: bytes) -> None: ...
    def on_close(self, conn: WsConn, code: int) -> None: ...


class WsConn(asyncio.Protocol):
    """One WebSocket client connection. `typed`: replies are told from pushes by their type
    (hub); else every frame after the first answers the oldest outstanding send (echo)."""

    __slots__ = (
        "buf",
        "close_code",
        "closed",
        "deflate",
        "frag",
        "hello",
        "index",
        "inflater",
        "opened",
        "pending",
        "request",
        "sink",
        "start_frame",
        "started_at",
        "transport",
        "typed",
        "upgraded",
    )

    def __init__(self, sink: Sink, request: bytes, typed: bool, index: int) -> None:
        self.sink = sink
        self.request = request
        self.typed = typed
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hello = False
        self.deflate = False
        self.inflater: Any = None
        self.pending: deque[float] = deque()
        self.closed = False
        self.close_code = 0
        self.frag: list[bytes] | None = None
        self.start_frame = b""
        self.started_at = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if not self.opened.done():
                self.opened.set_exception(
                    ConnectionError(
                        f"lost before hello (close code {self.close_code or 1006}): {exc!r}"
                    )
                )
            self.sink.on_close(self, self.close_code or 1006)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            head = data[:end]
            if not head.startswith(b"HTTP/1.1 101"):
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self._fail("handshake refused: " + status)
                return
            self.upgraded = True
            self.deflate = b"permessage-deflate" in head.lower()
            data = data[end + 4 :]
        pos, n = 0, len(data)
        while n - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            ln, hl = b1 & 0x7F, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, hl = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, hl = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                hl += 4  # servers do not mask, but tolerate it
            end = pos + hl + ln
            if end > n:
                break
            self._frame(b0, data[pos + hl : end])
            pos = end
        if pos < n:
            self.buf = data[pos:]

    # Frames.

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode in (1, 2) or opcode == 0:
            if not b0 & 0x80:  # fragmented: rare, collect
                self.frag = (self.frag or []) + [payload]
                return
            if self.frag is not None:
                payload = b"".join(self.frag) + payload
                self.frag = None
            self._message(payload, bool(b0 & 0x40))
        elif opcode == 9 and self.transport is not None:  # ping: answer, or the server drops us
            self.transport.write(client_frame(payload, 0xA))
        elif opcode == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.transport is not None:
                self.transport.close()

    def _message(self, payload: bytes, compressed: bool) -> None:
        if compressed and self.typed:  # untyped connections only count frames
            if self.inflater is None:
                self.inflater = zlib.decompressobj(-15)
            payload = self.inflater.decompress(payload + _TAIL)
        if not self.hello:
            self.hello = True
            if not self.opened.done():
                self.opened.set_result(None)
            return
        now = perf()
        if self.typed:
            kind = message_type(payload)
            if kind not in REPLY_TYPES:
                self.sink.on_push(self, kind)
                return
        else:
            kind = b"echo"
        if self.pending:
            self.sink.on_reply(self, self.pending.popleft(), now, kind, payload)
        else:
            self.sink.on_push(self, b"unmatched-" + kind)

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    # Sending.

    def send(self, frame: bytes) -> None:
        if self.closed or self.transport is None:
            return
        self.pending.append(perf())
        self.transport.write(frame)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


async def open_ws(
    factory: Callable[[], WsConn], host: str, port: int, src: str, timeout: float
) -> WsConn:
    """Connect from source address `src` (127.0.0.x spreads the ephemeral-port range) and
    wait for the server's first frame."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((src, 0))
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        _, conn = await loop.create_connection(factory, sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        await asyncio.wait_for(asyncio.shield(conn.opened), timeout)
    except BaseException:
        conn.abort()
        raise
    return conn


class HttpConn(asyncio.Protocol):
    """An HTTP/1.1 keep-alive connection sending one prebuilt request at a time."""

    __slots__ = ("buf", "busy", "closed", "index", "on_done", "sent_at", "transport")

    def __init__(self, on_done: Callable[[HttpConn, float, int], None], index: int) -> None:
        self.on_done = on_done
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.sent_at = 0.0
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.on_done(self, self.sent_at, 0)

    def send(self, request: bytes, sent_at: float) -> None:
        assert self.transport is not None
        self.busy = True
        self.sent_at = sent_at
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        data = self.buf + data if self.buf else data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buf = data
            return
        head = data[:end].lower()
        i = head.find(b"content-length:")
        if i >= 0:
            j = head.find(b"\r\n", i)
            length = int(head[i + 15 : j if j > 0 else None])
            if len(data) < end + 4 + length:
                self.buf = data
                return
            rest = data[end + 4 + length :]
        elif b"transfer-encoding: chunked" in head:
            k = data.find(b"\r\n0\r\n\r\n", end)
            if k < 0 and not data[end + 4 :].startswith(b"0\r\n\r\n"):
                self.buf = data
                return
            rest = b""
        else:
            rest = b""
        self.buf = rest
        status = int(head[9:12])
        self.busy = False
        self.on_done(self, self.sent_at, status)


def http_request(method: str, host: str, port: int, path: str, token: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
