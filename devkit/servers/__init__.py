"""Real redis-server and PostgreSQL processes on free local ports.

Used by the test fixtures (throwaway data under /tmp), by `scripts/devservices.py` (data
under `.run/`) and by the load and fault harness. One module per concept: `ports` (free
ports), `process` (what every server child shares), `redis` and `postgres`; the names below
are re-exported so that `from devkit.servers import ...` stays the one short path.
"""

from devkit.servers.ports import free_port, port_is_free
from devkit.servers.postgres import PostgresServer, find_pg_bin
from devkit.servers.process import ServerError, die_with_parent
from devkit.servers.redis import RedisClusterServers, RedisServer, redis_command

__all__ = [
    "PostgresServer",
    "RedisClusterServers",
    "RedisServer",
    "ServerError",
    "die_with_parent",
    "find_pg_bin",
    "free_port",
    "port_is_free",
    "redis_command",
]
