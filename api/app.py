"""The REST api: `uvicorn api.app:app`.

Nothing connects at import: settings, the engine and the Redis client are made in
`lifespan` and kept on `app.state` (settings, tz, engine, sessions, redis, control,
registry, youtube: the YouTube client, whose quota state /ready's details show).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route

from api import (
    admin,
    ads,
    advertiser,
    auth,
    boxes,
    catalog,
    gold,
    help,
    me,
    missions,
    payments,
    recommendations,
    reward_posts,
    withdrawals,
)
from api import config as page_config
from api.ad_refusals import refusal_counter
from api.social import routes as social
from api.social.client import Providers
from api.state import Control
from core import probes
from core.bodies import BodyGuard
from core.db import make_engine, make_sessionmaker
from core.logs import AccessLog, setup_logging
from core.migrate import require_current_schema_or_exit
from core.process_metrics import with_process_metrics
from core.redis_client import make_pubsub_redis, make_redis
from core.settings import load_or_exit
from core.web import (
    ConcurrencyCap,
    Cors,
    HttpMetrics,
    RequestContext,
    exception_handlers,
    openapi,
    pages,
)
from core.youtube.metrics import YouTubeMetrics
from live import keys, nudges
from live.youtube_quota import make_client


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = load_or_exit()
    setup_logging()
    engine = make_engine(settings)
    await require_current_schema_or_exit(engine)
    redis = make_redis(settings)
    control = Control(settings, engine)
    # A database that is down at start is not fatal: /ready says so, and the poll retries.
    await control.try_refresh()
    state = app.state
    state.settings, state.tz, state.engine = settings, settings.tz, engine
    state.sessions, state.redis, state.control = make_sessionmaker(engine), redis, control
    state.social = Providers(settings.oauth_providers, settings.oauth_timeout_ms)
    state.youtube = youtube = make_client(settings, redis, state.youtube_metrics)
    state.ready_details = {"youtube": youtube.status}
    pubsub = make_pubsub_redis(settings)
    refreshes = app.state.control_refreshes
    tasks = [
        asyncio.create_task(
            control.run(lambda trigger: refreshes.labels(trigger).inc()), name="control-poll"
        ),
        asyncio.create_task(
            nudges.listen(pubsub, (keys.CONTROL_CHANNEL,), lambda _: control.nudge()),
            name="control-nudges",
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await youtube.http.aclose()
        await pubsub.aclose()
        await redis.aclose()
        pool = getattr(redis, "connection_pool", None)
        if pool is not None:  # a client given a pool does not close it itself
            await pool.disconnect()
        await engine.dispose()


EXAMPLES = Path(__file__).with_name("openapi-examples.json")  # see core.web.openapi
TITLE = "watch-hub REST api"
WEB = Path(__file__).resolve().parents[1] / "web"  # the admin console page (docs/pages.md)


async def admin_page(request: Request) -> FileResponse:
    return pages.page("admin.html", pages.ADMIN_CSP)


def create_app() -> Starlette:
    registry = with_process_metrics(CollectorRegistry())
    app = Starlette(
        routes=[
            *probes.routes,
            *openapi.routes(TITLE, EXAMPLES),
            *page_config.routes,
            *auth.routes,
            *social.routes,
            *me.routes,
            *catalog.routes,
            *reward_posts.routes,
            *recommendations.routes,
            *help.routes,
            *admin.routes,
            *boxes.routes,
            *gold.routes,
            *missions.routes,
            *ads.routes,
            *advertiser.routes,
            *payments.routes,
            *withdrawals.routes,
            Route("/admin", admin_page, methods=["GET"]),
            Mount("/static", pages.StaticWeb(directory=WEB, check_dir=False), name="static"),
        ],
        middleware=[
            Middleware(RequestContext),  # outermost: every response gets its X-Request-ID
            Middleware(AccessLog),  # one JSON line per request, 503s and preflights too
            Middleware(Cors),
            Middleware(BodyGuard),  # bodies read whole (bounded) before a slot is taken
            Middleware(ConcurrencyCap),
            Middleware(HttpMetrics, registry=registry),
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.control_refreshes = probes.control_refreshes(registry)
    app.state.ad_refused = refusal_counter(registry)
    app.state.youtube_metrics = YouTubeMetrics(registry)  # the client is made in lifespan
    return app


app = create_app()
