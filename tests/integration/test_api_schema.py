"""schemathesis against /openapi.json: no server error, no answer that breaks its own schema.

The app runs in-process on the real broker with an account that has an agent, numbers
and a campaign, so the generated calls reach real handlers behind the authentication.
Examples are bounded (a few per operation) to keep `make test` short.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import accounts
from api.app import create_app, stop_services
from sinks.dsn import open_client
from sinks.guard import QueryLimits, check, fetch
from sinks.migrations import migrate
from tests.integration.api_kit import local_services, setup_account

STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def app(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    svc = local_services(
        kafka_bootstrap,
        f"tschema-{uuid.uuid4().hex[:8]}.",
        Path(tmp_path_factory.mktemp("schema")) / "api",
        command_timeout_s=3.0,
    )
    # /v1/analytics runs its fixed queries, checked by the sink's guard, on a real (embedded,
    # empty) ClickHouse with the project's tables and views, one client for the module.
    clickhouse = open_client(f"chdb://{tmp_path_factory.mktemp('schema-ch') / 'ch'}")
    migrate(clickhouse)

    def analytics_runner(sql: str) -> list[dict[str, Any]]:
        result = fetch(clickhouse, check(sql), QueryLimits())
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    svc.config = dataclasses.replace(svc.config, analytics=analytics_runner)
    application = create_app(svc.config, services=svc)
    key = accounts.create_account(svc.cp, "schema-co").key
    STATE["headers"] = {"Authorization": f"Bearer {key}"}
    from fastapi.testclient import TestClient

    with TestClient(application) as client:
        setup_account(client, STATE["headers"])
    try:
        yield application
    finally:
        stop_services(svc)
        clickhouse.close()


def test_api_honours_its_openapi_document(app: Any) -> None:
    """Every operation, a few generated cases each; a failure names the operation and case."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=STATE["headers"], checks=checks)

        run()
