"""Users' PostgreSQL rows, created on their first connection to this process, in batches.

A reconnect storm (a hub node lost, 20k clients arriving at the others within seconds) would
otherwise cost one transaction per connection. Here the connections that arrive while one
INSERT is in flight share the next one (group commit, no timer): one round trip per batch,
at most `max_batch` users each. A failure reaches every waiter of that batch (the connection
is closed with 1013, the fallback answers 503) and the next arrival tries again.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from core.users import provision_viewers

log = logging.getLogger("realtime.provisioning")


class Provisioner:
    def __init__(
        self, engine: AsyncEngine, max_batch: int = 1000, remember: int = 1_000_000
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.remember = remember
        self.known: set[int] = set()
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.batches = 0  # INSERT statements run (for tests and curiosity)
        self._task: asyncio.Task[None] | None = None

    async def ensure(self, user_id: int) -> None:
        """Return once the user's row exists (at once for users this process has seen)."""
        if user_id in self.known:
            return
        future = self.waiting.get(user_id)
        if future is None:
            future = self.waiting[user_id] = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._run())
        # shield: one waiter giving up (its client left) must not fail the others' future.
        await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            while self.waiting:
                ids = sorted(self.waiting)[: self.max_batch]
                batch = {i: self.waiting.pop(i) for i in ids}
                try:
                    async with self.engine.begin() as conn:
                        await provision_viewers(conn, ids)
                except Exception as exc:  # noqa: BLE001 - every waiter gets it
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved: no "never retrieved" warning
                    continue
                finally:
                    self.batches += 1
                if len(self.known) + len(ids) > self.remember:
                    self.known.clear()
                self.known.update(ids)
                for future in batch.values():
                    if not future.done():
                        future.set_result(None)
        finally:
            self._task = None
