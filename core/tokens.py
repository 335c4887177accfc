"""Access tokens: JWTs with `sub`, `exp`, `iat`, `iss`, `aud`, `roles`, `typ`.

A token without `kid` is HS256 with `JWT_SECRET`; one with a `kid` is verified by that key
of the keyring (core/keyring.py: our key file, rotating, or another issuer's JWKS), with
the algorithm that key pins. The algorithm is never taken from the token, so `alg: none`
and HS/RS confusion are refused. Roles are ours (`viewer`, `advertiser`, `admin`) or
`{service}:{role}` names mapped to ours by `JWT_ROLE_MAP`; any other is dropped, never
widened. Every claim is required: python-jose on its own
lets a token without `aud` through, and never looks at whether `iat` lies in the future
(docs/fuzzing.md has the whole matrix of refused tokens).
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any, cast

import msgspec
from jose import ExpiredSignatureError, JWTError, jwk, jwt
from jose.backends.base import Key

from core import keyring
from core.settings import Settings

ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096
KNOWN_ROLES = frozenset({"viewer", "advertiser", "admin"})
# How far `iat` may lie ahead of this node's clock: tokens minted by another node whose clock
# runs a little ahead are fine; one "issued" minutes from now is not.
IAT_SKEW_S = 60
_SUB = re.compile(r"[1-9][0-9]{0,17}")  # ASCII only: int() also reads "٥" as 5


class TokenError(Exception):
    """The token is missing, malformed, badly signed or for another audience."""


class TokenExpired(TokenError):
    """The token was valid but its `exp` has passed."""


class Identity(msgspec.Struct, frozen=True):
    user_id: int
    roles: frozenset[str]
    expires_at: int  # unix seconds

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def issue_access(
    settings: Settings,
    user_id: int,
    roles: tuple[str, ...] = ("viewer",),
    *,
    ttl_s: int = 3600,
    now: int | None = None,
    typ: str = "access",
    extra: dict[str, Any] | None = None,
) -> str:
    """Sign an access token; used by the auth api, the dev-token printer and tests."""
    iat = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iat": iat,
        "exp": iat + ttl_s,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "roles": list(roles),
        "typ": typ,
    }
    if extra:
        claims.update(extra)
    key = keyring.signer(settings.jwt_keys_file, settings.jwt_signing_kid)
    # python-jose is untyped (Any); jwt.encode returns the compact token as a str.
    if key is None:
        return cast(str, jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM))
    return cast(str, jwt.encode(claims, key.sign, algorithm=key.alg, headers={"kid": key.kid}))


@functools.lru_cache(maxsize=4)
def _verify_key(secret: str) -> Key:
    """The secret as python-jose's key object, built once: given the string, python-jose
    tries it as JSON and rebuilds the key on every verification (a tenth of a WebSocket
    connect's CPU in the hub's profile). The token's `alg` is still checked against
    ALGORITHM before the key is used."""
    return jwk.construct(secret, ALGORITHM)


def verify_access(settings: Settings, token: str, *, now: float | None = None) -> Identity:
    """Return the identity in a valid access token, or raise TokenExpired / TokenError."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("token missing or too long")
    options = {
        "leeway": 0,
        "require_exp": True,
        "require_iat": True,
        "require_sub": True,
        "require_aud": True,
        "require_iss": True,
    }
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except (JWTError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if kid is None:
        key, algorithm = _verify_key(settings.jwt_secret), ALGORITHM
    else:
        entry = (
            keyring.find(
                kid,
                settings.jwt_keys_file,
                settings.jwt_jwks_url,
                settings.jwt_jwks_refresh_ms / 1000,
            )
            if isinstance(kid, str)
            else None
        )
        if entry is None:
            raise TokenError("unknown key id")
        key, algorithm = entry.verify, entry.alg
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=options,
        )
    except ExpiredSignatureError:
        raise TokenExpired("token expired") from None
    except (JWTError, ValueError, TypeError, KeyError) as exc:
        raise TokenError(f"invalid token: {exc}") from None
    # RFC 7515 4.1.11: extensions named in `crit` must be understood; we understand none.
    # (python-jose ignores the parameter; the header parsed fine, the signature held.)
    if "crit" in jwt.get_unverified_header(token):
        raise TokenError("critical header parameters are not supported")
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _SUB.fullmatch(sub):
        raise TokenError("sub must be a positive decimal user id")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise TokenError("iat must be a number")
    if iat > (time.time() if now is None else now) + IAT_SKEW_S:
        raise TokenError("token issued in the future")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise TokenError("roles must be a list of strings")
    exp = claims.get("exp")
    if not isinstance(exp, int):
        raise TokenError("exp must be an integer")
    if now is not None and exp <= now:
        raise TokenExpired("token expired")
    return Identity(user_id=int(sub), roles=map_roles(roles, settings.jwt_role_map), expires_at=exp)


def map_roles(roles: list[str], role_map: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """Our roles among `roles`: our own names as they are, `{service}:{role}` names through
    the configured map; anything else is ignored (never widened to a role we know)."""
    mapped = dict(role_map)
    return frozenset(r for r in roles if r in KNOWN_ROLES) | frozenset(
        mapped[r] for r in roles if r in mapped
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
