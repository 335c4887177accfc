"""The retention job of the user event log (workers.jobs.prune_user_events)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.workers.conftest import scalar
from workers import jobs


async def test_retention_deletes_only_events_past_the_retention(app: Any, engine: Any) -> None:
    """Events older than USER_EVENTS_RETENTION_DAYS (90) go, younger ones stay; a second run
    deletes nothing."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO user_events (user_id, type, data, at) VALUES"
                " (1, 'login', '{}', now() - interval '91 days'),"
                " (1, 'login', '{}', now() - interval '89 days')"
            )
        )
    assert app.settings.user_events_retention_days == 90
    assert await jobs.prune_user_events({"app": app}) == 1
    assert await jobs.prune_user_events({"app": app}) == 0
    assert await scalar(engine, "SELECT count(*) FROM user_events") == 1
