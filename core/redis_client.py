"""Redis clients, made by a function from the settings (never at import)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from core.settings import Settings

LiveRedis = Redis | RedisCluster


def make_redis(settings: Settings, *, pool_size: int | None = None) -> LiveRedis:
    """The live-state client. A blocking pool waits for a free connection under bursts instead
    of raising MaxConnectionsError (which redis-py's default pool does)."""
    size = pool_size or settings.redis_pool_size
    if settings.redis_cluster:
        # redis-py's from_url is typed loosely (Any); it returns an instance of the class.
        return cast(RedisCluster, RedisCluster.from_url(settings.redis_url, max_connections=size))
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=size, timeout=10, socket_connect_timeout=5
    )
    return Redis(connection_pool=pool)


def make_pubsub_redis(settings: Settings) -> Redis:
    """A plain client for pub/sub: PUBLISH reaches every node of a cluster, so one node will do."""
    return cast(Redis, Redis.from_url(settings.redis_url, socket_connect_timeout=5))
