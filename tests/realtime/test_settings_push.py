"""A control change made through the admin api (runtime settings, blocks) is pushed to every
hub and every api process: a nudge on the control channel after the commit makes each one
re-read at once instead of at its next poll.

The witness is each process's own `control_refreshes_total{trigger="nudge"}`: it counts the
re-reads that a nudge started, so these tests time nothing. (The processes poll only every
5 s, the slowest the settings allow, but no check depends on that.)"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from websockets.asyncio.client import connect

from live import keys
from tests.support.waiting import wait_until

POLL = {"CONTROL_POLL_MS": "5000"}


async def hello_interval(hub: Any, token: str) -> int:
    async with connect(f"{hub.ws_url}/ws?token={token}") as ws:
        return int(json.loads(await ws.recv())["heartbeat_interval_ms"])


def refreshes(metrics_text: str, trigger: str) -> int:
    found = re.search(
        rf'^control_refreshes_total{{trigger="{trigger}"}} (\S+)$', metrics_text, re.M
    )
    return int(float(found.group(1))) if found else 0


class Witness:
    """A process's refresh counters, read from its /metrics."""

    def __init__(self, http: httpx.AsyncClient, proc: Any) -> None:
        self.http, self.url = http, f"{proc.url}/metrics"

    async def nudged(self) -> int:
        return refreshes((await self.http.get(self.url)).text, "nudge")


async def _subscribers(redis: Any, n: int) -> bool:
    [(_, count)] = await redis.pubsub_numsub(keys.CONTROL_CHANNEL)
    return int(count) >= n


async def pushed(witnesses: list[Witness], before: list[int], in_force: Any) -> None:
    """Every process re-read on a nudge since `before`, and the change is in force."""

    async def nudged() -> bool:
        now = [await w.nudged() for w in witnesses]
        return all(n > b for n, b in zip(now, before, strict=True))

    await wait_until(nudged, 4, "every process re-read on the nudge")
    assert await in_force()


async def test_a_settings_change_reaches_every_hub_by_its_nudge(
    spawn: Any, token: Any, redis: Any
) -> None:
    """Three changes in a row, each re-read by both hubs on its nudge and then seen by both
    hubs' new connections."""
    hubs = [spawn("realtime.app:app", POLL), spawn("realtime.app:app", POLL)]
    api = spawn("api.app:app", POLL)
    admin = {"Authorization": f"Bearer {token(1, roles=('admin',))}"}
    viewer = token(2)
    await wait_until(lambda: _subscribers(redis, 3), 10, "the hubs and the api subscribed")
    async with httpx.AsyncClient(timeout=10) as http:
        witnesses = [Witness(http, hub) for hub in hubs]
        for interval in (4000, 5000, 6000):
            before = [await w.nudged() for w in witnesses]
            r = await http.put(
                f"{api.url}/api/admin/settings",
                json={"heartbeat_interval_ms": interval},
                headers=admin,
            )
            assert r.status_code == 200, r.text

            async def in_force(interval: int = interval) -> bool:
                return all([await hello_interval(hub, viewer) == interval for hub in hubs])

            await pushed(witnesses, before, in_force)


async def test_a_block_made_on_one_api_process_holds_on_the_others_by_its_nudge(
    spawn: Any, token: Any, redis: Any
) -> None:
    """An admin blocks a user through api process A; api process B re-reads on the nudge
    and refuses the user (403 `forbidden`)."""
    a, b = spawn("api.app:app", POLL), spawn("api.app:app", POLL)
    admin = {"Authorization": f"Bearer {token(1, roles=('admin',))}"}
    viewer = {"Authorization": f"Bearer {token(7)}"}
    await wait_until(lambda: _subscribers(redis, 2), 10, "both api processes subscribed")
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{b.url}/api/me", headers=viewer)).status_code == 200
        witness = Witness(http, b)
        before = [await witness.nudged()]
        r = await http.post(f"{a.url}/api/admin/users/7/block", json={}, headers=admin)
        assert r.status_code == 200, r.text

        async def in_force() -> bool:
            refused = await http.get(f"{b.url}/api/me", headers=viewer)
            return refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

        await pushed([witness], before, in_force)
