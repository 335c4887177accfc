"""compose.yaml, checked by structure (no Docker engine runs here): every service, its
healthcheck, its start order, and commands that name real entry points."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest

from tests.deploy.conftest import ROOT, entrypoint_argv

APPS = ("realtime-1", "realtime-2", "api", "worker")
SERVICES = {"redis", "postgres", "migrate", *APPS, "nginx", "prometheus", "grafana"}


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value):
        total += float(number) * units[unit]
    return total


def _test_cmd(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, list) else ["CMD-SHELL", test]


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    """The services of issue 6 are all defined, and nothing else."""
    assert set(compose["services"]) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES - {"migrate"}))
def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    """Each service but the one-shot migration declares a healthcheck command."""
    test = _test_cmd(compose["services"][name])
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


def test_redis_is_durable_and_checked(compose: dict[str, Any]) -> None:
    """Redis: AOF with fsync every second (the loss bound), no eviction, `redis-cli ping`."""
    redis = compose["services"]["redis"]
    cmd = " ".join(redis["command"])
    assert "--appendonly yes" in cmd and "--appendfsync everysec" in cmd
    assert "--maxmemory-policy noeviction" in cmd
    assert _test_cmd(redis)[1:] == ["redis-cli", "ping"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_postgres_15_with_pg_isready(compose: dict[str, Any]) -> None:
    """PostgreSQL 15 on a volume, checked with pg_isready."""
    pg = compose["services"]["postgres"]
    assert pg["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(_test_cmd(pg))
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])


def test_start_order_uses_health_conditions(compose: dict[str, Any]) -> None:
    """Every depends_on names a condition; the apps wait for healthy Redis and PostgreSQL
    and a completed migration; nginx waits for healthy hubs and api."""
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            assert spec["condition"] in ("service_healthy", "service_completed_successfully")
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in APPS:
        assert services[name]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert {d: s["condition"] for d, s in services["nginx"]["depends_on"].items()} == {
        "realtime-1": "service_healthy",
        "realtime-2": "service_healthy",
        "api": "service_healthy",
    }


def test_app_environment(compose: dict[str, Any]) -> None:
    """The required variables are set for every app; hub replicas have distinct NODE_IDs;
    arq's queue has its own Redis URL; the JWT secret must be given (no default)."""
    services = compose["services"]
    for name in (*APPS, "migrate"):
        env = services[name]["environment"]
        for var in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "ARQ_REDIS_URL"):
            assert env.get(var), (name, var)
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "${JWT_SECRET:?" in env["JWT_SECRET"]
    ids = [services[n]["environment"]["NODE_ID"] for n in ("realtime-1", "realtime-2")]
    assert len(set(ids)) == 2


def test_stop_grace_covers_the_drain(compose: dict[str, Any]) -> None:
    """Docker waits longer than the hub's drain plus uvicorn's own graceful timeout, with a
    margin, before SIGKILL; the worker gets time to finish its batch."""
    argv = entrypoint_argv("realtime")
    graceful = float(argv[argv.index("--timeout-graceful-shutdown") + 1])
    for name in ("realtime-1", "realtime-2"):
        service = compose["services"][name]
        drain = float(service["environment"]["DRAIN_SECONDS"])
        assert _seconds(service["stop_grace_period"]) >= drain + graceful + 10
    assert _seconds(compose["services"]["worker"]["stop_grace_period"]) >= 30


def test_app_ports_are_not_published(compose: dict[str, Any]) -> None:
    """Only nginx (and the dashboards) publish ports: the apps trust X-Forwarded-For from
    any peer (FORWARDED_ALLOW_IPS=*), which is safe only while no client reaches them."""
    for name in APPS:
        assert (
            compose["services"][name]["environment"]["FORWARDED_ALLOW_IPS"]
            == "${FORWARDED_ALLOW_IPS:-*}"
        )
    for name in (*APPS, "migrate", "redis", "postgres"):
        assert "ports" not in compose["services"][name], name
    assert compose["services"]["nginx"]["ports"]


def test_app_services_run_the_image(compose: dict[str, Any]) -> None:
    """The app services share one image built from this repository's Dockerfile."""
    images = {compose["services"][n]["image"] for n in (*APPS, "migrate")}
    assert len(images) == 1
    for name in (*APPS, "migrate"):
        assert compose["services"][name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_bind_mounts_exist(compose: dict[str, Any]) -> None:
    """Every ./ path mounted into a container is in the repository."""
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)


ROLE_TARGETS = {
    "realtime-1": ("uvicorn", "realtime.app:app"),
    "realtime-2": ("uvicorn", "realtime.app:app"),
    "api": ("uvicorn", "api.app:app"),
}


@pytest.mark.parametrize("name", sorted(ROLE_TARGETS))
def test_app_commands_name_importable_apps(compose: dict[str, Any], name: str) -> None:
    """The command of each app service runs uvicorn on an ASGI app that imports."""
    argv = entrypoint_argv(compose["services"][name]["command"][0])
    program, target = ROLE_TARGETS[name]
    assert argv[0] == program and argv[1] == target
    module, attr = target.split(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_worker_command_names_the_worker_settings(compose: dict[str, Any]) -> None:
    """The worker service runs `arq workers.main.WorkerSettings`, and its healthcheck
    `arq --check` on the same class, which imports."""
    worker = compose["services"]["worker"]
    assert entrypoint_argv(worker["command"][0]) == ["arq", "workers.main.WorkerSettings"]
    assert _test_cmd(worker)[1:] == ["arq", "--check", "workers.main.WorkerSettings"]
    settings = importlib.import_module("workers.main").WorkerSettings
    assert isinstance(settings, (type, Mapping))  # arq takes a class or a mapping


def test_worker_healthcheck_tells_a_running_worker(spawn_cmd: Any, compose: dict[str, Any]) -> None:
    """The worker's healthcheck command fails while no worker runs and passes once one
    does (arq's health key in Redis)."""
    check = _test_cmd(compose["services"]["worker"])[1:]
    quiet = {"WORKER_METRICS_PORT": "0"}
    assert spawn_cmd(check, quiet).wait(30) == 1
    worker = spawn_cmd(["arq", "workers.main.WorkerSettings"], quiet)
    deadline = time.monotonic() + 30
    while spawn_cmd(check, quiet).wait(30) != 0:
        assert worker.running, worker.output_tail()
        assert time.monotonic() < deadline, worker.output_tail()
        time.sleep(0.5)
    worker.terminate()


def test_migrate_runs_alembic(compose: dict[str, Any]) -> None:
    """The one-shot migration runs `alembic upgrade head` with the project's config."""
    argv = entrypoint_argv(compose["services"]["migrate"]["command"][0])
    assert argv == ["alembic", "upgrade", "head"]
    assert (ROOT / "alembic.ini").is_file() and (ROOT / "migrations" / "env.py").is_file()
    assert compose["services"]["migrate"]["restart"] == "no"


def _published(port: str) -> tuple[str, str]:
    """A compose `ports` entry with its `${VAR:-default}`s at their defaults: (host address,
    host port); the address is "" when the port is published on every interface."""
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", port)
    parts = text.split(":")
    return ("", parts[0]) if len(parts) == 2 else (parts[0], parts[1])


def test_prometheus_is_not_controllable_from_outside(compose: dict[str, Any]) -> None:
    """Prometheus runs without its lifecycle api (POST /-/quit, /-/reload), and its port,
    which has no authentication, is published on loopback unless PROMETHEUS_ADDR says
    otherwise."""
    prometheus = compose["services"]["prometheus"]
    assert not any("enable-lifecycle" in arg for arg in prometheus["command"])
    assert prometheus["ports"]
    for port in prometheus["ports"]:
        assert _published(port)[0] == "127.0.0.1", port


def test_grafana_admin_password_is_required(compose: dict[str, Any]) -> None:
    """Grafana's admin password comes from GRAFANA_ADMIN_PASSWORD, with no default: compose
    refuses to start without it (the `:?` form), rather than publish admin/admin."""
    password = compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), password
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"GRAFANA_ADMIN_PASSWORD:-", text)
