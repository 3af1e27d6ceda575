"""docker-compose.yml is safe by default: loopback ports, no password in the file, no anonymous Grafana."""

from __future__ import annotations

import re
from typing import Any

import yaml

from campaignflow.config import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
REQUIRED = re.compile(r"^\$\{([A-Z_]+):\?[^}]+\}$")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def test_every_published_port_is_bound_to_loopback() -> None:
    published = 0
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            published += 1
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (
                f"{name} publishes {port!r} on every interface of the host"
            )
    assert published >= 5


def test_no_clickhouse_password_is_written_in_the_file() -> None:
    services = _compose()["services"]
    password = services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"]
    match = REQUIRED.match(password)
    assert match and match.group(1) == "CLICKHOUSE_PASSWORD", password  # required, no default
    for name, service in services.items():
        dsn = (service.get("environment") or {}).get("CAMPAIGNFLOW_CLICKHOUSE_DSN")
        if dsn is not None:
            secret = dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert REQUIRED.match(secret), f"{name}: the DSN holds a literal password"
    assert not re.search(r":campaignflow@", COMPOSE.read_text()), "the old default password"
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def test_grafana_has_no_anonymous_access_and_no_default_admin_password() -> None:
    env = _compose()["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert REQUIRED.match(env["GF_SECURITY_ADMIN_PASSWORD"])


def test_services_bind_inside_the_network_and_advertise_their_service_name() -> None:
    services = _compose()["services"]
    worker = services["worker"]["environment"]
    assert worker["CAMPAIGNFLOW_WORKER_BIND"] == "0.0.0.0"  # published on 127.0.0.1 only
    assert worker["CAMPAIGNFLOW_WORKER_ADVERTISED_HOST"] == "worker"
