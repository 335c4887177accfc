"""The Redis baseline: how many tick.lua calls one redis-server runs per second.

Sessions are opened for `users` users with start.lua, then tick.lua is called for them round
robin with the hub's keys and arguments (earning, reward interval 1 s, no cap: the full path,
a grant every ~10 ticks), pipelined in batches over a few raw sockets with prebuilt RESP and
hiredis parsing, so the client costs far less than Redis does. `with_zadd` adds the viewer-set
ZADD that the hub sends with every tick. `redis_benchmark` runs the stock tool on one user's
keys as a cross-check.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from typing import Any

import hiredis

from live import keys

PARTITIONS = 64
TICK_ARGS = (
    "100",
    "3600000",
    "1000",
    "10",
    "0",
    "0",
    "32400000",
)  # hb, ttl, ivl, amt, cap, paused, tz


def resp(*args: str | int | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _tick_keys(uid: int) -> tuple[str, ...]:
    k = keys.UserKeys(uid, PARTITIONS)
    return (k.session, k.watch, k.day, k.balance, k.deadlines, k.outbox)


def tick_command(sha: str, uid: int, content_id: int) -> bytes:
    return resp(
        "EVALSHA",
        sha,
        6,
        *_tick_keys(uid),
        uid,
        f"s{uid}",
        1,
        "tab-1",
        "dev-1",
        content_id,
        "1",
        *TICK_ARGS,
    )


class _Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def replies(self, n: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < n:
            reply = self.reader.gets()
            if reply is False:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("redis closed the connection")
                self.reader.feed(data)
                continue
            out.append(reply)
        return out

    def call(self, *args: str | int) -> Any:
        self.sock.sendall(resp(*args))
        return self.replies(1)[0]

    def close(self) -> None:
        self.sock.close()


def prepare(port: int, users: int, first_uid: int, content_id: int) -> str:
    """Load the scripts and open a session for each user; returns tick.lua's SHA."""
    from live import scripts

    c = _Conn(port)
    try:
        for script in scripts.ALL:
            c.call("SCRIPT", "LOAD", script.source)
        batch: list[bytes] = []
        for uid in range(first_uid, first_uid + users):
            k = keys.UserKeys(uid, PARTITIONS)
            batch.append(
                resp(
                    "EVALSHA",
                    scripts.START.sha,
                    5,
                    k.session,
                    k.watch,
                    k.balance,
                    k.deadlines,
                    k.outbox,
                    uid,
                    content_id,
                    "tab-1",
                    "dev-1",
                    "0",
                    f"s{uid}",
                    "bench",
                    f"c{uid}",
                    "ws",
                    "3600000",
                )
            )
            if len(batch) == 512 or uid == first_uid + users - 1:
                c.sock.sendall(b"".join(batch))
                for reply in c.replies(len(batch)):
                    if isinstance(reply, Exception) or reply[0] not in (b"new", b"resumed"):
                        raise RuntimeError(f"start.lua failed while preparing: {reply!r}")
                batch.clear()
        return scripts.TICK.sha
    finally:
        c.close()


def tick_rate(
    port: int,
    sha: str,
    users: int,
    first_uid: int,
    content_id: int,
    seconds: float,
    *,
    batch: int = 256,
    conns: int = 2,
    with_zadd: bool = False,
) -> dict[str, Any]:
    """Pipelined tick.lua calls for `seconds`; returns ticks/s and the reply mix."""
    commands = []
    deadline_arg = str(int(time.time() * 1000) + 3_600_000)
    for uid in range(first_uid, first_uid + users):
        cmd = tick_command(sha, uid, content_id)
        if with_zadd:
            cmd += resp("ZADD", keys.viewers(content_id), "XX", "GT", deadline_arg, uid)
        commands.append(cmd)
    per = 2 if with_zadd else 1
    chunks = [b"".join(commands[i : i + batch]) for i in range(0, len(commands) - batch + 1, batch)]
    if not chunks:
        raise ValueError("need at least one batch of users")
    socks = [_Conn(port) for _ in range(conns)]
    ok = other = 0
    k = 0
    started = time.perf_counter()
    end = started + seconds
    try:
        while time.perf_counter() < end:
            for s in socks:
                s.sock.sendall(chunks[k % len(chunks)])
                k += 1
            for s in socks:
                for reply in s.replies(batch * per)[::per]:
                    if isinstance(reply, list) and reply and reply[0] == b"ok":
                        ok += 1
                    else:
                        other += 1
        elapsed = time.perf_counter() - started
    finally:
        for s in socks:
            s.close()
    return {
        "ticks_per_s": (ok + other) / elapsed,
        "ok": ok,
        "other": other,
        "seconds": elapsed,
        "batch": batch,
        "conns": conns,
        "users": users,
        "with_zadd": with_zadd,
    }


def redis_benchmark(
    port: int, sha: str, uid: int, content_id: int, requests: int, cpus: str | None
) -> dict[str, Any]:
    """The stock tool: EVALSHA tick.lua on one user's keys, 4 clients, pipeline 32."""
    argv = [
        "redis-benchmark",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        "4",
        "-P",
        "32",
        "-n",
        str(requests),
        "--csv",
        "EVALSHA",
        sha,
        "6",
        *_tick_keys(uid),
        str(uid),
        f"s{uid}",
        "1",
        "tab-1",
        "dev-1",
        str(content_id),
        "1",
        *TICK_ARGS,
    ]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"skipped": f"redis-benchmark failed: {exc!r}"}
    match = re.search(r'^"EVALSHA[^"]*","([0-9.]+)"', out.stdout, re.MULTILINE)
    if not match:
        return {
            "skipped": f"redis-benchmark output not understood: {out.stdout[-300:]!r} {out.stderr[-300:]!r}"
        }
    return {
        "requests_per_s": float(match.group(1)),
        "requests": requests,
        "clients": 4,
        "pipeline": 32,
    }
