"""The direct lane against the reference: the same crafted frames sent to a hub on the direct
lane (realtime/wsdirect.py, as deployed) and to one on uvicorn's plain websockets-sansio
must get the same replies and the same close code, each within a few seconds (a lane that
waits for a payload that never comes would only close at the 40 s keep-alive timeout).
Also the lane's memory: connections that close while their `start` is being answered leave
nothing behind."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import httpx
import pytest

from live.keys import UserKeys
from tests.realtime.conftest import FAST
from tests.realtime.test_direct_lane import Raw, frame, text
from tests.support.waiting import wait_until

LANES = {"direct": [], "asgi": ["--ws", "websockets-sansio"]}


def close_frame(code: int = 1000) -> bytes:
    return frame(struct.pack("!H", code), opcode=0x8)


def masked_header(first: int, size: int) -> bytes:
    """A masked frame's header (with its key) and no payload at all."""
    if size < 126:
        return bytes([first, 0x80 | size]) + os.urandom(4)
    return bytes([first, 0x80 | 126]) + struct.pack("!H", size) + os.urandom(4)


CASES = {
    # Headers websockets refuses as they are (1002, 1009): no payload is ever sent.
    "reserved opcode": bytes([0x83, 0xE4]) + os.urandom(4),
    "unmasked, 100 bytes declared": bytes([0x81, 0x64]),
    # Refused once the frame is whole (websockets checks these after the payload).
    "reserved bit without an extension": bytes([0xC1]) + frame(b'{"type":"ping"}')[1:],
    "fragmented ping": frame(b"ping", opcode=0x9, fin=False),
    "continuation over the frame limit": frame(b"x" * 100, fin=False) + masked_header(0x00, 4090),
    # A text frame that is not UTF-8: 1007 (RFC 6455 8.1).
    "invalid UTF-8": frame(b'{"type":"ping","id":"\xff\xfe"}'),
    # After the client's close frame nothing is processed (RFC 6455 5.5.1).
    "text after close": close_frame()
    + text(type="start", content_id=1, tab_id="g", device_id="g", id="late"),
}


async def _exchange(port: int, token: str, data: bytes) -> tuple[list[str], int]:
    """Send `data` once the connection is answering (a ping answered); the replies to it and
    the close code."""
    client = await Raw.open(port, token)
    try:
        assert (await client.message())["type"] == "hello"
        await client.send(text(type="ping", id="before"))
        assert (await client.message())["ref"] == "before"
        await client.send(data)
        replies: list[str] = []
        while True:
            opcode, payload = await client.next_frame(timeout=5)
            if opcode == 0x8:
                return replies, int(struct.unpack("!H", payload[:2])[0])
            if opcode == 0x1:
                replies.append(payload.decode())
    finally:
        client.close()


@pytest.fixture
async def lanes(spawn: Any, content: Any) -> dict[str, Any]:
    cid = await content()
    assert cid == 1  # the crafted `start` names it
    return {
        name: spawn(
            "realtime.app:app", {**FAST, "WS_MAX_MESSAGES_PER_SECOND": "1000"}, extra_args=args
        )
        for name, args in LANES.items()
    }


@pytest.mark.parametrize("case", list(CASES))
async def test_both_lanes_answer_crafted_frames_alike(
    lanes: dict[str, Any], token: Any, redis: Any, case: str
) -> None:
    """Same replies, same close code, promptly; a `start` after the close opens nothing."""
    results = {}
    for n, (name, hub) in enumerate(lanes.items()):
        uid = 40 + n
        results[name] = await _exchange(hub.port, token(uid), CASES[case])
        assert not await redis.exists(UserKeys(uid, int(FAST["REDIS_PARTITIONS"])).session)
    assert results["direct"] == results["asgi"], results
    assert results["direct"][0] == []  # nothing of a refused frame, or after a close, is run


async def _watching(hub: Any) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        body = (await http.get(f"{hub.url}/metrics")).text
    line = next(x for x in body.splitlines() if x.startswith("hub_watching_connections "))
    return float(line.split()[1])


@pytest.mark.parametrize("ending", ["close frame", "abort"])
async def test_connections_closed_during_their_start_leave_nothing(
    lanes: dict[str, Any], token: Any, ending: str
) -> None:
    """Twenty connections send `start` and close (a close frame in the same write, or a TCP
    abort) at once: once the starts are answered, no connection is kept as watching."""
    for name, hub in lanes.items():
        for uid in range(100, 120):
            client = await Raw.open(hub.port, token(uid))
            assert (await client.message())["type"] == "hello"
            start = text(type="start", content_id=1, tab_id="g", device_id="g")
            if ending == "abort":
                client.writer.write(start)
                client.writer.transport.abort()
            else:
                await client.send(start + close_frame())
                client.close()
        for _ in range(50):  # the starts in flight finish, then the gauge must be 0
            if await _watching(hub) == 0:
                break
            await asyncio.sleep(0.1)
        assert await _watching(hub) == 0, name


async def test_both_lanes_log_a_1007_close(lanes: dict[str, Any], token: Any) -> None:
    """One log line per connection failed with 1007 on either lane (uvicorn's own on plain
    websockets-sansio, the lane's warning on the direct lane), so an operator sees them."""
    for n, hub in enumerate(lanes.values()):
        replies, code = await _exchange(hub.port, token(60 + n), CASES["invalid UTF-8"])
        assert (replies, code) == ([], 1007)

        async def logged(hub: Any = hub) -> bool:
            return "not UTF-8" in hub.stderr_text() or "Invalid UTF-8" in hub.stderr_text()

        await wait_until(logged, 5, "the 1007 log line")
