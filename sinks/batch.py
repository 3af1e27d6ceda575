"""A batch of rows for every table plus the Kafka offsets it covers (pure bookkeeping).

The offsets are committed only after every table's rows are inserted. The batch's
deduplication token is derived from those offsets, so a batch retried after a failed
or interrupted insert carries the same token and ClickHouse skips what it already has.
Rows come either decoded (`rows`) or as framed Avro records ClickHouse decodes itself
(`native`, see sinks.native): their bytes and Kafka coordinates, enough for a Python
fallback. Those are kept as tuples of plain values, not confluent-kafka Message objects:
such tuples drop out of the garbage collector's sight, while a batch holding 50,000
Messages had every collection walk all of them (a second per 200,000 rows here).
Each decoded row keeps the message it came from (`sources`, same order as `rows`), so
a row ClickHouse refuses can be parked on the dead-letter topic.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from sinks.rows import TABLES, Row

# (value, length of its wire header, publish time millis, topic, partition, offset, key)
NativeSource = tuple[bytes, int, int, str, int, int, bytes | None]


class KeptMessage:
    """A kept native record seen as the Message it came from (for decoding and parking)."""

    __slots__ = ("_source",)

    def __init__(self, source: NativeSource) -> None:
        self._source = source

    def value(self) -> bytes:
        return self._source[0]

    def topic(self) -> str:
        return self._source[3]

    def partition(self) -> int:
        return self._source[4]

    def offset(self) -> int:
        return self._source[5]

    def key(self) -> bytes | None:
        return self._source[6]

    def error(self) -> None:
        return None


@dataclass
class Batch:
    started: float
    rows: dict[str, list[Row]] = field(default_factory=lambda: {t: [] for t in TABLES})
    # table -> the message of each row of `rows` (same index)
    sources: dict[str, list[NativeSource]] = field(default_factory=lambda: {t: [] for t in TABLES})
    # table -> (message, Avro header length, published ms) of each record ClickHouse decodes
    native: dict[str, list[NativeSource]] = field(default_factory=dict)
    native_inserted: set[str] = field(default_factory=set)
    # (topic, partition) -> (first offset, last offset)
    offsets: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    messages: int = 0
    row_count: int = 0
    # (publish time millis) of every outcome row, for the publish-to-visible delay
    outcome_published_ms: list[int] = field(default_factory=list)
    first_message_at: float | None = None  # monotonic time of the first message (age, benchmarks)

    def _note(self, topic: str, partition: int, offset: int) -> None:
        """A message read: its offset, and when the batch's first one came."""
        if self.first_message_at is None:
            self.first_message_at = time.monotonic()
        key = (topic, partition)
        first_last = self.offsets.get(key)
        self.offsets[key] = (offset if first_last is None else first_last[0], offset)
        self.messages += 1

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        table: str | None,
        row: Row | None,
        source: NativeSource | None = None,
    ) -> None:
        """A message, and its row when a table keeps it (`source`: the message, for parking)."""
        self._note(topic, partition, offset)
        if table is not None and row is not None:
            self.rows[table].append(row)
            self.sources[table].append(source or (b"", 0, 0, topic, partition, offset, None))
            self.row_count += 1

    def add_native(
        self, topic: str, partition: int, offset: int, table: str, source: NativeSource
    ) -> None:
        """A message whose row ClickHouse decodes (counted as a row of `table`); hot path."""
        self._note(topic, partition, offset)
        self.row_count += 1
        group = self.native.get(table)
        if group is None:
            self.native[table] = [source]
        else:
            group.append(source)

    def take_native(self, table: str) -> list[NativeSource]:
        """Give up the native records of `table` (they are decoded in Python instead)."""
        sources = self.native.pop(table, [])
        self.row_count -= len(sources)
        return sources

    def add_row(self, table: str, row: Row, source: NativeSource) -> None:
        """A row for a message already counted in the offsets (a native fallback)."""
        self.rows[table].append(row)
        self.sources[table].append(source)
        self.row_count += 1

    def empty(self) -> bool:
        return self.messages == 0

    def token(self, table: str, native: bool = False) -> str:
        """Deduplication token of this batch's insert into `table` (its native insert apart)."""
        spans = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(self.offsets.items()))
        digest = hashlib.sha256(spans.encode()).hexdigest()[:32]
        return f"{table}:{digest}:avro" if native else f"{table}:{digest}"

    def commit_positions(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset to read) for every partition the batch covers."""
        return [(t, p, last + 1) for (t, p), (_first, last) in sorted(self.offsets.items())]
