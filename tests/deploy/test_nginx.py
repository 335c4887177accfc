"""deploy/nginx/nginx.conf: read for what the hub needs (WebSocket upgrade, long timeouts,
least_conn over the compose replicas), validated by `nginx -t`, and run for real in front of
two hub processes and the api."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from devkit.servers import free_port
from tests.deploy.conftest import ROOT

CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def _block(text: str, head: str) -> str:
    """The body of the first `head { ... }` block (balanced braces)."""
    start = text.index(head)
    i = text.index("{", start) + 1
    depth = 1
    j = i
    while depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i : j - 1]


def _conf() -> str:
    return re.sub(r"#[^\n]*", "", CONF.read_text())


def test_ws_location_upgrades_with_long_timeouts() -> None:
    """/ws goes to the hubs over HTTP/1.1 with Upgrade and Connection set, all the proxy
    headers repeated (a location's proxy_set_header replaces the server's), and read/send
    timeouts far above the heartbeat interval."""
    ws = _block(_conf(), "location = /ws")
    assert "proxy_pass http://realtime;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert f"proxy_set_header {header} " in ws, header
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        seconds = int(re.search(rf"{directive} (\d+)s;", ws).group(1))  # type: ignore[union-attr]
        assert seconds >= 600
    server = _block(_conf(), "server {")
    assert "proxy_http_version 1.1;" in server
    assert re.search(r"map \$http_upgrade \$connection_upgrade", _conf())


def test_upstreams_are_the_compose_services(compose: dict[str, Any]) -> None:
    """The hub upstream balances by least_conn over both replicas on the hub port; the
    fallback path goes to the hubs, the rest to the api."""
    conf = _conf()
    realtime = _block(conf, "upstream realtime")
    assert "least_conn;" in realtime
    assert re.search(r"zone realtime \d+k;", realtime)  # counts shared by all nginx workers
    servers = set(re.findall(r"server ([\w.-]+):(\d+)", realtime))
    assert servers == {("realtime-1", "8001"), ("realtime-2", "8001")}
    assert {name for name, _ in servers} <= set(compose["services"])
    assert re.findall(r"server ([\w.-]+):(\d+)", _block(conf, "upstream api")) == [("api", "8000")]
    assert "proxy_pass http://realtime;" in _block(conf, "location /api/service/")
    assert "proxy_pass http://api;" in _block(conf, "location / ")


def test_player_page_and_event_streams_go_to_the_hubs() -> None:
    """/player (the hub's page) and /sse/ (its live-count streams) are proxied to the hubs,
    the streams unbuffered and with a read timeout far above the keep-alive interval."""
    conf = _conf()
    assert "proxy_pass http://realtime;" in _block(conf, "location = /player")
    sse = _block(conf, "location /sse/")
    assert "proxy_pass http://realtime;" in sse
    assert "proxy_buffering off;" in sse
    seconds = int(re.search(r"proxy_read_timeout (\d+)s;", sse).group(1))  # type: ignore[union-attr]
    assert seconds >= 600


def _local_conf(tmp: Path, port: int, hubs: list[int], api: int) -> Path:
    """The config with the compose host names replaced by local ports."""
    text = CONF.read_text()
    text = text.replace("realtime-1:8001", f"127.0.0.1:{hubs[0]}")
    text = text.replace("realtime-2:8001", f"127.0.0.1:{hubs[1]}")
    text = text.replace("api:8000", f"127.0.0.1:{api}")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("listen [::]:80;", "")
    text = text.replace("pid /tmp/nginx.pid;", f"pid {tmp}/nginx.pid;")
    # Debian's build keeps its temp folders under /var/lib/nginx, which an unpacked (not
    # installed) package does not create; the official image has its own.
    temps = "".join(
        f"    {kind}_temp_path {tmp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temps, 1)
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


def test_nginx_accepts_the_config(nginx_bin: Path, tmp_path: Path) -> None:
    """`nginx -t` passes (host names swapped for local addresses: -t resolves them)."""
    import subprocess

    conf = _local_conf(tmp_path, free_port(), [free_port(), free_port()], free_port())
    out = subprocess.run(
        [str(nginx_bin), "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr


async def _metric(url: str, name: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{url}/metrics")).text
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]


async def test_websockets_and_http_through_nginx(
    nginx_bin: Path, tmp_path: Path, spawn: Any, spawn_cmd: Any, token: Any
) -> None:
    """nginx in front of two hubs and the api: WebSockets upgrade and get `hello`,
    least_conn puts open connections on both hubs, the fallback path, the player page and
    its event stream reach a hub, the rest the api, and a request id given by the client
    comes back."""
    hubs = [
        spawn(
            "realtime.app:app",
            {"NODE_ID": f"hub-{i}"},
            extra_args=["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
        )
        for i in (1, 2)
    ]
    api = spawn("api.app:app")
    port = free_port()
    conf = _local_conf(tmp_path, port, [h.port for h in hubs], api.port)
    proc = spawn_cmd(
        [str(nginx_bin), "-p", str(tmp_path), "-e", "stderr", "-c", str(conf), "-g", "daemon off;"]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while True:
            try:
                if (await http.get("/nginx-health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.running and time.monotonic() < deadline, proc.output_tail()
            await asyncio.sleep(0.05)

        r = await http.get("/health", headers={"X-Request-ID": "via-nginx-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "via-nginx-1"
        r = await http.get("/openapi.json")
        assert r.status_code == 200  # only the api serves it
        r = await http.post("/api/service/timer-session", json={})
        assert r.status_code == 401  # the hub's fallback: it wants a token
        assert (await http.get("/metrics")).status_code == 404  # Prometheus scrapes directly
        assert (await http.get("/ready")).status_code == 404  # the orchestrator probes directly
        assert (await http.get("/health")).status_code == 200  # cheap, no dependency

        page = await http.get("/player")  # the hub's page, and the files it loads
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/static/player.js" in page.text
        assert (await http.get("/static/player.js")).status_code == 200
        assert (await http.get("/static/watch-client.js")).status_code == 200
        async with http.stream("GET", "/sse/live") as stream:  # from a hub, unbuffered
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            first = await asyncio.wait_for(anext(stream.aiter_raw()), 5)
            assert first.startswith(b"retry:")

    clients = []
    for i in range(4):
        ws = await connect(f"ws://127.0.0.1:{port}/ws?token={token(700 + i)}", open_timeout=5)
        assert json.loads(await ws.recv())["type"] == "hello"
        clients.append(ws)
    try:
        opened = [await _metric(h.url, "hub_connections_open") for h in hubs]
        assert opened == [2.0, 2.0]
    finally:
        for ws in clients:
            await ws.close()
    proc.terminate()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours *_proxy variables; these requests are all local.
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
