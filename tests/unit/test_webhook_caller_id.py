"""caller_id.health to the webhooks (issue 23.5): a CallerIdHealth record of the sink becomes
a `caller_id.degraded` delivery to each endpoint of the account subscribed to it, with the
record's deterministic event id, without a network (fake control plane and read model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from api.config import ApiSettings
from api.models import WEBHOOK_EVENTS, WebhookCreate
from api.webhooks import CALLER_ID_DEGRADED, Dispatcher, caller_id_event
from sinks.health import event_id, record
from tests.unit.test_account_settings_api import api  # noqa: F401 (the API in memory)
from topics.catalogue import Topics
from topics.clients import KafkaSettings
from topics.codec import encode

NUMBER = "+15550100003"


class Msg:
    def __init__(self, topic: str, value: bytes, offset: int = 7) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"acme"


class FakeControlPlane:
    def __init__(self, hooks: list[dict[str, Any]]) -> None:
        self.hooks = hooks

    def items(self, kind: str, account: str) -> list[tuple[str, dict[str, Any]]]:
        assert kind == "webhook"
        return [(h["webhook_id"], h) for h in self.hooks if account == "acme"]


class FakeReadModel:
    def campaign(self, account: str, campaign_id: str) -> Any:
        return SimpleNamespace(account_id=account) if campaign_id == "hh" else None

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        return webhook_id == "wh-served"


def _hook(wid: str, events: list[str]) -> dict[str, Any]:
    return {"webhook_id": wid, "url": f"https://example.org/{wid}", "secret": "s", "events": events}


def _dispatcher(tmp_path: Path, hooks: list[dict[str, Any]]) -> Dispatcher:
    config = ApiSettings(
        kafka=KafkaSettings("127.0.0.1:1"), topics=Topics("t."), state_dir=tmp_path
    )
    return Dispatcher(config, FakeControlPlane(hooks), FakeReadModel())  # type: ignore[arg-type]


def _health(at_ms: int = 1_765_000_000_000) -> dict[str, Any]:
    return record(("acme", "hh", NUMBER, 30, 0.1, 0.5), at_ms)


def test_a_degraded_number_is_delivered_as_caller_id_degraded(tmp_path: Path) -> None:
    hooks = [
        _hook("wh-all", list(WEBHOOK_EVENTS)),
        _hook("wh-status", ["campaign.status"]),  # not subscribed
        _hook("wh-served", [CALLER_ID_DEGRADED]),  # had it already (a re-read)
    ]
    d = _dispatcher(tmp_path, hooks)
    assert d.health_topic == "t.caller_id.health"
    pending = d._pending_event(Msg(d.health_topic, encode("CallerIdHealth", _health())))
    assert pending is not None and pending.kind == CALLER_ID_DEGRADED
    [delivery] = d._deliveries(pending, "acme")
    assert delivery.endpoint.webhook_id == "wh-all"
    assert delivery.event_type == CALLER_ID_DEGRADED
    assert delivery.event_id == event_id("acme", "hh", NUMBER, True)
    assert json.loads(delivery.data) == {
        "event_id": delivery.event_id,
        "type": "caller_id.degraded",
        "account_id": "acme",
        "campaign_id": "hh",
        "at": 1_765_000_000_000,  # epoch millis, like the campaign events
        "data": {
            "caller_id": NUMBER,
            "degraded": True,
            "recent_calls": 30,
            "recent_answer_rate": 0.1,
            "campaign_median_answer_rate": 0.5,
        },
    }


def test_a_replayed_announcement_keeps_its_event_id(tmp_path: Path) -> None:
    d = _dispatcher(tmp_path, [_hook("wh-all", [CALLER_ID_DEGRADED])])
    ids = set()
    for at_ms in (1_765_000_000_000, 1_765_000_123_000):  # announced again after a crash
        pending = d._pending_event(Msg(d.health_topic, encode("CallerIdHealth", _health(at_ms))))
        assert pending is not None
        ids.add(d._deliveries(pending, "acme")[0].event_id)
    assert len(ids) == 1


def test_only_a_degradation_is_an_event() -> None:
    healthy = {**_health(), "degraded": False}
    assert caller_id_event(healthy) is None
    event = caller_id_event(_health())
    assert event is not None and event["at"] == datetime.fromtimestamp(1_765_000_000, UTC)


def test_endpoints_may_subscribe_to_it() -> None:
    body = WebhookCreate(url="https://example.org/h", events=[CALLER_ID_DEGRADED])
    assert body.events == [CALLER_ID_DEGRADED]
    assert CALLER_ID_DEGRADED in WebhookCreate(url="https://example.org/h").events


def test_the_api_lists_the_events_to_choose_from(api: Any) -> None:  # noqa: F811
    """The console's webhooks page lists GET /v1/webhook-events: the one list the API checks."""
    client, _, _, headers, _, _ = api
    r = client.get("/v1/webhook-events", headers=headers)
    assert r.status_code == 200, r.text
    names = [e["name"] for e in r.json()["items"]]
    assert names == list(WEBHOOK_EVENTS) and CALLER_ID_DEGRADED in names
    assert all(e["description"] for e in r.json()["items"])
    bad = client.post(
        "/v1/webhooks",
        json={"url": "https://example.org/h", "events": ["caller_id.bogus"]},
        headers=headers,
    )
    assert bad.status_code == 422 and "caller_id.degraded" in bad.text
    assert client.get("/v1/webhook-events").status_code == 401
