"""Encoded bodies of public pages that every caller sees alike (the catalog lists), kept for
a short time: under load one computation per key and second serves every request, and
concurrent misses of one key wait for the same computation instead of each running it.

Per process: a change made through this process's admin api clears it at once (`clear`); other
processes show the change within `ttl_s` (docs/api.md, "Caching")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable


class PageCache:
    def __init__(self, ttl_s: float = 1.0, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, asyncio.Task[bytes]]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached body of `key`, else `compute()`'s, run as a task of its own so that a
        caller who goes away does not cancel it for the others. Failures are not kept."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            task = asyncio.get_running_loop().create_task(_run(compute))
            entry = self._entries[key] = (now + self.ttl_s, task)
            task.add_done_callback(lambda t, key=key, entry=entry: self._done(key, entry, t))
        return await asyncio.shield(entry[1])

    def _done(self, key: Hashable, entry: tuple[float, asyncio.Task[bytes]], task: asyncio.Task[bytes]) -> None:
        if (task.cancelled() or task.exception() is not None) and self._entries.get(key) is entry:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


async def _run(compute: Callable[[], Awaitable[bytes]]) -> bytes:
    return await compute()
