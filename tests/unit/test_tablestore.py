"""The worker's table store as the engine's storage port: batches in their own rows (and the
rows of older versions still read), and one campaign's changes dropped without its
neighbours'."""

from __future__ import annotations

from campaigns import testing
from campaigns.engine import Engine, batch_key
from campaigns.events import Batch, Command, CommandKind
from campaigns.store import StaticDirectory
from streams import records
from streams.tablestore import BATCH, INDEX, LEGACY_BATCH, SEP, TableStore, campaign_key
from tests.helpers import at, contact, definition
from tests.unit.test_stream_commit import Rocks

START = at(2026, 12, 1, 14, 0)


def _committed(store: TableStore, rocks: Rocks) -> None:
    run = store.seal()
    for partition, writes in run.writes.items():
        store.settle(partition, writes, offset=0, seq=run.seq)


def test_a_batch_is_kept_in_a_row_of_its_own_and_a_replay_adds_nothing() -> None:
    rocks = Rocks()
    store = TableStore(rocks)  # type: ignore[arg-type]
    engine = Engine(store, StaticDirectory())
    create = Command("k0", CommandKind.create, definition=definition(), expected_contacts=3)
    engine.step_campaign("c1", START, commands=[create])
    engine.step_campaign(
        "c1", START, batches=[Batch("b1", [contact(1), contact(2)], account_id="acme")]
    )
    _committed(store, rocks)
    keys = set(rocks.dbs[0])
    assert BATCH + b"c1" + SEP + batch_key("acme", "b1").encode() in keys
    assert not [k for k in keys if k.startswith(INDEX) and LEGACY_BATCH in k]

    store.forget()  # read back from RocksDB, as a restarted worker does
    engine.step_campaign(
        "c1", START, batches=[Batch("b1", [contact(1), contact(2)], account_id="acme")]
    )
    camp = store.get_campaign("c1")
    assert camp is not None and camp.arrived == 2 and camp.duplicates == 0


def test_a_batch_seen_by_an_older_version_is_still_a_replay() -> None:
    """Older workers kept a batch as a contact-index row `"\\x00batch:" + key` -> -1."""
    rocks = Rocks()
    store = TableStore(rocks)  # type: ignore[arg-type]
    engine = Engine(store, StaticDirectory())
    create = Command("k0", CommandKind.create, definition=definition(), expected_contacts=1)
    engine.step_campaign("c1", START, commands=[create])
    _committed(store, rocks)
    legacy = INDEX + b"c1" + SEP + LEGACY_BATCH + batch_key("acme", "old").encode()
    rocks.dbs[0][legacy] = records.dump_seq(-1)
    store.forget()

    engine.step_campaign("c1", START, batches=[Batch("old", [contact(1)], account_id="acme")])
    camp = store.get_campaign("c1")
    assert camp is not None and camp.arrived == 0
    # The same batch id from a new batch key (another account's) is not taken as seen.
    assert not store.has_batch("c1", batch_key("other", "old"))


def test_discarding_one_campaign_keeps_a_campaign_whose_id_extends_it() -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    engine = Engine(store, StaticDirectory())
    for campaign_id in ("abc", "abcd"):
        d = testing.definition(campaign_id, concurrent_calls=1)
        engine.step_campaign(
            campaign_id, START, commands=[Command("k0", CommandKind.create, definition=d)]
        )
        engine.step_campaign(campaign_id, START, contacts=[contact(1)])
    store.discard("abc")
    assert store.get_campaign("abc") is None
    kept = store.get_campaign("abcd")
    assert kept is not None and kept.arrived == 1
    assert store.get_contact("abcd", 0) is not None
    assert campaign_key("abcd") in store.seal().writes[0]
