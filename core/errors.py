"""Domain errors. Raised in domain code; turned into an HTTP status (REST envelope) or a
WebSocket `error` frame at the edge, in one place each (core.web, realtime.connection)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a stable wire code."""

    code = "internal"
    status = 500

    def __init__(self, message: str = "", *, details: Any = None, **extra: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code.replace("_", " ")
        self.details = details
        self.extra = extra  # fields added to the WebSocket error frame (e.g. active_content_id)


class BadRequest(DomainError):
    code, status = "bad_request", 400


class Unauthorized(DomainError):
    code, status = "unauthorized", 401


class TokenExpiredError(DomainError):
    code, status = "token_expired", 401


class Forbidden(DomainError):
    code, status = "forbidden", 403


class NotFound(DomainError):
    code, status = "not_found", 404


class ContentUnavailable(DomainError):
    code, status = "content_unavailable", 404


class NoSession(DomainError):
    code, status = "no_session", 404


class SessionConflict(DomainError):
    code, status = "session_conflict", 409


class Conflict(DomainError):
    code, status = "conflict", 409


class RateLimited(DomainError):
    code, status = "rate_limited", 429

    def __init__(self, message: str = "", *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unavailable(DomainError):
    code, status = "unavailable", 503


class Internal(DomainError):
    code, status = "internal", 500


class NoBoxAvailable(DomainError):
    """Every box the user has earned so far is already open."""

    code, status = "no_box_available", 409


class NoGoldBox(DomainError):
    """The user holds no unopened gold box."""

    code, status = "no_gold_box", 409


class NotComplete(DomainError):
    """A mission's reward was claimed before its target was reached in this window."""

    code, status = "not_complete", 409


class AlreadyClaimed(DomainError):
    """A mission's reward for this window was paid already."""

    code, status = "already_claimed", 409
