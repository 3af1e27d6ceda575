"""The contact list (SPEC section 2): streaming CSV parsing, alternates, overrides, E.164.

Parsing is a pipeline of small pure steps so the ingest shell can run the costly one
(number validation) on several cores: `read_rows` streams cells, `ContactLayout`
reads the header, `build_contact` turns one row into a contact or a rejection, and
`Deduper` applies the rules that need the rows before it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import BinaryIO

import phonenumbers

from campaigns.exceptions import ContactsFileError, UnterminatedQuote
from campaigns.models import check_timezone
from campaigns.privacy import mask_number

MAX_CELL_CHARS = 65_536
# The csv module's own limit: far above MAX_CELL_CHARS so an oversized cell is read whole
# and reported with its row and column; only a runaway cell beyond this has no column.
FIELD_READ_LIMIT = 16 * 1024 * 1024
CSV_FIELD_LIMIT = FIELD_READ_LIMIT  # what csv.field_size_limit is set to
# A row (and the header) of more characters is refused: even in 4-byte UTF-8 its
# encoded contact then fits a contact batch (topics.catalogue.CONTACT_BATCH_MAX_BYTES).
MAX_ROW_CHARS = 100_000
MAX_CONTACT_ID_CHARS = 128
MAX_ALTERNATE_N = 99  # phone_number_2 .. phone_number_99
MAX_COLUMN_CHARS = 256
# Columns of a list: phone_number, its 98 alternates and a few variables each, overridden
# per alternate, fit with room to spare; a row's work and its rejection grow with it.
MAX_COLUMNS = 1_000
AGENT = "agent_id"  # issue 23: the contact's agent, one of its campaign's agents
SPECIAL = ("contact_id", "timezone", AGENT)
PRIMARY = "phone_number"
ALTERNATE = re.compile(r"^phone_number_(\d+)$")
SUFFIXED = re.compile(r"^(.+)_(\d+)$")


@dataclass(slots=True)
class Alternate:
    position: int  # the N of phone_number_N
    phone_number: str
    variables: dict[str, str] = field(default_factory=dict)  # X -> value of X_N (non-empty)


@dataclass(slots=True)
class Contact:
    contact_id: str
    row: int
    phone_number: str
    alternates: list[Alternate]
    variables: dict[str, str]  # raw column name -> value
    timezone: str | None = None
    agent_id: str | None = None  # None: the campaign's agent


@dataclass(slots=True)
class Rejection:
    row: int
    column: str | None
    reason: str
    values: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1 << 20)
def normalise_number(raw: str, region: str) -> str | None:
    """E.164 form of a valid number (phonenumbers' own rules), else None.

    Cached: lists repeat numbers a lot, and the ingest shell spreads the rest of the cost
    over its worker processes (each with its own cache).
    """
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


Normaliser = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class ContactLayout:
    """What each header column is for."""

    columns: tuple[str, ...]
    alternates: tuple[tuple[int, int], ...]  # (N, column index), by N
    overrides: tuple[tuple[str, int, int], ...]  # (base X, N, column index)
    variables: tuple[tuple[str, int], ...]  # (column name, index)
    contact_id: int | None
    timezone: int | None
    primary: int
    agent_id: int | None = None
    # The agent ids a row may name (the campaign's and its `agents`); None: not checked
    # here (a reader without the definition), the engine falls back to the campaign's.
    agents: frozenset[str] | None = None

    @classmethod
    def from_header(cls, header: list[str], source: str = "contacts") -> ContactLayout:
        cols = [h.strip() for h in header]
        if not any(cols):
            raise ContactsFileError(f"{source}: the header row is empty")
        seen: set[str] = set()
        if len(cols) > MAX_COLUMNS:
            raise ContactsFileError(
                f"{source}: row 0 (header): {len(cols)} columns (the limit is {MAX_COLUMNS})"
            )
        if sum(len(c) for c in cols) > MAX_ROW_CHARS:
            raise ContactsFileError(
                f"{source}: row 0 (header): over the limit of {MAX_ROW_CHARS} characters"
            )
        for i, c in enumerate(cols):
            where = f"{source}: row 0 (header), column {i + 1}"
            if len(c) > MAX_COLUMN_CHARS:
                raise ContactsFileError(
                    f"{where}: a column name of {len(c)} characters (the limit is {MAX_COLUMN_CHARS})"
                )
            if c.startswith(PRIMARY) and c != PRIMARY:
                m = ALTERNATE.match(c)
                if m is None or m.group(1).startswith("0") or int(m.group(1)) < 2:
                    raise ContactsFileError(
                        f"{where}: {c!r} is not a phone column (use phone_number, and"
                        f" phone_number_2 ... phone_number_{MAX_ALTERNATE_N} for alternates);"
                        " rename or remove it"
                    )
                if int(m.group(1)) > MAX_ALTERNATE_N:
                    raise ContactsFileError(
                        f"{where}: {c!r}: alternates go up to phone_number_{MAX_ALTERNATE_N}"
                    )
            if c in seen:
                raise ContactsFileError(
                    f"{source}: row 0 (header), column {i + 1}: duplicate column {c!r}"
                )
            seen.add(c)
        if PRIMARY not in seen:
            raise ContactsFileError(
                f"{source}: row 0 (header): required column 'phone_number' is missing (columns: {', '.join(cols)})"
            )
        alternates: list[tuple[int, int]] = []
        for i, c in enumerate(cols):
            m = ALTERNATE.match(c)
            if m and int(m.group(1)) >= 2:
                alternates.append((int(m.group(1)), i))
        plain = {c for c in cols if not c.startswith(PRIMARY) and c not in SPECIAL}
        overrides: list[tuple[str, int, int]] = []
        override_cols: set[str] = set()
        for i, c in enumerate(cols):
            m = SUFFIXED.match(c)
            if m and int(m.group(2)) >= 2 and m.group(1) in plain and c in plain:
                overrides.append((m.group(1), int(m.group(2)), i))
                override_cols.add(c)
        variables = tuple(
            (c, i) for i, c in enumerate(cols) if c in plain and c not in override_cols
        )
        return cls(
            columns=tuple(cols),
            alternates=tuple(sorted(alternates)),
            overrides=tuple(overrides),
            variables=variables,
            contact_id=cols.index("contact_id") if "contact_id" in seen else None,
            timezone=cols.index("timezone") if "timezone" in seen else None,
            primary=cols.index(PRIMARY),
            agent_id=cols.index(AGENT) if AGENT in seen else None,
        )

    def with_agents(self, agents: Iterable[str]) -> ContactLayout:
        """This layout checking `agent_id` cells against `agents`."""
        return replace(self, agents=frozenset(agents))

    @property
    def variable_columns(self) -> list[str]:
        return [c for c, _ in self.variables]


def build_contact(
    layout: ContactLayout,
    row: int,
    cells: list[str],
    region: str,
    normalise: Normaliser = normalise_number,
) -> Contact | Rejection:
    """One data row to a contact, or the first rule it breaks (duplicates aside)."""
    cols = layout.columns
    if len(cells) > len(cols):
        return Rejection(
            row,
            None,
            f"row has {len(cells)} cells, the header has {len(cols)}",
            row_values(cols, cells),
        )
    if len(cells) < len(cols):
        cells = cells + [""] * (len(cols) - len(cells))
    joined = "".join(cells)  # one string for both row-wide checks
    size = len(joined)
    if size > MAX_ROW_CHARS:
        return Rejection(
            row,
            None,
            f"row of {size} characters is over the limit of {MAX_ROW_CHARS}",
            row_values(cols, cells),
        )
    if "\x00" in joined:  # one scan of the row; the loop names the cell
        for i, cell in enumerate(cells):
            if "\x00" in cell:
                return Rejection(row, cols[i], "contains a NUL character", row_values(cols, cells))
    raw_primary = cells[layout.primary].strip()
    if not raw_primary:
        return Rejection(row, PRIMARY, "phone number is missing", row_values(cols, cells))
    primary = normalise(raw_primary, region)
    if primary is None:
        return Rejection(
            row,
            PRIMARY,
            f"not a valid phone number: {mask_number(raw_primary)!r}",
            row_values(cols, cells),
        )
    alternates: list[Alternate] = []
    for n, idx in layout.alternates:
        raw = cells[idx].strip()
        if not raw:
            continue
        number = normalise(raw, region)
        if number is None:
            return Rejection(
                row,
                cols[idx],
                f"not a valid phone number: {mask_number(raw)!r}",
                row_values(cols, cells),
            )
        alternates.append(Alternate(n, number))
    if layout.overrides and alternates:
        by_n = {a.position: a for a in alternates}
        for base, n, idx in layout.overrides:
            value = cells[idx]
            alt = by_n.get(n)
            if alt is not None and value != "":
                alt.variables[base] = value
    tz: str | None = None
    if layout.timezone is not None:
        tz = cells[layout.timezone].strip() or None
    contact_id = ""
    if layout.contact_id is not None:
        contact_id = cells[layout.contact_id].strip()
        if len(contact_id) > MAX_CONTACT_ID_CHARS:
            return Rejection(
                row,
                "contact_id",
                f"contact_id of {len(contact_id)} characters is over the limit of"
                f" {MAX_CONTACT_ID_CHARS}",
                row_values(cols, cells),
            )
    agent_id: str | None = None
    if layout.agent_id is not None:
        agent_id = cells[layout.agent_id].strip() or None
        if agent_id is not None and layout.agents is not None and agent_id not in layout.agents:
            return Rejection(
                row,
                AGENT,
                f"unknown agent {agent_id[:MAX_COLUMN_CHARS]!r} (the campaign's agents:"
                f" {', '.join(sorted(layout.agents))})",
                row_values(cols, cells),
            )
    return Contact(
        contact_id=contact_id or f"row-{row}",
        row=row,
        phone_number=primary,
        alternates=alternates,
        variables={c: cells[i] for c, i in layout.variables},
        timezone=tz,
        agent_id=agent_id,
    )


def row_values(cols: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    """A row's non-empty cells by column (read them with `.get(column, "")`): what a
    rejection reports. Empty ones are left out so that a short line under a wide header
    does not weigh a full row."""
    return {c: v for c, v in zip(cols, cells, strict=False) if v}


class Deduper:
    """The rules that need earlier rows: unique contact ids and primary numbers, valid zones."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._primaries: set[str] = set()

    def check(self, contact: Contact) -> Rejection | None:
        return self.check_key(
            contact.row, contact.contact_id, contact.phone_number, contact.timezone
        )

    def check_keys(
        self,
        rows: Sequence[int],
        contact_ids: Sequence[str] | None,
        phone_numbers: Sequence[str],
        timezones: Sequence[str | None] | None,
    ) -> list[Rejection]:
        """`check_key` on many rows in order; the rejections (contact_ids None: default ids)."""
        out: list[Rejection] = []
        check = self.check_key
        for i, row in enumerate(rows):
            rej = check(
                row,
                contact_ids[i] if contact_ids is not None else None,
                phone_numbers[i],
                timezones[i] if timezones is not None else None,
            )
            if rej is not None:
                out.append(rej)
        return out

    def check_key(
        self, row: int, contact_id: str | None, phone_number: str, timezone: str | None
    ) -> Rejection | None:
        """`check` on the fields it needs (the ingest shell keeps only these in its parent).

        contact_id None: the row's default id (`row-N`), unique by construction, so not kept.
        """
        if contact_id is not None and contact_id in self._ids:
            return Rejection(row, "contact_id", f"contact_id {contact_id!r} repeats an earlier row")
        if phone_number in self._primaries:
            return Rejection(
                row,
                PRIMARY,
                f"phone number {mask_number(phone_number)} repeats an earlier row's primary number",
            )
        if timezone is not None:
            try:
                check_timezone(timezone)
            except ValueError as err:
                return Rejection(row, "timezone", str(err))
        if contact_id is not None:
            self._ids.add(contact_id)
        self._primaries.add(phone_number)
        return None


def read_rows(stream: BinaryIO, source: str = "contacts") -> Iterator[tuple[int, list[str]]]:
    """(1-based data row, cells) for every non-blank record after the header.

    Yields the header as row 0. Raises ContactsFileError for an undecodable byte
    (with its offset), broken quoting or an oversized cell.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    row = -1
    try:
        for row, cells in csv_rows(text, source):
            yield row, cells
    except UnicodeDecodeError:
        raise ContactsFileError(f"{source}: {_decode_error_at(stream)}") from None
    if row < 0:
        raise ContactsFileError(f"{source}: the file is empty (no header row)")


def csv_rows(
    lines: Iterable[str], source: str = "contacts", row: int = -1, lines_before: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """The records of text lines (split as with newline=""), skipping blank ones.

    `row` is the number of the record before the first one here and `lines_before` the
    physical lines before them, so that a part of a file gives the file's own numbers.
    """
    csv.field_size_limit(FIELD_READ_LIMIT)
    reader = csv.reader(lines, strict=True)
    try:
        for cells in reader:
            if not cells or (len(cells) == 1 and cells[0] == ""):
                continue
            row += 1
            if max(map(len, cells)) > MAX_CELL_CHARS:  # one C-level pass; the loop names it
                for i, cell in enumerate(cells):
                    if len(cell) > MAX_CELL_CHARS:
                        raise ContactsFileError(
                            f"{source}: row {row}, column {i + 1}: cell of {len(cell)} characters is over the limit of {MAX_CELL_CHARS}"
                        )
            yield row, cells
    except csv.Error as err:
        msg = str(err)
        kind = ContactsFileError
        if "field larger than field limit" in msg:
            msg = f"a cell is over {FIELD_READ_LIMIT} characters (the limit is {MAX_CELL_CHARS})"
        elif "unexpected end of data" in msg:
            msg = "a quoted cell is never closed (unterminated quote)"
            kind = UnterminatedQuote
        raise kind(
            f"{source}: row {row + 1} (line {lines_before + reader.line_num}): {msg}"
        ) from None


def decode_error_in(data: bytes, offset: int, final: bool) -> str | None:
    """Where `data` (found at byte `offset` of a file) stops being UTF-8, as _decode_error_at says it."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        if final and err.reason == "unexpected end of data":
            return f"byte {offset + len(data)}: truncated UTF-8 sequence at end of file"
        return f"byte {offset + err.start}: not UTF-8 (0x{data[err.start]:02x})"
    return None


def _decode_error_at(stream: BinaryIO) -> str:
    """Find the first undecodable byte by decoding again from the start."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0
    while chunk := stream.read(1 << 16):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as err:
            pending = len(decoder.getstate()[0])
            at = offset - pending + err.start
            return (
                f"byte {at}: not UTF-8 (0x{chunk[err.start]:02x})"
                if 0 <= err.start < len(chunk)
                else f"byte {at}: not UTF-8"
            )
        offset += len(chunk)
    return f"byte {offset}: truncated UTF-8 sequence at end of file"


def iter_contacts(
    stream: BinaryIO,
    region: str,
    source: str = "contacts",
    agents: Iterable[str] | None = None,
) -> Iterator[ContactLayout | Contact | Rejection]:
    """The whole parse, streaming: first the layout, then contacts and rejections in row order.

    `agents`: the agent ids an `agent_id` cell may name (the campaign's); None: any."""
    rows = read_rows(stream, source)
    _, header = next(rows)
    layout = ContactLayout.from_header(header, source)
    if agents is not None:
        layout = layout.with_agents(agents)
    yield layout
    dedupe = Deduper()
    for row, cells in rows:
        item = build_contact(layout, row, cells, region)
        if isinstance(item, Contact):
            rejected = dedupe.check(item)
            if rejected is not None:
                rejected.values = row_values(layout.columns, cells)
                item = rejected
        yield item
