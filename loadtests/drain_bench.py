"""Drain benchmark: how fast the worker writes outbox grants into PostgreSQL, and the outbox
lag at a steady 2k grants/s. Prints one JSON object.

    .venv/bin/python -m loadtests.drain_bench                 # defaults below
    .venv/bin/python -m loadtests.drain_bench --grants 300000 --rate 2000 --seconds 20

It starts its own redis-server (AOF everysec, as scripts/run.sh) and PostgreSQL (fsync on
unless --no-fsync) on free ports in a temporary folder, migrates, and runs one real worker
process (`arq workers.main.WorkerSettings`). Grants are written the way tick.lua writes them
(pend += amount, one outbox entry each) by a Lua script, 2000 per call.

1. Throughput: N grants over U users are loaded while no worker runs; then the worker starts
   and the rate is (grants drained) / (time from the first ledger row to an empty outbox).
2. Lag: grants are produced at --rate per second for --seconds; an entry counts as drained
   when its partition's oldest remaining entry is younger (acknowledged entries are
   deleted, and a partition's batches are acknowledged in order). Lag = that moment - the
   moment it was written; polled every 10 ms, so figures carry up to 10 ms of polling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from core.migrate import upgrade
from devkit.outbox import PRODUCE_LUA
from devkit.procs import Proc, child_env, resolve_argv
from devkit.servers import PostgresServer, RedisServer
from live import keys


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _produce(
    redis: Redis, sha: str, grants: list[tuple[int, int, int, int]], partitions: int
) -> list[tuple[int, str]]:
    """Write grants; returns (partition, entry id) of each, in order of partition."""
    by_p: dict[int, list[tuple[int, int, int, int]]] = {}
    for g in grants:
        by_p.setdefault(keys.partition_of(g[0], partitions), []).append(g)
    pipe = redis.pipeline(transaction=False)
    order: list[int] = []
    for p, gs in by_p.items():
        for i in range(0, len(gs), 2000):
            args: list[Any] = [keys.tag(p)]
            for g in gs[i : i + 2000]:
                args += g
            pipe.evalsha(sha, 1, keys.outbox(p), *args)
            order.append(p)
    out: list[tuple[int, str]] = []
    for p, ids in zip(order, await pipe.execute(), strict=False):
        out += [(p, x.decode()) for x in ids]
    return out


def _cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by a live process and its direct children
    (PostgreSQL's backends are the postmaster's children, each in its own session)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if pid == root or int(fields[1]) == root:  # fields after the name: state ppid ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def _outbox_total(redis: Redis, partitions: int) -> int:
    pipe = redis.pipeline(transaction=False)
    for p in range(partitions):
        pipe.xlen(keys.outbox(p))
    return int(sum(await pipe.execute()))


async def _wait_leases(redis: Redis, partitions: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipe = redis.pipeline(transaction=False)
        for p in range(partitions):
            pipe.exists(keys.lease(p))
        if all(await pipe.execute()):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the worker did not take the partition leases")


async def run(
    args: argparse.Namespace,
    redis_url: str,
    pg: PostgresServer,
    redis_server: RedisServer,
    workdir: Path,
) -> dict[str, Any]:
    redis = Redis.from_url(redis_url)
    sha = await redis.script_load(PRODUCE_LUA)
    conn = await asyncpg.connect(pg.dsn)
    rng = random.Random(7)
    n_of: dict[int, int] = {}

    def grant(uid: int) -> tuple[int, int, int, int]:
        n_of[uid] = n_of.get(uid, 0) + 1
        return (uid, 1 + uid % 13, n_of[uid], 10)

    env = child_env(
        {
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis_url,
            "JWT_SECRET": "bench-secret-0123456789-0123456789-abcdef",
        },
        {
            "REDIS_PARTITIONS": str(args.partitions),
            "WORKER_METRICS_PORT": "0",
            "WORKER_CONSUMERS": str(args.consumers),
            "WORKER_BATCH": str(args.batch),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
        },
    )
    # 1. Throughput.
    t = time.monotonic()
    for i in range(0, args.grants, 50_000):
        await _produce(
            redis,
            sha,
            [grant(rng.randint(1, args.users)) for _ in range(min(50_000, args.grants - i))],
            args.partitions,
        )
    load_s = time.monotonic() - t
    worker = Proc(resolve_argv(["arq", "workers.main.WorkerSettings"]), env, workdir, "worker")
    try:
        while (await conn.fetchval("SELECT count(*) > 0 FROM coin_transactions")) is False:
            if not worker.running:
                raise RuntimeError("worker exited:\n" + worker.output_tail())
            await asyncio.sleep(0.005)
        t0 = time.monotonic()
        assert pg.proc is not None and redis_server.proc is not None
        groups = {"worker": worker.pid, "postgres": pg.proc.pid, "redis": redis_server.proc.pid}
        cpu0 = {k: _cpu_s(g) for k, g in groups.items()}
        start_rows = await conn.fetchval("SELECT count(*) FROM coin_transactions")
        while await _outbox_total(redis, args.partitions) > 0:
            await asyncio.sleep(0.01)
        t1 = time.monotonic()
        drained = args.grants - start_rows
        cpu = {k: round((_cpu_s(g) - cpu0[k]) * 1e6 / drained, 1) for k, g in groups.items()}
        rows = await conn.fetchval("SELECT count(*) FROM coin_transactions")
        assert rows == args.grants, (rows, args.grants)
        drain_rate = drained / (t1 - t0)

        # 2. Lag at a steady rate.
        await _wait_leases(redis, args.partitions)
        tick_s = 0.01
        per_tick = args.rate * tick_s
        owed = 0.0
        sent: list[tuple[int, str, float]] = []
        waiting: dict[int, list[tuple[tuple[int, int], float]]] = {}
        lags: list[float] = []
        stop_at = time.monotonic() + args.seconds
        next_tick = time.monotonic()

        async def poll_once() -> None:
            now = time.monotonic()
            pipe = redis.pipeline(transaction=False)
            parts = [p for p, w in waiting.items() if w]
            for p in parts:
                pipe.xrange(keys.outbox(p), "-", "+", count=1)
            for p, first in zip(parts, await pipe.execute(), strict=False):
                oldest = _id_key(first[0][0].decode()) if first else None
                w = waiting[p]
                k = 0
                while k < len(w) and (oldest is None or w[k][0] < oldest):
                    lags.append(now - w[k][1])
                    k += 1
                del w[:k]

        while time.monotonic() < stop_at:
            owed += per_tick
            batch = [grant(rng.randint(1, args.users)) for _ in range(int(owed))]
            owed -= len(batch)
            if batch:
                at = time.monotonic()
                for p, eid in await _produce(redis, sha, batch, args.partitions):
                    sent.append((p, eid, at))
                    waiting.setdefault(p, []).append((_id_key(eid), at))
            await poll_once()
            next_tick += tick_s
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        deadline = time.monotonic() + 30
        while any(waiting.values()) and time.monotonic() < deadline:
            await poll_once()
            await asyncio.sleep(tick_s)
        worker.terminate()
    finally:
        if worker.running:
            worker.kill()
        await conn.close()
        await redis.aclose()
    return {
        "drain_grants_per_s": round(drain_rate),
        "drain_grants": args.grants,
        "drain_users": args.users,
        "drain_cpu_us_per_grant": cpu,
        "load_grants_per_s": round(args.grants / load_s),
        "lag_rate_grants_per_s": round(len(sent) / args.seconds),
        "lag_grants": len(sent),
        "lag_ms": {
            "p50": round(_pct(lags, 0.50) * 1000, 1),
            "p99": round(_pct(lags, 0.99) * 1000, 1),
            "max": round(max(lags, default=0) * 1000, 1),
        },
        "undrained": len(sent) - len(lags),
        "partitions": args.partitions,
        "consumers": args.consumers,
        "batch": args.batch,
        "postgres_fsync": args.fsync,
        "cpus": os.cpu_count(),
        "loadavg_1m_at_end": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2000, help="grants/s of the lag phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the lag phase")
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--consumers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--no-fsync", dest="fsync", action="store_false")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="drain-bench-", dir="/tmp"))
    base.chmod(0o755)
    redis = RedisServer(base / "redis", aof=True)
    pg = PostgresServer(base / "pg", fsync=args.fsync, log_path=base / "postgres.log")
    try:
        redis.start()
        pg.start()
        upgrade(pg.url, verbose=False)
        result = asyncio.run(run(args, redis.url, pg, redis, base / "logs"))
    finally:
        redis.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
