"""Fuzz every consumer's decode path (issue 17, item 8).

Random bytes, truncated and mutated valid messages, valid headers with random bodies,
valid records of the wrong event, and messages over the size limit go into the
worker's shell, the dialer's parser, the sink's Python decoder and the dead-letter
reader. None may raise; every message the codec cannot decode must come out as a
dead letter naming its topic, partition and offset.

FUZZ_EXAMPLES sets the examples per path (default 200, quick in `make test`); the
closing note of issue 17 ran it with FUZZ_EXAMPLES=10000.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignflow.cli_deadletter import read_envelope
from campaignflow.config import settings as cf_settings
from campaigns.engine import Engine
from campaigns.store import MemoryStore, StaticDirectory
from topics import catalogue, samples, schemas
from topics.clients import KafkaSettings
from topics.codec import SINGLE_OBJECT_MAGIC, Codec, DecodeError
from topics.deadletter import Letter

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
CODEC = Codec(None)
VALID = {event: CODEC.encode(event, samples.SAMPLES[event]) for event in schemas.EVENTS}
FINGERPRINTS = [
    SINGLE_OBJECT_MAGIC + schemas.fingerprint(schemas.expanded(e)) for e in schemas.EVENTS
]
OVERSIZE = b"\xc3\x01" + b"\x00" * catalogue.MAX_MESSAGE_BYTES


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return draw(st.binary(max_size=4096))
    if kind == 1:  # a valid message cut short
        data = VALID[draw(st.sampled_from(schemas.EVENTS))]
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == 2:  # a valid message with bytes changed
        data = bytearray(VALID[draw(st.sampled_from(schemas.EVENTS))])
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == 3:  # a known header, a random body
        return draw(st.sampled_from(FINGERPRINTS)) + draw(st.binary(max_size=2048))
    if kind == 4:  # a valid record of any event (the wrong one for most topics)
        return VALID[draw(st.sampled_from(schemas.EVENTS))]
    if kind == 5:  # a valid record with garbage after it
        return VALID[draw(st.sampled_from(schemas.EVENTS))] + draw(
            st.binary(min_size=1, max_size=64)
        )
    return draw(st.sampled_from([OVERSIZE, b"", b"\x00", b"\xc3", b"\xc3\x01"]))


def undecodable(value: bytes) -> bool:
    try:
        CODEC.decode(value)
    except DecodeError:
        return True
    return len(value) > catalogue.MAX_MESSAGE_BYTES


def letters(produced: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    out = []
    for _topic, value in produced:
        event, rec = CODEC.decode(value)
        if event == "DeadLetter":
            out.append(rec)
    return out


# ---- the worker --------------------------------------------------------------------------


class _ShellStore:
    """The engine's MemoryStore plus what the shell asks of a table store (no RocksDB)."""

    def __init__(self) -> None:
        self.memory = MemoryStore()
        self.partition = 0
        self.account = ""  # one MemoryStore for every account: enough for decoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self.memory, name)

    def campaigns(self, partition: int) -> Iterator[Any]:
        return iter([(f"any/{c.campaign_id}", c) for c in self.memory.campaigns.values()])

    def touch(self, partition: int) -> None: ...
    def forget(self) -> None: ...
    def discard(self, campaign_id: str) -> None: ...
    def seal(self) -> None: ...
    def oversized(self, campaign_id: str, limit: int, contacts: bool) -> list[tuple[str, int]]:
        return []


@pytest.fixture(scope="module")
def shell() -> Any:
    from streams.shell import Inbound, Shell

    store = _ShellStore()
    sh = Shell(Engine(store, StaticDirectory()), store, CODEC, prefix=cf_settings().topic_prefix)  # type: ignore[arg-type]
    return sh, Inbound


@FUZZ
@given(
    value=payloads(),
    logical=st.sampled_from(catalogue.ENGINE_INPUTS),
    partition=st.integers(0, 5),
    offset=st.integers(0, 2**40),
)
def test_worker_shell(shell: Any, value: bytes, logical: str, partition: int, offset: int) -> None:
    sh, inbound = shell
    topic = catalogue.topic_name(logical, cf_settings().topic_prefix)
    out = sh.handle([inbound(topic, partition, offset, b"k", value)])
    parked = letters([(o.topic, o.value) for o in out])
    for o in out:
        assert len(o.value) <= catalogue.MAX_MESSAGE_BYTES
    if undecodable(value):
        assert any(
            (r["topic"], r["partition"], r["offset"]) == (topic, partition, offset) for r in parked
        ), parked


# ---- the dialer --------------------------------------------------------------------------


@dataclass
class _Message:
    """What the consumers read off a confluent-kafka Message."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"k"

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)


@dataclass
class _Capture:
    """Stands in for the producer of a consumer under test: keeps what it is given."""

    produced: list[tuple[str, bytes]] = field(default_factory=list)

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        assert len(value) <= catalogue.MAX_MESSAGE_BYTES
        self.produced.append((topic, value))

    def park(self, letter: Letter) -> bool:
        self.produce(letter.topic, letter.value, letter.key)
        return True

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dialer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dialer.service import Dialer, DialerOptions
    from dialer.simulator import SimulatorAdapter, SimulatorConfig

    options = DialerOptions(
        dialer_id="fuzz",
        kafka=KafkaSettings(f"127.0.0.1:{_dead_port()}"),
        topic_prefix=cf_settings().topic_prefix,
    )
    d = Dialer(SimulatorAdapter(SimulatorConfig(time_scale=0)), options, codec=CODEC)
    d.producer = d.publisher.producer = _Capture()  # type: ignore[assignment]
    yield d
    asyncio.run(d.adapter.close())


@FUZZ
@given(value=payloads(), partition=st.integers(0, 5), offset=st.integers(0, 2**40))
def test_dialer_parser(dialer: Any, value: bytes, partition: int, offset: int) -> None:
    topic = dialer.call_topic
    dialer.producer.produced.clear()
    dialer._parse(_Message(topic, partition, offset, value))
    parked = letters(dialer.producer.produced)
    if undecodable(value):
        assert [(r["topic"], r["partition"], r["offset"]) for r in parked] == [
            (topic, partition, offset)
        ]
    dialer.tracker.forget(topic, partition)


# ---- the sink ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Any:
    from sinks.consumer import Sink
    from sinks.settings import SinkSettings

    config = SinkSettings(
        "chdb:///nonexistent-fuzz", cf_settings().kafka, cf_settings().topic_prefix
    )
    s = Sink(config, native_avro=False, codec=CODEC)
    s._producer = _Capture()  # type: ignore[assignment]
    return s


@FUZZ
@given(
    value=payloads(),
    logical=st.sampled_from(
        [catalogue.CALL_CREATE, catalogue.OUTCOMES, catalogue.EVENTS, catalogue.COMMANDS]
    ),
    partition=st.integers(0, 5),
    offset=st.integers(0, 2**40),
)
def test_sink_rows(sink: Any, value: bytes, logical: str, partition: int, offset: int) -> None:
    from sinks.batch import Batch

    topic = catalogue.topic_name(logical, cf_settings().topic_prefix)
    sink._producer.produced.clear()
    sink._batch = Batch(0.0)
    sink._handle(_Message(topic, partition, offset, value))
    parked = letters(sink._producer.produced)
    if undecodable(value) and len(value) <= catalogue.MAX_MESSAGE_BYTES:
        assert [(r["topic"], r["partition"], r["offset"]) for r in parked] == [
            (topic, partition, offset)
        ]


# ---- the dead-letter reader --------------------------------------------------------------


@FUZZ
@given(value=payloads(), partition=st.integers(0, 5), offset=st.integers(0, 2**40))
def test_dead_letter_reader(value: bytes, partition: int, offset: int) -> None:
    rec = read_envelope(
        value,
        catalogue.topic_name(catalogue.DEADLETTER, cf_settings().topic_prefix),
        partition,
        offset,
    )
    assert isinstance(rec.get("error"), str)
    if undecodable(value):
        assert f"{partition}:{offset}" in rec["error"]
