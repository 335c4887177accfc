"""YouTube fixtures: the stand-in YouTube Data API (devkit/servers/youtube.py, a real HTTP
server process with recorded responses), the api in-process pointed at it, and a worker
app (its clients, for calling the refresh job)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.app import create_app, lifespan

KEY = "test-key"
VIDEO = "M7lc1UVf-VE"
LIVE = "jfKfPfyJRdk"
UPCOMING = "upc0mingAAA"
PRIVATE = "privateVid1"
BLOCKED = "regionBlk01"
PLAYLIST = "PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb"
HANDLE = "@GoogleDevelopers"


@dataclass
class StandIn:
    url: str

    @property
    def base(self) -> str:
        return self.url + "/youtube/v3"

    def env(self) -> dict[str, str]:
        return {"YOUTUBE_API_KEY": KEY, "YOUTUBE_API_URL": self.base}

    async def calls(self) -> dict[str, int]:
        """Requests the stand-in received, per API method."""
        async with httpx.AsyncClient() as http:
            return dict((await http.get(self.url + "/_calls")).json())

    async def mode(self, **mode: Any) -> None:
        async with httpx.AsyncClient() as http:
            (await http.post(self.url + "/_mode", json=mode)).raise_for_status()

    async def put_video(self, video_id: str, item: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as http:
            (await http.put(f"{self.url}/_videos/{video_id}", json=item)).raise_for_status()

    async def delete_video(self, video_id: str) -> None:
        async with httpx.AsyncClient() as http:
            (await http.delete(f"{self.url}/_videos/{video_id}")).raise_for_status()


@pytest.fixture
def youtube_api(spawn: Callable[..., Any]) -> StandIn:
    """The stand-in YouTube Data API, fresh for the test (its counts start at zero)."""
    return StandIn(spawn("devkit.servers.youtube:app").url)


@pytest.fixture
def make_api(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`async with make_api(**env) as (client, app)`: the api in-process with its lifespan."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        for name, value in {**env, **overrides}.items():
            monkeypatch.setenv(name, value)
        app = create_app()
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c, app

    return make


@pytest.fixture
async def api(
    make_api: Callable[..., Any], youtube_api: StandIn, redis: Any, engine: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The api in-process, its YouTube client on the stand-in."""
    async with make_api(**youtube_api.env()) as (client, _):
        yield client


@pytest.fixture
def admin(token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(1, ('admin',))}"}


@pytest.fixture
async def worker_app(
    make_settings: Callable[..., Any], youtube_api: StandIn, redis: Any, engine: Any
) -> AsyncIterator[Any]:
    """A WorkerApp in this process (no drain loops, no metrics server), on the stand-in."""
    from workers.config import load_config
    from workers.main import WorkerApp

    settings = make_settings(youtube_api_key=KEY, youtube_api_url=youtube_api.base)
    config = load_config({"WORKER_ID": "in-test", "WORKER_METRICS_PORT": "0"})
    app = await WorkerApp.open(settings, config, drain=False, serve_metrics=False)
    try:
        yield app
    finally:
        await app.close()
