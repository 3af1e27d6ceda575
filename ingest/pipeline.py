"""Reading a contact list fast with the engine's own parser, number validation on every core.

`campaigns.contacts` does the work: `read_rows` streams cells, `build_contact` turns a
row into a contact (validating numbers, the costly part), `Deduper` applies the rules
that need earlier rows. Here chunks of rows go to worker processes that run
`build_contact` and encode the accepted rows to Avro bytes; the parent keeps the row
order, runs `Deduper` sequentially and hands out accepted rows ready to publish.

Each worker keeps `normalise_number`'s cache, so a number repeated in the list (a
shared switchboard as alternate) is validated at most once per worker. Memory stays flat
in the file size apart from the duplicate checks (one id and one number per
accepted row): only a bounded window of chunks is in flight.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool
from typing import BinaryIO

from campaigns.contacts import (
    Contact,
    ContactLayout,
    ContactsFileError,
    Deduper,
    Rejection,
    build_contact,
    normalise_number,
    read_rows,
)
from ingest.rowcodec import encode_contact

CHUNK_ROWS = 2_000
# Below this many bytes a list is parsed in-process: starting workers costs more.
PARALLEL_MIN_BYTES = 2_000_000

# (row, contact_id, primary number, timezone, ContactRow bytes)
Built = tuple[int, str, str, "str | None", bytes]


@dataclass(slots=True)
class Accepted:
    row: int
    contact_id: str
    encoded: bytes  # Avro ContactRow


@dataclass
class Chunk:
    """One chunk of rows, in file order: accepted rows and rejections."""

    first_row: int
    rows: int
    accepted: list[Accepted]
    rejections: list[Rejection]


@dataclass
class ReadStats:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    validations: int = 0  # numbers actually run through phonenumbers (cache misses)
    bytes_read: int = 0


# ---- worker side -------------------------------------------------------------------

_layout: ContactLayout | None = None
_region = "US"


def _init_worker(layout: ContactLayout, region: str) -> None:
    global _layout, _region
    _layout, _region = layout, region


def _build_chunk(first_row: int, rows: list[list[str]]) -> tuple[list[Built], list[Rejection], int]:
    """build_contact + encoding for a chunk; returns what the parent needs and the validations made."""
    assert _layout is not None
    layout, region = _layout, _region
    before = normalise_number.cache_info().misses
    built: list[Built] = []
    rejected: list[Rejection] = []
    for i, cells in enumerate(rows):
        item = build_contact(layout, first_row + i, cells, region)
        if isinstance(item, Contact):
            built.append(
                (item.row, item.contact_id, item.phone_number, item.timezone, encode_contact(item))
            )
        else:
            rejected.append(item)
    return built, rejected, normalise_number.cache_info().misses - before


# ---- parent side -------------------------------------------------------------------


@dataclass
class ContactReader:
    """A contact list opened for reading: the header is read at once (`layout`), rows on demand."""

    stream: BinaryIO
    source: str
    region: str
    layout: ContactLayout
    workers: int = 1
    chunk_rows: int = CHUNK_ROWS
    stats: ReadStats = field(default_factory=ReadStats)
    _rows: Iterator[tuple[int, list[str]]] | None = None

    @classmethod
    def open(
        cls,
        stream: BinaryIO,
        source: str,
        region: str,
        workers: int | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> ContactReader:
        """Read the header; raises ContactsFileError for an empty file or a bad header."""
        rows = read_rows(stream, source)
        _, header = next(rows)
        layout = ContactLayout.from_header(header, source)
        if workers is None:
            workers = default_workers(stream)
        return cls(stream, source, region, layout, workers, chunk_rows, ReadStats(), rows)

    def chunks(self, progress: Callable[[ReadStats], None] | None = None) -> Iterator[Chunk]:
        """Chunks in file order. A file-level error is raised after the chunks before it."""
        assert self._rows is not None, "chunks() can run once"
        rows, self._rows = self._rows, None
        dedupe = Deduper()
        if self.workers <= 1:
            _init_worker(self.layout, self.region)
            for first, cells in self._read(rows):
                yield self._finish(first, cells, _build_chunk(first, cells), dedupe, progress)
            return
        ctx = multiprocessing.get_context("fork")
        window = 2 * self.workers
        pending: deque[
            tuple[int, list[list[str]], AsyncResult[tuple[list[Built], list[Rejection], int]]]
        ] = deque()
        with ctx.Pool(self.workers, _init_worker, (self.layout, self.region)) as pool:
            try:
                for first, cells in self._read(rows):
                    pending.append((first, cells, _submit(pool, first, cells)))
                    if len(pending) >= window:
                        f, c, res = pending.popleft()
                        yield self._finish(f, c, res.get(), dedupe, progress)
            except ContactsFileError:
                # rows before a file-level error are still reported, then the error goes on
                while pending:
                    f, c, res = pending.popleft()
                    yield self._finish(f, c, res.get(), dedupe, progress)
                raise
            while pending:
                f, c, res = pending.popleft()
                yield self._finish(f, c, res.get(), dedupe, progress)

    def _read(self, rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[list[str]]]]:
        cells: list[list[str]] = []
        first = 1
        try:
            for row, c in rows:
                if not cells:
                    first = row
                cells.append(c)
                if len(cells) >= self.chunk_rows:
                    yield first, cells
                    cells = []
        except ContactsFileError:
            if cells:  # the rows read before the error still count
                yield first, cells
            raise
        if cells:
            yield first, cells

    def _finish(
        self,
        first: int,
        cells: list[list[str]],
        result: tuple[list[Built], list[Rejection], int],
        dedupe: Deduper,
        progress: Callable[[ReadStats], None] | None,
    ) -> Chunk:
        built, rejected, validations = result
        accepted: list[Accepted] = []
        cols = self.layout.columns
        for row, contact_id, phone, tz, encoded in built:
            rej = dedupe.check_key(row, contact_id, phone, tz)
            if rej is None:
                accepted.append(Accepted(row, contact_id, encoded))
            else:
                rej.values = _values(cols, cells[row - first])
                rejected.append(rej)
        rejected.sort(key=lambda r: r.row)
        s = self.stats
        s.rows += len(cells)
        s.accepted += len(accepted)
        s.rejected += len(rejected)
        s.validations += validations
        with contextlib.suppress(OSError, ValueError):
            s.bytes_read = self.stream.tell()
        if progress is not None:
            progress(s)
        return Chunk(first, len(cells), accepted, rejected)


def _submit(
    pool: Pool, first: int, cells: list[list[str]]
) -> AsyncResult[tuple[list[Built], list[Rejection], int]]:
    return pool.apply_async(_build_chunk, (first, cells))


def _values(cols: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    return {c: (cells[i] if i < len(cells) else "") for i, c in enumerate(cols)}


def default_workers(stream: BinaryIO) -> int:
    """Every core for a big file, in-process for a small one (or one we cannot size)."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return 1
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, os.cpu_count() or 1)


__all__ = ["Accepted", "Chunk", "ContactReader", "ContactsFileError", "ReadStats"]
