"""Admin runtime settings routes and core.runtime against real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.runtime import load_runtime

DEFAULTS = {
    "reward_interval_ms": 60_000,
    "reward_amount": 10,
    "daily_reward_cap": 120,
    "heartbeat_interval_ms": 10_000,
    "session_ttl_ms": 30_000,
    "rewards_paused": False,
    "push_replay_count": 50,
    "push_replay_ms": 300_000,
    "rate_limit_per_minute": 100,
    "admin_rate_limit_per_minute": 300,
}


async def test_get_defaults_from_environment(client, admin):
    """With no stored row, GET answers the environment defaults, all ten keys."""
    r = await client.get("/api/admin/settings", headers=admin)
    assert r.status_code == 200
    assert r.json()["data"] == DEFAULTS


async def test_put_round_trip_and_audit(client, admin, engine, settings):
    """A partial PUT answers the whole new set, GET and load_runtime see it, and the audit
    entry holds the changed keys before and after."""
    r = await client.put(
        "/api/admin/settings", headers=admin, json={"reward_amount": 25, "rewards_paused": True}
    )
    assert r.status_code == 200
    assert r.json()["data"] == {**DEFAULTS, "reward_amount": 25, "rewards_paused": True}
    r = await client.get("/api/admin/settings", headers=admin)
    assert r.json()["data"]["reward_amount"] == 25
    async with engine.connect() as conn:
        rt = await load_runtime(conn, settings)
        [(actor, before, after)] = (
            await conn.execute(
                text(
                    "SELECT actor_id, before, after FROM audit_log WHERE action = 'settings.update'"
                )
            )
        ).all()
    assert (rt.reward_amount, rt.rewards_paused) == (25, True)
    assert actor == 1
    assert before == {"reward_amount": 10, "rewards_paused": False}
    assert after == {"reward_amount": 25, "rewards_paused": True}


async def test_null_restores_environment_default(client, admin):
    """A null value removes the override: the key is back at its environment default."""
    await client.put("/api/admin/settings", headers=admin, json={"reward_amount": 3})
    r = await client.put("/api/admin/settings", headers=admin, json={"reward_amount": None})
    assert r.json()["data"]["reward_amount"] == 10


@pytest.mark.parametrize(
    "changes,key",
    [
        ({"bogus": 1}, "bogus"),
        ({"reward_amount": 5, "bogus": 1}, "bogus"),
        ({"reward_interval_ms": 999}, "reward_interval_ms"),
        ({"heartbeat_interval_ms": 50}, "heartbeat_interval_ms"),
        ({"reward_amount": -1}, "reward_amount"),
        ({"rewards_paused": "yes"}, "rewards_paused"),
        ({"session_ttl_ms": 5000}, "session_ttl_ms"),
    ],
)
async def test_put_refuses_bad_key_or_value(client, admin, changes, key):
    """An unknown key or bad value is a 400 naming the key, and nothing changes."""
    r = await client.put("/api/admin/settings", headers=admin, json=changes)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "bad_request" and err["details"]["key"] == key
    r = await client.get("/api/admin/settings", headers=admin)
    assert r.json()["data"] == DEFAULTS


async def test_put_body_must_be_object(client, admin):
    """A body that is not a JSON object is a 400."""
    r = await client.put("/api/admin/settings", headers=admin, json=[1, 2])
    assert r.status_code == 400


async def test_settings_require_admin(client, auth):
    """A viewer gets 403 forbidden on both settings routes."""
    viewer = auth(5)
    assert (await client.get("/api/admin/settings", headers=viewer)).status_code == 403
    r = await client.put("/api/admin/settings", headers=viewer, json={"reward_amount": 1})
    assert r.status_code == 403


async def test_process_applies_change_to_its_snapshot(client, admin, api_app):
    """After a PUT the answering process's control snapshot holds the new values."""
    await client.put("/api/admin/settings", headers=admin, json={"daily_reward_cap": 0})
    assert api_app.state.control.runtime.daily_reward_cap == 0
