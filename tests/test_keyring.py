"""Access-token keys with kids (core/keyring.py, core/tokens.py): rotation of our own keys
without logging anyone out, RS256/ES256 keys pinned to their algorithm, another issuer's
JWKS URL refetched on an unknown kid, and `{service}:{role}` roles mapped, never widened."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt
from jose.utils import base64url_encode

from core.settings import ConfigError, load_settings
from core.tokens import TokenError, issue_access, verify_access
from devkit import jwks

BASE = {
    "DATABASE_URL": "postgresql+asyncpg://u@h/db",
    "REDIS_URL": "redis://h:6379/0",
    "JWT_SECRET": "s" * 40,
}


def settings_with(**env: str) -> Any:
    return load_settings({**BASE, **env})


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` until it holds (the key file is looked at once a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def accepted(settings: Any, token: str) -> bool:
    try:
        verify_access(settings, token)
    except TokenError:
        return False
    return True


def test_rotation_signs_with_the_newest_and_accepts_the_old(tmp_path: Path) -> None:
    """A key added to the file signs the next tokens (its kid in the header) while tokens
    of the previous key stay valid; once the old key is removed they are refused; tokens
    without a kid (JWT_SECRET) keep working throughout."""
    path = tmp_path / "keys.json"
    old, new = jwks.new_oct("2026-11"), jwks.new_ec("2026-12")
    jwks.write(path, [old])
    settings = settings_with(JWT_KEYS_FILE=str(path))
    legacy = issue_access(load_settings(BASE), 5)
    before = issue_access(settings, 5)
    assert jwt.get_unverified_header(before)["kid"] == "2026-11"
    jwks.write(path, [old, new])
    assert eventually(
        lambda: jwt.get_unverified_header(issue_access(settings, 5))["kid"] == "2026-12"
    )
    after = issue_access(settings, 5, roles=("admin",))
    assert jwt.get_unverified_header(after)["alg"] == "ES256"
    assert verify_access(settings, after).roles == {"admin"}
    assert verify_access(settings, before).user_id == 5
    assert verify_access(settings, legacy).user_id == 5
    jwks.write(path, [new])
    assert eventually(lambda: not accepted(settings, before))
    assert accepted(settings, after) and accepted(settings, legacy)


def test_a_broken_key_file_keeps_the_last_good_keys(tmp_path: Path) -> None:
    """A half-written or invalid file is refused at start, and while running it leaves the
    keys that were loaded (nobody is locked out by a bad edit)."""
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [')
    with pytest.raises(ConfigError, match="JWT_KEYS_FILE"):
        settings_with(JWT_KEYS_FILE=str(path))
    jwks.write(path, [jwks.new_oct("a")])
    settings = settings_with(JWT_KEYS_FILE=str(path))
    token = issue_access(settings, 3)
    path.write_text("not json at all")
    time.sleep(1.2)  # past one reload check (not an assertion on time)
    assert verify_access(settings, token).user_id == 3


@pytest.mark.parametrize("make", [jwks.new_rsa, jwks.new_ec])
def test_asymmetric_key_pins_its_algorithm(tmp_path: Path, make: Callable[..., Any]) -> None:
    """A token naming an RS256/ES256 key's kid but signed HS256 with the public key as the
    secret (algorithm confusion) is refused; `alg: none` too."""
    key = make("asym")
    path = tmp_path / "keys.json"
    jwks.write(path, [key])
    settings = settings_with(JWT_KEYS_FILE=str(path), JWT_SIGNING_KID="asym")
    good = issue_access(settings, 8)
    assert verify_access(settings, good).user_id == 8
    claims = jwt.get_unverified_claims(good)
    public = json.dumps(jwks.public(key))
    forged = jwt.encode(claims, public, algorithm="HS256", headers={"kid": "asym"})
    assert not accepted(settings, forged)
    head, body, _ = good.split(".")
    none_header = base64url_encode(b'{"alg":"none","kid":"asym"}').decode()
    assert not accepted(settings, f"{none_header}.{body}.")
    assert not accepted(settings, f"{head}.{body}.AAAA")


def test_unknown_kid_is_refused(tmp_path: Path) -> None:
    """A kid that no configured key carries: refused (there is no fallback to JWT_SECRET)."""
    settings = load_settings(BASE)
    token = jwt.encode(
        jwt.get_unverified_claims(issue_access(settings, 1)),
        settings.jwt_secret,
        algorithm="HS256",
        headers={"kid": "who"},
    )
    assert not accepted(settings, token)


def test_roles_are_mapped_never_widened() -> None:
    """`watch-hub:admin` becomes admin through JWT_ROLE_MAP; unmapped service roles and
    unknown names are dropped; without a map nothing is mapped."""
    mapped = settings_with(JWT_ROLE_MAP="watch-hub:admin=admin, ads:manager=advertiser")
    roles = ["watch-hub:admin", "ads:manager", "ads:admin", "superuser", "viewer", "root:admin"]
    token = issue_access(mapped, 4, tuple(roles))
    assert verify_access(mapped, token).roles == {"admin", "advertiser", "viewer"}
    plain = load_settings(BASE)
    assert verify_access(plain, issue_access(plain, 4, tuple(roles))).roles == {"viewer"}
    with pytest.raises(ConfigError, match="JWT_ROLE_MAP"):
        settings_with(JWT_ROLE_MAP="watch-hub:admin=superuser")


def test_jwks_url_is_refetched_on_an_unknown_kid(spawn: Callable[..., Any]) -> None:
    """Tokens of another issuer verified through its JWKS URL (a real provider process):
    after it rotates, a token with the new kid is accepted (the keys are fetched again);
    its old kid keeps working while it is still published."""
    idp = spawn("devkit.servers.oidc:create_app", extra_args=["--factory"])
    settings = settings_with(JWT_JWKS_URL=f"{idp.url}/jwks", JWT_JWKS_REFRESH_MS="0")
    claims = jwt.get_unverified_claims(issue_access(settings, 11, ("watch-hub:admin",)))

    def mint() -> str:
        return str(httpx.post(f"{idp.url}/control/mint", json=claims).json()["token"])

    first = mint()
    assert verify_access(settings, first).user_id == 11
    httpx.post(f"{idp.url}/control/rotate")
    second = mint()
    assert jwt.get_unverified_header(second)["kid"] != jwt.get_unverified_header(first)["kid"]
    assert verify_access(settings, second).user_id == 11
    assert verify_access(settings, first).user_id == 11


def test_new_signing_key_command_makes_a_usable_key(
    spawn_cmd: Callable[..., Any], tmp_path: Path
) -> None:
    """`python -m api new-signing-key ec KID` (the runbook's step 1, also in the image)
    prints a private JWK that signs and verifies once it is in the key file."""
    proc = spawn_cmd(["python", "-m", "api", "new-signing-key", "ec", "2027-01"])
    assert proc.wait(60) == 0, proc.output_tail()
    key = json.loads(proc.stdout_text())
    assert (key["kid"], key["alg"], "d" in key) == ("2027-01", "ES256", True)
    path = tmp_path / "keys.json"
    jwks.write(path, [key])
    settings = settings_with(JWT_KEYS_FILE=str(path))
    token = issue_access(settings, 21)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "2027-01", "typ": "JWT"}
    assert verify_access(settings, token).user_id == 21
