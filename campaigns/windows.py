"""When calls may be placed: calling days and a wall-clock window in a time zone.

Times are integer microseconds since the Unix epoch (UTC), the engine's clock unit:
the same arithmetic as aware datetimes and timedeltas, without their cost on the
hot path. A window is tested on local wall-clock time, so daylight-saving jumps are
handled by asking the zone, never by adding hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from campaigns.blackouts import Closed
from campaigns.models import DAYS

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCAN_DAYS = 9  # the next calling day is at most a week away; two days spare for offsets
NEVER_HORIZON_DAYS = 400  # windows (or combined windows) not open within this are "never"


def to_datetime(at_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=at_us)


def from_datetime(d: datetime) -> int:
    if d.tzinfo is None:
        raise ValueError("naive datetime: a time zone is required")
    return (d - EPOCH) // timedelta(microseconds=1)


def iso(at_us: int) -> str:
    """UTC ISO 8601 with milliseconds and Z, as every printed event carries."""
    return to_datetime(at_us).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Span = tuple[int, int]  # [start, end) in minutes after local midnight; end 1440 = end of day
Week = tuple[tuple[Span, ...], ...]  # seven entries, Monday first: each day's sorted spans
NO_DATES = Closed()


def merge_spans(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Sorted spans with touching or overlapping ones joined: 10-13 and 13-14 is 10-14."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


@dataclass(frozen=True)
class OpenHours:
    """Open when the local weekday's spans hold the local minute and the local date is not closed."""

    zone: ZoneInfo
    week: Week
    closed: Closed = NO_DATES  # dates (in this zone) with no calls: blackouts, holidays

    def is_open(self, at_us: int) -> bool:
        local = datetime.fromtimestamp(at_us // US, self.zone)
        spans = self.week[local.weekday()]
        if not spans:
            return False
        minute = local.hour * 60 + local.minute
        for start, end in spans:
            if start <= minute < end:
                return not self.closed or local.date() not in self.closed
        return False

    def next_open(self, at_us: int) -> int | None:
        """The first instant >= t when the window is open; None if not within NEVER_HORIZON_DAYS."""
        if self.is_open(at_us):
            return at_us
        # The window turns on either when local time reaches a span's start (either fold
        # of an ambiguous hour) or at an offset change that jumps local time into a span.
        seconds = at_us // US
        first = datetime.fromtimestamp(seconds, self.zone).date() - timedelta(days=1)
        best: int | None = None
        for offset in range(NEVER_HORIZON_DAYS + 2):
            day = first + timedelta(days=offset)
            spans = self.week[day.weekday()]
            if not spans or (self.closed and day in self.closed):
                continue
            for start, _ in spans:
                for fold in (0, 1):
                    local = datetime(
                        day.year, day.month, day.day, start // 60, start % 60,
                        tzinfo=self.zone, fold=fold,
                    )  # fmt: skip
                    cand = int(local.timestamp()) * US
                    if cand >= at_us and (best is None or cand < best) and self.is_open(cand):
                        best = cand
            if best is not None:  # later days only open later
                break
        horizon = seconds + SCAN_DAYS * 86_400 if best is None else best // US
        for cand in _transitions(self.zone, seconds, horizon):
            cand_us = cand * US
            if cand_us >= at_us and self.is_open(cand_us) and (best is None or cand_us < best):
                best = cand_us
        return best


def _transitions(zone: ZoneInfo, lo: int, hi: int) -> Iterable[int]:
    """UTC seconds at which the zone's offset changes, within [lo, hi]."""
    return _transitions_cached(zone, lo // 86_400, hi // 86_400 + 1)


@lru_cache(maxsize=4096)
def _transitions_cached(zone: ZoneInfo, day_lo: int, day_hi: int) -> tuple[int, ...]:
    found = []
    step = 3 * 3600
    prev_t = day_lo * 86_400
    prev = datetime.fromtimestamp(prev_t, zone).utcoffset()
    at_us = prev_t + step
    while at_us <= day_hi * 86_400:
        off = datetime.fromtimestamp(at_us, zone).utcoffset()
        if off != prev:
            a, b = prev_t, at_us  # offset(a) == prev, offset(b) != prev
            while b - a > 1:
                mid = (a + b) // 2
                if datetime.fromtimestamp(mid, zone).utcoffset() == prev:
                    a = mid
                else:
                    b = mid
            found.append(b)
        prev_t, prev = at_us, off
        at_us += step
    return tuple(found)


@lru_cache(maxsize=4096)
def window(zone_name: str, days: frozenset[int], start: int, end: int) -> OpenHours:
    """One span on the given weekdays (sections 1-6)."""
    return OpenHours(
        ZoneInfo(zone_name), tuple(((start, end),) if d in days else () for d in range(7))
    )


@lru_cache(maxsize=4096)
def hours(zone_name: str, week: Week, closed: Closed = NO_DATES) -> OpenHours:
    """Spans per weekday and closed dates (section 7)."""
    return OpenHours(ZoneInfo(zone_name), tuple(merge_spans(day) for day in week), closed)


def every_day(spans: Iterable[Span]) -> Week:
    merged = merge_spans(spans)
    return tuple(merged for _ in range(7))


ALL_DAYS = frozenset(range(7))


def day_numbers(names: Sequence[str]) -> frozenset[int]:
    return frozenset(DAYS.index(d) for d in names)


def next_all_open(windows: Sequence[OpenHours], at_us: int) -> int | None:
    """The first instant >= t when every window is open together, or None if never.

    Each window moves the candidate to its own next opening; an instant skipped
    by one window cannot be open for all, so the fixpoint is the earliest.
    """
    limit = at_us + NEVER_HORIZON_DAYS * DAY_US
    cand = at_us
    while cand <= limit:
        moved = False
        for w in windows:
            nxt = w.next_open(cand)
            if nxt is None:
                return None
            if nxt != cand:
                cand, moved = nxt, True
        if not moved:
            return cand
    return None
