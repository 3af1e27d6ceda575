"""SPEC section 7 for one contact: what holds its call back now, and until when.

`Gate` is built once per campaign definition. The campaign's own hours (days or
`calling_hours`, windows, blackout dates, holidays) are its `schedule`; the
contact-level rules come after the do-not-call check, in SPEC's order: the contact's
local time, the presets, the attempt limits. The engine parks a contact that is held
back until `Hold.wake`; the launch preview asks the same question once per contact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from campaigns.blackouts import closed
from campaigns.contacts import Contact
from campaigns.dialing import choose_destination, contact_zones
from campaigns.models import DAYS, CampaignDefinition, LimitAcross, LimitScope, Preset, Window
from campaigns.presets import RULE_PREFIX_CHARS, NumberLimit, PresetRule, rule_for
from campaigns.store import Directory
from campaigns.windows import OpenHours, Span, every_day, hours, merge_spans, next_all_open

CALLABLE = "callable"
DNC = "dnc"
WINDOW = "window"
LOCAL_TIME = "local_time"
ATTEMPT_LIMIT = "attempt_limit"

ALL_PRESETS = tuple(p.value for p in Preset)
# Recent-call records: a number's under the number itself (E.164: it starts with "+", so
# no key is made per call nor kept per number), a contact's under "c" + its id.
CONTACT_KEY = "c"

# Times of recent calls for a record key, oldest first.
RecentCalls = Callable[[str], tuple[int, ...]]


def no_calls(_key: str) -> tuple[int, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a contact may not be called now, and the first instant it may be (None: never)."""

    reason: str
    wake_us: int | None


@dataclass(frozen=True, slots=True)
class Keep:
    """How much of a scope's call history the limits need: calls this recent, this many."""

    period_us: int
    calls: int


def spans_of(windows: Iterable[Window]) -> tuple[Span, ...]:
    return merge_spans((w.start_minute, w.end_minute) for w in windows)


def schedule_of(definition: CampaignDefinition) -> OpenHours:
    """The campaign's callable instants: weekly hours in its zone, minus closed dates."""
    rules = definition.rules
    weekly = rules.weekly_hours
    week = tuple(spans_of(weekly.get(day, ())) for day in DAYS)
    calendars = []
    if rules.holidays is not None:
        calendars.append((rules.holidays.country, rules.holidays.subdivision))
    return hours(rules.timezone, week, closed(rules.blackout_dates, calendars))


def release_at(times: tuple[int, ...], limit: NumberLimit, now_us: int) -> int | None:
    """None if a call now keeps within the limit, else when the oldest counted call leaves.

    Counted: calls at instants in (now - period, now]; a call at `now - period` is out.
    """
    # Times are oldest first. No list is built: this runs for every call considered, and
    # every container made brings the next (whole-heap) garbage collection nearer.
    start = _first_after(times, now_us - limit.period_us)
    counted = len(times) - start
    if counted < limit.max_calls:
        return None
    return times[start + counted - limit.max_calls] + limit.period_us


def _limited(limits: tuple[NumberLimit, ...], times: tuple[int, ...], now_us: int) -> int | None:
    """When every limit of the list lets a call go again (None: they all let it go now)."""
    found: int | None = None
    for limit in limits:
        free = release_at(times, limit, now_us)
        if free is not None and (found is None or free > found):
            found = free
    return found


def _first_after(times: tuple[int, ...], floor: int) -> int:
    """Index of the first time > floor (times oldest first)."""
    i = 0
    while i < len(times) and times[i] <= floor:
        i += 1
    return i


def remember(times: tuple[int, ...], now_us: int, keep: Keep) -> tuple[int, ...]:
    """A scope's history after a call at `now_us`: only what some limit can still count."""
    if not times:
        return (now_us,)
    start = _first_after(times, now_us - keep.period_us)
    start = max(start, len(times) + 1 - keep.calls)
    return (*times[start:], now_us)


def forget(times: tuple[int, ...], now_us: int, keep: Keep) -> tuple[int, ...]:
    start = _first_after(times, now_us - keep.period_us)
    return times[start:] if start else times


def account_keep(to: str, period_us: int, calls: int) -> Keep | None:
    """How much of the account's log of calls to `to` a limit may count (SPEC 8).

    Every call to a number a preset names is kept (a preset counts every campaign's calls,
    those of campaigns without it too), and every call while a campaign of the account has
    an `across: account` limit (`period_us`, `calls`: the largest of them). A preset names
    a number by its prefix (`rule_for`), so the answer is worked out once per prefix."""
    return _account_keep(to[:RULE_PREFIX_CHARS], period_us, calls)


@lru_cache(maxsize=4096)
def _account_keep(prefix: str, period_us: int, calls: int) -> Keep | None:
    found = [
        rule.limit
        for name in ALL_PRESETS
        if (rule := rule_for(name, prefix)) is not None and rule.limit is not None
    ]
    if calls:
        found.append(NumberLimit(calls, period_us))
    return _keep(found)


def _keep(limits: Iterable[NumberLimit]) -> Keep | None:
    found = list(limits)
    if not found:
        return None
    return Keep(max(x.period_us for x in found), max(x.max_calls for x in found))


class Gate:
    """The contact-level rules of one campaign definition."""

    def __init__(self, definition: CampaignDefinition) -> None:
        rules = definition.rules
        self.definition = definition
        self.schedule = schedule_of(definition)
        local = rules.contact_local_time
        self.local_week = every_day(spans_of(local.windows)) if local.enabled else None
        self.local_spans: tuple[Span, ...] = self.local_week[0] if self.local_week else ()
        self.presets = tuple(rules.compliance)
        self.preset_names = tuple(p.value for p in self.presets)
        own = [(x, NumberLimit(x.max_calls, x.period_us)) for x in rules.attempt_limits]
        # Per-number limits count this campaign's calls, or with `across: account` (SPEC 8)
        # every campaign's of the account, as the presets' limits always do.
        self.number_limits = tuple(
            lim
            for x, lim in own
            if x.scope is LimitScope.number and x.across is LimitAcross.campaign
        )
        self.account_limits = tuple(
            lim
            for x, lim in own
            if x.scope is LimitScope.number and x.across is LimitAcross.account
        )
        self.contact_limits = tuple(lim for x, lim in own if x.scope is LimitScope.contact)
        # Each non-empty list of limits with the log it counts (False: this campaign's calls
        # to the number, True: the account's, None: this campaign's calls to the contact).
        self._limit_logs = tuple(
            (limits, across)
            for limits, across in (
                (self.number_limits, False),
                (self.account_limits, True),
                (self.contact_limits, None),
            )
            if limits
        )
        self.keep_number = _keep(self.number_limits)
        self.keep_contact = _keep(self.contact_limits)
        # What this campaign needs the account's call log to keep (limits across the account).
        self.keep_account = _keep(self.account_limits)
        self.keeps = self.keep_number is not None or self.keep_contact is not None
        self.retain_us = max(
            (k.period_us for k in (self.keep_number, self.keep_contact) if k is not None),
            default=0,
        )
        self.active = (
            self.local_week is not None
            or bool(self.presets)
            or self.keeps
            or bool(self.account_limits)
        )
        self._zone_hours: dict[tuple[str, tuple[Span, ...]], OpenHours] = {}
        # Whether each window is open at `_open_at`: a round asks the same few windows
        # about the same instant for every contact it considers.
        self._open_at = -1
        self._open: dict[int, bool] = {}  # id of a window (each is kept for the gate's life)
        # Wake times asked at `_open_at`: a wave of contacts parked at once (a window
        # closing) shares a few sets of windows, so each set is worked out once.
        self._wakes: dict[tuple[int, tuple[int, ...]], int | None] = {}
        self._zones_memo: dict[int, dict[tuple[str, ...], bool]] = {}  # id(spans) -> zones -> open

    def _in_zones(self, zones: tuple[str, ...], spans: tuple[Span, ...]) -> list[OpenHours]:
        out = []
        for zone in zones:
            key = (zone, spans)
            found = self._zone_hours.get(key)
            if found is None:
                found = self._zone_hours[key] = hours(zone, every_day(spans))
            out.append(found)
        return out

    def _at(self, now_us: int) -> None:
        if now_us != self._open_at:
            self._open_at = now_us
            self._open = {}
            self._wakes = {}
            self._zones_memo = {}

    def _wake(self, windows: list[OpenHours], not_before: int, now_us: int) -> int | None:
        self._at(now_us)
        key = (not_before, tuple(id(w) for w in windows))
        if key in self._wakes:
            return self._wakes[key]
        found = self._wakes[key] = next_all_open(windows, not_before)
        return found

    def _is_open(self, window: OpenHours, now_us: int) -> bool:
        self._at(now_us)
        found = self._open.get(id(window))
        if found is None:
            found = self._open[id(window)] = window.is_open(now_us)
        return found

    def _all_open(self, windows: list[OpenHours], now_us: int) -> bool:
        self._at(now_us)
        memo = self._open
        for w in windows:
            found = memo.get(id(w))
            if found is None:
                found = memo[id(w)] = w.is_open(now_us)
            if not found:
                return False
        return True

    def _preset_rules(self, to: str) -> list[PresetRule]:
        out: list[PresetRule] = []
        for name in self.preset_names:
            rule = rule_for(name, to)
            if rule is not None:
                out.append(rule)
        return out

    def _windows(self, contact: Contact, to: str) -> list[OpenHours]:
        """Every window a call to `to` must be inside: local time, then each preset's."""
        out: list[OpenHours] = [self.schedule]
        zones: tuple[str, ...] | None = None
        if self.local_week is not None:
            zones = contact_zones(self.definition, contact, to)
            out.extend(self._in_zones(zones, self.local_spans))
        for rule in self._preset_rules(to):
            if rule.local_hours:
                if zones is None:
                    zones = contact_zones(self.definition, contact, to)
                out.extend(self._in_zones(zones, rule.local_hours))
            if rule.fixed is not None:
                out.append(rule.fixed)
        return out

    def _zones_open(self, zones: tuple[str, ...], spans: tuple[Span, ...], now_us: int) -> bool:
        """Whether `spans` hold local time `now_us` in every zone; asked once per instant."""
        self._at(now_us)
        memo = self._zones_memo.get(id(spans))
        if memo is None:
            memo = self._zones_memo[id(spans)] = {}
        found = memo.get(zones)
        if found is None:
            found = memo[zones] = self._all_open(self._in_zones(zones, spans), now_us)
        return found

    def check(
        self,
        contact: Contact,
        to: str,
        now_us: int,
        recent: RecentCalls,
        account_recent: RecentCalls = no_calls,
    ) -> Hold | None:
        """None when the call for `contact` to `to` may be created at `now_us`; else the Hold.

        The campaign's own hours are the caller's to check first (they hold every
        contact alike); they take part in the wake time. A call that may go builds
        nothing on the way (see release_at). `recent`: this campaign's call log;
        `account_recent`: the account's, across campaigns (presets, `across: account`).
        """
        reason: str | None = None
        not_before = now_us
        zones: tuple[str, ...] | None = None
        if self.local_week is not None:
            zones = contact_zones(self.definition, contact, to)
            if not self._zones_open(zones, self.local_spans, now_us):
                reason = LOCAL_TIME
        account_times: tuple[int, ...] | None = None
        for name in self.preset_names:
            rule = rule_for(name, to)
            if rule is None:
                continue
            blocked = False
            if rule.local_hours:
                if zones is None:
                    zones = contact_zones(self.definition, contact, to)
                blocked = not self._zones_open(zones, rule.local_hours, now_us)
            if rule.fixed is not None and not self._is_open(rule.fixed, now_us):
                blocked = True
            if rule.limit is not None:
                if account_times is None:
                    account_times = account_recent(to)
                free = release_at(account_times, rule.limit, now_us)
                if free is not None:
                    blocked = True
                    not_before = max(not_before, free)
            if blocked and reason is None:
                reason = rule.reason
        free = self._limits_free(contact, to, now_us, recent, account_recent, account_times)
        if free is not None:
            not_before = max(not_before, free)
            reason = reason or ATTEMPT_LIMIT
        if reason is None:
            return None
        return Hold(reason, self._wake(self._windows(contact, to), not_before, now_us))

    def _limits_free(
        self,
        contact: Contact,
        to: str,
        now_us: int,
        recent: RecentCalls,
        account_recent: RecentCalls,
        account_times: tuple[int, ...] | None,
    ) -> int | None:
        """When the attempt limits let the call go (None: now). Each log is read only when
        a limit counts it, and no closure is built per call: this runs for every call."""
        found: int | None = None
        for limits, across in self._limit_logs:
            if across is None:
                times = recent(CONTACT_KEY + contact.contact_id)
            elif not across:
                times = recent(to)
            elif account_times is None:
                times = account_recent(to)
            else:
                times = account_times
            free = _limited(limits, times, now_us)
            if free is not None:
                found = free if found is None else max(found, free)
        return found

    def reasons(self) -> list[str]:
        """Every reason the preview counts for this campaign, in SPEC order."""
        return [
            CALLABLE,
            DNC,
            WINDOW,
            LOCAL_TIME,
            *(f"preset:{name}" for name in self.preset_names),
            ATTEMPT_LIMIT,
        ]


# What each launch-preview reason means (SPEC 7), for the CLI's table and the API's summary.
PREVIEW_REASONS = {
    "callable": "would be called at the start",
    "dnc": "on a do-not-call list (the broker's lists are checked by the engine when it"
    " calls, not here)",
    "window": "the campaign's calling days, window, blackout dates or holidays are closed"
    " at the start",
    "local_time": "outside the contact's own local calling window (contact_local_time)",
    "preset:us_tcpa": "US TCPA preset: outside 08:00-21:00 at the number's area code"
    " (08:00-20:00 in Florida, Oklahoma, Maryland) or over 3 calls in 24 h there",
    "preset:fr_2022_1313": "French decree 2022-1313: outside weekdays 10:00-13:00 and"
    " 14:00-20:00 Paris time, a French public holiday, or over 4 calls in 30 days",
    "attempt_limit": "an attempt limit (rules.attempt_limits) has no call left in its period",
}


def preview_reason(reason: str) -> str:
    """A launch-preview reason in words (a preset this table does not know: its name)."""
    return PREVIEW_REASONS.get(reason, reason)


class Preview:
    """SPEC 7 launch preview: each contact's first attempt at `at`, ignoring concurrency.

    Counted as callable or by the first rule that blocks it: dnc, window, local_time,
    preset:<name>, attempt_limit (the campaign has made no call when it starts; the
    account's calls before then count for presets and `across: account` limits, SPEC 8:
    `account_recent`). Fed one contact at a time, so a million-row list is never held.
    """

    def __init__(
        self,
        definition: CampaignDefinition,
        at_us: int,
        directory: Directory,
        account_recent: RecentCalls = no_calls,
    ) -> None:
        self.definition = definition
        self.at_us = at_us
        self.directory = directory
        self.account_recent = account_recent
        self.gate = Gate(definition)
        self.counts = dict.fromkeys(self.gate.reasons(), 0)
        self.open_now = self.gate.schedule.is_open(at_us)

    def add(self, contact: Contact) -> str:
        if self.directory.is_blocked(self.definition.account_id, contact.phone_number):
            reason = DNC
        elif not self.open_now:
            reason = WINDOW
        else:
            dial = choose_destination(self.definition, contact, 1, self.directory)
            gate = self.gate
            hold = (
                gate.check(contact, dial.to, self.at_us, no_calls, self.account_recent)
                if gate.active
                else None
            )
            reason = CALLABLE if hold is None else hold.reason
        self.counts[reason] += 1
        return reason


def preview(
    definition: CampaignDefinition,
    contacts: Iterable[Contact],
    at_us: int,
    directory: Directory,
    account_recent: RecentCalls = no_calls,
) -> dict[str, int]:
    """The launch preview of a whole list (see Preview)."""
    counter = Preview(definition, at_us, directory, account_recent)
    for contact in contacts:
        counter.add(contact)
    return counter.counts
