"""Encoded bodies of public pages that every caller sees alike (the catalog lists), kept for
a short time: under load one computation per key and `ttl_s` serves every request.

Concurrent misses of one key wait for the same computation. Once a key has a body, an expired
body is still served, for at most `stale_s` more, while one task computes the next in the
background: no request waits on a refresh, and a failing refresh leaves the last good body in
place until it is too old. Per process: a change made through this process's admin api clears
it at once (`clear`); other processes show a change within `ttl_s` (docs/api.md, "Caching")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

Compute = Callable[[], Awaitable[bytes]]
Clock = Callable[[], float]


class _Entry:
    __slots__ = ("body", "fresh_until", "stale_until", "task")

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.fresh_until = 0.0
        self.stale_until = 0.0
        self.task: asyncio.Task[bytes] | None = None


class PageCache:
    def __init__(
        self,
        ttl_s: float = 1.0,
        stale_s: float = 5.0,
        max_entries: int = 4096,
        clock: Clock = time.monotonic,
    ) -> None:
        self.clock = clock  # seconds; injectable so that expiry is tested without sleeping
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}

    async def get(self, key: Hashable, compute: Compute) -> bytes:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry.body is not None:
            if now < entry.fresh_until:
                return entry.body
            if now < entry.stale_until:
                if entry.task is None:
                    self._start(entry, compute)
                return entry.body
        if entry is None:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: e for k, e in self._entries.items() if e.stale_until > now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            entry = self._entries[key] = _Entry()
        task = entry.task or self._start(entry, compute)
        # Shielded: a caller that goes away does not cancel the computation for the others.
        return await asyncio.shield(task)

    def _start(self, entry: _Entry, compute: Compute) -> asyncio.Task[bytes]:
        task = entry.task = asyncio.get_running_loop().create_task(_run(compute))

        def done(t: asyncio.Task[bytes]) -> None:
            if entry.task is t:
                entry.task = None
            if not t.cancelled() and t.exception() is None:
                entry.body = t.result()
                at = self.clock()
                entry.fresh_until, entry.stale_until = (
                    at + self.ttl_s,
                    at + self.ttl_s + self.stale_s,
                )

        task.add_done_callback(done)
        return task

    def clear(self) -> None:
        self._entries.clear()


async def _run(compute: Compute) -> bytes:
    return await compute()
