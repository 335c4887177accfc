"""3. The outbox drain into PostgreSQL: loadtests/drain_bench.py, in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys

from loadtests.bench.config import log
from loadtests.bench.harness import Harness
from loadtests.bench.results import Drain
from loadtests.stack import ROOT


def bench_drain(h: Harness) -> Drain:
    """loadtests/drain_bench.py (the money path's benchmark) starts its own Redis,
    PostgreSQL and worker, and prints/writes one JSON object with `drain_grants_per_s`,
    kept as it wrote it."""
    script = ROOT / "loadtests" / "drain_bench.py"
    if not script.exists():
        note = "drain skipped: loadtests/drain_bench.py does not exist yet"
        h.notes.append(note)
        return {"skipped": note}
    log("drain: python -m loadtests.drain_bench (its own servers and worker, unpinned)")
    out_path = h.stack.dir / "drain.json"
    argv = [sys.executable, "-m", "loadtests.drain_bench", "--out", str(out_path)]
    if h.quick:
        argv += ["--grants", "50000", "--seconds", "5"]
    try:
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env=h.stack.env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        h.notes.append("drain: drain_bench did not finish in 15 min")
        return {"skipped": "timeout"}
    if proc.returncode != 0 or not out_path.exists():
        tail = (proc.stderr or proc.stdout)[-400:]
        note = f"drain failed (exit {proc.returncode}): {tail}"
        h.notes.append(note)
        return {"skipped": note}
    result = dict(json.loads(out_path.read_text()))
    result["command"] = " ".join(argv[1:3] + argv[5:])
    return result
