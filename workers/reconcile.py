"""Balance reconciliation: repair the Redis side of every user's balance from PostgreSQL
(the source of truth) and from the outbox (the source of truth for grants not yet drained).

For each user with a balance hash `{pN}:u:<uid>:bal`, reconcile.lua checks atomically (no
tick, ack or dead-letter move interleaves) that
- `pend` equals the sum of the user's grants still in the outbox, and sets it when not;
- `pg`/`v` hold PostgreSQL's balance at its current version, when no grant of the user is
  still in the outbox (otherwise a committed, not yet acknowledged grant would count twice;
  the ack that follows sets them anyway). A cache older than PostgreSQL is replaced; one
  *newer* than PostgreSQL (a restored database?) is read again and replaced only if it still
  is, and only if unchanged meanwhile ('force').
Every repair is logged and counted (`worker_reconcile_repairs_total{field}`). Idempotent: a
second run right after the first finds nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from core.redis_client import LiveRedis
from live import keys, scripts
from live.scripts import ScriptRunner
from workers.metrics import WorkerMetrics

log = logging.getLogger("workers.reconcile")

CHUNK = 2000  # users per script call (each call scans the partition's outbox once)
MAX_OUTBOX = 50_000  # a partition with a longer outbox (PostgreSQL down?) waits for next time
_BALANCES = "SELECT id, balance, balance_version FROM users WHERE id = ANY($1::bigint[])"


@dataclass(slots=True)
class Report:
    users: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    skipped_partitions: list[int] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.repairs[what] = self.repairs.get(what, 0) + 1


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def balance_keys(redis: LiveRedis, partitions: int) -> dict[int, list[int]]:
    """The users that have a balance hash, by partition (SCAN; on a Cluster every node)."""
    out: dict[int, list[int]] = defaultdict(list)
    async for raw in redis.scan_iter(match="{p*}:u:*:bal", count=1000):
        key = _s(raw)
        try:
            tag, _, uid_s, _ = key.split(":")
            p, uid = int(tag[2:-1]), int(uid_s)
        except ValueError:
            continue
        if keys.partition_of(uid, partitions) != p:
            log.warning("balance key %s is not under its user's partition; ignored", key)
            continue
        out[p].append(uid)
    return out


async def _pg_balances(pool: asyncpg.Pool, users: Sequence[int]) -> dict[int, tuple[int, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(_BALANCES, list(users))
    return {r[0]: (r[1], r[2]) for r in rows}


async def reconcile(
    redis: LiveRedis,
    pool: asyncpg.Pool,
    partitions: int,
    metrics: WorkerMetrics | None = None,
    *,
    chunk: int = CHUNK,
    max_outbox: int = MAX_OUTBOX,
) -> Report:
    runner = ScriptRunner(redis)
    report = Report()
    by_p = await balance_keys(redis, partitions)
    for p in sorted(by_p):
        users = sorted(by_p[p])
        for i in range(0, len(users), chunk):
            part = users[i : i + chunk]
            pg = await _pg_balances(pool, part)
            args: list[Any] = [keys.tag(p), "check", max_outbox]
            for uid in part:
                balance, version = pg.get(uid, ("", 0))
                args += (uid, balance, version)
            reply = await runner.run(scripts.RECONCILE, (keys.outbox(p),), args)
            report.users += len(part)
            ahead = _apply(p, reply, report, metrics)
            if ahead is None:
                break
            if ahead:
                await _force(runner, pool, p, ahead, report, metrics, max_outbox)
    if metrics is not None:
        metrics.reconcile_runs.inc()
    if report.repairs or report.skipped_partitions:
        log.warning(
            "reconcile: %d users checked, repairs %s, partitions skipped %s",
            report.users,
            report.repairs,
            report.skipped_partitions,
        )
    else:
        log.info("reconcile: %d users checked, nothing to repair", report.users)
    return report


def _apply(
    p: int, reply: list[Any], report: Report, metrics: WorkerMetrics | None
) -> dict[int, int] | None:
    """Log and count the repairs of one script call; returns the users whose cache is ahead
    of PostgreSQL (uid -> the cached version), or None when the partition was skipped."""
    ahead: dict[int, int] = {}
    for j in range(0, len(reply), 4):
        uid, what, old, new = (_s(x) for x in reply[j : j + 4])
        if what == "skipped":
            log.warning("reconcile: partition %d skipped, its outbox holds %s entries", p, old)
            report.skipped_partitions.append(p)
            return None
        if what == "ahead":
            ahead[int(uid)] = int(old)
            continue
        report.add(what)
        if metrics is not None:
            metrics.reconcile_repairs.labels(what).inc()
        log.warning(
            "reconcile: user %s %s repaired: %s -> %s",
            uid,
            what,
            old,
            new,
            extra={"user_id": int(uid), "field": what, "old": old, "new": new},
        )
    return ahead


async def _force(
    runner: ScriptRunner,
    pool: asyncpg.Pool,
    p: int,
    ahead: dict[int, int],
    report: Report,
    metrics: WorkerMetrics | None,
    max_outbox: int,
) -> None:
    # Read PostgreSQL again: an ack may have committed and cached a newer version after our
    # first read. A version still behind the cache now means PostgreSQL went back in time.
    pg = await _pg_balances(pool, list(ahead))
    args: list[Any] = [keys.tag(p), "force", max_outbox]
    for uid, cached in ahead.items():
        if uid in pg and pg[uid][1] < cached:
            balance, version = pg[uid]
            log.error(
                "reconcile: user %d cached balance version %d is ahead of PostgreSQL's "
                "%d; replacing it with PostgreSQL's",
                uid,
                cached,
                version,
            )
            args += (uid, balance, version, cached)
    if len(args) > 3:
        _apply(p, await runner.run(scripts.RECONCILE, (keys.outbox(p),), args), report, metrics)
