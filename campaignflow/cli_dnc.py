"""`campaignflow dnc add|remove|import|list|export`: the do-not-call lists (SPEC section 7).

Each command names its list: `--account ID` (that account's list) or `--global` (the
list that applies to every account). Numbers are normalised to E.164, national forms
in `--default-region`. See ingest/dnc.py for the topic's records.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException

from campaignflow.cli_campaign import Bootstrap, broker_error, fail
from campaignflow.config import settings
from campaigns.csvsafe import neutralise_row
from campaigns.textsafe import visible
from ingest.dnc import (
    DncWriter,
    RejectedLine,
    Scope,
    change,
    entries,
    import_file,
    normalise,
    read_lists,
    region_code,
)
from topics import catalogue
from topics.producer import DeliveryError
from topics.translate import dnc_key_scope

app = typer.Typer(no_args_is_help=True, help="Do-not-call lists: per account, and one global.")

Account = Annotated[str | None, typer.Option("--account", help="The account whose list it is.")]
Global = Annotated[
    bool, typer.Option("--global", help="The global list (applies to every account).")
]
Region = Annotated[
    str, typer.Option("--default-region", help="Region of numbers written without +country.")
]
SHOWN_REJECTS = 50  # rejected lines printed on stderr; --rejects FILE keeps them all


def _scope(account: str | None, global_: bool, optional: bool = False) -> Scope | None:
    if account is not None and global_:
        raise fail("give --account ID or --global, not both")
    if account is None and not global_:
        if optional:
            return None
        raise fail("say which list: --account ID or --global")
    try:
        return Scope(None if global_ else account)
    except ValueError as err:
        raise fail(f"--account: {err}") from None


def _region(region: str) -> str:
    try:
        return region_code(region)
    except ValueError as err:
        raise fail(f"--default-region: {err}") from None


def _topic() -> str:
    """The campaign.dnc topic's real name."""
    return settings().topics.name(catalogue.DNC)


def _numbers(numbers: list[str], region: str) -> list[str]:
    region = _region(region)
    out = []
    for raw in numbers:
        number = normalise(raw, region)
        if number is None:
            raise fail(f"not a valid phone number (region {region.upper()}): {raw!r}")
        out.append(number)
    return out


def _write(scope: Scope, numbers: list[str], bootstrap: str | None, remove: bool) -> None:
    try:
        change(DncWriter(scope, settings().kafka_at(bootstrap), _topic()), numbers, remove=remove)
    except (DeliveryError, KafkaException) as err:
        raise fail(broker_error(err), 1) from None


@app.command()
def add(
    numbers: Annotated[list[str], typer.Argument(help="Numbers (E.164 or national).")],
    account: Account = None,
    global_: Global = False,
    region: Region = "US",
    bootstrap: Bootstrap = None,
) -> None:
    """Put numbers on a list: no campaign of the list's account(s) calls them from then on."""
    scope = _scope(account, global_)
    assert scope is not None
    normalised = _numbers(numbers, region)
    _write(scope, normalised, bootstrap, remove=False)
    typer.echo(f"added {len(normalised)} number(s) to {scope}")


@app.command()
def remove(
    numbers: Annotated[list[str], typer.Argument(help="Numbers (E.164 or national).")],
    account: Account = None,
    global_: Global = False,
    region: Region = "US",
    bootstrap: Bootstrap = None,
) -> None:
    """Take numbers off a list (a tombstone: compaction drops the entry)."""
    scope = _scope(account, global_)
    assert scope is not None
    normalised = _numbers(numbers, region)
    _write(scope, normalised, bootstrap, remove=True)
    typer.echo(f"removed {len(normalised)} number(s) from {scope}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="One number a line ('-' reads stdin).")],
    account: Account = None,
    global_: Global = False,
    region: Region = "US",
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Write every rejected line here (CSV).")
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Stream a file of numbers onto a list; lines that are not numbers are reported by line."""
    scope = _scope(account, global_)
    assert scope is not None
    region = _region(region)
    shown = 0
    out = rejects.open("w", encoding="utf-8", newline="") if rejects is not None else None
    writer = csv.writer(out) if out is not None else None
    if writer is not None:
        writer.writerow(["line", "reason", "text"])

    def on_reject(r: RejectedLine) -> None:
        nonlocal shown
        if shown < SHOWN_REJECTS:
            print(visible(f"{file}: line {r.line}: {r.reason}: {r.text}"), file=sys.stderr)
            shown += 1
        if writer is not None:  # formula starts and control characters neutralised
            writer.writerow(neutralise_row([r.line, r.reason, r.text]))

    try:
        stream = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    except OSError as err:
        raise fail(f"{file}: cannot read: {err.strerror}") from None
    try:
        report = import_file(
            stream,
            scope,
            region,
            writer=DncWriter(scope, settings().kafka_at(bootstrap), _topic()),
            keep_rejected=SHOWN_REJECTS if out is None else 1 << 62,
            on_reject=on_reject,
        )
    except (DeliveryError, KafkaException) as err:
        raise fail(broker_error(err), 1) from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        if out is not None:
            out.close()
    more = report.rejected_count - shown
    if more > 0:
        hint = f" (all in {rejects})" if rejects else " (--rejects FILE keeps them all)"
        print(visible(f"{file}: ... and {more} more rejected line(s){hint}"), file=sys.stderr)
    typer.echo(
        f"imported {report.accepted} number(s) to {scope} from {report.lines} line(s):"
        f" {report.rejected_count} rejected, {report.skipped} blank, comment or header"
    )


@app.command("list")
def list_(
    account: Account = None,
    global_: Global = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Print the numbers on a list (or on every list): list, number, when it was added."""
    scope = _scope(account, global_, optional=True)
    for e in entries(_read(scope, bootstrap)):
        when = datetime.fromtimestamp(e.updated_at_ms / 1000, UTC).isoformat(timespec="seconds")
        typer.echo(f"{e.account_id or '*global*'}\t{e.number}\t{when.replace('+00:00', 'Z')}")


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="Output file, one number a line ('-' = stdout).")],
    account: Account = None,
    global_: Global = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Write a list as `import` reads it: one E.164 number a line, sorted."""
    scope = _scope(account, global_)
    numbers = sorted(dnc_key_scope(key)[1] for key in _read(scope, bootstrap))
    text = "".join(n + "\n" for n in numbers)
    if str(file) == "-":
        sys.stdout.write(text)
        return
    file.write_text(text, encoding="utf-8")
    typer.echo(f"exported {len(numbers)} number(s) of {scope} to {file}", err=True)


def _read(scope: Scope | None, bootstrap: str | None) -> dict[bytes, int]:
    try:
        return read_lists(scope, settings().kafka_at(bootstrap), _topic())
    except (LookupError, TimeoutError) as err:
        raise fail(str(err), 1) from None
    except KafkaException as err:
        raise fail(broker_error(err), 1) from None
