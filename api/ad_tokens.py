"""Impression tokens: what `GET /api/ads` hands a viewer with each ad it serves, and the only
thing an impression report can bill on.

A token is signed (HMAC-SHA256 with a key derived from `JWT_SECRET`), not stored: serving
writes nothing, and a token names everything the report must match, so it cannot be made
up, moved to another viewer, ad or content, or back-dated:

    t1.<ad>.<viewer>.<placement>.<content or 0>.<served ms>.<nonce>.<signature>

`served ms` is PostgreSQL's clock at serving (the same clock the report is checked against,
whichever api process serves or counts). The nonce is the impression's id in
`ad_impressions`, unique per ad: a token counts once. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import NamedTuple

VERSION = "t1"
_SIG_BYTES = 16  # 128 bits: forging one takes 2^128 guesses
_NONCE = re.compile(r"[0-9a-f]{16,32}")
_PLACEMENTS = frozenset({"preroll", "midroll", "postroll", "banner"})


class Claims(NamedTuple):
    ad_id: int
    user_id: int
    placement: str
    content_id: int | None
    served_ms: int
    nonce: str


def token_key(jwt_secret: str) -> bytes:
    """The signing key: derived, so that an impression token is never a valid access token
    signature or the other way round."""
    return hmac.new(jwt_secret.encode(), b"ad-impression-token/v1", hashlib.sha256).digest()


def _sign(key: bytes, body: str) -> str:
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue(key: bytes, claims: Claims) -> str:
    c = claims
    body = ".".join(
        (
            VERSION,
            str(c.ad_id),
            str(c.user_id),
            c.placement,
            str(c.content_id or 0),
            str(c.served_ms),
            c.nonce,
        )
    )
    return f"{body}.{_sign(key, body)}"


def read(key: bytes, token: str) -> Claims | None:
    """The claims of a token this key signed, or None (malformed, another key, altered)."""
    body, _, signature = token.rpartition(".")
    if not hmac.compare_digest(_sign(key, body).encode(), signature.encode()):
        return None
    parts = body.split(".")
    if len(parts) != 7 or parts[0] != VERSION:
        return None
    _, ad, user, placement, content, served, nonce = parts
    if placement not in _PLACEMENTS or _NONCE.fullmatch(nonce) is None:
        return None
    if not all(p.isdigit() for p in (ad, user, content, served)):
        return None
    return Claims(int(ad), int(user), placement, int(content) or None, int(served), nonce)
