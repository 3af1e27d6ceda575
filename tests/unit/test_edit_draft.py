"""A draft's edit (issue 24.6): the engine replaces its definition and list, and only a draft's."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.campaign_drafts import rules_body
from api.readmodel import ReadModel
from campaigns import testing
from campaigns.engine import Engine
from campaigns.events import (
    CallCreated,
    CallOutcome,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactBatch,
    ContactFinal,
    StatusChanged,
)
from campaigns.models import definition_from_yaml, parse_definition
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.windows import US
from tests.helpers import at, contact, definition
from tests.unit.test_readmodel_accepted import accepted, batch, create, fold, listed
from topics import translate
from topics.clients import KafkaSettings
from topics.codec import decode, encode
from topics.translate import command_from_record, command_to_record

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)


def created(expected: int = 3) -> Engine:
    engine = Engine(MemoryStore(), StaticDirectory())
    engine.step_campaign(
        "c1",
        START,
        batches=[ContactBatch("b1", [contact(1), contact(2), contact(3)])],
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
    # The new list may hold the old list's contact ids: nothing of the old list is left
    # in reach; the next step drops its rows (a bounded number a step, `StepBase.sweep`).
    assert camp.stale == [[0, 0, 3, "acme"]] and store.get_contact("c1", 0) is not None
    engine.step_campaign("c1", START, batches=[ContactBatch("e1/rows", [contact(1), contact(4)])])
    assert store.find_contact("c1", "row-1") is None and store.get_contact("c1", 0) is None
    assert "c1" not in store.contacts and "c1" not in store.index
    assert store.campaigns["c1"].stale == []
    out = engine.step_campaign("c1", START + US, commands=[Command("k2", CommandKind.start)])
    calls = [e.contact_id for e in out if isinstance(e, CallCreated)]
    assert calls == ["row-1"]  # one line now, the edited definition's
    camp = store.get_campaign("c1")
    assert camp is not None and camp.arrived == 2


def test_the_edited_campaign_completes_on_the_new_count() -> None:
    engine = created()
    engine.step_campaign("c1", START, commands=[edit(1)])
    engine.step_campaign("c1", START, batches=[ContactBatch("e1/rows", [contact(7)])])
    out = engine.step_campaign("c1", START, commands=[Command("k2", CommandKind.start)])
    (call,) = [e for e in out if isinstance(e, CallCreated)]
    out = engine.step_campaign(
        "c1", START + 60 * US, outcomes=[CallOutcome(call.call_id, "answered")]
    )
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


def test_the_read_model_shows_the_edited_draft_and_its_new_list(tmp_path: Path) -> None:
    rm = ReadModel(KafkaSettings("127.0.0.1:1"), "", tmp_path / "rm")
    try:
        fold(rm, create("acme"), batch("acme", "b1", [1, 2, 3]), accepted("acme", "b1", [0, 1, 2]))
        assert rm.definition("acme", "spring") is not None
        d = testing.definition("spring", account_id="acme", concurrent_calls=4, name="Renamed")
        cmd = Command("edit-1", CommandKind.edit, d, 2, account_id="acme")
        # The edit and the new list's first batch in one fold: the old list goes, not the new.
        fold(
            rm,
            ("command", translate.command_to_record("spring", cmd, 5)),
            batch("acme", "edit-1/b1", [2, 9]),
            accepted("acme", "edit-1/b1", [0, 1]),
        )
        row = rm.campaign("acme", "spring")
        assert row is not None
        assert (row.name, row.expected, row.arrived, row.edit_id) == (
            "Renamed",
            2,
            2,
            "edit-1",
        )
        assert listed(rm, "acme") == ["row-2", "row-9"]
        edited = rm.definition("acme", "spring")
        assert edited is not None and edited.rules.concurrent_calls == 4
    finally:
        rm.store.close()


def test_the_read_model_ignores_an_edit_once_the_campaign_is_not_a_draft(tmp_path: Path) -> None:
    rm = ReadModel(KafkaSettings("127.0.0.1:1"), "", tmp_path / "rm")
    try:
        fold(rm, create("acme"), batch("acme", "b1", [1]), accepted("acme", "b1", [0]))
        started = StatusChanged(1, "spring", CampaignStatus.running)
        fold(rm, ("event", translate.event_to_record("acme", started, "acme/spring:s") or {}))
        d = testing.definition("spring", account_id="acme", name="Renamed", concurrent_calls=1)
        cmd = Command("edit-1", CommandKind.edit, d, 2, account_id="acme")
        fold(rm, ("command", translate.command_to_record("spring", cmd, 5)))
        row = rm.campaign("acme", "spring")
        assert row is not None and row.name != "Renamed" and listed(rm, "acme") == ["row-1"]
    finally:
        rm.store.close()


@pytest.mark.parametrize(
    "yaml_path", ["examples/spec/campaign.yaml", "examples/compliance/campaign.yaml"]
)
def test_a_drafts_rules_read_back_give_the_same_definition(yaml_path: str) -> None:
    """GET /draft's rules, sent back by the wizard unchanged, define the same campaign."""
    d = definition_from_yaml(Path(yaml_path).read_text(encoding="utf-8"))
    stored = translate.definition_from_record(translate.definition_to_record(d))
    data = d.model_dump(mode="json", exclude={"rules"}) | {"rules": rules_body(stored)}
    assert parse_definition(data) == stored
