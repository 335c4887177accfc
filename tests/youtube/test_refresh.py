"""The worker's refresh job against the stand-in: a live that ends becomes a video with its
real duration, a video gone from YouTube is unpublished with its reason, a second run does
nothing, and a quota stop ends a run without failing it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.youtube.conftest import LIVE, VIDEO
from workers import jobs

ENDED = Path(__file__).resolve().parents[2] / "devkit/servers/youtube_data/live_ended.json"


async def one(engine: Any, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).one()


async def age(engine: Any, seconds: int) -> None:
    """As if the last refresh were `seconds` ago."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE contents SET metadata_refreshed_at = now() - make_interval(secs => :s)"),
            {"s": seconds},
        )


async def test_a_live_that_ends_is_updated_to_a_video(
    api, admin, worker_app, engine, youtube_api
) -> None:
    """Refreshed as due (live ones every 5 minutes), the ended live gets its real duration;
    running the job again finds nothing due and calls nothing."""
    r = await api.post("/api/admin/youtube/imports", json={"source": LIVE}, headers=admin)
    assert r.json()["data"]["created"] == 1
    ctx = {"app": worker_app}
    assert await jobs.refresh_youtube(ctx) == 0  # refreshed just now by the import
    await youtube_api.put_video(LIVE, json.loads(ENDED.read_text()))
    await age(engine, 301)
    assert await jobs.refresh_youtube(ctx) == 1
    row = await one(engine, "SELECT live_state, duration_s, status FROM contents")
    assert tuple(row) == ("ended", 9015, "published")
    calls = await youtube_api.calls()
    assert await jobs.refresh_youtube(ctx) == 0
    assert await youtube_api.calls() == calls
    metrics = worker_app.metrics.registry
    assert (
        metrics.get_sample_value("youtube_api_calls_total", {"endpoint": "videos", "outcome": "ok"})
        == 1
    )
    assert metrics.get_sample_value("youtube_quota_units_total") == 1


async def test_a_video_gone_from_youtube_is_unpublished_and_comes_back(
    api, admin, worker_app, engine, youtube_api
) -> None:
    """Others are refreshed daily: a deleted video becomes a draft with reason `deleted`;
    once YouTube returns it again it is published again. Rows only change when it changed."""
    await api.post("/api/admin/youtube/imports", json={"source": VIDEO}, headers=admin)
    ctx = {"app": worker_app}
    await age(engine, 3600)
    assert await jobs.refresh_youtube(ctx) == 0  # not a live: daily
    before = await one(engine, "SELECT updated_at FROM contents")
    await age(engine, 86_401)
    assert await jobs.refresh_youtube(ctx) == 1
    assert (await one(engine, "SELECT updated_at FROM contents")) == before  # unchanged
    from devkit.servers.youtube import load

    recorded = next(i for i in load("videos.json")["items"] if i["id"] == VIDEO)
    await youtube_api.delete_video(VIDEO)
    await age(engine, 86_401)
    assert await jobs.refresh_youtube(ctx) == 1
    row = await one(engine, "SELECT status, unpublished_reason FROM contents")
    assert tuple(row) == ("draft", "deleted")
    r = await api.get("/api/contents")
    assert r.json()["data"]["items"] == []
    await youtube_api.put_video(VIDEO, recorded)
    await age(engine, 86_401)
    assert await jobs.refresh_youtube(ctx) == 1
    row = await one(engine, "SELECT status, unpublished_reason FROM contents")
    assert tuple(row) == ("published", None)


async def test_a_quota_stop_ends_the_run_without_failing_it(
    api, admin, worker_app, engine, youtube_api
) -> None:
    """quotaExceeded during a refresh: the job returns, the content keeps its metadata, and
    the next run sends nothing."""
    await api.post("/api/admin/youtube/imports", json={"source": LIVE}, headers=admin)
    await youtube_api.mode(quota_exceeded=True)
    await age(engine, 301)
    ctx = {"app": worker_app}
    assert await jobs.refresh_youtube(ctx) == 0
    assert await jobs.refresh_youtube(ctx) == 0
    assert (await youtube_api.calls())["videos"] == 2  # the import's and the stopped one
    row = await one(engine, "SELECT live_state FROM contents")
    assert row[0] == "live"
    ok = worker_app.metrics.registry.get_sample_value(
        "worker_jobs_total", {"job": "youtube_refresh", "outcome": "ok"}
    )
    assert ok == 2
