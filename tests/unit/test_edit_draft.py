"""A draft's edit (issue 24.6): the engine replaces its definition and list, and only a draft's."""

from __future__ import annotations

import pytest

from campaigns.engine import Engine
from campaigns.events import (
    Batch,
    CallCreated,
    Command,
    CommandKind,
    CommandRejected,
    ContactFinal,
    Outcome,
    StatusChanged,
)
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.windows import US
from tests.helpers import at, contact, definition
from topics.codec import decode, encode
from topics.translate import command_from_record, command_to_record

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)


def created(expected: int = 3) -> Engine:
    engine = Engine(MemoryStore(), StaticDirectory())
    engine.step_campaign(
        "c1",
        START,
        batches=[Batch("b1", [contact(1), contact(2), contact(3)])],
        commands=[
            Command("k0", CommandKind.create, definition=definition(), expected_contacts=expected)
        ],
    )
    return engine


def edit(expected: int, **rules: object) -> Command:
    return Command(
        "k1", CommandKind.edit, definition=definition(**rules), expected_contacts=expected
    )


def test_an_edit_replaces_the_definition_and_drops_the_old_list() -> None:
    engine = created()
    store = engine.store
    out = engine.step_campaign("c1", START, commands=[edit(2, concurrent_calls=1)])
    assert [e for e in out if isinstance(e, StatusChanged)] == [StatusChanged(START, "c1", "draft")]
    camp = store.get_campaign("c1")
    assert camp is not None and (camp.expected, camp.arrived, camp.cursor) == (2, 0, 0)
    d = store.get_definition("c1")
    assert d is not None and d.rules.concurrent_calls == 1
    assert store.find_contact("c1", "row-1") is None and store.get_contact("c1", 0) is None
    # The new list may hold the old list's contact ids: nothing of the old list is left.
    engine.step_campaign("c1", START, batches=[Batch("e1/rows", [contact(1), contact(4)])])
    out = engine.step_campaign("c1", START + US, commands=[Command("k2", CommandKind.start)])
    calls = [e.contact_id for e in out if isinstance(e, CallCreated)]
    assert calls == ["row-1"]  # one line now, the edited definition's
    camp = store.get_campaign("c1")
    assert camp is not None and camp.arrived == 2


def test_the_edited_campaign_completes_on_the_new_count() -> None:
    engine = created()
    engine.step_campaign("c1", START, commands=[edit(1)])
    engine.step_campaign("c1", START, batches=[Batch("e1/rows", [contact(7)])])
    out = engine.step_campaign("c1", START, commands=[Command("k2", CommandKind.start)])
    (call,) = [e for e in out if isinstance(e, CallCreated)]
    out = engine.step_campaign("c1", START + 60 * US, outcomes=[Outcome(call.call_id, "answered")])
    assert [e.contact_id for e in out if isinstance(e, ContactFinal)] == ["row-7"]
    assert StatusChanged(START + 60 * US, "c1", "completed") in out


@pytest.mark.parametrize("command", [CommandKind.start, CommandKind.cancel])
def test_only_a_draft_is_edited(command: CommandKind) -> None:
    engine = created()
    engine.step_campaign("c1", START, commands=[Command("k9", command)])
    out = engine.step_campaign("c1", START, commands=[edit(1, concurrent_calls=1)])
    (rejected,) = [e for e in out if isinstance(e, CommandRejected)]
    assert rejected.command == "edit"
    assert rejected.reason in (
        "cannot edit a running campaign",
        "campaign is cancelled: no command applies any more",
    )
    d = engine.store.get_definition("c1")
    assert d is not None and d.rules.concurrent_calls == 2


def test_an_edit_of_another_campaign_or_account_is_refused() -> None:
    engine = created()
    other = definition().model_copy(update={"campaign_id": "c2"})
    out = engine.step_campaign(
        "c1",
        START,
        commands=[Command("k1", CommandKind.edit, definition=other, expected_contacts=1)],
    )
    assert [type(e) for e in out] == [CommandRejected]
    camp = engine.store.get_campaign("c1")
    assert camp is not None and camp.arrived == 3
    foreign = Command(
        "k2", CommandKind.edit, definition=definition(), expected_contacts=1, account_id="other"
    )
    out = engine.step_campaign("c1", START, commands=[foreign])
    assert [type(e) for e in out] == [CommandRejected]


def test_the_edit_command_round_trips_through_avro() -> None:
    cmd = Command(
        "k1", CommandKind.edit, definition=definition(), expected_contacts=4, account_id="acme"
    )
    _, rec = decode(encode("CampaignCommand", command_to_record("c1", cmd, START)))
    back = command_from_record(rec)
    assert (back.kind, back.expected_contacts, back.definition) == (
        CommandKind.edit,
        4,
        cmd.definition,
    )
