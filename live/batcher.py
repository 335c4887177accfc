"""Many heartbeats from many connections share one Redis round trip.

Calls submitted in the same event-loop iteration (and while earlier pipelines are in flight)
are sent together; at most `max_inflight` pipelines of at most `max_batch` calls are out at
once, so a burst queues here, bounded by the number of connections (each has at most one
heartbeat outstanding), rather than in the connection pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from live.scripts import Script, ScriptRunner


class _Item:
    __slots__ = ("args", "extra", "future", "keys", "script")

    def __init__(
        self,
        script: Script,
        keys: Sequence[str],
        args: Sequence[Any],
        extra: tuple[Any, ...] | None,
        future: asyncio.Future[Any],
    ) -> None:
        self.script, self.keys, self.args, self.extra, self.future = (
            script,
            keys,
            args,
            extra,
            future,
        )


class PipelineBatcher:
    def __init__(
        self, runner: ScriptRunner, *, max_batch: int = 128, max_inflight: int = 4
    ) -> None:
        self._runner = runner
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._queue: list[_Item] = []
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self,
        script: Script,
        keys: Sequence[str],
        args: Sequence[Any],
        extra: tuple[Any, ...] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one script call (plus one optional plain command sent right after it, whose
        reply is ignored); the future resolves to the script's reply or raises its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Item(script, keys, args, extra, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        self._scheduled = False
        while self._queue and self._inflight < self._max_inflight:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Item]) -> None:
        try:
            calls = [(i.script, i.keys, i.args) for i in batch]
            extra = [i.extra for i in batch if i.extra is not None]
            results = await self._runner.run_many(calls, extra)
        except BaseException as exc:  # connection lost, cancelled: fail the whole batch
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(
                        exc if isinstance(exc, Exception) else ConnectionError(str(exc))
                    )
            if not isinstance(exc, Exception):
                raise
        else:
            for item, result in zip(batch, results, strict=False):
                if item.future.done():
                    continue
                if isinstance(result, Exception):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
        finally:
            self._inflight -= 1
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._dispatch)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
