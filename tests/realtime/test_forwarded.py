"""Forwarded addresses: X-Forwarded-For is believed only from the proxies FORWARDED_ALLOW_IPS
names. Unset (the default outside compose), a forged header from a client, loopback
included, changes nothing: every per-address defence counts the real peer. Named, the
proxy's header is what the defences count (which is what a deployment behind nginx needs)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from live import keys

FORGED = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(1, 9)]
TRUST_LOOPBACK = {"FORWARDED_ALLOW_IPS": "127.0.0.1"}


async def test_a_forged_header_does_not_escape_the_per_address_connection_cap(
    hub: Any, player: Any
) -> None:
    """Two connections per address: a third with yet another forged address is closed
    4029; from a trusted proxy, three forwarded addresses are three addresses."""
    h = hub(WS_MAX_CONNECTIONS_PER_IP="2")
    for uid, headers in zip((1, 2), FORGED, strict=False):
        await player(h, uid, additional_headers=headers)
    third = await player(h, 3, hello=False, additional_headers=FORGED[2])
    assert await third.closed_with(5) == 4029
    behind_proxy = hub(WS_MAX_CONNECTIONS_PER_IP="2", **TRUST_LOOPBACK)
    for uid, headers in zip((4, 5, 6), FORGED, strict=False):
        await player(behind_proxy, uid, additional_headers=headers)  # hello: accepted


async def test_a_forged_header_does_not_escape_the_sign_in_limit(spawn: Any) -> None:
    """Three sign-in attempts per address per minute: the fourth is 429 whatever address the
    client claims; from a trusted proxy, each forwarded address has its own three."""
    limited = {"AUTH_RATE_LIMIT_PER_MINUTE": "3"}
    for env, want in ((limited, 429), ({**limited, **TRUST_LOOPBACK}, 401)):
        api = spawn("api.app:app", env)
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            # One email per attempt: the per-account lockout after failed sign-ins
            # (api/login_guard.py) is not what this test is about.
            statuses = [
                (
                    await http.post(
                        "/api/auth/login",
                        json={"email": f"nobody{n}@example.com", "password": "wrong password 1"},
                        headers=h,
                    )
                ).status_code
                for n, h in enumerate(FORGED[:5])
            ]
        assert statuses[:3] == [401, 401, 401], statuses
        assert set(statuses[3:]) == {want}, (env, statuses)


async def test_a_blocked_address_cannot_forge_its_way_in(
    hub: Any, player: Any, spawn: Any, token: Any
) -> None:
    """With 127.0.0.0/8 blocked, a loopback client claiming another address is refused. (The
    admin blocks it through an api that trusts loopback as its proxy, from a forwarded
    address outside the network: an admin may not block their own address.)"""
    h = hub()
    api = spawn("api.app:app", TRUST_LOOPBACK)
    admin = {
        "Authorization": f"Bearer {token(1, roles=('admin',))}",
        "X-Forwarded-For": "198.51.100.7",
    }
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        r = await http.post(
            "/api/admin/ip-blocks", json={"cidr": "127.0.0.0/8", "reason": "test"}, headers=admin
        )
        assert r.status_code == 201, r.text
    # The block is in force on the hub once a plain connection is refused (the nudge, or at
    # worst the next poll, has reached it); then the forged address is refused alike.
    for _ in range(50):
        plain = await player(h, 7, hello=False)
        try:
            await plain.recv(5)  # hello: not in force yet
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4503
            break
        await plain.close()
        await asyncio.sleep(0.1)
    refused = await player(h, 8, hello=False, additional_headers=FORGED[0])
    assert await refused.closed_with(5) == 4503


async def test_a_forged_header_does_not_escape_the_per_address_review(
    hub: Any, player: Any, content: Any, redis: Any
) -> None:
    """Three accounts on three devices from one address (review limit 2), each claiming its
    own address: all three are flagged `ip` on the real peer, 127.0.0.1. Behind a trusted
    proxy the three forwarded addresses are three addresses: nobody is flagged."""

    async def flags(uid: int) -> list[dict[bytes, bytes]]:
        entries = await redis.xrange(keys.outbox(uid % 8))
        return [f for _, f in entries if f[b"t"] == b"f" and f[b"uid"] == str(uid).encode()]

    cid = await content()
    for h, uids in (
        (hub(REVIEW_ACCOUNTS_PER_IP="2"), (51, 52, 53)),
        (hub(REVIEW_ACCOUNTS_PER_IP="2", **TRUST_LOOPBACK), (54, 55, 56)),
    ):
        for uid, headers in zip(uids, FORGED, strict=False):
            client = await player(h, uid, additional_headers=headers)
            assert (await client.start(cid, device=f"d{uid}"))["type"] == "started"
    for uid in (51, 52, 53):
        [flag] = await flags(uid)
        assert (flag[b"why"], flag[b"key"], flag[b"n"]) == (b"ip", b"127.0.0.1", b"3")
    for uid in (54, 55, 56):
        assert await flags(uid) == []
