"""Routes that describe themselves: every api route is declared with `api_route`, which
keeps its request and response types, auth and error codes beside the handler, so the
OpenAPI document (`/openapi.json`) is generated from the same msgspec Structs that decode
and encode the wire, and can never list a route that does not exist or miss one that does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.routing import Route

# "optional": public, but a token may be sent (then it is checked: a bad one is a 401, and
# the per-user limit applies instead of the per-IP one).
Auth = Literal["none", "optional", "user", "admin", "advertiser"]


@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    summary: str
    auth: Auth
    body: Any = None  # a msgspec Struct type (request body), or None
    query: Any = None  # a msgspec Struct type whose fields are the query parameters
    response: Any = None  # the type of `data` in the success envelope (None: null)
    status: int = 200
    errors: Sequence[str] = ()  # error codes this route can answer, beyond the auth ones
    tags: Sequence[str] = ()
    headers: Sequence[str] = field(default=())  # request headers it reads (Idempotency-Key)
    # A Server-Sent Events stream instead of a JSON envelope: `response` is the type of each
    # event's data, and `stream` describes the events.
    stream: str = ""
    # A CSV file instead of a JSON envelope (`response` is `str`, the file's text): `csv`
    # describes its columns. Errors are still envelopes.
    csv: str = ""
    # A redirect the route may answer (302, 303) with a `Location`; when it equals `status`
    # it is the route's success answer (no envelope).
    redirect: int = 0


class ApiRoute(Route):
    """A Starlette Route carrying its `Spec`."""

    def __init__(self, spec: Spec, endpoint: Callable[..., Any]) -> None:
        super().__init__(spec.path, endpoint, methods=[spec.method])
        self.spec = spec


def api_route(
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    *,
    summary: str,
    auth: Auth = "user",
    body: Any = None,
    query: Any = None,
    response: Any = None,
    status: int = 200,
    errors: Sequence[str] = (),
    tags: Sequence[str] = (),
    headers: Sequence[str] = (),
    stream: str = "",
    csv: str = "",
    redirect: int = 0,
) -> ApiRoute:
    """Declare one api route. `path` uses Starlette converters (`{id:int}`)."""
    return ApiRoute(
        Spec(
            method.upper(),
            path,
            summary,
            auth,
            body,
            query,
            response,
            status,
            tuple(errors),
            tuple(tags),
            tuple(headers),
            stream,
            csv,
            redirect,
        ),
        endpoint,
    )
