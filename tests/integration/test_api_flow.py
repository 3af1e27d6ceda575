"""The REST API end to end: the real `campaignflow api` process in `dev up`, on the real broker,
with the engine worker, the simulated dialer and the ClickHouse sink running.

One stack per module (starting it costs most of the time); each test uses its own
accounts and campaign ids, so they do not see each other.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.helpers import DEV_UP_SECONDS, free_port, wait_until
from tests.integration.api_kit import Receiver, contacts_csv, definition, setup_account
from topics import catalogue
from topics.clients import KafkaSettings, consumer_config
from topics.codec import Codec

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


class Stack:
    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env = env
        self.home = home
        self.url = f"http://127.0.0.1:{env['CAMPAIGNFLOW_API_PORT']}"
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.operator = {
            "Authorization": "Bearer " + (home / "api" / "operator.key").read_text().strip()
        }

    def account(self, name: str, active: bool = True) -> dict[str, str]:
        r = self.http.post(
            "/v1/operator/accounts",
            json={"account_id": name, "name": name.title(), "active": active},
            headers=self.operator,
        )
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['key']}"}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("api-stack") / "home"
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(home),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": f"itapi-{uuid.uuid4().hex[:8]}.",
        "CAMPAIGNFLOW_WORKER_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
        "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
        "CAMPAIGNFLOW_API_PORT": str(free_port()),
        # Low enough for test_forecasts_draw_from_the_accounts_allowance (30 at once),
        # enough for the whole flow's dry run and forecast of 12 contacts each.
        "CAMPAIGNFLOW_API_FORECAST_CONTACTS_PER_HOUR": "60",
        "CAMPAIGNFLOW_API_WEBHOOK_ALLOW_LOOPBACK": "1",  # the receivers run here
    }
    up = cli(
        env,
        "dev",
        "up",
        "--dialer-model",
        "answered=0.5,no_answer=0.5",
        "--dialer-time-scale",
        "0.02",
        timeout=DEV_UP_SECONDS,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    s = Stack(env, home)
    try:
        yield s
    finally:
        s.http.close()
        down = cli(env, "dev", "down", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr


def upload(
    stack: Stack, headers: dict[str, str], cid: str, n: int, key: str | None = None
) -> httpx.Response:
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    return stack.http.post(
        "/v1/campaigns",
        files={
            "definition": (None, json.dumps(definition(cid))),
            "contacts": ("contacts.csv", contacts_csv(n), "text/csv"),
        },
        headers=h,
    )


def wait_campaign(stack: Stack, headers: dict[str, str], cid: str, pred: Any) -> dict[str, Any]:
    """Until `pred` holds of the campaign's body; fails only when the body stops changing."""
    last: dict[str, Any] = {}

    def there() -> dict[str, Any] | None:
        r = stack.http.get(f"/v1/campaigns/{cid}", headers=headers)
        if r.status_code != 200:
            return None
        last.clear()
        last.update(r.json())
        return dict(last) if pred(last) else None

    return wait_until(
        there, f"campaign {cid} to get there", progress=lambda: repr(last), poll_seconds=0.5
    )


def refused_for_subscription(r: httpx.Response) -> bool:
    """The engine's refusal until the worker has read the account's new subscription record."""
    if r.status_code != 402:
        return False
    assert "subscription" in r.json()["detail"]
    return True


def start(stack: Stack, headers: dict[str, str], cid: str) -> httpx.Response:
    """POST start; while the worker has not read the account's new subscription record yet
    the engine refuses (402, naming the subscription): retried until it has."""

    def answered() -> httpx.Response | None:
        r = stack.http.post(f"/v1/campaigns/{cid}/start", headers=headers)
        return None if refused_for_subscription(r) else r

    return wait_until(
        answered, f"the worker to read the subscription of {cid}'s account", poll_seconds=1
    )


def all_pages(stack: Stack, headers: dict[str, str], path: str, limit: int = 7) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = stack.http.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def wait_listed(stack: Stack, headers: dict[str, str], cid: str, n: int) -> list[Any]:
    """The campaign's contacts once n are listed (the read model lists what the engine took)."""
    seen: list[int] = [0]

    def listed() -> list[Any] | None:
        got = all_pages(stack, headers, f"/v1/campaigns/{cid}/contacts", limit=50)
        seen[0] = len(got)
        return got if len(got) >= n else None

    return wait_until(listed, f"{n} contacts of {cid} listed", progress=lambda: seen[0])


def campaign_events(stack: Stack, cid: str) -> list[dict[str, Any]]:
    """campaign.events of one campaign, read from the topic (what webhooks must deliver)."""
    topic = catalogue.topic_name(catalogue.EVENTS, stack.env["CAMPAIGNFLOW_TOPIC_PREFIX"])
    consumer = Consumer(
        consumer_config(
            KafkaSettings(stack.env["KAFKA_BOOTSTRAP_SERVERS"]), f"t-{uuid.uuid4().hex}"
        )
    )
    codec = Codec(None)
    out = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in parts:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        done: set[int] = set()
        while len(done) < len(ends):
            for msg in consumer.consume(500, timeout=1):
                if msg.error():
                    continue
                if msg.offset() >= ends[msg.partition()] - 1:
                    done.add(msg.partition())
                _, rec = codec.decode(msg.value())
                if rec["campaign_id"] == cid:
                    out.append(rec)
    finally:
        consumer.close()
    return out


def test_whole_flow_from_csv_upload_to_duplicate(stack: Stack) -> None:
    a = stack.account("flow-co")
    assert stack.http.get("/v1/account", headers=a).json()["subscription"]["active"] is True
    setup_account(stack.http, a)
    agents = stack.http.get("/v1/agents", headers=a).json()["items"]
    assert agents[0]["variables"] == ["customer_name", "plan"]

    dry = stack.http.post(
        "/v1/campaigns?dry_run=true",
        files={
            "definition": (None, json.dumps(definition("flow-1"))),
            "contacts": ("contacts.csv", contacts_csv(12), "text/csv"),
        },
        headers=a,
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["status"] is None
    assert dry.json()["forecast"]["contacts"]["accepted"] == 12
    assert stack.http.get("/v1/campaigns/flow-1", headers=a).status_code == 404  # not published

    created = upload(stack, a, "flow-1", 12)
    assert created.status_code == 201, created.text
    summary = created.json()
    assert summary["contacts"] == {"accepted": 12, "rejected": 1, "rows": 13}
    assert summary["rejected"] == [
        {"row": 13, "column": "phone_number", "reason": "not a valid phone number: 'not-a-number'"}
    ]
    assert summary["variables"]["unfed"] == []

    draft = wait_campaign(stack, a, "flow-1", lambda c: c["counters"]["contacts_total"] == 12)
    assert draft["status"] == "draft" and "start" in draft["allowed_actions"]

    r = start(stack, a, "flow-1")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] is True and r.json()["status"] == "running"
    again = stack.http.post("/v1/campaigns/flow-1/start", headers=a)
    assert again.status_code == 409 and "running" in again.json()["detail"]

    r = stack.http.post("/v1/campaigns/flow-1/pause", headers=a)
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    wait_campaign(stack, a, "flow-1", lambda c: c["status"] == "paused")
    r = stack.http.post("/v1/campaigns/flow-1/resume", headers=a)
    assert r.status_code == 200 and r.json()["status"] == "running", r.text

    done = wait_campaign(stack, a, "flow-1", lambda c: c["status"] == "completed")
    counters = done["counters"]
    assert counters["contacts_final"] == 12
    assert counters["contacts_by_status"]["pending"] == 0
    assert sum(counters["outcomes"].values()) == counters["calls_created"]
    assert counters["calls_in_flight"] == 0
    assert done["allowed_actions"] == []

    contacts = all_pages(stack, a, "/v1/campaigns/flow-1/contacts")
    assert [c["contact_id"] for c in contacts] == [f"c{i:04d}" for i in range(12)]
    assert all(c["status"] in ("reached", "exhausted") for c in contacts)
    assert all(c["attempts"] >= 1 and len(c["phone_last4"]) == 4 for c in contacts)
    reached = [c for c in contacts if c["status"] == "reached"]
    assert all(c["last_outcome"] == "answered" for c in reached)

    calls = all_pages(stack, a, "/v1/campaigns/flow-1/calls")
    assert len(calls) == counters["calls_created"]
    assert {c["from"] for c in calls} == {"+15550100001"}
    assert all(c["status"] in ("answered", "no_answer") and c["ended_at"] for c in calls)

    export = stack.http.get("/v1/campaigns/flow-1/export.csv", headers=a)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["contact_id"]: r["status"] for r in rows} == {
        c["contact_id"]: c["status"] for c in contacts
    }

    stats = stack.http.get("/v1/campaigns/flow-1/stats", headers=a).json()
    assert sum(x["calls"] for x in stats["by_attempt"]) == counters["calls_created"]

    forecast = stack.http.get(
        "/v1/campaigns/flow-1/forecast", params={"model": "answered=1"}, headers=a
    )
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["contacts"]["reached"] == 12

    dup = stack.http.post(
        "/v1/campaigns/flow-1/duplicate",
        json={"campaign_id": "flow-1-retry", "only_unreached": True},
        headers=a,
    )
    assert dup.status_code == 201, dup.text
    assert dup.json()["contacts"]["accepted"] == 12 - len(reached)
    copy = wait_campaign(
        stack, a, "flow-1-retry", lambda c: c["counters"]["contacts_total"] == 12 - len(reached)
    )
    assert copy["status"] == "draft"
    # listed once the engine says it took them (the read model lists only what it took)
    copied = wait_listed(stack, a, "flow-1-retry", 12 - len(reached))
    assert {c["contact_id"] for c in copied} == {
        c["contact_id"] for c in contacts if c["status"] != "reached"
    }

    added = stack.http.post(
        "/v1/campaigns/flow-1-retry/contacts",
        json={
            "contacts": [{"phone_number": "+12125559999", "name": "Late"}, {"phone_number": "x"}]
        },
        headers=a,
    )
    assert added.status_code == 200, added.text
    assert added.json()["accepted"] == 1 and added.json()["rejected_rows"][0]["row"] == 2
    wait_campaign(
        stack, a, "flow-1-retry", lambda c: c["counters"]["contacts_total"] == 13 - len(reached)
    )

    # the sink landed the same calls in ClickHouse
    sql = cli(
        stack.env,
        "sql",
        "SELECT count() AS n FROM call_attempts FINAL WHERE campaign_id = 'flow-1'",
        "--format",
        "json",
        timeout=60,
    )
    assert sql.returncode == 0, sql.stderr
    assert json.loads(sql.stdout.splitlines()[0])["n"] == counters["calls_created"]


def test_tenancy_b_never_sees_or_touches_a(stack: Stack) -> None:
    a = stack.account("tenant-a")
    b = stack.account("tenant-b")
    setup_account(stack.http, a)
    assert upload(stack, a, "tenant-a-1", 3).status_code == 201
    hook = stack.http.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["campaign.status"]},
        headers=a,
    ).json()
    wait_campaign(stack, a, "tenant-a-1", lambda c: c["counters"]["contacts_total"] == 3)

    for method, path in (
        ("GET", "/v1/campaigns/tenant-a-1"),
        ("GET", "/v1/campaigns/tenant-a-1/contacts"),
        ("GET", "/v1/campaigns/tenant-a-1/calls"),
        ("GET", "/v1/campaigns/tenant-a-1/export.csv"),
        ("GET", "/v1/campaigns/tenant-a-1/forecast"),
        ("POST", "/v1/campaigns/tenant-a-1/start"),
        ("POST", "/v1/campaigns/tenant-a-1/cancel"),
        ("GET", f"/v1/webhooks/{hook['webhook_id']}"),
        ("DELETE", f"/v1/webhooks/{hook['webhook_id']}"),
        ("GET", "/v1/agents/renewals-bot"),
        ("DELETE", "/v1/agents/renewals-bot"),
        ("DELETE", "/v1/numbers/main-line"),
    ):
        r = stack.http.request(method, path, headers=b)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = stack.http.post(
        "/v1/campaigns/tenant-a-1/duplicate", json={"campaign_id": "stolen"}, headers=b
    )
    assert r.status_code == 404
    r = stack.http.post(
        "/v1/campaigns/tenant-a-1/contacts",
        json={"contacts": [{"phone_number": "+12125550000"}]},
        headers=b,
    )
    assert r.status_code == 404
    assert stack.http.get("/v1/campaigns", headers=b).json()["items"] == []
    assert stack.http.get("/v1/webhooks", headers=b).json()["items"] == []
    assert stack.http.get("/v1/agents", headers=b).json()["items"] == []
    # B cannot name A's agent or number in a definition of its own
    r = upload(stack, b, "tenant-b-1", 3)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {
        "definition.agent_id",
        "definition.source_number_id",
    }
    # and A's things are untouched
    assert stack.http.get("/v1/campaigns/tenant-a-1", headers=a).json()["status"] == "draft"
    assert stack.http.get(f"/v1/webhooks/{hook['webhook_id']}", headers=a).status_code == 200


def test_subscription_gates_start_with_402(stack: Stack) -> None:
    a = stack.account("unpaid-co", active=False)
    setup_account(stack.http, a)
    assert upload(stack, a, "unpaid-1", 2).status_code == 201
    wait_campaign(stack, a, "unpaid-1", lambda c: c["counters"]["contacts_total"] == 2)
    sub = stack.http.get("/v1/account", headers=a).json()["subscription"]
    assert sub["active"] is False and sub["reason"]
    r = stack.http.post("/v1/campaigns/unpaid-1/start", headers=a)
    assert r.status_code == 402 and "subscription" in r.json()["detail"]
    r = stack.http.post(
        "/v1/campaigns/unpaid-1/schedule", json={"start_at": "2030-01-01T09:00:00+01:00"}, headers=a
    )
    assert r.status_code == 402
    r = stack.http.put(
        "/v1/operator/accounts/unpaid-co/subscription",
        json={"active": True},
        headers=stack.operator,
    )
    assert r.status_code == 200 and r.json()["active"] is True

    # the worker's account table follows account.status on its own: until it has the
    # record the engine refuses too, and the API passes its reason on as a 402
    def scheduled() -> httpx.Response | None:
        r = stack.http.post(
            "/v1/campaigns/unpaid-1/schedule",
            json={"start_at": "2030-01-01T09:00:00+01:00"},
            headers=a,
        )
        return None if refused_for_subscription(r) else r

    r = wait_until(scheduled, "the worker to read unpaid-co's subscription", poll_seconds=1)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled"


def test_idempotency_keys_return_the_first_answer(stack: Stack) -> None:
    a = stack.account("idem-co")
    setup_account(stack.http, a)
    body = {"agent_id": "second-bot", "name": "Second", "prompt": "Hello {{x}}"}
    h = {**a, "Idempotency-Key": "agent-1"}
    first = stack.http.post("/v1/agents", json=body, headers=h)
    repeat = stack.http.post("/v1/agents", json=body, headers=h)
    assert first.status_code == repeat.status_code == 201
    assert first.json() == repeat.json()
    # without the key the same POST is a conflict: the repeat above did not run again
    assert stack.http.post("/v1/agents", json=body, headers=a).status_code == 409
    other = stack.http.post("/v1/agents", json={**body, "name": "Other"}, headers=h)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]

    one = upload(stack, a, "idem-1", 4, key="create-idem-1")
    two = upload(stack, a, "idem-1", 4, key="create-idem-1")
    assert one.status_code == two.status_code == 201, two.text
    assert one.json() == two.json()
    assert upload(stack, a, "idem-1", 4).status_code == 409  # a real second create
    wait_campaign(stack, a, "idem-1", lambda c: c["counters"]["contacts_total"] == 4)

    s1 = stack.http.post("/v1/campaigns/idem-1/cancel", headers={**a, "Idempotency-Key": "c1"})
    s2 = stack.http.post("/v1/campaigns/idem-1/cancel", headers={**a, "Idempotency-Key": "c1"})
    assert s1.status_code == s2.status_code == 200 and s1.json() == s2.json()
    # another account's identical key is its own
    b = stack.account("idem-other")
    r = stack.http.post("/v1/agents", json=body, headers={**b, "Idempotency-Key": "agent-1"})
    assert r.status_code == 201
    assert stack.http.get("/v1/agents/second-bot", headers=b).status_code == 200


def test_webhook_receiver_gets_each_event_once_signed(stack: Stack) -> None:
    a = stack.account("hook-co")
    other = stack.account("hook-other")
    setup_account(stack.http, a)
    setup_account(stack.http, other)
    rx = Receiver(fail_first=3)  # the first deliveries of three events fail: retried
    rx_other = Receiver()
    try:
        created = stack.http.post("/v1/webhooks", json={"url": rx.url}, headers=a).json()
        rx.secret = created["secret"]
        assert created["secret"].startswith("whsec_")
        assert "secret" not in stack.http.get("/v1/webhooks", headers=a).json()["items"][0] or (
            stack.http.get("/v1/webhooks", headers=a).json()["items"][0]["secret"] is None
        )
        created_other = stack.http.post("/v1/webhooks", json={"url": rx_other.url}, headers=other)
        rx_other.secret = created_other.json()["secret"]

        assert upload(stack, a, "hook-1", 5).status_code == 201
        wait_campaign(stack, a, "hook-1", lambda c: c["counters"]["contacts_total"] == 5)
        assert start(stack, a, "hook-1").status_code == 200
        wait_campaign(stack, a, "hook-1", lambda c: c["status"] == "completed")

        kinds = {"StatusChanged", "ContactFinal", "Progress"}
        want = {
            e["event_id"]
            for e in campaign_events(stack, "hook-1")
            if isinstance(e["body"], tuple) and e["body"][0].rsplit(".", 1)[-1] in kinds
        }
        wait_until(
            lambda: {e["event_id"] for e in rx.snapshot()} >= want,
            "every webhook event delivered",
            progress=lambda: len(rx.snapshot()),
            poll_seconds=0.5,
        )
        got = rx.snapshot()
        ids = [e["event_id"] for e in got]
        assert set(ids) == want
        assert len(ids) == len(set(ids)), "an event was delivered twice"
        assert rx.bad_signatures == 0
        assert len(rx.failed_once) == 3 and all(rx.attempts[i] == 2 for i in rx.failed_once)
        assert {e["type"] for e in got} >= {"campaign.status", "contact.final"}
        assert sum(1 for e in got if e["type"] == "contact.final") == 5
        assert all(e["account_id"] == "hook-co" and e["campaign_id"] == "hook-1" for e in got)
        assert rx_other.snapshot() == []  # no event of another account
    finally:
        rx.close()
        rx_other.close()


def test_forecasts_draw_from_the_accounts_allowance(stack: Stack) -> None:
    """Issue 21, item 14: forecasts simulate contacts in the API; past the account's hourly
    allowance of contacts (60 an hour here, 30 at once) they are 429 with Retry-After."""
    a = stack.account("forecast-co")
    b = stack.account("forecast-other")
    setup_account(stack.http, a)
    assert upload(stack, a, "fc-1", 12).status_code == 201
    wait_campaign(stack, a, "fc-1", lambda c: c["counters"]["contacts_total"] == 12)
    for _ in range(2):  # 24 of the 30 contacts it may forecast at once
        ok = stack.http.get("/v1/campaigns/fc-1/forecast", headers=a)
        assert ok.status_code == 200, ok.text
    third = stack.http.get("/v1/campaigns/fc-1/forecast", headers=a)
    assert third.status_code == 429, third.text
    assert int(third.headers["retry-after"]) > 0
    assert "forecast contacts" in third.json()["detail"]
    # Another account's allowance is its own (its campaign ids are its own: 404 here).
    assert stack.http.get("/v1/campaigns/fc-1/forecast", headers=b).status_code == 404
