"""Password guessing: per-account and per-address lockouts that grow with each failure
(docs/security.md, "Login hardening").

After `LOGIN_FAILURES_PER_ACCOUNT` failed logins for one email (existing or not, so the
answer says nothing about which accounts exist), or `LOGIN_FAILURES_PER_IP` from one
address, each further failure locks that email (or address) for BASE_DELAY_S, doubling,
up to `LOGIN_LOCKOUT_MAX_S`; an attempt while locked is answered 429 with `Retry-After`,
without looking at the password. A success clears the account's count (not the
address's: one good password must not reset a guesser's address). The counts fade after
WINDOW_S without failures. Redis failing lets logins through, like every limit here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from core.errors import RateLimited
from live import keys

log = logging.getLogger(__name__)

BASE_DELAY_S = 1.0
WINDOW_S = 3600
REDIS_TIMEOUT_S = 1.0


def lockout_s(failures: int, threshold: int, max_s: int) -> float:
    """Seconds locked after the `failures`-th failure: none below the threshold, then
    BASE_DELAY_S doubling per failure, at most `max_s` (pure, for the tests)."""
    if failures < threshold:
        return 0.0
    return float(min(max_s, BASE_DELAY_S * 2 ** min(failures - threshold, 30)))


def _subjects(email: str, ip: str) -> list[tuple[str, str]]:
    digest = hashlib.sha256(email.encode()).hexdigest()
    return [(keys.login_failures("a", digest), "account"), (keys.login_failures("ip", ip), "ip")]


async def check(redis: Any, email: str, ip: str, *, now: float | None = None) -> None:
    """Raise RateLimited while the email or the address is locked."""
    now = time.time() if now is None else now
    try:
        pipe = redis.pipeline(transaction=False)
        for key, _ in _subjects(email, ip):
            pipe.hget(key, "until")
        found = await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a Redis failure must not fail the login
        log.warning("login lockout not checked (%s: %s)", type(exc).__name__, exc)
        return
    until = max((float(v) for v in found if v is not None), default=0.0)
    if until > now:
        raise RateLimited(
            "too many failed sign-ins; try again later",
            retry_after=max(1, int(until - now + 0.999)),
            details={"reason": "login_failures"},
        )


async def failed(
    redis: Any,
    email: str,
    ip: str,
    *,
    per_account: int,
    per_ip: int,
    max_s: int,
    now: float | None = None,
) -> None:
    """Count one failed login of `email` from `ip` and lock what passed its threshold."""
    now = time.time() if now is None else now
    try:
        subjects = _subjects(email, ip)
        pipe = redis.pipeline(transaction=False)
        for key, _ in subjects:
            pipe.hincrby(key, "n", 1)
            pipe.expire(key, WINDOW_S)
        counts = (await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S))[::2]
        pipe = redis.pipeline(transaction=False)
        for (key, kind), n in zip(subjects, counts, strict=True):
            delay = lockout_s(int(n), per_account if kind == "account" else per_ip, max_s)
            if delay:
                pipe.hset(key, "until", now + delay)
                pipe.expire(key, int(max(WINDOW_S, delay)) + 1)
        await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        log.warning("login failure not counted (%s: %s)", type(exc).__name__, exc)


async def succeeded(redis: Any, email: str) -> None:
    try:
        await asyncio.wait_for(redis.delete(_subjects(email, "")[0][0]), REDIS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        log.warning("login failures not cleared (%s: %s)", type(exc).__name__, exc)
