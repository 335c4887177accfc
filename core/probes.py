"""Process probes and metrics shared by the api and the hub: /health, /ready, /metrics.

/metrics also runs /ready's checks and exports them as `dependency_up{dependency}` (1 or 0),
so that Prometheus can alert on Redis or PostgreSQL being unreachable without an exporter
for either (deploy/prometheus/alerts.yml).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CHECK_TIMEOUT_S = 2.0


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def health(request: Request) -> Response:
    """200 while the process runs (no dependency is checked)."""
    return _json({"status": "ok"})


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"down: no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever broke
        return f"down: {type(exc).__name__}: {exc}"[:300]
    return "ok"


async def _ping_postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _checks(request: Request) -> dict[str, str]:
    redis_state, pg_state = await asyncio.gather(
        _check(request.app.state.redis.ping()), _check(_ping_postgres(request))
    )
    return {"redis": redis_state, "postgresql": pg_state}


async def _details(request: Request) -> dict[str, Any]:
    """What the app adds beside its checks (`app.state.ready_details`: name -> an async
    callable), never deciding readiness: the api's YouTube quota state is shown here, and
    a stopped quota fails nothing else. A detail that fails says so in its place."""
    out: dict[str, Any] = {}
    for name, detail in getattr(request.app.state, "ready_details", {}).items():
        try:
            out[name] = await asyncio.wait_for(detail(), CHECK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a detail reports whatever broke
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


async def ready(request: Request) -> Response:
    """200 when Redis and PostgreSQL both answer, else 503 naming what is down; `details`
    carries the app's extra state, when it has any."""
    checks, details = await asyncio.gather(_checks(request), _details(request))
    down = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, Any] = {"checks": checks}
    if details:
        body["details"] = details
    if down:
        return _json({"status": "unavailable", "down": down, **body}, 503)
    return _json({"status": "ready", **body})


def _dependency_gauge(request: Request) -> Gauge:
    state = request.app.state
    gauge = getattr(state, "dependency_up", None)
    if gauge is None:  # made at the first scrape, in the app's own registry
        gauge = Gauge(
            "dependency_up",
            "1 when this process reached the dependency at the last scrape, else 0",
            ["dependency"],
            registry=state.registry,
        )
        state.dependency_up = gauge
    return gauge


async def metrics(request: Request) -> Response:
    gauge = _dependency_gauge(request)
    await _details(request)  # they refresh their own gauges (youtube_quota_exhausted)
    for name, state in (await _checks(request)).items():
        gauge.labels(name).set(1 if state == "ok" else 0)
    body = generate_latest(request.app.state.registry)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]


def control_refreshes(registry: CollectorRegistry) -> Counter:
    """Control snapshots re-read, by what triggered them (`nudge` or `poll`): the witness
    that a change reached the process by its nudge."""
    return Counter(
        "control_refreshes_total",
        "Control snapshots (runtime settings, blocks) re-read, by trigger",
        ["trigger"],
        registry=registry,
    )
