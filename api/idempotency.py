"""The `Idempotency-Key` request header of the money routes (box open, wallet charge): a
retried request with the same key answers the first result instead of acting again.

A key is 1-200 printable ASCII characters, chosen by the client (a UUID is typical) and
scoped to the caller: two users' equal keys never meet. The first result is stored with
the key in the same transaction as the effect, so "acted" and "remembered" cannot diverge.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from core.errors import BadRequest

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"  # "true" on an answer that repeats the first result
_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def idempotency_key(request: Request, *, required: bool) -> str | None:
    """The request's key, None when absent and not required; BadRequest naming the header
    when it is malformed, or absent and required."""
    value = request.headers.get(HEADER)
    if value is None:
        if required:
            raise BadRequest(
                f"the {HEADER} header is required", details={"field": HEADER, "reason": "missing"}
            )
        return None
    if _KEY.fullmatch(value) is None:
        raise BadRequest(
            f"{HEADER} must be 1-200 printable ASCII characters",
            details={"field": HEADER, "reason": "malformed"},
        )
    return value


def replay_headers(replayed: bool) -> dict[str, str]:
    return {REPLAYED_HEADER: "true" if replayed else "false"}
