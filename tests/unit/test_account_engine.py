"""SPEC 8 and 9 in the engine: the account round over shared lines, inbound calls, limits and
presets across campaigns, end dates, callbacks and skipped calls; driven as `simulate --account`."""

from __future__ import annotations

from typing import Any

from campaigns.contacts import Contact
from campaigns.events import (
    CallOutcome,
    Command,
    CommandKind,
    ContactFinal,
    InboundCall,
    StatusChanged,
)
from campaigns.models import AccountSettings
from campaigns.simulate import CampaignRun, Driver, ScriptedCall, SimDialer
from campaigns.testing import definition
from campaigns.windows import US, iso
from tests.helpers import at, contact

START = at(2026, 12, 1, 14, 0)  # 09:00 in New York and Miami
MIN = 60 * US


def person(n: int, number: str | None = None, alternates: list[str] | None = None) -> Contact:
    c = contact(n, alternates)
    return c if number is None else Contact(c.contact_id, c.row, number, c.alternates, c.variables)


def camp(
    campaign_id: str,
    contacts: list[Contact],
    script: dict[tuple[str, int], ScriptedCall] | None = None,
    default: ScriptedCall = ScriptedCall("no_answer", 30 * US),
    commands: list[tuple[int, Command]] | None = None,
    **rules: Any,
) -> CampaignRun:
    d = definition(campaign_id, **{"concurrent_calls": 2, **rules})
    return CampaignRun(d, contacts, [], commands, SimDialer(script=script or {}, default=default))


def simulate(
    *runs: CampaignRun,
    lines: int | None = None,
    inbound: list[tuple[int, InboundCall]] | None = None,
    inbound_max_minutes: float = 240,
    dnc: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    settings = AccountSettings(
        account_id="acme", lines=lines, inbound_max_minutes=inbound_max_minutes
    )
    driver = Driver(
        "acme",
        sorted(runs, key=lambda r: r.campaign_id),
        START,
        dnc=dnc,
        until_us=START + 3 * 86_400 * US,
        settings=settings,
        inbound=sorted(inbound or [], key=lambda x: (x[0], x[1].ended)),
    )
    return list(driver.lines(summary=False, with_campaign=True))


def creates(lines: list[dict[str, Any]], when: int | None = None) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line["type"] == "call.create" and (when is None or line["at"] == iso(when))
    ]


def finals(lines: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, int, str]]:
    return {
        (f["campaign_id"], f["contact_id"]): (f["status"], f["attempts"], f["at"])
        for f in lines
        if f["type"] == "contact.final"
    }


LONG = ScriptedCall("answered", 10 * MIN)


def test_higher_priority_takes_the_lines_first() -> None:
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 4)], default=LONG, priority=5),
        camp("b", [contact(i) for i in range(1, 4)], default=LONG, priority=8),
        lines=2,
    )
    assert [c["campaign_id"] for c in creates(lines, START)] == ["b", "b"]
    # b's third contact takes the first line that frees, a waits for b to be done
    assert [c["campaign_id"] for c in creates(lines, START + 10 * MIN)] == ["b", "a"]


def test_a_tie_goes_to_fewest_in_flight_then_smaller_id() -> None:
    lines = simulate(
        camp("b", [contact(i) for i in range(1, 4)], default=LONG, concurrent_calls=3),
        camp("a", [contact(i) for i in range(1, 4)], default=LONG, concurrent_calls=3),
        lines=3,
    )
    assert [c["campaign_id"] for c in creates(lines, START)] == ["a", "b", "a"]


def test_without_lines_each_campaign_keeps_its_own_limit() -> None:
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 4)], default=LONG),
        camp("b", [contact(i) for i in range(1, 4)], default=LONG),
    )
    assert [c["campaign_id"] for c in creates(lines, START)] == ["a", "b", "a", "b"]


def test_inbound_calls_hold_lines_until_they_end() -> None:
    inbound = [
        (START, InboundCall("in-1", START)),
        (START + 5 * MIN, InboundCall("in-1", START + 5 * MIN, ended=True)),
    ]
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 4)], default=LONG), lines=2, inbound=inbound
    )
    assert len(creates(lines, START)) == 1
    assert len(creates(lines, START + 5 * MIN)) == 1


def test_an_inbound_call_with_no_end_is_over_at_its_cut_off() -> None:
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 3)], default=LONG),
        lines=1,
        inbound=[(START, InboundCall("in-1", START))],
        inbound_max_minutes=3,
    )
    assert [c["at"] for c in creates(lines)] == [iso(START + 3 * MIN), iso(START + 13 * MIN)]


def test_an_inbound_call_heard_late_is_cut_off_from_its_own_start() -> None:
    """SPEC 8: the line is held on [start, start + inbound_max_minutes), however late the
    engine hears of the start; one that started long enough ago holds nothing."""
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 3)], default=LONG),
        lines=1,
        inbound=[(START, InboundCall("in-1", START - MIN))],
        inbound_max_minutes=3,
    )
    assert creates(lines)[0]["at"] == iso(START + 2 * MIN)
    over = simulate(
        camp("a", [contact(1)], default=LONG),
        lines=1,
        inbound=[(START, InboundCall("in-1", START - 3 * MIN))],
        inbound_max_minutes=3,
    )
    assert creates(over)[0]["at"] == iso(START)


def test_an_end_without_a_start_changes_nothing() -> None:
    lines = simulate(
        camp("a", [contact(i) for i in range(1, 3)], default=LONG),
        lines=1,
        inbound=[(START, InboundCall("ghost", START, ended=True))],
    )
    assert len(creates(lines, START)) == 1


def test_inbound_free_slots_count_twice_with_lines() -> None:
    # L = 3 - 1 = 2, and one line of the two is left free for inbound: one call.
    lines = simulate(
        camp(
            "a",
            [contact(i) for i in range(1, 4)],
            default=LONG,
            concurrent_calls=3,
            inbound_free_slots=1,
        ),
        lines=2,
    )
    assert len(creates(lines, START)) == 1


FLORIDA = "+13055550001"


def test_a_preset_counts_the_calls_of_every_campaign_of_the_account() -> None:
    runs = [camp(cid, [person(1, FLORIDA)], default=LONG) for cid in ("a", "b", "c")]
    runs.append(camp("d", [person(1, FLORIDA)], default=LONG, compliance=["us_tcpa"]))
    lines = simulate(*runs)
    assert [c["campaign_id"] for c in creates(lines, START)] == ["a", "b", "c"]
    [later] = [c for c in creates(lines) if c["campaign_id"] == "d"]
    assert later["at"] >= iso(START + 24 * 60 * MIN)


def test_an_across_account_limit_counts_other_campaigns_calls() -> None:
    limit = {"scope": "number", "max_calls": 1, "period_hours": 1, "across": "account"}
    own = {"scope": "number", "max_calls": 1, "period_hours": 1}
    lines = simulate(
        camp("a", [person(1, FLORIDA)], default=LONG),
        camp("b", [person(1, FLORIDA)], default=LONG, attempt_limits=[limit]),
        camp("c", [person(1, FLORIDA)], default=LONG, attempt_limits=[own]),
    )
    at_start = creates(lines, START)
    assert [c["campaign_id"] for c in at_start] == ["a", "c"]
    [b] = [c for c in creates(lines) if c["campaign_id"] == "b"]
    assert b["at"] == iso(START + 60 * MIN)


def test_ends_at_expires_waiting_contacts_and_refuses_a_late_start() -> None:
    lines = simulate(
        camp(
            "a",
            [contact(1)],
            max_retries=3,
            retry_delay_minutes=1,
            ends_at=iso(START + 90 * US),
        ),
        camp(
            "b",
            [contact(1)],
            commands=[(START + 2 * MIN, Command("k", CommandKind.start))],
            ends_at=iso(START + MIN),
        ),
    )
    assert finals(lines)[("a", "row-1")] == ("expired", 1, iso(START + 90 * US))
    [rejected] = [x for x in lines if x["type"] == "command.rejected"]
    assert rejected["campaign_id"] == "b" and "ended at" in rejected["reason"]
    statuses = [(x["campaign_id"], x["status"]) for x in lines if x["type"] == "campaign.status"]
    assert ("a", "completed") in statuses


def test_a_retry_asked_after_ends_at_expires_and_contacts_arriving_late_too() -> None:
    from campaigns.engine import Engine
    from campaigns.store import MemoryStore, StaticDirectory

    engine = Engine(MemoryStore(), StaticDirectory())
    d = definition(
        "a", concurrent_calls=1, max_retries=1, retry_delay_minutes=1, ends_at=iso(START + MIN)
    )
    create = Command("k0", CommandKind.create, definition=d, expected_contacts=2)
    engine.step_campaign("a", START, contacts=[contact(1)], commands=[create])
    engine.step_campaign("a", START, commands=[Command("k1", CommandKind.start)])
    out = engine.step_campaign("a", START + 2 * MIN, contacts=[contact(2)])
    assert [(e.contact_id, e.status) for e in out if isinstance(e, ContactFinal)] == [
        ("row-2", "expired")
    ]
    out = engine.step_campaign(
        "a", START + 3 * MIN, outcomes=[CallOutcome("a/row-1/1", "no_answer")]
    )  # would wait for a retry: expired instead
    assert [(e.contact_id, e.status) for e in out if isinstance(e, ContactFinal)] == [
        ("row-1", "expired")
    ]
    assert isinstance(out[-1], StatusChanged) and out[-1].status == "completed"


def test_a_callback_uses_the_same_number_and_caller_id_and_comes_first() -> None:
    caller_ids = {"numbers": ["+15550100001", "+15550100002"], "strategy": "rolling"}
    script = {
        ("row-1", 1): ScriptedCall("no_answer", 10 * US),
        ("row-1", 2): ScriptedCall("answered", 10 * US, callback_at_us=START + 30 * MIN),
        ("row-1", 3): ScriptedCall("answered", 10 * US),
        ("row-2", 1): ScriptedCall("busy", 10 * US),
    }
    lines = simulate(
        camp(
            "a",
            [contact(1, ["+12125559999"]), contact(2)],
            script=script,
            concurrent_calls=1,
            max_retries=1,
            retry_delay_minutes=30,
            caller_ids=caller_ids,
        )
    )
    calls = {(c["contact_id"], c["attempt"]): c for c in creates(lines)}
    second, callback = calls[("row-1", 2)], calls[("row-1", 3)]
    assert (callback["to"], callback["from"]) == (second["to"], second["from"])
    assert callback["to"] == "+12125559999" and callback["variables"] == second["variables"]
    # asked for 14:30 at 14:30:20, it is due then, with row-2's retry: callbacks come first
    assert callback["at"] == iso(START + 30 * MIN + 20 * US)
    assert calls[("row-2", 2)]["at"] > callback["at"]
    assert finals(lines)[("a", "row-1")][:2] == ("reached", 3)
    printed = [x for x in lines if x["type"] == "call.outcome" and x["call_id"] == "a/row-1/2"]
    assert printed[0]["callback_at"] == iso(START + 30 * MIN)


def test_callbacks_stop_at_max_callbacks_and_add_an_attempt_each() -> None:
    ask = ScriptedCall("answered", 10 * US, callback_at_us=START + 5 * MIN)
    lines = simulate(camp("a", [contact(1)], default=ask, max_callbacks=2))
    assert finals(lines)[("a", "row-1")][:2] == ("reached", 3)
    lines = simulate(camp("a", [contact(1)], default=ask, max_callbacks=0))
    assert finals(lines)[("a", "row-1")][:2] == ("reached", 1)


def test_a_callback_to_an_alternate_now_on_the_list_is_an_ordinary_attempt() -> None:
    alternate = "+12125559999"
    script = {
        ("row-1", 1): ScriptedCall("no_answer", 10 * US),
        ("row-1", 2): ScriptedCall("answered", 10 * US, callback_at_us=START + 60 * MIN),
    }
    opt_out = {("row-1", 1): ScriptedCall("answered", 20 * MIN, opt_out=True)}
    lines = simulate(
        camp("a", [contact(1, [alternate])], script=script, max_retries=1, retry_delay_minutes=1),
        camp("b", [person(1, alternate)], script=opt_out),
    )
    [third] = [c for c in creates(lines) if c["campaign_id"] == "a" and c["attempt"] == 3]
    assert third["to"] == contact(1).phone_number and third["at"] == iso(START + 60 * MIN)


def test_a_skipped_call_ends_its_contact_whatever_retries_remain() -> None:
    lines = simulate(
        camp(
            "a",
            [contact(1)],
            default=ScriptedCall("skipped", 0),
            max_retries=2,
            retry_delay_minutes=1,
        )
    )
    assert finals(lines)[("a", "row-1")] == ("skipped", 1, iso(START + 1000))


def test_a_campaign_waiting_for_a_line_looks_when_one_is_free_even_if_it_loses() -> None:
    """SPEC 8: every campaign that passes the tests before the last looks for its next call,
    so its do-not-call contact is suppressed then, though a higher priority takes the line."""
    inbound = [
        (START, InboundCall("in-1", START)),
        (START + 5 * MIN, InboundCall("in-1", START + 5 * MIN, ended=True)),
    ]
    lines = simulate(
        camp("a", [contact(1), contact(2)], default=LONG, priority=9),
        camp("b", [contact(1), contact(2)], default=LONG, priority=1),
        lines=1,
        inbound=inbound,
        dnc=frozenset({contact(1).phone_number}),
    )
    assert creates(lines, START) == []
    assert finals(lines)[("b", "row-1")] == ("suppressed", 0, iso(START + 5 * MIN))
    assert finals(lines)[("a", "row-1")][0] == "suppressed"
    assert [c["campaign_id"] for c in creates(lines, START + 5 * MIN)] == ["a"]


def test_the_launch_preview_counts_the_accounts_earlier_calls_for_presets() -> None:
    later = [(START + 5 * MIN, Command("k", CommandKind.start))]
    runs = [camp(cid, [person(1, FLORIDA)], default=LONG) for cid in ("a", "b", "c")]
    runs.append(camp("d", [person(1, FLORIDA)], commands=later, compliance=["us_tcpa"]))
    driver = Driver(
        "acme", sorted(runs, key=lambda r: r.campaign_id), START, until_us=START + 10 * MIN
    )
    lines = list(driver.lines(summary=True, with_campaign=True))
    [d] = [x for x in lines if x["type"] == "summary" and x["campaign_id"] == "d"]
    assert d["preview"]["preset:us_tcpa"] == 1 and d["preview"]["callable"] == 0


def test_contacts_of_a_campaign_created_at_its_end_date_expire_at_once() -> None:
    lines = simulate(camp("a", [contact(1)], ends_at=iso(START)))
    assert finals(lines)[("a", "row-1")] == ("expired", 0, iso(START))
    [rejected] = [x for x in lines if x["type"] == "command.rejected"]
    assert rejected["command"] == "start"
