"""The user's cached PostgreSQL balance in Redis, for writers outside the hub (the api pays
boxes through the ledger, then refreshes the cache here).

It runs `setbal.lua` (the hub's own rule) through `live.scripts.run`, so there is one rule
for the cache: a copy is only ever replaced by one with a newer `balance_version`. A failure is logged, never raised: PostgreSQL already holds the
truth, and the reconcile job repairs the cache.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from live import scripts
from live.keys import UserKeys

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0


async def set_cached_balance(redis: Any, key: str, balance: int, version: int) -> tuple[int, int]:
    """Run setbal.lua on the balance hash `key`; returns (pg, pend) as cached afterwards,
    read in the same atomic step. Raises what Redis raises."""
    reply = await scripts.run(redis, scripts.SETBAL, (key,), (balance, version))
    return int(reply[0]), int(reply[1])


async def cache_balance(
    redis: Any, user_id: int, partitions: int, balance: int, version: int
) -> bool:
    """Set the cached PostgreSQL balance of `user_id` to `balance` at `version` (ignored
    when the cache holds a newer version). True when Redis answered."""
    key = UserKeys(user_id, partitions).balance
    try:
        await asyncio.wait_for(set_cached_balance(redis, key, balance, version), TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - PostgreSQL holds the truth; reconcile repairs
        log.warning(
            "balance cache of user %d not refreshed: %s: %s", user_id, type(exc).__name__, exc
        )
        return False
    return True
