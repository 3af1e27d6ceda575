"""The one consumer layer: every Kafka consumer of the project is a `TopicConsumer`.

Why: a raw `confluent_kafka.Consumer` was built in a dozen places, each with its own
consume loop and its own "read this compacted topic to its end"; a fix (the watermark
one) had to be made in one and gathered to the others. As Quix Streams wraps
confluent-kafka once (`quixstreams/kafka/consumer.py`), this wraps it once: building
from `consumer_config`, subscribe with rebalance hooks, assign, the poll loop with the
one error triage (`clients.consumer_error`), commit, and `read_to_end()`.

`read_to_end()` reads partitions from a start offset to the high watermark each had
when it was called. It waits on progress, not on a clock: it gives up (TimeoutError)
only when no record came for `idle_seconds` and the consumer's position is still short
of an end (compaction may remove a partition's last records: the position says so).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from topics.clients import KafkaSettings, consumer_config, consumer_error, watermarks

log = logging.getLogger(__name__)

REQUEST_SECONDS = 10.0  # one metadata or watermark request (asked again while passing)
POLL_SECONDS = 0.2

RebalanceHook = Callable[[list[TopicPartition]], None]


@dataclass(frozen=True)
class PartitionSpan:
    """A partition's offsets when asked: `low` the first kept, `high` the next written."""

    topic: str
    partition: int
    low: int
    high: int


class TopicMissing(LookupError):
    """A topic the caller reads does not exist (or has no partitions yet)."""


class TopicConsumer:
    """A confluent-kafka consumer with the project's loop, triage and read-to-end."""

    def __init__(self, conf: dict[str, Any], logger: logging.Logger | None = None) -> None:
        self.raw = Consumer(conf)
        self.log = logger or log

    @classmethod
    def build(cls, kafka: KafkaSettings, group_id: str, **overrides: Any) -> TopicConsumer:
        """A consumer of `consumer_config(kafka, group_id, **overrides)`."""
        return cls(consumer_config(kafka, group_id, **overrides))

    def __enter__(self) -> TopicConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- partitions ---------------------------------------------------------------------

    def partitions(self, topic: str, wait_seconds: float = 0.0) -> list[int]:
        """The topic's partition numbers; TopicMissing when it has none (after waiting up
        to `wait_seconds` for a topic just created to show in the metadata)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            meta = self.raw.list_topics(topic, timeout=REQUEST_SECONDS).topics.get(topic)
            if meta is not None and meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            if time.monotonic() >= deadline:
                raise TopicMissing(f"topic {topic} does not exist: create the topics first")
            time.sleep(0.2)

    def spans(
        self, topic: str, only: Collection[int] | None = None, wait_seconds: float = 0.0
    ) -> list[PartitionSpan]:
        """(low, high) of the topic's partitions (those in `only`, when given)."""
        out = []
        for p in self.partitions(topic, wait_seconds):
            if only is None or p in only:
                low, high = watermarks(self.raw, TopicPartition(topic, p), REQUEST_SECONDS)
                out.append(PartitionSpan(topic, p, low, high))
        return out

    def assign(self, parts: Sequence[TopicPartition]) -> None:
        self.raw.assign(list(parts))

    def assign_from_start(self, topics: Sequence[str], wait_seconds: float = 0.0) -> None:
        """Every partition of `topics`, from its first offset (a follower without a group)."""
        self.assign(
            [
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in topics
                for p in self.partitions(t, wait_seconds)
            ]
        )

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: RebalanceHook | None = None,
        on_revoke: RebalanceHook | None = None,
        on_lost: RebalanceHook | None = None,
    ) -> None:
        """Join the group; a lost assignment goes to `on_lost`, else to `on_revoke`."""
        hooks: dict[str, Any] = {}
        if on_assign is not None:
            hooks["on_assign"] = _adapt(on_assign)
        if on_revoke is not None:
            hooks["on_revoke"] = _adapt(on_revoke)
        lost = on_lost or on_revoke
        if lost is not None:
            hooks["on_lost"] = _adapt(lost)
        self.raw.subscribe(list(topics), **hooks)

    # ---- the loop -----------------------------------------------------------------------

    def messages(self, max_messages: int, timeout_seconds: float = POLL_SECONDS) -> list[Message]:
        """Up to `max_messages` records; errors go through the one triage (fatal raises)."""
        out = []
        for msg in self.raw.consume(max_messages, timeout=timeout_seconds):
            err = msg.error()
            if err is None:
                out.append(msg)
            else:
                consumer_error(err, self.log)
        return out

    def follow(
        self,
        handle: Callable[[list[Message]], None],
        stop: threading.Event,
        max_messages: int = 500,
        timeout_seconds: float = POLL_SECONDS,
    ) -> None:
        """Hand batches to `handle` until `stop` is set; a batch that fails is logged and
        the loop goes on (no message stops a consumer)."""
        while not stop.is_set():
            msgs = self.messages(max_messages, timeout_seconds)
            if not msgs:
                continue
            try:
                handle(msgs)
            except Exception:
                self.log.exception("consumer: a batch of %d records failed", len(msgs))

    def assignment(self) -> list[TopicPartition]:
        return list(self.raw.assignment())

    def pause(self, parts: Sequence[TopicPartition]) -> None:
        """Fetch nothing more of `parts` (the group keeps them while we poll)."""
        self.raw.pause(list(parts))

    def resume(self, parts: Sequence[TopicPartition]) -> None:
        self.raw.resume(list(parts))

    def committed(
        self, parts: Sequence[TopicPartition], timeout_seconds: float = REQUEST_SECONDS
    ) -> list[TopicPartition]:
        """The group's committed offsets of `parts`."""
        return list(self.raw.committed(list(parts), timeout=timeout_seconds))

    def commit(self, offsets: Sequence[TopicPartition] | None = None) -> None:
        """Commit synchronously: `offsets`, or the positions consumed so far."""
        if offsets is None:
            self.raw.commit(asynchronous=False)
        else:
            self.raw.commit(offsets=list(offsets), asynchronous=False)

    def close(self) -> None:
        self.raw.close()

    # ---- read to the end ----------------------------------------------------------------

    def read_to_end(
        self,
        spans: Sequence[PartitionSpan],
        start: Callable[[PartitionSpan], int] | None = None,
        idle_seconds: float = 10.0,
        max_messages: int = 1000,
    ) -> Iterator[Message]:
        """Assign `spans` from `start(span)` (default: `low`, never below it) and yield
        their records up to the `high` each had; may yield a few written since, and leaves
        the consumer assigned (a follower goes on from there). TimeoutError after
        `idle_seconds` without a record while no partition short of its end moves."""
        ends: dict[tuple[str, int], int] = {}
        parts = []
        for span in spans:
            offset = max(span.low, start(span)) if start is not None else span.low
            parts.append(TopicPartition(span.topic, span.partition, offset))
            if offset < span.high:
                ends[(span.topic, span.partition)] = span.high
        self.assign(parts)
        quiet_since = time.monotonic()
        while ends:
            batch = self.messages(max_messages, POLL_SECONDS)
            if not batch:
                self._drop_reached(ends, time.monotonic() - quiet_since > idle_seconds)
                continue
            quiet_since = time.monotonic()
            for msg in batch:
                where = (str(msg.topic()), int(msg.partition() or 0))
                if (msg.offset() or 0) + 1 >= ends.get(where, 0):
                    ends.pop(where, None)
                yield msg

    def _drop_reached(self, ends: dict[tuple[str, int], int], stalled: bool) -> None:
        """After a quiet poll: the partitions whose position is at their end are done
        (their last records were compacted away); none done for too long: stuck."""
        positions = self.raw.position([TopicPartition(t, p) for t, p in ends])
        done = [
            (tp.topic, tp.partition)
            for tp in positions
            if tp.offset >= ends[(tp.topic, tp.partition)]
        ]
        if not done and stalled:
            names = ", ".join(sorted({t for t, _ in ends}))
            raise TimeoutError(f"{names}: no records came before the end had been read")
        for where in done:
            ends.pop(where, None)


def _adapt(hook: RebalanceHook) -> Callable[[Consumer, list[TopicPartition]], None]:
    def call(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
        hook(partitions)

    return call
