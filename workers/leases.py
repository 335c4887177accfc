"""Partition leases: at most one worker drains a partition's outbox at a time.

Why: the ack script caches the PostgreSQL balance that the batch's own UPDATE returned. That
balance includes every grant committed before it; if another consumer had committed a grant
of the same user and not yet acknowledged it, the user would see it twice (in `pg` and still
in `pend`) until that ack. With one consumer per partition, batches of a partition are
committed and acknowledged strictly one after the other, so `pg + pend` never counts a grant
twice. Money never depends on the lease: the ledger and `pend` stay exact even when two
workers overlap (a lease that expired under a stalled worker), only the shown balance could
blip. Leases live in Redis (`{pN}:lease`, lease.lua) and are renewed every third of their
life by a loop that needs only Redis, so a worker waiting out a PostgreSQL outage keeps them.

Fair share: live workers register in `workers:alive`; each holds at most ceil(P / workers)
partitions, releases the surplus (between batches: the drain loop's lock), and takes free
ones up to its share, starting at an offset of its own to avoid collisions. Renewal never
waits for a drain loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Callable

from redis.exceptions import RedisError

from core.redis_client import LiveRedis
from live import keys, scripts
from live.scripts import ScriptRunner

log = logging.getLogger("workers.leases")


class Leases:
    def __init__(
        self,
        redis: LiveRedis,
        partitions: int,
        worker_id: str,
        lease_ms: int,
        *,
        lock_for: Callable[[int], asyncio.Lock],
        on_acquire: Callable[[int], None],
        on_count: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.held: set[int] = set()
        self._lock_for = lock_for  # the lock a drain loop holds while it works on a partition
        self._on_acquire = on_acquire
        self._on_count = on_count  # told how many partitions are held after each round
        self._runner = ScriptRunner(redis)
        self._offset = zlib.crc32(worker_id.encode()) % partitions

    async def _op(self, parts: list[int], op: str) -> list[bool]:
        calls = [
            (scripts.LEASE, (keys.lease(p),), (self.worker_id, self.lease_ms, op)) for p in parts
        ]
        replies = await self._runner.run_many(calls)
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return [int(r) == 1 for r in replies]

    async def _alive(self) -> int:
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.WORKERS_ALIVE, {self.worker_id: now + 3 * self.lease_ms})
        pipe.zremrangebyscore(keys.WORKERS_ALIVE, "-inf", now)
        pipe.zcard(keys.WORKERS_ALIVE)
        return max(1, int((await pipe.execute())[-1]))

    async def step(self) -> None:
        """Renew what is held, give up the surplus, take free partitions up to the share."""
        share = math.ceil(self.partitions / await self._alive())
        held = sorted(self.held)
        if held:
            for p, ok in zip(held, await self._op(held, "hold"), strict=False):
                if not ok:
                    log.warning("lease of partition %d lost to another worker", p)
                    self.held.discard(p)
        surplus = len(self.held) - share
        if surplus > 0:
            # Only partitions whose drain loop is between batches; the others next round.
            # (No await between the check and the discard: the loop cannot start in between.)
            idle = [p for p in sorted(self.held, reverse=True) if not self._lock_for(p).locked()]
            given = idle[:surplus]
            self.held.difference_update(given)
            if given:
                await self._op(given, "release")
        missing = share - len(self.held)
        order = [(self._offset + i) % self.partitions for i in range(self.partitions)]
        candidates = [p for p in order if p not in self.held]
        while missing > 0 and candidates:
            chunk, candidates = candidates[:missing], candidates[missing:]
            for p, ok in zip(chunk, await self._op(chunk, "hold"), strict=False):
                if ok:
                    self.held.add(p)
                    self._on_acquire(p)
                    missing -= 1
        self._on_count(len(self.held))

    async def run(self, stop: asyncio.Event) -> None:
        period = self.lease_ms / 3000
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("lease round failed: %r", exc)
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                pass

    async def release_all(self) -> None:
        parts = sorted(self.held)
        self.held.clear()
        try:
            if parts:
                await self._op(parts, "release")
            await self.redis.zrem(keys.WORKERS_ALIVE, self.worker_id)
        except (RedisError, OSError) as exc:
            log.warning("releasing leases failed (they expire by themselves): %r", exc)
