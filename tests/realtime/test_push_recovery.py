"""Push recovery through a real hub (docs/protocol-notes.md, "Push recovery"): a reward
granted in Redis while the player's connection died before the `reward` frame left is sent
again after the reconnect, once, and the ledger pays it once; a client that names a lost
epoch is told so; a client that does not ask (the original protocol) sees nothing new."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from live import keys
from tests.realtime.conftest import FAST, Client
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until

HEARTBEAT_MS = int(FAST["HEARTBEAT_INTERVAL_MS"])
PARTITIONS = int(FAST["REDIS_PARTITIONS"])


async def start(client: Client, content_id: int, recover: dict[str, Any] | None = None) -> Any:
    message: dict[str, Any] = {"content_id": content_id, "tab_id": "t", "device_id": "d"}
    if recover is not None:
        message["recover"] = recover
    await client.send(type="start", **message)
    return await client.expect("started")


async def push_log(redis: Any, user_id: int) -> list[dict[str, Any]]:
    raw = await redis.lrange(keys.UserKeys(user_id, PARTITIONS).pushes, 0, -1)
    return [json.loads(r) for r in raw]


async def test_a_reward_whose_frame_was_lost_is_sent_once_after_the_reconnect(
    hub, player, content, engine, redis, worker
) -> None:  # type: ignore[no-untyped-def]
    h = hub().wait_healthy()
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    cid = await content()
    uid = 701
    # The heartbeat whose answer was lost credited time no tick frame shows: at most one cap.
    watch = Watch(uid, stop_credits=True)
    first = await player(h, uid)
    started = await start(first, cid)
    assert (started["push_epoch"], started["push_offset"]) == ("", 0)
    await asyncio.sleep(0.6)
    await first.send(type="heartbeat", playing=True, visible=True)
    tick = await first.expect("tick")
    assert tick["elapsed_ms"] < 1000 and tick["remaining_ms"] > 0
    await asyncio.sleep(0.7)
    # The heartbeat that crosses the first boundary, and the connection gone at once (FIN
    # after the frame): the hub reads the heartbeat, Redis grants, the frame has nowhere to go.
    await first.send(type="heartbeat", playing=True, visible=True)
    first.ws.transport.close()
    rid = f"w:{uid}:{cid}:1"
    await wait_until(lambda: _logged(redis, uid, rid), 10, f"{rid} in the push log")
    watch.streams.append(first.frames)
    assert not [f for f in first.frames if f["type"] == "reward"]

    second = await player(h, uid)
    again = await start(second, cid, {"epoch": "", "offset": 0})
    assert again["resumed"] is True and again["recovered"] is True
    assert again["push_epoch"] and again["push_offset"] == 1  # the log tick.lua began
    reward = await second.expect("reward")
    assert (reward["reward_id"], reward["offset"], reward["recovered"]) == (rid, 1, True)
    assert reward["epoch"] == again["push_epoch"] and reward["balance"] == again["balance"]
    watch.streams.append(second.frames)
    await second.close()

    # From the offset it has now, a third connection misses nothing: no frame comes again.
    third = await player(h, uid)
    resumed = await start(third, cid, {"epoch": again["push_epoch"], "offset": 1})
    assert resumed["recovered"] is True
    await third.send(type="ping", id="after")
    assert (await third.recv())["type"] == "pong"
    watch.streams.append(third.frames)
    await third.send(type="stop")
    await third.expect("stopped")
    watch.ended = time.time()
    paid = await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)
    assert list(paid) == [rid]


async def _logged(redis: Any, user_id: int, rid: str) -> bool:
    return any(e.get("rid") == rid for e in await push_log(redis, user_id))


async def test_a_lost_epoch_is_reported_and_an_old_client_sees_nothing_new(
    hub, player, content
) -> None:  # type: ignore[no-untyped-def]
    h = hub().wait_healthy()
    cid = await content()
    uid = 702
    client = await player(h, uid)
    started = await start(client, cid)
    assert "recovered" not in started
    await client.close()

    stale = await player(h, uid)
    refused = await start(stale, cid, {"epoch": "an-epoch-that-never-was", "offset": 3})
    assert refused["recovered"] is False
    await stale.close()

    plain = await player(h, uid)
    resumed = await start(plain, cid)
    assert resumed["resumed"] is True and "recovered" not in resumed
    await plain.send(type="ping")
    assert (await plain.recv())["type"] == "pong"
