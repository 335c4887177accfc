"""Prometheus metrics of a hub process (one registry per app, so tests can run several).

The per-frame and per-heartbeat figures are plain integers that the event loop (their only
writer) bumps, exported at scrape time by `HotPath`: prometheus_client's children take a lock
and walk exemplar logic on every call, which showed in the heartbeat profile."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from core.probes import control_refreshes
from core.process_metrics import with_process_metrics

HEARTBEAT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Tally:
    """Counts per label value."""

    __slots__ = ("counts",)

    def __init__(self, *known: str) -> None:
        self.counts = dict.fromkeys(known, 0)

    def inc(self, label: str, amount: int = 1) -> None:
        self.counts[label] = self.counts.get(label, 0) + amount


class Timings:
    """A histogram: per-bucket counts (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds


class HotPath(Collector):
    def __init__(self) -> None:
        self.frames = Tally("ok")
        self.heartbeats = Tally("ok")
        self.heartbeat_seconds = Timings(HEARTBEAT_BUCKETS)

    def collect(self) -> Iterator[Metric]:
        frames = CounterMetricFamily(
            "hub_frames", "Client frames received, by result", labels=["result"]
        )
        heartbeats = CounterMetricFamily(
            "hub_heartbeats", "Heartbeats handled, by outcome", labels=["outcome"]
        )
        for family, tally in ((frames, self.frames), (heartbeats, self.heartbeats)):
            for value, count in tally.counts.items():
                family.add_metric([value], count)
            yield family
        t = self.heartbeat_seconds
        cumulative, buckets = 0, []
        for bound, count in zip((*t.bounds, float("inf")), t.counts, strict=False):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "hub_heartbeat_seconds",
            "Heartbeat handling time, frame in to reply out",
            buckets=buckets,
            sum_value=t.total,
        )


class HubMetrics:
    def __init__(self) -> None:
        self.registry = with_process_metrics(CollectorRegistry())
        r = self.registry
        self.connections_open = Gauge(
            "hub_connections_open", "Open WebSocket connections", registry=r
        )
        self.connections_total = Counter(
            "hub_connections_total", "WebSocket connections accepted", registry=r
        )
        self.closes_total = Counter(
            "hub_closes_total",
            "Connections closed by the server, by close code",
            ["code"],
            registry=r,
        )
        self.sessions_live = Gauge(
            "hub_sessions_live", "Live watch sessions (all nodes, from Redis)", registry=r
        )
        self.watching = Gauge(
            "hub_watching_connections",
            "This node's connections with a live watch session (viewer pushes go to them)",
            registry=r,
        )
        self.rewards_total = Counter(
            "hub_rewards_granted_total", "Watch rewards granted by this node", registry=r
        )
        self.coins_total = Counter(
            "hub_reward_coins_total", "Coins granted by this node's watch rewards", registry=r
        )
        self.control_refreshes = control_refreshes(r)
        self.outbox_entries = Gauge(
            "hub_outbox_entries", "Entries in the outbox streams (all partitions)", registry=r
        )
        hot = HotPath()
        r.register(hot)
        self.frames, self.heartbeats, self.heartbeat_seconds = (
            hot.frames,
            hot.heartbeats,
            hot.heartbeat_seconds,
        )
