"""`campaignflow report CAMPAIGN`: progress and the analyst views in the terminal, and a plot.

Every number comes from the v_* views (ops/sql), so the report and an analyst's own
queries agree. `plot()` draws the hourly answer rate and cumulative reached contacts,
with hours shown in the campaign's timezone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from sinks.query import QueryResult, run_query

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
)


def literal(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Report:
    campaign_id: str
    progress: dict[str, Any] | None
    sections: dict[str, QueryResult] = field(default_factory=dict)
    hourly: QueryResult | None = None

    @property
    def timezone(self) -> str:
        return str((self.progress or {}).get("timezone") or "UTC")


def gather(campaign_id: str, runner: Runner = run_query) -> Report:
    """Query every view for one campaign."""
    where = f"campaign_id = {literal(campaign_id)}"
    progress = runner(f"SELECT * FROM v_campaign_progress WHERE {where}").dicts()
    report = Report(campaign_id, progress[0] if progress else None)
    for key, _title, source in SECTIONS:
        view, _, order = source.partition(" ORDER BY ")
        sql = f"SELECT * EXCEPT campaign_id FROM {view} WHERE {where}"
        report.sections[key] = runner(sql + (f" ORDER BY {order}" if order else ""))
    report.hourly = runner(
        f"SELECT hour, calls, answered_calls, reached_contacts FROM v_hourly WHERE {where} ORDER BY hour"
    )
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
        console.print(f"[bold red]no data for campaign {report.campaign_id!r}[/]")
        return
    tz = ZoneInfo(report.timezone)
    table = Table(
        title=f"Campaign {report.campaign_id} ({p.get('name') or ''})",
        title_justify="left",
        show_header=False,
    )
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in p.items():
        if key == "campaign_id":
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
    """Hourly answer rate (bars) and cumulative reached contacts (line), local time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    tz = ZoneInfo(report.timezone)
    rows = report.hourly.dicts() if report.hourly is not None else []
    hours = [r["hour"].astimezone(tz) for r in rows]
    rates = [(r["answered_calls"] / r["calls"]) if r["calls"] else 0.0 for r in rows]
    cumulative: list[int] = []
    total = 0
    for r in rows:
        total += int(r["reached_contacts"])
        cumulative.append(total)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    ax1.bar(hours, rates, width=1 / 24 * 0.9, align="edge", color="#3b7dd8")
    ax1.set_ylabel("answer rate")
    ax1.set_ylim(0, 1)
    ax1.set_title(f"Campaign {report.campaign_id}: hourly answer rate ({report.timezone})")
    ax2.step(hours, cumulative, where="post", color="#2a9d55")
    ax2.set_ylabel("reached contacts (cumulative)")
    ax2.set_title("Cumulative reached contacts")
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=tz))
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
