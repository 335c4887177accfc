"""GET /api/admin/stats/series: the recorded samples as chart points, admins only."""

from __future__ import annotations

import time
from typing import Any

from live import keys, stats


def _sample(t_ms: int, heartbeats: int, sessions: int = 0) -> bytes:
    return stats.encode(
        stats.Sample(
            t_ms=t_ms, sessions=sessions, heartbeats=heartbeats, rewards_1m=4, coins_1m=40,
            outbox_entries=2, outbox_lag_ms=150, spend_1m_micros=700, nodes=2,
        )
    )  # fmt: skip


async def test_series_gives_the_last_hours_points_oldest_first(
    client: Any, admin: Any, redis: Any
) -> None:
    """Points come oldest first with heartbeats/s between samples; a sample older than the
    window is left out; `since_ms` gives only what the page has not drawn; the page learns
    the time zone to show times in."""
    now = int(time.time() * 1000)
    for t, hb, viewers in ((now - 7_200_000, 0, 9), (now - 20_000, 100, 1), (now - 10_000, 300, 2)):
        await redis.lpush(keys.STATS_SERIES, _sample(t, hb, viewers))
    await redis.lpush(keys.STATS_SERIES, b"{garbage")
    r = await client.get("/api/admin/stats/series", headers=admin)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["interval_s"] == 10 and data["timezone"] == "Asia/Seoul"
    points = data["points"]
    assert [p["viewers"] for p in points] == [1, 2]
    assert [p["heartbeats_per_s"] for p in points] == [None, 20.0]  # the 2 h old one: no rate
    assert points[1]["ad_spend_micros_per_min"] == 700 and points[1]["outbox_lag_ms"] == 150
    r = await client.get(f"/api/admin/stats/series?since_ms={now - 15_000}", headers=admin)
    assert [p["viewers"] for p in r.json()["data"]["points"]] == [2]


async def test_series_and_nodes_are_for_admins_only(client: Any, auth: Any) -> None:
    """A viewer gets the forbidden envelope from the chart, node and disconnect routes."""
    viewer = auth(5)
    for method, path in (
        ("GET", "/api/admin/stats/series"),
        ("GET", "/api/admin/nodes"),
        ("POST", "/api/admin/users/6/disconnect"),
    ):
        r = await client.request(method, path, headers=viewer)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), path


async def test_series_refuses_a_window_out_of_bounds(client: Any, admin: Any) -> None:
    """minutes above 60 is a 400 envelope naming the field, not a 500."""
    r = await client.get("/api/admin/stats/series?minutes=61", headers=admin)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


async def test_config_tells_any_page_the_time_zone(client: Any) -> None:
    """GET /api/config needs no token and names APP_TIMEZONE, so pages show its times."""
    r = await client.get("/api/config")
    assert r.status_code == 200
    assert r.json()["data"]["timezone"] == "Asia/Seoul"
