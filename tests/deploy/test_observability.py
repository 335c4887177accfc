"""Prometheus alert rules and the Grafana dashboard: they parse, and every metric they query
is one that the code exports (names read from the code itself); promtool checks and unit-tests
the rules; /metrics exports Redis and PostgreSQL reachability, and every process its
process_* series."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from devkit.servers import free_port
from tests.deploy.conftest import ROOT, load_yaml

PACKAGES = ("core", "realtime", "api", "workers")
# Series Prometheus makes itself, whatever the target exports.
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
}
SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    # Families a custom collector yields at scrape time (realtime/metrics.HotPath).
    "CounterMetricFamily": ("_total",),
    "GaugeMetricFamily": ("",),
    "HistogramMetricFamily": ("_bucket", "_sum", "_count"),
}
# prometheus_client's own collectors, registered by core/process_metrics.py: their series are
# whatever a fresh one yields (on this machine, which has /proc).
COLLECTORS: dict[str, type[Collector]] = {
    "ProcessCollector": ProcessCollector,
    "PlatformCollector": PlatformCollector,
}


def exported_metrics() -> set[str]:
    """Every series name the code can expose: each prometheus_client metric constructed with
    a literal name anywhere in the app packages, with the suffixes its type adds."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                kind = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if kind in COLLECTORS:
                    collector = COLLECTORS[kind](registry=None)  # type: ignore[call-arg]
                    names.update(s.name for m in collector.collect() for s in m.samples)
                if kind not in SUFFIXES:
                    continue
                arg = (
                    node.args[0]
                    if node.args
                    else next((k.value for k in node.keywords if k.arg == "name"), None)
                )
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    continue
                base = arg.value
                if kind in ("Counter", "CounterMetricFamily"):
                    base = base.removesuffix("_total")
                names.update(base + suffix for suffix in SUFFIXES[kind])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])[a-zA-Z_:][\w:]*", e):
        if e[m.end() :].lstrip().startswith("(") or m.group(0) in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def _unexported(exprs: list[tuple[str, str]]) -> list[str]:
    exported = exported_metrics() | BUILTIN
    has_worker_metrics = (ROOT / "workers" / "metrics.py").exists()
    missing = []
    for where, expr in exprs:
        for name in sorted(metric_names(expr) - exported):
            if name.startswith("worker_") and not has_worker_metrics:
                continue  # the worker's metrics are not in this checkout yet: checked later
            missing.append(f"{where}: {name}")
    return missing


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for group in load_yaml("deploy/prometheus/alerts.yml")["groups"]
        for rule in group["rules"]
    ]


def _dashboard() -> dict[str, Any]:
    return json.loads((ROOT / "deploy/grafana/dashboards/watch-hub.json").read_text())


def _dashboard_exprs(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for panel in panels:
        out += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
        out += _dashboard_exprs(panel.get("panels", []))
    return out


# --- the name reader itself --------------------------------------------------------------


def test_name_reader_agrees_with_the_hub_registry() -> None:
    """The names read from the source include every series the hub's registry exposes."""
    from realtime.metrics import HubMetrics

    exposed = {s.name for m in HubMetrics().registry.collect() for s in m.samples}
    assert exposed <= exported_metrics()
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "dependency_up",
    } <= exported_metrics()


def test_promql_name_extraction() -> None:
    """Functions, aggregations, label lists, matchers and ranges are not metric names."""
    expr = (
        'sum by (job) (rate(http_requests_total{status=~"5..", route!="/ready"}[5m])) '
        "/ on (job) group_left max(up) > 0.02 and histogram_quantile(0.99, "
        "sum by (le) (rate(a_b_bucket[1m] offset 5m))) or deriv(max(c)[10m:1m])"
    )
    assert metric_names(expr) == {"http_requests_total", "up", "a_b_bucket", "c"}


# --- alert rules ---------------------------------------------------------------------------


def test_alert_rules_are_complete() -> None:
    """Every rule is an alert with an expression, a severity, a summary and a runbook link
    to a heading of docs/operations.md."""
    ops = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", ops, re.M)
    }
    rules = _rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["expr"].strip() and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        doc, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert doc == "docs/operations.md" and anchor in anchors, rule["alert"]


def test_alerts_cover_issue_6() -> None:
    """Outbox lag, dead letters, 5xx rate, Redis and PostgreSQL down, reconnect storms."""
    alerts = {r["alert"] for r in _rules()}
    assert {
        "OutboxLag",
        "OutboxDeadLetters",
        "Http5xxRate",
        "RedisUnreachable",
        "PostgresUnreachable",
        "ReconnectStorm",
        "ServerClosesSpike",
    } <= alerts


def test_alert_rules_use_exported_metrics() -> None:
    """Every metric an alert queries is exported by the code (or made by Prometheus)."""
    assert _unexported([(r["alert"], r["expr"]) for r in _rules()]) == []


def test_promtool_checks_and_unit_tests_the_rules(promtool: Path) -> None:
    """promtool accepts the config and the rules, and the rule unit tests pass (alerts fire
    on the series they should, and stay quiet on a healthy system)."""
    for args in (
        ["check", "config", "deploy/prometheus/prometheus.yml"],
        ["test", "rules", "deploy/prometheus/alerts.test.yml"],
    ):
        out = subprocess.run(
            [str(promtool), *args],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_prometheus_scrapes_every_app(compose: dict[str, Any]) -> None:
    """The scrape targets are the compose services on their app ports."""
    config = load_yaml("deploy/prometheus/prometheus.yml")
    targets = {
        job["job_name"]: set(job["static_configs"][0]["targets"])
        for job in config["scrape_configs"]
    }
    assert targets["realtime"] == {"realtime-1:8001", "realtime-2:8001"}
    assert targets["api"] == {"api:8000"}
    from core.launch import WORKER_METRICS_PORT
    from workers.config import load_config

    assert load_config({}).metrics_port == WORKER_METRICS_PORT
    assert targets["worker"] == {f"worker:{WORKER_METRICS_PORT}"}
    assert set(compose["services"]) >= {
        t.split(":")[0] for ts in targets.values() for t in ts if not t.startswith("localhost")
    }


# --- the dashboard -----------------------------------------------------------------------


def test_dashboard_parses_and_uses_the_provisioned_data_source() -> None:
    """The dashboard JSON parses, has a stable uid, and every panel queries the data source
    that Grafana is provisioned with."""
    dash = _dashboard()
    ds = load_yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert dash["uid"] == "watch-hub"
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
            assert panel["targets"], panel["title"]
    provider = load_yaml("deploy/grafana/provisioning/dashboards/watch-hub.yml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_shows_what_issue_6_asks() -> None:
    """Connections, heartbeats by outcome, heartbeat p50/p99, rewards, outbox entries and lag,
    HTTP rps, latency and 5xx."""
    text = " ".join(e for _, e in _dashboard_exprs(_dashboard()["panels"]))
    for needle in (
        "hub_connections_open",
        "hub_heartbeats_total",
        "histogram_quantile(0.5, sum by (le) (rate(hub_heartbeat_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(hub_heartbeat_seconds_bucket",
        "hub_rewards_granted_total",
        "hub_outbox_entries",
        "worker_outbox_lag_seconds",
        "rate(http_requests_total",
        "http_request_duration_seconds_bucket",
        'status=~"5.."',
    ):
        assert needle in text, needle


def _selectors(expr: str) -> list[tuple[str, str]]:
    """Each metric selector of a PromQL expression: (name, the matchers between braces)."""
    out = []
    for name in metric_names(expr):
        for m in re.finditer(rf"(?<![\w:$]){re.escape(name)}(?![\w:])(\{{[^}}]*\}})?", expr):
            out.append((name, (m.group(1) or "")[1:-1]))
    return out


def test_dashboard_is_scoped_by_job_and_instance() -> None:
    """The dashboard has `job` and `instance` variables (multi-value, with All, read from
    `up` on the provisioned data source; instance follows job), and every metric selector of
    every panel filters on both."""
    dash = _dashboard()
    ds = load_yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert set(variables) >= {"job", "instance"}
    for name in ("job", "instance"):
        var = variables[name]
        assert var["type"] == "query" and var["datasource"]["uid"] == ds["uid"], name
        assert var["multi"] and var["includeAll"] and var["allValue"] == ".*", name
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        assert query.startswith("label_values(up") and query.endswith(f", {name})"), query
    instance_query = variables["instance"]["query"]["query"]
    assert 'job=~"$job"' in instance_query
    exprs = _dashboard_exprs(dash["panels"])
    assert exprs
    for title, expr in exprs:
        selectors = _selectors(expr)
        assert selectors, (title, expr)
        for name, matchers in selectors:
            assert 'job=~"$job"' in matchers and 'instance=~"$instance"' in matchers, (
                title,
                name,
                expr,
            )


def test_dashboard_has_process_memory_and_fd_panels() -> None:
    """Panels for resident memory and open file descriptors query the process_* series,
    scoped by the variables, with the units Grafana needs to draw them right."""
    panels = {p["title"]: p for p in _panels(_dashboard()["panels"])}
    for title, metric, unit in (
        ("Memory (RSS)", "process_resident_memory_bytes", "bytes"),
        ("Open file descriptors", "process_open_fds", "short"),
    ):
        panel = panels[title]
        assert panel["fieldConfig"]["defaults"]["unit"] == unit
        selectors = [sel for t in panel["targets"] for sel in _selectors(t["expr"])]
        assert (metric, 'job=~"$job", instance=~"$instance"') in selectors, selectors
    fds = " ".join(t["expr"] for t in panels["Open file descriptors"]["targets"])
    assert "process_max_fds" in fds  # the limit beside the count


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [q for p in panels for q in (p, *_panels(p.get("panels", [])))]


def test_dashboard_uses_exported_metrics() -> None:
    """Every metric a dashboard panel queries is exported by the code."""
    assert _unexported(_dashboard_exprs(_dashboard()["panels"])) == []


def test_worker_metrics_exist_for_alerts_and_dashboard() -> None:
    """Once the worker exists, the worker_* names that alerts and dashboard use are its."""
    exprs = [(r["alert"], r["expr"]) for r in _rules()] + _dashboard_exprs(_dashboard()["panels"])
    used = {n for _, e in exprs for n in metric_names(e) if n.startswith("worker_")}
    assert used and used <= exported_metrics()


# --- dependency_up -----------------------------------------------------------------------


async def test_metrics_export_dependency_reachability(spawn: Any) -> None:
    """/metrics runs /ready's checks: with Redis unreachable, dependency_up says redis 0 and
    postgresql 1 (what the RedisUnreachable alert reads)."""
    api = spawn("api.app:app", {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    assert 'dependency_up{dependency="redis"} 0.0' in text
    assert 'dependency_up{dependency="postgresql"} 1.0' in text


async def test_hub_metrics_export_dependency_reachability(spawn: Any) -> None:
    """The hub's /metrics says both dependencies are up when they are."""
    hub = spawn("realtime.app:app")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    assert 'dependency_up{dependency="redis"} 1.0' in text
    assert 'dependency_up{dependency="postgresql"} 1.0' in text


# --- process_* -----------------------------------------------------------------------------


def _has_process_metrics(text: str) -> bool:
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    return {"process_resident_memory_bytes", "process_open_fds", "python_info"} <= names


async def test_every_process_exports_process_metrics(spawn: Any, spawn_cmd: Any) -> None:
    """The hub, the api and the worker each serve process_resident_memory_bytes,
    process_open_fds (and the rest of prometheus_client's process and platform series) on
    their own /metrics."""
    hub = spawn("realtime.app:app")
    api = spawn("api.app:app")
    port = free_port()
    worker = spawn_cmd(
        ["python", "-m", "workers"], {"WORKER_METRICS_PORT": str(port), "LOG_FORMAT": "text"}
    )
    async with httpx.AsyncClient(timeout=10) as http:
        for app in (hub, api):
            text = (await http.get(f"{app.url}/metrics")).text
            assert _has_process_metrics(text), (app.app, text[:2000])
        deadline = time.monotonic() + 30
        while True:
            assert worker.running, worker.output_tail()
            try:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                assert time.monotonic() < deadline, worker.output_tail()
                await asyncio.sleep(0.2)
                continue
            break
    assert _has_process_metrics(text), text[:2000]
    assert "worker_partitions_held" in text  # the worker's own registry, not another one
    worker.terminate()
