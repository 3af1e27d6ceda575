"""Request and response bodies of /v1 (pydantic): the OpenAPI document is generated from them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from api.currencies import ISO_4217
from campaigns.models import ACCOUNT_ID, E164, Agent

RESOURCE_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    next_cursor: str | None = None


# ---- account ---------------------------------------------------------------------------


class SubscriptionOut(BaseModel):
    active: bool
    status: str
    reason: str | None = None
    plan: str | None = None


class AccountOut(BaseModel):
    account_id: str
    name: str
    subscription: SubscriptionOut


class LinesInUseOut(BaseModel):
    inbound: int = Field(description="inbound calls in progress")
    campaigns: dict[str, int] = Field(description="calls in flight by campaign id")


class AccountSettingsOut(BaseModel):
    """GET /v1/account/settings: the account's telephony (SPEC 8) and its lines in use."""

    lines: int | None
    inbound_max_minutes: float
    in_use: LinesInUseOut


class AccountEventOut(BaseModel):
    type: str
    at: str | None
    by: str
    changes: dict[str, dict[str, Any]]


class AccountEventList(BaseModel):
    items: list[AccountEventOut]


class Billing(Body):
    """How the account's calls are billed: the sink prices each call with it (and each
    number's `rate_per_minute`), rounding its duration up to this many seconds."""

    billing_increment_seconds: Literal[1, 6, 60] = Field(
        60, description="Seconds a call is billed in: 1, 6 or 60 (per-minute billing, default)."
    )

    @field_validator("billing_increment_seconds", mode="before")
    @classmethod
    def _not_a_boolean(cls, v: Any) -> Any:
        if isinstance(v, bool):  # true == 1 in Python: not a number of seconds
            raise ValueError("must be 1, 6 or 60 (a number of seconds)")
        return v


# ---- agents ----------------------------------------------------------------------------


class AgentUpdate(Body):
    name: str = Field(min_length=1, max_length=200)
    prompt: str = Field(default="", max_length=20_000)


class AgentCreate(AgentUpdate):
    agent_id: str = Field(pattern=RESOURCE_ID)


class AgentOut(BaseModel):
    agent_id: str
    name: str
    prompt: str
    variables: list[str]

    @classmethod
    def of(cls, body: dict[str, Any]) -> AgentOut:
        variables = Agent(id=body["agent_id"], prompt=body["prompt"]).variables
        return cls(**body, variables=variables)


class AgentPage(Page):
    items: list[AgentOut]


# ---- numbers ---------------------------------------------------------------------------


class NumberUpdate(Body):
    e164: str = Field(pattern=E164.pattern, description="E.164, like +15550100000")
    label: str = Field(default="", max_length=200)
    caller_id: bool = True
    rate_per_minute: Decimal | None = Field(
        default=None,
        ge=0,
        max_digits=14,
        decimal_places=6,
        description="What a minute of a call from this number costs, in `currency` (a decimal"
        " string or number, >= 0; kept as a decimal string). The sink prices calls with it.",
    )
    currency: str | None = Field(
        default=None,
        validate_default=True,
        description="ISO 4217 code of `rate_per_minute` (required with it), like USD.",
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            if info.data.get("rate_per_minute") is not None:
                raise ValueError("required with rate_per_minute (an ISO 4217 code, like USD)")
            return None
        if v not in ISO_4217:
            raise ValueError("not an ISO 4217 currency code (three capitals, like USD or EUR)")
        return v


class NumberCreate(NumberUpdate):
    number_id: str = Field(pattern=RESOURCE_ID)


class NumberOut(BaseModel):
    number_id: str
    e164: str
    label: str
    caller_id: bool
    rate_per_minute: Decimal | None = None
    currency: str | None = None


class NumberPage(Page):
    items: list[NumberOut]


# ---- webhooks --------------------------------------------------------------------------

# Every event an endpoint may subscribe to, with what it means: the one list (the API checks
# subscriptions against it; the console lists it from GET /v1/webhook-events).
WEBHOOK_EVENT_TITLES: dict[str, str] = {
    "campaign.status": "A campaign changes status",
    "contact.final": "A contact reaches a final status",
    "campaign.progress": "Campaign progress",
    "caller_id.degraded": "A caller ID's answer rate falls below half of the campaign's median",
}
WEBHOOK_EVENTS = tuple(WEBHOOK_EVENT_TITLES)
MAX_WEBHOOK_EVENTS = 20  # repeats included (kept once); a list is bounded before it is read


class WebhookCreate(Body):
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    events: list[str] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS), min_length=1, max_length=MAX_WEBHOOK_EVENTS
    )
    webhook_id: str | None = Field(default=None, pattern=RESOURCE_ID)

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        for e in v:
            if e not in WEBHOOK_EVENTS:
                raise ValueError(f"unknown event {e!r}; use {', '.join(WEBHOOK_EVENTS)}")
        return sorted(set(v))


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    events: list[str]
    created_at: str
    secret: str | None = Field(default=None, description="Only in the creation answer.")


class WebhookPage(Page):
    items: list[WebhookOut]


class WebhookEventOut(BaseModel):
    name: str
    description: str


class WebhookEventList(BaseModel):
    items: list[WebhookEventOut]


class WebhookDeliveryOut(BaseModel):
    event_id: str
    type: str = Field(
        description="campaign.status, contact.final, campaign.progress, caller_id.degraded"
        " or webhook.test."
    )
    at: str = Field(description="When the delivery was settled, ISO 8601 UTC.")
    delivered: bool
    status: int | None = Field(description="The last attempt's HTTP status; null: no answer.")
    attempts: int
    error: str = Field(description="Why it failed (empty when delivered).")


class WebhookDeliveries(BaseModel):
    items: list[WebhookDeliveryOut] = Field(
        description="The endpoint's last 20 deliveries, newest first, as this API replica sent"
        " them (kept in memory)."
    )


# ---- operator --------------------------------------------------------------------------


class AccountCreate(Body):
    account_id: str = Field(pattern=ACCOUNT_ID.pattern)
    name: str | None = Field(default=None, max_length=200)
    active: bool = False


class KeyOut(BaseModel):
    account_id: str
    key_id: str
    key: str


class KeyInfo(BaseModel):
    key_id: str
    prefix: str = Field(description="The key's public start (cfk_<key_id>_), to recognise it by.")
    created_at: str | None = Field(description="ISO 8601 UTC.")
    revoked_at: str | None = Field(description="ISO 8601 UTC; null while the key is live.")


class KeyList(BaseModel):
    items: list[KeyInfo]


class SubscriptionIn(Body):
    active: bool
    plan: str | None = Field(default=None, max_length=100)


# ---- do-not-call lists -----------------------------------------------------------------

REGION = r"^[A-Za-z]{2}$"
MAX_DNC_NUMBERS = 1000  # one request; more: POST /v1/dnc/import


class DncIn(Body):
    numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=MAX_DNC_NUMBERS,
        description="E.164 or national numbers (national ones in `region`).",
    )
    region: str = Field(default="US", pattern=REGION, description="ISO 3166 alpha-2 region.")


class DncEntryOut(BaseModel):
    number: str = Field(description="E.164, in full: the account's own list.")
    added_at: str = Field(description="When it was (last) put on the list, ISO 8601 UTC.")


class DncPage(Page):
    items: list[DncEntryOut]


class DncAdded(BaseModel):
    items: list[DncEntryOut]


class DncRejectedLine(BaseModel):
    line: int = Field(description="1-based line number in the uploaded file.")
    text: str
    reason: str


class DncImportOut(BaseModel):
    lines: int
    accepted: int
    skipped: int = Field(description="Blank lines, comments and a header line.")
    rejected: int
    rejected_lines: list[DncRejectedLine] = Field(description="The first 1000 rejected lines.")
