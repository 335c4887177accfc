"""One way to start each process (core/launch.py): the deployed flags, and the warning a hub
started by plain `uvicorn realtime.app:app` logs about what it runs without."""

from __future__ import annotations

import time
from typing import Any

from core import launch
from devkit.procs import http_status
from devkit.servers import free_port

WARNING = "runs without its deployed settings"


def test_the_hub_flags_follow_the_environment_and_extra_arguments_win() -> None:
    """WS_MAX_FRAME_BYTES becomes --ws-max-size; HOST, PORT and FORWARDED_ALLOW_IPS are read;
    arguments given after `python -m realtime` come last, so uvicorn takes them."""
    env = {"WS_MAX_FRAME_BYTES": "8192", "HOST": "0.0.0.0", "PORT": "9001"}
    args = launch.uvicorn_args("realtime", {**env, "FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert args[:5] == ["realtime.app:app", "--host", "0.0.0.0", "--port", "9001"]

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert value("--ws") == launch.HUB_WS and value("--ws-max-size") == "8192"
    assert value("--ws-per-message-deflate") == "false"
    assert value("--forwarded-allow-ips") == "10.0.0.0/8" and "--proxy-headers" in args
    api = launch.uvicorn_args("api", {})
    assert api[0] == "api.app:app" and "--ws" not in api and "--port" in api
    assert "--no-proxy-headers" in api and "--proxy-headers" not in api  # trust nobody
    assert launch.command("realtime", "--port", "1", python="py") == [
        "py",
        "-m",
        "realtime",
        "--port",
        "1",
    ]


def _wait_healthy(proc: Any, port: int) -> None:
    deadline = time.monotonic() + 20
    while http_status(port) != 200:
        assert proc.running, proc.output_tail()
        assert time.monotonic() < deadline, proc.output_tail()
        time.sleep(0.05)


def test_plain_uvicorn_hub_warns_once_naming_what_it_lacks(spawn_cmd: Any) -> None:
    """`uvicorn realtime.app:app` with uvicorn's defaults serves, and logs one warning naming
    the missing direct lane, deflate on and the frame limit that differs."""
    port = free_port()
    proc = spawn_cmd(["python", "-m", "uvicorn", "realtime.app:app", "--port", str(port)])
    _wait_healthy(proc, port)
    lines = [line for line in proc.stderr_text().splitlines() if WARNING in line]
    assert len(lines) == 1, proc.stderr_text()
    assert "no direct lane" in lines[0] and "deflate on" in lines[0]
    assert "--ws-max-size 16777216 differs from WS_MAX_FRAME_BYTES 4096" in lines[0]


def test_the_launched_hub_does_not_warn(spawn: Any) -> None:
    """`python -m realtime` (what `spawn` runs) has every deployed setting: no warning."""
    hub = spawn("realtime.app:app")
    assert hub.argv[1:3] == ["-m", "realtime"]
    assert WARNING not in hub.stderr_text()
