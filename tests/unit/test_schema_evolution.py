"""Schemas evolve safely: data written with any released schema still decodes with the current one.

Every released version lives in schemas/avro/history/<Name>.v<N>.avsc. Changing a
schema means: keep it backward compatible (new fields with defaults, new enum
symbols at the end, new union branches at the end), then
`campaignflow topics freeze-schemas` to release it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro._read_common import SchemaResolutionError
from fastavro.read import schemaless_reader

from topics import samples, schemas
from topics.codec import SINGLE_OBJECT_MAGIC, Codec

pytestmark = pytest.mark.unit

RELEASED = [(event, v, s) for event in schemas.EVENTS for v, s in schemas.history(event)]


def _without_logical(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_logical(n) for n in node]
    if isinstance(node, dict):
        return {k: _without_logical(v) for k, v in node.items() if k != "logicalType"}
    return node


def _as_read(old: dict, event: str, record: dict) -> dict:
    """What a current reader makes of `record` written with `old`: added fields take defaults."""
    have = {f["name"] for f in old["fields"]}
    out = {k: v for k, v in record.items() if k in have}
    for f in schemas.expanded(event)["fields"]:
        if f["name"] not in have:
            out[f["name"]] = f["default"]
    return out


def test_every_event_has_a_released_version() -> None:
    assert {event for event, _, _ in RELEASED} == set(schemas.EVENTS)


@pytest.mark.parametrize("event", schemas.EVENTS)
def test_current_schema_is_released(event: str) -> None:
    """A schema change must be frozen as a new history version, or old readers cannot tell."""
    latest = schemas.history(event)[-1][1]
    assert schemas.canonical_form(latest) == schemas.canonical_form(schemas.expanded(event)), (
        f"{event} changed since its last release: run `campaignflow topics freeze-schemas`"
    )


@pytest.mark.parametrize(("event", "version", "old"), RELEASED, ids=lambda x: str(x)[:20])
def test_current_schema_reads_every_released_version(event: str, version: int, old: dict) -> None:
    """fastavro resolution, writer = released version, reader = current: must not fail."""
    current = schemas.expanded(event)
    record = samples.SAMPLES[event]
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(old), record)
    buf.seek(0)
    try:
        decoded = schemaless_reader(
            buf,
            parse_schema(_without_logical(old)),
            parse_schema(_without_logical(current)),
            return_record_name=True,
            return_record_name_override=True,
        )
    except SchemaResolutionError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"current {event} cannot read v{version}: {exc}")
    assert decoded == _as_read(old, event, record)


@pytest.mark.parametrize(("event", "version", "old"), RELEASED, ids=lambda x: str(x)[:20])
def test_data_written_with_a_released_version_decodes(event: str, version: int, old: dict) -> None:
    """Single-object data with the released fingerprint goes through the real codec."""
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + schemas.fingerprint(old))
    schemaless_writer(buf, parse_schema(old), samples.SAMPLES[event])
    expected = _as_read(old, event, samples.SAMPLES[event])
    assert Codec().decode(buf.getvalue()) == (event, expected)


def test_resolution_fills_added_fields_and_maps_unknown_symbols() -> None:
    """The mechanism itself: an older writer lacks a field; a newer one has an unknown symbol."""
    codec = Codec()
    current = schemas.expanded("CallOutcome")

    older = json.loads(json.dumps(current))
    older["fields"] = [f for f in older["fields"] if f["name"] != "dialer_id"]
    fp = codec.register_writer("CallOutcome", older)
    record = {k: v for k, v in samples.SAMPLES["CallOutcome"].items() if k != "dialer_id"}
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + fp)
    schemaless_writer(buf, parse_schema(older), record)
    assert codec.decode(buf.getvalue()) == ("CallOutcome", {**record, "dialer_id": None})

    newer = json.loads(json.dumps(current))
    status = next(f for f in newer["fields"] if f["name"] == "status")
    status["type"]["symbols"].append("carrier_blocked")
    newer["fields"].append({"name": "sip_code", "type": ["null", "int"], "default": None})
    fp = codec.register_writer("CallOutcome", newer)
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + fp)
    future = {**samples.SAMPLES["CallOutcome"], "status": "carrier_blocked", "sip_code": 603}
    schemaless_writer(buf, parse_schema(newer), future)
    event, decoded = codec.decode(buf.getvalue())
    assert event == "CallOutcome"
    assert decoded == {**samples.SAMPLES["CallOutcome"], "status": "unknown"}


# -- the contract's own rules ------------------------------------------------------------------


def _named_types(node: Any, out: list[dict]) -> None:
    if isinstance(node, list):
        for n in node:
            _named_types(n, out)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum"):
            out.append(node)
        for key in ("type", "items", "values", "fields"):
            if key in node:
                _named_types(node[key], out)


def _timestamp_fields(node: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(node, list):
        for n in node:
            _timestamp_fields(n, out)
    elif isinstance(node, dict):
        for f in node.get("fields", []):
            out.append((f["name"], f["type"]))
        for key in ("type", "items", "values", "fields"):
            if key in node:
                _timestamp_fields(node[key], out)


@pytest.mark.parametrize("event", schemas.EVENTS)
def test_contract_rules(event: str) -> None:
    raw = schemas.raw_schema(event)
    assert raw["namespace"] == schemas.NAMESPACE and raw["name"] == event
    named: list[dict] = []
    _named_types(raw, named)
    for t in named:
        assert t.get("doc"), f"{event}: {t['name']} has no doc"
        if t["type"] == "enum":
            assert t.get("default") in t["symbols"], f"{event}: enum {t['name']} has no default"
        for f in t.get("fields", []):
            assert f.get("doc"), f"{event}: field {t['name']}.{f['name']} has no doc"
            ftype = f["type"]
            if isinstance(ftype, list) and "null" in ftype:
                assert ftype[0] == "null" and f.get("default", "missing") is None, (
                    f"{event}: optional {t['name']}.{f['name']} must be ['null', T] default null"
                )
    fields: list[tuple[str, Any]] = []
    _timestamp_fields(raw, fields)
    ts = {"type": "long", "logicalType": "timestamp-millis"}
    for name, ftype in fields:
        if name.endswith("_at") or name in {"at", "deadline"}:
            assert ftype == ts or ftype == ["null", ts], f"{event}: {name} is not timestamp-millis"
