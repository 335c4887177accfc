"""The refusals of social login. Each ends the sign-in with a clear message; none leaves an
account behind, since the database is written only after every check has passed."""

from __future__ import annotations

from core.errors import DomainError


class ConsentDenied(DomainError):
    """The person declined at the provider (or the provider answered with an error)."""

    code, status = "consent_denied", 403


class BadState(DomainError):
    """The callback's `state` is unknown, used, expired, or from another browser."""

    code, status = "bad_state", 400


class SignInFailed(DomainError):
    """The provider refused the code (replayed, expired) or its answer did not verify
    (signature, issuer, audience, expiry, nonce)."""

    code, status = "sign_in_failed", 400


class ProviderUnavailable(DomainError):
    """The provider is down, slow past OAUTH_TIMEOUT_MS, or answered nonsense."""

    code, status = "provider_unavailable", 502


class AccountExists(DomainError):
    """A verified email of the new identity belongs to an account already: linking needs
    the person to prove that account first (sign in, then link)."""

    code, status = "account_exists", 409
