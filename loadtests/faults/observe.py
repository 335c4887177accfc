"""What the drill observes with: one raw HTTP request, WebSocket frames of one type, the
log of rewards players were told about, and locust's CSV output."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

from loadtests.faults.model import PROBE_TIMEOUT_S


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
