"""Campaign definitions and contact lists from requests, into ingest's upload pipeline.

The API never validates a contact itself: JSON rows are written as the CSV they
describe and go through `ingest.upload` like a file (same parser, rejects report,
dead letters), and a multipart CSV is streamed to disk and handed over as it is.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.controlplane import ControlPlane
from api.models import RESOURCE_ID
from api.problems import ApiProblem, ErrorItem, definition_errors
from campaigns.contacts import AGENT
from campaigns.models import (
    MAX_EXTRA_AGENTS,
    MAX_MAPPING_ENTRIES,
    Agent,
    CampaignDefinition,
    DefinitionError,
    parse_definition,
)
from ingest.manual import header_of

MAX_REJECTED_SHOWN = 1000
CellValue = str | int | float | bool | None
# Bounds of the JSON bodies, checked by length before any item is validated (issue 21):
# a JSON create carries at most the rows a request may (ApiSettings.max_json_contacts, by
# default the same), a row at most as many cells as a CSV header sensibly has, and
# `rules` at most as many keys as the definition's rules have fields.
MAX_JSON_CONTACTS = 100_000
MAX_JSON_COLUMNS = 1_000
MAX_RULES_KEYS = 50
MAX_PREDIAL_KEYS = 3  # url, timeout_ms, on_error
Row = Annotated[dict[str, CellValue], Field(max_length=MAX_JSON_COLUMNS)]


class CampaignIn(BaseModel):
    """A definition naming its agent and source number by id; `rules` as in campaign.yaml."""

    model_config = ConfigDict(extra="forbid")
    campaign_id: str = Field(pattern=RESOURCE_ID)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default="", max_length=5000)
    agent_id: str = Field(min_length=1, max_length=64)
    source_number_id: str = Field(min_length=1, max_length=64)
    default_region: str = Field(default="US", max_length=2)
    variable_mapping: dict[str, str] = Field(default_factory=dict, max_length=MAX_MAPPING_ENTRIES)
    rules: dict[str, Any] = Field(
        max_length=MAX_RULES_KEYS,
        description="Every rule of SPEC.md sections 1 and 7 under its campaign.yaml name; "
        "validated by the engine's model.",
    )
    predial: dict[str, Any] | None = Field(
        default=None,
        max_length=MAX_PREDIAL_KEYS,
        description="Issue 23: the account's pre-dial check {url, timeout_ms, on_error}, "
        "as in campaign.yaml; null: none.",
    )


class CreateJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: CampaignIn
    contacts: list[Row] = Field(default_factory=list, max_length=MAX_JSON_CONTACTS)


class ContactsJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: list[Row] = Field(min_length=1, max_length=MAX_JSON_CONTACTS)


def build_definition(
    cp: ControlPlane, account: str, body: CampaignIn, field_prefix: str = "definition"
) -> CampaignDefinition:
    """The engine's definition: agent and numbers resolved inside the caller's account."""
    errors: list[ErrorItem] = []
    agent = cp.get("agent", account, body.agent_id)
    if agent is None:
        errors.append(
            ErrorItem(field=f"{field_prefix}.agent_id", message=f"no agent {body.agent_id!r}")
        )
    number = cp.get("number", account, body.source_number_id)
    if number is None:
        errors.append(
            ErrorItem(
                field=f"{field_prefix}.source_number_id",
                message=f"no number {body.source_number_id!r}",
            )
        )
    rules = dict(body.rules)
    caller_ids = rules.get("caller_ids")
    if isinstance(caller_ids, dict) and isinstance(caller_ids.get("numbers"), list):
        allowed = {n["e164"] for _, n in cp.items("number", account) if n.get("caller_id")}
        for i, e164 in enumerate(caller_ids["numbers"]):
            if e164 not in allowed:
                errors.append(
                    ErrorItem(
                        field=f"{field_prefix}.rules.caller_ids.numbers.{i}",
                        message=f"{e164!r} is not a number of this account that may be used as caller ID",
                    )
                )
    if errors:
        raise ApiProblem(422, f"{errors[0].field}: {errors[0].message}", errors)
    assert agent is not None and number is not None
    data = {
        "campaign_id": body.campaign_id,
        "account_id": account,
        "name": body.name,
        "description": body.description or None,
        "agent": {"id": agent["agent_id"], "prompt": agent["prompt"]},
        "source_number": number["e164"],
        "default_region": body.default_region,
        "variable_mapping": body.variable_mapping,
        "rules": rules,
    }
    if body.predial is not None:
        data["predial"] = body.predial
    try:
        return parse_definition(data)
    except DefinitionError as err:
        items = definition_errors(str(err), field_prefix)
        for item in items:  # the request names the agent and number by id
            if item.field == f"{field_prefix}.source_number":
                item.field = f"{field_prefix}.source_number_id"
        raise ApiProblem(422, f"{items[0].field}: {items[0].message}", items) from None


# Distinct agent_id values looked up in the control plane at a create: far more than a
# definition may list (MAX_EXTRA_AGENTS); rows naming others are rejected by ingest.
MAX_AGENT_NAMES = 1_000


def agents_named(path: Path) -> list[str]:
    """The distinct `agent_id` cells of a contact list, in first-seen order (issue 23),
    at most MAX_AGENT_NAMES.

    A list the csv module cannot read gives the names before the fault: the upload
    reports the fault itself, with its row."""
    names: dict[str, None] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if AGENT not in header:
                return []
            at = header.index(AGENT)
            for cells in reader:
                if at < len(cells) and cells[at].strip():
                    names.setdefault(cells[at].strip(), None)
                    if len(names) >= MAX_AGENT_NAMES:
                        break
    except (csv.Error, UnicodeDecodeError):
        pass
    return list(names)


def with_agents(
    cp: ControlPlane, account: str, d: CampaignDefinition, names: Iterable[str]
) -> CampaignDefinition:
    """`d` with `agents`: the account's agents the contacts name besides the campaign's.

    A name that is no agent of the account is left out, so ingest rejects its rows
    naming the column `agent_id` (as any bad cell); past MAX_EXTRA_AGENTS likewise."""
    known = {a.id: a for a in d.agents}
    for name in names:
        if name == d.agent.id or name in known or len(known) >= MAX_EXTRA_AGENTS:
            continue
        agent = cp.get("agent", account, name)
        if agent is not None:
            known[name] = Agent(id=agent["agent_id"], prompt=agent["prompt"])
    if len(known) == len(d.agents):
        return d
    return d.model_copy(update={"agents": list(known.values())})


def _cell(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_to_csv(rows: Iterable[Mapping[str, CellValue]], path: Path) -> int:
    """JSON rows as the CSV file they describe (header: every key, phone_number first)."""
    items = list(rows)
    header = header_of([{k: "" for k in r} for r in items])
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in items:
            clean = {k.strip(): v for k, v in r.items()}
            w.writerow([_cell(clean.get(c)) for c in header])
    return len(items)


def records_to_csv(records: Iterator[dict[str, Any]], path: Path) -> int:
    """Contact records (as on campaign.contacts) back to a CSV the parser accepts again."""
    first = list(itertools.islice(records, 10_000))
    variables: dict[str, None] = {}
    alternates: dict[int, dict[str, None]] = {}
    for c in first:
        variables.update(dict.fromkeys(c.get("variables") or {}))
        for a in c.get("alternates") or []:
            alternates.setdefault(int(a["position"]), {}).update(
                dict.fromkeys(a.get("variables") or {})
            )
    with_agent = any(c.get("agent_id") for c in first)
    cols = ["contact_id", "phone_number", "timezone", *([AGENT] if with_agent else []), *variables]
    for pos in sorted(alternates):
        cols.append(f"phone_number_{pos}")
        cols += [f"{v}_{pos}" for v in alternates[pos] if v in variables]
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for c in itertools.chain(first, records):
            cells = {
                "contact_id": c["contact_id"],
                "phone_number": c["phone_number"],
                "timezone": c.get("timezone") or "",
                AGENT: c.get("agent_id") or "",
                **{k: v for k, v in (c.get("variables") or {}).items() if k in variables},
            }
            for a in c.get("alternates") or []:
                pos = int(a["position"])
                cells[f"phone_number_{pos}"] = a["phone_number"]
                for k, v in (a.get("variables") or {}).items():
                    cells[f"{k}_{pos}"] = v
            w.writerow([cells.get(col, "") for col in cols])
            n += 1
    return n


def first_rejections(report: Path | None, limit: int = MAX_REJECTED_SHOWN) -> list[dict[str, Any]]:
    """The first rows of ingest's rejects report: row, column, reason."""
    if report is None or not report.exists():
        return []
    out: list[dict[str, Any]] = []
    with report.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for line in reader:
            if len(out) >= limit:
                break
            row, column, reason = (line + ["", "", ""])[:3]
            out.append(
                {
                    "row": int(row) if row.isdigit() else None,
                    "column": column or None,
                    "reason": reason,
                }
            )
    return out


def scratch_dir(base: Path) -> tempfile.TemporaryDirectory[str]:
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return tempfile.TemporaryDirectory(dir=base, prefix="upload-")
