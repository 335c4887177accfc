"""Every refusal of PROTOCOL 4.2/4.3 over a real socket: auth, size, rate, malformed, blocks."""

import asyncio
import json
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
    async with connect(f"{h.ws_url}/ws", additional_headers={"Authorization": f"Bearer {token(8)}"}) as ws:
        assert json.loads(await ws.recv())["user_id"] == "8"


async def test_blocked_user_is_refused_and_open_connections_close_4503(hub, player, engine) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    p = await player(h, 31)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET blocked_at = now() WHERE id = 31"))
    assert await p.closed_with(5) == 4503
    q = await player(h, 31, hello=False)
    assert await q.closed_with(5) == 4503


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
        '"just a string"', "null", "{}", "1e999",
    ]
    for round_ in range(3):
        p = await player(h, 50 + round_)
        for i in range(9):
            frame = rng.choice(samples) if i % 2 else bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))).decode("latin-1")
            await p.ws.send(frame)
            reply = await p.recv()
            assert reply["type"] == "error" and reply["code"] == "bad_request", (frame, reply)
        started = await p.start(cid, tab=f"t{round_}", device="d", takeover=True)
        assert started["type"] == "started"
    assert h.proc.poll() is None


async def test_stop_without_session_is_no_session(hub, player) -> None:  # type: ignore[no-untyped-def]
    p = await player(hub(), 4)
    assert (await p.request("stop", "error", id="s"))["code"] == "no_session"
