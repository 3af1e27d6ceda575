"""Opt-outs and do-not-call lists per account (SPEC section 7, "Opt-out"; section 5)."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.contacts import Alternate, Contact
from campaigns.engine import Engine
from campaigns.events import (
    CallCreated,
    CallOutcome,
    Command,
    CommandKind,
    ContactFinal,
    Event,
    NumberOptedOut,
    OutcomeRecorded,
)
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.windows import US
from tests.helpers import at, contact, definition

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)
MIN = 60 * US


def simulate(
    contacts: list[Contact],
    script: dict[tuple[str, int], ScriptedCall],
    default: ScriptedCall = ScriptedCall("no_answer", 30 * US),
    **rules: Any,
) -> tuple[Simulation, list[dict[str, Any]]]:
    sim = Simulation(
        definition=definition(**rules),
        contacts=contacts,
        rejections=[],
        start_us=START,
        dialer=SimDialer(script=script, default=default),
    )
    return sim, list(sim.run(summary=True))


def of(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == kind]


def finals(lines: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {f["contact_id"]: (f["status"], f["attempts"]) for f in of(lines, "contact.final")}


def opted(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.account_id, e.number) for e in events if isinstance(e, NumberOptedOut)]


def test_an_answered_call_with_opt_out_ends_opted_out_and_lists_the_number() -> None:
    sim, lines = simulate(
        [contact(1), contact(2)],
        {("row-1", 1): ScriptedCall("answered", 40 * US, opt_out=True)},
        default=ScriptedCall("answered", 20 * US),
        max_retries=2,
        retry_delay_minutes=1,
    )
    assert finals(lines) == {"row-2": ("reached", 1), "row-1": ("opted_out", 1)}
    outcome = next(o for o in of(lines, "call.outcome") if o["call_id"] == "c1/row-1/1")
    assert outcome == {
        "at": "2026-12-01T14:00:40.000Z",
        "type": "call.outcome",
        "call_id": "c1/row-1/1",
        "status": "answered",
        "opt_out": True,
    }
    assert "opt_out" not in next(o for o in of(lines, "call.outcome") if o is not outcome)
    assert lines[-1]["contacts"]["opted_out"] == 1
    directory = sim.engine.directory
    assert directory.is_blocked("acme", "+12125550001")
    assert not directory.is_blocked("other", "+12125550001")


def test_a_no_answer_with_opt_out_ends_the_contact_whatever_retries_remain() -> None:
    _, lines = simulate(
        [contact(1)],
        {("row-1", 1): ScriptedCall("no_answer", 30 * US, opt_out=True)},
        max_retries=3,
        retry_delay_minutes=1,
    )
    assert finals(lines) == {"row-1": ("opted_out", 1)}
    assert len(of(lines, "call.create")) == 1
    assert of(lines, "campaign.status")[-1]["status"] == "completed"


def start_for(
    engine: Engine, cid: str, account: str, contacts: list[Contact], now: int = START, **rules: Any
) -> list[Event]:
    d = definition(**rules).model_copy(update={"campaign_id": cid, "account_id": account})
    return engine.step_campaign(
        cid,
        now,
        contacts=contacts,
        commands=[
            Command(
                f"{cid}-create", CommandKind.create, definition=d, expected_contacts=len(contacts)
            ),
            Command(f"{cid}-start", CommandKind.start),
        ],
    )


def test_an_opt_out_after_the_call_timed_out_is_still_honoured() -> None:
    engine = Engine(MemoryStore(), StaticDirectory())
    start_for(
        engine,
        "c1",
        "acme",
        [contact(1)],
        max_retries=1,
        retry_delay_minutes=30,
        max_call_minutes=1,
    )
    timed_out = engine.step_campaign("c1", START + MIN)
    assert [(e.status, e.applied) for e in timed_out if isinstance(e, OutcomeRecorded)] == [
        ("timeout", True)
    ]
    late = engine.step_campaign(
        "c1", START + 2 * MIN, outcomes=[CallOutcome("c1/row-1/1", "busy", True)]
    )
    assert [(e.status, e.applied, e.opt_out) for e in late if isinstance(e, OutcomeRecorded)] == [
        ("busy", False, True)
    ]
    assert opted(late) == [("acme", "+12125550001")]
    assert [(e.contact_id, e.status.value) for e in late if isinstance(e, ContactFinal)] == [
        ("row-1", "opted_out")
    ]
    # The retry that was due at the timeout + 30 min is never made.
    assert not [
        e for e in engine.step_campaign("c1", START + 40 * MIN) if isinstance(e, CallCreated)
    ]
    assert engine.next_wake_us("c1") is None


def test_an_opt_out_on_a_duplicate_outcome_is_honoured() -> None:
    directory = StaticDirectory()
    engine = Engine(MemoryStore(), directory)
    start_for(
        engine,
        "c1",
        "acme",
        [contact(1, alternates=["+12125559002"])],
        max_retries=2,
        retry_delay_minutes=1,
    )
    engine.step_campaign("c1", START + 10 * US, outcomes=[CallOutcome("c1/row-1/1", "no_answer")])
    second = engine.step_campaign("c1", START + 10 * US + MIN)
    assert [e.to for e in second if isinstance(e, CallCreated)] == ["+12125559002"]
    engine.step_campaign("c1", START + 20 * US + MIN, outcomes=[CallOutcome("c1/row-1/2", "busy")])
    # The dialer reports attempt 2 again, now with the opt-out: attempt 2 dialled the alternate.
    dup = engine.step_campaign(
        "c1", START + 30 * US + MIN, outcomes=[CallOutcome("c1/row-1/2", "busy", opt_out=True)]
    )
    assert opted(dup) == [("acme", "+12125559002")]
    assert [e.status.value for e in dup if isinstance(e, ContactFinal)] == ["opted_out"]
    assert directory.is_blocked("acme", "+12125559002")
    assert not directory.is_blocked("acme", "+12125550001")
    # A final contact stays final; the number still joins the list.
    again = engine.step_campaign(
        "c1", START + 40 * US + MIN, outcomes=[CallOutcome("c1/row-1/1", "answered", opt_out=True)]
    )
    assert opted(again) == [("acme", "+12125550001")]
    assert not [e for e in again if isinstance(e, ContactFinal)]


def test_an_alternate_equal_to_an_opted_out_number_is_left_out() -> None:
    shared = "+12125559002"
    row1 = Contact("row-1", 1, shared, [], {"name": "A"})
    row2 = contact(2, alternates=[shared, "+12125559003"])
    _, lines = simulate(
        [row1, row2],
        {("row-1", 1): ScriptedCall("answered", 10 * US, opt_out=True)},
        max_retries=1,
        retry_delay_minutes=1,
    )
    assert finals(lines)["row-1"] == ("opted_out", 1)
    # row-2's second attempt would dial the first alternate; it is on the list now.
    assert [c["to"] for c in of(lines, "call.create") if c["contact_id"] == "row-2"] == [
        "+12125550002",
        "+12125559003",
    ]


def test_other_campaigns_of_the_account_suppress_it_other_accounts_do_not() -> None:
    engine = Engine(MemoryStore(), StaticDirectory())
    number = "+12125550001"
    start_for(engine, "c1", "acme", [contact(1)])
    out = engine.step_campaign(
        "c1", START + 5 * US, outcomes=[CallOutcome("c1/row-1/1", "answered", True)]
    )
    assert opted(out) == [("acme", number)]
    # Another campaign of the same account: the contact whose primary it is is suppressed,
    # a contact with it as alternate dials its other numbers.
    other = Contact("k2", 2, "+12125550099", [], {"name": "B"})
    with_alt = contact(3, alternates=[number])
    first = start_for(
        engine,
        "c2",
        "acme",
        [contact(1), other, with_alt],
        START + MIN,
        concurrent_calls=5,
        max_retries=1,
        retry_delay_minutes=0,
    )
    assert [(e.contact_id, e.status.value) for e in first if isinstance(e, ContactFinal)] == [
        ("row-1", "suppressed")
    ]
    assert [e.to for e in first if isinstance(e, CallCreated)] == ["+12125550099", "+12125550003"]
    retry = engine.step_campaign(
        "c2", START + 2 * MIN, outcomes=[CallOutcome("c2/row-3/1", "no_answer")]
    )
    assert [e.to for e in retry if isinstance(e, CallCreated)] == ["+12125550003"]
    # Another account is not affected.
    elsewhere = start_for(engine, "c3", "globex", [contact(1)], START + MIN)
    assert [e.to for e in elsewhere if isinstance(e, CallCreated)] == [number]


def test_the_global_list_applies_to_every_account() -> None:
    engine = Engine(MemoryStore(), StaticDirectory(blocked={"+12125550001"}))
    for cid, account in (("c1", "acme"), ("c2", "globex")):
        out = start_for(engine, cid, account, [contact(1), contact(2)])
        assert [(e.contact_id, e.status.value) for e in out if isinstance(e, ContactFinal)] == [
            ("row-1", "suppressed")
        ]
        assert [e.to for e in out if isinstance(e, CallCreated)] == ["+12125550002"]


def test_an_account_list_entry_suppresses_only_that_account() -> None:
    directory = StaticDirectory(by_account={"acme": {"+12125550001"}})
    engine = Engine(MemoryStore(), directory)
    acme = start_for(engine, "c1", "acme", [contact(1)])
    globex = start_for(engine, "c2", "globex", [contact(1)])
    assert [e.status.value for e in acme if isinstance(e, ContactFinal)] == ["suppressed"]
    assert [e.to for e in globex if isinstance(e, CallCreated)] == ["+12125550001"]


def test_a_held_opt_out_is_applied_when_its_call_is_made() -> None:
    """An outcome replayed before its call keeps its opt_out until the call is made again."""
    directory = StaticDirectory()
    engine = Engine(MemoryStore(), directory)
    d = definition(concurrent_calls=1, max_retries=2, retry_delay_minutes=1)
    engine.step_campaign("c1", START, contacts=[contact(1)])
    engine.step_campaign(
        "c1", START, commands=[Command("k0", CommandKind.create, definition=d, expected_contacts=1)]
    )
    engine.step_campaign(
        "c1",
        START + US,
        outcomes=[
            CallOutcome("c1/row-1/1", "answered"),
            CallOutcome("c1/row-1/1", "answered", opt_out=True),  # a repeat: its opt-out counts
        ],
    )
    out = engine.step_campaign("c1", START + 2 * US, commands=[Command("k1", CommandKind.start)])
    assert opted(out) == [("acme", "+12125550001")]
    assert [e.status.value for e in out if isinstance(e, ContactFinal)] == ["opted_out"]


def test_an_opt_out_of_a_cancelled_contact_still_lists_the_number() -> None:
    directory = StaticDirectory()
    engine = Engine(MemoryStore(), directory)
    start_for(engine, "c1", "acme", [contact(1)])
    engine.step_campaign("c1", START + US, commands=[Command("k9", CommandKind.cancel)])
    out = engine.step_campaign(
        "c1", START + 2 * US, outcomes=[CallOutcome("c1/row-1/1", "answered", True)]
    )
    assert opted(out) == [("acme", "+12125550001")]
    assert not [e for e in out if isinstance(e, ContactFinal)]
    assert directory.is_blocked("acme", "+12125550001")


def test_a_late_opt_out_of_an_earlier_attempt_takes_its_calls_turn() -> None:
    """Outcomes at one instant go by their calls' creation (SPEC section 5), late ones too:
    row-1's late outcome (call made 14:00:05) comes before row-3's late opt-out of its
    first attempt (call made 14:00:06), although row-3 has made a second call since."""
    from tests.property.reference import reference

    sim = Simulation(
        definition=definition(
            max_retries=1, retry_delay_minutes=0, max_call_minutes=1, concurrent_calls=2
        ),
        contacts=[contact(1), contact(2), contact(3)],
        rejections=[],
        start_us=START,
        dialer=SimDialer(
            script={
                ("row-1", 1): ScriptedCall("no_answer", 5 * US),
                ("row-1", 2): ScriptedCall("no_answer", 115 * US),  # late: timed out 14:01:05
                ("row-2", 1): ScriptedCall("answered", 6 * US),
                ("row-3", 1): ScriptedCall("busy", 114 * US, opt_out=True),  # late, at 14:02
                ("row-3", 2): ScriptedCall("none", 0),
            }
        ),
        until_us=at(2026, 12, 2, 0, 0),
    )
    lines = list(sim.run())
    at_two = [(x["type"], x.get("call_id") or x.get("contact_id")) for x in lines][-4:]
    assert at_two == [
        ("call.outcome", "c1/row-1/2"),
        ("call.outcome", "c1/row-3/1"),
        ("contact.final", "row-3"),
        ("campaign.status", None),
    ]
    assert lines == reference(sim)


def test_an_opt_out_reaches_a_contact_parked_for_good_by_its_local_time() -> None:
    """row-1's local window (New York mornings) never meets the campaign's (UTC nights), so
    it is parked with no wake; when row-2's opt-out lists row-1's primary, row-1 comes up in
    the next round and is suppressed (SPEC 5: do-not-call is checked before local time)."""
    tokyo = Contact("row-2", 2, "+12125550002", [Alternate(2, "+12125550001")], {"name": "B"})
    tokyo.timezone = "Asia/Tokyo"
    script = {
        ("row-2", 1): ScriptedCall("busy", 45 * US),
        ("row-2", 2): ScriptedCall("answered", 0, opt_out=True),
    }
    _, lines = simulate(
        [contact(1), tokyo],
        script,
        calling_window={"start": "00:00", "end": "10:00"},
        contact_local_time={"enabled": True, "window": {"start": "10:00", "end": "13:30"}},
        max_retries=1,
        retry_delay_minutes=0,
        concurrent_calls=1,
    )
    opt_out_at = of(lines, "call.outcome")[-1]["at"]
    assert finals(lines) == {"row-1": ("suppressed", 0), "row-2": ("opted_out", 2)}
    assert [f["at"] for f in of(lines, "contact.final") if f["contact_id"] == "row-1"] == [
        opt_out_at
    ]
