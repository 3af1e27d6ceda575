"""Reading a contact list fast with the engine's own parser, on every core.

The parent only cuts the file into pieces of about `chunk_bytes` at record boundaries
and counts their records (a byte count for plain pieces, the csv module for pieces with
quotes), so it knows each piece's first row number. Worker processes get the raw bytes
and do everything per row: decode, `campaigns.contacts.csv_rows`, `build_contact`
(number validation, the costly part) and the Avro encoding, which needs the row
number. They send back one blob of encoded rows with the few fields the parent needs
for the rules that depend on earlier rows (`Deduper`), which it applies in row order.

Each parse has its own state (`ParseState`: layout, region, number cache), passed to
every piece: the API parses several accounts' lists at once in one process. Each worker
keeps its parse's cache of `normalise_number`, so a number repeated in the list (a
shared switchboard as alternate) is validated at most once per worker. Memory stays flat
in the file size apart from the duplicate checks (one number per accepted row, and one
id when the list has a contact_id column): only a bounded window of pieces is in flight.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import io
import multiprocessing
import os
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.pool import AsyncResult
from typing import BinaryIO

from campaigns.contacts import (
    Contact,
    ContactLayout,
    ContactsFileError,
    Deduper,
    Normaliser,
    Rejection,
    UnterminatedQuote,
    build_contact,
    csv_rows,
    decode_error_in,
    normalise_number,
    row_values,
)
from ingest.rowcodec import encode_contacts

# About 4,000 rows of a typical list: small enough that the last pieces leave neither core
# idle for long at the end of a list (with 1 MiB pieces, 100,000 rows were 7 pieces for
# 2 workers, one of them working alone on the last), big enough that a piece's fixed
# costs (its message to the worker and back, a collection) are a fraction of a percent.
CHUNK_BYTES = 1 << 18
# Below this many bytes a list is parsed in-process: starting workers costs more.
PARALLEL_MIN_BYTES = 2_000_000
# Each worker's own cache of validated numbers: repeated numbers (a switchboard as
# alternate) stay in it, unique ones pass through; bounded so memory stays flat.
WORKER_CACHE = 1 << 18
# No line, and no record (the header included), is longer: a row of MAX_ROW_CHARS
# characters of 4-byte UTF-8 with a quoted cell in each of MAX_COLUMNS columns is about
# half of it. Checked on the raw bytes before any parsing, so a line of 300 MB (or 28 MB
# of commas, 28 million cells) costs one window of reading, never its whole length.
MAX_RECORD_BYTES = 1 << 20
# A piece holds at most this many records: a rejected row weighs some hundred bytes
# however short its line, so a file of tiny bad rows cut only by bytes would hold
# hundreds of megabytes of rejections for each piece in flight.
MAX_PIECE_RECORDS = 50_000


@dataclass(slots=True)
class Accepted:
    row: int
    contact_id: str
    encoded: bytes  # Avro ContactRow


@dataclass
class Chunk:
    """One piece of the file, in file order: accepted rows (encoded, one blob) and rejections."""

    first_row: int
    rows: int
    rejections: list[Rejection]
    blob: bytes = b""  # the accepted rows' ContactRow bytes, in row order
    ends: array[int] = field(default_factory=lambda: array("q"))  # end of each row in blob
    accepted_rows: array[int] = field(default_factory=lambda: array("q"))
    ids: list[str] | None = None  # their contact ids; None: the default row-N

    @property
    def accepted(self) -> list[Accepted]:
        """The accepted rows one by one (the upload uses blob and ends instead)."""
        out: list[Accepted] = []
        start = 0
        for i, row in enumerate(self.accepted_rows):
            end = self.ends[i]
            contact_id = self.ids[i] if self.ids is not None else f"row-{row}"
            out.append(Accepted(row, contact_id, self.blob[start:end]))
            start = end
        return out


@dataclass
class ReadStats:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    validations: int = 0  # numbers actually run through phonenumbers (cache misses)
    bytes_read: int = 0


@dataclass
class Piece:
    """Raw bytes of whole records, where they are in the file."""

    offset: int  # byte offset in the file
    data: bytes
    rows_before: int  # the data row number of the record before the first one here
    lines_before: int  # physical lines before the piece
    final: bool
    records: int | None  # None: the parent saw the piece is broken; the worker says how


@dataclass
class Built:
    """What a worker sends back for a piece: candidates (encoded) and rejections."""

    records: int = 0
    validations: int = 0
    blob: bytes = b""  # the candidates' ContactRow bytes, one after the other
    ends: array[int] = field(default_factory=lambda: array("q"))  # end of each in blob
    rows: array[int] = field(default_factory=lambda: array("q"))
    ids: list[str] = field(default_factory=list)  # only when the layout has contact_id
    phones: list[str] = field(default_factory=list)
    zones: list[str | None] = field(default_factory=list)  # only when it has timezone
    rejections: list[Rejection] = field(default_factory=list)
    error: str | None = None  # a file-level error after the rows above


# ---- worker side -------------------------------------------------------------------


@dataclass
class ParseState:
    """One parse's own layout, default region and number cache, handed to every piece.

    Never shared between parses: the API parses several accounts' lists at once in one
    process, so nothing of a parse may live in a module global there.
    """

    layout: ContactLayout
    region: str
    source: str
    normalise: Normaliser

    @classmethod
    def new(cls, layout: ContactLayout, region: str, source: str) -> ParseState:
        normalise = lru_cache(maxsize=WORKER_CACHE)(normalise_number.__wrapped__)
        return cls(layout, region, source, normalise)


# Only ever set in a pool's worker process, and each pool serves one parse (`chunks`):
# the state of that parse, kept between its pieces for the number cache.
_child_state: ParseState | None = None


def _init_child(layout: ContactLayout, region: str, source: str) -> None:
    global _child_state
    _child_state = ParseState.new(layout, region, source)
    # What is loaded by now (phonenumbers' metadata, the libraries) lives as long as the
    # process: frozen, the cyclic collector never rescans it.
    gc.freeze()
    # A piece's rows (contacts, their dicts and lists) hold no cycles and all die when the
    # piece is sent; with the collector on, they and the number cache (up to WORKER_CACHE
    # entries, full at about half a million rows a worker) were walked again on every
    # generation-2 pass, several a piece: a quarter of a worker's time once its numbers
    # are cached (issue 26). So the collector runs once a piece, after it.
    gc.disable()


def _build_in_child(piece: Piece) -> Built:
    assert _child_state is not None, "a pool worker without its parse"
    try:
        return _build_piece(_child_state, piece)
    finally:
        # Whatever cycle the piece left (none is expected), freed once. Only the youngest
        # generation: the collector has not run since the piece began, so every object of
        # the piece is in it, and the number cache's older entries are not walked again
        # (a full pass walked all of them after every piece).
        gc.collect(0)


def _build_piece(state: ParseState, piece: Piece) -> Built:
    """Decode and parse the rows of a piece, `build_contact` each, encode the contacts."""
    layout, region, normalise = state.layout, state.region, state.normalise
    misses = normalise.cache_info().misses  # type: ignore[attr-defined]
    out = Built()
    data = piece.data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        out.error = f"{state.source}: {decode_error_in(data, piece.offset, piece.final)}"
        good = data[: err.start]
        text = good[: good.rfind(b"\n") + 1].decode("utf-8")
    contacts: list[Contact] = []
    try:
        for row, cells in csv_rows(
            io.StringIO(text, newline=""), state.source, piece.rows_before, piece.lines_before
        ):
            out.records += 1
            item = build_contact(layout, row, cells, region, normalise)
            if isinstance(item, Rejection):
                out.rejections.append(item)
            else:
                contacts.append(item)
    except ContactsFileError as err:
        if out.error is None:
            out.error = str(err)
    out.blob, ends = encode_contacts(contacts)
    out.ends = array("q", ends)
    out.rows = array("q", [c.row for c in contacts])
    out.phones = [c.phone_number for c in contacts]
    if layout.contact_id is not None:
        out.ids = [c.contact_id for c in contacts]
    if layout.timezone is not None:
        out.zones = [c.timezone for c in contacts]
    out.validations = normalise.cache_info().misses - misses  # type: ignore[attr-defined]
    return out


# ---- parent side: cutting the file -------------------------------------------------


def _line_count(data: bytes) -> int:
    """Physical lines as TextIOWrapper(newline="") counts them: \\n, \\r\\n and \\r end one."""
    n = data.count(b"\n")
    if b"\r" in data:
        n += data.count(b"\r") - data.count(b"\r\n")
    return n + 1 if data and data[-1] not in b"\r\n" else n


def _plain_records(data: bytes) -> int | None:
    """Records in a piece without quotes, NUL or blank lines: one per line; else None."""
    if b'"' in data or b"\x00" in data or data[:1] in (b"\n", b"\r"):
        return None
    if b"\n\n" in data or (b"\r" in data and (b"\r\r" in data or b"\n\r" in data)):
        return None
    return _line_count(data)


class _Splitter:
    """Cuts the bytes after the header into pieces that end at record boundaries."""

    def __init__(
        self,
        stream: BinaryIO,
        source: str,
        buffer: bytes,
        offset: int,
        lines_before: int,
        chunk_bytes: int,
    ) -> None:
        self.stream, self.source, self.chunk_bytes = stream, source, chunk_bytes
        self.buffer, self.offset, self.lines_before = buffer, offset, lines_before
        self.rows_before = 0
        self.eof = False

    def _fill(self, want: int) -> None:
        while not self.eof and len(self.buffer) < want:
            more = self.stream.read(max(self.chunk_bytes, want - len(self.buffer)))
            if not more:
                self.eof = True
            else:
                self.buffer += more

    def _last_end(self, start: int, stop: int) -> int | None:
        """End of the last line that ends in [start, stop), if one does (needs buffer > stop)."""
        buf = self.buffer
        nl = buf.rfind(b"\n", start, stop)
        cr = buf.rfind(b"\r", start, stop)
        if cr > nl and buf[cr + 1 : cr + 2] != b"\n":
            return cr + 1
        return nl + 1 if nl >= 0 else None

    def _first_end(self, pos: int) -> int | None:
        """End of the first line that ends at or after pos (None: not in the buffer yet)."""
        buf = self.buffer
        nl = buf.find(b"\n", pos)
        cr = buf.find(b"\r", pos)
        if cr >= 0 and (nl < 0 or cr < nl):
            if cr + 1 < len(buf):
                return cr + 2 if buf[cr + 1] == 10 else cr + 1
            return cr + 1 if self.eof else None
        return nl + 1 if nl >= 0 else None

    def _cut(self, start: int, size: int) -> int:
        """End (exclusive, > start) of a piece: a line end about `size` after start, or EOF."""
        target = start + size
        self._fill(target + 1)
        if self.eof and len(self.buffer) <= target:
            return len(self.buffer)
        end = self._last_end(start, target)
        if end is not None and end > start:
            return end
        pos = target
        while True:
            end = self._first_end(pos)
            if end is not None:
                return end
            if self.eof:
                return len(self.buffer)
            if len(self.buffer) - start > MAX_RECORD_BYTES:
                raise self._overlong(start)
            pos = max(pos, len(self.buffer) - 1)
            self._fill(len(self.buffer) + self.chunk_bytes)

    def _overlong(self, at: int) -> ContactsFileError:
        """The error for the line starting at buffer offset `at`: its row and line, not its text."""
        line = self.lines_before + _line_count(self.buffer[:at]) + 1
        try:
            before = self._count(self.buffer[:at], False)
        except UnterminatedQuote:
            before = None  # the line goes on a quoted cell of a row before it
        row = "" if before is None else f"row {self.rows_before + before + 1} "
        return ContactsFileError(
            f"{self.source}: {row}(line {line}): a line of over {MAX_RECORD_BYTES} bytes (no"
            " row of a contact list is that long)"
        )

    def _check_lines(self, data: bytes) -> None:
        """Every line of `data` is at most MAX_RECORD_BYTES (a few finds a window, no split)."""
        pos = 0
        while len(data) - pos > MAX_RECORD_BYTES:
            stop = pos + MAX_RECORD_BYTES + 1
            nl = max(data.rfind(b"\n", pos, stop), data.rfind(b"\r", pos, stop))
            if nl < 0:
                raise self._overlong(pos)
            pos = nl + 1

    def _count(self, data: bytes, final: bool) -> int | None:
        """Records of a piece (None: broken, the worker says how); UnterminatedQuote if it
        ends inside a quoted cell that goes on."""
        records = _plain_records(data)
        if records is not None:
            return records
        try:
            text = data.decode("utf-8")
            return sum(
                1
                for _ in csv_rows(
                    io.StringIO(text, newline=""), self.source, self.rows_before, self.lines_before
                )
            )
        except UnterminatedQuote:
            if final:
                return None  # the worker reports it
            raise
        except (UnicodeDecodeError, ContactsFileError):
            return None  # the worker reports it, with the rows before it

    def _next(self, size: int) -> tuple[int, int | None]:
        """End and record count of the next piece, of about `size` bytes of whole records."""
        end = self._cut(0, size)
        while True:
            self._check_lines(self.buffer[:end])
            final = self.eof and end == len(self.buffer)
            try:
                return end, self._count(self.buffer[:end], final)
            except UnterminatedQuote as err:
                if end > size + MAX_RECORD_BYTES:
                    raise ContactsFileError(
                        f"{err}, still open after {MAX_RECORD_BYTES} bytes"
                    ) from None
                end = self._cut(end, self.chunk_bytes)  # a quoted cell goes on: take more lines

    def pieces(self) -> Iterator[Piece]:
        while True:
            self._fill(self.chunk_bytes + 1)
            if not self.buffer:
                return
            size = self.chunk_bytes
            end, records = self._next(size)
            while records is not None and records > MAX_PIECE_RECORDS and size > 1:
                size = max(1, size * MAX_PIECE_RECORDS // records)  # fewer, longer-lived rows
                end, records = self._next(size)
            data = self.buffer[:end]
            final = self.eof and end == len(self.buffer)
            piece = Piece(self.offset, data, self.rows_before, self.lines_before, final, records)
            yield piece
            if records is None:
                return
            self.buffer = self.buffer[end:]
            self.offset += len(data)
            self.rows_before += records
            self.lines_before += _line_count(data)


def _read_header(
    stream: BinaryIO, source: str, chunk_bytes: int
) -> tuple[list[str], bytes, int, int]:
    """The header cells, the bytes read after it, their file offset and the lines before them."""
    buf = b""
    eof = False
    while True:
        more = stream.read(chunk_bytes)
        eof = not more
        buf += more
        if not buf:
            raise ContactsFileError(f"{source}: the file is empty (no header row)")
        bom = len(codecs.BOM_UTF8) if buf.startswith(codecs.BOM_UTF8) else 0
        upto = len(buf) if eof else max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1
        if upto <= bom:
            if eof:
                raise ContactsFileError(f"{source}: the file is empty (no header row)")
            if len(buf) >= MAX_RECORD_BYTES:
                raise ContactsFileError(
                    f"{source}: row 0 (header) is over {MAX_RECORD_BYTES} bytes"
                )
            continue
        part = buf[bom:upto]
        bad: str | None = None
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = f"{source}: {decode_error_in(buf[bom:], bom, eof)}"
            good = part[: err.start]
            text = good[: good.rfind(b"\n") + 1].decode("utf-8")
        lines = io.StringIO(text, newline="")
        consumed = 0

        def feed(lines: io.StringIO = lines) -> Iterator[str]:
            nonlocal consumed
            for line in lines:
                consumed += len(line)
                yield line

        try:
            for _, header in csv_rows(feed(), source):
                used = bom + len(text[:consumed].encode("utf-8"))
                if used - bom > MAX_RECORD_BYTES:
                    raise ContactsFileError(
                        f"{source}: row 0 (header) is over {MAX_RECORD_BYTES} bytes"
                    )
                return header, buf[used:], used, _line_count(buf[bom:used])
        except UnterminatedQuote:
            if eof or bad is not None or len(buf) >= MAX_RECORD_BYTES:
                raise
            continue
        if bad is not None:
            raise ContactsFileError(bad)
        if eof:
            raise ContactsFileError(f"{source}: the file is empty (no header row)")


@dataclass
class ContactReader:
    """A contact list opened for reading: the header is read at once (`layout`), rows on demand."""

    stream: BinaryIO
    source: str
    region: str
    layout: ContactLayout
    workers: int = 1
    chunk_bytes: int = CHUNK_BYTES
    stats: ReadStats = field(default_factory=ReadStats)
    _splitter: _Splitter | None = None

    @classmethod
    def open(
        cls,
        stream: BinaryIO,
        source: str,
        region: str,
        workers: int | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        agents: Iterable[str] | None = None,
    ) -> ContactReader:
        """Read the header; raises ContactsFileError for an empty file or a bad header.

        `agents`: the agent ids an `agent_id` cell may name (the campaign's); None: any."""
        header, rest, offset, lines = _read_header(stream, source, chunk_bytes)
        layout = ContactLayout.from_header(header, source)
        if agents is not None:
            layout = layout.with_agents(agents)
        if workers is None:
            workers = default_workers(stream)
        splitter = _Splitter(stream, source, rest, offset, lines, chunk_bytes)
        return cls(stream, source, region, layout, workers, chunk_bytes, ReadStats(), splitter)

    def chunks(self, progress: Callable[[ReadStats], None] | None = None) -> Iterator[Chunk]:
        """Chunks in file order. A file-level error is raised after the chunks before it."""
        assert self._splitter is not None, "chunks() can run once"
        splitter, self._splitter = self._splitter, None
        dedupe = Deduper()
        if self.workers <= 1:
            state = ParseState.new(self.layout, self.region, self.source)
            for piece in splitter.pieces():
                built = _build_piece(state, piece)
                yield self._finish(piece, built, dedupe, progress)
                if built.error is not None:
                    raise ContactsFileError(built.error)
            return
        ctx = multiprocessing.get_context("fork")
        window = 4 * self.workers  # pieces in flight: each worker has the next at hand
        pending: deque[tuple[Piece, AsyncResult[Built]]] = deque()
        init = (self.layout, self.region, self.source)
        failed: ContactsFileError | None = None
        with ctx.Pool(self.workers, _init_child, init) as pool:
            pieces = splitter.pieces()
            while True:
                while failed is None and len(pending) < window:
                    try:
                        nxt = next(pieces, None)
                    except ContactsFileError as err:
                        failed = err  # raised after the pieces before it
                        break
                    if nxt is None:
                        break
                    pending.append((nxt, pool.apply_async(_build_in_child, (nxt,))))
                if not pending:
                    break
                piece, res = pending.popleft()
                built = res.get()
                yield self._finish(piece, built, dedupe, progress)
                if built.error is not None:
                    raise ContactsFileError(built.error)
        if failed is not None:
            raise failed

    def _finish(
        self,
        piece: Piece,
        built: Built,
        dedupe: Deduper,
        progress: Callable[[ReadStats], None] | None,
    ) -> Chunk:
        if built.error is None and built.records != piece.records:
            raise RuntimeError(
                f"{self.source}: piece at byte {piece.offset} has {built.records} records,"
                f" the splitter counted {piece.records}"
            )
        rejected = built.rejections
        chunk = Chunk(piece.rows_before + 1, built.records, rejected)
        self._dedupe(piece, built, dedupe, chunk)
        s = self.stats
        s.rows += built.records
        s.accepted += len(chunk.accepted_rows)
        s.rejected += len(chunk.rejections)
        s.validations += built.validations
        s.bytes_read = piece.offset + len(piece.data)
        if progress is not None:
            progress(s)
        return chunk

    def _dedupe(self, piece: Piece, built: Built, dedupe: Deduper, chunk: Chunk) -> None:
        """The duplicate checks in row order; keep the accepted rows (all, in a clean list)."""
        ids = built.ids if self.layout.contact_id is not None else None
        zones = built.zones if self.layout.timezone is not None else None
        dup = dedupe.check_keys(built.rows, ids, built.phones, zones)
        if not dup:
            chunk.blob, chunk.ends, chunk.accepted_rows, chunk.ids = (
                built.blob,
                built.ends,
                built.rows,
                ids,
            )
            return
        dropped = {r.row for r in dup}
        blob, ends = built.blob, built.ends
        parts: list[bytes] = []
        kept_ids: list[str] = []
        start = end = 0
        for i, row in enumerate(built.rows):
            start, end = end, ends[i]
            if row in dropped:
                continue
            parts.append(blob[start:end])
            chunk.ends.append((chunk.ends[-1] if chunk.ends else 0) + end - start)
            chunk.accepted_rows.append(row)
            if ids is not None:
                kept_ids.append(ids[i])
        chunk.blob = b"".join(parts)
        chunk.ids = kept_ids if ids is not None else None
        self._fill_values(piece, dup)
        chunk.rejections = sorted(chunk.rejections + dup, key=lambda r: r.row)

    def _fill_values(self, piece: Piece, rejections: list[Rejection]) -> None:
        """Original values of rows the duplicate checks rejected: parse the piece again."""
        want = {r.row: r for r in rejections}
        cols = self.layout.columns
        text = piece.data.decode("utf-8", errors="replace")
        with contextlib.suppress(ContactsFileError):
            for row, cells in csv_rows(
                io.StringIO(text, newline=""), self.source, piece.rows_before, piece.lines_before
            ):
                rej = want.get(row)
                if rej is not None:
                    rej.values = row_values(cols, cells)


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
