"""Outbox entries as values, and batches as the arrays one PostgreSQL transaction writes.

Pure: no I/O. The hub's scripts write four kinds of entry to a partition's outbox stream
(their wire shape is defined once in live/outbox.py, which the scripts and this parser are
tested against): grant `t=g rid uid cid amt ts` (plus `hold 1` for a grant of a user
on hold for review), session start `t=s sid uid cid dev tab ts`, session end `t=e sid uid cid
wms ts why`, review flag `t=f fid uid why key n ts` (flag.lua). `parse` turns the raw fields
into one of `Grant`, `SessionStart`, `SessionEnd`, `Flag`, or `Bad` (which goes to the dead
letters, never to PostgreSQL); `Batch.build` groups parsed entries into column arrays for
`unnest`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from live import keys

BIGINT_MAX = 2**63 - 1
MAX_AMOUNT = 10**12  # one grant; far above any reward, far below where sums could overflow
MAX_ID_LEN = 256


def _digits(raw: bytes) -> bool:
    """What Lua's '^%d+$' accepts (ASCII digits; bytes.isdigit is ASCII-only), up to 64-bit."""
    return 0 < len(raw) <= 19 and raw.isdigit()


@dataclass(frozen=True, slots=True)
class Grant:
    entry_id: str
    reward_id: str
    user_id: int
    content_id: int
    amount: int
    ts_ms: int
    held: bool = False  # made while the user was on hold: not in `pend` (tick.lua)


@dataclass(frozen=True, slots=True)
class SessionStart:
    entry_id: str
    session_id: str
    user_id: int
    content_id: int
    device_id: str
    tab_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class SessionEnd:
    entry_id: str
    session_id: str
    user_id: int
    content_id: int
    credited_ms: int
    ts_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class Flag:
    """A user put on hold for multi-account review (flag.lua)."""

    entry_id: str
    flag_id: str  # f:<uid>:<ms>, unique: the review row's idempotency key
    user_id: int
    reason: str  # device | ip
    key: str  # the device id or the IP address
    accounts: int
    ts_ms: int


REVIEW_REASONS = (b"device", b"ip")
MAX_ACCOUNTS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Bad:
    """An entry that cannot be persisted. `pend_user`/`pend_amount` are set when the entry
    nevertheless counts in a user's `pend` (see `pend_share`), so that moving it to the dead
    letters takes it off `pend` too."""

    entry_id: str
    reason: str
    pend_user: int | None = None
    pend_amount: int = 0


Entry = Grant | SessionStart | SessionEnd | Flag | Bad


class _Invalid(ValueError):
    pass


def _text(
    fields: Mapping[bytes, bytes], name: bytes, *, max_len: int = MAX_ID_LEN, empty: bool = False
) -> str:
    raw = fields.get(name)
    if raw is None:
        raise _Invalid(f"missing {name.decode()}")
    try:
        value = raw.decode()
    except UnicodeDecodeError:
        raise _Invalid(f"{name.decode()} is not UTF-8") from None
    if not value and not empty:
        raise _Invalid(f"empty {name.decode()}")
    if len(value) > max_len:
        raise _Invalid(f"{name.decode()} longer than {max_len}")
    return value


def _int(fields: Mapping[bytes, bytes], name: bytes, *, high: int = BIGINT_MAX) -> int:
    raw = fields.get(name)
    if raw is None:
        raise _Invalid(f"missing {name.decode()}")
    if not _digits(raw):
        raise _Invalid(f"{name.decode()} is not a non-negative integer")
    value = int(raw)
    if value > high:
        raise _Invalid(f"{name.decode()} out of range")
    return value


def pend_share(fields: Mapping[bytes, bytes]) -> tuple[int, int] | None:
    """(user id, amount) when this entry counts in its user's `pend`: a grant (`t=g`), not
    marked held, whose uid and amt are decimal integers. reconcile.lua applies the same rule."""
    if fields.get(b"t") != b"g" or fields.get(b"hold") == b"1":
        return None
    uid, amt = fields.get(b"uid"), fields.get(b"amt")
    if uid is None or amt is None or not _digits(uid) or not _digits(amt):
        return None
    return int(uid), int(amt)


def parse(
    entry_id: str, fields: Mapping[bytes, bytes] | None, partition: int, partitions: int
) -> Entry:
    """One raw outbox entry of `partition` as a value; `Bad` with a reason when it cannot be
    written to PostgreSQL as it is. A grant must belong to a user of this partition: its
    `pend` lives under the partition's hash tag."""
    if not fields:
        return Bad(entry_id, "no fields (deleted from the stream)")
    try:
        kind = fields.get(b"t")
        if kind == b"g":
            user_id = _int(fields, b"uid")
            if user_id == 0 or keys.partition_of(user_id, partitions) != partition:
                raise _Invalid(f"user {user_id} is not in partition {partition}")
            return Grant(
                entry_id,
                _text(fields, b"rid"),
                user_id,
                _int(fields, b"cid"),
                _int(fields, b"amt", high=MAX_AMOUNT),
                _int(fields, b"ts"),
                fields.get(b"hold") == b"1",
            )
        if kind == b"f":
            if fields.get(b"why") not in REVIEW_REASONS:
                raise _Invalid(f"unknown review reason {fields.get(b'why')!r}")
            return Flag(
                entry_id,
                _text(fields, b"fid"),
                _int(fields, b"uid"),
                _text(fields, b"why"),
                _text(fields, b"key"),
                _int(fields, b"n", high=MAX_ACCOUNTS),
                _int(fields, b"ts"),
            )
        if kind == b"s":
            return SessionStart(
                entry_id,
                _text(fields, b"sid"),
                _int(fields, b"uid"),
                _int(fields, b"cid"),
                _text(fields, b"dev"),
                _text(fields, b"tab"),
                _int(fields, b"ts"),
            )
        if kind == b"e":
            return SessionEnd(
                entry_id,
                _text(fields, b"sid"),
                _int(fields, b"uid"),
                _int(fields, b"cid"),
                _int(fields, b"wms"),
                _int(fields, b"ts"),
                _text(fields, b"why", max_len=32, empty=True),
            )
        raise _Invalid(f"unknown entry type {kind!r}")
    except _Invalid as exc:
        share = pend_share(fields)
        if share is not None and keys.partition_of(share[0], partitions) != partition:
            share = None  # its pend is not under this partition's tag
        return Bad(entry_id, str(exc), share[0] if share else None, share[1] if share else 0)


def as_dict(flat: list[bytes] | None) -> dict[bytes, bytes]:
    """An entry's fields as Redis sends them (field, value, field, value...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=False)) if flat else {}


def parse_flat(entry_id: str, flat: list[bytes] | None, partition: int, partitions: int) -> Entry:
    """`parse` for the fields as Redis sends them. A grant laid out exactly as tick.lua writes
    it (t g rid . uid . cid . amt . ts .) is read by position, without a dict; anything else
    goes through `parse`."""
    if (
        flat is not None
        and len(flat) == 12
        and flat[1] == b"g"
        and flat[0] == b"t"
        and flat[2] == b"rid"
        and flat[4] == b"uid"
        and flat[6] == b"cid"
        and flat[8] == b"amt"
        and flat[10] == b"ts"
    ):
        rid, uid, cid, amt, ts = flat[3], flat[5], flat[7], flat[9], flat[11]
        if (
            0 < len(uid) <= 18
            and uid.isdigit()
            and 0 < len(cid) <= 18
            and cid.isdigit()
            and 0 < len(amt) <= 12
            and amt.isdigit()
            and 0 < len(ts) <= 18
            and ts.isdigit()
            and 0 < len(rid) <= MAX_ID_LEN
        ):
            user_id, amount = int(uid), int(amt)
            if user_id and amount <= MAX_AMOUNT and user_id % partitions == partition:
                try:
                    return Grant(entry_id, rid.decode(), user_id, int(cid), amount, int(ts))
                except UnicodeDecodeError:
                    pass
    return parse(entry_id, as_dict(flat), partition, partitions)


def entry_ms(entry_id: str) -> int:
    """The time (ms, Redis clock) at which the entry was appended: the first part of its id."""
    return int(entry_id.split("-", 1)[0])


@dataclass(slots=True)
class SessionRow:
    """A watch_sessions row from a start and/or an end of one session in the batch."""

    session_id: str
    user_id: int
    content_id: int
    device_id: str | None = None  # None: the start is not in this batch
    tab_id: str | None = None
    started_ms: int | None = None
    ended_ms: int | None = None
    credited_ms: int | None = None
    reason: str | None = None


@dataclass(slots=True)
class Batch:
    """What one transaction writes. Grants are unique by reward id (the first entry wins; a
    repeat, e.g. a grant made again after Redis lost its memory of it, is written once and
    still acknowledged); sessions are merged by session id."""

    grants: list[Grant] = field(default_factory=list)  # paid grants
    held: list[Grant] = field(default_factory=list)  # grants marked held
    flags: list[Flag] = field(default_factory=list)
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    repeats: int = 0  # grants of this batch dropped because their reward id came earlier in it

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Batch:
        batch = cls()
        seen: set[str] = set()
        for e in entries:
            if isinstance(e, Grant):
                if e.reward_id in seen:
                    batch.repeats += 1
                    continue
                seen.add(e.reward_id)
                (batch.held if e.held else batch.grants).append(e)
            elif isinstance(e, Flag):
                batch.flags.append(e)
            elif isinstance(e, SessionStart):
                row = batch._session(e.session_id, e.user_id, e.content_id)
                row.device_id, row.tab_id, row.started_ms = e.device_id, e.tab_id, e.ts_ms
            elif isinstance(e, SessionEnd):
                row = batch._session(e.session_id, e.user_id, e.content_id)
                if row.ended_ms is None:  # a session ends once; a repeat changes nothing
                    row.ended_ms, row.credited_ms, row.reason = e.ts_ms, e.credited_ms, e.reason
        return batch

    def _session(self, session_id: str, user_id: int, content_id: int) -> SessionRow:
        row = self.sessions.get(session_id)
        if row is None:
            row = self.sessions[session_id] = SessionRow(session_id, user_id, content_id)
        return row

    def __bool__(self) -> bool:
        return bool(self.grants or self.held or self.flags or self.sessions)

    def grant_users(self) -> list[int]:
        """The users of the paid grants, sorted (rows are locked in this order)."""
        return sorted({g.user_id for g in self.grants})

    def users(self) -> list[int]:
        """The users of every grant and flag, sorted: the rows the ledger needs."""
        grants = {g.user_id for g in (*self.grants, *self.held)}
        return sorted(grants | {f.user_id for f in self.flags})

    def grant_columns(self) -> tuple[list[str], list[int], list[int], list[int], list[int]]:
        """(reward ids, user ids, content ids, amounts, ts ms) of the paid grants."""
        return grant_columns(self.grants)

    def flag_columns(self) -> tuple[list[object], ...]:
        f = self.flags
        return (
            [x.flag_id for x in f],
            [x.user_id for x in f],
            [x.reason for x in f],
            [x.key for x in f],
            [x.accounts for x in f],
            [x.ts_ms for x in f],
        )

    def session_columns(self) -> tuple[list[object], ...]:
        rows = list(self.sessions.values())
        return (
            [r.session_id for r in rows],
            [r.user_id for r in rows],
            [r.content_id for r in rows],
            [r.device_id for r in rows],
            [r.tab_id for r in rows],
            [r.started_ms for r in rows],
            [r.ended_ms for r in rows],
            [r.credited_ms for r in rows],
            [r.reason for r in rows],
        )


def grant_columns(
    g: Sequence[Grant],
) -> tuple[list[str], list[int], list[int], list[int], list[int]]:
    """(reward ids, user ids, content ids, amounts, ts ms) for `unnest`."""
    return (
        [x.reward_id for x in g],
        [x.user_id for x in g],
        [x.content_id for x in g],
        [x.amount for x in g],
        [x.ts_ms for x in g],
    )


def pend_deltas(grants: Iterable[Grant]) -> dict[int, int]:
    """Coins per user in these grants: what acknowledging them takes off each `pend` (held
    grants were never in it)."""
    out: dict[int, int] = {}
    for g in grants:
        if not g.held:
            out[g.user_id] = out.get(g.user_id, 0) + g.amount
    return out
