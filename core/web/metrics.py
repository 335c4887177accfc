"""`HttpMetrics`: a pure-ASGI middleware counting requests by route template and status."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """Pure-ASGI middleware: `http_requests_total{method,route,status}` and
    `http_request_duration_seconds{method,route}`. The route label is the route's path
    template (`/api/admin/contents/{id}`), or `<unmatched>`, so that ids and probes
    for random paths cannot blow up the label set."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            label = _route_label(scope.get("route"))
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.requests.labels(method, label, str(status)).inc()
            self.latency.labels(method, label).observe(time.perf_counter() - start)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


_CONVERTOR = re.compile(r":[a-z]+}")


@functools.lru_cache(maxsize=1024)
def _label_of(path: str) -> str:
    return _CONVERTOR.sub("}", path)  # /contents/{id:int} -> /contents/{id}


def _route_label(route: Any) -> str:
    path = getattr(route, "path", None)
    return _label_of(path) if path else "<unmatched>"
