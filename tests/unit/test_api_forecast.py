"""The API's forecast (issue 24.7, 22.4): what it assumed, another answer rate, and the
account's lines shared with its other running campaigns (SPEC 8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api import forecast
from campaigns import testing
from campaigns.compliance import PREVIEW_REASONS, preview_reason
from campaigns.simulate import parse_model
from tests.helpers import contact

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def test_another_answer_rate_keeps_the_default_split_of_the_rest() -> None:
    shares = dict(parse_model(forecast.model_for_answer_rate(0.8)))
    assert shares["answered"] == 0.8
    assert shares["no_answer"] == pytest.approx(0.2 * 5 / 7)
    assert shares["busy"] == pytest.approx(0.2 * 2 / 7)
    assert forecast.model_for_answer_rate(0.3) == "answered=0.3,no_answer=0.5,busy=0.2"


def test_the_forecast_says_what_it_assumed_and_counts_no_rejected_contacts() -> None:
    d = testing.definition("c1", concurrent_calls=2, max_retries=1, retry_delay_minutes=5)
    out = forecast.forecast(
        d, [contact(n) for n in range(4)], parse_model(forecast.DEFAULT_MODEL), 7, START
    )
    assert out["assumptions"] == {
        "outcome_shares": {"answered": 0.3, "no_answer": 0.5, "busy": 0.2},
        "call_seconds": 30,
        "max_retries": 1,
        "retry_delay_minutes": 5.0,
        "retry_on": list(d.rules.retry_on),
        "lines": None,
        "other_running_campaigns": 0,
        "other_remaining_contacts": 0,
    }
    assert "rejected" not in out["contacts"]


def test_a_higher_priority_campaign_on_one_line_delays_the_forecast() -> None:
    model = parse_model("answered=1")
    mine = [contact(n) for n in range(4)]
    alone = forecast.forecast(testing.definition("c1", concurrent_calls=2), mine, model, 7, START)
    other = forecast.OtherCampaign(
        testing.definition("c0", concurrent_calls=2, priority=9),
        [contact(n) for n in range(10, 16)],
    )
    shared = forecast.forecast(
        testing.definition("c1", concurrent_calls=2), mine, model, 7, START, lines=1, others=[other]
    )
    assert shared["assumptions"]["other_remaining_contacts"] == 6
    assert alone["finished_at"] < shared["finished_at"]
    # one line, the other campaign first: its 6 calls, then our 4, 30 s each
    assert shared["finished_at"] == "2026-12-01T14:05:00.000Z"


def test_every_preview_reason_is_explained() -> None:
    from campaigns.compliance import Gate

    d = testing.definition("c1", concurrent_calls=1, compliance=["us_tcpa", "fr_2022_1313"])
    for reason in Gate(d).reasons():
        assert reason in PREVIEW_REASONS and len(preview_reason(reason)) > 10


def test_campaign_creates_summary_names_priority_end_callbacks_and_across() -> None:
    """Issue 22.4: `campaign create`'s rules table carries the SPEC 8 and 9 fields."""
    from ingest.summary import rule_rows

    d = testing.definition(
        "c1",
        concurrent_calls=1,
        priority=8,
        ends_at="2030-01-01T12:00:00Z",
        max_callbacks=3,
        attempt_limits=[
            {"scope": "number", "max_calls": 3, "period_hours": 24, "across": "account"}
        ],
    )
    rows = {name: effective for name, effective, _ in rule_rows(d.rules)}
    assert (rows["priority"], rows["ends_at"], rows["max_callbacks"]) == (
        "8",
        "2030-01-01T12:00:00Z",
        "3",
    )
    assert "across=account" in rows["attempt_limits"]


def test_the_forecast_takes_the_accounts_own_lines() -> None:
    """The lines come from the account's account.status record (what the engine reads),
    so a forecast on a 3-line account says and uses 3; an account without a limit, none."""
    from types import SimpleNamespace

    from api.campaign_service import account_load
    from campaigns.models import AccountSettings

    limits = {"acme": 3}
    cp = SimpleNamespace(
        account_settings=lambda a: AccountSettings(account_id=a, lines=limits.get(a))
    )
    svc = SimpleNamespace(cp=cp, readmodel=None)
    assert account_load(svc, "acme", "c1", 4) == (3, [])  # type: ignore[arg-type]
    assert account_load(svc, "beta", "c1", 4) == (None, [])  # type: ignore[arg-type]


def test_the_forecast_prices_its_connected_calls_like_the_sink() -> None:
    """Issue 23.4: answered and voicemail calls bill CALL_SECONDS rounded up to the
    increment; busy and unanswered ones nothing; money exact, as decimal text."""
    from decimal import Decimal

    calls = {"answered": 3, "voicemail": 1, "no_answer": 5, "busy": 2}
    rate = forecast.NumberRate(Decimal("0.0125"), "USD")
    by_minute = forecast.expected_cost(calls, 60, rate)
    assert by_minute == {
        "billed_calls": 4,
        "billing_increment_seconds": 60,
        "billed_minutes": "4",  # 30 s calls billed a whole minute each
        "rate_per_minute": "0.0125",
        "currency": "USD",
        "cost": "0.05",
    }
    by_second = forecast.expected_cost(calls, 1, rate)
    assert (by_second["billed_minutes"], by_second["cost"]) == ("2", "0.025")
    unpriced = forecast.expected_cost(calls, 6, None)
    assert unpriced["cost"] is None and unpriced["billed_minutes"] == "2"
    assert forecast.expected_cost({}, 60, rate)["cost"] == "0"


def test_the_forecast_finds_the_source_numbers_rate_and_the_accounts_increment() -> None:
    from types import SimpleNamespace

    from api.campaign_service import forecast_cost

    d = testing.definition("c1", concurrent_calls=1)
    numbers = [
        ("other", {"e164": "+15550000000", "rate_per_minute": "9", "currency": "EUR"}),
        ("main", {"e164": d.source_number, "rate_per_minute": "0.02", "currency": "USD"}),
    ]
    cp = SimpleNamespace(
        items=lambda kind, account: iter(numbers if kind == "number" else []),
        get=lambda kind, account, rid: {"billing_increment_seconds": 6},
    )
    out = forecast_cost(SimpleNamespace(cp=cp), "acme", d, {"answered": 10})  # type: ignore[arg-type]
    assert (out["billed_minutes"], out["cost"], out["currency"]) == ("5", "0.1", "USD")
