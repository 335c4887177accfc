"""A signing-key rotation on a running hub (docs/operations.md, "Rotating the token signing
keys"): the key file changes under a live hub process, and its open connections go on -
watching, refreshing their token with one of the new key - while new connections with
either key are admitted, without a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jose import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.settings import load_settings
from core.tokens import issue_access
from devkit import jwks

USER = 4242


async def outcome(hub: Any, token: str) -> str:
    """`hello` or `close:CODE` for a new connection with this token."""
    async with connect(f"{hub.ws_url}/ws?token={token}", open_timeout=5) as ws:
        try:
            return str(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
        except ConnectionClosed as exc:
            return f"close:{exc.rcvd.code if exc.rcvd else 1006}"


async def until(check: Callable[[], Any], timeout: float = 15.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def test_live_connections_survive_a_rotation(
    hub: Callable[..., Any], player: Any, content: Any, env: dict[str, str], tmp_path: Path
) -> None:
    """Connected with the old key, a player keeps watching across the rotation and renews
    its token with a new-key token (`authed`); new connections with the new key are
    admitted once the hub has read the file, and old-key ones until the key is removed."""
    path = tmp_path / "keys.json"
    old, new = jwks.new_oct("k-old"), jwks.new_rsa("k-new")
    jwks.write(path, [old])
    settings = load_settings({**env, "JWT_KEYS_FILE": str(path)})
    cid = await content()
    proc = hub(JWT_KEYS_FILE=str(path))
    old_token = issue_access(settings, USER)
    live = await player(proc, USER, old_token)
    assert (await live.start(cid))["type"] == "started"

    jwks.write(path, [old, new])
    # (this test process reads the file once a second too: wait for it to sign with k-new)
    assert await until(lambda: _signs_with(settings, "k-new"))
    new_token = issue_access(settings, USER)
    assert await until(lambda: _is(outcome(proc, new_token), "hello"))
    assert (await live.request("auth", "authed", token=new_token))["expires_at"] > 0
    tick = await live.request("heartbeat", "tick", playing=True, visible=True)
    assert tick["content_id"] == cid
    assert await outcome(proc, old_token) == "hello"  # still valid until it expires

    jwks.write(path, [new])  # the runbook's last step, once old tokens have expired
    assert await until(lambda: _is(outcome(proc, old_token), "close:4501"))
    assert (await live.request("ping", "pong"))["type"] == "pong"
    assert await outcome(proc, new_token) == "hello"
    assert proc.running


async def _signs_with(settings: Any, kid: str) -> bool:
    return bool(jwt.get_unverified_header(issue_access(settings, USER))["kid"] == kid)


async def _is(awaitable: Any, expected: str) -> bool:
    return bool(await awaitable == expected)
