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

from campaigns.models import CampaignDefinition
from campaigns.store import campaign_key
from ingest.exceptions import AmbiguousCampaign
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import DecodeError, decode
from topics.consumer import TopicConsumer, TopicMissing
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


def read_topic(topic: str, kafka: KafkaSettings) -> Iterator[dict[str, Any]]:
    """Every decodable record of a topic, from the start to its end as of now (none when
    the topic does not exist)."""
    group = f"campaignflow-list-{uuid.uuid4().hex}"
    with TopicConsumer.build(kafka, group, log_level=QUIET) as consumer:
        try:
            spans = consumer.spans(topic)
        except TopicMissing:
            return
        for msg in consumer.read_to_end(spans):
            try:
                _, rec = decode(msg.value(), topic, msg.partition(), msg.offset())
            except DecodeError:
                continue
            yield rec


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
