"""Importing from YouTube through the admin api, against the stand-in YouTube Data API over
real HTTP: what each kind of video becomes, paging, re-import, concurrency and errors."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from tests.youtube.conftest import (
    BLOCKED,
    HANDLE,
    LIVE,
    PLAYLIST,
    PRIVATE,
    UPCOMING,
    VIDEO,
)

IMPORTS = "/api/admin/youtube/imports"


async def rows(engine: Any, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def imported(api: Any, admin: dict[str, str], source: str) -> dict[str, Any]:
    r = await api.post(IMPORTS, json={"source": source}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def test_a_video_is_imported_once_and_a_reimport_updates_it(api, admin, engine) -> None:
    """Importing a video creates one published youtube content with its metadata; importing
    it again updates that row and creates nothing."""
    job = await imported(api, admin, f"https://www.youtube.com/watch?v={VIDEO}")
    assert (job["kind"], job["status"], job["found"], job["created"], job["updated"]) == (
        "video",
        "done",
        1,
        1,
        0,
    )
    [row] = await rows(
        engine,
        "SELECT provider, external_id, title, duration_s, tags, thumbnail_url, channel_title,"
        " live_state, status, source_url FROM contents",
    )
    assert tuple(row) == (
        "youtube",
        VIDEO,
        "YouTube Developers Live: Embedded Web Player Customization",
        3723,
        ["youtube", "iframe api", "embedded player"],
        f"https://i.ytimg.com/vi/{VIDEO}/maxresdefault.jpg",
        "Google for Developers",
        "none",
        "published",
        f"https://www.youtube.com/watch?v={VIDEO}",
    )
    again = await imported(api, admin, f"https://youtu.be/{VIDEO}")
    assert (again["created"], again["updated"], again["status"]) == (0, 1, "done")
    assert len(await rows(engine, "SELECT id FROM contents")) == 1


async def test_live_upcoming_private_blocked_and_deleted_videos(api, admin, engine) -> None:
    """A live and an upcoming broadcast are published without a duration; a private, a
    region-blocked and a deleted video are skipped with their reason, never playable."""
    for source in (LIVE, UPCOMING):
        assert (await imported(api, admin, source))["created"] == 1
    got = {
        r[0]: (r[1], r[2], r[3])
        for r in await rows(
            engine, "SELECT external_id, live_state, duration_s, status FROM contents"
        )
    }
    assert got == {LIVE: ("live", None, "published"), UPCOMING: ("upcoming", None, "published")}
    for source, reason in (
        (PRIVATE, "private"),
        (BLOCKED, "region_blocked"),
        ("zzzzzzzzzzz", "deleted"),
    ):
        job = await imported(api, admin, source)
        assert (job["created"], job["skipped"], job["skipped_items"]) == (
            0,
            1,
            [{"id": source, "reason": reason}],
        )
    assert len(await rows(engine, "SELECT id FROM contents")) == 2


async def test_the_catalog_shows_the_live_state_beside_our_viewer_count(api, admin, engine) -> None:
    """The `live` sort and the detail carry the provider's live state and our viewers."""
    await imported(api, admin, LIVE)
    await imported(api, admin, VIDEO)
    [(live_id,)] = await rows(engine, "SELECT id FROM contents WHERE external_id = :e", e=LIVE)
    r = await api.get(f"/api/contents/{live_id}")
    assert r.status_code == 200
    data = r.json()["data"]
    assert (data["live_state"], data["viewer_count"], data["duration_s"]) == ("live", 0, None)
    r = await api.get("/api/contents", params={"sort": "live"})
    items = r.json()["data"]["items"]
    assert {i["live_state"] for i in items} == {"live", "none"} and len(items) == 2


async def test_a_60_video_playlist_over_two_pages(api, admin, engine, youtube_api) -> None:
    """All 60 videos of a two-page playlist are imported: two playlistItems calls, two
    videos calls of 50 and 10."""
    job = await imported(api, admin, f"https://www.youtube.com/playlist?list={PLAYLIST}")
    assert (job["kind"], job["found"], job["created"], job["skipped"]) == ("playlist", 60, 60, 0)
    assert await youtube_api.calls() == {"playlistItems": 2, "videos": 2}
    [(count,)] = await rows(engine, "SELECT count(*) FROM contents WHERE provider = 'youtube'")
    assert count == 60


async def test_a_channel_by_handle_imports_its_uploads(api, admin, engine, youtube_api) -> None:
    """A channel handle is resolved to its uploads playlist (channels.list forHandle)."""
    job = await imported(api, admin, f"https://www.youtube.com/{HANDLE}")
    assert (job["kind"], job["found"], job["created"]) == ("handle", 60, 60)
    assert (await youtube_api.calls())["channels"] == 1
    job = await imported(api, admin, "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw")
    assert (job["kind"], job["created"], job["updated"]) == ("channel", 0, 60)
    listed = (await api.get(IMPORTS, headers=admin)).json()["data"]["items"]
    assert [j["kind"] for j in listed] == ["channel", "handle"]


async def test_concurrent_imports_of_one_playlist_never_duplicate(api, admin, engine) -> None:
    """Two admins importing the same playlist at once: 60 contents, each created once."""
    jobs = await asyncio.gather(*(imported(api, admin, PLAYLIST) for _ in range(2)))
    assert sum(j["created"] for j in jobs) == 60
    assert sum(j["created"] + j["updated"] for j in jobs) == 120
    [(count, distinct)] = await rows(
        engine, "SELECT count(*), count(DISTINCT external_id) FROM contents"
    )
    assert (count, distinct) == (60, 60)


async def test_5xx_answers_are_retried(api, admin, youtube_api) -> None:
    """Two 500 backendError answers in a row are retried and the import succeeds."""
    await youtube_api.mode(fail_next=2)
    job = await imported(api, admin, VIDEO)
    assert (job["status"], job["created"]) == ("done", 1)
    assert await youtube_api.calls() == {"videos": 3}


async def test_errors_are_envelopes_or_failed_jobs(make_api, youtube_api, admin, engine) -> None:
    """A source that is not YouTube is a 400; YouTube not configured is a 503; a key YouTube
    refuses makes a failed job that says why; a content that is not YouTube's has no refresh."""
    async with make_api(YOUTUBE_API_KEY="wrong", YOUTUBE_API_URL=youtube_api.base) as (api, _):
        r = await api.post(IMPORTS, json={"source": "https://vimeo.com/1"}, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_request")
        job = await imported(api, admin, VIDEO)
        assert job["status"] == "failed" and job["error"].startswith("keyInvalid")
        r = await api.get(f"{IMPORTS}/{job['id']}", headers=admin)
        assert r.json()["data"]["status"] == "failed"
        assert (await api.get(f"{IMPORTS}/999999", headers=admin)).status_code == 404
        r = await api.post(
            "/api/admin/contents",
            json={"title": "mine", "source_url": "https://example.test/v.mp4", "duration_s": 5},
            headers=admin,
        )
        own = r.json()["data"]["id"]
        r = await api.post(f"/api/admin/contents/{own}/youtube-refresh", headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    async with make_api(YOUTUBE_API_KEY="") as (api, _):
        r = await api.post(IMPORTS, json={"source": VIDEO}, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "unavailable")
    assert await youtube_api.calls() == {"videos": 1}
    assert len(await rows(engine, "SELECT id FROM youtube_imports")) == 1


async def test_refresh_one_content_now_turns_an_ended_live_into_a_video(
    api, admin, engine, youtube_api
) -> None:
    """The live has ended on YouTube: refreshing it now makes it a video of its length."""
    import json
    from pathlib import Path

    await imported(api, admin, LIVE)
    [(cid,)] = await rows(engine, "SELECT id FROM contents")
    data = Path(__file__).resolve().parents[2] / "devkit/servers/youtube_data/live_ended.json"
    await youtube_api.put_video(LIVE, json.loads(data.read_text()))
    r = await api.post(f"/api/admin/contents/{cid}/youtube-refresh", headers=admin)
    assert r.status_code == 200, r.text
    content = r.json()["data"]
    assert (content["live_state"], content["duration_s"], content["status"]) == (
        "ended",
        9015,
        "published",
    )
    r = await api.get(f"/api/contents/{cid}")
    assert (r.json()["data"]["live_state"], r.json()["data"]["duration_s"]) == ("ended", 9015)
