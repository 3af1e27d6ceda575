"""Issue 21 item 11: every read of an uploaded file is bounded.

A do-not-call line of tens of megabytes is rejected by its line number without being
held; a contact list line of 28 MB of commas (28 million cells) is refused after one
window of reading; a list of tiny bad rows holds a bounded number of rejections at a
time; a header of too many columns is refused. The files are generated as they are
read, so the test itself holds none of them, and tracemalloc (or what the stream
served) bounds what the code held.
"""

from __future__ import annotations

import io
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from confluent_kafka.admin import AdminClient

from campaignflow.config import settings
from campaigns.contacts import MAX_COLUMNS, ContactsFileError
from ingest.dnc import DncWriter, RejectedLine, Scope, import_file
from ingest.pipeline import MAX_PIECE_RECORDS, MAX_RECORD_BYTES, ContactReader
from ingest.upload import UploadError, upload
from tests.helpers import definition
from tests.integration.dialer_kit import drop_topics
from topics import catalogue
from topics.admin import create_topics
from topics.clients import KafkaSettings, admin_config

MiB = 1 << 20
T = TypeVar("T")


class Generated(io.RawIOBase):
    """A file made of parts (a unit repeated `count` times), produced as it is read."""

    def __init__(self, *parts: tuple[bytes, int]) -> None:
        self.parts = [p for p in parts if p[1] > 0]
        self.part = self.offset = 0
        self.served = 0  # bytes handed out so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.part >= len(self.parts):
            return 0
        unit, count = self.parts[self.part]
        size = len(unit) * count
        n = min(len(buffer), size - self.offset)
        start = self.offset % len(unit)
        data = (unit * ((start + n) // len(unit) + 1))[start : start + n]
        buffer[:n] = data
        self.offset += n
        self.served += n
        if self.offset == size:
            self.part, self.offset = self.part + 1, 0
        return n


def stream(*parts: tuple[bytes, int]) -> tuple[io.BufferedReader, Generated]:
    raw = Generated(*parts)
    return io.BufferedReader(raw, buffer_size=64 * 1024), raw


def peak_bytes(fn: Callable[[], T]) -> tuple[T, int]:
    """What `fn` returns and the most Python memory it held at once."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- do-not-call import -------------------------------------------------------------------


def test_a_huge_dnc_line_is_rejected_by_number_without_holding_it(kafka_bootstrap: str) -> None:
    prefix = f"tbound-{uuid.uuid4().hex[:8]}."
    topics = settings().topics_at(prefix)
    create_topics(
        [topics.spec(catalogue.DNC)],
        admin=AdminClient(admin_config(KafkaSettings(kafka_bootstrap))),
    )
    scope = Scope("bound-co")
    writer = DncWriter(scope, KafkaSettings(kafka_bootstrap), topics.name(catalogue.DNC))
    line_bytes = 64 * MiB
    f, raw = stream((b"+12125550100\n", 1), (b"9", line_bytes), (b"\n+12125550101\n", 1))
    seen: list[RejectedLine] = []
    try:
        report, peak = peak_bytes(
            lambda: import_file(f, scope, "US", writer=writer, on_reject=seen.append)
        )
    finally:
        drop_topics([topics.name(catalogue.DNC)])
    assert raw.served == line_bytes + 27  # the whole file was read through...
    assert peak < 4 * MiB, peak  # ...but never held (the line is 64 MiB)
    assert (report.lines, report.accepted, report.rejected_count) == (3, 2, 1)
    [rej] = seen
    assert (rej.line, rej.reason) == (2, "line too long") and len(rej.text) <= 40


# ---- contact lists --------------------------------------------------------------------------


def parse(f: io.BufferedReader) -> list[int]:
    """Rejections per chunk of a whole parse (in process, as the API runs it)."""
    return [len(c.rejections) for c in ContactReader.open(f, "list.csv", "US", 1).chunks()]


def test_a_line_of_28_mb_of_commas_is_refused_after_one_window() -> None:
    f, raw = stream((b"phone_number,name\n+12125550100,ok\n", 1), (b",", 28 * MiB), (b"\n", 1))
    with pytest.raises(ContactsFileError) as err:
        peak_bytes(lambda: parse(f))
    assert "list.csv: row 2 (line 3): a line of over" in str(err.value)
    assert raw.served < 4 * MAX_RECORD_BYTES  # not the 28 MiB


def test_a_line_of_commas_costs_little_memory() -> None:
    f, _ = stream((b"phone_number,name\n", 1), (b",", 28 * MiB), (b"\n", 1))
    _, peak = peak_bytes(lambda: pytest.raises(ContactsFileError, parse, f))
    assert peak < 16 * MiB, peak


def test_a_header_of_28_mb_of_commas_is_refused() -> None:
    f, raw = stream((b"phone_number", 1), (b",", 28 * MiB), (b"\n", 1))
    with pytest.raises(ContactsFileError, match=r"row 0 \(header\) is over"):
        parse(f)
    assert raw.served < 4 * MAX_RECORD_BYTES


def test_a_quoted_cell_that_never_closes_stops_after_a_bound() -> None:
    f, raw = stream((b'phone_number,name\n+12125550100,"', 1), (b"a,b\n", 16 * MiB))
    with pytest.raises(
        ContactsFileError, match=r"row 1 \(line \d+\): a quoted cell is never closed"
    ):
        parse(f)
    assert raw.served < 8 * MAX_RECORD_BYTES  # not the 64 MiB


def test_tiny_bad_rows_are_held_a_bounded_number_at_a_time() -> None:
    rows = 3 * MAX_PIECE_RECORDS
    f, _ = stream((b"phone_number,a,b,c,d,e,f,g,h,i\n", 1), (b"x\n", rows))
    per_chunk, peak = peak_bytes(lambda: parse(f))
    assert sum(per_chunk) == rows
    assert max(per_chunk) <= MAX_PIECE_RECORDS  # all 150,000 fit one 1 MiB piece by bytes
    assert peak < 48 * MiB, peak


def test_a_header_of_too_many_columns_is_refused(tmp_path: Path) -> None:
    header = ",".join(["phone_number", *(f"v{i}" for i in range(MAX_COLUMNS))])
    path = tmp_path / "wide.csv"
    path.write_text(header + "\n+12125550100\n")
    with pytest.raises(
        UploadError, match=f"{MAX_COLUMNS + 1} columns \\(the limit is {MAX_COLUMNS}\\)"
    ):
        upload(definition(), path, publish=False, workers=1)


def test_a_short_line_under_a_wide_header_keeps_only_its_own_cells() -> None:
    header = ",".join(["phone_number", *(f"v{i}" for i in range(MAX_COLUMNS - 1))]).encode()
    f, _ = stream((header + b"\n", 1), (b"x\n", 1))
    [chunk] = list(ContactReader.open(f, "list.csv", "US", 1).chunks())
    [rej] = chunk.rejections
    assert rej.values == {"phone_number": "x"}
