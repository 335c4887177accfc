"""Settings from the environment: required values, validation, one clear message."""

import pytest

from core.settings import ConfigError, load_settings

BASE = {
    "DATABASE_URL": "postgresql+asyncpg://u@h:5432/d",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "JWT_SECRET": "s" * 32,
}


def test_defaults_follow_the_protocol() -> None:
    s = load_settings(BASE)
    assert (
        s.runtime.reward_interval_ms,
        s.runtime.reward_amount,
        s.runtime.heartbeat_interval_ms,
        s.runtime.session_ttl_ms,
        s.runtime.daily_reward_cap,
        s.ws_max_frame_bytes,
        s.ws_max_messages_per_second,
    ) == (60_000, 10, 10_000, 30_000, 120, 4096, 20)
    assert (s.jwt_issuer, s.jwt_audience, s.app_timezone) == (
        "watch-hub",
        "watch-clients",
        "Asia/Seoul",
    )
    assert s.arq_redis_url == s.redis_url and s.gc_threshold == (50_000, 20, 1000)
    assert (s.review_accounts_per_device, s.review_accounts_per_ip, s.review_window_hours) == (
        3,
        0,  # the address rule is off by default (issue 17: NATs, campus Wi-Fi)
        24,
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with postgresql+asyncpg://"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis://"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 bytes"),
        ({"APP_TIMEZONE": "Mars/Base"}, "APP_TIMEZONE"),
        ({"REWARD_INTERVAL_MS": "fast"}, "REWARD_INTERVAL_MS must be an integer"),
        ({"SESSION_TTL_MS": "1"}, "SESSION_TTL_MS must be between"),
        ({"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER"),
        ({"GC_THRESHOLD": "1,2"}, "GC_THRESHOLD"),
        ({"REVIEW_ACCOUNTS_PER_IP": "-1"}, "REVIEW_ACCOUNTS_PER_IP must be between"),
        ({"REVIEW_WINDOW_HOURS": "0"}, "REVIEW_WINDOW_HOURS must be between"),
    ],
)
def test_bad_values_name_the_variable(change: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({**BASE, **change})
    assert needle in str(err.value)


def test_overrides_are_read() -> None:
    s = load_settings(
        {
            **BASE,
            "REWARD_INTERVAL_MS": "5000",
            "DAILY_REWARD_CAP": "0",
            "CORS_ORIGINS": "https://a.test, https://b.test",
            "GC_THRESHOLD": "700,10,10",
            "REVIEW_ACCOUNTS_PER_DEVICE": "0",
            "REVIEW_WINDOW_HOURS": "6",
        }
    )
    assert s.runtime.reward_interval_ms == 5000 and s.runtime.daily_reward_cap == 0
    assert (s.review_accounts_per_device, s.review_window_hours) == (0, 6)
    assert s.cors_origins == ("https://a.test", "https://b.test") and s.gc_threshold == (
        700,
        10,
        10,
    )
