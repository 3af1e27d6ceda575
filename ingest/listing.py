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
from campaigns.store import campaign_key
from ingest.exceptions import AmbiguousCampaign
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
    """Every campaign that has a create command from its own account, with its last status.

    Campaign ids are per account: campaigns are told apart by (account, id).
    """
    found: dict[str, CampaignInfo] = {}
    for rec in read_topic(catalogue.topic_name(catalogue.COMMANDS, prefix), kafka):
        name, body = _named(rec["command"])
        campaign_id = rec["campaign_id"]
        key = campaign_key(rec.get("account_id") or "", campaign_id)
        if name == "CreateCampaign" and key not in found:
            try:
                d = definition_from_record(body["definition"])
            except ValueError:
                continue
            if d.account_id != rec.get("account_id"):
                continue  # the engine refuses a create for another account than its own
            found[key] = CampaignInfo(
                campaign_id,
                d.name,
                d.account_id,
                int(body["expected_contacts"]),
                created_at_ms=rec["issued_at"] if isinstance(rec["issued_at"], int) else None,
                definition=d,
            )
        elif name == "EditDraft" and key in found:  # a draft's new definition and list
            try:
                edited = definition_from_record(body["definition"])
            except ValueError:
                continue
            found[key].definition = edited
            found[key].name = edited.name
            found[key].expected_contacts = int(body["expected_contacts"])
        elif name == "AddContacts" and key in found:
            found[key].expected_contacts += int(body["count"])
    for rec in read_topic(catalogue.topic_name(catalogue.EVENTS, prefix), kafka):
        name, body = _named(rec["body"])
        info = found.get(campaign_key(rec.get("account_id") or "", rec["campaign_id"]))
        if info is not None and name == "StatusChanged":
            info.status = str(body["status"])
    return sorted(found.values(), key=lambda c: (c.campaign_id, c.account_id))


def find(
    campaign_id: str, kafka: KafkaSettings, prefix: str, account_id: str | None = None
) -> CampaignInfo | None:
    """The campaign of that id in `account_id`; without an account, the only one of that id
    (AmbiguousCampaign when several accounts have it)."""
    matches = [
        info
        for info in campaigns(kafka, prefix)
        if info.campaign_id == campaign_id and account_id in (None, info.account_id)
    ]
    if len(matches) > 1:
        accounts = ", ".join(info.account_id for info in matches)
        raise AmbiguousCampaign(
            f"campaign {campaign_id!r} exists in accounts {accounts}: name the account"
        )
    return matches[0] if matches else None
