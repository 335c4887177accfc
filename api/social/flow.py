"""The pure part of the authorization code flow: what a sign-in in flight remembers, and
the URL that sends the browser to the provider.

`state` (RFC 6749 10.12) ties the callback to the start that this server made; it is kept
in Redis for STATE_TTL_S and deleted by the first callback that presents it. The same value
also goes into a short cookie on the browser that started, so that a callback link made by
someone else (login CSRF: an attacker's code in a victim's browser) is refused. PKCE
(RFC 7636, S256) binds the code to this server's verifier; `nonce` (OpenID Connect Core
3.1.2.1) binds the ID token to this sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

import msgspec

from core.providers import Provider

STATE_TTL_S = 600
STATE_COOKIE = "oauth_state"


class Pending(msgspec.Struct, frozen=True):
    """A sign-in in flight, stored under its state."""

    provider: str
    verifier: str  # PKCE code_verifier
    nonce: str
    link_user_id: int | None = None  # set: link the identity to this signed-in user
    result_url: str = ""  # the page of OAUTH_RESULT_URL that started (empty: the first)


def new_pending(
    provider: str, link_user_id: int | None = None, result_url: str = ""
) -> tuple[str, Pending]:
    """A fresh state and what it stands for (43-character URL-safe randoms)."""
    return secrets.token_urlsafe(32), Pending(
        provider, secrets.token_urlsafe(48), secrets.token_urlsafe(24), link_user_id, result_url
    )


def result_pages(setting: str) -> list[str]:
    """The pages of OAUTH_RESULT_URL (comma-separated; the first is the default)."""
    return [url.strip() for url in setting.split(",") if url.strip()]


def challenge(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(provider: Provider, endpoint: str, state: str, pending: Pending) -> str:
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": provider.redirect_url,
        "state": state,
        "code_challenge": challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    if provider.scope:
        params["scope"] = provider.scope
    if provider.kind == "oidc":
        params["nonce"] = pending.nonce
    sep = "&" if "?" in endpoint else "?"
    return f"{endpoint}{sep}{urlencode(params)}"


def same_state(cookie: str | None, state: str) -> bool:
    return cookie is not None and hmac.compare_digest(cookie.encode(), state.encode())


ENCODER = msgspec.json.Encoder()
DECODER = msgspec.json.Decoder(Pending)
