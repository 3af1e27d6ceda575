"""Contacts before their campaign's create (issue 26): the create does no work per contact.

`campaign create` publishes the list first and the create last; the create used to move
every early contact to the campaign's index in one step (100,000 of them held the worker
past its lease). The owner's early contacts now stay under their early keys, looked up
there from the create on; the tests count the store operations of the create's step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from campaigns.engine import Engine
from campaigns.events import (
    CallCreated,
    CallOutcome,
    Command,
    CommandKind,
    ContactBatch,
    ContactRejected,
    StatusChanged,
)
from campaigns.step.base import early_key
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.windows import US
from streams.tablestore import TableStore
from tests.helpers import at, contact, definition
from tests.unit.test_stream_commit import Rocks

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)
LIST = 50_000
BATCH = 1000


class CountingStore(MemoryStore):
    """A MemoryStore that counts the calls of the contact methods (while `counting`)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.counting = False

    def __getattribute__(self, name: str) -> Any:
        found = super().__getattribute__(name)
        if name.endswith("_contact") and super().__getattribute__("counting"):
            super().__getattribute__("calls")[name] += 1
        return found


def create(n: int, account: str | None = "acme") -> Command:
    return Command("k0", CommandKind.create, definition(), n, account_id=account)


def early_list(engine: Engine, n: int, account: str | None = "acme") -> None:
    for first in range(1, n + 1, BATCH):
        rows = [contact(i) for i in range(first, min(n, first + BATCH - 1) + 1)]
        engine.step_campaign("c1", START, batches=[ContactBatch(f"b{first}", rows, account)])


def test_the_create_of_a_large_early_list_touches_none_of_its_contacts() -> None:
    store = CountingStore()
    engine = Engine(store, StaticDirectory())
    early_list(engine, LIST)
    store.counting = True
    out = engine.step_campaign("c1", START, commands=[create(LIST)])
    store.counting = False
    assert StatusChanged(START, "c1", "draft") in out
    assert sum(store.calls.values()) == 0, store.calls  # was LIST gets, finds and indexes
    camp = store.campaigns["c1"]
    assert (camp.arrived, camp.refused, camp.pending, camp.early_owner) == (LIST, 0, [], "acme")

    # The list is the campaign's: its ids are known, its calls resolve, its count completes.
    out = engine.step_campaign("c1", START, batches=[ContactBatch("late", [contact(7)], "acme")])
    assert [e.reason for e in out if isinstance(e, ContactRejected)] == [
        "contact_id 'row-7' is already in the campaign"
    ]
    out = engine.step_campaign("c1", START, commands=[Command("s", CommandKind.start)])
    calls = [e for e in out if isinstance(e, CallCreated)]
    assert [c.contact_id for c in calls] == ["row-1", "row-2"]
    outcomes = [CallOutcome(c.call_id, "answered") for c in calls]
    out = engine.step_campaign("c1", START + US, outcomes=outcomes)
    assert not [e for e in out if type(e).__name__ == "InputRejected"]
    assert store.campaigns["c1"].final == 2


def committed(store: TableStore) -> list[bytes]:
    """Seal and settle the changes so far, as the committer does; the keys written."""
    run = store.seal()
    for partition, writes in run.writes.items():
        store.settle(partition, writes, offset=0, seq=run.seq)
    return [key for writes in run.writes.values() for key in writes]


def test_the_create_step_writes_no_contact_row_in_the_worker_store() -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    store.account = "acme"
    engine = Engine(store, StaticDirectory())
    early_list(engine, 5 * BATCH)
    committed(store)
    engine.step_campaign("c1", START, commands=[create(5 * BATCH)])
    written = committed(store)
    assert sorted(k[:1] for k in written) == [b"A", b"C", b"D"]  # account, campaign, definition
    store.forget()  # a restarted worker reads the early keys back
    out = engine.step_campaign("c1", START, commands=[Command("s", CommandKind.start)])
    assert [e.contact_id for e in out if isinstance(e, CallCreated)] == ["row-1", "row-2"]


@pytest.mark.parametrize("legacy_first", [True, False])
def test_first_come_is_kept_between_a_legacy_batch_and_the_owners(legacy_first: bool) -> None:
    """A batch written before accounts (no account) is the owner's too: of two rows with one
    contact id, the one that came first is kept, as before the create stopped moving rows."""
    engine = Engine(MemoryStore(), StaticDirectory())
    legacy = ContactBatch("old", [contact(1, name="legacy")], None)
    owners = ContactBatch("new", [contact(1, name="owner"), contact(2)], "acme")
    for batch in (legacy, owners) if legacy_first else (owners, legacy):
        engine.step_campaign("c1", START, batches=[batch])
    out = engine.step_campaign("c1", START, commands=[create(2)])
    assert [e.contact_id for e in out if isinstance(e, ContactRejected)] == ["row-1"]
    out = engine.step_campaign("c1", START, commands=[Command("s", CommandKind.start)])
    kept = [e.variables["name"] for e in out if isinstance(e, CallCreated)]
    assert kept == (["legacy", "N2"] if legacy_first else ["owner", "N2"])


def test_a_draft_edit_drops_the_early_keys_the_create_left() -> None:
    store = MemoryStore()
    engine = Engine(store, StaticDirectory())
    early_list(engine, 3)
    engine.step_campaign("c1", START, commands=[create(3)])
    assert store.find_contact("c1", early_key("acme", "row-1")) == 0
    edit = Command("k1", CommandKind.edit, definition(), 1, account_id="acme")
    engine.step_campaign("c1", START, commands=[edit])
    assert store.campaigns["c1"].early_owner is None
    engine.step_campaign("c1", START, batches=[ContactBatch("e", [contact(1)], "acme")])
    assert store.index.get("c1", {}) == {} and store.contacts.get("c1", []) == []
    out = engine.step_campaign("c1", START, commands=[Command("s", CommandKind.start)])
    assert [e.contact_id for e in out if isinstance(e, CallCreated)] == ["row-1"]
