"""Lifecycle commands: publish one with a fresh id, then wait for the engine's answer.

The engine answers on campaign.events: a `CommandRejected` carrying our command id,
or a `StatusChanged` of the campaign to the status the command leads to. The watch
is positioned at the end of the events topic *before* the command is sent, so the
answer cannot slip by. Commands without a status change (add-contacts) are only
answered when rejected.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TopicPartition

from campaigns.events import CampaignStatus, Command, CommandKind
from campaigns.store import campaign_key
from campaigns.windows import from_datetime
from topics import catalogue
from topics.clients import KafkaSettings
from topics.codec import DecodeError, decode, encode
from topics.consumer import TopicConsumer
from topics.producer import QUIET, TrackedProducer
from topics.translate import NAMESPACE, command_to_record

# The status each command leads to when the engine accepts it.
TARGET = {
    CommandKind.create: CampaignStatus.draft,
    CommandKind.start: CampaignStatus.running,
    CommandKind.schedule: CampaignStatus.scheduled,
    CommandKind.pause: CampaignStatus.paused,
    CommandKind.resume: CampaignStatus.running,
    CommandKind.cancel: CampaignStatus.cancelled,
}


def new_command_id() -> str:
    return uuid.uuid4().hex


def add_contacts_id(account_id: str, campaign_id: str, contact_ids: list[str]) -> str:
    """Deterministic id: adding the same contacts twice is one command the engine drops once."""
    h = hashlib.sha256(campaign_key(account_id, campaign_id).encode())
    for contact_id in sorted(contact_ids):
        h.update(b"\0" + contact_id.encode())
    return "add-" + h.hexdigest()[:32]


def now_us() -> int:
    return from_datetime(datetime.now(UTC))


@dataclass(frozen=True)
class Answer:
    """What became of a command: accepted (status), rejected (reason), sent (not waited) or timeout."""

    outcome: str  # "accepted" | "rejected" | "sent" | "timeout"
    command_id: str
    status: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("accepted", "sent")

    def describe(self, campaign_id: str, kind: CommandKind) -> str:
        if self.outcome == "accepted":
            return f"{kind.value} {campaign_id}: accepted, campaign is {self.status}"
        if self.outcome == "rejected":
            return f"{kind.value} {campaign_id}: rejected: {self.reason}"
        if self.outcome == "sent":
            return f"{kind.value} {campaign_id}: sent (command {self.command_id}), not waiting"
        return (
            f"{kind.value} {campaign_id}: sent (command {self.command_id}) but no answer from the"
            " engine in time (is the worker running?)"
        )


class EventWatch:
    """A consumer on campaign.events from its current end, for answers to our commands."""

    def __init__(self, kafka: KafkaSettings, prefix: str) -> None:
        group = f"campaignflow-cli-{uuid.uuid4().hex}"
        self.topic = catalogue.topic_name(catalogue.EVENTS, prefix)
        self._consumer = TopicConsumer.build(kafka, group, log_level=QUIET)
        spans = self._consumer.spans(self.topic)
        self._consumer.assign([TopicPartition(s.topic, s.partition, s.high) for s in spans])

    def wait(
        self, account_id: str, campaign_id: str, command_id: str, kind: CommandKind, timeout: float
    ) -> Answer:
        """The engine's answer about the account's campaign (campaign ids are per account)."""
        target = TARGET.get(kind)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for msg in self._consumer.messages(100, timeout_seconds=min(left, 0.5)):
                try:
                    _, rec = decode(msg.value(), msg.topic(), msg.partition(), msg.offset())
                except DecodeError:
                    continue
                if rec.get("campaign_id") != campaign_id or rec.get("account_id") != account_id:
                    continue
                name, body = _body(rec)
                if name == "CommandRejected" and body.get("command_id") == command_id:
                    return Answer("rejected", command_id, reason=str(body.get("reason")))
                if name == "StatusChanged" and target is not None and body["status"] == target:
                    return Answer("accepted", command_id, status=str(body["status"]))
        return Answer("timeout", command_id)

    def close(self) -> None:
        self._consumer.close()


def _body(rec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = rec["body"]
    if isinstance(body, tuple):
        name, value = body
        return name.removeprefix(NAMESPACE + "."), value
    return "", body


def publish(
    producer: TrackedProducer,
    campaign_id: str,
    command: Command,
    prefix: str,
    timeout: float = 30.0,
) -> None:
    """Send one command, keyed by its account, and wait until the broker acknowledged it."""
    if not command.account_id:
        raise ValueError(f"command {command.command_id} for {campaign_id!r} names no account")
    record = command_to_record(campaign_id, command, now_us())
    producer.produce(
        catalogue.topic_name(catalogue.COMMANDS, prefix),
        value=encode("CampaignCommand", record),
        key=catalogue.account_key(command.account_id),
    )
    producer.wait(timeout)


def send(
    producer: TrackedProducer,
    campaign_id: str,
    command: Command,
    *,
    kafka: KafkaSettings,
    prefix: str,
    wait: bool = True,
    timeout: float = 30.0,
) -> Answer:
    """Publish a command and (unless `wait` is False) wait for the engine's answer."""
    if not wait:
        publish(producer, campaign_id, command, prefix, timeout)
        return Answer("sent", command.command_id)
    watch = EventWatch(kafka, prefix)
    try:
        publish(producer, campaign_id, command, prefix, timeout)
        assert command.account_id is not None  # publish refused a command without one
        return watch.wait(
            command.account_id, campaign_id, command.command_id, command.kind, timeout
        )
    finally:
        watch.close()
