"""Every Redis key name of the live state, and nothing else builds one.

Keys of one user share the hash tag of the user's partition, as does that partition's outbox
stream and session-deadline set, so one Lua script touches a single Cluster slot. The Lua
scripts derive per-user key names from `user_prefix` for the sweep (see docs/architecture.md).
"""

from __future__ import annotations


def partition_of(user_id: int, partitions: int) -> int:
    return user_id % partitions


def tag(partition: int) -> str:
    return f"{{p{partition}}}"


def user_prefix(user_id: int, partitions: int) -> str:
    return f"{tag(partition_of(user_id, partitions))}:u:{user_id}:"


class UserKeys:
    """The keys one user's scripts touch."""

    __slots__ = ("balance", "day", "deadlines", "outbox", "partition", "pushes", "session", "watch")

    def __init__(self, user_id: int, partitions: int) -> None:
        self.partition = partition_of(user_id, partitions)
        t = tag(self.partition)
        prefix = f"{t}:u:{user_id}:"
        self.session = prefix + "sess"  # hash: the live watch session
        # hash: e:<content> credited ms, n:<content> last reward n; po, pe: the push log's last
        # offset and its epoch
        self.watch = prefix + "watch"
        self.pushes = prefix + "push"  # list: recent reward/notice pushes (JSON), for recovery
        self.day = prefix + "day"  # hash: d day number, c rewards that day, w cap notice sent
        # hash: pg, v (PostgreSQL balance + version), pend; hold (1: on hold for review),
        # rvok (ms: exempt from new review flags until then)
        self.balance = prefix + "bal"
        self.outbox = outbox(self.partition)
        self.deadlines = deadlines(self.partition)


def outbox(partition: int) -> str:
    """Stream of grants and session events waiting to be written to PostgreSQL."""
    return tag(partition) + ":outbox"


def dead_letters(partition: int) -> str:
    return tag(partition) + ":dead"


def lease(partition: int) -> str:
    """String: the id of the worker that drains this partition's outbox (expires unless renewed)."""
    return tag(partition) + ":lease"


def deadlines(partition: int) -> str:
    """ZSET user id -> session deadline (ms) for the expiry sweep."""
    return tag(partition) + ":deadlines"


def viewers(content_id: int) -> str:
    """ZSET user id -> session deadline (ms) of the live sessions on one content."""
    return f"{{c{content_id}}}:viewers"


def node_channel(node_id: str) -> str:
    """Pub/sub channel of one hub node (targeted commands such as kicks)."""
    return "hub:node:" + node_id


# pub/sub nudge: re-read the control snapshot (runtime settings, blocks, catalog) now;
# polling every CONTROL_POLL_MS stays the guarantee (live/nudges.py).
CONTROL_CHANNEL = "hub:control"
OUTBOX_GROUP = "persist"  # consumer group of the outbox streams
WORKERS_ALIVE = "workers:alive"  # ZSET worker id -> expiry ms: the drain workers that are up


def review_device(device_id: str) -> str:
    """ZSET user id -> last session start (ms) on one device id, within the review window
    (multi-account review, live/review_store.py)."""
    return "rv:dev:" + device_id


def review_ip(address: str) -> str:
    """ZSET user id -> last session start (ms) from one IP address, within the review window."""
    return "rv:ip:" + address


def fallback_rate(user_id: int, second: int) -> str:
    """Counter of one user's HTTP fallback calls in one second (all nodes)."""
    return f"rl:fb:{user_id}:{second}"


def api_rate(bucket: str, who: str, window: int) -> str:
    """Counter of one caller's REST api requests in one window of its bucket (`api`,
    `admin`, `auth`: minutes; `register`: hours); `who` is `u<user id>` or `ip<address>`."""
    return f"rl:api:{bucket}:{who}:{window}"


def oauth_state(state: str) -> str:
    """One social sign-in in flight (api/social/flow.py): its PKCE verifier, nonce and, for
    a link, the signed-in user; read and deleted at once by the callback (single use)."""
    return f"oauth:state:{state}"


def login_failures(kind: str, who: str) -> str:
    """Hash of recent failed logins (`n`, `until`: locked until, unix s) of one account
    (`kind` `a`, `who` the SHA-256 of the email) or one address (`kind` `ip`)."""
    return f"lf:{kind}:{who}"


def youtube_units(day: str) -> str:
    """Counter of YouTube quota units spent on one quota day (YYYY-MM-DD, Pacific time),
    by every process (live/youtube_quota.py)."""
    return "yt:units:" + day


def youtube_stop(day: str) -> str:
    """Set when YouTube answered quotaExceeded on that quota day: no call until it ends."""
    return "yt:stop:" + day


# Hub nodes announce themselves (live/nodes.py): ZSET node id -> last announcement (ms), and
# one hash per node with its figures, expiring unless announced again.
NODES = "hub:nodes"


def node_info(node_id: str) -> str:
    """Hash: one hub node's figures (connections, watching, heartbeats, pid, host, started)."""
    return "hub:nodeinfo:" + node_id


# Console charts (live/stats.py): a counter every hub adds its handled heartbeats to, and the
# list of samples the worker records (newest first).
STATS_HEARTBEATS = "stats:heartbeats"
STATS_SERIES = "stats:series"


def stats_tick(slot: int) -> str:
    """String: set once by the worker that records the sample of one 10 s slot."""
    return f"stats:tick:{slot}"
