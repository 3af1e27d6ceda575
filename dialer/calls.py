"""The dialer's own view of a call and its outcome, and their translation to/from Avro records.

A `Call` is a validated `CallCreate`; anything that is not one (wrong event, missing or
malformed numbers) raises `BadCall` so the consumer can park it on the dead-letter topic.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from campaigns.models import CALL_STATUSES
from campaigns.privacy import mask_number
from dialer.exceptions import BadCall

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

# Statuses a dialer may report (SPEC section 4); `timeout` is normally the engine's.
STATUSES: tuple[str, ...] = CALL_STATUSES


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class PredialSpec:
    """The campaign's pre-dial check as a call carries it (issue 23; see `dialer.predial`)."""

    url: str
    timeout_ms: int = 2_000
    on_error: str = "skip"  # skip | dial

    @classmethod
    def from_record(cls, rec: dict[str, Any] | None) -> PredialSpec | None:
        if not rec:
            return None
        on_error = rec.get("on_error") or "skip"
        if on_error not in ("skip", "dial"):
            on_error = "skip"  # an unknown policy never makes the dialer dial
        timeout = int(rec.get("timeout_ms") or 2_000)
        return cls(str(rec.get("url") or ""), min(max(timeout, 100), 10_000), on_error)


class _CallKey:
    """`Call.key`, worked out on first use and kept in the instance (a call's key is looked
    up a dozen times on its way; `functools.cached_property` takes a lock per first use
    before Python 3.12, a tenth of the dialer's per-call time in a profile)."""

    def __get__(self, call: Call | None, owner: type | None = None) -> str:
        if call is None:
            raise AttributeError("key")  # the dataclass asks the class for a default
        key = call.__dict__["key"] = call_key(call.account_id, call.call_id)
        return key


@dataclass(frozen=True)
class Call:
    """One call to place, as read from `call.create`."""

    call_id: str
    campaign_id: str
    account_id: str
    contact_id: str
    attempt: int
    to: str
    from_: str
    agent_id: str
    agent_prompt: str
    created_at: int  # epoch millis
    deadline: int  # epoch millis
    alternate_position: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    # When the dialer recorded it as placed (epoch millis; 0 until then): an adapter that
    # reports its own start time uses this one, so a reconciled outcome is the same outcome.
    placed_at: int = 0
    # The message to leave when a machine answers (issue 23); None: hang up.
    voicemail_message: str | None = None
    # The campaign's pre-dial check (issue 23); None: dial without asking.
    predial: PredialSpec | None = None

    # What tells calls apart: call ids are unique per account only (`spring/row-1/1` may be
    # a call of two accounts), so every dedupe and wait is by this.
    key = _CallKey()  # not a field (no annotation): `<account_id>/<call_id>`

    def placed(self, at: int) -> Call:
        """This call as recorded placed at `at` (epoch millis).

        A copy of the fields with `placed_at` changed: `dataclasses.replace` would run
        `__init__` again, several times the cost, once per call on the dialer's path."""
        copy = object.__new__(Call)
        copy.__dict__.update(self.__dict__, placed_at=at)
        return copy

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Call:
        """Validate a decoded CallCreate record; raises BadCall naming the field.

        Called once per message: the checks of a valid record are one pass, the
        message naming the problem is worked out only for a bad one.
        """
        get = record.get
        call_id, campaign_id = get("call_id"), get("campaign_id")
        contact_id, agent_id = get("contact_id"), get("agent_id")
        to, from_ = get("to") or "", get("from") or ""
        attempt = int(get("attempt") or 0)
        match = E164.match
        if not (
            call_id
            and campaign_id
            and get("account_id")
            and contact_id
            and agent_id
            and match(to)
            and match(from_)
            and attempt >= 1
        ):
            raise cls._why_bad(record)
        # Every field set here, without the frozen __init__'s setattr per field (a third
        # of the cost, once per message); a unit test holds it to the constructor.
        call = object.__new__(cls)
        call.__dict__.update(
            call_id=call_id,
            campaign_id=campaign_id,
            account_id=record["account_id"],
            contact_id=contact_id,
            attempt=attempt,
            to=to,
            from_=from_,
            agent_id=agent_id,
            agent_prompt=get("agent_prompt") or "",
            created_at=int(record["created_at"]),
            deadline=int(record["deadline"]),
            alternate_position=int(get("alternate_position") or 0),
            variables=dict(get("variables") or {}),
            placed_at=0,
            voicemail_message=get("voicemail_message"),
            predial=PredialSpec.from_record(get("predial")),
        )
        return call

    @staticmethod
    def _why_bad(record: dict[str, Any]) -> BadCall:
        """The BadCall naming the first problem of a record `from_record` refused."""
        for name in ("call_id", "campaign_id", "account_id", "contact_id", "agent_id"):
            if not record.get(name):
                return BadCall(f"CallCreate without {name}")
        for name in ("to", "from"):
            value = record.get(name) or ""
            if not value:
                return BadCall(f"CallCreate {record['call_id']}: missing number in field {name!r}")
            if not E164.match(value):
                return BadCall(
                    f"CallCreate {record['call_id']}: field {name!r} is not an E.164 number: {mask_number(str(value))!r}"
                )
        return BadCall(f"CallCreate {record['call_id']}: attempt must be >= 1")

    def to_json(self) -> dict[str, Any]:
        """The call as the webhook adapter sends it (plain JSON, times in epoch millis)."""
        return {
            "call_id": self.call_id,
            "campaign_id": self.campaign_id,
            "account_id": self.account_id,
            "contact_id": self.contact_id,
            "attempt": self.attempt,
            "to": self.to,
            "from": self.from_,
            "alternate_position": self.alternate_position,
            "agent_id": self.agent_id,
            "agent_prompt": self.agent_prompt,
            "variables": self.variables,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "voicemail_message": self.voicemail_message,
        }


@dataclass(frozen=True)
class Outcome:
    """What happened to a call, as an adapter reports it (times in epoch millis)."""

    status: str
    ended_at: int
    started_at: int | None = None
    answered_at: int | None = None
    duration_seconds: float | None = None
    hangup_cause: str | None = None
    opt_out: bool = False  # the person asked not to be called again (SPEC section 7)
    callback_at: int | None = None  # epoch millis: the person asked to be called back then (SPEC 9)
    voicemail_left: bool = False  # a machine answered and the call's message was left

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown call status {self.status!r}; use {', '.join(STATUSES)}")


def failed(cause: str, started_at: int | None = None) -> Outcome:
    """A failed outcome with a hang-up cause saying why (adapter errors, expired deadlines)."""
    return Outcome("failed", ended_at=now_ms(), started_at=started_at, hangup_cause=cause)


def call_key(account_id: str, call_id: str) -> str:
    """A call's key among all accounts' calls: `<account_id>/<call_id>` (the Kafka key of
    its call.placed record, and the key of every dedupe)."""
    return f"{account_id}/{call_id}"


def split_call_id(call_id: str) -> tuple[str, str, int]:
    """(campaign_id, contact_id, attempt) from `<campaign_id>/<contact_id>/<attempt>`."""
    campaign_id, sep, rest = call_id.partition("/")
    contact_id, sep2, attempt = rest.rpartition("/")
    if not sep or not sep2 or not campaign_id or not contact_id or not attempt.isdigit():
        raise ValueError(f"not a call id <campaign_id>/<contact_id>/<attempt>: {call_id!r}")
    return campaign_id, contact_id, int(attempt)


def outcome_record(
    call_id: str,
    campaign_id: str,
    account_id: str,
    contact_id: str,
    attempt: int,
    outcome: Outcome,
    created_at: int | None,
    dialer_id: str | None,
) -> dict[str, Any]:
    """The CallOutcome Avro record."""
    return {
        "call_id": call_id,
        "campaign_id": campaign_id,
        "account_id": account_id,
        "contact_id": contact_id,
        "attempt": attempt,
        "status": outcome.status,
        "created_at": created_at,
        "started_at": outcome.started_at,
        "answered_at": outcome.answered_at,
        "ended_at": outcome.ended_at,
        "duration_seconds": outcome.duration_seconds,
        "hangup_cause": outcome.hangup_cause,
        "dialer_id": dialer_id,
        "opt_out": outcome.opt_out,
        "callback_at": outcome.callback_at,
        "voicemail_left": outcome.voicemail_left,
    }


@dataclass(frozen=True)
class Inbound:
    """An inbound call starting or ending on an agent of an account (it holds one of the
    account's lines); published keyed by the account like every engine input."""

    call_id: str
    agent_id: str
    kind: str  # started | ended
    at: int
    account_id: str

    def record(self, dialer_id: str | None) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "account_id": self.account_id,
            "kind": self.kind,
            "at": self.at,
            "dialer_id": dialer_id,
        }
