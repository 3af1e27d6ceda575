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
