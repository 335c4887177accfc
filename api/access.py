"""Who is calling: the bearer token, then blocks, then provisioning of unknown users."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from api import limits
from api.state import control
from core.errors import Forbidden, NotFound
from core.tokens import Identity
from core.web import client_ip, require_identity

BIGINT_MAX = 2**63 - 1
ADMIN = ("admin",)


async def authenticate(request: Request, roles: Iterable[str] | None = None) -> Identity:
    """The caller's identity, or an error: 403 for a blocked IP (before anything else),
    401 for no/bad/expired token, 403 for a missing role or a blocked user, 429 past the
    caller's per-minute limit (admin routes have their own). A valid token's unknown user
    is provisioned."""
    ctl = control(request)
    if ctl.blocks.ip_blocked(client_ip(request)):
        raise Forbidden("this address is blocked")
    identity = require_identity(request, ctl.settings, roles)
    if ctl.blocks.user_blocked(identity.user_id):
        raise Forbidden("this user is blocked")
    if request.url.path.startswith("/api/admin/"):
        bucket, limit = "admin", ctl.runtime.admin_rate_limit_per_minute
    else:
        bucket, limit = "api", ctl.runtime.rate_limit_per_minute
    await limits.hit(request.app.state.redis, bucket, f"u{identity.user_id}", limit)
    await ctl.ensure_user(identity.user_id, identity.roles)
    return identity


def path_id(request: Request, name: str = "id") -> int:
    """An `{id:int}` path parameter that fits a BIGINT (else the object cannot exist)."""
    value: int = request.path_params[name]
    if not 0 < value <= BIGINT_MAX:
        raise NotFound(f"no such {name}")
    return value
