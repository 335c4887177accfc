"""The dev run (`scripts/run.sh`, i.e. `python -m scripts.devservices run`) for real, twice
on the same folder: every process's metrics URL is printed and answers, the worker's metrics
move off a port that is taken, the logs are JSON with LOG_FORMAT=json, and a restart does not
make PostgreSQL log an error for the database that is already there."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import launch
from devkit.procs import Proc

BANNER_END = "Ctrl-C stops everything."


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Under /tmp and open to all: as root, PostgreSQL runs as `postgres` and must reach it.
    path = Path(tempfile.mkdtemp(prefix="watch-devrun-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def taken_worker_port() -> Iterator[int]:
    """The worker's default metrics port, held by someone else for the test."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", launch.WORKER_METRICS_PORT))
            s.listen()
        except OSError:
            pass  # another process holds it already: just as good
        yield launch.WORKER_METRICS_PORT


def _dev_run(run_dir: Path, n: int) -> tuple[Proc, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "WORKER_METRICS_PORT", "WORKER_METRICS_ADDR")
    }
    env.update(WATCH_RUN_DIR=str(run_dir), LOG_FORMAT="json", DRAIN_SECONDS="1", HOST="127.0.0.1")
    proc = Proc(
        [sys.executable, "-m", "scripts.devservices", "run"],
        env,
        run_dir / "out",
        f"devrun-{n}",
        parent_death=signal.SIGTERM,
    )
    deadline = time.monotonic() + 180
    while BANNER_END not in (text := proc.stdout_text()):
        assert proc.running, text
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    return proc, text


def _stop(proc: Proc) -> None:
    proc.signal(signal.SIGINT)  # Ctrl-C
    assert proc.proc.wait(90) == 0, proc.stdout_text()


def test_dev_run_prints_every_metrics_url_and_restarts_cleanly(
    run_dir: Path, taken_worker_port: int
) -> None:
    """Both runs print a metrics URL for the hub, the api and the worker, each answering
    with its process_* series; the worker's is not the taken port; the apps log JSON; the
    second run logs no "already exists" error in PostgreSQL's log."""
    for n in (1, 2):
        proc, banner = _dev_run(run_dir, n)
        try:
            ports = {
                label: int(port)
                for port, label in re.findall(
                    r"http://127\.0\.0\.1:(\d+)/metrics\s+\((.+?)\)", banner
                )
            }
            assert set(ports) == {"realtime hub", "REST api", "arq worker"}, banner
            assert ports["arq worker"] != taken_worker_port
            assert f"metrics on port {ports['arq worker']}" in banner
            for label, port in ports.items():
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                assert "process_resident_memory_bytes" in text, label
                if label == "arq worker":
                    assert "worker_partitions_held" in text
        finally:
            _stop(proc)
    logs = run_dir / "logs"
    assert '"logger":"uvicorn.error"' in (logs / "realtime.log").read_text()
    pg_log = (logs / "postgres.log").read_text()
    assert "already exists" not in pg_log and "ERROR:" not in pg_log, pg_log[-3000:]
