"""The query guard lets the project's own SQL through unchanged in meaning (sinks.guard).

The refusals are in tests/security/test_sink_query.py; here: every view's SELECT, the
report's queries and the usual analyst shapes pass, and the SQL regenerated from the
checked tree gives the same rows as the text sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from sinks import guard
from sinks.dsn import open_client
from sinks.guard import check
from sinks.migrations import load, migrate, relations
from sinks.query import QueryResult
from sinks.report import gather

_VIEW = re.compile(r"CREATE OR REPLACE VIEW (\w+) AS\s+(.*)", re.S)


def _view_selects() -> list[tuple[str, str]]:
    found = []
    for mig in load():
        for statement in mig.statements():
            m = _VIEW.match(statement)
            if m:
                found.append((m.group(1), m.group(2)))
    return found


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    c = open_client(f"chdb://{tmp_path_factory.mktemp('guard') / 'ch'}")
    migrate(c)
    try:
        yield c
    finally:
        c.close()


@pytest.mark.parametrize(("view", "select"), _view_selects(), ids=lambda v: v[:30])
def test_every_views_select_passes_and_means_the_same(client: Any, view: str, select: str) -> None:
    checked = check(select)
    assert client.query(checked).result_rows == client.query(select).result_rows
    assert client.query(f"SELECT * FROM {view}").column_names == client.query(checked).column_names


def test_the_reports_queries_pass(client: Any) -> None:
    sent: list[str] = []

    def runner(sql: str) -> QueryResult:
        sent.append(sql)
        result = client.query(check(sql))
        return QueryResult(
            list(result.column_names), [], [list(r) for r in result.result_rows], "direct"
        )

    gather("c-1", runner)
    assert len(sent) >= 7


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT status, count() FROM v_outcomes GROUP BY status",
        "SELECT quantiles(0.5, 0.9)(duration_seconds + 1) IS NOT NULL FROM v_outcomes",
        "SELECT toStartOfHour(ended_at) AS h, countIf(status = 'answered') / count() FROM v_outcomes GROUP BY h ORDER BY h",
        "SELECT campaign_id, argMax(contacts_final, at) FROM v_events GROUP BY campaign_id",
        "SELECT mapKeys(counts), counts['busy'] FROM campaign_events LIMIT 1 BY campaign_id",
        "SELECT a.call_id, o.status FROM v_attempts AS a LEFT JOIN v_outcomes AS o USING (call_id)",
        "SELECT * FROM v_calls WHERE call_id IN (SELECT call_id FROM v_outcomes WHERE status = 'busy')",
        "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase()",
        "SELECT table, sum(rows) FROM system.parts WHERE active GROUP BY table",
        "SELECT 'it''s', 'back\\\\slash', `weird name` FROM (SELECT 1 AS `weird name`)",
        "WITH t AS (SELECT campaign_id FROM campaigns FINAL) SELECT count() FROM t",
    ],
)
def test_analyst_queries_pass_and_mean_the_same(client: Any, sql: str) -> None:
    assert client.query(check(sql)).result_rows == client.query(sql).result_rows


def test_the_allowed_tables_are_what_the_migrations_create(client: Any) -> None:
    found = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    assert relations() == {r[0] for r in found.result_rows}


def test_every_allowed_function_is_one_clickhouse_has(client: Any) -> None:
    """The allow list names real functions (a typo would refuse an analyst's query)."""
    rows = client.query("SELECT name, case_insensitive FROM system.functions").result_rows
    exact = {name for name, _ in rows}
    folded = {name.lower() for name, insensitive in rows if insensitive}
    listed = guard.SCALAR_FUNCTIONS | guard.AGGREGATE_FUNCTIONS
    unknown = sorted(n for n in listed if n not in exact and n.lower() not in folded)
    assert unknown == []
    assert guard.function_allowed("sumif") and guard.function_allowed("uniqarrayifornull")
    assert not guard.function_allowed("fileif") and not guard.function_allowed("sleepif")
