"""Let ClickHouse decode the Avro: call attempts and outcomes go in without Python decoding.

Decoding a message in Python (fastavro) and mapping it to a row costs ~28 µs; ClickHouse
reads Avro natively far faster. So for the high-volume events (CallCreate, CallOutcome)
written with the current schema, the sink strips the wire header (single-object
`C3 01 + fingerprint` or Confluent `00 + schema id`) and keeps the body. At flush the
bodies of one table become one Avro object container (header with the writer schema,
one block) inserted with `INSERT INTO t (cols) SELECT <mapping> FROM input(...)` (a
server) or `... FROM file(...)` (the embedded engine, which has no request body).

Each body is framed as `published (fixed 8, little-endian millis) + body + END`, and
the writer schema gets the matching fields around the event's own. The SELECT checks
END on every record: a truncated body or one with trailing bytes shifts what follows,
so the END read is wrong and the insert fails instead of storing shifted values. It also
checks every number against its column's range (`sinks.rows.COLUMN_TYPES`): an Avro int
of 70000 would otherwise go into a UInt16 as 4464. A failed insert makes the caller
decode that batch in Python, where the same ranges are checked row by row (bad messages
go to the dead-letter topic). The SELECT gives exactly the rows of `sinks.rows`.
CampaignEvent (union bodies) and CampaignCommand stay on the Python path.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sinks.batch import NativeSource
from sinks.exceptions import NativeUnsupported
from sinks.query import literal
from sinks.rows import ATTEMPTS, COLUMN_TYPES, COLUMNS, OUTCOMES, value_range
from topics import schemas
from topics.avrobytes import bytes_field, long_bytes
from topics.codec import SINGLE_OBJECT_MAGIC, Codec
from topics.samples import SAMPLES

END = bytes.fromhex("8e1b5a03d742996c")  # not periodic: a shift of 1..7 bytes cannot match
SYNC = bytes.fromhex("63666c6f772d73696e6b2d6176726f21")  # any 16 bytes; "cflow-sink-avro!"
_SO_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
_CF_HEADER = 5
_PUBLISHED = struct.Struct("<q")
_AVRO_NS = "io.campaignflow.sink"

# Table -> the event it holds, and column -> SELECT expression where it is not the field itself.
EVENTS: dict[str, str] = {ATTEMPTS: "CallCreate", OUTCOMES: "CallOutcome"}
_EXPRESSIONS: dict[str, dict[str, str]] = {
    ATTEMPTS: {"to_number": "`to`", "caller_id": "`from`"},
    OUTCOMES: {
        "account_id": "assumeNotNull(account_id)",
        "hangup_cause": "ifNull(hangup_cause, '')",
        "dialer_id": "ifNull(dialer_id, '')",
    },
}
# Nullable fields a row must have: a record without one fails the insert, and the batch
# goes the Python way, where it is parked (`sinks.rows`).
_REQUIRED: dict[str, tuple[str, ...]] = {OUTCOMES: ("account_id",)}
_SOURCES: dict[str, dict[str, str]] = {ATTEMPTS: {"to_number": "to", "caller_id": "from"}}


def _setting_name(name: str) -> str:
    """A setting's name as it may stand in SQL (ours are constants; this keeps it so)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a ClickHouse setting name: {name!r}")
    return name


def _ch_type(avro: Any) -> str:
    """ClickHouse type of an Avro field type (the shapes CallCreate/CallOutcome use)."""
    if isinstance(avro, list):
        rest = [t for t in avro if t != "null"]
        if len(rest) == 1 and len(avro) == 2:
            return f"Nullable({_ch_type(rest[0])})"
        raise NativeUnsupported(f"union {avro!r}")
    if isinstance(avro, dict):
        if avro.get("logicalType") == "timestamp-millis" and avro.get("type") == "long":
            return "DateTime64(3, 'UTC')"
        if avro.get("type") == "enum":
            return "String"
        return _ch_type(avro.get("type"))
    simple = {
        "string": "String",
        "int": "Int32",
        "long": "Int64",
        "double": "Float64",
        "boolean": "Bool",
    }
    if avro in simple:
        return simple[avro]
    raise NativeUnsupported(f"type {avro!r}")


def _in_range(table: str) -> str:
    """SQL true when every checked number of a record fits its column (NULLs do)."""
    sources = _SOURCES.get(table, {})
    terms = []
    for column, ctype in COLUMN_TYPES[table].items():
        low, high = value_range(ctype)
        if column == "published_at":
            raw = "reinterpretAsInt64(_published)"
        elif ctype.startswith(("DateTime64", "Nullable(DateTime64")):
            raw = f"toUnixTimestamp64Milli(`{sources.get(column, column)}`)"
        else:
            raw = f"`{sources.get(column, column)}`"
        terms.append(f"({raw} IS NULL OR {raw} BETWEEN {low} AND {high})")
    return " AND ".join(terms)


@dataclass(frozen=True)
class _Plan:
    """How one table's bodies are wrapped and selected."""

    head: bytes  # the container's file header (magic, metadata with the schema, sync)
    columns: str  # "(col, col, ...)" of the INSERT
    select: str  # "SELECT ... FROM {source} WHERE <END check>", {source} to fill in
    structure: str  # input()/file() structure


def _plan(table: str, writer: dict[str, Any]) -> _Plan:
    fields = {f["name"]: f for f in writer["fields"]}
    sources = _SOURCES.get(table, {})
    expressions = _EXPRESSIONS.get(table, {})
    wanted = [sources.get(c, c) for c in COLUMNS[table] if c != "published_at"]
    missing = [f for f in wanted if f not in fields]
    if missing:
        raise NativeUnsupported(f"{writer['name']} has no field {missing}")
    structure = ", ".join(
        ["_published FixedString(8)"]
        + [f"`{f['name']}` {_ch_type(f['type'])}" for f in writer["fields"] if f["name"] in wanted]
        + ["_end FixedString(8)"]
    )
    select = []
    for column in COLUMNS[table]:
        if column == "published_at":
            select.append("fromUnixTimestamp64Milli(reinterpretAsInt64(_published), 'UTC')")
        else:
            select.append(expressions.get(column, f"`{column}`"))
    schema = dict(writer)
    schema["fields"] = [
        {
            "name": "_published",
            "type": {"type": "fixed", "name": f"{_AVRO_NS}.Published", "size": 8},
        },
        *writer["fields"],
        {"name": "_end", "type": {"type": "fixed", "name": f"{_AVRO_NS}.End", "size": 8}},
    ]
    meta = (
        long_bytes(2)
        + bytes_field(b"avro.schema")
        + bytes_field(json.dumps(schema, separators=(",", ":")).encode())
        + bytes_field(b"avro.codec")
        + bytes_field(b"null")
        + b"\x00"
    )
    return _Plan(
        head=b"Obj\x01" + meta + SYNC,
        columns="(" + ", ".join(f"`{c}`" for c in COLUMNS[table]) + ")",
        select=(
            f"SELECT {', '.join(select)} FROM {{source}} "
            f"WHERE throwIf(hex(_end) != '{END.hex().upper()}', "
            "'a message body is truncated or has trailing bytes') = 0"
            f" AND throwIf(NOT ({_in_range(table)}), 'a value does not fit its column') = 0"
            + "".join(
                f" AND throwIf(`{c}` IS NULL OR `{c}` = '', 'a record has no {c}') = 0"
                for c in _REQUIRED.get(table, ())
            )
        ),
        structure=structure,
    )


class NativeAvro:
    """Which messages ClickHouse can decode itself, how to frame them, and how to insert them."""

    def __init__(self, codec: Codec) -> None:
        self._headers: dict[bytes, str] = {}
        self._plans: dict[str, _Plan] = {}
        for table, event in EVENTS.items():
            writer = schemas.expanded(event)
            self._plans[table] = _plan(table, writer)
            self._headers[SINGLE_OBJECT_MAGIC + schemas.fingerprint(writer)] = table
            # The header the codec itself writes (a registry's schema id, when one is set).
            sample = codec.encode(event, SAMPLES[event])
            size = _SO_HEADER if sample[:1] == SINGLE_OBJECT_MAGIC[:1] else _CF_HEADER
            self._headers[sample[:size]] = table

    def route(self, value: bytes | None) -> tuple[str, int] | None:
        """(table, header length) when the value is a current-schema CallCreate/CallOutcome."""
        if not value:
            return None
        first = value[0]
        if first == 0xC3:
            table = self._headers.get(value[:_SO_HEADER])
            return None if table is None else (table, _SO_HEADER)
        if first == 0:
            table = self._headers.get(value[:_CF_HEADER])
            return None if table is None else (table, _CF_HEADER)
        return None

    @staticmethod
    def frame(value: bytes, header: int, published_ms: int) -> bytes:
        """One record of the container: published millis, the Avro body, the END sentinel."""
        return b"".join((_PUBLISHED.pack(published_ms), value[header:], END))

    def container(self, table: str, sources: Sequence[NativeSource]) -> bytes:
        """An Avro object container file of the records (value, header length, published ms, ...)."""
        pack = _PUBLISHED.pack
        parts: list[bytes] = []
        append = parts.append
        for source in sources:
            append(pack(source[2]))
            append(source[0][source[1] :])
            append(END)
        data = b"".join(parts)
        return b"".join(
            (self._plans[table].head, long_bytes(len(sources)), long_bytes(len(data)), data, SYNC)
        )

    def statement(
        self, table: str, path: str | None, settings: Mapping[str, Any] | None = None
    ) -> str:
        """The INSERT: from `file(path)` on the embedded engine, else from the request body.

        `settings` (embedded engine only) go in the INSERT's own SETTINGS clause: passed
        to clickhouse-connect's chdb client instead, each insert cost three more queries
        (it reads the settings' values from system.settings, SETs them, then SETs them
        back), about a quarter of the sink's CPU in an end-to-end run.
        """
        plan = self._plans[table]
        structure = literal(plan.structure)
        if path is not None:
            source = f"file({literal(path)}, 'Avro', {structure})"
            pairs = [f"{_setting_name(k)} = {literal(str(v))}" for k, v in (settings or {}).items()]
            clause = f"SETTINGS {', '.join(pairs)} " if pairs else ""
            return f"INSERT INTO {table} {plan.columns} {clause}" + plan.select.format(
                source=source
            )
        source = f"input({structure})"
        return (
            f"INSERT INTO {table} {plan.columns} "
            + plan.select.format(source=source)
            + " FORMAT Avro"
        )

    def insert(
        self,
        client: Any,
        table: str,
        sources: Sequence[NativeSource],
        settings: Mapping[str, Any],
        embedded: bool,
    ) -> None:
        """Insert kept records (see sinks.batch.NativeSource); raises what ClickHouse says."""
        blob = self.container(table, sources)
        if not embedded:
            client.command(self.statement(table, None), data=blob, settings=dict(settings))
            return
        fd, path = tempfile.mkstemp(suffix=".avro", prefix="cflow-sink-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            client.command(self.statement(table, path, settings))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
