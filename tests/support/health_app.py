"""A minimal ASGI app for testing the `spawn` fixture itself (no project code involved).

GET /health -> 200; GET /env/NAME -> {"value": os.environ.get(NAME)}. With
HEALTH_APP_FAIL set it fails at import, like an app that refuses its configuration.
"""

from __future__ import annotations

import os
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if os.environ.get("HEALTH_APP_FAIL"):
    sys.stderr.write("configuration error: HEALTH_APP_FAIL is set\n")
    sys.stderr.flush()
    os._exit(2)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def env(request: Request) -> JSONResponse:
    return JSONResponse({"value": os.environ.get(request.path_params["name"])})


app = Starlette(routes=[Route("/health", health), Route("/env/{name}", env)])
