"""Row mapping of the sink: decoded records (as the codec returns them) -> table rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sinks.batch import Batch
from sinks.rows import COLUMNS, RowError, ms, to_row
from topics.codec import decode, encode
from topics.samples import SAMPLES
from topics.schemas import full_name


def _roundtrip(event: str) -> dict:
    name, record = decode(encode(event, SAMPLES[event]))
    assert name == event
    return record


@pytest.mark.parametrize(
    ("event", "table"),
    [
        ("CallCreate", "call_attempts"),
        ("CallOutcome", "call_outcomes"),
        ("CampaignEvent", "campaign_events"),
        ("CampaignCommand", "campaigns"),
    ],
)
def test_every_stored_event_maps_to_a_full_row(event: str, table: str) -> None:
    mapped = to_row(event, _roundtrip(event), 123)
    assert mapped is not None
    got_table, row = mapped
    assert got_table == table
    assert len(row) == len(COLUMNS[table])


def test_call_create_row_renames_to_and_from() -> None:
    rec = _roundtrip("CallCreate")
    _, row = to_row("CallCreate", rec, 5)  # type: ignore[misc]
    values = dict(zip(COLUMNS["call_attempts"], row, strict=True))
    assert values["to_number"] == rec["to"]
    assert values["caller_id"] == rec["from"]
    assert values["created_at"] == rec["created_at"]
    assert values["published_at"] == 5


def test_outcome_optional_fields_default() -> None:
    rec = {
        "call_id": "c/x/1",
        "campaign_id": "c",
        "account_id": "acme",
        "contact_id": "x",
        "attempt": 1,
        "status": "no_answer",
        "created_at": None,
        "started_at": None,
        "answered_at": None,
        "ended_at": 1000,
        "duration_seconds": None,
        "hangup_cause": None,
        "dialer_id": None,
    }
    _, row = to_row("CallOutcome", rec, 0)  # type: ignore[misc]
    values = dict(zip(COLUMNS["call_outcomes"], row, strict=True))
    assert values["created_at"] is None and values["duration_seconds"] is None
    assert values["hangup_cause"] == "" and values["dialer_id"] == ""
    assert values["ended_at"] == 1000


def _event(body_name: str, body: dict) -> dict:
    return {
        "event_id": "e1",
        "campaign_id": "c",
        "account_id": "acme",
        "at": 7,
        "body": (full_name(body_name), body),
    }


def test_a_record_without_an_account_is_refused() -> None:
    """Call and campaign ids are per account: a row without its account cannot be told apart."""
    rec = _event("StatusChanged", {"status": "running"})
    del rec["account_id"]
    with pytest.raises(RowError, match="account_id"):
        to_row("CampaignEvent", rec, 0)


def test_event_bodies_map_to_kinds() -> None:
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "StatusChanged": ({"status": "running"}, "status_changed"),
        "ContactFinal": ({"contact_id": "x", "status": "reached", "attempts": 2}, "contact_final"),
        "CommandRejected": (
            {"command_id": "k", "command": "pause", "reason": "r"},
            "command_rejected",
        ),
        "ContactRejected": (
            {
                "row": 3,
                "column": "phone_number",
                "reason": "bad",
                "contact_id": None,
                "values": {"a": "b"},
            },
            "contact_rejected",
        ),
        "Progress": (
            {
                "contacts_total": 4,
                "contacts_final": 1,
                "calls_in_flight": 2,
                "counts": {"reached": 1},
            },
            "progress",
        ),
    }
    for name, (body, kind) in cases.items():
        _, row = to_row("CampaignEvent", _event(name, body), 0)  # type: ignore[misc]
        values = dict(zip(COLUMNS["campaign_events"], row, strict=True))
        assert values["kind"] == kind
    _, row = to_row("CampaignEvent", _event("ContactFinal", cases["ContactFinal"][0]), 0)  # type: ignore[misc]
    values = dict(zip(COLUMNS["campaign_events"], row, strict=True))
    assert (values["contact_id"], values["status"], values["attempts"]) == ("x", "reached", 2)


def test_commands_other_than_create_are_skipped() -> None:
    rec = {
        "command_id": "k",
        "campaign_id": "c",
        "issued_at": 1,
        "command": (full_name("StartCampaign"), {}),
    }
    assert to_row("CampaignCommand", rec, 0) is None


def test_create_command_carries_the_timezone() -> None:
    _, row = to_row("CampaignCommand", _roundtrip("CampaignCommand"), 0)  # type: ignore[misc]
    values = dict(zip(COLUMNS["campaigns"], row, strict=True))
    assert values["timezone"] == "America/New_York"
    assert values["expected_contacts"] == 3


def test_bad_records_raise_row_error() -> None:
    with pytest.raises(RowError):
        to_row("CallCreate", {"call_id": "x"}, 0)
    with pytest.raises(RowError):
        to_row("DeadLetter", {}, 0)
    with pytest.raises(RowError):
        to_row("CampaignEvent", {"event_id": "e", "campaign_id": "c", "at": 1, "body": {}}, 0)


def test_ms_accepts_aware_datetimes_only() -> None:
    assert ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000
    assert ms(42) == 42
    with pytest.raises(RowError):
        ms(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_batch_token_depends_on_offsets_only() -> None:
    a, b = Batch(0.0), Batch(99.0)
    for batch in (a, b):
        batch.add("t", 0, 5, "call_attempts", ("r",))
        batch.add("t", 0, 6, None, None)
        batch.add("u", 1, 9, "call_outcomes", ("s",))
    assert a.token("call_attempts") == b.token("call_attempts")
    assert a.token("call_attempts") != a.token("call_outcomes")
    assert a.commit_positions() == [("t", 0, 7), ("u", 1, 10)]
    b.add("t", 0, 7, None, None)
    assert a.token("call_attempts") != b.token("call_attempts")


@pytest.mark.parametrize(
    ("event", "change", "column"),
    [
        ("CallCreate", {"alternate_position": 70000}, "alternate_position"),
        ("CallCreate", {"alternate_position": 2**31 + 5}, "alternate_position"),
        ("CallCreate", {"alternate_position": -1}, "alternate_position"),
        ("CallCreate", {"attempt": 65536}, "attempt"),
        ("CallCreate", {"created_at": 2**62}, "created_at"),
        ("CallCreate", {"deadline": -(2**62)}, "deadline"),
        ("CallOutcome", {"attempt": 70000}, "attempt"),
        ("CallOutcome", {"answered_at": 10**16}, "answered_at"),
    ],
)
def test_a_number_out_of_its_columns_range_is_a_row_error(
    event: str, change: dict[str, Any], column: str
) -> None:
    record = {**_roundtrip(event), **change}
    with pytest.raises(RowError, match=rf"\.{column} = .* does not fit"):
        to_row(event, record, 123)


def test_published_time_and_event_counts_are_checked_too() -> None:
    with pytest.raises(RowError, match="published_at"):
        to_row("CallOutcome", _roundtrip("CallOutcome"), 2**62)
    rec = _roundtrip("CampaignEvent")
    name, body = rec["body"]
    progress = {"contacts_total": -1, "contacts_final": 0, "calls_in_flight": 0, "counts": {}}
    with pytest.raises(RowError, match="contacts_total = -1"):
        to_row("CampaignEvent", {**rec, "body": (full_name("Progress"), progress)}, 5)
    counts = {**progress, "contacts_total": 1, "counts": {"busy": 2**63}}
    with pytest.raises(RowError, match="counts"):
        to_row("CampaignEvent", {**rec, "body": (full_name("Progress"), counts)}, 5)


def test_column_types_are_the_migrations(tmp_path: Any) -> None:
    """COLUMN_TYPES names every number and time column with the type ClickHouse has."""
    from sinks.dsn import open_client
    from sinks.migrations import migrate
    from sinks.rows import COLUMN_TYPES

    client = open_client(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(client)
        found = client.query(
            "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
        ).result_rows
    finally:
        client.close()
    numbers = {
        (t, n): ty
        for t, n, ty in found
        if t in COLUMNS and n in COLUMNS[t] and ("Int" in ty or "DateTime" in ty)
    }
    declared = {(t, c): ty for t, cols in COLUMN_TYPES.items() for c, ty in cols.items()}
    assert declared == numbers
