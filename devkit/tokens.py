"""Access tokens that must be refused, for every place a token is checked: the api
(tests/api/test_auth.py), the hub's WebSocket and HTTP fallback (tests/realtime/test_tokens.py)
and core.tokens itself (tests/test_tokens.py). One matrix, so that the places cannot drift.

`token_cases(settings, user_id)` builds every case for one user: a dict name -> TokenCase with
the token (None: no token at all) and what the checker must say: `accept`, `expired`
(PROTOCOL: close 4005 / 401 token_expired) or `unauthorized` (close 4501 / 401 unauthorized).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from jose import jwt

Expect = Literal["accept", "expired", "unauthorized"]

OVERSIZED_BYTES = 64 * 1024  # far above any header or request-line limit
ATTACKER_SECRET = "attacker-secret-attacker-secret-attacker-secret"


@dataclass(frozen=True)
class TokenCase:
    token: str | None
    expect: Expect
    why: str  # one line for the docs table and failure messages


def b64(data: bytes | dict[str, Any] | list[Any]) -> str:
    """base64url without padding, of bytes or of a JSON value."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs_sign(
    header: dict[str, Any],
    claims: dict[str, Any],
    secret: str | bytes,
    digest: Any = hashlib.sha256,
) -> str:
    """A JWS signed by hand, so that headers python-jose would refuse to write can be made."""
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{b64(header)}.{b64(claims)}"
    sig = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(sig)}"


@lru_cache(maxsize=1)
def _rsa_pair() -> tuple[str, str]:
    """An RSA key pair (private PEM, public PEM) of an attacker: made once per process."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def claims_for(
    settings: Any, user_id: int, *, now: int | None = None, **changes: Any
) -> dict[str, Any]:
    """A valid access token's claims; `changes` replaces claims, a value of None drops one."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now - 10,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "roles": ["viewer"],
        "typ": "access",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def token_cases(settings: Any, user_id: int) -> dict[str, TokenCase]:
    """Every case of the matrix for `user_id` (see the module docstring)."""
    secret = settings.jwt_secret
    now = int(time.time())
    good = claims_for(settings, user_id, now=now)

    def signed(**changes: Any) -> str:
        return str(jwt.encode(claims_for(settings, user_id, now=now, **changes), secret, "HS256"))

    valid = signed()
    head, payload, sig = valid.split(".")
    private_pem, public_pem = _rsa_pair()
    as_admin = claims_for(settings, user_id + 1, now=now, roles=["admin"])
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]  # the first char: never only padding bits
    pad = "x" * OVERSIZED_BYTES

    cases = {
        "valid": TokenCase(valid, "accept", "a valid access token (the control)"),
        "missing": TokenCase(None, "unauthorized", "no token at all"),
        "empty": TokenCase("", "unauthorized", "an empty token"),
        "garbage": TokenCase("not.a.token", "unauthorized", "three dot-separated words"),
        "garbage_b64": TokenCase(secrets.token_urlsafe(96), "unauthorized", "random base64url"),
        "expired": TokenCase(signed(iat=now - 7200, exp=now - 60), "expired", "`exp` a minute ago"),
        "nbf_future": TokenCase(
            signed(nbf=now + 3600), "unauthorized", "not yet valid: `nbf` an hour ahead"
        ),
        "iat_future": TokenCase(
            signed(iat=now + 3600, exp=now + 7200),
            "unauthorized",
            "issued in the future: `iat` an hour ahead",
        ),
        "wrong_issuer": TokenCase(signed(iss="someone-else"), "unauthorized", "another `iss`"),
        "no_issuer": TokenCase(signed(iss=None), "unauthorized", "no `iss` claim"),
        "wrong_audience": TokenCase(signed(aud="someone-else"), "unauthorized", "another `aud`"),
        "no_audience": TokenCase(signed(aud=None), "unauthorized", "no `aud` claim"),
        "no_exp": TokenCase(signed(exp=None), "unauthorized", "no `exp` claim"),
        "no_iat": TokenCase(signed(iat=None), "unauthorized", "no `iat` claim"),
        "exp_string": TokenCase(signed(exp=str(now + 3600)), "unauthorized", "`exp` as a string"),
        "alg_none": TokenCase(
            f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
            "unauthorized",
            "`alg: none`, no signature",
        ),
        "alg_none_upper": TokenCase(
            f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{payload}.{sig}",
            "unauthorized",
            "`alg: NONE` with the real signature kept",
        ),
        "hs512": TokenCase(
            str(jwt.encode(good, secret, "HS512")),
            "unauthorized",
            "HS512 with the right secret (an algorithm not configured)",
        ),
        "rs256": TokenCase(
            str(jwt.encode(good, private_pem, "RS256")),
            "unauthorized",
            "RS256 signed with an attacker's RSA key",
        ),
        "hs256_public_key": TokenCase(
            hs_sign({"alg": "HS256", "typ": "JWT"}, good, public_pem),
            "unauthorized",
            "HS/RS confusion: HS256 with an RSA public key as the secret",
        ),
        "jwk_injected": TokenCase(
            hs_sign(
                {
                    "alg": "HS256",
                    "typ": "JWT",
                    "jwk": {"kty": "oct", "k": b64(ATTACKER_SECRET.encode())},
                },
                good,
                ATTACKER_SECRET,
            ),
            "unauthorized",
            "HS256 with the attacker's key, named in an embedded `jwk` header",
        ),
        "unknown_kid": TokenCase(
            hs_sign({"alg": "HS256", "typ": "JWT", "kid": "nobody"}, good, secret),
            "unauthorized",
            "the right secret, but naming a `kid` no configured key has (no fallback)",
        ),
        "crit_header": TokenCase(
            hs_sign({"alg": "HS256", "typ": "JWT", "crit": ["exp2"], "exp2": 1}, good, secret),
            "unauthorized",
            "signed with the right secret, but naming a critical header extension (RFC 7515"
            " 4.1.11: a recipient that does not understand it must refuse the token)",
        ),
        "forged": TokenCase(
            str(jwt.encode(good, ATTACKER_SECRET, "HS256")),
            "unauthorized",
            "HS256 with another secret",
        ),
        "tampered_payload": TokenCase(
            f"{head}.{b64(as_admin)}.{sig}",
            "unauthorized",
            "payload changed (another user, admin), signature kept",
        ),
        "tampered_signature": TokenCase(
            f"{head}.{payload}.{flipped}", "unauthorized", "one character of the signature changed"
        ),
        "refresh_typ": TokenCase(
            signed(typ="refresh"), "unauthorized", "a refresh token used as access (`typ: refresh`)"
        ),
        "refresh_opaque": TokenCase(
            secrets.token_urlsafe(32),
            "unauthorized",
            "a refresh token used as access (the api's opaque kind)",
        ),
        "no_typ": TokenCase(signed(typ=None), "unauthorized", "no `typ` claim"),
        "sub_not_decimal": TokenCase(signed(sub="abc"), "unauthorized", "`sub` not a number"),
        "sub_zero": TokenCase(signed(sub="0"), "unauthorized", "`sub` 0"),
        "sub_number": TokenCase(signed(sub=user_id), "unauthorized", "`sub` a JSON number"),
        "sub_unicode_digits": TokenCase(
            signed(sub="".join(chr(0x0660 + int(d)) for d in str(user_id))),
            "unauthorized",
            "`sub` in Arabic-Indic digits (int() would read it as the same user)",
        ),
        "roles_string": TokenCase(signed(roles="admin"), "unauthorized", "`roles` not a list"),
        "oversized_5k": TokenCase(
            signed(pad=pad[:5000]),
            "unauthorized",
            "validly signed, 5 KiB+ (over the 4,096-char bound)",
        ),
        "oversized_64k": TokenCase(signed(pad=pad), "unauthorized", "validly signed, 64 KiB+"),
    }
    return cases


def token_case_names() -> list[str]:
    """The case names, for parametrize (built without settings: the names do not depend on them)."""
    return list(token_cases(_NamesOnly(), 1))


class _NamesOnly:
    jwt_secret = "names-only-names-only-names-only-names-only"
    jwt_issuer = "i"
    jwt_audience = "a"
