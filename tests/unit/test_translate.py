"""Engine types survive the trip through their Avro records."""

from __future__ import annotations

from campaigns.events import CampaignStatus, Command, CommandKind
from campaigns.state import CampaignState
from tests.helpers import at, contact, definition
from topics import translate
from topics.codec import decode, encode


def test_commands_round_trip_through_avro() -> None:
    d = definition(
        max_retries=1,
        retry_delay_minutes=0.5,
        caller_ids={"numbers": ["+15550100001"], "strategy": "clamp"},
    )
    for cmd in [
        Command("k0", CommandKind.create, definition=d, expected_contacts=12),
        Command("k1", CommandKind.schedule, start_at=at(2026, 12, 1, 14, 0)),
        Command("k2", CommandKind.add_contacts, count=3),
        Command("k3", CommandKind.pause),
    ]:
        name, rec = decode(
            encode(
                "CampaignCommand", translate.command_to_record("c1", cmd, at(2026, 12, 1, 13, 0))
            )
        )
        assert name == "CampaignCommand"
        assert translate.command_from_record(rec) == cmd


def test_contacts_round_trip_through_avro() -> None:
    c = contact(7, alternates=["+12125559002"], name="Ann")
    c.alternates[0].variables["name"] = "Office"
    c.timezone = "America/Chicago"
    record = translate.batch_to_record("c1", "b1", [c], at(2026, 12, 1, 13, 0))
    _, rec = decode(encode("ContactBatch", record))
    assert [translate.contact_from_record(r) for r in rec["contacts"]] == [c]


def test_progress_event_from_the_campaign_record() -> None:
    camp = CampaignState(
        "c1", status=CampaignStatus.running, expected=10, arrived=8, final=3, in_flight=2, calls=6
    )
    camp.counts = {"reached": 2, "failed": 1}
    _, rec = decode(
        encode("CampaignEvent", translate.progress_to_record(camp, at(2026, 12, 1, 14, 0)))
    )
    name, body = rec["body"]
    assert name.endswith("Progress")
    assert (
        body["contacts_total"] == 10
        and body["contacts_final"] == 3
        and body["calls_in_flight"] == 2
    )
    assert body["counts"] == {"reached": 2, "failed": 1, "calls_created": 6}


def test_producers_hash_keys_like_the_worker() -> None:
    """The worker routes with murmur2 (streams.partitioner); producers must hash the same way."""
    from topics.clients import producer_config

    assert producer_config()["partitioner"] == "murmur2_random"
