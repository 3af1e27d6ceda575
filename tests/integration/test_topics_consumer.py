"""On the real broker: the one consumer layer reads a compacted topic to its end.

`read_to_end` must stop at the high watermark each partition had when asked (an empty
partition is not waited for), and a read that can make no progress fails with a clear
TimeoutError after its quiet time instead of hanging or returning short.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from topics.admin import create_topics, delete_topics
from topics.catalogue import TopicSpec
from topics.clients import KafkaSettings, admin_config, producer_config
from topics.consumer import PartitionSpan, TopicConsumer, TopicMissing

pytestmark = pytest.mark.integration


@pytest.fixture()
def topic(kafka_bootstrap: str) -> Iterator[str]:
    admin = AdminClient(admin_config(KafkaSettings(kafka_bootstrap)))
    name = f"it-consumer-{uuid.uuid4().hex[:10]}"
    spec = TopicSpec(
        logical=name,
        name=name,
        partitions=3,
        replication=1,
        cleanup_policy="compact",
        schema="",
        key="",
        account_keyed=False,
    )
    create_topics([spec], admin=admin)
    yield name
    delete_topics([name], admin=admin)


def test_read_to_end_stops_at_the_ends_and_a_stuck_read_says_so(
    kafka_bootstrap: str, topic: str
) -> None:
    kafka = KafkaSettings(kafka_bootstrap)
    producer = Producer(producer_config(kafka))
    for i in range(30):  # partitions 0 and 1 only: partition 2 stays empty
        producer.produce(topic, key=f"k{i}".encode(), value=str(i).encode(), partition=i % 2)
    assert producer.flush(30) == 0

    with TopicConsumer.build(kafka, f"it-{uuid.uuid4().hex}") as consumer:
        spans = consumer.spans(topic, wait_seconds=30)
        assert [(s.partition, s.high - s.low) for s in spans] == [(0, 15), (1, 15), (2, 0)]
        values = sorted(int(m.value() or b"") for m in consumer.read_to_end(spans))
        assert values == list(range(30))

        # from a start offset: only what follows it
        later = list(consumer.read_to_end(spans[:1], start=lambda s: s.high - 2))
        assert [m.offset() for m in later] == [13, 14]

        # an end no record will reach: the read fails after its quiet time, naming the topic
        beyond = [PartitionSpan(topic, 0, spans[0].low, spans[0].high + 5)]
        with pytest.raises(TimeoutError, match=topic):
            for _ in consumer.read_to_end(beyond, idle_seconds=1.0):
                pass

        with pytest.raises(TopicMissing, match="does not exist"):
            consumer.spans(f"{topic}-absent")
