"""Request bodies past the bounds answer a small 422 and publish nothing (issue 21, items 2, 8).

Before: a 2 MB JSON with a 700,000-element `events` list answered 422 after 28.6 s with a
63 MB body (every element's error, each quoting its input); a definition with 60,000
`attempt_limits` was created (201) and stopped the worker; one with 110,000
`blackout_dates` passed the dry run (200) and answered 500 on create, after its contacts
were published. Real broker, the API in process (TestClient).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from api.problems import MAX_ERRORS
from tests.integration.api_kit import definition, local_services, setup_account
from tests.integration.dialer_kit import drop_topics
from topics import catalogue
from topics.clients import KafkaSettings
from topics.consumer import TopicConsumer

pytestmark = pytest.mark.integration

SMALL_PROBLEM_BYTES = 16_384
ROWS = [{"phone_number": f"+1212555{i:04d}", "name": f"N{i}"} for i in range(20)]


@pytest.fixture(scope="module")
def api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    prefix = f"tbomb-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path_factory.mktemp("bombs") / "api")
    app = create_app(svc.config, services=svc)
    try:
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {accounts.create_account(svc.cp, 'bomb').key}"}
            setup_account(client, headers)
            yield client, svc, headers
    finally:
        stop_services(svc)
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])


def _small_problem(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, (r.status_code, r.text[:500])
    assert r.headers["content-type"] == "application/problem+json"
    assert len(r.content) < SMALL_PROBLEM_BYTES, len(r.content)
    body: dict[str, Any] = r.json()
    assert 1 <= len(body["errors"]) <= MAX_ERRORS
    return body


def _published(svc: Any, kafka_bootstrap: str) -> dict[str, int]:
    """Messages on the topics a create writes to (contacts, commands, dead letters)."""
    counts = {}
    with TopicConsumer.build(KafkaSettings(kafka_bootstrap), f"t-{uuid.uuid4().hex}") as consumer:
        for logical in (catalogue.CONTACTS, catalogue.COMMANDS, catalogue.DEADLETTER):
            topic = catalogue.topic_name(logical, svc.config.prefix)
            counts[logical] = sum(span.high for span in consumer.spans(topic))
    return counts


def test_a_700k_element_events_list_answers_a_small_422(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    """2.8 MB of list: past the 1 MiB of a non-upload route it is refused whole (a small 413,
    nothing parsed); on the create route, which takes big bodies, the list's bound answers."""
    client, _, headers = api
    body = json.dumps({"url": "https://example.org/hook", "events": [7] * 700_000})
    assert len(body) > 2_000_000
    r = client.post(
        "/v1/webhooks", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413, (r.status_code, r.text[:500])
    assert len(r.content) < SMALL_PROBLEM_BYTES, len(r.content)
    d = definition("bomb-1")
    d["rules"]["retry_on"] = [7] * 700_000
    big = json.dumps({"definition": d, "contacts": [{"phone_number": "+12125550100"}]})
    r = client.post(
        "/v1/campaigns", content=big, headers={**headers, "Content-Type": "application/json"}
    )
    problem = _small_problem(r)
    assert "retry_on" in problem["errors"][0]["field"]


def test_a_problem_lists_at_most_50_errors(api: tuple[TestClient, Any, dict[str, str]]) -> None:
    """1,000 bad numbers (within the list's bound): the first 50 errors are listed."""
    client, _, headers = api
    r = client.post("/v1/dnc", json={"numbers": [""] * 1_000}, headers=headers)
    problem = _small_problem(r)
    assert len(problem["errors"]) == MAX_ERRORS
    assert problem["errors"][0]["field"] == "numbers.0"


def test_a_bad_body_without_a_key_is_still_a_401(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, _, _ = api
    r = client.post("/v1/webhooks", json={"url": "x", "events": [1] * 1000})
    assert r.status_code == 401


def test_json_create_bodies_are_bounded(api: tuple[TestClient, Any, dict[str, str]]) -> None:
    client, _, headers = api
    d = definition("json-bomb")
    wide_row = {f"col{i}": "x" for i in range(1_001)} | {"phone_number": "+12125550100"}
    for body, field in (
        ({"definition": d, "contacts": [wide_row]}, "contacts.0"),
        ({"definition": {**d, "rules": {f"k{i}": 1 for i in range(51)}}}, "definition.rules"),
    ):
        problem = _small_problem(
            client.post("/v1/campaigns?dry_run=true", json=body, headers=headers)
        )
        assert problem["errors"][0]["field"] == field, problem


BOMBS = [
    (
        "attempt_limits",
        {"attempt_limits": [{"scope": "number", "max_calls": 3, "period_hours": 24}] * 60_000},
        "definition.rules.attempt_limits",
    ),
    (
        "blackout_dates",
        {"blackout_dates": ["2026-12-24"] * 110_000},
        "definition.rules.blackout_dates",
    ),
]


@pytest.mark.parametrize(("name", "rules", "field"), BOMBS, ids=[b[0] for b in BOMBS])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "create"])
def test_definition_lists_past_their_bounds_are_422_and_publish_nothing(
    api: tuple[TestClient, Any, dict[str, str]],
    kafka_bootstrap: str,
    name: str,
    rules: dict[str, Any],
    field: str,
    dry_run: bool,
) -> None:
    client, svc, headers = api
    before = _published(svc, kafka_bootstrap)
    d = definition(f"bomb-{name.replace('_', '-')}", **rules)
    r = client.post(
        f"/v1/campaigns?dry_run={str(dry_run).lower()}",
        json={"definition": d, "contacts": ROWS},
        headers=headers,
    )
    problem = _small_problem(r)
    assert problem["errors"][0]["field"] == field, problem
    assert _published(svc, kafka_bootstrap) == before


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "create"])
def test_a_definition_whose_stored_state_is_too_big_is_422_before_anything_is_sent(
    api: tuple[TestClient, Any, dict[str, str]], kafka_bootstrap: str, dry_run: bool
) -> None:
    """Every list within its bound, yet 2.4 MB as the worker's state row."""
    client, svc, headers = api
    before = _published(svc, kafka_bootstrap)
    d = definition("state-bomb")
    d["variable_mapping"] = {
        f"{i:03d}" + "\x01" * 197: f"{i:03d}" + "\x02" * 197 for i in range(1_000)
    }
    r = client.post(
        f"/v1/campaigns?dry_run={str(dry_run).lower()}",
        json={"definition": d, "contacts": ROWS},
        headers=headers,
    )
    problem = _small_problem(r)
    assert problem["errors"][0]["field"] == "definition.variable_mapping", problem
    assert _published(svc, kafka_bootstrap) == before
