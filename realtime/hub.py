"""A hub node: its connections, and the background loops that keep it in step with the rest
of the system (expiry sweep, viewer-count pushes, control-plane polling, pub/sub commands,
drain on shutdown)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import runtime
from core.blocks import Blocks, load_blocks
from core.redis_client import LiveRedis
from core.settings import Settings
from core.tokens import verify_access
from live import keys, nodes, nudges
from live.resp import ClusterResp, RespConnection
from live.store import LiveStore
from realtime import closes, protocol, sse
from realtime.catalog import Catalog
from realtime.connection import Connection
from realtime.limits import AddressGate
from realtime.metrics import HubMetrics
from realtime.provisioning import Provisioner
from realtime.service import WatchService
from realtime.session import Policy

log = logging.getLogger("realtime.hub")

SWEEP_EVERY_S = 1.0
VIEWERS_EVERY_S = 2.0  # PROTOCOL: at most one `viewers` push per content per 2 s
STATS_EVERY_S = 5.0
SEND_STALL_S = 10.0  # a send blocked this long (the client stopped reading) drops the client


def sse_viewers(content_id: int, count: int) -> dict[str, int]:
    return {"content_id": content_id, "count": count}


class Hub:
    def __init__(
        self,
        settings: Settings,
        redis: LiveRedis,
        pubsub: Redis,
        engine: AsyncEngine,
        metrics: HubMetrics,
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.redis = redis
        self.pubsub_redis = pubsub
        self.engine = engine
        self.metrics = metrics
        if settings.redis_cluster:
            fast, cluster = None, ClusterResp.from_url(redis, settings.redis_url)
        else:
            fast, cluster = RespConnection.from_url(settings.redis_url), None
        self.store = LiveStore(redis, settings.redis_partitions, fast=fast, cluster=cluster)
        self.catalog = Catalog(engine)
        self.runtime = runtime.defaults(settings)
        self.blocks = Blocks()
        self.service = WatchService(
            settings, self.store, self.catalog, engine, lambda: self.runtime, self.kick
        )
        self.conns: dict[str, Connection] = {}
        self.watchers: dict[int, set[Connection]] = {}
        metrics.watching.set_function(lambda: sum(map(len, self.watchers.values())))
        self.viewer_counts: dict[int, int] = {}
        self.draining = False
        self.gate = AddressGate(
            settings.ws_max_connections_per_ip, settings.ws_connects_per_ip_per_minute
        )
        self.sse = sse.Streams(
            settings.sse_max_connections,
            settings.sse_max_connections_per_ip,
            settings.sse_keepalive_ms / 1000,
        )
        self.provisioner = Provisioner(engine)
        self.policy = Policy(  # shared by every connection's session
            partial(verify_access, settings),
            settings.ws_max_frame_bytes,
            settings.ws_max_messages_per_second,
            metrics.frames.inc,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._control_now = asyncio.Event()
        self.started_ms = int(time.time() * 1000)
        self._heartbeats_reported = 0  # of the node's heartbeats, added to stats:heartbeats

    # Lifecycle.

    async def start(self) -> None:
        await self.store.load_scripts()
        try:
            await self.refresh_control()
        except (SQLAlchemyError, OSError) as exc:  # keep the env defaults until it answers
            log.warning("PostgreSQL not answering at start-up: %r", exc)
        for loop in (
            self._sweep_loop,
            self._viewers_loop,
            self._control_loop,
            self._pubsub_loop,
            self._stats_loop,
        ):
            self._loops.append(asyncio.create_task(loop(), name=loop.__name__))

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        try:
            await nodes.withdraw(self.redis, self.node_id)
        except (RedisError, OSError) as exc:  # its entry expires anyway
            log.warning("node not withdrawn: %r", exc)
        for conn in list(self.conns.values()):
            conn.end(closes.SERVICE_RESTART, "server stopping")
        self.sse.close_all()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self.store.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Close every connection with 1012 in batches spread over up to DRAIN_SECONDS, so that
        clients reconnect to other nodes without a storm; event streams end in the same
        batches (their clients reconnect after the `retry:` advice). New connections and
        streams are refused."""
        self.draining = True
        conns: list[Connection | sse.Listener] = [*self.conns.values(), *self.sse.listeners()]
        steps = max(1, min(10, len(conns)))
        pause = self.settings.drain_seconds / steps if conns else 0
        per_step = math.ceil(len(conns) / steps) if conns else 0
        log.info("draining %d connections and streams in %d batches", len(conns), steps)
        for i in range(steps):
            batch = conns[i * per_step : (i + 1) * per_step]
            for conn in batch:
                if isinstance(conn, sse.Listener):
                    conn.close()
                else:
                    conn.end(closes.SERVICE_RESTART, "node draining")
            if i < steps - 1:
                await asyncio.sleep(pause)
        self.sse.close_all()  # any opened while draining began

    # Connections.

    async def provision(self, user_id: int) -> None:
        """The user's PostgreSQL row exists (batched with other first connections)."""
        await self.provisioner.ensure(user_id)

    def register(self, conn: Connection) -> None:
        self.conns[conn.id] = conn
        self.metrics.connections_open.set(len(self.conns))
        self.metrics.connections_total.inc()

    def unregister(self, conn: Connection) -> None:
        conn.lost()
        self.conns.pop(conn.id, None)
        self.metrics.connections_open.set(len(self.conns))

    def join(self, conn: Connection, content_id: int) -> None:
        """`conn` watches `content_id` now (its session's `Join`). Not when the connection is
        gone already: a closed connection in `watchers` would be kept, and pushed to, for
        good."""
        if self.conns.get(conn.id) is conn and not conn.closed:
            self.watchers.setdefault(content_id, set()).add(conn)

    def leave(self, conn: Connection, content_id: int) -> None:
        watching = self.watchers.get(content_id)
        if watching is not None:
            watching.discard(conn)
            if not watching:
                del self.watchers[content_id]
                self.viewer_counts.pop(content_id, None)

    # Takeover across nodes.

    async def kick(self, node: str, conn_id: str, content_id: int, by_device: str) -> None:
        if node == self.node_id:
            self.kick_local(conn_id, content_id, by_device)
            return
        message = orjson.dumps({"op": "kick", "conn": conn_id, "cid": content_id, "by": by_device})
        try:
            await self.pubsub_redis.publish(keys.node_channel(node), message)
        except (RedisError, OSError) as exc:
            # At-most-once by design: the old connection's next heartbeat is refused anyway
            # (stale epoch) and answered with `replaced`.
            log.warning("kick to node %s not sent: %r", node, exc)

    def kick_local(self, conn_id: str, content_id: int, by_device: str) -> None:
        conn = self.conns.get(conn_id)
        if conn is not None:
            conn.kicked(content_id, by_device)

    def disconnect_user(self, user_id: int) -> int:
        """An admin disconnected the user (short of a block): close each of the user's
        connections here with 4510; the client does not reconnect on its own. Returns how
        many were closed."""
        closed = 0
        for conn in list(self.conns.values()):
            if conn.user_id == user_id and not conn.closed:
                conn.end(closes.DISCONNECTED, "disconnected by an operator")
                closed += 1
        if closed:
            log.info("user %s disconnected by an operator: %d connections", user_id, closed)
        return closed

    # Background loops. Each survives Redis or PostgreSQL failures and tries again.

    async def _every(self, seconds: float, step: Any, what: str, low: float = 0.8) -> None:
        """Run `step` every `seconds`, jittered by x`low`..x1.2 so that nodes do not beat in
        step; `low` = 1 where `seconds` is a floor (the viewers push throttle)."""
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a loop must outlive any one failure
                log.warning("%s failed: %r", what, exc)
            await asyncio.sleep(seconds * random.uniform(low, 1.2))

    async def _sweep_loop(self) -> None:
        partitions = range(self.settings.redis_partitions)

        async def step() -> None:
            self.check_connections()
            await self.store.sweep(partitions)

        await self._every(SWEEP_EVERY_S, step, "sweep")

    def check_connections(self) -> None:
        """Drop the clients that stopped reading and close those whose token expired (no
        timer per connection: one walk a second costs ~1 ms per 20k connections)."""
        now, wall = time.monotonic(), time.time()
        for conn in list(self.conns.values()):
            if conn.stalled(now, SEND_STALL_S):
                conn.abort("send stalled")
            else:
                conn.clock(wall)

    async def _viewers_loop(self) -> None:
        # Never below the period: PROTOCOL allows at most one push per content per 2 s.
        await self._every(VIEWERS_EVERY_S, self.push_viewer_counts, "viewer counts", low=1.0)

    async def push_viewer_counts(self) -> None:
        """The counts of the contents watched here or streamed (SSE) from here, read in one
        round trip: `viewers` frames for the watchers whose count changed, and the same
        counts to the event streams."""
        now = time.monotonic()
        content_ids = list(dict.fromkeys([*self.watchers, *self.sse.content_ids()]))
        if content_ids:
            counts = await self.store.viewer_counts(content_ids)
            for content_id, count in zip(content_ids, counts, strict=False):
                self.sse.publish(content_id, "viewers", sse_viewers(content_id, count), now)
                if content_id not in self.watchers or self.viewer_counts.get(content_id) == count:
                    continue
                self.viewer_counts[content_id] = count
                frame = protocol.encode(protocol.Viewers(content_id=content_id, count=count))
                for conn in list(self.watchers.get(content_id, ())):
                    conn.write(frame)
        if self.sse.live_listened():
            self.sse.publish(sse.LIVE, "live", await self.live_top(), now)

    async def sse_count(self, content_id: int) -> dict[str, int]:
        """A content's `viewers` event data, read now (a stream's first listener)."""
        (count,) = await self.store.viewer_counts([content_id])
        return sse_viewers(content_id, count)

    async def live_top(self) -> dict[str, Any]:
        """The `live` event data: the newest watchable contents ranked by live viewers."""
        ids = self.catalog.newest_watchable(int(time.time() * 1000), sse.LIVE_CANDIDATES)
        counts = await self.store.viewer_counts(ids) if ids else []
        return {"items": sse.top(list(zip(ids, counts, strict=True)))}

    async def _control_loop(self) -> None:
        await nudges.refresh_loop(
            self._control_now,
            self.settings.control_poll_ms / 1000,
            self.refresh_control,
            lambda trigger: self.metrics.control_refreshes.labels(trigger).inc(),
        )

    async def refresh_control(self) -> None:
        """Re-read runtime settings, blocks and catalog changes from PostgreSQL, and close the
        connections of users or addresses that are now blocked."""
        async with self.engine.connect() as db:
            self.runtime = await runtime.load_runtime(db, self.settings)
            blocks = await load_blocks(db)
        changed = blocks != self.blocks
        self.blocks = blocks
        await self.catalog.refresh()
        if not changed:  # new connections are checked at accept; walk the open ones on change
            return
        for conn in list(self.conns.values()):
            if blocks.user_blocked(conn.user_id) or blocks.ip_blocked(conn.ip):
                conn.forbid()
        for listener in self.sse.listeners():
            if blocks.ip_blocked(listener.ip):
                listener.close()

    async def _pubsub_loop(self) -> None:
        await nudges.listen(
            self.pubsub_redis,
            (keys.node_channel(self.node_id), keys.CONTROL_CHANNEL),
            self._on_command,
        )

    def _on_command(self, message: dict[str, Any]) -> None:
        if nudges.is_control(message):
            self._control_now.set()
            return
        try:
            command = orjson.loads(message["data"])
            if command.get("op") == "kick":
                self.kick_local(str(command["conn"]), int(command["cid"]), str(command["by"]))
            elif command.get("op") == "disconnect":
                self.disconnect_user(int(command["user"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("bad node command %r: %r", message.get("data"), exc)

    async def _stats_loop(self) -> None:
        await self._every(STATS_EVERY_S, self.update_stats, "stats")

    async def update_stats(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.settings.redis_partitions):
            pipe.zcard(keys.deadlines(p))
            pipe.xlen(keys.outbox(p))
        replies = await pipe.execute()
        self.metrics.sessions_live.set(sum(replies[0::2]))
        self.metrics.outbox_entries.set(sum(replies[1::2]))
        await self.announce()

    async def announce(self) -> None:
        """Put this node in the admin node view (live/nodes.py) and add the heartbeats it
        handled since the last time to the charts' counter."""
        handled = sum(self.metrics.heartbeats.counts.values())
        delta, self._heartbeats_reported = handled - self._heartbeats_reported, handled
        if delta:
            await self.redis.incrby(keys.STATS_HEARTBEATS, delta)
        await nodes.announce(
            self.redis,
            nodes.NodeInfo(
                node_id=self.node_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_ms=self.started_ms,
                seen_ms=int(time.time() * 1000),
                connections=len(self.conns),
                watching=sum(map(len, self.watchers.values())),
                streams=len(self.sse.listeners()),
                heartbeats=handled,
                draining=self.draining,
            ),
        )
