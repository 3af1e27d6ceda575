"""Decoded Avro records -> table rows (pure: no I/O). The column order of every table is here.

Times leave as int epoch millis, which ClickHouse takes for DateTime64(3); the codec gives
ints, and aware datetimes (another codec's choice) are converted. A record a table does
not hold (a command other than CreateCampaign) maps to None and is simply skipped.
Every number is checked against its column's type (`COLUMN_TYPES`) before it goes in:
ClickHouse would wrap 70000 into a UInt16 as 4464, or the client would refuse the whole
batch; a row out of range is a RowError, so its message is parked and the rest goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sinks.exceptions import RowError

ATTEMPTS = "call_attempts"
OUTCOMES = "call_outcomes"
EVENTS = "campaign_events"
CAMPAIGNS = "campaigns"
# What calls cost (migration 0006): the account's numbers' rates and its billing increment,
# from the API's control-plane records (api.numbers, api.accounts), each row in force from
# the record's `updated_at`; the views price every call with the row in force at its creation.
RATES = "number_rates"
BILLING = "account_billing"
BILLING_INCREMENTS_S = (1, 6, 60)
DEFAULT_BILLING_INCREMENT_S = 60
RATE_SCALE = 6  # decimal places a rate per minute may have (the column's Decimal(18, 6))

COLUMNS: dict[str, tuple[str, ...]] = {
    ATTEMPTS: (
        "call_id",
        "campaign_id",
        "account_id",
        "contact_id",
        "attempt",
        "to_number",
        "caller_id",
        "alternate_position",
        "agent_id",
        "created_at",
        "deadline",
        "published_at",
    ),
    OUTCOMES: (
        "call_id",
        "campaign_id",
        "account_id",
        "contact_id",
        "attempt",
        "status",
        "created_at",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_seconds",
        "hangup_cause",
        "dialer_id",
        "opt_out",
        "voicemail_left",
        # SPEC 9 (migration 0005): the callback the person asked for, if any
        "callback_at",
        "published_at",
    ),
    EVENTS: (
        "event_id",
        "campaign_id",
        "account_id",
        "at",
        "kind",
        "status",
        "contact_id",
        "attempts",
        "command_id",
        "command",
        "reason",
        "row",
        "column",
        "values",
        "contacts_total",
        "contacts_final",
        "calls_in_flight",
        "counts",
        "published_at",
    ),
    CAMPAIGNS: (
        "campaign_id",
        "account_id",
        "name",
        "timezone",
        "expected_contacts",
        "max_retries",
        "concurrent_calls",
        "created_at",
        "command_id",
        # SPEC 7 (migration 0003)
        "compliance",
        "attempt_limits",
        "blackout_dates",
        "holidays",
    ),
    RATES: (
        "account_id",
        "e164",
        "number_id",
        "since",
        "priced",
        "rate_per_minute",
        "currency",
        "published_at",
    ),
    BILLING: ("account_id", "since", "billing_increment_seconds", "published_at"),
}

TABLES: tuple[str, ...] = tuple(COLUMNS)

# The ClickHouse type of every number and time column (as system.columns spells it; a test
# holds this to the migrations). Their ranges are checked before a row goes in.
_TIME = "DateTime64(3, 'UTC')"
_TIME_OR_NULL = f"Nullable({_TIME})"
COLUMN_TYPES: dict[str, dict[str, str]] = {
    ATTEMPTS: {
        "attempt": "UInt16",
        "alternate_position": "UInt16",
        "created_at": _TIME,
        "deadline": _TIME,
        "published_at": _TIME,
    },
    OUTCOMES: {
        "attempt": "UInt16",
        "created_at": _TIME_OR_NULL,
        "started_at": _TIME_OR_NULL,
        "answered_at": _TIME_OR_NULL,
        "ended_at": _TIME,
        "callback_at": _TIME_OR_NULL,
        "published_at": _TIME,
    },
    EVENTS: {
        "at": _TIME,
        "attempts": "UInt16",
        "row": "Nullable(UInt32)",
        "contacts_total": "UInt64",
        "contacts_final": "UInt64",
        "calls_in_flight": "UInt32",
        "counts": "Map(String, Int64)",
        "published_at": _TIME,
    },
    CAMPAIGNS: {
        "expected_contacts": "UInt32",
        "max_retries": "UInt16",
        "concurrent_calls": "UInt32",
        "created_at": _TIME,
    },
    RATES: {"since": _TIME, "published_at": _TIME},
    BILLING: {"since": _TIME, "billing_increment_seconds": "UInt8", "published_at": _TIME},
}
# DateTime64's range, 1900-01-01T00:00:00Z to 2299-12-31T23:59:59.999Z, in epoch millis:
# outside it ClickHouse stores a value no client can read back as a datetime.
TIME_RANGE_MS = (-2_208_988_800_000, 10_413_791_999_999)
_INT_RANGES: dict[str, tuple[int, int]] = {
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    _TIME: TIME_RANGE_MS,
}


def value_range(column_type: str) -> tuple[int, int]:
    """(lowest, highest) of a number or time column's type (of its values for a Nullable or Map)."""
    inner = column_type
    for wrapper in ("Nullable(", "Map(String, "):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper) : -1]
    return _INT_RANGES[inner]


# table -> (index in the row, column, type, lowest, highest) of every checked column
_CHECKS: dict[str, tuple[tuple[int, str, str, int, int], ...]] = {
    table: tuple(
        (COLUMNS[table].index(column), column, ctype, *value_range(ctype))
        for column, ctype in types.items()
    )
    for table, types in COLUMN_TYPES.items()
}
TZ_OFFSETS = "tz_offsets"
TZ_COLUMNS: tuple[str, ...] = ("tz", "since", "offset_seconds")

Row = tuple[Any, ...]


def ms(value: Any) -> int:
    """Epoch millis from an int or an aware datetime (naive datetimes are refused)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RowError("naive datetime in a record")
        return int(value.timestamp() * 1000)
    return int(value)


def _ms_opt(value: Any) -> int | None:
    return None if value is None else ms(value)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def attempt_row(r: Mapping[str, Any], published_ms: int) -> Row:
    return (
        r["call_id"],
        r["campaign_id"],
        r["account_id"],
        r["contact_id"],
        int(r["attempt"]),
        r["to"],
        r["from"],
        int(r.get("alternate_position") or 0),
        r["agent_id"],
        ms(r["created_at"]),
        ms(r["deadline"]),
        published_ms,
    )


def _account(r: Mapping[str, Any], event: str) -> str:
    """The record's account: campaign and call ids are per account, every row names it."""
    account = r.get("account_id")
    if not account:
        raise RowError(f"{event} without account_id (every record names its account)")
    return str(account)


def outcome_row(r: Mapping[str, Any], published_ms: int) -> Row:
    duration = r.get("duration_seconds")
    return (
        r["call_id"],
        r["campaign_id"],
        _account(r, "CallOutcome"),
        r["contact_id"],
        int(r["attempt"]),
        r["status"],
        _ms_opt(r.get("created_at")),
        _ms_opt(r.get("started_at")),
        _ms_opt(r.get("answered_at")),
        ms(r["ended_at"]),
        None if duration is None else float(duration),
        r.get("hangup_cause") or "",
        r.get("dialer_id") or "",
        bool(r.get("opt_out", False)),
        bool(r.get("voicemail_left", False)),
        _ms_opt(r.get("callback_at")),
        published_ms,
    )


_KINDS = {
    "StatusChanged": "status_changed",
    "ContactFinal": "contact_final",
    "CommandRejected": "command_rejected",
    "ContactRejected": "contact_rejected",
    "Progress": "progress",
    "ContactsAccepted": "contacts_accepted",
}


def event_row(r: Mapping[str, Any], published_ms: int) -> Row:
    body = r["body"]
    if not (isinstance(body, tuple) and len(body) == 2):
        raise RowError("CampaignEvent body is not a (record name, record) union value")
    name, b = _short(body[0]), body[1]
    kind = _KINDS.get(name)
    if kind is None:
        raise RowError(f"unknown CampaignEvent body {name!r}")
    return (
        r["event_id"],
        r["campaign_id"],
        _account(r, "CampaignEvent"),
        ms(r["at"]),
        kind,
        b.get("status", "") if kind in ("status_changed", "contact_final") else "",
        b.get("contact_id") or "",
        int(b.get("attempts", 0)),
        b.get("command_id", ""),
        b.get("command", ""),
        b.get("reason", ""),
        b.get("row"),
        b.get("column"),
        dict(b.get("values") or {}),
        int(b.get("contacts_total", 0)),
        int(b.get("contacts_final", 0)),
        int(b.get("calls_in_flight", 0)),
        {k: int(v) for k, v in (b.get("counts") or {}).items()},
        published_ms,
    )


def campaign_row(r: Mapping[str, Any]) -> Row | None:
    """The campaigns row of a CreateCampaign or EditDraft command (a draft's new definition
    replaces the row: ReplacingMergeTree by issued_at); None for every other command."""
    command = r.get("command")
    if not (isinstance(command, tuple) and len(command) == 2):
        raise RowError("CampaignCommand command is not a (record name, record) union value")
    if _short(command[0]) not in ("CreateCampaign", "EditDraft"):
        return None
    body = command[1]
    d = body["definition"]
    if r.get("account_id") != d["account_id"]:
        return None  # the engine refuses a create that is not its definition's account's
    rules = d["rules"]
    return (
        r["campaign_id"],
        d["account_id"],
        d["name"],
        rules["timezone"],
        int(body.get("expected_contacts", 0)),
        int(rules.get("max_retries", 0)),
        int(rules.get("concurrent_calls", 0)),
        ms(r["issued_at"]),
        r["command_id"],
        list(rules.get("compliance") or []),
        [_limit_text(x) for x in rules.get("attempt_limits") or []],
        list(rules.get("blackout_dates") or []),
        _holidays_text(rules.get("holidays")),
    )


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def rate_per_minute(value: Any) -> Decimal | None:
    """A number's rate as an exact Decimal (JSON text or number, never through a float's
    rounding), or None when it has none; RowError if it is not a price."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(f"rate_per_minute {value!r} is not a decimal")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise RowError(f"rate_per_minute {value!r} is not a decimal") from None
    if not rate.is_finite() or rate < 0 or rate >= 10**12:
        raise RowError(f"rate_per_minute {value!r} must be a decimal >= 0 (under 10^12)")
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_SCALE)):
        raise RowError(f"rate_per_minute {value!r} has more than {RATE_SCALE} decimal places")
    return rate


def _control_body(r: Mapping[str, Any]) -> dict[str, Any]:
    body = json.loads(r["body"])
    if not isinstance(body, dict):
        raise RowError("ApiRecord body is not a JSON object")
    return body


def rate_row(r: Mapping[str, Any], published_ms: int) -> Row:
    """A number's price from its control-plane record: unpriced (priced false) without a rate."""
    body = _control_body(r)
    rate = rate_per_minute(body.get("rate_per_minute"))
    currency = str(body.get("currency") or "")
    if rate is not None and not _CURRENCY.match(currency):
        raise RowError(f"number {r['id']!r}: currency {currency!r} is not an ISO 4217 code")
    return (
        _account(r, "ApiRecord"),
        str(body["e164"]),
        str(r["id"]),
        ms(r["updated_at"]),
        rate is not None,
        rate if rate is not None else Decimal(0),
        currency if rate is not None else "",
        published_ms,
    )


def billing_row(r: Mapping[str, Any], published_ms: int) -> Row:
    """An account's billing increment (seconds a call is billed in; 60 unless set)."""
    body = _control_body(r)
    increment = body.get("billing_increment_seconds", DEFAULT_BILLING_INCREMENT_S)
    if increment not in BILLING_INCREMENTS_S or isinstance(increment, bool):
        raise RowError(
            f"account {r['id']!r}: billing_increment_seconds {increment!r} is not 1, 6 or 60"
        )
    return (_account(r, "ApiRecord"), ms(r["updated_at"]), int(increment), published_ms)


def control_row(r: Mapping[str, Any], published_ms: int) -> tuple[str, Row] | None:
    """The price a control-plane record sets: numbers and accounts; other kinds, None."""
    kind = r.get("kind")
    if kind == "number":
        return RATES, check_ranges(RATES, rate_row(r, published_ms))
    if kind == "account":
        return BILLING, check_ranges(BILLING, billing_row(r, published_ms))
    return None


def check_ranges(table: str, row: Row) -> Row:
    """`row` if every number fits its column's type; else a RowError naming column and value."""
    for index, column, ctype, low, high in _CHECKS.get(table, ()):
        value = row[index]
        values = value.values() if isinstance(value, dict) else (value,)
        for v in values:
            if v is not None and not (isinstance(v, int) and low <= v <= high):
                raise RowError(f"{table}.{column} = {v!r} does not fit {ctype} [{low}, {high}]")
    return row


def _limit_text(limit: Mapping[str, Any]) -> str:
    """An attempt limit as analysts read it: 'number:3/24h'."""
    hours = float(limit["period_hours"])
    period = str(int(hours)) if hours.is_integer() else str(hours)
    return f"{limit['scope']}:{int(limit['max_calls'])}/{period}h"


def _holidays_text(calendar: Mapping[str, Any] | None) -> str:
    if not calendar:
        return ""
    sub = calendar.get("subdivision")
    return f"{calendar['country']}-{sub}" if sub else str(calendar["country"])


def to_row(event: str, record: Mapping[str, Any], published_ms: int) -> tuple[str, Row] | None:
    """(table, row) for a decoded record; None when no table keeps it. Raises RowError."""
    try:
        if event == "CallCreate":
            return ATTEMPTS, check_ranges(ATTEMPTS, attempt_row(record, published_ms))
        if event == "CallOutcome":
            return OUTCOMES, check_ranges(OUTCOMES, outcome_row(record, published_ms))
        if event == "CampaignEvent":
            return EVENTS, check_ranges(EVENTS, event_row(record, published_ms))
        if event == "CampaignCommand":
            row = campaign_row(record)
            return None if row is None else (CAMPAIGNS, check_ranges(CAMPAIGNS, row))
        if event == "ApiRecord":
            return control_row(record, published_ms)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, RowError):
            raise
        raise RowError(f"{event} record is missing or mistypes a field: {exc!r}") from exc
    raise RowError(f"the sink does not store {event} records")
