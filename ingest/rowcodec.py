"""Contacts as ContactRow bytes, and ContactBatch values of them, both by `topics.codec`.

Why rows are encoded apart from their batch: the ingest workers encode rows in
parallel (`Codec.encode_items`), the parent drops the few its duplicate checks
reject, and `Codec.encode_with_items` frames the rest as one ContactBatch. The codec
is the one place that knows the Avro framing; the records are `topics.translate`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from campaigns.contacts import Contact
from topics.codec import Codec, default_codec
from topics.translate import contact_to_record

BATCH_EVENT = "ContactBatch"
ROWS_FIELD = "contacts"


def encode_contacts(
    contacts: Sequence[Contact], codec: Codec | None = None
) -> tuple[bytes, list[int]]:
    """The ContactRow bytes of `contacts`, one after the other, and the end of each."""
    records = [contact_to_record(c) for c in contacts]
    return (codec or default_codec()).encode_items(BATCH_EVENT, ROWS_FIELD, records)


def encode_contact(c: Contact, codec: Codec | None = None) -> bytes:
    """The ContactRow bytes of one contact."""
    return encode_contacts([c], codec)[0]


def batch_value(
    campaign_id: str,
    batch_id: str,
    produced_at_ms: int,
    rows: Sequence[bytes],
    codec: Codec | None = None,
    count: int | None = None,
    account_id: str | None = None,
) -> bytes:
    """A ContactBatch message value holding encoded rows, for `account_id`'s campaign.

    `count`: how many rows `rows` holds when its items are runs of several rows.
    """
    record = {
        "batch_id": batch_id,
        "campaign_id": campaign_id,
        "account_id": account_id,
        "produced_at": produced_at_ms,
    }
    n = len(rows) if count is None else count
    return (codec or default_codec()).encode_with_items(BATCH_EVENT, record, ROWS_FIELD, rows, n)
