"""WebSocket fuzzing at volume: 100k+ frames drawn from the hypothesis strategies of
devkit/wsfuzz/, played against two hub processes run as in the container, with
each hub's RSS sampled. docs/fuzzing.md describes what is covered and the measured figures.

    .venv/bin/python -m loadtests.fuzz                          # 100,000 frames
    .venv/bin/python -m loadtests.fuzz --frames 20000 --seed 7  # a shorter run, fixed seed

The scripts are drawn first (hypothesis draws about 600 frames/s per process, slower than
the hub answers), then played by --concurrency connections at once. Lock-step scripts go to
a hub with the rate and per-address gates lifted, so that every reply is exactly
predictable; floods (every tenth chunk of scripts) go to a hub with the default rate limit
(20 frames/s). Redis and PostgreSQL are throwaway servers (loadtests/stack.py); all traffic
stays on 127.0.0.1, and the run is bounded by --frames and --max-seconds.

Prints frames/s, the reply histogram and each hub's RSS (start after warm-up, peak, end).
Exit status 1 when any reply broke the contract, a hub logged a fault, stopped answering
/health or died, or its RSS rose above start + --rss-bound-mib. Writes
loadtests/results/fuzz-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from devkit.procs import Proc, http_status
from loadtests.stack import Stack, loadavg, rss_kib

RESULTS = Path(__file__).resolve().parent / "results"
# Lifted for the lock-step hub: one connection at a time cannot reach 10,000 frames/s, and
# every connection comes from 127.0.0.1.
GATES_OFF = {
    "WS_MAX_MESSAGES_PER_SECOND": 10_000,
    "WS_CONNECTS_PER_IP_PER_MINUTE": 1_000_000,
    "WS_MAX_CONNECTIONS_PER_IP": 1_000_000,
}
FLOOD_ENV = {"WS_CONNECTS_PER_IP_PER_MINUTE": 1_000_000, "WS_MAX_CONNECTIONS_PER_IP": 1_000_000}
FIRST_UID = 50_000_000
SAMPLE_EVERY_S = 0.5


def log(msg: str) -> None:
    print(f"fuzz: {msg}", file=sys.stderr, flush=True)


# --- generation, in child processes, before the replay --------------------------------------


def generate(
    seed: int, count: int, content_ids: tuple[int, ...], flood: bool, limit: int
) -> list[Any]:
    """`count` scripts from hypothesis, reproducibly from `seed` (runs in a child process)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    from devkit import wsfuzz

    out: list[Any] = []
    strategy = wsfuzz.flood_scripts(content_ids, limit) if flood else wsfuzz.scripts(content_ids)

    @seeded(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def collect(script: Any) -> None:
        out.append(script)

    collect()
    return out


# --- the hubs' memory and health -------------------------------------------------------------


class Watch:
    """RSS samples and log faults of one hub."""

    def __init__(self, name: str, app: Proc) -> None:
        self.name = name
        self.app = app
        self.samples: list[tuple[float, int]] = []
        self.initial_kib = rss_kib(app.pid)
        self.start_kib: int | None = None  # after warm-up
        self.log_seen = 0
        self.faults: list[str] = []

    def sample(self, t: float) -> None:
        self.samples.append((t, rss_kib(self.app.pid)))

    def check(self) -> list[str]:
        """New problems: the process gone, /health not 200, fault lines in its log."""
        from devkit.wsfuzz import log_line_is_a_fault

        problems: list[str] = []
        if self.app.proc.poll() is not None:
            problems.append(f"{self.name} exited with {self.app.proc.returncode}")
            return problems
        assert self.app.port is not None
        status = http_status(self.app.port, "/health", timeout=5.0)
        if status != 200:
            problems.append(f"{self.name} /health answered {status}")
        text = self.app.log_path.read_text(errors="replace")
        new, self.log_seen = text[self.log_seen :], len(text)
        for line in new.splitlines():
            if log_line_is_a_fault(line):
                self.faults.append(line[:2000])
                problems.append(f"{self.name} logged: {line[:300]}")
        return problems

    def figures(self, bound_mib: float) -> dict[str, Any]:
        start = self.start_kib or self.initial_kib
        after = [k for t, k in self.samples]
        peak = max(after, default=start)
        end = after[-1] if after else start
        limit = start + int(bound_mib * 1024)
        return {
            "initial_kib": self.initial_kib,
            "start_kib": start,
            "peak_kib": peak,
            "end_kib": end,
            "bound_kib": limit,
            "within_bound": peak <= limit,
            "samples": _downsample(self.samples, 400),
        }


def _downsample(samples: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    if len(samples) <= n:
        return [(round(t, 2), k) for t, k in samples]
    step = len(samples) / n
    return [(round(samples[int(i * step)][0], 2), samples[int(i * step)][1]) for i in range(n)]


# --- the run ---------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seed = args.seed if args.seed is not None else random.randrange(2**31)
        self.users = itertools.count(FIRST_UID)
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.chunks = 0
        self.transcripts: list[dict[str, Any]] = []
        self.gen_seconds = 0.0

    def main(self) -> int:
        stack = Stack(aof=False)
        try:
            log(f"seed {self.seed}; starting redis-server, PostgreSQL and two hubs")
            stack.start()
            watchable = stack.pg.psql(  # type: ignore[union-attr]
                "SELECT id FROM contents WHERE status = 'published' AND deleted_at IS NULL"
                " AND (published_at IS NULL OR published_at <= now())"
                " AND (expires_at IS NULL OR expires_at > now()) ORDER BY id"
            )
            content_ids = tuple(int(x) for x in watchable.split())
            # The hubs start before the corpus is drawn: their initial RSS is taken idle.
            lock = stack.start_uvicorn(
                "hub-lockstep", "realtime.app:app", stack.env(**GATES_OFF), cpus=None
            )
            flood = stack.start_uvicorn(
                "hub-flood", "realtime.app:app", stack.env(**FLOOD_ENV), cpus=None
            )
            from core.settings import load_settings

            settings = load_settings(stack.env())
            outcome = asyncio.run(self.fuzz(lock, flood, content_ids, settings))
            return self.report(*outcome, self.gen_seconds)
        finally:
            stack.stop()

    def corpus(
        self, content_ids: tuple[int, ...], limit: int, frames_wanted: int
    ) -> list[tuple[bool, Any]]:
        """Scripts of about `frames_wanted` frames, drawn by --gen-procs children; every
        `flood_every`-th chunk is floods. A script that ends in a close sends fewer frames
        than it holds, hence the margin."""
        args = self.args
        flood_every = max(1, round(1 / args.flood_share)) if args.flood_share > 0 else 0
        out: list[tuple[bool, Any]] = []
        frames = 0
        began = time.monotonic()
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.gen_procs, mp_context=ctx) as pool:
            chunk = 0
            jobs: list[tuple[bool, concurrent.futures.Future[list[Any]]]] = []
            while frames < frames_wanted * 1.6:
                while len(jobs) < 2 * args.gen_procs:
                    chunk = self.chunks
                    self.chunks += 1
                    is_flood = bool(flood_every) and chunk % flood_every == flood_every // 2
                    jobs.append(
                        (
                            is_flood,
                            pool.submit(
                                generate,
                                self.seed * 10_000 + chunk,
                                args.chunk,
                                content_ids,
                                is_flood,
                                limit,
                            ),
                        )
                    )
                is_flood, job = jobs.pop(0)
                for script in job.result():
                    out.append((is_flood, script))
                    frames += len(script.frames)
            for _, job in jobs:
                job.cancel()
        self.gen_seconds += time.monotonic() - began
        log(f"drew {len(out):,} scripts of {frames:,} frames in {time.monotonic() - began:.0f} s")
        return out

    async def fuzz(
        self, lock_app: Proc, flood_app: Proc, content_ids: tuple[int, ...], settings: Any
    ) -> tuple[Any, ...]:
        from devkit.wsfuzz import Tally, Target, play, token_maker

        args = self.args
        tokens = token_maker(settings)
        targets = {
            False: Target(f"ws://127.0.0.1:{lock_app.port}", tokens, frozenset(content_ids)),
            True: Target(
                f"ws://127.0.0.1:{flood_app.port}",
                tokens,
                frozenset(content_ids),
                rate_limit=settings.ws_max_messages_per_second,
            ),
        }
        watches = [Watch("hub-lockstep", lock_app), Watch("hub-flood", flood_app)]
        tally = Tally()
        flood_tally = Tally()
        problems: list[str] = []
        began = time.monotonic()
        deadline = began + args.max_seconds
        done = asyncio.Event()
        todo: Any = iter(())

        async def consume() -> None:
            for is_flood, script in todo:
                if done.is_set():
                    return
                result = await play(targets[is_flood], next(self.users), script)
                (flood_tally if is_flood else tally).add(result)
                if result.failures and len(problems) < 50:
                    problems.extend(
                        f"{'flood' if is_flood else 'lockstep'}: {f}" for f in result.failures
                    )
                    self.transcripts.extend(
                        {"failure": str(f), "transcript": f.transcript} for f in result.failures
                    )
                if time.monotonic() > deadline:
                    log("--max-seconds reached")
                    done.set()

        async def watch() -> None:
            warm = False
            next_check = 0
            last_report = time.monotonic()
            while True:
                now = time.monotonic() - began
                for w in watches:
                    w.sample(now)
                frames = tally.frames + flood_tally.frames
                if not warm and frames >= args.warmup:
                    warm = True
                    for w in watches:
                        w.start_kib = rss_kib(w.app.pid)
                        w.samples.clear()
                    log(
                        f"warm-up done at {frames:,} frames; RSS start "
                        + ", ".join(
                            f"{w.name} {(w.start_kib or 0) / 1024:.1f} MiB" for w in watches
                        )
                    )
                if frames >= next_check:
                    next_check = frames + 10_000
                    for w in watches:
                        problems.extend(w.check())
                if time.monotonic() - last_report > 15:
                    last_report = time.monotonic()
                    log(
                        f"{frames:,} frames after {now:.0f} s, {len(problems)} problems, RSS "
                        + ", ".join(
                            f"{w.name} {w.samples[-1][1] / 1024:.1f} MiB"
                            for w in watches
                            if w.samples
                        )
                    )
                await asyncio.sleep(SAMPLE_EVERY_S)

        watcher = asyncio.create_task(watch())
        replay_s = 0.0
        while not done.is_set() and tally.frames + flood_tally.frames < args.frames:
            # Drawing blocks this loop, while no connection is open: the hubs sit idle.
            wanted = args.frames - tally.frames - flood_tally.frames
            todo = iter(self.corpus(content_ids, targets[True].rate_limit, wanted))
            t0 = time.monotonic()
            await asyncio.gather(*(consume() for _ in range(args.concurrency)))
            replay_s += time.monotonic() - t0
            if time.monotonic() > deadline:
                break
        elapsed = replay_s
        await asyncio.sleep(2.0)  # the hubs settle (sessions expire later); last samples
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        for w in watches:
            w.sample(time.monotonic() - began)
            problems.extend(w.check())
        return tally, flood_tally, watches, problems, elapsed

    def report(
        self,
        tally: Any,
        flood_tally: Any,
        watches: list[Watch],
        problems: list[str],
        elapsed: float,
        gen_seconds: float,
    ) -> int:
        args = self.args
        frames = tally.frames + flood_tally.frames
        replies: Counter[str] = Counter(tally.replies) + Counter(flood_tally.replies)
        memory = {w.name: w.figures(args.rss_bound_mib) for w in watches}
        rss_ok = all(m["within_bound"] for m in memory.values())
        ok = not problems and rss_ok
        result = {
            "meta": {
                "time": self.stamp,
                "seed": self.seed,
                "frames_target": args.frames,
                "concurrency": args.concurrency,
                "flood_share": args.flood_share,
                "chunk": args.chunk,
                "warmup_frames": args.warmup,
                "rss_bound_mib": args.rss_bound_mib,
                "hub_env_lockstep": GATES_OFF,
                "hub_env_flood": FLOOD_ENV,
                "loadavg_after": loadavg(),
                "uvicorn": "websockets-sansio + the direct lane (realtime.wsdirect), --ws-max-size 4096, no deflate, uvloop, httptools",
            },
            "frames": frames,
            "lockstep_frames": tally.frames,
            "flood_frames": flood_tally.frames,
            "connections": tally.connections + flood_tally.connections,
            "seconds": round(elapsed, 1),
            "frames_per_s": round(frames / elapsed, 1),
            "generation_s": round(gen_seconds, 1),
            "replies": dict(replies.most_common()),
            "frames_by_kind": dict(
                (Counter(tally.labels) + Counter(flood_tally.labels)).most_common()
            ),
            "memory": memory,
            "problems": problems[:50],
            "transcripts": self.transcripts[:10],
            "faults": [f for w in watches for f in w.faults][:20],
            "passed": ok,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"fuzz-{self.stamp}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(
            f"frames      {frames:,} ({tally.frames:,} lock-step, {flood_tally.frames:,} in floods) "
            f"on {result['connections']:,} connections in {elapsed:.0f} s: "
            f"{result['frames_per_s']:,.0f} frames/s (drawn beforehand in {gen_seconds:.0f} s)"
        )
        print("replies     " + ", ".join(f"{k} {v:,}" for k, v in replies.most_common()))
        for name, m in memory.items():
            print(
                f"RSS {name:<13} initial {m['initial_kib'] / 1024:.1f} MiB, start {m['start_kib'] / 1024:.1f}, "
                f"peak {m['peak_kib'] / 1024:.1f}, end {m['end_kib'] / 1024:.1f} "
                f"(bound {m['bound_kib'] / 1024:.1f}: {'ok' if m['within_bound'] else 'EXCEEDED'})"
            )
        for p in problems[:10]:
            print(f"PROBLEM     {p}")
        print(
            f"{'PASSED' if ok else 'FAILED'}; seed {self.seed}; {path.relative_to(RESULTS.parent.parent)}"
        )
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send in all")
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once")
    parser.add_argument(
        "--flood-share",
        type=float,
        default=0.1,
        help="share of generated chunks that are floods (0: none)",
    )
    parser.add_argument("--chunk", type=int, default=100, help="scripts per generated chunk")
    parser.add_argument("--gen-procs", type=int, default=2, help="processes drawing scripts")
    parser.add_argument(
        "--warmup", type=int, default=5_000, help="frames before the RSS start figure is taken"
    )
    parser.add_argument(
        "--rss-bound-mib",
        type=float,
        default=24.0,  # docs/fuzzing.md
        help="fail when a hub's RSS peaks above its start + this",
    )
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop by this time")
    return Run(parser.parse_args(argv)).main()


if __name__ == "__main__":
    sys.exit(main())
