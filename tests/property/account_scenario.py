"""An account scenario as plain data, and the files SPEC sections 6 and 8 read it from.

The property test and the hand-written examples describe a run once, as this data; the
naive reference (`account_reference`) reads the same data, and `simulate` reads the files
written from it. So neither side parses the other's input.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

US = 1_000_000
MS = 1_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_us(t_us: int) -> str:
    """An instant as SPEC section 6 prints it: UTC, milliseconds, `Z`."""
    at = EPOCH + timedelta(microseconds=t_us)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def us_of(text: str) -> int:
    """An ISO instant with `Z` or an offset -> microseconds since the epoch."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (at - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Alternate:
    phone_number: str
    overrides: dict[str, str] = field(default_factory=dict)  # X_N cells: X -> value


@dataclass(frozen=True)
class Row:
    contact_id: str
    phone_number: str
    variables: dict[str, str]  # the row's other columns, by CSV name
    alternates: tuple[Alternate, ...] = ()
    timezone: str | None = None


@dataclass(frozen=True)
class Planned:
    """One O.csv row: how the call of (contact, attempt) ends."""

    status: str  # a call status, or "none": no outcome ever
    duration_seconds: int
    opt_out: bool = False
    callback_at_us: int | None = None


@dataclass(frozen=True)
class Cmd:
    at_us: int
    command: str  # start, schedule, pause, resume, cancel
    start_at_us: int | None = None


@dataclass(frozen=True)
class Inbound:
    call_id: str
    started_at_us: int
    ended_at_us: int | None  # None: never ends


@dataclass
class Campaign:
    campaign_id: str
    rules: dict[str, Any]  # as C.yaml's `rules:` holds them (SPEC defaults when absent)
    rows: list[Row]
    outcomes: dict[tuple[str, int], Planned] = field(default_factory=dict)
    commands: list[Cmd] | None = None  # None: `start` at --start
    variable_mapping: dict[str, str] = field(default_factory=lambda: {"name": "customer_name"})
    source_number: str = "+15550100000"


@dataclass
class Account:
    campaigns: list[Campaign]
    start_us: int
    until_us: int | None = None
    account_id: str = "acme"
    lines: int | None = None
    inbound_max_minutes: float | None = None  # None: not written, SPEC's default 240
    inbound: list[Inbound] = field(default_factory=list)
    dnc: list[str] = field(default_factory=list)
    default_outcome: str = "no_answer"
    default_duration_seconds: int = 30


def campaign_record(c: Campaign, account_id: str) -> dict[str, Any]:
    variables = sorted({v for r in c.rows for v in r.variables})
    prompt = "Hi " + " ".join("{{" + c.variable_mapping.get(v, v) + "}}" for v in variables)
    return {
        "campaign_id": c.campaign_id,
        "account_id": account_id,
        "name": f"Campaign {c.campaign_id}",
        "agent": {"id": "bot", "prompt": prompt},
        "source_number": c.source_number,
        "variable_mapping": c.variable_mapping,
        "rules": c.rules,
    }


def write_contacts(path: Path, rows: list[Row]) -> None:
    names = sorted({v for r in rows for v in r.variables})
    most = max((len(r.alternates) for r in rows), default=0)
    header = ["contact_id", "phone_number", "timezone", *names]
    for n in range(2, most + 2):
        header += [f"phone_number_{n}", *(f"{v}_{n}" for v in names)]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        for r in rows:
            cells = [r.contact_id, r.phone_number, r.timezone or ""]
            cells += [r.variables.get(v, "") for v in names]
            for i in range(most):
                alt = r.alternates[i] if i < len(r.alternates) else None
                cells.append(alt.phone_number if alt else "")
                cells += [alt.overrides.get(v, "") if alt else "" for v in names]
            out.writerow(cells)


def write_outcomes(path: Path, outcomes: dict[tuple[str, int], Planned]) -> None:
    """O.csv; the `callback_at` column (SPEC 9) only when some row has one."""
    callbacks = any(p.callback_at_us is not None for p in outcomes.values())
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        header = ["contact_id", "attempt", "status", "duration_seconds", "opt_out"]
        out.writerow(header + ["callback_at"] * callbacks)
        for (contact_id, attempt), p in sorted(outcomes.items()):
            cells = [contact_id, attempt, p.status, p.duration_seconds, str(p.opt_out).lower()]
            if callbacks:
                cells.append(iso_us(p.callback_at_us) if p.callback_at_us is not None else "")
            out.writerow(cells)


def write_commands(path: Path, commands: list[Cmd]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["at", "command", "start_at"])
        for c in commands:
            start_at = iso_us(c.start_at_us) if c.start_at_us is not None else ""
            out.writerow([iso_us(c.at_us), c.command, start_at])


def write_campaign(folder: Path, c: Campaign, account_id: str) -> dict[str, str]:
    """C.yaml, L.csv, O.csv and K.csv of one campaign; their names as A.yaml lists them."""
    names = {"campaign": f"{c.campaign_id}.yaml", "contacts": f"{c.campaign_id}.csv"}
    (folder / names["campaign"]).write_text(
        yaml.safe_dump(campaign_record(c, account_id), sort_keys=False), encoding="utf-8"
    )
    write_contacts(folder / names["contacts"], c.rows)
    names["outcomes"] = f"{c.campaign_id}-outcomes.csv"
    write_outcomes(folder / names["outcomes"], c.outcomes)
    if c.commands is not None:
        names["commands"] = f"{c.campaign_id}-commands.csv"
        write_commands(folder / names["commands"], c.commands)
    return names


def common_args(folder: Path, a: Account) -> list[str]:
    args = ["--start", iso_us(a.start_us)]
    if a.until_us is not None:
        args += ["--until", iso_us(a.until_us)]
    (folder / "D.txt").write_text("".join(f"{n}\n" for n in a.dnc), encoding="utf-8")
    args += ["--dnc", str(folder / "D.txt")]
    args += ["--default-outcome", a.default_outcome]
    args += ["--default-duration", str(a.default_duration_seconds)]
    return [*args, "--summary"]


def account_args(folder: Path, a: Account) -> list[str]:
    """Writes A.yaml, I.csv, D.txt and every campaign's files; `simulate --account` args."""
    settings: dict[str, Any] = {"account_id": a.account_id}
    if a.lines is not None:
        settings["lines"] = a.lines
    if a.inbound_max_minutes is not None:
        settings["inbound_max_minutes"] = a.inbound_max_minutes
    settings["campaigns"] = [write_campaign(folder, c, a.account_id) for c in a.campaigns]
    (folder / "A.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    with (folder / "I.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["call_id", "started_at", "ended_at"])
        for i in a.inbound:
            end = iso_us(i.ended_at_us) if i.ended_at_us is not None else ""
            out.writerow([i.call_id, iso_us(i.started_at_us), end])
    args = ["simulate", "--account", str(folder / "A.yaml"), "--inbound", str(folder / "I.csv")]
    return args + common_args(folder, a)


def single_args(folder: Path, a: Account) -> list[str]:
    """Plain `simulate` (SPEC 6) of the account's one campaign."""
    (c,) = a.campaigns
    names = write_campaign(folder, c, a.account_id)
    args = ["simulate", "--campaign", str(folder / names["campaign"])]
    args += ["--contacts", str(folder / names["contacts"])]
    args += ["--outcomes", str(folder / names["outcomes"])]
    if "commands" in names:
        args += ["--commands", str(folder / names["commands"])]
    return args + common_args(folder, a)


def run_cli(args: list[str]) -> list[dict[str, Any]]:
    """`campaignflow <args>` in-process; its JSON Lines (the run must exit 0)."""
    from campaignflow.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


def readable_diff(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str:
    """The first lines where the engine (got) and the reference (want) part, with context."""
    import difflib

    g = [json.dumps(x, sort_keys=True) for x in got]
    w = [json.dumps(x, sort_keys=True) for x in want]
    return "\n".join(difflib.unified_diff(w, g, "reference", "simulate", n=4, lineterm=""))
