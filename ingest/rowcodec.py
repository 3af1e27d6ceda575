"""Avro bytes of one ContactRow, and ContactBatch values assembled from them.

Why not fastavro per batch: rows are encoded in the worker processes, in parallel,
and the parent only drops the few rows its duplicate checks reject before joining
the rest. An Avro array is `count, items..., 0`, so a batch is the encoded batch
header (from `topics.codec`, whatever the wire framing) plus the joined rows. The
unit tests check every byte decodes with `topics.codec`.
"""

from __future__ import annotations

from campaigns.contacts import Contact
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


def batch_value(
    campaign_id: str,
    batch_id: str,
    produced_at_ms: int,
    rows: list[bytes],
    codec: Codec | None = None,
) -> bytes:
    """A ContactBatch message value holding the pre-encoded rows."""
    head = (codec or default_codec()).encode(
        "ContactBatch",
        {
            "batch_id": batch_id,
            "campaign_id": campaign_id,
            "produced_at": produced_at_ms,
            "contacts": [],
        },
    )
    # the empty array is the record's last byte (0); replace it with count + rows + 0
    assert head[-1] == 0
    if not rows:
        return head
    return b"".join((head[:-1], long_bytes(len(rows)), *rows, b"\x00"))
