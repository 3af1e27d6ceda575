"""The read model's typed records: what its queries hand the routes and the webhooks.

A campaign's summary is a `msgspec.Struct`, so the fold updates named fields and RocksDB
stores it as JSON decoded straight back into the record (no dict rows to misspell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


class AnswerCount(msgspec.Struct):
    """Calls made and answered, for one caller id or one attempt number."""

    calls: int = 0
    answered: int = 0


class EngineProgress(msgspec.Struct):
    """The engine's last `Progress` event for a campaign."""

    contacts_total: int
    contacts_final: int
    calls_in_flight: int
    at_ms: int | None


class CampaignSummary(msgspec.Struct):
    """One campaign as the engine decided it: its definition, status and counters."""

    campaign_id: str
    account_id: str
    name: str
    description: str
    definition: dict[str, Any]  # the definition's Avro record, as the create command had it
    status: str
    start_at_ms: int | None
    requested_start_at_ms: int | None
    created_at_ms: int | None
    last_activity_at_ms: int | None
    expected: int  # contacts the create and add commands announced
    arrived: int  # contacts the engine took and the model listed
    final: int = 0
    by_status: dict[str, int] = msgspec.field(default_factory=dict)
    calls_created: int = 0
    calls_ended: int = 0
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    by_caller_id: dict[str, AnswerCount] = msgspec.field(default_factory=dict)
    by_attempt: dict[str, AnswerCount] = msgspec.field(default_factory=dict)
    engine: EngineProgress | None = None
    # contact id -> due millis, while the callback it asked for waits (SPEC 9)
    callbacks: dict[str, int] = msgspec.field(default_factory=dict)
    edit_id: str | None = None  # the command id of the draft's last edit (issue 24.6)


@dataclass(frozen=True)
class LinesInUse:
    """An account's lines in use (SPEC 8): inbound calls in progress, and calls in flight by
    campaign (running campaigns, and any other with calls still in flight)."""

    inbound: int
    campaigns: dict[str, int]


@dataclass(frozen=True)
class DncView:
    number: str  # E.164
    updated_at_ms: int


@dataclass(frozen=True)
class ContactView:
    contact_id: str
    row: int
    status: str
    attempts: int
    last_outcome: str | None
    next_attempt_at_ms: int | None
    phone_last4: str
    agent_id: str | None = None  # the contact's own agent (issue 23); None: the campaign's
