"""Idempotent answers (issue 21, item 10): no secret on api.idempotency, none replayed, and
forgotten in memory when the topic forgets them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app, stop_services
from api.controlplane import ControlPlane
from api.middleware import MAX_KEPT_ANSWER_BYTES, SHOWN_ONCE, kept_answer
from tests.integration.api_kit import local_services
from tests.integration.dialer_kit import drop_topics, read_all
from topics import catalogue


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    prefix = f"tidem-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    try:
        with TestClient(create_app(svc.config, services=svc)) as client:
            yield client, svc
    finally:
        stop_services(svc)
        drop_topics([catalogue.topic_name(t, prefix) for t in catalogue.LOGICAL_NAMES])


def _topic_bytes(svc: Any, bootstrap: str, wanted: int) -> bytes:
    """Every value on the prefix's api.idempotency topic (at least `wanted` records)."""
    topic = catalogue.topic_name(catalogue.API_IDEMPOTENCY, svc.config.prefix)
    values = [m.value() or b"" for m, _, _ in read_all(bootstrap, topic)]
    assert len(values) >= wanted
    return b"".join(values)


def test_new_keys_and_webhook_secrets_are_neither_stored_nor_replayed(
    api: tuple[TestClient, Any], kafka_bootstrap: str
) -> None:
    client, svc = api
    op = {"Authorization": f"Bearer {svc.operator_key}", "Idempotency-Key": "acct-1"}
    first = client.post("/v1/operator/accounts", json={"account_id": "idem-co"}, headers=op)
    assert first.status_code == 201
    key = first.json()["key"]
    assert key.startswith("cfk_")
    again = client.post("/v1/operator/accounts", json={"account_id": "idem-co"}, headers=op)
    assert again.status_code == 201
    assert again.json() == {**first.json(), "key": SHOWN_ONCE}

    a = {"Authorization": f"Bearer {key}", "Idempotency-Key": "hook-1"}
    hook = client.post("/v1/webhooks", json={"url": "https://hooks.example.org/h"}, headers=a)
    assert hook.status_code == 201
    secret = hook.json()["secret"]
    replay = client.post("/v1/webhooks", json={"url": "https://hooks.example.org/h"}, headers=a)
    assert replay.json() == {**hook.json(), "secret": SHOWN_ONCE}
    assert len(client.get("/v1/webhooks", headers=a).json()["items"]) == 1  # not made twice

    raw = _topic_bytes(svc, kafka_bootstrap, wanted=2)
    assert b"idem-co" in raw
    assert key.encode() not in raw and key.split("_", 2)[2].encode() not in raw
    assert secret.encode() not in raw


def test_a_large_answer_keeps_its_status_not_its_body() -> None:
    small = kept_answer("f", 200, b'{"a": 1}', "application/json")
    assert small["body"] == '{"a": 1}' and small["status"] == 200
    large = kept_answer("f", 200, b"x" * (MAX_KEPT_ANSWER_BYTES + 1), "application/json")
    assert large["body"] is None and large["status"] == 200
    secret = kept_answer("f", 201, json.dumps({"key": "s3cr3t"}).encode(), "application/json")
    assert "s3cr3t" not in secret["body"]


def test_answers_are_forgotten_in_memory_as_on_the_topic(api: tuple[TestClient, Any]) -> None:
    _, svc = api
    cp: ControlPlane = svc.cp
    now_ms = int(time.time() * 1000)
    old = {"fingerprint": "f", "status": 200, "body": "{}", "at_ms": now_ms - cp.answer_ttl_ms}
    fresh = {**old, "at_ms": now_ms}
    cp.put("idempotency", "mem-co", "fresh", fresh)
    assert cp.get("idempotency", "mem-co", "fresh") is not None
    cp.put("idempotency", "mem-co", "old", old)  # as if read back from the topic, a day late
    assert cp.get("idempotency", "mem-co", "old") is None
    assert cp.ids("idempotency", "mem-co") == ["fresh"]
    # A replica starting now does not load what the topic still holds past its retention.
    other = ControlPlane(svc.config.kafka, svc.config.topics)
    other.start()
    try:
        assert other.ids("idempotency", "mem-co") == ["fresh"]
        # ...and forgets the fresh one too once it is a day old.
        other.answer_ttl_ms = 0
        other.put("idempotency", "mem-co", "later", {**fresh, "at_ms": int(time.time() * 1000)})
        assert other.get("idempotency", "mem-co", "fresh") is None
        assert other.ids("idempotency", "mem-co") == []
    finally:
        other.close()
