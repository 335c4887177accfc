"""The JavaScript client as a package (web/package.json): `npm pack` makes a tarball of
exactly the client's files, its version is the service's, its TypeScript declarations
declare every export, and its close-code table is the hub's (realtime/closes.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from realtime import closes

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing (scripts/install.sh installs it)")
        pytest.skip(f"{name} is not installed")
    return path


def _node(script: str) -> object:
    out = subprocess.run(
        [_tool("node"), "--input-type=module", "-e", script],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_npm_pack_holds_the_client_and_nothing_else(tmp_path: Path) -> None:
    out = subprocess.run(
        [_tool("npm"), "pack", "--dry-run", "--json", "--ignore-scripts"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "npm_config_cache": str(tmp_path / "npm-cache")},
    )
    [pack] = json.loads(out.stdout)
    files = sorted(f["path"] for f in pack["files"])
    modules = sorted(f"watch/{p.name}" for p in (WEB / "watch").glob("*.js"))
    assert files == sorted(
        ["README.md", "package.json", "watch-client.d.ts", "watch-client.js", *modules]
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (pack["name"], pack["version"]) == ("@watch-hub/watch-client", version)


def test_every_export_is_declared_for_typescript() -> None:
    exported = _node(
        "const m = await import('./watch-client.js');"
        "console.log(JSON.stringify(Object.keys(m).sort()))"
    )
    declarations = (WEB / "watch-client.d.ts").read_text()
    declared = sorted(
        re.findall(r"^export declare (?:const|function|class) (\w+)", declarations, re.M)
    )
    assert declared == exported


def test_the_close_codes_are_the_hubs() -> None:
    """Every code the hub closes with has the same name in the client, and the client's
    terminal/reconnect split is PROTOCOL 4.3's (4500-4999 and 1000/1009 terminal)."""
    hub = {
        value: name.lower()
        for name, value in vars(closes).items()
        if name.isupper() and isinstance(value, int)
    }
    client = _node(
        "const m = await import('./watch/wire.js');"
        "const codes = Object.keys(m.CLOSE_CODES).map(Number);"
        "console.log(JSON.stringify(codes.map(c => [c, m.CLOSE_CODES[c], m.isTerminalClose(c)])))"
    )
    assert isinstance(client, list)
    names = {code: name for code, name, _ in client}
    assert {code: names.get(code) for code in hub} == hub
    assert set(names) - set(hub) == {1006}  # the browser's own "abnormal closure"
    for code, _, terminal in client:
        assert terminal == (code in (1000, 1009) or 4500 <= code <= 4999), code
