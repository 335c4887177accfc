"""The OpenAPI document and the offline docs UI, and the authorization table that walks the
document: every protected route refuses no token (401), every admin route a viewer (403)."""

from __future__ import annotations

import re
import typing

import pytest
from starlette.routing import Route

from api.app import create_app
from core.web.openapi import build_document, error_statuses
from core.web.spec import ApiRoute, api_route


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


async def _handler(request):  # pragma: no cover - never called
    raise AssertionError


def test_every_api_route_is_documented():
    """Each ApiRoute of the app appears once in the document with its method and path;
    plain routes (probes) do not."""
    app = create_app()
    doc = build_document(app.routes, "api")
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for m, p, _ in _operations(doc)}
    declared = {
        (r.spec.method, re.sub(r"{(\w+):\w+}", r"{\1}", r.spec.path))
        for r in app.routes
        if isinstance(r, ApiRoute)
    }
    assert documented == declared
    assert not any(p.startswith(("/health", "/ready", "/metrics")) for _, p in documented)
    plain = [r for r in app.routes if isinstance(r, Route) and not isinstance(r, ApiRoute)]
    assert all(not r.path.startswith("/api/") for r in plain), [r.path for r in plain]


def test_error_responses_follow_the_route_kind():
    """Authenticated routes list 401/403/429, routes with a body 400 and 413, routes with a
    path id 404, and each error response names its codes."""
    doc = build_document(create_app().routes, "api")
    for method, path, op in _operations(doc):
        responses = op["responses"]
        assert {"403", "429", "503"} <= set(responses), (method, path)
        if op["x-auth"] != "none":
            assert "401" in responses
        if "requestBody" in op:
            assert {"400", "413"} <= set(responses)
        if "{" in path:
            assert "404" in responses
            assert any(p["in"] == "path" for p in op["parameters"])
        for status, response in responses.items():
            if int(status) >= 400:
                codes = response["content"]["application/json"]["schema"]["properties"]["error"][
                    "properties"
                ]["code"]["enum"]
                assert all(error_statuses()[c] == int(status) for c in codes)


def test_unknown_error_code_is_refused():
    """A route declaring an error code that no DomainError has fails at document build."""
    route = api_route("GET", "/api/x", _handler, summary="x", errors=["no_such_code"])
    with pytest.raises(ValueError, match="no_such_code"):
        build_document([route], "api")


def test_query_parameters_come_from_the_query_struct():
    """A query Struct's fields become query parameters, optional ones without null."""
    from api.pages import PageQuery

    route = api_route("GET", "/api/x", _handler, summary="x", query=PageQuery)
    op = build_document([route], "api")["paths"]["/api/x"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
        "description": "page size, 1-100",
    }
    assert params["cursor"]["schema"]["type"] == "string"
    assert not params["cursor"]["required"]


async def test_openapi_json_served(client):
    """/openapi.json answers the document as JSON, with the bearer scheme."""
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/api/admin/contents" in doc["paths"]


async def test_docs_render_offline(client):
    """/docs is an HTML page whose scripts and styles all come from this server, and the
    Swagger UI bundle (5.x, for OpenAPI 3.1) is served from the package."""
    r = await client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(ref.startswith("/docs/static/") for ref in refs), refs
    assert "validatorUrl: null" in r.text
    for ref in refs:
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert re.search(rb'"5\.\d+\.\d+"', bundle.content)


def _fill(path):
    return re.sub(r"{\w+}", "1", path)


async def test_protected_routes_refuse_no_token(client):
    """Every documented route with a security requirement answers 401 without a token."""
    doc = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path, op in _operations(doc):
        if op["x-auth"] in ("none", "optional"):
            assert op["x-auth"] == "optional" or not op.get("security"), (method, path)
            continue
        r = await client.request(method, _fill(path))
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized"), (method, path)
        checked += 1
    assert checked


async def test_admin_routes_refuse_a_viewer(client, auth):
    """Every documented admin route answers 403 to a valid viewer token."""
    doc = (await client.get("/openapi.json")).json()
    viewer = auth(7, ("viewer",))
    checked = 0
    for method, path, op in _operations(doc):
        assert (op.get("x-auth") == "admin") == path.startswith("/api/admin/"), (method, path)
        if op.get("x-auth") != "admin":
            continue
        r = await client.request(method, _fill(path), headers=viewer)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), (method, path)
        checked += 1
    assert checked >= 8


def test_operation_ids_read_like_names_and_are_unique() -> None:
    doc = build_document(create_app().routes, "api")
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", i) for i in ids), ids
    assert "listContents" in ids


async def test_redoc_renders_from_packaged_files(client) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/redoc")
    assert page.status_code == 200 and 'spec-url="/openapi.json"' in page.text
    script = await client.get("/redoc/static/redoc.standalone.js")
    assert script.status_code == 200 and len(script.content) > 100_000


def _apps():  # type: ignore[no-untyped-def]
    from api.app import EXAMPLES as API_EXAMPLES
    from realtime.app import EXAMPLES as HUB_EXAMPLES
    from realtime.app import create_app as create_hub

    return [
        ("api", create_app().routes, API_EXAMPLES),
        ("hub", create_hub().starlette.routes, HUB_EXAMPLES),
    ]


# Their success needs an outside party's step in a browser, which the samples run cannot
# give: a provider's consent (tests/api/test_social_login.py runs the dance whole against the
# stand-in provider) or the gateway's checkout and signature (tests/api/test_payments.py).
NO_SAMPLE_SUCCESS = {
    "startSignIn",
    "signInCallback",
    "linkProvider",
    "unlinkProvider",
    "confirmCharge",
    "paymentWebhook",
}


@pytest.mark.parametrize("name", ["api", "hub"])
def test_every_operation_has_a_real_example_that_decodes_as_its_types(name: str) -> None:
    """Each operation of the document shows a success `data` (and its request body, when
    it takes one) recorded from a live stack; each still decodes as the route's types, so a
    changed Struct cannot leave a stale example. Re-record with
    `RECORD_EXAMPLES=1 bash scripts/test.sh tests/test_http_samples.py`."""
    import msgspec

    from core.web.openapi import load_examples, operation_id

    [(_, routes, path)] = [a for a in _apps() if a[0] == name]
    examples = load_examples(path)
    doc = build_document(routes, name, examples)
    problems = []
    for route in routes:
        if not isinstance(route, ApiRoute):
            continue
        spec, op_id = route.spec, operation_id(route)
        if op_id in NO_SAMPLE_SUCCESS:
            continue
        example = examples.get(op_id)
        if example is None or "response" not in example:
            problems.append(f"{op_id}: no recorded success")
            continue
        wanted = [("response", spec.response)]
        if spec.body is not None:
            optional = type(None) in typing.get_args(spec.body)
            if "request" in example or not optional:
                wanted.append(("request", spec.body))
        for part, type_ in wanted:
            if part not in example:
                problems.append(f"{op_id}: no recorded {part}")
                continue
            try:
                msgspec.json.decode(msgspec.json.encode(example[part]), type=type_ or None)
            except msgspec.ValidationError as exc:
                problems.append(f"{op_id}: the recorded {part} no longer decodes: {exc}")
    assert problems == []
    for method, path, op in _operations(doc):
        if op["operationId"] in NO_SAMPLE_SUCCESS:
            continue
        success = next(v for k, v in op["responses"].items() if k.startswith("2"))
        [media] = success["content"].values()
        assert "example" in media, (method, path)
