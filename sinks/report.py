"""`campaignflow report CAMPAIGN`: progress and the analyst views in the terminal, and a plot.

Every number comes from the v_* views (ops/sql), so the report and an analyst's own
queries agree. `plot()` draws the answer rate per time bucket and cumulative reached
contacts, in the campaign's timezone; the bucket comes from the campaign's span
(`bucket_seconds_for_span`), so a four-minute demo and a five-day campaign both read well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from rich.text import Text

from campaigns.textsafe import visible
from sinks.exceptions import AmbiguousReport
from sinks.query import QueryResult, literal

Runner = Callable[[str], QueryResult]

SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "by_hour",
        "Outcomes by hour of day (campaign timezone)",
        "v_outcomes_by_hour ORDER BY local_hour",
    ),
    (
        "by_caller_id",
        "Answer rate by caller ID and attempt",
        "v_answer_rate_by_caller_id ORDER BY caller_id, attempt",
    ),
    (
        "by_alternate",
        "Answer rate by alternate position (0 = primary)",
        "v_answer_rate_by_alternate ORDER BY alternate_position",
    ),
    ("attempts_per_reached", "Attempts per reached contact", "v_attempts_per_reached_contact"),
    ("reached_by_attempt", "Reached contacts by attempt", "v_reached_by_attempt ORDER BY attempt"),
    ("durations", "Answered call duration (seconds)", "v_call_duration_percentiles"),
    (
        "opt_outs",
        "Opt-outs (numbers now on the account's do-not-call list)",
        "v_opt_outs_by_campaign",
    ),
    ("voicemail", "Voicemail: machines that answered, messages left", "v_voicemail_by_campaign"),
    (
        "callbacks",
        "Callbacks asked for (placed, waiting, next due)",
        "v_callbacks_due",
    ),
    (
        "cost_by_campaign",
        "Minutes and cost (per currency; '' = numbers without a rate)",
        "v_cost_by_campaign ORDER BY currency",
    ),
    ("cost_by_outcome", "Cost by outcome", "v_cost_by_outcome ORDER BY status, currency"),
    ("cost_by_caller_id", "Cost by caller ID", "v_cost_by_caller_id ORDER BY caller_id, currency"),
    (
        "caller_id_health",
        "Caller-ID health (last 200 calls; degraded: under half the campaign's median)",
        "v_caller_id_health ORDER BY caller_id",
    ),
    (
        "cost_per_reached",
        "Cost per reached contact",
        "v_cost_per_reached_contact ORDER BY currency",
    ),
)


# Bucket widths a reader recognises, smallest first; the chart uses the first one that
# cuts the campaign's span into at most MAX_BUCKETS bars.
NICE_BUCKETS_S: tuple[int, ...] = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
MAX_BUCKETS = 60


def bucket_seconds_for_span(span_s: float, max_buckets: int = MAX_BUCKETS) -> int:
    """The chart bucket for a campaign that has run for span_s seconds.

    The smallest nice width giving at most max_buckets buckets, so a five-minute campaign
    gets 5- or 10-second bars and a five-day one 2-hour bars (a fixed hour drew one bar
    for a demo campaign).
    """
    for bucket_s in NICE_BUCKETS_S:
        if span_s <= bucket_s * max_buckets:
            return bucket_s
    return NICE_BUCKETS_S[-1]


@dataclass
class Report:
    campaign_id: str
    progress: dict[str, Any] | None
    sections: dict[str, QueryResult] = field(default_factory=dict)
    timeline: QueryResult | None = None  # at, calls, answered_calls, reached_contacts
    bucket_seconds: int = 3600

    @property
    def timezone(self) -> str:
        return str((self.progress or {}).get("timezone") or "UTC")


def gather(campaign_id: str, runner: Runner, account_id: str | None = None) -> Report:
    """Query every view for one campaign (`runner`: `sinks.query.run_query` with its target).

    Campaign ids are unique per account only: without `account_id`, the campaign must be
    the only one of its id (else AmbiguousReport names the accounts).
    """
    where = f"campaign_id = {literal(campaign_id)}"
    if account_id is not None:
        where += f" AND account_id = {literal(account_id)}"
    progress = runner(f"SELECT * FROM v_campaign_progress WHERE {where}").dicts()
    if len(progress) > 1:
        accounts = ", ".join(sorted(str(p["account_id"]) for p in progress))
        raise AmbiguousReport(
            f"campaign {campaign_id!r} exists in accounts {accounts}: name the account"
        )
    if progress and account_id is None:
        where += f" AND account_id = {literal(str(progress[0]['account_id']))}"
    report = Report(campaign_id, progress[0] if progress else None)
    for key, _title, source in SECTIONS:
        view, _, order = source.partition(" ORDER BY ")
        sql = f"SELECT * EXCEPT (account_id, campaign_id) FROM {view} WHERE {where}"
        report.sections[key] = runner(sql + (f" ORDER BY {order}" if order else ""))
    span = runner(
        "SELECT toUnixTimestamp64Milli(min(created_at)) AS first_ms,"
        " toUnixTimestamp64Milli(max(ifNull(ended_at, created_at))) AS last_ms"
        f" FROM v_calls WHERE {where} AND has_attempt"
    ).dicts()
    first_ms = span[0]["first_ms"] if span else None
    last_ms = span[0]["last_ms"] if span else None
    span_s = (int(last_ms) - int(first_ms)) / 1000 if first_ms and last_ms else 0.0
    report.bucket_seconds = bucket_seconds_for_span(span_s)
    interval = f"INTERVAL {report.bucket_seconds} SECOND"
    report.timeline = runner(
        "SELECT at, sum(c) AS calls, sum(a) AS answered_calls, sum(r) AS reached_contacts FROM ("
        f" SELECT toStartOfInterval(created_at, {interval}) AS at, 1 AS c,"
        f" toUInt64(answered) AS a, 0 AS r FROM v_calls WHERE {where} AND finished"
        " UNION ALL"
        f" SELECT toStartOfInterval(at, {interval}) AS at, 0 AS c, toUInt64(0) AS a, 1 AS r"
        f" FROM v_contact_finals WHERE {where} AND status = 'reached'"
        ") GROUP BY at ORDER BY at"
    )
    return report


def _bucket_label(bucket_s: int) -> str:
    if bucket_s < 60:
        return f"{bucket_s} s"
    if bucket_s < 3600:
        return f"{bucket_s // 60} min"
    if bucket_s < 86400:
        return f"{bucket_s // 3600} h"
    return f"{bucket_s // 86400} d"


def _fmt(value: Any) -> Text:
    """A value for a table cell: user text (a name, a caller id) shown, never obeyed:
    control characters escaped and no rich markup read."""
    if value is None:
        return Text("-")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if isinstance(value, float):
        return Text(f"{value:.4g}")
    return Text(visible(value))


def _table(title: str, result: QueryResult) -> Table:
    table = Table(title=title, title_justify="left")
    for col in result.columns:
        table.add_column(col, justify="right")
    for row in result.rows:
        table.add_row(*(_fmt(v) for v in row))
    return table


def render(report: Report, console: Console) -> None:
    """Print the progress block and every section."""
    p = report.progress
    if p is None:
        console.print(Text(f"no data for campaign {visible(report.campaign_id)!r}", "bold red"))
        return
    tz = ZoneInfo(report.timezone)
    table = Table(
        title=Text(visible(f"Campaign {report.campaign_id} ({p.get('name') or ''})")),
        title_justify="left",
        show_header=False,
    )
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in p.items():
        if key in ("campaign_id", "account_id"):
            continue
        if isinstance(value, datetime):
            value = value.astimezone(tz)
        table.add_row(key, _fmt(value))
    console.print(table)
    for key, title, _source in SECTIONS:
        result = report.sections.get(key)
        if result is not None:
            console.print(_table(title, result))


def plot(report: Report, path: Path) -> Path:
    """Answer rate per bucket (bars) and cumulative reached contacts (steps), local time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    tz = ZoneInfo(report.timezone)
    bucket = timedelta(seconds=report.bucket_seconds)
    rows = report.timeline.dicts() if report.timeline is not None else []
    starts = [_aware(r["at"]).astimezone(tz) for r in rows]
    rates = [(r["answered_calls"] / r["calls"]) if r["calls"] else 0.0 for r in rows]
    # The cumulative line starts at 0 at the first bucket and ends after the last one, so a
    # campaign that fits in a single bucket still draws a rising step, not a lone point.
    times = [*starts, starts[-1] + bucket] if starts else []
    cumulative = [0]
    for r in rows:
        cumulative.append(cumulative[-1] + int(r["reached_contacts"]))
    label = _bucket_label(report.bucket_seconds)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    ax1.bar(starts, rates, width=bucket * 0.9, align="edge", color="#3b7dd8")
    ax1.set_ylabel("answer rate")
    ax1.set_ylim(0, 1)
    ax1.set_title(f"Campaign {report.campaign_id}: answer rate per {label} ({report.timezone})")
    if times:
        ax2.step(times, cumulative, where="post", color="#2a9d55")
        ax2.set_xlim(times[0], times[-1])
    ax2.set_ylabel("reached contacts (cumulative)")
    ax2.set_title("Cumulative reached contacts")
    fmt = "%H:%M:%S" if report.bucket_seconds < 60 else "%m-%d %H:%M"
    ax2.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=tz))
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _aware(value: datetime) -> datetime:
    """ClickHouse DateTime64 columns come back naive from some paths: they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
