"""`campaignflow deadletter list|replay`: read what was parked, and send a record back.

Replaying re-publishes the original key and bytes to the original topic, unchanged:
every consumer is idempotent, so a record that was parked because of a bug fixed
since, or a campaign created since, is simply processed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from campaignflow.config import settings
from campaigns.textsafe import visible
from topics import catalogue
from topics.clients import require_broker
from topics.codec import DecodeError, decode
from topics.consumer import TopicConsumer, TopicMissing
from topics.deadletter import is_truncated
from topics.producer import TrackedProducer

app = typer.Typer(no_args_is_help=True)
console = Console()


def read_envelope(value: bytes | None, topic: str, partition: int, offset: int) -> dict[str, Any]:
    """A dead-letter record, or one whose error says why its envelope cannot be read."""
    try:
        event, rec = decode(value, topic, partition, offset)
    except DecodeError as err:
        return {"error": f"(unreadable envelope at {partition}:{offset}: {err.reason})"}
    if event != "DeadLetter":
        return {"error": f"(a {event} record at {partition}:{offset}, not a dead letter)"}
    return rec


def _records(limit: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(partition, offset, envelope) of the dead-letter topic, oldest first, at most `limit`."""
    s = settings()
    name = s.topics.name(catalogue.DEADLETTER)
    require_broker(s.bootstrap)
    with TopicConsumer.build(s.kafka, "campaignflow-deadletter-reader") as consumer:
        try:
            spans = consumer.spans(name)
        except TopicMissing:
            raise typer.BadParameter(f"topic {name} does not exist") from None
        for seen, msg in enumerate(consumer.read_to_end(spans)):
            if seen >= limit:
                return
            p, off = msg.partition() or 0, msg.offset() or 0
            yield p, off, read_envelope(msg.value(), name, p, off)


@app.command("list")
def list_cmd(limit: Annotated[int, typer.Option(help="At most this many records")] = 100) -> None:
    """Parked records, one a line: partition:offset, origin, stage, time, error."""
    for p, off, rec in _records(limit):
        origin = f"{rec.get('topic')}[{rec.get('partition')}]@{rec.get('offset')}"
        failed = rec.get("failed_at")
        when = (
            datetime.fromtimestamp(failed / 1000, UTC).isoformat(timespec="seconds")
            if isinstance(failed, int)
            else "-"
        )
        stage, error = visible(rec.get("stage", "-")), visible(rec.get("error", ""))
        print(f"{p}:{off}\t{visible(origin)}\t{stage}\t{when}\t{error}")


@app.command()
def replay(
    partition: Annotated[int, typer.Argument(help="Partition of the dead-letter record")],
    offset: Annotated[int, typer.Argument(help="Offset of the dead-letter record")],
) -> None:
    """Publish one parked record's original bytes to its original topic."""
    for p, off, rec in _records(10_000_000):
        if (p, off) != (partition, offset):
            continue
        if not rec.get("topic") or rec.get("value") is None:
            console.print(f"record {p}:{off} has no original topic or value; nothing to replay")
            raise typer.Exit(1)
        if is_truncated(rec):
            console.print(
                f"record {p}:{off} keeps only {len(rec['value'])} of the original"
                f" {rec['value_length']} bytes (sha256 {rec.get('value_sha256')}); nothing to replay"
            )
            raise typer.Exit(1)
        producer = TrackedProducer(settings().kafka)
        producer.produce(rec["topic"], rec["value"], rec.get("key"))
        if producer.flush(30) != 0:
            console.print("[red]the broker did not acknowledge the replay within 30 s[/red]")
            raise typer.Exit(1)
        console.print(
            f"replayed {p}:{off} to {visible(rec['topic'])} ({len(rec['value'])} bytes)",
            markup=False,
        )
        return
    console.print(f"no dead-letter record at partition {partition} offset {offset}")
    raise typer.Exit(1)
