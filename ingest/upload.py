"""The five-step create as one call: validate, parse, summarise, then (if asked) publish.

Publishing order is the safety rule: contact batches first, then, once the broker
acknowledged every batch, the create command carrying the accepted count. A file
that breaks half-way (bad bytes, an unterminated quote) never gets its create
command, so the campaign never exists on half a list; re-uploading the fixed file
reuses the same contact ids, which the engine keeps once.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from confluent_kafka.admin import AdminClient

from campaigns.contacts import ContactLayout, ContactsFileError, Rejection
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition, DefinitionError, MappingReport
from ingest import commands
from ingest.definitions import load_definition
from ingest.exceptions import UploadError
from ingest.pipeline import Chunk, ContactReader, ReadStats
from ingest.preview import RowPreview
from ingest.rejects import RejectsReport, dead_letter, report_path
from ingest.rowcodec import batch_value
from ingest.summary import UploadSummary
from topics import catalogue
from topics.admin import create_topics
from topics.catalogue import Topics
from topics.clients import KafkaSettings, admin_config
from topics.codec import EncodeError, default_codec
from topics.producer import QUIET, TrackedProducer
from topics.translate import command_to_record, definition_row, largest_definition_part

BATCH_CONTACTS = 1_000
# Room left in a batch's budget for its own fields (campaign id <= 64, batch id, counts).
BATCH_HEADER_BYTES = 1_024


@dataclass
class Target:
    """Where to publish: the cluster and the topic layout (the command line builds both)."""

    kafka: KafkaSettings
    topics: Topics

    @property
    def prefix(self) -> str:
        return self.topics.prefix


# What a dry run (publish=False, no producer) is given: it publishes nothing.
DRY_RUN = Target(KafkaSettings(bootstrap=""), Topics())


def mapping_error(
    d: CampaignDefinition, mapping: MappingReport, layout: ContactLayout, source: str
) -> tuple[str, str | None] | None:
    """The create's mapping rule: every mapped variable must be one of the agent's."""
    if not mapping.unknown_targets:
        return None
    target = mapping.unknown_targets[0]
    column = next(c for c, v in d.variable_mapping.items() if v == target)
    where = (
        f"{source} row 0 (header), column {layout.columns.index(column) + 1} {column!r}"
        if column in layout.columns
        else f"column {column!r}"
    )
    return (
        f"variable_mapping.{column}: {where} maps to {target!r}, which agent {d.agent.id}"
        f" does not have (its variables: {', '.join(d.agent.variables)})",
        column,
    )


def check_create_encodes(d: CampaignDefinition) -> None:
    """The create command must fit its Avro schema and, with the state it implies (the
    worker's stored definition), one message: checked before any contact is sent, and in
    --dry-run, so a definition the encoder or the broker would refuse is an error up front
    (a worker that cannot write its state would stop for every account of its partition)."""
    probe = Command("dry-run", CommandKind.create, definition=d, expected_contacts=0)
    try:
        value = default_codec().encode(
            "CampaignCommand", command_to_record(d.campaign_id, probe, 0)
        )
    except (EncodeError, OverflowError, ValueError, TypeError) as err:
        raise DefinitionError(
            f"{d.campaign_id}: the create command cannot be encoded: {err}"
        ) from None
    limit = catalogue.VALUE_MAX_BYTES
    for what, size in (
        ("create command", len(value)),
        ("stored definition", len(definition_row(d))),
    ):
        if size > limit:
            path, part = largest_definition_part(d)
            raise DefinitionError(
                f"{path}: the campaign's {what} would be {size:,} bytes, over the limit of"
                f" {limit:,} bytes of one message; {path} is its largest part ({part:,} bytes)"
            )


def ensure_topics(target: Target) -> None:
    """Create the topics ingest writes (and waits on) if missing, with the catalogue's settings."""
    wanted = [
        target.topics.spec(t)
        for t in (catalogue.CONTACTS, catalogue.COMMANDS, catalogue.EVENTS, catalogue.DEADLETTER)
    ]
    conf = admin_config(target.kafka, log_level=QUIET)
    create_topics(wanted, admin=AdminClient(conf))


class BatchPublisher:
    """Cuts accepted rows into ContactBatch messages and publishes them (a dry run: none).

    A batch holds at most `batch_contacts` rows and `batch_bytes` encoded (under the
    producer's message limit); its id names its first and last row, so a re-upload of
    the same file sends the same batches. Rejected rows go to the rejects report and,
    when publishing, to the dead-letter topic.
    """

    def __init__(
        self,
        d: CampaignDefinition,
        source: str,
        columns: tuple[str, ...],
        summary: UploadSummary,
        report: RejectsReport,
        producer: TrackedProducer | None,
        prefix: str,
        batch_contacts: int = BATCH_CONTACTS,
        batch_bytes: int = catalogue.CONTACT_BATCH_MAX_BYTES,
        batch_tag: str = "",
    ) -> None:
        self.d, self.source, self.columns = d, source, columns
        self.batch_tag = batch_tag  # a draft's edit names its batches apart from the old list's
        self.summary, self.report, self.producer, self.prefix = summary, report, producer, prefix
        self.batch_contacts, self.batch_bytes = batch_contacts, batch_bytes
        self.rows_budget = batch_bytes - BATCH_HEADER_BYTES
        self.topic = catalogue.topic_name(catalogue.CONTACTS, prefix)
        self.key = catalogue.account_key(d.account_id)
        self.runs: list[bytes] = []  # runs of encoded rows of the batch being filled
        self.count = self.size = 0
        self.first_row = self.last_row = 0

    def reject(self, rejections: list[Rejection]) -> None:
        """Report rejected rows (and park them on the dead-letter topic when publishing)."""
        for rej in rejections:
            self.report.add(rej)
            self.summary.note(rej)
            if self.producer is not None:
                dead_letter(
                    self.producer,
                    rej,
                    account_id=self.d.account_id,
                    campaign_id=self.d.campaign_id,
                    source=self.source,
                    columns=self.columns,
                    prefix=self.prefix,
                )
                self.summary.dead_lettered += 1

    def add(self, chunk: Chunk) -> None:
        """A chunk's accepted rows: whole runs of its blob, cut where a batch is full
        (by rows, or by bytes)."""
        rows, ends, n = chunk.accepted_rows, chunk.ends, len(chunk.accepted_rows)
        i = start = 0
        while i < n:
            j = min(n, i + self.batch_contacts - self.count)
            full = self.count + j - i >= self.batch_contacts
            if self.size + ends[j - 1] - start > self.rows_budget:
                j = bisect_right(ends, start + self.rows_budget - self.size, i, j)
                full = True
                if j == i:  # not even the next row fits: this batch is full
                    if not self.count:
                        raise UploadError(
                            f"{self.source}: row {rows[i]}: the contact is"
                            f" {ends[i] - start} bytes encoded, over a batch's"
                            f" limit of {self.rows_budget}"
                        )
                    self.flush()
                    continue
            if not self.count:
                self.first_row = rows[i]
            self.last_row = rows[j - 1]
            self.runs.append(chunk.blob[start : ends[j - 1]])
            self.count += j - i
            self.size += ends[j - 1] - start
            start, i = ends[j - 1], j
            if full:
                self.flush()

    def flush(self) -> None:
        """Cut a batch (a dry run too: the byte budget is checked, nothing is sent)."""
        if not self.count:
            return
        d = self.d
        value = batch_value(
            d.campaign_id,
            f"{d.campaign_id}/{self.batch_tag}rows-{self.first_row}-{self.last_row}",
            int(time.time() * 1000),
            self.runs,
            count=self.count,
            account_id=d.account_id,
        )
        if len(value) > self.batch_bytes:
            raise UploadError(
                f"{self.source}: rows {self.first_row}-{self.last_row}: a contact batch of"
                f" {len(value)} bytes is over the limit of {self.batch_bytes}"
            )
        if self.producer is not None:
            self.producer.produce(self.topic, value=value, key=self.key)
        self.summary.batches += 1
        self.summary.largest_batch_bytes = max(self.summary.largest_batch_bytes, len(value))
        self.runs.clear()
        self.count = self.size = 0


def _open_list(contacts: Path) -> BinaryIO:
    try:
        return contacts.open("rb")
    except OSError as err:
        raise UploadError(f"{contacts}: cannot read: {err.strerror}") from None


def _refuse_bad_mapping(
    d: CampaignDefinition,
    mapping: MappingReport,
    layout: ContactLayout,
    source: str,
    report: RejectsReport,
) -> None:
    """A mapping naming columns the list lacks: the report's one line, and no campaign."""
    bad = mapping_error(d, mapping, layout, source)
    if bad is not None:
        report.fatal(bad[0], 0, bad[1])
        raise DefinitionError(bad[0])


def _conclude(
    summary: UploadSummary, counter: RowPreview | None, source: str, rejects: Path
) -> None:
    """The preview into the summary; a list of which no row was accepted creates nothing."""
    if counter is not None:
        summary.preview = counter.counts
        summary.preview_at_us = counter.at_us
    if summary.accepted == 0 and summary.rows > 0:
        raise UploadError(
            f"{source}: none of the {summary.rows} rows was accepted (see {rejects}); nothing was created",
            rejects,
        )


def _open_reader(
    stream: BinaryIO, source: str, d: CampaignDefinition, rejects: Path, workers: int | None
) -> ContactReader:
    """The list's reader; a file that cannot be read as a list is the report's one line."""
    try:
        return ContactReader.open(stream, source, d.default_region, workers, agents=d.agent_ids)
    except ContactsFileError as err:
        with RejectsReport(rejects) as report:
            report.fatal(str(err), 0)
        raise UploadError(f"{err}; nothing was created", rejects) from None


def _publish_all(
    reader: ContactReader,
    publisher: BatchPublisher,
    counter: RowPreview | None,
    progress: Callable[[ReadStats], None] | None,
    timeout_seconds: float,
) -> None:
    """Every chunk of the list to the publisher (and the preview); a list that breaks
    half-way is reported and nothing is created (the batches sent stay harmless)."""
    try:
        for chunk in reader.chunks(progress):
            publisher.reject(chunk.rejections)
            if counter is not None:
                counter.add_blob(chunk.blob, chunk.ends)
            publisher.add(chunk)
    except ContactsFileError as err:
        publisher.report.fatal(str(err))
        if publisher.producer is not None:
            publisher.producer.wait(timeout_seconds)  # the dead letters
        raise UploadError(
            f"{err}; nothing was created (the create command was not sent)",
            publisher.report.path,
        ) from None
    finally:
        _fill(publisher.summary, reader.stats)


def upload(
    definition: CampaignDefinition | Path,
    contacts: Path,
    *,
    publish: bool,
    target: Target | None = None,
    producer: TrackedProducer | None = None,
    workers: int | None = None,
    batch_contacts: int = BATCH_CONTACTS,
    batch_bytes: int = catalogue.CONTACT_BATCH_MAX_BYTES,
    progress: Callable[[ReadStats], None] | None = None,
    wait: bool = False,
    timeout_seconds: float = 60.0,
    preview_at_us: int | None = None,
    batch_tag: str = "",
    send_create: bool = True,
) -> UploadSummary:
    """Validate and parse; publish contacts, then the create command unless a draft's edit
    sent its own (`send_create=False`). DefinitionError or UploadError name file, row and
    column; `preview_at_us` adds the SPEC 7 launch preview for a start at that instant."""
    started = time.perf_counter()
    if target is None and (publish or producer is not None):
        raise ValueError("publishing an upload needs its Target (cluster and topic layout)")
    target = target or DRY_RUN
    d = load_definition(definition) if isinstance(definition, Path) else definition
    check_create_encodes(d)
    rejects = report_path(contacts)
    source = str(contacts)
    with _open_list(contacts) as stream:
        reader = _open_reader(stream, source, d, rejects, workers)
        layout = reader.layout
        mapping = d.mapping_report(layout.variable_columns)
        summary = UploadSummary(d, contacts, layout, mapping, rejects_path=rejects)
        counter = RowPreview(d, preview_at_us) if preview_at_us is not None else None
        with RejectsReport(rejects, layout.columns) as report:
            _refuse_bad_mapping(d, mapping, layout, source, report)
            if publish:
                ensure_topics(target)
                producer = producer or TrackedProducer(target.kafka)
            publisher = BatchPublisher(
                d,
                source,
                layout.columns,
                summary,
                report,
                producer,
                target.prefix,
                batch_contacts,
                batch_bytes,
                batch_tag,
            )
            _publish_all(reader, publisher, counter, progress, timeout_seconds)
            publisher.flush()
            if producer is not None:
                producer.wait(timeout_seconds)
    _conclude(summary, counter, source, rejects)
    if producer is not None and send_create:
        _create(summary, producer, d, target, wait, timeout_seconds)
    summary.seconds = time.perf_counter() - started
    return summary


def _create(
    summary: UploadSummary,
    producer: TrackedProducer,
    d: CampaignDefinition,
    target: Target,
    wait: bool,
    timeout_seconds: float,
) -> None:
    """Send the create command with the accepted count (every batch is acknowledged)."""
    create = Command(
        commands.new_command_id(),
        CommandKind.create,
        definition=d,
        expected_contacts=summary.accepted,
        account_id=d.account_id,
    )
    answer = commands.send(
        producer,
        d.campaign_id,
        create,
        kafka=target.kafka,
        prefix=target.prefix,
        wait=wait,
        timeout_seconds=timeout_seconds,
    )
    summary.published = True
    summary.create_command_id = create.command_id
    if wait:
        summary.answer = answer.describe(d.campaign_id, CommandKind.create)


def _fill(summary: UploadSummary, stats: ReadStats) -> None:
    summary.rows = stats.rows
    summary.accepted = stats.accepted
    summary.rejected = stats.rejected
    summary.validations = stats.validations


@dataclass(frozen=True)
class EditResult:
    """What became of a draft's edit: the engine's answer, and the new list's summary once sent."""

    answer: commands.Answer
    summary: UploadSummary


def edit_draft(
    d: CampaignDefinition,
    contacts: Path,
    *,
    target: Target,
    producer: TrackedProducer,
    timeout_seconds: float = 60.0,
    accepted: Callable[[str], None] | None = None,
) -> EditResult:
    """Replace a draft's definition and contact list (SPEC 4: a draft only).

    The whole list is checked first (nothing sent); then the edit command, whose answer
    comes before any contact is sent (the engine drops the old list when it takes it);
    then the new list's batches, tagged with the edit's id (an old list's batch ids would
    be replays). `accepted(command_id)` runs between the two, e.g. to wait for a read model.
    """
    check = upload(d, contacts, publish=False)
    edit = Command(
        commands.new_command_id(),
        CommandKind.edit,
        definition=d,
        expected_contacts=check.accepted,
        account_id=d.account_id,
    )
    answer = commands.send(
        producer,
        d.campaign_id,
        edit,
        kafka=target.kafka,
        prefix=target.prefix,
        timeout_seconds=timeout_seconds,
    )
    if answer.outcome != "accepted":
        return EditResult(answer, check)
    if accepted is not None:
        accepted(edit.command_id)
    summary = upload(
        d,
        contacts,
        publish=True,
        target=target,
        producer=producer,
        workers=1,
        timeout_seconds=timeout_seconds,
        batch_tag=f"{edit.command_id}/",
        send_create=False,
    )
    summary.published = True
    summary.create_command_id = edit.command_id
    return EditResult(answer, summary)
