"""The session rules, pure (no I/O, no clock of their own).

The atomic steps run in Redis as Lua (live/lua/*.lua) because the grant, the daily counter and
the outbox entry must change together; this module is their specification in Python and the
part both transports share: what a heartbeat may earn, which boundaries a credit crosses, the
reward ids, the local day of the daily cap, and how a step's outcome becomes replies.
`tests/realtime/test_store.py::test_lua_matches_the_reference_model_on_random_histories` runs
the same random histories through `ReferenceStore` and the real scripts and requires identical
replies at every step and identical outboxes at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from live.outbox import FlagEntry, GrantEntry, OutboxEntry, SessionEndEntry, SessionStartEntry

DAY_MS = 86_400_000


def credit_ms(earning: bool, now_ms: int, last_ms: int, heartbeat_interval_ms: int) -> int:
    """Time a heartbeat credits: the server-clock gap since the previous one, capped at
    1.5 x the heartbeat interval; nothing when paused or hidden, nothing if the clock went back."""
    if not earning:
        return 0
    return max(0, min(now_ms - last_ms, heartbeat_interval_ms * 3 // 2))


def reward_id(user_id: int, content_id: int, n: int) -> str:
    return f"w:{user_id}:{content_id}:{n}"


def boosted_amount(amount: int, now_ms: int, boost: tuple[int, int, int] | None) -> int:
    """What one grant pays at `now_ms` (the script's clock) under an admin's boost
    (percent, from ms, until ms): floor(amount x percent / 100) inside [from, until), else
    `amount`. Coins are whole: the floor keeps a 150 % boost of 1 coin at 1."""
    if boost is None:
        return amount
    pct, start, until = boost
    if pct != 100 and start <= now_ms < until:
        return amount * pct // 100
    return amount


def remaining_ms(elapsed_ms: int, interval_ms: int) -> int:
    return interval_ms - elapsed_ms % interval_ms


def tz_offset_ms(tz: ZoneInfo, now_ms: int) -> int:
    """UTC offset of `tz` at `now_ms`; the scripts add it to Redis TIME to find the local day."""
    moment = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(tz)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def local_day(now_ms: int, offset_ms: int) -> int:
    return (now_ms + offset_ms) // DAY_MS


@dataclass(frozen=True)
class Crossing:
    granted: tuple[int, ...]  # boundary indexes that earn a reward now
    count: int  # rewards granted today, after this crossing
    notice: bool  # the daily cap was hit for the first time today


def cross(
    elapsed_ms: int,
    new_elapsed_ms: int,
    interval_ms: int,
    last_n: int,
    *,
    cap: int,
    count: int,
    warned: bool,
    paused: bool,
) -> Crossing:
    """The rewards of boundaries crossed going from `elapsed_ms` to `new_elapsed_ms`.

    A boundary earns only if its index is above every one granted before on this content
    (so an id is never granted twice, even when the interval changes), rewards are not paused,
    and the day's count is below the cap. Boundaries crossed while capped or paused are gone.
    """
    granted: list[int] = []
    notice = False
    for n in range(elapsed_ms // interval_ms + 1, new_elapsed_ms // interval_ms + 1):
        if n <= last_n or paused:
            continue
        if cap > 0 and count >= cap:
            if not warned:
                notice = warned = True
            continue
        count += 1
        last_n = n
        granted.append(n)
    return Crossing(tuple(granted), count, notice)


# The reference model of the Redis state machine, used by the contract tests.

# Reply shapes of the reference model (the scripts' replies before live/store.py parses them).
# start: (status, sid, epoch), or ("conflict", content_id, device).
RefStartReply = tuple[str, str, int] | tuple[str, int, str]
# tick: ("no_session",), ("replaced", device, content_id), or
# ("ok", elapsed, credit, remaining, pending, notice, reward ids paid).
RefTickReply = (
    tuple[str] | tuple[str, str, int] | tuple[str, int, int, int, int, bool, tuple[str, ...]]
)
# stop: (status,), or ("stopped", content_id, watched).
RefStopReply = tuple[str] | tuple[str, int, int]


@dataclass
class _Session:
    content_id: int
    tab: str
    device: str
    sid: str
    epoch: int
    last: int
    deadline: int
    watched: int = 0


@dataclass
class ReferenceStore:
    """What start/tick/stop/sweep/flag/decide do to one user's state, in memory, and the
    outbox entries they append (the Structs of live/outbox.py, field for field). Every step
    takes the script's clock reading (`now`, Redis TIME) as an argument: the model has no
    clock. Results have the same shape as the parsed script replies in live/store.py."""

    heartbeat_ms: int
    ttl_ms: int
    user_id: int = 0
    session: _Session | None = None
    elapsed: dict[int, int] = field(default_factory=dict)
    last_n: dict[int, int] = field(default_factory=dict)
    # The day hash: written only by a tick that grants or notices (as tick.lua does), so a
    # tick on another local day that writes nothing leaves the day's count as it was.
    day: int = -1
    count: int = 0
    warned: bool = False
    pending: int = 0
    hold: bool = False  # on hold for multi-account review (flag.lua sets it, decide.lua clears)
    exempt_until: int = 0  # rvok: no new flag before this (decide.lua's approval)
    outbox: list[OutboxEntry] = field(default_factory=list)
    # The push log (tick.lua's KEYS[7], kept whole here: the test trims as the script does),
    # and the offset of the first push the last tick logged (0: none).
    pushes: list[Push] = field(default_factory=list)
    last_first_push: int = 0
    last_amount: int = 0  # what each grant of the last accepted tick paid (boost applied)

    def _end(self, s: _Session, now: int, why: str) -> None:
        self.outbox.append(
            SessionEndEntry(
                sid=s.sid, uid=self.user_id, cid=s.content_id, wms=s.watched, ts=now, why=why
            )
        )

    def start(
        self, now: int, content_id: int, tab: str, device: str, takeover: bool, sid: str
    ) -> RefStartReply:
        s = self.session
        epoch = 0
        status = "new"
        if s is not None:
            epoch = s.epoch
            live = s.deadline >= now
            same_tab = s.tab == tab and s.device == device
            if live and same_tab and s.content_id == content_id:
                s.deadline = now + self.ttl_ms
                return ("resumed", s.sid, s.epoch)
            if live and not same_tab and not takeover:
                return ("conflict", s.content_id, s.device)
            why = "switched" if live and same_tab else "replaced" if live else "expired"
            status = "takeover" if why == "replaced" else "new"
            self._end(s, now, why)
        self.session = _Session(content_id, tab, device, sid, epoch + 1, now, now + self.ttl_ms)
        self.outbox.append(
            SessionStartEntry(
                sid=sid, uid=self.user_id, cid=content_id, dev=device, tab=tab, ts=now
            )
        )
        return (status, sid, epoch + 1)

    def tick(
        self,
        now: int,
        sid: str,
        epoch: int,
        earning: bool,
        *,
        interval: int,
        amount: int,
        cap: int,
        paused: bool,
        offset: int,
        tab: str = "",
        device: str = "",
        content_id: int = 0,
        boost: tuple[int, int, int] | None = None,
    ) -> RefTickReply:
        """A heartbeat by session id and epoch (WebSocket), or with `sid` '' by tab, device
        and content (HTTP fallback). `boost`: the content's (percent, from ms, until ms)."""
        s = self.session
        if s is None or s.deadline < now:
            return ("no_session",)
        if sid:
            if s.sid != sid or s.epoch != epoch:
                if s.tab == tab and s.device == device:
                    return ("no_session",)  # the same tab moved on to a newer session
                return ("replaced", s.device, s.content_id)
        elif s.tab != tab or s.device != device or s.content_id != content_id:
            return ("no_session",)
        credit = credit_ms(earning, now, s.last, self.heartbeat_ms)
        amount = self.last_amount = boosted_amount(amount, now, boost)
        cid = s.content_id
        elapsed = self.elapsed.get(cid, 0)
        today = local_day(now, offset)
        same_day = today == self.day
        c = cross(
            elapsed,
            elapsed + credit,
            interval,
            self.last_n.get(cid, 0),
            cap=cap,
            count=self.count if same_day else 0,
            warned=self.warned and same_day,
            paused=paused,
        )
        if c.granted or c.notice:
            self.day, self.count = today, c.count
            self.warned = (self.warned and same_day) or c.notice
        rids = paid = tuple(reward_id(self.user_id, cid, n) for n in c.granted)
        if c.granted:
            self.last_n[cid] = c.granted[-1]
            if self.hold:
                # Granted once all the same (the id is used, the day counts it), but held:
                # marked in the outbox, not pending, not announced.
                paid = ()
            else:
                self.pending += amount * len(c.granted)
            self.outbox.extend(
                GrantEntry(
                    rid=rid,
                    uid=self.user_id,
                    cid=cid,
                    amt=amount,
                    ts=now,
                    hold=1 if self.hold else 0,
                )
                for rid in rids
            )
        self.elapsed[cid] = elapsed + credit
        s.last, s.deadline, s.watched = now, now + self.ttl_ms, s.watched + credit
        o = self.pushes[-1].offset if self.pushes else 0
        logged = [Push(o + i + 1, "reward", rid, amount, cid) for i, rid in enumerate(paid)]
        if c.notice:
            logged.append(Push(o + len(logged) + 1, "notice", code="daily_cap_reached"))
        self.last_first_push = o + 1 if logged else 0
        self.pushes.extend(logged)
        return (
            "ok",
            elapsed + credit,
            credit,
            remaining_ms(elapsed + credit, interval),
            self.pending,
            c.notice,
            paid,
        )

    def stop(self, now: int, sid: str, tab: str = "", content_id: int = 0) -> RefStopReply:
        """The out event, by session id, or with `sid` '' by tab and content (HTTP). Like
        stop.lua it does not look at the deadline: an expired session not swept yet stops."""
        s = self.session
        if s is None:
            return ("no_session",)
        if sid:
            if s.sid != sid:
                return ("no_session",)
        elif s.tab != tab or s.content_id != content_id:
            return ("no_session",)
        self.session = None
        self._end(s, now, "stop")
        return ("stopped", s.content_id, s.watched)

    def sweep(self, now: int) -> int | None:
        """sweep.lua for this user: the content id of the session it ended, if any."""
        s = self.session
        if s is None or s.deadline >= now:
            return None
        self.session = None
        self._end(s, now, "expired")
        return s.content_id

    def flag(self, now: int, why: str, key: str, accounts: int) -> bool:
        """flag.lua: put the user on hold, unless on hold already or exempt."""
        if self.hold or self.exempt_until > now:
            return False
        self.hold = True
        self.outbox.append(
            FlagEntry(
                fid=f"f:{self.user_id}:{now}",
                uid=self.user_id,
                why=why,
                key=key,
                n=accounts,
                ts=now,
            )
        )
        return True

    def decide(self, now: int, approve: bool, exempt_ms: int) -> bool:
        """decide.lua: approve lifts the hold (exempt for `exempt_ms`), reject keeps it.
        Returns whether the user was on hold before."""
        before = self.hold
        if approve:
            self.hold, self.exempt_until = False, now + exempt_ms
        else:
            self.hold, self.exempt_until = True, 0
        return before


# The push log (tick.lua): a reconnecting client names the last push it saw, and gets what
# came after it (docs/protocol-notes.md, "Push recovery").


@dataclass(frozen=True, slots=True)
class Push:
    """One logged push: a `reward` (reward_id, amount, content_id) or a `notice` (code)."""

    offset: int
    kind: str  # reward | notice
    reward_id: str = ""
    amount: int = 0
    content_id: int = 0
    code: str = ""


@dataclass(frozen=True, slots=True)
class Recovery:
    """`recovered` False: the log's epoch changed or its window no longer reaches back to
    the offset the client named (it re-reads its balance); else `missed`, oldest first."""

    recovered: bool
    missed: tuple[Push, ...] = ()


def recover(asked: tuple[str, int], epoch: str, offset: int, log: Sequence[Push]) -> Recovery:
    """What a client that last saw push `asked` = (epoch, offset) missed, from the user's
    log (oldest first) whose epoch and last offset are `epoch` and `offset`. A client that
    saw no log yet names epoch ''; all of the current log is then new to it."""
    asked_epoch, asked_offset = asked
    if not asked_epoch:
        asked_offset = 0
    elif asked_epoch != epoch or asked_offset > offset:
        return Recovery(recovered=False)
    missed = tuple(p for p in log if p.offset > asked_offset)
    if asked_offset < offset and (not missed or missed[0].offset != asked_offset + 1):
        return Recovery(recovered=False)  # trimmed or expired past what the client saw
    return Recovery(recovered=True, missed=missed)
