"""Settings shared by the benchmark's parts (and loadtests/memprofile.py)."""

from __future__ import annotations

import sys

from loadtests.stack import ROOT

RESULTS = ROOT / "loadtests" / "results"
FIRST_UID = 100_000
FD_LIMIT_CONNS = 19_800  # one process may hold 20,000 open files here (hard limit)
KIB_TARGET = 26.0

# The per-address gates are lifted: all load comes from a few 127.0.0.x addresses.
GATES_OFF = {"WS_MAX_CONNECTIONS_PER_IP": 1_000_000, "WS_CONNECTS_PER_IP_PER_MINUTE": 1_000_000}
# Hub settings for flooding: every heartbeat credits (interval 100 ms, so a flood of ~10
# heartbeats/s per connection credits ~100 ms each), a reward every 1 s credited (about one
# heartbeat in ten grants, like one in six at the real 10 s / 60 s), no daily cap, no rate limit.
# Session TTL 1 h: setting up 10k sessions can take longer than 30 s on a busy machine, and
# the first ones must still be live when the flood begins (the heartbeat path is the same).
FLOOD_ENV: dict[str, int | str] = {
    "HEARTBEAT_INTERVAL_MS": 100,
    "REWARD_INTERVAL_MS": 1000,
    "DAILY_REWARD_CAP": 0,
    "SESSION_TTL_MS": 3_600_000,
    "WS_MAX_MESSAGES_PER_SECOND": 10_000,
    "NODE_ID": "bench-hub",
    **GATES_OFF,
}
# Hub settings for the memory and 20k-sessions runs: the production defaults (heartbeat 10 s,
# reward every 60 s), except a session TTL of 1 h: starting 20k sessions takes longer than
# the 30 s TTL on a busy machine, and the first ones must still be live when the heartbeats
# begin. The heartbeat path is the same.
REAL_ENV: dict[str, int | str] = {
    "NODE_ID": "bench-hub",
    "DAILY_REWARD_CAP": 0,
    "SESSION_TTL_MS": 3_600_000,
    **GATES_OFF,
}
CONNECT_CONCURRENCY = 64  # per load worker: 256 handshakes in flight with 4 workers


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)
