"""Timezone offset transitions used for hours of day in the campaign's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sinks.tz import transitions


def _offset_at(rows: list[tuple[str, int, int]], when_ms: int) -> int:
    return [off for _tz, since, off in rows if since <= when_ms][-1]


def test_transitions_match_zoneinfo() -> None:
    rows = transitions("America/New_York")
    zone = ZoneInfo("America/New_York")
    for when in (
        datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 5, 59, 59, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    ):
        expected = when.astimezone(zone).utcoffset()
        assert expected is not None
        assert _offset_at(rows, int(when.timestamp() * 1000)) == int(expected.total_seconds())


def test_fixed_zone_has_one_row() -> None:
    assert transitions("UTC") == [("UTC", 0, 0)]
    rows = transitions("Asia/Kolkata")
    assert rows[-1][2] == 19800 and len(rows) == 1
