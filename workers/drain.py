"""The outbox consumer: drains the partitions this worker holds into PostgreSQL.

Each of `consumers` loops owns the held partitions p with p % consumers == its index and
repeats one round: take over entries a dead consumer left (every so often), read a batch
from its partitions in one pipeline, write it in one PostgreSQL transaction, and only after
the commit acknowledge it in Redis (ack.lua, one call per partition in one pipeline). The
steps of a round never overlap for a partition, so its batches are committed and
acknowledged in order. The exactly-once argument is in docs/money.md.

Failures:
- PostgreSQL unavailable (or a deadlock, a timeout): the same batch is retried with backoff
  until it commits; new entries wait in the outbox meanwhile.
- PostgreSQL refuses the data (SQLSTATE class 22 or 23): the batch is split in halves until
  the entry at fault is alone; it goes to the dead letters, the rest is written.
- An entry that cannot be parsed, or that was delivered more than `max_deliveries` times (it
  keeps killing workers), goes to the dead letters without being written.
- Redis unavailable: the round is retried; an ack is retried until it lands (a worker that
  dies first leaves the entries pending; the next one replays them harmlessly).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from redis.exceptions import RedisError, ResponseError

from core.redis_client import LiveRedis
from live import keys
from workers import activity, ledger
from workers.config import WorkerConfig
from workers.entries import Bad, Batch, Entry, Grant, as_dict, entry_ms, parse_flat, pend_share
from workers.leases import Leases
from workers.metrics import WorkerMetrics
from workers.outbox import Outbox, Read

log = logging.getLogger("workers.drain")

STATS_EVERY_S = 2.0
BACKOFF_MAX_S = 2.0
LOG_EVERY_S = 10.0
KNOWN_USERS_MAX = 1_000_000  # ~60 MB of ints at most; cleared (not evicted) when reached


class DataRefused(Exception):
    """PostgreSQL refused the data of a batch (not a transient failure)."""


class Stopping(Exception):
    """The worker is shutting down while a batch could not be written: leave it pending."""


def is_data_error(exc: BaseException) -> bool:
    """SQLSTATE class 22 (data exception) or 23 (integrity constraint violation): the same
    rows would fail again. Anything else (connection lost, shutdown, deadlock, timeout, a
    missing table) is worth retrying as is."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state.startswith(("22", "23"))
    # asyncpg's client-side DataError (a value it cannot encode) is an InterfaceError and a
    # ValueError; its other InterfaceErrors (connection closed...) are transient.
    return isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError)


class _Throttle:
    """Log a repeating failure once, then at most every LOG_EVERY_S, and its recovery."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.last = 0.0
        self.count = 0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.count += 1
        if self.since is None:
            self.since = now
        if self.count == 1 or now - self.last >= LOG_EVERY_S:
            self.last = now
            log.warning(
                "%s failing for %.1f s (%d attempts): %r",
                self.what,
                now - self.since,
                self.count,
                exc,
            )

    def ok(self) -> None:
        if self.since is not None:
            log.warning(
                "%s recovered after %.1f s (%d failed attempts)",
                self.what,
                time.monotonic() - self.since,
                self.count,
            )
        self.since, self.count = None, 0


class Drainer:
    def __init__(
        self,
        redis: LiveRedis,
        pool: asyncpg.Pool,
        partitions: int,
        config: WorkerConfig,
        metrics: WorkerMetrics,
    ) -> None:
        self.redis = redis
        self.pool = pool
        self.partitions = partitions
        self.config = config
        self.metrics = metrics
        self.outbox = Outbox(redis, partitions, config.worker_id)
        self.locks = [asyncio.Lock() for _ in range(config.consumers)]
        self.pending: set[int] = set()  # partitions whose pending list is read back first
        self.known_users: set[int] = set()  # users with a row (no INSERT to provision them)
        self.next_claim: dict[int, float] = {}
        self.claim_every_s = max(1.0, config.claim_idle_ms / 2000)
        self.leases = Leases(
            redis,
            partitions,
            config.worker_id,
            config.lease_ms,
            lock_for=lambda p: self.locks[p % config.consumers],
            on_acquire=self._acquired,
            on_count=metrics.partitions_held.set,
        )
        self.stopping = asyncio.Event()
        self._paused = False
        self._pg = _Throttle("PostgreSQL write")
        self._redis = _Throttle("Redis")
        self._loops: list[asyncio.Task[None]] = []
        self._side: list[asyncio.Task[None]] = []

    def _acquired(self, p: int) -> None:
        # A partition just taken (at start, or from a dead worker): read back what this
        # consumer id left pending (a restart with the same id), and claim at once.
        self.pending.add(p)
        self.next_claim[p] = 0.0

    # Lifecycle.

    async def start(self) -> None:
        try:
            await self.outbox.ensure_groups(range(self.partitions))
        except (RedisError, OSError) as exc:  # the loops create them when Redis is back
            log.warning("creating the outbox groups failed: %r", exc)
        self._side.append(asyncio.create_task(self.leases.run(self.stopping), name="leases"))
        self._side.append(asyncio.create_task(self._stats_loop(), name="outbox-stats"))
        for i in range(self.config.consumers):
            self._loops.append(asyncio.create_task(self._loop(i), name=f"drain-{i}"))

    async def stop(self, timeout: float) -> None:
        """Finish the batches in flight (up to `timeout` s), then give the leases back so
        another worker takes over at once."""
        self.stopping.set()
        if self._loops:
            _, late = await asyncio.wait(self._loops, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._loops, return_exceptions=True)
        for task in self._side:
            task.cancel()
        await asyncio.gather(*self._side, return_exceptions=True)
        await self.leases.release_all()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    # The loop.

    async def _loop(self, i: int) -> None:
        lock = self.locks[i]
        idle_s = self.config.poll_ms / 1000
        failures = 0
        while not self.stopping.is_set():
            n = 0
            parts: list[int] = []
            try:
                async with lock:
                    parts = [p for p in sorted(self.leases.held) if p % self.config.consumers == i]
                    if parts:
                        n = await self._round(parts)
                failures = 0
                self._redis.ok()
            except asyncio.CancelledError:
                raise
            except Stopping:
                return
            except (RedisError, OSError) as exc:
                self.metrics.errors.labels("redis").inc()
                self._redis.failed(exc)
                failures += 1
                await self._sleep(min(BACKOFF_MAX_S, 0.05 * 2**failures))
                continue
            except Exception:
                log.exception("drain round failed on partitions %s", parts)
                self.pending.update(parts)  # read back whatever this round left pending
                await self._sleep(1.0)
                continue
            if n == 0:
                await self._sleep(idle_s)

    async def _round(self, parts: list[int]) -> int:
        now = time.monotonic()
        for p in parts:
            if now >= self.next_claim.get(p, 0.0):
                self.next_claim[p] = now + self.claim_every_s
                taken, gone = await self.outbox.claim(p, self.config.claim_idle_ms)
                if taken:
                    log.warning(
                        "partition %d: took over %d entries left by another consumer", p, taken
                    )
                    self.metrics.claimed.inc(taken)
                    self.pending.add(p)
                if gone:
                    log.warning(
                        "partition %d: %d pending entries had been deleted from the "
                        "stream unacknowledged: %s",
                        p,
                        len(gone),
                        gone[:10],
                    )
        per_part = max(10, self.config.batch // len(parts))
        reads = await self.outbox.read(parts, self.pending, per_part)
        if not reads:
            return 0
        await self._process(reads)
        return sum(len(r.entries) for r in reads)

    # One batch.

    def _classify(
        self, reads: Sequence[Read]
    ) -> tuple[list[tuple[int, Entry]], dict[int, list[Bad]]]:
        good: list[tuple[int, Entry]] = []
        bad: dict[int, list[Bad]] = {}
        for r in reads:
            p = r.partition
            for eid, fields in r.entries:
                times = r.deliveries.get(eid, 0) if r.deliveries else 0
                if times > self.config.max_deliveries:
                    share = pend_share(as_dict(fields))
                    if share and keys.partition_of(share[0], self.partitions) != p:
                        share = None
                    e: Entry = Bad(
                        eid,
                        f"delivered {times} times",
                        share[0] if share else None,
                        share[1] if share else 0,
                    )
                else:
                    e = parse_flat(eid, fields, p, self.partitions)
                if isinstance(e, Bad):
                    bad.setdefault(p, []).append(e)
                else:
                    good.append((p, e))
        return good, bad

    async def _process(self, reads: Sequence[Read]) -> None:
        good, bad = self._classify(reads)
        written, refused = await self._persist(good) if good else (ledger.Written(), [])
        for p, e, why in refused:
            share = (e.user_id, e.amount) if isinstance(e, Grant) and not e.held else None
            bad.setdefault(p, []).append(
                Bad(
                    e.entry_id,
                    f"refused by PostgreSQL: {why}",
                    share[0] if share else None,
                    share[1] if share else 0,
                )
            )
        if self.config.pause_after_commit and good:
            # Test hook: every loop stops after its first commit, before the ack, so that a
            # crash between commit and ack can be made on demand.
            if not self._paused:
                self._paused = True
                log.warning(
                    "paused after the first commit, before its ack (WORKER_PAUSE_AFTER_COMMIT)"
                )
            await self.stopping.wait()
            raise Stopping
        committed = good
        if refused:
            refused_ids = {e.entry_id for _, e, _ in refused}
            committed = [(p, e) for p, e in good if e.entry_id not in refused_ids]
        if committed:
            await self._ack(committed, written)
            self._count(committed, written)
        if bad:
            await self._dead_letter(bad)

    async def _persist(
        self, items: list[tuple[int, Entry]]
    ) -> tuple[ledger.Written, list[tuple[int, Entry, str]]]:
        """Commit these entries; on a data error, split and commit the halves, down to the
        single entries that PostgreSQL refuses (returned with the reason)."""
        try:
            return await self._commit(items), []
        except DataRefused as exc:
            self.metrics.errors.labels("data").inc()
            if len(items) == 1:
                p, e = items[0]
                return ledger.Written(), [(p, e, str(exc.__cause__ or exc)[:300])]
            mid = len(items) // 2
            first, refused_a = await self._persist(items[:mid])
            second, refused_b = await self._persist(items[mid:])
            first.merge(second)
            return first, refused_a + refused_b

    async def _commit(self, items: list[tuple[int, Entry]]) -> ledger.Written:
        batch = Batch.build(e for _, e in items)
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    written = await ledger.write(conn, batch, self.known_users)
                    await activity.write(conn, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_data_error(exc):
                    raise DataRefused(str(exc)) from exc
                self.metrics.errors.labels("postgres").inc()
                self._pg.failed(exc)
                if self.stopping.is_set():
                    raise Stopping from exc
                failures += 1
                await self._sleep(min(BACKOFF_MAX_S, 0.05 * 2**failures))
                if self.stopping.is_set():
                    raise Stopping from exc
                continue
            self._pg.ok()
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            if len(self.known_users) > KNOWN_USERS_MAX:
                self.known_users.clear()
            self.known_users.update(written.users)  # committed: their rows exist
            return written

    async def _ack(self, committed: list[tuple[int, Entry]], written: ledger.Written) -> None:
        by_p: dict[int, tuple[list[Grant | str], dict[int, tuple[int, int]]]] = {}
        for p, e in committed:
            entries, balances = by_p.setdefault(p, ([], {}))
            if isinstance(e, Grant):
                entries.append(e)
                if e.user_id in written.balances:
                    balances[e.user_id] = written.balances[e.user_id]
            else:
                entries.append(e.entry_id)
        failures = 0
        while by_p:
            try:
                replies = await self.outbox.ack(by_p)
            except (RedisError, OSError) as exc:
                replies = [exc] * len(by_p)
            retry: dict[int, Any] = {}
            for (p, work), reply in zip(list(by_p.items()), replies, strict=False):
                if isinstance(reply, ResponseError) and "NOGROUP" in str(reply):
                    # The group was lost (a Redis restart): created again from id 0, it
                    # delivers these entries anew, and that replay's ack does the bookkeeping.
                    log.warning("partition %d: consumer group missing at ack; recreated", p)
                    await self.outbox.ensure_groups([p])
                elif isinstance(reply, Exception):
                    retry[p] = work
                    self.metrics.errors.labels("redis").inc()
                    self._redis.failed(reply)
            by_p = retry
            if by_p:
                # Committed but not acknowledged: keep trying. (If this worker dies now, the
                # entries stay pending and are replayed; the replay writes nothing.)
                failures += 1
                await asyncio.sleep(min(BACKOFF_MAX_S, 0.05 * 2**failures))

    def _count(self, committed: list[tuple[int, Entry]], written: ledger.Written) -> None:
        m = self.metrics
        m.batches.inc()
        m.rows.labels("grant").inc(written.grants_inserted)
        m.rows.labels("replay").inc(written.grants_replayed)
        m.rows.labels("held").inc(written.grants_held)
        m.rows.labels("flag").inc(written.flags)
        m.rows.labels("session").inc(written.sessions)
        m.rows.labels("view").inc(written.views)
        oldest = min(entry_ms(e.entry_id) for _, e in committed)
        m.batch_lag.observe(max(0.0, time.time() - oldest / 1000))

    async def _dead_letter(self, bad: dict[int, list[Bad]]) -> None:
        now_ms = int(time.time() * 1000)
        for p, entries in bad.items():
            moved = await self.outbox.dead_letter(p, entries, now_ms, self.config.dead_letters_max)
            for b in entries:
                log.error(
                    "partition %d: entry %s moved to the dead letters: %s",
                    p,
                    b.entry_id,
                    b.reason,
                    extra={"partition": p, "entry_id": b.entry_id, "reason": b.reason},
                )
                kind = b.reason.split(":", 1)[0].split(" ", 1)[0]
                self.metrics.dead_letters.labels(_reason_label(kind)).inc()
            if moved != len(entries):
                log.warning(
                    "partition %d: %d of %d dead letters were acknowledged elsewhere",
                    p,
                    len(entries) - moved,
                    len(entries),
                )

    # Gauges.

    async def _stats_loop(self) -> None:
        parts = list(range(self.partitions))
        while True:
            try:
                await self.update_stats(parts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("outbox stats failed: %r", exc)
            await asyncio.sleep(STATS_EVERY_S)

    async def update_stats(self, parts: list[int]) -> None:
        now_ms, stats = await self.outbox.stats(parts)
        m = self.metrics
        for p, s in stats.items():
            label = str(p)
            m.outbox_entries.labels(label).set(s.length)
            lag = max(0, now_ms - s.oldest_ms) / 1000 if s.oldest_ms is not None else 0.0
            m.outbox_lag.labels(label).set(lag)
            m.dead_letter_entries.labels(label).set(s.dead)
        m.partitions_held.set(len(self.leases.held))


def _reason_label(kind: str) -> str:
    """A bounded label for the dead-letter counter."""
    if kind == "delivered":
        return "deliveries"
    if kind == "refused":
        return "refused"
    return "unparseable"
