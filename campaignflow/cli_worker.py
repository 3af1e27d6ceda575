"""`campaignflow worker` (runs an engine worker) and `campaignflow campaign status ID` (asks one).

Importing Faust is slow and it installs its own event-loop policy, so the worker's
modules are imported only when the worker command runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import requests
import typer

from campaignflow import cli_campaign
from campaignflow.config import settings
from campaigns.textsafe import visible


def worker(
    web_port: Annotated[
        int | None, typer.Option(help="Web port (status API, /metrics); default settings.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Table data directory; default <home>/worker/<web port>."),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Log level: debug, info, warning.")] = "warning",
    create_topics: Annotated[
        bool, typer.Option(help="Create missing catalogue topics first.")
    ] = True,
) -> None:
    """Run an engine worker: consumes commands, contacts, outcomes and ticks; emits call:create."""
    from campaignflow.config import create_catalogue_topics
    from streams.app import Worker, build_app
    from topics.clients import require_broker

    require_broker(settings().bootstrap)
    if create_topics:
        create_catalogue_topics()
    logging.basicConfig(level=loglevel.upper())
    app = build_app(settings().worker(web_port, data_dir))
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


def status(
    campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
    url: Annotated[
        str | None, typer.Option(help="Any worker's base URL; default http://127.0.0.1:<port>.")
    ] = None,
    timeout_seconds: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the answer.")
    ] = 10.0,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The campaign's account (campaign ids are per account; default: settings"
            " account_id, else the only account with a campaign of that id).",
        ),
    ] = None,
) -> None:
    """The campaign's current state from the worker that owns it (JSON)."""
    base = url or f"http://127.0.0.1:{settings().worker_port}"
    account = account or settings().account_id or _account_of(campaign_id)
    path = f"/accounts/{account}/campaigns/{campaign_id}"
    try:
        resp = requests.get(f"{base.rstrip('/')}{path}", timeout=timeout_seconds)
    except requests.RequestException as exc:
        typer.echo(
            f"error: no worker answers at {base} ({type(exc).__name__}); start one with"
            " `campaignflow worker` (or `campaignflow dev up`)",
            err=True,
        )
        raise typer.Exit(2) from None
    if resp.status_code == 404:
        typer.echo(f"error: unknown campaign {campaign_id}", err=True)
        raise typer.Exit(1)
    if resp.status_code != 200:
        typer.echo(
            f"error: worker answered {resp.status_code}: {visible(resp.text[:200])}", err=True
        )
        raise typer.Exit(2)
    typer.echo(json.dumps(resp.json(), indent=2))


def _account_of(campaign_id: str) -> str:
    """The account of the only campaign of that id (read from the topics), else exit 2."""
    from ingest.listing import AmbiguousCampaign, find

    try:
        info = find(campaign_id, settings().kafka, settings().topic_prefix)
    except AmbiguousCampaign as err:
        typer.echo(f"error: {err} (--account)", err=True)
        raise typer.Exit(2) from None
    if info is None:
        typer.echo(f"error: unknown campaign {campaign_id}", err=True)
        raise typer.Exit(1)
    return info.account_id


def register(app: typer.Typer) -> None:
    app.command(name="worker")(worker)
    cli_campaign.app.command(name="status")(status)
