"""The HTML pages (web/*.html: the console on the api, the player on the hub), served with a
Content-Security-Policy that allows no inline script or style: every script and style sheet
is a file under /static, so an injected `<script>`, `onclick=` or `style=` does nothing.
docs/security.md, "The pages' Content-Security-Policy".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parents[2] / "web"

_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp(**directives: str) -> str:
    """The pages' policy, with `directives` (underscores for dashes) replaced."""
    merged = _BASE | {k.replace("_", "-"): v for k, v in directives.items()}
    return "; ".join(f"{k} {v}" for k, v in merged.items())


# The console calls only its own origin (the api that serves it).
ADMIN_CSP = csp()
# The player calls the hub it is served by (WebSocket, HTTP fallback, /sse/live) and the REST
# api its `?api=` names, on another port or host: any http(s) origin may be that api.
PLAYER_CSP = csp(connect_src="'self' ws: wss: http: https:")


def page(name: str, policy: str) -> FileResponse:
    """web/`name` with its policy, never cached by a shared cache, never framed."""
    return FileResponse(
        WEB / name,
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


class StaticWeb(StaticFiles):
    """/static: web/ as files; an HTML file opened there directly (/static/admin.html)
    gets the strict policy too, never a page without one."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith(".html"):
            response.headers["Content-Security-Policy"] = ADMIN_CSP
        return response
