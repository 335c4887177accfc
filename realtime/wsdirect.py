"""uvicorn's websockets-sansio WebSocket protocol with a direct lane for the hub's `/ws`.

`python -m realtime` runs the hub on it (core/launch.py: `--ws
realtime.wsdirect:DirectProtocol`; the container, the dev run, the tests and the benchmark
start it so). Everything ASGI stays as it is: the
handshake, `websocket.accept`/`close`, keepalive pings, close handshakes, size limits. What
changes is the path of a data frame once the app has attached a sink (`attach`): instead of
an ASGI `websocket.receive` event through uvicorn's queue, one task wake-up per frame and a
pause/resume of reading per frame, the sink is called with the text from `data_received`, and
the app writes its reply frames with `write_text`, synchronously. Whole masked text frames
are read here without websockets' generator-based parser (the common case: a heartbeat);
every other frame (control frames, fragments, unmasked, over the size limit, bad UTF-8) is
handed whole to websockets as before, so the protocol's rules and close codes stay
websockets'.

With plain `--ws websockets-sansio` (or wsproto) the hub still works over ASGI events: the
scope then has no `realtime.direct` extension (realtime.connection handles both).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask

EXTENSION = "realtime.direct"
_RESERVED_OPCODES = frozenset((0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF))

Sink = Callable[[str | bytes], None]


class DirectProtocol(WebSocketsSansIOProtocol):
    # Slots: the base class keeps ~37 attributes in its instance dict, right under the size
    # at which the dict's table doubles (about 1 KiB more per connection).
    __slots__ = ("backlogged", "rest", "sink", "split_decided", "splitting", "write_paused_since")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sink: Sink | None = None
        self.write_paused_since = 0.0  # monotonic; 0: the transport takes writes
        self.backlogged = False  # the sink has frames waiting: stop reading more
        # After the handshake this protocol cuts the stream into frames itself (`_split`), so
        # websockets only ever sees whole frames; `rest` is a partial frame's bytes so far.
        self.splitting = False
        self.split_decided = False
        self.rest = b""

    # What the app calls.

    def attach(self, sink: Sink) -> None:
        """Send this connection's data frames to `sink` from now on, starting with any that
        uvicorn has queued already (the order is kept; the disconnect event stays queued)."""
        self.sink = sink
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        for event in queued:
            if event["type"] == "websocket.receive":
                text = event.get("text")
                sink(text if text is not None else event.get("bytes") or b"")
            else:
                self.queue.put_nowait(event)
        self._update_reading()

    def write_text(self, text: str | bytes) -> None:
        """One text frame (`bytes`: already UTF-8), written now; dropped once a close was
        sent or the peer left."""
        if self.close_sent or self.disconnected or self.conn.state is not State.OPEN:
            return
        data = text if type(text) is bytes else text.encode()  # type: ignore[union-attr]
        size = len(data)
        if size < 126 and not self.conn.extensions:
            self.transport.write(b"\x81" + _LENGTH[size] + data)
            return
        self.conn.send_text(data)
        self.transport.write(b"".join(self.conn.data_to_send()))

    def abort(self) -> None:
        """Drop the connection now (a client that does not read): no close frame."""
        self.transport.abort()

    def set_backlogged(self, backlogged: bool) -> None:
        self.backlogged = backlogged
        self._update_reading()

    # uvicorn's callbacks.

    def data_received(self, data: bytes) -> None:
        if not self.splitting:
            super().data_received(data)
            if self.split_decided:
                return
            if self.handshake_initiated:
                self.split_decided = True
                # websockets parses frames right after the request, and keeps no trace of a
                # partly read one: take over the stream only if nothing came after the request.
                self.splitting = (
                    data.find(b"\r\n\r\n") == len(data) - 4 and not self.conn.reader.buffer
                )
            elif self.conn.handshake_exc is not None:
                self.split_decided = True
                self._refuse_handshake()
            return
        if self.rest:
            data, self.rest = self.rest + data, b""
        self._split(data)

    def _split(self, data: bytes) -> None:
        """Cut `data` into whole frames: final masked text frames go to the sink (unless a
        fragmented message is open), every other frame is handed whole to websockets, a
        partial one waits for the next read. A frame
        over the size limit (or with a 64-bit length) ends the splitting: websockets gets the
        rest of the stream from then on and refuses it (1009)."""
        if self._peer_closed():
            return
        at, end = 0, len(data)
        max_size = self.config.ws_max_size
        while end - at >= 2:
            first, second = data[at], data[at + 1]
            size = second & 0x7F
            head = 2
            if size == 126:
                if end - at < 4:
                    break
                size = int.from_bytes(data[at + 2 : at + 4], "big")
                head = 4
            if (
                size == 127
                or size > max_size
                # (a masked final text frame, the common case, needs no closer look)
                or ((first != 0x81 or not second & 0x80) and self._bad_header(first, second, size))
            ):
                # websockets refuses these at the header, without waiting for the payload:
                # it gets the rest of the stream from here on.
                self.splitting = False
                super().data_received(data[at:])
                return
            if second & 0x80:
                head += 4
            frame_end = at + head + size
            if frame_end > end:
                break
            sink = self.sink
            if (
                data[at] == 0x81
                and second & 0x80
                and sink is not None
                and not self.close_sent
                and self.conn.current_size is None
            ):  # (not inside a fragmented message)
                payload = frame_end - size
                try:
                    text = apply_mask(data[payload:frame_end], data[payload - 4 : payload]).decode()
                except UnicodeDecodeError:
                    self._log_invalid_utf8()
                    super().data_received(data[at:frame_end])  # websockets closes with 1007
                else:
                    sink(text)
            else:
                super().data_received(data[at:frame_end])
                if self._peer_closed():  # that was the peer's close frame
                    return
            at = frame_end
        if at < end:
            self.rest = data[at:] if at else data

    def _log_invalid_utf8(self) -> None:
        """One line per connection failed with 1007, as uvicorn's own protocol writes one (at
        warning, without its traceback: the client is at fault, not the server)."""
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        self.logger.warning("closing 1007: a text frame from %s is not UTF-8", peer)

    def _peer_closed(self) -> bool:
        """The peer's close frame was read (or the connection failed): RFC 6455 5.5.1, nothing
        after it is processed, as websockets discards it too. (After a close we sent first,
        the peer's close frame is still to be handed on.)"""
        if self.conn.close_rcvd is not None or self.conn.state is State.CLOSED:
            self.rest = b""
            return True
        return False

    def _bad_header(self, first: int, second: int, size: int) -> bool:
        """A header websockets refuses as it is, before any payload (1002 or 1009): a reserved
        opcode, an unmasked client frame, or a frame that takes a fragmented message over the
        size limit. (Reserved bits and fragmented control frames it refuses once the frame is
        whole, as this lane does by handing it over whole.)"""
        opcode = first & 0x0F
        if opcode in _RESERVED_OPCODES or not second & 0x80:
            return True
        current = self.conn.current_size
        return current is not None and current + size > self.config.ws_max_size

    def _refuse_handshake(self) -> None:
        """websockets refuses a request line or header line over 8 KiB (414 / 431) by queueing
        the response without an event, and uvicorn 0.54 writes only on events: without this
        the client would get no answer at all and the socket would stay open."""
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    def send_receive_event_to_app(self) -> None:
        sink = self.sink
        if sink is None or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.curr_msg_data_type == "text":
            try:
                sink(data.decode())
            except UnicodeDecodeError:
                self._log_invalid_utf8()
                self.conn.send_close(1007)
                self.handle_parser_exception()
        else:
            sink(data)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_paused_since = time.monotonic()
        self._update_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_paused_since = 0.0
        self._update_reading()

    def _update_reading(self) -> None:
        """Read while the sink keeps up and the peer reads what we write."""
        if self.sink is None or self.close_sent or self.disconnected:
            return
        pause = self.backlogged or self.write_paused_since > 0
        if pause != self.read_paused:
            self.read_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def handle_connect(self, event: object) -> None:
        super().handle_connect(event)  # type: ignore[arg-type]
        scope = getattr(self, "scope", None)
        if scope is not None:  # a refused handshake has none
            scope["extensions"][EXTENSION] = self


_LENGTH = [bytes([n]) for n in range(126)]
