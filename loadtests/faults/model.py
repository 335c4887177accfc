"""What a drill is: the faults it knows, the environment it runs the system with, its
options, one fault's measured result and that result's verdict."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.stack import ROOT

RESULTS = ROOT / "loadtests" / "results"
VENV_BIN = Path(sys.executable).parent
FAULTS = ("hub_kill", "worker_kill", "redis_kill", "postgres_kill", "redis_stop")
PARTITIONS = 16
REWARD_INTERVAL_MS = 1000
CANARY_UID = 990_000  # + hub index: the drill's own probe users (they never earn)
KICK_UID = 990_100  # + direction: the users of the cross-node takeover probe
KICK_TIMEOUT_S = 5.0
FIRST_UID = 200_000
PROBE_EVERY_S = 0.25
PROBE_TIMEOUT_S = 3.0  # /ready itself waits up to 2 s for a dependency

# One-second rewards and heartbeats: many grants in a short run. The session TTL outlasts a
# 5 s Redis stall, so sessions survive it (a stall past the TTL ends them: players start
# again). No daily cap: a long run must not stop earning.
DRILL_ENV = {
    "REWARD_INTERVAL_MS": str(REWARD_INTERVAL_MS),
    "HEARTBEAT_INTERVAL_MS": "1000",
    "SESSION_TTL_MS": "10000",
    "DAILY_REWARD_CAP": "0",
    "CONTROL_POLL_MS": "500",
    "REDIS_PARTITIONS": str(PARTITIONS),
    "DRAIN_SECONDS": "2",
    "WS_MAX_CONNECTIONS_PER_IP": "1000000",  # every player comes from 127.0.0.1
    "WS_CONNECTS_PER_IP_PER_MINUTE": "1000000",
    "AUTH_RATE_LIMIT_PER_MINUTE": "1000000",
    # Multi-account review: every player comes from 127.0.0.1, so the per-address check is
    # off; each player has its own device ids, so the per-device check stays on (at its
    # default), as in production.
    "REVIEW_ACCOUNTS_PER_IP": "0",
    "REVIEW_ACCOUNTS_PER_DEVICE": "3",
    "LOG_FORMAT": "text",
    "WORKER_ID": "drill-worker-1",  # stable: a restarted worker takes its leases back at once
}


@dataclass
class Options:
    faults: list[str] = field(default_factory=lambda: list(FAULTS))
    users: int = 40
    load: str = "locust"  # or "builtin"
    warmup_s: float = 15.0
    settle_s: float = 15.0
    stop_s: float = 5.0  # redis_stop: how long Redis stays stopped
    recovery_timeout_s: float = 60.0
    drain_timeout_s: float = 120.0
    results_dir: Path = RESULTS
    keep: bool = False
    quiet: bool = False


@dataclass
class FaultResult:
    fault: str
    injected_at: float = 0.0  # unix time
    ended_at: float = 0.0  # the kill, or the SIGCONT
    recovered: bool = False
    recovery_s: float | None = None  # from ended_at
    ready_s: dict[str, float | None] = field(default_factory=dict)  # first OK per check
    not_recovered: list[str] = field(default_factory=list)
    manual_restart: list[str] = field(default_factory=list)
    recovery_after_manual_s: float | None = None
    supervisor_restarts: dict[str, int] = field(default_factory=dict)
    phase_end: float = 0.0
    grants_made: int = 0
    rewards_seen: int = 0
    lost_seen: list[str] = field(default_factory=list)
    allowed_loss: int = 0
    bound: str = "0"
    client_failures: int | None = None
    # Cross-node takeover after recovery, both directions: seconds until the old connection
    # got `replaced` (a hub that lost its pub/sub subscription never delivers it), or None.
    kick_s: list[float | None] = field(default_factory=list)


def verdict(r: FaultResult, timeout: float) -> list[str]:
    problems = []
    if not r.recovered:
        problems.append(f"not recovered within {timeout:g}s ({', '.join(r.not_recovered)})")
    if r.manual_restart:
        problems.append(f"manual restart needed: {', '.join(r.manual_restart)}")
    if any(k is None for k in r.kick_s):
        problems.append(f"cross-node takeover kick not delivered after recovery: {r.kick_s}")
    if len(r.lost_seen) > r.allowed_loss:
        problems.append(f"{len(r.lost_seen)} grants players saw are not in the ledger")
    return problems
