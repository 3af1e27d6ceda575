"""Engine types <-> Avro records (dicts as fastavro reads and writes them).

One place for the mapping, so the ingest producers, the worker and the dialer agree.
Engine times are epoch microseconds; Avro carries timestamp-millis, written here as
plain epoch millis (no datetime per field on the hot path) and read back as either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from campaigns.contacts import MAX_CONTACT_ID_CHARS, Alternate, Contact
from campaigns.events import (
    CallCreated,
    CallOutcome,
    Command,
    CommandKind,
    CommandRejected,
    ContactFinal,
    ContactRejected,
    ContactsAccepted,
    Event,
    InboundCall,
    InputRejected,
    NumberOptedOut,
    OutcomeRecorded,
    StatusChanged,
)
from campaigns.models import (
    AccountSettings,
    AttemptLimit,
    CampaignDefinition,
    Predial,
    Strategy,
    Voicemail,
    Window,
    window_list,
)
from campaigns.state import CampaignState
from campaigns.windows import from_datetime, iso

Record = dict[str, Any]

COMMAND_RECORDS = {
    CommandKind.create: "CreateCampaign",
    CommandKind.schedule: "ScheduleCampaign",
    CommandKind.start: "StartCampaign",
    CommandKind.pause: "PauseCampaign",
    CommandKind.resume: "ResumeCampaign",
    CommandKind.cancel: "CancelCampaign",
    CommandKind.add_contacts: "AddContacts",
    CommandKind.edit: "EditDraft",
}
NAMESPACE = "io.campaignflow.v1"
RECORD_COMMANDS = {f"{NAMESPACE}.{v}": k for k, v in COMMAND_RECORDS.items()} | {
    v: k for k, v in COMMAND_RECORDS.items()
}


def ts(t: int) -> int:
    """Engine microseconds to Avro timestamp-millis (the codec takes plain epoch millis)."""
    return t // 1000


def us(value: datetime | int) -> int:
    """fastavro returns timestamp-millis as aware datetimes; plain ints are millis."""
    if isinstance(value, datetime):
        return from_datetime(value)
    return int(value) * 1000


# ---- definitions and commands ------------------------------------------------


def definition_to_record(d: CampaignDefinition) -> Record:
    r = d.rules
    return {
        "campaign_id": d.campaign_id,
        "account_id": d.account_id,
        "name": d.name,
        "description": d.description,
        "agent": {"id": d.agent.id, "prompt": d.agent.prompt},
        "agents": [{"id": a.id, "prompt": a.prompt} for a in d.agents],  # v5, issue 23
        "source_number": d.source_number,
        "default_region": d.default_region,
        "variable_mapping": dict(d.variable_mapping),
        "rules": {
            "max_retries": r.max_retries,
            "retry_delay_minutes": r.retry_delay_minutes,
            "calling_days": list(r.calling_days),
            "calling_window": _windows_record(r.calling_window),
            "timezone": r.timezone,
            "concurrent_calls": r.concurrent_calls,
            "inbound_free_slots": r.inbound_free_slots,
            "caller_ids": (
                {"numbers": list(r.caller_ids.numbers), "strategy": r.caller_ids.strategy.value}
                if r.caller_ids is not None
                else None
            ),
            "alternate_strategy": r.alternate_strategy.value,
            "retry_on": list(r.retry_on),
            "max_call_minutes": float(r.max_call_minutes),
            "contact_local_time": {
                "enabled": r.contact_local_time.enabled,
                "window": _windows_record(r.contact_local_time.window),
            },
            # SPEC section 7 (CampaignDefinition v2); defaults mean "not used".
            "calling_hours": (
                {
                    day: [_window_record(w) for w in window_list(ws)]
                    for day, ws in r.calling_hours.items()
                }
                if r.calling_hours is not None
                else None
            ),
            "blackout_dates": [d.isoformat() for d in r.blackout_dates],
            "holidays": (
                {"country": r.holidays.country, "subdivision": r.holidays.subdivision}
                if r.holidays is not None
                else None
            ),
            "attempt_limits": [_limit_record(x) for x in r.attempt_limits],
            "compliance": [p.value for p in r.compliance],
            # SPEC 8 and 9 (CampaignDefinition v3).
            "priority": r.priority,
            "ends_at": None if r.ends_at_us is None else ts(r.ends_at_us),
            "max_callbacks": r.max_callbacks,
            "voicemail": _voicemail_record(r.voicemail),  # issue 23 (CampaignDefinition v4)
        },
        "predial": _predial_record(d.predial),  # issue 23 (CampaignDefinition v6)
    }


def _predial_record(p: Predial | None) -> Record | None:
    """The pre-dial check as written on the definition and on each call; null: none."""
    if p is None:
        return None
    return {"url": p.url, "timeout_ms": p.timeout_ms, "on_error": p.on_error.value}


def _voicemail_record(v: Voicemail) -> Record | None:
    """The voicemail policy; the default one (hang up) is written as null."""
    if v == Voicemail():
        return None
    return {"action": v.action.value, "message": v.message, "on": v.on.value}


def _limit_record(x: AttemptLimit) -> Record:
    return {
        "scope": x.scope.value,
        "max_calls": x.max_calls,
        "period_hours": float(x.period_hours),
        "across": x.across.value,
    }


# The worker's state rows are JSON `[version, {field: value}]` (streams.records); the
# definition's row is written here so a dry run can weigh it before anything is sent.
STATE_ROW_VERSION = 1
_state_json = msgspec.json.Encoder().encode


def definition_row(d: CampaignDefinition) -> bytes:
    """The definition as the worker stores it (one state row, one changelog value)."""
    return _state_json([STATE_ROW_VERSION, definition_to_record(d)])


def largest_definition_part(d: CampaignDefinition) -> tuple[str, int]:
    """The field (`rules.x` or a top-level one) that weighs most in the stored definition,
    and its encoded size: what an error about an oversized definition names."""
    record = definition_to_record(d)
    parts = {f"rules.{k}": v for k, v in record["rules"].items()}
    parts.update((k, v) for k, v in record.items() if k != "rules")
    sizes = {path: len(_state_json(value)) for path, value in parts.items()}
    path = max(sizes, key=lambda p: sizes[p])
    return path, sizes[path]


def _window_record(w: Window) -> Record:
    return {"start": w.start, "end": w.end}


def _windows_record(value: Window | list[Window]) -> Record | list[Record]:
    """One window stays a record (as v1 wrote it); a list is an array of them."""
    if isinstance(value, Window):
        return _window_record(value)
    return [_window_record(w) for w in value]


def definition_from_record(rec: Record) -> CampaignDefinition:
    data = dict(rec)
    rules = dict(data["rules"])
    if rules.get("caller_ids") is None:
        rules.pop("caller_ids", None)
    if rules.get("retry_delay_minutes") is None:
        rules.pop("retry_delay_minutes", None)
    rules["alternate_strategy"] = Strategy(rules["alternate_strategy"])
    # SPEC 7 fields: absent from v1 records, at their defaults when unused.
    if rules.get("calling_hours") is None:
        rules.pop("calling_hours", None)
    else:  # Avro fills calling_days/calling_window with defaults: not given by the author
        rules.pop("calling_days", None)
        rules.pop("calling_window", None)
    if rules.get("holidays") is None:
        rules.pop("holidays", None)
    if rules.get("voicemail") is None:
        rules.pop("voicemail", None)
    if rules.get("ends_at") is None:
        rules.pop("ends_at", None)
    else:  # milliseconds (or the codec's datetime) back to an ISO instant
        rules["ends_at"] = iso(us(rules["ends_at"]))
    data["rules"] = rules
    if data.get("description") is None:
        data.pop("description", None)
    if data.get("predial") is None:
        data.pop("predial", None)
    return CampaignDefinition.model_validate(data)


def command_to_record(campaign_id: str, cmd: Command, issued_at: int) -> Record:
    body: Record
    if cmd.kind in (CommandKind.create, CommandKind.edit):
        assert cmd.definition is not None
        body = {
            "definition": definition_to_record(cmd.definition),
            "expected_contacts": cmd.expected_contacts,
        }
    elif cmd.kind is CommandKind.schedule:
        assert cmd.start_at_us is not None
        body = {"start_at": ts(cmd.start_at_us)}
    elif cmd.kind is CommandKind.add_contacts:
        body = {"count": cmd.count}
    else:
        body = {}
    return {
        "command_id": cmd.command_id,
        "campaign_id": campaign_id,
        "account_id": cmd.account_id,
        "issued_at": ts(issued_at),
        "command": (f"{NAMESPACE}.{COMMAND_RECORDS[cmd.kind]}", body),
    }


def command_from_record(rec: Record) -> Command:
    """A CampaignCommand record (fastavro reads unions as (name, value) when asked, else dict)."""
    body = rec["command"]
    name: str | None = None
    if isinstance(body, tuple):
        name, body = body
    else:
        name = _guess_command(body)
    kind = RECORD_COMMANDS.get(name or "")
    if kind is None:
        raise ValueError(f"unknown command record {name!r}")
    account = rec.get("account_id")
    if kind in (CommandKind.create, CommandKind.edit):
        return Command(
            rec["command_id"],
            kind,
            definition=definition_from_record(body["definition"]),
            expected_contacts=int(body["expected_contacts"]),
            account_id=account,
        )
    if kind is CommandKind.schedule:
        return Command(
            rec["command_id"], kind, start_at_us=us(body["start_at"]), account_id=account
        )
    if kind is CommandKind.add_contacts:
        return Command(rec["command_id"], kind, count=int(body["count"]), account_id=account)
    return Command(rec["command_id"], kind, account_id=account)


def _guess_command(body: Record) -> str | None:
    if "definition" in body:
        return "CreateCampaign"
    if "start_at" in body:
        return "ScheduleCampaign"
    if "count" in body:
        return "AddContacts"
    return None  # empty bodies are ambiguous: decode with return_record_name


# ---- contacts ----------------------------------------------------------------


def contact_to_record(c: Contact) -> Record:
    """The ContactRow record of a contact; it shares the contact's dicts (records are
    encoded, not kept: copying them cost the ingest workers a third of their encoding)."""
    return {
        "contact_id": c.contact_id,
        "row": c.row,
        "phone_number": c.phone_number,
        "alternates": [
            {"position": a.position, "phone_number": a.phone_number, "variables": a.variables}
            for a in c.alternates
        ],
        "variables": c.variables,
        "timezone": c.timezone,
        "agent_id": c.agent_id,
    }


def contact_from_record(rec: Record) -> Contact:
    """A ContactRow as the engine's contact; an id the CSV rules would refuse raises ValueError."""
    contact_id = rec["contact_id"]
    if not contact_id or len(contact_id) > MAX_CONTACT_ID_CHARS:
        raise ValueError(
            f"contact_id of {len(contact_id)} characters (1 to {MAX_CONTACT_ID_CHARS} allowed)"
        )
    return Contact(
        contact_id=contact_id,
        row=int(rec["row"]),
        phone_number=rec["phone_number"],
        alternates=[
            Alternate(int(a["position"]), a["phone_number"], dict(a.get("variables") or {}))
            for a in rec.get("alternates") or []
        ],
        variables=dict(rec.get("variables") or {}),
        timezone=rec.get("timezone"),
        agent_id=rec.get("agent_id") or None,
    )


def batch_to_record(
    campaign_id: str,
    batch_id: str,
    contacts: list[Contact],
    produced_at: int,
    account_id: str | None = None,
) -> Record:
    return {
        "batch_id": batch_id,
        "campaign_id": campaign_id,
        "account_id": account_id,
        "produced_at": ts(produced_at),
        "contacts": [contact_to_record(c) for c in contacts],
    }


# ---- outcomes ----------------------------------------------------------------


def outcome_from_record(rec: Record) -> CallOutcome:
    """`callback_at` (SPEC 9) is None when absent."""
    callback = rec.get("callback_at")
    return CallOutcome(
        rec["call_id"],
        rec["status"],
        bool(rec.get("opt_out", False)),
        None if callback is None else us(callback),
    )


# ---- what the engine emits -----------------------------------------------------


INBOUND_KINDS = ("started", "ended")


def inbound_from_record(rec: Record) -> InboundCall:
    """An InboundCall record as the engine's inbound input (SPEC 8). ValueError names what
    is missing: the shell parks such a record instead of applying it."""
    call_id = rec.get("call_id")
    if not call_id or not isinstance(call_id, str):
        raise ValueError("an inbound call names its call_id")
    kind = rec.get("kind")
    if kind not in INBOUND_KINDS:
        raise ValueError(f"inbound call kind {kind!r} is neither started nor ended")
    return InboundCall(call_id, us(rec["at"]), ended=kind == "ended")


def settings_from_status(rec: Record) -> AccountSettings:
    """The account's telephony settings (SPEC 8) from its AccountStatus record."""
    return AccountSettings(
        account_id=rec["account_id"],
        lines=rec.get("lines"),
        inbound_max_minutes=rec.get("inbound_max_minutes", 240.0),
    )


def status_record(
    account_id: str,
    *,
    active: bool,
    plan: str | None,
    settings: AccountSettings | None,
    updated_at_ms: int,
) -> Record:
    """An AccountStatus record: the subscription and the settings travel together (one
    compacted record per account), so a writer of one keeps the other."""
    found = settings or AccountSettings(account_id=account_id)
    return {
        "account_id": account_id,
        "active": active,
        "plan": plan,
        "updated_at": updated_at_ms,
        "lines": found.lines,
        "inbound_max_minutes": float(found.inbound_max_minutes),
    }


def call_to_record(ev: CallCreated, agent_prompt: str = "") -> Record:
    return {
        "call_id": ev.call_id,
        "campaign_id": ev.campaign_id,
        "account_id": ev.account_id,
        "contact_id": ev.contact_id,
        "attempt": ev.attempt,
        "to": ev.to,
        "from": ev.from_,
        "alternate_position": ev.alternate_position,
        "agent_id": ev.agent_id,
        "agent_prompt": agent_prompt,
        "variables": dict(ev.variables),
        "created_at": ts(ev.at_us),
        "deadline": ts(ev.deadline_us),
        "voicemail_message": ev.voicemail_message,
        "predial": _predial_record(ev.predial),
    }


def timeout_to_record(account_id: str, ev: OutcomeRecorded) -> Record:
    """The engine's own `timeout` outcome, published like a dialer's so analysts see it."""
    return {
        "call_id": ev.call_id,
        "campaign_id": ev.campaign_id,
        "account_id": account_id,
        "contact_id": ev.contact_id,
        "attempt": ev.attempt,
        "status": "timeout",
        "created_at": None,
        "started_at": None,
        "answered_at": None,
        "ended_at": ts(ev.at_us),
        "duration_seconds": None,
        "hangup_cause": "no outcome before max_call_minutes",
        "dialer_id": "engine",
        "opt_out": False,
        "callback_at": None,
    }


# ---- do-not-call lists ---------------------------------------------------------

DNC_SCOPE_SEP = "/"  # account list keys are `<account_id>/<number>`; E.164 has no "/"


def dnc_key(account_id: str | None, number: str) -> bytes:
    """The Kafka key of a do-not-call entry: the number for the global list (as records
    written before per-account lists were), `<account_id>/<number>` for an account's."""
    return (number if account_id is None else f"{account_id}{DNC_SCOPE_SEP}{number}").encode()


def dnc_key_scope(key: bytes) -> tuple[str | None, str]:
    """(account_id or None for the global list, number) of a do-not-call key."""
    text = key.decode()
    account, sep, number = text.rpartition(DNC_SCOPE_SEP)
    return (account if sep else None), number


def dnc_record(account_id: str | None, number: str, updated_at_ms: int) -> Record:
    return {
        "number": number,
        "blocked": True,
        "updated_at": updated_at_ms,
        "account_id": account_id,
    }


def opt_out_to_record(ev: NumberOptedOut) -> Record:
    """The do-not-call entry an opt-out makes: the number on the account's list."""
    return dnc_record(ev.account_id, ev.number, ts(ev.at_us))


def progress_to_record(account_id: str, camp: CampaignState, at_us: int) -> Record:
    """A Progress event from the campaign record: where the campaign stands at `at_us`."""
    return {
        "event_id": f"{account_id}/{camp.campaign_id}:progress:{at_us}",
        "campaign_id": camp.campaign_id,
        "account_id": account_id,
        "at": ts(at_us),
        "body": (
            f"{NAMESPACE}.Progress",
            {
                "contacts_total": max(camp.expected, camp.arrived),
                "contacts_final": camp.final,
                "calls_in_flight": camp.in_flight,
                "counts": {
                    **camp.counts,
                    "calls_created": camp.calls,
                    # SPEC 7: contacts each rule held back at least once
                    **{f"held_back:{rule}": n for rule, n in camp.held_back.items()},
                },
            },
        ),
    }


def event_to_record(account_id: str, ev: Event, event_id: str) -> Record | None:
    """A CampaignEvent record for the events topic, or None for events that go elsewhere."""
    body: tuple[str, Record]
    if isinstance(ev, StatusChanged):
        body = (f"{NAMESPACE}.StatusChanged", {"status": ev.status.value})
    elif isinstance(ev, ContactFinal):
        body = (
            f"{NAMESPACE}.ContactFinal",
            {"contact_id": ev.contact_id, "status": ev.status.value, "attempts": ev.attempts},
        )
    elif isinstance(ev, CommandRejected):
        body = (
            f"{NAMESPACE}.CommandRejected",
            {"command_id": ev.command_id, "command": ev.command, "reason": ev.reason},
        )
    elif isinstance(ev, ContactRejected):
        body = (
            f"{NAMESPACE}.ContactRejected",
            {
                "row": ev.row,
                "column": None,
                "reason": ev.reason,
                "contact_id": ev.contact_id,
                "values": {},
            },
        )
    elif isinstance(ev, ContactsAccepted):
        body = (
            f"{NAMESPACE}.ContactsAccepted",
            {"batch_id": ev.batch_id, "positions": list(ev.positions)},
        )
    elif isinstance(ev, (CallCreated, OutcomeRecorded, InputRejected)):
        return None
    else:  # pragma: no cover - every event kind is handled above
        raise TypeError(type(ev))
    return {
        "event_id": event_id,
        "campaign_id": ev.campaign_id,
        "account_id": account_id,
        "at": ts(ev.at_us),
        "body": body,
    }
