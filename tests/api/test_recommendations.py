"""Recommendations: the worker's job over a generated watch history (workers/recommend.py),
then the api's answers from its tables (api/recommendations.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text

from workers import jobs, recommend


@pytest.fixture
async def worker_app(
    make_settings: Callable[..., Any], redis: Any, engine: Any
) -> AsyncIterator[Any]:
    """A WorkerApp in this process (no drain loops), to call the job as arq does."""
    from workers.config import load_config
    from workers.main import WorkerApp

    config = load_config({"WORKER_ID": "in-test", "WORKER_METRICS_PORT": "0"})
    app = await WorkerApp.open(make_settings(), config, drain=False, serve_metrics=False)
    try:
        yield app
    finally:
        await app.close()


async def history(engine: Any) -> dict[str, int]:
    """Contents A..G and 40 viewers: 1-20 watch A and B (strongly co-watched), 1-4 also C,
    15-40 watch D, 21-40 also E; F shares A's tags and has no viewers; G has neither.
    A zero-credit session (a page opened, never played) is not watching."""
    names = "ABCDEFG"
    tags = {"A": ["kpop", "dance"], "F": ["kpop", "dance"], "D": ["news"]}
    views = {"D": 900, "E": 800, "G": 700}  # the popular order: D, E, G, ...
    ids: dict[str, int] = {}
    async with engine.begin() as conn:
        for n in names:
            ids[n] = (
                await conn.execute(
                    text(
                        "INSERT INTO contents (title, source_url, duration_s, tags, view_count,"
                        " published_at) VALUES (:t, 'https://example.test/v.mp4', 60, :tags,"
                        " :v, now()) RETURNING id"
                    ),
                    {"t": n, "tags": tags.get(n, []), "v": views.get(n, 0)},
                )
            ).scalar_one()
        watched: list[tuple[int, str, int]] = []
        for u in range(1, 41):
            mine = []
            if u <= 20:
                mine += ["A", "B"]
            if u <= 4:
                mine.append("C")
            if u >= 15:
                mine.append("D")
            if u >= 21:
                mine.append("E")
            watched += [(u, n, 60_000) for n in mine]
        watched.append((30, "G", 0))
        await conn.execute(text("INSERT INTO users (id) SELECT generate_series(1, 41)"))
        for i, (u, n, ms) in enumerate(watched):
            await conn.execute(
                text(
                    "INSERT INTO watch_sessions (session_id, user_id, content_id, device_id,"
                    " tab_id, started_at, ended_at, credited_ms, end_reason) VALUES"
                    " (:s, :u, :c, 'd', 't', now(), now(), :ms, 'stop')"
                ),
                {"s": f"s{i}", "u": u, "c": ids[n], "ms": ms},
            )
    return ids


def test_scores_put_the_strongly_co_watched_first_and_find_kin_by_tag() -> None:
    """Pure: A's viewers all watched B, a few C; F only shares A's tags."""
    watched = {1: {1, 2, 3}, 2: {1, 2}, 3: {1, 2}, 4: {2, 4}}
    rel = [r for r in recommend.related(watched, {1: {"x"}, 5: {"x"}}) if r.content_id == 1]
    assert [r.related_id for r in rel] == [2, 3, 5]
    assert (rel[0].co_viewers, rel[-1].co_viewers, rel[-1].shared_tags) == (3, 0, 1)
    mine = [f.content_id for f in recommend.for_users(watched) if f.user_id == 4]
    assert mine == [1, 3]  # what the viewers who share content 2 watched, best first


async def test_related_and_recommendations_from_a_generated_history(
    client: Any, auth: Any, engine: Any, worker_app: Any
) -> None:
    """After the job: A's related list starts with B (co-watched by all of A's viewers);
    F (no viewers) is related to A by its tags; a user gets what similar viewers watched and
    never what they watched; a new user and a content without data get the popular list."""
    ids = await history(engine)
    name = {v: k for k, v in ids.items()}
    ctx = {"app": worker_app}
    first = await jobs.compute_recommendations(ctx)
    assert first == await jobs.compute_recommendations(ctx)  # a re-run writes the same

    async def related(n: str) -> list[tuple[str, str]]:
        r = await client.get(f"/api/contents/{ids[n]}/related")
        assert r.status_code == 200, r.text
        return [(name[i["content"]["id"]], i["reason"]) for i in r.json()["data"]]

    a = await related("A")
    assert a[0] == ("B", "co_watched")
    assert {"C", "D"} <= {n for n, why in a if why == "co_watched"}
    assert ("F", "tags") in a
    assert (await related("F"))[0] == ("A", "tags")
    g = await related("G")  # no viewer credited, no tags: the popular list, without G
    assert [n for n, _ in g][:2] == ["D", "E"] and {why for _, why in g} == {"popular"}

    async def mine(uid: int) -> list[tuple[str, str]]:
        r = await client.get("/api/me/recommendations", headers=auth(uid))
        assert r.status_code == 200, r.text
        return [(name[i["content"]["id"]], i["reason"]) for i in r.json()["data"]]

    assert {n for n, _ in await mine(21)} == {"A", "B"}  # via viewers 15-20, who share D
    assert next(n for n, _ in await mine(1)) == "D"  # not A, B or C: watched
    new = await mine(41)
    assert [n for n, _ in new][:2] == ["D", "E"] and {why for _, why in new} == {"popular"}


async def test_related_of_an_unknown_content_is_404(client: Any) -> None:
    r = await client.get("/api/contents/999999/related")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


async def test_recommendations_need_a_token(client: Any) -> None:
    r = await client.get("/api/me/recommendations")
    assert r.status_code == 401
