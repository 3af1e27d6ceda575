"""Engine types survive the trip through their Avro records."""

from __future__ import annotations

from campaignflow.config import settings
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
        Command("k1", CommandKind.schedule, start_at_us=at(2026, 12, 1, 14, 0)),
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

    assert producer_config(settings().kafka)["partitioner"] == "murmur2_random"


def test_section_7_definition_round_trips_through_avro_and_the_state_table() -> None:
    from streams import records

    d = definition(
        calling_days=None,
        calling_window=None,
        calling_hours={
            "mon": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "18:00"}]
        },
        blackout_dates=["2026-12-24"],
        holidays={"country": "US", "subdivision": "NY"},
        attempt_limits=[{"scope": "number", "max_calls": 3, "period_hours": 24}],
        compliance=["us_tcpa", "fr_2022_1313"],
        contact_local_time={"enabled": True, "window": [{"start": "08:00", "end": "12:00"}]},
    )
    cmd = Command("c-7", CommandKind.create, definition=d, expected_contacts=1)
    rec = translate.command_to_record("c1", cmd, at(2026, 12, 1, 14, 0))
    name, back = decode(encode("CampaignCommand", rec))
    assert name == "CampaignCommand"
    again = translate.command_from_record(back).definition
    assert again == d
    assert records.load_definition(records.dump_definition(d)) == d
    window_list = definition(calling_window=[{"start": "09:00", "end": "10:00"}])
    name, back = decode(encode("CampaignDefinition", translate.definition_to_record(window_list)))
    assert translate.definition_from_record(back) == window_list


def test_an_outcome_carries_skipped_and_callback_at_through_avro() -> None:
    """SPEC 9: `skipped` is a call status and `callback_at` an instant, both on CallOutcome;
    a record without callback_at (an older dialer) has none."""
    from topics import samples
    from topics.codec import Codec
    from topics.translate import outcome_from_record

    codec = Codec()
    record = {
        **samples.SAMPLES["CallOutcome"],
        "status": "skipped",
        "callback_at": 1_796_133_600_000,
    }
    decoded = codec.decode(codec.encode("CallOutcome", record), "t", 0, 0)[1]
    outcome = outcome_from_record(decoded)
    assert (outcome.status, outcome.callback_at_us) == ("skipped", 1_796_133_600_000_000)
    older = {k: v for k, v in samples.SAMPLES["CallOutcome"].items() if k != "callback_at"}
    assert (
        outcome_from_record(
            codec.decode(codec.encode("CallOutcome", older), "t", 0, 0)[1]
        ).callback_at_us
        is None
    )


def test_a_definition_keeps_its_spec_8_and_9_rules_through_avro() -> None:
    limit = {"scope": "number", "max_calls": 3, "period_hours": 24, "across": "account"}
    d = definition(
        priority=9, ends_at="2026-12-01T15:00:00+01:00", max_callbacks=3, attempt_limits=[limit]
    )
    cmd = Command("k0", CommandKind.create, definition=d, expected_contacts=1)
    _, rec = decode(
        encode("CampaignCommand", translate.command_to_record("c1", cmd, at(2026, 12, 1, 13, 0)))
    )
    back = translate.command_from_record(rec).definition
    assert back is not None
    r = back.rules
    assert (r.priority, r.ends_at_us, r.max_callbacks) == (9, at(2026, 12, 1, 14, 0), 3)
    assert r.attempt_limits[0].across == "account"
