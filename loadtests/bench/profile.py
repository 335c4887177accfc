"""py-spy on a server under load, and where its samples are."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from devkit.procs import Proc
from loadtests.bench.config import RESULTS, log
from loadtests.bench.harness import Harness
from loadtests.bench.results import LoadUnderProfiler, Profile, Skipped
from loadtests.stack import ROOT


def profile(h: Harness, app: Proc, name: str, run: Callable[[float], object]) -> Profile | Skipped:
    """py-spy samples `app` while `run(seconds)` loads it once more (an extra window, not
    one of the measured ones: sampling costs the target a little)."""
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        h.notes.append("py-spy not installed (.venv/bin/pip install py-spy): no profile")
        return Skipped("py-spy not installed")
    secs = 8 if h.quick else 15
    raw = RESULTS / f"profile-{h.stamp}-{name}.txt"
    argv = [
        str(pyspy),
        "record",
        "--pid",
        str(app.pid),
        "--duration",
        str(secs),
        "--rate",
        "200",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(raw),
    ]
    if h.aux_cpus:
        argv = ["taskset", "-c", ",".join(map(str, sorted(h.aux_cpus))), *argv]
    log(f"{app.name}: py-spy record {secs}s ({name})")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    load = run(secs - 1)
    try:
        _, err = proc.communicate(timeout=secs + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return Skipped("py-spy did not finish")
    if proc.returncode != 0 or not raw.exists():
        return Skipped(f"py-spy failed: {err.decode(errors='replace')[-300:]}")
    out = summarize(raw, expected=int(200 * secs))
    out.load_under_profiler = LoadUnderProfiler.of(load)
    out.file = str(raw.relative_to(ROOT))
    return out


def summarize(path: Path, expected: int, top: int = 30) -> Profile:
    """Where the samples are, from py-spy's collapsed stacks: self share per function, self
    share per package (uvicorn, websockets, redis, realtime, ...) and inclusive share per
    function (start-up frames that are on every stack left out)."""
    self_counts: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf = _short(frames[-1])
        self_counts[leaf] += count
        by_package[_package(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            incl[name] += count

    def rows(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    most = max(incl.values(), default=0)
    on_every_stack = {name for name, n in incl.items() if n >= 0.95 * most}
    inclusive = Counter({k: v for k, v in incl.items() if k not in on_every_stack})
    return Profile(
        samples=total,
        expected_if_always_busy=expected,
        note="shares are of the samples in which the thread was not idle; py-spy also "
        "counts time a runnable thread waited for the CPU",
        self_pct=rows(self_counts, top),
        self_pct_by_package=rows(by_package, 20),
        inclusive_pct=rows(inclusive, top),
    )


def _short(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module path)`: one row per function."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})"


def _package(frame: str) -> str:
    where = _short(frame).rsplit(" (", 1)[-1].rstrip(")")
    if where == "asyncio/runners.py":  # uvloop's C: epoll, socket reads, running callbacks
        return "event loop (uvloop)"
    head = where.split("/", 1)[0]
    head = head.removesuffix(".py")
    return head
