"""Engine records <-> compact bytes for the state table (JSON arrays; no pickle).

Positional arrays keep a contact row to ~100 bytes. The first element is a format
version so a later engine can still read old rows. Queue entries come back as tuples
(the engine compares and inserts them with `bisect`).
"""

from __future__ import annotations

import json
from typing import Any

from campaigns.contacts import Alternate, Contact
from campaigns.events import CampaignStatus, ContactStatus
from campaigns.models import CampaignDefinition
from campaigns.state import CampaignState, ContactState
from campaigns.store import QueueEntry
from topics.translate import definition_from_record, definition_to_record

VERSION = 1
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


def _b(value: Any) -> bytes:
    return _dumps(value).encode("utf-8")


def dump_campaign(c: CampaignState) -> bytes:
    return _b(
        [
            VERSION,
            c.campaign_id,
            c.status.value if c.status is not None else None,
            c.expected,
            c.arrived,
            c.final,
            c.cursor,
            c.in_flight,
            c.calls,
            c.start_at,
            c.next_wake,
            c.finished_at,
            c.counts,
            c.buckets,
            c.recent_commands,
        ]
    )


def load_campaign(data: bytes) -> CampaignState:
    v = _loads(data)
    return CampaignState(
        campaign_id=v[1],
        status=CampaignStatus(v[2]) if v[2] is not None else None,
        expected=v[3],
        arrived=v[4],
        final=v[5],
        cursor=v[6],
        in_flight=v[7],
        calls=v[8],
        start_at=v[9],
        next_wake=v[10],
        finished_at=v[11],
        counts=v[12],
        buckets=v[13],
        recent_commands=v[14],
    )


def _contact(c: Contact) -> list[Any]:
    return [
        c.contact_id,
        c.row,
        c.phone_number,
        [[a.position, a.phone_number, a.variables] for a in c.alternates],
        c.variables,
        c.timezone,
    ]


def dump_contact(s: ContactState) -> bytes:
    return _b(
        [
            VERSION,
            s.seq,
            _contact(s.contact),
            s.phase,
            s.status.value if s.status is not None else None,
            s.attempts,
            s.call_open,
            s.call_order,
            s.retry_due,
        ]
    )


def load_contact(data: bytes) -> ContactState:
    v = _loads(data)
    c = v[2]
    contact = Contact(
        contact_id=c[0],
        row=c[1],
        phone_number=c[2],
        alternates=[Alternate(a[0], a[1], a[2]) for a in c[3]],
        variables=c[4],
        timezone=c[5],
    )
    return ContactState(
        seq=v[1],
        contact=contact,
        phase=v[3],
        status=ContactStatus(v[4]) if v[4] is not None else None,
        attempts=v[5],
        call_open=v[6],
        call_order=v[7],
        retry_due=v[8],
    )


def dump_definition(d: CampaignDefinition) -> bytes:
    return _b([VERSION, definition_to_record(d)])


def load_definition(data: bytes) -> CampaignDefinition:
    return definition_from_record(_loads(data)[1])


def dump_queue(entries: list[QueueEntry]) -> bytes:
    return _b(entries)


def load_queue(data: bytes) -> list[QueueEntry]:
    return [tuple(e) for e in _loads(data)]


def dump_seq(seq: int) -> bytes:
    return str(seq).encode()


def load_seq(data: bytes) -> int:
    return int(data)
