"""The account's analytics (issue 24, item 1): fixed queries over the sink's views.

No SQL comes from the browser: a request names a period (today, 7 days, 30 days or custom
dates) and a time zone, both checked here, and the queries below are built from them and
the caller's account only. They run through `Runner`, which the command line builds over
`sinks.query.run_query` (as `campaignflow report` does): with the embedded ClickHouse the
sink owns the directory and answers on its loopback query endpoint with its token.

Calls are counted by when they were placed (`v_calls.created_at`, placed calls only); the
answer rate is answered calls over calls with an outcome; talk minutes are the answered
calls' durations. Buckets follow the period: hours for a day or two, days up to three
months, weeks beyond. Hours and weekdays are the chosen zone's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from api.exceptions import AnalyticsUnavailable, PeriodError

__all__ = ["AnalyticsUnavailable", "PeriodError", "Runner"]

Runner = Callable[[str], list[dict[str, Any]]]

PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
MAX_CUSTOM_DAYS = 366
HOUR_BUCKETS_UP_TO_DAYS = 2
DAY_BUCKETS_UP_TO_DAYS = 92
BUCKET_SQL = {
    "hour": "toString(toStartOfHour(created_at, {tz}))",
    "day": "toString(toDate(created_at, {tz}))",
    "week": "toString(toMonday(created_at, {tz}))",
}


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, UTC; included
    end: datetime  # aware, UTC; excluded
    tz: str
    bucket: str  # hour, day or week


def _day(value: str | None, field: str) -> date:
    if not value:
        raise PeriodError(field, "required with period=custom (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(field, f"not a date (YYYY-MM-DD): {value[:40]!r}") from None


def period(
    kind: str, now: datetime, tz: str, first: str | None = None, last: str | None = None
) -> Period:
    """The period's bounds: whole days of `tz`, today included (custom: first..last)."""
    if tz not in available_timezones():
        raise PeriodError("tz", f"unknown time zone {tz[:64]!r} (an IANA name, like Europe/Paris)")
    zone = ZoneInfo(tz)
    if kind == "custom":
        start_day, end_day = _day(first, "from"), _day(last, "to")
        if end_day < start_day:
            raise PeriodError("to", "before from")
        if (end_day - start_day).days + 1 > MAX_CUSTOM_DAYS:
            raise PeriodError("to", f"a period is at most {MAX_CUSTOM_DAYS} days")
    elif kind in PERIOD_DAYS:
        end_day = now.astimezone(zone).date()
        start_day = end_day - timedelta(days=PERIOD_DAYS[kind] - 1)
    else:
        raise PeriodError("period", "one of today, 7d, 30d, custom")
    start = datetime.combine(start_day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    days = (end_day - start_day).days + 1
    bucket = (
        "hour"
        if days <= HOUR_BUCKETS_UP_TO_DAYS
        else "day"
        if days <= DAY_BUCKETS_UP_TO_DAYS
        else "week"
    )
    return Period(start, end, tz, bucket)


def literal(value: str) -> str:
    """A ClickHouse string literal (the values are checked before; this is the second wall)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _at(t: datetime) -> str:
    return f"toDateTime64({literal(t.strftime('%Y-%m-%d %H:%M:%S'))}, 3, 'UTC')"


def queries(account: str, p: Period) -> dict[str, str]:
    """The fixed queries of one answer, by name."""
    tz = literal(p.tz)
    calls = (
        f"FROM v_calls WHERE account_id = {literal(account)} AND has_attempt"
        f" AND created_at >= {_at(p.start)} AND created_at < {_at(p.end)}"
    )
    # Aliases never reuse a column's name: ClickHouse resolves a name to an alias of the
    # same query first (`countIf(answered) AS answered` would feed the count to sumIf).
    counts = (
        "count() AS calls, countIf(finished) AS ended, countIf(answered) AS answered_calls,"
        " sumIf(duration_seconds, answered) AS talk_seconds"
    )
    bucket = BUCKET_SQL[p.bucket].format(tz=tz)
    local = f"toTimeZone(created_at, {tz})"
    return {
        "timeline": f"SELECT {bucket} AS bucket, {counts} {calls} GROUP BY bucket ORDER BY bucket",
        "outcomes": (
            f"SELECT {bucket} AS bucket, status, count() AS calls {calls} AND finished"
            " GROUP BY bucket, status ORDER BY bucket, status"
        ),
        "by_hour": f"SELECT toHour({local}) AS hour, {counts} {calls} GROUP BY hour ORDER BY hour",
        "by_weekday": (
            f"SELECT toDayOfWeek({local}) AS weekday, {counts} {calls}"
            " GROUP BY weekday ORDER BY weekday"
        ),
        "caller_ids": (
            f"SELECT caller_id, {counts} {calls} GROUP BY caller_id ORDER BY calls DESC, caller_id"
        ),
        "campaigns": (
            "SELECT p.campaign_id AS campaign_id, p.name AS name, p.status AS status,"
            " p.contacts_total AS contacts, p.reached AS reached, p.exhausted AS exhausted,"
            " p.attempts AS attempts, p.outcomes AS ended, p.answered_calls AS answered_calls,"
            " if(p.reached = 0, NULL, r.avg_attempts) AS attempts_per_reached"
            " FROM v_campaign_progress AS p LEFT JOIN v_attempts_per_reached_contact AS r"
            " ON r.account_id = p.account_id AND r.campaign_id = p.campaign_id"
            f" WHERE p.account_id = {literal(account)}"
            f" AND p.campaign_id IN (SELECT DISTINCT campaign_id {calls})"
            " ORDER BY p.campaign_id"
        ),
    }


def rate(answered: int, ended: int) -> float | None:
    return round(answered / ended, 4) if ended else None


def _counts(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "calls": int(row["calls"]),
        "answered": int(row["answered_calls"]),
        "answer_rate": rate(int(row["answered_calls"]), int(row["ended"])),
        "talk_minutes": round(float(row["talk_seconds"] or 0) / 60, 2),
    }


def gather(run: Runner, account: str, p: Period) -> dict[str, Any]:
    """Every section of the answer; counts per hour 0-23 and weekday 1-7 (Monday) filled."""
    got = {name: run(sql) for name, sql in queries(account, p).items()}
    timeline = [{"bucket": r["bucket"], **_counts(r)} for r in got["timeline"]]
    hours = {int(r["hour"]): _counts(r) for r in got["by_hour"]}
    days = {int(r["weekday"]): _counts(r) for r in got["by_weekday"]}
    empty = _counts({"calls": 0, "answered_calls": 0, "ended": 0, "talk_seconds": 0})
    ended = sum(int(r["ended"]) for r in got["timeline"])
    answered = sum(t["answered"] for t in timeline)
    return {
        "period": {
            "start": p.start.isoformat().replace("+00:00", "Z"),
            "end": p.end.isoformat().replace("+00:00", "Z"),
            "tz": p.tz,
            "bucket": p.bucket,
        },
        "totals": {
            "calls": sum(t["calls"] for t in timeline),
            "answered": answered,
            "answer_rate": rate(answered, ended),
            "talk_minutes": round(
                sum(float(r["talk_seconds"] or 0) for r in got["timeline"]) / 60, 2
            ),
        },
        "timeline": timeline,
        "outcomes": [
            {"bucket": r["bucket"], "status": r["status"], "calls": int(r["calls"])}
            for r in got["outcomes"]
        ],
        "by_hour": [{"hour": h, **hours.get(h, empty)} for h in range(24)],
        "by_weekday": [{"weekday": d, **days.get(d, empty)} for d in range(1, 8)],
        "caller_ids": [{"caller_id": r["caller_id"], **_counts(r)} for r in got["caller_ids"]],
        "campaigns": [_campaign(r) for r in got["campaigns"]],
    }


def _campaign(r: dict[str, Any]) -> dict[str, Any]:
    per = r["attempts_per_reached"]
    return {
        "campaign_id": r["campaign_id"],
        "name": r["name"],
        "status": r["status"],
        "contacts": int(r["contacts"]),
        "reached": int(r["reached"]),
        "exhausted": int(r["exhausted"]),
        "calls": int(r["attempts"]),
        "answer_rate": rate(int(r["answered_calls"]), int(r["ended"])),
        "attempts_per_reached": None if per is None else round(float(per), 2),
    }
