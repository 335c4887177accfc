"""The social login routes (docs/security.md, "Social login").

- `GET /api/auth/providers` (public): what a page's sign-in screen offers.
- `GET /api/auth/{provider}/start` redirects (302) the browser to the provider, with a fresh
  state (kept in Redis and in a cookie scoped to the callback), PKCE challenge and nonce.
  `?return_to=` picks the page the callback lands on among the OAUTH_RESULT_URL ones.
- `GET /api/auth/{provider}/callback` checks the state (single use, same browser), trades
  the code, verifies who it is, finds or makes the account (api/social/accounts.py) and signs
  in with our tokens, exactly as a password login does (a new refresh-token family). With
  `OAUTH_RESULT_URL` set (one page, or several comma-separated), it redirects (303) to the
  page the start chose with the tokens, or the error, in the URL fragment; without, it
  answers the JSON envelope.
- `POST /api/auth/{provider}/link` (signed in): the same dance, ending in a link of the
  identity to the caller's account.
- `GET /api/me/identities`, `DELETE /api/me/identities/{provider}`: list and unlink.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from urllib.parse import urlencode

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import auth
from api.access import anonymous, authenticate
from api.social import accounts, flow
from api.social.client import Providers
from api.social.errors import BadState, ConsentDenied
from core import user_events
from core.errors import DomainError, NotFound, Unavailable
from core.providers import NAMES, Provider
from core.web import client_ip, ok
from core.web.spec import api_route
from live import keys

log = logging.getLogger(__name__)


class Started(Struct, frozen=True):
    authorize_url: str  # send the browser here


class SignInProvider(Struct, frozen=True):
    name: str  # google | kakao | naver
    label: str  # the provider's own name, as its button shows it
    start_url: str  # send the browser here (GET): the provider, then back signed in


class SignInOptions(Struct, frozen=True):
    password: bool  # email + password sign-in (POST /api/auth/login)
    providers: list[SignInProvider]  # the social logins configured here, in a fixed order
    refresh_cookie: bool  # the refresh token also comes as an httpOnly cookie (REFRESH_COOKIE)


LABELS = {"google": "Google", "kakao": "Kakao", "naver": "NAVER"}


class Linked(Struct, frozen=True):
    provider: str
    email: str | None
    email_verified: bool
    created_at: datetime


class LinkedPage(Struct, frozen=True):
    items: list[Linked]
    next_cursor: str | None = None


def providers(request: Request) -> Providers:
    found: Providers = request.app.state.social
    return found


def _provider(request: Request) -> Provider:
    name = request.path_params["provider"]
    provider = providers(request).by_name.get(name)
    if provider is None:
        raise NotFound(f"sign-in with {name!r} is not configured here")
    return provider


def _set_state_cookie(response: Response, provider: Provider, state: str) -> None:
    # SameSite=Lax: the callback is a top-level navigation from the provider's site, which
    # a Strict cookie would not follow.
    response.set_cookie(
        flow.STATE_COOKIE,
        state,
        max_age=flow.STATE_TTL_S,
        path=f"/api/auth/{provider.name}/callback",
        secure=provider.redirect_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def _result_page(request: Request) -> str:
    """Where this sign-in's callback lands: `?return_to=` when it is exactly one of the
    OAUTH_RESULT_URL pages (never anywhere else: no open redirect), else the first."""
    pages = flow.result_pages(request.app.state.settings.oauth_result_url)
    asked = request.query_params.get("return_to", "")
    return asked if asked in pages else (pages[0] if pages else "")


async def _begin(request: Request, provider: Provider, link_user_id: int | None) -> tuple[str, str]:
    """(state, authorize URL) of a new sign-in in flight."""
    endpoint = (await providers(request).endpoints(provider)).authorize
    state, pending = flow.new_pending(provider.name, link_user_id, _result_page(request))
    await request.app.state.redis.set(
        keys.oauth_state(state), flow.ENCODER.encode(pending), ex=flow.STATE_TTL_S
    )
    return state, flow.authorize_url(provider, endpoint, state, pending)


async def sign_in_options(request: Request) -> Response:
    """How a page can sign in here: the buttons of its sign-in screen. Public: it names only
    what is configured, never a client id or a secret."""
    await anonymous(request)
    configured = providers(request).by_name
    items = [
        SignInProvider(name, LABELS.get(name, name), f"/api/auth/{name}/start")
        for name in NAMES
        if name in configured
    ]
    cookie = bool(request.app.state.settings.refresh_cookie)
    return ok(request, SignInOptions(True, items, cookie))


async def start_sign_in(request: Request) -> Response:
    await anonymous(request, auth_route=True)
    provider = _provider(request)
    state, url = await _begin(request, provider, None)
    response = RedirectResponse(url, 302)
    _set_state_cookie(response, provider, state)
    return response


async def link_provider(request: Request) -> Response:
    identity = await authenticate(request)
    provider = _provider(request)
    state, url = await _begin(request, provider, identity.user_id)
    response = ok(request, Started(url))
    _set_state_cookie(response, provider, state)
    return response


async def _take_state(request: Request, provider: Provider) -> flow.Pending:
    state = request.query_params.get("state", "")
    if not state or len(state) > 200:
        raise BadState("this sign-in link is incomplete; start again")
    if not flow.same_state(request.cookies.get(flow.STATE_COOKIE), state):
        raise BadState("this sign-in was not started in this browser; start again")
    raw = await request.app.state.redis.getdel(keys.oauth_state(state))
    if raw is None:
        raise BadState("this sign-in link was used already or has expired; start again")
    pending = flow.DECODER.decode(raw)
    if pending.result_url:
        request.state.result_url = pending.result_url
    if pending.provider != provider.name:
        raise BadState("this sign-in was started for another provider; start again")
    return pending


async def _sign_in(request: Request, provider: Provider) -> auth.Tokens:
    pending = await _take_state(request, provider)
    error = request.query_params.get("error")
    if error is not None:
        if error == "access_denied":
            raise ConsentDenied(f"you declined to sign in with {provider.name}")
        raise ConsentDenied(f"{provider.name} ended the sign-in ({error[:64]})")
    code = request.query_params.get("code", "")
    if not code or len(code) > 2048:
        raise BadState("this sign-in link carries no code; start again")
    state = request.query_params["state"]
    tokens = await providers(request).exchange(provider, code, state, pending)
    claims = await providers(request).identity(provider, tokens, pending)
    for attempt in (1, 2):
        try:
            async with request.app.state.sessions.begin() as session:
                user_id, roles, created = await accounts.resolve(
                    session, provider.name, claims, pending.link_user_id
                )
                refresh = await auth.new_refresh(session, user_id, uuid.uuid4().hex)
                await user_events.record(
                    session,
                    user_id,
                    user_events.LOGIN,
                    {"ip": client_ip(request), "provider": provider.name},
                )
                if "admin" in roles:
                    auth.audit_login(session, user_id, client_ip(request), provider.name)
            break
        except accounts.Raced:
            if attempt == 2:
                raise Unavailable("this sign-in collided with another one; try again") from None
    request.scope["user_id"] = user_id
    log.info(
        "%s sign-in of user %d%s",
        provider.name,
        user_id,
        " (new account)" if created else "",
        extra={"user_id": user_id},
    )
    return auth.tokens_for(request, user_id, roles, refresh)


def _to_page(base: str, values: dict[str, str | int]) -> RedirectResponse:
    # The fragment never reaches a server (nor a Referer, nor an access log).
    response = RedirectResponse(f"{base}#{urlencode(values)}", 303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def sign_in_callback(request: Request) -> Response:
    await anonymous(request, auth_route=True)
    provider = _provider(request)
    pages = flow.result_pages(request.app.state.settings.oauth_result_url)
    response: Response
    try:
        tokens = await _sign_in(request, provider)
    except DomainError as exc:
        if not pages:
            raise
        page = getattr(request.state, "result_url", "") or pages[0]
        response = _to_page(page, {"error": exc.code, "message": exc.message})
    else:
        page = getattr(request.state, "result_url", "") or (pages[0] if pages else "")
        cookie = request.app.state.settings.refresh_cookie
        if page:
            handed: dict[str, str | int] = {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "user_id": tokens.user_id,
                "provider": provider.name,
            }
            if not cookie:  # else the refresh token travels only in its httpOnly cookie
                handed["refresh_token"] = tokens.refresh_token
            response = _to_page(page, handed)
        else:
            response = ok(request, tokens, headers={"Cache-Control": "no-store"})
        auth.hand_refresh(request, response, tokens.refresh_token)
    response.delete_cookie(flow.STATE_COOKIE, path=f"/api/auth/{provider.name}/callback")
    return response


async def list_identities(request: Request) -> Response:
    identity = await authenticate(request)
    async with request.app.state.sessions() as session:
        rows = await accounts.identities(session, identity.user_id)
    items = [Linked(r.provider, r.email, r.email_verified, r.created_at) for r in rows]
    return ok(request, LinkedPage(items))


async def unlink_provider(request: Request) -> Response:
    identity = await authenticate(request)
    name = request.path_params["provider"]
    async with request.app.state.sessions.begin() as session:
        await accounts.unlink(session, identity.user_id, name)
    return ok(request, None)


TAGS = ("auth",)
SIGN_IN_ERRORS = [
    "bad_state",
    "consent_denied",
    "sign_in_failed",
    "provider_unavailable",
    "account_exists",
    "conflict",
]
routes = [
    api_route(
        "GET",
        "/api/auth/providers",
        sign_in_options,
        summary="How a page can sign in: password, and the social logins configured here",
        auth="none",
        response=SignInOptions,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/auth/{provider}/start",
        start_sign_in,
        summary="Social login: redirect to the provider (state, PKCE, nonce)",
        auth="none",
        status=302,
        redirect=302,
        errors=["provider_unavailable"],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/auth/{provider}/callback",
        sign_in_callback,
        summary="Social login: the provider's redirect back; signs in (tokens)",
        auth="none",
        response=auth.Tokens,
        redirect=303,
        errors=SIGN_IN_ERRORS,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/auth/{provider}/link",
        link_provider,
        summary="Link a provider to the signed-in account: where to send the browser",
        response=Started,
        errors=["provider_unavailable"],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/me/identities",
        list_identities,
        summary="The providers linked to my account",
        response=LinkedPage,
        tags=("me",),
    ),
    api_route(
        "DELETE",
        "/api/me/identities/{provider}",
        unlink_provider,
        summary="Unlink a provider (never the last way to sign in)",
        errors=["conflict"],
        tags=("me",),
    ),
]
