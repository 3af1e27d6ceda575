"""A deliberately naive second reading of SPEC.md, to check the engine against.

No buckets, no cursors, no wake-up arithmetic: the clock visits every instant at
which something can change (every event time and every whole minute, since windows
and zone offsets change only on whole minutes) and re-reads the rules from scratch.
Slow, short and obvious; only for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_data
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


def local_dt(t: int, zone: str) -> datetime:
    return (datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC")) + timedelta(microseconds=t)).astimezone(
        ZoneInfo(zone)
    )


def local_minute(t: int, zone: str) -> tuple[int, int]:
    dt = local_dt(t, zone)
    return dt.weekday(), dt.hour * 60 + dt.minute


def campaign_open(d: CampaignDefinition, t: int) -> bool:
    """Sections 5 and 7: the campaign's weekly hours, and not a closed date."""
    return in_weekly_hours(d, t) and not closed_date(d, t)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def in_any(windows: list[Any], minute: int) -> bool:
    return any(w.start_minute <= minute < w.end_minute for w in windows)


def in_weekly_hours(d: CampaignDefinition, t: int) -> bool:
    """Section 7 windows: `calling_hours` per weekday, else calling_days x the window list."""
    r = d.rules
    day, minute = local_minute(t, r.timezone)
    if r.calling_hours is not None:
        today = r.calling_hours.get(DAYS[day])
        return today is not None and in_any(as_list(today), minute)
    return DAYS[day] in r.calling_days and in_any(as_list(r.calling_window), minute)


def is_holiday(country: str, subdivision: str | None, day: date) -> bool:
    return day in holiday_data.country_holidays(country, subdiv=subdivision, years=day.year)


def closed_date(d: CampaignDefinition, t: int) -> bool:
    """Section 7 blackout dates and public holidays, in the campaign's zone."""
    r = d.rules
    day = local_dt(t, r.timezone).date()
    if day in r.blackout_dates:
        return True
    return r.holidays is not None and is_holiday(r.holidays.country, r.holidays.subdivision, day)


def zones_for(d: CampaignDefinition, c: C, to: str) -> list[str]:
    """Section 5: the CSV zone, else every zone of the number, else the campaign's."""
    if c.tz:
        return [c.tz]
    zones = [z for z in number_zones.time_zones_for_number(parse_number(to)) if z != "Etc/Unknown"]
    return zones or [d.rules.timezone]


def contact_open(d: CampaignDefinition, c: C, to: str, t: int) -> bool:
    if not d.rules.contact_local_time.enabled:
        return True
    windows = as_list(d.rules.contact_local_time.window)
    return all(in_any(windows, local_minute(t, z)[1]) for z in zones_for(d, c, to))


# ---- section 7: presets and attempt limits, read from SPEC.md again ------------------------

US_STRICT = set(
    [
        "239",
        "305",
        "321",
        "324",
        "352",
        "386",
        "407",
        "448",
        "561",
        "645",
        "656",
        "689",
        "727",
        "728",
        "754",
        "772",
        "786",
        "813",
        "850",
        "863",
        "904",
        "941",
        "954",
        "405",
        "539",
        "572",
        "580",
        "918",
        "227",
        "240",
        "301",
        "410",
        "443",
        "667",
    ]
)
HOURS = 3600 * US


def preset_limits(preset: str, to: str) -> list[tuple[int, int]]:
    """(max calls, period) per number the preset imposes on calls to `to`."""
    if preset == "us_tcpa" and to.startswith("+1") and to[2:5] in US_STRICT:
        return [(3, 24 * HOURS)]
    if preset == "fr_2022_1313" and to.startswith("+33"):
        return [(4, 720 * HOURS)]
    return []


def preset_hours_ok(d: CampaignDefinition, preset: str, c: C, to: str, t: int) -> bool:
    if preset == "us_tcpa" and to.startswith("+1"):
        end = 20 * 60 if to[2:5] in US_STRICT else 21 * 60
        return all(8 * 60 <= local_minute(t, z)[1] < end for z in zones_for(d, c, to))
    if preset == "fr_2022_1313" and to.startswith("+33"):
        paris = local_dt(t, "Europe/Paris")
        minute = paris.hour * 60 + paris.minute
        return (
            paris.weekday() < 5
            and (600 <= minute < 780 or 840 <= minute < 1200)
            and not is_holiday("FR", None, paris.date())
        )
    return True


def count_calls(calls: dict[str, dict[str, Any]], t: int, period: int, **match: Any) -> int:
    return sum(
        1
        for v in calls.values()
        if t - period < v["at"] <= t and all(v[k] == want for k, want in match.items())
    )


def section7_block(
    d: CampaignDefinition, c: C, to: str, t: int, calls: dict[str, dict[str, Any]]
) -> str | None:
    """The first section 7 rule after local time that holds this call back at t, or None."""
    for preset in d.rules.compliance:
        name = preset.value
        if not preset_hours_ok(d, name, c, to, t):
            return f"preset:{name}"
        for most, period in preset_limits(name, to):
            if count_calls(calls, t, period, to=to) >= most:
                return f"preset:{name}"
    for limit in d.rules.attempt_limits:
        period = timedelta(hours=limit.period_hours) // timedelta(microseconds=1)
        if limit.scope.value == "number":
            n = count_calls(calls, t, period, to=to)
        else:
            n = count_calls(calls, t, period, contact_id=c.id)
        if n >= limit.max_calls:
            return "attempt_limit"
    return None


def section7_periods(d: CampaignDefinition) -> list[int]:
    """Every period a limit counts over: a call leaving one may make a contact callable."""
    periods = [
        timedelta(hours=x.period_hours) // timedelta(microseconds=1) for x in d.rules.attempt_limits
    ]
    names = {p.value for p in d.rules.compliance}
    if "us_tcpa" in names:
        periods.append(24 * HOURS)
    if "fr_2022_1313" in names:
        periods.append(720 * HOURS)
    return periods


def reference_preview(sim: Simulation, at: int) -> dict[str, int]:
    """Section 7 launch preview: each contact's first attempt at `at`, no concurrency limit."""
    d = sim.definition
    counts = {"callable": 0, "dnc": 0, "window": 0, "local_time": 0}
    counts |= {f"preset:{p.value}": 0 for p in d.rules.compliance}
    counts["attempt_limit"] = 0
    for x in sim.contacts:
        c = C(x.contact_id, x.row, x.phone_number, x.alternates, x.variables, x.timezone)
        if c.primary in sim.dnc:
            counts["dnc"] += 1
        elif not campaign_open(d, at):
            counts["window"] += 1
        elif not contact_open(d, c, c.primary, at):
            counts["local_time"] += 1
        else:
            counts[section7_block(d, c, c.primary, at, {}) or "callable"] += 1
    return counts


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
    t = sim.start_us
    out.append({"at": iso(t), "type": "campaign.status", "campaign_id": cid, "status": "draft"})
    out.append({"at": iso(t), "type": "campaign.status", "campaign_id": cid, "status": "running"})
    done = False
    periods = section7_periods(d)

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
    while sim.until_us is None or t <= sim.until_us:
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
                if not contact_open(d, c, to, t) or section7_block(d, c, to, t, calls):
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
                    "at": t,
                    "to": to,
                    "contact_id": c.id,
                    "contact": c,
                    "order": len(calls),
                    "deadline": t + max_call,
                    "open": True,
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
        upcoming += [v["at"] + p for v in calls.values() for p in periods if v["at"] + p > t]
        upcoming.append((t // MINUTE + 1) * MINUTE)
        t = min(upcoming)
    return out
