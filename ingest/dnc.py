"""Do-not-call lists on `campaign.dnc`: add, remove, import a file, read the lists back.

The topic is compacted: one record per key, the key `<account_id>/<number>` for an
account's list and the number alone for the global list (records written before lists
were per account are global). A removal is a tombstone (null value), so compaction
drops the number. Every number is normalised to E.164 before it is written.

An import streams its file: one line at a time is read (at most MAX_LINE bytes of it:
a longer line is rejected by its number and skipped unread into memory), normalised and
handed to the producer (librdkafka batches them: linger, up to 10,000 records a request,
lz4), so memory does not grow with the file. A line that is not a number is reported
with its line number and the rest goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import phonenumbers

from campaigns.contacts import normalise_number
from topics.clients import KafkaSettings
from topics.codec import Codec, DecodeError, default_codec
from topics.consumer import TopicConsumer, TopicMissing
from topics.producer import TrackedProducer
from topics.translate import dnc_key, dnc_key_scope, dnc_record

# The uncached normaliser: an import of a million distinct numbers must not fill a cache.
_normalise: Callable[[str, str], str | None] = normalise_number.__wrapped__
MAX_LINE = 1024  # a longer line is no phone number: rejected without parsing it
SKIP_WINDOW = 1 << 16  # what is read at a time of the rest of a line over MAX_LINE


@dataclass(frozen=True, slots=True)
class Scope:
    """Which list: an account's, or the global one (account_id None)."""

    account_id: str | None

    def __post_init__(self) -> None:
        if self.account_id is not None and not self.account_id.strip():
            raise ValueError("the account id is empty")

    def __str__(self) -> str:
        return "the global list" if self.account_id is None else f"account {self.account_id}"


@dataclass(frozen=True, slots=True)
class RejectedLine:
    line: int  # 1-based
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One number on a list, as read back from the topic."""

    account_id: str | None
    number: str
    updated_at_ms: int


@dataclass
class ImportReport:
    lines: int = 0
    accepted: int = 0
    skipped: int = 0  # blank lines, comments, a header
    rejected: list[RejectedLine] = field(default_factory=list)
    rejected_count: int = 0


def region_code(region: str) -> str:
    """The region code, upper case; ValueError naming it when phonenumbers does not know it."""
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region code {region!r} (ISO 3166 alpha-2, e.g. US)")
    return region.upper()


def normalise(raw: str, region: str) -> str | None:
    """E.164 form of a number written by hand (national forms in `region`), else None."""
    return _normalise(raw.strip(), region.upper())


def numbers_of(
    lines: Iterable[bytes], region: str, report: ImportReport, keep_rejected: int
) -> Iterator[str]:
    """The E.164 numbers of a file's lines, in order; rejections go into `report`.

    One number a line; blank lines and `#` comments are skipped, and so is a first line
    without a digit (a header such as `phone_number`). A CSV line counts by its first
    field, so a column exported from a spreadsheet imports as it is.
    """
    region = region.upper()
    for n, raw_line in enumerate(lines, 1):
        report.lines = n
        if len(raw_line) > MAX_LINE:
            _reject(
                report, keep_rejected, n, raw_line[:40].decode(errors="replace"), "line too long"
            )
            continue
        try:
            text = raw_line.decode("utf-8-sig" if n == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            _reject(report, keep_rejected, n, repr(raw_line[:40]), "not UTF-8 text")
            continue
        if not text or text.startswith("#"):
            report.skipped += 1
            continue
        cell = text.split(",", 1)[0].strip().strip('"').strip()
        if n == 1 and not any(ch.isdigit() for ch in cell):
            report.skipped += 1
            continue
        number = _normalise(cell, region) if cell else None
        if number is None:
            _reject(report, keep_rejected, n, text, f"not a valid phone number (region {region})")
            continue
        report.accepted += 1
        yield number


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE) -> Iterator[bytes]:
    """The lines of a stream, each read with a bound: a line over `limit` bytes comes out
    as its first `limit + 1` bytes (so `numbers_of` rejects it by its number) and the rest
    of it is read past a window at a time, never held whole."""
    while line := stream.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(SKIP_WINDOW)) and not rest.endswith(b"\n"):
                pass
        yield line


def _reject(report: ImportReport, keep: int, line: int, text: str, reason: str) -> None:
    report.rejected_count += 1
    if len(report.rejected) < keep:
        report.rejected.append(RejectedLine(line, text, reason))


class DncWriter:
    """Writes entries and tombstones of one list; `close()` waits for every acknowledgement."""

    def __init__(
        self,
        scope: Scope,
        kafka: KafkaSettings,
        topic: str,
        codec: Codec | None = None,
    ) -> None:
        """`topic`: the campaign.dnc topic's real name (`catalogue.topic_name`)."""
        self.scope = scope
        self.topic = topic
        self.codec = codec or default_codec()
        self.producer = TrackedProducer(kafka)

    def add(self, number: str, updated_at_ms: int | None = None) -> None:
        at_ms = int(time.time() * 1000) if updated_at_ms is None else updated_at_ms
        value = self.codec.encode("DncEntry", dnc_record(self.scope.account_id, number, at_ms))
        self.producer.produce(self.topic, value, dnc_key(self.scope.account_id, number))

    def remove(self, number: str) -> None:
        self.producer.produce(self.topic, None, dnc_key(self.scope.account_id, number))

    def close(self, timeout: float = 60.0) -> None:
        self.producer.wait(timeout)

    def written(self) -> dict[int, int]:
        """Partition -> offset of the last entry or tombstone the broker acknowledged."""
        return {p: o for (t, p), o in self.producer.last_offsets.items() if t == self.topic}


def change(
    writer: DncWriter,
    numbers: Iterable[str],
    *,
    remove: bool = False,
    updated_at_ms: int | None = None,
    timeout: float = 60.0,
) -> DncWriter:
    """Put E.164 numbers on the writer's list (or take them off); every change acknowledged
    on return. The one write path of `dnc add|remove` and the API; returns the writer
    (`written()`)."""
    for number in numbers:
        if remove:
            writer.remove(number)
        else:
            writer.add(number, updated_at_ms)
    writer.close(timeout)
    return writer


def import_file(
    stream: BinaryIO,
    scope: Scope,
    region: str,
    *,
    writer: DncWriter,
    keep_rejected: int = 10_000,
    on_reject: Callable[[RejectedLine], None] | None = None,
) -> ImportReport:
    """Stream a file of numbers onto the writer's list; every accepted number acknowledged
    on return (the caller may read `writer.written()` after)."""
    if writer.scope != scope:
        raise ValueError(f"the writer is for {writer.scope}, the import for {scope}")
    report = ImportReport()
    now_ms = int(time.time() * 1000)
    seen_rejects = 0
    for number in numbers_of(bounded_lines(stream), region, report, keep_rejected):
        writer.add(number, now_ms)
        if on_reject is not None and len(report.rejected) > seen_rejects:
            for rejected in report.rejected[seen_rejects:]:
                on_reject(rejected)
            seen_rejects = len(report.rejected)
    if on_reject is not None:
        for rejected in report.rejected[seen_rejects:]:
            on_reject(rejected)
    writer.close(timeout=max(60.0, report.accepted / 20_000))
    return report


def _fold_entry(
    out: dict[bytes, int], key: bytes, value: bytes | None, topic: str, partition: int, offset: int
) -> None:
    """One record of the topic: the latest of a key wins; a tombstone or `blocked: false`
    removes it."""
    if value is None:
        out.pop(key, None)
        return
    try:
        _, rec = default_codec().decode(value, topic, partition, offset)
    except DecodeError:
        return  # not ours to judge here; the worker parks nothing from this topic
    if rec.get("blocked"):
        out[key] = int(rec["updated_at"])
    else:
        out.pop(key, None)


def read_lists(
    scope: Scope | None,
    kafka: KafkaSettings,
    topic: str,
    timeout_seconds: float = 10.0,
) -> dict[bytes, int]:
    """Every entry on the lists now (one list, or all with scope None), read from the topic:
    raw key -> updated_at (epoch millis); `entries()` and `dnc_key_scope` read the keys.

    Reads each partition from its start to the end it had when called; a later record of
    a key replaces the earlier one, a tombstone (or `blocked: false`) removes it. Only the
    raw keys are kept (about 100 bytes an entry), so a list of millions fits.
    """
    # librdkafka prefetches up to 64 MB a partition by default: more than the list itself.
    extra: dict[str, Any] = {"queued.max.messages.kbytes": 8192}
    out: dict[bytes, int] = {}
    with TopicConsumer.build(kafka, "campaignflow-dnc-reader", **extra) as consumer:
        try:
            spans = consumer.spans(topic)
        except TopicMissing:
            raise LookupError(
                f"topic {topic} does not exist (campaignflow topics create)"
            ) from None
        for msg in consumer.read_to_end(spans, idle_seconds=timeout_seconds, max_messages=10_000):
            key = msg.key()
            if key and (scope is None or dnc_key_scope(key)[0] == scope.account_id):
                _fold_entry(out, key, msg.value(), topic, msg.partition() or 0, msg.offset() or 0)
    return out


def entries(found: dict[bytes, int]) -> Iterator[Entry]:
    """The entries `read_lists` found, by list (global first) and number."""
    scoped = [(dnc_key_scope(key), at) for key, at in found.items()]
    for (account, number), at in sorted(scoped, key=lambda e: (e[0][0] or "", e[0][1])):
        yield Entry(account, number, at)
