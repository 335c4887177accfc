"""Real redis-server and PostgreSQL processes on free local ports.

Used by the test fixtures (throwaway data under /tmp) and by `scripts/devservices.py` (data
under `.run/`). PostgreSQL refuses to run as root, so when we are root it runs as the
unprivileged `postgres` user with its data folder chowned to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "die_with_parent",
    "find_pg_bin",
    "free_port",
    "port_is_free",
    "redis_command",
]


class ServerError(RuntimeError):
    """A server did not start or stop as asked; the message carries its log tail."""


# --- ports -----------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


# --- child processes -------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
except OSError:  # not Linux: children may outlive a killed parent
    _libc = None


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `sig` when the parent dies, even by SIGKILL,
    so that an interrupted test run or dev run leaves no server behind (Linux only)."""
    if _libc is None:
        return None
    prctl = _libc.prctl

    def _preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _preexec


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


# --- Redis ------------------------------------------------------------------------------------


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
                    + _tail(self.log_path)
                )
            if _redis_ping(self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise ServerError(
            f"redis-server did not answer PING in {timeout}s:\n" + _tail(self.log_path)
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM: with AOF on, redis flushes it first)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not _wait_exit(proc, timeout):
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


# --- PostgreSQL -----------------------------------------------------------------------------


def find_pg_bin() -> Path:
    """The folder of PostgreSQL's server binaries: Debian keeps them off PATH under
    /usr/lib/postgresql/<version>/bin (the newest version wins); else `initdb` on PATH."""

    def version(p: str) -> float:
        try:
            return float(Path(p).parent.name)
        except ValueError:
            return 0.0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for c in candidates:
        if os.access(os.path.join(c, "initdb"), os.X_OK) and os.access(
            os.path.join(c, "postgres"), os.X_OK
        ):
            return Path(c)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise ServerError("PostgreSQL server binaries not found; run scripts/install.sh")


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1 (TCP only, trust auth, superuser `postgres`).

    As root the server runs as the OS user `postgres` (PostgreSQL refuses root), so
    `data_dir` and every folder above it must be reachable by that user: tests use a folder
    under /tmp. `fsync=False` is for throwaway test data only.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        dbname: str = "watch",
        fsync: bool = True,
        extra_conf: Sequence[str] = (),
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.dbname = dbname
        self.fsync = fsync
        self.extra_conf = tuple(extra_conf)
        self.bin = find_pg_bin()
        self.log_path = (
            Path(log_path) if log_path else self.data_dir.parent / (self.data_dir.name + ".log")
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerError(
                    "running as root but there is no `postgres` OS user to run PostgreSQL as; "
                    "run scripts/install.sh (the Debian package creates it)"
                ) from None

    # URLs ------------------------------------------------------------------------------------
    def url_for(self, dbname: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the main database (asyncpg driver)."""
        return self.url_for(self.dbname)

    @property
    def dsn(self) -> str:
        """libpq/asyncpg DSN of the main database."""
        return self.url_for(self.dbname, driver="postgresql")

    # process ---------------------------------------------------------------------------------
    @property
    def _uid(self) -> int | None:
        return None if self._user is None else self._user.pw_uid

    @property
    def _gid(self) -> int | None:
        return None if self._user is None else self._user.pw_gid

    @property
    def _groups(self) -> list[int] | None:
        # Drop root's supplementary groups too, not only its uid and gid.
        return None if self._user is None else []

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        if self._user is not None:
            env["HOME"] = self._user.pw_dir
            env["USER"] = env["LOGNAME"] = "postgres"
        return env

    def reachable(self) -> bool:
        """Whether the server's OS user can reach `data_dir` (every folder above it must be
        searchable by it); always true when we are not root."""
        return self.unreachable_parent() is None

    def unreachable_parent(self) -> Path | None:
        if self._user is None:
            return None
        uid, gid = self._user.pw_uid, self._user.pw_gid
        groups = {gid, *(g.gr_gid for g in grp.getgrall() if self._user.pw_name in g.gr_mem)}
        for parent in self.data_dir.absolute().parents:
            st = parent.stat()
            if st.st_uid == uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid in groups:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                return parent
        return None

    def initdb(self) -> None:
        """Create the cluster if `data_dir` holds none yet."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        blocked = self.unreachable_parent()
        if blocked is not None:
            raise ServerError(
                f"the postgres OS user cannot reach {self.data_dir}: {blocked} is not searchable "
                "by it; put the data folder elsewhere (e.g. under /tmp or /var/tmp)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._chown(self.data_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        self._chown(self.log_path)
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            env=self._child_env(),
            cwd="/",
            user=self._uid,
            group=self._gid,
            extra_groups=self._groups,
        )
        if result.returncode != 0:
            raise ServerError(
                f"initdb failed ({result.returncode}):\n"
                + (result.stdout + result.stderr).decode(errors="replace")[-4000:]
            )

    def argv(self) -> list[str]:
        conf = [
            "listen_addresses=127.0.0.1",
            f"port={self.port}",
            "unix_socket_directories=",  # TCP only: no socket path length or permission issues
            f"fsync={'on' if self.fsync else 'off'}",
            "max_connections=200",
            *self.extra_conf,
        ]
        if not self.fsync:
            conf += ["synchronous_commit=off", "full_page_writes=off"]
        argv = [str(self.bin / "postgres"), "-D", str(self.data_dir)]
        for c in conf:
            argv += ["-c", c]
        return argv

    def _ready(self) -> bool:
        result = subprocess.run(
            [
                str(self.bin / "pg_isready"),
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-t",
                "1",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def start(self, timeout: float = 30.0) -> PostgresServer:
        """initdb when needed, start, wait until it accepts connections, create `dbname`."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.initdb()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                cwd="/",
                start_new_session=True,  # its own process group: kill() takes the backends too
                # If we die, an immediate shutdown (SIGQUIT) that also ends the backends.
                preexec_fn=die_with_parent(signal.SIGQUIT),  # noqa: PLW1509 (only calls prctl)
                user=self._uid,
                group=self._gid,
                extra_groups=self._groups,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise ServerError(f"postgres exited with {code}:\n" + _tail(self.log_path))
            if self._ready():
                break
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"postgres not ready in {timeout}s:\n" + _tail(self.log_path))
            time.sleep(0.05)
        self.createdb(self.dbname, exist_ok=True)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): ends sessions, checkpoints, exits."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            if not _wait_exit(proc, timeout):
                self.kill()
                return
        self.proc = None

    def kill(self) -> None:
        """SIGKILL to the postmaster and all its backends: a crash; `start()` recovers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        # Backends are in the same process group; make sure none survives to hold the
        # shared memory that a restart needs.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # databases -------------------------------------------------------------------------------
    def _client(self, tool: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                str(self.bin / tool),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                *args,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            env={**self._child_env(), "PGCONNECT_TIMEOUT": "5"},
        )

    def psql(self, sql: str, dbname: str | None = None) -> str:
        """Run SQL with psql (stops at the first error) and return its unaligned output."""
        result = self._client(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            dbname or self.dbname,
            "-c",
            sql,
        )
        if result.returncode != 0:
            raise ServerError(f"psql failed: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode()

    def createdb(self, name: str, *, exist_ok: bool = False) -> str:
        """Create database `name`; return its asyncpg URL."""
        result = self._client("createdb", name)
        if result.returncode != 0:
            err = result.stderr.decode(errors="replace")
            if not (exist_ok and "already exists" in err):
                raise ServerError(f"createdb {name} failed: {err}")
        return self.url_for(name)

    def dropdb(self, name: str) -> None:
        result = self._client("dropdb", "--if-exists", "--force", name)
        if result.returncode != 0:
            raise ServerError(f"dropdb {name} failed: {result.stderr.decode(errors='replace')}")

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, running={self.running})"


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
