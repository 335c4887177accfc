"""redis-server processes on 127.0.0.1: one server, a local Redis Cluster, and one raw
command without a client library."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devkit.servers.ports import free_port
from devkit.servers.process import ServerError, die_with_parent, log_tail, wait_exit

__all__ = ["RedisClusterServers", "RedisServer", "redis_command"]


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1.

    `aof=False` (tests' default): no persistence at all. `aof=True`: `appendonly yes`,
    `appendfsync everysec`, so a restart on the same `data_dir` keeps what was written up to
    about one second before a crash. `start()` after `stop()`/`kill()` reuses the same port and
    folder.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        aof: bool = False,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.aof = aof
        self.extra_args = tuple(extra_args)
        self.binary = binary or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.log_path = Path(log_path) if log_path else self.data_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.aof
            else ["--appendonly", "no"]
        )
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            *persistence,
            "--daemonize",
            "no",
            "--logfile",
            "",  # stdout, which goes to our log file
            *self.extra_args,
        ]

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        if not os.path.exists(self.binary):
            raise ServerError(f"redis-server not found ({self.binary}); run scripts/install.sh")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGKILL),  # noqa: PLW1509 (only calls prctl)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"redis-server exited with {self.proc.returncode} on port {self.port}:\n"
                    + log_tail(self.log_path)
                )
            if _redis_ping(self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise ServerError(
            f"redis-server did not answer PING in {timeout}s:\n" + log_tail(self.log_path)
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM: with AOF on, redis flushes it first)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not wait_exit(proc, timeout):
                proc.kill()
                proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what the OS already has."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, aof={self.aof}, running={self.running})"


def redis_command(port: int, *args: str, timeout: float = 5.0) -> bytes:
    """Send one command to redis on 127.0.0.1:`port` and return the raw first reply line
    (no client library: used by fixtures that must not touch an event loop)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        reply = s.recv(4096)
    if reply.startswith(b"-"):
        raise ServerError(f"redis {args[0]} failed: {reply.decode(errors='replace').strip()}")
    return reply


class RedisClusterServers:
    """A local Redis Cluster of `masters` redis-server processes (no replicas), made with
    `redis-cli --cluster create`. `.url` names one node; cluster clients discover the rest."""

    def __init__(self, base_dir: str | os.PathLike[str], masters: int = 3) -> None:
        # The cluster bus port is given explicitly: by default it is the port + 10000, which
        # may be taken or above 65535.
        self.nodes = [
            RedisServer(
                Path(base_dir) / f"node-{i}",
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    str(free_port()),
                ),
            )
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def start(self, timeout: float = 30.0) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(b"cluster_state:ok" in redis_command(p, "CLUSTER", "INFO") for p in self.ports):
                return self
            time.sleep(0.1)
        raise ServerError("redis cluster did not reach cluster_state:ok")

    def flushall(self) -> None:
        for port in self.ports:
            redis_command(port, "FLUSHALL")

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
