"""Two accounts' campaigns of the same id stay apart in ClickHouse (issue 21.6).

Campaign and call ids are unique per account only: acme's and beta's `spring/row-1/1` are
two calls, and no ReplacingMergeTree key, LIMIT BY or join of the views may fold them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks.dsn import open_client
from sinks.exceptions import AmbiguousReport
from sinks.migrations import migrate
from sinks.query import QueryResult
from sinks.report import gather
from tests.unit.test_sink_views import create, create_command, event, insert, outcome, q, t

pytestmark = pytest.mark.unit

A = "+15550100001"


def records() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for account, status, n in (("acme", "answered", 2), ("beta", "busy", 1)):
        out.append(("CampaignCommand", create_command("spring", "UTC", n, account=account)))
        for i in range(1, n + 1):
            out.append(("CallCreate", create("spring", f"row-{i}", 1, t(14), A, 0, account)))
            out.append(
                ("CallOutcome", outcome("spring", f"row-{i}", 1, status, t(14, 1), 5.0, account))
            )
            final = {"contact_id": f"row-{i}", "status": "reached", "attempts": 1}
            if status == "answered":
                out.append(
                    (
                        "CampaignEvent",
                        event(
                            "spring",
                            f"{account}/spring:final:row-{i}",
                            t(14, 1),
                            "ContactFinal",
                            final,
                            account,
                        ),
                    )
                )
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("accounts") / "ch"
    c = open_client(f"chdb://{path}")
    migrate(c)
    insert(c, records())
    try:
        yield c
    finally:
        c.close()


def test_the_same_call_id_of_two_accounts_is_two_calls(client: Any) -> None:
    rows = q(
        client,
        "SELECT account_id, status FROM v_calls WHERE call_id = 'spring/row-1/1' ORDER BY account_id",
    )
    assert rows == [
        {"account_id": "acme", "status": "answered"},
        {"account_id": "beta", "status": "busy"},
    ]
    assert q(client, "SELECT count() AS n FROM v_outcomes") == [{"n": 3}]


def test_progress_is_per_account_and_campaign(client: Any) -> None:
    rows = q(
        client,
        "SELECT account_id, contacts_total, attempts, reached FROM v_campaign_progress"
        " WHERE campaign_id = 'spring' ORDER BY account_id",
    )
    assert rows == [
        {"account_id": "acme", "contacts_total": 2, "attempts": 2, "reached": 2},
        {"account_id": "beta", "contacts_total": 1, "attempts": 1, "reached": 0},
    ]


def test_the_report_names_the_account(client: Any) -> None:
    def runner(sql: str) -> QueryResult:
        r = client.query(sql)
        return QueryResult(list(r.column_names), [], [list(x) for x in r.result_rows], "direct")

    with pytest.raises(AmbiguousReport, match="acme, beta"):
        gather("spring", runner)
    beta = gather("spring", runner, "beta")
    assert beta.progress is not None and beta.progress["attempts"] == 1
    [by_alternate] = beta.sections["by_alternate"].dicts()
    assert by_alternate["calls"] == 1 and by_alternate["answered_calls"] == 0
