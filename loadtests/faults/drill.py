"""The drill: start the system under supervision, put the load on, inject each fault and
measure the recovery; `run_drill` runs it end to end and writes the JSON report."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

from devkit.servers import die_with_parent, free_port
from loadtests.faults.analysis import Analysis
from loadtests.faults.model import (
    CANARY_UID,
    DRILL_ENV,
    FAULTS,
    FIRST_UID,
    VENV_BIN,
    FaultResult,
    Options,
)
from loadtests.faults.probes import Probes
from loadtests.faults.report import problems_of, table
from loadtests.stack import ROOT, Stack, uvicorn_argv
from loadtests.supervise import AppUnit, PostgresUnit, RedisUnit, Supervisor, Unit, stop_all


class Drill(Probes, Analysis):
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
