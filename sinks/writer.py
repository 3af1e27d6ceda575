"""The sink's ClickHouse side: inserts with deduplication tokens, retries, bisect-and-park.

While ClickHouse is away a batch is retried with capped exponential backoff (waiting at
the flusher's `RetryGate`, which gives the batch up when its partitions go). Rows
ClickHouse refuses (a value the client cannot serialize, a type or constraint ClickHouse
rejects: `refused`) are not retried forever: after `REFUSED_TRIES` refusals the rows are
split in halves, each half tried once, and so on down to the single rows refused, which
are parked on the dead-letter topic while the rest goes in. Call attempts and outcomes
are decoded by ClickHouse itself (sinks.native); when such an insert fails the messages
are decoded in Python instead, so a bad one is parked and the rest goes in.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from clickhouse_connect.driver.exceptions import DataError

from sinks import metrics
from sinks.batch import Batch, KeptMessage, NativeSource
from sinks.dsn import is_embedded, open_client
from sinks.flusher import Abandoned, RetryGate
from sinks.migrations import migrate
from sinks.native import NativeAvro
from sinks.rows import CAMPAIGNS, COLUMNS, TABLES, TZ_COLUMNS, TZ_OFFSETS, Row
from sinks.tz import transitions

log = logging.getLogger("sinks.consumer")

# Refusals of a batch's rows before it is split to find the rows ClickHouse refuses.
REFUSED_TRIES = 3
# ClickHouse error codes that mean "these rows cannot go in", whoever retries: cannot
# parse (6, 27, 38, 41, 72), type mismatch (53), argument out of bound (69), cannot convert
# (70), incorrect data (117), string too large (131), value out of range (321), NULL in
# a non-Nullable column (349), throwIf (395), decimal overflow (407), constraint (469).
REFUSAL_CODES = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 395, 407, 469})

# Decodes one message in Python: (table, row), or None when it was parked or no table keeps it.
Decode = Callable[[KeptMessage, int], "tuple[str, Row] | None"]
# Parks one message on the dead-letter topic with its reason.
Park = Callable[[KeptMessage, str], None]


def refused(exc: BaseException) -> bool:
    """Whether an insert failed because of its rows (not because ClickHouse is away).

    The client raises DataError, or a ValueError/TypeError/OverflowError/struct.error,
    when it cannot serialize a value; ClickHouse answers with one of REFUSAL_CODES.
    Anything else (no connection, a detached table, memory) is retried as before.
    """
    if isinstance(exc, DataError | ValueError | TypeError | OverflowError | struct.error):
        return True
    return getattr(exc, "code", None) in REFUSAL_CODES


class Writer:
    """Inserts batches into ClickHouse. `lock` guards `client` (flusher thread, connect, close)."""

    def __init__(
        self,
        dsn: str,
        native: NativeAvro | None,
        gate: RetryGate,
        decode: Decode,
        park: Park,
        backoff_max: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.native = native
        self.gate = gate
        self.decode = decode
        self.park = park
        self.backoff_max = backoff_max
        # The query server has clients of its own and never takes this lock: a slow query
        # does not hold up inserts.
        self.lock = threading.RLock()
        self.client: Any = None
        self.known_tz: set[str] = set()

    def connect(self, stop: threading.Event | None = None) -> None:
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
                    self.known_tz = {r[0] for r in rows}
                metrics.CLICKHOUSE_UP.set(1)
                return
            except Exception as exc:
                metrics.CLICKHOUSE_UP.set(0)
                log.warning("ClickHouse not ready (%s); retrying in %.1fs", exc, delay)
                if stop is not None and stop.wait(delay):
                    raise
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    def close(self) -> None:
        with self.lock:  # the embedded engine holds its directory until closed
            if self.client is not None:
                self.client.close()
                self.client = None

    def insert(self, table: str, rows: list[Any], token: str) -> None:
        """One insert of `rows` (no retry), deduplicated by `token`."""
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

    def insert_native(self, batch: Batch, table: str) -> None:
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
                mapped = self.decode(KeptMessage(source), source[2])
                if mapped is not None:
                    batch.add_row(*mapped, source)
            return
        batch.native_inserted.add(table)  # a retried flush must not insert them again
        metrics.INSERT_SECONDS.labels(table).observe(time.perf_counter() - start)
        metrics.ROWS_INSERTED.labels(table).inc(len(sources))

    def retrying(
        self, what: str, fn: Callable[[], None], refusals: int | None = None
    ) -> BaseException | None:
        """Run `fn` until it succeeds, waiting longer after each failure.

        With `refusals`, gives up once `fn` was refused (see `refused`) that many times in a
        row and returns that error (None on success). Runs in the flusher thread (or at
        stop); the consumer thread keeps polling meanwhile and pauses its assignment once
        the next batch is due.
        """
        delay = 0.25
        refused_in_a_row = 0
        while True:
            try:
                fn()
                metrics.CLICKHOUSE_UP.set(1)
                return None
            except Abandoned:
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
                log.warning("%s failed (%s); retrying in %.1fs", what, first_line(exc), delay)
                self.drop_client()
                self.gate.wait(delay)
                delay = min(delay * 2, self.backoff_max)

    def insert_or_split(
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
        error = self.retrying(table, partial(self.insert, table, rows, token), refusals=tries)
        if error is None:
            return
        if len(rows) == 1:
            self.park(
                KeptMessage(sources[0]), f"ClickHouse refused the {table} row: {first_line(error)}"
            )
            return
        half = len(rows) // 2
        log.warning(
            "ClickHouse refused %d %s rows (%s); splitting them to find the bad ones",
            len(rows),
            table,
            first_line(error),
        )
        self.insert_or_split(table, rows[:half], sources[:half], f"{token}/a", tries=1)
        self.insert_or_split(table, rows[half:], sources[half:], f"{token}/b", tries=1)

    def drop_client(self) -> None:
        """Forget a failed connection; the embedded engine keeps its handle (reopening it fails)."""
        if not self.dsn.startswith("chdb:"):
            with self.lock:
                self.client = None

    def new_timezones(self, batch: Batch) -> list[str]:
        zones = {str(r[3]) for r in batch.rows[CAMPAIGNS]}
        return sorted(zones - self.known_tz)

    def insert_tz(self, tz: str) -> None:
        """The zone's UTC offsets, once per zone (not a zone: the views count it in UTC)."""
        try:
            rows = transitions(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self.known_tz.add(tz)
            return
        self.insert(TZ_OFFSETS, rows, f"tz:{tz}")
        self.known_tz.add(tz)

    def insert_once(self, batch: Batch) -> None:
        """Every table's rows, one attempt each: may raise (a flush on revoke)."""
        for tz in self.new_timezones(batch):
            self.insert_tz(tz)
        for table in TABLES:
            self.insert_native(batch, table)
            if batch.rows[table]:
                self.insert(table, batch.rows[table], batch.token(table))

    def insert_batch(self, batch: Batch) -> None:
        """Every table's rows, retrying while ClickHouse fails; raises Abandoned."""
        for tz in self.new_timezones(batch):
            self.retrying(TZ_OFFSETS, partial(self.insert_tz, tz))
        for table in TABLES:
            self.insert_native(batch, table)
            rows = batch.rows[table]
            if rows:
                self.insert_or_split(table, rows, batch.sources[table], batch.token(table))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)
