"""Guards in front of the routes: `ConcurrencyCap` (503 past a number of requests in flight) and
`Cors` (CORS_ORIGINS)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from core.web.envelope import error_body


class ConcurrencyCap:
    """Pure-ASGI middleware: at most `limit` HTTP requests of this process in flight at once;
    one more is answered at once with 503 `unavailable` and `Retry-After: 1`, rather than
    queued behind the others (a queue only turns overload into timeouts). `limit` None reads
    `max_concurrent_requests` from the app's settings at the first request (they are made
    in lifespan, after the middleware). Probes in `exempt` are never refused."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int | None = None,
        exempt: Iterable[str] = ("/health", "/metrics"),
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.limit is None:
            self.limit = scope["app"].state.settings.max_concurrent_requests
        if self.in_flight >= self.limit:
            body = error_body(
                "unavailable",
                "too many requests in flight, retry shortly",
                {"limit": self.limit},
                scope.get("request_id"),
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"1"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class Cors:
    """Starlette's CORSMiddleware with the origins of `CORS_ORIGINS` (app settings, read at
    the first request); no origins: no CORS headers at all. Bearer tokens, not cookies, so
    credentials are not allowed, except on the two routes of the pages' refresh cookie
    (CREDENTIALED: login sets it, refresh reads, rotates and clears it): a page of an allowed
    origin (the player, on the hub) can sign in and renew there. X-Request-ID and Retry-After
    are readable by scripts."""

    HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
    EXPOSE = ("X-Request-ID", "Retry-After")
    CREDENTIALED = frozenset({"/api/auth/login", "/api/auth/refresh"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: ASGIApp | None = None
        self.with_cookie: ASGIApp | None = None

    def _middleware(self, origins: list[str], credentials: bool) -> ASGIApp:
        return CORSMiddleware(
            self.app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(self.HEADERS),
            allow_credentials=credentials,
            expose_headers=list(self.EXPOSE),
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
                return
            origins = list(scope["app"].state.settings.cors_origins)
            self.inner = self.app if not origins else self._middleware(origins, False)
            self.with_cookie = self.app if not origins else self._middleware(origins, True)
        if scope["type"] == "http" and scope["path"] in self.CREDENTIALED:
            assert self.with_cookie is not None
            await self.with_cookie(scope, receive, send)
            return
        await self.inner(scope, receive, send)
