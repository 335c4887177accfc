"""Blocked users and blocked IP networks.

PostgreSQL holds them (users.blocked_at, ip_blocks); every process keeps a `Blocks` snapshot
that it reloads with `load_blocks` every `CONTROL_POLL_MS`, so a block takes effect
everywhere within 5 s. After committing a change, a writer calls `live.nudges.control_changed`
so that every process reloads at once; polling stays the guarantee (pub/sub is at-most-once).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import audit
from core.errors import BadRequest
from core.users import provision_user

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Blocks(msgspec.Struct, frozen=True):
    """A snapshot of what is blocked. `ip_blocked` is pure and cheap."""

    users: frozenset[int] = frozenset()
    networks: tuple[Network, ...] = ()

    def user_blocked(self, user_id: int) -> bool:
        return user_id in self.users

    def ip_blocked(self, ip: str) -> bool:
        """True when `ip` lies in a blocked network. An unparseable address is not blocked
        (the caller decides what to do with clients it cannot place)."""
        if not self.networks or not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 on a dual-stack socket
        return any(addr.version == net.version and addr in net for net in self.networks)


def parse_network(cidr: str) -> Network:
    """A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address, normalised; host bits
    are cleared (`10.1.2.3/8` -> `10.0.0.0/8`). Raises BadRequest."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except (ValueError, TypeError, AttributeError):
        raise BadRequest(
            "cidr must be an IP network such as 10.0.0.0/8",
            details={"field": "cidr", "value": cidr},
        ) from None


async def load_blocks(conn: AsyncConnection | AsyncSession) -> Blocks:
    """Read the current blocks (blocked users are few; see the partial index on
    users.blocked_at in the migration)."""
    users = await conn.execute(text("SELECT id FROM users WHERE blocked_at IS NOT NULL"))
    nets = await conn.execute(text("SELECT cidr FROM ip_blocks"))
    return Blocks(
        users=frozenset(row[0] for row in users.all()),
        networks=tuple(ipaddress.ip_network(str(row[0]), strict=False) for row in nets.all()),
    )


class BlockState(msgspec.Struct, frozen=True):
    user_id: int
    blocked: bool
    blocked_at: datetime | None
    reason: str | None


async def _set_block(
    session: AsyncSession, user_id: int, reason: str | None, actor_id: int | None, block: bool
) -> BlockState:
    await provision_user(session, user_id)  # type: ignore[arg-type]
    row = (
        await session.execute(
            text("SELECT blocked_at, block_reason FROM users WHERE id = :id FOR UPDATE"),
            {"id": user_id},
        )
    ).one()
    before = BlockState(user_id, row[0] is not None, row[0], row[1])
    if block and before.blocked and before.reason == reason:
        return before
    if not block and not before.blocked:
        return before
    row = (
        await session.execute(
            text(
                "UPDATE users SET"
                " blocked_at = CASE WHEN :block THEN COALESCE(blocked_at, now()) END,"
                " block_reason = CASE WHEN :block THEN CAST(:reason AS text) END,"
                " updated_at = now()"
                " WHERE id = :id RETURNING blocked_at, block_reason"
            ),
            {"id": user_id, "block": block, "reason": reason},
        )
    ).one()
    after = BlockState(user_id, row[0] is not None, row[0], row[1])
    action = "user.block" if block else "user.unblock"
    audit.record(session, actor_id, action, f"user:{user_id}", before, after)
    return after


async def block_user(
    session: AsyncSession, user_id: int, reason: str | None, actor_id: int | None
) -> BlockState:
    """Block a user (provisioning the row if needed) and audit it; the caller commits.
    Blocking a blocked user only updates the reason."""
    return await _set_block(session, user_id, reason, actor_id, True)


async def unblock_user(
    session: AsyncSession, user_id: int, reason: str | None, actor_id: int | None
) -> BlockState:
    """Unblock a user and audit it; the caller commits. `reason` is accepted for symmetry
    and not stored (the audit entry keeps the old one)."""
    return await _set_block(session, user_id, None, actor_id, False)


class IpBlockView(msgspec.Struct, frozen=True):
    cidr: str
    reason: str | None
    created_at: datetime | None = None
    created_by: int | None = None


async def add_ip_block(
    session: AsyncSession, cidr: str, reason: str | None, actor_id: int | None
) -> IpBlockView:
    """Block a network (an existing block only gets the new reason); audited, no commit."""
    net = str(parse_network(cidr))
    old = (
        await session.execute(
            text("SELECT reason FROM ip_blocks WHERE cidr = CAST(:cidr AS cidr) FOR UPDATE"),
            {"cidr": net},
        )
    ).first()
    row = (
        await session.execute(
            text(
                "INSERT INTO ip_blocks (cidr, reason, created_by)"
                " VALUES (CAST(:cidr AS cidr), :reason, :actor)"
                " ON CONFLICT (cidr) DO UPDATE SET reason = EXCLUDED.reason"
                " RETURNING reason, created_at, created_by"
            ),
            {"cidr": net, "reason": reason, "actor": actor_id},
        )
    ).one()
    after = IpBlockView(net, row[0], row[1], row[2])
    before: Any = None if old is None else {"cidr": net, "reason": old[0]}
    if old is None or old[0] != reason:
        audit.record(session, actor_id, "ip.block", f"ip:{net}", before, after)
    return after


async def remove_ip_block(session: AsyncSession, cidr: str, actor_id: int | None) -> bool:
    """Lift a network block; True when one existed. Audited, no commit."""
    net = str(parse_network(cidr))
    row = (
        await session.execute(
            text(
                "DELETE FROM ip_blocks WHERE cidr = CAST(:cidr AS cidr)"
                " RETURNING reason, created_at, created_by"
            ),
            {"cidr": net},
        )
    ).first()
    if row is None:
        return False
    before = IpBlockView(net, row[0], row[1], row[2])
    audit.record(session, actor_id, "ip.unblock", f"ip:{net}", before, None)
    return True
