"""Admin gold boxes: the earning rules and the on/off switch (one row, audited as
`gold_box.rules`), and the gold box's own reward table (the random box's upload handlers,
audited as `gold_box.upload`)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from api.admin.rewards import table_routes
from api.gold import GoldRules, load_rules
from api.rewards import GOLD
from core import audit
from core.web import decode_json, ok
from core.web.spec import api_route


class GoldRulesUpdate(Struct, forbid_unknown_fields=True):
    enabled: bool
    # one gold box per this many random boxes opened; 0: random boxes earn none
    boxes_per_gold: Annotated[int, Meta(ge=0, le=1_000_000)] = 0


async def get_gold_box_rules(request: Request) -> Response:
    await authenticate(request, ADMIN)
    async with request.app.state.sessions() as session:
        return ok(request, await load_rules(session))


async def put_gold_box_rules(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    change = decode_json(await request.body(), GoldRulesUpdate)
    async with request.app.state.sessions.begin() as session:
        await session.execute(text("LOCK TABLE gold_box_rules IN EXCLUSIVE MODE"))
        before = await load_rules(session)
        await session.execute(
            text(
                "INSERT INTO gold_box_rules (id, enabled, boxes_per_gold, updated_by)"
                " VALUES (1, :e, :n, :a) ON CONFLICT (id) DO UPDATE SET enabled = :e,"
                " boxes_per_gold = :n, updated_by = :a, updated_at = now()"
            ),
            {"e": change.enabled, "n": change.boxes_per_gold, "a": identity.user_id},
        )
        after = GoldRules(change.enabled, change.boxes_per_gold)
        audit.record(session, identity.user_id, "gold_box.rules", "gold_box", before, after)
    return ok(request, after)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/gold-box/rules",
        get_gold_box_rules,
        summary="The gold box rules: on/off, and one gold box per N random boxes opened",
        auth="admin",
        response=GoldRules,
        tags=TAGS,
    ),
    api_route(
        "PUT",
        "/api/admin/gold-box/rules",
        put_gold_box_rules,
        summary="Set the gold box rules (audited)",
        auth="admin",
        body=GoldRulesUpdate,
        response=GoldRules,
        tags=TAGS,
    ),
    *table_routes(GOLD, "/api/admin/gold-box/reward-table", "gold box", "gold_box.upload"),
]
