"""Process settings, built once from the environment by `load_settings` and passed in.

Nothing here runs at import time. A missing or malformed required variable raises
`ConfigError` naming it; `load_or_exit` turns that into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from core import keyring
from core.knobs import KNOBS, RuntimeSettings
from core.providers import Provider, ProviderConfigError, load_providers


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    redis_url: str
    redis_cluster: bool
    arq_redis_url: str
    jwt_secret: str
    jwt_issuer: str = "watch-hub"
    jwt_audience: str = "watch-clients"
    # Token keys with kids (core/keyring.py): our own key file and its signing key, another
    # issuer's JWKS, and `{service}:{role}` -> our role.
    jwt_keys_file: str = ""
    jwt_signing_kid: str = ""
    jwt_jwks_url: str = ""
    jwt_jwks_refresh_ms: int = 30_000
    jwt_role_map: tuple[tuple[str, str], ...] = ()
    app_timezone: str = "Asia/Seoul"
    # Defaults of the runtime settings (core/knobs.py; admins override them through the api).
    runtime: RuntimeSettings = msgspec.field(default_factory=RuntimeSettings)
    # Connection bounds.
    ws_max_frame_bytes: int = 4096
    ws_max_messages_per_second: int = 20
    ws_send_queue: int = 32
    ws_max_connections_per_ip: int = 500  # per hub process; NATs put many players behind one
    ws_connects_per_ip_per_minute: int = 600  # per hub process
    # Server-Sent Events streams (realtime/sse.py): open ones per source address and in all,
    # per hub process, and the keep-alive comment's period.
    sse_max_connections_per_ip: int = 20
    sse_max_connections: int = 10_000
    sse_keepalive_ms: int = 15_000
    cors_origins: tuple[str, ...] = ()
    max_concurrent_requests: int = 256  # per api process; more at once are answered 503
    http_body_timeout_ms: int = 10_000  # a request body must arrive whole within this (408)
    auth_rate_limit_per_minute: int = 20  # per IP on /api/auth/* (password guessing)
    # New accounts per IP per hour (account farms; docs/security.md "Multi-account farmer").
    register_limit_per_hour: int = 10
    # Login hardening (api/login_guard.py): failures before an email or an address is
    # locked out, with a delay doubling per further failure up to the maximum.
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    login_lockout_max_s: int = 900
    # Keyspace: number of partitions (hash tags); fixed for the life of a deployment.
    redis_partitions: int = 64
    redis_pool_size: int = 64
    node_id: str = ""
    # How often each process re-reads settings, blocks and catalog changes from PostgreSQL.
    control_poll_ms: int = 2000
    drain_seconds: float = 10.0
    # Multi-account review (docs/money.md): most distinct accounts one device id / one IP
    # address may start sessions for within the window before all of them are put on hold;
    # 0 turns a check off. An address is shared by households, campus and office Wi-Fi and
    # carrier NATs (thousands of honest viewers): its check is off unless a deployment sets it.
    review_accounts_per_device: int = 3
    review_accounts_per_ip: int = 0
    review_window_hours: int = 24
    # The user event log keeps this many days (the worker's hourly retention job).
    user_events_retention_days: int = 90
    # Ads (docs/api.md "Ads"): how long an impression token from GET /api/ads may be
    # reported, and how long after its impression counted a click may count.
    ad_impression_ttl_s: int = 1800
    ad_click_window_s: int = 1800
    # Payment gateway (Toss Payments' protocol, api/gateway.py); no PG_API_URL: charges 503.
    pg_api_url: str = ""
    pg_client_key: str = ""
    pg_secret_key: str = ""
    pg_webhook_secret: str = ""
    payment_return_url: str = ""  # where the hosted checkout sends the browser back
    payment_ttl_s: int = 1800  # a payment not confirmed by then expires, never credited
    # A withdrawal up to this many micros is approved at once; above it an admin decides.
    withdrawal_approval_micros: int = 100_000 * 1_000_000
    # CPython's collector thresholds for the hub (gen0, gen1, gen2): with 10k+ long-lived
    # connection objects the defaults make frequent, long pauses (docs/performance.md).
    gc_threshold: tuple[int, int, int] = (50_000, 20, 1000)
    # Social login (core/providers.py, docs/security.md): the configured providers, the page
    # the callback hands the tokens to (empty: the callback answers the JSON envelope), and
    # how long one call to a provider may take.
    oauth_providers: tuple[Provider, ...] = ()
    oauth_result_url: str = ""
    oauth_timeout_ms: int = 5000
    # Also hand the refresh token as an httpOnly cookie scoped to /api/auth/refresh.
    refresh_cookie: bool = False
    # YouTube Data API v3 (docs/youtube.md): the key (empty: the import routes answer 503
    # and the refresh job does nothing), the base URL (tests point it at a stand-in), the
    # units per Pacific quota day this deployment may spend, a request's timeout, the region
    # whose blocks unpublish a video, how often live/upcoming contents are refreshed (others
    # daily), and the most videos one import takes.
    youtube_api_key: str = ""
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"
    youtube_daily_quota: int = 10_000
    youtube_timeout_ms: int = 10_000
    youtube_region: str = "KR"
    youtube_live_refresh_s: int = 300
    youtube_import_max_items: int = 500

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.app_timezone)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def _runtime_defaults(env: Mapping[str, str]) -> RuntimeSettings:
    """The runtime settings' defaults: each knob's environment variable, within its bounds."""
    values: dict[str, Any] = {
        k.name: _int(env, k.env, int(k.default), low=k.low, high=k.high)
        for k in KNOBS
        if k.env is not None and k.low is not None and k.high is not None
    }
    return RuntimeSettings(**values)


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1/0 or true/false, got {raw!r}")


def _redis_url(env: Mapping[str, str], name: str, value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must start with redis:// or rediss://, got {value!r}")
    return value


def _gc_threshold(env: Mapping[str, str]) -> tuple[int, int, int]:
    raw = env.get("GC_THRESHOLD", "").strip()
    if not raw:
        return (50_000, 20, 1000)
    try:
        a, b, c = (int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(
            f"GC_THRESHOLD must be three integers like 50000,20,1000, got {raw!r}"
        ) from None
    if min(a, b, c) < 0:
        raise ConfigError(f"GC_THRESHOLD must not be negative, got {raw!r}")
    return (a, b, c)


def _role_map(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    raw = env.get("JWT_ROLE_MAP", "").strip()
    out: list[tuple[str, str]] = []
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, ours = (part.strip() for part in pair.partition("="))
        if not sep or ":" not in name or ours not in ("viewer", "advertiser", "admin"):
            raise ConfigError(
                "JWT_ROLE_MAP must be like watch-hub:admin=admin,ads:manager=advertiser"
                f" (our roles: viewer, advertiser, admin), got {pair!r}"
            )
        out.append((name, ours))
    return tuple(out)


def _keys(env: Mapping[str, str]) -> tuple[str, str, str]:
    keys_file = env.get("JWT_KEYS_FILE", "").strip()
    signing_kid = env.get("JWT_SIGNING_KID", "").strip()
    jwks_url = env.get("JWT_JWKS_URL", "").strip()
    if signing_kid and not keys_file:
        raise ConfigError("JWT_SIGNING_KID needs JWT_KEYS_FILE")
    if keys_file:
        try:
            keyring.check_file(keys_file, signing_kid)
        except keyring.KeyringError as exc:
            raise ConfigError(f"JWT_KEYS_FILE: {exc}") from None
    if jwks_url and not jwks_url.startswith(("https://", "http://")):
        raise ConfigError(f"JWT_JWKS_URL must be an http(s) URL, got {jwks_url!r}")
    return keys_file, signing_kid, jwks_url


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


def _region(env: Mapping[str, str]) -> str:
    value = env.get("YOUTUBE_REGION", "").strip().upper() or "KR"
    if len(value) != 2 or not value.isalpha():
        raise ConfigError(f"YOUTUBE_REGION must be a two-letter country code, got {value!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    database_url = _required(env, "DATABASE_URL")
    if not database_url.startswith("postgresql+asyncpg://"):
        raise ConfigError(
            f"DATABASE_URL must start with postgresql+asyncpg://, got {database_url!r}"
        )
    redis_url = _redis_url(env, "REDIS_URL", _required(env, "REDIS_URL"))
    arq_url = env.get("ARQ_REDIS_URL", "").strip()
    arq_url = _redis_url(env, "ARQ_REDIS_URL", arq_url) if arq_url else redis_url
    secret = _required(env, "JWT_SECRET")
    if len(secret.encode()) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 bytes")
    tz_name = env.get("APP_TIMEZONE", "").strip() or "Asia/Seoul"
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"APP_TIMEZONE is not a known time zone: {tz_name!r}") from None
    origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
    keys_file, signing_kid, jwks_url = _keys(env)
    try:
        providers = load_providers(env)
    except ProviderConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_cluster=_bool(env, "REDIS_CLUSTER"),
        arq_redis_url=arq_url,
        jwt_secret=secret,
        jwt_issuer=env.get("JWT_ISSUER", "").strip() or "watch-hub",
        jwt_audience=env.get("JWT_AUDIENCE", "").strip() or "watch-clients",
        jwt_keys_file=keys_file,
        jwt_signing_kid=signing_kid,
        jwt_jwks_url=jwks_url,
        jwt_jwks_refresh_ms=_int(env, "JWT_JWKS_REFRESH_MS", 30_000, low=0, high=86_400_000),
        jwt_role_map=_role_map(env),
        app_timezone=tz_name,
        runtime=_runtime_defaults(env),
        ws_max_frame_bytes=_int(env, "WS_MAX_FRAME_BYTES", 4096, low=128, high=1 << 20),
        ws_max_messages_per_second=_int(env, "WS_MAX_MESSAGES_PER_SECOND", 20, low=1, high=10_000),
        ws_send_queue=_int(env, "WS_SEND_QUEUE", 32, low=1, high=10_000),
        ws_max_connections_per_ip=_int(
            env, "WS_MAX_CONNECTIONS_PER_IP", 500, low=1, high=1_000_000
        ),
        ws_connects_per_ip_per_minute=_int(
            env, "WS_CONNECTS_PER_IP_PER_MINUTE", 600, low=1, high=1_000_000
        ),
        sse_max_connections_per_ip=_int(
            env, "SSE_MAX_CONNECTIONS_PER_IP", 20, low=1, high=1_000_000
        ),
        sse_max_connections=_int(env, "SSE_MAX_CONNECTIONS", 10_000, low=1, high=1_000_000),
        sse_keepalive_ms=_int(env, "SSE_KEEPALIVE_MS", 15_000, low=100, high=600_000),
        cors_origins=origins,
        max_concurrent_requests=_int(env, "MAX_CONCURRENT_REQUESTS", 256, low=1, high=100_000),
        http_body_timeout_ms=_int(env, "HTTP_BODY_TIMEOUT_MS", 10_000, low=100, high=600_000),
        auth_rate_limit_per_minute=_int(
            env, "AUTH_RATE_LIMIT_PER_MINUTE", 20, low=1, high=1_000_000
        ),
        register_limit_per_hour=_int(env, "REGISTER_LIMIT_PER_HOUR", 10, low=1, high=1_000_000),
        login_failures_per_account=_int(
            env, "LOGIN_FAILURES_PER_ACCOUNT", 5, low=1, high=1_000_000
        ),
        login_failures_per_ip=_int(env, "LOGIN_FAILURES_PER_IP", 20, low=1, high=1_000_000),
        login_lockout_max_s=_int(env, "LOGIN_LOCKOUT_MAX_S", 900, low=1, high=86_400),
        redis_partitions=_int(env, "REDIS_PARTITIONS", 64, low=1, high=16384),
        redis_pool_size=_int(env, "REDIS_POOL_SIZE", 64, low=1, high=10_000),
        node_id=env.get("NODE_ID", "").strip() or uuid.uuid4().hex[:12],
        control_poll_ms=_int(env, "CONTROL_POLL_MS", 2000, low=100, high=5000),
        drain_seconds=float(_int(env, "DRAIN_SECONDS", 10, low=0, high=600)),
        gc_threshold=_gc_threshold(env),
        review_accounts_per_device=_int(
            env, "REVIEW_ACCOUNTS_PER_DEVICE", 3, low=0, high=1_000_000
        ),
        review_accounts_per_ip=_int(env, "REVIEW_ACCOUNTS_PER_IP", 0, low=0, high=1_000_000),
        review_window_hours=_int(env, "REVIEW_WINDOW_HOURS", 24, low=1, high=24 * 90),
        oauth_providers=providers,
        oauth_result_url=env.get("OAUTH_RESULT_URL", "").strip(),
        oauth_timeout_ms=_int(env, "OAUTH_TIMEOUT_MS", 5000, low=100, high=60_000),
        refresh_cookie=_bool(env, "REFRESH_COOKIE"),
        user_events_retention_days=_int(env, "USER_EVENTS_RETENTION_DAYS", 90, low=1, high=36_500),
        ad_impression_ttl_s=_int(env, "AD_IMPRESSION_TTL_S", 1800, low=10, high=86_400),
        ad_click_window_s=_int(env, "AD_CLICK_WINDOW_S", 1800, low=1, high=86_400),
        pg_api_url=env.get("PG_API_URL", "").strip().rstrip("/"),
        pg_client_key=env.get("PG_CLIENT_KEY", "").strip(),
        pg_secret_key=env.get("PG_SECRET_KEY", "").strip(),
        pg_webhook_secret=env.get("PG_WEBHOOK_SECRET", "").strip(),
        payment_return_url=env.get("PAYMENT_RETURN_URL", "").strip()
        or "http://127.0.0.1:8000/static/payment.html",
        payment_ttl_s=_int(env, "PAYMENT_TTL_S", 1800, low=10, high=7 * 86_400),
        withdrawal_approval_micros=_int(
            env, "WITHDRAWAL_APPROVAL_MICROS", 100_000 * 1_000_000, low=0, high=10**15
        ),
        youtube_api_key=env.get("YOUTUBE_API_KEY", "").strip(),
        youtube_api_url=_http_url(env, "YOUTUBE_API_URL", "https://www.googleapis.com/youtube/v3"),
        youtube_daily_quota=_int(env, "YOUTUBE_DAILY_QUOTA", 10_000, low=1, high=100_000_000),
        youtube_timeout_ms=_int(env, "YOUTUBE_TIMEOUT_MS", 10_000, low=100, high=120_000),
        youtube_region=_region(env),
        youtube_live_refresh_s=_int(env, "YOUTUBE_LIVE_REFRESH_S", 300, low=60, high=86_400),
        youtube_import_max_items=_int(env, "YOUTUBE_IMPORT_MAX_ITEMS", 500, low=1, high=20_000),
    )


def load_or_exit(env: Mapping[str, str] | None = None) -> Settings:
    """`load_settings`, or one clear line on stderr and exit status 2."""
    try:
        return load_settings(env)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.stderr.flush()
        os._exit(2)  # uvicorn would otherwise print a traceback around the line
