"""Pub/sub nudges: tell every process to re-read its control snapshot (runtime settings,
blocks, catalog) now, instead of at its next poll.

A writer publishes one after its PostgreSQL transaction committed (`control_changed`); every
hub and every api process listens (`listen`) and re-reads in `refresh_loop`. Pub/sub is
at-most-once and a subscription can die silently, so every process also polls every
CONTROL_POLL_MS: a lost nudge only delays a change to that poll. Nothing that moves money
depends on a nudge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from live import keys

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0
RESUBSCRIBE_S = 1.0


async def publish(redis: Any, channel: str, message: bytes = b"1") -> None:
    """Publish on `channel` (best effort: a failure is logged, never raised)."""
    try:
        await asyncio.wait_for(redis.publish(channel, message), TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the poll picks the change up anyway
        log.warning("nudge on %s not published: %s: %s", channel, type(exc).__name__, exc)


async def control_changed(redis: Any) -> None:
    """Runtime settings, blocks or the catalog changed: every process re-reads them now."""
    await publish(redis, keys.CONTROL_CHANNEL)


def is_control(message: dict[str, Any]) -> bool:
    channel = message.get("channel")
    return channel in (keys.CONTROL_CHANNEL, keys.CONTROL_CHANNEL.encode())


async def listen(
    redis: Any, channels: Sequence[str], handle: Callable[[dict[str, Any]], None]
) -> None:
    """Subscribe to `channels` and hand every message to `handle`, until cancelled. A lost
    subscription (Redis restarted, the connection dropped) is made again a second later."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*channels)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    handle(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - pub/sub dies silently: resubscribe
            log.warning("pub/sub lost, resubscribing: %r", exc)
            await asyncio.sleep(RESUBSCRIBE_S)
        finally:
            await pubsub.aclose()


async def refresh_loop(
    now: asyncio.Event,
    period_s: float,
    refresh: Callable[[], Awaitable[None]],
    refreshed: Callable[[str], None],
) -> None:
    """Run `refresh` as soon as `now` is set (a nudge) and every `period_s` otherwise (the
    poll), until cancelled; then `refreshed("nudge" | "poll")`. A failed refresh is logged
    and retried at the next nudge or poll: the process keeps its last snapshot."""
    while True:
        try:
            await asyncio.wait_for(now.wait(), timeout=period_s)
            trigger = "nudge"
        except TimeoutError:
            trigger = "poll"
        now.clear()
        try:
            await refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep serving the last snapshot; /ready says why
            log.warning("control refresh failed: %s: %s", type(exc).__name__, exc)
        else:
            refreshed(trigger)
