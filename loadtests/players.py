"""A small, dependable player load for fault drills when locust is not wanted (the pytest
drill) or not installed: WebSocket players and HTTP-fallback players that behave like the
clients PROTOCOL.md describes, and log every reward they are told about.

    .venv/bin/python -m loadtests.players --hubs http://127.0.0.1:8001,http://127.0.0.1:8002 \\
        --ws 8 --fallback 2 --reward-log rewards.log --summary players.json

Needs DATABASE_URL, REDIS_URL, JWT_SECRET in the environment (to mint tokens). Runs until
SIGTERM/SIGINT (or --duration), then closes its connections and writes the summary.

Each player starts on hub `uid mod len(hubs)`. A WebSocket player that loses its connection
reconnects to the next hub with backoff (0.2 s doubling to 2 s, with jitter; PROTOCOL asks
real clients for 1 s to 30 s: a drill wants to see recovery, not wait for it) and resumes its
session with the same tab and device; on `no_session` it starts again. A fallback player
moves to the next hub when a call gets no answer or a 5xx. The reward log has one line per
reward: `<unix time> <reward_id>`, the same format as loadtests/locustfile.py's REWARD_LOG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
from websockets.asyncio.client import ClientConnection, connect

from core.settings import load_settings
from core.tokens import issue_access

REPLY_TIMEOUT_S = 10.0  # longer than a 5 s Redis stall: a slow reply is not a failure
BACKOFF_S = (0.2, 2.0)


@dataclass
class Stats:
    counts: Counter[str] = field(default_factory=Counter)
    rewards: int = 0


class Players:
    def __init__(
        self,
        hubs: list[str],
        content_ids: list[int],
        heartbeat_s: float,
        reward_log: TextIO | None,
        token: Any,
    ) -> None:
        self.hubs = [h.rstrip("/") for h in hubs]
        self.content_ids = content_ids
        self.heartbeat_s = heartbeat_s
        self.reward_log = reward_log
        self.token = token
        self.stats = Stats()
        self.stopping = asyncio.Event()

    def log_reward(self, reward_id: str) -> None:
        self.stats.rewards += 1
        if self.reward_log is not None:
            self.reward_log.write(f"{time.time():.3f} {reward_id}\n")

    async def pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    # WebSocket players.

    async def ws_player(self, uid: int) -> None:
        hub = uid
        backoff = BACKOFF_S[0]
        content = self.content_ids[uid % len(self.content_ids)]
        token = self.token(uid)
        while not self.stopping.is_set():
            url = self.hubs[hub % len(self.hubs)].replace("http", "ws", 1) + "/ws"
            try:
                async with connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=REPLY_TIMEOUT_S,
                    close_timeout=2,
                    proxy=None,
                ) as ws:
                    await self._expect(ws, "hello")
                    await self._start(ws, uid, content)
                    self.stats.counts["ws_connected"] += 1
                    backoff = BACKOFF_S[0]
                    while not self.stopping.is_set():
                        await self.pause(self.heartbeat_s)
                        if self.stopping.is_set():
                            break
                        await ws.send('{"type":"heartbeat","playing":true,"visible":true}')
                        reply = await self._expect(ws, "tick")
                        if reply["type"] == "tick":
                            self.stats.counts["ws_heartbeat_ok"] += 1
                            continue
                        self.stats.counts[f"ws_error_reply:{reply.get('code')}"] += 1
                        if reply.get("code") == "no_session":  # expired: start again
                            await self._start(ws, uid, content)
                    return
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect elsewhere
                self.stats.counts[f"ws_error:{type(exc).__name__}"] += 1
            hub += 1
            await self.pause(backoff * random.uniform(0.5, 1.5))
            backoff = min(BACKOFF_S[1], backoff * 2)

    async def _start(self, ws: ClientConnection, uid: int, content: int) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "start",
                    "content_id": content,
                    "tab_id": "tab-1",
                    "device_id": f"drill-{uid}",
                }
            )
        )
        reply = await self._expect(ws, "started")
        if reply.get("type") != "started":
            raise RuntimeError(f"start refused: {reply}")

    async def _expect(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        """The next frame of `kind`, or an `error` frame; rewards on the way are logged."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            frame = json.loads(
                await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            )
            if frame.get("type") == "reward":
                self.log_reward(str(frame.get("reward_id")))
            if frame.get("type") in (kind, "error"):
                return dict(frame)

    # HTTP fallback players.

    async def fallback_player(self, uid: int, client: httpx.AsyncClient) -> None:
        hub = uid
        content = self.content_ids[uid % len(self.content_ids)]
        headers = {"Authorization": f"Bearer {self.token(uid)}"}
        body = {
            "content_id": content,
            "tab_id": "fallback-tab",
            "device_id": f"drill-tv-{uid}",
            "playing": True,
            "visible": True,
        }
        while not self.stopping.is_set():
            url = self.hubs[hub % len(self.hubs)] + "/api/service/timer-session"
            try:
                response = await client.post(url, json=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                self.stats.counts[f"fallback_error:{type(exc).__name__}"] += 1
                status = 0
            if status == 200:
                self.stats.counts["fallback_ok"] += 1
                for reward in response.json()["data"]["rewards"]:
                    self.log_reward(str(reward["reward_id"]))
            else:
                self.stats.counts[f"fallback_status:{status}"] += 1
                if status == 0 or status >= 500:
                    hub += 1
            await self.pause(self.heartbeat_s)


async def run(args: argparse.Namespace, log: TextIO | None) -> dict[str, Any]:
    settings = load_settings()

    def token(uid: int) -> str:
        return issue_access(settings, uid, ("viewer",), ttl_s=6 * 3600)

    players = Players(
        args.hubs.split(","),
        [int(x) for x in args.content_ids.split(",")],
        args.heartbeat_every,
        log,
        token,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, players.stopping.set)
    started = time.time()
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT_S, trust_env=False) as client:
        tasks = [asyncio.create_task(players.ws_player(args.first_uid + i)) for i in range(args.ws)]
        tasks += [
            asyncio.create_task(players.fallback_player(args.first_uid + args.ws + i, client))
            for i in range(args.fallback)
        ]
        if args.duration:
            loop.call_later(args.duration, players.stopping.set)
        await players.stopping.wait()
        _, pending = await asyncio.wait(tasks, timeout=REPLY_TIMEOUT_S + 5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return {
        "started": started,
        "stopped": time.time(),
        "ws_players": args.ws,
        "fallback_players": args.fallback,
        "rewards_seen": players.stats.rewards,
        "counts": dict(players.stats.counts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", required=True, help="comma-separated hub base URLs")
    parser.add_argument("--ws", type=int, default=8, help="WebSocket players")
    parser.add_argument("--fallback", type=int, default=2, help="HTTP-fallback players")
    parser.add_argument("--content-ids", default="1,2,3")
    parser.add_argument("--heartbeat-every", type=float, default=1.0)
    parser.add_argument("--first-uid", type=int, default=300_000)
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0: until SIGTERM")
    parser.add_argument("--reward-log")
    parser.add_argument("--summary", help="write the summary JSON here")
    args = parser.parse_args(argv)
    log = open(args.reward_log, "a", buffering=1) if args.reward_log else None  # noqa: SIM115
    try:
        summary = asyncio.run(run(args, log))
    finally:
        if log is not None:
            log.close()
    text = json.dumps(summary, indent=2)
    if args.summary:
        with open(args.summary, "w") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
