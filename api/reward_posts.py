"""Reward posts (`GET /api/rewards`, the replaced service's reward board): the contents that
pay now, each with what it pays: the reward interval in force for it and the amount per
interval, boosted while an admin's boost holds (api/boosts.py), with the boost and its end.

The list is the catalog's (api/catalog.py): the same listable contents, the same sorts
(`latest`, `popular`, `live`), tag filter and cursors, so a post is where the content is in
the catalog. While rewards are paused (the `rewards_paused` kill switch) nothing pays: the
list is empty. The amounts shown are the hub's: `reward_amount` and `reward_interval_ms`
from the runtime settings this process enforces, the content's own interval when it has one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from msgspec import Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import optional_identity
from api.boosts import boosted_amount
from api.catalog import ContentItem, ListQuery, _list_page
from api.pages import Page
from core.knobs import RuntimeSettings
from core.web import decode_query, ok
from core.web.spec import api_route


class BoostShown(Struct, frozen=True):
    multiplier_pct: int
    starts_at: datetime
    ends_at: datetime
    active: bool  # the window holds now (else it is still to come)


class RewardPost(Struct, frozen=True):
    content: ContentItem
    reward_interval_ms: int  # the interval in force for this content
    base_amount: int  # coins per interval without a boost
    amount: int  # coins per interval now (the boost applied while it is active)
    boost: BoostShown | None


_BOOSTS = text(
    "SELECT content_id, multiplier_pct, starts_at, ends_at FROM content_boosts"
    " WHERE content_id = ANY(:ids) AND ends_at > now()"
)


def post(item: ContentItem, rt: RuntimeSettings, boost: BoostShown | None) -> RewardPost:
    interval = item.reward_interval_ms or rt.reward_interval_ms
    amount = rt.reward_amount
    if boost is not None and boost.active:
        amount = boosted_amount(amount, boost.multiplier_pct)
    return RewardPost(item, interval, rt.reward_amount, amount, boost)


async def list_rewards(request: Request) -> Response:
    await optional_identity(request)
    q = decode_query(request, ListQuery)
    rt: RuntimeSettings = request.app.state.control.runtime
    if rt.rewards_paused:
        return ok(request, Page[RewardPost]([], None))
    tag = q.tag.strip().lower() if q.tag is not None else None
    contents = await _list_page(request, q, tag)
    ids = [c.id for c in contents.items]
    boosts: dict[int, BoostShown] = {}
    if ids:
        async with request.app.state.sessions() as session:
            rows = (await session.execute(_BOOSTS, {"ids": ids})).all()
        now = datetime.now(UTC)
        for r in rows:
            boosts[r.content_id] = BoostShown(
                r.multiplier_pct, r.starts_at, r.ends_at, r.starts_at <= now
            )
    posts = [post(c, rt, boosts.get(c.id)) for c in contents.items]
    return ok(request, Page(posts, contents.next_cursor))


routes = [
    api_route(
        "GET",
        "/api/rewards",
        list_rewards,
        summary="Contents that pay now, with reward interval, amount and boost",
        auth="optional",
        query=ListQuery,
        response=Page[RewardPost],
        tags=("catalog",),
    ),
]
