"""Fault drills under light load: the whole system on loopback, one fault at a time, measured.

    bash loadtests/faults.sh                       # all five faults, locust load, ~2.5 minutes
    bash loadtests/faults.sh --faults hub_kill,redis_stop --users 20 --load builtin

Starts Redis (AOF, appendfsync everysec), PostgreSQL (fsync on), runs the migrations and the
demo seed, then two hubs, the api and the worker, each under loadtests/supervise.py (restart
on exit, like `restart: always`). Puts a light load on it (locust headless with
loadtests/locustfile.py: WebSocket players, fallback players, catalog browsing, admin reads;
or `--load builtin`: loadtests/players.py), with one-second rewards and heartbeats so that
every player earns about one reward a second. Then, with a settling phase between them:

    hub_kill       SIGKILL one hub node
    worker_kill    SIGKILL the worker
    redis_kill     SIGKILL redis-server (restarted on its AOF)
    postgres_kill  SIGKILL PostgreSQL's postmaster and backends (restarted: crash recovery)
    redis_stop     SIGSTOP redis-server for 5 s, then SIGCONT

After each: the recovery time, from the kill (or the SIGCONT) until every process is ready
again (hubs: /ready 200 and a fallback heartbeat of a canary user answered; api: /ready 200;
worker: its metrics say it holds every partition) *and* a grant made after that moment is in
the PostgreSQL ledger. A process not recovered within --recovery-timeout is restarted by the
drill and reported as "manual restart needed". After the load stops and the outbox drained:
grants lost (rewards that players were told about, and reward indexes Redis recorded as
granted, missing from the ledger), duplicates (a reward id twice; a (user, content, boundary)
twice; a user paid for more boundaries than the wall-clock time allows), dead letters and
balance checks. Prints a table, writes loadtests/results/faults-<time>.json, and exits 1 when
a check fails. Every loop is bounded in time; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devkit.servers import die_with_parent, free_port
from loadtests.stack import ROOT, Stack, uvicorn_argv
from loadtests.supervise import AppUnit, PostgresUnit, RedisUnit, Supervisor, Unit, stop_all

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


class Drill:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.stack = Stack(keep=opts.keep)
        self.units: list[Unit] = []
        self.events: list[dict[str, Any]] = []
        self.t0 = time.time()
        self.hub_ports: list[int] = []
        self.api_port = 0
        self.metrics_port = 0
        self.load_proc: subprocess.Popen[bytes] | None = None
        self.load_started = 0.0
        self.load_stopped = 0.0
        self.reward_log = self.stack.dir / "rewards.log"
        self.load_prefix = self.stack.dir / "locust"
        self.players_summary = self.stack.dir / "players.json"
        self.canary_tokens: list[str] = []
        self.content_ids: list[int] = []
        self.app_env: dict[str, str] = {}
        self.players: dict[str, Any] | None = None  # loadtests/players.py's summary
        self.baseline_kick: list[float | None] = []

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            print(f"[{time.time() - self.t0:7.1f}s] {text}", flush=True)

    def event(self, kind: str, unit: str, detail: dict[str, Any]) -> None:
        self.events.append(
            {
                "t": round(time.time() - self.t0, 3),
                "at": time.time(),
                "kind": kind,
                "unit": unit,
                **detail,
            }
        )
        self.say(f"{unit}: {kind} {detail if detail else ''}")

    # --- the system ---------------------------------------------------------------------

    def start_system(self) -> None:
        self.say(f"starting redis-server (AOF everysec) and PostgreSQL in {self.stack.dir}")
        self.stack.start()
        assert self.stack.redis and self.stack.pg
        self.content_ids = self.stack.content_ids[:4]
        self.hub_ports = [free_port(), free_port()]
        self.api_port = free_port()
        self.metrics_port = free_port()
        base = self.stack.env(**DRILL_ENV)
        # This checkout's code, also for arq (which appends the cwd to sys.path) and when the
        # venv's editable install points at another checkout.
        base["PYTHONPATH"] = str(ROOT)
        # arq's queue on database 1 of the same Redis, as compose does.
        base["ARQ_REDIS_URL"] = self.stack.redis.url.rsplit("/", 1)[0] + "/1"
        log_dir = self.stack.log_dir
        self.units = [RedisUnit(self.stack.redis), PostgresUnit(self.stack.pg)]
        for i, port in enumerate(self.hub_ports, 1):
            self.units.append(
                AppUnit(
                    f"hub-{i}",
                    uvicorn_argv("realtime.app:app", port),
                    {**base, "NODE_ID": f"drill-hub-{i}"},
                    log_dir,
                    port=port,
                )
            )
        self.units.append(
            AppUnit(
                "api",
                uvicorn_argv("api.app:app", self.api_port),
                {**base, "NODE_ID": "drill-api"},
                log_dir,
                port=self.api_port,
            )
        )
        self.units.append(
            AppUnit(
                "worker",
                [str(VENV_BIN / "arq"), "workers.main.WorkerSettings"],
                {
                    **base,
                    "WORKER_METRICS_PORT": str(self.metrics_port),
                    "WORKER_METRICS_ADDR": "127.0.0.1",
                },
                log_dir,
            )
        )
        for unit in self.units[:2]:
            unit.started_at = time.time()  # the stack started them
        for unit in self.units[2:]:
            unit.start()
        self.app_env = base
        self.canary_tokens = self.stack.tokens([CANARY_UID + i for i in range(len(self.hub_ports))])
        self.say(
            f"hubs :{self.hub_ports[0]} :{self.hub_ports[1]}, api :{self.api_port}, "
            f"worker metrics :{self.metrics_port}"
        )

    def unit(self, name: str) -> Unit:
        return next(u for u in self.units if u.name == name)

    # --- load ---------------------------------------------------------------------------

    def start_load(self, budget_s: float) -> None:
        hubs = ",".join(f"http://127.0.0.1:{p}" for p in self.hub_ports)
        env = dict(self.app_env)
        env.update(
            HUB_URL=hubs,
            HEARTBEAT_EVERY_S="1",
            CONTENT_IDS=",".join(map(str, self.content_ids)),
            REWARD_LOG=str(self.reward_log),
            LOCUST_FIRST_UID=str(FIRST_UID),
            PYTHONUNBUFFERED="1",
        )
        if self.opts.load == "locust":
            argv = [
                str(VENV_BIN / "locust"),
                "-f",
                str(ROOT / "loadtests" / "locustfile.py"),
                "--headless",
                "-u",
                str(self.opts.users),
                "-r",
                str(max(1, self.opts.users // 4)),
                "-t",
                f"{int(budget_s)}s",
                "--stop-timeout",
                "5",
                "-H",
                f"http://127.0.0.1:{self.api_port}",
                "--csv",
                str(self.load_prefix),
                "--csv-full-history",
                "--only-summary",
                "--loglevel",
                "WARNING",
            ]
        else:
            ws = max(1, round(self.opts.users * 0.8))
            argv = [
                sys.executable,
                "-m",
                "loadtests.players",
                "--hubs",
                hubs,
                "--ws",
                str(ws),
                "--fallback",
                str(max(0, self.opts.users - ws)),
                "--content-ids",
                env["CONTENT_IDS"],
                "--heartbeat-every",
                "1",
                "--first-uid",
                str(FIRST_UID),
                "--duration",
                str(int(budget_s)),
                "--reward-log",
                str(self.reward_log),
                "--summary",
                str(self.players_summary),
            ]
        log = open(self.stack.log_dir / "load.log", "ab")  # noqa: SIM115 - closed below
        try:
            self.load_proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 (only calls prctl)
            )
        finally:
            log.close()
        self.load_started = time.time()
        self.say(f"load: {self.opts.load}, {self.opts.users} users")

    def stop_load(self) -> None:
        proc = self.load_proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.load_proc = None
        self.load_stopped = time.time()
        self.say(f"load stopped (exit {proc.returncode})")
        if self.players_summary.exists():
            self.players = json.loads(self.players_summary.read_text())

    # --- probes -------------------------------------------------------------------------

    async def probe(self, since: float, ledger: bool = True) -> dict[str, bool]:
        """One round of every readiness check; `ledger`: a grant made after `since` is in
        PostgreSQL."""
        checks: dict[str, Any] = {}
        for i, port in enumerate(self.hub_ports):
            checks[f"hub-{i + 1}"] = self._hub_ok(i, port)
        checks["api"] = self._ready(self.api_port)
        checks["worker"] = self._worker_ok()
        if ledger:
            checks["ledger"] = self._grants_after(since)
        results = await asyncio.gather(*checks.values())
        return dict(zip(checks, results, strict=False))

    async def _ready(self, port: int) -> bool:
        status, _ = await http(port, "GET", "/ready")
        return status == 200

    async def _hub_ok(self, index: int, port: int) -> bool:
        if not await self._ready(port):
            return False
        # End to end through the hub's Lua path: a fallback heartbeat of a canary user that is
        # not playing (so it never earns).
        body = json.dumps(
            {
                "content_id": self.content_ids[0],
                "tab_id": "canary",
                "device_id": "canary",
                "playing": False,
                "visible": False,
            }
        ).encode()
        status, _ = await http(
            port,
            "POST",
            "/api/service/timer-session",
            body,
            {
                "Authorization": f"Bearer {self.canary_tokens[index]}",
                "Content-Type": "application/json",
            },
        )
        return status == 200

    async def _worker_ok(self) -> bool:
        status, body = await http(self.metrics_port, "GET", "/metrics")
        if status != 200:
            return False
        m = re.search(rb"^worker_partitions_held ([0-9.e+]+)$", body, re.MULTILINE)
        return m is not None and float(m.group(1)) >= PARTITIONS

    async def _grants_after(self, since: float) -> bool:
        import asyncpg

        assert self.stack.pg
        try:
            conn = await asyncpg.connect(self.stack.pg.dsn, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            n = await conn.fetchval(
                "SELECT count(*) FROM coin_transactions WHERE created_at > to_timestamp($1)",
                since,
                timeout=2,
            )
            return bool(n)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        finally:
            await conn.close(timeout=2)

    async def await_recovery(
        self, since: float, timeout: float, ledger: bool = True
    ) -> tuple[bool, float | None, dict[str, float | None], list[str]]:
        """Probe until every check passes in one round; (recovered, seconds since `since`,
        seconds to each check's first pass, the checks still failing at the timeout)."""
        first: dict[str, float | None] = {}
        deadline = time.time() + timeout
        state: dict[str, bool] = {}
        while time.time() < deadline:
            state = await self.probe(since, ledger)
            now = time.time()
            for name, ok in state.items():
                if ok and first.get(name) is None:
                    first[name] = round(now - since, 2)
                first.setdefault(name, None)
            if all(state.values()):
                return True, round(now - since, 2), first, []
            await asyncio.sleep(PROBE_EVERY_S)
        return False, None, first, [name for name, ok in state.items() if not ok]

    async def kick_probe(self, old_hub: int, new_hub: int) -> float | None:
        """A canary watches on `old_hub`; another device of the same user takes over on
        `new_hub`; seconds until the old connection gets `replaced` (only the kick sent over
        Redis pub/sub delivers it: the canary sends no heartbeat), None when it does not."""
        from websockets.asyncio.client import connect

        uid = KICK_UID + old_hub * 10 + new_hub
        token = self.stack.tokens([uid])[0]
        headers = {"Authorization": f"Bearer {token}"}

        async def start(ws: Any, device: str, takeover: bool) -> None:
            await recv_type(ws, "hello")
            await ws.send(
                json.dumps(
                    {
                        "type": "start",
                        "content_id": self.content_ids[0],
                        "tab_id": "kick",
                        "device_id": device,
                        "takeover": takeover,
                    }
                )
            )
            await recv_type(ws, "started")

        try:
            async with asyncio.timeout(KICK_TIMEOUT_S + 10):
                async with connect(
                    f"ws://127.0.0.1:{self.hub_ports[old_hub]}/ws",
                    additional_headers=headers,
                    proxy=None,
                ) as old:
                    await start(old, f"dev-{time.monotonic_ns()}", True)
                    async with connect(
                        f"ws://127.0.0.1:{self.hub_ports[new_hub]}/ws",
                        additional_headers=headers,
                        proxy=None,
                    ) as new:
                        await start(new, f"dev-{time.monotonic_ns()}", True)
                        began = time.monotonic()
                        async with asyncio.timeout(KICK_TIMEOUT_S):
                            await recv_type(old, "replaced")
                        return round(time.monotonic() - began, 3)
        except Exception as exc:  # noqa: BLE001 - any failure means no kick seen
            self.say(f"kick probe hub-{old_hub + 1} -> hub-{new_hub + 1} failed: {exc!r}")
            return None

    # --- faults -------------------------------------------------------------------------

    async def inject(self, fault: str) -> tuple[float, float]:
        target = {
            "hub_kill": "hub-1",
            "worker_kill": "worker",
            "redis_kill": "redis",
            "postgres_kill": "postgres",
            "redis_stop": "redis",
        }[fault]
        unit = self.unit(target)
        injected = time.time()
        if fault == "redis_stop":
            unit.signal(signal.SIGSTOP)
            self.event("SIGSTOP", target, {})
            try:
                await asyncio.sleep(self.opts.stop_s)
            finally:
                unit.signal(signal.SIGCONT)
            self.event("SIGCONT", target, {})
            return injected, time.time()
        unit.signal(signal.SIGKILL)
        self.event("SIGKILL", target, {"fault": fault})
        return injected, injected

    async def run_fault(self, fault: str) -> FaultResult:
        before = {u.name: len(u.restarts) for u in self.units}
        result = FaultResult(fault)
        result.injected_at, result.ended_at = await self.inject(fault)
        ok, secs, first, down = await self.await_recovery(
            result.ended_at, self.opts.recovery_timeout_s
        )
        result.recovered, result.recovery_s, result.ready_s = ok, secs, first
        if not ok:
            result.not_recovered = down
            self.event("not_recovered", fault, {"down": down})
            # What an operator would do: restart what is not ready (the worker when only the
            # ledger stalls), then wait again.
            names = [n for n in down if n != "ledger"] or ["worker"]
            for name in names:
                if name in ("hub-1", "hub-2", "api", "worker"):
                    self.unit(name).signal(signal.SIGKILL)
            result.manual_restart = names
            ok2, secs2, _, down2 = await self.await_recovery(
                time.time(), self.opts.recovery_timeout_s
            )
            result.recovery_after_manual_s = secs2
            if not ok2:
                self.event("still_down", fault, {"down": down2})
        else:
            self.event("recovered", fault, {"recovery_s": secs, "first_ok_s": first})
        result.kick_s = [await self.kick_probe(0, 1), await self.kick_probe(1, 0)]
        result.supervisor_restarts = {
            u.name: len(u.restarts) - before[u.name]
            for u in self.units
            if len(u.restarts) > before[u.name]
        }
        await asyncio.sleep(self.opts.settle_s)
        return result

    # --- the run ------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        supervisor = Supervisor(self.units, self.event)
        supervisor.start()
        results: list[FaultResult] = []
        try:
            ok, _, _, down = await self.await_recovery(time.time(), 60, ledger=False)
            if not ok:
                raise RuntimeError(f"the system did not become ready: {down}")
            self.baseline_kick = [await self.kick_probe(0, 1), await self.kick_probe(1, 0)]
            if None in self.baseline_kick:
                raise RuntimeError("a cross-node takeover kick failed before any fault")
            per_fault = self.opts.stop_s + 2 * self.opts.recovery_timeout_s + self.opts.settle_s
            budget = self.opts.warmup_s + len(self.opts.faults) * per_fault + 60
            self.start_load(budget)
            await asyncio.sleep(self.opts.warmup_s)
            baseline_end = time.time()
            for fault in self.opts.faults:
                self.say(f"--- {fault}")
                results.append(await self.run_fault(fault))
        finally:
            self.stop_load()
            await supervisor.close()
        for i, r in enumerate(results):
            r.phase_end = results[i + 1].injected_at if i + 1 < len(results) else self.load_stopped
        analysis = await self.analyse(results, baseline_end)
        return analysis

    # --- after the run ------------------------------------------------------------------

    async def wait_drained(self) -> tuple[bool, float]:
        """Until no outbox entry is left or pending (every grant made before the load stopped
        is then committed and acknowledged), bounded."""
        from redis.asyncio import Redis

        from live import keys

        assert self.stack.redis
        client = Redis.from_url(self.stack.redis.url)
        started = time.time()
        try:
            while time.time() - started < self.opts.drain_timeout_s:
                pipe = client.pipeline(transaction=False)
                for p in range(PARTITIONS):
                    pipe.xlen(keys.outbox(p))
                if sum(await pipe.execute()) == 0:
                    return True, round(time.time() - started, 2)
                await asyncio.sleep(0.25)
            return False, round(time.time() - started, 2)
        finally:
            await client.aclose()

    async def analyse(self, results: list[FaultResult], baseline_end: float) -> dict[str, Any]:
        import asyncpg
        from redis.asyncio import Redis

        from live import keys

        assert self.stack.redis and self.stack.pg
        drained, drain_s = await self.wait_drained()
        self.say(f"outbox drained: {drained} ({drain_s}s)")
        seen = read_reward_log(self.reward_log)
        conn = await asyncpg.connect(self.stack.pg.dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT reward_id, user_id, content_id, amount, "
                "extract(epoch FROM created_at)::float8 AS t FROM coin_transactions "
                "WHERE kind = 'watch'"
            )
            dup_ids = await conn.fetch(
                "SELECT reward_id, count(*) AS n FROM coin_transactions "
                "WHERE reward_id IS NOT NULL GROUP BY reward_id HAVING count(*) > 1"
            )
            # Held grants (multi-account review, where the schema has it) are in the ledger
            # but not in the balance until approved.
            has_status = await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                "'coin_transactions' AND column_name = 'status'"
            )
            paid = "c.status = 'paid'" if has_status else "true"
            held = (
                await conn.fetchval("SELECT count(*) FROM coin_transactions WHERE status = 'held'")
                if has_status
                else 0
            )
            bad_balances = await conn.fetch(
                "SELECT u.id, u.balance, coalesce(sum(c.amount), 0) AS ledger FROM users u "
                f"LEFT JOIN coin_transactions c ON c.user_id = u.id AND {paid} GROUP BY u.id "
                "HAVING u.balance <> coalesce(sum(c.amount), 0)"
            )
            pg_balance = dict(await conn.fetch("SELECT id, balance FROM users"))
        finally:
            await conn.close()
        ledger = {r["reward_id"]: r for r in rows}
        # A (user, content, boundary) paid twice: the reward id encodes it, so this is the
        # same as a repeated id unless ids were ever built differently; count both.
        boundaries = Counter(parse_reward_id(rid) for rid in ledger)
        boundary_dups = [b for b, n in boundaries.items() if n > 1]
        # Nobody can be paid for more boundaries than the wall-clock time since the load
        # started allows (credit never exceeds real time; one session per user).
        per_user: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            per_user[r["user_id"]].append(r["t"])
        overpaid = {
            uid: len(ts)
            for uid, ts in per_user.items()
            if len(ts) > (max(ts) - self.load_started) * 1000 / REWARD_INTERVAL_MS + 1
        }
        client = Redis.from_url(self.stack.redis.url, decode_responses=True)
        try:
            # With no daily cap and rewards never paused (DRILL_ENV), every boundary up to a
            # content's highest index n was granted: ids 1..n.
            granted: set[str] = set()
            async for key in client.scan_iter(match="{p*}:u:*:watch", count=1000):
                uid = key.split(":")[2]
                for name, value in (await client.hgetall(key)).items():
                    if name.startswith("n:"):
                        granted.update(f"w:{uid}:{name[2:]}:{n}" for n in range(1, int(value) + 1))
            dead = 0
            cache_mismatch: list[int] = []
            for p in range(PARTITIONS):
                dead += await client.xlen(keys.dead_letters(p))
            async for key in client.scan_iter(match="{p*}:u:*:bal", count=1000):
                uid = int(key.split(":")[2])
                bal = await client.hgetall(key)
                if int(bal.get("pend", 0)) != 0 or (
                    "pg" in bal and int(bal["pg"]) != pg_balance.get(uid)
                ):
                    cache_mismatch.append(uid)
        finally:
            await client.aclose()
        lost_redis = sorted(granted - set(ledger))
        not_in_redis = sorted(set(ledger) - granted)
        lost_seen = sorted(set(seen) - set(ledger))
        # Per phase: grants made (ledger time), rewards players saw, and which of those are
        # missing, by the time the player saw them.
        baseline_grants = sum(1 for r in rows if self.load_started <= r["t"] < baseline_end)
        rate = baseline_grants / max(1e-9, baseline_end - self.load_started)
        history = locust_failures(self.load_prefix) if self.opts.load == "locust" else None
        for r in results:
            lo, hi = r.injected_at, r.phase_end
            r.grants_made = sum(1 for row in rows if lo <= row["t"] < hi)
            r.rewards_seen = sum(1 for t in seen.values() if lo <= t < hi)
            r.lost_seen = [rid for rid in lost_seen if lo <= seen[rid] < hi]
            if r.fault == "redis_kill":
                # A Redis *process* crash loses nothing (the AOF is in the OS before Redis
                # answers); a machine crash may lose the last ~1 s (docs/money.md).
                r.allowed_loss = int(rate + 0.999)
                r.bound = f"0 (process); <=1 s ~{r.allowed_loss} on machine crash"
            if history is not None:
                r.client_failures = failures_between(history, lo, hi)
        totals = {
            "grants_in_ledger": len(ledger),
            "grants_held_for_review": held,
            "rewards_seen_by_players": len(seen),
            "granted_in_redis": len(granted),
            "lost_seen": lost_seen,
            "lost_redis": lost_redis,
            "in_ledger_not_in_redis": not_in_redis[:50],
            "duplicate_reward_ids": [(d["reward_id"], d["n"]) for d in dup_ids],
            "duplicate_boundaries": [list(b) for b in boundary_dups],
            "overpaid_users": overpaid,
            "dead_letters": dead,
            "balance_mismatch_users": [r["id"] for r in bad_balances],
            "balance_cache_mismatch_users": cache_mismatch[:50],
            "baseline_grants_per_s": round(rate, 1),
            "drained": drained,
            "drain_s": drain_s,
            "load": locust_summary(self.load_prefix)
            if self.opts.load == "locust"
            else self.players,
        }
        return {"results": results, "totals": totals}


# --- helpers --------------------------------------------------------------------------------


async def http(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request to 127.0.0.1 (Connection: close): (status, body), (0, b"") when
    nothing answers in time. No client library: probes must not share a pool with anything."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            raw = await reader.read(1 << 20)
            while chunk := await reader.read(1 << 20):
                raw += chunk
        head, _, content = raw.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), content
    except (OSError, TimeoutError, ValueError, IndexError):
        return 0, b""
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def recv_type(ws: Any, kind: str) -> dict[str, Any]:
    """Frames until one of `kind`; an `error` frame raises."""
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return dict(frame)
        if frame.get("type") == "error":
            raise RuntimeError(f"waiting for {kind}: {frame}")


def read_reward_log(path: Path) -> dict[str, float]:
    """reward id -> the first time a player was told about it."""
    seen: dict[str, float] = {}
    if not path.exists():
        return seen
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("w:"):
            seen.setdefault(parts[1], float(parts[0]))
    return seen


def parse_reward_id(rid: str) -> tuple[int, int, int]:
    _, uid, cid, n = rid.split(":")
    return int(uid), int(cid), int(n)


def locust_failures(prefix: Path) -> list[tuple[float, int]] | None:
    """(unix time, cumulative failures) of locust's aggregated history, or None."""
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return None
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "Aggregated":
                out.append((float(row["Timestamp"]), int(row["Total Failure Count"])))
    return out


def locust_summary(prefix: Path) -> dict[str, Any] | None:
    """Requests and failures of the whole run, and the most frequent failures."""
    stats, failures = Path(f"{prefix}_stats.csv"), Path(f"{prefix}_failures.csv")
    if not stats.exists():
        return None
    out: dict[str, Any] = {}
    with open(stats, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "Aggregated":
                out = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"])}
    if failures.exists():
        with open(failures, newline="") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: -int(r["Occurrences"]))
        out["top_failures"] = [
            f"{r['Occurrences']} x {r['Method']} {r['Name']}: {r['Error'][:160]}" for r in rows[:15]
        ]
    return out


def failures_between(history: list[tuple[float, int]], lo: float, hi: float) -> int:
    before = max((n for t, n in history if t <= lo), default=0)
    upto = max((n for t, n in history if t <= hi), default=before)
    return max(0, upto - before)


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


def table(report: dict[str, Any], opts: Options) -> str:
    totals = report["totals"]
    dups = len(totals["duplicate_reward_ids"]) + len(totals["duplicate_boundaries"])
    head = (
        "fault",
        "recovery",
        "grants made",
        "seen",
        "lost (bound)",
        "duplicates",
        "kick after",
        "client failures",
        "supervisor restarts",
        "manual restart",
    )
    rows = []
    for r in report["results"]:
        rows.append(
            (
                r.fault,
                f"{r.recovery_s:.1f} s" if r.recovered and r.recovery_s is not None else "NO",
                str(r.grants_made),
                str(r.rewards_seen),
                f"{len(r.lost_seen)} ({r.bound})",
                str(dups),
                " / ".join("NO" if k is None else f"{k * 1000:.0f} ms" for k in r.kick_s) or "-",
                "-" if r.client_failures is None else str(r.client_failures),
                ", ".join(f"{k} x{v}" for k, v in r.supervisor_restarts.items()) or "-",
                ", ".join(r.manual_restart) or "no",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)),
        "-+-".join("-" * w for w in widths),
    ]
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    out.append("")
    out.append(
        f"totals: {totals['grants_in_ledger']} grants in the ledger, "
        f"{totals['rewards_seen_by_players']} rewards seen by players, "
        f"{totals['granted_in_redis']} granted per Redis, "
        f"{totals['grants_held_for_review']} held for review; lost (seen, not in ledger) "
        f"{len(totals['lost_seen'])}, lost (Redis-granted, not in ledger) "
        f"{len(totals['lost_redis'])}; duplicate ids {len(totals['duplicate_reward_ids'])}, "
        f"duplicate boundaries {len(totals['duplicate_boundaries'])}, overpaid users "
        f"{len(totals['overpaid_users'])}, dead letters {totals['dead_letters']}, balance "
        f"!= ledger {len(totals['balance_mismatch_users'])}, balance cache off "
        f"{len(totals['balance_cache_mismatch_users'])}; baseline "
        f"{totals['baseline_grants_per_s']} grants/s; recovery = from the kill (redis_stop: "
        f"from the SIGCONT) until every process is ready and a newer grant is in the ledger "
        f"(timeout {opts.recovery_timeout_s:g} s)"
    )
    return "\n".join(out)


def problems_of(report: dict[str, Any], opts: Options) -> list[str]:
    totals = report["totals"]
    problems = [
        f"{r.fault}: {p}" for r in report["results"] for p in verdict(r, opts.recovery_timeout_s)
    ]
    allowed = sum(r.allowed_loss for r in report["results"])
    for name in (
        "duplicate_reward_ids",
        "duplicate_boundaries",
        "overpaid_users",
        "balance_mismatch_users",
    ):
        if totals[name]:
            problems.append(f"{name}: {totals[name]}")
    if len(totals["lost_redis"]) > allowed:
        problems.append(
            f"{len(totals['lost_redis'])} grants Redis recorded are not in the "
            f"ledger: {totals['lost_redis'][:10]}"
        )
    if totals["dead_letters"]:
        problems.append(f"{totals['dead_letters']} dead letters")
    if totals["grants_held_for_review"]:
        # Every player has its own device ids: a hold here is a false positive of the review.
        problems.append(f"{totals['grants_held_for_review']} grants held for review")
    if not totals["drained"]:
        problems.append("the outbox did not drain")
    return problems


def run_drill(opts: Options) -> dict[str, Any]:
    """Run the drill; returns the report (results, totals, problems, json path)."""
    for fault in opts.faults:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    drill = Drill(opts)
    try:
        drill.start_system()
        report = asyncio.run(drill.run())
    except BaseException:
        for unit in drill.units:
            if isinstance(unit, AppUnit) and unit.tail():
                print(f"===== {unit.name} =====\n{unit.tail(40)}", file=sys.stderr)
        raise
    finally:
        drill.stop_load()
        stop_all(drill.units)
        drill.stack.stop()
    report["problems"] = problems_of(report, opts)
    report["table"] = table(report, opts)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(drill.t0))
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    path = opts.results_dir / f"faults-{stamp}.json"
    doc = {
        "options": {**asdict(opts), "results_dir": str(opts.results_dir)},
        "env": DRILL_ENV,
        "started": drill.t0,
        "load_started": drill.load_started,
        "load_stopped": drill.load_stopped,
        "baseline_kick_s": drill.baseline_kick,
        "results": [asdict(r) for r in report["results"]],
        "totals": report["totals"],
        "problems": report["problems"],
        "events": drill.events,
        "table": report["table"],
    }
    if drill.players is not None:
        doc["players"] = drill.players
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    report["json"] = path
    if opts.keep:
        print(f"servers' folder and logs kept in {drill.stack.dir}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated, in order (default: {','.join(FAULTS)})",
    )
    parser.add_argument("-u", "--users", type=int, default=40)
    parser.add_argument(
        "--load",
        choices=("locust", "builtin"),
        default=None,
        help="locust (default when installed) or loadtests/players.py",
    )
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--recovery-timeout", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    args = parser.parse_args(argv)
    load = args.load or ("locust" if shutil.which("locust", path=str(VENV_BIN)) else "builtin")
    opts = Options(
        faults=[f for f in args.faults.split(",") if f],
        users=args.users,
        load=load,
        warmup_s=args.warmup,
        settle_s=args.settle,
        recovery_timeout_s=args.recovery_timeout,
        keep=args.keep,
    )
    report = run_drill(opts)
    print()
    print(report["table"])
    print(f"\nresults: {report['json'].relative_to(ROOT)}")
    if report["problems"]:
        print("PROBLEMS:\n  " + "\n  ".join(report["problems"]))
        return 1
    print("no problem found")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
