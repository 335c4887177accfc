"""PostgreSQL servers on 127.0.0.1. PostgreSQL refuses to run as root, so when we are root
it runs as the unprivileged `postgres` user with its data folder chowned to it."""

from __future__ import annotations

import glob
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devkit.servers.ports import free_port
from devkit.servers.process import ServerError, die_with_parent, log_tail, wait_exit

__all__ = ["PostgresServer", "find_pg_bin"]


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
                raise ServerError(f"postgres exited with {code}:\n" + log_tail(self.log_path))
            if self._ready():
                break
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"postgres not ready in {timeout}s:\n" + log_tail(self.log_path))
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
            if not wait_exit(proc, timeout):
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

    def has_database(self, name: str) -> bool:
        """Whether database `name` exists (asked in the `postgres` database)."""
        literal = "'" + name.replace("'", "''") + "'"
        return bool(self.psql(f"SELECT 1 FROM pg_database WHERE datname = {literal}", "postgres"))

    def createdb(self, name: str, *, exist_ok: bool = False) -> str:
        """Create database `name`; return its asyncpg URL. With `exist_ok`, a database that
        is there already is looked up first rather than tried: a refused CREATE DATABASE
        would write an ERROR line to the server's log at every restart of the dev run."""
        if exist_ok and self.has_database(name):
            return self.url_for(name)
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
