"""Helpers of the dialer's integration tests: topics, publishing calls, reading topics to the end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from campaignflow.config import settings
from tests.helpers import STALL_SECONDS, wait_until
from topics.admin import admin_client, create_topics, delete_topics
from topics.codec import decode, encode


def make_topics(prefix: str) -> list[str]:
    specs = settings().topics_at(prefix).catalogue().values()
    create_topics(specs, admin_client(settings().kafka))
    return [s.name for s in specs]


def drop_topics(names: list[str]) -> None:
    delete_topics(names, admin_client(settings().kafka))


def call_record(
    campaign: str, contact: str, attempt: int = 1, *, deadline_in_s: float = 3600, **over: Any
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    rec: dict[str, Any] = {
        "call_id": f"{campaign}/{contact}/{attempt}",
        "campaign_id": campaign,
        "account_id": "acme",
        "contact_id": contact,
        "attempt": attempt,
        "to": "+15550100001",
        "from": "+15550100000",
        "alternate_position": 0,
        "agent_id": "bot",
        "agent_prompt": "Hi {{name}}",
        "variables": {"name": contact},
        "created_at": now,
        "deadline": now + int(deadline_in_s * 1000),
    }
    rec.update(over)
    return rec


def publish(bootstrap: str, topic: str, items: list[tuple[str, bytes]]) -> None:
    """Publish (key, value) pairs and wait until the broker has them."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def publish_calls(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    publish(bootstrap, topic, [(r["account_id"], encode("CallCreate", r)) for r in records])


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark per partition (retried while fresh topics elect their leaders)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        for attempt in range(50):
            try:
                meta = c.list_topics(topic, timeout=10).topics[topic]
                return {
                    p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in meta.partitions
                }
            except KafkaException:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")
    finally:
        c.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed position per partition (0 where nothing is committed)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in end_offsets(bootstrap, topic)]
        return {tp.partition: max(tp.offset, 0) for tp in c.committed(parts, timeout=10)}
    finally:
        c.close()


def read_all(
    bootstrap: str, topic: str, timeout: float = 60
) -> list[tuple[Any, str, dict[str, Any]]]:
    """Every message of `topic` up to its current end: (message, event, record or {})."""
    ends = end_offsets(bootstrap, topic)
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out: list[tuple[Any, str, dict[str, Any]]] = []
    positions = dict.fromkeys(ends, 0)

    def at_end() -> bool:
        if all(positions[p] >= ends[p] for p in ends):
            return True
        for m in c.consume(500, timeout=0.5):
            if m.error():
                continue
            positions[m.partition()] = m.offset() + 1
            event, record = decode(m.value())
            out.append((m, event, record))
        return all(positions[p] >= ends[p] for p in ends)

    try:
        wait_until(
            at_end,
            f"{topic} read to its end {ends}",
            progress=lambda: sum(positions.values()),
            stall_seconds=max(timeout, STALL_SECONDS),
            poll_seconds=0,
        )
    finally:
        c.close()
    return out


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    """Poll `check` until true (tests.helpers.wait_until): `timeout` without progress at least,
    and never less than its stall window, so a loaded machine fails no wait."""
    wait_until(check, what, stall_seconds=max(timeout, STALL_SECONDS))


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """The group has committed every message of `topic`."""
    return committed(bootstrap, group, topic) == end_offsets(bootstrap, topic)
