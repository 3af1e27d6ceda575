"""Opt-outs in ClickHouse (migration 0004): per call, per campaign, and in the progress view.

Campaign "oo", 3 contacts:
  o1/1 answered with opt_out                              -> o1 opted_out
  o2/1 no_answer, then the same outcome again with opt_out (a duplicate: still honoured)
  o3/1 answered                                           -> o3 reached
An outcome written before CallOutcome v2 (no opt_out field) counts as no opt-out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sinks.query import QueryResult
from sinks.report import gather
from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_views import create, event, outcome, q, t

pytestmark = pytest.mark.unit


def records() -> list[tuple[str, dict[str, Any]]]:
    c = "oo"
    legacy = outcome(c, "o3", 1, "answered", t(14, 3), 50.0)
    assert "opt_out" not in legacy
    return [
        ("CallCreate", create(c, "o1", 1, t(14), "+15550100001", 0)),
        ("CallCreate", create(c, "o2", 1, t(14), "+15550100001", 0)),
        ("CallCreate", create(c, "o3", 1, t(14), "+15550100001", 0)),
        ("CallOutcome", {**outcome(c, "o1", 1, "answered", t(14, 2), 40.0), "opt_out": True}),
        ("CallOutcome", {**outcome(c, "o2", 1, "no_answer", t(14, 1)), "opt_out": False}),
        ("CallOutcome", {**outcome(c, "o2", 1, "no_answer", t(14, 4)), "opt_out": True}),
        ("CallOutcome", legacy),
        (
            "CampaignEvent",
            event(
                c,
                "oo-f1",
                t(14, 2),
                "ContactFinal",
                {"contact_id": "o1", "status": "opted_out", "attempts": 1},
            ),
        ),
        (
            "CampaignEvent",
            event(
                c,
                "oo-f2",
                t(14, 4),
                "ContactFinal",
                {"contact_id": "o2", "status": "opted_out", "attempts": 1},
            ),
        ),
        (
            "CampaignEvent",
            event(
                c,
                "oo-f3",
                t(14, 3),
                "ContactFinal",
                {"contact_id": "o3", "status": "reached", "attempts": 1},
            ),
        ),
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with loaded(tmp_path_factory.mktemp("optouts") / "ch", records()) as c:
        yield c


def test_every_call_with_an_opt_out_is_listed_once(client: Any) -> None:
    rows = q(client, "SELECT call_id, status, number FROM v_opt_outs ORDER BY call_id")
    assert rows == [
        {"call_id": "oo/o1/1", "status": "answered", "number": "+15550109999"},
        {"call_id": "oo/o2/1", "status": "no_answer", "number": "+15550109999"},
    ]
    # v_outcomes still keeps the outcome the engine acted on (the first), now with its flag.
    assert q(client, "SELECT opt_out FROM v_outcomes WHERE call_id = 'oo/o2/1'") == [
        {"opt_out": False}
    ]


def test_opt_outs_per_campaign(client: Any) -> None:
    [row] = q(client, "SELECT * FROM v_opt_outs_by_campaign WHERE campaign_id = 'oo'")
    assert (row["opt_outs"], row["contacts_opted_out"], row["numbers_opted_out"]) == (2, 2, 1)
    assert row["on_answered_calls"] == 1
    assert row["opt_out_rate_of_answered"] == 0.5  # 1 of the 2 answered calls


def test_progress_counts_opted_out_contacts(client: Any) -> None:
    [p] = q(client, "SELECT * FROM v_campaign_progress WHERE campaign_id = 'oo'")
    assert (p["reached"], p["opted_out"], p["suppressed"], p["contacts_final"]) == (1, 2, 0, 3)


def test_the_report_has_an_opt_out_section(client: Any) -> None:
    def runner(sql: str) -> QueryResult:
        r = client.query(sql)
        return QueryResult(list(r.column_names), [], [list(x) for x in r.result_rows], "direct")

    report = gather("oo", runner)
    assert report.progress is not None and report.progress["opted_out"] == 2
    [row] = report.sections["opt_outs"].dicts()
    assert row["opt_outs"] == 2
