"""The sink's consume loop: calls, outcomes, campaign events and commands in batches; commit.

At-least-once delivery into idempotent tables gives exactly-once results:
- rows go in per table with a deduplication token derived from the batch's offsets;
- tables are ReplacingMergeTrees keyed by the message's deterministic id;
- offsets are committed only after every table's insert (and every dead letter) succeeded.
A crash anywhere replays from the last commit and the replay collapses into what is there.
The parts: this loop (Kafka, decoding, batching, commits), `sinks.writer` (ClickHouse
inserts, retries, bisect-and-park) and `sinks.flusher` (the thread a due batch is
inserted in while the loop reads the next one). While ClickHouse is away, once the next
batch is due too, the assignment is paused so nothing more is fetched, and the consumer
keeps polling so it stays in its group.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from sinks import metrics
from sinks.batch import Batch, KeptMessage
from sinks.flusher import Abandoned, Flusher, RetryGate, future_wait
from sinks.health import CallerIdAnnouncer
from sinks.native import NativeAvro
from sinks.rows import OUTCOMES, Row, RowError, to_row
from sinks.settings import SinkSettings
from sinks.writer import REFUSAL_CODES, REFUSED_TRIES, Writer, refused
from topics import catalogue
from topics.clients import consumer_config, consumer_error
from topics.codec import Codec, DecodeError, default_codec
from topics.consumer import TopicConsumer
from topics.deadletter import of_message
from topics.producer import TrackedProducer

log = logging.getLogger(__name__)

__all__ = ["REFUSAL_CODES", "REFUSED_TRIES", "Sink", "future_wait", "refused"]

SOURCES: tuple[str, ...] = (
    catalogue.CALL_CREATE,
    catalogue.OUTCOMES,
    catalogue.EVENTS,
    catalogue.COMMANDS,
    # What calls cost: numbers' rates and accounts' billing increments (sinks.rows.RATES)
    catalogue.API_NUMBERS,
    catalogue.API_ACCOUNTS,
)
DEFAULT_GROUP = "campaignflow-sink"
# How long the consumer waits for an insert in flight before pausing its assignment.
PATIENCE_SECONDS = 1.0
# Messages per consume() call. Small lists die young: with 10,000 Message objects alive
# per call most of them outlived two collections, and full collections of the garbage
# collector came every call or two (twice the handling time of 200,000 rows here).
FETCH_MESSAGES = 1000


class Sink:
    """One batching consumer. `run(stop)` until `stop` is set; everything else is internal."""

    def __init__(
        self,
        settings: SinkSettings,
        *,
        batch_rows: int = 50_000,
        batch_seconds: float = 1.0,
        group_id: str = DEFAULT_GROUP,
        topics: Iterable[str] | None = None,
        codec: Codec | None = None,
        on_flushed: Callable[[Batch, float], None] | None = None,
        backoff_max: float = 30.0,
        consumer_overrides: dict[str, Any] | None = None,
        native_avro: bool = True,
    ) -> None:
        self.settings = settings
        self.dsn = settings.dsn
        self.dead_letter_topic = settings.topics.name(catalogue.DEADLETTER)
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.group_id = group_id
        self.topics = (
            list(topics) if topics is not None else [settings.topics.name(t) for t in SOURCES]
        )
        self.codec = codec or default_codec()
        # ClickHouse decodes call attempts and outcomes itself (None: all in Python).
        self.native = NativeAvro(self.codec) if native_avro else None
        self.on_flushed = on_flushed
        self.consumer_overrides = consumer_overrides or {}
        self.gate = RetryGate()
        self.writer = Writer(
            self.dsn, self.native, self.gate, self._decode, self._park, backoff_max
        )
        self.flusher = Flusher(self._insert_batch, self.gate)
        # Newly degraded caller IDs, announced on caller_id.health after flushes (sinks.health).
        self.health = CallerIdAnnouncer(
            settings.topics.name(catalogue.CALLER_ID_HEALTH), self.codec
        )
        self._consumer: TopicConsumer | None = None
        self._producer: TrackedProducer | None = None
        self._batch = Batch(time.monotonic())
        self._carry: list[Message] = []
        self.ready = threading.Event()

    @property
    def lock(self) -> threading.RLock:
        """Guards the sink's own ClickHouse client (`client`)."""
        return self.writer.lock

    @property
    def client(self) -> Any:
        return self.writer.client

    def connect(self) -> None:
        """Open ClickHouse and migrate, retrying with backoff until it answers."""
        self.writer.connect(self.gate.stop)

    # -- Kafka ------------------------------------------------------------------------------------

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Finish the flush in flight (abandoned if it is retrying), then flush what is read."""
        abandoned = not self._settle_in_flight()
        if not abandoned and not self._batch.empty():
            try:
                self.writer.insert_once(self._batch)
                self._deliver_dead_letters()
                self._commit(self._batch)
            except Exception as exc:
                log.warning("could not flush on revoke (%s); the batch will be replayed", exc)
        self.gate.abandon.clear()
        self._new_batch()

    def _new_batch(self) -> None:
        self._batch = Batch(time.monotonic())
        self._carry.clear()

    def _settle_in_flight(self, give_up_retrying: bool = True) -> bool:
        """Wait for the insert in flight, then commit its batch. False if it was abandoned.

        With `give_up_retrying`, an insert waiting to retry is abandoned (revocation, stop).
        """
        flushed = self.flusher.settle(give_up_retrying)
        if flushed is None:
            return True
        if flushed.visible_at is None:
            return False
        self._finish(flushed.batch, flushed.visible_at)
        return True

    def _on_stats(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
            for topic, tdata in stats.get("topics", {}).items():
                for part, pdata in tdata.get("partitions", {}).items():
                    lag = pdata.get("consumer_lag", -1)
                    if part != "-1" and lag is not None and lag >= 0:
                        metrics.LAG.labels(topic, part).set(lag)
        except (ValueError, AttributeError):
            pass

    def _handle_many(self, messages: list[Message]) -> None:
        """`_handle` each message of a fetched list (one clock reading for all of them)."""
        now_ms = int(time.time() * 1000)
        handle = self._handle
        for msg in messages:
            handle(msg, now_ms)

    def _handle(self, msg: Message, now_ms: int | None = None) -> None:
        """Add one message to the batch: for ClickHouse to decode, decoded here, or parked.

        `now_ms`: the publish time of a message without a timestamp (default: now).
        """
        err = msg.error()
        if err is not None:
            consumer_error(err, log)
            return
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        ts_type, ts = msg.timestamp()
        if ts_type != 0 and ts > 0:
            published = ts
        else:
            published = int(time.time() * 1000) if now_ms is None else now_ms
        batch = self._batch
        value = msg.value()
        if value is None:  # a compacted topic's tombstone (a number removed): no price row
            batch.add(topic, partition, offset, None, None)
            return
        if self.native is not None:
            routed = self.native.route(value)
            if routed is not None:
                table, header = routed
                source = (value, header, published, topic, partition, offset, msg.key())
                batch.add_native(topic, partition, offset, table, source)
                if table == OUTCOMES:
                    batch.outcome_published_ms.append(published)
                return
        mapped = self._decode(msg, published)
        if mapped is None:
            batch.add(topic, partition, offset, None, None)
            return
        table, row = mapped
        batch.add(
            topic,
            partition,
            offset,
            table,
            row,
            (value or b"", 0, published, topic, partition, offset, msg.key()),
        )
        if table == OUTCOMES:
            batch.outcome_published_ms.append(published)

    def _decode(self, msg: Message | KeptMessage, published: int) -> tuple[str, Row] | None:
        """(table, row) decoded in Python; None when no table keeps it or it was parked."""
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        try:
            event, record = self.codec.decode(msg.value(), topic, partition, offset)
            return to_row(event, record, published)
        except (DecodeError, RowError) as exc:
            self._park(msg, exc)
            return None

    def _park(self, msg: Message | KeptMessage, reason: str | BaseException) -> None:
        """Park a message on the dead-letter topic (delivered before the batch's commit)."""
        assert self._producer is not None
        self._producer.park(
            of_message(
                msg, reason, "sink", codec=self.codec, dead_letter_topic=self.dead_letter_topic
            )
        )
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        metrics.DEAD_LETTERS.labels(topic).inc()
        log.warning(
            "parked %s[%s]@%s on the dead-letter topic: %s", topic, partition, offset, reason
        )

    # -- flushing ---------------------------------------------------------------------------------

    def _deliver_dead_letters(self) -> None:
        if self._producer is None:
            return
        remaining = self._producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} dead letters not delivered yet")

    def _commit(self, batch: Batch) -> None:
        if self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for t, p, o in batch.commit_positions()]
        try:
            self._consumer.commit(offsets)
        except KafkaException as exc:
            # Rows are in; a lost commit only means a harmless replay after a rebalance.
            log.warning("offset commit failed (%s); the batch may be replayed", exc)

    def flush(self) -> None:
        """Flush the current batch here and now (after the one in flight), then start a new one."""
        if not self._settle_in_flight():
            self._new_batch()  # after an abandoned batch: replayed too
            return
        batch, self._batch = self._batch, Batch(time.monotonic())
        visible_at = self._insert_batch(batch)
        if visible_at is not None:
            self._finish(batch, visible_at)

    def _hand_off(self) -> None:
        """Give the due batch to the flusher thread, once the previous one is committed."""
        if not self._await_flush():
            self._new_batch()  # after an abandoned batch: replayed too
            return
        batch, self._batch = self._batch, Batch(time.monotonic())
        self.flusher.submit(batch)

    def _reap(self) -> None:
        """Commit the batch the flusher has inserted, if it is done (between fetches)."""
        if not self.flusher.idle and self.flusher.done() and not self._settle_in_flight():
            self._new_batch()  # abandoned at stop: replayed too

    def _await_flush(self) -> bool:
        """Wait for the insert in flight; commit it. False if it was abandoned.

        A normal insert is simply waited for (a second at most: the poll interval allows
        minutes). A longer wait (ClickHouse away, retrying) pauses the assignment, so
        nothing more is fetched and the batch stays bounded, and polls, so the group keeps
        us and rebalance callbacks run. Not at once: a pause drops what librdkafka has
        prefetched for those partitions, and fetching it again stalls the next batch.
        """
        if self.flusher.idle:
            return True
        self.flusher.wait(PATIENCE_SECONDS)
        if not self.flusher.done() and self._consumer is not None:
            consumer = self._consumer
            paused = consumer.assignment()
            consumer.pause(paused)
            try:
                while not self.flusher.done():
                    got = consumer.messages(100, timeout_seconds=0.1)
                    self._carry.extend(got)  # fetched before the pause took effect: keep them
            finally:
                held = {(p.topic, p.partition) for p in consumer.assignment()}
                kept = [p for p in paused if (p.topic, p.partition) in held]
                if kept:
                    consumer.resume(kept)
        # A revocation meanwhile settled it already (and flushed or dropped the batch read).
        return self._settle_in_flight(give_up_retrying=False)

    def _insert_batch(self, batch: Batch) -> float | None:
        """Insert one batch and deliver its dead letters, retrying while ClickHouse fails.

        Returns when its rows became visible, or None when it was abandoned (partitions
        revoked or the sink stopping while it waited to retry): then nothing may be
        committed, and whoever consumes next replays it. Runs in the flusher thread
        (or, at stop, in the consumer's); the commit is the caller's (`_finish`).
        """
        if batch.empty():
            return time.time()
        try:
            self.writer.insert_batch(batch)
            self.writer.retrying("dead letters", self._deliver_dead_letters)
        except Abandoned:
            log.warning(
                "partitions revoked or sink stopping during a flush; dropping the batch"
                " (it will be replayed)"
            )
            return None
        return time.time()

    def _finish(self, batch: Batch, visible_at: float) -> None:
        """Commit an inserted batch (consumer thread) and report it."""
        if batch.empty():
            return
        self._commit(batch)
        metrics.BATCHES.inc()
        metrics.BATCH_ROWS.observe(batch.row_count)
        if self.on_flushed is not None:
            self.on_flushed(batch, visible_at)
        if batch.outcome_published_ms:
            self.health.outcomes_flushed()

    def _announce_health(self) -> None:
        """Start a check for newly degraded caller IDs if one is due (in its own thread,
        with its own client: neither this loop nor the inserts wait for it)."""
        if self._producer is not None:
            self.health.start(self.dsn, self._producer)

    def _due(self) -> bool:
        """Full, or its first message has waited batch_seconds (not: the batch is that old;
        a batch opened before an idle spell would go in at its first message)."""
        batch = self._batch
        if batch.empty():
            return False
        if batch.row_count >= self.batch_rows:
            return True
        opened = batch.first_message_at if batch.first_message_at is not None else batch.started
        return time.monotonic() - opened >= self.batch_seconds

    # -- main loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then flush what is pending and close."""
        self.gate.stop = stop
        self.connect()
        conf = consumer_config(
            self.settings.kafka,
            self.group_id,
            **{
                "statistics.interval.ms": 5000,
                "stats_cb": self._on_stats,
                "max.poll.interval.ms": 600_000,
                "fetch.max.bytes": 52_428_800,
                # A campaign's messages share a key, hence a partition: with the 1 MiB
                # default per partition the fetcher, not the sink, set the pace.
                "max.partition.fetch.bytes": 16_777_216,
                "queued.max.messages.kbytes": 262_144,
                **self.consumer_overrides,
            },
        )
        self._consumer = TopicConsumer(conf, log)
        self._producer = TrackedProducer(self.settings.kafka, quiet=False)
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        self.ready.set()
        try:
            while not stop.is_set():
                if self._carry:
                    pending, self._carry = self._carry, []
                    self._handle_many(pending)
                want = max(1, min(FETCH_MESSAGES, self.batch_rows - self._batch.row_count))
                timeout = 0.05 if not self._batch.empty() else 0.2
                self._handle_many(self._consumer.messages(want, timeout_seconds=timeout))
                self._reap()
                if self._due():
                    self._hand_off()
                self._announce_health()
            for msg in self._carry:
                self._handle(msg)
            self._carry = []
            self.flush()
        finally:
            self.flusher.shutdown()
            self.health.shutdown()
            self._consumer.close()
            self._producer.flush(10)
            self.writer.close()
