"""What every server child process shares: its error, dying with its parent, its log tail
and a bounded wait for its exit."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

__all__ = ["ServerError", "die_with_parent", "log_tail", "wait_exit"]


class ServerError(RuntimeError):
    """A server did not start or stop as asked; the message carries its log tail."""


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


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
