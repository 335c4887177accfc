"""Pub/sub nudges: tell every process to re-read a control snapshot now.

A writer publishes one after its PostgreSQL transaction committed. Pub/sub is at-most-once,
so each snapshot is also polled every CONTROL_POLL_MS: a lost nudge only delays the change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from live import keys

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0


async def publish(redis: Any, channel: str) -> None:
    """Publish a nudge on `channel` (best effort: a failure is logged, never raised)."""
    try:
        await asyncio.wait_for(redis.publish(channel, b"1"), TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the poll picks the change up anyway
        log.warning("nudge on %s not published: %s: %s", channel, type(exc).__name__, exc)


async def blocks_changed(redis: Any) -> None:
    """Blocked users or IP networks changed: every process reloads its blocks."""
    await publish(redis, keys.BLOCKS_CHANNEL)
