"""Api fixtures: the real api app in-process (its lifespan runs: real engine, real Redis
client, control poller) behind an httpx client, and token headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app, lifespan


@pytest.fixture
async def api_app(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, pg_server: Any, redis_server: Any
) -> AsyncIterator[Starlette]:
    """A fresh api app with its lifespan entered (settings from the test `env`)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    async with lifespan(app):
        yield app


@pytest.fixture
async def client(api_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """`auth(user_id, roles=("viewer",), **kw)`: an Authorization header."""

    def make(user_id: int, roles: tuple[str, ...] = ("viewer",), **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(user_id, roles, **kw)}"}

    return make


@pytest.fixture
def admin(auth: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of admin user 1."""
    return auth(1, ("admin",))
