"""The worker process: `arq workers.main.WorkerSettings`.

It runs the outbox consumer (workers.drain: a long-running task started at start-up, not an
arq job) and the cron jobs of workers.jobs. arq's own queue lives on ARQ_REDIS_URL (default
REDIS_URL), since arq does not support Redis Cluster; the live state is on REDIS_URL.

`WorkerSettings` is a mapping that arq reads when it builds the worker (arq accepts a dict),
so the environment is read then, not at import: a missing or malformed variable stops the
process with one line and exit status 2, like the other processes.
"""

from __future__ import annotations

import logging
from collections.abc import ItemsView
from typing import Any
from wsgiref.simple_server import WSGIServer

import asyncpg
from arq.connections import RedisSettings
from arq.cron import cron
from prometheus_client import start_http_server
from sqlalchemy.engine import make_url

from core.db import make_engine, make_sessionmaker
from core.logs import setup_logging
from core.migrate import require_current_schema_or_exit
from core.redis_client import make_redis
from core.settings import ConfigError, Settings, load_or_exit
from core.youtube.metrics import YouTubeMetrics
from live.scripts import ScriptRunner
from live.store import LiveStore
from live.youtube_quota import make_client
from workers import jobs
from workers.config import WorkerConfig, load_config
from workers.drain import Drainer
from workers.metrics import WorkerMetrics

log = logging.getLogger("workers.main")


def asyncpg_dsn(database_url: str) -> str:
    """DATABASE_URL (postgresql+asyncpg://...) as a DSN that asyncpg itself accepts."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def close_redis(redis: Any) -> None:
    """Close a client from core.redis_client.make_redis: a Redis built on a pool it was given
    does not close that pool itself."""
    await redis.aclose()
    pool = getattr(redis, "connection_pool", None)
    if pool is not None:
        await pool.disconnect()


class WorkerApp:
    """Everything a worker process holds: clients, metrics, the drainer. Built by `open`,
    released by `close`; tests build one in-process (`drain=False`) to call the jobs."""

    def __init__(
        self,
        settings: Settings,
        config: WorkerConfig,
        redis: Any,
        pool: asyncpg.Pool,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.config = config
        self.redis = redis
        self.pool = pool
        self.metrics = metrics
        self.store = LiveStore(redis, settings.redis_partitions)
        # The YouTube refresh job's clients (docs/youtube.md): the importer is SQLAlchemy
        # code shared with the api, so it gets a small engine of its own (no connection is
        # made until the job runs).
        self.engine = make_engine(settings, pool_size=2)
        self.sessions = make_sessionmaker(self.engine)
        self.youtube = make_client(settings, redis, YouTubeMetrics(metrics.registry))
        self.drainer: Drainer | None = None
        self._http: WSGIServer | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        config: WorkerConfig,
        *,
        drain: bool = True,
        serve_metrics: bool = True,
    ) -> WorkerApp:
        redis = make_redis(settings, pool_size=max(8, 2 * config.consumers + 4))
        # No connection is made here (min_size=0): the worker starts, and waits, while
        # PostgreSQL is down. One connection per drain loop, plus the cron jobs'.
        pool = await asyncpg.create_pool(
            asyncpg_dsn(settings.database_url),
            min_size=0,
            max_size=config.consumers + 2,
            timeout=5,
            command_timeout=60,
        )
        app = cls(settings, config, redis, pool, WorkerMetrics())
        try:
            await ScriptRunner(redis).load()
        except Exception as exc:  # noqa: BLE001 - loaded again on NOSCRIPT when Redis is back
            log.warning("loading the Lua scripts failed: %r", exc)
        if serve_metrics and config.metrics_port:
            try:
                app._http, _ = start_http_server(
                    config.metrics_port, config.metrics_addr, registry=app.metrics.registry
                )
            except OSError as exc:  # metrics must not stop the money path
                log.error("metrics server on port %d failed: %r", config.metrics_port, exc)
        if drain:
            app.drainer = Drainer(redis, pool, settings.redis_partitions, config, app.metrics)
            await app.drainer.start()
        log.info(
            "worker %s up: %d partitions, %d drain loops, batch %d",
            config.worker_id,
            settings.redis_partitions,
            config.consumers,
            config.batch,
        )
        return app

    async def close(self) -> None:
        if self.drainer is not None:
            await self.drainer.stop(self.config.shutdown_s)
        await self.store.close()
        await self.youtube.http.aclose()
        await self.engine.dispose()
        await self.pool.close()
        await close_redis(self.redis)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        log.info("worker %s stopped", self.config.worker_id)


async def startup(ctx: dict[str, Any]) -> None:
    # An older schema than this code's: one line and exit 2 (PostgreSQL down: not checked).
    await require_current_schema_or_exit(ctx["settings"].database_url)
    ctx["app"] = await WorkerApp.open(ctx["settings"], ctx["config"])


async def shutdown(ctx: dict[str, Any]) -> None:
    app: WorkerApp | None = ctx.get("app")
    if app is not None:
        await app.close()


def _every(step: int, upto: int) -> set[int]:
    return set(range(0, upto, step))


def build() -> dict[str, Any]:
    """The arq Worker arguments, from the environment."""
    settings = load_or_exit()
    try:
        config = load_config()
    except ConfigError as exc:
        import os
        import sys

        sys.stderr.write(f"configuration error: {exc}\n")
        sys.stderr.flush()
        os._exit(2)
    setup_logging()
    # arq configured its own plain handler; let its lines go through the JSON one instead.
    logging.getLogger("arq").handlers.clear()
    return {
        "redis_settings": RedisSettings.from_dsn(settings.arq_redis_url),
        "ctx": {"settings": settings, "config": config},
        "on_startup": startup,
        "on_shutdown": shutdown,
        "cron_jobs": [
            cron(jobs.sweep_sessions, second=_every(5, 60), timeout=60),
            cron(jobs.sync_viewer_counts, second=15, timeout=60),
            cron(jobs.sample_stats, second=_every(10, 60), timeout=30, run_at_startup=True),
            cron(
                jobs.reconcile_balances,
                minute=_every(5, 60),
                second=30,
                timeout=1200,
                run_at_startup=True,
            ),
            cron(
                jobs.report_dead_letters,
                minute=_every(5, 60),
                second=45,
                timeout=60,
                run_at_startup=True,
            ),
            cron(jobs.expire_contents, minute=7, second=0, timeout=300, run_at_startup=True),
            cron(jobs.prune_user_events, minute=37, second=0, timeout=600, run_at_startup=True),
            cron(
                jobs.compute_recommendations,
                minute=_every(15, 60),
                second=50,
                timeout=600,
                run_at_startup=True,
            ),
            cron(jobs.refresh_youtube, second=50, timeout=300),
        ],
        "health_check_interval": 30,
        "max_jobs": 4,
    }


class _LazySettings(dict):  # type: ignore[type-arg]
    """A mapping whose items are built when arq asks for them (see the module docstring)."""

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return build().items()


WorkerSettings = _LazySettings()
