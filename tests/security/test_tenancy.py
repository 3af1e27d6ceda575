"""Every command and contact batch acts for an account, and the engine checks it is the campaign's.

Pure engine tests (the rules), then the worker's shell (bytes in: which records count as
written before accounts existed, and that refused input is parked on the dead-letter topic).
"""

from __future__ import annotations

import io
import json
from typing import Any

from fastavro import parse_schema, schemaless_writer

from campaignflow.config import settings
from campaigns.engine import MAX_CONTACTS, Engine
from campaigns.events import (
    CallCreated,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactBatch,
    ContactRejected,
    Event,
    StatusChanged,
)
from campaigns.store import MemoryStore, StaticDirectory
from streams.shell import Incoming, Shell
from streams.tablestore import TableStore
from tests.helpers import at, contact, definition
from tests.unit.test_stream_commit import Rocks
from topics import catalogue, schemas, translate
from topics.codec import SINGLE_OBJECT_MAGIC, Codec

START = at(2026, 12, 1, 14, 0)
US = 1_000_000


def rejected(out: list[Event]) -> list[CommandRejected]:
    return [e for e in out if isinstance(e, CommandRejected)]


def statuses(out: list[Event]) -> list[str]:
    return [e.status.value for e in out if isinstance(e, StatusChanged)]


def created(engine: Engine, n: int = 2, account: str | None = "acme") -> list[Event]:
    d = definition(concurrent_calls=5)
    create = Command(
        "k0", CommandKind.create, definition=d, expected_contacts=n, account_id=account
    )
    return engine.step_campaign("c1", START, commands=[create])


def new_engine() -> tuple[Engine, MemoryStore]:
    store = MemoryStore()
    return Engine(store, StaticDirectory()), store


def test_a_command_of_another_account_is_refused_and_dead_lettered() -> None:
    engine, store = new_engine()
    created(engine)
    for kind in (CommandKind.start, CommandKind.cancel, CommandKind.pause):
        out = engine.step_campaign(
            "c1", START, commands=[Command(f"m-{kind}", kind, account_id="mallory")]
        )
        [r] = rejected(out)
        assert r.dead_letter and "account 'mallory' is not the account of campaign c1" in r.reason
        assert "acme" not in r.reason  # the owner is not told to a stranger
    assert store.campaigns["c1"].status is CampaignStatus.draft
    out = engine.step_campaign(
        "c1", START, commands=[Command("o-1", CommandKind.start, account_id="acme")]
    )
    assert statuses(out) == ["running"]


def test_a_create_for_an_existing_campaign_from_another_account_is_refused() -> None:
    engine, store = new_engine()
    created(engine)
    other = definition().model_copy(update={"account_id": "mallory"})
    out = engine.step_campaign(
        "c1",
        START,
        commands=[Command("m-0", CommandKind.create, definition=other, account_id="mallory")],
    )
    [r] = rejected(out)
    assert r.dead_letter and "already exists under another account" in r.reason
    assert store.definitions["c1"].account_id == "acme"


def test_a_create_naming_another_account_than_its_sender_is_refused() -> None:
    engine, store = new_engine()
    out = created(engine, account="mallory")  # the definition says acme
    [r] = rejected(out)
    assert r.dead_letter and "may not create a campaign of account 'acme'" in r.reason
    assert "c1" not in store.definitions
    assert statuses(created(engine)) == ["draft"]  # the owner can still create it


def test_negative_or_absurd_contact_counts_are_refused() -> None:
    engine, store = new_engine()
    created(engine, n=2)
    for i, count in enumerate((-5, MAX_CONTACTS + 1, 2**31 - 1)):
        cmd = Command(f"a-{i}", CommandKind.add_contacts, count=count, account_id="acme")
        [r] = rejected(engine.step_campaign("c1", START, commands=[cmd]))
        assert r.dead_letter and "add_contacts count must be between 0 and" in r.reason
    assert store.campaigns["c1"].expected == 2
    engine2, _ = new_engine()
    d = definition()
    bad = Command("k", CommandKind.create, definition=d, expected_contacts=-1, account_id="acme")
    [r] = rejected(engine2.step_campaign("c1", START, commands=[bad]))
    assert "expected_contacts must be between 0 and" in r.reason


def test_a_batch_of_another_account_is_refused_whole() -> None:
    engine, store = new_engine()
    created(engine, n=1)
    out = engine.step_campaign("c1", START, batches=[ContactBatch("m-b", [contact(1)], "mallory")])
    [r] = rejected(out)
    assert (r.command, r.command_id, r.dead_letter) == ("contact_batch", "m-b", True)
    assert store.campaigns["c1"].arrived == 0
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("m-b", [contact(1)], "acme")]
    )  # same id, the owner
    assert store.campaigns["c1"].arrived == 1


def test_contacts_before_the_create_cannot_squat_the_campaign() -> None:
    """Mallory sends contacts (same batch id, same contact ids) and an add-contacts first."""
    engine, store = new_engine()
    squat = ContactBatch("c1/rows-1-2", [contact(1), contact(2), contact(9)], "mallory")
    engine.step_campaign("c1", START, batches=[squat])
    burn = Command("add-same-id", CommandKind.add_contacts, count=5, account_id="mallory")
    engine.step_campaign("c1", START, commands=[burn])
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("c1/rows-1-2", [contact(1), contact(2)], "acme")]
    )
    out = created(engine, n=2)
    [r] = rejected(out)
    assert r.command == "contact_batch" and r.dead_letter
    assert "account 'mallory'" in r.reason and "3 contact(s) not added" in r.reason
    out = engine.step_campaign(
        "c1", START, commands=[Command("s", CommandKind.start, account_id="acme")]
    )
    calls = [e for e in out if isinstance(e, CallCreated)]
    assert sorted(c.to for c in calls) == [contact(1).phone_number, contact(2).phone_number]
    assert all(c.account_id == "acme" for c in calls)
    # The owner's add-contacts with the id Mallory used first still counts.
    own = Command("add-same-id", CommandKind.add_contacts, count=1, account_id="acme")
    engine.step_campaign("c1", START + US, commands=[own])
    assert store.campaigns["c1"].expected == 3


def test_the_campaign_completes_on_the_owners_contacts_only() -> None:
    from campaigns.events import CallOutcome

    engine, store = new_engine()
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("m", [contact(5), contact(6)], "mallory")]
    )
    engine.step_campaign("c1", START, batches=[ContactBatch("a", [contact(1)], "acme")])
    created(engine, n=1)
    out = engine.step_campaign(
        "c1", START, commands=[Command("s", CommandKind.start, account_id="acme")]
    )
    [call] = [e for e in out if isinstance(e, CallCreated)]
    out = engine.step_campaign("c1", START + US, outcomes=[CallOutcome(call.call_id, "answered")])
    assert statuses(out) == ["completed"]
    camp = store.campaigns["c1"]
    assert (camp.arrived, camp.refused, camp.final) == (3, 2, 1)


def test_duplicate_ids_among_the_owners_early_contacts_are_still_rejected() -> None:
    engine, store = new_engine()
    engine.step_campaign("c1", START, batches=[ContactBatch("a", [contact(1)], "acme")])
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("b", [contact(1)], None)]
    )  # written before v2
    out = created(engine, n=1)
    assert [e.reason for e in out if isinstance(e, ContactRejected)] == [
        "contact_id 'row-1' is already in the campaign"
    ]
    assert store.campaigns["c1"].arrived - store.campaigns["c1"].refused == 1


def test_records_written_before_accounts_count_as_the_campaigns_and_empty_ones_are_refused() -> (
    None
):
    engine, store = new_engine()
    created(engine, n=1, account=None)  # a v1 create: its definition names the account
    engine.step_campaign("c1", START, batches=[ContactBatch("old", [contact(1)], None)])
    assert store.campaigns["c1"].arrived == 1
    [r] = rejected(
        engine.step_campaign("c1", START, commands=[Command("x", CommandKind.start, account_id="")])
    )
    assert r.reason == "command carries no account_id" and r.dead_letter
    [r] = rejected(engine.step_campaign("c1", START, batches=[ContactBatch("y", [contact(2)], "")]))
    assert r.reason == "contact batch carries no account_id"
    out = engine.step_campaign("c1", START, commands=[Command("z", CommandKind.start)])
    assert statuses(out) == ["running"]


# ---- the shell: bytes in, dead letters out ---------------------------------------------------


def _v1_bytes(event: str, record: dict[str, Any]) -> bytes:
    """A record as a producer built before account_id existed wrote it (released v1 schema)."""
    old = json.loads((schemas.HISTORY_DIR / f"{event}.v1.avsc").read_text())
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + schemas.fingerprint(old))
    schemaless_writer(
        buf, parse_schema(old), {k: v for k, v in record.items() if k != "account_id"}
    )
    return buf.getvalue()


def _shell() -> tuple[Shell, Codec]:
    codec = Codec()
    store = TableStore(Rocks())  # type: ignore[arg-type]
    shell = Shell(
        Engine(store, StaticDirectory()),
        store,
        codec,
        clock=lambda: START,
        prefix=settings().topic_prefix,
    )
    return shell, codec


def test_the_shell_parks_every_record_without_an_account() -> None:
    """Issue 21.4: a v1 record (no account_id) was trusted; a v1 cancel cancelled another
    account's campaign and a v1 batch added a number that was called. Now it is parked."""
    shell, codec = _shell()
    commands = catalogue.topic_name(catalogue.COMMANDS, settings().topic_prefix)
    contacts = catalogue.topic_name(catalogue.CONTACTS, settings().topic_prefix)
    create = Command(
        "k0", CommandKind.create, definition=definition(), expected_contacts=1, account_id="acme"
    )
    out = shell.handle(
        [
            Incoming(
                commands,
                0,
                0,
                b"acme",
                codec.encode("CampaignCommand", translate.command_to_record("c1", create, START)),
            )
        ]
    )
    assert any(
        e["body"][1].get("status") == "draft"
        for e in (codec.decode(o.value)[1] for o in out if o.topic.endswith("campaign.events"))
    )
    cancel = translate.command_to_record("c1", Command("k1", CommandKind.cancel), START)
    batch = translate.batch_to_record("c1", "b-v1", [contact(9)], START, "acme")
    v2_without = codec.encode("CampaignCommand", cancel)  # account_id null, current schema
    out = shell.handle(
        [
            Incoming(commands, 0, 1, b"c1", _v1_bytes("CampaignCommand", cancel)),
            Incoming(commands, 0, 2, b"c1", v2_without),
            Incoming(contacts, 0, 3, b"c1", _v1_bytes("ContactBatch", batch)),
        ]
    )
    dead = [codec.decode(o.value)[1] for o in out if o.topic.endswith("deadletter")]
    assert sorted(d["offset"] for d in dead) == [1, 2, 3]
    assert all("no account_id" in d["error"] for d in dead)
    assert not [o for o in out if o.topic.endswith("campaign.events")]  # nothing changed
    shell.store.account = "acme"
    camp = shell.store.get_campaign("c1")
    assert camp is not None and camp.status is CampaignStatus.draft and camp.arrived == 0


def test_a_batch_labelled_with_another_account_stays_in_that_account() -> None:
    """Campaign ids are per account: mallory's batch for `c1` is mallory's `c1`, never
    acme's, whichever comes first; nothing of it is called for acme."""
    shell, codec = _shell()
    contacts_topic = catalogue.topic_name(catalogue.CONTACTS, settings().topic_prefix)
    squat = translate.batch_to_record("c1", "c1/rows-1-1", [contact(1)], START, "mallory")
    out = shell.handle(
        [Incoming(contacts_topic, 0, 7, b"mallory", codec.encode("ContactBatch", squat))]
    )
    create = Command(
        "k0", CommandKind.create, definition=definition(), expected_contacts=0, account_id="acme"
    )
    rec = translate.command_to_record("c1", create, START)
    commands = catalogue.topic_name(catalogue.COMMANDS, settings().topic_prefix)
    start = translate.command_to_record(
        "c1", Command("k1", CommandKind.start, account_id="acme"), START
    )
    out = shell.handle(
        [
            Incoming(commands, 0, 0, b"acme", codec.encode("CampaignCommand", rec)),
            Incoming(commands, 0, 1, b"acme", codec.encode("CampaignCommand", start)),
        ]
    )
    assert not [o for o in out if o.topic.endswith("call.create")]
    assert {o.key for o in out} == {b"acme"}
    shell.store.account = "acme"
    acme = shell.store.get_campaign("c1")
    assert acme is not None and acme.arrived == 0 and acme.status is CampaignStatus.completed
    shell.store.account = "mallory"
    squatted = shell.store.get_campaign("c1")
    assert squatted is not None and squatted.arrived == 1 and squatted.status is None
