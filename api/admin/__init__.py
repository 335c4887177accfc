"""Admin routes (role `admin`): one module per resource family."""

from __future__ import annotations

from api.admin import contents, settings, users

routes = [*contents.routes, *settings.routes, *users.routes]
