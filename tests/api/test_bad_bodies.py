"""Every route that takes a JSON body answers the shapes that once made 500s with 400
`bad_request`: invalid UTF-8 inside a string, arrays nested 1,000 deep, and a truncated
document. The routes come from the api's own OpenAPI document, so a new route is covered
the day it lands; the hub's two fallback routes are checked against a real hub."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

BAD_BODIES = {
    "invalid UTF-8 in a string": b'{"title": "\xff\xfe", "tab_id": "\xff"}',
    "nested 1,000 deep": b"[" * 1000 + b"]" * 1000,
    "nested objects 1,000 deep": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "truncated": b'{"title": "a',
}
JSON = {"content-type": "application/json"}


def _body_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    routes = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch") and "requestBody" in op:
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return routes


async def test_every_api_body_route_answers_400(client: Any, token: Any) -> None:
    """With a token that may call every route (admin, advertiser, viewer), each bad body on
    each body route is a 400 bad_request in the envelope (a 404 for a path id that does not
    exist is a clear answer too); never a 500."""
    spec = (await client.get("/openapi.json")).json()
    routes = _body_routes(spec)
    assert len(routes) >= 15, routes  # the document lists them: the check is not vacuous
    answered_400 = 0
    for n, (method, path) in enumerate(routes):
        # One caller per route: the per-user limits (60 admin calls a minute) never bite.
        roles = ("admin", "advertiser", "viewer")
        headers = {"Authorization": f"Bearer {token(1000 + n, roles=roles)}"}
        for name, body in BAD_BODIES.items():
            r = await client.request(method, path, content=body, headers={**headers, **JSON})
            assert r.status_code in (400, 404, 409), (method, path, name, r.status_code, r.text)
            error = r.json()["error"]
            if r.status_code == 400:
                answered_400 += 1
                assert error["code"] == "bad_request", (method, path, name, error)
    assert answered_400 >= len(routes) * len(BAD_BODIES) // 2


@pytest.mark.parametrize("path", ["/api/service/timer-session", "/api/service/out-event"])
async def test_the_hub_fallback_answers_400(spawn: Any, token: Any, path: str) -> None:
    """Any viewer can send these to the hub: each is a 400 bad_request, and the hub stays up."""
    hub = spawn("realtime.app:app")
    headers = {"Authorization": f"Bearer {token(5)}", **JSON}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for name, body in BAD_BODIES.items():
            r = await http.post(path, content=body, headers=headers)
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"]["code"] == "bad_request", (name, r.text)
        assert (await http.get("/health")).status_code == 200
