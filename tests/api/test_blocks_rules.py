"""core.blocks pure parts: Blocks.ip_blocked and CIDR parsing."""

from __future__ import annotations

import ipaddress

import pytest

from core.blocks import Blocks, parse_network
from core.errors import BadRequest


def blocks(*cidrs: str, users: frozenset[int] = frozenset()) -> Blocks:
    return Blocks(users=users, networks=tuple(ipaddress.ip_network(c) for c in cidrs))


def test_ip_in_blocked_network():
    """Addresses inside a blocked v4 or v6 network are blocked, others are not."""
    b = blocks("10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32")
    assert b.ip_blocked("10.1.2.3")
    assert b.ip_blocked("203.0.113.7")
    assert b.ip_blocked("2001:db8::1")
    assert not b.ip_blocked("11.0.0.1")
    assert not b.ip_blocked("203.0.113.8")
    assert not b.ip_blocked("2001:db9::1")


def test_ipv4_mapped_ipv6_matches_v4_block():
    """A dual-stack socket's ::ffff:a.b.c.d address matches the IPv4 block."""
    assert blocks("10.0.0.0/8").ip_blocked("::ffff:10.0.0.1")


def test_unparseable_or_empty_address_not_blocked():
    """Garbage or an unknown peer address is not treated as blocked."""
    b = blocks("0.0.0.0/0")
    assert not b.ip_blocked("")
    assert not b.ip_blocked("not-an-ip")
    assert b.ip_blocked("1.2.3.4")


def test_user_blocked():
    """user_blocked answers membership of the blocked user set."""
    b = blocks(users=frozenset({7}))
    assert b.user_blocked(7) and not b.user_blocked(8)


def test_parse_network_normalises_and_refuses_garbage():
    """CIDRs are normalised (host bits cleared, bare address = /32); garbage is a 400."""
    assert str(parse_network("10.1.2.3/8")) == "10.0.0.0/8"
    assert str(parse_network(" 192.0.2.1 ")) == "192.0.2.1/32"
    assert str(parse_network("2001:db8::1/32")) == "2001:db8::/32"
    with pytest.raises(BadRequest):
        parse_network("10.0.0.0/33")
    with pytest.raises(BadRequest):
        parse_network("example.com")
