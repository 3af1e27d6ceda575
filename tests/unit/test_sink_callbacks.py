"""End dates and callbacks in ClickHouse (SPEC 9, migration 0005).

Campaign "cb", 5 contacts:
  k1/1 answered 14:01, asks for a callback at 18:00; k1/2 created 18:00, answered -> reached
  k2/1 answered 14:02, asks for 13:00 (already past: due at the answer's end) -> waiting
  k3/1 answered 14:03, asks for 20:00                                          -> waiting
  k4/1 skipped by a pre-dial check                                             -> skipped
  k5 never called before the end date                                          -> expired
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sinks.query import QueryResult
from sinks.report import gather
from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_views import create, event, outcome, q, t

pytestmark = pytest.mark.unit

C = "cb"


def final(contact: str, status: str, at: int, attempts: int) -> tuple[str, dict[str, Any]]:
    body = {"contact_id": contact, "status": status, "attempts": attempts}
    return "CampaignEvent", event(C, f"{C}-f-{contact}", at, "ContactFinal", body)


def records() -> list[tuple[str, dict[str, Any]]]:
    a = "+15550100001"
    return [
        ("CallCreate", create(C, "k1", 1, t(14), a, 0)),
        ("CallCreate", create(C, "k2", 1, t(14), a, 0)),
        ("CallCreate", create(C, "k3", 1, t(14), a, 0)),
        ("CallCreate", create(C, "k4", 1, t(14), a, 0)),
        ("CallOutcome", {**outcome(C, "k1", 1, "answered", t(14, 1), 30.0), "callback_at": t(18)}),
        ("CallOutcome", {**outcome(C, "k2", 1, "answered", t(14, 2), 30.0), "callback_at": t(13)}),
        ("CallOutcome", {**outcome(C, "k3", 1, "answered", t(14, 3), 30.0), "callback_at": t(20)}),
        ("CallOutcome", outcome(C, "k4", 1, "skipped", t(14))),
        ("CallCreate", create(C, "k1", 2, t(18), a, 0)),
        ("CallOutcome", outcome(C, "k1", 2, "answered", t(18, 5), 90.0)),
        final("k1", "reached", t(18, 5), 2),
        final("k4", "skipped", t(14), 1),
        final("k5", "expired", t(21), 0),
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with loaded(tmp_path_factory.mktemp("callbacks") / "ch", records()) as c:
        yield c


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def test_callback_at_is_kept_per_outcome(client: Any) -> None:
    rows = q(
        client,
        f"SELECT call_id, callback_at FROM v_outcomes WHERE campaign_id = '{C}' ORDER BY call_id",
    )
    kept = {r["call_id"]: r["callback_at"] for r in rows}
    assert _naive(kept[f"{C}/k3/1"]) == _utc(t(20))
    assert kept[f"{C}/k1/2"] is None and kept[f"{C}/k4/1"] is None


def test_each_callback_asked_is_placed_or_waiting(client: Any) -> None:
    rows = q(
        client,
        f"SELECT contact_id, called_back, waiting, due_at FROM v_callbacks WHERE campaign_id = '{C}'"
        " ORDER BY contact_id",
    )
    assert [(r["contact_id"], r["called_back"], r["waiting"]) for r in rows] == [
        ("k1", True, False),
        ("k2", False, True),
        ("k3", False, True),
    ]
    # a callback asked for a time already past is due when the answered call ended
    assert _naive(rows[1]["due_at"]) == _utc(t(14, 2))


def test_callbacks_due_per_campaign(client: Any) -> None:
    [row] = q(client, f"SELECT * FROM v_callbacks_due WHERE campaign_id = '{C}'")
    assert (row["callbacks_asked"], row["callbacks_placed"], row["callbacks_waiting"]) == (3, 1, 2)
    assert _naive(row["next_callback_at"]) == _utc(t(14, 2))


def test_progress_counts_expired_and_skipped_contacts(client: Any) -> None:
    [p] = q(client, f"SELECT * FROM v_campaign_progress WHERE campaign_id = '{C}'")
    assert (p["reached"], p["expired"], p["skipped"], p["contacts_final"]) == (1, 1, 1, 3)


def test_skipped_calls_have_their_own_column_by_hour(client: Any) -> None:
    rows = q(
        client,
        f"SELECT sum(skipped) s, sum(other) o FROM v_outcomes_by_hour WHERE campaign_id = '{C}'",
    )
    assert rows == [{"s": 1, "o": 0}]


def test_the_report_shows_callbacks_and_the_new_statuses(client: Any) -> None:
    def runner(sql: str) -> QueryResult:
        r = client.query(sql)
        return QueryResult(list(r.column_names), [], [list(x) for x in r.result_rows], "direct")

    report = gather(C, runner)
    assert report.progress is not None
    assert (report.progress["expired"], report.progress["skipped"]) == (1, 1)
    [row] = report.sections["callbacks"].dicts()
    assert row["callbacks_waiting"] == 2
