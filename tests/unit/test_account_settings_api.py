"""GET/PUT /v1/account/settings (SPEC 8, issue 22 item 4): validated (422 naming the field),
an account key sets its own account's, every change audited in the account's events with
the key's prefix and old -> new values, the subscription kept; lines in use from the read
model. The control plane runs in memory here (its Kafka writes are the live test's)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app
from api.config import ApiSettings
from api.controlplane import ControlPlane
from api.deps import Services
from api.readmodel import ReadModel
from api.readmodel.fold import FoldBatch
from campaignflow.config import settings
from campaigns.events import Command, CommandKind
from campaigns.models import AccountSettings
from campaigns.testing import definition
from topics import translate
from topics.clients import KafkaSettings

pytestmark = pytest.mark.unit


class MemoryControlPlane(ControlPlane):
    """The control plane with its writes applied locally only (no broker)."""

    def put(self, kind: str, account: str, rid: str, body: dict[str, Any] | None) -> None:
        self._apply(kind, account, rid, body)

    def _put_status(
        self, account: str, active: bool, plan: str | None, settings: AccountSettings
    ) -> None:
        self._status[account] = {
            "account_id": account,
            "active": active,
            "plan": plan,
            "lines": settings.lines,
            "inbound_max_minutes": settings.inbound_max_minutes,
        }


@pytest.fixture()
def api(tmp_path: Path) -> Any:
    s = settings()
    kafka = KafkaSettings("127.0.0.1:1")
    config = ApiSettings(kafka=kafka, topics=s.topics, state_dir=tmp_path)
    cp = MemoryControlPlane(kafka, s.topics)
    rm = ReadModel(kafka, s.topic_prefix, tmp_path / "rm")
    key = accounts.create_account(cp, "acme").key
    other = accounts.create_account(cp, "other").key
    cp.set_subscription("acme", True, "pro")
    with TestClient(create_app(config, Services(config, cp, readmodel=rm))) as client:
        yield client, cp, rm, {"Authorization": f"Bearer {key}"}, key, other
    rm.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": 0}, "lines"),
        ({"lines": 2.5}, "lines"),
        ({"lines": "many"}, "lines"),
        ({"lines": 2_000_000}, "lines"),
        ({"inbound_max_minutes": 0}, "inbound_max_minutes"),
        ({"inbound_max_minutes": 100_000}, "inbound_max_minutes"),
        ({"lines": 2, "line": 3}, "line"),
    ],
)
def test_bad_settings_are_a_422_naming_the_field_and_change_nothing(
    api: Any, body: dict[str, Any], field: str
) -> None:
    client, cp, _, headers, _, _ = api
    r = client.put("/v1/account/settings", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert cp.account_settings("acme").lines is None
    assert client.get("/v1/account/events", headers=headers).json() == {"items": []}


def test_a_change_is_written_and_audited_with_the_keys_prefix(api: Any) -> None:
    client, cp, _, headers, key, _ = api
    before = client.get("/v1/account/settings", headers=headers).json()
    assert before == {
        "lines": None,
        "inbound_max_minutes": 240.0,
        "in_use": {"inbound": 0, "campaigns": {}},
    }
    r = client.put(
        "/v1/account/settings", json={"lines": 20, "inbound_max_minutes": 90}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == 20 and r.json()["inbound_max_minutes"] == 90
    assert cp.account_settings("acme") == AccountSettings(
        account_id="acme", lines=20, inbound_max_minutes=90
    )
    assert cp.subscription("acme").active and cp.subscription("acme").plan == "pro"  # kept
    assert cp.account_settings("other").lines is None  # only the key's own account
    # the same settings again change nothing and add no event
    client.put(
        "/v1/account/settings", json={"lines": 20, "inbound_max_minutes": 90}, headers=headers
    )
    events = client.get("/v1/account/events", headers=headers).json()["items"]
    assert len(events) == 1
    prefix = f"cfk_{key.split('_')[1]}_"
    assert events[0]["type"] == "account.settings_changed"
    assert events[0]["by"] == prefix and key not in str(events)
    assert events[0]["changes"] == {
        "lines": {"old": None, "new": 20},
        "inbound_max_minutes": {"old": 240.0, "new": 90.0},
    }
    client.put(
        "/v1/account/settings", json={"lines": None, "inbound_max_minutes": 90}, headers=headers
    )
    assert cp.account_settings("acme").lines is None  # null: no account limit
    assert client.get("/v1/account/events", headers=headers).json()["items"][0]["changes"] == {
        "lines": {"old": 20, "new": None}
    }


def test_lines_in_use_count_inbound_calls_until_their_end_or_cut_off(api: Any) -> None:
    client, _, rm, headers, _, _ = api
    now_ms = int(time.time() * 1000)
    batch = FoldBatch(rm.store)
    for call_id, kind, at_ms in (
        ("in-1", "started", now_ms),
        ("in-2", "started", now_ms),
        ("in-2", "ended", now_ms),
        ("ghost", "ended", now_ms),  # an end with no start changes nothing
        ("lost", "started", now_ms - 241 * 60_000),  # past the default cut-off
    ):
        batch.inbound({"account_id": "acme", "call_id": call_id, "kind": kind, "at": at_ms})
    batch.inbound({"account_id": "other", "call_id": "x", "kind": "started", "at": now_ms})
    batch.commit()
    used = client.get("/v1/account/settings", headers=headers).json()["in_use"]
    assert used == {"inbound": 1, "campaigns": {}}


def test_lines_in_use_count_calls_in_flight_by_campaign(api: Any) -> None:
    """Calls created less calls ended, for running campaigns and any other still holding
    lines (SPEC 8: a completed campaign's calls in flight still hold theirs)."""
    client, _, rm, headers, _, _ = api
    batch = FoldBatch(rm.store)
    now_ms = int(time.time() * 1000)
    for cid in ("spring", "autumn", "done", "draft"):
        create = Command(
            f"k-{cid}",
            CommandKind.create,
            definition=definition(cid, concurrent_calls=3),
            expected_contacts=3,
        )
        batch.command(
            {**translate.command_to_record(cid, create, now_ms * 1000), "account_id": "acme"}
        )
    batch.commit()
    batch = FoldBatch(rm.store)
    for cid, status in (("spring", "running"), ("autumn", "running"), ("done", "completed")):
        batch.event(_status_event(cid, status, now_ms))
    for cid, n in (("spring", 3), ("done", 1)):
        for i in range(n):
            batch.call(_call(cid, f"c{i}", now_ms))
    batch.outcome(_outcome("spring", "c0", now_ms))
    batch.commit()
    used = client.get("/v1/account/settings", headers=headers).json()["in_use"]
    # autumn runs with no call in flight; a draft holds no line
    assert used == {"inbound": 0, "campaigns": {"autumn": 0, "done": 1, "spring": 2}}


def _status_event(cid: str, status: str, at_ms: int) -> dict[str, Any]:
    body = {"status": status}
    return {
        "account_id": "acme",
        "campaign_id": cid,
        "at": at_ms,
        "body": ("io.campaignflow.v1.StatusChanged", body),
    }


def _call(cid: str, contact_id: str, at_ms: int) -> dict[str, Any]:
    return {
        "account_id": "acme",
        "campaign_id": cid,
        "call_id": f"{cid}/{contact_id}/1",
        "contact_id": contact_id,
        "attempt": 1,
        "to": "+12125550100",
        "from": "+15550100000",
        "created_at": at_ms,
    }


def _outcome(cid: str, contact_id: str, at_ms: int) -> dict[str, Any]:
    return {
        "account_id": "acme",
        "campaign_id": cid,
        "call_id": f"{cid}/{contact_id}/1",
        "contact_id": contact_id,
        "attempt": 1,
        "status": "no_answer",
        "ended_at": at_ms,
    }
