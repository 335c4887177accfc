"""What a page needs to know about this deployment before it shows anything: the time zone
every time is shown in (APP_TIMEZONE: the service's, not the browser's: a reward "today" and a
settlement's dates are days of that zone), and the server's clock. Public: it says nothing
about anyone."""

from __future__ import annotations

import time

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from core.web import ok
from core.web.spec import api_route


class PageConfig(Struct, frozen=True):
    timezone: str  # an IANA name, e.g. Asia/Seoul
    server_time_ms: int


async def page_config(request: Request) -> Response:
    settings = request.app.state.settings
    return ok(request, PageConfig(settings.app_timezone, int(time.time() * 1000)))


routes = [
    api_route(
        "GET",
        "/api/config",
        page_config,
        summary="The time zone pages show times in, and the server's clock",
        auth="none",
        response=PageConfig,
        tags=("pages",),
    ),
]
