"""The worker's shell runs one account step per batch (SPEC 8): inbound calls reach the
engine's lines, and an inbound call it cannot use is parked, not applied."""

from __future__ import annotations

from typing import Any

from campaignflow.config import settings
from campaigns.engine import Engine
from campaigns.events import Command, CommandKind
from campaigns.models import AccountSettings
from campaigns.store import StaticDirectory
from streams.shell import Incoming, Shell
from tests.helpers import at, contact, definition
from tests.security.test_fuzz_decoders import CODEC, _ShellStore
from topics import catalogue, translate

T0 = at(2026, 12, 1, 14, 0)


def inbound(call_id: str, kind: str, account_id: str | None = "acme") -> bytes:
    record = {
        "call_id": call_id,
        "agent_id": "bot",
        "account_id": account_id,
        "kind": kind,
        "at": T0 // 1000,
        "dialer_id": None,
    }
    return CODEC.encode("InboundCall", record)


def test_inbound_calls_hold_the_accounts_lines_in_the_worker() -> None:
    store = _ShellStore()
    engine = Engine(store, StaticDirectory())
    shell = Shell(engine, store, CODEC, clock=lambda: T0, prefix=settings().topic_prefix)  # type: ignore[arg-type]
    prefix = settings().topic_prefix
    topic = catalogue.topic_name(catalogue.INBOUND, prefix)
    commands = catalogue.topic_name(catalogue.COMMANDS, prefix)
    # the account exists with 1 line; an inbound call takes it
    engine.step("acme", T0, settings=AccountSettings(account_id="acme", lines=1))
    engine.step_campaign(
        "c1",
        T0,
        contacts=[contact(1)],
        commands=[Command("k0", CommandKind.create, definition=definition(), expected_contacts=1)],
    )
    out = shell.handle([Incoming(topic, 0, 1, b"acme", inbound("in-1", "started"))])
    assert not [o for o in out if o.topic.endswith("deadletter")]
    start = translate.command_to_record(
        "c1", Command("k1", CommandKind.start, account_id="acme"), T0
    )
    out = shell.handle([Incoming(commands, 0, 2, b"acme", CODEC.encode("CampaignCommand", start))])
    created = [o for o in out if o.topic.endswith("call.create")]
    assert created == []  # the line is held by the inbound call
    out = shell.handle([Incoming(topic, 0, 3, b"acme", inbound("in-1", "ended"))])
    assert len([o for o in out if o.topic.endswith("call.create")]) == 1


def test_an_inbound_call_without_an_id_or_of_an_unknown_account_is_parked() -> None:
    store = _ShellStore()
    shell = Shell(
        Engine(store, StaticDirectory()),
        store,
        CODEC,
        clock=lambda: T0,
        prefix=settings().topic_prefix,
    )  # type: ignore[arg-type]
    topic = catalogue.topic_name(catalogue.INBOUND, settings().topic_prefix)
    out: list[Any] = shell.handle(
        [
            Incoming(topic, 0, 1, b"x", inbound("", "started")),
            Incoming(topic, 0, 2, b"x", inbound("in-1", "started", account_id="nobody")),
        ]
    )
    parked = [CODEC.decode(o.value)[1] for o in out if o.topic.endswith("deadletter")]
    assert [p["offset"] for p in parked] == [1, 2]
    assert "unknown account" in parked[1]["error"]


def _shell(directory: StaticDirectory) -> tuple[Shell, _ShellStore]:
    store = _ShellStore()
    engine = Engine(store, directory)
    shell = Shell(engine, store, CODEC, clock=lambda: T0, prefix=settings().topic_prefix)  # type: ignore[arg-type]
    return shell, store


def _tick() -> Incoming:
    topic = catalogue.topic_name(catalogue.TICKS, settings().topic_prefix)
    return Incoming(topic, 0, 9, b"0", CODEC.encode("Tick", {"partition": 0, "at": T0 // 1000}))


def _created(out: list[Any]) -> list[Any]:
    return [o for o in out if o.topic.endswith("call.create")]


def test_the_accounts_settings_reach_its_steps_and_a_change_steps_it_at_the_next_tick() -> None:
    """account.status's lines (the directory) limit the worker's calls; raising them takes
    effect at the next tick, with no other input for the account."""
    directory = StaticDirectory(settings={"acme": AccountSettings(account_id="acme", lines=1)})
    shell, _ = _shell(directory)
    prefix = settings().topic_prefix
    commands = catalogue.topic_name(catalogue.COMMANDS, prefix)
    contacts = catalogue.topic_name(catalogue.CONTACTS, prefix)
    create = Command(
        "k0",
        CommandKind.create,
        definition=definition(concurrent_calls=5),
        expected_contacts=3,
        account_id="acme",
    )
    batch = translate.batch_to_record("c1", "b1", [contact(i) for i in (1, 2, 3)], T0, "acme")
    start = Command("k1", CommandKind.start, account_id="acme")
    out = shell.handle(
        [
            Incoming(
                commands,
                0,
                1,
                b"acme",
                CODEC.encode("CampaignCommand", translate.command_to_record("c1", create, T0)),
            ),
            Incoming(contacts, 0, 2, b"acme", CODEC.encode("ContactBatch", batch)),
            Incoming(
                commands,
                0,
                3,
                b"acme",
                CODEC.encode("CampaignCommand", translate.command_to_record("c1", start, T0)),
            ),
        ]
    )
    assert len(_created(out)) == 1  # one line
    assert _created(shell.handle([_tick()])) == []  # nothing changed: nothing more
    directory.settings["acme"] = AccountSettings(account_id="acme", lines=3)
    assert len(_created(shell.handle([_tick()]))) == 2  # the new lines, at the next tick


def test_an_account_known_only_by_its_settings_takes_inbound_calls_and_a_lone_end_is_harmless() -> (
    None
):
    directory = StaticDirectory(settings={"acme": AccountSettings(account_id="acme", lines=2)})
    shell, store = _shell(directory)
    topic = catalogue.topic_name(catalogue.INBOUND, settings().topic_prefix)
    out = shell.handle([Incoming(topic, 0, 1, b"acme", inbound("ghost", "ended"))])
    assert not [o for o in out if o.topic.endswith("deadletter")]
    found = store.get_account("acme")
    assert found is None or found.inbound == {}  # an end with no start changes nothing
    shell.handle([Incoming(topic, 0, 2, b"acme", inbound("in-1", "started"))])
    found = store.get_account("acme")
    assert found is not None and list(found.inbound) == ["in-1"]
