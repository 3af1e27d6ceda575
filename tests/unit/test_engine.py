"""The engine's rules, driven through the same Simulation that `campaignflow simulate` runs."""

from __future__ import annotations

from typing import Any

from campaigns.contacts import Contact
from campaigns.engine import Engine, parse_call_id
from campaigns.events import (
    CallCreated,
    CallOutcome,
    Command,
    CommandKind,
    CommandRejected,
    ContactBatch,
    ContactRejected,
    InputRejected,
    StatusChanged,
)
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.windows import US
from tests.helpers import at, contact, definition

START = at(2026, 12, 1, 14, 0)


def run(
    contacts: list[Contact],
    script: dict[tuple[str, int], tuple[str, float]] | None = None,
    default: tuple[str, float] = ("no_answer", 30),
    commands: list[tuple[int, Command]] | None = None,
    dnc: frozenset[str] = frozenset(),
    until: int | None = None,
    **rules: Any,
) -> list[dict[str, Any]]:
    sim = Simulation(
        definition=definition(**rules),
        contacts=contacts,
        rejections=[],
        start_us=START,
        commands=commands,
        dialer=SimDialer(
            script={k: ScriptedCall(s, int(d * US)) for k, (s, d) in (script or {}).items()},
            default=ScriptedCall(default[0], int(default[1] * US)),
        ),
        dnc=dnc,
        until_us=until,
    )
    return list(sim.run(summary=True))


def of(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == kind]


def finals(lines: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {f["contact_id"]: (f["status"], f["attempts"]) for f in of(lines, "contact.final")}


def test_retry_until_exhausted_with_fractional_delay() -> None:
    lines = run([contact(1)], max_retries=2, retry_delay_minutes=0.25)
    creates = of(lines, "call.create")
    assert [c["at"] for c in creates] == [
        "2026-12-01T14:00:00.000Z",
        "2026-12-01T14:00:45.000Z",  # 30 s call + 15 s delay
        "2026-12-01T14:01:30.000Z",
    ]
    assert finals(lines) == {"row-1": ("exhausted", 3)}
    assert of(lines, "campaign.status")[-1]["status"] == "completed"


def test_answered_reached_and_other_status_failed() -> None:
    lines = run(
        [contact(1), contact(2)],
        script={("row-1", 1): ("answered", 60), ("row-2", 1): ("invalid_number", 1)},
        max_retries=1,
        retry_delay_minutes=1,
    )
    assert finals(lines) == {"row-2": ("failed", 1), "row-1": ("reached", 1)}


def test_concurrency_limit_keeps_inbound_slots_free() -> None:
    lines = run([contact(n) for n in range(1, 6)], concurrent_calls=3, inbound_free_slots=1)
    creates = of(lines, "call.create")
    assert [c["at"][11:19] for c in creates] == [
        "14:00:00",
        "14:00:00",
        "14:00:30",
        "14:00:30",
        "14:01:00",
    ]


def test_no_outcome_times_out_and_late_outcome_changes_nothing() -> None:
    lines = run(
        [contact(1)],
        script={("row-1", 1): ("answered", 120), ("row-1", 2): ("none", 0)},
        max_retries=1,
        retry_delay_minutes=0,
        max_call_minutes=1,
    )
    outcomes = [(o["at"][11:19], o["call_id"], o["status"]) for o in of(lines, "call.outcome")]
    assert outcomes == [
        ("14:01:00", "c1/row-1/1", "timeout"),
        ("14:02:00", "c1/row-1/1", "answered"),  # late: printed, changes nothing
        ("14:02:00", "c1/row-1/2", "timeout"),
    ]
    assert finals(lines) == {"row-1": ("exhausted", 2)}


def test_late_outcome_is_printed_but_changes_nothing() -> None:
    lines = run(
        [contact(1), contact(2)],
        script={("row-1", 1): ("answered", 90), ("row-2", 1): ("busy", 200)},
        max_call_minutes=1,
        concurrent_calls=1,
    )
    # row-1 times out at 14:01; row-2 is then called; row-1's answer at 14:01:30 is a duplicate.
    assert ("c1/row-1/1", "answered") in [
        (o["call_id"], o["status"]) for o in of(lines, "call.outcome")
    ]
    assert finals(lines)["row-1"] == ("exhausted", 1)


def test_outcome_at_the_deadline_beats_the_timeout() -> None:
    lines = run([contact(1)], script={("row-1", 1): ("answered", 60)}, max_call_minutes=1)
    assert [o["status"] for o in of(lines, "call.outcome")] == ["answered"]


def test_alternates_overrides_and_caller_ids() -> None:
    c = contact(1, alternates=["+12125559002", "+12125559003"], name="Ann")
    c.alternates[0].variables["name"] = "Assistant"
    lines = run(
        [c],
        max_retries=3,
        retry_delay_minutes=1,
        alternate_strategy="custom",
        caller_ids={"numbers": ["+15550100001", "+15550100002"], "strategy": "clamp"},
    )
    got = [(x["to"], x["from"], x["variables"]["name"]) for x in of(lines, "call.create")]
    assert got == [
        ("+12125550001", "+15550100001", "Ann"),
        ("+12125559002", "+15550100002", "Assistant"),
        ("+12125559003", "+15550100002", "Ann"),
        ("+12125550001", "+15550100002", "Ann"),
    ]


def test_do_not_call_suppresses_primary_and_drops_alternates() -> None:
    lines = run(
        [contact(1), contact(2, alternates=["+12125559002", "+12125559003"])],
        dnc=frozenset({"+12125550001", "+12125559002"}),
        max_retries=1,
        retry_delay_minutes=1,
    )
    assert finals(lines) == {"row-1": ("suppressed", 0), "row-2": ("exhausted", 2)}
    assert [x["to"] for x in of(lines, "call.create")] == ["+12125550002", "+12125559003"]


def test_window_defers_calls_to_the_next_opening() -> None:
    # Tuesday 14:00 UTC = 09:00 in New York; window 09:00-09:01, retry 5 min later -> next weekday.
    lines = run(
        [contact(1)],
        timezone="America/New_York",
        calling_days=["mon", "tue", "wed", "thu", "fri"],
        calling_window={"start": "09:00", "end": "09:01"},
        max_retries=1,
        retry_delay_minutes=5,
    )
    assert [x["at"] for x in of(lines, "call.create")] == [
        "2026-12-01T14:00:00.000Z",
        "2026-12-02T14:00:00.000Z",
    ]


def test_contact_local_time_passes_over_and_keeps_row_order() -> None:
    west = contact(1)
    west.timezone = "America/Los_Angeles"  # 06:00 there at START
    lines = run(
        [west, contact(2), contact(3)],
        contact_local_time={"enabled": True, "window": {"start": "08:00", "end": "21:00"}},
        concurrent_calls=1,
        default=("answered", 60),
    )
    creates = [(x["contact_id"], x["at"][11:16]) for x in of(lines, "call.create")]
    # row-1 waits until 08:00 in Los Angeles (16:00Z); the New York numbers go first.
    assert creates == [("row-2", "14:00"), ("row-3", "14:01"), ("row-1", "16:00")]


def test_commands_pause_resume_cancel_and_rejections() -> None:
    cmds = [
        (START, Command("k1", CommandKind.start)),
        (START + 10 * US, Command("k2", CommandKind.pause)),
        (START + 20 * US, Command("k3", CommandKind.pause)),
        (START + 120 * US, Command("k4", CommandKind.resume)),
        (START + 150 * US, Command("k5", CommandKind.cancel)),
    ]
    lines = run(
        [contact(n) for n in range(1, 5)],
        commands=cmds,
        concurrent_calls=1,
        default=("answered", 60),
    )
    statuses = [(s["at"][11:19], s["status"]) for s in of(lines, "campaign.status")]
    assert statuses == [
        ("14:00:00", "draft"),
        ("14:00:00", "running"),
        ("14:00:10", "paused"),
        ("14:02:00", "running"),
        ("14:02:30", "cancelled"),
    ]
    assert of(lines, "command.rejected") == [
        {
            "at": "2026-12-01T14:00:20.000Z",
            "type": "command.rejected",
            "command": "pause",
            "reason": "cannot pause a paused campaign",
        }
    ]
    # row-1 answered at 14:01 while paused; row-2 called on resume; the rest cancelled.
    assert [x["contact_id"] for x in of(lines, "call.create")] == ["row-1", "row-2"]
    assert finals(lines) == {
        "row-1": ("reached", 1),
        "row-2": ("cancelled", 1),
        "row-3": ("cancelled", 0),
        "row-4": ("cancelled", 0),
    }


def test_schedule_starts_at_its_time_and_in_the_past_at_once() -> None:
    later = START + 3600 * US
    cmds = [(START, Command("k1", CommandKind.schedule, start_at_us=later))]
    lines = run([contact(1)], commands=cmds, default=("answered", 1))
    assert [(s["at"][11:16], s["status"]) for s in of(lines, "campaign.status")][:3] == [
        ("14:00", "draft"),
        ("14:00", "scheduled"),
        ("15:00", "running"),
    ]
    past = [(START, Command("k1", CommandKind.schedule, start_at_us=START - US))]
    lines = run([contact(1)], commands=past, default=("answered", 1))
    assert [s["status"] for s in of(lines, "campaign.status")][:3] == [
        "draft",
        "scheduled",
        "running",
    ]


def test_empty_campaign_completes_when_started() -> None:
    lines = run([])
    assert [s["status"] for s in of(lines, "campaign.status")] == ["draft", "running", "completed"]


def test_subscription_and_repeated_command_ids() -> None:
    store = MemoryStore()
    engine = Engine(store, StaticDirectory(inactive={"acme"}))
    d = definition()
    engine.step_campaign(
        "c1", START, commands=[Command("k0", CommandKind.create, definition=d, expected_contacts=0)]
    )
    out = engine.step_campaign(
        "c1", START, commands=[Command("k1", CommandKind.start), Command("k1", CommandKind.start)]
    )
    assert [type(e) for e in out] == [CommandRejected]
    assert isinstance(out[0], CommandRejected) and "no active subscription" in out[0].reason


def test_contacts_before_create_and_replayed_contacts() -> None:
    d = definition(concurrent_calls=5)
    store = MemoryStore()
    engine = Engine(store, StaticDirectory())
    engine.step_campaign("c1", START, contacts=[contact(1), contact(2)])
    engine.step_campaign("c1", START, contacts=[contact(1)])  # a replay adds nothing
    out = engine.step_campaign(
        "c1",
        START,
        commands=[
            Command("k0", CommandKind.create, definition=d, expected_contacts=3),
            Command("k1", CommandKind.start),
        ],
    )
    assert [e.contact_id for e in out if isinstance(e, CallCreated)] == ["row-1", "row-2"]
    out = engine.step_campaign("c1", START + US, contacts=[contact(3)])
    calls = [e for e in out if isinstance(e, CallCreated)]
    assert [c.call_id for c in calls] == ["c1/row-3/1"]
    assert parse_call_id("c1", calls[0].call_id) == ("row-3", 1)
    assert not any(isinstance(e, StatusChanged) and e.status == "completed" for e in out)


def test_batches_replays_are_ignored_and_known_ids_do_not_block_completion() -> None:
    store = MemoryStore()
    engine = Engine(store, StaticDirectory())
    d = definition(concurrent_calls=5)
    engine.step_campaign("c1", START, batches=[ContactBatch("b1", [contact(1), contact(2)])])
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("b1", [contact(1), contact(2)])]
    )  # a replay
    out = engine.step_campaign(
        "c1",
        START,
        commands=[
            Command("k0", CommandKind.create, definition=d, expected_contacts=2),
            Command("k1", CommandKind.start),
        ],
    )
    assert len([e for e in out if isinstance(e, CallCreated)]) == 2
    # Someone adds row-2 again (a new batch) and counts it: it is refused, and counted.
    out = engine.step_campaign("c1", START + US, batches=[ContactBatch("b2", [contact(2)])])
    assert [e.reason for e in out if isinstance(e, ContactRejected)] == [
        "contact_id 'row-2' is already in the campaign"
    ]
    engine.step_campaign(
        "c1", START + US, commands=[Command("k2", CommandKind.add_contacts, count=1)]
    )
    out = engine.step_campaign(
        "c1",
        START + 2 * US,
        outcomes=[CallOutcome("c1/row-1/1", "answered"), CallOutcome("c1/row-2/1", "answered")],
    )
    assert [e.status for e in out if isinstance(e, StatusChanged)] == ["completed"]


def test_equal_retry_due_times_are_called_by_row() -> None:
    """Found by the property tests: a timeout and an outcome at one instant, delay 0."""
    from tests.property.reference import reference

    sim = Simulation(
        definition=definition(
            max_retries=3,
            retry_delay_minutes=0,
            calling_days=["mon"],
            calling_window={"start": "00:00", "end": "00:15"},
            max_call_minutes=1,
        ),
        contacts=[contact(n) for n in range(1, 7)],
        rejections=[],
        start_us=at(2026, 3, 7, 20, 0),
        dialer=SimDialer(
            script={
                ("row-1", 2): ScriptedCall("answered", 61 * US),
                ("row-2", 3): ScriptedCall("answered", 61 * US),
            },
            default=ScriptedCall("no_answer", 45 * US),
        ),
        until_us=at(2026, 4, 7, 0, 0),
    )
    assert list(sim.run()) == reference(sim)


def test_an_outcome_read_before_its_call_is_made_is_applied_when_it_is() -> None:
    """A restarted worker may replay a call's outcome before the input that makes the
    call again: the outcome is held, not rejected, so the call neither times out nor is
    dialled once more; outcomes of impossible attempts are still rejected."""
    store = MemoryStore()
    engine = Engine(store, StaticDirectory())
    d = definition(concurrent_calls=1, max_retries=1, retry_delay_minutes=1)
    engine.step_campaign("c1", START, contacts=[contact(1), contact(2)])
    create = Command("k0", CommandKind.create, definition=d, expected_contacts=2)
    engine.step_campaign("c1", START, commands=[create])
    early = engine.step_campaign(
        "c1",
        START + US,
        outcomes=[
            CallOutcome("c1/row-1/1", "answered"),
            CallOutcome("c1/row-1/1", "answered"),  # read twice: held once
            CallOutcome("c1/row-1/4", "busy"),  # beyond max_retries + max_callbacks: never made
        ],
    )
    assert [type(e) for e in early] == [InputRejected]
    out = engine.step_campaign("c1", START + 2 * US, commands=[Command("k1", CommandKind.start)])
    assert [(type(e).__name__, getattr(e, "contact_id", None)) for e in out] == [
        ("StatusChanged", None),
        ("CallCreated", "row-1"),
        ("OutcomeRecorded", "row-1"),
        ("ContactFinal", "row-1"),
        ("CallCreated", "row-2"),  # the slot freed by the held outcome is filled at once
    ]
    camp = store.get_campaign("c1")
    assert camp is not None and camp.held == 0 and camp.in_flight == 1
    assert not store.get_queue("c1", "held:0")
    late = engine.step_campaign(
        "c1", START + 3 * US, outcomes=[CallOutcome("c1/row-1/1", "answered")]
    )
    assert [(type(e).__name__, getattr(e, "applied", None)) for e in late] == [
        ("OutcomeRecorded", False)
    ]
