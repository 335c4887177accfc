"""HTTP to a provider: discovery, its keys, the code exchange and Naver's profile.

The standard library's client on a worker thread: these calls are few (two or three per
sign-in), and httpx is only a test dependency here.

Every call is bounded by `OAUTH_TIMEOUT_MS`; a provider that is down, slow or answers
something that is not the protocol becomes `ProviderUnavailable` (502), and a refused code
`SignInFailed`. The discovery document and the JWKS are cached per process: the keys are
fetched again when an ID token names a `kid` the cache does not hold (the provider rotated),
at most once per MIN_REFRESH_S so that forged kids cannot make us hammer the provider.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import msgspec

from api.social import idtoken
from api.social.errors import ProviderUnavailable, SignInFailed
from api.social.flow import Pending
from core.providers import Provider

log = logging.getLogger(__name__)

MIN_REFRESH_S = 30.0
MAX_BODY = 256 * 1024


class Endpoints(msgspec.Struct, frozen=True):
    authorize: str
    token: str
    jwks: str
    profile: str


class _Keys(msgspec.Struct):
    keys: list[dict[str, Any]]
    fetched_at: float


class Providers:
    """The configured providers of one api process, with their cached documents."""

    def __init__(self, providers: tuple[Provider, ...], timeout_ms: int) -> None:
        self.by_name = {p.name: p for p in providers}
        self.timeout_s = timeout_ms / 1000
        self._endpoints: dict[str, Endpoints] = {}
        self._keys: dict[str, _Keys] = {}

    async def _get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        return await self._call("GET", url, headers=headers)

    def _fetch(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One blocking HTTP exchange (run on a thread): (status, body)."""
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return int(answer.status), answer.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:  # a status >= 400 still has its body
            with exc:
                return int(exc.code), exc.read(MAX_BODY + 1)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            # The whole exchange is bounded, not only each socket read; a call that runs
            # over is abandoned to its thread, which ends at its own socket timeout.
            status, raw = await asyncio.wait_for(
                asyncio.to_thread(self._fetch, method, url, data, sent), self.timeout_s
            )
        except (OSError, TimeoutError, ValueError) as exc:  # refused, reset, slow, bad URL
            log.warning("provider call failed: %s %s (%s)", method, url, type(exc).__name__)
            raise ProviderUnavailable(
                "the sign-in provider did not answer; try again in a moment"
            ) from None
        if status >= 500 or len(raw) > MAX_BODY:
            raise ProviderUnavailable("the sign-in provider is failing; try again in a moment")
        try:
            body = json.loads(raw)
        except ValueError:
            raise ProviderUnavailable(
                "the sign-in provider answered something unexpected"
            ) from None
        if status >= 400:
            log.info("provider refused %s %s: %s", method, url, str(body)[:200])
            raise SignInFailed(
                "the provider refused this sign-in (the link was used already or has"
                " expired); start again",
                details={"provider_error": body.get("error") if isinstance(body, dict) else None},
            )
        if not isinstance(body, dict):
            raise ProviderUnavailable("the sign-in provider answered something unexpected")
        return body

    async def endpoints(self, provider: Provider) -> Endpoints:
        """The provider's endpoints: configured ones win, the rest from discovery."""
        cached = self._endpoints.get(provider.name)
        if cached is not None:
            return cached
        found: dict[str, Any] = {}
        if provider.kind == "oidc" and not (
            provider.authorize_url and provider.token_url and provider.jwks_url
        ):
            found = await self._get_json(f"{provider.issuer}/.well-known/openid-configuration")
            if found.get("issuer") != provider.issuer:
                raise ProviderUnavailable("the provider's discovery names another issuer")
        endpoints = Endpoints(
            provider.authorize_url or str(found.get("authorization_endpoint", "")),
            provider.token_url or str(found.get("token_endpoint", "")),
            provider.jwks_url or str(found.get("jwks_uri", "")),
            provider.profile_url or str(found.get("userinfo_endpoint", "")),
        )
        if not (endpoints.authorize and endpoints.token):
            raise ProviderUnavailable("the provider's discovery lacks its endpoints")
        self._endpoints[provider.name] = endpoints
        return endpoints

    async def _jwks(self, provider: Provider, *, refresh: bool) -> list[dict[str, Any]]:
        cached = self._keys.get(provider.name)
        now = time.monotonic()
        if cached is not None and (not refresh or now - cached.fetched_at < MIN_REFRESH_S):
            return cached.keys
        url = (await self.endpoints(provider)).jwks
        keys = (await self._get_json(url)).get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise ProviderUnavailable("the provider's keys are unreadable")
        self._keys[provider.name] = _Keys(keys, now)
        return keys

    async def exchange(
        self, provider: Provider, code: str, state: str, pending: Pending
    ) -> dict[str, Any]:
        """Trade the code for the provider's tokens (with the PKCE verifier; Naver also
        wants the state back)."""
        endpoints = await self.endpoints(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": provider.redirect_url,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "code_verifier": pending.verifier,
        }
        if provider.kind == "naver":
            form["state"] = state
        answer: dict[str, Any] = await self._call("POST", endpoints.token, form=form)
        return answer

    async def identity(
        self, provider: Provider, tokens: dict[str, Any], pending: Pending
    ) -> idtoken.Claims:
        """Who signed in: the verified ID token (OpenID Connect) or Naver's profile."""
        if provider.kind == "oidc":
            raw = tokens.get("id_token")
            if not isinstance(raw, str):
                raise ProviderUnavailable("the provider answered without an ID token")
            check = {"issuer": provider.issuer, "client_id": provider.client_id}
            try:
                try:
                    keys = await self._jwks(provider, refresh=False)
                    return idtoken.verify(raw, keys, nonce=pending.nonce, **check)
                except idtoken.UnknownKey:
                    keys = await self._jwks(provider, refresh=True)
                    return idtoken.verify(raw, keys, nonce=pending.nonce, **check)
            except idtoken.IdTokenError as exc:
                log.warning("%s ID token refused: %s", provider.name, exc)
                raise SignInFailed(
                    f"the sign-in could not be verified ({exc}); start again"
                ) from None
        return await self._naver_profile(provider, tokens)

    async def _naver_profile(self, provider: Provider, tokens: dict[str, Any]) -> idtoken.Claims:
        access = tokens.get("access_token")
        if not isinstance(access, str):
            raise ProviderUnavailable("the provider answered without an access token")
        url = (await self.endpoints(provider)).profile
        body = await self._get_json(url, headers={"Authorization": f"Bearer {access}"})
        profile = body.get("response")
        if body.get("resultcode") != "00" or not isinstance(profile, dict):
            raise ProviderUnavailable("the provider's profile answer was not a success")
        subject = profile.get("id")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise ProviderUnavailable("the provider's profile has no id")
        email = profile.get("email")
        # Naver says nothing about verification: its emails are never taken as verified.
        return idtoken.Claims(subject, email if isinstance(email, str) and email else None, False)
