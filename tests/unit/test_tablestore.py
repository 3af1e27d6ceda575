"""The worker's table store as the engine's storage port: every row under its account and
campaign (campaign ids are per account), batches in their own rows, and one campaign's
changes dropped without its neighbours'."""

from __future__ import annotations

import pytest

from campaigns import testing
from campaigns.engine import Engine, batch_key
from campaigns.events import Command, CommandKind, ContactBatch
from campaigns.store import StaticDirectory, campaign_key, split_campaign_key
from streams.tablestore import BATCH, CAMPAIGN, SEP, TableStore, campaign_row
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
    store.account = "acme"
    engine = Engine(store, StaticDirectory())
    create = Command("k0", CommandKind.create, definition=definition(), expected_contacts=3)
    engine.step_campaign("c1", START, commands=[create])
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("b1", [contact(1), contact(2)], account_id="acme")]
    )
    _committed(store, rocks)
    keys = set(rocks.dbs[0])
    assert BATCH + b"acme/c1" + SEP + batch_key("acme", "b1").encode() in keys

    store.forget()  # read back from RocksDB, as a restarted worker does
    engine.step_campaign(
        "c1", START, batches=[ContactBatch("b1", [contact(1), contact(2)], account_id="acme")]
    )
    camp = store.get_campaign("c1")
    assert camp is not None and camp.arrived == 2 and camp.duplicates == 0


def test_two_accounts_keep_a_campaign_of_the_same_id_apart() -> None:
    """Campaign ids are per account: `acme/spring` and `beta/spring` share no row."""
    rocks = Rocks()
    store = TableStore(rocks)  # type: ignore[arg-type]
    engine = Engine(store, StaticDirectory())
    for account, n in (("acme", 2), ("beta", 1)):
        store.account = account
        d = testing.definition("spring", concurrent_calls=1).model_copy(
            update={"account_id": account}
        )
        create = Command("k0", CommandKind.create, d, n, account_id=account)
        engine.step_campaign("spring", START, commands=[create])
        rows = [contact(i) for i in range(1, n + 1)]
        engine.step_campaign(
            "spring", START, batches=[ContactBatch("b1", rows, account_id=account)]
        )
    _committed(store, rocks)
    store.forget()
    found = {key: camp.arrived for key, camp in store.campaigns(0)}
    assert found == {campaign_key("acme", "spring"): 2, campaign_key("beta", "spring"): 1}
    assert (
        CAMPAIGN + b"acme/spring" in rocks.dbs[0] and campaign_row("beta", "spring") in rocks.dbs[0]
    )
    store.account = "beta"
    d = store.get_definition("spring")
    assert d is not None and d.account_id == "beta"
    assert store.committed_campaign(0, "acme", "spring") is not None
    assert store.committed_campaign(0, "nobody", "spring") is None


def test_the_store_refuses_to_work_without_an_account() -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="account"):
        store.get_campaign("c1")


def test_campaign_keys_split_back() -> None:
    assert split_campaign_key(campaign_key("acme", "spring.2")) == ("acme", "spring.2")
    with pytest.raises(ValueError, match="campaign key"):
        split_campaign_key("spring")


def test_discarding_one_campaign_keeps_a_campaign_whose_id_extends_it() -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    store.account = "acme"
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
    assert campaign_row("acme", "abcd") in store.seal().writes[0]
