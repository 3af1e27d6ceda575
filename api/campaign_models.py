"""/v1/campaigns' request and response bodies (the OpenAPI schema names them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.readmodel import FINAL_STATUSES

STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")


CONTACT_STATUSES = ("pending", *FINAL_STATUSES)  # the engine's, expired and skipped included


class ContactCounts(BaseModel):
    accepted: int
    rejected: int
    rows: int = 0


class Rejected(BaseModel):
    row: int | None
    column: str | None
    reason: str


class Variables(BaseModel):
    mapped: dict[str, str]
    unfed: list[str]
    unmapped_columns: list[str] = []
    unfed_voicemail: list[str] = []  # voicemail message variables no column feeds: left empty


class CreateSummary(BaseModel):
    campaign_id: str
    status: str | None
    contacts: ContactCounts
    rejected: list[Rejected]
    variables: Variables
    rules: dict[str, Any]
    predial: dict[str, Any] | None = None  # issue 23: the pre-dial check as parsed; null: none
    forecast: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None
    dead_lettered: int = 0


class Counters(BaseModel):
    contacts_total: int
    contacts_final: int
    contacts_by_status: dict[str, int]
    calls_created: int
    calls_in_flight: int
    concurrency_limit: int
    outcomes: dict[str, int]
    answer_rate: float | None
    callbacks_waiting: int = Field(
        0, description="Contacts waiting for the callback they asked for (SPEC 9)."
    )
    next_callback_at: str | None = Field(None, description="When the next one is due, ISO 8601.")


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    description: str
    status: str
    agent_id: str
    source_number: str
    rules: dict[str, Any] | None = None
    predial: dict[str, Any] | None = None  # issue 23: the pre-dial check; null: none
    start_at: str | None
    created_at: str | None
    last_activity_at: str | None
    counters: Counters
    estimated_completion_at: str | None
    allowed_actions: list[str]


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = None


class CommandOut(BaseModel):
    accepted: bool
    status: str | None
    command_id: str


class ScheduleIn(BaseModel):
    start_at: datetime = Field(description="ISO 8601 with a zone")


class ContactsAdded(BaseModel):
    accepted: int
    rejected: int
    rejected_rows: list[Rejected]


class DuplicateIn(BaseModel):
    campaign_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    only_unreached: bool = False


class ContactOut(BaseModel):
    contact_id: str
    row: int
    status: str
    attempts: int
    last_outcome: str | None
    next_attempt_at: str | None
    phone_last4: str
    agent_id: str | None = Field(
        default=None, description="The contact's own agent (column agent_id); null: the campaign's."
    )


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class CallOut(BaseModel):
    call_id: str
    contact_id: str
    attempt: int
    to_last4: str
    from_: str = Field(validation_alias="from_", serialization_alias="from")
    created_at: str | None
    status: str
    ended_at: str | None

    model_config = {"populate_by_name": True}


class CallPage(BaseModel):
    items: list[CallOut]
    next_cursor: str | None = None


class ForecastOut(BaseModel):
    finished_at: str | None
    status: str | None
    contacts: dict[str, int]
    calls: dict[str, int]
    model: str
    seed: int
    assumptions: dict[str, Any] = Field(
        default_factory=dict,
        description="outcome shares, call length, retries, the account's lines and the other"
        " running campaigns the forecast shared them with",
    )
    cost: dict[str, Any] | None = Field(
        None,
        description="billed calls and minutes (connected calls, each of the assumed length,"
        " rounded up to the account's billing increment) and their cost at the source"
        " number's rate_per_minute, as decimal text (null without a rate)",
    )


class StatsOut(BaseModel):
    bucket_seconds: int
    outcomes_over_time: list[dict[str, Any]]
    by_caller_id: list[dict[str, Any]]
    by_attempt: list[dict[str, Any]]
