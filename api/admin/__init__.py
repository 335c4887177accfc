"""Admin routes (role `admin`): one module per resource family."""

from __future__ import annotations

from api.admin import (
    ads,
    audit,
    boosts,
    contents,
    help,
    ipblocks,
    live,
    reviews,
    rewards,
    settings,
    settlements,
    tags,
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
    *help.routes,
    *boosts.routes,
    *tags.routes,
]
