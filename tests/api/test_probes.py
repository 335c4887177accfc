"""The api as a real uvicorn process: probes, metrics, request ids, 404 envelope."""

from __future__ import annotations

import httpx

from devkit.servers import free_port


async def test_health_and_ready(spawn):
    """/health answers {"status": "ok"}; /ready answers 200 when Redis and PostgreSQL do."""
    api = spawn("api.app:app")
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        r = await http.get("/health")
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
        r = await http.get("/ready")
        assert r.status_code == 200
        assert r.json()["checks"] == {"redis": "ok", "postgresql": "ok"}


async def test_ready_503_names_redis_when_down(spawn):
    """With Redis unreachable the process still starts, /health is 200 and /ready is 503
    naming redis (and only redis)."""
    api = spawn("api.app:app", env_overrides={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
        r = await http.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["down"] == ["redis"]
    assert body["checks"]["postgresql"] == "ok"


async def test_ready_503_names_postgresql_when_down(spawn):
    """With PostgreSQL unreachable /ready is 503 naming postgresql."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/watch"
    api = spawn("api.app:app", env_overrides={"DATABASE_URL": url})
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        r = await http.get("/ready")
    assert r.status_code == 503
    assert r.json()["down"] == ["postgresql"]


async def test_routes_answer_503_while_postgresql_is_unreachable(spawn, token):
    """A route that needs PostgreSQL answers 503 `unavailable` with Retry-After (not a 500
    with a traceback per request) while PostgreSQL refuses connections."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/watch"
    api = spawn("api.app:app", env_overrides={"DATABASE_URL": url})
    headers = {"Authorization": f"Bearer {token(5)}", "X-Request-ID": "pg-down-1"}
    async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
        for path in ("/api/contents/1", "/api/coin-transactions"):
            r = await http.get(path, headers=headers)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["retry-after"] == "1"
            error = r.json()["error"]
            assert (error["code"], error["traceId"]) == ("unavailable", "pg-down-1")
    assert "Traceback" not in api.output_tail(400)


async def test_request_id_and_not_found_envelope(spawn):
    """Over real HTTP a given X-Request-ID is echoed and is the traceId of a 404 envelope;
    a 405 is an envelope too."""
    api = spawn("api.app:app")
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        r = await http.get("/api/nope", headers={"X-Request-ID": "trace-me-1"})
        assert r.status_code == 404
        assert r.headers["x-request-id"] == "trace-me-1"
        assert r.json() == {
            "success": False,
            "data": None,
            "error": {
                "code": "not_found",
                "message": "not found",
                "details": None,
                "traceId": "trace-me-1",
            },
        }
        r = await http.get("/api/auth/login")  # POST only
        assert (r.status_code, r.json()["error"]["code"]) == (405, "method_not_allowed")
        assert r.json()["error"]["traceId"] == r.headers["x-request-id"]


async def test_metrics_count_requests_by_route_template(spawn, token):
    """/metrics exposes http_requests_total by route template and status, and the latency
    histogram."""
    api = spawn("api.app:app")
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
        await http.patch("/api/admin/contents/12345", json={}, headers=admin)
        await http.get("/no/such/path")
        text = (await http.get("/metrics")).text
    assert (
        'http_requests_total{method="PATCH",route="/api/admin/contents/{id}",status="404"} 1.0'
        in text
    )
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
