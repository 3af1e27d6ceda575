"""caller_id.degraded on the real broker (issue 23.5): the sink (in process, embedded
ClickHouse) reads the calls, finds the degraded number and announces it once on
caller_id.health; more calls of that number later announce nothing more."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from campaignflow.config import settings
from sinks.consumer import Sink
from sinks.health import event_id
from tests.integration.sink_kit import call_create, call_outcome, make_topics, publish, wait_for
from topics import catalogue
from topics.admin import admin_client, delete_topics
from topics.clients import consumer_config
from topics.codec import decode

pytestmark = pytest.mark.integration

GOOD_1, GOOD_2, BAD = "+15550100011", "+15550100012", "+15550100013"


@pytest.fixture()
def topics(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    settings.cache_clear()
    names = make_topics(topic_prefix)
    yield topic_prefix
    delete_topics(names, admin_client(settings().kafka))


def calls(cid: str, caller: str, n: int, answered: int, tag: str) -> dict[str, list[Any]]:
    creates, outcomes = [], []
    for i in range(n):
        contact = f"{tag}{i}"
        create = call_create(cid, contact, 1)
        creates.append({**create, "from": caller})
        outcomes.append(call_outcome(cid, contact, 1, "answered" if i < answered else "no_answer"))
    return {"CallCreate": creates, "CallOutcome": outcomes}


def test_a_degraded_number_is_announced_once(topics: str, tmp_path: Path) -> None:
    cid = f"cid-{uuid.uuid4().hex[:6]}"
    for caller, answered, tag in ((GOOD_1, 20, "g"), (GOOD_2, 20, "h"), (BAD, 2, "b")):
        publish(calls(cid, caller, 40, answered, tag))
    sink = Sink(
        settings().sink(f"chdb://{tmp_path / 'ch'}"),
        batch_rows=500,
        batch_seconds=0.2,
        group_id=f"sink-{topics}",
    )
    sink.health.every_s = 0.5
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    consumer = Consumer(consumer_config(settings().kafka, f"read-{topics}"))
    consumer.subscribe([catalogue.topic_name(catalogue.CALLER_ID_HEALTH, topics)])
    got: list[dict[str, Any]] = []

    def read() -> int:
        for msg in consumer.consume(100, timeout=0.5):
            if msg.error() is None:
                assert msg.key() == b"acme"
                got.append(decode(msg.value())[1])
        return len(got)

    try:
        wait_for(read, 120, "the degraded number's announcement")
        [rec] = got
        assert (rec["campaign_id"], rec["caller_id"], rec["degraded"]) == (cid, BAD, True)
        assert rec["event_id"] == event_id("acme", cid, BAD, True)
        assert (rec["recent_calls"], rec["recent_answer_rate"]) == (40, 0.05)
        assert rec["campaign_median_answer_rate"] == 0.5
        # More calls of the bad number: checked again, nothing announced again.
        checks = sink.health.checks
        publish(calls(cid, BAD, 10, 0, "c"))
        wait_for(lambda: sink.health.checks > checks and not sink.health.due(), 120, "a check")
        read()
        assert len(got) == 1 and sink.health.announced == 1
    finally:
        consumer.close()
        stop.set()
        thread.join(60)
