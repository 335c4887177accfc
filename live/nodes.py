"""The hub nodes that are up, as they announce themselves in Redis.

Every hub writes its figures every few seconds (`announce`): one JSON value per node that
expires unless written again, and its id in one ZSET scored by the time of the announcement. A node
that stopped announcing for `STALE_MS` is gone (killed, partitioned): `live_nodes` leaves it
out and removes it. The admin node view and the charts read this; nothing that moves money
does.
"""

from __future__ import annotations

from typing import Any

import msgspec

from live import keys

STALE_MS = 15_000


class NodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    host: str
    pid: int
    started_ms: int
    seen_ms: int
    connections: int  # open WebSocket connections
    watching: int  # of which with a live watch session
    streams: int  # open event streams (SSE)
    heartbeats: int  # handled since the node started
    draining: bool = False


_decode = msgspec.json.Decoder(NodeInfo)


async def announce(redis: Any, info: NodeInfo) -> None:
    """Write this node's figures (the hash expires after STALE_MS unless written again)."""
    pipe = redis.pipeline(transaction=False)
    pipe.set(keys.node_info(info.node_id), msgspec.json.encode(info), px=STALE_MS)
    pipe.zadd(keys.NODES, {info.node_id: info.seen_ms})
    await pipe.execute()


async def withdraw(redis: Any, node_id: str) -> None:
    """A node stopping cleanly leaves the view at once."""
    pipe = redis.pipeline(transaction=False)
    pipe.delete(keys.node_info(node_id))
    pipe.zrem(keys.NODES, node_id)
    await pipe.execute()


async def live_nodes(redis: Any, now_ms: int) -> list[NodeInfo]:
    """The nodes announced within STALE_MS, by id; older ones are removed from the set."""
    await redis.zremrangebyscore(keys.NODES, "-inf", now_ms - STALE_MS)
    ids = [
        i.decode() if isinstance(i, bytes) else str(i)
        for i in await redis.zrange(keys.NODES, 0, -1)
    ]
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for node_id in ids:
        pipe.get(keys.node_info(node_id))
    found = [_decode.decode(raw) for raw in await pipe.execute() if raw]
    return sorted(found, key=lambda n: n.node_id)
