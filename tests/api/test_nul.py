"""NUL characters, which PostgreSQL text cannot store, are a 400 at the edge, never a 500."""

from __future__ import annotations

import pytest

from core.web.decoding import _nul_path


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/auth/login", b'{"email":"a\\u0000@x.io","password":"pw"}', "email"),
        ("/api/auth/register", b'{"email":"a@x.io","password":"12345678\\u0000"}', "password"),
        ("/api/auth/refresh", b'{"refresh_token":"x\\u0000"}', "refresh_token"),
    ],
)
async def test_nul_in_body(client, path, body, field):
    r = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field


async def test_nul_in_admin_body(client, admin):
    body = b'{"title":"a","source_url":"https://x.io/v","duration_s":1,"tags":["ok","b\\u0000"]}'
    r = await client.post(
        "/api/admin/contents", content=body, headers={**admin, "content-type": "application/json"}
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "tags[1]")


async def test_nul_in_query(client):
    r = await client.get("/api/contents", params={"tag": "a\x00"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "tag")


def test_escaped_backslash_is_not_nul():
    """A literal backslash-u text is not a NUL; deep nesting does not exhaust the stack."""
    assert _nul_path({"a": "\\u0000"}) is None
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    node.append("x\x00")
    assert _nul_path(deep).startswith("$[0][0]")
