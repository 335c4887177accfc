"""Structured logs (core/logs.py): one JSON object per line, uvicorn's lines included, with
the fields bound for the current task; the hub's line per WebSocket open and close."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.logs import JsonFormatter, bind, bound, unbind


def _record(msg: str = "hello %s", *args: Any, name: str = "t", **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or ("x",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_line_has_the_base_fields_and_extras() -> None:
    """A record becomes one JSON line with ts, level, logger, msg and its `extra` fields."""
    text = JsonFormatter().format(_record(user_id=7, conn_id="c1"))
    assert "\n" not in text
    line = json.loads(text)
    assert (line["level"], line["logger"], line["msg"]) == ("info", "t", "hello x")
    assert (line["user_id"], line["conn_id"]) == (7, "c1")
    assert line["ts"].endswith("+00:00")


def test_bound_fields_are_on_every_line_and_extras_win() -> None:
    """Fields bound with `bound(...)` appear on lines logged inside, an explicit extra
    overrides them, and they are gone after the block."""
    fmt = JsonFormatter()
    with bound(conn_id="c9", user_id=3):
        inside = json.loads(fmt.format(_record()))
        override = json.loads(fmt.format(_record(user_id=4)))
    after = json.loads(fmt.format(_record()))
    assert (inside["conn_id"], inside["user_id"]) == ("c9", 3)
    assert override["user_id"] == 4
    assert "conn_id" not in after


async def test_bound_fields_do_not_leak_between_tasks() -> None:
    """Two tasks binding different connection ids each see only their own."""
    fmt = JsonFormatter()
    seen: dict[str, str] = {}

    async def conn(cid: str) -> None:
        token = bind(conn_id=cid)
        await asyncio.sleep(0.01)
        seen[cid] = json.loads(fmt.format(_record()))["conn_id"]
        unbind(token)

    await asyncio.gather(conn("a"), conn("b"))
    assert seen == {"a": "a", "b": "b"}


def test_uvicorn_access_record_gets_structured_fields() -> None:
    """uvicorn's access record (client, method, path, version, status) becomes fields."""
    record = _record(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/health", "1.1", 200, name="uvicorn.access"
    )
    line = json.loads(JsonFormatter().format(record))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_hub_logs_json_including_uvicorn(spawn: Any) -> None:
    """A hub with LOG_FORMAT=json writes uvicorn's own lines (start-up, access) as JSON
    objects; only the lines printed before the lifespan runs are plain text."""
    hub = spawn("realtime.app:app", {"LOG_FORMAT": "json"}, extra_args=["--access-log"])
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        assert (await http.get("/health")).status_code == 200
    hub.terminate()
    text = hub.stderr_text()
    lines = _json_lines(text)
    plain = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(plain) <= 2, plain  # "Started server process", "Waiting for application startup"
    assert any(
        ln["msg"] == "Application startup complete." and ln["logger"] == "uvicorn.error"
        for ln in lines
    )
    assert any(ln.get("path") == "/health" and ln.get("status") == 200 for ln in lines)


async def test_text_format_for_the_dev_run(spawn: Any) -> None:
    """LOG_FORMAT=text gives classic lines, no JSON."""
    hub = spawn("realtime.app:app", {"LOG_FORMAT": "text"})
    hub.terminate()
    text = hub.stderr_text()
    assert "Application startup complete" in text
    assert not _json_lines(text)


async def test_hub_logs_each_connection_open_and_close(spawn: Any, token: Any) -> None:
    """A real hub with LOG_FORMAT=json logs, as JSON lines of core.logs, each WebSocket
    connection's open and close with its connection id, user id, close code and reason: a
    close by the client, one by the server (the drain on SIGTERM), and a refused token."""
    hub = spawn("realtime.app:app", {"LOG_FORMAT": "json", "DRAIN_SECONDS": "1"})
    async with connect(f"{hub.ws_url}/ws?token={token(801)}", open_timeout=5) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.close(1000, "bye")
    kept = await connect(f"{hub.ws_url}/ws?token={token(802)}", open_timeout=5)
    assert json.loads(await kept.recv())["type"] == "hello"
    refused = await connect(f"{hub.ws_url}/ws?token=not-a-token", open_timeout=5)
    with pytest.raises(ConnectionClosed):
        await refused.recv()
    hub.terminate()  # drains: the open connection is closed with 1012
    with pytest.raises(ConnectionClosed):
        await kept.recv()
    lines = [ln for ln in _json_lines(hub.stderr_text()) if ln["logger"] == "realtime.connection"]
    opened = {ln["user_id"]: ln for ln in lines if ln["msg"] == "websocket open"}
    closed = {ln["user_id"]: ln for ln in lines if ln["msg"].startswith("websocket closed")}
    assert set(opened) == set(closed) == {801, 802}, lines
    for user_id in (801, 802):
        assert opened[user_id]["conn_id"] == closed[user_id]["conn_id"]
        assert opened[user_id]["level"] == "info" and opened[user_id]["client"] == "127.0.0.1"
        assert closed[user_id]["duration_s"] >= 0
    assert len({ln["conn_id"] for ln in opened.values()}) == 2
    assert (closed[801]["code"], closed[801]["reason"]) == (1000, "bye")
    assert closed[802]["code"] == 1012 and closed[802]["reason"]
    (refusal,) = [ln for ln in lines if ln["msg"].startswith("websocket refused")]
    assert (refusal["code"], refusal["reason"], refusal["user_id"]) == (4501, "unauthorized", None)
