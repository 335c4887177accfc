"""The connection model: for a connection's state, every reply the contract allows and the
state after it (`outcomes`), kept nondeterministic where the contract is (`step`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devkit.wsfuzz.contract import MALFORMED_LIMIT, Expect

# --- the connection model ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    type: str
    code: str | None = None
    refs: frozenset[str | None] = frozenset({None})

    def key(self) -> str:
        return self.type if self.code is None else f"{self.type}:{self.code}"


@dataclass(frozen=True)
class Close:
    code: int

    def key(self) -> str:
        return f"close:{self.code}"


Outcome = Reply | Close


@dataclass
class State:
    session: tuple[str, str] | None = None  # (tab, device) of this connection's live session
    malformed: int = 0
    last_beat: float = 0.0  # monotonic time of the last start/heartbeat (session TTL)


SESSION_TTL_MARGIN_S = 25.0  # below the 30 s default TTL: a session this quiet may have expired


def outcomes(
    state: State, exp: Expect, watchable: frozenset[int], now: float
) -> list[tuple[Outcome, State]]:
    """Every (reply, next state) the contract allows for a frame in `state`."""
    if exp.close is not None:
        return [(Close(exp.close), state)]
    out: list[tuple[Outcome, State]] = []
    if exp.may_be_malformed:
        count = state.malformed + 1
        nxt = State(state.session, count, state.last_beat)
        if count > MALFORMED_LIMIT:
            out.append((Close(4500), nxt))
        else:
            out.append((Reply("error", "bad_request", exp.malformed_refs), nxt))
    msg = exp.message
    if msg is None:
        return out
    refs = frozenset({msg.ref})

    def same(**kw: Any) -> State:
        return State(**{**state.__dict__, **kw})

    live = state.session is not None
    maybe_expired = live and now - state.last_beat > SESSION_TTL_MARGIN_S
    if msg.type == "ping":
        out.append((Reply("pong", None, refs), state))
    elif msg.type == "auth":
        if msg.fields["token"] == "valid":
            out.append((Reply("authed", None, refs), state))
        else:  # refused tokens are a bad_request answer, not a malformed frame
            out.append((Reply("error", "bad_request", refs), state))
    elif msg.type == "start":
        f = msg.fields
        if f["content_id"] not in watchable:
            out.append((Reply("error", "content_unavailable", refs), state))
        elif not live or state.session == (f["tab_id"], f["device_id"]) or f["takeover"]:
            out.append(
                (
                    Reply("started", None, refs),
                    same(session=(f["tab_id"], f["device_id"]), last_beat=now),
                )
            )
        else:
            out.append((Reply("error", "session_conflict", refs), state))
            if maybe_expired:
                out.append(
                    (
                        Reply("started", None, refs),
                        same(session=(f["tab_id"], f["device_id"]), last_beat=now),
                    )
                )
    elif msg.type == "heartbeat":
        if live:
            out.append((Reply("tick", None, refs), same(last_beat=now)))
        if not live or maybe_expired:
            out.append((Reply("error", "no_session", refs), same(session=None)))
    elif msg.type == "stop":
        if live:
            out.append((Reply("stopped", None, refs), same(session=None)))
        if not live or maybe_expired:
            out.append((Reply("error", "no_session", refs), same(session=None)))
    return out


def step(
    states: list[State],
    exp: Expect,
    watchable: frozenset[int],
    now: float,
    extra: Callable[[State], list[tuple[Outcome, State]]] | None = None,
) -> tuple[list[tuple[Outcome, State]], Callable[[Any], list[State]]]:
    """The outcomes allowed from any of the states the connection may be in, and a function
    from the observed reply to the states it may be in next. The model is nondeterministic
    where the contract is: a frame nested 800-1000 levels deep is a message or malformed,
    and either can answer the same `error bad_request` (an `auth` refused) while counting
    differently towards the 4500 close; so every state that fits is kept."""
    allowed: list[tuple[Outcome, State]] = []
    for state in states:
        allowed += outcomes(state, exp, watchable, now)
        if extra is not None:
            allowed += extra(state)

    def after(got: Any) -> list[State]:
        nxt: dict[tuple[Any, int], State] = {}
        for outcome, state in allowed:
            if matches(outcome, got):
                nxt.setdefault((state.session, state.malformed), state)
        return list(nxt.values())

    return allowed, after


def matches(outcome: Outcome, got: Outcome | tuple[str, dict[str, Any]]) -> bool:
    if isinstance(outcome, Close):
        return isinstance(got, Close) and got.code == outcome.code
    if isinstance(got, Close):
        return False
    key, frame = got
    return (
        key == outcome.key()
        and frame.get("ref") in outcome.refs
        and (
            outcome.code != "session_conflict"
            or ("active_content_id" in frame and "active_device_id" in frame)
        )
    )
