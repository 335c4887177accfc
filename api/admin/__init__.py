"""Admin routes (role `admin`): one module per resource family."""

from __future__ import annotations

from api.admin import contents, settings, users
from api.admin import ads, audit, ipblocks, live, rewards, settlements, users_list

routes = [*contents.routes, *settings.routes, *users.routes]
routes += [*users_list.routes, *ipblocks.routes, *ads.routes, *rewards.routes,
           *settlements.routes, *live.routes, *audit.routes]
