"""`campaignflow campaign ...`: create (the five steps), start, pause, resume, cancel, schedule, list.

`app` is the typer group; other modules add commands to it (the worker's `status`).
Every input problem ends with exit code 2 and one line on stderr naming the file,
row and column; a command the engine rejects ends with exit code 1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from campaignflow.config import settings
from campaigns.events import CommandKind
from campaigns.models import DefinitionError
from campaigns.textsafe import visible_lines
from campaigns.windows import from_datetime
from ingest.api import CampaignClient, UnknownCampaign
from ingest.commands import Answer
from ingest.pipeline import ReadStats
from ingest.summary import UploadSummary, render, shown
from ingest.upload import UploadError
from topics.clients import require_broker
from topics.producer import DeliveryError

app = typer.Typer(no_args_is_help=True, help="Create campaigns and drive their lifecycle.")

BIG_FILE = 5_000_000  # bytes: show a progress bar above this

NoWait = Annotated[
    bool, typer.Option("--no-wait", help="Publish the command and return without the answer.")
]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the engine's answer.")
]
Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap servers (default: settings / local broker).")
]
Account = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="Account the command is sent for (default: settings account_id, else the"
        " campaign's own account from its create command). The engine refuses another"
        " account's command.",
    ),
]


def broker_error(err: KafkaException | DeliveryError) -> str:
    """One line for a broker problem, naming the servers tried."""
    detail = err.args[0].str() if isinstance(err, KafkaException) and err.args else str(err)
    return f"broker {settings().bootstrap}: {detail} (is it up? campaignflow kafka up)"


def fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(
        f"error: {visible_lines(message)}", markup=False, highlight=False, soft_wrap=True
    )
    return typer.Exit(code)


@app.command()
def create(
    definition: Annotated[Path, typer.Argument(help="campaign.yaml")],
    contacts: Annotated[Path, typer.Option("--contacts", help="The contact list (CSV).")],
    yes: Annotated[bool, typer.Option("--yes", help="Publish without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and summarise; publish nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the engine to confirm the draft.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Processes validating numbers (default: every core).")
    ] = None,
    timeout_seconds: Timeout = 60.0,
    bootstrap: Bootstrap = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Show the launch preview for a start at this instant (ISO 8601 with a zone;"
            " default now). It does not schedule the campaign: see `campaign schedule`.",
        ),
    ] = None,
) -> None:
    """Validate campaign.yaml and the list, print the summary (step 5), then publish.

    Without --yes or --dry-run the summary is shown and you are asked to confirm; the
    list is then read again to publish it (use --dry-run, then --yes, for huge lists).
    The summary ends with the launch preview (SPEC 7): contacts callable at the start,
    and blocked by which rule.
    """
    if yes and dry_run:
        raise fail("--yes and --dry-run exclude each other")
    preview_at_us = _preview_instant(start)
    console = Console()
    if not dry_run:  # --dry-run publishes nothing and needs no broker
        require_broker(bootstrap or settings().bootstrap)
    kafka, topics = settings().kafka_at(bootstrap), settings().topics
    client = CampaignClient(kafka, topics, timeout_seconds=timeout_seconds)
    try:
        summary = _run(client, definition, contacts, not yes, wait, workers, console, preview_at_us)
        if not yes and not dry_run:
            render(summary, console)
            if not typer.confirm("Create this campaign?", default=False):
                raise typer.Exit(1)
            summary = _run(
                client, definition, contacts, False, wait, workers, console, preview_at_us
            )
        render(summary, console)
        if summary.answer and "rejected" in summary.answer:
            raise typer.Exit(1)
    except (DefinitionError, UploadError) as err:
        raise fail(str(err)) from None
    except (DeliveryError, KafkaException) as err:
        raise fail(f"{broker_error(err)}; the create command was not sent", 1) from None
    finally:
        client.close()


def _run(
    client: CampaignClient,
    definition: Path,
    contacts: Path,
    dry_run: bool,
    wait: bool,
    workers: int | None,
    console: Console,
    preview_at_us: int | None = None,
) -> UploadSummary:
    size = contacts.stat().st_size if contacts.exists() else 0
    if size < BIG_FILE:
        return client.create(
            definition,
            contacts,
            dry_run=dry_run,
            wait=wait,
            workers=workers,
            preview_at_us=preview_at_us,
        )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows  {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(contacts.name, total=size, rows=0, rate=0.0)
        started = datetime.now().timestamp()

        def progress(s: ReadStats) -> None:
            elapsed = max(datetime.now().timestamp() - started, 1e-6)
            bar.update(task, completed=s.bytes_read, rows=s.rows, rate=s.rows / elapsed)

        return client.create(
            definition,
            contacts,
            dry_run=dry_run,
            wait=wait,
            workers=workers,
            progress=progress,
            preview_at_us=preview_at_us,
        )


def _preview_instant(start: str | None) -> int:
    """The instant the launch preview is for: --start, or now (read here, at the command line)."""
    if start is None:
        return from_datetime(datetime.now(UTC))
    try:
        when = datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--start: not an ISO 8601 time: {start!r}") from None
    if when.tzinfo is None:
        raise fail(f"--start: {start!r} has no time zone; add Z or an offset like +02:00")
    return from_datetime(when)


def _lifecycle(
    kind: CommandKind,
    campaign_id: str,
    no_wait: bool,
    timeout_seconds: float,
    bootstrap: str | None,
    account: str | None,
) -> None:
    require_broker(bootstrap or settings().bootstrap)
    with _client(bootstrap, timeout_seconds, account) as client:
        try:
            answer = client.command(campaign_id, kind, wait=not no_wait)
        except UnknownCampaign as err:
            raise fail(str(err)) from None
        except (DeliveryError, KafkaException) as err:
            raise fail(broker_error(err), 1) from None
    _report(answer, campaign_id, kind)


def _client(bootstrap: str | None, timeout_seconds: float, account: str | None) -> CampaignClient:
    return CampaignClient(
        settings().kafka_at(bootstrap),
        settings().topics,
        timeout_seconds=timeout_seconds,
        account_id=account or settings().account_id,
    )


def _report(answer: Answer, campaign_id: str, kind: CommandKind) -> None:
    line = answer.describe(campaign_id, kind)
    if answer.outcome == "rejected":
        raise fail(line, 1)
    Console().print(visible_lines(line), markup=False, highlight=False)
    if answer.outcome == "timeout":
        raise typer.Exit(3)


LIFECYCLE = {
    CommandKind.start: "Start a draft or scheduled campaign now.",
    CommandKind.pause: "Pause a running campaign: no new calls, calls in flight finish.",
    CommandKind.resume: "Resume a paused campaign.",
    CommandKind.cancel: "Cancel a campaign: contacts not yet final become cancelled.",
}


def _lifecycle_command(kind: CommandKind, summary: str) -> None:
    """`campaign start|pause|resume|cancel`: one command each, the same options."""

    def command(
        campaign_id: str,
        no_wait: NoWait = False,
        timeout_seconds: Timeout = 30.0,
        bootstrap: Bootstrap = None,
        account: Account = None,
    ) -> None:
        _lifecycle(kind, campaign_id, no_wait, timeout_seconds, bootstrap, account)

    command.__doc__ = summary
    app.command(kind.value)(command)


for _kind, _summary in LIFECYCLE.items():
    _lifecycle_command(_kind, _summary)


@app.command()
def schedule(
    campaign_id: str,
    at: Annotated[str, typer.Option("--at", help="ISO 8601 with a zone, e.g. 2026-12-01T14:00Z")],
    no_wait: NoWait = False,
    timeout_seconds: Timeout = 30.0,
    bootstrap: Bootstrap = None,
    account: Account = None,
) -> None:
    """Schedule a draft (or re-schedule a scheduled) campaign to start at a time."""
    try:
        when = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--at: not an ISO 8601 time: {at!r}") from None
    if when.tzinfo is None:
        raise fail(f"--at: {at!r} has no time zone; add Z or an offset like +02:00")
    require_broker(bootstrap or settings().bootstrap)
    with _client(bootstrap, timeout_seconds, account) as client:
        try:
            answer = client.schedule(campaign_id, when, wait=not no_wait)
        except UnknownCampaign as err:
            raise fail(str(err)) from None
        except (DeliveryError, KafkaException) as err:
            raise fail(broker_error(err), 1) from None
    _report(answer, campaign_id, CommandKind.schedule)


@app.command("list")
def list_(bootstrap: Bootstrap = None) -> None:
    """Known campaigns (from their create commands) and their last status."""
    require_broker(bootstrap or settings().bootstrap)
    with CampaignClient(settings().kafka_at(bootstrap), settings().topics) as client:
        try:
            found = client.campaigns()
        except KafkaException as err:
            raise fail(broker_error(err), 1) from None
    table = Table(title="Campaigns")
    for col in ("campaign", "name", "account", "expected contacts", "status"):
        table.add_column(col)
    for c in found:
        table.add_row(
            shown(c.campaign_id),
            shown(c.name),
            shown(c.account_id),
            str(c.expected_contacts),
            shown(c.status),
        )
    Console().print(table if found else "No campaigns yet (campaignflow campaign create ...).")
