"""Social login providers as configured (docs/security.md, "Social login").

A provider is on when its `OAUTH_<NAME>_CLIENT_ID` is set; its secret and redirect URL are
then required. Google and Kakao speak OpenID Connect: their endpoints come from the
issuer's discovery document unless one is overridden. Naver speaks plain OAuth 2.0 with a
profile endpoint, so its three endpoints are fixed (and overridable). Overrides exist so
that a test, a staging provider or a proxy can stand in for the real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

Kind = Literal["oidc", "naver"]


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # google | kakao | naver: the path segment of /api/auth/{provider}/...
    kind: Kind
    client_id: str
    client_secret: str
    redirect_url: str
    scope: str
    issuer: str = ""  # OpenID Connect only: the `iss` of its ID tokens, base of discovery
    authorize_url: str = ""  # empty: from discovery
    token_url: str = ""
    jwks_url: str = ""
    profile_url: str = ""  # Naver's profile endpoint (OpenID Connect: userinfo, unused)


# name -> (kind, scope, defaults of issuer / authorize / token / profile)
_KNOWN: dict[str, tuple[Kind, str, dict[str, str]]] = {
    "google": ("oidc", "openid email profile", {"ISSUER": "https://accounts.google.com"}),
    "kakao": ("oidc", "openid account_email", {"ISSUER": "https://kauth.kakao.com"}),
    "naver": (
        "naver",
        "",
        {
            "AUTHORIZE_URL": "https://nid.naver.com/oauth2.0/authorize",
            "TOKEN_URL": "https://nid.naver.com/oauth2.0/token",
            "PROFILE_URL": "https://openapi.naver.com/v1/nid/me",
        },
    ),
}
NAMES = tuple(_KNOWN)


class ProviderConfigError(ValueError):
    """A provider's variable is missing or malformed; the message names it."""


def _url(env: Mapping[str, str], name: str, default: str = "") -> str:
    value = env.get(name, "").strip() or default
    if value and not value.startswith(("https://", "http://")):
        raise ProviderConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/") if name.endswith("_ISSUER") else value


def load_providers(env: Mapping[str, str]) -> tuple[Provider, ...]:
    """The providers whose client id is set, in a fixed order."""
    out: list[Provider] = []
    for name, (kind, scope, defaults) in _KNOWN.items():
        prefix = f"OAUTH_{name.upper()}_"
        client_id = env.get(prefix + "CLIENT_ID", "").strip()
        if not client_id:
            continue
        secret = env.get(prefix + "CLIENT_SECRET", "").strip()
        if not secret:
            raise ProviderConfigError(f"{prefix}CLIENT_SECRET is required with {prefix}CLIENT_ID")
        redirect = _url(env, prefix + "REDIRECT_URL")
        if not redirect:
            raise ProviderConfigError(f"{prefix}REDIRECT_URL is required with {prefix}CLIENT_ID")
        out.append(
            Provider(
                name=name,
                kind=kind,
                client_id=client_id,
                client_secret=secret,
                redirect_url=redirect,
                scope=env.get(prefix + "SCOPE", "").strip() or scope,
                issuer=_url(env, prefix + "ISSUER", defaults.get("ISSUER", "")),
                authorize_url=_url(
                    env, prefix + "AUTHORIZE_URL", defaults.get("AUTHORIZE_URL", "")
                ),
                token_url=_url(env, prefix + "TOKEN_URL", defaults.get("TOKEN_URL", "")),
                jwks_url=_url(env, prefix + "JWKS_URL"),
                profile_url=_url(env, prefix + "PROFILE_URL", defaults.get("PROFILE_URL", "")),
            )
        )
    return tuple(out)
