"""SPEC 8 and 9 definition fields and account settings: defaults, and errors that name the field."""

from __future__ import annotations

import pytest

from campaigns.models import (
    DefinitionError,
    LimitAcross,
    parse_account_settings,
    parse_definition,
)
from campaigns.testing import definition_record
from tests.helpers import at


def error_of(**rules: object) -> str:
    with pytest.raises(DefinitionError) as err:
        parse_definition(definition_record("c1", concurrent_calls=2, **rules))
    return str(err.value)


def test_defaults() -> None:
    rules = parse_definition(definition_record("c1", concurrent_calls=2)).rules
    assert (rules.priority, rules.ends_at, rules.ends_at_us, rules.max_callbacks) == (
        5,
        None,
        None,
        1,
    )


def test_ends_at_with_offset_is_an_instant() -> None:
    rules = parse_definition(
        definition_record("c1", concurrent_calls=2, ends_at="2026-12-01T15:00:00+01:00")
    ).rules
    assert rules.ends_at_us == at(2026, 12, 1, 14, 0)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"priority": 0}, "rules.priority: "),
        ({"priority": 11}, "rules.priority: "),
        ({"max_callbacks": 4}, "rules.max_callbacks: "),
        ({"ends_at": "2026-12-01T15:00:00"}, "rules.ends_at: "),
        ({"ends_at": "tomorrow"}, "rules.ends_at: "),
        ({"retry_on": ["busy", "skipped"]}, "rules.retry_on: skipped may not be listed"),
        (
            {
                "attempt_limits": [
                    {"scope": "contact", "max_calls": 2, "period_hours": 1, "across": "account"}
                ]
            },
            "rules.attempt_limits.0.across: account is allowed only",
        ),
        (
            {
                "attempt_limits": [
                    {"scope": "number", "max_calls": 2, "period_hours": 1, "across": "all"}
                ]
            },
            "rules.attempt_limits.0.across: ",
        ),
    ],
)
def test_errors_name_the_field(rules: dict[str, object], expected: str) -> None:
    assert error_of(**rules).startswith(expected)


def test_ends_at_without_zone_says_so() -> None:
    assert "no time zone" in error_of(ends_at="2026-12-01T15:00:00")


def test_across_account_with_number_scope() -> None:
    limit = {"scope": "number", "max_calls": 3, "period_hours": 24, "across": "account"}
    d = parse_definition(definition_record("c1", concurrent_calls=2, attempt_limits=[limit]))
    assert d.rules.attempt_limits[0].across is LimitAcross.account


def test_account_settings() -> None:
    s = parse_account_settings({"account_id": "acme", "lines": 20})
    assert (s.lines, s.inbound_max_minutes, s.inbound_max_us) == (20, 240, 240 * 60 * 10**6)
    assert parse_account_settings({"account_id": "acme"}).lines is None
    for bad, field in (
        ({"account_id": "acme", "lines": 0}, "lines: "),
        ({"account_id": "acme", "inbound_max_minutes": 0}, "inbound_max_minutes: "),
        ({"account_id": "acme", "trunks": 3}, "trunks: "),
        ({"lines": 3}, "account_id: "),
    ):
        with pytest.raises(DefinitionError) as err:
            parse_account_settings(bad)
        assert str(err.value).startswith(field), err.value
