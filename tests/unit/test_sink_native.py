"""ClickHouse decoding the Avro itself (sinks.native) gives exactly the rows of the Python path."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from sinks.batch import NativeSource
from sinks.dsn import open_client
from sinks.migrations import migrate
from sinks.native import NativeAvro
from sinks.rows import ATTEMPTS, COLUMNS, OUTCOMES, to_row
from topics.codec import Codec, decode, encode
from topics.samples import SAMPLES

pytestmark = pytest.mark.unit

T0 = 1_796_133_600_000


def _attempts() -> list[dict[str, Any]]:
    base = SAMPLES["CallCreate"]
    return [
        base,
        {**base, "call_id": "c/ü/2", "to": "+4930123", "from": "", "alternate_position": 3},
        {**base, "call_id": "c/x/3", "attempt": 65535, "variables": {}, "agent_prompt": "é" * 300},
        {**base, "call_id": "c/y/1", "created_at": 0, "deadline": T0 + 1},
    ]


def _outcomes() -> list[dict[str, Any]]:
    base = SAMPLES["CallOutcome"]
    return [
        base,
        {
            **base,
            "call_id": "c/n/1",
            "status": "no_answer",
            "created_at": None,
            "started_at": None,
            "answered_at": None,
            "duration_seconds": None,
            "hangup_cause": None,
            "dialer_id": None,
        },
        {**base, "call_id": "c/e/1", "hangup_cause": "", "dialer_id": "", "duration_seconds": 0.1},
        {**base, "call_id": "c/t/1", "status": "timeout", "ended_at": T0 + 999},
        {**base, "call_id": "c/o/1", "status": "busy", "opt_out": True},
    ]


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[Any]:
    c = open_client(f"chdb://{tmp_path / 'ch'}")
    migrate(c)
    try:
        yield c
    finally:
        c.close()


def _sources(native: NativeAvro, values: list[bytes]) -> list[NativeSource]:
    """Records as a batch keeps them: value, header length, published, topic, partition, offset, key."""
    out: list[NativeSource] = []
    for i, value in enumerate(values):
        routed = native.route(value)
        assert routed is not None
        out.append((value, routed[1], T0 + 7 * i, "t", 0, i, b"c"))
    return out


def _stored(client: Any, table: str) -> list[tuple[Any, ...]]:
    cols = ", ".join(f"`{c}`" for c in COLUMNS[table])
    return [
        tuple(r) for r in client.query(f"SELECT {cols} FROM {table} ORDER BY call_id").result_rows
    ]


@pytest.mark.parametrize(
    ("event", "table", "records"),
    [("CallCreate", ATTEMPTS, _attempts), ("CallOutcome", OUTCOMES, _outcomes)],
)
def test_native_rows_equal_python_rows(client: Any, event: str, table: str, records: Any) -> None:
    native = NativeAvro(Codec())
    values = [encode(event, r) for r in records()]
    sources = _sources(native, values)
    native.insert(client, table, sources, {"insert_deduplication_token": "n"}, embedded=True)
    by_clickhouse = _stored(client, table)
    client.command(f"TRUNCATE TABLE {table}")
    rows = []
    for value, _header, published, *_where in sources:
        mapped = to_row(*decode(value), published)
        assert mapped is not None and mapped[0] == table
        rows.append(mapped[1])
    client.insert(table, rows, column_names=list(COLUMNS[table]))
    by_python = _stored(client, table)
    assert len(by_clickhouse) == len(values)
    assert by_clickhouse == by_python


def test_container_is_a_valid_avro_file() -> None:
    native = NativeAvro(Codec())
    values = [encode("CallOutcome", r) for r in _outcomes()]
    blob = native.container(OUTCOMES, _sources(native, values))
    read: list[Any] = list(fastavro.reader(io.BytesIO(blob)))
    assert [r["call_id"] for r in read] == [r["call_id"] for r in _outcomes()]
    assert all(r["_end"] == bytes.fromhex("8e1b5a03d742996c") for r in read)
    assert int.from_bytes(read[1]["_published"], "little") == T0 + 7


def test_same_token_inserts_once(client: Any) -> None:
    native = NativeAvro(Codec())
    sources = _sources(native, [encode("CallCreate", r) for r in _attempts()])
    for _ in range(2):
        native.insert(client, ATTEMPTS, sources, {"insert_deduplication_token": "t"}, embedded=True)
    assert client.query("SELECT count() FROM call_attempts").result_rows == [(len(sources),)]


@pytest.mark.parametrize(
    "corrupt",
    [lambda v: v[:-2], lambda v: v + b"\x02x", lambda v: v[:12] + b"\xff" * 12],
    ids=["truncated", "trailing-bytes", "garbage"],
)
def test_a_corrupt_body_fails_the_insert(client: Any, corrupt: Any) -> None:
    """A bad body must not shift its neighbours into wrong rows: the whole insert fails."""
    native = NativeAvro(Codec())
    values = [encode("CallOutcome", r) for r in _outcomes()]
    values[1] = corrupt(values[1])
    with pytest.raises(Exception):  # noqa: B017 - whatever ClickHouse raises
        native.insert(client, OUTCOMES, _sources(native, values), {}, embedded=True)
    assert client.query("SELECT count() FROM call_outcomes").result_rows == [(0,)]


@pytest.mark.parametrize(
    ("event", "table", "change"),
    [
        ("CallCreate", ATTEMPTS, {"alternate_position": 70000}),  # was stored as 4464
        ("CallCreate", ATTEMPTS, {"alternate_position": -1}),  # was stored as 65535
        ("CallCreate", ATTEMPTS, {"attempt": 65536}),
        ("CallCreate", ATTEMPTS, {"created_at": 2**62}),
        ("CallOutcome", OUTCOMES, {"attempt": 70000}),
        ("CallOutcome", OUTCOMES, {"answered_at": -(2**62)}),
    ],
)
def test_a_value_out_of_its_columns_range_fails_the_insert(
    client: Any, event: str, table: str, change: dict[str, Any]
) -> None:
    """Nothing is wrapped or clamped: the insert fails, and the Python path parks the record."""
    native = NativeAvro(Codec())
    records = _attempts() if table == ATTEMPTS else _outcomes()
    records[1] = {**records[1], **change}
    values = [encode(event, r) for r in records]
    with pytest.raises(Exception, match="does not fit its column"):
        native.insert(client, table, _sources(native, values), {}, embedded=True)
    assert client.query(f"SELECT count() FROM {table}").result_rows == [(0,)]


def test_a_published_time_out_of_range_fails_the_insert(client: Any) -> None:
    native = NativeAvro(Codec())
    value = encode("CallOutcome", _outcomes()[0])
    routed = native.route(value)
    assert routed is not None
    source: NativeSource = (value, routed[1], 2**62, "t", 0, 0, b"c")
    with pytest.raises(Exception, match="does not fit its column"):
        native.insert(client, OUTCOMES, [source], {}, embedded=True)


def test_route_takes_only_current_call_schemas() -> None:
    native = NativeAvro(Codec())
    assert native.route(encode("CallCreate", SAMPLES["CallCreate"])) == (ATTEMPTS, 10)
    assert native.route(encode("CallOutcome", SAMPLES["CallOutcome"])) == (OUTCOMES, 10)
    assert native.route(encode("CampaignEvent", SAMPLES["CampaignEvent"])) is None
    assert native.route(b"\xc3\x01" + b"\x00" * 8 + b"body") is None
    assert native.route(b"\x00\x00\x00\x00\x07body") is None
    assert native.route(b"plain text") is None
    assert native.route(b"") is None
    assert native.route(None) is None


def test_statements_for_a_server_read_the_request_body() -> None:
    native = NativeAvro(Codec())
    sql = native.statement(ATTEMPTS, None)
    assert sql.startswith("INSERT INTO call_attempts (`call_id`")
    assert "FROM input(" in sql and sql.endswith("FORMAT Avro")
    assert "`to`" in sql and "`from`" in sql
    assert "file(" in native.statement(OUTCOMES, "/tmp/x.avro")


def test_an_embedded_insert_carries_its_token_in_its_own_settings_clause() -> None:
    """On the embedded engine the token goes in the INSERT (clickhouse-connect's chdb client,
    given settings, would read, SET and restore them: three more queries an insert)."""
    native = NativeAvro(Codec())
    sql = native.statement(OUTCOMES, "/tmp/x.avro", {"insert_deduplication_token": "t:1'x"})
    assert "SETTINGS insert_deduplication_token = 't:1\\'x' SELECT" in sql
    assert "SETTINGS" not in native.statement(OUTCOMES, "/tmp/x.avro")
    with pytest.raises(ValueError, match="setting name"):
        native.statement(OUTCOMES, "/tmp/x.avro", {"a = 1, b": "x"})
