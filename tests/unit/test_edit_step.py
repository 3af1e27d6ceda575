"""A draft's edit does no work per contact of the list it replaces (issue 26).

The edit used to drop every old contact and its index keys in its one step (100,000 of
them held the worker past its lease). The new list now starts under a store scope of its
own (`list_scope`); the old one is out of reach at once and later steps drop it, at most
`SWEEP` contacts each. The tests count the store calls and the rows each step writes.
"""

from __future__ import annotations

import pytest

from campaigns.engine import Engine
from campaigns.events import CallCreated, Command, CommandKind, ContactBatch, ContactRejected
from campaigns.step.base import SWEEP, list_scope
from campaigns.store import StaticDirectory
from campaigns.windows import US
from streams.tablestore import TableStore
from tests.helpers import contact, definition
from tests.unit.test_early_contacts import (
    BATCH,
    START,
    CountingStore,
    committed,
    create,
    early_list,
)
from tests.unit.test_stream_commit import Rocks

pytestmark = pytest.mark.unit

LIST = 5 * BATCH


def edit(expected: int, command_id: str = "k1") -> Command:
    return Command(command_id, CommandKind.edit, definition(), expected, account_id="acme")


def contact_rows(store: TableStore) -> list[bytes]:
    """Keys of every contact and contact-index row committed (any list of the campaign)."""
    db = store.rocks.db(0)  # type: ignore[attr-defined]
    return [k for k in db if k[:1] in (b"K", b"I")]


def test_the_edit_of_a_large_draft_touches_none_of_its_contacts() -> None:
    store = CountingStore()
    engine = Engine(store, StaticDirectory())
    early_list(engine, LIST)
    engine.step_campaign("c1", START, commands=[create(LIST)])
    store.counting = True
    engine.step_campaign("c1", START, commands=[edit(2)])
    store.counting = False
    assert sum(store.calls.values()) == 0, store.calls  # was LIST gets, 2 x LIST finds, LIST drops
    camp = store.campaigns["c1"]
    assert (camp.arrived, camp.list_gen, camp.stale) == (0, 1, [[0, 0, LIST, "acme"]])

    # The next step drops SWEEP of the old contacts, no more.
    store.counting = True
    engine.step_campaign("c1", START, batches=[ContactBatch("e/1", [contact(1)], "acme")])
    store.counting = False
    assert store.calls["drop_contact"] == SWEEP and store.calls["get_contact"] == SWEEP
    assert camp.stale == [[0, SWEEP, LIST, "acme"]]


def test_the_edit_step_writes_no_contact_row_and_later_steps_drop_the_old_list() -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    store.account = "acme"
    engine = Engine(store, StaticDirectory())
    early_list(engine, LIST)
    engine.step_campaign("c1", START, commands=[create(LIST)])
    committed(store)
    assert len(contact_rows(store)) == 2 * LIST
    engine.step_campaign("c1", START, commands=[edit(2)])
    written = committed(store)
    assert sorted(k[:1] for k in written) == [b"A", b"C", b"D"]  # account, campaign, definition

    # The new list, its ids those of the old one: taken, not duplicates, under the new scope.
    out = engine.step_campaign(
        "c1", START, batches=[ContactBatch("e/1", [contact(1), contact(2)], "acme")]
    )
    assert not [e for e in out if isinstance(e, ContactRejected)]
    written = committed(store)
    dropped = [k for k in written if k[:1] in (b"K", b"I")]
    assert len(dropped) <= 2 * SWEEP + 4  # a sweep's rows and the new list's two contacts
    steps = 1
    store.forget()  # a restarted worker goes on from the committed campaign record
    while store.get_campaign("c1").stale:  # type: ignore[union-attr]
        engine.step_campaign("c1", START + steps * US)  # a tick of the campaign
        assert len(committed(store)) <= 2 * SWEEP + 2  # and the campaign and account rows
        steps += 1
    assert steps == LIST // SWEEP
    scope = list_scope("c1", 1).encode()
    assert all(scope in k for k in contact_rows(store)) and len(contact_rows(store)) == 4
    out = engine.step_campaign("c1", START + steps * US, commands=[Command("s", CommandKind.start)])
    assert [e.contact_id for e in out if isinstance(e, CallCreated)] == ["row-1", "row-2"]


def test_an_edit_before_the_last_one_is_dropped_is_dropped_too() -> None:
    store = CountingStore()
    engine = Engine(store, StaticDirectory())
    early_list(engine, 3)
    engine.step_campaign("c1", START, commands=[create(3)])
    engine.step_campaign("c1", START, commands=[edit(2)])
    engine.step_campaign("c1", START, commands=[edit(1, "k2")])  # no list came: no new scope
    engine.step_campaign("c1", START, batches=[ContactBatch("e/1", [contact(4)], "acme")])
    engine.step_campaign("c1", START, commands=[edit(1, "k3")])
    camp = store.campaigns["c1"]
    assert (camp.list_gen, camp.stale) == (2, [[1, 0, 1, ""]])
    engine.step_campaign("c1", START, batches=[ContactBatch("e/2", [contact(4)], "acme")])
    assert camp.stale == [] and list(store.contacts) == [list_scope("c1", 2)]
    assert store.index == {list_scope("c1", 2): {"row-4": 0}}


def test_a_step_that_raised_forgets_the_new_lists_rows_too() -> None:
    """The shell discards a failed step's changes by campaign; a list scope is one of them."""
    store = TableStore(Rocks())  # type: ignore[arg-type]
    store.account = "acme"
    engine = Engine(store, StaticDirectory())
    early_list(engine, 3)
    engine.step_campaign("c1", START, commands=[create(3)])
    engine.step_campaign("c1", START, commands=[edit(2)])
    committed(store)
    engine.step_campaign("c1", START, batches=[ContactBatch("e/1", [contact(1)], "acme")])
    store.discard("c1")
    assert not [k for k in committed(store) if k[:1] in (b"K", b"I")]
    assert store.get_contact(list_scope("c1", 1), 0) is None
    assert store.get_contact("c1", 0) is not None  # the old list: still there, not swept
