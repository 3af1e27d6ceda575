"""Avro codecs for every event: single-object encoding by default, Confluent framing with a registry.

Wire formats, told apart by the first byte:
- `C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint + Avro body (no registry needed);
- `00` + 4-byte big-endian schema id + Avro body (Confluent, when a registry URL is set).

Decoding resolves the writer's schema (any released version under
`schemas/avro/history/`, or any id the registry knows) to the current schema, so
old data keeps decoding. Schemas are parsed once; a decode costs one dict lookup
plus fastavro's reader. Timestamps (`timestamp-millis`) decode as int epoch millis;
encode takes ints or timezone-aware datetimes. Unions of records (the `command` of
CampaignCommand, the `body` of CampaignEvent) are written and read as
`(full record name, record)` tuples: see `union()`.
"""

from __future__ import annotations

import importlib
import json
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from topics import schemas
from topics.avrobytes import long_bytes
from topics.exceptions import DecodeError, EncodeError

# fastavro's compiled writer that appends one datum to a bytearray: what its own
# `schemaless_writer` calls after collecting the schema's names and options, which a call
# per row repeated (a fifth of a row's encoding). A private name of the pinned fastavro
# (requirements.lock); tests/unit/test_codec.py checks its bytes against the public writer.
_append_data: Callable[..., None] = importlib.import_module("fastavro._write").write_data

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
_SO_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
_CF_HEADER = 5

Record = dict[str, Any]


def union(name: str, record: Record) -> tuple[str, Record]:
    """A union-of-records value: `union("StartCampaign", {})` -> (full name, record)."""
    return schemas.full_name(name), record


def _strip_logical(node: Any) -> Any:
    """Copy of a schema without logical types: the bytes are the same, the reader skips conversion."""
    if isinstance(node, list):
        return [_strip_logical(n) for n in node]
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    return node


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _named(branch: Any) -> bool:
    if isinstance(branch, str):
        return branch not in _PRIMITIVES  # a reference to a named type
    return isinstance(branch, dict) and branch.get("type") in ("record", "error", "enum", "fixed")


def _names_records(node: Any) -> bool:
    """Whether a schema has a union of two or more named types, whose values are read as
    `(name, record)` tuples (see `union()`). Elsewhere the record-name options change
    nothing fastavro returns, but make its reader a third slower."""
    if isinstance(node, list):  # a union
        return sum(map(_named, node)) > 1 or any(map(_names_records, node))
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    if kind in ("record", "error"):
        return any(_names_records(f["type"]) for f in node["fields"])
    if kind == "array":
        return _names_records(node["items"])
    if kind == "map":
        return _names_records(node["values"])
    return isinstance(kind, (list, dict)) and _names_records(kind)


@dataclass(frozen=True)
class _Reader:
    """How to read one writer schema: the event it is, and the parsed schemas to hand fastavro."""

    event: str
    writer: Any
    reader: Any  # None when the writer is the current schema (no resolution needed)
    names: bool = True  # a union of records somewhere: read them as (name, record) tuples


def _reader_of(event: str, writer: Any, reader: Any) -> _Reader:
    return _Reader(event, writer, reader, _names_records(writer) or _names_records(reader))


def _reader_for(event: str, writer_schema: dict[str, Any], current: Any) -> _Reader:
    writer = parse_schema(_strip_logical(writer_schema))
    same = schemas.canonical_form(writer_schema) == schemas.canonical_form(schemas.expanded(event))
    return _reader_of(event, current if same else writer, None if same else current)


class Codec:
    """Encoder/decoder of all events. One per process is enough (see `default_codec()`)."""

    def __init__(self, registry_url: str | None = None) -> None:
        self._writers: dict[str, Any] = {}
        self._current_readers: dict[str, Any] = {}
        self._headers: dict[str, bytes] = {}
        self._by_fingerprint: dict[bytes, _Reader] = {}
        self._by_id: dict[int, _Reader] = {}
        self._item_writers: dict[tuple[str, str], Any] = {}
        self._item_names: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        for event in schemas.EVENTS:
            current = schemas.expanded(event)
            self._writers[event] = parse_schema(current)
            reader = parse_schema(_strip_logical(current))
            self._current_readers[event] = reader
            fp = schemas.fingerprint(current)
            self._by_fingerprint[fp] = _reader_of(event, reader, None)
            for _version, old in schemas.history(event):
                old_fp = schemas.fingerprint(old)
                if old_fp not in self._by_fingerprint:
                    self._by_fingerprint[old_fp] = _reader_for(event, old, reader)
            self._headers[event] = SINGLE_OBJECT_MAGIC + fp
        self._registry: Any = None
        if registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient.new_client({"url": registry_url})
            self._register_all()

    def register_writer(self, event: str, writer_schema: dict[str, Any]) -> bytes:
        """Accept single-object data written with another version of `event`'s schema.

        Released versions under schemas/avro/history are registered at start; this is for
        schemas known some other way (and for tests). Returns the fingerprint.
        """
        fp = schemas.fingerprint(writer_schema)
        reader = _reader_for(event, writer_schema, self._current_readers[event])
        with self._lock:
            self._by_fingerprint[fp] = reader
        return fp

    # -- registry -----------------------------------------------------------------------------

    def _register_all(self) -> None:
        """Register every event's current schema under its record-name subject."""
        from confluent_kafka.schema_registry import Schema

        for event in schemas.EVENTS:
            current = schemas.expanded(event)
            schema_id = self._registry.register_schema(
                schemas.full_name(event), Schema(json.dumps(current), "AVRO")
            )
            self._headers[event] = struct.pack(">bI", CONFLUENT_MAGIC, schema_id)
            self._by_id[schema_id] = _reader_of(event, self._current_readers[event], None)

    def _reader_by_id(self, schema_id: int) -> _Reader:
        found = self._by_id.get(schema_id)
        if found is not None:
            return found
        if self._registry is None:
            raise LookupError(
                f"Confluent-framed message with schema id {schema_id} but no schema registry is configured"
                " (set CAMPAIGNFLOW_SCHEMA_REGISTRY_URL)"
            )
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:
            raise LookupError(f"unknown schema id {schema_id}: {exc}") from exc
        writer_schema = json.loads(registered.schema_str)
        name = writer_schema.get("name", "") if isinstance(writer_schema, dict) else ""
        event = schemas.short_name(schemas.full_name(name)) if name else ""
        if event not in self._current_readers:
            raise LookupError(
                f"schema id {schema_id} is {name or 'unnamed'}, not a campaignflow event"
            )
        reader = _reader_for(event, writer_schema, self._current_readers[event])
        with self._lock:
            self._by_id[schema_id] = reader
        return reader

    # -- encode -------------------------------------------------------------------------------

    def encode(self, event: str, record: Record) -> bytes:
        """Encode one record of `event` (short name, e.g. "CallCreate") with its header."""
        try:
            schema = self._writers[event]
        except KeyError:
            raise EncodeError(
                f"unknown event {event!r}; known: {', '.join(schemas.EVENTS)}"
            ) from None
        buf = BytesIO()
        buf.write(self._headers[event])
        try:
            schemaless_writer(buf, schema, record)
        except Exception as exc:
            raise EncodeError(f"{event} record does not fit its schema: {exc}") from exc
        return buf.getvalue()

    def encode_many(self, event: str, records: Iterable[Record]) -> list[bytes]:
        """Encode many records of one event, reusing one buffer and one schema lookup."""
        try:
            schema = self._writers[event]
        except KeyError:
            raise EncodeError(
                f"unknown event {event!r}; known: {', '.join(schemas.EVENTS)}"
            ) from None
        header = self._headers[event]
        buf = BytesIO()
        out: list[bytes] = []
        for record in records:
            buf.seek(0)
            buf.truncate()
            buf.write(header)
            try:
                schemaless_writer(buf, schema, record)
            except Exception as exc:
                raise EncodeError(f"{event} record does not fit its schema: {exc}") from exc
            out.append(buf.getvalue())
        return out

    def _items_of(self, event: str, array_field: str) -> Any:
        """The parsed item schema of `event`'s array field, which must be its last field.

        Why last: `encode_with_items` writes the array's block after the other fields.
        """
        key = (event, array_field)
        found = self._item_writers.get(key)
        if found is not None:
            return found
        fields = schemas.expanded(event)["fields"]
        last = fields[-1]
        if last["name"] != array_field or not (
            isinstance(last["type"], dict) and last["type"].get("type") == "array"
        ):
            raise EncodeError(f"{event}.{array_field} is not the record's last field, an array")
        named: dict[str, Any] = {}
        items = parse_schema(_strip_logical(last["type"]["items"]), named)
        with self._lock:
            self._item_names[key] = named
            self._item_writers[key] = items
        return items

    def encode_items(
        self, event: str, array_field: str, records: Iterable[Record]
    ) -> tuple[bytes, list[int]]:
        """The items of `event`'s array field, encoded one after the other, and each one's end.

        Why: the ingest workers encode rows in parallel, and the parent keeps or drops
        each one (the duplicate checks) before `encode_with_items` frames the kept ones.
        The items are appended to one bytearray by the
        function `schemaless_writer` itself calls (the same bytes, checked in the tests):
        a call of `schemaless_writer` a row re-collected the schema's names, built an
        options dict and a buffer, a fifth of a row's encoding (issue 26).
        """
        schema = self._items_of(event, array_field)
        named = self._item_names[(event, array_field)]
        options = {"strict": False, "strict_allow_default": False, "disable_tuple_notation": False}
        out = bytearray()
        ends: list[int] = []
        for record in records:
            try:
                _append_data(out, record, schema, named, "", options)
            except Exception as exc:
                raise EncodeError(
                    f"{event}.{array_field} item does not fit its schema: {exc}"
                ) from exc
            ends.append(len(out))
        return bytes(out), ends

    def encode_with_items(
        self, event: str, record: Record, array_field: str, items: Sequence[bytes], count: int
    ) -> bytes:
        """`encode(event, record)` where the array `array_field` holds `count` items that
        `encode_items` wrote (`items`: their bytes, in runs of one or more items).

        The codec owns Avro's framing: an array is blocks of `count, items...` ending in 0,
        so the record is the other fields, then one block of the given items.
        """
        self._items_of(event, array_field)  # checks the field is the last, an array
        head = self.encode(event, {**record, array_field: []})
        if not count:
            return head
        return b"".join((head[:-1], long_bytes(count), *items, b"\x00"))

    # -- decode -------------------------------------------------------------------------------

    def _locate(self, data: bytes) -> tuple[_Reader, int]:
        first = data[0]
        if first == 0xC3:
            if len(data) < _SO_HEADER or data[1] != 0x01:
                raise LookupError("truncated or malformed single-object header")
            fp = bytes(data[2:_SO_HEADER])
            found = self._by_fingerprint.get(fp)
            if found is None:
                raise LookupError(
                    f"unknown schema fingerprint {fp.hex()} (CRC-64-AVRO, little-endian);"
                    " not a current or released campaignflow schema"
                )
            return found, _SO_HEADER
        if first == CONFLUENT_MAGIC:
            if len(data) < _CF_HEADER:
                raise LookupError("truncated Confluent header")
            (schema_id,) = struct.unpack_from(">I", data, 1)
            return self._reader_by_id(schema_id), _CF_HEADER
        raise LookupError(
            f"unknown wire format: first byte 0x{first:02x} is neither single-object (0xc3) nor Confluent (0x00)"
        )

    def decode(
        self,
        data: bytes | None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> tuple[str, Record]:
        """Decode one message value -> (event name, record); raises DecodeError naming where."""
        if not data:
            raise DecodeError(
                "empty payload (tombstone or blank message)", topic, partition, offset
            )
        try:
            found, start = self._locate(data)
        except LookupError as exc:
            raise DecodeError(str(exc.args[0]), topic, partition, offset) from None
        buf = BytesIO(data)
        buf.seek(start)
        try:
            record = schemaless_reader(
                buf,
                found.writer,
                found.reader,
                return_record_name=found.names,
                return_record_name_override=found.names,
            )
        except Exception as exc:
            raise DecodeError(
                f"corrupt {found.event} body: {type(exc).__name__}: {exc}", topic, partition, offset
            ) from None
        if buf.tell() != len(data):
            raise DecodeError(
                f"corrupt {found.event} body: {len(data) - buf.tell()} trailing bytes",
                topic,
                partition,
                offset,
            )
        return found.event, record  # type: ignore[return-value]

    def decode_many(self, values: Sequence[bytes]) -> list[tuple[str, Record]]:
        """Decode many values; the first bad one raises (use `decode` per message to park it)."""
        return [self.decode(v, None, None, None) for v in values]


_default: Codec | None = None
_registry_url: str | None = None
_default_lock = threading.Lock()


def use_schema_registry(url: str | None) -> None:
    """Set the framing of the process-wide codec: Confluent's with a registry, else single-object.

    The command line calls it once at start with its setting (`schema_registry_url`);
    nothing below reads settings. It forgets a codec already made.
    """
    global _registry_url, _default
    with _default_lock:
        _registry_url = url
        _default = None


def default_codec() -> Codec:
    """The process-wide codec (one schema cache per process), framed as `use_schema_registry` said."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Codec(_registry_url)
    return _default


def encode(event_name: str, record: Record) -> bytes:
    return default_codec().encode(event_name, record)


def encode_many(event_name: str, records: Iterable[Record]) -> list[bytes]:
    return default_codec().encode_many(event_name, records)


def decode(
    data: bytes | None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> tuple[str, Record]:
    return default_codec().decode(data, topic, partition, offset)


def decode_many(values: Sequence[bytes]) -> list[tuple[str, Record]]:
    return default_codec().decode_many(values)
