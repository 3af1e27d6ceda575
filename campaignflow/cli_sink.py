"""`campaignflow sink | sql | report | analytics migrate`: the ClickHouse side of campaignflow."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from campaignflow.config import settings
from topics.clients import require_broker

if TYPE_CHECKING:
    from sinks.query import QueryResult

analytics = typer.Typer(no_args_is_help=True, help="The analytics database (ClickHouse).")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


@analytics.command("migrate")
def migrate_cmd(
    dsn: str = typer.Option(None, help="ClickHouse DSN (default: settings, else embedded)."),
) -> None:
    """Create or update the tables and views (idempotent)."""
    from sinks.dsn import ClickHouseUnavailable, open_client, redact
    from sinks.migrations import MigrationError, migrate

    target = dsn or settings().dsn
    try:
        client = open_client(target)
        done = migrate(client)
    except (ClickHouseUnavailable, MigrationError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"{redact(target)}: " + (f"applied {', '.join(done)}" if done else "up to date"))


def sink_cmd(
    dsn: str = typer.Option(None, help="ClickHouse DSN (default: settings, else embedded)."),
    port: int = typer.Option(None, help="Loopback port for read-only queries and /metrics."),
    batch_rows: int = typer.Option(50_000, help="Flush when a batch holds this many rows."),
    batch_seconds: float = typer.Option(1.0, help="Flush a batch at the latest this old."),
    group: str = typer.Option("campaignflow-sink", help="Kafka consumer group."),
) -> None:
    """Consume calls, outcomes and campaign events into ClickHouse (Ctrl-C to stop).

    Queries are served on 127.0.0.1 to holders of the token in <home>/sink.token
    (written at first start, mode 0600; delete it and restart the sink to rotate it).
    """
    from sinks.access import TokenFileError, ensure_token
    from sinks.consumer import Sink
    from sinks.dsn import redact
    from sinks.server import QueryServer

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = settings().sink(dsn)
    target = config.dsn
    try:
        token = ensure_token(settings().sink_token_file)
    except TokenFileError as exc:
        _fail(f"sink: {exc}")
        return
    require_broker(config.kafka.bootstrap)
    sink = Sink(config, batch_rows=batch_rows, batch_seconds=batch_seconds, group_id=group)
    try:
        server = QueryServer(target, port or settings().sink_port, token)
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port or settings().sink_port}: {exc}")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server.start()
    typer.echo(
        f"sink: {redact(target)} <- {', '.join(sink.topics)}; queries on 127.0.0.1:{server.port}"
    )
    try:
        sink.run(stop)
    finally:
        server.stop()


def run_query(query: str, dsn: str | None = None) -> QueryResult:
    """`sinks.query.run_query` against the settings' ClickHouse (or `dsn`) and sink."""
    from sinks.query import run_query as run

    s = settings()
    return run(query, dsn or s.dsn, s.sink_port, s.sink_token_file)


def sql_cmd(
    query: str = typer.Argument(..., help="A read-only SQL query."),
    fmt: str = typer.Option("table", "--format", help="table | tsv | json"),
    dsn: str = typer.Option(None, help="ClickHouse DSN (default: settings, else embedded)."),
) -> None:
    """Run a read-only query: one SELECT on the project's tables, checked, with limits.

    Through the running sink (with the token of <home>/sink.token), or directly.
    """
    from sinks.dsn import ClickHouseUnavailable
    from sinks.query import QueryError
    from sinks.server import to_json_value

    try:
        result = run_query(query, dsn)
    except (QueryError, ClickHouseUnavailable) as exc:
        _fail(str(exc))
        return
    if fmt == "json":
        for row in result.dicts():
            sys.stdout.write(json.dumps(to_json_value(row)) + "\n")
    elif fmt == "tsv":
        from campaigns.csvsafe import neutralise_row

        sys.stdout.write("\t".join(neutralise_row(result.columns)) + "\n")
        for r in result.rows:
            sys.stdout.write("\t".join(neutralise_row(r)) + "\n")
    else:
        from rich.table import Table
        from rich.text import Text

        from campaigns.textsafe import visible

        table = Table()
        for col in result.columns:
            table.add_column(Text(visible(col)))
        for r in result.rows:
            table.add_row(*(Text("NULL" if v is None else visible(v)) for v in r))
        Console().print(table)


def report_cmd(
    campaign: str = typer.Argument(..., help="Campaign id."),
    plot: Path = typer.Option(
        None, "--plot", help="Also draw hourly answer rate and reached contacts to this PNG."
    ),
    dsn: str = typer.Option(None, help="ClickHouse DSN (default: settings, else embedded)."),
    account: str = typer.Option(
        None, "--account", help="The campaign's account (needed when two accounts use the id)."
    ),
) -> None:
    """Progress, outcomes by hour, answer rates, attempts and durations of one campaign."""
    from sinks.dsn import ClickHouseUnavailable
    from sinks.exceptions import AmbiguousReport
    from sinks.query import QueryError
    from sinks.report import gather, render
    from sinks.report import plot as draw

    try:
        report = gather(campaign, lambda q: run_query(q, dsn), account)
    except (QueryError, ClickHouseUnavailable, AmbiguousReport) as exc:
        _fail(str(exc))
        return
    render(report, Console())
    if report.progress is None:
        raise typer.Exit(1)
    if plot is not None:
        typer.echo(f"plot: {draw(report, plot)}")


def register(app: typer.Typer) -> None:
    """Add the sink, sql, report and analytics commands to the main app."""
    app.command("sink")(sink_cmd)
    app.command("sql")(sql_cmd)
    app.command("report")(report_cmd)
    app.add_typer(analytics, name="analytics")
