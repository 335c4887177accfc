"""The physical baseline: a bare ASGI WebSocket echo, run by the same uvicorn settings as the
hub (`uvicorn loadtests.echo_app:app`). It sends one `hello` after accept, like the hub, so
the load client treats both alike; then it returns every frame as it came. GET answers 200
(the health probe).

`starlette_app` is the same echo behind what the hub's own stack puts around every
connection (Starlette's router and exception middleware, the hub's RequestContext and
HttpMetrics middleware, Starlette's WebSocket object): between the bare echo and the hub, it
tells how much of the hub's cost is the framework and how much is the hub's own code."""

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


def _starlette_echo() -> Any:
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from core.web import HttpMetrics, RequestContext, exception_handlers

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(HELLO)
        while True:
            message = await ws.receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            if text is not None:
                await ws.send_text(text)
            else:
                await ws.send_bytes(message.get("bytes") or b"")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[WebSocketRoute("/ws", echo), Route("/health", health, methods=["GET"])],
        middleware=[
            Middleware(RequestContext),
            Middleware(HttpMetrics, registry=CollectorRegistry()),
        ],
        exception_handlers=exception_handlers(),
    )


starlette_app = _starlette_echo()
