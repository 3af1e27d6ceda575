"""The read model's follower: one thread that consumes the campaign topics into the fold.

It assigns every partition itself (no group rebalances) at the offset the last folded
batch stored, so a restart resumes from a snapshot, never a scan from the start.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from api.readmodel.fold import fold_messages
from api.readmodel.store import ReadStore
from topics import catalogue
from topics.clients import KafkaSettings, consumer_config
from topics.producer import QUIET

log = logging.getLogger(__name__)

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
        self._consumer: Consumer | None = None
        self.applied = 0  # messages folded since start (tests, metrics)

    def start(self) -> None:
        conf = consumer_config(self.kafka, f"campaignflow-api-read-{self.prefix}", log_level=QUIET)
        consumer = Consumer(conf)
        parts = []
        for name in self.names.values():
            deadline = time.monotonic() + TOPIC_WAIT_SECONDS
            while True:
                meta = consumer.list_topics(name, timeout=30).topics.get(name)
                if meta is not None and meta.error is None and meta.partitions:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topic {name} is missing: create the topics first")
                time.sleep(0.2)
            for p in meta.partitions:
                stored = self.store.stored_offset(name, p)
                parts.append(
                    TopicPartition(name, p, OFFSET_BEGINNING if stored is None else stored)
                )
        consumer.assign(parts)
        self._consumer = consumer
        self._thread = threading.Thread(target=self._run, name="api-readmodel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            msgs = self._consumer.consume(2000, timeout=0.2)
            if not msgs:
                continue
            try:
                fold_messages(self.store, msgs, self._logical)
                self.applied += len(msgs)
            except Exception:  # never stop following; the batch's offsets still advance
                log.exception("read model: batch failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._consumer is not None:
            self._consumer.close()
