"""Every refusal of PROTOCOL 4.2/4.3 over a real socket: auth, size, rate, malformed, blocks."""

import asyncio
import json
import os
import random

import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def close_code_at_connect(url: str) -> int | None:
    async with connect(url, open_timeout=5) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    return None


@pytest.mark.parametrize("tok", ["", "garbage", "a.b.c"])
async def test_missing_or_malformed_token_closes_4501(hub, tok) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    assert await close_code_at_connect(f"{h.ws_url}/ws?token={tok}") == 4501


async def test_wrong_audience_and_wrong_secret_close_4501(hub, token, settings) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    from core.tokens import issue_access

    h = hub()
    other_aud = issue_access(msgspec.structs.replace(settings, jwt_audience="elsewhere"), 1)
    other_key = issue_access(msgspec.structs.replace(settings, jwt_secret="x" * 40), 1)
    for tok in (other_aud, other_key):
        assert await close_code_at_connect(f"{h.ws_url}/ws?token={tok}") == 4501


async def test_expired_token_at_connect_closes_4005(hub, token) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    assert await close_code_at_connect(f"{h.ws_url}/ws?token={token(3, ttl_s=-10)}") == 4005


async def test_bearer_header_authenticates(hub, token) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    async with connect(
        f"{h.ws_url}/ws", additional_headers={"Authorization": f"Bearer {token(8)}"}
    ) as ws:
        assert json.loads(await ws.recv())["user_id"] == "8"


async def test_blocked_user_is_refused_and_open_connections_close_4503(hub, player, engine) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    p = await player(h, 31)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET blocked_at = now() WHERE id = 31"))
    assert await p.closed_with(5) == 4503
    q = await player(h, 31, hello=False)
    assert await q.closed_with(5) == 4503


async def test_blocked_ip_range_is_refused_and_open_connections_close_4503(
    hub, player, engine
) -> None:  # type: ignore[no-untyped-def]
    import httpx

    h = hub()
    p = await player(h, 32)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO ip_blocks (cidr, reason) VALUES ('127.0.0.0/8', 'test')")
        )
    assert await p.closed_with(5) == 4503
    q = await player(h, 33, hello=False)
    assert await q.closed_with(5) == 4503
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{h.url}/api/service/out-event",
            json={"content_id": 1, "tab_id": "t"},
            headers={"Authorization": f"Bearer {p.ws.request.path.split('token=')[1]}"},
        )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")


async def test_frame_over_the_limit_closes_1009(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(WS_MAX_FRAME_BYTES="256"), 4)
    await p.ws.send(json.dumps({"type": "ping", "pad": "x" * 300}))
    assert await p.closed_with() == 1009


async def test_flood_is_refused_then_closed_4029(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(WS_MAX_MESSAGES_PER_SECOND="5"), 4)
    for _ in range(8):
        await p.send(type="ping")
    codes = [(await p.recv())["type"] for _ in range(8)]
    assert codes.count("pong") == 5 and codes.count("error") == 3
    assert p.frames[-1]["code"] == "rate_limited"
    for _ in range(20):
        await p.send(type="ping")
    assert await p.closed_with() == 4029


async def test_malformed_frames_get_bad_request_then_4500(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 4)
    bad = ["nope", "[]", '{"type":"warp"}', '{"type":"start"}', b"\x00\x01binary"]
    for i in range(10):
        await p.ws.send(bad[i % len(bad)])
        frame = await p.recv()
        assert (frame["type"], frame["code"]) == ("error", "bad_request"), frame
    await p.ws.send("still not json")
    assert await p.closed_with() == 4500


async def test_random_garbage_never_crashes_the_hub(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    """Random bytes, wrong types, huge numbers, unicode and unknown types: each answered with
    bad_request (or a documented code), and the process keeps serving."""
    rng = random.Random(7)
    h = hub(WS_MAX_MESSAGES_PER_SECOND="1000")
    cid = await content()
    samples = [
        '{"type":"start","content_id":' + "9" * 400 + ',"tab_id":"t","device_id":"d"}',
        '{"type":"start","content_id":-1,"tab_id":"t","device_id":"d"}',
        '{"type":"heartbeat","playing":"yes","visible":true}',
        '{"type":"heartbeat","playing":true,"visible":true,"position_s":1e308}',
        '{"type":"auth","token":123}',
        '{"type":"\u202e\U0001f600","id":"\u00e9"}',
        '{"type":' + "[" * 2000 + "]" * 2000 + "}",
        '{"type":"start","content_id":1.5,"tab_id":"t","device_id":"d"}',
        '"just a string"',
        "null",
        "{}",
        "1e999",
    ]
    for round_ in range(3):
        p = await player(h, 50 + round_)
        for i in range(9):
            frame = (
                rng.choice(samples)
                if i % 2
                else bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))).decode("latin-1")
            )
            await p.ws.send(frame)
            reply = await p.recv()
            assert reply["type"] == "error" and reply["code"] == "bad_request", (frame, reply)
        started = await p.start(cid, tab=f"t{round_}", device="d", takeover=True)
        assert started["type"] == "started"
    assert h.proc.poll() is None


async def test_stop_without_session_is_no_session(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 4)
    assert (await p.request("stop", "error", id="s"))["code"] == "no_session"


def _masked_text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


async def test_a_client_that_never_reads_is_dropped(hub, token) -> None:  # type: ignore[no-untyped-def]
    """Pongs pile up behind a raw socket that never reads (past the kernel's buffers): the hub
    drops the connection about 10 s after its sends stall, and keeps serving."""
    import base64
    import socket

    import httpx

    h = hub(WS_MAX_MESSAGES_PER_SECOND="10000")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", h.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws?token={token(99)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in sock.recv(1024)  # the handshake (and maybe hello); never read again
    burst = _masked_text_frame(b'{"type":"ping","id":"' + b"p" * 64 + b'"}') * 900
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    for _ in range(
        100
    ):  # up to 90k pings at ~9k/s (under the rate limit), until the hub stops reading
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, burst), 1.0)
        except TimeoutError:
            break
        await asyncio.sleep(0.1)
    deadline = loop.time() + 20
    async with httpx.AsyncClient() as http:
        while True:
            metrics = (await http.get(f"{h.url}/metrics")).text
            if "hub_connections_open 0.0" in metrics:
                break
            assert loop.time() < deadline, "slow reader still connected"
            await asyncio.sleep(0.5)
        assert 'hub_closes_total{code="4008"} 1.0' in metrics
        assert (await http.get(f"{h.url}/health")).status_code == 200
    sock.close()


async def test_per_address_connection_limits_close_4029(hub, player) -> None:  # type: ignore[no-untyped-def]
    h = hub(WS_MAX_CONNECTIONS_PER_IP="2")
    await player(h, 1)
    await player(h, 2)
    third = await player(h, 3, hello=False)
    assert await third.closed_with(5) == 4029
    h2 = hub(WS_CONNECTS_PER_IP_PER_MINUTE="2")
    for uid in (4, 5):
        c = await player(h2, uid)
        await c.ws.close()
    late = await player(h2, 6, hello=False)
    assert await late.closed_with(5) == 4029
