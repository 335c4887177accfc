"""The realtime hub: `uvicorn realtime.app:app`.

Nothing connects at import: the lifespan builds settings, clients and the Hub. SIGTERM starts
a drain (PROTOCOL 4.3): /ready turns 503, new connections are refused with 1012, open ones
are closed with 1012 in batches over up to DRAIN_SECONDS, and only then is uvicorn told to
shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from core import launch, probes
from core.bodies import BodyGuard
from core.db import make_engine
from core.logs import setup_logging
from core.migrate import require_current_schema_or_exit
from core.redis_client import make_pubsub_redis, make_redis
from core.settings import load_or_exit
from core.web import HttpMetrics, RequestContext, exception_handlers, openapi, pages
from realtime import connection, fallback, sse_routes
from realtime.hub import Hub
from realtime.metrics import HubMetrics

log = logging.getLogger("realtime.app")
EXAMPLES = Path(__file__).with_name("openapi-examples.json")  # see core.web.openapi
TITLE = "watch-hub realtime hub (HTTP routes)"
WEB = Path(__file__).resolve().parents[1] / "web"  # the demo player and its client (docs/pages.md)


def _install_drain(hub: Hub) -> None:
    """Chain a drain in front of uvicorn's SIGTERM/SIGINT handler."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            if hub.draining:  # a second signal: stop now
                previous(signum, frame)
                return

            async def drain_then_exit() -> None:
                try:
                    await hub.drain()
                finally:
                    previous(signum, None)

            loop.call_soon_threadsafe(lambda: hub.spawn(drain_then_exit()))

        signal.signal(sig, handler)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = load_or_exit()
    setup_logging()
    engine = make_engine(settings, pool_size=5)
    await require_current_schema_or_exit(engine)
    redis = make_redis(settings)
    pubsub = make_pubsub_redis(settings)
    gaps = launch.server_gaps(settings.ws_max_frame_bytes)
    if gaps:
        log.warning(
            "the hub runs without its deployed settings (start it with `python -m realtime`): %s",
            "; ".join(gaps),
        )
    hub = Hub(settings, redis, pubsub, engine, app.state.metrics)
    await hub.start()
    app.state.hub, app.state.settings, app.state.tz = hub, settings, settings.tz
    app.state.engine, app.state.redis = engine, redis
    _install_drain(hub)
    # Long-lived connection objects would make every full collection walk them all: move what
    # start-up made out of the collector's sight, and collect less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.gc_threshold)
    try:
        yield
    finally:
        await hub.stop()
        await pubsub.aclose()
        await redis.aclose()
        pool = getattr(redis, "connection_pool", None)
        if pool is not None:
            await pool.disconnect()
        await engine.dispose()


async def player_page(request: Request) -> Response:
    return pages.page("player.html", pages.PLAYER_CSP)


async def ready(request: Request) -> Response:
    if request.app.state.hub.draining:
        return JSONResponse({"status": "draining", "down": ["draining"]}, 503)
    return await probes.ready(request)


class HubApp:
    """The ASGI app: `/ws` goes straight to realtime.connection (plain ASGI: nothing of the
    router's or the middleware's lives on for each connection), everything else to Starlette,
    which also runs the lifespan."""

    def __init__(self, starlette: Starlette) -> None:
        self.starlette = starlette
        self.state = starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await connection.serve(scope, receive, send, self.state.hub)
        else:
            await self.starlette(scope, receive, send)


def create_app() -> HubApp:
    metrics = HubMetrics()
    app = Starlette(
        routes=[
            *fallback.routes,
            *openapi.routes(TITLE, EXAMPLES),
            *sse_routes.routes,
            Route("/health", probes.health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", probes.metrics, methods=["GET"]),
            Route("/player", player_page, methods=["GET"]),
            Mount("/static", pages.StaticWeb(directory=WEB, check_dir=False), name="static"),
        ],
        middleware=[
            Middleware(RequestContext),
            Middleware(BodyGuard),  # the fallback's bodies, bounded in size and time
            Middleware(HttpMetrics, registry=metrics.registry),  # the HTTP fallback's requests
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.metrics, app.state.registry = metrics, metrics.registry
    return HubApp(app)


app = create_app()
