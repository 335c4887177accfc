"""What the hub sends besides direct replies, and what a tick may credit (PROTOCOL 4.2, 4.4).

A `Ledger` follows one connection: every frame it received in order (the `stream` the
conservation oracle reads), the pushes checked against their documented shape (`reward`,
`viewers`, `notice`), and every `tick` checked against the credit rule: 0 ≤ credited_ms ≤ the
credit cap (1.5 heartbeat intervals), and the connection's credits never more than the
wall-clock time since it opened plus one cap. A `reward` is pushed right before its `tick`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

PUSHES = frozenset({"viewers", "reward", "notice"})  # frames that are no direct reply
NOTICE_CODES = frozenset({"daily_cap_reached"})  # the codes PROTOCOL 4.2 and 4.4 name
_REWARD_ID = re.compile(r"w:(\d+):(\d+):([1-9]\d*)")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def push_problem(frame: dict[str, Any], user_id: int, watchable: frozenset[int]) -> str | None:
    """Why a push does not have its documented shape, or None."""
    kind = frame.get("type")
    if kind == "reward":
        rid, amount, balance = frame.get("reward_id"), frame.get("amount"), frame.get("balance")
        cid = frame.get("content_id")
        if frame.get("kind") != "watch":
            return f"reward of kind {frame.get('kind')!r}"
        if not (_int(amount) and _int(balance) and _int(cid) and isinstance(rid, str)):
            return "a reward field is missing or of the wrong type"
        m = _REWARD_ID.fullmatch(rid)
        if m is None or (int(m[1]), int(m[2])) != (user_id, cid):
            return f"reward id {rid!r} is not w:{user_id}:{cid}:<n>"
        if cid not in watchable or amount < 0 or balance < amount:
            return f"reward content {cid}, amount {amount}, balance {balance}"
        return None
    if kind == "viewers":
        cid, count = frame.get("content_id"), frame.get("count")
        if not (_int(cid) and _int(count)) or cid not in watchable or count < 0:
            return f"viewers push with content {cid!r}, count {count!r}"
        return None
    if kind == "notice":
        if frame.get("code") not in NOTICE_CODES or not _str(frame.get("message")):
            return f"notice with code {frame.get('code')!r}, message {frame.get('message')!r}"
        return None
    return f"unknown push {kind!r}"


@dataclass
class Ledger:
    """One connection's received frames and credit account."""

    user_id: int
    watchable: frozenset[int]
    cap_ms: int = 0  # 1.5 heartbeat intervals, from `hello`
    began: float = field(default_factory=time.time)
    ended: float | None = None
    stream: list[dict[str, Any]] = field(default_factory=list)
    credited_ms: int = 0
    problem: str | None = None  # the first breach seen
    _reward_pending: bool = False

    def hello(self, frame: dict[str, Any]) -> None:
        interval = frame.get("heartbeat_interval_ms")
        if not _int(interval) or interval <= 0:
            self._fail(f"hello without a heartbeat interval: {frame}")
        else:
            self.cap_ms = interval * 3 // 2

    def seen(self, frame: dict[str, Any]) -> None:
        """Record a frame; check it if it is a push or a tick."""
        self.stream.append(frame)
        kind = frame.get("type")
        if kind in PUSHES:
            why = push_problem(frame, self.user_id, self.watchable)
            if why is not None:
                self._fail(why)
            self._reward_pending = self._reward_pending or kind == "reward"
            return
        if self._reward_pending and kind != "tick":
            self._fail(f"a reward push followed by {kind!r}, not its tick")
        self._reward_pending = False
        if kind == "tick":
            self._tick(frame)

    def _tick(self, frame: dict[str, Any]) -> None:
        credited = frame.get("credited_ms")
        if not _int(credited) or not 0 <= credited <= self.cap_ms:
            self._fail(f"tick credited {credited!r} ms, the cap is {self.cap_ms} ms")
            return
        self.credited_ms += credited
        span_ms = (time.time() - self.began) * 1000
        if self.credited_ms > span_ms + self.cap_ms:
            self._fail(
                f"credited {self.credited_ms} ms in {span_ms:.0f} ms since the connection "
                f"opened (cap {self.cap_ms} ms)"
            )

    def _fail(self, why: str) -> None:
        if self.problem is None:
            self.problem = why
