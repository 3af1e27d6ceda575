"""What calls cost (issue 23 item 4, migration 0006): rates from the control plane, Decimal.

Account acme: number "a" (A) at 0.0125 USD a minute from 12:00, 0.02 from 15:00; number
"b" (B) without a rate; billing in 60 s increments from 11:00, in 6 s from 12:00.
Campaign "co":
  c1/1 14:00 from A answered 61 s   -> 66 s billed, 0.0125 * 66 / 60 = 0.01375 USD, reached
  c2/1 14:00 from A no_answer       -> 0 s, 0 USD
  c3/1 14:00 from B answered 30 s   -> 30 s billed, unpriced
  c4/1 16:00 from A answered 5.001 s -> 6 s billed at the new rate: 0.002 USD, reached
Account beta (no billing record: 60 s), campaign "co" too: d1/1 answered 1 s -> 60 s, unpriced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from api.routes_campaign_analytics import _gather
from sinks.exceptions import QueryError, RowError
from sinks.query import QueryResult, run_query
from sinks.report import gather
from sinks.rows import BILLING, RATES, to_row
from tests.helpers import free_port
from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_views import create, event, outcome, q, t

pytestmark = pytest.mark.unit

A, B = "+15550100001", "+15550100002"


def number(nid: str, e164: str, at: int, account: str = "acme", **price: Any) -> dict[str, Any]:
    body = {"number_id": nid, "e164": e164, "label": "", "caller_id": True, **price}
    return {
        "kind": "number",
        "account_id": account,
        "id": nid,
        "body": json.dumps(body),
        "updated_at": at,
    }


def account(at: int, **billing: Any) -> dict[str, Any]:
    body = {"account_id": "acme", "name": "Acme", "keys": [], **billing}
    return {
        "kind": "account",
        "account_id": "acme",
        "id": "acme",
        "body": json.dumps(body),
        "updated_at": at,
    }


def records() -> list[tuple[str, dict[str, Any]]]:
    c = "co"
    reached = [
        event(
            c,
            f"co-f-{k}",
            t(17),
            "ContactFinal",
            {"contact_id": k, "status": "reached", "attempts": 1},
        )
        for k in ("c1", "c4")
    ]
    return [
        ("ApiRecord", number("a", A, t(12), rate_per_minute="0.0125", currency="USD")),
        ("ApiRecord", number("a", A, t(15), rate_per_minute=0.02, currency="USD")),  # a JSON number
        ("ApiRecord", number("b", B, t(12))),
        ("ApiRecord", account(t(11))),
        ("ApiRecord", account(t(12), billing_increment_seconds=6)),
        ("CallCreate", create(c, "c1", 1, t(14), A, 0)),
        ("CallCreate", create(c, "c2", 1, t(14), A, 0)),
        ("CallCreate", create(c, "c3", 1, t(14), B, 0)),
        ("CallCreate", create(c, "c4", 1, t(16), A, 0)),
        ("CallOutcome", outcome(c, "c1", 1, "answered", t(14, 2), 61.0)),
        ("CallOutcome", outcome(c, "c2", 1, "no_answer", t(14, 1))),
        ("CallOutcome", outcome(c, "c3", 1, "answered", t(14, 1), 30.0)),
        ("CallOutcome", outcome(c, "c4", 1, "answered", t(16, 1), 5.001)),
        ("CallCreate", create(c, "d1", 1, t(14), A, 0, account="beta")),
        ("CallOutcome", outcome(c, "d1", 1, "answered", t(14, 1), 1.0, account="beta")),
        *(("CampaignEvent", e) for e in reached),
    ]


@pytest.fixture(scope="module")
def ch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("costs") / "ch"


@pytest.fixture(scope="module")
def client(ch_dir: Path) -> Iterator[Any]:
    with loaded(ch_dir, records()) as c:
        yield c


def test_each_call_is_billed_in_its_increments_at_the_rate_of_its_creation(client: Any) -> None:
    rows = q(
        client,
        "SELECT account_id, contact_id, billed_seconds, priced, currency, cost FROM v_call_costs"
        " WHERE campaign_id = 'co' ORDER BY account_id, contact_id",
    )
    got = [
        (r["contact_id"], r["billed_seconds"], r["priced"], r["currency"], r["cost"]) for r in rows
    ]
    assert got == [
        ("c1", 66, True, "USD", Decimal("0.01375")),
        ("c2", 0, True, "USD", Decimal(0)),
        ("c3", 30, False, "", Decimal(0)),
        ("c4", 6, True, "USD", Decimal("0.002")),
        ("d1", 60, False, "", Decimal(0)),  # beta has no billing record: 60 s increments
    ]


def test_minutes_and_cost_per_campaign_outcome_caller_id_and_reached_contact(client: Any) -> None:
    where = "account_id = 'acme' AND campaign_id = 'co'"
    by_campaign = q(client, f"SELECT * FROM v_cost_by_campaign WHERE {where} ORDER BY currency")
    assert [(r["currency"], r["calls"], r["billed_minutes"], r["cost"]) for r in by_campaign] == [
        ("", 1, Decimal("0.5"), Decimal(0)),
        ("USD", 3, Decimal("1.2"), Decimal("0.01575")),
    ]
    by_outcome = q(
        client,
        f"SELECT status, cost FROM v_cost_by_outcome WHERE {where} AND currency = 'USD' ORDER BY status",
    )
    assert by_outcome == [
        {"status": "answered", "cost": Decimal("0.01575")},
        {"status": "no_answer", "cost": Decimal(0)},
    ]
    by_caller = q(
        client,
        f"SELECT caller_id, calls, cost FROM v_cost_by_caller_id WHERE {where} ORDER BY caller_id",
    )
    assert by_caller == [
        {"caller_id": A, "calls": 3, "cost": Decimal("0.01575")},
        {"caller_id": B, "calls": 1, "cost": Decimal(0)},
    ]
    [per] = q(
        client, f"SELECT * FROM v_cost_per_reached_contact WHERE {where} AND currency = 'USD'"
    )
    assert (per["reached_contacts"], per["cost_per_reached_contact"]) == (2, Decimal("0.007875"))


def test_the_report_has_the_cost_sections(client: Any) -> None:
    def runner(sql: str) -> QueryResult:
        r = client.query(sql)
        return QueryResult(list(r.column_names), [], [list(x) for x in r.result_rows], "direct")

    report = gather("co", runner, "acme")
    costs = {r["currency"]: r["cost"] for r in report.sections["cost_by_campaign"].dicts()}
    assert costs == {"": Decimal(0), "USD": Decimal("0.01575")}
    assert len(report.sections["cost_by_caller_id"].rows) == 2


@pytest.mark.parametrize(
    ("price", "says"),
    [
        ({"rate_per_minute": "-0.01", "currency": "USD"}, ">= 0"),
        ({"rate_per_minute": "abc", "currency": "USD"}, "not a decimal"),
        ({"rate_per_minute": True, "currency": "USD"}, "not a decimal"),
        ({"rate_per_minute": "0.0000001", "currency": "USD"}, "decimal places"),
        ({"rate_per_minute": "NaN", "currency": "USD"}, ">= 0"),
        ({"rate_per_minute": "0.01", "currency": "usd"}, "ISO 4217"),
        ({"rate_per_minute": "0.01"}, "ISO 4217"),
    ],
)
def test_a_price_that_is_no_price_is_refused_naming_it(price: dict[str, Any], says: str) -> None:
    with pytest.raises(RowError, match=says):
        to_row("ApiRecord", number("a", A, t(12), **price), 0)


def test_billing_increments_are_1_6_or_60_and_other_kinds_keep_no_row() -> None:
    for bad in (5, "6", True, 0):
        with pytest.raises(RowError, match="billing_increment_seconds"):
            to_row("ApiRecord", account(t(12), billing_increment_seconds=bad), 0)
    mapped = to_row("ApiRecord", account(t(12), billing_increment_seconds=1), 0)
    assert mapped is not None and mapped[0] == BILLING and mapped[1][2] == 1
    mapped = to_row("ApiRecord", number("a", A, t(12), rate_per_minute="0.5", currency="EUR"), 0)
    assert mapped is not None and mapped[0] == RATES and mapped[1][5] == Decimal("0.5")
    webhook = {**account(t(12)), "kind": "webhook"}
    assert to_row("ApiRecord", webhook, 0) is None


def test_the_campaign_page_gets_money_as_decimal_text(client: Any, ch_dir: Path) -> None:
    """GET /v1/campaigns/{id}/analytics's queries, on the caller's account only."""
    dsn, token = f"chdb://{ch_dir}", ch_dir.parent / "no-sink.token"
    with pytest.raises(QueryError, match="no sink is running"):  # the API never opens it
        run_query("SELECT 1", dsn, free_port(), token, open_embedded=False)

    def source(sql: str) -> list[dict[str, Any]]:  # as the sink's endpoint would answer
        return run_query(sql, dsn, free_port(), token, open_embedded=True).dicts()

    out = _gather(source, "acme", "co")
    usd = next(c for c in out.cost if c.currency == "USD")
    assert (usd.calls, usd.cost, usd.reached_contacts) == (3, "0.01575", 2)
    assert Decimal(usd.cost_per_reached_contact or "") == Decimal("0.007875")
    assert Decimal(usd.billed_minutes) == Decimal("1.2")
    assert [(c.caller_id, c.calls) for c in out.cost_by_caller_id] == [(A, 3), (B, 1)]
    health = [(h.caller_id, h.recent_calls, h.degraded) for h in out.caller_id_health]
    assert health == [(A, 3, False), (B, 1, False)]  # too few calls to judge
    assert _gather(source, "beta", "co").cost_by_caller_id[0].calls == 1  # beta's own call
