"""SPEC section 7, rule by rule, through the same Simulation that `campaignflow simulate` runs."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.compliance import Gate, preview, release_at, remember
from campaigns.contacts import Alternate, Contact
from campaigns.models import DefinitionError, Window
from campaigns.presets import (
    FLORIDA,
    MARYLAND,
    OKLAHOMA,
    RULE_PREFIX_CHARS,
    NumberLimit,
    rule_for,
)
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from campaigns.store import StaticDirectory
from campaigns.windows import US, iso
from tests.helpers import at, definition

pytestmark = pytest.mark.unit

HOUR = 3600 * US


def person(
    n: int, number: str, alternates: list[str] | None = None, tz: str | None = None
) -> Contact:
    return Contact(
        f"k{n}",
        n,
        number,
        [Alternate(i + 2, a) for i, a in enumerate(alternates or [])],
        {"name": f"N{n}"},
        tz,
    )


def simulate(
    contacts: list[Contact],
    start: int,
    default: tuple[str, float] = ("no_answer", 30),
    script: dict[tuple[str, int], tuple[str, float]] | None = None,
    dnc: frozenset[str] = frozenset(),
    **rules: Any,
) -> tuple[list[dict[str, Any]], Simulation]:
    sim = Simulation(
        definition=definition(**rules),
        contacts=contacts,
        rejections=[],
        start_us=start,
        dialer=SimDialer(
            script={k: ScriptedCall(s, int(d * US)) for k, (s, d) in (script or {}).items()},
            default=ScriptedCall(default[0], int(default[1] * US)),
        ),
        dnc=dnc,
        until_us=start + 40 * 24 * HOUR,
    )
    return list(sim.run(summary=True)), sim


def creates(lines: list[dict[str, Any]], contact_id: str | None = None) -> list[str]:
    return [
        line["at"]
        for line in lines
        if line["type"] == "call.create"
        and (contact_id is None or line["contact_id"] == contact_id)
    ]


# ---- windows ---------------------------------------------------------------------------


def test_window_list_touching_at_an_edge_behaves_as_one_window() -> None:
    # 10:00-13:00 + 13:00-14:00: a retry due at 13:00 exactly is called then, not held.
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 1, 12, 59),
        max_retries=2,
        retry_delay_minutes=0.5,
        calling_window=[{"start": "10:00", "end": "13:00"}, {"start": "13:00", "end": "14:00"}],
    )
    assert creates(lines) == [
        "2026-12-01T12:59:00.000Z",
        "2026-12-01T13:00:00.000Z",
        "2026-12-01T13:01:00.000Z",
    ]


def test_window_list_with_a_gap_resumes_when_the_next_window_opens() -> None:
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 1, 12, 59),
        max_retries=1,
        retry_delay_minutes=0.5,
        calling_window=[{"start": "10:00", "end": "13:00"}, {"start": "14:00", "end": "20:00"}],
    )
    assert creates(lines) == ["2026-12-01T12:59:00.000Z", "2026-12-01T14:00:00.000Z"]


def test_calling_hours_per_weekday() -> None:
    # Saturday 2026-12-05 has 10:00-14:00 only; Sunday has nothing; Monday 09:00-19:00.
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 5, 14, 0),
        max_retries=1,
        retry_delay_minutes=1,
        calling_days=None,
        calling_window=None,
        calling_hours={
            "mon": [{"start": "09:00", "end": "19:00"}],
            "sat": [{"start": "10:00", "end": "14:00"}],
        },
    )
    assert creates(lines) == ["2026-12-07T09:00:00.000Z", "2026-12-07T09:01:30.000Z"]


def test_calling_hours_with_calling_days_or_window_is_an_error_naming_both() -> None:
    with pytest.raises(DefinitionError) as err:
        definition(calling_hours={"mon": [{"start": "09:00", "end": "10:00"}]})
    text = str(err.value)
    assert text.startswith("rules.calling_hours:")
    assert "calling_days" in text and "calling_window" in text


# ---- blackout dates and holidays -------------------------------------------------------------


def test_blackout_dates_skip_whole_campaign_days() -> None:
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 24, 8, 0),
        timezone="America/New_York",
        calling_days=["mon", "tue", "wed", "thu", "fri"],
        calling_window={"start": "09:00", "end": "19:00"},
        blackout_dates=["2026-12-24", "2026-12-28"],
        holidays={"country": "US"},
    )
    # 24th blacked out, 25th Christmas, 26-27 weekend, 28th blacked out.
    assert creates(lines) == ["2026-12-29T14:00:00.000Z"]


def test_a_holiday_on_a_weekend_and_its_observed_day_are_both_closed() -> None:
    # 2026-07-04 is a Saturday; the package lists Friday 3rd as observed too.
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 7, 3, 12, 0),
        timezone="America/New_York",
        calling_window={"start": "09:00", "end": "19:00"},
        holidays={"country": "US", "subdivision": "NY"},
    )
    assert creates(lines) == ["2026-07-05T13:00:00.000Z"]


def test_unknown_holiday_country_or_subdivision_names_the_field() -> None:
    with pytest.raises(DefinitionError, match=r"rules\.holidays\.country: unknown holiday country"):
        definition(holidays={"country": "XX"})
    with pytest.raises(DefinitionError, match=r"rules\.holidays\.subdivision: unknown subdivision"):
        definition(holidays={"country": "US", "subdivision": "ZZ"})


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            {
                "calling_window": [
                    {"start": "10:00", "end": "13:00"},
                    {"start": "12:00", "end": "14:00"},
                ]
            },
            "rules.calling_window: windows must not overlap",
        ),
        (
            {
                "calling_window": [
                    {"start": "14:00", "end": "15:00"},
                    {"start": "10:00", "end": "11:00"},
                ]
            },
            "rules.calling_window: windows must be sorted by start",
        ),
        (
            {"calling_window": [{"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(7)]},
            "at most 6",
        ),
        (
            {"calling_window": [{"start": "12:00", "end": "10:00"}]},
            "rules.calling_window.0: start must be before end",
        ),
        (
            {"attempt_limits": [{"scope": "number", "max_calls": 0, "period_hours": 1}]},
            "rules.attempt_limits.0.max_calls",
        ),
        (
            {"attempt_limits": [{"scope": "number", "max_calls": 1, "period_hours": 8785}]},
            "rules.attempt_limits.0.period_hours",
        ),
        (
            {"attempt_limits": [{"scope": "number", "max_calls": 1, "period_hours": 0}]},
            "rules.attempt_limits.0.period_hours",
        ),
        (
            {"attempt_limits": [{"scope": "phone", "max_calls": 1, "period_hours": 1}]},
            "rules.attempt_limits.0.scope",
        ),
        ({"compliance": ["us_tcpa", "gdpr"]}, "rules.compliance.1:"),
        ({"blackout_dates": ["christmas"]}, "rules.blackout_dates: [0] must be a date"),
        (
            {"contact_local_time": {"enabled": True, "window": []}},
            "rules.contact_local_time.window: a list of windows must hold",
        ),
    ],
)
def test_section_7_errors_name_the_field_and_the_rule(rules: dict[str, Any], expected: str) -> None:
    with pytest.raises(DefinitionError) as err:
        definition(**rules)
    assert expected in str(err.value)


# ---- attempt limits ------------------------------------------------------------------------


def test_limit_period_ending_exactly_at_a_window_edge_calls_at_that_edge() -> None:
    # One call per contact per 24 h; window 09:00-10:00. The retry due 09:01 waits for the
    # period to end at 09:00 next day: (t - 24h, t] no longer holds the first call then.
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 1, 9, 0),
        max_retries=1,
        retry_delay_minutes=1,
        calling_window={"start": "09:00", "end": "10:00"},
        attempt_limits=[{"scope": "contact", "max_calls": 1, "period_hours": 24}],
    )
    assert creates(lines) == ["2026-12-01T09:00:00.000Z", "2026-12-02T09:00:00.000Z"]


def test_limit_period_ending_at_the_window_end_waits_for_the_next_opening() -> None:
    lines, _ = simulate(
        [person(1, "+12125550001")],
        at(2026, 12, 1, 9, 0),
        max_retries=1,
        retry_delay_minutes=1,
        calling_window={"start": "09:00", "end": "10:00"},
        attempt_limits=[{"scope": "contact", "max_calls": 1, "period_hours": 1}],
    )
    assert creates(lines) == ["2026-12-01T09:00:00.000Z", "2026-12-02T09:00:00.000Z"]


def test_shared_alternate_numbers_are_counted_together() -> None:
    shared = "+16465550000"
    contacts = [person(1, "+12125550001", [shared]), person(2, "+12125550002", [shared])]
    lines, _ = simulate(
        contacts,
        at(2026, 12, 1, 12, 0),
        max_retries=1,
        retry_delay_minutes=1,
        attempt_limits=[{"scope": "number", "max_calls": 1, "period_hours": 2}],
    )
    to_shared = [(line["at"], line["contact_id"]) for line in lines if line.get("to") == shared]
    assert to_shared == [("2026-12-01T12:01:30.000Z", "k1"), ("2026-12-01T14:01:30.000Z", "k2")]


def test_held_contact_keeps_its_place() -> None:
    # k1's retry is held by its limit; k2 (never called) goes first, k1 comes back later.
    lines, _ = simulate(
        [person(1, "+12125550001"), person(2, "+12125550002")],
        at(2026, 12, 1, 12, 0),
        concurrent_calls=1,
        max_retries=1,
        retry_delay_minutes=0,
        attempt_limits=[{"scope": "contact", "max_calls": 1, "period_hours": 1}],
    )
    order = [
        (line["contact_id"], line["attempt"]) for line in lines if line["type"] == "call.create"
    ]
    assert order == [("k1", 1), ("k2", 1), ("k1", 2), ("k2", 2)]


def test_release_is_when_the_oldest_counted_call_leaves() -> None:
    limit = NumberLimit(2, HOUR)
    assert release_at((0, 10), limit, 20) == HOUR
    assert release_at((0, 10), limit, HOUR) is None  # (now - period, now] excludes 0
    assert release_at((5,), limit, 20) is None


def test_recent_calls_stay_bounded() -> None:
    from campaigns.compliance import Keep

    kept: tuple[int, ...] = ()
    for t in range(0, 100 * HOUR, HOUR):
        kept = remember(kept, t, Keep(24 * HOUR, 3))
    assert kept == (97 * HOUR, 98 * HOUR, 99 * HOUR)
    # The engine forgets a number's calls once no limit can count them any more.
    lines, sim = simulate(
        [person(1, "+12125550001"), person(2, "+12125550002")],
        at(2026, 12, 1, 12, 0),
        script={("k2", 1): ("busy", 30)},
        default=("answered", 30),
        max_retries=1,
        retry_delay_minutes=180,
        attempt_limits=[{"scope": "number", "max_calls": 3, "period_hours": 1}],
    )
    assert creates(lines, "k2") == ["2026-12-01T12:00:00.000Z", "2026-12-01T15:00:30.000Z"]
    store = sim.engine.store
    assert store.get_recent("c1", "+12125550001") == ()  # type: ignore[attr-defined]
    assert store.get_recent("c1", "+12125550002") == (at(2026, 12, 1, 15, 0, 30),)  # type: ignore[attr-defined]


# ---- presets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["+13052223333", "+12125550001", "+33142345678", "+447700900123", "+1", "+3"]
)
@pytest.mark.parametrize("preset", ["us_tcpa", "fr_2022_1313"])
def test_a_preset_reads_only_a_numbers_prefix(preset: str, number: str) -> None:
    """What the account's call log keeps is worked out once per prefix (`account_keep`):
    right only while `rule_for` reads no more of a number than RULE_PREFIX_CHARS."""
    assert rule_for(preset, number) is rule_for(preset, number[:RULE_PREFIX_CHARS])


def test_us_tcpa_by_area_code() -> None:
    assert {"305", "954"} <= FLORIDA and "918" in OKLAHOMA and "240" in MARYLAND
    strict = rule_for(*_us("+13052223333"))
    federal = rule_for(*_us("+12125550001"))
    assert (
        strict is not None
        and strict.local_hours == ((480, 1200),)
        and strict.limit == NumberLimit(3, 24 * HOUR)
    )
    assert federal is not None and federal.local_hours == ((480, 1260),) and federal.limit is None
    assert rule_for(*_us("+33142345678")) is None
    # 20:30 in New York: the Florida number waits until 08:00, the New York one is called.
    lines, _ = simulate(
        [person(1, "+13052223333"), person(2, "+12125550001")],
        at(2026, 12, 2, 1, 30),
        compliance=["us_tcpa"],
    )
    assert creates(lines, "k2") == ["2026-12-02T01:30:00.000Z"]
    assert creates(lines, "k1") == ["2026-12-02T13:00:00.000Z"]


def _us(number: str) -> tuple[Any, str]:
    from campaigns.models import Preset

    return Preset.us_tcpa.value, number


def test_us_tcpa_three_calls_per_number_per_day_in_florida_area_codes() -> None:
    lines, _ = simulate(
        [person(1, "+13052223333")],
        at(2026, 12, 1, 14, 0),
        max_retries=4,
        retry_delay_minutes=1,
        compliance=["us_tcpa"],
    )
    assert creates(lines) == [
        "2026-12-01T14:00:00.000Z",
        "2026-12-01T14:01:30.000Z",
        "2026-12-01T14:03:00.000Z",
        "2026-12-02T14:00:00.000Z",  # 24 h after the first
        "2026-12-02T14:01:30.000Z",
    ]


def test_us_tcpa_on_the_us_daylight_saving_days() -> None:
    # New York: 08:00 local is 13:00Z before 2026-03-08 and 12:00Z on it; 08:00 EST again
    # on 2026-11-01 (13:00Z).
    for day, expected in (
        ((2026, 3, 8), "2026-03-08T12:00:00.000Z"),
        ((2026, 11, 1), "2026-11-01T13:00:00.000Z"),
    ):
        lines, _ = simulate([person(1, "+12125550001")], at(*day, 4, 0), compliance=["us_tcpa"])
        assert creates(lines) == [expected]


def test_us_tcpa_uses_the_csv_timezone_first() -> None:
    lines, _ = simulate(
        [person(1, "+12125550001", tz="America/Los_Angeles")],
        at(2026, 12, 1, 14, 0),  # 06:00 in Los Angeles
        compliance=["us_tcpa"],
    )
    assert creates(lines) == ["2026-12-01T16:00:00.000Z"]


def test_fr_2022_1313_on_the_eu_daylight_saving_days() -> None:
    # Paris 10:00 is 09:00Z on Friday 2026-03-27 (CET) and 08:00Z on Monday 30th (CEST);
    # Sunday 29th (the change) is not a calling day.
    lines, _ = simulate(
        [person(1, "+33142345678")],
        at(2026, 3, 27, 19, 30),
        max_retries=1,
        retry_delay_minutes=1,
        compliance=["fr_2022_1313"],
    )
    assert creates(lines) == ["2026-03-30T08:00:00.000Z", "2026-03-30T08:01:30.000Z"]
    lines, _ = simulate(
        [person(1, "+33142345678")], at(2026, 10, 24, 12, 0), compliance=["fr_2022_1313"]
    )
    assert creates(lines) == ["2026-10-26T09:00:00.000Z"]


def test_fr_2022_1313_lunch_break_holidays_and_other_numbers() -> None:
    # Thursday 2026-05-14 is Ascension Day; Friday 15th 12:30 Paris is the lunch break.
    lines, _ = simulate(
        [person(1, "+33142345678"), person(2, "+12125550001")],
        at(2026, 5, 14, 10, 0),
        compliance=["fr_2022_1313"],
    )
    assert creates(lines, "k2") == ["2026-05-14T10:00:00.000Z"]  # not a French number
    assert creates(lines, "k1") == ["2026-05-15T08:00:00.000Z"]
    lines, _ = simulate(
        [person(1, "+33142345678")], at(2026, 5, 15, 11, 30), compliance=["fr_2022_1313"]
    )
    assert creates(lines) == ["2026-05-15T12:00:00.000Z"]


def test_fr_2022_1313_four_calls_per_number_per_30_days() -> None:
    lines, _ = simulate(
        [person(1, "+33142345678")],
        at(2026, 12, 1, 10, 0),
        max_retries=4,
        retry_delay_minutes=1,
        compliance=["fr_2022_1313"],
    )
    made = creates(lines)
    assert len(made) == 5 and made[3] == "2026-12-01T10:04:30.000Z"
    assert made[4] == "2026-12-31T10:00:00.000Z"  # 720 h after the first call, 11:00 Paris


# ---- the launch preview ------------------------------------------------------------------------


def test_preview_counts_each_contact_by_its_first_blocking_rule() -> None:
    d = definition(
        compliance=["us_tcpa", "fr_2022_1313"],
        contact_local_time={"enabled": True, "window": [{"start": "07:00", "end": "20:30"}]},
    )
    contacts = [
        person(1, "+12125550001"),  # 20:00 in New York: callable
        person(2, "+12125550002"),  # on the do-not-call list
        person(3, "+13052223333"),  # Florida: after 20:00
        person(4, "+33142345678"),  # 02:00 in Paris: local time first
        person(5, "+12125550005", tz="Asia/Tokyo"),  # 10:00 in Tokyo, callable
        person(6, "+12125550006", tz="Pacific/Honolulu"),  # 15:00 there
    ]
    counts = preview(d, contacts, at(2026, 12, 2, 1, 0), StaticDirectory({"+12125550002"}))
    assert counts == {
        "callable": 3,
        "dnc": 1,
        "window": 0,
        "local_time": 1,
        "preset:us_tcpa": 1,
        "preset:fr_2022_1313": 0,
        "attempt_limit": 0,
    }
    closed = definition(calling_window={"start": "09:00", "end": "10:00"})
    assert preview(closed, contacts, at(2026, 12, 2, 1, 0), StaticDirectory({"+12125550002"})) == {
        "callable": 0,
        "dnc": 1,
        "window": 5,
        "local_time": 0,
        "attempt_limit": 0,
    }


def test_simulate_summary_carries_the_preview_at_the_start() -> None:
    lines, _ = simulate(
        [person(1, "+13052223333"), person(2, "+12125550001")],
        at(2026, 12, 2, 1, 30),
        compliance=["us_tcpa"],
    )
    assert lines[-1]["preview"] == {
        "callable": 1,
        "dnc": 0,
        "window": 0,
        "local_time": 0,
        "preset:us_tcpa": 1,
        "attempt_limit": 0,
    }


def test_engine_counts_contacts_each_rule_held_back() -> None:
    _, sim = simulate(
        [person(1, "+13052223333"), person(2, "+12125550001")],
        at(2026, 12, 2, 1, 30),
        max_retries=1,
        retry_delay_minutes=1,
        compliance=["us_tcpa"],
    )
    camp = sim.engine.store.get_campaign("c1")
    assert camp is not None and camp.held_back == {"preset:us_tcpa": 1}


def test_gate_without_section_7_is_inactive() -> None:
    gate = Gate(definition())
    assert not gate.active and not gate.keeps
    assert isinstance(definition().rules.calling_window, Window)
    assert iso(gate.schedule.next_open(at(2026, 12, 1, 0, 0)) or 0) == "2026-12-01T00:00:00.000Z"


def test_campaign_create_summary_shows_the_preview_for_the_start(tmp_path: Any) -> None:
    """The example list through the upload's dry run: the same counts as simulate's summary."""
    import shutil
    from pathlib import Path

    from ingest.summary import tables
    from ingest.upload import upload

    example = Path(__file__).resolve().parents[2] / "examples" / "compliance"
    for name in ("campaign.yaml", "contacts.csv"):
        shutil.copy(example / name, tmp_path / name)
    start = at(2026, 12, 23, 14, 0)
    summary = upload(
        tmp_path / "campaign.yaml",
        tmp_path / "contacts.csv",
        publish=False,
        workers=1,
        preview_at_us=start,
    )
    assert summary.preview == {
        "callable": 4,
        "dnc": 0,
        "window": 0,
        "local_time": 1,  # eve, 06:00 in Los Angeles
        "preset:us_tcpa": 0,
        "preset:fr_2022_1313": 0,
        "attempt_limit": 0,
    }
    assert "Launch preview" in str(tables(summary)[-1].title)
    sim = Simulation(
        definition=summary.definition,
        contacts=[person(i, n) for i, n in enumerate(["+12125550143"])],
        rejections=[],
        start_us=start,
    )
    assert list(sim.run(summary=True))[-1]["preview"]["callable"] == 1


def test_a_wave_of_parked_contacts_is_called_in_row_order() -> None:
    # 21:30 in New York: all 40 contacts are parked by us_tcpa at once and wake together
    # at 08:00 (more than the few the returned list takes one by one).
    contacts = [person(i, f"+1212555{i:04d}") for i in range(40)]
    lines, _ = simulate(
        contacts, at(2026, 12, 2, 2, 30), concurrent_calls=3, compliance=["us_tcpa"]
    )
    first = [line["contact_id"] for line in lines if line["type"] == "call.create"]
    assert first == [f"k{i}" for i in range(40)]
    assert creates(lines)[0] == "2026-12-02T13:00:00.000Z"
