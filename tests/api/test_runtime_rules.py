"""core.runtime validation rules (pure: no database)."""

from __future__ import annotations

import pytest

from core import runtime
from core.errors import BadRequest
from core.settings import load_settings

ENV = {
    "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "JWT_SECRET": "s" * 32,
}


def base(**env: str) -> runtime.RuntimeSettings:
    return runtime.defaults(load_settings({**ENV, **env}))


def test_defaults_come_from_environment():
    """Environment values are the defaults of the runtime settings."""
    rt = base(REWARD_INTERVAL_MS="5000", DAILY_REWARD_CAP="0", SESSION_TTL_MS="40000")
    assert (rt.reward_interval_ms, rt.daily_reward_cap, rt.session_ttl_ms) == (5000, 0, 40000)
    assert rt.rewards_paused is False
    assert rt.reward_amount == 10


def test_valid_change_applies():
    """A valid partial change keeps the other keys."""
    rt = runtime.validate(base(), {"reward_amount": 0, "rewards_paused": True})
    assert rt.reward_amount == 0 and rt.rewards_paused is True
    assert rt.reward_interval_ms == 60_000


@pytest.mark.parametrize(
    "key,value",
    [
        ("reward_interval_ms", 999),
        ("reward_interval_ms", 86_400_001),
        ("reward_amount", -1),
        ("daily_reward_cap", -5),
        ("heartbeat_interval_ms", 99),
        ("heartbeat_interval_ms", 600_001),
        ("rate_limit_per_minute", 0),
        ("admin_rate_limit_per_minute", 0),
        ("reward_amount", True),
        ("reward_amount", 1.5),
        ("reward_amount", "10"),
        ("rewards_paused", 1),
        ("no_such_key", 1),
    ],
)
def test_bad_value_names_key(key, value):
    """An out-of-range, wrongly typed or unknown value is refused naming the key."""
    with pytest.raises(BadRequest) as info:
        runtime.validate(base(), {key: value})
    assert info.value.details["key"] == key


def test_ttl_must_exceed_heartbeat():
    """session_ttl_ms must stay greater than heartbeat_interval_ms, whichever one changes."""
    with pytest.raises(BadRequest) as info:
        runtime.validate(base(), {"session_ttl_ms": 10_000})
    assert info.value.details["key"] == "session_ttl_ms"
    with pytest.raises(BadRequest) as info:
        runtime.validate(base(), {"heartbeat_interval_ms": 30_000})
    assert info.value.details["key"] == "heartbeat_interval_ms"
    rt = runtime.validate(base(), {"heartbeat_interval_ms": 30_000, "session_ttl_ms": 90_000})
    assert (rt.heartbeat_interval_ms, rt.session_ttl_ms) == (30_000, 90_000)


def test_bad_stored_rows_are_skipped():
    """Stored rows that are unknown or invalid are ignored; the valid ones still apply."""
    rt = runtime.merge_stored(
        base(),
        {"reward_amount": 7, "reward_interval_ms": 5, "junk": 1, "session_ttl_ms": 1000},
    )
    assert rt.reward_amount == 7
    assert rt.reward_interval_ms == 60_000
    assert rt.session_ttl_ms == 30_000  # 1000 <= heartbeat 10000: skipped
