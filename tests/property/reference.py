"""A deliberately naive second reading of SPEC.md, to check the engine against.

No buckets, no cursors, no wake-up arithmetic: the clock visits every instant at
which something can change (every event time and every whole minute, since windows
and zone offsets change only on whole minutes) and re-reads the rules from scratch.
Slow, short and obvious; only for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from phonenumbers import parse as parse_number
from phonenumbers import timezone as number_zones

from campaigns.models import DAYS, CampaignDefinition
from campaigns.simulate import NO_OUTCOME, Simulation
from campaigns.windows import US, iso

MINUTE = 60 * US


@dataclass
class C:
    id: str
    row: int
    primary: str
    alternates: list[Any]
    variables: dict[str, str]
    tz: str | None
    attempts: int = 0
    final: str | None = None
    due: int | None = None
    in_call: bool = False


def local_minute(t: int, zone: str) -> tuple[int, int]:
    dt = (datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC")) + timedelta(microseconds=t)).astimezone(
        ZoneInfo(zone)
    )
    return dt.weekday(), dt.hour * 60 + dt.minute


def campaign_open(d: CampaignDefinition, t: int) -> bool:
    day, minute = local_minute(t, d.rules.timezone)
    w = d.rules.calling_window
    return DAYS[day] in d.rules.calling_days and w.start_minute <= minute < w.end_minute


def contact_open(d: CampaignDefinition, c: C, to: str, t: int) -> bool:
    if not d.rules.contact_local_time.enabled:
        return True
    if c.tz:
        zones = [c.tz]
    else:
        zones = [
            z for z in number_zones.time_zones_for_number(parse_number(to)) if z != "Etc/Unknown"
        ]
        zones = zones or [d.rules.timezone]
    w = d.rules.contact_local_time.window
    return all(w.start_minute <= local_minute(t, z)[1] < w.end_minute for z in zones)


def pick(strategy: str, options: list[Any], i: int, fallback: Any) -> Any:
    if not options:
        return fallback
    if strategy == "rolling":
        return options[i % len(options)]
    if strategy == "clamp":
        return options[min(i, len(options) - 1)]
    return options[i] if i < len(options) else fallback


def honour_opt_out(c: C, to: str, blocked: set[str]) -> bool:
    """SPEC section 7, Opt-out: the number dialled joins the list, whatever else happens.

    True when the contact must now end `opted_out` (it is not final yet). The list is
    one set here: a simulation runs one campaign of one account, so the account's list
    and the global one (`sim.dnc`) block the same calls.
    """
    blocked.add(to)
    return c.final is None


def reference(sim: Simulation) -> list[dict[str, Any]]:
    d = sim.definition
    r = d.rules
    cid = d.campaign_id
    limit = r.concurrent_calls - r.inbound_free_slots
    delay = timedelta(minutes=r.retry_delay_minutes or 0) // timedelta(microseconds=1)
    max_call = timedelta(minutes=r.max_call_minutes) // timedelta(microseconds=1)
    contacts = [
        C(c.contact_id, c.row, c.phone_number, c.alternates, c.variables, c.timezone)
        for c in sim.contacts
    ]
    calls: dict[str, dict[str, Any]] = {}  # call id -> contact, attempt, order, deadline, open
    arrivals: list[tuple[int, int, str, str, bool]] = []  # (time, order, call, status, opt_out)
    blocked = set(sim.dnc)  # grows with every opt-out
    out: list[dict[str, Any]] = []
    t = sim.start
    out.append({"at": iso(t), "type": "campaign.status", "campaign_id": cid, "status": "draft"})
    out.append({"at": iso(t), "type": "campaign.status", "campaign_id": cid, "status": "running"})
    done = False

    def finalize(c: C, status: str, at: int) -> None:
        nonlocal done
        c.final = status
        out.append(
            {
                "at": iso(at),
                "type": "contact.final",
                "contact_id": c.id,
                "status": status,
                "attempts": c.attempts,
            }
        )
        if all(x.final for x in contacts):
            out.append(
                {
                    "at": iso(at),
                    "type": "campaign.status",
                    "campaign_id": cid,
                    "status": "completed",
                }
            )
            done = True

    if not contacts:
        finalize_empty = {
            "at": iso(t),
            "type": "campaign.status",
            "campaign_id": cid,
            "status": "completed",
        }
        return [*out, finalize_empty]
    while sim.until is None or t <= sim.until:
        # Outcomes and timeouts at t, by call creation order; an outcome beats a timeout.
        now_arriving = [a for a in arrivals if a[0] == t]
        arrivals = [a for a in arrivals if a[0] != t]
        work = [(calls[a[2]]["order"], 0, a[2], a[3], a[4]) for a in now_arriving]
        work += [
            (v["order"], 1, k, "timeout", False)
            for k, v in calls.items()
            if v["open"] and v["deadline"] == t
        ]
        for _, kind, call, status, opt_out in sorted(work):
            v = calls[call]
            if kind == 1 and not v["open"]:
                continue
            line = {"at": iso(t), "type": "call.outcome", "call_id": call, "status": status}
            out.append({**line, "opt_out": True} if opt_out else line)
            c = v["contact"]
            if v["open"]:
                v["open"] = False
                c.in_call = False
            elif not opt_out:
                continue  # a late outcome changes nothing...
            if opt_out:  # ...unless it carries an opt-out
                if honour_opt_out(c, v["to"], blocked):
                    finalize(c, "opted_out", t)
                continue
            if c.final:
                continue  # opted out by a late outcome while this call was in flight
            if status == "answered":
                finalize(c, "reached", t)
            elif status in r.retry_on and c.attempts < 1 + r.max_retries:
                c.due = t + delay
            elif status in r.retry_on:
                finalize(c, "exhausted", t)
            else:
                finalize(c, "failed", t)
        if done:
            break
        if campaign_open(d, t):
            passed: set[str] = set()
            while sum(1 for v in calls.values() if v["open"]) < limit:
                retries = sorted(
                    (
                        c
                        for c in contacts
                        if not c.final
                        and not c.in_call
                        and c.due is not None
                        and c.due <= t
                        and c.id not in passed
                    ),
                    key=lambda c: (c.due, c.row),
                )
                fresh = [
                    c
                    for c in contacts
                    if not c.final and c.attempts == 0 and not c.in_call and c.id not in passed
                ]
                queue = retries + fresh
                if not queue:
                    break
                c = queue[0]
                if c.primary in blocked:
                    finalize(c, "suppressed", t)
                    if done:
                        break
                    continue
                k = c.attempts + 1
                alts = [a for a in c.alternates if a.phone_number not in blocked]
                alt = None if k == 1 else pick(r.alternate_strategy.value, alts, k - 2, None)
                to = alt.phone_number if alt else c.primary
                if not contact_open(d, c, to, t):
                    passed.add(c.id)
                    continue
                c.attempts, c.due, c.in_call = k, None, True
                call = f"{cid}/{c.id}/{k}"
                ids = r.caller_ids
                caller = (
                    pick(ids.strategy.value, ids.numbers, k - 1, d.source_number)
                    if ids
                    else d.source_number
                )
                values = {**c.variables, **(alt.variables if alt else {})}
                variables = {d.variable_mapping.get(n, n): v for n, v in values.items()}
                calls[call] = {
                    "contact": c,
                    "order": len(calls),
                    "deadline": t + max_call,
                    "open": True,
                    "to": to,
                }
                out.append(
                    {
                        "at": iso(t),
                        "type": "call.create",
                        "call_id": call,
                        "contact_id": c.id,
                        "attempt": k,
                        "to": to,
                        "from": caller,
                        "variables": variables,
                    }
                )
                plan = sim.dialer.outcome_for(c.id, k)
                if plan.status != NO_OUTCOME:
                    arrival = (
                        t + plan.duration_us,
                        len(calls) - 1,
                        call,
                        plan.status,
                        plan.opt_out,
                    )
                    arrivals.append(arrival)
        if done:
            break
        # A call that ends the instant it starts frees its slot at that same instant.
        upcoming = [a[0] for a in arrivals]
        upcoming += [v["deadline"] for v in calls.values() if v["open"]]
        upcoming += [c.due for c in contacts if c.due is not None and c.due > t]
        upcoming.append((t // MINUTE + 1) * MINUTE)
        t = min(upcoming)
    return out
