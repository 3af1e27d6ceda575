"""A deliberately naive second reading of SPEC.md sections 1-9, for an account of campaigns.

Written from the SPEC text only, over the scenario data of `account_scenario` (not the
engine's parsed records): every rule is re-read from the campaign's `rules:` mapping with
the SPEC's defaults. The clock visits every instant at which something can change (every
event time, every ends_at, callback, retry, limit expiry, inbound start/end/cut-off, and
every whole minute while some running campaign has a contact waiting) and re-reads all
rules from scratch at each. Slow, short and obvious; only for tests.

Readings of places where the SPEC could be read two ways (each also in the report):
- R1 A callback asked for at or after `ends_at` (its `callback_at`) by an outcome before
  `ends_at` makes the contact `expired` at that outcome, not at `ends_at` (section 9's "makes
  the contact `expired`" read like "makes it `expired` instead" just above it; the other
  reading, waiting like any callback until the expiry at `ends_at`, gives the same status
  later). The account engine reads it so too.
- R2 A callback whose number is an alternate (not on the list) while the contact's primary
  is on the list: the contact is `suppressed` (section 5's check of the primary applies to
  every call, "every other rule applies to a callback as to any call").
- R3 A callback placed "as an ordinary attempt" takes section 3's number, caller ID and
  variables for its attempt number.
- R4 `schedule` whose time has passed (or is now): `scheduled`, then `running` at once, at
  the `schedule` itself, so a `pause` at the same instant finds it `running`. (The engine
  of sections 1-7 on main made it `running` only after that instant's commands; the
  account engine reads "at once" as here.)
- R5 `resume` after `ends_at` of a campaign with contacts in flight: `running`, no call.
- R6 A campaign that becomes `running` with every contact already final (in practice: none)
  completes at the end of that instant, after the round (a print-order choice the SPEC
  leaves open; the account engine prints it there).
- R7 The launch preview of a campaign counts, for presets and `across: account` limits,
  the account's calls created strictly before the instant it first runs (calls of that
  instant's round come after its start command); the do-not-call list is the account's as
  of that instant.
- R8 `callback_at` is printed on its `call.outcome` line in the form of `at`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import holidays as holiday_data
from phonenumbers import NumberParseException, is_valid_number
from phonenumbers import parse as parse_number
from phonenumbers import timezone as number_zones

from tests.property.account_scenario import MS, US, Account, Campaign, Planned, Row, iso_us
from tests.property.reference import HOURS, MINUTE, US_STRICT, local_dt, local_minute, pick

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RETRY_ON = ["no_answer", "busy", "failed", "voicemail", "timeout"]
FINAL = ("completed", "cancelled")


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def windows(value: Any) -> list[tuple[int, int]]:
    """A window or a list of windows -> [(start minute, end minute)]."""
    items = value if isinstance(value, list) else [value]
    return [(minutes(w["start"]), minutes(w["end"])) for w in items]


def inside(spans: list[tuple[int, int]], minute: int) -> bool:
    return any(a <= minute < b for a, b in spans)


@cache
def holiday(country: str, subdivision: str | None, day: date) -> bool:
    return day in holiday_data.country_holidays(country, subdiv=subdivision, years=day.year)


def us_of_minutes(value: float) -> int:
    return round(value * MINUTE)


@dataclass
class RulesView:
    """The rules of one campaign with SPEC defaults filled in (sections 1, 7, 8, 9)."""

    raw: dict[str, Any]

    def get(self, key: str, default: Any) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    @property
    def zone(self) -> str:
        return str(self.raw["timezone"])

    def open_at(self, t: int) -> bool:
        """Sections 5 and 7: weekly hours, blackout dates, holidays (campaign zone)."""
        day, minute = local_minute(t, self.zone)
        hours = self.raw.get("calling_hours")
        if hours is not None:
            today = hours.get(DAYS[day])
            if today is None or not inside(windows(today), minute):
                return False
        else:
            days = self.get("calling_days", DAYS[:5])
            span = self.get("calling_window", {"start": "09:00", "end": "19:00"})
            if DAYS[day] not in days or not inside(windows(span), minute):
                return False
        today_date = local_dt(t, self.zone).date()
        if today_date.isoformat() in [str(d) for d in self.get("blackout_dates", [])]:
            return False
        h = self.raw.get("holidays")
        return not (h and holiday(h["country"], h.get("subdivision"), today_date))

    def ends_at_us(self) -> int | None:
        from tests.property.account_scenario import us_of

        value = self.raw.get("ends_at")
        return None if value is None else us_of(str(value))


@dataclass
class K:
    """One accepted contact and where it stands."""

    row: Row
    number: int  # 1-based data row
    attempts: int = 0
    final: str | None = None
    retry_due: int | None = None
    callback_due: int | None = None
    callback: tuple[str, str, dict[str, str]] | None = None  # to, from, variables
    granted: int = 0  # callbacks granted so far (cb)
    in_call: bool = False


@dataclass
class Camp:
    spec: Campaign
    rules: RulesView
    contacts: list[K]
    status: str = "draft"
    scheduled_at: int | None = None
    finished_at: int | None = None
    preview: dict[str, int] | None = None
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def cid(self) -> str:
        return self.spec.campaign_id


@dataclass
class Call:
    call_id: str
    camp: Camp
    contact: K
    attempt: int
    at: int
    to: str
    caller: str
    variables: dict[str, str]
    order: int
    deadline: int
    open: bool = True


@dataclass
class Attempt:
    """What a campaign would dial next at t."""

    contact: K
    to: str
    caller: str
    variables: dict[str, str]


def zones_for(rules: RulesView, row: Row, to: str) -> list[str]:
    """Section 5: the CSV zone, else every zone of the number, else the campaign's."""
    if row.timezone:
        return [row.timezone]
    found = number_zones.time_zones_for_number(parse_number(to))
    zones = [z for z in found if z != "Etc/Unknown"]
    return zones or [rules.zone]


def local_ok(rules: RulesView, row: Row, to: str, t: int, spans: list[tuple[int, int]]) -> bool:
    return all(inside(spans, local_minute(t, z)[1]) for z in zones_for(rules, row, to))


def strict_us(to: str) -> bool:
    return to.startswith("+1") and to[2:5] in US_STRICT


def preset_hours_ok(rules: RulesView, preset: str, row: Row, to: str, t: int) -> bool:
    if preset == "us_tcpa" and to.startswith("+1"):
        end = 20 * 60 if strict_us(to) else 21 * 60
        return local_ok(rules, row, to, t, [(8 * 60, end)])
    if preset == "fr_2022_1313" and to.startswith("+33"):
        paris = local_dt(t, "Europe/Paris")
        minute = paris.hour * 60 + paris.minute
        return (
            paris.weekday() < 5
            and inside([(600, 780), (840, 1200)], minute)
            and not holiday("FR", None, paris.date())
        )
    return True


def preset_limit(preset: str, to: str) -> tuple[int, int] | None:
    """(max calls, period) per number a preset puts on calls to `to`, counted across the account."""
    if preset == "us_tcpa" and strict_us(to):
        return 3, 24 * HOURS
    if preset == "fr_2022_1313" and to.startswith("+33"):
        return 4, 720 * HOURS
    return None


def valid(number: str) -> bool:
    try:
        return is_valid_number(parse_number(number, "US"))
    except NumberParseException:
        return False


def accepted(rows: list[Row], rejected: list[tuple[int, str]]) -> list[K]:
    """Section 2: a row is rejected (row number, column) for a bad number, a repeated
    contact_id or a repeated primary number; the others keep their row number."""
    out: list[K] = []
    for n, r in enumerate(rows, start=1):
        if not valid(r.phone_number):
            rejected.append((n, "phone_number"))
        elif bad := [a for a in r.alternates if not valid(a.phone_number)]:
            column = f"phone_number_{2 + r.alternates.index(bad[0])}"
            rejected.append((n, column))
        elif r.contact_id in [k.row.contact_id for k in out]:
            rejected.append((n, "contact_id"))
        elif r.phone_number in [k.row.phone_number for k in out]:
            rejected.append((n, "phone_number"))
        else:
            out.append(K(r, n))
    return out


def variables_for(c: Campaign, row: Row, alternate: int | None) -> dict[str, str]:
    """Section 2: the row's columns, X_N overriding X for alternate N, renamed by the mapping."""
    values = dict(row.variables)
    if alternate is not None:
        values |= {k: v for k, v in row.alternates[alternate].overrides.items() if v}
    return {c.variable_mapping.get(k, k): v for k, v in values.items()}


class AccountRun:
    """Sections 1-9 for every campaign of one account, instant by instant."""

    def __init__(self, account: Account, per_account: bool) -> None:
        self.a = account
        self.per_account = per_account  # lines carry campaign_id (SPEC 8's simulate)
        rejections: dict[str, list[tuple[int, str]]] = {}
        self.camps = sorted(
            (
                Camp(
                    c,
                    RulesView(c.rules),
                    accepted(c.rows, rejections.setdefault(c.campaign_id, [])),
                )
                for c in account.campaigns
            ),
            key=lambda x: x.cid,
        )
        self.rejections = rejections
        self.calls: list[Call] = []
        self.arrivals: list[tuple[int, int, Planned]] = []  # (time, call order, plan)
        self.dnc: set[str] = set(account.dnc)
        self.out: list[dict[str, Any]] = []
        max_minutes = account.inbound_max_minutes
        self.inbound_hold = us_of_minutes(240 if max_minutes is None else max_minutes)

    # ---- printing -----------------------------------------------------------------------

    def emit(self, camp: Camp, t: int, kind: str, **fields: Any) -> None:
        line = {"at": iso_us(t), "type": kind, **fields}
        if self.per_account or kind == "campaign.status":
            line["campaign_id"] = camp.cid
        self.out.append(line)

    def set_status(self, camp: Camp, status: str, t: int) -> None:
        camp.status = status
        self.emit(camp, t, "campaign.status", status=status)
        if status in FINAL:
            camp.finished_at = t
        if status == "running" and camp.preview is None:
            camp.preview = self.preview(camp, t)

    def finalize(self, camp: Camp, k: K, status: str, t: int) -> None:
        k.final, k.retry_due, k.callback_due, k.callback = status, None, None, None
        camp.counts[status] += 1
        self.emit(
            camp,
            t,
            "contact.final",
            contact_id=k.row.contact_id,
            status=status,
            attempts=k.attempts,
        )
        self.maybe_complete(camp, t)

    def maybe_complete(self, camp: Camp, t: int) -> None:
        """Section 5: completed when the last contact is final, if running or paused."""
        if camp.status in ("running", "paused") and all(k.final for k in camp.contacts):
            self.set_status(camp, "completed", t)

    # ---- the run --------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        t = self.a.start_us
        for camp in self.camps:  # section 2's rejected rows, first, at the start time
            for number, column in self.rejections[camp.cid]:
                self.emit(camp, t, "contact.rejected", row=number, column=column, reason="")
        while self.a.until_us is None or t <= self.a.until_us:
            self.instant(t)
            if all(c.status in FINAL for c in self.camps):
                break
            nxt = self.next_instant(t)
            if nxt is None:
                break
            t = nxt
        return self.out + [self.summary(c) for c in self.camps]

    def instant(self, t: int) -> None:
        """SPEC 8's order at an instant: scheduled starts, commands, (inbound: by time),
        outcomes and timeouts, ends_at expiry, then the account round."""
        self.scheduled_starts(t)
        for camp in self.camps:
            if t == self.a.start_us:
                self.create_campaign(camp, t)
            for cmd in self.commands(camp):
                if cmd.at_us == t:
                    self.command(camp, cmd.command, cmd.start_at_us, t)
        self.outcomes_at(t)
        for camp in self.camps:
            if camp.rules.ends_at_us() == t and camp.status in ("running", "paused"):
                for k in camp.contacts:
                    if k.final is None and not k.in_call:
                        self.finalize(camp, k, "expired", t)
        while self.round_step(t):
            pass
        for camp in self.camps:  # R6
            self.maybe_complete(camp, t)

    def create_campaign(self, camp: Camp, t: int) -> None:
        """At --start each campaign is created (a draft, its first command: so with the
        commands by campaign_id) and its contacts arrive; at or after ends_at, expired."""
        self.emit(camp, t, "campaign.status", status="draft")
        ends = camp.rules.ends_at_us()
        for k in camp.contacts:
            if ends is not None and t >= ends:
                self.finalize(camp, k, "expired", t)

    def scheduled_starts(self, t: int) -> None:
        for camp in self.camps:
            due = camp.scheduled_at
            if camp.status == "scheduled" and due is not None and due <= t:
                self.set_status(camp, "running", t)

    def commands(self, camp: Camp) -> list[Any]:
        from tests.property.account_scenario import Cmd

        if camp.spec.commands is None:
            return [Cmd(self.a.start_us, "start")]
        return camp.spec.commands

    def next_instant(self, t: int) -> int | None:
        times = [cmd.at_us for c in self.camps for cmd in self.commands(c)]
        times += [a[0] for a in self.arrivals]
        times += [x.deadline for x in self.calls if x.open]
        for i in self.a.inbound:
            times += [i.started_at_us, i.started_at_us + self.inbound_hold]
            times += [i.ended_at_us] if i.ended_at_us is not None else []
        for camp in self.camps:
            times += [x for x in (camp.rules.ends_at_us(), camp.scheduled_at) if x is not None]
            for k in camp.contacts:
                times += [x for x in (k.retry_due, k.callback_due) if x is not None]
            for period in self.periods(camp):
                times += [x.at + period for x in self.calls]
            if camp.status == "running" and any(
                not k.final and not k.in_call for k in camp.contacts
            ):
                times.append((t // MINUTE + 1) * MINUTE)
        later = [x for x in times if x > t]
        return min(later) if later else None

    def periods(self, camp: Camp) -> list[int]:
        out = [round(x["period_hours"] * HOURS) for x in camp.rules.get("attempt_limits", [])]
        return out + [24 * HOURS, 720 * HOURS]  # presets count across the account

    # ---- section 4: commands ------------------------------------------------------------

    def reject(self, camp: Camp, command: str, reason: str, t: int) -> None:
        self.emit(camp, t, "command.rejected", command=command, reason=reason)

    def command(self, camp: Camp, kind: str, start_at: int | None, t: int) -> None:
        s, ends = camp.status, camp.rules.ends_at_us()
        allowed = {
            "start": ("draft", "scheduled"),
            "schedule": ("draft", "scheduled"),
            "pause": ("running",),
            "resume": ("paused",),
            "cancel": ("draft", "scheduled", "running", "paused"),
        }[kind]
        if s not in allowed:
            self.reject(camp, kind, f"not allowed when {s}", t)
        elif kind == "start" and ends is not None and t >= ends:
            self.reject(camp, kind, f"the campaign ended at {iso_us(ends)}", t)
        elif kind == "schedule":
            assert start_at is not None
            if ends is not None and max(start_at, t) >= ends:
                self.reject(camp, kind, f"the campaign ended at {iso_us(ends)}", t)
                return
            camp.scheduled_at = start_at
            self.set_status(camp, "scheduled", t)
            if start_at <= t:  # R4: at once, at the `schedule` itself
                self.set_status(camp, "running", t)
        elif kind == "cancel":
            self.set_status(camp, "cancelled", t)
            for k in camp.contacts:
                if k.final is None:
                    self.finalize(camp, k, "cancelled", t)
        else:  # start, pause, resume (R5: a resume after ends_at creates nothing)
            self.set_status(camp, "paused" if kind == "pause" else "running", t)

    # ---- sections 5, 7 and 9: outcomes and timeouts -------------------------------------

    def outcomes_at(self, t: int) -> None:
        """In the order their calls were created, across campaigns; an outcome arriving
        at its call's deadline comes before the timeout (which then finds it finished)."""
        work: list[tuple[int, int, Planned | None]] = [
            (order, 0, plan) for at, order, plan in self.arrivals if at == t
        ]
        self.arrivals = [a for a in self.arrivals if a[0] != t]
        work += [(x.order, 1, None) for x in self.calls if x.open and x.deadline == t]
        for order, kind, plan in sorted(work, key=lambda w: (w[0], w[1])):
            call = self.calls[order]
            if kind == 1 and not call.open:
                continue
            self.outcome(call, plan, t)

    def outcome(self, call: Call, plan: Planned | None, t: int) -> None:
        status = plan.status if plan else "timeout"
        opt_out = bool(plan and plan.opt_out)
        extra: dict[str, Any] = {"opt_out": True} if opt_out else {}
        if plan and plan.callback_at_us is not None:
            extra["callback_at"] = iso_us(plan.callback_at_us)  # R8
        camp, k = call.camp, call.contact
        self.emit(camp, t, "call.outcome", call_id=call.call_id, status=status, **extra)
        was_open = call.open
        if was_open:
            call.open, k.in_call = False, False
            camp.outcomes[status] += 1
        if opt_out:  # section 7: wins over everything, even on a late or duplicate outcome
            self.dnc.add(call.to)
            if k.final is None:
                self.finalize(camp, k, "opted_out", t)
            return
        if not was_open or k.final is not None:
            return
        self.decide(call, status, plan.callback_at_us if plan else None, t)

    def decide(self, call: Call, status: str, callback_at: int | None, t: int) -> None:
        """Section 9's list, over section 5's: what the outcome of attempt k makes of it."""
        camp, k, r = call.camp, call.contact, call.camp.rules
        ends = r.ends_at_us()
        after_end = ends is not None and t >= ends
        if status == "skipped":
            self.finalize(camp, k, "skipped", t)
        elif (
            status == "answered"
            and callback_at is not None
            and k.granted < r.get("max_callbacks", 1)
        ):
            k.granted += 1
            if after_end or (ends is not None and callback_at >= ends):  # R1
                self.finalize(camp, k, "expired", t)
            else:
                k.callback_due = max(callback_at, t)
                k.callback = (call.to, call.caller, call.variables)
        elif status == "answered":
            self.finalize(camp, k, "reached", t)
        elif (
            status in r.get("retry_on", RETRY_ON)
            and call.attempt < 1 + r.get("max_retries", 0) + k.granted
        ):
            if after_end:
                self.finalize(camp, k, "expired", t)
            else:
                k.retry_due = t + us_of_minutes(r.get("retry_delay_minutes", 0))
        elif status in r.get("retry_on", RETRY_ON):
            self.finalize(camp, k, "exhausted", t)
        else:
            self.finalize(camp, k, "failed", t)

    # ---- section 8: the account round --------------------------------------------------------

    def busy(self, t: int) -> int:
        """Outbound calls in flight (every campaign, ended ones too) + inbound in progress."""
        outbound = sum(1 for x in self.calls if x.open)
        inbound = 0
        for i in self.a.inbound:
            until = i.started_at_us + self.inbound_hold
            if i.ended_at_us is not None:
                until = min(until, i.ended_at_us)
            inbound += i.started_at_us <= t < until
        return outbound + inbound

    def in_flight(self, camp: Camp) -> int:
        return sum(1 for x in self.calls if x.open and x.camp is camp)

    def round_step(self, t: int) -> bool:
        """One call of the round: every ready campaign's next call, the winner creates it."""
        ready: list[tuple[Camp, Attempt]] = []
        for camp in self.camps:  # campaign_id order
            r = camp.rules
            ends = r.ends_at_us()
            free = r.get("inbound_free_slots", 0)
            if camp.status != "running" or (ends is not None and t >= ends):
                continue
            if not r.open_at(t) or self.in_flight(camp) >= r.raw["concurrent_calls"] - free:
                continue
            if self.a.lines is not None and self.busy(t) + free >= self.a.lines:
                continue
            nxt = self.next_attempt(camp, t)
            if nxt is not None:
                ready.append((camp, nxt))
        if not ready:
            return False
        camp, nxt = min(
            ready,
            key=lambda x: (-x[0].rules.get("priority", 5), self.in_flight(x[0]), x[0].cid),
        )
        self.create(camp, nxt, t)
        return True

    def queue(self, camp: Camp, t: int) -> list[K]:
        """Section 9's order: callbacks due, retries due (by due time, row), never called."""
        waiting = [k for k in camp.contacts if k.final is None and not k.in_call]
        backs = [k for k in waiting if k.callback_due is not None and k.callback_due <= t]
        retries = [k for k in waiting if k.retry_due is not None and k.retry_due <= t]
        fresh = [k for k in waiting if k.attempts == 0]
        backs.sort(key=lambda k: (k.callback_due, k.number))
        retries.sort(key=lambda k: (k.retry_due, k.number))
        return backs + retries + fresh

    def next_attempt(self, camp: Camp, t: int) -> Attempt | None:
        for k in self.queue(camp, t):
            if k.final is not None:
                continue
            if k.row.phone_number in self.dnc:  # R2: checked for callbacks too
                self.finalize(camp, k, "suppressed", t)
                if camp.status != "running":
                    return None
                continue
            nxt = self.attempt_for(camp, k)
            if self.held_back(camp, nxt, t) is None:
                return nxt
        return None

    def attempt_for(self, camp: Camp, k: K) -> Attempt:
        """Section 3 (alternates on the list left out), or a callback's number and caller."""
        if k.callback is not None and k.callback[0] not in self.dnc:
            to, caller, variables = k.callback
            return Attempt(k, to, caller, variables)
        r, n = camp.rules, k.attempts + 1  # R3: a callback to a listed alternate: ordinary
        alts = [i for i, a in enumerate(k.row.alternates) if a.phone_number not in self.dnc]
        alt = None if n == 1 else pick(r.get("alternate_strategy", "rolling"), alts, n - 2, None)
        to = k.row.alternates[alt].phone_number if alt is not None else k.row.phone_number
        ids = r.raw.get("caller_ids") or {}
        source = camp.spec.source_number
        caller = pick(ids.get("strategy", "rolling"), ids.get("numbers", []), n - 1, source)
        return Attempt(k, to, caller, variables_for(camp.spec, k.row, alt))

    def held_back(self, camp: Camp, nxt: Attempt, t: int, before: bool = False) -> str | None:
        """The first rule after the campaign's hours that holds this call back at t:
        contact-local time, presets (hours, then their per-number limit across the
        account), then attempt limits. `before`: count only calls created before t."""
        r, row, to = camp.rules, nxt.contact.row, nxt.to
        local = r.get("contact_local_time", {})
        if local.get("enabled"):
            spans = windows(local.get("window", {"start": "08:00", "end": "21:00"}))
            if not local_ok(r, row, to, t, spans):
                return "local_time"
        for preset in r.get("compliance", []):
            if not preset_hours_ok(r, preset, row, to, t):
                return f"preset:{preset}"
            limit = preset_limit(preset, to)
            if limit and self.count(t, limit[1], before, to=to) >= limit[0]:
                return f"preset:{preset}"
        for x in r.get("attempt_limits", []):
            period = round(x["period_hours"] * HOURS)
            if x["scope"] == "contact":
                n = self.count(t, period, before, camp=camp, contact=nxt.contact)
            elif x.get("across", "campaign") == "account":
                n = self.count(t, period, before, to=to)
            else:
                n = self.count(t, period, before, camp=camp, to=to)
            if n >= x["max_calls"]:
                return "attempt_limit"
        return None

    def count(
        self,
        t: int,
        period: int,
        before: bool,
        to: str | None = None,
        camp: Camp | None = None,
        contact: K | None = None,
    ) -> int:
        """Calls of the account created in (t - period, t] (or before t): to that number,
        of that campaign, for that contact, when given."""
        return sum(
            1
            for x in self.calls
            if t - period < x.at <= t
            and not (before and x.at == t)
            and (to is None or x.to == to)
            and (camp is None or x.camp is camp)
            and (contact is None or x.contact is contact)
        )

    def create(self, camp: Camp, nxt: Attempt, t: int) -> None:
        k = nxt.contact
        k.attempts += 1
        k.retry_due, k.callback_due, k.callback, k.in_call = None, None, None, True
        call_id = f"{camp.cid}/{k.row.contact_id}/{k.attempts}"
        max_call = us_of_minutes(camp.rules.get("max_call_minutes", 60))
        call = Call(
            call_id,
            camp,
            k,
            k.attempts,
            t,
            nxt.to,
            nxt.caller,
            nxt.variables,
            len(self.calls),
            t + max_call,
        )
        self.calls.append(call)
        self.emit(
            camp,
            t,
            "call.create",
            call_id=call_id,
            contact_id=k.row.contact_id,
            attempt=k.attempts,
            to=nxt.to,
            variables=nxt.variables,
            **{"from": nxt.caller},
        )
        plan = camp.spec.outcomes.get((k.row.contact_id, k.attempts))
        if plan is None:
            plan = Planned(self.a.default_outcome, self.a.default_duration_seconds)
        if plan.status != "none":
            took = plan.duration_seconds * US or MS  # SPEC 9: a duration of 0 is 1 ms
            self.arrivals.append((t + took, call.order, plan))

    # ---- the launch preview (sections 7 and 8) and the summary ---------------------------

    def preview(self, camp: Camp, t: int) -> dict[str, int]:
        """Each contact's first attempt at t, no concurrency or lines (R7)."""
        r = camp.rules
        counts = {"callable": 0, "dnc": 0, "window": 0, "local_time": 0}
        counts |= {f"preset:{p}": 0 for p in r.get("compliance", [])}
        counts["attempt_limit"] = 0
        for k in camp.contacts:
            if k.row.phone_number in self.dnc:
                counts["dnc"] += 1
            elif not r.open_at(t):
                counts["window"] += 1
            else:
                first = Attempt(k, k.row.phone_number, "", {})
                counts[self.held_back(camp, first, t, before=True) or "callable"] += 1
        return counts

    def summary(self, camp: Camp) -> dict[str, Any]:
        """SPEC 6's summary, without its `at` (the instant the run stopped)."""
        calls: dict[str, int] = dict(sorted(camp.outcomes.items()))
        open_now = self.in_flight(camp)
        if open_now:
            calls["in_flight"] = open_now
        line: dict[str, Any] = {
            "type": "summary",
            "status": camp.status,
            "finished_at": iso_us(camp.finished_at) if camp.finished_at is not None else None,
            "contacts": {
                "accepted": len(camp.contacts),
                "rejected": len(self.rejections[camp.cid]),
                **camp.counts,
            },
            "calls": calls,
            "preview": camp.preview,
        }
        if self.per_account:
            line["campaign_id"] = camp.cid
        return line


def reference(account: Account, per_account: bool = True) -> list[dict[str, Any]]:
    """The lines `simulate --account` (or, with one campaign, plain `simulate`) must print."""
    return AccountRun(account, per_account).run()
