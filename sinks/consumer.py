"""The sink: consume calls, outcomes, campaign events and commands; insert in batches; commit.

At-least-once delivery into idempotent tables gives exactly-once results:
- rows go in per table with a deduplication token derived from the batch's offsets;
- tables are ReplacingMergeTrees keyed by the message's deterministic id;
- offsets are committed only after every table's insert (and every dead letter) succeeded.
A crash anywhere replays from the last commit and the replay collapses into what is there.
Call attempts and outcomes are decoded by ClickHouse itself (sinks.native); when such an
insert fails the batch's messages of that table are decoded in Python instead, so a bad
message is parked on the dead-letter topic and the rest goes in.
While ClickHouse is away the batch is retried with capped exponential backoff; the
assignment is paused meanwhile so nothing more is fetched, and the consumer keeps
polling so it stays in its group.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfoNotFoundError

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from sinks import metrics
from sinks.batch import Batch
from sinks.dsn import default_dsn, is_embedded, open_client
from sinks.migrations import migrate
from sinks.native import NativeAvro
from sinks.rows import (
    CAMPAIGNS,
    COLUMNS,
    OUTCOMES,
    TABLES,
    TZ_COLUMNS,
    TZ_OFFSETS,
    Row,
    RowError,
    to_row,
)
from sinks.tz import transitions
from topics import catalogue
from topics.clients import consumer_config, producer_config
from topics.codec import Codec, DecodeError, default_codec
from topics.deadletter import park_message

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = (
    catalogue.CALL_CREATE,
    catalogue.OUTCOMES,
    catalogue.EVENTS,
    catalogue.COMMANDS,
)
DEFAULT_GROUP = "campaignflow-sink"


class _Abandoned(Exception):
    """The partitions of the batch were revoked mid-flush: drop it, its owner replays it."""


class Sink:
    """One batching consumer. `run(stop)` until `stop` is set; everything else is internal."""

    def __init__(
        self,
        dsn: str | None = None,
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
        self.dsn = dsn or default_dsn()
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.group_id = group_id
        self.topics = (
            list(topics) if topics is not None else [catalogue.topic_name(t) for t in SOURCES]
        )
        self.codec = codec or default_codec()
        # ClickHouse decodes call attempts and outcomes itself (None: all in Python).
        self.native = NativeAvro(self.codec) if native_avro else None
        self.on_flushed = on_flushed
        self.backoff_max = backoff_max
        self.consumer_overrides = consumer_overrides or {}
        # Guards the embedded engine: the query server's reads and our inserts take turns.
        self.lock = threading.RLock()
        self.client: Any = None
        self._known_tz: set[str] = set()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._batch = Batch(time.monotonic())
        self._carry: list[Message] = []
        self._flushing = False
        self._abandon = False
        self._stop: threading.Event | None = None
        self.ready = threading.Event()

    # -- ClickHouse -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open ClickHouse and migrate, retrying with backoff until it answers."""
        delay = 0.5
        while True:
            try:
                with self.lock:
                    self.client = open_client(self.dsn)
                    migrate(self.client)
                    rows = self.client.query(
                        "SELECT DISTINCT toString(tz) FROM tz_offsets"
                    ).result_rows
                    self._known_tz = {r[0] for r in rows}
                metrics.CLICKHOUSE_UP.set(1)
                return
            except Exception as exc:
                metrics.CLICKHOUSE_UP.set(0)
                log.warning("ClickHouse not ready (%s); retrying in %.1fs", exc, delay)
                if self._stop is not None and self._stop.wait(delay):
                    raise
                if self._stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    def _insert(self, table: str, rows: list[Any], token: str) -> None:
        start = time.perf_counter()
        with self.lock:
            if self.client is None:
                self.client = open_client(self.dsn)
            self.client.insert(
                table,
                rows,
                column_names=list(COLUMNS.get(table, TZ_COLUMNS)),
                settings={"insert_deduplication_token": token},
            )
        metrics.INSERT_SECONDS.labels(table).observe(time.perf_counter() - start)
        metrics.ROWS_INSERTED.labels(table).inc(len(rows))

    def _insert_native(self, batch: Batch, table: str) -> None:
        """One attempt at letting ClickHouse decode the table's records; on failure, Python.

        Whatever the failure (a bad body, ClickHouse away), the messages are decoded in
        Python: bad ones are parked, the rest become rows the retrying insert takes.
        """
        sources = batch.native.get(table)
        if not sources or self.native is None or table in batch.native_inserted:
            return
        start = time.perf_counter()
        try:
            with self.lock:
                if self.client is None:
                    self.client = open_client(self.dsn)
                self.native.insert(
                    self.client,
                    table,
                    sources,
                    {"insert_deduplication_token": batch.token(table, native=True)},
                    embedded=is_embedded(self.dsn),
                )
        except Exception as exc:
            metrics.NATIVE_FALLBACKS.labels(table).inc()
            log.warning(
                "ClickHouse could not take %d %s records as Avro (%s); decoding them in Python",
                len(sources),
                table,
                exc,
            )
            for msg, _header, published in batch.take_native(table):
                mapped = self._decode(msg, published)
                if mapped is not None:
                    batch.add_row(*mapped)
            return
        batch.native_inserted.add(table)  # a retried flush must not insert them again
        metrics.INSERT_SECONDS.labels(table).observe(time.perf_counter() - start)
        metrics.ROWS_INSERTED.labels(table).inc(len(sources))

    def _retrying(self, what: str, fn: Callable[[], None]) -> None:
        """Run `fn` until it succeeds; pause consumption and keep polling while it fails."""
        delay = 0.25
        paused: list[TopicPartition] = []
        try:
            while True:
                try:
                    fn()
                    metrics.CLICKHOUSE_UP.set(1)
                    return
                except _Abandoned:
                    raise
                except Exception as exc:
                    metrics.CLICKHOUSE_UP.set(0)
                    metrics.INSERT_FAILURES.labels(what).inc()
                    log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                    self._drop_client()
                    if not paused and self._consumer is not None:
                        paused = list(self._consumer.assignment())
                        self._consumer.pause(paused)
                    self._wait(delay)
                    delay = min(delay * 2, self.backoff_max)
        finally:
            if paused and self._consumer is not None and not self._abandon:
                self._consumer.resume(paused)

    def _drop_client(self) -> None:
        """Forget a failed connection; the embedded engine keeps its handle (reopening it fails)."""
        if not self.dsn.startswith("chdb:"):
            with self.lock:
                self.client = None

    def _wait(self, seconds: float) -> None:
        """Sleep while serving the consumer (group membership, rebalance callbacks)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._consumer is not None:
                got = self._consumer.consume(num_messages=100, timeout=min(0.2, seconds))
                self._carry.extend(got)  # fetched before the pause took effect: keep them
            else:
                time.sleep(min(0.2, seconds))
            if self._abandon or (self._stop is not None and self._stop.is_set()):
                raise _Abandoned()  # uncommitted: replayed by whoever consumes next

    # -- Kafka ------------------------------------------------------------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._flushing:
            self._abandon = True  # the flush loop drops the batch; the next owner replays it
            return
        if not self._batch.empty():
            try:
                self._flush_once()
            except Exception as exc:
                log.warning("could not flush on revoke (%s); the batch will be replayed", exc)
        self._batch = Batch(time.monotonic())
        self._carry.clear()

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

    def _handle(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.fatal():
                raise KafkaException(err)
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", err)
            return
        topic, partition, offset = (
            str(msg.topic()),
            int(msg.partition() or 0),
            int(msg.offset() or 0),
        )
        ts_type, ts = msg.timestamp()
        published = ts if ts_type != 0 and ts > 0 else int(time.time() * 1000)
        if self.native is not None:
            value = msg.value()
            routed = self.native.route(value)
            if routed is not None:
                table, header = routed
                self._batch.add_native(topic, partition, offset, table, (msg, header, published))
                if table == OUTCOMES:
                    self._batch.outcome_published_ms.append(published)
                return
        mapped = self._decode(msg, published)
        if mapped is None:
            self._batch.add(topic, partition, offset, None, None)
            return
        table, row = mapped
        self._batch.add(topic, partition, offset, table, row)
        if table == "call_outcomes":
            self._batch.outcome_published_ms.append(published)

    def _decode(self, msg: Message, published: int) -> tuple[str, Row] | None:
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
            assert self._producer is not None
            park_message(cast(Any, self._producer), msg, exc, "sink", codec=self.codec)
            metrics.DEAD_LETTERS.labels(topic).inc()
            log.warning(
                "parked %s[%d]@%d on the dead-letter topic: %s", topic, partition, offset, exc
            )
            return None

    # -- flushing ---------------------------------------------------------------------------------

    def _new_timezones(self, batch: Batch) -> list[str]:
        zones = {str(r[3]) for r in batch.rows[CAMPAIGNS]}
        return sorted(zones - self._known_tz)

    def _flush_once(self) -> None:
        """Insert every table's rows, deliver dead letters, commit: one attempt each, may raise."""
        batch = self._batch
        for tz in self._new_timezones(batch):
            self._insert_tz(tz)
        for table in TABLES:
            self._insert_native(batch, table)
            if batch.rows[table]:
                self._insert(table, batch.rows[table], batch.token(table))
        self._deliver_dead_letters()
        self._commit(batch)

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
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Rows are in; a lost commit only means a harmless replay after a rebalance.
            log.warning("offset commit failed (%s); the batch may be replayed", exc)

    def flush(self) -> None:
        """Flush the current batch, retrying while ClickHouse fails; then start a new one."""
        if self._batch.empty():
            self._batch = Batch(time.monotonic())
            return
        batch = self._batch
        self._flushing = True
        self._abandon = False
        try:
            for tz in self._new_timezones(batch):
                self._retrying(TZ_OFFSETS, partial(self._insert_tz, tz))
            for table in TABLES:
                self._insert_native(batch, table)
                rows = batch.rows[table]
                if rows:
                    self._retrying(table, partial(self._insert, table, rows, batch.token(table)))
            self._retrying("dead letters", self._deliver_dead_letters)
            self._commit(batch)
        except _Abandoned:
            log.warning(
                "partitions revoked during a flush; dropping the batch (it will be replayed)"
            )
            self._carry.clear()
            self._batch = Batch(time.monotonic())
            return
        finally:
            self._flushing = False
            self._abandon = False
        metrics.BATCHES.inc()
        metrics.BATCH_ROWS.observe(batch.row_count)
        if self.on_flushed is not None:
            self.on_flushed(batch, time.time())
        self._batch = Batch(time.monotonic())

    def _insert_tz(self, tz: str) -> None:
        try:
            rows = transitions(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self._known_tz.add(tz)  # not a zone: the views count it in UTC
            return
        self._insert(TZ_OFFSETS, rows, f"tz:{tz}")
        self._known_tz.add(tz)

    def _due(self) -> bool:
        if self._batch.empty():
            return False
        if self._batch.row_count >= self.batch_rows:
            return True
        return time.monotonic() - self._batch.started >= self.batch_seconds

    # -- main loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then flush what is pending and close."""
        self._stop = stop
        self.connect()
        conf = consumer_config(
            self.group_id,
            **{
                "statistics.interval.ms": 5000,
                "stats_cb": self._on_stats,
                "max.poll.interval.ms": 600_000,
                "fetch.max.bytes": 52_428_800,
                "queued.max.messages.kbytes": 262_144,
                **self.consumer_overrides,
            },
        )
        self._consumer = Consumer(conf)
        self._producer = Producer(producer_config())
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        self.ready.set()
        try:
            while not stop.is_set():
                if self._carry:
                    pending, self._carry = self._carry, []
                    for msg in pending:
                        self._handle(msg)
                want = max(1, min(10_000, self.batch_rows - self._batch.row_count))
                timeout = 0.05 if not self._batch.empty() else 0.2
                for msg in self._consumer.consume(num_messages=want, timeout=timeout):
                    self._handle(msg)
                if self._due():
                    self.flush()
            for msg in self._carry:
                self._handle(msg)
            self._carry = []
            self.flush()
        finally:
            self._consumer.close()
            self._producer.flush(10)
