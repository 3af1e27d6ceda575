"""The sink: consume calls, outcomes, campaign events and commands; insert in batches; commit.

At-least-once delivery into idempotent tables gives exactly-once results:
- rows go in per table with a deduplication token derived from the batch's offsets;
- tables are ReplacingMergeTrees keyed by the message's deterministic id;
- offsets are committed only after every table's insert (and every dead letter) succeeded.
A crash anywhere replays from the last commit and the replay collapses into what is there.
A due batch is flushed (inserted, then committed) by a flusher thread while the consumer
reads the next one; only one flush runs at a time, in batch order, and the next batch is
handed over only once the previous one is committed (so commits stay in order and at most
two batches are in memory). ClickHouse works with the GIL released, so the two overlap.
Call attempts and outcomes are decoded by ClickHouse itself (sinks.native); when such an
insert fails the batch's messages of that table are decoded in Python instead, so a bad
message is parked on the dead-letter topic and the rest goes in.
While ClickHouse is away the batch is retried with capped exponential backoff; once the
next batch is due too, the assignment is paused so nothing more is fetched, and the
consumer keeps polling so it stays in its group. Rows ClickHouse refuses (a value the
client cannot serialize, a type or constraint ClickHouse rejects: `refused`) are not
retried forever: after `REFUSED_TRIES` refusals the rows are split in halves, each half
tried once, and so on down to the single rows refused, which are parked on the
dead-letter topic while the rest goes in (range checks in sinks.rows catch most such rows
before, at decoding).
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfoNotFoundError

from clickhouse_connect.driver.exceptions import DataError
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from sinks import metrics
from sinks.batch import Batch, KeptMessage, NativeSource
from sinks.dsn import is_embedded, open_client
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
from sinks.settings import SinkSettings
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
# How long the consumer waits for an insert in flight before pausing its assignment.
PATIENCE_SECONDS = 1.0
# Messages per consume() call. Small lists die young: with 10,000 Message objects alive
# per call most of them outlived two collections, and full collections of the garbage
# collector came every call or two (twice the handling time of 200,000 rows here).
FETCH_MESSAGES = 1000
# Refusals of a batch's rows before it is split to find the rows ClickHouse refuses.
REFUSED_TRIES = 3
# ClickHouse error codes that mean "these rows cannot go in", whoever retries: cannot
# parse (6, 27, 38, 41, 72), type mismatch (53), argument out of bound (69), cannot convert
# (70), incorrect data (117), string too large (131), value out of range (321), NULL in
# a non-Nullable column (349), throwIf (395), decimal overflow (407), constraint (469).
REFUSAL_CODES = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 395, 407, 469})


def refused(exc: BaseException) -> bool:
    """Whether an insert failed because of its rows (not because ClickHouse is away).

    The client raises DataError, or a ValueError/TypeError/OverflowError/struct.error,
    when it cannot serialize a value; ClickHouse answers with one of REFUSAL_CODES.
    Anything else (no connection, a detached table, memory) is retried as before.
    """
    if isinstance(exc, DataError | ValueError | TypeError | OverflowError | struct.error):
        return True
    return getattr(exc, "code", None) in REFUSAL_CODES


class _Abandoned(Exception):
    """The partitions of the batch were revoked mid-flush: drop it, its owner replays it."""


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
        self.dead_letter_topic = catalogue.topic_name(catalogue.DEADLETTER, settings.topic_prefix)
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.group_id = group_id
        self.topics = (
            list(topics)
            if topics is not None
            else [catalogue.topic_name(t, settings.topic_prefix) for t in SOURCES]
        )
        self.codec = codec or default_codec()
        # ClickHouse decodes call attempts and outcomes itself (None: all in Python).
        self.native = NativeAvro(self.codec) if native_avro else None
        self.on_flushed = on_flushed
        self.backoff_max = backoff_max
        self.consumer_overrides = consumer_overrides or {}
        # Guards the sink's own client (flusher thread, connect, close). The query server
        # has clients of its own and never takes it: a slow query does not hold up inserts.
        self.lock = threading.RLock()
        self.client: Any = None
        self._known_tz: set[str] = set()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._batch = Batch(time.monotonic())
        self._carry: list[Message] = []
        self._flusher: ThreadPoolExecutor | None = None
        # The batch whose insert the flusher thread is doing, and that insert (its result:
        # when the rows became visible, or None if it was abandoned).
        self._in_flight: tuple[Batch, Future[float | None]] | None = None
        self._retrying_now = False  # the flush in flight is waiting to retry
        self._abandon = threading.Event()
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
            for source in batch.take_native(table):
                mapped = self._decode(KeptMessage(source), source[2])
                if mapped is not None:
                    batch.add_row(*mapped, source)
            return
        batch.native_inserted.add(table)  # a retried flush must not insert them again
        metrics.INSERT_SECONDS.labels(table).observe(time.perf_counter() - start)
        metrics.ROWS_INSERTED.labels(table).inc(len(sources))

    def _retrying(
        self, what: str, fn: Callable[[], None], refusals: int | None = None
    ) -> BaseException | None:
        """Run `fn` until it succeeds, waiting longer after each failure.

        With `refusals`, gives up once `fn` was refused (see `refused`) that many times in a
        row and returns that error (None on success). Runs in the flusher thread (or at
        stop); the consumer thread keeps polling meanwhile and pauses its assignment once
        the next batch is due (`_await_flush`).
        """
        delay = 0.25
        refused_in_a_row = 0
        while True:
            try:
                fn()
                metrics.CLICKHOUSE_UP.set(1)
                return None
            except _Abandoned:
                raise
            except Exception as exc:
                metrics.INSERT_FAILURES.labels(what).inc()
                if refusals is not None and refused(exc):
                    metrics.CLICKHOUSE_UP.set(1)  # it answered: it is the rows
                    refused_in_a_row += 1
                    if refused_in_a_row >= refusals:
                        return exc
                else:
                    metrics.CLICKHOUSE_UP.set(0)
                    refused_in_a_row = 0
                log.warning("%s failed (%s); retrying in %.1fs", what, _first_line(exc), delay)
                self._drop_client()
                self._retrying_now = True
                try:
                    self._wait(delay)
                finally:
                    self._retrying_now = False
                delay = min(delay * 2, self.backoff_max)

    def _insert_or_split(
        self,
        table: str,
        rows: list[Row],
        sources: list[NativeSource],
        token: str,
        tries: int = REFUSED_TRIES,
    ) -> None:
        """Insert rows (retrying while ClickHouse is away); find and park the rows it refuses.

        A refused batch is split in halves, each tried once and split again if refused,
        down to single rows: k bad rows among n cost about 2k·log2(n) inserts. Each piece
        has a token derived from the batch's, so a replay skips what went in.
        """
        error = self._retrying(table, partial(self._insert, table, rows, token), refusals=tries)
        if error is None:
            return
        if len(rows) == 1:
            source = sources[0]
            reason = f"ClickHouse refused the {table} row: {_first_line(error)}"
            assert self._producer is not None
            park_message(
                cast(Any, self._producer),
                KeptMessage(source),
                reason,
                "sink",
                codec=self.codec,
                dead_letter_topic=self.dead_letter_topic,
            )
            metrics.DEAD_LETTERS.labels(source[3]).inc()
            log.warning(
                "parked %s[%d]@%d on the dead-letter topic: %s",
                source[3],
                source[4],
                source[5],
                reason,
            )
            return
        half = len(rows) // 2
        log.warning(
            "ClickHouse refused %d %s rows (%s); splitting them to find the bad ones",
            len(rows),
            table,
            _first_line(error),
        )
        self._insert_or_split(table, rows[:half], sources[:half], f"{token}/a", tries=1)
        self._insert_or_split(table, rows[half:], sources[half:], f"{token}/b", tries=1)

    def _drop_client(self) -> None:
        """Forget a failed connection; the embedded engine keeps its handle (reopening it fails)."""
        if not self.dsn.startswith("chdb:"):
            with self.lock:
                self.client = None

    def _wait(self, seconds: float) -> None:
        """Sleep before a retry; give up the batch if its partitions went or the sink stops."""
        end = time.monotonic() + seconds
        while True:
            if self._abandon.is_set() or (self._stop is not None and self._stop.is_set()):
                raise _Abandoned()  # uncommitted: replayed by whoever consumes next
            left = end - time.monotonic()
            if left <= 0:
                return
            self._abandon.wait(min(0.2, left))

    # -- Kafka ------------------------------------------------------------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish the flush in flight (abandoned if it is retrying), then flush what is read."""
        abandoned = not self._settle_in_flight()
        if not abandoned and not self._batch.empty():
            try:
                self._flush_once(self._batch)
            except Exception as exc:
                log.warning("could not flush on revoke (%s); the batch will be replayed", exc)
        self._abandon.clear()
        self._batch = Batch(time.monotonic())
        self._carry.clear()

    def _settle_in_flight(self, give_up_retrying: bool = True) -> bool:
        """Wait for the insert in flight, then commit its batch. False if it was abandoned.

        With `give_up_retrying`, an insert waiting to retry is abandoned (revocation, stop).
        """
        if self._in_flight is None:
            return True
        batch, future = self._in_flight
        while not future.done():
            if give_up_retrying and self._retrying_now:
                self._abandon.set()  # the flusher drops the batch; the next owner replays it
            future_wait(future, 0.05)
        self._in_flight = None
        visible_at = future.result()
        if visible_at is None:
            return False
        self._finish(batch, visible_at)
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
        """`_handle` for a fetched list; the common case (a native record) inline."""
        native = self.native
        if native is None:
            for msg in messages:
                self._handle(msg)
            return
        batch = self._batch
        route = native.route
        offsets = batch.offsets
        groups = batch.native
        now_ms = int(time.time() * 1000)
        fetched_at = time.monotonic()
        added = 0
        for msg in messages:
            if msg.error() is not None:
                self._handle(msg)
                continue
            value = msg.value()
            routed = route(value)
            if routed is None:
                self._handle(msg)
                continue
            table, header = routed
            ts_type, ts = msg.timestamp()
            published = ts if ts_type != 0 and ts > 0 else now_ms
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            key = (topic, partition)
            first_last = offsets.get(key)  # type: ignore[arg-type]
            offsets[key] = (offset if first_last is None else first_last[0], offset)  # type: ignore[index,assignment]
            group = groups.get(table)
            if group is None:
                groups[table] = group = []
            group.append((value, header, published, topic, partition, offset, msg.key()))  # type: ignore[arg-type]
            added += 1
            if table == OUTCOMES:
                batch.outcome_published_ms.append(published)
        if added:
            if batch.first_message_at is None:
                batch.first_message_at = fetched_at
            batch.messages += added
            batch.row_count += added

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
            if routed is not None and value is not None:
                table, header = routed
                source = (value, header, published, topic, partition, offset, msg.key())
                self._batch.add_native(topic, partition, offset, table, source)
                if table == OUTCOMES:
                    self._batch.outcome_published_ms.append(published)
                return
        mapped = self._decode(msg, published)
        if mapped is None:
            self._batch.add(topic, partition, offset, None, None)
            return
        table, row = mapped
        source = (msg.value() or b"", 0, published, topic, partition, offset, msg.key())
        self._batch.add(topic, partition, offset, table, row, source)
        if table == "call_outcomes":
            self._batch.outcome_published_ms.append(published)

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
            assert self._producer is not None
            park_message(
                cast(Any, self._producer),
                msg,
                exc,
                "sink",
                codec=self.codec,
                dead_letter_topic=self.dead_letter_topic,
            )
            metrics.DEAD_LETTERS.labels(topic).inc()
            log.warning(
                "parked %s[%d]@%d on the dead-letter topic: %s", topic, partition, offset, exc
            )
            return None

    # -- flushing ---------------------------------------------------------------------------------

    def _new_timezones(self, batch: Batch) -> list[str]:
        zones = {str(r[3]) for r in batch.rows[CAMPAIGNS]}
        return sorted(zones - self._known_tz)

    def _flush_once(self, batch: Batch) -> None:
        """Insert every table's rows, deliver dead letters, commit: one attempt each, may raise."""
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
        """Flush the current batch here and now (after the one in flight), then start a new one."""
        if not self._settle_in_flight():
            self._batch = Batch(time.monotonic())  # after an abandoned batch: replayed too
            self._carry.clear()
            return
        batch, self._batch = self._batch, Batch(time.monotonic())
        visible_at = self._insert_batch(batch)
        if visible_at is not None:
            self._finish(batch, visible_at)

    def _hand_off(self) -> None:
        """Give the due batch to the flusher thread, once the previous one is committed."""
        if not self._await_flush():
            self._batch = Batch(time.monotonic())  # after an abandoned batch: replayed too
            self._carry.clear()
            return
        batch, self._batch = self._batch, Batch(time.monotonic())
        if self._flusher is None:
            self._flusher = ThreadPoolExecutor(1, thread_name_prefix="sink-flush")
        self._in_flight = (batch, self._flusher.submit(self._insert_batch, batch))

    def _reap(self) -> None:
        """Commit the batch the flusher has inserted, if it is done (between fetches)."""
        done = self._in_flight is not None and self._in_flight[1].done()
        if done and not self._settle_in_flight():
            self._batch = Batch(time.monotonic())  # abandoned at stop: replayed too
            self._carry.clear()

    def _await_flush(self) -> bool:
        """Wait for the insert in flight; commit it. False if it was abandoned.

        A normal insert is simply waited for (a second at most: the poll interval allows
        minutes). A longer wait (ClickHouse away, retrying) pauses the assignment, so
        nothing more is fetched and the batch stays bounded, and polls, so the group keeps
        us and rebalance callbacks run. Not at once: a pause drops what librdkafka has
        prefetched for those partitions, and fetching it again stalls the next batch.
        """
        if self._in_flight is None:
            return True
        future = self._in_flight[1]
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not future.done() and not self._retrying_now and time.monotonic() < deadline:
            future_wait(future, 0.05)
        if not future.done() and self._consumer is not None:
            consumer = self._consumer
            paused = list(consumer.assignment())
            consumer.pause(paused)
            try:
                while self._in_flight is not None and not self._in_flight[1].done():
                    got = consumer.consume(num_messages=100, timeout=0.1)
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
            for tz in self._new_timezones(batch):
                self._retrying(TZ_OFFSETS, partial(self._insert_tz, tz))
            for table in TABLES:
                self._insert_native(batch, table)
                rows = batch.rows[table]
                if rows:
                    self._insert_or_split(table, rows, batch.sources[table], batch.token(table))
            self._retrying("dead letters", self._deliver_dead_letters)
        except _Abandoned:
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

    def _insert_tz(self, tz: str) -> None:
        try:
            rows = transitions(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self._known_tz.add(tz)  # not a zone: the views count it in UTC
            return
        self._insert(TZ_OFFSETS, rows, f"tz:{tz}")
        self._known_tz.add(tz)

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
        self._stop = stop
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
        self._consumer = Consumer(conf)
        self._producer = Producer(producer_config(self.settings.kafka))
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        self.ready.set()
        try:
            while not stop.is_set():
                if self._carry:
                    pending, self._carry = self._carry, []
                    self._handle_many(pending)
                want = max(1, min(FETCH_MESSAGES, self.batch_rows - self._batch.row_count))
                timeout = 0.05 if not self._batch.empty() else 0.2
                self._handle_many(self._consumer.consume(num_messages=want, timeout=timeout))
                self._reap()
                if self._due():
                    self._hand_off()
            for msg in self._carry:
                self._handle(msg)
            self._carry = []
            self.flush()
        finally:
            if self._flusher is not None:
                self._flusher.shutdown(wait=True)
            self._consumer.close()
            self._producer.flush(10)
            with self.lock:  # the embedded engine holds its directory until closed
                if self.client is not None:
                    self.client.close()
                    self.client = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def future_wait(future: Future[Any], seconds: float) -> bool:
    """Whether `future` is done within `seconds` (without raising what it raised)."""
    try:
        future.exception(timeout=seconds)
    except TimeoutError:
        return False
    return True
