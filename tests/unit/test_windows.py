from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.windows import ALL_DAYS, day_numbers, from_datetime, iso, next_all_open, window

WEEKDAYS = day_numbers(["mon", "tue", "wed", "thu", "fri"])


def local(zone: str, *args: int, fold: int = 0) -> int:
    return from_datetime(datetime(*args, tzinfo=ZoneInfo(zone), fold=fold))  # type: ignore[misc]


def test_open_in_window_on_calling_days_only() -> None:
    w = window("America/New_York", WEEKDAYS, 9 * 60, 19 * 60)
    assert w.is_open(local("America/New_York", 2026, 12, 1, 9, 0))  # Tuesday 09:00
    assert not w.is_open(local("America/New_York", 2026, 12, 1, 8, 59, 59))
    assert w.is_open(local("America/New_York", 2026, 12, 1, 18, 59, 59))
    assert not w.is_open(local("America/New_York", 2026, 12, 1, 19, 0))  # end is exclusive
    assert not w.is_open(local("America/New_York", 2026, 12, 5, 12, 0))  # Saturday


def test_next_open_skips_the_weekend() -> None:
    w = window("Europe/London", WEEKDAYS, 9 * 60, 19 * 60)
    friday_evening = local("Europe/London", 2026, 12, 4, 19, 0)
    assert iso(w.next_open(friday_evening)) == "2026-12-07T09:00:00.000Z"


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 09:00 local the day clocks go forward and back, in both hemispheres.
        ("America/New_York", (2026, 3, 8), "2026-03-08T13:00:00.000Z"),
        ("America/New_York", (2026, 11, 1), "2026-11-01T14:00:00.000Z"),
        ("Europe/Berlin", (2026, 3, 29), "2026-03-29T07:00:00.000Z"),
        ("Europe/Berlin", (2026, 10, 25), "2026-10-25T08:00:00.000Z"),
        ("Australia/Sydney", (2026, 4, 5), "2026-04-04T23:00:00.000Z"),
        ("Australia/Sydney", (2026, 10, 4), "2026-10-03T22:00:00.000Z"),
    ],
)
def test_window_opens_at_local_time_on_dst_days(
    zone: str, day: tuple[int, int, int], expected: str
) -> None:
    w = window(zone, ALL_DAYS, 9 * 60, 19 * 60)
    assert iso(w.next_open(local(zone, *day, 0, 30))) == expected


def test_start_inside_the_spring_gap_opens_when_clocks_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: local time jumps 02:00 -> 03:00.
    w = window("America/New_York", ALL_DAYS, 2 * 60 + 30, 4 * 60)
    assert (
        iso(w.next_open(local("America/New_York", 2026, 3, 8, 0, 0))) == "2026-03-08T07:00:00.000Z"
    )


def test_repeated_hour_is_open_twice_in_the_fall() -> None:
    # 01:00-01:45 happens twice on 2026-11-01 in New York.
    w = window("America/New_York", ALL_DAYS, 60, 105)
    first = local("America/New_York", 2026, 11, 1, 1, 10, fold=0)
    second = local("America/New_York", 2026, 11, 1, 1, 10, fold=1)
    assert w.is_open(first) and w.is_open(second)
    after_first = local("America/New_York", 2026, 11, 1, 1, 50, fold=0)
    assert iso(w.next_open(after_first)) == "2026-11-01T06:00:00.000Z"


def test_end_of_day_window() -> None:
    w = window("UTC", ALL_DAYS, 22 * 60, 24 * 60)
    assert w.is_open(from_datetime(datetime(2026, 12, 1, 23, 59, 59, tzinfo=ZoneInfo("UTC"))))
    assert not w.is_open(from_datetime(datetime(2026, 12, 2, 0, 0, tzinfo=ZoneInfo("UTC"))))


def test_windows_in_several_zones_meet_at_the_latest_opening() -> None:
    campaign = window("America/New_York", ALL_DAYS, 9 * 60, 19 * 60)
    contact = window("America/Los_Angeles", ALL_DAYS, 8 * 60, 21 * 60)
    t = local("America/New_York", 2026, 12, 1, 9, 0)  # 06:00 in Los Angeles
    assert iso(next_all_open([campaign, contact], t)) == "2026-12-01T16:00:00.000Z"  # 08:00 LA


def test_windows_that_never_meet() -> None:
    a = window("UTC", ALL_DAYS, 0, 60)
    b = window("UTC", ALL_DAYS, 120, 180)
    assert next_all_open([a, b], local("UTC", 2026, 12, 1, 0, 0)) is None
