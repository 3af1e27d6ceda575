"""Voicemail messages in ClickHouse (migration 0008, issue 23 item 1): the sink stores
`voicemail_left`, v_voicemail_by_campaign counts machines and messages left, and the
report has the section.

Campaign "vm": v1/1 voicemail with a message left, v1/2 voicemail with a message left
(the same contact again), v2/1 voicemail hung up (no message), v3/1 answered, and an
outcome written before CallOutcome v4 (no field) counts as no message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sinks.query import QueryResult
from sinks.report import gather
from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_views import create, outcome, q, t

pytestmark = pytest.mark.unit


def records() -> list[tuple[str, dict[str, Any]]]:
    c = "vm"
    legacy = outcome(c, "v4", 1, "voicemail", t(14, 5))
    assert "voicemail_left" not in legacy
    return [
        ("CallCreate", create(c, "v1", 1, t(14), "+15550100001", 0)),
        ("CallCreate", create(c, "v1", 2, t(14, 2), "+15550100001", 0)),
        ("CallCreate", create(c, "v2", 1, t(14), "+15550100001", 0)),
        ("CallCreate", create(c, "v3", 1, t(14), "+15550100001", 0)),
        ("CallCreate", create(c, "v4", 1, t(14), "+15550100001", 0)),
        ("CallOutcome", {**outcome(c, "v1", 1, "voicemail", t(14, 1)), "voicemail_left": True}),
        ("CallOutcome", {**outcome(c, "v1", 2, "voicemail", t(14, 3)), "voicemail_left": True}),
        ("CallOutcome", {**outcome(c, "v2", 1, "voicemail", t(14, 1)), "voicemail_left": False}),
        ("CallOutcome", outcome(c, "v3", 1, "answered", t(14, 2), 30.0)),
        ("CallOutcome", legacy),
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with loaded(tmp_path_factory.mktemp("voicemail") / "ch", records()) as c:
        yield c


def test_messages_left_per_campaign(client: Any) -> None:
    [row] = q(client, "SELECT * FROM v_voicemail_by_campaign WHERE campaign_id = 'vm'")
    assert (row["machine_answers"], row["messages_left"], row["contacts_left_a_message"]) == (
        4,
        2,
        1,
    )
    assert q(client, "SELECT voicemail_left FROM v_outcomes WHERE call_id = 'vm/v2/1'") == [
        {"voicemail_left": False}
    ]


def test_the_report_counts_messages_left(client: Any) -> None:
    def runner(sql: str) -> QueryResult:
        r = client.query(sql)
        return QueryResult(list(r.column_names), [], [list(x) for x in r.result_rows], "direct")

    [row] = gather("vm", runner).sections["voicemail"].dicts()
    assert row["messages_left"] == 2
