"""GET/PUT /v1/account/settings on the real broker (issue 22 item 4): what the API writes is
the account.status record another replica (and the worker) reads, with the subscription
kept and the audit in the account's record; inbound calls on call.inbound show as lines in
use through the read model."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from api.controlplane import ControlPlane
from tests.integration.test_api_dnc import Api, drop_prefix, running_api
from tests.integration.worker_rig import wait_until
from topics import catalogue
from topics.clients import producer_config
from topics.codec import encode

pytestmark = pytest.mark.integration


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Api]:
    prefix = f"tset-{uuid.uuid4().hex[:8]}."
    try:
        with running_api(kafka_bootstrap, prefix, tmp_path / "api") as a:
            yield a
    finally:
        drop_prefix(prefix)


def test_settings_reach_account_status_and_inbound_calls_show_in_use(api: Api) -> None:
    headers = api.account("lines-a")
    r = api.http.put(
        "/v1/account/settings", json={"lines": 2, "inbound_max_minutes": 30}, headers=headers
    )
    assert r.status_code == 200, r.text
    # another replica reads it back from the topic: settings, subscription and the audit
    other = ControlPlane(api.svc.config.kafka, api.svc.config.topics)
    other.start()
    try:
        found = other.account_settings("lines-a")
        assert (found.lines, found.inbound_max_minutes) == (2, 30)
        assert other.subscription("lines-a").active
        audit = (other.get("account", "lines-a", "lines-a") or {})["events"]
        assert [e["changes"]["lines"] for e in audit] == [{"old": None, "new": 2}]
        assert audit[0]["by"].startswith("cfk_")
    finally:
        other.close()

    producer = Producer(producer_config(api.svc.config.kafka))
    topic = catalogue.topic_name(catalogue.INBOUND, api.svc.config.prefix)

    def inbound(kind: str) -> None:
        rec = {
            "call_id": "in-1",
            "agent_id": "bot",
            "account_id": "lines-a",
            "kind": kind,
            "at": int(time.time() * 1000),
            "dialer_id": "test",
        }
        producer.produce(topic, key=b"lines-a", value=encode("InboundCall", rec))
        producer.flush(30)

    def in_use() -> dict[str, object]:
        got = api.http.get("/v1/account/settings", headers=headers)
        assert got.status_code == 200, got.text
        return dict(got.json()["in_use"])

    inbound("started")
    wait_until(lambda: in_use()["inbound"] == 1, 60, "the inbound call in use")
    inbound("ended")
    wait_until(lambda: in_use()["inbound"] == 0, 60, "the inbound call ended")
