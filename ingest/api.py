"""The Python API for upstream systems: the same validation and publishing as the CLI.

    from ingest import CampaignClient
    from topics.catalogue import Topics
    from topics.clients import KafkaSettings

    kafka = KafkaSettings(bootstrap="127.0.0.1:39092")  # the caller's cluster and layout
    with CampaignClient(kafka, Topics(prefix="")) as client:
        summary = client.create(Path("campaign.yaml"), Path("contacts.csv"))
        client.add_contacts("spring-renewals", [{"phone_number": "+12125550199", "name": "Zoe"}])
        answer = client.start("spring-renewals")
        if not answer.ok: print(answer.reason)

See ingest/README.md for the topic contract when producing from another language.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from campaigns.contacts import AGENT, Contact, Rejection
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from campaigns.windows import from_datetime
from ingest import commands, listing
from ingest.commands import Answer
from ingest.exceptions import UnknownCampaign
from ingest.manual import parse_rows
from ingest.pipeline import ReadStats
from ingest.rejects import dead_letter
from ingest.rowcodec import batch_value, encode_contact
from ingest.summary import UploadSummary
from ingest.upload import BATCH_CONTACTS, Target, ensure_topics, upload
from topics import catalogue
from topics.catalogue import Topics
from topics.clients import KafkaSettings
from topics.producer import TrackedProducer


@dataclass
class AddResult:
    accepted: list[Contact] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    answer: Answer | None = None  # of the add-contacts command; None when nothing was accepted


class CampaignClient:
    """Publishes contacts and commands to the campaign topics; one producer, reused."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Topics,
        timeout_seconds: float = 30.0,
        account_id: str | None = None,
    ) -> None:
        """`account_id`: the account every command and batch is sent for; None = each
        campaign's own account, read from its create command (an operator's tool)."""
        self.target = Target(kafka, topics)
        self.timeout_seconds = timeout_seconds
        self.account_id = account_id
        self._producer: TrackedProducer | None = None
        self._topics_ready = False

    @property
    def producer(self) -> TrackedProducer:
        if not self._topics_ready:
            ensure_topics(self.target)
            self._topics_ready = True
        if self._producer is None:
            self._producer = TrackedProducer(self.target.kafka)
        return self._producer

    # ---- create ---------------------------------------------------------------

    def create(
        self,
        definition: CampaignDefinition | Path,
        contacts: Path,
        *,
        dry_run: bool = False,
        wait: bool = False,
        workers: int | None = None,
        progress: Callable[[ReadStats], None] | None = None,
        preview_at_us: int | None = None,
    ) -> UploadSummary:
        """Validate, parse and (unless dry_run) publish the contacts then the create command.

        With `preview_at_us` (engine microseconds), the summary has the launch preview for it.
        """
        return upload(
            definition,
            contacts,
            publish=not dry_run,
            target=self.target,
            producer=None if dry_run else self.producer,
            workers=workers,
            progress=progress,
            wait=wait,
            timeout_seconds=self.timeout_seconds,
            preview_at_us=preview_at_us,
        )

    # ---- contacts one by one ------------------------------------------------------

    def add_contacts(
        self,
        campaign_id: str,
        rows: Iterable[Mapping[str, str]],
        *,
        region: str | None = None,
        wait: bool = False,
        account_id: str | None = None,
        agents: Iterable[str] | None = None,
    ) -> AddResult:
        """Add rows to an existing campaign (even running): contacts, then add-contacts(count).

        `region` defaults to the campaign's default_region, read from its create command;
        `agents` (the ids an `agent_id` cell may name) to the ids of that definition.
        Rejected rows are returned and parked on the dead-letter topic. `account_id` is the
        account the caller acts for (the REST API passes it), else the client's, else the
        campaign's own, read from its create command.
        """
        rows = list(rows)
        region, account, agents = self._resolve(
            campaign_id, rows, region, account_id or self.account_id, agents
        )
        accepted, rejected = parse_rows(rows, region, agents=agents)
        result = AddResult(accepted, rejected)
        p = self.producer
        columns = tuple(sorted({c for r in rejected for c in r.values}))
        for rej in rejected:
            dead_letter(
                p,
                rej,
                account_id=account,
                campaign_id=campaign_id,
                source="manual entry",
                columns=columns,
                prefix=self.target.prefix,
            )
        if not accepted:
            p.wait(self.timeout_seconds)
            return result
        topic = catalogue.topic_name(catalogue.CONTACTS, self.target.prefix)
        ids = [c.contact_id for c in accepted]
        command_id = commands.add_contacts_id(account, campaign_id, ids)
        for i in range(0, len(accepted), BATCH_CONTACTS):
            part = accepted[i : i + BATCH_CONTACTS]
            value = batch_value(
                campaign_id,
                f"{command_id}/{i}",
                int(time.time() * 1000),
                [encode_contact(c) for c in part],
                account_id=account,
            )
            p.produce(topic, value=value, key=catalogue.account_key(account))
        p.wait(self.timeout_seconds)  # every contact acknowledged before the count goes up
        cmd = Command(command_id, CommandKind.add_contacts, count=len(accepted), account_id=account)
        result.answer = self._send(campaign_id, cmd, wait)
        return result

    def _resolve(
        self,
        campaign_id: str,
        rows: list[Mapping[str, str]],
        region: str | None,
        account: str | None,
        agents: Iterable[str] | None,
    ) -> tuple[str, str, Iterable[str] | None]:
        """Region, account and agent ids of an add: the ones given, else the definition's.

        A row naming an agent needs the campaign's agents (issue 23)."""
        names_agent = agents is None and any(str(r.get(AGENT) or "").strip() for r in rows)
        if region is None or account is None or names_agent:
            definition = self._definition(campaign_id, account)
            region = definition.default_region if region is None else region
            account = definition.account_id if account is None else account
            agents = definition.agent_ids if agents is None else agents
        return region, account, agents

    # ---- lifecycle --------------------------------------------------------------

    def _definition(self, campaign_id: str, account_id: str | None = None) -> CampaignDefinition:
        """The campaign's definition, of `account_id` when given (ids are per account)."""
        try:
            info = listing.find(campaign_id, self.target.kafka, self.target.prefix, account_id)
        except listing.AmbiguousCampaign as err:
            raise UnknownCampaign(str(err)) from None
        if info is None or info.definition is None:
            raise UnknownCampaign(
                f"campaign {campaign_id!r}: no create command on "
                f"{catalogue.topic_name(catalogue.COMMANDS, self.target.prefix)}"
            )
        return info.definition

    def _send(
        self, campaign_id: str, cmd: Command, wait: bool, account_id: str | None = None
    ) -> Answer:
        """Publish `cmd` for `account_id` (else the client's account, else the campaign's own)."""
        if cmd.account_id is None:
            cmd.account_id = (
                account_id or self.account_id or self._definition(campaign_id).account_id
            )
        return commands.send(
            self.producer,
            campaign_id,
            cmd,
            kafka=self.target.kafka,
            prefix=self.target.prefix,
            wait=wait,
            timeout_seconds=self.timeout_seconds,
        )

    def command(
        self,
        campaign_id: str,
        kind: CommandKind,
        *,
        wait: bool = True,
        account_id: str | None = None,
    ) -> Answer:
        """start / pause / resume / cancel with a fresh command id."""
        if kind not in (
            CommandKind.start,
            CommandKind.pause,
            CommandKind.resume,
            CommandKind.cancel,
        ):
            raise ValueError(f"use schedule()/create()/add_contacts() for {kind.value}")
        return self._send(campaign_id, Command(commands.new_command_id(), kind), wait, account_id)

    def start(self, campaign_id: str, *, wait: bool = True) -> Answer:
        return self.command(campaign_id, CommandKind.start, wait=wait)

    def pause(self, campaign_id: str, *, wait: bool = True) -> Answer:
        return self.command(campaign_id, CommandKind.pause, wait=wait)

    def resume(self, campaign_id: str, *, wait: bool = True) -> Answer:
        return self.command(campaign_id, CommandKind.resume, wait=wait)

    def cancel(self, campaign_id: str, *, wait: bool = True) -> Answer:
        return self.command(campaign_id, CommandKind.cancel, wait=wait)

    def schedule(
        self,
        campaign_id: str,
        at: datetime,
        *,
        wait: bool = True,
        account_id: str | None = None,
    ) -> Answer:
        """Schedule a start; `at` must be timezone-aware."""
        cmd = Command(
            commands.new_command_id(), CommandKind.schedule, start_at_us=from_datetime(at)
        )
        return self._send(campaign_id, cmd, wait, account_id)

    def campaigns(self) -> list[listing.CampaignInfo]:
        return listing.campaigns(self.target.kafka, self.target.prefix)

    # ---- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()

    def __enter__(self) -> CampaignClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
