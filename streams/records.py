"""Engine records <-> compact bytes for the state table (JSON arrays; no pickle).

Records are JSON `[version, {field: value}]`, field names from the dataclasses
themselves, so a field the engine adds is stored without a change here. The contact's
own data is a positional array. Queue entries come back as tuples (the engine compares
them with `bisect`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from campaigns.contacts import Alternate, Contact
from campaigns.events import CampaignStatus, ContactStatus
from campaigns.models import CampaignDefinition
from campaigns.state import AccountState, CampaignState, ContactState, FifoCursor
from campaigns.store import QueueEntry
from topics.translate import STATE_ROW_VERSION, definition_from_record, definition_row

VERSION = STATE_ROW_VERSION
# msgspec writes the same compact UTF-8 JSON as `json` (no spaces, no \\u escapes), in a
# fraction of the time: a worker encodes a contact row or two per outcome.
_b = msgspec.json.Encoder().encode
_loads = msgspec.json.Decoder().decode


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_CAMPAIGN_FIELDS = _fields(CampaignState)
_CONTACT_FIELDS = _fields(ContactState)


def dump_campaign(c: CampaignState) -> bytes:
    """By field name: a field the engine adds later is stored without a change here."""
    v = {name: getattr(c, name) for name in _CAMPAIGN_FIELDS}
    if c.status is not None:
        v["status"] = c.status.value
    v["fifos"] = {kind: cursor.as_list() for kind, cursor in c.fifos.items()}
    return _b([VERSION, v])


def load_campaign(data: bytes) -> CampaignState:
    v = _loads(data)[1]
    if v.get("status") is not None:
        v["status"] = CampaignStatus(v["status"])
    v["fifos"] = {kind: FifoCursor.from_list(stored) for kind, stored in v.get("fifos", {}).items()}
    return CampaignState(**v)


def _contact(c: Contact) -> list[Any]:
    return [
        c.contact_id,
        c.row,
        c.phone_number,
        [[a.position, a.phone_number, a.variables] for a in c.alternates],
        c.variables,
        c.timezone,
        c.agent_id,
    ]


def dump_contact(s: ContactState) -> bytes:
    v = {name: getattr(s, name) for name in _CONTACT_FIELDS}
    v["contact"] = _contact(s.contact)
    if s.status is not None:
        v["status"] = s.status.value
    return _b([VERSION, v])


def load_contact(data: bytes) -> ContactState:
    v = _loads(data)[1]
    c = v["contact"]
    v["contact"] = Contact(
        contact_id=c[0],
        row=c[1],
        phone_number=c[2],
        alternates=[Alternate(a[0], a[1], a[2]) for a in c[3]],
        variables=c[4],
        timezone=c[5],
        agent_id=c[6] if len(c) > 6 else None,  # rows written before issue 23 have 6
    )
    if v.get("status") is not None:
        v["status"] = ContactStatus(v["status"])
    return ContactState(**v)


def dump_definition(d: CampaignDefinition) -> bytes:
    return definition_row(d)


def load_definition(data: bytes) -> CampaignDefinition:
    return definition_from_record(_loads(data)[1])


def dump_queue(entries: list[QueueEntry]) -> bytes:
    return _b(entries)


def load_queue(data: bytes) -> list[QueueEntry]:
    return [tuple(e) for e in _loads(data)]


def dump_times(times: tuple[int, ...]) -> bytes:
    return _b(times)


def load_times(data: bytes) -> tuple[int, ...]:
    return tuple(int(t) for t in _loads(data))


def dump_seen(seen: bool) -> bytes:
    return b"1"


def load_seen(data: bytes) -> bool:
    return True


def dump_seq(seq: int) -> bytes:
    return str(seq).encode()


def load_seq(data: bytes) -> int:
    return int(data)


_ACCOUNT_FIELDS = _fields(AccountState)


def dump_account(a: AccountState) -> bytes:
    """The account's record (SPEC 8), by field name like the campaign's."""
    return _b([VERSION, {name: getattr(a, name) for name in _ACCOUNT_FIELDS}])


def load_account(data: bytes) -> AccountState:
    v = _loads(data)[1]
    return AccountState(**{k: v[k] for k in _ACCOUNT_FIELDS if k in v})
