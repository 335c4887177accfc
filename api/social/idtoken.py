"""ID token verification (OpenID Connect Core 3.1.3.7), pure: given the provider's keys.

The algorithm is pinned per key by the JWKS entry's `kty` (RSA: RS256, EC P-256: ES256),
never taken from the token's header. `iss` must equal the configured issuer, `aud` the
client id (and `azp`, when several audiences), `exp` lie ahead, and `nonce` equal the one
this sign-in sent.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from jose import ExpiredSignatureError, JWTError, jwt

ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}
MAX_CHARS = 8192


class IdTokenError(Exception):
    """The ID token does not verify; the message says which check failed."""


class UnknownKey(IdTokenError):
    """Signed with a `kid` the given keys do not hold: refresh the JWKS and try again."""


class Claims(msgspec.Struct, frozen=True):
    subject: str
    email: str | None
    email_verified: bool


def pick_key(keys: list[dict[str, Any]], kid: str | None) -> tuple[dict[str, Any], str]:
    """The JWKS entry for `kid` and the one algorithm it may verify."""
    candidates = [k for k in keys if k.get("use", "sig") == "sig"]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    elif len(candidates) != 1:
        raise IdTokenError("the token names no key and the provider has several")
    if not candidates:
        raise UnknownKey(f"no key {kid!r} in the provider's JWKS")
    key = candidates[0]
    alg = ALGORITHMS.get(str(key.get("kty")))
    if alg is None or key.get("alg", alg) != alg:
        raise IdTokenError("the provider's key has an algorithm we do not accept")
    return key, alg


def verify(
    token: str, keys: list[dict[str, Any]], *, issuer: str, client_id: str, nonce: str
) -> Claims:
    if not token or len(token) > MAX_CHARS:
        raise IdTokenError("missing or oversized ID token")
    try:
        header = jwt.get_unverified_header(token)
    except JWTError:
        raise IdTokenError("malformed ID token") from None
    key, alg = pick_key(keys, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_aud": True,
                "require_iss": True,
                "verify_at_hash": False,
            },
        )
    except ExpiredSignatureError:
        raise IdTokenError("the ID token has expired") from None
    except (JWTError, ValueError, TypeError, KeyError) as exc:
        raise IdTokenError(f"the ID token does not verify: {exc}") from None
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise IdTokenError("the ID token was issued to another party (azp)")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise IdTokenError("the ID token's nonce is not this sign-in's")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 255:
        raise IdTokenError("the ID token has no usable subject")
    email = claims.get("email")
    return Claims(
        sub,
        email if isinstance(email, str) and email else None,
        claims.get("email_verified") is True,
    )
