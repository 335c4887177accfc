"""Worker-only settings, built from the environment by `load_config` (the shared ones are
core.settings.Settings). Same rules: validated, a bad value names its variable, nothing is
read at import time."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping

import msgspec

from core.launch import WORKER_METRICS_PORT
from core.settings import ConfigError, _bool, _int


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    # Consumer name in the outbox groups and holder id of the partition leases. Give each
    # replica a stable one (WORKER_ID, else NODE_ID): a restarted worker with the same id
    # takes its leases and its unacknowledged entries back at once instead of waiting for
    # them to expire.
    worker_id: str
    metrics_port: int = WORKER_METRICS_PORT  # 0: no metrics server
    metrics_addr: str = "0.0.0.0"
    consumers: int = 8  # drain loops, each with its own share of the held partitions
    batch: int = 5000  # most entries per PostgreSQL transaction
    poll_ms: int = 50  # sleep of an idle drain loop
    lease_ms: int = 10_000  # partition lease; renewed every third of it
    claim_idle_ms: int = 30_000  # entries of another consumer idle this long are taken over
    max_deliveries: int = 5  # an entry delivered more often goes to the dead letters
    shutdown_s: float = 10.0  # how long shutdown waits for the batch in flight
    dead_letters_max: int = 100_000  # dead-letter stream length per partition (approximate)
    pause_after_commit: bool = False  # test hook: stop before the first ack (crash tests)


def _default_id(env: Mapping[str, str]) -> str:
    node = env.get("NODE_ID", "").strip()
    if node:
        return node
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def load_config(env: Mapping[str, str] | None = None) -> WorkerConfig:
    """Build and validate the worker settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    worker_id = env.get("WORKER_ID", "").strip() or _default_id(env)
    if len(worker_id) > 200 or any(c.isspace() for c in worker_id):
        raise ConfigError(
            f"WORKER_ID must be at most 200 characters without spaces, got {worker_id!r}"
        )
    lease_ms = _int(env, "WORKER_LEASE_MS", 10_000, low=300, high=600_000)
    return WorkerConfig(
        worker_id=worker_id,
        metrics_port=_int(env, "WORKER_METRICS_PORT", WORKER_METRICS_PORT, low=0, high=65535),
        metrics_addr=env.get("WORKER_METRICS_ADDR", "").strip() or "0.0.0.0",
        consumers=_int(env, "WORKER_CONSUMERS", 8, low=1, high=64),
        batch=_int(env, "WORKER_BATCH", 5000, low=1, high=50_000),
        poll_ms=_int(env, "WORKER_POLL_MS", 50, low=1, high=5000),
        lease_ms=lease_ms,
        claim_idle_ms=_int(env, "WORKER_CLAIM_IDLE_MS", 30_000, low=100, high=86_400_000),
        max_deliveries=_int(env, "WORKER_MAX_DELIVERIES", 5, low=1, high=1000),
        shutdown_s=float(_int(env, "WORKER_SHUTDOWN_S", 10, low=0, high=600)),
        dead_letters_max=_int(env, "WORKER_DEAD_LETTERS_MAX", 100_000, low=100, high=100_000_000),
        pause_after_commit=_bool(env, "WORKER_PAUSE_AFTER_COMMIT"),
    )
