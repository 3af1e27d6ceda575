"""The campaign definition (SPEC section 1) as validated pydantic models.

Validation lives here so that every shell (CLI, ingest, worker) rejects the same
definitions with the same messages: an error names the field and the rule.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from campaigns.exceptions import DefinitionError
from campaigns.privacy import mask_number
from campaigns.yamlsafe import YamlShapeError, safe_load

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # unique within its account
ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALL_STATUSES = (
    "answered",
    "no_answer",
    "busy",
    "failed",
    "voicemail",
    "invalid_number",
    "timeout",
    "skipped",  # SPEC 9: a pre-dial check refused the call; never in retry_on
)
DEFAULT_RETRY_ON = ("no_answer", "busy", "failed", "voicemail", "timeout")


class Strategy(StrEnum):
    rolling = "rolling"
    clamp = "clamp"
    custom = "custom"


def _check_e164(value: str, what: str) -> str:
    if not isinstance(value, str) or not E164.match(value):
        shown = mask_number(value) if isinstance(value, str) else value
        raise ValueError(f"{what} must be an E.164 number like +15550100000, got {shown!r}")
    return value


def parse_hhmm(value: str, *, allow_24: bool) -> time | None:
    """'HH:MM' to a time; '24:00' (end of day) is returned as None."""
    if allow_24 and value == "24:00":
        return None
    if not HHMM.match(value):
        raise ValueError(
            f"must be HH:MM (00:00-23:59{' or 24:00' if allow_24 else ''}), got {value!r}"
        )
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def minutes_of(value: str) -> int:
    """'HH:MM' (or '24:00') to minutes after midnight."""
    if value == "24:00":
        return 24 * 60
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Strict):
    start: str = "09:00"
    end: str = "19:00"

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        parse_hhmm(v, allow_24=False)
        return v

    @field_validator("end")
    @classmethod
    def _end(cls, v: str) -> str:
        parse_hhmm(v, allow_24=True)
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if minutes_of(self.start) >= minutes_of(self.end):
            raise ValueError(f"start must be before end, got start={self.start} end={self.end}")
        return self

    @property
    def start_minute(self) -> int:
        return minutes_of(self.start)

    @property
    def end_minute(self) -> int:
        return minutes_of(self.end)


# Sane maxima: a definition past them is a mistake, and would overflow the engine's
# microsecond clock, simulate or the Avro encoder later on (after contacts were sent).
MAX_ID_CHARS = 64
MAX_AGENT_ID_CHARS = 128
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000
# With a contact row and header of at most 100k characters each (campaigns.contacts),
# a call:create then stays under the 1 MiB message limit even in 4-byte UTF-8.
MAX_PROMPT_CHARS = 32_000
# Extra agents a campaign's contacts may name (issue 23); the definition must still
# encode within a message (ingest.upload.check_create_encodes says so when not).
MAX_EXTRA_AGENTS = 16
MAX_RETRIES = 100
MAX_RETRY_DELAY_MINUTES = 43_200  # 30 days
MAX_CALL_MINUTES = 1_440  # a day
MAX_CONCURRENT_CALLS = 100_000
MAX_CALLER_IDS = 1_000
MAX_MAPPING_ENTRIES = 1_000
MAX_COLUMN_CHARS = 256


MAX_CALLBACKS = 3
MAX_LINES = 1_000_000
MAX_INBOUND_MINUTES = 10_080  # a week
MAX_WINDOWS = 6
MAX_PERIOD_HOURS = 8784  # 366 days: a limit's rolling period is at most a (leap) year
# Every list of a definition is bounded (issue 21): the definition travels in one create
# command and is kept as one state row, both under the 1 MiB message limit, and a list
# past these sizes is a mistake (a year of daily blackouts is 366 dates; presets and
# limits come a few at a time). Checked by length before any item is validated.
MAX_BLACKOUT_DATES = 1_000
MAX_ATTEMPT_LIMITS = 20
MAX_PRESETS = 10  # repeats included (they are kept once)
MAX_LIMIT_CALLS = 1_000  # a limit keeps up to max_calls call times per number or contact
MAX_TIMEZONE_CHARS = 64


def check_window_list(windows: list[Window]) -> list[Window]:
    """SPEC 7: 1 to 6 windows, sorted by start, not overlapping (touching is allowed)."""
    if not windows:
        raise ValueError("a list of windows must hold at least one window")
    if len(windows) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} windows, got {len(windows)}")
    for i, (a, b) in enumerate(zip(windows, windows[1:], strict=False)):
        if b.start_minute < a.start_minute:
            raise ValueError(
                f"windows must be sorted by start: [{i + 1}] {b.start}-{b.end} "
                f"comes after [{i}] {a.start}-{a.end}"
            )
        if b.start_minute < a.end_minute:
            raise ValueError(
                f"windows must not overlap: [{i}] {a.start}-{a.end} and [{i + 1}] {b.start}-{b.end}"
            )
    return windows


def _window_form(value: Any) -> str:
    return WINDOW_LIST if isinstance(value, list) else ONE_WINDOW


ONE_WINDOW = "one-window"  # union tags: validated as one form or the other, never both,
WINDOW_LIST = "window-list"  # so an error speaks of the form given (dropped from paths)
# One window (sections 1-6) or a list of windows (section 7).
Windows = Annotated[
    Annotated[Window, Tag(ONE_WINDOW)]
    | Annotated[list[Window], Tag(WINDOW_LIST), Field(max_length=MAX_WINDOWS)],
    Discriminator(_window_form),
]


def window_list(value: Windows) -> tuple[Window, ...]:
    """Either form of a window field as a tuple of windows."""
    return (value,) if isinstance(value, Window) else tuple(value)


class Preset(StrEnum):
    """Legal presets of SPEC section 7 (campaigns.presets holds what each one means)."""

    us_tcpa = "us_tcpa"
    fr_2022_1313 = "fr_2022_1313"


class LimitScope(StrEnum):
    number = "number"
    contact = "contact"


class LimitAcross(StrEnum):
    """Whose calls a limit counts (SPEC 8): the campaign's own, or every campaign's of the account."""

    campaign = "campaign"
    account = "account"


class AttemptLimit(Strict):
    """At most `max_calls` calls per number (or contact) in any rolling `period_hours`."""

    scope: LimitScope
    max_calls: int = Field(ge=1, le=MAX_LIMIT_CALLS)
    period_hours: float = Field(gt=0, le=MAX_PERIOD_HOURS)
    across: LimitAcross = LimitAcross.campaign

    @model_validator(mode="after")
    def _across(self) -> AttemptLimit:
        if self.across is LimitAcross.account and self.scope is not LimitScope.number:
            raise ValueError(
                "across: account is allowed only with scope: number (contact ids belong to"
                " one campaign)"
            )
        return self

    @cached_property
    def period_us(self) -> int:
        return timedelta(hours=self.period_hours) // timedelta(microseconds=1)


class HolidayCalendar(Strict):
    """Public holidays of a country (optionally a subdivision), as the `holidays` package lists them."""

    country: str
    subdivision: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        from campaigns.blackouts import check_country

        return check_country(v)

    @model_validator(mode="after")
    def _subdivision(self) -> HolidayCalendar:
        from campaigns.blackouts import check_subdivision

        if self.subdivision is not None:
            try:
                check_subdivision(self.country, self.subdivision)
            except ValueError as err:
                raise ValueError(f"subdivision: {err}") from None
        return self


class Agent(Strict):
    id: str = Field(min_length=1, max_length=MAX_AGENT_ID_CHARS)
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)

    @property
    def variables(self) -> list[str]:
        """The `{{identifier}}` placeholders of the prompt, in order of first use."""
        seen: dict[str, None] = {}
        for name in PLACEHOLDER.findall(self.prompt):
            seen.setdefault(name, None)
        return list(seen)


class VoicemailAction(StrEnum):
    hang_up = "hang_up"
    leave_message = "leave_message"


class VoicemailOn(StrEnum):
    every = "every"
    last = "last"


MAX_VOICEMAIL_CHARS = 2_000


class Voicemail(Strict):
    """What the dialer does when a machine answers (issue 23): hang up, or leave `message`
    (a template of `{{variables}}`, rendered with the attempt's variables) on every attempt
    or only on the last one (attempt 1 + max_retries)."""

    action: VoicemailAction = VoicemailAction.hang_up
    message: str = Field(default="", max_length=MAX_VOICEMAIL_CHARS)
    on: VoicemailOn = VoicemailOn.last

    @model_validator(mode="after")
    def _message(self) -> Voicemail:
        if self.action is VoicemailAction.leave_message and not self.message.strip():
            raise ValueError("message: leave_message needs a message to leave")
        return self

    @property
    def variables(self) -> list[str]:
        """The `{{identifier}}` placeholders of the message, in order of first use."""
        return list(dict.fromkeys(PLACEHOLDER.findall(self.message)))

    def message_for(self, attempt: int, last_attempt: int, variables: dict[str, str]) -> str | None:
        """The message to leave on this attempt, rendered (a variable the contact lacks
        renders empty); None: hang up."""
        if self.action is VoicemailAction.hang_up:
            return None
        if self.on is VoicemailOn.last and attempt < last_attempt:
            return None
        return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), ""), self.message)


class PredialOnError(StrEnum):
    skip = "skip"
    dial = "dial"


MAX_PREDIAL_URL_CHARS = 2_048
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class Predial(Strict):
    """The account's pre-dial check (issue 23): the dialer asks `url` before each call and
    dials only on `{"dial": true}`; a check that fails (timeout, 5xx, bad answer, refused
    connection) follows `on_error`. https only; http only to a loopback host (tests)."""

    url: str = Field(max_length=MAX_PREDIAL_URL_CHARS)
    timeout_ms: int = Field(default=2_000, ge=100, le=10_000)
    on_error: PredialOnError = PredialOnError.skip

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        refusal = predial_url_refusal(v)
        if refusal is not None:
            raise ValueError(refusal)
        return v


def predial_url_refusal(v: str) -> str | None:
    """Why `v` may not be a pre-dial URL (https; http only to a loopback host), or None;
    the dialer asks again before each check (a call.create is input too)."""
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"cannot be parsed as a URL: {v[:80]!r}"
    if not host:
        return f"must be an https:// URL with a host, got {v[:80]!r}"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    loopback = host in LOOPBACK_HOSTS or host.startswith("127.")
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return None
    if parts.scheme == "http":
        return f"must be https (http only to a loopback host), got {v[:80]!r}"
    return f"must be an https:// URL, got {v[:80]!r}"


class CallerIds(Strict):
    numbers: list[str] = Field(default_factory=list, max_length=MAX_CALLER_IDS)
    strategy: Strategy = Strategy.rolling

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        for i, n in enumerate(v):
            _check_e164(n, f"numbers[{i}]")
        return v


class ContactLocalTime(Strict):
    enabled: bool = False
    window: Windows = Window(start="08:00", end="21:00")

    @field_validator("window")
    @classmethod
    def _window(cls, v: Windows) -> Windows:
        return v if isinstance(v, Window) else check_window_list(v)

    @cached_property
    def windows(self) -> tuple[Window, ...]:
        return window_list(self.window)


class Rules(Strict):
    max_retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    retry_delay_minutes: float | None = Field(
        default=None, ge=0, le=MAX_RETRY_DELAY_MINUTES, allow_inf_nan=False
    )
    calling_days: list[str] = Field(default_factory=lambda: list(DAYS[:5]), max_length=7)
    calling_window: Windows = Window()
    timezone: str = Field(max_length=MAX_TIMEZONE_CHARS)
    concurrent_calls: int = Field(ge=1, le=MAX_CONCURRENT_CALLS)
    inbound_free_slots: int = Field(default=0, ge=0, le=MAX_CONCURRENT_CALLS)
    caller_ids: CallerIds | None = None
    alternate_strategy: Strategy = Strategy.rolling
    retry_on: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_ON), max_length=len(CALL_STATUSES) - 1
    )  # every status but `skipped`
    max_call_minutes: float = Field(default=60, gt=0, le=MAX_CALL_MINUTES, allow_inf_nan=False)
    contact_local_time: ContactLocalTime = ContactLocalTime()
    # SPEC section 7: all optional; without them the rules are those of sections 1-6.
    calling_hours: dict[str, Windows] | None = Field(default=None, max_length=len(DAYS))
    blackout_dates: list[date] = Field(default_factory=list, max_length=MAX_BLACKOUT_DATES)
    holidays: HolidayCalendar | None = None
    attempt_limits: list[AttemptLimit] = Field(default_factory=list, max_length=MAX_ATTEMPT_LIMITS)
    compliance: list[Preset] = Field(default_factory=list, max_length=MAX_PRESETS)
    # SPEC 8 and 9.
    priority: int = Field(default=5, ge=1, le=10)
    ends_at: str | None = None
    max_callbacks: int = Field(default=1, ge=0, le=MAX_CALLBACKS)
    # issue 23: what to do when a machine answers.
    voicemail: Voicemail = Voicemail()

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends_at(cls, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, datetime):
            v = v.isoformat()
        if not isinstance(v, str):
            raise ValueError(f"must be an ISO 8601 instant with Z or an offset, got {v!r}")
        parse_instant_us(v)
        return v

    @cached_property
    def ends_at_us(self) -> int | None:
        """`ends_at` in engine microseconds (None: the campaign has no end date)."""
        return None if self.ends_at is None else parse_instant_us(self.ends_at)

    @field_validator("calling_window")
    @classmethod
    def _calling_window(cls, v: Windows) -> Windows:
        return v if isinstance(v, Window) else check_window_list(v)

    @field_validator("calling_hours")
    @classmethod
    def _calling_hours(cls, v: dict[str, Windows] | None) -> dict[str, Windows] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("must name at least one day")
        out: dict[str, Windows] = {}
        for key, windows in v.items():
            day = key.lower()
            if day not in DAYS:
                raise ValueError(f"unknown day {key!r}; use {', '.join(DAYS)}")
            if day in out:
                raise ValueError(f"day {day!r} is given twice")
            if not isinstance(windows, Window):
                try:
                    check_window_list(windows)
                except ValueError as err:
                    raise ValueError(f"{day}: {err}") from None
            out[day] = windows
        return {d: out[d] for d in DAYS if d in out}

    @field_validator("blackout_dates", mode="before")
    @classmethod
    def _blackout_dates(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > MAX_BLACKOUT_DATES:
            raise ValueError(f"at most {MAX_BLACKOUT_DATES} dates, got {len(v)}")
        if isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, date):
                    continue
                if not isinstance(item, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", item):
                    raise ValueError(f"[{i}] must be a date YYYY-MM-DD, got {item!r}")
        return v

    @field_validator("blackout_dates")
    @classmethod
    def _blackout_sorted(cls, v: list[date]) -> list[date]:
        return sorted(set(v))

    @field_validator("compliance")
    @classmethod
    def _presets(cls, v: list[Preset]) -> list[Preset]:
        return list(dict.fromkeys(v))

    @field_validator("calling_days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must name at least one day")
        days = [d.lower() for d in v]
        for d in days:
            if d not in DAYS:
                raise ValueError(f"unknown day {d!r}; use {', '.join(DAYS)}")
        return days

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        check_timezone(v)
        return v

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, v: list[str]) -> list[str]:
        for s in v:
            if s == "skipped":
                raise ValueError(
                    "skipped may not be listed: a skipped call ends its contact (SPEC 9)"
                )
            if s not in CALL_STATUSES:
                raise ValueError(f"unknown call status {s!r}; use {', '.join(CALL_STATUSES)}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> Rules:
        if self.calling_hours is not None:
            both = [f for f in ("calling_days", "calling_window") if f in self.model_fields_set]
            if both:
                raise ValueError(
                    f"calling_hours: cannot be given together with {' and '.join(both)}: "
                    "calling_hours replaces calling_days and calling_window; give one or the other"
                )
        if self.max_retries > 0 and self.retry_delay_minutes is None:
            raise ValueError("retry_delay_minutes: required when max_retries > 0")
        if self.concurrent_calls - self.inbound_free_slots < 1:
            raise ValueError(
                "inbound_free_slots: concurrent_calls - inbound_free_slots must be >= 1"
            )
        return self

    @cached_property
    def retry_delay_us(self) -> int:
        """The delay in engine microseconds, rounded exactly as timedelta rounds."""
        return timedelta(minutes=self.retry_delay_minutes or 0) // timedelta(microseconds=1)

    @cached_property
    def max_call_us(self) -> int:
        return timedelta(minutes=self.max_call_minutes) // timedelta(microseconds=1)

    @cached_property
    def retry_statuses(self) -> frozenset[str]:
        return frozenset(self.retry_on)

    @property
    def outbound_limit(self) -> int:
        """L of SPEC section 5: slots the campaign may fill."""
        return self.concurrent_calls - self.inbound_free_slots

    @cached_property
    def attempts_allowed(self) -> int:
        return 1 + self.max_retries

    @cached_property
    def calling_windows(self) -> tuple[Window, ...]:
        return window_list(self.calling_window)

    @cached_property
    def weekly_hours(self) -> dict[str, tuple[Window, ...]]:
        """Day -> windows of that day (campaign timezone): calling_hours, else days x window."""
        if self.calling_hours is not None:
            return {d: window_list(w) for d, w in self.calling_hours.items()}
        return {d: self.calling_windows for d in DAYS if d in self.calling_days}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_instant_us(value: str) -> int:
    """An ISO 8601 instant that carries its zone (Z or an offset) to epoch microseconds.

    ValueError when it is not an instant or has no zone: a wall-clock time alone names
    no instant (SPEC 9)."""
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"must be an ISO 8601 instant, got {value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z or an offset like +00:00")
    return (dt - _EPOCH) // timedelta(microseconds=1)


def check_timezone(name: str) -> ZoneInfo:
    """An IANA zone by name, or ValueError with a clear reason."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


class CampaignDefinition(Strict):
    campaign_id: str
    account_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    agent: Agent
    # Issue 23: the other agents a contact's `agent_id` column may name; empty: every
    # contact gets `agent`. Kept in the definition so the engine resolves them itself.
    agents: list[Agent] = Field(default_factory=list, max_length=MAX_EXTRA_AGENTS)
    source_number: str
    default_region: str = "US"
    variable_mapping: dict[str, str] = Field(default_factory=dict, max_length=MAX_MAPPING_ENTRIES)
    rules: Rules
    predial: Predial | None = None  # issue 23: the account's check before each call

    @field_validator("variable_mapping")
    @classmethod
    def _mapping(cls, v: dict[str, str]) -> dict[str, str]:
        for column, variable in v.items():
            if len(column) > MAX_COLUMN_CHARS or len(variable) > MAX_COLUMN_CHARS:
                raise ValueError(
                    f"{column[:40]!r}: column and variable names are at most"
                    f" {MAX_COLUMN_CHARS} characters"
                )
        return v

    @field_validator("agents")
    @classmethod
    def _agents(cls, v: list[Agent]) -> list[Agent]:
        ids = [a.id for a in v]
        for a in v:
            if ids.count(a.id) > 1:
                raise ValueError(f"agent {a.id!r} is listed twice")
        return v

    @property
    def agent_ids(self) -> frozenset[str]:
        """Every agent id a contact may name: the campaign's and its `agents`."""
        return frozenset([self.agent.id, *(a.id for a in self.agents)])

    def agent_for(self, agent_id: str | None) -> Agent:
        """The agent of a contact naming `agent_id`; the campaign's when it names none, or
        one the definition does not list (ingest rejects those rows before they get here)."""
        if agent_id is None or agent_id == self.agent.id:
            return self.agent
        for a in self.agents:
            if a.id == agent_id:
                return a
        return self.agent

    @field_validator("campaign_id")
    @classmethod
    def _cid(cls, v: str) -> str:
        if not CAMPAIGN_ID.match(v):
            raise ValueError(f"must match [a-z0-9][a-z0-9._-]{{0,63}}, got {v!r}")
        return v

    @field_validator("account_id")
    @classmethod
    def _aid(cls, v: str) -> str:
        if not ACCOUNT_ID.match(v):
            raise ValueError(f"must match [a-z0-9][a-z0-9_-]{{0,62}}, got {v[:80]!r}")
        return v

    @field_validator("source_number")
    @classmethod
    def _source(cls, v: str) -> str:
        return _check_e164(v, "source_number")

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        import phonenumbers

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region code {v!r} (ISO 3166 alpha-2, e.g. US)")
        return v.upper()

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.rules.timezone)

    def mapping_report(self, columns: list[str]) -> MappingReport:
        """Which columns feed which agent variables, and what is left over on each side."""
        agent_vars = self.agent.variables
        voicemail = self.rules.voicemail
        message_vars = (
            voicemail.variables if voicemail.action is VoicemailAction.leave_message else []
        )
        mapped = {c: self.variable_mapping.get(c, c) for c in columns}
        # a target any of the campaign's agents declares is known (issue 23: `agents`)
        known = set(agent_vars).union(*(a.variables for a in self.agents))
        bad_targets = sorted(
            t
            for t in set(self.variable_mapping.values())
            if agent_vars and t not in known and t not in message_vars
        )
        fed = set(mapped.values())
        return MappingReport(
            mapped=mapped,
            unknown_targets=bad_targets,
            unfed_variables=[v for v in agent_vars if v not in fed],
            unmapped_columns=[c for c in columns if c not in self.variable_mapping],
            unfed_voicemail_variables=[v for v in message_vars if v not in fed],
        )


class LineSettings(Strict):
    """The settings an account manages (SPEC 8), without its id: what the API's
    `PUT /v1/account/settings` takes and the CLI's `accounts set` writes."""

    lines: int | None = Field(default=None, ge=1, le=MAX_LINES)
    inbound_max_minutes: float = Field(
        default=240, gt=0, le=MAX_INBOUND_MINUTES, allow_inf_nan=False
    )


class AccountSettings(LineSettings):
    """An account's telephony (SPEC 8): lines shared by its campaigns and inbound calls."""

    account_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)

    @cached_property
    def inbound_max_us(self) -> int:
        return timedelta(minutes=self.inbound_max_minutes) // timedelta(microseconds=1)


def parse_account_settings(data: Any) -> AccountSettings:
    """Validate a mapping as account settings, raising DefinitionError naming the field."""
    if not isinstance(data, dict):
        raise DefinitionError("(top): account settings must be a mapping")
    try:
        return AccountSettings.model_validate(data)
    except ValidationError as err:
        raise DefinitionError(format_validation_error(err)) from None


class MappingReport(BaseModel):
    mapped: dict[str, str]
    unknown_targets: list[str]
    unfed_variables: list[str]
    unmapped_columns: list[str]
    # voicemail message variables no column feeds: they render empty (issue 23)
    unfed_voicemail_variables: list[str] = []


_NAMED_RULE = re.compile(r"^([a-z_]+): (.*)$")


def format_validation_error(err: ValidationError) -> str:
    """pydantic's errors as 'field.path: rule' lines.

    Cross-field rules are raised by the parent model as 'field: rule'; their field
    is moved into the path so every line reads the same way.
    """
    lines = []
    for e in err.errors():
        path = [str(p) for p in e["loc"] if p not in (ONE_WINDOW, WINDOW_LIST)]
        msg = str(e["msg"]).removeprefix("Value error, ")
        named = _NAMED_RULE.match(msg)
        if named:
            path.append(named.group(1))
            msg = named.group(2)
        lines.append(f"{'.'.join(path) or '(top)'}: {msg}")
    return "\n".join(lines)


def parse_definition(data: Any) -> CampaignDefinition:
    """Validate a mapping as a campaign definition, raising DefinitionError."""
    if not isinstance(data, dict):
        raise DefinitionError("(top): a campaign definition must be a mapping")
    try:
        return CampaignDefinition.model_validate(data)
    except ValidationError as err:
        raise DefinitionError(format_validation_error(err)) from None


def definition_from_yaml(text: str, source: str = "campaign.yaml") -> CampaignDefinition:
    """Validate campaign.yaml's text; errors name the source too. Reading the file is the caller's."""
    try:
        data = safe_load(text)
    except YamlShapeError as err:
        raise DefinitionError(f"{source}: {err}") from None
    except yaml.YAMLError as err:
        raise DefinitionError(f"{source}: not valid YAML: {err}".replace("\n", " ")) from None
    try:
        return parse_definition(data)
    except DefinitionError as err:
        raise DefinitionError(f"{source}: {err}") from None
