"""The analyst views on a small campaign whose numbers are computed by hand.

Campaign "hc" (America/New_York, UTC-5 in December), 4 contacts, max_retries 2:
  c1/1 14:00Z from A alt0 answered 60s               -> c1 reached after 1 attempt
  c2/1 14:00Z from A alt0 no_answer
  c2/2 15:00Z from B alt2 answered 120s              -> c2 reached after 2 attempts
  c3/1 14:00Z from A alt0 busy
  c3/2 15:00Z from B alt2 no_answer (published twice)
  c3/3 16:00Z from A alt2 no_answer 16:01, late answered 16:05 (ignored) -> c3 exhausted
  c4/1 16:00Z from A alt0, still in flight
Campaign "eu" (Europe/Paris, UTC+1): one answered call at 14:00Z (15h local).
Campaign "orphan" has no create command: counted in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sinks.dsn import open_client
from sinks.migrations import migrate
from sinks.rows import COLUMNS, TZ_COLUMNS, to_row
from sinks.tz import transitions
from topics.schemas import full_name

A, B = "+15550100001", "+15550100002"


def t(hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(2026, 12, 1, hh, mm, ss, tzinfo=UTC).timestamp() * 1000)


def create(
    campaign: str,
    contact: str,
    attempt: int,
    at: int,
    caller: str,
    alt: int,
    account: str = "acme",
) -> dict[str, Any]:
    return {
        "call_id": f"{campaign}/{contact}/{attempt}",
        "campaign_id": campaign,
        "account_id": account,
        "contact_id": contact,
        "attempt": attempt,
        "to": "+15550109999",
        "from": caller,
        "alternate_position": alt,
        "agent_id": "bot",
        "agent_prompt": "Hi",
        "variables": {},
        "created_at": at,
        "deadline": at + 3_600_000,
    }


def outcome(
    campaign: str,
    contact: str,
    attempt: int,
    status: str,
    ended: int,
    dur: float | None = None,
    account: str = "acme",
) -> dict[str, Any]:
    return {
        "call_id": f"{campaign}/{contact}/{attempt}",
        "campaign_id": campaign,
        "account_id": account,
        "contact_id": contact,
        "attempt": attempt,
        "status": status,
        "created_at": None,
        "started_at": None,
        "answered_at": None,
        "ended_at": ended,
        "duration_seconds": dur,
        "hangup_cause": None,
        "dialer_id": "d1",
    }


def event(
    campaign: str,
    event_id: str,
    at: int,
    name: str,
    body: dict[str, Any],
    account: str = "acme",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "campaign_id": campaign,
        "account_id": account,
        "at": at,
        "body": (full_name(name), body),
    }


def create_command(campaign: str, tz: str, expected: int, account: str = "acme") -> dict[str, Any]:
    definition = {
        "campaign_id": campaign,
        "account_id": account,
        "name": f"Campaign {campaign}",
        "rules": {"timezone": tz, "max_retries": 2, "concurrent_calls": 2},
    }
    body = {"definition": definition, "expected_contacts": expected}
    return {
        "command_id": f"{campaign}-create",
        "campaign_id": campaign,
        "account_id": account,
        "issued_at": t(13),
        "command": (full_name("CreateCampaign"), body),
    }


def records() -> list[tuple[str, dict[str, Any]]]:
    hc = "hc"
    out: list[tuple[str, dict[str, Any]]] = [
        ("CampaignCommand", create_command(hc, "America/New_York", 4)),
        ("CampaignCommand", create_command("eu", "Europe/Paris", 1)),
        ("CallCreate", create(hc, "c1", 1, t(14), A, 0)),
        ("CallCreate", create(hc, "c2", 1, t(14), A, 0)),
        ("CallCreate", create(hc, "c3", 1, t(14), A, 0)),
        ("CallCreate", create(hc, "c2", 2, t(15), B, 2)),
        ("CallCreate", create(hc, "c3", 2, t(15), B, 2)),
        ("CallCreate", create(hc, "c3", 3, t(16), A, 2)),
        ("CallCreate", create(hc, "c4", 1, t(16), A, 0)),
        ("CallOutcome", outcome(hc, "c1", 1, "answered", t(14, 2), 60.0)),
        ("CallOutcome", outcome(hc, "c2", 1, "no_answer", t(14, 1))),
        ("CallOutcome", outcome(hc, "c3", 1, "busy", t(14, 0, 30))),
        ("CallOutcome", outcome(hc, "c2", 2, "answered", t(15, 3), 120.0)),
        ("CallOutcome", outcome(hc, "c3", 2, "no_answer", t(15, 1))),
        ("CallOutcome", outcome(hc, "c3", 3, "no_answer", t(16, 1))),
        ("CallOutcome", outcome(hc, "c3", 3, "answered", t(16, 5), 30.0)),  # late: ignored
        ("CampaignEvent", event(hc, "hc-s1", t(14), "StatusChanged", {"status": "running"})),
        (
            "CampaignEvent",
            event(
                hc,
                "hc-f1",
                t(14, 2),
                "ContactFinal",
                {"contact_id": "c1", "status": "reached", "attempts": 1},
            ),
        ),
        (
            "CampaignEvent",
            event(
                hc,
                "hc-f2",
                t(15, 3),
                "ContactFinal",
                {"contact_id": "c2", "status": "reached", "attempts": 2},
            ),
        ),
        (
            "CampaignEvent",
            event(
                hc,
                "hc-f3",
                t(16, 1),
                "ContactFinal",
                {"contact_id": "c3", "status": "exhausted", "attempts": 3},
            ),
        ),
        ("CallCreate", create("eu", "e1", 1, t(14), A, 0)),
        ("CallOutcome", outcome("eu", "e1", 1, "answered", t(14, 1), 10.0)),
        ("CallCreate", create("orphan", "o1", 1, t(14), A, 0)),
        ("CallOutcome", outcome("orphan", "o1", 1, "busy", t(14, 1))),
    ]
    return out


def insert(client: Any, recs: list[tuple[str, dict[str, Any]]]) -> None:
    by_table: dict[str, list[Any]] = {}
    for name, rec in recs:
        mapped = to_row(name, rec, 0)
        assert mapped is not None
        by_table.setdefault(mapped[0], []).append(mapped[1])
    for table, rows in by_table.items():
        client.insert(table, rows, column_names=list(COLUMNS[table]))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("views") / "ch"
    c = open_client(f"chdb://{path}")
    migrate(c)
    for tz in ("America/New_York", "Europe/Paris"):
        c.insert("tz_offsets", transitions(tz), column_names=list(TZ_COLUMNS))
    recs = records()
    insert(c, recs)
    # Replays: the c3/2 outcome and the c1 final event arrive a second time, in separate inserts.
    insert(c, [recs[13], recs[17]])
    insert(c, [recs[2]])
    try:
        yield c
    finally:
        c.close()


def q(client: Any, sql: str) -> list[dict[str, Any]]:
    result = client.query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def test_replays_do_not_double_count(client: Any) -> None:
    assert q(client, "SELECT count() n FROM v_attempts WHERE campaign_id = 'hc'") == [{"n": 7}]
    assert q(client, "SELECT count() n FROM v_outcomes WHERE campaign_id = 'hc'") == [{"n": 6}]
    assert q(client, "SELECT status FROM v_outcomes WHERE call_id = 'hc/c3/3'") == [
        {"status": "no_answer"}
    ]


def test_campaign_progress(client: Any) -> None:
    [p] = q(client, "SELECT * FROM v_campaign_progress WHERE campaign_id = 'hc'")
    assert p["status"] == "running"
    assert p["timezone"] == "America/New_York"
    assert (p["contacts_total"], p["contacts_final"], p["contacts_remaining"]) == (4, 3, 1)
    assert p["pct_complete"] == 75.0
    assert (p["reached"], p["exhausted"], p["failed"], p["cancelled"], p["suppressed"]) == (
        2,
        1,
        0,
        0,
        0,
    )
    assert (p["attempts"], p["outcomes"], p["calls_in_flight"], p["answered_calls"]) == (7, 6, 1, 2)
    assert p["last_activity_at"] == datetime(2026, 12, 1, 16, 1, tzinfo=UTC)
    # finals after 15:01 -> c2 (15:03) and c3 (16:01): 2 per hour; 1 left -> half an hour.
    assert p["contacts_final_per_hour"] == 2
    assert p["completion_estimate"] == datetime(2026, 12, 1, 16, 31, tzinfo=UTC)


def test_finished_campaign_estimate_is_its_last_final(client: Any) -> None:
    [p] = q(
        client,
        "SELECT status, contacts_total, completion_estimate FROM v_campaign_progress WHERE campaign_id = 'eu'",
    )
    assert p["contacts_total"] == 1 and p["status"] == "draft"
    assert p["completion_estimate"] is None  # no contact final event for eu


def test_outcomes_by_hour_in_campaign_timezone(client: Any) -> None:
    rows = q(
        client,
        "SELECT local_hour, calls, answered_calls, no_answer, busy, answer_rate FROM v_outcomes_by_hour WHERE campaign_id = 'hc' ORDER BY local_hour",
    )
    assert rows == [
        {
            "local_hour": 9,
            "calls": 3,
            "answered_calls": 1,
            "no_answer": 1,
            "busy": 1,
            "answer_rate": 0.3333,
        },
        {
            "local_hour": 10,
            "calls": 2,
            "answered_calls": 1,
            "no_answer": 1,
            "busy": 0,
            "answer_rate": 0.5,
        },
        {
            "local_hour": 11,
            "calls": 1,
            "answered_calls": 0,
            "no_answer": 1,
            "busy": 0,
            "answer_rate": 0.0,
        },
    ]
    assert q(
        client, "SELECT local_hour, timezone FROM v_outcomes_by_hour WHERE campaign_id = 'eu'"
    ) == [{"local_hour": 15, "timezone": "Europe/Paris"}]
    assert q(
        client, "SELECT local_hour, timezone FROM v_outcomes_by_hour WHERE campaign_id = 'orphan'"
    ) == [{"local_hour": 14, "timezone": "UTC"}]


def test_answer_rate_by_caller_id_and_attempt(client: Any) -> None:
    rows = q(
        client,
        "SELECT caller_id, attempt, calls, answered_calls, answer_rate FROM v_answer_rate_by_caller_id WHERE campaign_id = 'hc' ORDER BY caller_id, attempt",
    )
    assert rows == [
        {"caller_id": A, "attempt": 1, "calls": 3, "answered_calls": 1, "answer_rate": 0.3333},
        {"caller_id": A, "attempt": 3, "calls": 1, "answered_calls": 0, "answer_rate": 0.0},
        {"caller_id": B, "attempt": 2, "calls": 2, "answered_calls": 1, "answer_rate": 0.5},
    ]


def test_answer_rate_by_alternate_position(client: Any) -> None:
    rows = q(
        client,
        "SELECT alternate_position, calls, answered_calls, answer_rate FROM v_answer_rate_by_alternate WHERE campaign_id = 'hc' ORDER BY alternate_position",
    )
    assert rows == [
        {"alternate_position": 0, "calls": 3, "answered_calls": 1, "answer_rate": 0.3333},
        {"alternate_position": 2, "calls": 3, "answered_calls": 1, "answer_rate": 0.3333},
    ]


def test_attempts_per_reached_contact(client: Any) -> None:
    [row] = q(client, "SELECT * FROM v_attempts_per_reached_contact WHERE campaign_id = 'hc'")
    assert (
        row["reached_contacts"],
        row["total_attempts"],
        row["avg_attempts"],
        row["max_attempts"],
    ) == (2, 3, 1.5, 2)
    assert row["median_attempts"] == 1.5
    rows = q(
        client,
        "SELECT attempt, reached_contacts FROM v_reached_by_attempt WHERE campaign_id = 'hc' ORDER BY attempt",
    )
    assert rows == [{"attempt": 1, "reached_contacts": 1}, {"attempt": 2, "reached_contacts": 1}]


def test_call_duration_percentiles(client: Any) -> None:
    [row] = q(client, "SELECT * FROM v_call_duration_percentiles WHERE campaign_id = 'hc'")
    assert row["answered_calls"] == 2
    assert (
        row["avg_seconds"],
        row["p50_seconds"],
        row["p90_seconds"],
        row["p99_seconds"],
        row["max_seconds"],
    ) == (90.0, 90.0, 114.0, 119.4, 120.0)


def test_hourly_series(client: Any) -> None:
    rows = q(
        client,
        "SELECT hour, calls, answered_calls, reached_contacts FROM v_hourly WHERE campaign_id = 'hc' ORDER BY hour",
    )
    assert [
        (r["hour"].hour, r["calls"], r["answered_calls"], r["reached_contacts"]) for r in rows
    ] == [
        (14, 3, 1, 1),
        (15, 2, 1, 1),
        (16, 1, 0, 0),
    ]


def test_held_back_by_rule(client: Any) -> None:
    """SPEC 7: the campaigns row carries the rules, v_held_back the contacts each held back."""
    command = create_command("cmp", "America/New_York", 3)
    command["command"][1]["definition"]["rules"] |= {
        "compliance": ["us_tcpa"],
        "attempt_limits": [{"scope": "number", "max_calls": 3, "period_hours": 24.0}],
        "blackout_dates": ["2026-12-24"],
        "holidays": {"country": "US", "subdivision": "NY"},
    }

    def progress(at: int, counts: dict[str, int]) -> tuple[str, dict[str, Any]]:
        body = {"contacts_total": 3, "contacts_final": 0, "calls_in_flight": 1, "counts": counts}
        return ("CampaignEvent", event("cmp", f"cmp:progress:{at}", at, "Progress", body))

    insert(
        client,
        [
            ("CampaignCommand", command),
            progress(t(14), {"calls_created": 1, "held_back:preset:us_tcpa": 1}),
            progress(
                t(15),
                {"calls_created": 4, "held_back:preset:us_tcpa": 2, "held_back:attempt_limit": 1},
            ),
        ],
    )
    rows = q(
        client,
        "SELECT rule, contacts_held_back, compliance, attempt_limits, blackout_dates, holidays"
        " FROM v_held_back WHERE campaign_id = 'cmp' ORDER BY rule",
    )
    rules = {
        "compliance": ["us_tcpa"],
        "attempt_limits": ["number:3/24h"],
        "blackout_dates": ["2026-12-24"],
        "holidays": "US-NY",
    }
    assert rows == [
        {"rule": "attempt_limit", "contacts_held_back": 1, **rules},
        {"rule": "preset:us_tcpa", "contacts_held_back": 2, **rules},
    ]
    assert q(client, "SELECT compliance FROM v_campaigns WHERE campaign_id = 'hc'") == [
        {"compliance": []}
    ]
