"""The launch preview (SPEC 7) of a list being uploaded, from the rows as the upload encodes them.

The upload keeps accepted rows as ContactRow bytes; this decodes each one back to a
contact and feeds `campaigns.compliance.Preview`, so `campaign create` shows what the
engine would decide at the campaign's start without holding the list in memory.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

from fastavro import parse_schema, schemaless_reader

from campaigns.compliance import Preview
from campaigns.models import CampaignDefinition
from campaigns.store import StaticDirectory
from topics import schemas
from topics.translate import contact_from_record


@lru_cache(maxsize=1)
def _row_schema() -> Any:
    batch = schemas.expanded("ContactBatch")
    contacts = next(f for f in batch["fields"] if f["name"] == "contacts")
    return parse_schema(contacts["type"]["items"])


class RowPreview:
    """Preview counts of ContactRow-encoded rows (no do-not-call list: it lives on the broker)."""

    def __init__(self, definition: CampaignDefinition, at_us: int) -> None:
        self.at_us = at_us
        self.counter = Preview(definition, at_us, StaticDirectory())

    def add_blob(self, blob: bytes, ends: Any) -> None:
        schema = _row_schema()
        start = 0
        for end in ends:
            record = schemaless_reader(io.BytesIO(blob[start:end]), schema, None)
            assert isinstance(record, dict)
            self.counter.add(contact_from_record(record))
            start = end

    @property
    def counts(self) -> dict[str, int]:
        return self.counter.counts
