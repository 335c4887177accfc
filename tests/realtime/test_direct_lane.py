"""The hub's direct lane (realtime/wsdirect.py) on a raw socket: it cuts the byte stream into
frames itself and hands everything that is not a whole masked text frame to websockets, so the
cases here are the ones where that could go wrong: frames cut at every byte, many frames in
one write (answered in order while a heartbeat waits for Redis), fragments, control frames,
bad UTF-8, unmasked or oversized frames, frames sent before the handshake's answer. Then the
heartbeat's two ways off its common path (scripts gone from Redis, balance not cached) and
the same session over uvicorn's plain ASGI events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any

import pytest

from live import keys
from tests.realtime.conftest import FAST


def frame(payload: bytes, opcode: int = 0x1, fin: bool = True, mask: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    masked = 0x80 if mask else 0
    if size < 126:
        head += bytes([masked | size])
    else:
        head += bytes([masked | 126]) + struct.pack("!H", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(**message: Any) -> bytes:
    return frame(json.dumps(message).encode())


class Raw:
    """A WebSocket client on a bare socket: writes any bytes, reads the server's frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, token: str, early: bytes = b"") -> Raw:
        """Connect and send the handshake (and `early`, in the same write); read the 101."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            + early
        )
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 101 " in status.split(b"\r\n")[0], status
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(size)

    async def message(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next text message, skipping viewer-count pushes."""
        while True:
            opcode, payload = await self.next_frame(timeout)
            assert opcode == 0x1, (opcode, payload)
            msg = json.loads(payload)
            if msg["type"] != "viewers":
                return msg

    async def close_code(self, timeout: float = 5.0) -> int:
        """Read until the close frame; its code."""
        while True:
            opcode, payload = await self.next_frame(timeout)
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def raw(hub, token):  # type: ignore[no-untyped-def]
    opened: list[Raw] = []
    h = hub(WS_MAX_MESSAGES_PER_SECOND="1000")

    async def open_(user_id: int, early: bytes = b"", hello: bool = True) -> Raw:
        client = await Raw.open(h.port, token(user_id), early)
        opened.append(client)
        if hello:
            assert (await client.message())["type"] == "hello"
        return client

    yield open_
    for client in opened:
        client.close()


async def test_frames_cut_at_every_byte_are_put_back_together(raw, content) -> None:  # type: ignore[no-untyped-def]
    cid = await content()
    c = await raw(1)
    data = (
        text(type="ping", id="p1")
        + text(type="start", content_id=cid, tab_id="t", device_id="d", id="s")
        + text(type="heartbeat", playing=True, visible=True, id="h")
    )
    for i in range(len(data)):
        await c.send(data[i : i + 1])
        await asyncio.sleep(0.001)
    assert (await c.message())["ref"] == "p1"
    assert (await c.message())["type"] == "started"
    tick = await c.message()
    assert (tick["type"], tick["ref"]) == ("tick", "h")


async def test_many_frames_in_one_write_are_answered_in_order(raw, content) -> None:  # type: ignore[no-untyped-def]
    """A start and heartbeats wait for Redis; the pings behind them wait their turn."""
    cid = await content()
    c = await raw(2)
    burst = [text(type="start", content_id=cid, tab_id="t", device_id="d", id="s")]
    for i in range(20):
        burst.append(text(type="heartbeat", playing=True, visible=True, id=f"h{i}"))
        burst.append(text(type="ping", id=f"p{i}"))
    burst.append(text(type="stop", id="x"))
    await c.send(b"".join(burst))
    got = [(m["type"], m.get("ref")) for m in [await c.message() for _ in range(42)]]
    expected = [("started", "s")]
    for i in range(20):
        expected += [("tick", f"h{i}"), ("pong", f"p{i}")]
    expected.append(("stopped", "x"))
    assert got == expected


async def test_fragments_and_control_frames_go_through_websockets(raw) -> None:  # type: ignore[no-untyped-def]
    c = await raw(3)
    body = json.dumps({"type": "ping", "id": "frag"}).encode()
    await c.send(
        frame(body[:5], fin=False)
        + frame(b"hb", opcode=0x9)  # ping between fragments
        + frame(body[5:], opcode=0x0)
        + text(type="ping", id="after")
    )
    assert await c.next_frame() == (0xA, b"hb")  # the control pong
    assert (await c.message())["ref"] == "frag"
    assert (await c.message())["ref"] == "after"


async def test_a_text_frame_inside_a_fragmented_message_fails_the_connection(raw) -> None:  # type: ignore[no-untyped-def]
    c = await raw(4)
    await c.send(frame(b'{"type":', fin=False) + text(type="ping", id="nope"))
    assert await c.close_code() == 1002


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(b'{"type":"ping","id":"\xff\xfe"}'), 1007),  # not UTF-8
        (frame(b'{"type":"ping"}', mask=False), 1002),  # clients must mask
        (frame(b"x" * 5000), 1009),  # over --ws-max-size (4096)
    ],
)
async def test_bad_frames_get_websockets_close_codes(raw, data: bytes, code: int) -> None:  # type: ignore[no-untyped-def]
    c = await raw(5)
    await c.send(text(type="ping", id="ok") + data)
    assert (await c.message())["ref"] == "ok"
    assert await c.close_code() == code


async def test_binary_frames_are_bad_requests(raw) -> None:  # type: ignore[no-untyped-def]
    c = await raw(6)
    await c.send(frame(b"\x00\x01", opcode=0x2))
    error = await c.message()
    assert (error["type"], error["code"]) == ("error", "bad_request")


async def test_frames_sent_with_the_handshake_leave_the_connection_working(raw) -> None:  # type: ignore[no-untyped-def]
    """A client that does not wait for the 101 (RFC 6455 4.1 says it must): websockets drops
    what came early, and keeps reading this connection (the direct lane stays off for it)."""
    c = await raw(7, early=text(type="ping", id="early"), hello=False)
    assert (await c.message())["type"] == "hello"
    await c.send(text(type="ping", id="later") + text(type="ping", id="last"))
    refs: list[str] = []
    while "last" not in refs:
        refs.append((await c.message())["ref"])
    assert refs in (["later", "last"], ["early", "later", "last"])


async def test_a_heartbeat_after_redis_forgot_the_scripts_still_ticks(raw, content, redis) -> None:  # type: ignore[no-untyped-def]
    cid = await content()
    c = await raw(8)
    await c.send(text(type="start", content_id=cid, tab_id="t", device_id="d"))
    assert (await c.message())["type"] == "started"
    await redis.script_flush()
    await c.send(text(type="heartbeat", playing=True, visible=True, id="h"))
    tick = await c.message()
    assert (tick["type"], tick["ref"]) == ("tick", "h")


async def test_a_heartbeat_reads_the_balance_when_redis_has_none(
    raw, content, redis, engine
) -> None:  # type: ignore[no-untyped-def]
    """The reply's callback hands over to a task that reads PostgreSQL, then answers."""
    from sqlalchemy import text as sql

    cid = await content()
    c = await raw(9)  # provisions the user's row
    async with engine.begin() as db:
        await db.execute(sql("UPDATE users SET balance = 70 WHERE id = 9"))
    await c.send(text(type="start", content_id=cid, tab_id="t", device_id="d"))
    assert (await c.message())["type"] == "started"
    balance_key = keys.UserKeys(9, int(FAST["REDIS_PARTITIONS"])).balance
    assert await redis.hdel(balance_key, "pg", "v") == 2
    await c.send(text(type="heartbeat", playing=True, visible=True, id="h"))
    await asyncio.sleep(1.1)  # past the 1 s reward interval
    await redis.hdel(balance_key, "pg", "v")
    await c.send(text(type="heartbeat", playing=True, visible=True, id="h2"))
    frames = [await c.message(), await c.message(), await c.message()]
    assert [f["type"] for f in frames] == ["tick", "reward", "tick"], frames
    assert frames[1]["balance"] == 70 + frames[1]["amount"]


async def test_a_session_over_plain_asgi(spawn, player, content) -> None:  # type: ignore[no-untyped-def]
    """Run without the direct lane (`--ws websockets-sansio`: ASGI events), the hub answers
    the same, in the same order. (wsproto is only installed with the `load` extra, for the
    benchmark.)"""
    h = spawn(
        "realtime.app:app",
        {**FAST, "WS_MAX_MESSAGES_PER_SECOND": "1000"},
        extra_args=["--ws", "websockets-sansio"],
    )
    cid = await content()
    c = await player(h, 10)
    started = await c.start(cid)
    assert started["type"] == "started"
    for i in range(3):
        await c.send(type="heartbeat", playing=True, visible=True, id=f"h{i}")
        await c.send(type="ping", id=f"p{i}")
    got = [
        (f["type"], f.get("ref")) for f in [await c.expect_one_of("tick", "pong") for _ in range(6)]
    ]
    assert got == [
        ("tick", "h0"),
        ("pong", "p0"),
        ("tick", "h1"),
        ("pong", "p1"),
        ("tick", "h2"),
        ("pong", "p2"),
    ]
    await asyncio.sleep(1.1)
    await c.send(type="heartbeat", playing=True, visible=True, id="h3")
    assert (await c.expect("reward"))["kind"] == "watch"
    other = await player(h, 10)
    assert (await other.start(cid, tab="t2", device="d2", takeover=True))["type"] == "started"
    assert (await c.expect("replaced"))["by_device_id"] == "d2"
    assert await c.closed_with() == 4509
