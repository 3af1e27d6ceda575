"""The dialer's write-ahead of placed calls, one batch per flush, acks not waited for.

A producer stand-in decides when the `dialing` records are acknowledged: no call may reach
the adapter before, and the loop must not block on them (it reads the next fetch meanwhile).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from dialer.calls import Call, Outcome
from dialer.placed import DIALING, REPORTED, PlacedRecord
from dialer.service import Dialer, DialerSettings, ReadCall
from dialer.simulator import SimulatorAdapter, SimulatorConfig
from topics.clients import KafkaSettings


class HeldAcks:
    """Records what is produced; nothing is acknowledged until `ack()` (or `fail()`)."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes | None, Any]] = []
        self.unacked = 0
        self.failures: list[str] = []
        self.blocking_flushes = 0

    def produce(self, topic: str, value: bytes | None = None, key: Any = None, *_: Any) -> None:
        self.produced.append((topic, value, key))
        self.unacked += 1

    def produce_all(self, topic: str, messages: Any) -> None:
        for value, key, partition in messages:
            self.produce(topic, value, key, partition)

    def poll(self, timeout_s: float = 0.0) -> int:
        return 0

    def flush(self, timeout_s: float = 60.0) -> int:
        if timeout_s > 0:
            self.blocking_flushes += 1
        return self.unacked

    def in_flight(self) -> int:
        return self.unacked

    def ack(self) -> None:
        self.unacked = 0

    def fail(self) -> None:
        self.failures.append("call.placed: broker down")
        self.unacked = 0


class Counting(SimulatorAdapter):
    """The instant simulator, counting the calls it is handed."""

    def __init__(self) -> None:
        super().__init__(SimulatorConfig(seed=1, time_scale=0))
        self.placed: list[str] = []

    def place_call_now(self, call: Call, on_handoff: Any = None) -> Outcome | None:
        self.placed.append(call.call_id)
        return super().place_call_now(call)


class ClosedConsumer:
    """The consumer side of a stop: commits accepted, nothing to close."""

    def commit(self, *_: Any, **__: Any) -> None:
        return None

    def close(self) -> None:
        return None


def make_dialer(**over: Any) -> tuple[Dialer, HeldAcks, Counting]:
    adapter = Counting()
    options = DialerSettings(
        dialer_id="d1", kafka=KafkaSettings("127.0.0.1:1"), concurrency=10, **over
    )
    dialer = Dialer(adapter, options)
    held = HeldAcks()
    dialer.producer = dialer.placed.producer = held  # type: ignore[assignment]
    dialer.publisher.producer = dialer.placer.parts.producer = held  # type: ignore[assignment]
    return dialer, held, adapter


def queue(dialer: Dialer, n: int, start: int = 0) -> None:
    far = 10**15
    for i in range(start, start + n):
        call = Call(
            f"camp/c{i}/1",
            "camp",
            "acme",
            f"c{i}",
            1,
            "+15550100001",
            "+15550100000",
            "bot",
            "",
            1,
            far,
        )
        dialer.tracker.add("call.create", 0, i)
        dialer.placer.wait(ReadCall(call, "call.create", 0, i))


def placed_records(held: HeldAcks) -> int:
    return sum(1 for topic, _v, _k in held.produced if topic.endswith("call.placed"))


def test_no_call_reaches_the_adapter_before_its_record_is_acked() -> None:
    dialer, held, adapter = make_dialer()
    queue(dialer, 4)
    dialer.placer.start_calls()
    assert placed_records(held) == 4  # one batch recorded...
    assert adapter.placed == []  # ...and not dialled while unacknowledged
    dialer.placer.start_calls()
    assert adapter.placed == []
    held.ack()
    dialer.placer.start_calls()
    assert sorted(adapter.placed) == [f"camp/c{i}/1" for i in range(4)]


def test_recording_does_not_wait_for_the_acks() -> None:
    """The records of a batch are sent, not waited for: the loop goes on reading."""
    dialer, held, _adapter = make_dialer()
    queue(dialer, 4)
    dialer.placer.start_calls()
    assert held.blocking_flushes == 0


def test_one_batch_is_recorded_at_a_time_and_the_next_follows_its_dialling() -> None:
    dialer, held, adapter = make_dialer()
    queue(dialer, 4)
    dialer.placer.start_calls()
    queue(dialer, 3, start=4)
    dialer.placer.start_calls()
    assert placed_records(held) == 4  # the second batch waits for the first's acks
    held.ack()
    dialer.placer.start_calls()
    assert len(adapter.placed) == 4
    assert placed_records(held) == 4 + 3  # recorded right after the first was dialled
    assert dialer.placer.recorded is not None and len(dialer.placer.recorded.calls) == 3


def test_a_failed_delivery_puts_the_batch_back_undialled_and_records_it_again() -> None:
    dialer, held, adapter = make_dialer()
    queue(dialer, 2)
    dialer.placer.start_calls()
    held.fail()
    dialer.placer.start_calls()
    assert adapter.placed == []
    assert dialer.placer.recorded is None and len(dialer.placer.waiting) == 2
    dialer.placer.start_calls()  # recorded again
    assert placed_records(held) == 4 and adapter.placed == []
    held.ack()
    dialer.placer.start_calls()
    assert len(adapter.placed) == 2


def test_no_ack_within_the_timeout_puts_the_batch_back() -> None:
    dialer, held, adapter = make_dialer(ack_timeout_seconds=0.0)
    queue(dialer, 2)
    dialer.placer.start_calls()
    dialer.placer.start_calls()
    assert adapter.placed == [] and len(dialer.placer.waiting) == 2


def test_outcomes_are_reported_only_with_a_later_acknowledged_flush() -> None:
    """`reported` is written once the outcome is known acked (the next batch's acks)."""
    dialer, held, adapter = make_dialer()
    queue(dialer, 2)
    dialer.placer.start_calls()
    held.ack()
    dialer.placer.start_calls()  # dialled: two outcomes produced, not acked yet
    assert len(dialer.publisher.to_report) == 2
    queue(dialer, 1, start=2)
    dialer.placer.start_calls()  # the next batch carries them
    states_before = [dialer.placed.state(f"acme/camp/c{i}/1") for i in range(2)]
    held.ack()
    dialer.placer.start_calls()
    states = [dialer.placed.state(f"acme/camp/c{i}/1") for i in range(2)]
    assert states_before == ["dialing", "dialing"] and states == ["reported", "reported"]


def test_stopping_dials_the_recorded_batch_once_acked() -> None:
    """A clean stop leaves no call recorded and undialled (its successor would report it lost)."""
    dialer, held, adapter = make_dialer()
    queue(dialer, 3)
    dialer.placer.start_calls()
    held.ack()
    dialer.consumer.close()
    dialer.consumer = ClosedConsumer()  # type: ignore[assignment]
    asyncio.run(dialer._shutdown())
    assert len(adapter.placed) == 3


def test_a_reported_record_is_the_dialing_record_with_its_state_changed() -> None:
    """A `reported` record says what the `dialing` one said (placed_at included), with its
    state changed: the compacted topic keeps one record a call."""
    dialer, held, _adapter = make_dialer()
    queue(dialer, 2)
    dialer.placer.start_calls()
    held.ack()
    dialer.placer.start_calls()  # dialled
    queue(dialer, 1, start=2)
    dialer.placer.start_calls()
    held.ack()
    dialer.placer.start_calls()  # the outcomes are acked: reported
    codec = dialer.codec
    placed = [codec.decode(v)[1] for t, v, _k in held.produced if t.endswith("call.placed")]
    by_state: dict[str, dict[str, dict[str, Any]]] = {"dialing": {}, "reported": {}}
    for rec in placed:
        by_state[rec["state"]][rec["call_id"]] = rec
    assert sorted(by_state["reported"]) == ["camp/c0/1", "camp/c1/1"]
    for call_id, rec in by_state["reported"].items():
        assert rec == {**by_state["dialing"][call_id], "state": "reported"}
        assert rec["placed_at"] > 0


def test_an_instant_adapter_records_a_fetch_at_a_time_not_a_concurrency() -> None:
    """Instant calls end as they are placed: 30 waiting calls go out in one recorded batch
    although `concurrency` is 10 (issue 26: batches of `concurrency` capped a dev stack),
    and the read-ahead (`batch`) bounds them instead."""
    dialer, held, adapter = make_dialer(batch=25)
    queue(dialer, 30)
    assert dialer.placer.free() == 25 - 30
    dialer.placer.start_calls()
    assert placed_records(held) == 25
    held.ack()
    dialer.placer.start_calls()
    assert len(adapter.placed) == 25 and not dialer.placer.active
    assert placed_records(held) == 25 + 5


def test_calls_that_stay_in_progress_are_bounded_by_concurrency() -> None:
    """An adapter that is not instant keeps its calls in progress: a batch is at most
    `concurrency` calls, and nothing more is read while they are in progress."""
    dialer, held, _adapter = make_dialer(batch=25)
    dialer.placer._instant = None  # as the webhook adapter: one task per call
    queue(dialer, 30)
    dialer.placer.start_calls()
    assert placed_records(held) == 10
    assert dialer.placer.free() == 10 - 20


def test_the_record_forgets_the_oldest_reported_calls_past_its_size() -> None:
    """Past `max_size` the oldest reported calls are forgotten, a call still dialling never
    is, and the record stays at its size (by looking at the oldest keys only)."""
    record = PlacedRecord(None, {}, "t", None, "d", "simulator", max_size=3)  # type: ignore[arg-type]
    record._set("a/stuck/1", DIALING)
    for i in range(10):
        record._set(f"a/c{i}/1", DIALING)
        record._set(f"a/c{i}/1", REPORTED)
    assert record.state("a/stuck/1") == DIALING
    assert len(record) <= 3 + 1
    assert [record.state(f"a/c{i}/1") for i in (8, 9)] == [REPORTED, REPORTED]
    assert "a/c0/1" not in record


class _CountingOrder(OrderedDict[str, str]):
    """The record's map, counting the keys walked over when it is iterated."""

    walked = 0

    def __iter__(self) -> Iterator[str]:
        for key in super().__iter__():
            self.walked += 1
            yield key


def _keys_walked_a_call(max_size: int) -> float:
    """Keys the record walks over a call (dialing, then reported) once it is full."""
    record = PlacedRecord(None, {}, "t", None, "d", "simulator", max_size=max_size)  # type: ignore[arg-type]
    assert type(record._state) is OrderedDict
    record._state = states = _CountingOrder()
    for i in range(max_size):  # fill it
        record._set(f"a/c{i}/1", DIALING)
        record._set(f"a/c{i}/1", REPORTED)
    states.walked = 0
    calls = 2 * max_size
    for i in range(max_size, max_size + calls):
        record._set(f"a/c{i}/1", DIALING)
        record._set(f"a/c{i}/1", REPORTED)
    assert len(record) == max_size
    return states.walked / calls


def test_forgetting_the_oldest_call_costs_the_same_whatever_the_size() -> None:
    """Past its size, each call makes the record forget one key, and finding it walks one
    key whether the record holds 100 or 20,000. The map is an OrderedDict on purpose: a
    plain dict would walk one key here too, but its iteration starts at its first slot and
    skips in C every entry deleted since its last resize (O(max_size) a call: a 1M-contact
    run's dialer paid 3x its 100k CPU a call), which no count from Python can see."""
    assert _keys_walked_a_call(100) == _keys_walked_a_call(20_000) == 1.0
