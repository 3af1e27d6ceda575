"""The worker's state rows: every field of the engine's records survives a round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from campaigns.contacts import Alternate, Contact
from campaigns.events import CampaignStatus, ContactStatus
from campaigns.state import CampaignState, ContactState, FifoCursor
from streams import records


def test_campaign_round_trip_keeps_every_field() -> None:
    c = CampaignState("camp", CampaignStatus.running)
    for i, f in enumerate(dataclasses.fields(CampaignState)):
        if f.type in ("int", "int | None"):
            setattr(c, f.name, i + 1)
    c.counts = {"reached": 3}
    c.buckets = {"d": [1, 2]}
    c.recent_commands = ["a", "b"]
    c.fifos = {"d": FifoCursor(1, 4, 1_000_000, 7, 2)}
    assert records.load_campaign(records.dump_campaign(c)) == c


def test_fifo_cursors_keep_their_stored_shape_and_old_rows_load() -> None:
    """A FifoQueue's cursor is stored as the list every version wrote; the first versions
    kept only [head, tail] (no last entry, nothing used from the head group)."""
    c = CampaignState("camp", CampaignStatus.running)
    c.fifos = {"d": FifoCursor(2, 5, 9, 3, 1)}
    assert json.loads(records.dump_campaign(c))[1]["fifos"] == {"d": [2, 5, 9, 3, 1]}
    old = json.dumps([1, {"campaign_id": "camp", "fifos": {"d": [2, 5], "r": [0, 1, 8, 4, 0]}}])
    loaded = records.load_campaign(old.encode())
    assert loaded.fifos == {"d": FifoCursor(2, 5, -1, -1, 0), "r": FifoCursor(0, 1, 8, 4, 0)}


def test_contact_round_trip_keeps_every_field() -> None:
    contact = Contact(
        "c1", 4, "+12025550100", [Alternate(2, "+12025550101", {"n": "x"})], {"n": "y"}, "UTC"
    )
    s = ContactState(7, contact, "retry", ContactStatus.exhausted, 3, True, 12, 99)
    assert records.load_contact(records.dump_contact(s)) == s


def test_queue_entries_come_back_as_tuples() -> None:
    entries: list[tuple[int, ...]] = [(1, 2, 3, 4), (5, 6, 7, 8)]
    assert records.load_queue(records.dump_queue(entries)) == entries


def test_fields_are_stored_under_their_own_names() -> None:
    """No aliases: a row holds today's field names, and a row naming an unknown field fails."""
    c = CampaignState("camp", CampaignStatus.scheduled, start_at_us=5, next_wake_us=6)
    c.finished_at_us = 7
    stored = json.loads(records.dump_campaign(c))[1]
    assert (stored["start_at_us"], stored["next_wake_us"], stored["finished_at_us"]) == (5, 6, 7)
    assert records.load_campaign(records.dump_campaign(c)) == c
    contact = Contact("c1", 4, "+12025550100", [], {}, None)
    s = ContactState(7, contact, "retry", retry_due_us=42)
    assert json.loads(records.dump_contact(s))[1]["retry_due_us"] == 42
    assert records.load_contact(records.dump_contact(s)).retry_due_us == 42
    old = json.dumps([1, {"campaign_id": "camp", "status": "scheduled", "start_at": 5}])
    with pytest.raises(TypeError):
        records.load_campaign(old.encode())
