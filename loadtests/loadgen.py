"""The load generator: worker processes (uvloop, raw-socket clients from loadtests.clients)
driven by a controller through pipes.

Each worker holds a share of the connections (one process may hold at most ~19.9k sockets
here: the open-files hard limit is 20,000) from its own source address 127.0.0.<2+i> (each
source address has its own ephemeral-port range). Phases are commands: connect, start
sessions, flood (closed loop: every connection keeps `depth` frames outstanding), rate (open
loop at a fixed total rate, round robin over the connections), http (keep-alive GETs, closed
loop or fixed rate), close. All workers begin a timed phase at the same monotonic instant
(CLOCK_MONOTONIC is system-wide), count replies received inside the measured window, and
return round-trip samples in microseconds; the controller merges them.

Every phase is bounded in time; connections only go to 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from loadtests.clients import (
    HttpConn,
    Sink,
    WsConn,
    client_frame,
    error_code,
    handshake,
    open_ws,
)

perf = time.perf_counter
MAX_SAMPLES = 3_000_000  # per worker and phase
OK_REPLIES = frozenset({b"tick", b"echo", b"started", b"stopped", b"pong"})


def heartbeat_frame() -> bytes:
    return client_frame(b'{"type":"heartbeat","playing":true,"visible":true}')


def start_frame(content_id: int, tab: str = "tab-1", device: str = "dev-1") -> bytes:
    return client_frame(
        b'{"type":"start","content_id":%d,"tab_id":"%s","device_id":"%s"}'
        % (content_id, tab.encode(), device.encode())
    )


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def _sleep_until(t: float) -> None:
    delay = t - perf()
    if delay > 0:
        await asyncio.sleep(delay)


class Worker(Sink):
    def __init__(self) -> None:
        self.conns: list[WsConn] = []
        self.waiters: dict[int, asyncio.Future[tuple[bytes, str]]] = {}
        self.closes: Counter[int] = Counter()
        self._reset(float("inf"), float("-inf"))

    def _reset(self, ws: float, we: float) -> None:
        self.ws, self.we = ws, we
        self.samples = array("l")
        self.count = 0
        self.errors: Counter[str] = Counter()
        self.pushes: Counter[str] = Counter()
        self.flood_frame: bytes | None = None
        self.stop_at = float("inf")

    # Sink

    def on_reply(
        self, conn: WsConn, sent_at: float, now: float, kind: bytes, payload: bytes
    ) -> None:
        code = error_code(payload) if kind == b"error" else ""
        if self.ws <= now <= self.we:
            if code:
                self.errors[code] += 1
            elif kind in OK_REPLIES:
                self.count += 1
                if len(self.samples) < MAX_SAMPLES:
                    self.samples.append(int((now - sent_at) * 1e6))
            else:
                self.errors[kind.decode(errors="replace")] += 1
        waiter = self.waiters.pop(conn.index, None)
        if waiter is not None and not waiter.done():
            waiter.set_result((kind, code))
        # An error ends this connection's flood: resending at once would turn a dead session
        # into a loop of cheap error replies that crowds out the live connections.
        if self.flood_frame is not None and now < self.stop_at and not code:
            conn.send(self.flood_frame)

    def on_push(self, conn: WsConn, kind: bytes) -> None:
        self.pushes[kind.decode(errors="replace")] += 1

    def on_close(self, conn: WsConn, code: int) -> None:
        self.closes[code] += 1
        waiter = self.waiters.pop(conn.index, None)
        if waiter is not None and not waiter.done():
            waiter.set_result((b"closed", str(code)))

    def live(self) -> list[WsConn]:
        return [c for c in self.conns if not c.closed]

    # Phases.

    async def connect(
        self,
        host: str,
        port: int,
        path: str,
        tokens: Sequence[str] | None,
        n: int,
        src: str,
        deflate: bool,
        typed: bool,
        concurrency: int,
        timeout: float,
        t0: float,
    ) -> dict[str, Any]:
        base = len(self.conns)
        sem = asyncio.Semaphore(concurrency)
        times = array("l")
        errors: Counter[str] = Counter()

        async def one(j: int) -> None:
            request = handshake(host, port, path, tokens[j] if tokens else None, deflate)
            async with sem:
                t = perf()
                try:
                    conn = await open_ws(
                        lambda: WsConn(self, request, typed, base + j), host, port, src, timeout
                    )
                except (TimeoutError, OSError, ConnectionError) as exc:
                    errors[f"{type(exc).__name__}: {str(exc)[:100]}"] += 1
                    return
                times.append(int((perf() - t) * 1e6))
                self.conns.append(conn)

        await _sleep_until(t0)
        started = perf()
        await asyncio.gather(*(one(j) for j in range(n)))
        return {
            "opened": len(times),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "t_start": started,
            "t_end": perf(),
            "samples": times,
        }

    async def start(
        self, content_ids: Sequence[int], concurrency: int, timeout: float
    ) -> dict[str, Any]:
        """Send `start` on every live connection and wait for each reply."""
        self._reset(0.0, float("inf"))
        sem = asyncio.Semaphore(concurrency)
        loop = asyncio.get_running_loop()
        outcome: Counter[str] = Counter()
        frames = {cid: start_frame(cid) for cid in content_ids}

        async def one(i: int, conn: WsConn) -> None:
            async with sem:
                fut: asyncio.Future[tuple[bytes, str]] = loop.create_future()
                self.waiters[conn.index] = fut
                conn.send(frames[content_ids[i % len(content_ids)]])
                try:
                    kind, code = await asyncio.wait_for(fut, timeout)
                except TimeoutError:
                    kind, code = b"timeout", ""
                outcome[code or kind.decode(errors="replace")] += 1

        t = perf()
        await asyncio.gather(*(one(i, c) for i, c in enumerate(self.live())))
        result = {"outcome": dict(outcome), "elapsed": perf() - t, "samples": self.samples}
        self._reset(float("inf"), float("-inf"))
        return result

    async def flood(
        self, frame: bytes, t0: float, warmup: float, duration: float, depth: int
    ) -> dict[str, Any]:
        """Closed loop: each connection resends as soon as a reply comes."""
        ws, we = t0 + warmup, t0 + warmup + duration
        self._reset(ws, we)
        self.stop_at = we
        conns = self.live()
        cpu: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + (ws - perf()), lambda: cpu.setdefault("a", _cpu()))
        loop.call_at(loop.time() + (we - perf()), lambda: cpu.setdefault("b", _cpu()))
        await _sleep_until(t0)
        self.flood_frame = frame
        for conn in conns:
            for _ in range(depth):
                conn.send(frame)
        await _sleep_until(we)
        self.flood_frame = None
        return await self._finish(conns, cpu, duration)

    async def rate(
        self, frame: bytes, t0: float, warmup: float, duration: float, rate: float, max_backlog: int
    ) -> dict[str, Any]:
        """Open loop: `rate` frames/s in total over this worker's connections, round robin
        (each connection sends every len(conns)/rate seconds). A connection with
        `max_backlog` replies outstanding skips its turn (counted)."""
        ws, we = t0 + warmup, t0 + warmup + duration
        self._reset(ws, we)
        conns = self.live()
        cpu: dict[str, float] = {}
        lags = array("l")
        skipped = sent = 0
        if not conns or rate <= 0:
            return {
                "count": 0,
                "samples": self.samples,
                "errors": {},
                "pushes": {},
                "lag_samples": lags,
                "skipped": 0,
                "sent": 0,
                "cpu_s": 0.0,
                "unanswered": 0,
            }
        await _sleep_until(t0)
        k = i = 0
        n = len(conns)
        while True:
            now = perf()
            if now >= we:
                break
            if "a" not in cpu and now >= ws:
                cpu["a"] = _cpu()
            due = int((now - t0) * rate)
            while k < due:
                scheduled = t0 + k / rate
                conn = conns[i % n]
                i += 1
                k += 1
                if conn.closed or len(conn.pending) >= max_backlog:
                    skipped += 1
                    continue
                conn.send(frame)
                sent += 1
                if scheduled >= ws:
                    lags.append(int((now - scheduled) * 1e6))
            await asyncio.sleep(0.001)
        cpu["b"] = _cpu()
        result = await self._finish(conns, cpu, duration)
        result.update(lag_samples=lags, skipped=skipped, sent=sent)
        return result

    async def _finish(
        self, conns: list[WsConn], cpu: dict[str, float], duration: float
    ) -> dict[str, Any]:
        deadline = perf() + 15
        while perf() < deadline and any(c.pending and not c.closed for c in conns):
            await asyncio.sleep(0.05)
        unanswered = sum(len(c.pending) for c in conns if not c.closed)
        for c in conns:  # replies that will never come must not pair with later sends
            c.pending.clear()
        result = {
            "count": self.count,
            "samples": self.samples,
            "errors": dict(self.errors),
            "pushes": dict(self.pushes),
            "unanswered": unanswered,
            "cpu_s": cpu.get("b", 0.0) - cpu.get("a", 0.0),
            "closes": dict(self.closes),
        }
        self._reset(float("inf"), float("-inf"))
        return result

    async def close_all(self) -> dict[str, Any]:
        for conn in self.conns:
            conn.abort()
        deadline = perf() + 10
        while perf() < deadline and not all(c.closed for c in self.conns):
            await asyncio.sleep(0.05)
        n = len(self.conns)
        self.conns.clear()
        closes = dict(self.closes)
        self.closes.clear()
        return {"closed": n, "closes": closes}

    async def http(
        self,
        host: str,
        port: int,
        request: bytes,
        conns: int,
        mode: str,
        rate: float,
        t0: float,
        warmup: float,
        duration: float,
    ) -> dict[str, Any]:
        """Keep-alive GETs: `closed` (each connection resends at once) or `rate` (open loop;
        latency counts from the scheduled time, so a queue behind busy connections shows)."""
        loop = asyncio.get_running_loop()
        ws, we = t0 + warmup, t0 + warmup + duration
        samples = array("l")
        statuses: Counter[int] = Counter()
        idle: list[HttpConn] = []
        backlog: list[float] = []
        state = {"count": 0, "running": True}

        def done(conn: HttpConn, sent_at: float, status: int) -> None:
            now = perf()
            if ws <= now <= we:
                statuses[status] += 1
                if 200 <= status < 300:
                    state["count"] += 1
                    if len(samples) < MAX_SAMPLES:
                        samples.append(int((now - sent_at) * 1e6))
            if conn.closed or not state["running"]:
                return
            if mode == "closed":
                conn.send(request, perf())
            elif backlog:
                conn.send(request, backlog.pop(0))
            else:
                idle.append(conn)

        pool: list[HttpConn] = []
        for i in range(conns):
            _, c = await loop.create_connection(functools.partial(HttpConn, done, i), host, port)
            pool.append(c)
        cpu: dict[str, float] = {}
        await _sleep_until(t0)
        if mode == "closed":
            for c in pool:
                c.send(request, perf())
            loop.call_at(loop.time() + (ws - perf()), lambda: cpu.setdefault("a", _cpu()))
            await _sleep_until(we)
        else:
            idle.extend(pool)
            k = 0
            while (now := perf()) < we:
                if "a" not in cpu and now >= ws:
                    cpu["a"] = _cpu()
                due = int((now - t0) * rate)
                while k < due:
                    scheduled = t0 + k / rate
                    k += 1
                    if idle:
                        idle.pop().send(request, scheduled)
                    elif len(backlog) < 100_000:
                        backlog.append(scheduled)
                await asyncio.sleep(0.001)
        cpu["b"] = _cpu()
        state["running"] = False
        deadline = perf() + 10
        while perf() < deadline and any(c.busy and not c.closed for c in pool):
            await asyncio.sleep(0.02)
        for c in pool:
            if c.transport is not None:
                c.transport.close()
        return {
            "count": state["count"],
            "samples": samples,
            "statuses": dict(statuses),
            "backlog_left": len(backlog),
            "cpu_s": cpu.get("b", 0.0) - cpu.get("a", 0.0),
        }


async def _serve(pipe: Any) -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        op = cmd.pop("op")
        try:
            if op == "exit":
                await worker.close_all()
                pipe.send({"ok": True})
                return
            if op == "close":
                result = await worker.close_all()
            else:
                result = await getattr(worker, op)(**cmd)
            pipe.send(result)
        except Exception as exc:  # noqa: BLE001 - report to the controller, keep serving
            pipe.send({"exception": f"{type(exc).__name__}: {exc}"})


def _worker_main(pipe: Any, cpus: set[int] | None) -> None:
    from devkit.servers import die_with_parent

    preexec = die_with_parent()
    if preexec is not None:
        preexec()
    if cpus:
        os.sched_setaffinity(0, cpus)
    import uvloop

    uvloop.run(_serve(pipe))


class WorkerError(RuntimeError):
    pass


@dataclass
class LoadGen:
    """The controller: `workers` processes pinned to `cpus`; worker i connects from
    127.0.0.<2+i>."""

    workers: int
    cpus: set[int] | None = None
    _procs: list[Any] = field(default_factory=list)
    _pipes: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        for _ in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, self.cpus), daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._pipes.append(parent)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def src(self, i: int) -> str:
        return f"127.0.0.{2 + i}"

    def send(self, cmds: Sequence[dict[str, Any] | None]) -> None:
        """Send one command per worker (None: that worker sits this one out)."""
        for pipe, cmd in zip(self._pipes, cmds, strict=False):
            if cmd is not None:
                pipe.send(cmd)

    def collect(
        self, cmds: Sequence[dict[str, Any] | None], timeout: float
    ) -> list[dict[str, Any]]:
        """The replies to what `send` sent, waiting at most `timeout` seconds in all."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        for pipe, cmd in zip(self._pipes, cmds, strict=False):
            if cmd is None:
                out.append({})
                continue
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise WorkerError(f"load worker did not answer {cmd.get('op')} in {timeout}s")
            reply = pipe.recv()
            if "exception" in reply:
                raise WorkerError(f"load worker failed in {cmd.get('op')}: {reply['exception']}")
            out.append(reply)
        return out

    def call(self, cmds: Sequence[dict[str, Any] | None], timeout: float) -> list[dict[str, Any]]:
        self.send(cmds)
        return self.collect(cmds, timeout)

    def broadcast(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        return self.call([dict(cmd) for _ in self._pipes], timeout)

    def close(self) -> None:
        for pipe in self._pipes:
            try:
                pipe.send({"op": "exit"})
            except OSError:
                pass
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._procs.clear()
        self._pipes.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]
