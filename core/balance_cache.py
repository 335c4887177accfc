"""The user's cached PostgreSQL balance in Redis, for writers outside the hub (the api pays
boxes through the ledger, then refreshes the cache here).

It runs the hub's own `setbal.lua` (read from its file, called by SHA, loaded again on
NOSCRIPT), so there is one rule for the cache: a copy is only ever replaced by one with a
newer `balance_version`. A failure is logged, never raised: PostgreSQL already holds the
truth, and the reconcile job repairs the cache.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

from core.keys import UserKeys

log = logging.getLogger(__name__)

SETBAL_PATH = Path(__file__).resolve().parent.parent / "realtime" / "live" / "lua" / "setbal.lua"
TIMEOUT_S = 1.0


@functools.cache
def _setbal() -> tuple[str, str]:
    """(source, sha) of setbal.lua, read once on first use."""
    source = SETBAL_PATH.read_text()
    return source, hashlib.sha1(source.encode()).hexdigest()


async def set_cached_balance(redis: Any, key: str, balance: int, version: int) -> tuple[int, int]:
    """Run setbal.lua on the balance hash `key`; returns (pg, pend) as cached afterwards,
    read in the same atomic step. Raises what Redis raises."""
    source, sha = _setbal()
    try:
        reply = await redis.evalsha(sha, 1, key, balance, version)
    except NoScriptError:  # a restarted or failed-over Redis forgot it: it did not run
        await redis.script_load(source)
        reply = await redis.evalsha(sha, 1, key, balance, version)
    return int(reply[0]), int(reply[1])


async def cache_balance(redis: Any, user_id: int, partitions: int, balance: int,
                        version: int) -> bool:
    """Set the cached PostgreSQL balance of `user_id` to `balance` at `version` (ignored
    when the cache holds a newer version). True when Redis answered."""
    key = UserKeys(user_id, partitions).balance
    try:
        await asyncio.wait_for(set_cached_balance(redis, key, balance, version), TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - PostgreSQL holds the truth; reconcile repairs
        log.warning("balance cache of user %d not refreshed: %s: %s", user_id,
                    type(exc).__name__, exc)
        return False
    return True
