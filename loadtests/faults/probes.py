"""Readiness probes of a running drill: every process ready and grants reaching the ledger,
the wait for recovery, and the cross-node takeover kick."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from loadtests.faults.model import KICK_TIMEOUT_S, KICK_UID, PARTITIONS, PROBE_EVERY_S
from loadtests.faults.observe import http, recv_type
from loadtests.stack import Stack


class Probes:
    """Mixed into the Drill, which holds the state below."""

    stack: Stack
    hub_ports: list[int]
    api_port: int
    metrics_port: int
    canary_tokens: list[str]
    content_ids: list[int]

    if TYPE_CHECKING:

        def say(self, text: str) -> None: ...

    async def probe(self, since: float, ledger: bool = True) -> dict[str, bool]:
        """One round of every readiness check; `ledger`: a grant made after `since` is in
        PostgreSQL."""
        checks: dict[str, Any] = {}
        for i, port in enumerate(self.hub_ports):
            checks[f"hub-{i + 1}"] = self._hub_ok(i, port)
        checks["api"] = self._ready(self.api_port)
        checks["worker"] = self._worker_ok()
        if ledger:
            checks["ledger"] = self._grants_after(since)
        results = await asyncio.gather(*checks.values())
        return dict(zip(checks, results, strict=False))

    async def _ready(self, port: int) -> bool:
        status, _ = await http(port, "GET", "/ready")
        return status == 200

    async def _hub_ok(self, index: int, port: int) -> bool:
        if not await self._ready(port):
            return False
        # End to end through the hub's Lua path: a fallback heartbeat of a canary user that is
        # not playing (so it never earns).
        body = json.dumps(
            {
                "content_id": self.content_ids[0],
                "tab_id": "canary",
                "device_id": "canary",
                "playing": False,
                "visible": False,
            }
        ).encode()
        status, _ = await http(
            port,
            "POST",
            "/api/service/timer-session",
            body,
            {
                "Authorization": f"Bearer {self.canary_tokens[index]}",
                "Content-Type": "application/json",
            },
        )
        return status == 200

    async def _worker_ok(self) -> bool:
        status, body = await http(self.metrics_port, "GET", "/metrics")
        if status != 200:
            return False
        m = re.search(rb"^worker_partitions_held ([0-9.e+]+)$", body, re.MULTILINE)
        return m is not None and float(m.group(1)) >= PARTITIONS

    async def _grants_after(self, since: float) -> bool:
        import asyncpg

        assert self.stack.pg
        try:
            conn = await asyncpg.connect(self.stack.pg.dsn, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            n = await conn.fetchval(
                "SELECT count(*) FROM coin_transactions WHERE created_at > to_timestamp($1)",
                since,
                timeout=2,
            )
            return bool(n)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        finally:
            await conn.close(timeout=2)

    async def await_recovery(
        self, since: float, timeout: float, ledger: bool = True
    ) -> tuple[bool, float | None, dict[str, float | None], list[str]]:
        """Probe until every check passes in one round; (recovered, seconds since `since`,
        seconds to each check's first pass, the checks still failing at the timeout)."""
        first: dict[str, float | None] = {}
        deadline = time.time() + timeout
        state: dict[str, bool] = {}
        while time.time() < deadline:
            state = await self.probe(since, ledger)
            now = time.time()
            for name, ok in state.items():
                if ok and first.get(name) is None:
                    first[name] = round(now - since, 2)
                first.setdefault(name, None)
            if all(state.values()):
                return True, round(now - since, 2), first, []
            await asyncio.sleep(PROBE_EVERY_S)
        return False, None, first, [name for name, ok in state.items() if not ok]

    async def kick_probe(self, old_hub: int, new_hub: int) -> float | None:
        """A canary watches on `old_hub`; another device of the same user takes over on
        `new_hub`; seconds until the old connection gets `replaced` (only the kick sent over
        Redis pub/sub delivers it: the canary sends no heartbeat), None when it does not."""
        from websockets.asyncio.client import connect

        uid = KICK_UID + old_hub * 10 + new_hub
        token = self.stack.tokens([uid])[0]
        headers = {"Authorization": f"Bearer {token}"}

        async def start(ws: Any, device: str, takeover: bool) -> None:
            await recv_type(ws, "hello")
            await ws.send(
                json.dumps(
                    {
                        "type": "start",
                        "content_id": self.content_ids[0],
                        "tab_id": "kick",
                        "device_id": device,
                        "takeover": takeover,
                    }
                )
            )
            await recv_type(ws, "started")

        try:
            async with asyncio.timeout(KICK_TIMEOUT_S + 10):
                async with connect(
                    f"ws://127.0.0.1:{self.hub_ports[old_hub]}/ws",
                    additional_headers=headers,
                    proxy=None,
                ) as old:
                    await start(old, f"dev-{time.monotonic_ns()}", True)
                    async with connect(
                        f"ws://127.0.0.1:{self.hub_ports[new_hub]}/ws",
                        additional_headers=headers,
                        proxy=None,
                    ) as new:
                        await start(new, f"dev-{time.monotonic_ns()}", True)
                        began = time.monotonic()
                        async with asyncio.timeout(KICK_TIMEOUT_S):
                            await recv_type(old, "replaced")
                        return round(time.monotonic() - began, 3)
        except Exception as exc:  # noqa: BLE001 - any failure means no kick seen
            self.say(f"kick probe hub-{old_hub + 1} -> hub-{new_hub + 1} failed: {exc!r}")
            return None
