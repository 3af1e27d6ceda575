"""`campaignflow contacts add CAMPAIGN --phone ...`: one contact by hand, same rules as a CSV row."""

from __future__ import annotations

from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console

from campaignflow.cli_campaign import Account, Bootstrap, Timeout, broker_error, fail
from campaignflow.config import settings
from campaigns.contacts import ContactsFileError
from campaigns.privacy import mask_number
from campaigns.textsafe import visible
from ingest.api import AddResult, CampaignClient, UnknownCampaign
from ingest.manual import cli_row
from topics.clients import require_broker
from topics.producer import DeliveryError

app = typer.Typer(no_args_is_help=True, help="Add contacts to a campaign by hand.")


@app.command()
def add(
    campaign_id: str,
    phone: Annotated[str, typer.Option("--phone", help="Primary number (E.164 or national).")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Variable NAME=VALUE (repeatable).")
    ] = None,
    alt: Annotated[
        list[str] | None, typer.Option("--alt", help="Alternate number (repeatable, in order).")
    ] = None,
    alt_var: Annotated[
        list[str] | None,
        typer.Option(
            "--alt-var",
            help="[N:]NAME=VALUE override for alternate N (2 = first --alt; default: the last).",
        ),
    ] = None,
    contact_id: Annotated[
        str | None, typer.Option("--id", help="contact_id (default: manual-<hash of the number>).")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone of the contact.")] = None,
    agent: Annotated[
        str | None, typer.Option(help="agent_id: one of the campaign's agents (default: its own).")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="Region for national numbers (default: the campaign's default_region)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for a possible rejection of the count raise.")
    ] = False,
    timeout_seconds: Timeout = 30.0,
    bootstrap: Bootstrap = None,
    account: Account = None,
) -> None:
    """Add one contact to an existing campaign (even running); its expected count goes up by one."""
    try:
        row = cli_row(phone, var or [], alt or [], alt_var or [], contact_id, timezone, agent)
    except ValueError as err:
        raise fail(str(err)) from None
    result = _send(campaign_id, row, region, wait, timeout_seconds, bootstrap, account)
    for rej in result.rejected:
        raise fail(f"contact rejected: column {rej.column}: {rej.reason}")
    c = result.accepted[0]
    alts = ", ".join(mask_number(a.phone_number) for a in c.alternates) or "none"
    Console().print(
        visible(
            f"added {c.contact_id} to {campaign_id}: {mask_number(c.phone_number)}"
            f" (alternates: {alts})"
        ),
        markup=False,
        highlight=False,
    )
    if result.answer is not None and result.answer.outcome == "rejected":
        raise fail(f"add-contacts rejected: {result.answer.reason}", 1)


def _send(
    campaign_id: str,
    row: dict[str, str],
    region: str | None,
    wait: bool,
    timeout_seconds: float,
    bootstrap: str | None,
    account: str | None,
) -> AddResult:
    """Publish the one contact and the count raise; errors as the command's one line."""
    require_broker(bootstrap or settings().bootstrap)
    with CampaignClient(
        settings().kafka_at(bootstrap),
        settings().topics,
        timeout_seconds=timeout_seconds,
        account_id=account or settings().account_id,
    ) as client:
        try:
            return client.add_contacts(
                campaign_id, [row], region=region.upper() if region else None, wait=wait
            )
        except (UnknownCampaign, ContactsFileError) as err:
            raise fail(str(err)) from None
        except (DeliveryError, KafkaException) as err:
            raise fail(broker_error(err), 1) from None
