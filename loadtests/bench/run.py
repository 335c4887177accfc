"""The run: options, the parts in order, the table and the JSON file (with the git revision
and the versions of what was measured)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import msgspec

import loadtests.bench
from loadtests.bench.config import FD_LIMIT_CONNS, FIRST_UID, FLOOD_ENV, REAL_ENV, RESULTS, log
from loadtests.bench.harness import Harness
from loadtests.bench.measure import background_load, wait_quiet
from loadtests.bench.phases.drain import bench_drain
from loadtests.bench.phases.memory import bench_memory
from loadtests.bench.phases.redis import bench_redis
from loadtests.bench.phases.rest import bench_rest
from loadtests.bench.phases.throughput import bench_throughput
from loadtests.bench.report import compare, disturbed_windows, summary
from loadtests.bench.results import CpuPlan, Memory, Meta, Result
from loadtests.bench.table import table
from loadtests.loadgen import LoadGen
from loadtests.stack import BENCH_ARGS, ROOT, loadavg


def run(h: Harness) -> Result:
    started = time.time()
    t_start = time.monotonic()
    meta = Meta(
        mode="quick" if h.quick else "full",
        stamp=h.stamp,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        git=git_rev(),
        host=platform.node(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        versions=versions(),
        cpu_plan=CpuPlan(
            server=sorted(h.server_cpus) if h.server_cpus else "unpinned",
            aux=sorted(h.aux_cpus) if h.aux_cpus else "unpinned",
            load_workers=h.workers,
        ),
        uvicorn_flags=" ".join(BENCH_ARGS) + " + core/launch.py",
        hub_env_extra=h.args.hub_env,
        hub_env_flood=FLOOD_ENV,
        hub_env_memory_sessions=REAL_ENV,
        loadavg_before=loadavg(),
    )
    r = Result(meta=meta)
    if h.args.wait_quiet:
        meta.background_core_busy_before = wait_quiet(h.args.wait_quiet, 0.3)
    else:
        meta.background_core_busy_before = background_load(3.0)
    log(f"other work on the machine (core busy share): {meta.background_core_busy_before}")
    log(f"starting redis-server and PostgreSQL (load average now {meta.loadavg_before})")
    h.stack.start()
    big = 10_000 if h.quick else FD_LIMIT_CONNS
    h.stack.provision_users(FIRST_UID, big)
    log(f"minting {big} access tokens")
    h.tokens = h.stack.tokens(range(FIRST_UID, FIRST_UID + big))
    h.token_next = 0
    h.lg = LoadGen(h.workers, h.aux_cpus)
    only = h.args.only
    try:
        phases: dict[str, float] = {}
        meta.phase_seconds = phases
        mark = t_start

        def phase(name: str) -> None:
            nonlocal mark
            phases[name] = round(time.monotonic() - mark, 1)
            mark = time.monotonic()

        phase("setup")
        if "redis" in only:
            r.redis = bench_redis(h)
            phase("redis")
        if "ws" in only:
            r.echo = bench_throughput(h, "echo", with_10k=not h.quick)
            r.hub = bench_throughput(h, "hub", with_10k=not h.quick)
            if not h.quick:
                once = {"with_10k": False, "with_half": False}
                r.starlette = bench_throughput(h, "starlette", **once)
                r.echo_deflate = bench_throughput(h, "echo", deflate=True, **once)
                r.hub_deflate = bench_throughput(h, "hub", deflate=True, **once)
            phase("ws")
        mem: dict[str, Memory] = {}
        if "memory" in only:
            for kind in ("echo", "hub"):
                mem[f"{kind}/websockets-sansio/plain"] = bench_memory(
                    h, kind, "websockets-sansio", False, big=not h.quick, sessions=kind == "hub"
                )
            if not h.quick:
                mem["starlette/websockets-sansio/plain"] = bench_memory(
                    h, "starlette", "websockets-sansio", False, big=False, sessions=False
                )
        if "matrix" in only and not h.quick:
            for ws, deflate in (("websockets-sansio", True), ("wsproto", False), ("wsproto", True)):
                for kind in ("echo", "hub"):
                    key = f"{kind}/{ws}/{'deflate' if deflate else 'plain'}"
                    mem[key] = bench_memory(h, kind, ws, deflate, big=False, sessions=False)
        if mem:
            r.memory = mem
            phase("memory")
        if "rest" in only:
            r.rest = bench_rest(h)
            phase("rest")
        if "drain" in only:
            r.drain = bench_drain(h)
            phase("drain")
    finally:
        h.gen().close()
        h.stack.stop()
    meta.loadavg_after = loadavg()
    meta.background_core_busy_after = background_load(3.0)
    meta.seconds = round(time.time() - started, 1)
    plain = msgspec.to_builtins(r)
    r.summary = summary(plain)
    disturbed = sorted(disturbed_windows(plain))
    if disturbed:
        h.notes.append(
            "other work used more than 15% of the server's core during: "
            + ", ".join(f"{path} ({share:.0%})" for path, share in disturbed)
            + " - treat those figures with care, or run again (--wait-quiet)"
        )
    r.notes = h.notes
    return r


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "realtime", "core", "api"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "uvicorn",
        "websockets",
        "wsproto",
        "starlette",
        "redis",
        "hiredis",
        "uvloop",
        "httptools",
        "msgspec",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    try:
        out["redis-server"] = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2]
    except (OSError, IndexError):
        out["redis-server"] = "?"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description=(loadtests.bench.__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("--quick", action="store_true", help="~2 minutes: fewer, shorter runs")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated parts to run (default: all): redis, ws (throughput), memory "
        "(websockets-sansio without deflate at 10k/20k, and 20k live sessions), matrix (the "
        "other --ws and deflate settings, full mode only), rest, drain; --quick leaves out "
        "drain unless named",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--aux-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--workers", type=int, default=4, help="load generator processes")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy the hub under flood (default: on in full mode)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other work on the machine to calm "
        "down (every core under 30%% busy)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    parser.add_argument(
        "--hub-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for every hub process (repeatable), "
        "e.g. GC_THRESHOLD=700,10,10 to compare with the default",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON path (default loadtests/results/bench-<mode>-<time>.json)"
    )
    parser.add_argument(
        "--ws-impl",
        default="websockets-sansio",
        choices=["websockets-sansio", "wsproto", "websockets"],
        help="uvicorn --ws for the throughput part (the memory parts measure them all)",
    )
    parser.add_argument(
        "--redis-cluster",
        type=int,
        default=0,
        metavar="MASTERS",
        help="run the hub on a local Redis Cluster of this many masters (REDIS_CLUSTER=1); "
        "the Redis baseline stays on the single server",
    )
    parser.add_argument(
        "--hub-lane",
        default="direct",
        choices=["direct", "asgi"],
        help="the hub on websockets-sansio: with its direct lane (realtime.wsdirect, as "
        "deployed) or over uvicorn's plain ASGI events",
    )
    parser.add_argument(
        "--diag",
        action="store_true",
        help="run the hub inside loadtests/diag_app.py: GC pauses per generation and event "
        "loop lag during the flood, the 50%% run and the 20k sessions",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print min/median/max of the headline figures of earlier runs and exit",
    )
    parser.add_argument(
        "--table", type=Path, metavar="JSON", help="print the table of an earlier run and exit"
    )
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.table:
        result = json.loads(args.table.read_text())
        result["summary"] = summary(result)
        print(table(result))
        return 0
    if args.only is None:
        args.only = "redis,ws,memory,rest" if args.quick else "redis,ws,memory,matrix,rest,drain"
    args.only = set(args.only.split(","))
    args.hub_env = dict(kv.split("=", 1) for kv in args.hub_env)
    if args.profile is None:
        args.profile = not args.quick
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = msgspec.to_builtins(run(Harness(args)))
    print(table(result), flush=True)
    out = args.out or RESULTS / f"bench-{result['meta']['stamp']}.json"
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nJSON: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0
