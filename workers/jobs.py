"""The cron jobs. arq may run a job twice (and two workers may race on a tick): each one is
idempotent, writing absolute values or applying a condition that a second run finds done.

- `sweep_sessions`, every 5 s: sweep.lua over all partitions (the hubs run it every second;
  this covers a system with no hub up, and a duplicate is harmless);
- `sync_viewer_counts`, every 60 s: contents.live_viewers = the live count in Redis;
- `reconcile_balances`, every 5 minutes and at start: workers.reconcile;
- `report_dead_letters`, every 5 minutes and at start: gauge, and a log line while any wait;
- `expire_contents`, hourly and at start: mark contents past expires_at (expired_at,
  updated_at), unmark those whose expires_at moved on;
- `prune_user_events`, hourly and at start: delete user events older than
  `USER_EVENTS_RETENTION_DAYS` (a second run finds nothing older).
- `refresh_youtube`, every minute: the YouTube contents whose metadata is due (live and
  upcoming ones every YOUTUBE_LIVE_REFRESH_S, others daily), within the quota budget
  (docs/youtube.md); a second run finds nothing due, and a row is only written when the
  metadata changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from core import user_events
from core.youtube import importer, quota
from core.youtube.client import QuotaExhausted, YouTubeError
from live import keys
from workers import recommend, reconcile, stats_sampler

if TYPE_CHECKING:
    from workers.main import WorkerApp

log = logging.getLogger("workers.jobs")
T = TypeVar("T")

# The refresh job's share of the YouTube quota: at most this many videos.list calls per run
# (50 videos each), and never the last RESERVE of the daily budget, which is kept for the
# admins' imports and refreshes.
YOUTUBE_CALLS_PER_RUN = 20
YOUTUBE_RESERVE = 0.1

_LIVE_CONTENTS = "SELECT id FROM contents WHERE deleted_at IS NULL OR live_viewers <> 0"
_SET_VIEWERS = """
UPDATE contents AS c SET live_viewers = v.n, live_viewers_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS v(id, n)
WHERE c.id = v.id
"""
_EXPIRE = """
UPDATE contents SET expired_at = now(), updated_at = now()
WHERE expires_at <= now() AND expired_at IS NULL
RETURNING id
"""
_UNEXPIRE = """
UPDATE contents SET expired_at = NULL, updated_at = now()
WHERE expired_at IS NOT NULL AND (expires_at IS NULL OR expires_at > now())
RETURNING id
"""


def _app(ctx: dict[str, Any]) -> WorkerApp:
    return ctx["app"]  # type: ignore[no-any-return]


async def _run(ctx: dict[str, Any], name: str, coro: Awaitable[T]) -> T:
    app = _app(ctx)
    try:
        result = await coro
    except Exception:
        app.metrics.jobs.labels(name, "failed").inc()
        raise
    app.metrics.jobs.labels(name, "ok").inc()
    return result


async def sweep_sessions(ctx: dict[str, Any]) -> int:
    """End sessions past their deadline (the same sweep.lua the hubs run)."""
    app = _app(ctx)
    return await _run(ctx, "sweep", _sweep(app))


async def _sweep(app: WorkerApp) -> int:
    return len(await app.store.sweep(range(app.settings.redis_partitions)))


async def sync_viewer_counts(ctx: dict[str, Any]) -> int:
    """contents.live_viewers := ZCOUNT of the content's viewer set from now on."""
    app = _app(ctx)
    return await _run(ctx, "viewers", _viewers(app))


async def _viewers(app: WorkerApp) -> int:
    async with app.pool.acquire() as conn:
        ids = [r[0] for r in await conn.fetch(_LIVE_CONTENTS)]
    if not ids:
        return 0
    now_ms = int(time.time() * 1000)
    counts: list[int] = []
    for i in range(0, len(ids), 1000):
        pipe = app.redis.pipeline(transaction=False)
        for cid in ids[i : i + 1000]:
            pipe.zcount(keys.viewers(cid), now_ms, "+inf")
        counts += [int(n) for n in await pipe.execute()]
    async with app.pool.acquire() as conn:
        await conn.execute(_SET_VIEWERS, ids, counts)
    return len(ids)


async def sample_stats(ctx: dict[str, Any]) -> bool:
    """Record the console charts' sample of this 10 s slot (workers/stats_sampler.py)."""
    app = _app(ctx)
    return await _run(
        ctx, "stats", stats_sampler.record(app.redis, app.pool, app.settings.redis_partitions)
    )


async def expire_contents(ctx: dict[str, Any]) -> tuple[int, int]:
    """Mark contents whose expires_at has passed; unmark those whose expires_at moved on."""
    app = _app(ctx)
    return await _run(ctx, "expire", _expire(app))


async def _expire(app: WorkerApp) -> tuple[int, int]:
    async with app.pool.acquire() as conn, conn.transaction():
        expired = [r[0] for r in await conn.fetch(_EXPIRE)]
        restored = [r[0] for r in await conn.fetch(_UNEXPIRE)]
    if expired or restored:
        log.info("contents expired: %s; no longer expired: %s", expired[:50], restored[:50])
    return len(expired), len(restored)


async def prune_user_events(ctx: dict[str, Any]) -> int:
    """Delete user events older than the retention (USER_EVENTS_RETENTION_DAYS)."""
    app = _app(ctx)
    return await _run(ctx, "prune_user_events", _prune(app))


async def _prune(app: WorkerApp) -> int:
    days = app.settings.user_events_retention_days
    async with app.pool.acquire() as conn:
        status = await conn.execute(user_events.PRUNE, days)
    deleted = int(status.rsplit(" ", 1)[-1])
    if deleted:
        log.info("user events older than %d days deleted: %d", days, deleted)
    return deleted


async def reconcile_balances(ctx: dict[str, Any]) -> dict[str, Any]:
    app = _app(ctx)
    report = await _run(
        ctx,
        "reconcile",
        reconcile.reconcile(app.redis, app.pool, app.settings.redis_partitions, app.metrics),
    )
    return {"users": report.users, "repairs": report.repairs, "skipped": report.skipped_partitions}


async def report_dead_letters(ctx: dict[str, Any]) -> dict[int, int]:
    """Dead letters per partition (the gauge, and one log line while there are any)."""
    app = _app(ctx)
    return await _run(ctx, "dead_letters", _dead_letters(app))


async def _dead_letters(app: WorkerApp) -> dict[int, int]:
    parts = range(app.settings.redis_partitions)
    pipe = app.redis.pipeline(transaction=False)
    for p in parts:
        pipe.xlen(keys.dead_letters(p))
    counts = {p: int(n) for p, n in zip(parts, await pipe.execute(), strict=False)}
    for p, n in counts.items():
        app.metrics.dead_letter_entries.labels(str(p)).set(n)
    held = {p: n for p, n in counts.items() if n}
    if held:
        log.error(
            "dead letters waiting: %d entries in %d partitions %s; inspect with "
            "`python -m workers.deadletters list`",
            sum(held.values()),
            len(held),
            dict(list(held.items())[:16]),
        )
    return held


async def compute_recommendations(ctx: dict[str, Any]) -> tuple[int, int]:
    """Related contents and per-user recommendations from watch_sessions (workers/recommend.py)."""
    app = _app(ctx)
    return await _run(ctx, "recommendations", recommend.refresh(app.pool))


async def refresh_youtube(ctx: dict[str, Any]) -> int:
    """Refresh the YouTube contents that are due; returns how many were refreshed. A quota
    stop ends the run quietly (the rest waits for the quota day's reset)."""
    app = _app(ctx)
    return await _run(ctx, "youtube_refresh", _refresh_youtube(app))


async def _refresh_youtube(app: WorkerApp) -> int:
    client, settings = app.youtube, app.settings
    if not client.configured:
        return 0
    used = await client.ledger.used(quota.quota_day(client.clock()))
    spendable = int(settings.youtube_daily_quota * (1 - YOUTUBE_RESERVE)) - used
    calls = min(YOUTUBE_CALLS_PER_RUN, spendable)
    if calls <= 0:
        return 0
    async with app.sessions() as session:
        ids = await importer.due(session, settings.youtube_live_refresh_s, calls * importer.BATCH)
    if not ids:
        return 0
    try:
        return await importer.refresh(app.sessions, client, ids, settings.youtube_region)
    except QuotaExhausted as exc:
        log.warning("youtube refresh stopped: quota %s until %s", exc.why, exc.reset_at)
    except YouTubeError as exc:
        log.warning("youtube refresh failed: %s: %s", exc.reason, exc)
    return 0
