"""The results, typed. Encoded with `msgspec.to_builtins`, they give the JSON layout of the
files under loadtests/results/ (which `--compare` and `--table` read back as plain JSON):
field order is key order, and a field left UNSET is a key the run did not write (a part that
did not run, a figure that needs --diag, a CPU pin or a hub)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

Diag = dict[str, Any]  # loadtests/diag_app.py's JSON, as it came (or {"error": ...})


class Latency(msgspec.Struct):
    n: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


class Skipped(msgspec.Struct):
    skipped: str


class Setup(msgspec.Struct):
    """Opening connections: `Harness.connect`."""

    requested: int
    opened: int
    failed: int
    errors: dict[str, int]
    seconds: float
    per_s: float | None
    handshake: Latency


class SessionStart(msgspec.Struct):
    """A `start` on every open connection."""

    outcome: dict[str, int]
    seconds: float
    rtt: Latency


class FloodWindow(msgspec.Struct, kw_only=True):
    """Every connection sends its next heartbeat (or echo) as soon as the last is answered.
    A repetition, or the median of the repetitions (with `reps` and `runs`)."""

    conns: int
    per_s: float
    n: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    server_cpu: float
    server_cpu_s: float
    core_busy: dict[str, float]
    redis_cpu: float | UnsetType = UNSET
    hub_metric_n: int | UnsetType = UNSET
    hub_metric_p50_le_ms: float | UnsetType | None = UNSET
    hub_metric_p99_le_ms: float | UnsetType | None = UNSET
    other_on_server_core: float | UnsetType = UNSET
    server_us_per_msg: float | None
    per_server_cpu_s: float | None
    client_cpu: float
    errors: dict[str, int]
    unanswered: int
    pushes: dict[str, int]
    reps: int | UnsetType = UNSET
    runs: list[FloodWindow] | UnsetType = UNSET
    diag: Diag | UnsetType | None = UNSET


class RateWindow(msgspec.Struct, kw_only=True):
    """Heartbeats at a fixed total rate (a repetition, or the median with `reps` and `runs`;
    the live-sessions window also says how many sessions at what interval)."""

    target_per_s: float
    per_s: float
    n: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    server_cpu: float
    server_cpu_s: float
    core_busy: dict[str, float]
    redis_cpu: float | UnsetType = UNSET
    hub_metric_n: int | UnsetType = UNSET
    hub_metric_p50_le_ms: float | UnsetType | None = UNSET
    hub_metric_p99_le_ms: float | UnsetType | None = UNSET
    other_on_server_core: float | UnsetType = UNSET
    send_lag_p99_ms: float | None
    skipped: int
    errors: dict[str, int]
    pushes: dict[str, int]
    unanswered: int
    client_cpu: float
    reps: int | UnsetType = UNSET
    runs: list[RateWindow] | UnsetType = UNSET
    diag: Diag | UnsetType | None = UNSET
    sessions: int | UnsetType = UNSET
    interval_s: float | UnsetType = UNSET


class HttpWindow(msgspec.Struct, kw_only=True):
    """REST requests, closed loop or at a fixed rate (one worker)."""

    mode: str
    target_per_s: float | None
    conns: int
    per_s: float
    n: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    server_cpu: float
    server_cpu_s: float
    core_busy: dict[str, float]
    redis_cpu: float | UnsetType = UNSET
    hub_metric_n: int | UnsetType = UNSET
    hub_metric_p50_le_ms: float | UnsetType | None = UNSET
    hub_metric_p99_le_ms: float | UnsetType | None = UNSET
    other_on_server_core: float | UnsetType = UNSET
    statuses: dict[str, int]
    client_cpu: float
    reps: int | UnsetType = UNSET
    runs: list[HttpWindow] | UnsetType = UNSET


class LoadUnderProfiler(msgspec.Struct):
    per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    server_cpu: float | None

    @classmethod
    def of(cls, load: object) -> LoadUnderProfiler:
        """The headline figures of whatever window ran under the profiler (None if it has
        not got one: the connection setup has only a rate)."""
        return cls(*(getattr(load, k, None) for k in ("per_s", "p50_ms", "p99_ms", "server_cpu")))


class Profile(msgspec.Struct):
    """Where py-spy's samples are (`profile.summarize`)."""

    samples: int
    expected_if_always_busy: int
    note: str
    self_pct: list[tuple[str, float]]
    self_pct_by_package: list[tuple[str, float]]
    inclusive_pct: list[tuple[str, float]]
    load_under_profiler: LoadUnderProfiler | UnsetType = UNSET
    file: str | UnsetType = UNSET


class Throughput(msgspec.Struct):
    """`phases.throughput`: one server, flooded at 1k (and 10k) connections."""

    ws: str
    deflate: bool
    connect_1k: Setup | UnsetType = UNSET
    start_1k: SessionStart | UnsetType = UNSET
    flood_1k: FloodWindow | UnsetType = UNSET
    profile_flood_1k: Profile | Skipped | UnsetType = UNSET
    half_rate_1k: RateWindow | UnsetType = UNSET
    connect_to_10k: Setup | UnsetType = UNSET
    start_10k: SessionStart | UnsetType = UNSET
    flood_10k: FloodWindow | UnsetType = UNSET
    closes: dict[str, int] | UnsetType = UNSET
    server_rss_kib_end: int | UnsetType = UNSET


class IdlePoint(msgspec.Struct):
    opened: int
    rss_kib: int
    kib_per_conn: float | None
    idle_server_cpu: float
    setup: Setup


class WithSessions(msgspec.Struct):
    opened: int
    rss_kib: int
    kib_per_conn: float


class Memory(msgspec.Struct):
    """`phases.memory`: idle memory per connection (and the live sessions, for the hub)."""

    ws: str
    deflate: bool
    rss_before_kib: int | UnsetType = UNSET
    at_10000: IdlePoint | UnsetType = UNSET
    profile_connect: Profile | Skipped | UnsetType = UNSET
    at_19800: IdlePoint | UnsetType = UNSET  # config.FD_LIMIT_CONNS
    start: SessionStart | UnsetType = UNSET
    with_sessions: WithSessions | UnsetType = UNSET
    sessions_p99: RateWindow | UnsetType = UNSET
    profile_sessions: Profile | Skipped | UnsetType = UNSET
    closes: dict[str, int] | UnsetType = UNSET


class TickWindow(msgspec.Struct):
    """Pipelined tick.lua calls (`redisbench.tick_rate`) and Redis's CPU meanwhile."""

    ticks_per_s: float
    ok: int
    other: int
    seconds: float
    batch: int
    conns: int
    users: int
    with_zadd: bool
    core_busy: dict[str, float]
    redis_cpu: float
    per_redis_cpu_s: float | None
    reps: int | UnsetType = UNSET
    runs: list[TickWindow] | UnsetType = UNSET


class RedisBenchmark(msgspec.Struct):
    """`redisbench.redis_benchmark`: the figures, or why there are none."""

    skipped: str | UnsetType = UNSET
    requests_per_s: float | UnsetType = UNSET
    requests: int | UnsetType = UNSET
    clients: int | UnsetType = UNSET
    pipeline: int | UnsetType = UNSET


class Redis(msgspec.Struct):
    tick: TickWindow
    tick_zadd: TickWindow
    redis_benchmark: RedisBenchmark


class Rest(msgspec.Struct):
    """`phases.rest`: the figures, or why there are none (and the answer that said so)."""

    skipped: str | UnsetType = UNSET
    status: int | UnsetType = UNSET
    body: str | UnsetType = UNSET
    path: str | UnsetType = UNSET
    response_bytes: int | UnsetType = UNSET
    max: HttpWindow | UnsetType = UNSET
    at_1k: HttpWindow | UnsetType = UNSET
    profile_max: Profile | Skipped | UnsetType = UNSET


# loadtests/drain_bench.py's JSON as it wrote it, plus the command; or {"skipped": why}.
Drain = dict[str, Any]


class CpuPlan(msgspec.Struct):
    server: list[int] | str
    aux: list[int] | str = msgspec.field(
        name="aux (redis, postgres, load workers, controller, py-spy)"
    )
    load_workers: int


class Meta(msgspec.Struct):
    mode: str
    stamp: str
    started: str
    git: str
    host: str
    cpus: int | None
    python: str
    versions: dict[str, str]
    cpu_plan: CpuPlan
    uvicorn_flags: str
    hub_env_extra: dict[str, str]
    hub_env_flood: dict[str, int | str]
    hub_env_memory_sessions: dict[str, int | str]
    loadavg_before: list[float]
    background_core_busy_before: dict[str, float] | UnsetType = UNSET
    phase_seconds: dict[str, float] | UnsetType = UNSET
    loadavg_after: list[float] | UnsetType = UNSET
    background_core_busy_after: dict[str, float] | UnsetType = UNSET
    seconds: float | UnsetType = UNSET


class Result(msgspec.Struct):
    """A run: what `run.main` writes as JSON. `memory` is keyed `<kind>/<ws>/<plain|deflate>`;
    `summary` is `report.summary` of the rest, as `--table` recomputes it."""

    meta: Meta
    redis: Redis | UnsetType = UNSET
    echo: Throughput | UnsetType = UNSET
    hub: Throughput | UnsetType = UNSET
    starlette: Throughput | UnsetType = UNSET
    echo_deflate: Throughput | UnsetType = UNSET
    hub_deflate: Throughput | UnsetType = UNSET
    memory: dict[str, Memory] | UnsetType = UNSET
    rest: Rest | UnsetType = UNSET
    drain: Drain | UnsetType = UNSET
    summary: dict[str, Any] | UnsetType = UNSET
    notes: list[str] | UnsetType = UNSET
