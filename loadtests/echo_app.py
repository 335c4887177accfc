"""The physical baseline: a bare ASGI WebSocket echo, run by the same uvicorn settings as the
hub (`uvicorn loadtests.echo_app:app`). It sends one `hello` after accept, like the hub, so
the load client treats both alike; then it returns every frame as it came. GET answers 200
(the health probe)."""

from __future__ import annotations

from typing import Any

HELLO = '{"type":"hello","user_id":"0","heartbeat_interval_ms":10000,"session_ttl_ms":30000}'
_OK = {"type": "http.response.body", "body": b'{"status":"ok"}'}
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": HELLO})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    elif kind == "http":
        await send(_OK_START)
        await send(_OK)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
