"""The player: plays a script on a fresh connection over loopback and checks every reply
(lock-step, or a flood read after its burst)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from devkit.wsfuzz.contract import Expect, Frame, Script, classify
from devkit.wsfuzz.model import Close, Outcome, Reply, State, step
from devkit.wsfuzz.pushes import PUSHES, Ledger

# --- the runner ----------------------------------------------------------------------------

# uvicorn's websockets-sansio logs a text frame that is not UTF-8 at level error, with the
# traceback of its own decode, before it closes 1007 as RFC 6455 wants: the documented path.
_EXPECTED_ERRORS = ("Invalid UTF-8 sequence received from client.",)


def log_line_is_a_fault(line: str) -> bool:
    """A hub log line that shows a fault: an error, a traceback, an ASGI exception."""
    if any(known in line for known in _EXPECTED_ERRORS):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return "Traceback" in line or "Exception in ASGI" in line
    if not isinstance(record, dict):
        return False
    return record.get("level") in ("error", "critical") or "exc" in record


@dataclass
class Failure:
    label: str
    index: int
    frame: str
    allowed: list[str]
    got: str
    # The connection up to here: (frame, its reply, malformed frames the model counted).
    transcript: list[tuple[str, str, int]] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"frame {self.index} ({self.label}) {self.frame[:200]!r}: allowed "
            f"{self.allowed}, got {self.got}"
        )


@dataclass
class Tally:
    """What a run saw: replies by kind (pushes too), frames sent, failures, and (when the
    target keeps them) each connection's `Ledger`: what it received and was credited."""

    frames: int = 0
    connections: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    ledgers: list[Ledger] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.connections += other.connections
        self.replies.update(other.replies)
        self.labels.update(other.labels)
        self.failures.extend(other.failures)
        self.ledgers.extend(other.ledgers)


def token_maker(settings: Any) -> Callable[[int, str], str]:
    """`make(user_id, case)`: a token for a connection's user: `valid`, `other_user` (valid,
    for the next user id) or a case of devkit/tokens.py's matrix."""
    from core.tokens import issue_access
    from devkit.tokens import token_cases

    cache: dict[int, dict[str, str | None]] = {}

    def make(user_id: int, case: str) -> str:
        if case == "valid":
            return str(issue_access(settings, user_id))
        if case == "other_user":
            return str(issue_access(settings, user_id + 1))
        if user_id not in cache:
            cache.clear()
            cache[user_id] = {k: c.token for k, c in token_cases(settings, user_id).items()}
        return cache[user_id][case] or ""

    return make


@dataclass
class Target:
    """Where and as whom to play: `ws_url` (ws://127.0.0.1:PORT), `token(user_id, case)`."""

    ws_url: str
    token: Callable[[int, str], str]
    watchable: frozenset[int]
    rate_limit: int = 20
    reply_timeout: float = 10.0
    keep_ledgers: bool = False  # keep each connection's frames (for the conservation oracle)


def _observe(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    frame = json.loads(raw)
    key = frame["type"] if frame["type"] != "error" else f"error:{frame.get('code')}"
    return key, frame


async def _next(ws: Any, timeout: float, ledger: Ledger) -> Close | tuple[str, dict[str, Any]]:
    """The next direct reply, or the close. Every frame goes to the ledger, which checks the
    pushes (skipped here) and the ticks."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except ConnectionClosed as exc:
            return Close(exc.rcvd.code if exc.rcvd else 1006)
        key, frame = _observe(raw)
        ledger.seen(frame)
        if key not in PUSHES:
            return key, frame


def _describe(got: Close | tuple[str, dict[str, Any]]) -> str:
    return got.key() if isinstance(got, Close) else f"{got[0]} {json.dumps(got[1])[:200]}"


async def play(target: Target, user_id: int, script: Script) -> Tally:
    """Play one script on a fresh connection of a fresh user; every reply is checked."""
    tally = Tally(connections=1)
    ledger = Ledger(user_id, target.watchable)
    if target.keep_ledgers:
        tally.ledgers.append(ledger)
    token = target.token(user_id, "valid")
    url = f"{target.ws_url}/ws?token={token}"
    try:
        ws = await connect(
            url,
            open_timeout=target.reply_timeout,
            max_size=2**20,
            compression=None,
            ping_interval=None,
        )
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        tally.failures.append(Failure("connect", -1, url[:80], ["hello"], repr(exc)))
        return tally
    try:
        hello = await _next(ws, target.reply_timeout, ledger)
        if isinstance(hello, Close) or hello[0] != "hello":
            tally.failures.append(Failure("connect", -1, "", ["hello"], _describe(hello)))
            return tally
        ledger.hello(hello[1])
        if script.flood:
            await _flood(ws, target, user_id, script, tally, ledger)
        else:
            await _lockstep(ws, target, user_id, script, tally, ledger)
    finally:
        await ws.close()
        ledger.ended = time.time()
    for frame in ledger.stream:
        if frame.get("type") in PUSHES:
            tally.replies[f"push:{frame['type']}"] += 1
    if ledger.problem is not None and not tally.failures:
        tally.failures.append(Failure("push", -1, "", ["the documented frame"], ledger.problem))
    return tally


def _send_args(frame: Frame, target: Target, user_id: int) -> tuple[str | bytes, bool]:
    payload = frame.payload(lambda case: target.token(user_id, case))
    if isinstance(payload, str):
        return payload, True
    return payload, not frame.binary


async def _send(ws: Any, payload: str | bytes, text: bool) -> bool:
    try:
        if isinstance(payload, str):
            await ws.send(payload)
        else:
            await ws.send(payload, text=text)
        return True
    except ConnectionClosed:
        return False


async def _lockstep(
    ws: Any, target: Target, user_id: int, script: Script, tally: Tally, ledger: Ledger
) -> None:
    states = [State(last_beat=time.monotonic())]
    transcript: list[tuple[str, str, int]] = []
    for i, frame in enumerate(script.frames):
        if frame.pause:
            await asyncio.sleep(frame.pause)
        payload, text = _send_args(frame, target, user_id)
        allowed, after = step(states, classify(frame, payload), target.watchable, time.monotonic())
        tally.frames += 1
        tally.labels[frame.label.split(":")[0]] += 1
        await _send(ws, payload, text)  # a close under a long send shows up in the read
        got: Close | tuple[str, dict[str, Any]]
        try:
            got = await _next(ws, target.reply_timeout, ledger)
        except TimeoutError:
            got = Close(-1)  # no reply at all
        tally.replies[got.key() if isinstance(got, Close) else got[0]] += 1
        states = after(got)
        if not states or ledger.problem is not None:
            tally.failures.append(
                Failure(
                    frame.label,
                    i,
                    repr(payload)[:300],
                    sorted({o.key() for o, _ in allowed}) if not states else ["as documented"],
                    _describe(got) if not states else str(ledger.problem),
                    transcript,
                )
            )
            return
        transcript.append((repr(payload)[:300], _describe(got)[:200], states[0].malformed))
        if isinstance(got, Close):
            return


async def _flood(
    ws: Any, target: Target, user_id: int, script: Script, tally: Tally, ledger: Ledger
) -> None:
    """Send the whole burst, then read one direct reply per frame, in order. A text frame may
    also be answered `rate_limited` (then it changes nothing), and once the limit was passed
    the hub may close 4029 instead of any reply."""
    sent: list[tuple[Frame, str | bytes, bool]] = []
    fatal: int | None = None
    began = time.monotonic()
    for frame in script.frames:
        payload, text = _send_args(frame, target, user_id)
        if not await _send(ws, payload, text):
            break
        sent.append((frame, payload, text))
        fatal = classify(frame, payload).close
        if fatal is not None:
            break  # the hub fails the connection here: nothing after it is read
    burst_s = time.monotonic() - began
    states = [State(last_beat=time.monotonic())]
    text_frames = 0
    limited = 0
    for i, (frame, payload, text) in enumerate(sent):
        tally.frames += 1
        tally.labels["flood"] += 1
        counted = text and not frame.binary  # binary frames are refused before the rate check
        text_frames += counted
        exp = classify(frame, payload)

        def also(
            state: State, exp: Expect = exp, counted: bool = counted, text_frames: int = text_frames
        ) -> list[tuple[Outcome, State]]:
            more: list[tuple[Outcome, State]] = []
            if counted and text_frames > target.rate_limit and exp.close is None:
                more.append((Reply("error", "rate_limited", frozenset({None})), state))
                more.append((Close(4029), state))
            if fatal is not None:
                # The WebSocket layer fails the connection as soon as it parses the bad
                # frame, dropping earlier frames the hub has not answered yet.
                more.append((Close(fatal), state))
            return more

        allowed, after = step(states, exp, target.watchable, time.monotonic(), also)
        try:
            got = await _next(ws, target.reply_timeout, ledger)
        except TimeoutError:
            got = Close(-1)
        tally.replies[got.key() if isinstance(got, Close) else got[0]] += 1
        states = after(got)
        if not states or ledger.problem is not None:
            tally.failures.append(
                Failure(
                    f"flood:{frame.label}",
                    i,
                    repr(payload)[:300],
                    sorted({o.key() for o, _ in allowed}) if not states else ["as documented"],
                    _describe(got) if not states else str(ledger.problem),
                )
            )
            return
        if not isinstance(got, Close) and got[0] == "error:rate_limited":
            limited += 1
        if isinstance(got, Close):
            limited += got.code == 4029
            return
    if text_frames > 2 * target.rate_limit and burst_s < 0.5 and not limited:
        tally.failures.append(
            Failure(
                "flood",
                len(sent),
                f"{text_frames} text frames in {burst_s:.3f}s",
                ["some error:rate_limited or close:4029"],
                "none",
            )
        )
