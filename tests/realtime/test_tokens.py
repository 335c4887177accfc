"""The token matrix (devkit/tokens.py) on the hub: the WebSocket (`?token=` and the
`Authorization: Bearer` header, PROTOCOL 4), the `auth` message, and the HTTP fallback
endpoints (PROTOCOL 5). Each bad token is refused with the documented code and none is
accepted; a valid token is accepted (the control). docs/fuzzing.md has the table."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devkit.procs import AppProcess, http_status
from devkit.tokens import token_case_names, token_cases

CLOSE_FOR = {"expired": 4005, "unauthorized": 4501}
HTTP_CODE_FOR = {"expired": "token_expired", "unauthorized": "unauthorized"}
# Larger than websockets' 8 KiB request-line and header-line limits: refused before the
# upgrade, at the HTTP layer (see test_oversized_token_gets_an_http_refusal).
BEYOND_HANDSHAKE_LIMITS = {"oversized_64k"}
USER = 77


@pytest.fixture
async def token_hub(
    spawn: Callable[..., AppProcess], content: Any
) -> AsyncIterator[tuple[AppProcess, int]]:
    """One hub, run as in the container, and a published content, for the whole matrix."""
    cid = await content()
    proc = spawn(
        "realtime.app:app",
        {"WS_CONNECTS_PER_IP_PER_MINUTE": "100000"},
    )  # as deployed (core/launch.py)
    yield proc, cid
    assert http_status(proc.port, "/health") == 200  # no case took the process down


async def _connect_outcome(url: str, headers: dict[str, str] | None = None) -> str:
    """`hello`, `close:CODE`, `http:STATUS`, or `no-handshake` (nothing within 3 s)."""
    try:
        async with connect(url, additional_headers=headers, open_timeout=3) as ws:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            except ConnectionClosed as exc:
                return f"close:{exc.rcvd.code if exc.rcvd else 1006}"
            return str(frame["type"])
    except InvalidStatus as exc:
        return f"http:{exc.response.status_code}"
    except TimeoutError:
        return "no-handshake"


def _expected_close(expect: str) -> str:
    return "hello" if expect == "accept" else f"close:{CLOSE_FOR[expect]}"


def _bearer(token: str | None) -> dict[str, str]:
    # httpx refuses a header value with a trailing space: an empty token is sent as "Bearer".
    return {} if token is None else {"Authorization": f"Bearer {token}".strip()}


def _check(results: dict[str, tuple[str, str | tuple[str, ...]]]) -> None:
    """Fail with one line per case whose answer was not the documented one."""
    wrong = {
        name: (got, want)
        for name, (got, want) in results.items()
        if got != want and not (isinstance(want, tuple) and got in want)
    }
    assert not wrong, "\n".join(f"{n}: got {g}, documented {w}" for n, (g, w) in wrong.items())
    assert set(results) == set(token_case_names())


async def test_websocket_query_token(token_hub: tuple[AppProcess, int], settings: Any) -> None:
    """`/ws?token=`: accepted with hello, or closed 4005 (expired) / 4501 (every other refusal);
    a token beyond the handshake's limits never gets to an upgrade."""
    proc, _ = token_hub
    results: dict[str, tuple[str, str | tuple[str, ...]]] = {}
    for name, case in token_cases(settings, USER).items():
        url = f"{proc.ws_url}/ws" + ("" if case.token is None else f"?token={case.token}")
        want = (
            ("http:414", "no-handshake")
            if name in BEYOND_HANDSHAKE_LIMITS
            else _expected_close(case.expect)
        )
        results[name] = (await _connect_outcome(url), want)
    _check(results)


async def test_websocket_bearer_header(token_hub: tuple[AppProcess, int], settings: Any) -> None:
    """`Authorization: Bearer` on the upgrade: the same answers as the query parameter."""
    proc, _ = token_hub
    results: dict[str, tuple[str, str | tuple[str, ...]]] = {}
    for name, case in token_cases(settings, USER).items():
        want = (
            ("http:431", "no-handshake")
            if name in BEYOND_HANDSHAKE_LIMITS
            else _expected_close(case.expect)
        )
        results[name] = (await _connect_outcome(f"{proc.ws_url}/ws", _bearer(case.token)), want)
    _check(results)


async def test_oversized_token_gets_an_http_refusal(
    token_hub: tuple[AppProcess, int], settings: Any
) -> None:
    """A 64 KiB token is refused before the upgrade with 414 (query) or 431 (header), promptly.
    (Plain uvicorn 0.54 never writes websockets' refusal: realtime.wsdirect does.)"""
    proc, _ = token_hub
    big = token_cases(settings, USER)["oversized_64k"].token
    assert await _connect_outcome(f"{proc.ws_url}/ws?token={big}") == "http:414"
    assert await _connect_outcome(f"{proc.ws_url}/ws", _bearer(big)) == "http:431"


async def _auth_outcome(url: str, token: str | None) -> str:
    async with connect(url, open_timeout=5) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        message: dict[str, Any] = {"type": "auth", "id": "a"}
        if token is not None:
            message["token"] = token
        await ws.send(json.dumps(message))
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as exc:
            return f"close:{exc.rcvd.code if exc.rcvd else 1006}"
        got = reply["type"] if reply["type"] != "error" else f"error:{reply['code']}"
        if reply.get("ref") != "a":
            got += " (no ref)"
        await ws.send(json.dumps({"type": "ping", "id": "p"}))  # the connection stays usable
        pong = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return got if pong == {"type": "pong", "ref": "p"} else f"{got}, then {pong}"


async def test_auth_message(token_hub: tuple[AppProcess, int], settings: Any, token: Any) -> None:
    """`auth` on an open connection: `authed` for a valid token of the same user, else error
    bad_request with the connection kept (docs/protocol-notes.md); a token too big for a
    4 KiB frame closes 1009 like any oversized frame."""
    proc, _ = token_hub
    url = f"{proc.ws_url}/ws?token={token(USER)}"
    results: dict[str, tuple[str, str | tuple[str, ...]]] = {}
    for name, case in token_cases(settings, USER).items():
        big = case.token is not None and len(case.token) > 4000
        want = "close:1009" if big else "authed" if case.expect == "accept" else "error:bad_request"
        results[name] = (await _auth_outcome(url, case.token), want)
    _check(results)


async def test_http_fallback(token_hub: tuple[AppProcess, int], settings: Any) -> None:
    """Both fallback endpoints: 401 token_expired / 401 unauthorized for every bad token; the
    valid one gets through (200 for the timer, 200 for its out-event)."""
    proc, cid = token_hub
    results: dict[str, tuple[str, str | tuple[str, ...]]] = {}
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
        for name, case in token_cases(settings, USER).items():
            tab = f"t-{name}"
            body = {
                "content_id": cid,
                "tab_id": tab,
                "device_id": "d",
                "playing": True,
                "visible": True,
                "takeover": True,
            }
            answers = []
            for path, payload in (
                ("/api/service/timer-session", body),
                ("/api/service/out-event", {"content_id": cid, "tab_id": tab}),
            ):
                r = await http.post(path, json=payload, headers=_bearer(case.token))
                answers.append(
                    str(r.status_code)
                    if r.status_code == 200
                    else f"{r.status_code} {r.json()['error']['code']}"
                )
            want = "200" if case.expect == "accept" else f"401 {HTTP_CODE_FOR[case.expect]}"
            results[name] = (" / ".join(answers), f"{want} / {want}")
    _check(results)


async def test_query_token_is_not_read_by_the_http_fallback(
    token_hub: tuple[AppProcess, int], token: Any
) -> None:
    """The fallback takes the bearer header only (PROTOCOL 5): a valid `?token=` is missing."""
    proc, cid = token_hub
    async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:
        r = await http.post(
            f"/api/service/out-event?token={token(USER)}", json={"content_id": cid, "tab_id": "t"}
        )
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
