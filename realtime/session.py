"""The sans-I/O core of one WebSocket connection: PROTOCOL section 4 as a state machine.

`Session` takes what happens to a connection — a client frame, the answer to a message that
needed Redis or PostgreSQL, a refusal, the clock, a kick from another tab — and returns the
actions that follow, in order: frames to write (`str`/`bytes`), a heartbeat's tick to send
(`Tick`), a message to run with I/O (`Run`), joining or leaving a content's watchers, pausing
or resuming reads, and a close with its code (`Close`). It reads no socket, calls no Redis and
needs no event loop; realtime.connection carries its actions out (the same for the direct
lane and for plain ASGI). Times come in as arguments: `now` is monotonic seconds (rates), the
token's expiry is checked against the wall clock's seconds (`clock`).

Messages are answered strictly in order: one that needs I/O makes the session `busy`, what
arrives meanwhile waits in `backlog` (reads pause: `PAUSE`), and the answer's method (`ticked`,
`started`, `stopped`, `failed`) goes on with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import ContentUnavailable, DomainError, NoSession
from core.tokens import Identity, TokenError
from live.review import REVIEW_NOTICE
from live.rules import Push
from realtime import closes, protocol
from realtime.limits import MalformedCounter, RateLimiter
from realtime.protocol import Auth, ClientMessage, FrameError, Heartbeat, Ping, Start, Stop
from realtime.service import Replaced, SessionRef, Started, Ticked

CAP_MESSAGE = "daily reward cap reached: watching goes on, no rewards today"
CAP_NOTICE = protocol.encode(protocol.Notice(code="daily_cap_reached", message=CAP_MESSAGE))
# After `started` when the account is on hold for review (docs/money.md "What a held viewer
# sees"): not a push (no offset), it is said again at every start while the hold lasts.
REVIEW_FRAME = protocol.encode(protocol.Notice(code="rewards_on_review", message=REVIEW_NOTICE))


# Plain slotted dataclasses: a frozen one costs ~1.4 µs more to build, and a `Tick` is built on
# every heartbeat.
@dataclass(slots=True)
class Close:
    """Close the connection with this code; nothing is read or written after it."""

    code: int
    reason: str


@dataclass(slots=True)
class Tick:
    """Send this heartbeat of `ref` to Redis; the answer goes to `ticked` or `failed`."""

    msg: Heartbeat
    ref: SessionRef


@dataclass(slots=True)
class Run:
    """Answer this message with I/O (`start`, `stop`; `ref`: the session it is about)."""

    msg: Start | Stop
    ref: SessionRef | None


@dataclass(slots=True)
class Join:
    """The connection watches `content_id` now (its `viewers` pushes)."""

    content_id: int


@dataclass(slots=True)
class Leave:
    content_id: int


class Pause:
    """Stop reading from the socket (`backlog` is waiting); `RESUME`: read again."""


class Resume:
    pass


PAUSE, RESUME = Pause(), Resume()

Action = str | bytes | Close | Tick | Run | Join | Leave | Pause | Resume
Verify = Callable[[str], Identity]  # a token's identity, or TokenError


def _uncounted(_: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Policy:
    """What every session of a process shares (one object, not one per connection): how to
    verify a token, the frame and rate bounds, and where each frame's fate is counted
    (ok, binary, too_big, rate_limited, malformed)."""

    verify: Verify
    max_frame_bytes: int
    max_messages_per_second: int
    count: Callable[[str], None] = _uncounted


def _error(code: str, message: str, ref: str | None) -> str:
    return protocol.encode(protocol.Error(code=code, message=message, ref=ref))


NO_SESSION = "no live watch session: start first"


class Session:
    __slots__ = (
        "backlog",
        "busy",
        "closed",
        "expires_at",
        "malformed",
        "policy",
        "rate",
        "ref",
        "user_id",
    )

    def __init__(self, user_id: int, expires_at: int, policy: Policy) -> None:
        self.user_id = user_id
        self.expires_at = expires_at
        self.policy = policy
        self.rate = RateLimiter(policy.max_messages_per_second)
        self.malformed = MalformedCounter()
        self.ref: SessionRef | None = None
        self.busy = False
        self.closed = False
        self.backlog: deque[str | bytes] | None = None

    # From the client.

    def receive(self, data: str | bytes, now: float) -> list[Action]:
        """One client frame (`bytes`: a binary frame)."""
        out: list[Action] = []
        if self.closed:
            return out
        if self.busy:
            if self.backlog is None:
                self.backlog = deque()
                out.append(PAUSE)
            self.backlog.append(data)
            return out
        self._message(data, now, out)
        return out

    def _message(self, data: str | bytes, now: float, out: list[Action]) -> None:
        policy = self.policy
        count, max_bytes = policy.count, policy.max_frame_bytes
        if not isinstance(data, str):
            if len(data) > max_bytes:
                count("too_big")
                self._close(out, closes.TOO_BIG, "frame too big")
                return
            count("binary")
            self._malformed(out, "frames must be JSON text", None, now)
            return
        # A character is 1-4 bytes in UTF-8: encode only the frames that might be too big.
        if len(data) * 4 > max_bytes and len(data.encode()) > max_bytes:
            count("too_big")
            self._close(out, closes.TOO_BIG, "frame too big")
            return
        if not self.rate.hit(now):
            count("rate_limited")
            if self.rate.should_close:
                self._close(out, closes.RATE_LIMITED, "rate limited")
            else:
                out.append(_error("rate_limited", "slow down", None))
            return
        try:
            msg = protocol.decode_client(data)
        except FrameError as exc:
            count("malformed")
            self._malformed(out, str(exc), exc.ref, now)
            return
        count("ok")
        if type(msg) is Heartbeat:
            if self.ref is None:
                out.append(_error("no_session", NO_SESSION, msg.id))
                return
            self.busy = True
            out.append(Tick(msg, self.ref))
        elif type(msg) is Ping:
            out.append(protocol.encode(protocol.Pong(ref=msg.id)))
        elif type(msg) is Auth:
            out.append(self._auth(msg))
        elif type(msg) is Stop:
            if self.ref is None:
                out.append(_error("no_session", NO_SESSION, msg.id))
                return
            ref, self.ref = self.ref, None
            out.append(Leave(ref.content_id))
            self.busy = True
            out.append(Run(msg, ref))
        else:
            assert type(msg) is Start
            self.busy = True
            out.append(Run(msg, self.ref))

    def _malformed(self, out: list[Action], message: str, ref: str | None, now: float) -> None:
        if self.malformed.hit(now):
            self._close(out, closes.BAD_REQUEST, "too many malformed frames")
        else:
            out.append(_error("bad_request", message, ref))

    def _auth(self, msg: Auth) -> str:
        try:
            identity = self.policy.verify(msg.token)
        except TokenError as exc:  # TokenExpired included: the old token holds until it ends
            return _error("bad_request", f"token refused: {exc}", msg.id)
        if identity.user_id != self.user_id:
            return _error("bad_request", "token is for another user", msg.id)
        self.expires_at = identity.expires_at
        return protocol.encode(protocol.Authed(expires_at=identity.expires_at, ref=msg.id))

    # Answers to the messages that needed I/O; each goes on with the backlog.

    def ticked(self, msg: Heartbeat, out: Ticked, now: float) -> list[Action]:
        """A heartbeat's answer: its rewards, the daily-cap notice, then the tick."""
        actions: list[Action] = []
        if not self.closed:
            epoch = out.push_epoch or None
            for grant in out.grants:
                actions.append(
                    protocol.encode_bytes(
                        protocol.Reward(
                            reward_id=grant.reward_id,
                            kind="watch",
                            amount=grant.amount,
                            balance=grant.balance,
                            content_id=out.content_id,
                            offset=grant.offset or None,
                            epoch=epoch if grant.offset else None,
                        )
                    )
                )
            if out.cap_reached:
                actions.append(
                    protocol.encode(
                        protocol.Notice(
                            code="daily_cap_reached",
                            message=CAP_MESSAGE,
                            offset=out.push_offset,
                            epoch=epoch,
                        )
                    )
                    if out.push_offset
                    else CAP_NOTICE
                )
            actions.append(
                protocol.encode_bytes(
                    protocol.Tick(
                        content_id=out.content_id,
                        elapsed_ms=out.elapsed_ms,
                        credited_ms=out.credited_ms,
                        remaining_ms=out.remaining_ms,
                        ref=msg.id,
                    )
                )
            )
        self._done(actions, now)
        return actions

    def started(self, msg: Start, out: Started, now: float) -> list[Action]:
        actions: list[Action] = []
        if not self.closed:  # else the session stays live in Redis until it expires: a resume
            if self.ref is not None:
                actions.append(Leave(self.ref.content_id))
            self.ref = out.ref
            actions.append(Join(out.ref.content_id))
            actions.append(
                protocol.encode(
                    protocol.Started(
                        content_id=out.ref.content_id,
                        session_id=out.ref.session_id,
                        resumed=out.resumed,
                        elapsed_ms=out.elapsed_ms,
                        interval_ms=out.interval_ms,
                        remaining_ms=out.remaining_ms,
                        balance=out.balance,
                        viewers=out.viewers,
                        ref=msg.id,
                        push_epoch=out.push_epoch,
                        push_offset=out.push_offset,
                        recovered=None if out.recovery is None else out.recovery.recovered,
                    )
                )
            )
            if out.recovery is not None:
                actions.extend(_recovered(out.recovery.missed, out.push_epoch, out.balance))
            if out.on_review:
                actions.append(REVIEW_FRAME)
        self._done(actions, now)
        return actions

    def stopped(self, msg: Stop, content_id: int, watched_ms: int, now: float) -> list[Action]:
        actions: list[Action] = [
            protocol.encode(
                protocol.Stopped(content_id=content_id, watched_ms=watched_ms, ref=msg.id)
            )
        ]
        self._done(actions, now)
        return actions

    def failed(self, msg: ClientMessage, exc: Exception, now: float) -> list[Action]:
        """A message's refusal (core.errors, `Replaced`) or failure (anything else: the
        client sees `internal` and retries)."""
        actions: list[Action] = []
        if isinstance(exc, Replaced):
            actions = self.replaced(exc.content_id, exc.by_device_id)
        elif isinstance(exc, DomainError):
            if isinstance(msg, Heartbeat) and isinstance(exc, (NoSession, ContentUnavailable)):
                self._leave(actions)  # the session is over: the client must start again
            actions.append(
                protocol.encode(
                    protocol.Error(code=exc.code, message=exc.message, ref=msg.id, **exc.extra)
                )
            )
        else:
            actions.append(_error("internal", "the server failed; retry", msg.id))
        self._done(actions, now)
        return actions

    def _done(self, actions: list[Action], now: float) -> None:
        """The message in hand is answered: go on with the ones that waited."""
        self.busy = False
        backlog = self.backlog
        if backlog is None:
            return
        while backlog and not self.busy and not self.closed:
            self._message(backlog.popleft(), now, actions)
        if not backlog or self.closed:
            self.backlog = None
            actions.append(RESUME)

    # From the hub.

    def replaced(self, content_id: int, by_device_id: str) -> list[Action]:
        """A newer tab or device took the user's session over."""
        actions: list[Action] = []
        if self.closed:
            return actions
        self._leave(actions)  # before the frame: no `viewers` push after it
        actions.append(
            protocol.encode(protocol.Replaced(content_id=content_id, by_device_id=by_device_id))
        )
        self._close(actions, closes.REPLACED, "replaced")
        return actions

    def clock(self, wall_s: float) -> list[Action]:
        """The once-a-second check: a token that was not refreshed in time closes 4005."""
        actions: list[Action] = []
        if not self.closed and self.expires_at <= wall_s:
            self._close(actions, closes.TOKEN_EXPIRED, "token expired")
        return actions

    def forbid(self) -> list[Action]:
        """The user or the address was blocked."""
        actions: list[Action] = []
        if not self.closed:
            self._close(actions, closes.FORBIDDEN, "forbidden")
        return actions

    def end(self, code: int, reason: str) -> list[Action]:
        """The hub closes the connection (draining, stopping)."""
        actions: list[Action] = []
        if not self.closed:
            self._close(actions, code, reason)
        return actions

    def lost(self) -> list[Action]:
        """The transport is gone (the client left, or was dropped as a slow reader)."""
        actions: list[Action] = []
        self._leave(actions)
        self.closed = True
        return actions

    def _leave(self, actions: list[Action]) -> None:
        if self.ref is not None:
            actions.append(Leave(self.ref.content_id))
            self.ref = None

    def _close(self, actions: list[Action], code: int, reason: str) -> None:
        self._leave(actions)
        self.closed = True
        actions.append(Close(code, reason))


def _recovered(missed: tuple[Push, ...], epoch: str, balance: int) -> list[Action]:
    """The pushes a reconnecting client missed, sent again right after its `started`. A
    reward's balance is the balance now (the one it had then is not kept)."""
    frames: list[Action] = []
    for p in missed:
        if p.kind == "reward":
            message: protocol.ServerMessage = protocol.Reward(
                reward_id=p.reward_id,
                kind="watch",
                amount=p.amount,
                balance=balance,
                content_id=p.content_id,
                offset=p.offset,
                epoch=epoch,
                recovered=True,
            )
        elif p.kind == "notice" and p.code == "daily_cap_reached":
            message = protocol.Notice(
                code=p.code, message=CAP_MESSAGE, offset=p.offset, epoch=epoch, recovered=True
            )
        else:
            continue
        frames.append(protocol.encode(message))
    return frames


def timer_reply(
    content_id: int, started: Started | None, ticked: Ticked | None, viewers: int | None
) -> dict[str, Any]:
    """The HTTP fallback's answer (PROTOCOL section 5) to the call that opened or resumed the
    session (`started`) or to a heartbeat (`ticked`, with the content's `viewers`): the same
    outcomes the WebSocket frames carry, as one JSON object."""
    if started is not None:
        return {
            "content_id": content_id,
            "session_id": started.ref.session_id,
            "elapsed_ms": started.elapsed_ms,
            "credited_ms": 0,
            "remaining_ms": started.remaining_ms,
            "balance": started.balance,
            "viewers": started.viewers,
            "resumed": started.resumed,
            "rewards": [],
            "notices": ["rewards_on_review"] if started.on_review else [],
        }
    assert ticked is not None and viewers is not None
    return {
        "content_id": content_id,
        "session_id": ticked.session_id,
        "elapsed_ms": ticked.elapsed_ms,
        "credited_ms": ticked.credited_ms,
        "remaining_ms": ticked.remaining_ms,
        "balance": ticked.balance,
        "viewers": viewers,
        "resumed": True,
        "rewards": [
            {
                "reward_id": g.reward_id,
                "kind": "watch",
                "amount": g.amount,
                "balance": g.balance,
                "content_id": content_id,
                **({"offset": g.offset, "epoch": ticked.push_epoch} if g.offset else {}),
            }
            for g in ticked.grants
        ],
        "notices": ["daily_cap_reached"] if ticked.cap_reached else [],
    }
