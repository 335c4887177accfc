"""Prometheus metrics of a hub process (one registry per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections_open = Gauge("hub_connections_open", "Open WebSocket connections", registry=r)
        self.connections_total = Counter(
            "hub_connections_total", "WebSocket connections accepted", registry=r)
        self.closes_total = Counter(
            "hub_closes_total", "Connections closed by the server, by close code", ["code"], registry=r)
        self.sessions_live = Gauge(
            "hub_sessions_live", "Live watch sessions (all nodes, from Redis)", registry=r)
        self.heartbeats_total = Counter(
            "hub_heartbeats_total", "Heartbeats handled, by outcome", ["outcome"], registry=r)
        self.heartbeat_seconds = Histogram(
            "hub_heartbeat_seconds", "Heartbeat handling time, frame in to reply out",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r)
        self.rewards_total = Counter(
            "hub_rewards_granted_total", "Watch rewards granted by this node", registry=r)
        self.coins_total = Counter(
            "hub_reward_coins_total", "Coins granted by this node's watch rewards", registry=r)
        self.outbox_entries = Gauge(
            "hub_outbox_entries", "Entries in the outbox streams (all partitions)", registry=r)
        self.frames_total = Counter(
            "hub_frames_total", "Client frames received, by result", ["result"], registry=r)
        # Children on the heartbeat path, resolved once.
        self.heartbeats_ok = self.heartbeats_total.labels("ok")
        self.frames_ok = self.frames_total.labels("ok")
