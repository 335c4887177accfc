"""Prometheus metrics of the YouTube client, in the registry of the process that uses it
(the api's or the worker's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class YouTubeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "youtube_api_calls_total",
            "YouTube Data API requests by endpoint and outcome (ok, retried, error,"
            " quota_exceeded; refused: not sent, the quota is stopped or spent)",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.units = Counter(
            "youtube_quota_units_total",
            "YouTube quota units this process spent (every request sent costs its units)",
            registry=registry,
        )
        self.exhausted = Gauge(
            "youtube_quota_exhausted",
            "1 while calls are stopped until the quota day resets (a 403 quotaExceeded or"
            " the YOUTUBE_DAILY_QUOTA budget spent), else 0",
            registry=registry,
        )
