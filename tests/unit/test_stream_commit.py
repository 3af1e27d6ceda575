"""The worker's commit protocol, behind the agent: state never reaches the changelog, RocksDB
or the input offsets before the outputs it caused are acknowledged.

The broker here is a hand-written recorder that acks deliveries when the test says so
(the real broker runs in tests/integration/test_worker.py, kill -9 included).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest

from campaigns.state import CampaignState
from streams.committer import GROUP_MAX, Committer, Sealed
from streams.publish import Delivery
from streams.rocks import MARKER
from streams.tablestore import TableStore, campaign_row


class Db(dict[bytes, bytes]):
    def items(self, from_key: bytes = b"") -> Any:  # type: ignore[override]
        return sorted((k, v) for k, v in super().items() if k >= from_key)


class Rocks:
    """What TableStore needs of `streams.rocks.AtomicRocksStore`."""

    def __init__(self) -> None:
        self.dbs: defaultdict[int, Db] = defaultdict(Db)
        self.offsets: dict[int, int] = {}

    def db(self, partition: int) -> Db:
        return self.dbs[partition]

    def write(self, partition: int, writes: Any, offset: int | None) -> None:
        db = self.dbs[partition]
        for key, value in writes:
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value
        if offset is not None:
            self.offsets[partition] = offset

    def take_unclosed(self, partition: int) -> set[bytes]:
        return set()


class Msg:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


class Broker:
    """Keeps what was sent, in order; acks a delivery when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes | None, bytes | None, Delivery]] = []
        self.next_offset: defaultdict[tuple[str, int], int] = defaultdict(int)

    async def send(self, topic: str, partition: int, records: Any) -> Delivery:
        records = list(records)
        d = Delivery(asyncio.get_running_loop(), len(records))
        for key, value in records:
            self.sent.append((topic, partition, key, value, d))
        return d

    def ack(self, d: Delivery) -> None:
        for topic, partition, _, _, owner in self.sent:
            if owner is d:
                offset = self.next_offset[topic, partition]
                self.next_offset[topic, partition] += 1
                d.report(None, Msg(offset))

    def runs(self) -> list[list[tuple[bytes | None, bytes | None]]]:
        """Changelog records split at markers (a closed run each)."""
        out: list[list[tuple[bytes | None, bytes | None]]] = [[]]
        for _, _, key, value, _ in self.sent:
            out[-1].append((key, value))
            if key == MARKER:
                out.append([])
        return [r for r in out if r]


class Event:
    def __init__(self) -> None:
        self.acked = False

    def ack(self, consumer: Any, n: int = 1) -> bool:
        self.acked = True
        return True


def outputs(loop: asyncio.AbstractEventLoop, n: int = 1) -> Delivery:
    return Delivery(loop, n)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def rig() -> tuple[TableStore, Rocks, Broker, Committer]:
    rocks = Rocks()
    store = TableStore(rocks)  # type: ignore[arg-type]
    store.account = "acme"
    broker = Broker()
    return store, rocks, broker, Committer(store, broker, "changelog")  # type: ignore[arg-type]


def test_state_reaches_changelog_rocksdb_and_offsets_only_after_the_outputs() -> None:
    async def run() -> None:
        store, rocks, broker, committer = rig()
        loop = asyncio.get_running_loop()
        store.put_campaign(CampaignState("c1", expected=5))
        out, ev = outputs(loop), Event()
        await committer.submit(Sealed(out, store.seal(), [ev]))
        await settle()
        assert broker.sent == [] and not ev.acked and not rocks.dbs[0]
        out.report(None, Msg(0))  # the outputs are on the broker
        await settle()
        [run] = broker.runs()
        assert run[0][0] == campaign_row("acme", "c1") and run[-1] == (MARKER, b"")
        assert not ev.acked and not rocks.dbs[0]  # the marker is not acked yet
        broker.ack(broker.sent[0][4])
        await committer.drain()
        assert campaign_row("acme", "c1") in rocks.dbs[0] and rocks.offsets[0] == len(run) - 1
        assert ev.acked

    asyncio.run(run())


def test_batches_waiting_behind_a_commit_go_out_as_one_run_with_the_last_values() -> None:
    async def run() -> None:
        store, rocks, broker, committer = rig()
        loop = asyncio.get_running_loop()
        events = [Event() for _ in range(3)]
        pending = []
        for i, ev in enumerate(events):
            store.put_campaign(CampaignState("c1", expected=i + 1))
            pending.append(outputs(loop))
            await committer.submit(Sealed(pending[-1], store.seal(), [ev]))
            if i == 0:
                await settle()  # the committer takes the first batch alone
        for d in pending:
            d.report(None, Msg(0))
        await settle()
        broker.ack(broker.sent[-1][4])  # the first batch's run
        await settle()
        broker.ack(broker.sent[-1][4])  # the two that waited behind it, together
        await committer.drain()
        runs = broker.runs()
        assert len(runs) == 2 and len(runs[1]) == 2  # one key, one marker
        assert all(ev.acked for ev in events)
        assert store.get_campaign("c1") == CampaignState("c1", expected=3)
        store.forget()  # from RocksDB alone
        assert store.get_campaign("c1") == CampaignState("c1", expected=3)

    asyncio.run(run())


def test_a_backlog_of_batches_is_committed_a_few_at_a_time() -> None:
    """Merging every waiting batch into one commit made one long RocksDB write that held
    the event loop past the worker's lease (streams.lease) while a big list loaded."""

    async def run() -> None:
        store, rocks, broker, committer = rig()
        loop = asyncio.get_running_loop()
        events = [Event() for _ in range(1 + 2 * GROUP_MAX + 1)]
        pending = []
        for i, ev in enumerate(events):
            store.put_campaign(CampaignState("c1", expected=i + 1))
            pending.append(outputs(loop))
            await committer.submit(Sealed(pending[-1], store.seal(), [ev]))
            if i == 0:
                await settle()  # the committer takes the first batch alone
        for d in pending:
            d.report(None, Msg(0))
        acked = 0
        while not all(ev.acked for ev in events):
            await settle()
            if len(broker.runs()) > acked:
                broker.ack(broker.sent[-1][4])
                acked += 1
        await committer.drain()
        assert len(broker.runs()) == 1 + 3  # the first alone, then GROUP_MAX, GROUP_MAX, 1
        assert store.get_campaign("c1") == CampaignState("c1", expected=len(events))

    asyncio.run(run())


def test_a_failed_output_commits_nothing_and_stops_the_committer() -> None:
    async def run() -> None:
        store, rocks, broker, committer = rig()
        loop = asyncio.get_running_loop()
        store.put_campaign(CampaignState("c1", expected=5))
        out, ev = outputs(loop), Event()
        await committer.submit(Sealed(out, store.seal(), [ev]))
        out.report("broker says no", None)  # type: ignore[arg-type]
        await committer.drain()
        assert committer.error is not None
        assert broker.sent == [] and not ev.acked and not rocks.dbs[0]
        store.put_campaign(CampaignState("c1", expected=6))
        with pytest.raises(RuntimeError, match="committer failed"):
            await committer.submit(Sealed(outputs(loop, 0), store.seal(), [Event()]))

    asyncio.run(run())


def test_batches_sealed_before_a_revocation_are_dropped_unacked() -> None:
    async def run() -> None:
        store, rocks, broker, committer = rig()
        loop = asyncio.get_running_loop()
        store.put_campaign(CampaignState("c1", expected=5))
        out, ev = outputs(loop), Event()
        await committer.submit(Sealed(out, store.seal(), [ev]))
        store.forget()  # partitions moved
        out.report(None, Msg(0))
        await committer.drain()
        assert broker.sent == [] and not ev.acked and not rocks.dbs[0]
        assert committer.error is None

    asyncio.run(run())


def test_sealed_values_are_read_back_until_rocksdb_has_them() -> None:
    store, rocks, _, _ = rig()
    store.put_campaign(CampaignState("c1", expected=1))
    first = store.seal()
    store._cache.clear()  # as if evicted: the value is only in the pending overlay
    assert store.get_campaign("c1") == CampaignState("c1", expected=1)
    assert not rocks.dbs[0]
    store.put_campaign(CampaignState("c1", expected=9))
    second = store.seal()
    # The first run settles after the second was sealed: c1's newer value stays pending.
    store.settle(0, first.writes[0], 10, first.seq)
    store._cache.clear()
    assert store.get_campaign("c1") == CampaignState("c1", expected=9)
    store.settle(0, second.writes[0], 20, second.seq)
    store._cache.clear()
    assert store.get_campaign("c1") == CampaignState("c1", expected=9)
    assert rocks.offsets[0] == 20
