"""The webhook dispatcher in-process on the real broker: an endpoint that keeps failing gets
a bounded number of tries with backoff, then the event is parked on the dead-letter topic;
a 4xx is not retried."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from api import accounts
from api.app import stop_services
from api.webhooks import Dispatcher
from campaignflow.config import settings
from campaigns.events import Command, CommandKind
from campaigns.models import parse_definition
from tests.helpers import wait_until
from tests.integration.api_kit import Receiver, local_services
from tests.integration.dialer_kit import drop_topics, read_all
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import encode
from topics.producer import TrackedProducer
from topics.translate import NAMESPACE, command_to_record


class Failing(Receiver):
    """Answers every delivery with `status` (after checking the signature)."""

    def __init__(self, status: int) -> None:
        super().__init__(fail_first=0)
        self.status = status
        me = self
        handler = self.httpd.RequestHandlerClass

        def do_post(h: Any) -> None:
            h.rfile.read(int(h.headers.get("Content-Length") or 0))
            with me._lock:
                event = h.headers.get("X-Campaignflow-Event-Id") or ""
                me.attempts[event] = me.attempts.get(event, 0) + 1
            h.send_response(me.status)
            h.end_headers()

        handler.do_POST = do_post  # type: ignore[attr-defined]


def dead_letters(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """The dead-letter topic's records, read to its end."""
    topic = catalogue.topic_name(catalogue.DEADLETTER, prefix)
    return [record for _, _, record in read_all(bootstrap, topic)]


def test_failing_endpoints_are_retried_then_parked(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"twh-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    down, refusing = Failing(503), Failing(410)
    config = svc.config.__class__(
        **{
            **svc.config.__dict__,
            "webhook_tries": 3,
            "webhook_backoff_s": 0.05,
            "webhook_allow_loopback": True,
        }
    )
    dispatcher = Dispatcher(config, svc.cp, svc.readmodel)
    try:
        accounts.create_account(svc.cp, "wh-co")
        for rx in (down, refusing):
            svc.cp.put(
                "webhook",
                "wh-co",
                f"wh-{rx.status}",
                {
                    "webhook_id": f"wh-{rx.status}",
                    "url": rx.url,
                    "events": ["campaign.status"],
                    "secret": "s",
                    "created_at": "2026-12-01T00:00:00.000Z",
                },
            )
        d = parse_definition(
            {
                "campaign_id": "wh-1",
                "account_id": "wh-co",
                "name": "W",
                "agent": {"id": "a", "prompt": ""},
                "source_number": "+15550100000",
                "rules": {"timezone": "UTC", "concurrent_calls": 1},
            }
        )
        producer = TrackedProducer(KafkaSettings(kafka_bootstrap))
        now_us = time.time_ns() // 1000
        create = Command("c-1", CommandKind.create, definition=d, expected_contacts=0)
        producer.produce(
            catalogue.topic_name(catalogue.COMMANDS, prefix),
            value=encode("CampaignCommand", command_to_record("wh-1", create, now_us)),
            key=b"wh-1",
        )
        event = {
            "event_id": "wh-1:status:1",
            "campaign_id": "wh-1",
            "at": now_us // 1000,
            "body": (f"{NAMESPACE}.StatusChanged", {"status": "running"}),
        }
        producer.produce(
            catalogue.topic_name(catalogue.EVENTS, prefix),
            value=encode("CampaignEvent", event),
            key=b"wh-1",
        )
        producer.wait(30)
        producer.close()
        dispatcher.start()
        wait_until(
            lambda: dispatcher.parked >= 2,
            "both endpoints' events parked",
            progress=lambda: (sum(down.attempts.values()), sum(refusing.attempts.values())),
            poll_seconds=0.2,
        )
        assert dispatcher.parked == 2 and dispatcher.delivered == 0
        assert down.attempts == {"wh-1:status:1": 3}  # bounded tries on a 5xx
        assert refusing.attempts == {"wh-1:status:1": 1}  # a 4xx is final

        def both_parked() -> list[dict[str, Any]] | None:
            rows = [r for r in dead_letters(kafka_bootstrap, prefix) if r["stage"] == "webhook"]
            return rows if len(rows) >= 2 else None

        parked = wait_until(
            both_parked, "the two parked deliveries on the dead-letter topic", poll_seconds=0.5
        )
        errors = sorted(r["error"] for r in parked)
        assert len(errors) == 2
        assert errors[0].startswith("webhook wh-410: HTTP 410 (not retried)")
        assert errors[1] == "webhook wh-503: HTTP 503 after 3 tries"
    finally:
        dispatcher.close()
        down.close()
        refusing.close()
        stop_services(svc)
        drop_topics([t.name for t in settings().topics_at(prefix).catalogue().values()])
