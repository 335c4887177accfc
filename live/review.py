"""Multi-account review, the rules (pure: no I/O, no clock of their own).

Every session start is recorded under the device id it names and the IP address it came
from: the distinct accounts seen on each within a sliding window. When a device or an address
has carried more accounts than its limit, every account seen there is put on hold: its later
grants are still made exactly once, but held (not shown, not paid) until an admin approves or
rejects it (docs/money.md, "Multi-account review"). The Redis side is
`live/review_store.py`; the hold itself is `live/lua/flag.lua`.

Only the crossing flags everyone: when a start adds an account to a key that is over its
limit, all the key's accounts are flagged; an account already on the key that starts again
is flagged alone (accounts on hold are left alone by the script, so repeats cost nothing but
a script call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEVICE = "device"
IP = "ip"
REASONS = (DEVICE, IP)
HOUR_MS = 3_600_000
# What a held viewer is told (GET /api/me/balance `notice`, the hub's `rewards_on_review`
# notice): the rewards are kept and will come; never which rule, key or threshold held them.
REVIEW_NOTICE = (
    "Your recent rewards are waiting for a routine account check. They are kept safe and "
    "are added to your balance once the check is done."
)
# Accounts remembered per key (the newest ones): a busy carrier NAT must not grow a key, or a
# start's flagging, without bound.
MAX_TRACKED = 1000


@dataclass(frozen=True, slots=True)
class ReviewLimits:
    """Most distinct accounts one device id / one IP address may start sessions for within
    `window_ms`; 0 turns that check off."""

    per_device: int
    per_ip: int
    window_ms: int

    @classmethod
    def from_settings(cls, settings: Any) -> ReviewLimits:
        return cls(
            settings.review_accounts_per_device,
            settings.review_accounts_per_ip,
            settings.review_window_hours * HOUR_MS,
        )

    def limit(self, reason: str) -> int:
        return self.per_device if reason == DEVICE else self.per_ip

    def checks(self, device: str, ip: str) -> list[tuple[str, str]]:
        """The (reason, key) pairs a start from `device` and `ip` is recorded under."""
        out = []
        if self.per_device > 0 and device:
            out.append((DEVICE, device))
        if self.per_ip > 0 and ip:
            out.append((IP, ip))
        return out


@dataclass(frozen=True, slots=True)
class Seen:
    """One start recorded under one key."""

    reason: str  # device | ip
    key: str  # the device id or the IP address
    added: bool  # the account was not on this key within the window before
    accounts: int  # distinct accounts on the key within the window, this one included


@dataclass(frozen=True, slots=True)
class Flag:
    """An account to put on hold, and why."""

    user_id: int
    reason: str
    key: str
    accounts: int


def over(limit: int, accounts: int) -> bool:
    return limit > 0 and accounts > limit


def needs_members(limits: ReviewLimits, seen: Sequence[Seen]) -> list[Seen]:
    """The keys whose every account must be flagged: over the limit, crossed by a new one."""
    return [s for s in seen if s.added and over(limits.limit(s.reason), s.accounts)]


def flags(
    user_id: int,
    limits: ReviewLimits,
    seen: Sequence[Seen],
    members: Mapping[tuple[str, str], Sequence[int]],
) -> list[Flag]:
    """The accounts to flag after `user_id` started: for each key over its limit, all of its
    `members` (given for the keys of `needs_members`), else the starting account alone. Each
    account once, with the first reason found (device before ip)."""
    out: dict[int, Flag] = {}
    for s in seen:
        if not over(limits.limit(s.reason), s.accounts):
            continue
        who = members.get((s.reason, s.key), ()) if s.added else ()
        for uid in (user_id, *who):
            if uid not in out:
                out[uid] = Flag(uid, s.reason, s.key, s.accounts)
    return list(out.values())
