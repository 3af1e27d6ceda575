"""`campaignflow simulate`: read the inputs, run the engine's simulation, print JSON Lines.

Every input problem ends the command with exit code 2 and one line on stderr that
names the file, the row and the field.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

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
from campaigns.events import Command, CommandKind, InboundCall
from campaigns.models import (
    AccountSettings,
    CampaignDefinition,
    DefinitionError,
    parse_account_settings,
)
from campaigns.privacy import mask_number
from campaigns.simulate import (
    DIALER_STATUSES,
    CampaignRun,
    Driver,
    ScriptedCall,
    SimDialer,
    Simulation,
    parse_model,
)
from campaigns.textsafe import visible_lines
from campaigns.windows import from_datetime
from campaigns.yamlsafe import YamlShapeError, safe_load
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


def load_contacts(
    path: Path, region: str, agents: Iterable[str] | None = None
) -> tuple[Iterator[Contact], list[Rejection]]:
    """The contacts as a stream read once (the header is checked here, at once), and the
    list their rejections fill as it is read. A file error later on raises InputError
    from the stream; the engine reads it all before the first line is printed."""
    try:
        stream = path.open("rb")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    items = iter_contacts(stream, region, str(path), agents)
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
        callback = row.get("callback_at", "")
        callback_at = parse_instant(callback, f"{where}, column callback_at") if callback else None
        script[(row["contact_id"], int(row["attempt"]))] = ScriptedCall(
            row["status"], duration, opt_out, callback_at
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
    listed, rejected = load_contacts(contacts, region, definition.agent_ids)
    options = SimulatedOutcomes.parse(default_outcome, default_duration, model, seed)
    if outcomes is not None and model is not None:
        raise InputError("--outcomes and --model exclude each other: pick one")
    dialer = options.dialer(load_outcomes(outcomes) if outcomes else {})
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


# ---- simulate --account (SPEC 8) ---------------------------------------------------

CAMPAIGN_ENTRY_KEYS = ("campaign", "contacts", "outcomes", "commands")


def load_inbound(path: Path) -> list[tuple[int, InboundCall]]:
    """I.csv: `call_id,started_at,ended_at` (ended_at may be empty: the call never ends),
    as start and end events sorted by time (a start before an end at one instant)."""
    calls: list[tuple[int, InboundCall]] = []
    seen: dict[str, int] = {}
    for n, row in read_csv(path, ["call_id", "started_at", "ended_at"]):
        where = f"{path}: row {n}"
        call_id = row["call_id"]
        if not call_id:
            raise InputError(f"{where}, column call_id: empty")
        if call_id in seen:
            raise InputError(f"{where}, column call_id: {call_id!r} repeats row {seen[call_id]}")
        seen[call_id] = n
        started = parse_instant(row["started_at"], f"{where}, column started_at")
        calls.append((started, InboundCall(call_id, started)))
        if row["ended_at"]:
            ended = parse_instant(row["ended_at"], f"{where}, column ended_at")
            if ended < started:
                raise InputError(
                    f"{where}, column ended_at: {row['ended_at']} is before started_at"
                )
            calls.append((ended, InboundCall(call_id, ended, ended=True)))
    return sorted(calls, key=lambda c: (c[0], c[1].ended))


@dataclass(frozen=True)
class CampaignFiles:
    """One entry of A.yaml's `campaigns:` (paths relative to A.yaml)."""

    campaign: Path
    contacts: Path
    outcomes: Path | None
    commands: Path | None


def read_account_file(path: Path) -> tuple[AccountSettings, list[CampaignFiles]]:
    """A.yaml: the account's settings and its campaigns' files; errors name the field."""
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from None
    except (YamlShapeError, yaml.YAMLError) as err:
        raise InputError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: (top): the account file must be a mapping")
    entries = data.pop("campaigns", None)
    try:
        settings = parse_account_settings(data)
    except DefinitionError as err:
        raise InputError(f"{path}: {err}".replace("\n", "; ")) from None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: campaigns: required, a list of campaign entries")
    files = [_campaign_entry(path, i, entry) for i, entry in enumerate(entries)]
    return settings, files


def _campaign_entry(path: Path, i: int, entry: object) -> CampaignFiles:
    where = f"{path}: campaigns[{i}]"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: must be a mapping with campaign and contacts")
    for key in entry:
        if key not in CAMPAIGN_ENTRY_KEYS:
            raise InputError(f"{where}.{key}: unknown key; use {', '.join(CAMPAIGN_ENTRY_KEYS)}")
    paths: dict[str, Path | None] = {}
    for key in CAMPAIGN_ENTRY_KEYS:
        value = entry.get(key)
        if value is None and key in ("campaign", "contacts"):
            raise InputError(f"{where}.{key}: required")
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where}.{key}: must be a file path")
        paths[key] = None if value is None else path.parent / value
    campaign, contacts = paths["campaign"], paths["contacts"]
    assert campaign is not None and contacts is not None
    return CampaignFiles(campaign, contacts, paths["outcomes"], paths["commands"])


def build_account(
    account: Path,
    start: str,
    inbound: Path | None,
    options: SimulatedOutcomes,
    dnc: Path | None,
    until: str | None,
) -> Driver:
    """`simulate --account`: every campaign of A.yaml on one simulated clock (SPEC 8)."""
    settings, files = read_account_file(account)
    start_at = parse_instant(start, "--start")
    shared = options.dialer({}) if options.model else None
    runs: list[CampaignRun] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(files):
        where = f"{account}: campaigns[{i}].campaign"
        try:
            definition = load_definition(entry.campaign)
        except DefinitionError as err:
            raise InputError(str(err).replace("\n", "; ")) from None
        if definition.account_id != settings.account_id:
            raise InputError(
                f"{where}: {entry.campaign} belongs to account {definition.account_id!r},"
                f" not {settings.account_id!r}"
            )
        if definition.campaign_id in seen:
            raise InputError(
                f"{where}: campaign_id {definition.campaign_id!r} repeats campaigns"
                f"[{seen[definition.campaign_id]}]"
            )
        seen[definition.campaign_id] = i
        if shared is not None and entry.outcomes is not None:
            raise InputError(f"{account}: campaigns[{i}].outcomes: excludes --model: pick one")
        precheck_contacts(entry.contacts, definition.default_region)
        listed, rejected = load_contacts(
            entry.contacts, definition.default_region, definition.agent_ids
        )
        dialer = shared or options.dialer(load_outcomes(entry.outcomes) if entry.outcomes else {})
        commands = load_commands(entry.commands, start_at) if entry.commands else None
        runs.append(CampaignRun(definition, listed, rejected, commands, dialer))
    runs.sort(key=lambda r: r.campaign_id)
    region = runs[0].definition.default_region
    return Driver(
        account_id=settings.account_id,
        runs=runs,
        start_us=start_at,
        dnc=load_dnc(dnc, region) if dnc else frozenset(),
        until_us=parse_instant(until, "--until") if until else None,
        settings=settings,
        inbound=load_inbound(inbound) if inbound else (),
    )


@dataclass(frozen=True)
class SimulatedOutcomes:
    """--default-outcome, --default-duration, --model and --seed, checked once."""

    default: ScriptedCall
    model: list[tuple[str, float]]
    seed: int

    @classmethod
    def parse(cls, outcome: str, duration: str, model: str | None, seed: int) -> SimulatedOutcomes:
        if outcome not in DIALER_STATUSES:
            raise InputError(
                f"--default-outcome: unknown status {outcome!r}; use {', '.join(DIALER_STATUSES)}"
            )
        default = ScriptedCall(outcome, parse_seconds(duration, "--default-duration"))
        return cls(default, model_shares(model) if model else [], seed)

    def dialer(self, script: dict[tuple[str, int], ScriptedCall]) -> SimDialer:
        return SimDialer(script=script, default=self.default, model=self.model, seed=self.seed)


def build_lines(
    campaign: Path | None,
    contacts: Path | None,
    account: Path | None,
    start: str,
    files: dict[str, Path | None],
    options: tuple[str, str, str | None, int],
    until: str | None,
    summary: bool,
) -> Iterator[dict[str, Any]]:
    """The lines of one campaign (SPEC 6) or of an account (SPEC 8), by the options given."""
    outcome, duration, model, seed = options
    if account is not None:
        if campaign is not None or contacts is not None:
            raise InputError("--account excludes --campaign and --contacts: A.yaml names them")
        for flag in ("outcomes", "commands"):
            if files[flag] is not None:
                raise InputError(f"--{flag}: with --account, A.yaml names each campaign's {flag}")
        dialer = SimulatedOutcomes.parse(outcome, duration, model, seed)
        driver = build_account(account, start, files["inbound"], dialer, files["dnc"], until)
        return driver.lines(summary, with_campaign=True)
    if campaign is None and contacts is None:
        raise InputError("give --campaign and --contacts, or --account")
    if campaign is None or contacts is None:
        raise InputError(f"Missing option '--{'contacts' if contacts is None else 'campaign'}'.")
    if files["inbound"] is not None:
        raise InputError("--inbound: only with --account (inbound calls share an account's lines)")
    sim = build(
        campaign,
        contacts,
        start,
        files["outcomes"],
        outcome,
        duration,
        files["commands"],
        files["dnc"],
        until,
        model,
        seed,
    )
    return sim.run(summary=summary)


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        start: Annotated[str, typer.Option("--start", help="first instant, ISO 8601 with zone")],
        campaign: Annotated[Path | None, typer.Option("--campaign", help="campaign.yaml")] = None,
        contacts: Annotated[
            Path | None, typer.Option("--contacts", help="contact list CSV")
        ] = None,
        account: Annotated[
            Path | None,
            typer.Option("--account", help="A.yaml: account settings and its campaigns (SPEC 8)"),
        ] = None,
        inbound: Annotated[
            Path | None,
            typer.Option("--inbound", help="with --account: call_id,started_at,ended_at"),
        ] = None,
        outcomes: Annotated[
            Path | None,
            typer.Option(
                "--outcomes",
                help="contact_id,attempt,status,duration_seconds[,opt_out][,callback_at]",
            ),
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
        """Run a campaign (or an account's campaigns) on a simulated clock and dialer; print
        what the engine decides."""
        files = {"outcomes": outcomes, "commands": commands, "dnc": dnc, "inbound": inbound}
        options = (default_outcome, default_duration, model, seed)
        try:
            lines = build_lines(campaign, contacts, account, start, files, options, until, summary)
        except InputError as err:
            print(f"campaignflow simulate: {visible_lines(err)}", file=sys.stderr)
            raise typer.Exit(2) from None
        print_lines(lines)


def print_lines(lines: Iterator[dict[str, Any]]) -> None:
    """JSON Lines on stdout; a contacts file that breaks while read exits 2 (before any line)."""
    tune_gc()
    out = sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    try:
        for line in lines:
            out.write(dumps(line))
            out.write("\n")
    except InputError as err:
        print(f"campaignflow simulate: {visible_lines(err)}", file=sys.stderr)
        raise typer.Exit(2) from None
    out.flush()
