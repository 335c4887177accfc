"""Admin IP blocks (CIDR networks): list, add, remove. Changes are audited by core.blocks,
applied by this process at once and by the others on a nudge on hub:control (within
CONTROL_POLL_MS if it is lost)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.campaigns import NO_NUL
from api.pages import Page, PageQuery, sql_page
from api.state import control
from core import blocks
from core.errors import BadRequest, NotFound
from core.web import client_ip, decode_body, decode_query, ok
from core.web.spec import api_route
from live import nudges


class IpBlockBody(Struct, forbid_unknown_fields=True):
    cidr: Annotated[
        str,
        Meta(min_length=1, max_length=64, examples=["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]),
    ]
    reason: Annotated[str, Meta(max_length=500, pattern=NO_NUL)] | None = None


class IpBlockItem(Struct, frozen=True):
    id: int
    cidr: str
    reason: str | None
    created_at: datetime
    created_by: int | None


_COLUMNS = "id, CAST(cidr AS text), reason, created_at, created_by"


async def _apply(request: Request) -> None:
    await control(request).try_refresh()
    await nudges.control_changed(request.app.state.redis)


async def list_blocks(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        blocks_page = await sql_page(
            session,
            query,
            "ip_blocks",
            f"SELECT {_COLUMNS} FROM ip_blocks"
            " WHERE CAST(:after AS bigint) IS NULL OR id > :after ORDER BY id LIMIT :n",
            IpBlockItem,
        )
    return ok(request, blocks_page)


async def add_block(request: Request) -> Response:
    """Block a network (an existing block only gets the new reason). The caller's own
    address cannot be blocked: it would lock the admin out."""
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, IpBlockBody)
    network = blocks.parse_network(body.cidr)
    if blocks.Blocks(networks=(network,)).ip_blocked(client_ip(request)):
        raise BadRequest(
            "this network contains your own address",
            details={"field": "cidr", "reason": "contains the caller's address"},
        )
    async with request.app.state.sessions.begin() as session:
        view = await blocks.add_ip_block(session, str(network), body.reason, identity.user_id)
        row = (
            await session.execute(
                text(f"SELECT {_COLUMNS} FROM ip_blocks WHERE cidr = CAST(:c AS cidr)"),
                {"c": view.cidr},
            )
        ).one()
    await _apply(request)
    return ok(request, IpBlockItem(**row._mapping), 201)


async def remove_block(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    block_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        row = (
            await session.execute(
                text(f"SELECT {_COLUMNS} FROM ip_blocks WHERE id = :id FOR UPDATE"),
                {"id": block_id},
            )
        ).first()
        if row is None:
            raise NotFound(f"no ip block {block_id}")
        item = IpBlockItem(**row._mapping)
        await blocks.remove_ip_block(session, item.cidr, identity.user_id)
    await _apply(request)
    return ok(request, item)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/ip-blocks",
        list_blocks,
        summary="List blocked networks",
        auth="admin",
        query=PageQuery,
        response=Page[IpBlockItem],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/ip-blocks",
        add_block,
        summary="Block a network (CIDR)",
        auth="admin",
        body=IpBlockBody,
        response=IpBlockItem,
        status=201,
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        "/api/admin/ip-blocks/{id:int}",
        remove_block,
        summary="Lift a network block",
        auth="admin",
        response=IpBlockItem,
        tags=TAGS,
    ),
]
