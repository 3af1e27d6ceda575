"""The API's security rules on the real broker: 401 without a live key, 404 (never 403) for
another account's things, the operator key, hashed keys, size limits, loopback default."""

from __future__ import annotations

import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from api.config import ApiSettings
from campaignflow.config import Settings
from tests.integration.api_kit import local_services, setup_account
from topics import catalogue
from topics.catalogue import Topics
from topics.clients import KafkaSettings, consumer_config

MAX_JSON = 64 * 1024
MAX_UPLOAD = 256 * 1024


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    prefix = f"tsec-{uuid.uuid4().hex[:8]}."
    svc = local_services(
        kafka_bootstrap,
        prefix,
        tmp_path / "api",
        max_json_bytes=MAX_JSON,
        max_upload_bytes=MAX_UPLOAD,
    )
    app = create_app(svc.config, services=svc)
    svc.extra["app"] = app
    try:
        with TestClient(app) as client:
            yield client, svc
    finally:
        stop_services(svc)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_v1_route_needs_a_key(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    spec = client.get("/openapi.json").json()
    routes = [
        (path, method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/v1")
    ]
    assert len(routes) > 30
    revoked = accounts.create_account(svc.cp, "revoked-co")
    accounts.revoke_key(svc.cp, "revoked-co", revoked.key_id)
    for template, method in routes:
        path = re.sub(r"\{[^}]+\}", "x", template)
        if True:
            for headers in (
                {},
                bearer("cfk_nope_nope"),
                bearer(revoked.key),
                {"Authorization": "Basic eDp5"},
            ):
                r = client.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["www-authenticate"] == "Bearer"


def test_operator_routes_refuse_account_keys(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    key = accounts.create_account(svc.cp, "plain-co").key
    r = client.post("/v1/operator/accounts", json={"account_id": "evil"}, headers=bearer(key))
    assert r.status_code == 401
    r = client.put(
        "/v1/operator/accounts/plain-co/subscription", json={"active": True}, headers=bearer(key)
    )
    assert r.status_code == 401
    assert svc.cp.subscription("plain-co").active is False
    op = bearer(svc.operator_key)
    r = client.post("/v1/operator/accounts", json={"account_id": "new-co"}, headers=op)
    assert r.status_code == 201
    assert client.get("/v1/account", headers=bearer(r.json()["key"])).status_code == 200
    # the operator key is not an account key
    assert client.get("/v1/account", headers=op).status_code == 401


def test_operator_key_file_is_0600(api: tuple[TestClient, Any]) -> None:
    _, svc = api
    mode = stat.S_IMODE(svc.config.operator_key_file.stat().st_mode)
    assert mode == 0o600


def test_keys_are_stored_hashed(api: tuple[TestClient, Any], kafka_bootstrap: str) -> None:
    _, svc = api
    new = accounts.create_account(svc.cp, "hashed-co")
    extra = accounts.add_key(svc.cp, "hashed-co")
    topic = catalogue.topic_name(catalogue.API_ACCOUNTS, svc.config.prefix)
    consumer = Consumer(consumer_config(KafkaSettings(kafka_bootstrap), f"t-{uuid.uuid4().hex}"))
    raw = b""
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        for _ in range(20):
            for msg in consumer.consume(100, timeout=0.5):
                raw += msg.value() or b""
            if accounts.digest(extra.key).encode() in raw:
                break
    finally:
        consumer.close()
    assert accounts.digest(new.key).encode() in raw and accounts.digest(extra.key).encode() in raw
    for key in (new.key, extra.key):
        assert key.encode() not in raw
        assert key.split("_", 2)[2].encode() not in raw


def test_another_accounts_things_are_404_not_403(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    a = bearer(accounts.create_account(svc.cp, "owner-co").key)
    b = bearer(accounts.create_account(svc.cp, "intruder-co").key)
    setup_account(client, a)
    hook = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.org/h"}, headers=a
    ).json()
    for method, path, body in (
        ("GET", "/v1/agents/renewals-bot", None),
        ("PUT", "/v1/agents/renewals-bot", {"name": "x", "prompt": ""}),
        ("DELETE", "/v1/agents/renewals-bot", None),
        ("GET", "/v1/numbers/main-line", None),
        ("PUT", "/v1/numbers/main-line", {"e164": "+15550100009"}),
        ("GET", f"/v1/webhooks/{hook['webhook_id']}", None),
        ("DELETE", f"/v1/webhooks/{hook['webhook_id']}", None),
        ("GET", "/v1/campaigns/owner-campaign", None),
    ):
        r = client.request(method, path, json=body, headers=b)
        assert r.status_code == 404, (method, path, r.text)
    assert client.get("/v1/agents/renewals-bot", headers=a).json()["name"] == "Renewals"
    assert client.get(f"/v1/webhooks/{hook['webhook_id']}", headers=a).status_code == 200


def test_size_limits(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    h = bearer(accounts.create_account(svc.cp, "big-co").key)
    big = {"agent_id": "big", "name": "Big", "prompt": "x" * (MAX_JSON + 1)}
    r = client.post("/v1/agents", json=big, headers=h)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"agent_id": "big", "name": "Big", "prompt": "'
        for _ in range(MAX_JSON // 1024 + 2):
            yield b"y" * 1024
        yield b'"}'

    r = client.post(
        "/v1/agents", content=chunks(), headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    csv = b"phone_number\n" + b"+12125550100\n" * (MAX_UPLOAD // 13 + 10)
    r = client.post(
        "/v1/campaigns",
        files={"definition": (None, "{}"), "contacts": ("c.csv", csv, "text/csv")},
        headers=h,
    )
    assert r.status_code == 413
    # a prompt over the model's own limit is a 422 naming the field
    r = client.post(
        "/v1/agents", json={"agent_id": "p", "name": "P", "prompt": "z" * 20_001}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "prompt"
    r = client.post(
        "/v1/agents",
        json={"agent_id": "p", "name": "P"},
        headers={**h, "Idempotency-Key": "k" * 201},
    )
    assert r.status_code == 400


def test_binds_loopback_by_default(tmp_path: Path) -> None:
    assert Settings().api_host == "127.0.0.1"
    assert (
        ApiSettings(kafka=KafkaSettings("x"), topics=Topics(), state_dir=tmp_path).host
        == "127.0.0.1"
    )
