"""New token signing keys as JWKs, for the rotation runbook (docs/operations.md) and the
tests: `python -m api new-signing-key oct|rsa|ec KID` prints one private JWK to add to the
`JWT_KEYS_FILE` document (the image has no other tool for it)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk


def new_oct(kid: str) -> dict[str, Any]:
    """An HS256 key of 32 random bytes."""
    k = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return {"kty": "oct", "kid": kid, "alg": "HS256", "k": k, "use": "sig"}


def _private_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    out: dict[str, Any] = jwk.construct(pem, alg).to_dict()
    return {**out, "kid": kid, "alg": alg, "use": "sig"}


def new_rsa(kid: str) -> dict[str, Any]:
    return _private_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", kid
    )


def new_ec(kid: str) -> dict[str, Any]:
    return _private_jwk(ec.generate_private_key(ec.SECP256R1()), "ES256", kid)


def public(key: dict[str, Any]) -> dict[str, Any]:
    """The JWK without its private members (what another verifier may be given)."""
    return {k: v for k, v in key.items() if k not in {"d", "p", "q", "dp", "dq", "qi", "k"}}


def write(path: Path, keys: list[dict[str, Any]]) -> None:
    """Replace the key file atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}))
    os.replace(tmp, path)


def main(argv: list[str]) -> None:
    kinds = {"oct": new_oct, "rsa": new_rsa, "ec": new_ec}
    if len(argv) != 2 or argv[0] not in kinds or not argv[1].strip():
        sys.exit("usage: python -m api new-signing-key oct|rsa|ec KID")
    print(json.dumps(kinds[argv[0]](argv[1].strip())))
