"""RESP encoding of commands, and the heartbeat's tick call built from cached pieces.

A heartbeat's EVALSHA has 26 arguments, of which only the `earning` flag changes between the
heartbeats of one session and the runtime values (heartbeat, TTL, reward interval and
amount, cap, pause, time-zone offset, the content's boost) change rarely: `TickWire` encodes the session's part
once, `tail` caches the runtime part, and a heartbeat joins three byte strings plus the
viewer-set ZADD. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence


def bulk(value: object) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bool):
        raise TypeError("encode booleans as '1'/'0' explicitly")
    elif isinstance(value, int):
        data = b"%d" % value
    else:
        raise TypeError(f"cannot encode {type(value).__name__} for Redis")
    return b"$%d\r\n%s\r\n" % (len(data), data)


def command(*args: object) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


EARNING = (bulk("0"), bulk("1"))


class TickWire:
    """One session's tick call: the encoded EVALSHA up to the `earning` flag, and the
    viewer-set refresh's ZADD up to the deadline, with the raw keys and arguments they were
    built from (for redis-py). On a Redis Cluster `route` holds the two commands' slots (the
    user's partition, the content's viewer set)."""

    __slots__ = (
        "args",
        "head",
        "keys",
        "route",
        "user_id",
        "viewers_key",
        "zadd_head",
        "zadd_tail",
    )

    def __init__(
        self,
        sha: str,
        keys: Sequence[str],
        user_id: int,
        session_id: str,
        epoch: int,
        tab: str,
        device: str,
        content_id: int,
        viewers_key: str,
        argc: int,
    ) -> None:
        self.keys = tuple(keys)
        self.args = (user_id, session_id, epoch, tab, device, content_id)
        self.user_id = user_id
        self.viewers_key = viewers_key
        fixed = ("EVALSHA", sha, len(keys), *keys, *self.args)
        self.head = b"*%d\r\n" % (len(fixed) + argc) + b"".join(bulk(a) for a in fixed)
        self.zadd_head = b"*6\r\n" + b"".join(bulk(a) for a in ("ZADD", viewers_key, "XX", "GT"))
        self.zadd_tail = bulk(user_id)
        self.route: tuple[int, int] | None = None

    def encode(self, earning: bool, tail: bytes, deadline_ms: int) -> bytes:
        return b"".join(
            (self.head, EARNING[earning], tail, self.zadd_head, bulk(deadline_ms), self.zadd_tail)
        )

    def tick(self, earning: bool, tail: bytes) -> bytes:
        """The EVALSHA alone (a cluster sends the two commands to their own nodes)."""
        return b"".join((self.head, EARNING[earning], tail))

    def zadd(self, deadline_ms: int) -> bytes:
        return b"".join((self.zadd_head, bulk(deadline_ms), self.zadd_tail))


def tail(values: Sequence[object]) -> bytes:
    """The encoded arguments after the `earning` flag."""
    return b"".join(bulk(v) for v in values)
