"""The event contracts: load `schemas/avro/*.avsc`, inline cross-file references, fingerprint.

Each top-level event has its own file; a file may name a type defined in another
file (CampaignCommand names CampaignDefinition). `expanded()` inlines those so every
event is one self-contained schema, which is what gets fingerprinted, registered
and frozen under `schemas/avro/history/<Name>.v<N>.avsc`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import to_parsing_canonical_form

NAMESPACE = "io.campaignflow.v1"
# The contracts live beside the packages (schemas/avro at the project root), found from here.
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
HISTORY_DIR = SCHEMA_DIR / "history"

# Every top-level event, in dependency order (a file only names types of files before it).
EVENTS: tuple[str, ...] = (
    "CampaignDefinition",
    "CampaignCommand",
    "ContactBatch",
    "CallCreate",
    "CallOutcome",
    "CampaignEvent",
    "Tick",
    "DncEntry",
    "AccountStatus",
    "InboundCall",
    "DeadLetter",
    "ApiRecord",
    "CallPlaced",
    "CallerIdHealth",
)

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def full_name(name: str) -> str:
    """`CallCreate` -> `io.campaignflow.v1.CallCreate` (full names are what unions carry)."""
    return name if "." in name else f"{NAMESPACE}.{name}"


def short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@cache
def _raw(name: str) -> str:
    return (SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8")


def raw_schema(name: str) -> dict[str, Any]:
    """The event's file as written (may name types of other files)."""
    data: dict[str, Any] = json.loads(_raw(name))
    return data


def _expand(node: Any, namespace: str, defined: set[str]) -> Any:
    """Inline references to other event files on first use; later uses stay names."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        fname = node if "." in node else f"{namespace}.{node}"
        if fname in defined:
            return node
        short = short_name(fname)
        if fname.startswith(NAMESPACE + ".") and short in EVENTS:
            return _expand(raw_schema(short), namespace, defined)
        return node
    if isinstance(node, list):
        return [_expand(n, namespace, defined) for n in node]
    if isinstance(node, dict):
        out = dict(node)
        kind = node.get("type")
        ns = node.get("namespace", namespace)
        if kind in ("record", "error", "enum", "fixed"):
            name = node["name"]
            defined.add(name if "." in name else f"{ns}.{name}")
        if kind in ("record", "error"):
            out["fields"] = [
                {**fld, "type": _expand(fld["type"], ns, defined)} for fld in node["fields"]
            ]
        elif kind == "array":
            out["items"] = _expand(node["items"], ns, defined)
        elif kind == "map":
            out["values"] = _expand(node["values"], ns, defined)
        elif isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in _PRIMITIVES):
            out["type"] = _expand(kind, ns, defined)
        return out
    return node


@cache
def _expanded_json(name: str) -> str:
    return json.dumps(_expand(raw_schema(name), NAMESPACE, set()))


def expanded(name: str) -> dict[str, Any]:
    """The current schema of an event, self-contained (a fresh copy each call)."""
    data: dict[str, Any] = json.loads(_expanded_json(name))
    return data


def history(name: str) -> list[tuple[int, dict[str, Any]]]:
    """Every released version of an event's schema, oldest first: [(version, schema)]."""
    out: list[tuple[int, dict[str, Any]]] = []
    for path in HISTORY_DIR.glob(f"{name}.v*.avsc"):
        version = path.name[len(name) + 2 : -len(".avsc")]
        if version.isdigit():
            out.append((int(version), json.loads(path.read_text(encoding="utf-8"))))
    return sorted(out, key=lambda pair: pair[0])


def canonical_form(schema: dict[str, Any]) -> str:
    """Avro parsing canonical form: what fingerprints and compatibility are about."""
    return str(to_parsing_canonical_form(schema))


_EMPTY64 = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (Rabin) fingerprint, as the Avro specification defines it."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8 bytes a single-object encoded message carries: CRC-64-AVRO, little-endian."""
    return crc64_avro(canonical_form(schema).encode("utf-8")).to_bytes(8, "little")


def freeze(name: str, directory: Path | None = None) -> Path | None:
    """Write the current schema as the next history version unless the latest already matches.

    Run this when a changed schema is released, so old data keeps decoding.
    """
    directory = directory or HISTORY_DIR
    current = expanded(name)
    versions = history(name) if directory == HISTORY_DIR else []
    if versions and canonical_form(versions[-1][1]) == canonical_form(current):
        return None
    version = versions[-1][0] + 1 if versions else 1
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.v{version}.avsc"
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return path
