"""UTC offset transitions of a timezone, so SQL can say "hour of day in the campaign's zone".

ClickHouse wants a constant timezone in toHour()/toTimeZone(); campaigns each have their
own. The sink writes each zone's transitions to `tz_offsets` once, and the views pick
the offset in force with an ASOF JOIN. Computed with zoneinfo: daily steps, and a
binary search to the second where the offset changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DAY = 86_400
FIRST_YEAR = 2000
LAST_YEAR = 2100


def _offset(zone: ZoneInfo, epoch_s: int) -> int:
    delta = datetime.fromtimestamp(epoch_s, zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def transitions(
    tz: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> list[tuple[str, int, int]]:
    """Rows (tz, since epoch millis, offset seconds): the first row starts at the epoch."""
    zone = ZoneInfo(tz)
    start = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last_year, 1, 1, tzinfo=UTC).timestamp())
    current = _offset(zone, start)
    rows = [(tz, 0, current)]
    t = start
    while t < end:
        nxt = t + DAY
        off = _offset(zone, nxt)
        if off != current:
            lo, hi = t, nxt  # offset(lo) == current, offset(hi) == off
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            rows.append((tz, hi * 1000, off))
            current = off
        t = nxt
    return rows
