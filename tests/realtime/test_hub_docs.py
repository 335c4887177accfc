"""The hub describes its own HTTP routes: `/openapi.json` (the fallback's two routes, with
their bodies, replies and error codes, and the two event streams), `/docs` and `/redoc`, rendered from packaged files
(no network)."""

from __future__ import annotations

import re


async def test_the_hub_serves_its_openapi_document_and_both_renderers(hub, http) -> None:  # type: ignore[no-untyped-def]
    h = hub().wait_healthy()
    doc = (await http.get(f"{h.url}/openapi.json")).json()
    assert doc["openapi"] == "3.1.0" and "hub" in doc["info"]["title"]
    ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert set(ops) == {
        ("post", "/api/service/timer-session"),
        ("post", "/api/service/out-event"),
        ("get", "/sse/contents/{content_id}/viewers"),
        ("get", "/sse/live"),
    }
    live = ops[("get", "/sse/live")]["responses"]["200"]["content"]["text/event-stream"]
    assert live["x-data"]["$ref"].endswith("/LiveEvent")
    timer = ops[("post", "/api/service/timer-session")]
    assert timer["operationId"] == "timerSession"
    assert {"409", "429", "503"} <= set(timer["responses"])
    body = timer["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/TimerBody")
    assert "TimerReply" in doc["components"]["schemas"]
    for page, asset in (("/docs", "/docs/static/swagger-ui-bundle.js"), ("/redoc", None)):
        r = await http.get(f"{h.url}{page}")
        assert r.status_code == 200 and "/openapi.json" in r.text
        src = asset or re.search(r'src="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
        assert (await http.get(f"{h.url}{src}")).status_code == 200, src
