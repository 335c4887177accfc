"""Multi-account review, the Redis side: who started sessions on which device and address,
and the hold of the accounts that the rules in `live/review.py` flag.

Per key (`rv:dev:<device id>`, `rv:ip:<address>`, live/keys.py) a ZSET of user id -> last
start (ms), trimmed to the review window and to the newest `MAX_TRACKED` accounts, expiring
a window after the last start. Those keys are not a user's, so they are plain commands in one
pipeline (on a Cluster each key is its own slot); the hold of one user is flag.lua on that
user's `{pN}` keys (balance hash and outbox), atomic within the user's slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from live import keys, review, scripts
from live.review import Flag, ReviewLimits, Seen
from live.scripts import Call

log = logging.getLogger("live.review")


def _key(reason: str, key: str) -> str:
    return keys.review_device(key) if reason == review.DEVICE else keys.review_ip(key)


class ReviewTracker:
    def __init__(self, store: Any, limits: ReviewLimits) -> None:
        """`store`: the LiveStore (its Redis client, script runner and user key names)."""
        self.store = store
        self.limits = limits

    async def record(
        self, user_id: int, device: str, ip: str, now_ms: int | None = None
    ) -> list[Flag]:
        """Record a session start of `user_id` from `device` and `ip`, and put on hold the
        accounts the rules flag. Returns the flags that put an account on hold now."""
        checks = self.limits.checks(device, ip)
        if not checks:
            return []
        now = int(time.time() * 1000) if now_ms is None else now_ms
        seen = await self._count(user_id, checks, now)
        wanted = review.needs_members(self.limits, seen)
        members = await self._members(wanted) if wanted else {}
        found = review.flags(user_id, self.limits, seen, members)
        return await self.hold(found) if found else []

    async def _count(self, user_id: int, checks: Sequence[tuple[str, str]], now: int) -> list[Seen]:
        window = self.limits.window_ms
        pipe = self.store.redis.pipeline(transaction=False)
        for reason, key in checks:
            name = _key(reason, key)
            pipe.zadd(name, {str(user_id): now})
            pipe.zremrangebyscore(name, "-inf", now - window)
            pipe.zremrangebyrank(name, 0, -(review.MAX_TRACKED + 1))
            pipe.pexpire(name, window)
            pipe.zcard(name)
        replies = await pipe.execute()
        return [
            Seen(reason, key, bool(replies[5 * i]), int(replies[5 * i + 4]))
            for i, (reason, key) in enumerate(checks)
        ]

    async def _members(self, wanted: Sequence[Seen]) -> dict[tuple[str, str], list[int]]:
        pipe = self.store.redis.pipeline(transaction=False)
        for s in wanted:
            pipe.zrange(_key(s.reason, s.key), 0, -1)
        replies = await pipe.execute()
        return {
            (s.reason, s.key): [int(m) for m in reply]
            for s, reply in zip(wanted, replies, strict=False)
        }

    async def hold(self, found: Sequence[Flag]) -> list[Flag]:
        """Run flag.lua for each account (one pipeline); the ones put on hold now."""
        calls: list[Call] = []
        for f in found:
            k = self.store.user_keys(f.user_id)
            calls.append(
                (scripts.FLAG, (k.balance, k.outbox), (f.user_id, f.reason, f.key, f.accounts))
            )
        held: list[Flag] = []
        for f, reply in zip(found, await self.store.runner.run_many(calls), strict=False):
            if isinstance(reply, Exception):
                raise reply
            if int(reply) == 1:
                held.append(f)
                log.warning(
                    "user %d put on hold for review: %d accounts on %s %s",
                    f.user_id,
                    f.accounts,
                    f.reason,
                    f.key,
                    extra={
                        "user_id": f.user_id,
                        "reason": f.reason,
                        "key": f.key,
                        "accounts": f.accounts,
                    },
                )
        return held
