"""A runtime settings change made through the admin api is pushed to every hub (a nudge on
the control channel after the commit), so it applies long before the next poll."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from live import keys
from tests.support.waiting import wait_until

POLL = {"CONTROL_POLL_MS": "5000"}  # the slowest poll the settings allow


async def hello_interval(hub: Any, token: str) -> int:
    async with connect(f"{hub.ws_url}/ws?token={token}") as ws:
        return int(json.loads(await ws.recv())["heartbeat_interval_ms"])


async def _subscribers(redis: Any) -> bool:
    [(_, count)] = await redis.pubsub_numsub(keys.CONTROL_CHANNEL)
    return int(count) >= 2


async def test_a_settings_change_reaches_every_hub_before_its_next_poll(
    spawn: Any, token: Any, redis: Any
) -> None:
    """Three changes in a row, each seen by two hubs' new connections within 1.5 s while
    the hubs poll only every 5 s (a poll alone would make that about 1 in 40 for all)."""
    hubs = [spawn("realtime.app:app", POLL), spawn("realtime.app:app", POLL)]
    api = spawn("api.app:app", POLL)
    admin = {"Authorization": f"Bearer {token(1, roles=('admin',))}"}
    viewer = token(2)
    await wait_until(lambda: _subscribers(redis), 10, "both hubs subscribed to the control channel")
    async with httpx.AsyncClient(timeout=10) as http:
        for interval in (4000, 5000, 6000):
            r = await http.put(
                f"{api.url}/api/admin/settings",
                json={"heartbeat_interval_ms": interval},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            changed = time.monotonic()
            for hub in hubs:
                while await hello_interval(hub, viewer) != interval:
                    assert time.monotonic() - changed < 1.5, f"{hub.url} still has the old value"
                    await asyncio.sleep(0.05)
