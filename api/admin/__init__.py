"""Admin routes (role `admin`): one module per resource family."""

from __future__ import annotations

from api.admin import (
    ad_stats,
    ads,
    audit,
    contents,
    ipblocks,
    live,
    nodes,
    reviews,
    rewards,
    settings,
    settlements,
    stats,
    users,
    users_list,
)

routes = [*contents.routes, *settings.routes, *users.routes]
routes += [
    *users_list.routes,
    *ipblocks.routes,
    *ads.routes,
    *rewards.routes,
    *settlements.routes,
    *live.routes,
    *audit.routes,
    *reviews.routes,
    *nodes.routes,
    *stats.routes,
    *ad_stats.routes,
]
