"""A real OpenID Connect / OAuth 2.0 provider on loopback, for the tests and the dev run:
`uvicorn --factory devkit.servers.oidc:create_app`.

It speaks the protocol the api's social login speaks to Google, Kakao (OpenID Connect) and
Naver (OAuth 2.0 plus a profile endpoint), signing its ID tokens RS256 with its own key,
published at /jwks:

- `GET /.well-known/openid-configuration`: discovery (the issuer is the URL it is reached at);
- `GET /authorize`: consents at once and redirects back with a single-use code, or with
  `error=access_denied`; with `OIDC_CONSENT=1` it shows a consent page first (Allow / Deny
  buttons, posted back to `/authorize`), for browser tests and the dev run to click. What the person "is" and how the provider misbehaves is chosen by
  query parameters a test appends to the authorize URL: `test_sub`, `test_email`,
  `test_email_verified` (1/0), `test_deny=1`, `test_nonce` (sign this nonce instead),
  `test_aud` (sign for another audience), `test_delay_s` (the token endpoint stalls);
- `POST /token`: the code once (a replay is `invalid_grant`), with PKCE S256 checked, the
  client's secret checked (`OIDC_CLIENT_SECRET`, default `test-secret`) and the redirect URI
  matched;
- `GET /userinfo` (OIDC) and `GET /v1/nid/me` (Naver's `{resultcode, message, response}`),
  with the access token the token endpoint handed out;
- `POST /control/mint` (a JSON object of claims): a JWT signed with the current key, for
  tests of access tokens verified through a JWKS URL; `POST /control/rotate`: a new current
  key, the old one still published (`?drop=1`: no longer);
- `GET /health`.

State lives in the process's memory: one provider process per test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import os
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_TTL_S = 60
ID_TOKEN_TTL_S = 300


class Provider:
    """The provider's keys, its outstanding codes and the access tokens it handed out."""

    def __init__(self, client_secret: str) -> None:
        self.published: list[dict[str, Any]] = []
        self.rotate()
        self.client_secret = client_secret
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}

    def rotate(self, *, drop: bool = False) -> None:
        """A new signing key; the previous one stays published unless `drop`."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = "oidc-" + secrets.token_hex(4)
        public = {**jwk.construct(public_pem, "RS256").to_dict(), "kid": self.kid, "use": "sig"}
        self.published = [public] if drop else [*self.published, public]

    def sign(self, claims: dict[str, Any]) -> str:
        token: str = jwt.encode(
            claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid}
        )
        return token


def _issuer(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


async def discovery(request: Request) -> JSONResponse:
    base = _issuer(request)
    return JSONResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


async def jwks(request: Request) -> JSONResponse:
    provider: Provider = request.app.state.provider
    return JSONResponse({"keys": provider.published})


async def mint(request: Request) -> JSONResponse:
    provider: Provider = request.app.state.provider
    claims = await request.json()
    return JSONResponse({"token": provider.sign(claims), "kid": provider.kid})


async def rotate(request: Request) -> JSONResponse:
    provider: Provider = request.app.state.provider
    provider.rotate(drop=request.query_params.get("drop") == "1")
    return JSONResponse({"kid": provider.kid})


def _consent_page(q: dict[str, str]) -> HTMLResponse:
    """The consent screen (OIDC_CONSENT=1): the authorize request's parameters in a form that
    posts them back with the person's answer."""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in q.items()
    )
    who = html.escape(q.get("test_email") or f"{q.get('test_sub') or 'user-1'}@example.com")
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Sign in - local"
        f" provider</title></head><body><main><h1>Local provider</h1><p>Sign in as {who} to"
        f" {html.escape(q.get('client_id', ''))}?</p><form method=post action=/authorize>"
        f"{fields}<button name=decision value=allow>Allow</button> "
        "<button name=decision value=deny>Deny</button></form></main></body></html>"
    )


async def authorize(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    q = dict(request.query_params)
    if request.method == "POST":  # the consent form's answer
        q = dict(parse_qsl((await request.body()).decode(errors="replace")))
        if q.pop("decision", "") != "allow":
            q["test_deny"] = "1"
    redirect_uri = q.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")) or not q.get("client_id"):
        return _oauth_error("invalid_request", "client_id and redirect_uri are required")
    if request.method == "GET" and request.app.state.consent:
        return _consent_page(q)
    back: dict[str, str] = {"state": q.get("state", "")}
    if q.get("test_deny") == "1":
        back |= {"error": "access_denied", "error_description": "the user denied consent"}
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", 302)
    if q.get("response_type") != "code":
        back |= {"error": "unsupported_response_type"}
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", 302)
    code = secrets.token_urlsafe(24)
    sub = q.get("test_sub") or "user-1"
    provider.codes[code] = {
        "client_id": q["client_id"],
        "redirect_uri": redirect_uri,
        "challenge": q.get("code_challenge", ""),
        "method": q.get("code_challenge_method", ""),
        "nonce": q.get("test_nonce") or q.get("nonce"),
        "aud": q.get("test_aud") or q["client_id"],
        "sub": sub,
        "email": q.get("test_email", f"{sub}@example.com"),
        "email_verified": q.get("test_email_verified", "1") == "1",
        "delay_s": float(q.get("test_delay_s") or 0),
        "scope": q.get("scope", ""),
        # Naver-style: the token request must carry the state back (no nonce, no openid)
        "naver": "openid" not in q.get("scope", "").split(),
        "state": q.get("state", ""),
        "expires": time.time() + CODE_TTL_S,
    }
    back["code"] = code
    return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", 302)


def _client_credentials(request: Request, form: Any) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        raw = base64.b64decode(header[6:]).decode()
        client_id, _, secret = raw.partition(":")
        return client_id, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


async def token(request: Request) -> Response:
    provider: Provider = request.app.state.provider
    # (parsed by hand: Starlette's form parser needs python-multipart)
    form = dict(parse_qsl((await request.body()).decode(errors="replace")))
    if form.get("grant_type") != "authorization_code":
        return _oauth_error("unsupported_grant_type", "only authorization_code")
    client_id, secret = _client_credentials(request, form)
    if secret != provider.client_secret:
        return _oauth_error("invalid_client", "bad client credentials", 401)
    grant = provider.codes.pop(str(form.get("code", "")), None)  # single use
    if grant is None or grant["expires"] < time.time():
        return _oauth_error("invalid_grant", "unknown, used or expired code")
    if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
        return _oauth_error("invalid_grant", "code issued to another client or redirect_uri")
    if grant["naver"] and form.get("state") != grant["state"]:
        return _oauth_error("invalid_request", "state is required (Naver)")
    if grant["challenge"]:
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant["method"] != "S256" or not secrets.compare_digest(expected, grant["challenge"]):
            return _oauth_error("invalid_grant", "PKCE verification failed")
    if grant["delay_s"]:
        await asyncio.sleep(grant["delay_s"])
    access = secrets.token_urlsafe(24)
    provider.access[access] = grant
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": secrets.token_urlsafe(24),
    }
    if "openid" in grant["scope"].split():
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": _issuer(request),
            "aud": grant["aud"],
            "sub": grant["sub"],
            "iat": now,
            "exp": now + ID_TOKEN_TTL_S,
            "email": grant["email"],
            "email_verified": grant["email_verified"],
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        answer["id_token"] = provider.sign(claims)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


def _bearer_grant(request: Request) -> dict[str, Any] | None:
    provider: Provider = request.app.state.provider
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return provider.access.get(value) if scheme.lower() == "bearer" else None


async def userinfo(request: Request) -> JSONResponse:
    grant = _bearer_grant(request)
    if grant is None:
        return _oauth_error("invalid_token", "unknown access token", 401)
    return JSONResponse(
        {"sub": grant["sub"], "email": grant["email"], "email_verified": grant["email_verified"]}
    )


async def naver_profile(request: Request) -> JSONResponse:
    grant = _bearer_grant(request)
    if grant is None:
        return JSONResponse({"resultcode": "024", "message": "Authentication failed"}, 401)
    return JSONResponse(
        {
            "resultcode": "00",
            "message": "success",
            "response": {"id": grant["sub"], "email": grant["email"], "nickname": "tester"},
        }
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo),
            Route("/v1/nid/me", naver_profile),
            Route("/control/mint", mint, methods=["POST"]),
            Route("/control/rotate", rotate, methods=["POST"]),
            Route("/health", health),
        ]
    )
    app.state.provider = Provider(os.environ.get("OIDC_CLIENT_SECRET", "test-secret"))
    app.state.consent = os.environ.get("OIDC_CONSENT") == "1"
    return app
