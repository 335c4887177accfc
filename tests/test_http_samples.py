"""The hand-run samples in `http/` (REST Client / JetBrains HTTP Client format) stay true:

- every sample runs, in file order, against a live hub + api + worker, and answers the status
  its `# expect: NNN` line declares (never a 5xx);
- every route of the api's and the hub's `/openapi.json` has a sample (plus the probes and
  pages listed here, which the documents leave out), and no sample names a route that does
  not exist; a Server-Sent Events sample answers with its first event.

With RECORD_EXAMPLES=1 the run also writes the documents' examples (core.web.openapi): per
operation, the richest success it saw (lists cut to two items) and the body that asked for
it, into api/ and realtime/openapi-examples.json, for the operations the files lack
(RECORD_EXAMPLES=all: for every operation).

The parser reads the subset of the format the samples use: `@var = value` lines, requests
separated by `###`, `# @name`, `# expect:`, headers, a body after a blank line, `{{var}}`,
`{{$timestamp}}` and `{{name.response.body.$.a.b}}` (names are per file, as in the editors).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTTP_DIR = ROOT / "http"
EXAMPLE_FILES = {
    "api": ROOT / "api/openapi-examples.json",
    "hub": ROOT / "realtime/openapi-examples.json",
}

# Routes outside /openapi.json: the api's probes and pages, and every hub route but /ws.
API_EXTRA = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/admin"),
}
# The hub's routes beyond its own /openapi.json (which lists the fallback and the streams).
HUB_EXTRA = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/player"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
}
# The variables the runner gives (they win over the placeholders in the files).
GIVEN = ("api", "hub", "viewer_token", "admin_token", "advertiser_token")
# Timings of the stack (as the browser tests): short, so the fallback credits quickly.
FAST = {
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": "300",
    "SESSION_TTL_MS": "5000",
    "CONTROL_POLL_MS": "500",
    "REDIS_PARTITIONS": "8",
    "DRAIN_SECONDS": "1",
    # The samples make more admin calls in a minute than one admin's default limit (60).
    "ADMIN_RATE_LIMIT_PER_MINUTE": "1000",
}
ADVERTISER_ID = 900_001

_VAR = re.compile(r"^@([A-Za-z_][\w-]*)\s*=\s*(.*?)\s*$")
_REF = re.compile(r"{{\s*([^{}]+?)\s*}}")
_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(\S+)(?:\s+HTTP/[\d.]+)?$")


@dataclass
class Sample:
    file: str
    line: int
    name: str | None = None
    comment: str | None = None
    expect: int | None = None
    method: str = ""
    url: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line} ({self.name})"


@dataclass
class HttpFile:
    name: str
    variables: dict[str, str]
    samples: list[Sample]


def parse(text: str, file: str = "<text>") -> HttpFile:
    """Parse one .http file. File variables may sit anywhere outside a request's body."""
    variables: dict[str, str] = {}
    samples: list[Sample] = []
    blocks: list[tuple[int, list[str]]] = [(1, [])]
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("###"):
            blocks.append((n, [line[3:].strip()]))
        else:
            blocks[-1][1].append(line)
    for start, lines in blocks:
        sample = Sample(file, start)
        if start > 1 and lines and lines[0]:
            sample.comment = lines[0]
        rest = lines[1:] if start > 1 else lines
        i = 0
        # Before the request line: comments, variables, blank lines.
        while i < len(rest):
            line = rest[i].strip()
            i += 1
            if not line:
                continue
            if line.startswith(("#", "//")):
                meta = line.lstrip("#/").strip()
                if meta.startswith("@name"):
                    sample.name = meta[len("@name") :].strip()
                elif meta.startswith("expect:"):
                    sample.expect = int(meta[len("expect:") :].strip())
                continue
            var = _VAR.match(line)
            if var:
                variables[var.group(1)] = var.group(2)
                continue
            request = _REQUEST_LINE.match(line)
            if request is None:
                raise ValueError(f"{file}:{start}: not a request line: {line!r}")
            sample.method, sample.url = request.group(1), request.group(2)
            break
        if not sample.method:
            if sample.name or sample.expect:
                raise ValueError(f"{file}:{start}: a named block without a request")
            continue
        # Headers up to the first blank line, then the body.
        while i < len(rest) and rest[i].strip():
            header = rest[i].strip()
            i += 1
            if header.startswith(("#", "//")):
                continue
            key, sep, value = header.partition(":")
            if not sep:
                raise ValueError(f"{file}:{start}: not a header: {header!r}")
            sample.headers.append((key.strip(), value.strip()))
        sample.body = "\n".join(rest[i:]).strip()
        samples.append(sample)
    return HttpFile(file, variables, samples)


def load_files() -> list[HttpFile]:
    return [parse(p.read_text(), p.name) for p in sorted(HTTP_DIR.glob("*.http"))]


def _json_path(value: Any, path: str) -> Any:
    if not path.startswith("$"):
        raise KeyError(path)
    for part in [p for p in path[1:].split(".") if p]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def substitute(
    text: str,
    variables: Mapping[str, str],
    responses: Mapping[str, Any],
    depth: int = 0,
) -> str:
    """Fill `{{var}}`, `{{$timestamp}}` and `{{name.response.body.$.path}}`."""

    def one(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref == "$timestamp":
            return str(int(time.time()))
        if ".response.body." in ref:
            name, _, path = ref.partition(".response.body.")
            if name not in responses:
                raise KeyError(f"{ref}: no earlier response named {name!r} in this file")
            found = _json_path(responses[name], path)
            return found if isinstance(found, str) else json.dumps(found)
        if ref not in variables:
            raise KeyError(f"{{{{{ref}}}}}: no such variable")
        if depth > 5:
            raise ValueError(f"{ref}: variables nest too deep")
        return substitute(variables[ref], variables, responses, depth + 1)

    return _REF.sub(one, text)


def route_of(sample: Sample, variables: Mapping[str, str]) -> tuple[str, str, str]:
    """(host variable, method, path) of a sample, read without running anything: the URL
    must start with `{{api}}` or `{{hub}}`; placeholders in the path become one segment."""
    match = re.match(r"^{{\s*(api|hub)\s*}}(/[^?#]*)", sample.url)
    if match is None:
        raise ValueError(f"{sample.where()}: the URL must start with {{{{api}}}} or {{{{hub}}}}")
    path = _REF.sub("x", match.group(2))
    return match.group(1), sample.method, path


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")


def _routes(openapi: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in openapi["paths"].items() for method in ops}


def operation_ids(openapi: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(method, path template) -> operationId."""
    return {
        (method.upper(), path): op["operationId"]
        for path, ops in openapi["paths"].items()
        for method, op in ops.items()
    }


def _cut(value: Any) -> Any:
    """An example's lists cut to their first two items, at every depth."""
    if isinstance(value, list):
        return [_cut(v) for v in value[:2]]
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in value.items()}
    return value


class Examples:
    """The richest success seen per operation (the longest answer: a list with items beats
    an empty one), with the request body that asked for it."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self.ids = {host: operation_ids(doc) for host, doc in documents.items()}
        self.seen: dict[str, dict[str, dict[str, Any]]] = {host: {} for host in documents}

    def see(
        self, sample: Sample, variables: Mapping[str, str], body: str, answer: Any, envelope: bool
    ) -> None:
        """Keep `answer` (an envelope, or a stream's event data) if it is the richest yet."""
        host, method, path = route_of(sample, variables)
        ids = [
            i for (m, t), i in self.ids[host].items() if m == method and _template(t).match(path)
        ]
        if not ids:
            return
        example: dict[str, Any] = {"response": _cut(answer["data"] if envelope else answer)}
        if body:
            example["request"] = json.loads(body)
        old = self.seen[host].get(ids[0])
        if old is None or len(json.dumps(example)) > len(json.dumps(old)):
            self.seen[host][ids[0]] = example

    def write(self, everything: bool) -> None:
        """Write the examples: all of them, or (`everything` false) only those of operations
        the files lack, so that a re-record does not churn ids and timings."""
        for host, path in EXAMPLE_FILES.items():
            kept = {} if everything or not path.exists() else json.loads(path.read_text())
            merged = {**self.seen[host], **kept}
            text = json.dumps(merged, indent=1, sort_keys=True, ensure_ascii=False)
            path.write_text(text + "\n")


def check_coverage(
    files: list[HttpFile], openapi: Mapping[str, Any], hub_openapi: Mapping[str, Any]
) -> list[str]:
    """Problems: routes (of either document) without a sample, samples of routes that do
    not exist."""
    known = {
        "api": _routes(openapi) | API_EXTRA,
        "hub": _routes(hub_openapi) | HUB_EXTRA,
    }
    covered: set[tuple[str, str, str]] = set()
    problems = []
    for f in files:
        for sample in f.samples:
            host, method, path = route_of(sample, f.variables)
            hits = [
                (host, m, t) for m, t in known[host] if m == method and _template(t).match(path)
            ]
            if not hits:
                problems.append(f"{sample.where()}: {method} {path} is no {host} route")
            covered.update(hits)
    for host, routes in known.items():
        for method, template in sorted(routes):
            if (host, method, template) not in covered:
                problems.append(f"no sample of the {host}'s {method} {template}")
    return problems


def test_parser_reads_the_format() -> None:
    text = """@api = http://h
@id = 7
### first one
# @name a
# expect: 201
POST {{api}}/x/{{id}} HTTP/1.1
Content-Type: application/json

{"n": {{id}}}

###
# @name b
# expect: 200
GET {{api}}/y?v={{a.response.body.$.data.k.0}}
"""
    f = parse(text)
    assert f.variables == {"api": "http://h", "id": "7"}
    a, b = f.samples
    assert (a.name, a.expect, a.method, a.comment) == ("a", 201, "POST", "first one")
    assert a.headers == [("Content-Type", "application/json")] and a.body == '{"n": {{id}}}'
    assert substitute(a.url, f.variables, {}) == "http://h/x/7"
    responses = {"a": {"data": {"k": ["z"]}}}
    assert substitute(b.url, f.variables, responses) == "http://h/y?v=z"
    assert route_of(b, f.variables) == ("api", "GET", "/y")
    with pytest.raises(KeyError):
        substitute("{{nope}}", {}, {})


def test_every_sample_is_named_and_declares_its_status() -> None:
    files = load_files()
    assert len(files) >= 7, "http/ holds the numbered sample files"
    for f in files:
        assert set(GIVEN) <= set(f.variables), f"{f.name}: declare @{', @'.join(GIVEN)}"
        names = [s.name for s in f.samples]
        assert len(set(names)) == len(names), f"{f.name}: names repeat"
        for s in f.samples:
            assert s.name and s.comment and s.expect, f"{s.where()}: # @name, comment, # expect"
    env = json.loads((HTTP_DIR / "http-client.env.json").read_text())
    assert all(set(GIVEN) <= set(v) for v in env.values())


async def _seed(pg_server: Any) -> None:
    """What `bash scripts/run.sh` seeds (admin 1, viewer 2, the demo catalog), and ten paid
    watch rewards of the viewer: one earned box, so `POST /api/boxes/open` can open it."""
    from scripts.seed import DEV_VIEWER_ID, seed

    await seed(pg_server.url)
    rows = ", ".join(f"({DEV_VIEWER_ID}, 'watch', 1, 'sample-{n}', 'paid')" for n in range(10))
    pg_server.psql(
        f"INSERT INTO coin_transactions (user_id, kind, amount, reward_id, status) VALUES {rows};"
        f" UPDATE users SET balance = balance + 10 WHERE id = {DEV_VIEWER_ID};"
    )


async def test_samples_run_and_cover_every_route(
    pg_server: Any,
    redis_server: Any,
    spawn: Callable[..., Any],
    worker: Callable[..., Any],
    token: Callable[..., str],
) -> None:
    from scripts.seed import DEV_ADMIN_ID, DEV_VIEWER_ID

    await _seed(pg_server)
    worker(REDIS_PARTITIONS=FAST["REDIS_PARTITIONS"])
    hub = spawn("realtime.app:app", FAST)
    # The payment gateway's stand-in (devkit/servers/pg.py), for 10-ad-money.http, and the
    # api's YouTube client on its stand-in (http/08-youtube.http imports from it).
    gateway_keys = {"PG_SECRET_KEY": "test_sk_samples", "PG_WEBHOOK_SECRET": "whsec_samples"}
    gateway = spawn("devkit.servers.pg:app", gateway_keys)
    youtube = spawn("devkit.servers.youtube:app").url + "/youtube/v3"
    api = spawn(
        "api.app:app",
        {
            **FAST,
            **gateway_keys,
            "PG_API_URL": gateway.url,
            "CORS_ORIGINS": hub.url,
            "YOUTUBE_API_KEY": "test-key",
            "YOUTUBE_API_URL": youtube,
        },
    )
    given = {
        "api": api.url,
        "hub": hub.url,
        "viewer_token": token(DEV_VIEWER_ID, ("viewer",)),
        "admin_token": token(DEV_ADMIN_ID, ("admin", "viewer")),
        "advertiser_token": token(ADVERTISER_ID, ("advertiser",)),
    }
    files = load_files()
    async with httpx.AsyncClient(timeout=15) as http:
        openapi = (await http.get(f"{api.url}/openapi.json")).json()
        hub_openapi = (await http.get(f"{hub.url}/openapi.json")).json()
        assert check_coverage(files, openapi, hub_openapi) == []
        examples = Examples({"api": openapi, "hub": hub_openapi})
        failures = []
        for f in files:
            variables = {**f.variables, **given}
            responses: dict[str, Any] = {}
            for s in f.samples:
                request = http.build_request(
                    s.method,
                    substitute(s.url, variables, responses),
                    headers=[(k, substitute(v, variables, responses)) for k, v in s.headers],
                    content=substitute(s.body, variables, responses).encode() or None,
                )
                r = await http.send(request, stream=True)
                event = None
                try:
                    if r.headers.get("content-type", "").startswith("text/event-stream"):
                        # A stream does not end: its first event is the sample's answer.
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                event = json.loads(line[len("data:") :])
                                break
                    else:
                        await r.aread()
                finally:
                    await r.aclose()
                if r.headers.get("content-type", "").startswith("application/json"):
                    responses[s.name or ""] = r.json()
                    if r.is_success:
                        examples.see(s, variables, request.content.decode(), r.json(), True)
                elif event is not None and r.is_success:
                    examples.see(s, variables, "", event, False)
                elif r.headers.get("content-type", "").startswith("text/csv") and r.is_success:
                    examples.see(s, variables, "", r.text, False)
                if r.status_code >= 500 or r.status_code != s.expect:
                    failures.append(
                        f"{s.where()}: {r.status_code}, expected {s.expect}: {r.text[:300]}"
                    )
        assert failures == []
    if os.environ.get("RECORD_EXAMPLES") in ("1", "all"):
        examples.write(everything=os.environ["RECORD_EXAMPLES"] == "all")


def test_coverage_names_missing_and_unknown_routes() -> None:
    files = load_files()
    openapi = {"paths": {"/api/me": {"get": {}}, "/api/nope/{id}": {"delete": {}}}}
    problems = check_coverage(files, openapi, {"paths": {}})
    assert "no sample of the api's DELETE /api/nope/{id}" in problems
    assert any("GET /api/contents is no api route" in p for p in problems)
    assert not any("/api/me " in p for p in problems)
