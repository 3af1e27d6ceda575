"""docker-compose.yml (no Docker engine here): every setting it gives our services is one we read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from campaignflow.config import REPO_ROOT, Settings

pytestmark = pytest.mark.unit

COMPOSE = REPO_ROOT / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _env_names() -> set[str]:
    """Environment variables the Settings model reads (field names with prefix, or aliases)."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _project_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in _compose()["services"].items() if "build" in s}


def test_project_services_are_built_from_one_dockerfile() -> None:
    services = _project_services()
    assert {"worker", "dialer", "sink", "api"} <= set(services)
    builds = {
        (s["build"]["context"], s["build"].get("dockerfile", "Dockerfile"))
        for s in services.values()
    }
    assert len(builds) == 1
    context, dockerfile = builds.pop()
    assert (REPO_ROOT / context / dockerfile).is_file()


def test_project_services_run_campaignflow_commands() -> None:
    commands = {name: s["command"] for name, s in _project_services().items()}
    assert commands["worker"] == ["campaignflow", "worker"]
    assert commands["dialer"] == ["campaignflow", "dialer"]
    assert commands["sink"] == ["campaignflow", "sink"]
    assert commands["api"] == ["campaignflow", "api"]
    assert "127.0.0.1:8080:8080" in _project_services()["api"]["ports"]
    assert all(c[0] == "campaignflow" for c in commands.values())


def test_every_project_setting_in_compose_is_read_by_the_project() -> None:
    known = _env_names()
    for name, service in _project_services().items():
        env = _environment(service)
        ours = {k for k in env if k.startswith(("CAMPAIGNFLOW_", "KAFKA_"))}
        assert ours, f"{name} sets no campaignflow settings"
        unknown = ours - known
        assert not unknown, (
            f"{name} sets {sorted(unknown)}, which campaignflow/config.py does not read"
        )
        # The values must also be valid for the settings model.
        Settings(**_as_kwargs(env))


def _as_kwargs(env: dict[str, str]) -> dict[str, Any]:
    """Map env names back to Settings field names to validate the values compose gives."""
    prefix = Settings.model_config.get("env_prefix", "")
    by_env: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        by_env[alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper()] = (
            alias if isinstance(alias, str) else name
        )
    return {by_env[k]: v for k, v in env.items() if k in by_env}


def test_service_ports_match_the_settings() -> None:
    services = _project_services()
    defaults = Settings.model_fields
    for service, field in (
        ("worker", "worker_port"),
        ("dialer", "dialer_metrics_port"),
        ("sink", "sink_port"),
    ):
        env = _environment(services[service])
        port = int(env.get(f"CAMPAIGNFLOW_{field.upper()}", defaults[field].default))
        assert f"127.0.0.1:{port}:{port}" in services[service].get("ports", [])


def test_services_reach_kafka_and_clickhouse_by_service_name() -> None:
    compose = _compose()
    for service in _project_services().values():
        env = _environment(service)
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in compose["services"]
        assert "clickhouse:8123" in env["CAMPAIGNFLOW_CLICKHOUSE_DSN"]
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_mounted_ops_files_exist() -> None:
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"compose mounts missing {source}"


def test_prometheus_scrapes_every_service_port() -> None:
    prom = yaml.safe_load((REPO_ROOT / "ops/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        job["job_name"]: set(job["static_configs"][0]["targets"]) for job in prom["scrape_configs"]
    }
    defaults = Settings.model_fields
    for job, field in (
        ("worker", "worker_port"),
        ("dialer", "dialer_metrics_port"),
        ("sink", "sink_port"),
    ):
        port = defaults[field].default
        assert {f"localhost:{port}", f"{job}:{port}"} <= targets[job]


def test_grafana_provisions_the_prometheus_datasource() -> None:
    path = Path(REPO_ROOT / "ops/grafana/provisioning/datasources/prometheus.yml")
    ds = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    assert any(d["type"] == "prometheus" and d["url"] == "http://prometheus:9090" for d in ds)
