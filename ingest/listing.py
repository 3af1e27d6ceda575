"""Known campaigns, read back from the topics: create commands and the last status event.

`campaign list` and `contacts add` (which needs a campaign's default region) read
campaign.commands and campaign.events from the beginning up to their current end.
Cost grows with the topics' retained size; the worker's status API is the way for
big deployments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from campaigns.models import CampaignDefinition
from topics import catalogue
from topics.clients import KafkaSettings, consumer_config, watermarks
from topics.codec import DecodeError, decode
from topics.producer import QUIET
from topics.translate import NAMESPACE, definition_from_record


@dataclass
class CampaignInfo:
    campaign_id: str
    name: str = ""
    account_id: str = ""
    expected_contacts: int = 0
    status: str = "unknown"  # last StatusChanged, or "unknown" before the engine answered
    created_at_ms: int | None = None
    definition: CampaignDefinition | None = None


def read_topic(topic: str, kafka: KafkaSettings, timeout: float = 10.0) -> Iterator[dict[str, Any]]:
    """Every decodable record of a topic, from the start to its end as of now."""
    conf = consumer_config(kafka, f"campaignflow-list-{uuid.uuid4().hex}", log_level=QUIET)
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            return
        ends: dict[int, int] = {}
        for p in meta.partitions:
            low, high = watermarks(consumer, TopicPartition(topic, p), timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        done: set[int] = set()
        idle = 0
        while len(done) < len(ends) and idle < 20:
            batch = consumer.consume(1000, timeout=0.5)
            idle = 0 if batch else idle + 1
            for msg in batch:
                if msg.error() is not None:
                    continue
                p, off = int(msg.partition() or 0), int(msg.offset() or 0)
                if off >= ends[p] - 1:
                    done.add(p)
                if off >= ends[p]:
                    continue
                try:
                    _, rec = decode(msg.value(), topic, p, off)
                except DecodeError:
                    continue
                yield rec
    finally:
        consumer.close()


def _named(value: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(value, tuple):
        return value[0].removeprefix(NAMESPACE + "."), value[1]
    return "", value


def campaigns(kafka: KafkaSettings, prefix: str) -> list[CampaignInfo]:
    """Every campaign that has a create command, with its last known status."""
    found: dict[str, CampaignInfo] = {}
    for rec in read_topic(catalogue.topic_name(catalogue.COMMANDS, prefix), kafka):
        name, body = _named(rec["command"])
        campaign_id = rec["campaign_id"]
        if name == "CreateCampaign" and campaign_id not in found:
            try:
                d = definition_from_record(body["definition"])
            except ValueError:
                continue
            found[campaign_id] = CampaignInfo(
                campaign_id,
                d.name,
                d.account_id,
                int(body["expected_contacts"]),
                created_at_ms=rec["issued_at"] if isinstance(rec["issued_at"], int) else None,
                definition=d,
            )
        elif name == "AddContacts" and campaign_id in found:
            found[campaign_id].expected_contacts += int(body["count"])
    for rec in read_topic(catalogue.topic_name(catalogue.EVENTS, prefix), kafka):
        name, body = _named(rec["body"])
        info = found.get(rec["campaign_id"])
        if info is not None and name == "StatusChanged":
            info.status = str(body["status"])
    return sorted(found.values(), key=lambda c: c.campaign_id)


def find(campaign_id: str, kafka: KafkaSettings, prefix: str) -> CampaignInfo | None:
    for info in campaigns(kafka, prefix):
        if info.campaign_id == campaign_id:
            return info
    return None
