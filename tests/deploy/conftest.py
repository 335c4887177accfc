"""Helpers for the deployment tests: the repository's deploy files, parsed, and the Debian
tools (nginx, promtool) that validate them for real.

No Docker engine runs here, so the compose file, the Dockerfile and the configs are checked
by parsing them, by running what they run (the entry point, the healthcheck, nginx) on this
machine, and by the tools' own checkers. A tool that is not on PATH is fetched from Debian's
packages once (`apt-get download` + `dpkg -x` into a cache folder: nothing is installed or
started system-wide); where that is not possible the test is skipped with the reason.
DEPLOY_TESTS_FETCH=0 forbids fetching.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml  # PyYAML comes with uvicorn[standard]

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("WATCH_TOOLS_DIR", "/var/tmp/watch-hub-tools"))


def load_yaml(relpath: str) -> Any:
    return yaml.safe_load((ROOT / relpath).read_text())


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """compose.yaml, parsed (anchors and `<<` merges resolved)."""
    return load_yaml("compose.yaml")


def entrypoint_argv(role: str, env: dict[str, str] | None = None) -> list[str]:
    """The command deploy/docker-entrypoint.sh runs for `role` (its dry-run mode)."""
    out = subprocess.run(
        ["sh", str(ROOT / "deploy" / "docker-entrypoint.sh"), role],
        # The venv's python first, as /opt/venv/bin is in the image.
        env={
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            **(env or {}),
            "ENTRYPOINT_DRY_RUN": "1",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return out.stdout.split()


def _unavailable(reason: str) -> NoReturn:
    """A tool the deployment tests need cannot be had: skip on a developer's machine, fail in
    CI (CI set), where a silent skip would hide that the check never ran."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a missing tool fails the run)")
    pytest.skip(reason)


def _fetch_deb(package: str, member: str) -> Path:
    target = TOOLS / package
    binary = target / member
    if binary.exists():
        return binary
    if os.environ.get("DEPLOY_TESTS_FETCH", "1") == "0":
        _unavailable(f"{Path(member).name} not on PATH and DEPLOY_TESTS_FETCH=0")
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        _unavailable(f"{Path(member).name} not on PATH and no apt-get/dpkg to fetch it")
    TOOLS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
        os.chmod(tmp, 0o777)  # apt's download sandbox user must be able to write there
        got = subprocess.run(
            ["apt-get", "download", "-qq", package],
            cwd=tmp,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if got.returncode != 0 or not debs:
            _unavailable(
                f"cannot fetch Debian package {package} (run apt-get update?): "
                f"{got.stderr.strip()[-300:]}"
            )
        unpacked = Path(tmp) / "x"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(unpacked)], check=True, timeout=120)
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    if not binary.exists():
        _unavailable(f"Debian package {package} has no {member}")
    return binary


def debian_tool(name: str, package: str, member: str) -> Path:
    """`name` from PATH, else from Debian's `package` (unpacked, not installed), else skip."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    return Path(found) if found else _fetch_deb(package, member)


@pytest.fixture(scope="session")
def nginx_bin() -> Path:
    """nginx (Debian's package: 0.5 MB)."""
    return debian_tool("nginx", "nginx", "usr/sbin/nginx")


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool (from Debian's prometheus package: a 19 MB download, once)."""
    return debian_tool("promtool", "prometheus", "usr/bin/promtool")
