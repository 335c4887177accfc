"""The HTTP fallback's contract through real hub processes: 503 with `Retry-After` while its
Redis is down (and recovery), a session that survives its hub's restart, paused and hidden
calls that earn nothing, and the per-user call limit shared by every node."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx

from tests.realtime.conftest import FAST
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until

PARTITIONS = int(FAST["REDIS_PARTITIONS"])
TIMER = "/api/service/timer-session"
OUT = "/api/service/out-event"


def auth(token: Any, uid: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(uid)}"}


def as_frames(stream: list[dict[str, Any]], reply: dict[str, Any]) -> None:
    """A `timer-session` reply as the frames a WebSocket player would have seen (the
    conservation oracle reads those): the first of a session is its `started`, each later
    one a `tick`, preceded by its `reward`s."""
    data = reply["data"]
    known = {f.get("session_id") for f in stream if f["type"] == "started"}
    if data["session_id"] not in known:
        stream.append({"type": "started", "session_id": data["session_id"]})
        assert data["credited_ms"] == 0, data
        return
    stream.extend({"type": "reward", **r} for r in data["rewards"])
    stream.append({"type": "tick", **{k: data[k] for k in ("elapsed_ms", "credited_ms")}})


async def test_503_with_retry_after_while_redis_is_down_then_it_recovers(
    hub, content, http, token, make_redis_server
) -> None:  # type: ignore[no-untyped-def]
    """docs/protocol-notes.md: while Redis refuses connections the fallback answers 503
    `unavailable` with `Retry-After: 1` in the REST envelope (not a 500, not a hang); the hub
    stays up and answers 200 again once Redis is back."""
    live = make_redis_server()
    h = hub(REDIS_URL=live.url)
    cid = await content()
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    first = await http.post(f"{h.url}{TIMER}", json=body, headers=auth(token, 91))
    assert first.status_code == 200, first.text
    live.stop()
    try:
        for path, payload in ((TIMER, body), (OUT, {"content_id": cid, "tab_id": "t"})):
            r = await http.post(f"{h.url}{path}", json=payload, headers=auth(token, 91))
            assert (r.status_code, r.headers.get("Retry-After")) == (503, "1"), (path, r.text)
            envelope = r.json()
            assert (envelope["success"], envelope["data"]) == (False, None)
            assert envelope["error"]["code"] == "unavailable"
            assert envelope["error"]["traceId"] == r.headers["X-Request-ID"]
        assert (await http.get(f"{h.url}/health")).status_code == 200
    finally:
        live.start()

    async def answered() -> httpx.Response | None:
        r = await http.post(f"{h.url}{TIMER}", json=body, headers=auth(token, 91))
        return r if r.status_code == 200 else None

    back = await wait_until(answered, 15, "a 200 once Redis is back")
    assert back.json()["success"] is True and back.json()["data"]["content_id"] == cid
    assert h.proc.poll() is None


async def test_a_session_survives_its_hubs_restart_and_paused_calls_earn_nothing(
    hub, content, http, token, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """A page keeps calling while its hub is killed and another takes its place (same
    Redis): the next call resumes the same session (`resumed`, same `session_id`), with
    the time credited before the restart, and credits the gap as a heartbeat would (at most
    the cap, docs/protocol-notes.md). Paused and hidden calls credit 0 and change nothing.
    The out-event's `watched_ms` is every call's credit, and the oracle checks the rest
    (credited ≤ real time, session row, rewards shown = ledger)."""
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    a = hub()
    cid = await content(reward_interval_ms=1000)
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}
    stream: list[dict[str, Any]] = []
    watch = Watch(92, [stream], stop_credits=True)

    async def call(h: Any, **change: Any) -> dict[str, Any]:
        r = await http.post(f"{h.url}{TIMER}", json={**body, **change}, headers=auth(token, 92))
        assert r.status_code == 200, r.text
        reply = r.json()
        as_frames(stream, reply)
        return dict(reply["data"])

    opened = await call(a)
    replies = []
    for _ in range(4):
        await asyncio.sleep(0.3)  # watching
        replies.append(await call(a))
    for change in ({"playing": False}, {"visible": False}, {"playing": False, "visible": False}):
        await asyncio.sleep(0.3)  # paused or hidden: not watching
        idle = await call(a, **change)
        assert (idle["credited_ms"], idle["elapsed_ms"], idle["rewards"]) == (
            0,
            replies[-1]["elapsed_ms"],
            [],
        ), idle
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    b = hub()
    resumed = await call(b)
    assert resumed["session_id"] == opened["session_id"] and resumed["resumed"] is True
    assert 0 < resumed["credited_ms"] <= 1500, resumed
    assert resumed["elapsed_ms"] == replies[-1]["elapsed_ms"] + resumed["credited_ms"]
    await asyncio.sleep(0.3)
    last = await call(b)
    assert last["session_id"] == opened["session_id"]
    out = await http.post(
        f"{b.url}{OUT}", json={"content_id": cid, "tab_id": "t"}, headers=auth(token, 92)
    )
    watch.ended = time.time()
    assert out.json()["data"] == {"content_id": cid, "watched_ms": last["elapsed_ms"]}
    stream.append({"type": "stopped", "watched_ms": out.json()["data"]["watched_ms"]})
    assert last["elapsed_ms"] == sum(f["credited_ms"] for f in stream if f["type"] == "tick")
    assert watch.rewards(), "the session crossed no boundary"
    await conserved(engine, [watch], heartbeat_ms=int(FAST["HEARTBEAT_INTERVAL_MS"]))


async def test_the_call_limit_is_shared_by_the_nodes(hub, content, http, token) -> None:  # type: ignore[no-untyped-def]
    """docs/protocol-notes.md: fallback calls are limited per user to
    WS_MAX_MESSAGES_PER_SECOND per second across all nodes. Two hubs on one Redis, a limit
    of 3: after three calls on node A within one second, node B refuses the same user's
    calls with 429 `rate_limited` and `Retry-After: 1`, while another user gets through on
    B. A round that straddles a second of the hubs' clock (the same machine's) is not
    evidence either way and is drawn again."""
    a, b = hub(WS_MAX_MESSAGES_PER_SECOND="3"), hub(WS_MAX_MESSAGES_PER_SECOND="3")
    cid = await content()
    body = {"content_id": cid, "tab_id": "t", "device_id": "d", "playing": True, "visible": True}

    async def post(h: Any, uid: int) -> httpx.Response:
        return await http.post(f"{h.url}{TIMER}", json=body, headers=auth(token, uid))

    for _ in range(5):
        await asyncio.sleep(1 - time.time() % 1 + 0.01)  # just past a second's start
        began = time.time()
        on_a = [await post(a, 93) for _ in range(3)]
        on_b = [await post(b, 93) for _ in range(2)]
        other = await post(b, 94)
        if int(time.time()) == int(began):
            break
    else:
        raise AssertionError("no round of calls fitted in one second")
    assert [r.status_code for r in on_a] == [200, 200, 200], [r.text for r in on_a]
    assert [r.status_code for r in on_b] == [429, 429], [r.text for r in on_b]
    assert all(r.headers["Retry-After"] == "1" for r in on_b)
    assert all(r.json()["error"]["code"] == "rate_limited" for r in on_b)
    assert other.status_code == 200, other.text
