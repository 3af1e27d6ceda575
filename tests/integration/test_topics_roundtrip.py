"""On the real broker: every schema through its topic, and bad messages parked on the dead-letter topic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from campaignflow.config import settings
from topics import catalogue, deadletter, samples
from topics.admin import create_topics, delete_topics, list_topics
from topics.catalogue import TopicSpec
from topics.clients import KafkaSettings, admin_config, consumer_config, producer_config
from topics.codec import SINGLE_OBJECT_MAGIC, Codec, DecodeError
from topics.producer import TrackedProducer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"it-{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="module")
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient(admin_config(KafkaSettings(kafka_bootstrap)))


@pytest.fixture(scope="module")
def specs(admin: AdminClient, prefix: str) -> Iterator[dict[str, TopicSpec]]:
    specs = settings().topics_at(prefix).catalogue()
    yield specs
    delete_topics([t.name for t in specs.values()], admin=admin)


@pytest.fixture(scope="module")
def created(admin: AdminClient, specs: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
    first = create_topics(specs.values(), admin=admin)
    assert set(first.values()) == {"created"}
    return specs


@pytest.fixture()
def producer(kafka_bootstrap: str) -> Iterator[Producer]:
    p = Producer(producer_config(KafkaSettings(kafka_bootstrap)))
    yield p
    assert p.flush(30) == 0


def _consume(bootstrap: str, topics: list[str], count: int) -> list[Message]:
    """Read `count` messages from the start of `topics` (all partitions), in partition order."""
    consumer = Consumer(consumer_config(KafkaSettings(bootstrap), f"it-{uuid.uuid4().hex}"))
    try:
        meta = consumer.list_topics(timeout=30).topics
        consumer.assign(
            [
                TopicPartition(t, p, 0)  # from the first offset
                for t in topics
                for p in meta[t].partitions
            ]
        )
        got: list[Message] = []
        idle = 0
        while len(got) < count and idle < 60:
            batch = consumer.consume(num_messages=500, timeout=1.0)
            idle = 0 if batch else idle + 1
            for msg in batch:
                assert msg.error() is None, msg.error()
                got.append(msg)
        return got
    finally:
        consumer.close()


def _key(spec: TopicSpec, record: dict[str, Any]) -> str:
    """The record's Kafka key; a composite key (`account_id/id`) joins its fields with '/'."""
    return "/".join(str(record[field]) for field in spec.key.split("/"))


def test_topics_are_created_idempotently_and_listed(
    admin: AdminClient, created: dict[str, TopicSpec]
) -> None:
    again = create_topics(created.values(), admin=admin)
    assert set(again.values()) == {"exists"}
    states = list_topics(created.values(), admin=admin)
    assert all(s.ok for s in states), [(s.spec.name, s.partitions) for s in states]
    keyed = {s.spec.partitions for s in states if s.spec.account_keyed}
    assert len(keyed) == 1


def test_every_schema_round_trips_through_its_topic(
    kafka_bootstrap: str, created: dict[str, TopicSpec], producer: Producer
) -> None:
    codec = Codec()
    sent: list[tuple[str, str, dict[str, Any]]] = []  # (topic, event, record)
    for spec in created.values():
        if spec.logical == catalogue.DEADLETTER:
            continue  # exercised by the dead-letter test below, on its own
        records = [samples.SAMPLES[spec.schema]]
        if spec.schema == "CampaignCommand":  # carries CampaignDefinition inside CreateCampaign
            records = [{**records[0], "command": c} for c in samples.COMMANDS]
        if spec.schema == "CampaignEvent":
            records = [{**records[0], "body": b} for b in samples.EVENT_BODIES]
        for record in records:
            if spec.logical == catalogue.TICKS:
                partition = record["partition"] % spec.partitions
                producer.produce(
                    spec.name, codec.encode("Tick", record), key=str(partition), partition=partition
                )
            else:
                producer.produce(
                    spec.name, codec.encode(spec.schema, record), key=_key(spec, record)
                )
            sent.append((spec.name, spec.schema, record))
    assert producer.flush(30) == 0

    topics = sorted({t for t, _, _ in sent})
    got = _consume(kafka_bootstrap, topics, len(sent))
    decoded = sorted(
        ((m.topic(), *codec.decode(m.value(), m.topic(), m.partition(), m.offset())) for m in got),
        key=repr,
    )
    assert decoded == sorted(sent, key=repr)
    # account-keyed messages are keyed by account_id
    for m in got:
        spec = next(s for s in created.values() if s.name == m.topic())
        if spec.account_keyed and spec.key == "account_id":
            assert m.key() == b"acme"


def test_bad_messages_are_dead_lettered_and_consumption_goes_on(
    kafka_bootstrap: str, admin: AdminClient, prefix: str
) -> None:
    codec = Codec()
    producer = TrackedProducer(KafkaSettings(kafka_bootstrap))
    own = settings().topics_at(prefix + "dl.").catalogue()  # fresh topics: nothing else on them
    wanted = [own[catalogue.CONTACTS], own[catalogue.DEADLETTER]]
    create_topics(wanted, admin=admin)
    contacts, dead = (t.name for t in wanted)
    good1 = {**samples.SAMPLES["ContactBatch"], "batch_id": "good-1"}
    good2 = {**samples.SAMPLES["ContactBatch"], "batch_id": "good-2"}
    valid = codec.encode("ContactBatch", good1)
    corrupt = valid[:10] + b"\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    unknown = SINGLE_OBJECT_MAGIC + b"\xde\xad\xbe\xef\xde\xad\xbe\xef" + valid[10:]
    key = "dl-campaign"  # one key: one partition, so the order below is the log order
    for value in (valid, corrupt, unknown, codec.encode("ContactBatch", good2)):
        producer.produce(contacts, value, key=key)
    assert producer.flush(30) == 0

    good: list[dict[str, Any]] = []
    where: list[tuple[int, int]] = []
    for msg in _consume(kafka_bootstrap, [contacts], 4):
        try:
            decoded = codec.decode(msg.value(), msg.topic(), msg.partition(), msg.offset())
        except DecodeError as exc:  # what every consumer does: park it and move on
            producer.park(
                deadletter.of_message(msg, exc, "engine", codec=codec, dead_letter_topic=dead)
            )
            where.append((msg.partition(), msg.offset()))
            continue
        good.append(decoded[1])
    assert producer.flush(30) == 0
    assert [g["batch_id"] for g in good] == ["good-1", "good-2"]
    assert len(where) == 2

    try:
        parked = [codec.decode(m.value())[1] for m in _consume(kafka_bootstrap, [dead], 2)]
    finally:
        delete_topics([contacts, dead], admin=admin)
    parked.sort(key=lambda r: r["offset"])
    assert [(r["partition"], r["offset"]) for r in parked] == where
    assert [r["value"] for r in parked] == [corrupt, unknown]
    for record, reason in zip(
        parked, ("corrupt ContactBatch body", "unknown schema fingerprint"), strict=True
    ):
        assert record["topic"] == contacts
        assert record["stage"] == "engine"
        assert record["key"] == key.encode()
        assert (
            f"topic={contacts} partition={record['partition']} offset={record['offset']}"
            in record["error"]
        )
        assert reason in record["error"]
