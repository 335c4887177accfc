"""The OpenAPI 3.1 document (`/openapi.json`) of an app (the api, the hub), generated from the
routes declared with `core.web.spec.api_route`; `/docs` (Swagger UI) and `/redoc` (ReDoc)
render it from the `openapi-ui-bundles` package's static files (no CDN: they work with no
network access).

Every operation lists its success envelope, and one error response per HTTP status it can
answer, with the codes of that status as an enum: those the route declares, plus the ones
every route shares (403 blocked IP, 429 rate limited, 503 over the concurrency cap), 401 and
403 for authenticated routes, 400 for routes that take a body or query parameters (and 413
for bodies), 404 for routes with path parameters.

Examples are real: each app keeps a JSON file, by operationId, of a request body and a
success `data` recorded from a live stack running the samples in `http/`
(`RECORD_EXAMPLES=1 bash scripts/test.sh tests/test_http_samples.py`); the document shows
them on the request body and the success response. tests/api/test_openapi.py fails when an
operation has none or when one no longer decodes as its route's types.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import orjson
from openapi_ui_bundles import redoc, swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from core.errors import DomainError
from core.web.spec import ApiRoute, Spec

VERSION = "1"
REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
_CONVERTORS = {
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string"},
    "path": {"type": "string"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}
# Codes that Starlette or the edge answer by themselves (core.web.HTTP_CODES).
_EDGE_CODES = {"payload_too_large": 413, "method_not_allowed": 405, "not_found": 404}


def error_statuses() -> dict[str, int]:
    """code -> HTTP status, from every DomainError subclass imported so far."""
    out = dict(_EDGE_CODES)
    todo: list[type[DomainError]] = [DomainError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        out.setdefault(cls.code, cls.status)
    return out


def _codes(spec: Spec) -> list[str]:
    codes = ["forbidden", "rate_limited", "unavailable"]  # blocked IP, limits, concurrency cap
    if spec.auth != "none":  # "optional" too: a token that is sent is checked
        codes += ["unauthorized", "token_expired"]
    if spec.body is not None or spec.query is not None:
        codes.append("bad_request")
    if spec.body is not None:
        codes.append("payload_too_large")
    if _PARAM.search(spec.path):
        codes.append("not_found")
    codes += spec.errors
    return list(dict.fromkeys(codes))


def _error_envelope() -> dict[str, Any]:
    return {
        "ErrorBody": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "traceId": {"type": ["string", "null"]},
            },
            "required": ["code", "message", "details", "traceId"],
        },
        "ErrorEnvelope": {
            "type": "object",
            "properties": {
                "success": {"const": False},
                "data": {"type": "null"},
                "error": {"$ref": REF.format(name="ErrorBody")},
            },
            "required": ["success", "data", "error"],
        },
    }


_HEADERS = {
    "X-Request-ID": {
        "description": "the request's X-Request-ID when valid, else a generated id; equals traceId",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "seconds until the limit resets",
        "schema": {"type": "integer", "minimum": 1},
    },
}
_REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}


def _error_response(codes: list[str], status: int) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-ID": _REQUEST_ID}
    if status == 429:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return {
        "description": "error: " + ", ".join(codes),
        "headers": headers,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [{"$ref": REF.format(name="ErrorEnvelope")}],
                    "properties": {"error": {"properties": {"code": {"enum": codes}}}},
                }
            }
        },
    }


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    required = set(schema.get("required", ()))
    for name, declared in schema.get("properties", {}).items():
        prop = dict(declared)
        # `x: T | None = None` is "absent" on a query string, never a literal null.
        options = prop.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del prop["anyOf"]
            prop.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        if prop.get("default", 0) is None:
            del prop["default"]
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


def _api_routes(routes: Iterable[BaseRoute]) -> list[ApiRoute]:
    found: list[ApiRoute] = []
    for route in routes:
        if isinstance(route, ApiRoute):
            found.append(route)
        elif isinstance(route, Mount) and route.routes:
            found.extend(_api_routes(route.routes))
    return found


def operation_id(route: ApiRoute) -> str:
    """The handler's name in camelCase (`list_contents` -> `listContents`)."""
    head, *rest = route.endpoint.__name__.strip("_").split("_")
    return head + "".join(word.capitalize() for word in rest)


def load_examples(path: Path | None) -> dict[str, dict[str, Any]]:
    """operationId -> {"request": body, "response": data} from an examples file (none: {})."""
    if path is None or not path.exists():
        return {}
    return dict(orjson.loads(path.read_bytes()))


def build_document(
    routes: Iterable[BaseRoute],
    title: str,
    examples: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ApiRoute among `routes`, with the `examples` of
    their operations (operationId -> {"request": body, "response": data})."""
    examples = examples or {}
    found = _api_routes(routes)
    specs = [route.spec for route in found]
    ids = [operation_id(route) for route in found]
    twice = {i for i in ids if ids.count(i) > 1}
    if twice:
        raise ValueError(f"operationIds not unique (rename the handlers): {sorted(twice)}")
    types: list[Any] = []
    for spec in specs:
        types += [spec.body, spec.query, spec.response]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    statuses = error_statuses()
    paths: dict[str, dict[str, Any]] = {}
    for i, spec in enumerate(specs):
        body, query, data = schemas[3 * i : 3 * i + 3]
        path = _PARAM.sub(r"{\1}", spec.path)
        params: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _CONVERTORS.get(conv or "str", {"type": "string"}),
            }
            for name, conv in _PARAM.findall(spec.path)
        ]
        if spec.query is not None:  # a Struct: its properties are the query parameters
            params += _query_parameters(components[query["$ref"].rsplit("/", 1)[-1]])
        for header in spec.headers:
            params.append(
                {
                    "name": header,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                }
            )
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": ids[i],
            "tags": list(spec.tags) or [_default_tag(path)],
            "responses": {
                str(spec.status): {
                    "description": "success",
                    "headers": {"X-Request-ID": _REQUEST_ID},
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"success": {"const": True}, "data": data},
                                "required": ["success", "data"],
                            }
                        }
                    },
                }
            },
        }
        example = examples.get(ids[i], {})
        if "response" in example:
            media = op["responses"][str(spec.status)]["content"]["application/json"]
            media["example"] = {"success": True, "data": example["response"]}
        if spec.stream:
            stream: dict[str, Any] = {"schema": {"type": "string"}, "x-data": data}
            if "response" in example:
                stream["example"] = "data: " + orjson.dumps(example["response"]).decode() + "\n\n"
            op["responses"][str(spec.status)] = {
                "description": spec.stream,
                "content": {"text/event-stream": stream},
            }
        if spec.csv:
            table: dict[str, Any] = {"schema": {"type": "string"}}
            if "response" in example:
                table["example"] = example["response"]
            op["responses"][str(spec.status)] = {
                "description": spec.csv,
                "headers": {"X-Request-ID": _REQUEST_ID},
                "content": {"text/csv": table},
            }
        if spec.redirect:
            if spec.redirect == spec.status:
                del op["responses"][str(spec.status)]
            op["responses"][str(spec.redirect)] = {
                "description": "redirect to the `Location`",
                "headers": {
                    "X-Request-ID": _REQUEST_ID,
                    "Location": {"schema": {"type": "string"}, "required": True},
                },
            }
        if params:
            op["parameters"] = params
        if spec.body is not None:
            # `Body | None`: the body may be left out
            optional = type(None) in typing.get_args(spec.body)
            media = {"schema": body}
            if "request" in example:
                media["example"] = example["request"]
            op["requestBody"] = {"required": not optional, "content": {"application/json": media}}
        if spec.auth == "optional":
            op["security"] = [{}, {"bearer": []}]
        elif spec.auth != "none":
            op["security"] = [{"bearer": []}]
            if spec.auth != "user":
                op["description"] = f"requires role `{spec.auth}`"
        by_status: dict[int, list[str]] = {}
        for code in _codes(spec):
            if code not in statuses:
                raise ValueError(f"{spec.method} {spec.path}: unknown error code {code!r}")
            by_status.setdefault(statuses[code], []).append(code)
        for status in sorted(by_status):
            op["responses"][str(status)] = _error_response(by_status[status], status)
        op["x-auth"] = spec.auth
        paths.setdefault(path, {})[spec.method.lower()] = op
    components.update(_error_envelope())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": VERSION,
            "description": "Envelope: `{success, data}` or `{success: false, data: null, "
            "error: {code, message, details, traceId}}`. Lists are "
            "cursor-paginated (`limit`, `cursor` -> `{items, next_cursor}`).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": _HEADERS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _default_tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    return parts[1] if len(parts) > 1 else "api"


def routes(title: str, examples: Path | None = None) -> list[BaseRoute]:
    """`/openapi.json`, `/docs` and `/redoc` for an app named `title`, with the examples of
    the file `examples` (see `load_examples`)."""

    async def openapi_json(request: Request) -> Response:
        """The document, built once per app (routes do not change after start)."""
        cached = getattr(request.app.state, "openapi", None)
        if cached is None:
            document = build_document(request.app.routes, title, load_examples(examples))
            cached = orjson.dumps(document)
            request.app.state.openapi = cached
        return Response(cached, media_type="application/json")

    async def docs(request: Request) -> Response:
        # validatorUrl null: Swagger UI would otherwise ask an online validator for a badge.
        return HTMLResponse(_DOCS_HTML % {"title": title})

    async def redoc_page(request: Request) -> Response:
        return HTMLResponse(_REDOC_HTML % {"title": title})

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/redoc", redoc_page, methods=["GET"]),
        Mount("/docs/static", StaticFiles(directory=swagger_ui.static_path), name="docs-static"),
        Mount("/redoc/static", StaticFiles(directory=redoc.static_path), name="redoc-static"),
    ]


_DOCS_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>%(title)s</title>
<link rel="stylesheet" type="text/css" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js" charset="UTF-8"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
</script>
</body>
</html>
"""


_REDOC_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(title)s</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/static/redoc.standalone.js"></script>
</body>
</html>
"""
