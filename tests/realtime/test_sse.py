"""Server-Sent Events on a real hub process, read by a real streaming HTTP client: the first
event, a WebSocket viewer changing the count, the 2 s throttle under churn, Last-Event-ID,
keep-alive comments, the bounds, refusals in the REST envelope, and the drain."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from realtime import sse

FORWARDED = {"FORWARDED_ALLOW_IPS": "127.0.0.1"}


class Events:
    """An open event stream, parsed as an EventSource would (fields, blank-line dispatch) by
    a reader task, so that a wait that times out leaves the stream open."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.retry: int | None = None
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if not line:
                    if "data" in fields:
                        event: dict[str, Any] = {**fields, "json": json.loads(fields["data"])}
                        event["at"] = time.monotonic()
                        self.events.append(event)
                        self.queue.put_nowait(event)
                    fields = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "retry":
                        self.retry = int(value)
                    else:
                        fields[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self.queue.put_nowait(None)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next dispatched event; TimeoutError when none comes in `timeout`, EOFError
        when the server ended the stream."""
        event = await asyncio.wait_for(self.queue.get(), timeout)
        if event is None:
            self.queue.put_nowait(None)
            raise EOFError("the stream ended")
        return event

    async def ended(self, timeout: float) -> bool:
        """True when the server ends the stream within `timeout` (events before are kept)."""
        try:
            while True:
                await self.next(timeout)
        except EOFError:
            return True
        except TimeoutError:
            return False


@contextlib.asynccontextmanager
async def stream(url: str, **headers: str) -> AsyncIterator[Events]:
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response)
        try:
            yield events
        finally:
            events.reader.cancel()
            await asyncio.gather(events.reader, return_exceptions=True)


async def refused(url: str, **headers: str) -> tuple[int, str, httpx.Headers]:
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", url, headers=headers) as r,
    ):
        assert r.status_code != 200, f"a stream opened where a refusal was expected: {url}"
        body = json.loads(await r.aread())
    assert body["success"] is False, body
    return r.status_code, body["error"]["code"], r.headers


async def watching(client: Any, content_id: int) -> asyncio.Task[None]:
    """Start watching and keep the session alive with heartbeats until cancelled."""
    assert (await client.start(content_id))["type"] == "started"

    async def beat() -> None:
        while True:
            await asyncio.sleep(0.7)
            await client.send(type="heartbeat", playing=True, visible=True)

    return asyncio.create_task(beat())


async def test_first_event_is_the_current_count_and_a_viewer_changes_it(
    hub, player, content
) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    async with stream(f"{h.url}/sse/contents/{cid}/viewers") as events:
        first = await events.next(3)
        assert events.retry == sse.RETRY_MS
        assert first["event"] == "viewers" and first["id"]
        assert first["json"] == {"content_id": cid, "count": 0}
        p = await player(h, 1)
        beats = await watching(p, cid)
        joined = time.monotonic()
        changed = await events.next(5)
        beats.cancel()
        assert changed["json"] == {"content_id": cid, "count": 1}
        assert changed["id"] != first["id"]
        # One loop tick (2 to 2.4 s), at most one more when the first event was under 2 s ago.
        assert changed["at"] - joined < 5.0


async def test_at_most_one_event_per_2_s_under_churn(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    cid = await content()
    clients = [await player(h, 10 + i) for i in range(4)]
    async with stream(f"{h.url}/sse/contents/{cid}/viewers") as events:
        await events.next(3)

        async def churn() -> None:
            for round_ in range(40):  # ~8 s: the count changes every 0.2 s
                c = clients[round_ % 4]
                if round_ % 8 < 4:
                    await c.send(type="start", content_id=cid, tab_id="t", device_id="d")
                else:
                    await c.send(type="stop")
                await asyncio.sleep(0.2)

        task = asyncio.create_task(churn())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(8.5):
                while True:
                    await events.next(9)
        await task
    times = [e["at"] for e in events.events]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(events.events) >= 3, events.events  # the count did change, more than once
    # 2 s apart on the server; the client may read two events a little closer than that.
    assert min(gaps) > 1.8, gaps


async def test_last_event_id_current_gets_nothing_other_gets_the_value_at_once(
    hub, player, content
) -> None:  # type: ignore[no-untyped-def]
    h = hub(SSE_KEEPALIVE_MS="500")
    cid = await content()
    url = f"{h.url}/sse/contents/{cid}/viewers"
    async with stream(url) as events:
        current = await events.next(3)
    async with stream(url, **{"Last-Event-ID": current["id"]}) as again:
        with pytest.raises(TimeoutError):
            await again.next(1.5)  # it has that value: no duplicate...
        assert again.comments and again.comments[0].startswith(":")  # ...only keep-alives
        p = await player(h, 2)
        beats = await watching(p, cid)
        changed = await again.next(5)  # ...until the value changes
        beats.cancel()
        assert changed["json"]["count"] == 1
    async with stream(url, **{"Last-Event-ID": "some-older-id"}) as other:
        started = time.monotonic()
        assert (await other.next(1))["id"] == changed["id"]
        assert time.monotonic() - started < 1


async def test_live_streams_the_top_contents(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    quiet, busy = await content(title="quiet"), await content(title="busy")
    async with stream(f"{h.url}/sse/live") as events:
        assert (await events.next(3))["json"] == {"items": []}
        beats = [await watching(await player(h, 20 + i), busy) for i in range(2)]
        beats.append(await watching(await player(h, 30), quiet))
        expected = [{"content_id": busy, "count": 2}, {"content_id": quiet, "count": 1}]
        async with asyncio.timeout(8):
            while (await events.next(8))["json"]["items"] != expected:
                pass
        for b in beats:
            b.cancel()
        assert events.events[-1]["event"] == "live"


async def test_per_address_and_per_process_bounds(hub) -> None:  # type: ignore[no-untyped-def]
    h = hub(SSE_MAX_CONNECTIONS_PER_IP="2", SSE_MAX_CONNECTIONS="3", **FORWARDED)
    url = f"{h.url}/sse/live"
    a = {"X-Forwarded-For": "198.51.100.1"}
    b = {"X-Forwarded-For": "198.51.100.2"}
    async with stream(url, **a), stream(url, **a):
        status, code, headers = await refused(url, **a)
        assert (status, code) == (429, "rate_limited") and headers["retry-after"]
        async with stream(url, **b):  # another address still gets one...
            assert (await refused(url, **b))[:2] == (503, "unavailable")  # ...up to the node's 3
    async with stream(url, **a) as again:  # closed streams were counted off
        await again.next(3)


async def test_refusals_use_the_rest_envelope(hub, content, engine) -> None:  # type: ignore[no-untyped-def]
    h = hub()
    draft = await content(status="draft")
    assert (await refused(f"{h.url}/sse/contents/999999/viewers"))[:2] == (404, "not_found")
    assert (await refused(f"{h.url}/sse/contents/{draft}/viewers"))[:2] == (404, "not_found")
    cid = await content()
    async with stream(f"{h.url}/sse/contents/{cid}/viewers") as events:
        await events.next(3)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO ip_blocks (cidr, reason) VALUES ('127.0.0.0/8', 'test')")
            )
        assert await events.ended(5)  # an address blocked while streaming is cut off
    assert (await refused(f"{h.url}/sse/live"))[:2] == (403, "forbidden")


async def test_drain_ends_the_streams(hub, content) -> None:  # type: ignore[no-untyped-def]
    h = hub(DRAIN_SECONDS="1")
    cid = await content()
    async with (
        stream(f"{h.url}/sse/contents/{cid}/viewers") as one,
        stream(f"{h.url}/sse/live") as two,
    ):
        await one.next(3)
        await two.next(3)
        h.proc.send_signal(signal.SIGTERM)
        ended = await asyncio.gather(one.ended(5), two.ended(5))
        assert ended == [True, True]
    assert h.proc.wait(10) is not None


def test_a_listener_that_stops_reading_is_dropped_not_buffered() -> None:
    """The fan-out appends the one encoded event to each queue; a full queue drops its
    listener instead of growing."""
    streams = sse.Streams(max_open=10, max_per_ip=10, keepalive_s=15)
    _, slow = streams.attach(1, "192.0.2.1", None)
    _, fast = streams.attach(1, "192.0.2.2", None)
    for n in range(sse.QUEUE_EVENTS + 1):
        fast.chunks.clear()
        streams.publish(1, "viewers", {"content_id": 1, "count": n}, now=n * sse.EVERY_S)
    assert slow.dropped and slow.closed and len(slow.chunks) == sse.QUEUE_EVENTS
    assert not fast.dropped
    shared = streams.streams[1].chunk
    assert fast.chunks[-1] is shared  # encoded once: the same bytes object for every listener
    assert fast.last_id == streams.streams[1].event_id and shared.startswith(b"id: ")


def test_a_stream_gets_no_second_event_within_2_s() -> None:
    """The throttle is the stream's, not only the loop's: a value read for a stream's first
    listener, or any event, holds the next change back until EVERY_S has passed."""
    streams = sse.Streams(max_open=10, max_per_ip=10, keepalive_s=15)
    _, listener = streams.attach(1, "192.0.2.1", None)
    streams.publish(1, "viewers", {"content_id": 1, "count": 0}, now=100.0)
    streams.publish(1, "viewers", {"content_id": 1, "count": 1}, now=100.0 + sse.EVERY_S - 0.1)
    assert len(listener.chunks) == 1
    streams.publish(1, "viewers", {"content_id": 1, "count": 1}, now=100.0 + sse.EVERY_S)
    assert len(listener.chunks) == 2 and b'"count":1' in listener.chunks[-1]
