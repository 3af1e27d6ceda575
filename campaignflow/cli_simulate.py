"""`campaignflow simulate`: read the inputs, run the engine's simulation, print JSON Lines.

Every input problem ends the command with exit code 2 and one line on stderr that
names the file, the row and the field.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from campaignflow.exceptions import InputError
from campaignflow.runtime import tune_gc
from campaigns.contacts import (
    Contact,
    ContactLayout,
    ContactsFileError,
    Rejection,
    iter_contacts,
    normalise_number,
)
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition, DefinitionError
from campaigns.privacy import mask_number
from campaigns.simulate import (
    DIALER_STATUSES,
    ScriptedCall,
    SimDialer,
    Simulation,
    parse_model,
)
from campaigns.textsafe import visible_lines
from campaigns.windows import from_datetime
from ingest.definitions import load_definition


def parse_instant(value: str, what: str) -> int:
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{what}: not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None:
        raise InputError(f"{what}: {value!r} has no time zone; add Z or an offset like +00:00")
    return from_datetime(dt)


def parse_seconds(value: str, what: str) -> int:
    try:
        seconds = float(value)
    except ValueError:
        raise InputError(f"{what}: not a number of seconds: {value!r}") from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise InputError(f"{what}: must be a finite number >= 0, got {value!r}")
    return timedelta(seconds=seconds) // timedelta(microseconds=1)


def read_csv(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, strict=True)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: header: missing column(s) {', '.join(missing)}")
            return [
                (n, {k: (v or "").strip() for k, v in row.items() if k})
                for n, row in enumerate(reader, 1)
            ]
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {err}") from None


# A list this big is read once first by ingest's parallel reader (flat memory, every
# core), so a file that breaks late fails in seconds instead of after the engine has
# loaded everything before the break.
PRECHECK_BYTES = 8_000_000


def precheck_contacts(path: Path, region: str) -> None:
    """Read a big list through `ingest.pipeline.ContactReader`, keeping nothing: file errors only."""
    from ingest.pipeline import ContactReader

    try:
        if path.stat().st_size < PRECHECK_BYTES:
            return
        with path.open("rb") as stream:
            for _chunk in ContactReader.open(stream, str(path), region).chunks():
                pass
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    except ContactsFileError as err:
        raise InputError(str(err)) from None


def load_contacts(path: Path, region: str) -> tuple[Iterator[Contact], list[Rejection]]:
    """The contacts as a stream read once (the header is checked here, at once), and the
    list their rejections fill as it is read. A file error later on raises InputError
    from the stream; the engine reads it all before the first line is printed."""
    try:
        stream = path.open("rb")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    items = iter_contacts(stream, region, str(path))
    try:
        layout = next(items)
    except ContactsFileError as err:
        stream.close()
        raise InputError(str(err)) from None
    assert isinstance(layout, ContactLayout)
    rejections: list[Rejection] = []

    def contacts() -> Iterator[Contact]:
        with stream:
            try:
                for item in items:
                    if isinstance(item, Contact):
                        yield item
                    else:
                        assert isinstance(item, Rejection)
                        rejections.append(item)
            except ContactsFileError as err:
                raise InputError(str(err)) from None
            except OSError as err:
                raise InputError(f"{path}: cannot read: {err.strerror}") from None

    return contacts(), rejections


def load_outcomes(path: Path) -> dict[tuple[str, int], ScriptedCall]:
    script: dict[tuple[str, int], ScriptedCall] = {}
    for n, row in read_csv(path, ["contact_id", "attempt", "status", "duration_seconds"]):
        where = f"{path}: row {n}"
        if not row["attempt"].isdigit() or int(row["attempt"]) < 1:
            raise InputError(
                f"{where}, column attempt: must be a whole number >= 1, got {row['attempt']!r}"
            )
        if row["status"] not in DIALER_STATUSES:
            raise InputError(
                f"{where}, column status: unknown status {row['status']!r}; use {', '.join(DIALER_STATUSES)}"
            )
        duration = parse_seconds(row["duration_seconds"], f"{where}, column duration_seconds")
        opt_out = parse_opt_out(row.get("opt_out", ""), f"{where}, column opt_out")
        script[(row["contact_id"], int(row["attempt"]))] = ScriptedCall(
            row["status"], duration, opt_out
        )
    return script


def parse_opt_out(value: str, what: str) -> bool:
    """The optional fifth column of O.csv (SPEC section 7): true or false, empty = false."""
    text = value.strip().lower()
    if text in ("", "false"):
        return False
    if text == "true":
        return True
    raise InputError(f"{what}: must be true or false, got {value!r}")


def load_commands(path: Path, start: int) -> list[tuple[int, Command]]:
    commands: list[tuple[int, Command]] = []
    kinds = {
        k.value: k for k in CommandKind if k not in (CommandKind.create, CommandKind.add_contacts)
    }
    for n, row in read_csv(path, ["at", "command"]):
        where = f"{path}: row {n}"
        at = parse_instant(row["at"], f"{where}, column at")
        if at < start:
            raise InputError(f"{where}, column at: {row['at']} is before --start")
        kind = kinds.get(row["command"].lower())
        if kind is None:
            raise InputError(
                f"{where}, column command: unknown command {row['command']!r}; use {', '.join(kinds)}"
            )
        start_at = None
        if kind is CommandKind.schedule:
            if not row.get("start_at"):
                raise InputError(f"{where}, column start_at: required for schedule")
            start_at = parse_instant(row["start_at"], f"{where}, column start_at")
        commands.append((at, Command(f"command-{n}", kind, start_at_us=start_at)))
    return commands


def _dnc_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a do-not-call file, streamed; bad UTF-8 names its line."""
    try:
        with path.open("rb") as f:
            for n, data in enumerate(f, 1):
                if n == 1 and data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
                try:
                    yield n, data.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InputError(
                        f"{path}: line {n}: not UTF-8 (byte 0x{data[err.start]:02x} at"
                        f" column {err.start + 1})"
                    ) from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None


def load_dnc(path: Path, region: str) -> frozenset[str]:
    numbers: set[str] = set()
    for n, line in _dnc_lines(path):
        raw = line.strip()
        if not raw or raw.startswith("#"):
            continue
        number = normalise_number(raw, region)
        if number is None:
            raise InputError(f"{path}: line {n}: not a valid phone number: {mask_number(raw)!r}")
        numbers.add(number)
    return frozenset(numbers)


def model_shares(spec: str) -> list[tuple[str, float]]:
    try:
        return parse_model(spec)
    except ValueError as err:
        raise InputError(f"--model: {err}") from None


def build(
    campaign: Path,
    contacts: Path,
    start: str,
    outcomes: Path | None,
    default_outcome: str,
    default_duration: str,
    commands: Path | None,
    dnc: Path | None,
    until: str | None,
    model: str | None,
    seed: int,
) -> Simulation:
    try:
        definition: CampaignDefinition = load_definition(campaign)
    except DefinitionError as err:
        raise InputError(str(err).replace("\n", "; ")) from None
    start_at = parse_instant(start, "--start")
    region = definition.default_region
    precheck_contacts(contacts, region)
    listed, rejected = load_contacts(contacts, region)
    if default_outcome not in DIALER_STATUSES:
        raise InputError(
            f"--default-outcome: unknown status {default_outcome!r}; use {', '.join(DIALER_STATUSES)}"
        )
    if outcomes is not None and model is not None:
        raise InputError("--outcomes and --model exclude each other: pick one")
    dialer = SimDialer(
        script=load_outcomes(outcomes) if outcomes else {},
        default=ScriptedCall(
            default_outcome, parse_seconds(default_duration, "--default-duration")
        ),
        model=model_shares(model) if model else (),
        seed=seed,
    )
    return Simulation(
        definition=definition,
        contacts=listed,
        rejections=rejected,
        start_us=start_at,
        commands=load_commands(commands, start_at) if commands else None,
        dialer=dialer,
        dnc=load_dnc(dnc, region) if dnc else frozenset(),
        until_us=parse_instant(until, "--until") if until else None,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        campaign: Annotated[Path, typer.Option("--campaign", help="campaign.yaml")],
        contacts: Annotated[Path, typer.Option("--contacts", help="contact list CSV")],
        start: Annotated[str, typer.Option("--start", help="first instant, ISO 8601 with zone")],
        outcomes: Annotated[
            Path | None,
            typer.Option("--outcomes", help="contact_id,attempt,status,duration_seconds[,opt_out]"),
        ] = None,
        default_outcome: Annotated[str, typer.Option("--default-outcome")] = "no_answer",
        default_duration: Annotated[str, typer.Option("--default-duration", help="seconds")] = "30",
        commands: Annotated[
            Path | None, typer.Option("--commands", help="at,command,start_at")
        ] = None,
        dnc: Annotated[
            Path | None, typer.Option("--dnc", help="do-not-call list, one number a line")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--until", help="stop after this instant")
        ] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="answered=0.3,no_answer=0.5,...")
        ] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        summary: Annotated[
            bool, typer.Option("--summary", help="end with a forecast line")
        ] = False,
    ) -> None:
        """Run a campaign on a simulated clock and dialer; print what the engine decides."""
        try:
            sim = build(
                campaign,
                contacts,
                start,
                outcomes,
                default_outcome,
                default_duration,
                commands,
                dnc,
                until,
                model,
                seed,
            )
        except InputError as err:
            print(f"campaignflow simulate: {visible_lines(err)}", file=sys.stderr)
            raise typer.Exit(2) from None
        tune_gc()
        out = sys.stdout
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        try:
            for line in sim.run(summary=summary):
                out.write(dumps(line))
                out.write("\n")
        except InputError as err:  # the contacts file broke while it was read (before any line)
            print(f"campaignflow simulate: {visible_lines(err)}", file=sys.stderr)
            raise typer.Exit(2) from None
        out.flush()
