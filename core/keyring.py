"""The keys that sign and verify access tokens, with `kid`s, so that they rotate without
logging anyone out (docs/operations.md, "Rotating the token signing keys").

Sources, all optional but the first:
- `JWT_SECRET`: HS256, for tokens without a `kid` (every token issued before keys had kids,
  and the signing key when no key file is configured);
- `JWT_KEYS_FILE`: a JWKS document of our own keys (`oct` for HS256, `RSA` for RS256, `EC`
  P-256 for ES256), private ones able to sign. It is read again when it changes (checked at
  most once per RELOAD_CHECK_S), so a running hub or api takes a new key without a restart
  and without dropping a connection. `JWT_SIGNING_KID` names the signing key; unset, the
  last key of the file that can sign does;
- `JWT_JWKS_URL`: public keys of another issuer (RS256/ES256), fetched on first use and
  again when a token names a `kid` they do not hold, at most once per
  `JWT_JWKS_REFRESH_MS` (default 30 s: forged kids cannot make us hammer the issuer) and
  within URL_TIMEOUT_S (the only blocking call of a verification, and a rare one).

Each key pins its algorithm from its key type: the token's `alg` header is only compared
with it, never obeyed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from typing import Any

import msgspec
from jose import jwk
from jose.backends.base import Key

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 1.0
URL_TIMEOUT_S = 2.0
MAX_JWKS_BYTES = 256 * 1024


class KeyringError(ValueError):
    """A key file or JWKS cannot be used; the message says why."""


class Entry(msgspec.Struct, frozen=True):
    kid: str
    alg: str  # the one algorithm this key verifies (and signs)
    verify: Key
    sign: Any = None  # the JWK dict jose signs with, for our own private keys


def _alg_of(raw: dict[str, Any]) -> str:
    kty, crv = raw.get("kty"), raw.get("crv")
    alg = {"oct": "HS256", "RSA": "RS256"}.get(str(kty))
    if kty == "EC":
        alg = "ES256" if crv == "P-256" else None
    if alg is None:
        raise KeyringError(f"key {raw.get('kid')!r}: unsupported key type {kty!r}")
    if raw.get("alg", alg) != alg:
        raise KeyringError(f"key {raw.get('kid')!r}: alg {raw.get('alg')!r} does not fit its kty")
    return alg


def entry_of(raw: Any, *, private_ok: bool) -> Entry:
    """One JWK as an Entry; `private_ok` False for keys from elsewhere (verify only)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str) or not raw["kid"]:
        raise KeyringError("every key needs a non-empty string kid")
    alg = _alg_of(raw)
    try:
        key = jwk.construct(raw, alg)
        has_private = alg == "HS256" or "d" in raw
        verify = key if alg == "HS256" else (key.public_key() if "d" in raw else key)
    except Exception as exc:  # noqa: BLE001 - jose raises many kinds for a bad key
        raise KeyringError(f"key {raw['kid']!r} is unreadable: {exc}") from None
    if alg == "HS256" and len(str(raw.get("k", ""))) < 43:  # 32 bytes, base64url
        raise KeyringError(f"key {raw['kid']!r}: an HS256 key needs at least 32 bytes")
    sign = raw if private_ok and has_private else None
    return Entry(raw["kid"], alg, verify, sign)


def parse_jwks(document: bytes, *, private_ok: bool) -> list[Entry]:
    try:
        keys = json.loads(document)["keys"]
    except (ValueError, KeyError, TypeError):
        raise KeyringError('not a JWKS document ({"keys": [...]})') from None
    if not isinstance(keys, list):
        raise KeyringError('not a JWKS document ({"keys": [...]})')
    entries = [entry_of(k, private_ok=private_ok) for k in keys if k.get("use", "sig") == "sig"]
    kids = [e.kid for e in entries]
    if len(set(kids)) != len(kids):
        raise KeyringError("two keys share a kid")
    return entries


class _FileKeys:
    """A key file, read again when its size or mtime changes. A file that turns bad keeps
    the last good keys (and logs), so that a half-written edit cannot lock everyone out."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries = parse_jwks(self._read(), private_ok=True)
        self._stamp = self._stat()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                return f.read(MAX_JWKS_BYTES + 1)
        except OSError as exc:
            raise KeyringError(f"cannot read {self.path}: {exc.strerror}") from None

    def _stat(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> list[Entry]:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_S:
            return self.entries
        with self._lock:
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                try:
                    self.entries = parse_jwks(self._read(), private_ok=True)
                    self._stamp = stamp
                    log.info("token keys reloaded from %s: %s", self.path, self.kids())
                except KeyringError as exc:
                    log.error("token keys in %s not reloaded: %s", self.path, exc)
        return self.entries

    def kids(self) -> list[str]:
        return [e.kid for e in self.entries]


class _UrlKeys:
    """Public keys at a JWKS URL; fetched again on an unknown kid, rate limited."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.entries: dict[str, Entry] = {}
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def find(self, kid: str, refresh_s: float) -> Entry | None:
        found = self.entries.get(kid)
        if found is not None:
            return found
        with self._lock:
            if time.monotonic() - self._fetched >= refresh_s:
                self._fetched = time.monotonic()
                try:
                    with urllib.request.urlopen(self.url, timeout=URL_TIMEOUT_S) as answer:
                        body = answer.read(MAX_JWKS_BYTES + 1)
                    self.entries = {e.kid: e for e in parse_jwks(body, private_ok=False)}
                except (OSError, KeyringError) as exc:
                    log.warning("JWKS %s not fetched: %s", self.url, exc)
        return self.entries.get(kid)


_FILES: dict[str, _FileKeys] = {}
_URLS: dict[str, _UrlKeys] = {}
_REGISTRY = threading.Lock()


def _file(path: str) -> _FileKeys:
    with _REGISTRY:
        found = _FILES.get(path)
        if found is None:
            found = _FILES[path] = _FileKeys(path)
        return found


def _url(url: str) -> _UrlKeys:
    with _REGISTRY:
        found = _URLS.get(url)
        if found is None:
            found = _URLS[url] = _UrlKeys(url)
        return found


def check_file(path: str, signing_kid: str) -> None:
    """Settings validation: the file reads, and the signing kid (if named) can sign."""
    entries = parse_jwks(_FileKeys(path)._read(), private_ok=True)
    if signing_kid and not any(e.kid == signing_kid and e.sign is not None for e in entries):
        raise KeyringError(f"JWT_SIGNING_KID {signing_kid!r} is not a signing key of {path}")


def find(kid: str, keys_file: str, jwks_url: str, refresh_s: float = 30.0) -> Entry | None:
    """The key named `kid`: our key file first, then the JWKS URL."""
    if keys_file:
        for entry in _file(keys_file).current():
            if entry.kid == kid:
                return entry
    if jwks_url:
        return _url(jwks_url).find(kid, refresh_s)
    return None


def signer(keys_file: str, signing_kid: str) -> Entry | None:
    """The key new tokens are signed with, or None (then JWT_SECRET, without a kid)."""
    if not keys_file:
        return None
    able = [e for e in _file(keys_file).current() if e.sign is not None]
    if signing_kid:
        able = [e for e in able if e.kid == signing_kid]
    return able[-1] if able else None
