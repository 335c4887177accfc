"""Admin routes (role `admin`): one module per resource family."""

from __future__ import annotations

from api.admin import (
    accounts,
    ad_stats,
    ads,
    audit,
    boosts,
    contents,
    gold,
    help,
    ipblocks,
    live,
    missions,
    nodes,
    reviews,
    rewards,
    settings,
    settlements,
    stats,
    tags,
    user_events,
    users,
    users_list,
    wallets,
    youtube,
)

routes = [*contents.routes, *settings.routes, *users.routes]
routes += [
    *users_list.routes,
    *accounts.routes,
    *ipblocks.routes,
    *ads.routes,
    *rewards.routes,
    *settlements.routes,
    *live.routes,
    *audit.routes,
    *reviews.routes,
    *gold.routes,
    *missions.routes,
    *user_events.routes,
    *wallets.routes,
    *help.routes,
    *boosts.routes,
    *tags.routes,
    *youtube.routes,
    *nodes.routes,
    *stats.routes,
    *ad_stats.routes,
]
