"""api.analytics (issue 24, item 1): the period's bounds in the chosen zone, its bucket,
the errors naming the parameter, and answers built from the fixed queries' rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from api import analytics

NOW = datetime(2026, 12, 7, 6, 30, tzinfo=UTC)


def test_periods_are_whole_days_of_the_zone_with_buckets_that_follow_their_length() -> None:
    today = analytics.period("today", NOW, "America/New_York")
    # 06:30 UTC is 01:30 on Dec 7 in New York (UTC-5).
    assert (today.start, today.end) == (
        datetime(2026, 12, 7, 5, tzinfo=UTC),
        datetime(2026, 12, 8, 5, tzinfo=UTC),
    )
    assert today.bucket == "hour"
    week = analytics.period("7d", NOW, "UTC")
    assert (week.start, week.end, week.bucket) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2026, 12, 8, tzinfo=UTC),
        "day",
    )
    assert analytics.period("30d", NOW, "UTC").bucket == "day"
    custom = analytics.period("custom", NOW, "Europe/Paris", "2026-01-01", "2026-06-30")
    assert custom.start == datetime(2025, 12, 31, 23, tzinfo=UTC)  # Paris is UTC+1 in winter
    assert custom.end == datetime(2026, 6, 30, 22, tzinfo=UTC)  # and UTC+2 in summer
    assert custom.bucket == "week"
    assert analytics.period("custom", NOW, "UTC", "2026-03-01", "2026-03-02").bucket == "hour"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("year", "UTC"), "period"),
        (("7d", "Mars/Olympus"), "tz"),
        (("7d", "UTC'; DROP TABLE calls"), "tz"),
        (("custom", "UTC", None, "2026-01-02"), "from"),
        (("custom", "UTC", "2026-01-02", "yesterday"), "to"),
        (("custom", "UTC", "2026-01-02", "2026-01-01"), "to"),
        (("custom", "UTC", "2024-01-01", "2026-01-01"), "to"),
    ],
)
def test_a_bad_period_names_its_parameter(args: tuple[Any, ...], field: str) -> None:
    kind, tz, *dates = args
    with pytest.raises(analytics.PeriodError) as err:
        analytics.period(kind, NOW, tz, *dates)
    assert err.value.field == field


def test_the_queries_name_only_the_account_and_the_period() -> None:
    p = analytics.period("7d", NOW, "UTC")
    sql = analytics.queries("o'brien", p)
    assert set(sql) == {"timeline", "outcomes", "by_hour", "by_weekday", "caller_ids", "campaigns"}
    for text in sql.values():
        assert "account_id = 'o\\'brien'" in text
        assert "created_at >= toDateTime64('2026-12-01 00:00:00', 3, 'UTC')" in text
        assert "created_at < toDateTime64('2026-12-08 00:00:00', 3, 'UTC')" in text


def test_an_answer_adds_up_and_fills_hours_and_weekdays() -> None:
    rows = {
        "timeline": [
            {
                "bucket": "2026-12-01",
                "calls": 10,
                "ended": 8,
                "answered_calls": 4,
                "talk_seconds": 300,
            },
            {
                "bucket": "2026-12-02",
                "calls": 5,
                "ended": 5,
                "answered_calls": 1,
                "talk_seconds": 60,
            },
        ],
        "outcomes": [{"bucket": "2026-12-01", "status": "answered", "calls": 4}],
        "by_hour": [
            {"hour": 9, "calls": 15, "ended": 13, "answered_calls": 5, "talk_seconds": 360}
        ],
        "by_weekday": [
            {"weekday": 2, "calls": 15, "ended": 13, "answered_calls": 5, "talk_seconds": 0}
        ],
        "caller_ids": [],
        "campaigns": [
            {
                "campaign_id": "c1",
                "name": "C1",
                "status": "running",
                "contacts": 20,
                "reached": 0,
                "exhausted": 1,
                "attempts": 15,
                "ended": 13,
                "answered_calls": 5,
                "attempts_per_reached": None,
            }
        ],
    }
    p = analytics.period("7d", NOW, "UTC")
    names = iter(analytics.queries("acme", p))
    answer = analytics.gather(lambda sql: rows[next(names)], "acme", p)
    assert answer["totals"] == {
        "calls": 15,
        "answered": 5,
        "answer_rate": round(5 / 13, 4),
        "talk_minutes": 6.0,
    }
    assert len(answer["by_hour"]) == 24 and answer["by_hour"][9]["calls"] == 15
    assert answer["by_hour"][0] == {
        "hour": 0,
        "calls": 0,
        "answered": 0,
        "answer_rate": None,
        "talk_minutes": 0.0,
    }
    assert [d["weekday"] for d in answer["by_weekday"]] == [1, 2, 3, 4, 5, 6, 7]
    assert answer["campaigns"][0]["answer_rate"] == round(5 / 13, 4)
    assert answer["campaigns"][0]["attempts_per_reached"] is None
