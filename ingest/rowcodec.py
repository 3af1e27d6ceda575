"""Avro bytes of one ContactRow, and ContactBatch values assembled from them.

Why not fastavro per batch: rows are encoded in the worker processes, in parallel,
and the parent only drops the few rows its duplicate checks reject before joining
the rest. An Avro array is `count, items..., 0`, so a batch is the encoded batch
header (from `topics.codec`, whatever the wire framing) plus the joined rows. The
unit tests check every byte decodes with `topics.codec`.
"""

from __future__ import annotations

from campaigns.contacts import (
    MAX_CONTACT_ID_CHARS,
    MAX_ROW_CHARS,
    Contact,
    ContactLayout,
    Normaliser,
    Rejection,
    build_contact,
)
from topics.avrobytes import long_bytes, string_bytes
from topics.codec import Codec, default_codec

# Variable names and many values (plans, first names, cities) repeat on every row:
# their encodings are memoised, up to a bound so memory stays flat.
_MEMO: dict[str, bytes] = {}
_MEMO_MAX = 100_000


def _memo_string(s: str) -> bytes:
    b = _MEMO.get(s)
    if b is None:
        b = string_bytes(s)
        if len(_MEMO) < _MEMO_MAX:
            _MEMO[s] = b
    return b


def _map_bytes(m: dict[str, str]) -> bytes:
    if not m:
        return b"\x00"
    memo = _MEMO
    parts = [long_bytes(len(m))]
    for k, v in m.items():
        parts.append(memo.get(k) or _memo_string(k))
        parts.append(memo.get(v) or _memo_string(v))
    parts.append(b"\x00")
    return b"".join(parts)


def encode_contact(c: Contact) -> bytes:
    """The ContactRow record of a contact (same fields as topics.translate.contact_to_record)."""
    parts = [string_bytes(c.contact_id), long_bytes(c.row), string_bytes(c.phone_number)]
    if c.alternates:
        parts.append(long_bytes(len(c.alternates)))
        for a in c.alternates:
            parts.append(long_bytes(a.position))
            parts.append(string_bytes(a.phone_number))
            parts.append(_map_bytes(a.variables))
        parts.append(b"\x00")
    else:
        parts.append(b"\x00")
    parts.append(_map_bytes(c.variables))
    if c.timezone is None:
        parts.append(b"\x00")
    else:
        parts.append(b"\x02")
        parts.append(string_bytes(c.timezone))
    return b"".join(parts)


class RowEncoder:
    """`encode_contact(build_contact(...))` in one step for the rows the engine accepts.

    Why: the ingest workers do this for every row, and going through the Contact and
    Alternate objects costs as much as the rest. A row that build_contact would reject
    goes to build_contact itself, so every rejection (and its reason) is the engine's.
    tests/property/test_ingest_split.py checks the bytes are encode_contact's.
    """

    def __init__(self, layout: ContactLayout, region: str, normalise: Normaliser) -> None:
        self.layout, self.region, self.normalise = layout, region, normalise
        self.width = len(layout.columns)
        self.alternates = tuple((n, idx, long_bytes(n)) for n, idx in layout.alternates)
        overrides: dict[int, list[tuple[bytes, int]]] = {}
        for base, n, idx in layout.overrides:
            overrides.setdefault(n, []).append((string_bytes(base), idx))
        self.overrides = overrides
        self.variables = tuple((string_bytes(c), i) for c, i in layout.variables)
        self.variable_count = long_bytes(len(layout.variables))
        # Whether rows may hold a NUL (build_contact rejects them); a caller that knows
        # its text has none (the ingest workers check each piece) turns the scan off.
        self.check_nul = True

    def encode(self, row: int, cells: list[str]) -> tuple[bytes, str, str, str | None] | Rejection:
        """(ContactRow bytes, contact id, primary number, time zone), or the row's rejection."""
        layout, region, normalise = self.layout, self.region, self.normalise
        given = cells
        if len(cells) != self.width:
            if len(cells) > self.width:
                return self._rejection(row, given)
            cells = cells + [""] * (self.width - len(cells))
        if sum(map(len, cells)) > MAX_ROW_CHARS:
            return self._rejection(row, given)
        if self.check_nul and any("\x00" in c for c in cells):
            return self._rejection(row, given)
        raw = cells[layout.primary].strip()
        primary = normalise(raw, region) if raw else None
        if primary is None:
            return self._rejection(row, given)
        alternates: list[tuple[int, bytes, str]] = []
        for n, idx, position in self.alternates:
            raw = cells[idx].strip()
            if not raw:
                continue
            number = normalise(raw, region)
            if number is None:
                return self._rejection(row, given)
            alternates.append((n, position, number))
        zone: str | None = None
        if layout.timezone is not None:
            zone = cells[layout.timezone].strip() or None
        contact_id = ""
        if layout.contact_id is not None:
            contact_id = cells[layout.contact_id].strip()
            if len(contact_id) > MAX_CONTACT_ID_CHARS:
                return self._rejection(row, given)
        contact_id = contact_id or f"row-{row}"
        memo = _MEMO
        out = [string_bytes(contact_id), long_bytes(row), string_bytes(primary)]
        if alternates:
            out.append(long_bytes(len(alternates)))
            for n, position, number in alternates:
                out.append(position)
                out.append(string_bytes(number))
                pairs = [(k, cells[i]) for k, i in self.overrides.get(n, ()) if cells[i] != ""]
                if pairs:
                    out.append(long_bytes(len(pairs)))
                    for k, v in pairs:
                        out.append(k)
                        out.append(memo.get(v) or _memo_string(v))
                out.append(b"\x00")
        out.append(b"\x00")
        if self.variables:
            out.append(self.variable_count)
            for k, i in self.variables:
                out.append(k)
                v = cells[i]
                out.append(memo.get(v) or _memo_string(v))
        out.append(b"\x00")
        if zone is None:
            out.append(b"\x00")
        else:
            out.append(b"\x02")
            out.append(string_bytes(zone))
        return b"".join(out), contact_id, primary, zone

    def _rejection(self, row: int, cells: list[str]) -> Rejection:
        item = build_contact(self.layout, row, cells, self.region, self.normalise)
        if isinstance(item, Contact):  # cannot happen: the checks above are build_contact's
            raise AssertionError(f"row {row}: RowEncoder rejected a row build_contact accepts")
        return item


def batch_value(
    campaign_id: str,
    batch_id: str,
    produced_at_ms: int,
    rows: list[bytes],
    codec: Codec | None = None,
    count: int | None = None,
    account_id: str | None = None,
) -> bytes:
    """A ContactBatch message value holding the pre-encoded rows, for `account_id`'s campaign.

    `count`: how many rows `rows` holds when its items are runs of several rows.
    """
    head = (codec or default_codec()).encode(
        "ContactBatch",
        {
            "batch_id": batch_id,
            "campaign_id": campaign_id,
            "account_id": account_id,
            "produced_at": produced_at_ms,
            "contacts": [],
        },
    )
    # the empty array is the record's last byte (0); replace it with count + rows + 0
    assert head[-1] == 0
    n = len(rows) if count is None else count
    if not n:
        return head
    return b"".join((head[:-1], long_bytes(n), *rows, b"\x00"))
