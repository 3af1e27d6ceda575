"""The Avro codecs: every event round-trips; bad bytes fail with a clear, located error."""

from __future__ import annotations

import copy
import struct
from datetime import UTC, datetime

import pytest

from topics import samples, schemas
from topics.codec import SINGLE_OBJECT_MAGIC, Codec, DecodeError, EncodeError, union

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


@pytest.mark.parametrize("event", schemas.EVENTS)
def test_every_event_round_trips(codec: Codec, event: str) -> None:
    record = samples.SAMPLES[event]
    data = codec.encode(event, record)
    assert data[:2] == SINGLE_OBJECT_MAGIC
    assert data[2:10] == schemas.fingerprint(schemas.expanded(event))
    assert codec.decode(data) == (event, record)


@pytest.mark.parametrize("command", samples.COMMANDS, ids=lambda c: c[0].rsplit(".", 1)[-1])
def test_every_command_variant_round_trips(codec: Codec, command: tuple) -> None:
    record = {**samples.SAMPLES["CampaignCommand"], "command": command}
    assert codec.decode(codec.encode("CampaignCommand", record)) == ("CampaignCommand", record)


@pytest.mark.parametrize("body", samples.EVENT_BODIES, ids=lambda b: b[0].rsplit(".", 1)[-1])
def test_every_campaign_event_body_round_trips(codec: Codec, body: tuple) -> None:
    record = {**samples.SAMPLES["CampaignEvent"], "body": body}
    assert codec.decode(codec.encode("CampaignEvent", record)) == ("CampaignEvent", record)


def test_union_helper_gives_full_names(codec: Codec) -> None:
    record = {**samples.SAMPLES["CampaignCommand"], "command": union("StartCampaign", {})}
    _, decoded = codec.decode(codec.encode("CampaignCommand", record))
    assert decoded["command"] == ("io.campaignflow.v1.StartCampaign", {})


def test_optional_fields_and_defaults(codec: Codec) -> None:
    outcome = {
        k: v
        for k, v in samples.SAMPLES["CallOutcome"].items()
        if k not in {"created_at", "started_at", "answered_at", "hangup_cause", "dialer_id"}
    }
    outcome["duration_seconds"] = None
    _, decoded = codec.decode(codec.encode("CallOutcome", outcome))
    assert decoded["created_at"] is None and decoded["dialer_id"] is None


def test_aware_datetimes_encode_and_decode_as_epoch_millis(codec: Codec) -> None:
    at = datetime(2026, 12, 1, 14, 0, 0, 250_000, tzinfo=UTC)
    _, decoded = codec.decode(codec.encode("Tick", {"partition": 0, "at": at}))
    assert decoded == {"partition": 0, "at": 1_796_133_600_250}


def test_encode_many_matches_encode(codec: Codec) -> None:
    records = [{"partition": p, "at": samples.T0 + p} for p in range(5)]
    assert codec.encode_many("Tick", records) == [codec.encode("Tick", r) for r in records]
    assert [codec.decode(d)[1] for d in codec.encode_many("Tick", records)] == records


def test_encode_rejects_bad_records(codec: Codec) -> None:
    with pytest.raises(EncodeError, match="unknown event 'Nope'"):
        codec.encode("Nope", {})
    bad = copy.deepcopy(samples.SAMPLES["CallCreate"])
    del bad["to"]
    with pytest.raises(EncodeError, match="CallCreate record does not fit"):
        codec.encode("CallCreate", bad)


def _where(exc: pytest.ExceptionInfo[DecodeError]) -> tuple:
    return exc.value.topic, exc.value.partition, exc.value.offset


def test_unknown_fingerprint_is_a_clear_error(codec: Codec) -> None:
    data = SINGLE_OBJECT_MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + b"\x02\x00"
    with pytest.raises(DecodeError) as exc:
        codec.decode(data, topic="campaign.ticks", partition=3, offset=41)
    assert _where(exc) == ("campaign.ticks", 3, 41)
    text = str(exc.value)
    assert "topic=campaign.ticks partition=3 offset=41" in text
    assert "unknown schema fingerprint 0102030405060708" in text


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[:-3], "corrupt CallCreate body"),  # truncated
        (lambda d: d + b"\x00\x01", "trailing bytes"),
        (lambda d: d[:10] + b"\xff" * 12, "corrupt CallCreate body"),
        (lambda d: b"\x7fgarbage", "unknown wire format"),
        (lambda d: d[:5], "truncated or malformed single-object header"),
        (lambda d: b"", "empty payload"),
    ],
)
def test_corrupt_payloads_are_clear_errors(codec: Codec, mangle, reason: str) -> None:
    data = mangle(codec.encode("CallCreate", samples.SAMPLES["CallCreate"]))
    with pytest.raises(DecodeError, match=reason) as exc:
        codec.decode(data, topic="call.create", partition=1, offset=7)
    assert _where(exc) == ("call.create", 1, 7)


def test_confluent_framing_with_a_mock_registry() -> None:
    codec = Codec(registry_url="mock://codec-test")
    for event in schemas.EVENTS:
        data = codec.encode(event, samples.SAMPLES[event])
        assert data[0] == 0
        (schema_id,) = struct.unpack(">I", data[1:5])
        assert schema_id > 0
        assert codec.decode(data) == (event, samples.SAMPLES[event])
    # The same codec still reads single-object data (the first byte tells them apart).
    plain = Codec().encode("Tick", samples.SAMPLES["Tick"])
    assert codec.decode(plain) == ("Tick", samples.SAMPLES["Tick"])


def test_confluent_unknown_schema_id_is_a_clear_error() -> None:
    codec = Codec(registry_url="mock://codec-test-unknown")
    data = b"\x00" + struct.pack(">I", 987_654) + b"\x02\x00"
    with pytest.raises(DecodeError, match="unknown schema id 987654") as exc:
        codec.decode(data, topic="call.outcomes", partition=0, offset=5)
    assert _where(exc) == ("call.outcomes", 0, 5)


def test_confluent_data_without_a_registry_is_a_clear_error(codec: Codec) -> None:
    data = Codec(registry_url="mock://codec-test-2").encode("Tick", samples.SAMPLES["Tick"])
    with pytest.raises(DecodeError, match="no schema registry is configured"):
        codec.decode(data, topic="campaign.ticks", partition=0, offset=0)


def test_confluent_reads_an_older_registered_version() -> None:
    """A writer that registered an older version (by id) is resolved to the current schema."""
    import json

    from confluent_kafka.schema_registry import Schema
    from fastavro import parse_schema, schemaless_writer

    codec = Codec(registry_url="mock://codec-test-old")
    old = schemas.expanded("AccountStatus")
    old["fields"] = [f for f in old["fields"] if f["name"] != "plan"]
    schema_id = codec._registry.register_schema(
        "io.campaignflow.v1.AccountStatus-old", Schema(json.dumps(old), "AVRO")
    )
    import io

    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", schema_id))
    schemaless_writer(
        buf, parse_schema(old), {"account_id": "acme", "active": False, "updated_at": 5}
    )
    assert codec.decode(buf.getvalue()) == (
        "AccountStatus",
        {
            "account_id": "acme",
            "active": False,
            "plan": None,
            "updated_at": 5,
            "lines": None,
            "inbound_max_minutes": 240.0,
        },
    )


@pytest.mark.parametrize("event", schemas.EVENTS)
def test_a_schema_read_without_record_names_reads_what_it_would_with_them(
    codec: Codec, event: str
) -> None:
    """The codec drops fastavro's record-name options (a third of a decode) for schemas with
    no union of named types; random records of each such schema read the same either way."""
    from io import BytesIO

    from fastavro import schemaless_reader
    from fastavro.utils import generate_many

    found, start = codec._locate(codec.encode(event, samples.SAMPLES[event]))
    if event in ("CampaignCommand", "CampaignEvent"):
        assert found.names  # their `command` / `body` unions are read as (name, record)
    if found.names:
        return
    for record in generate_many(found.writer, 40):
        data = codec.encode(event, record)[start:]
        with_names = schemaless_reader(
            BytesIO(data),
            found.writer,
            None,
            return_record_name=True,
            return_record_name_override=True,
        )
        assert schemaless_reader(BytesIO(data), found.writer, None) == with_names


def test_items_appended_by_the_compiled_writer_are_schemaless_writers_bytes(codec: Codec) -> None:
    """`encode_items` appends rows with fastavro's compiled writer: the same bytes and ends as
    one public `schemaless_writer` call a row, and a bad row still fails clearly."""
    rows = [
        {
            "contact_id": f"c{i}",
            "row": i,
            "phone_number": f"+1212555{i:04d}",
            "alternates": [
                {"position": 2, "phone_number": "+14155550102", "variables": {"name": "Bo"}}
            ][: i % 2],
            "variables": {"name": "Ann", "plan": "gold"} if i % 3 else {},
            "timezone": "America/Chicago" if i % 4 == 0 else None,
            "agent_id": "bot-2" if i % 5 == 0 else None,
        }
        for i in range(1, 40)
    ]
    schema = codec._items_of("ContactBatch", "contacts")
    fast = codec.encode_items("ContactBatch", "contacts", rows)
    from io import BytesIO

    from fastavro import schemaless_writer

    buf, ends = BytesIO(), []
    for row in rows:
        schemaless_writer(buf, schema, row)
        ends.append(buf.tell())
    assert fast == (buf.getvalue(), ends)
    assert len(fast[1]) == len(rows) and fast[1][-1] == len(fast[0])
    bad = [*rows[:3], {**rows[3], "row": "four"}]
    with pytest.raises(EncodeError, match=r"ContactBatch\.contacts item does not fit"):
        codec.encode_items("ContactBatch", "contacts", bad)
