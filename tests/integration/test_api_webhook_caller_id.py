"""caller_id.degraded through the webhook dispatcher on the real broker (issue 23.5): a
CallerIdHealth record of the sink on caller_id.health, published twice (a crash between the
sink's publishing and recording), reaches the subscribed endpoint signed, with the
announcement's event id and the `caller_id.degraded` payload; another account's endpoint
and one not subscribed get nothing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from api import accounts
from api.app import stop_services
from api.webhooks import Dispatcher
from campaignflow.config import settings
from campaigns.events import Command, CommandKind
from campaigns.models import parse_definition
from sinks.health import event_id, record
from tests.helpers import wait_until
from tests.integration.api_kit import Receiver, local_services
from tests.integration.dialer_kit import drop_topics
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import encode
from topics.producer import TrackedProducer
from topics.translate import command_to_record

NUMBER = "+15550100013"


def _hook(rx: Receiver, wid: str, events: list[str]) -> dict[str, object]:
    return {
        "webhook_id": wid,
        "url": rx.url,
        "events": events,
        "secret": "s",
        "created_at": "2026-12-01T00:00:00.000Z",
    }


def test_a_degraded_number_reaches_the_subscribed_endpoint(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"tcid-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    config = svc.config.__class__(**{**svc.config.__dict__, "webhook_allow_loopback": True})
    dispatcher = Dispatcher(config, svc.cp, svc.readmodel)
    subscribed, other = Receiver(secret="s"), Receiver(secret="s")
    try:
        accounts.create_account(svc.cp, "cid-co")
        svc.cp.put(
            "webhook", "cid-co", "wh-cid", _hook(subscribed, "wh-cid", ["caller_id.degraded"])
        )
        svc.cp.put("webhook", "cid-co", "wh-st", _hook(other, "wh-st", ["campaign.status"]))
        d = parse_definition(
            {
                "campaign_id": "cid-1",
                "account_id": "cid-co",
                "name": "C",
                "agent": {"id": "a", "prompt": ""},
                "source_number": "+15550100000",
                "rules": {"timezone": "UTC", "concurrent_calls": 1},
            }
        )
        producer = TrackedProducer(KafkaSettings(kafka_bootstrap))
        now_us = time.time_ns() // 1000
        create = Command(
            "c-1", CommandKind.create, definition=d, expected_contacts=0, account_id="cid-co"
        )
        producer.produce(
            catalogue.topic_name(catalogue.COMMANDS, prefix),
            value=encode("CampaignCommand", command_to_record("cid-1", create, now_us)),
            key=b"cid-co",
        )
        for at_ms in (now_us // 1000, now_us // 1000 + 5_000):  # announced, then again
            rec = record(("cid-co", "cid-1", NUMBER, 40, 0.05, 0.5), at_ms)
            producer.produce(
                catalogue.topic_name(catalogue.CALLER_ID_HEALTH, prefix),
                value=encode("CallerIdHealth", rec),
                key=b"cid-co",
            )
        producer.wait(30)
        producer.close()
        dispatcher.start()
        wait_until(
            lambda: subscribed.received,
            "the caller_id.degraded delivery",
            progress=lambda: dispatcher.delivered,
            poll_seconds=0.2,
        )
        got = subscribed.received[0]
        assert got["type"] == "caller_id.degraded"
        assert got["event_id"] == event_id("cid-co", "cid-1", NUMBER, True)
        assert (got["account_id"], got["campaign_id"]) == ("cid-co", "cid-1")
        assert got["data"] == {
            "caller_id": NUMBER,
            "degraded": True,
            "recent_calls": 40,
            "recent_answer_rate": 0.05,
            "campaign_median_answer_rate": 0.5,
        }
        assert {r["event_id"] for r in subscribed.received} == {got["event_id"]}  # one id
        assert subscribed.bad_signatures == 0 and other.attempts == {}
    finally:
        dispatcher.close()
        subscribed.close()
        other.close()
        stop_services(svc)
        drop_topics([t.name for t in settings().topics_at(prefix).catalogue().values()])
