"""A player that watches through a real hub over a WebSocket, heartbeating until told to stop,
and records every reward frame it receives."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from websockets.asyncio.client import connect

from tests.support.conservation import Watch

# Hub timings for money tests: a reward per second of watching, no daily cap.
HUB_ENV = {
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": "1000",
    "SESSION_TTL_MS": "3000",
    "CONTROL_POLL_MS": "500",
    "DAILY_REWARD_CAP": "0",
    "DRAIN_SECONDS": "1",
}


@dataclass
class Reward:
    reward_id: str
    amount: int
    balance: int  # the balance the hub showed with it
    at: float  # time.monotonic() when it arrived


@dataclass
class Player:
    user_id: int
    rewards: list[Reward] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    # Every frame received, and the wall-clock span of watching: the conservation oracle's
    # input (tests.support.conservation.Watch).
    frames: list[dict[str, Any]] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0

    def watch(self) -> Watch:
        return Watch(self.user_id, [self.frames], self.began, self.ended)


async def watch(
    ws_url: str,
    tok: str,
    player: Player,
    content_id: int,
    stop: asyncio.Event,
    every_s: float = 0.25,
) -> None:
    """Start watching `content_id`, heartbeat (playing, visible) every `every_s` until `stop`,
    then send `stop`. Rewards and errors are recorded on `player`."""
    async with connect(f"{ws_url}/ws?token={tok}", open_timeout=10) as ws:

        async def frame() -> dict[str, Any]:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            player.frames.append(message)
            return message

        assert (await frame())["type"] == "hello"
        player.began = time.time()
        await ws.send(
            json.dumps(
                {"type": "start", "content_id": content_id, "tab_id": "tab", "device_id": "dev"}
            )
        )
        while (f := await frame())["type"] != "started":
            assert f["type"] != "error", f
        while not stop.is_set():
            await ws.send(json.dumps({"type": "heartbeat", "playing": True, "visible": True}))
            while True:
                f = await frame()
                if f["type"] == "reward":
                    player.rewards.append(
                        Reward(f["reward_id"], f["amount"], f["balance"], time.monotonic())
                    )
                elif f["type"] == "error":
                    player.errors.append(f)
                    break
                elif f["type"] == "tick":
                    break
            try:
                await asyncio.wait_for(stop.wait(), every_s)
            except TimeoutError:
                pass
        await ws.send(json.dumps({"type": "stop"}))
        while (await frame())["type"] != "stopped":
            pass
        player.ended = time.time()
        player.stopped = True


async def add_content(engine: Any, title: str = "Clip") -> int:
    async with engine.begin() as conn:
        row = await conn.execute(
            text(
                "INSERT INTO contents (title, source_url, duration_s, status, published_at, updated_at)"
                " VALUES (:t, 'https://example.test/v.mp4', 600, 'published', now(), now())"
                " RETURNING id"
            ),
            {"t": title},
        )
        return int(row.scalar_one())
