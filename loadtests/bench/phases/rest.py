"""3. REST: GET /api/contents, closed loop on 32 keep-alive connections and at 1k rps."""

from __future__ import annotations

import http.client
import time

from devkit.procs import Proc
from loadtests.bench.config import log
from loadtests.bench.harness import Harness
from loadtests.bench.measure import latency, median_of
from loadtests.bench.profile import profile
from loadtests.bench.results import HttpWindow, Rest
from loadtests.clients import http_request


def bench_rest(h: Harness) -> Rest:
    log("REST: GET /api/contents")
    env = h.stack.env(RATE_LIMIT_PER_MINUTE=1_000_000, ADMIN_RATE_LIMIT_PER_MINUTE=1_000_000)
    try:
        api = h.stack.start_uvicorn("api", "api.app:app", env, cpus=h.server_cpus)
    except RuntimeError as exc:
        h.notes.append(f"REST skipped: the api did not start ({str(exc)[:200]})")
        return Rest(skipped="api did not start")
    try:
        token = h.stack.tokens([2])[0]
        path = "/api/contents?limit=20"
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            note = f"REST skipped: GET {path} answered {resp.status} (route not there yet?)"
            h.notes.append(note)
            return Rest(skipped=note, status=resp.status, body=body[:200].decode(errors="replace"))
        assert api.port is not None
        request = http_request("GET", "127.0.0.1", api.port, path, token)
        secs = 3.0 if h.quick else 5.0

        def run(
            mode: str, target: float, conns: int, reps: int = h.reps, secs: float = secs
        ) -> HttpWindow:
            return requests(h, api, request, mode, target, conns, reps, secs)

        out = Rest(
            path=path,
            response_bytes=len(body),
            max=run("closed", 0, 32),
            at_1k=run("rate", 1000.0, 64),
        )
        if h.args.profile:
            out.profile_max = profile(
                h, api, "api-contents", lambda t: run("closed", 0, 32, 1, t - h.warmup_s)
            )
        return out
    finally:
        h.stack.stop_app(api)


def requests(
    h: Harness,
    api: Proc,
    request: bytes,
    mode: str,
    target: float,
    conns: int,
    reps: int,
    secs: float,
) -> HttpWindow:
    """`reps` windows of requests from one worker: `closed` (each connection sends its next
    request when answered) or at `target` requests/s."""
    cmd = {
        "op": "http",
        "host": "127.0.0.1",
        "port": api.port,
        "request": request,
        "conns": conns,
        "mode": mode,
        "rate": target,
    }
    runs = []
    for _ in range(reps):
        replies, use = h.window(cmd, api, secs, workers=1)
        r = replies[0]
        runs.append(
            HttpWindow(
                mode=mode,
                target_per_s=target if mode == "rate" else None,
                conns=conns,
                per_s=round(r["count"] / secs, 1),
                **latency(r["samples"]),
                **use,
                statuses=r["statuses"],
                client_cpu=round(r["cpu_s"] / secs, 3),
            )
        )
        time.sleep(0.3)
    return median_of(runs)
