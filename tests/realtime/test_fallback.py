"""HTTP fallback timer endpoints on the hub: same sessions and rules as the WebSocket."""

import asyncio
import random

import pytest


def auth(token, uid: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {token(uid)}"}


async def test_first_call_opens_later_calls_credit_and_reward(hub, content, http, token) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    first = await http.post(
        f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 81)
    )
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert (data["credited_ms"], data["elapsed_ms"], data["viewers"]) == (0, 0, 1)
    rewards = []
    for _ in range(6):
        await asyncio.sleep(0.3)
        r = (
            await http.post(
                f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 81)
            )
        ).json()
        assert r["success"] and r["data"]["session_id"] == data["session_id"]
        rewards += r["data"]["rewards"]
    assert [x["reward_id"] for x in rewards] == [
        f"w:81:{cid}:{n}" for n in range(1, len(rewards) + 1)
    ]
    assert rewards and rewards[-1]["balance"] == 10 * len(rewards)
    out = await http.post(
        f"{h.url}/api/service/out-event",
        json={"content_id": cid, "tab_id": "t"},
        headers=auth(token, 81),
    )
    assert out.json()["data"] == {"content_id": cid, "watched_ms": r["data"]["elapsed_ms"]}
    again = await http.post(
        f"{h.url}/api/service/out-event",
        json={"content_id": cid, "tab_id": "t"},
        headers=auth(token, 81),
    )
    assert again.status_code == 404 and again.json()["error"]["code"] == "no_session"


async def test_out_event_with_the_last_period_credits_it_before_the_stop(
    hub, content, http, token
) -> None:  # type: ignore[no-untyped-def]
    """An out-event that carries `device_id`, `playing` and `visible` credits the time since
    the last call (as a heartbeat would) before it stops; one that says paused does not."""
    h = hub()
    cid = await content()
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    opened = await http.post(
        f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 87)
    )
    assert opened.json()["data"]["elapsed_ms"] == 0
    await asyncio.sleep(0.4)
    out = await http.post(f"{h.url}/api/service/out-event", json=body, headers=auth(token, 87))
    assert out.status_code == 200, out.text
    assert 400 <= out.json()["data"]["watched_ms"] < 1000
    # Paused at the end: the stop credits nothing.
    await http.post(f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 87))
    await asyncio.sleep(0.4)
    paused = {**body, "playing": False}
    out = await http.post(f"{h.url}/api/service/out-event", json=paused, headers=auth(token, 87))
    assert out.json()["data"]["watched_ms"] == 0
    # Another tab's out-event with a period neither credits nor stops this one's session.
    await http.post(f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 87))
    other = await http.post(
        f"{h.url}/api/service/out-event", json={**body, "tab_id": "u"}, headers=auth(token, 87)
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "no_session"
    tick = await http.post(f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 87))
    assert tick.json()["data"]["resumed"] is True


async def test_websocket_and_fallback_are_one_session(hub, player, content, http, token) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    ws = await player(h, 82)
    await ws.start(cid, tab="ws-tab", device="tv")
    body = {
        "content_id": cid,
        "tab_id": "http-tab",
        "device_id": "old-phone",
        "playing": True,
        "visible": True,
    }
    conflict = await http.post(
        f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 82)
    )
    assert conflict.status_code == 409
    err = conflict.json()["error"]
    assert err["code"] == "session_conflict" and err["details"]["active_device_id"] == "tv"
    taken = await http.post(
        f"{h.url}/api/service/timer-session",
        json={**body, "takeover": True},
        headers=auth(token, 82),
    )
    assert taken.status_code == 200
    assert (await ws.expect("replaced"))["by_device_id"] == "old-phone"
    assert await ws.closed_with() == 4509


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content_id"),
        (
            {"content_id": "1", "tab_id": "t", "device_id": "d", "playing": True, "visible": True},
            "content_id",
        ),
        (
            {"content_id": 1, "tab_id": "", "device_id": "d", "playing": True, "visible": True},
            "tab_id",
        ),
        (
            {"content_id": 1, "tab_id": "t", "device_id": "d", "playing": 1, "visible": True},
            "playing",
        ),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(hub, http, token, body, field) -> None:  # type: ignore[no-untyped-def]
    r = await http.post(
        f"{hub().url}/api/service/timer-session", json=body, headers=auth(token, 83)
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request" and field in r.text


async def test_auth_errors_and_unknown_content(hub, http, token) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    body = {"content_id": 424242, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    url = f"{h.url}/api/service/timer-session"
    r = await http.post(url, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await http.post(url, json=body, headers={"Authorization": f"Bearer {token(84, ttl_s=-5)}"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_expired")
    r = await http.post(url, json=body, headers=auth(token, 84))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "content_unavailable")
    r = await http.post(
        f"{h.url}/api/service/out-event",
        json={"content_id": 1, "tab_id": "t"},
        headers=auth(token, 84),
    )
    assert (r.status_code, r.json()["error"]["code"]) == (404, "no_session")


async def test_rate_limit_is_429_with_retry_after(hub, content, http, token) -> None:  # type: ignore[no-untyped-def]
    h = hub(WS_MAX_MESSAGES_PER_SECOND="3")
    body = {
        "content_id": await content(),
        "tab_id": "t",
        "device_id": "d",
        "playing": True,
        "visible": True,
    }
    replies = await asyncio.gather(
        *(
            http.post(f"{h.url}/api/service/timer-session", json=body, headers=auth(token, 85))
            for _ in range(8)
        )
    )
    limited = [r for r in replies if r.status_code == 429]
    assert limited and all(r.headers["Retry-After"] == "1" for r in limited)
    assert limited[0].json()["error"]["code"] == "rate_limited"


async def test_garbage_bodies_never_get_a_5xx(hub, http, token) -> None:  # type: ignore[no-untyped-def]
    h = hub(WS_MAX_MESSAGES_PER_SECOND="1000")
    rng = random.Random(3)
    payloads = [
        b"",
        b"null",
        b"[]",
        b"{",
        b"\xff\xfe",
        b'{"content_id":' + b"9" * 500 + b"}",
        b'{"content_id":' + b"[" * 3000 + b"]" * 3000 + b"}",
    ]
    payloads += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(20)]
    for path in ("/api/service/timer-session", "/api/service/out-event"):
        for payload in payloads:
            r = await http.post(f"{h.url}{path}", content=payload, headers=auth(token, 86))
            assert r.status_code == 400, (payload, r.status_code, r.text)
            assert r.json()["error"]["code"] == "bad_request"
    assert h.proc.poll() is None
