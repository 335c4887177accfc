"""Who is calling: the bearer token, then blocks, then limits, then provisioning of unknown
users; or, for public and auth routes, the caller's IP (blocks and per-IP limits)."""

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
    request.scope["user_id"] = identity.user_id  # for the access log
    await limits.hit(request.app.state.redis, bucket, f"u{identity.user_id}", limit)
    await ctl.ensure_user(identity.user_id, identity.roles)
    return identity


async def anonymous(request: Request, *, auth_route: bool = False) -> None:
    """Admission of a caller without a token: 403 for a blocked IP, 429 past the per-IP
    limit: `auth_rate_limit_per_minute` (bucket `auth`) on the auth routes, where it slows
    password guessing, else `rate_limit_per_minute` (bucket `api`)."""
    ctl = control(request)
    ip = client_ip(request)
    if ctl.blocks.ip_blocked(ip):
        raise Forbidden("this address is blocked")
    if auth_route:
        bucket, limit = "auth", ctl.settings.auth_rate_limit_per_minute
    else:
        bucket, limit = "api", ctl.runtime.rate_limit_per_minute
    await limits.hit(request.app.state.redis, bucket, f"ip{ip}", limit)


async def optional_identity(request: Request) -> Identity | None:
    """For public routes: the caller's identity when a bearer token is sent (checked and
    limited like any authenticated request: a bad token is still a 401), else per-IP
    admission and None."""
    if request.headers.get("authorization") is not None:
        return await authenticate(request)
    await anonymous(request)
    return None


def path_id(request: Request, name: str = "id") -> int:
    """An `{id:int}` path parameter that fits a BIGINT (else the object cannot exist)."""
    value: int = request.path_params[name]
    if not 0 < value <= BIGINT_MAX:
        raise NotFound(f"no such {name}")
    return value
