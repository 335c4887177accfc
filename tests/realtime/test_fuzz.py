"""WebSocket fuzzing against a real hub process (docs/fuzzing.md): hypothesis draws scripts of
frames (random bytes as text and binary, deep JSON, huge numbers, unicode, wrong types, unknown
types, missing fields, messages out of order, oversized frames, floods) and every reply is
checked against the contract (devkit/wsfuzz/). A CI-sized run: a few thousand frames.
loadtests/fuzz.py runs the same strategies for 100k+ frames and watches the hub's memory.

The hub runs with the container's uvicorn flags (the direct lane of realtime/wsdirect.py,
--ws-max-size 4096, no deflate), and again over uvicorn's plain websockets-sansio ASGI events
(the hub's other path: realtime/connection.py handles both). Each example is one connection of a fresh user, so examples do not depend on each
other, and the hub is shared by all examples of a test on purpose (the property includes
"the process survives all of them"): hence HealthCheck.function_scoped_fixture is suppressed.
derandomize + no database: CI runs the same examples every time.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.procs import AppProcess, http_status
from devkit.wsfuzz import (
    Failure,
    Frame,
    Script,
    Tally,
    Target,
    flood_scripts,
    log_line_is_a_fault,
    play,
    scripts,
    token_maker,
    watch_scripts,
)
from tests.support.conservation import Watch, conserved

# Lock-step fuzzing sends faster than 20 frames/s on one connection and opens hundreds of
# connections from 127.0.0.1: lift the rate (to its 10,000/s maximum, which one lock-step
# connection cannot reach) and per-address gates, so that each reply is exact.
# Floods run on a second hub with the default limits.
GATES_OFF = {
    "WS_MAX_MESSAGES_PER_SECOND": "10000",
    "WS_CONNECTS_PER_IP_PER_MINUTE": "1000000",
    "WS_MAX_CONNECTIONS_PER_IP": "1000000",
}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
_users = itertools.count(10_000)


class Fuzzed:
    """A hub under fuzz: plays scripts, keeps the totals, checks the process after each one."""

    def __init__(self, proc: AppProcess, target: Target, heartbeat_ms: int) -> None:
        self.proc = proc
        self.target = target
        self.heartbeat_ms = heartbeat_ms
        self.tally = Tally()
        self.log_seen = 0

    async def play(self, script: Script) -> Tally:
        tally = await play(self.target, next(_users), script)
        self.tally.add(tally)
        await self.check_alive()
        return tally

    async def check_alive(self) -> None:
        assert self.proc.proc.poll() is None, "the hub died:\n" + self.proc.output_tail()
        assert http_status(self.proc.port, "/health", timeout=5.0) == 200
        log = self.proc.stderr_text()
        new, self.log_seen = log[self.log_seen :], len(log)
        bad = [line for line in new.splitlines() if log_line_is_a_fault(line)]
        assert not bad, "\n".join(bad[:5])

    async def check_conserved(self, engine: Any) -> dict[str, tuple[int, int]]:
        """Every connection was one user's watch: the conservation oracle over all of them
        (credited time, sessions' rows, each `reward` in the ledger once with its amount)."""
        assert self.tally.ledgers, "no connection was recorded"
        watches = [
            Watch(led.user_id, [led.stream], led.began, led.ended) for led in self.tally.ledgers
        ]
        return await conserved(engine, watches, heartbeat_ms=self.heartbeat_ms)


# The hub as deployed (core/launch.py), and the same over uvicorn's plain ASGI events.
LANES: dict[str, list[str]] = {"direct": [], "asgi": ["--ws", "websockets-sansio"]}


# The hubs and their worker (the drain to the ledger) share the partition count.
PARTITIONS = {"REDIS_PARTITIONS": "8"}
# Watching for rewards: the shortest reward interval and heartbeat the knobs allow, and a
# daily cap of one reward, so that a player who watches two intervals also gets the notice.
WATCHING = {
    **GATES_OFF,
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": "100",
    "DAILY_REWARD_CAP": "1",
}


def _fuzzed(
    spawn: Callable[..., AppProcess],
    settings: Any,
    cid: int,
    env: dict[str, str],
    lane: str,
    keep: bool = False,
) -> Fuzzed:
    proc = spawn("realtime.app:app", {**PARTITIONS, **env}, extra_args=LANES[lane])
    limit = int(env.get("WS_MAX_MESSAGES_PER_SECOND", "20"))
    heartbeat_ms = int(env.get("HEARTBEAT_INTERVAL_MS", settings.runtime.heartbeat_interval_ms))
    target = Target(proc.ws_url, token_maker(settings), frozenset({cid}), limit, keep_ledgers=keep)
    return Fuzzed(proc, target, heartbeat_ms)


@pytest.fixture(params=list(LANES))
async def fuzz_hub(
    spawn: Callable[..., AppProcess],
    content: Any,
    settings: Any,
    request: Any,
    worker: Callable[..., Any],
    engine: Any,
) -> AsyncIterator[Fuzzed]:
    """A hub with a published content and the rate and address gates lifted, and a worker;
    at the end, every connection's watch is conserved."""
    worker(**PARTITIONS)
    hub = _fuzzed(spawn, settings, await content(), GATES_OFF, request.param, keep=True)
    yield hub
    print(_summary(hub.tally))  # shown with -s, or when the test fails
    await hub.check_conserved(engine)


@pytest.fixture(params=list(LANES))
async def watch_hub(
    spawn: Callable[..., AppProcess],
    content: Any,
    settings: Any,
    request: Any,
    worker: Callable[..., Any],
    engine: Any,
) -> AsyncIterator[Fuzzed]:
    """A hub that grants a reward per second watched (one a day per user) and a worker."""
    worker(**PARTITIONS)
    hub = _fuzzed(spawn, settings, await content(), WATCHING, request.param, keep=True)
    yield hub
    print(_summary(hub.tally))


@pytest.fixture(params=list(LANES))
async def flood_hub(
    spawn: Callable[..., AppProcess], content: Any, settings: Any, request: Any
) -> AsyncIterator[Fuzzed]:
    """A hub with a published content and the default rate limit (20 frames/s)."""
    hub = _fuzzed(
        spawn,
        settings,
        await content(),
        {"WS_CONNECTS_PER_IP_PER_MINUTE": "1000000"},
        request.param,
    )
    yield hub
    print(_summary(hub.tally))


@settings(FUZZ, max_examples=5)
@given(data=st.data())
async def test_watching_is_credited_and_paid_as_shown(
    watch_hub: Fuzzed, engine: Any, data: st.DataObject
) -> None:
    """Players that watch for a few seconds between other frames: every reply as documented,
    every tick within the credit cap and in sum within the time since connect plus one cap,
    every `reward`, `viewers` and `notice` push of its documented shape (checked as they
    come); and the rewards shown are the ledger's, each once with its amount (the
    conservation oracle, over this example's player)."""
    target = watch_hub.target
    beat_s = watch_hub.heartbeat_ms / 1000
    script = data.draw(watch_scripts(tuple(target.watchable), beat_s), label="watch")
    before = len(watch_hub.tally.ledgers)
    tally = await watch_hub.play(script)
    assert not tally.failures, f"{tally.failures[0]}"
    (led,) = watch_hub.tally.ledgers[before:]
    await conserved(
        engine,
        [Watch(led.user_id, [led.stream], led.began, led.ended)],
        heartbeat_ms=watch_hub.heartbeat_ms,
    )


async def test_watching_two_intervals_gets_a_reward_the_notice_and_viewers(
    watch_hub: Fuzzed, engine: Any
) -> None:
    """The checks above are not vacuous: a player that watches three reward intervals in
    heartbeats one interval apart is pushed its reward, the daily cap's notice and its
    content's viewer count, all of their documented shape, and the ledger pays exactly the
    reward it was shown."""
    (cid,) = watch_hub.target.watchable
    beat_s = watch_hub.heartbeat_ms / 1000
    start = {"type": "start", "content_id": cid, "tab_id": "t", "device_id": "d"}
    beat = {"type": "heartbeat", "playing": True, "visible": True}
    frames = [Frame("fixed:start", start)]
    frames += [Frame("fixed:heartbeat", beat, pause=beat_s) for _ in range(30)]
    frames.append(Frame("fixed:stop", {"type": "stop"}))
    tally = await watch_hub.play(Script(tuple(frames)))
    assert not tally.failures, tally.failures
    paid = await watch_hub.check_conserved(engine)
    assert len(paid) == 1 and tally.replies["push:reward"] == 1, (paid, tally.replies)
    assert tally.replies["push:notice"] == 1 and tally.replies["push:viewers"] > 0, tally.replies


def _summary(tally: Tally) -> str:
    return (
        f"\nfuzz: {tally.frames} frames on {tally.connections} connections; frames by kind "
        f"{dict(tally.labels.most_common())}; replies {dict(tally.replies.most_common())}"
    )


@settings(FUZZ, max_examples=220)
@given(data=st.data())
async def test_every_frame_gets_its_documented_reply(fuzz_hub: Fuzzed, data: st.DataObject) -> None:
    """Any frame, in any order, is answered as PROTOCOL 4 and docs/protocol-notes.md say (an
    error with the documented code or the documented close), never 1006/1011, and the hub
    keeps answering /health."""
    script = data.draw(scripts(tuple(fuzz_hub.target.watchable)), label="script")
    tally = await fuzz_hub.play(script)
    assert not tally.failures, f"{tally.failures[0]}"


@settings(FUZZ, max_examples=30)
@given(data=st.data())
async def test_floods_are_rate_limited_or_closed_4029(
    flood_hub: Fuzzed, data: st.DataObject
) -> None:
    """A burst beyond WS_MAX_MESSAGES_PER_SECOND (default 20) is answered in order, each frame
    with its own reply or `rate_limited`, or closed 4029; nothing else."""
    target = flood_hub.target
    script = data.draw(flood_scripts(tuple(target.watchable), target.rate_limit), label="flood")
    tally = await flood_hub.play(script)
    assert not tally.failures, f"{tally.failures[0]}"


async def test_out_of_order_messages(fuzz_hub: Fuzzed) -> None:
    """Heartbeat and stop before start, a double start, a start on another tab, stop twice:
    the fixed sequences the random scripts may or may not hit."""
    (cid,) = fuzz_hub.target.watchable

    def msg(**tree: Any) -> Frame:
        return Frame(f"fixed:{tree['type']}", tree)

    start = {"type": "start", "content_id": cid, "tab_id": "t", "device_id": "d"}
    fixed = [
        msg(type="heartbeat", playing=True, visible=True, id="h0"),  # no_session
        msg(type="stop", id="s0"),  # no_session
        msg(**start, id="a"),
        msg(**start, id="b"),  # started, resumed
        msg(**{**start, "tab_id": "other"}, id="c"),  # session_conflict
        msg(**{**start, "content_id": 10**15}, id="d"),  # content_unavailable; session kept
        msg(type="heartbeat", playing=True, visible=True, id="h1"),  # tick
        msg(**{**start, "tab_id": "other", "takeover": True}, id="e"),  # started (own takeover)
        msg(type="stop", id="s1"),
        msg(type="stop", id="s2"),  # stopped, no_session
        msg(type="heartbeat", playing=False, visible=False),  # no_session
    ]
    tally = await fuzz_hub.play(Script(tuple(fixed)))
    assert not tally.failures, tally.failures
    assert tally.replies == {
        "error:no_session": 4,
        "started": 3,
        "error:session_conflict": 1,
        "error:content_unavailable": 1,
        "tick": 1,
        "stopped": 1,
    }, tally.replies


async def test_malformed_frames_close_4500_on_the_eleventh(fuzz_hub: Fuzzed) -> None:
    """Ten malformed frames are answered bad_request (binary ones too); the 11th closes 4500."""
    junk = [Frame("raw", raw="{"), Frame("binary", raw=b"\x00", binary=True)] * 5 + [
        Frame("raw", raw="]")
    ]
    tally = await fuzz_hub.play(Script(tuple(junk)))
    assert not tally.failures, tally.failures
    assert tally.replies == {"error:bad_request": 10, "close:4500": 1}


def test_failure_message_names_the_frame() -> None:
    """What a failing run prints: the frame, what was allowed, what came."""
    text = str(Failure("raw", 3, "'{'", ["error:bad_request"], "close:1011"))
    assert "frame 3 (raw)" in text and "close:1011" in text
