"""The worker's state rows: every field of the engine's records survives a round trip."""

from __future__ import annotations

import dataclasses

from campaigns.contacts import Alternate, Contact
from campaigns.events import CampaignStatus, ContactStatus
from campaigns.state import CampaignState, ContactState
from streams import records


def test_campaign_round_trip_keeps_every_field() -> None:
    c = CampaignState("camp", CampaignStatus.running)
    for i, f in enumerate(dataclasses.fields(CampaignState)):
        if f.type in ("int", "int | None"):
            setattr(c, f.name, i + 1)
    c.counts = {"reached": 3}
    c.buckets = {"d": [1, 2]}
    c.recent_commands = ["a", "b"]
    assert records.load_campaign(records.dump_campaign(c)) == c


def test_contact_round_trip_keeps_every_field() -> None:
    contact = Contact(
        "c1", 4, "+12025550100", [Alternate(2, "+12025550101", {"n": "x"})], {"n": "y"}, "UTC"
    )
    s = ContactState(7, contact, "retry", ContactStatus.exhausted, 3, True, 12, 99)
    assert records.load_contact(records.dump_contact(s)) == s


def test_queue_entries_come_back_as_tuples() -> None:
    entries: list[tuple[int, ...]] = [(1, 2, 3, 4), (5, 6, 7, 8)]
    assert records.load_queue(records.dump_queue(entries)) == entries
