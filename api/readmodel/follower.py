"""The read model's follower: one thread that consumes the campaign topics into the fold.

It assigns every partition itself (no group rebalances) at the offset the last folded
batch stored, so a restart resumes from a snapshot, never a scan from the start.
"""

from __future__ import annotations

import threading

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from api.readmodel.fold import fold_messages
from api.readmodel.store import ReadStore
from topics import catalogue
from topics.clients import KafkaSettings
from topics.consumer import TopicConsumer
from topics.producer import QUIET

TOPICS = (
    catalogue.COMMANDS,
    catalogue.CONTACTS,
    catalogue.CALL_CREATE,
    catalogue.OUTCOMES,
    catalogue.EVENTS,
    catalogue.DNC,
)
TOPIC_WAIT_SECONDS = 30  # a topic just created may not be in the metadata yet


class ReadFollower:
    """Follows TOPICS into a `ReadStore`; never stops on a batch it cannot fold."""

    def __init__(self, kafka: KafkaSettings, prefix: str, store: ReadStore) -> None:
        self.kafka = kafka
        self.prefix = prefix
        self.store = store
        self.names = {t: catalogue.topic_name(t, prefix) for t in TOPICS}
        self._logical = {v: k for k, v in self.names.items()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: TopicConsumer | None = None
        self.applied = 0  # messages folded since start (tests, metrics)

    def start(self) -> None:
        group = f"campaignflow-api-read-{self.prefix}"
        consumer = self._consumer = TopicConsumer.build(self.kafka, group, log_level=QUIET)
        parts = []
        for name in self.names.values():
            for p in consumer.partitions(name, wait_seconds=TOPIC_WAIT_SECONDS):
                stored = self.store.stored_offset(name, p)
                parts.append(
                    TopicPartition(name, p, OFFSET_BEGINNING if stored is None else stored)
                )
        consumer.assign(parts)
        self._thread = threading.Thread(target=self._run, name="api-readmodel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._consumer is not None
        self._consumer.follow(self._fold, self._stop, max_messages=2000)

    def _fold(self, msgs: list[Message]) -> None:
        """A batch that fails is logged by the loop; its offsets still advance."""
        fold_messages(self.store, msgs, self._logical)
        self.applied += len(msgs)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._consumer is not None:
            self._consumer.close()
