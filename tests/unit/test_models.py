import pytest

from campaigns.models import DefinitionError, parse_definition

BASE = {
    "campaign_id": "spring-renewals",
    "account_id": "acme",
    "name": "Spring renewals",
    "agent": {"id": "bot", "prompt": "Hi {{customer_name}}, about your {{ plan }} plan."},
    "source_number": "+15550100000",
    "variable_mapping": {"name": "customer_name", "plan_name": "plan", "x": "nope"},
    "rules": {"timezone": "America/New_York", "concurrent_calls": 10},
}


def with_rules(**rules: object) -> dict[str, object]:
    return {**BASE, "rules": {**BASE["rules"], **rules}}  # type: ignore[dict-item]


def error_of(data: dict[str, object]) -> str:
    with pytest.raises(DefinitionError) as err:
        parse_definition(data)
    return str(err.value)


def test_defaults_are_the_spec_defaults() -> None:
    d = parse_definition(BASE)
    r = d.rules
    assert r.max_retries == 0 and r.retry_delay_minutes is None
    assert r.calling_days == ["mon", "tue", "wed", "thu", "fri"]
    assert (r.calling_window.start, r.calling_window.end) == ("09:00", "19:00")
    assert r.inbound_free_slots == 0 and r.caller_ids is None
    assert r.alternate_strategy == "rolling"
    assert r.retry_on == ["no_answer", "busy", "failed", "voicemail", "timeout"]
    assert r.max_call_minutes == 60 and r.contact_local_time.enabled is False
    assert (r.contact_local_time.window.start, r.contact_local_time.window.end) == (
        "08:00",
        "21:00",
    )
    assert d.default_region == "US"


def test_agent_variables_and_mapping_report() -> None:
    d = parse_definition(BASE)
    assert d.agent.variables == ["customer_name", "plan"]
    report = d.mapping_report(["name", "plan_name", "x", "extra"])
    assert report.mapped == {
        "name": "customer_name",
        "plan_name": "plan",
        "x": "nope",
        "extra": "extra",
    }
    assert report.unknown_targets == ["nope"]
    assert report.unfed_variables == []
    assert report.unmapped_columns == ["extra"]
    assert parse_definition(BASE).mapping_report(["name"]).unfed_variables == ["plan"]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            {"inbound_free_slots": 10},
            "rules.inbound_free_slots: concurrent_calls - inbound_free_slots must be >= 1",
        ),
        ({"max_retries": 2}, "rules.retry_delay_minutes: required when max_retries > 0"),
        ({"timezone": "Mars/Base"}, "rules.timezone: unknown IANA time zone 'Mars/Base'"),
        (
            {"calling_window": {"start": "19:00", "end": "09:00"}},
            "rules.calling_window: start must be before end",
        ),
        (
            {"calling_window": {"start": "9am", "end": "19:00"}},
            "rules.calling_window.start: must be HH:MM",
        ),
        ({"calling_days": ["mon", "funday"]}, "rules.calling_days: unknown day 'funday'"),
        (
            {"concurrent_calls": 0},
            "rules.concurrent_calls: Input should be greater than or equal to 1",
        ),
        (
            {"retry_delay_minutes": -1},
            "rules.retry_delay_minutes: Input should be greater than or equal to 0",
        ),
        ({"retry_on": ["answered", "weird"]}, "rules.retry_on: unknown call status 'weird'"),
    ],
)
def test_rule_errors_name_the_field_and_the_rule(rules: dict[str, object], expected: str) -> None:
    assert expected in error_of(with_rules(**rules))


def test_top_level_errors() -> None:
    assert "campaign_id: must match" in error_of({**BASE, "campaign_id": "Bad ID"})
    assert "source_number: source_number must be an E.164" in error_of(
        {**BASE, "source_number": "555-0100"}
    )
    assert "name: Field required" in error_of({k: v for k, v in BASE.items() if k != "name"})
    assert "rules.caller_ids.numbers: numbers[1] must be an E.164" in error_of(
        with_rules(caller_ids={"numbers": ["+15550100001", "x"], "strategy": "rolling"})
    )


def test_end_of_day_window_and_fractional_delay_are_valid() -> None:
    d = parse_definition(
        with_rules(
            calling_window={"start": "00:00", "end": "24:00"},
            max_retries=1,
            retry_delay_minutes=0.5,
        )
    )
    assert d.rules.calling_window.end_minute == 1440
    assert d.rules.retry_delay_minutes == 0.5
