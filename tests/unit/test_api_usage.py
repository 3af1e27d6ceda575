"""Agents and numbers in use (issue 24, item 3): which campaigns hold a record, what the
refusal says, and the number's call rate and currency (422 naming the field otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import pytest
from pydantic import ValidationError

from api import usage
from api.models import NumberCreate, NumberOut
from campaigns.models import CampaignDefinition
from campaigns.testing import definition

STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
RULES: dict[str, Any] = {"concurrent_calls": 1, "max_retries": 0, "retry_delay_minutes": 1}


@dataclass(frozen=True)
class Row:
    """The two fields of a CampaignSummary that api.usage reads."""

    campaign_id: str
    status: str


class FakeReadModel:
    """ReadModel.page and .definition over a few rows (pages of 2, to cross a cursor)."""

    def __init__(self, defs: dict[str, tuple[str, CampaignDefinition]]) -> None:
        self.defs = defs
        self.ids = sorted(defs)

    def page(
        self, account: str, status: str | None, after: str | None, limit: int
    ) -> tuple[list[Row], str | None]:
        rest = [i for i in self.ids if after is None or i > after][: min(limit, 2)]
        rows = [Row(i, self.defs[i][0]) for i in rest]
        more = bool(rest) and rest[-1] != self.ids[-1]
        return rows, (rest[-1] if more else None)

    def definition(self, account: str, campaign_id: str) -> CampaignDefinition:
        return self.defs[campaign_id][1]


def _campaigns() -> FakeReadModel:
    defs: dict[str, tuple[str, CampaignDefinition]] = {}
    for status in STATUSES:
        defs[f"c-{status}"] = (status, definition(f"c-{status}", **RULES))
    callers = {"numbers": ["+15550100007"], "strategy": "rolling"}
    defs["rotating"] = ("running", definition("rotating", caller_ids=callers, **RULES))
    return FakeReadModel(defs)


def _held(rm: FakeReadModel) -> list[usage.Held]:
    return list(usage.holding(cast(Any, rm), "acme"))


def test_only_campaigns_that_may_still_call_hold_an_agent() -> None:
    found = usage.users(_held(_campaigns()), usage.uses_agent("bot"))
    assert [(u.campaign_id, u.status) for u in found] == [
        ("c-paused", "paused"),
        ("c-running", "running"),
        ("c-scheduled", "scheduled"),
        ("rotating", "running"),
    ]
    assert usage.users(_held(_campaigns()), usage.uses_agent("other-bot")) == []


def test_a_number_is_held_as_source_or_as_a_caller_id() -> None:
    held = _held(_campaigns())
    assert [u.campaign_id for u in usage.users(held, usage.uses_number("+15550100007"))] == [
        "rotating"
    ]
    assert len(usage.users(held, usage.uses_number("+15550100000"))) == 4
    assert usage.users(held, usage.uses_number("+15550100099")) == []


def test_the_refusal_names_the_campaigns() -> None:
    one = usage.refusal("agent 'bot'", [usage.Use("spring", "running")], "remove it later")
    assert one == "agent 'bot' is used by campaign 'spring' (running): remove it later"
    many = [usage.Use(f"c{i}", "paused") for i in range(7)]
    text = usage.refusal("number 'main'", many, "x")
    assert text.startswith("number 'main' is used by campaigns 'c0' (paused), ")
    assert "'c4' (paused) and 2 more: x" in text and "'c5'" not in text


def _number(**extra: Any) -> NumberCreate:
    return NumberCreate(number_id="main", e164="+15550100000", **extra)


def test_a_rate_is_a_decimal_kept_as_a_string_with_its_currency() -> None:
    n = _number(rate_per_minute="0.0135", currency="EUR")
    record = n.model_dump(mode="json")
    assert record["rate_per_minute"] == "0.0135" and record["currency"] == "EUR"
    assert NumberOut(**record).rate_per_minute == Decimal("0.0135")
    assert _number(rate_per_minute=0, currency="USD").rate_per_minute == Decimal(0)
    assert _number().model_dump(mode="json")["rate_per_minute"] is None


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"rate_per_minute": "-0.01", "currency": "USD"}, "rate_per_minute", "greater than"),
        ({"rate_per_minute": "abc", "currency": "USD"}, "rate_per_minute", "decimal"),
        ({"rate_per_minute": "NaN", "currency": "USD"}, "rate_per_minute", "finite"),
        ({"rate_per_minute": "0.01"}, "currency", "required with rate_per_minute"),
        ({"rate_per_minute": "0.01", "currency": "usd"}, "currency", "ISO 4217"),
        ({"rate_per_minute": "0.01", "currency": "ABC"}, "currency", "ISO 4217"),
    ],
)
def test_a_bad_rate_or_currency_names_its_field(
    extra: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _number(**extra)
    errors = err.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert words.lower() in errors[0]["msg"].lower()
