"""Step 5 of the create: what the operator confirms, as data and as rich tables.

`UploadSummary` is filled by the upload; `render` turns it into tables: contacts
accepted and rejected, which column feeds which agent variable, agent variables no
column feeds, unmapped columns, every rule with its effective value and default, and
the SPEC 7 launch preview (contacts callable at the start, and blocked by which rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from campaigns.compliance import preview_reason
from campaigns.contacts import ContactLayout, Rejection
from campaigns.models import CampaignDefinition, ContactLocalTime, MappingReport, Rules, Window
from campaigns.textsafe import visible
from campaigns.windows import iso

SHOWN_REJECTIONS = 10


@dataclass
class UploadSummary:
    definition: CampaignDefinition
    contacts_path: Path
    layout: ContactLayout
    mapping: MappingReport
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    first_rejections: list[Rejection] = field(default_factory=list)
    rejects_path: Path | None = None
    published: bool = False
    batches: int = 0  # contact batches (planned in a dry run, published otherwise)
    largest_batch_bytes: int = 0
    dead_lettered: int = 0
    create_command_id: str | None = None
    answer: str | None = None  # what the engine said, when waited for
    seconds: float = 0.0
    validations: int = 0
    preview: dict[str, int] | None = None  # SPEC 7 launch preview, reason -> contacts
    preview_at_us: int | None = None  # the start instant it is for

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def note(self, rej: Rejection) -> None:
        if len(self.first_rejections) < SHOWN_REJECTIONS:
            self.first_rejections.append(rej)


def shown(value: object) -> Text:
    """User text for a rich table or line: control characters escaped (`visible`) and
    never read as rich markup (a `[link=...]` in a name would write a terminal hyperlink)."""
    return Text(visible(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Window):
        return f"{value.start}-{value.end}"
    if isinstance(value, ContactLocalTime):
        return f"enabled, {_fmt(value.window)}" if value.enabled else "disabled"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, BaseModel):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.model_dump().items() if v is not None)
    if hasattr(value, "value"):  # enums
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rule_rows(rules: Rules) -> list[tuple[str, str, str]]:
    """(rule, effective value, default) for every rule of the definition."""
    out: list[tuple[str, str, str]] = []
    for name, info in Rules.model_fields.items():
        value = getattr(rules, name)
        if info.default_factory is not None:
            default = _fmt(info.default_factory())  # type: ignore[call-arg]
        elif info.default is PydanticUndefined:
            default = "required"
        else:
            default = _fmt(info.default)
        if name == "caller_ids":
            effective = (
                f"{_fmt(value.numbers)} ({value.strategy.value})"
                if value is not None
                else "none: every attempt uses source_number"
            )
        elif name == "retry_delay_minutes" and value is None:
            effective = "-"
            default = "required when max_retries > 0"
        elif name in ("calling_days", "calling_window") and rules.calling_hours is not None:
            effective = "replaced by calling_hours"
        else:
            effective = _fmt(value)
        out.append((name, effective, default))
    out.insert(
        next(i for i, r in enumerate(out) if r[0] == "caller_ids"),
        ("outbound slots (concurrent - inbound)", str(rules.outbound_limit), "-"),
    )
    return out


def tables(s: UploadSummary) -> list[RenderableType]:
    """The step-5 summary: campaign, contacts, first rejections, variables, rules, preview."""
    out: list[RenderableType] = [_campaign_table(s), _contacts_table(s)]
    if s.first_rejections:
        rej = Table(title=f"First rejections (of {s.rejected})")
        rej.add_column("row")
        rej.add_column("column")
        rej.add_column("reason")
        for r in s.first_rejections:
            rej.add_row(str(r.row), shown(r.column or ""), shown(r.reason))
        out.append(rej)
    rules = Table(title="Rules")
    rules.add_column("rule")
    rules.add_column("effective")
    rules.add_column("default")
    for name, effective, default in rule_rows(s.definition.rules):
        rules.add_row(name, shown(effective), shown(default))
    out += [_mapping_table(s), rules]
    if s.preview is not None and s.preview_at_us is not None:
        out.append(preview_table(s.preview, s.preview_at_us))
    return out


def _campaign_table(s: UploadSummary) -> Table:
    d = s.definition
    head = Table(title=shown(f"Campaign {d.campaign_id}"), show_header=False)
    head.add_row("name", shown(d.name))
    if d.description:
        head.add_row("description", shown(d.description))
    head.add_row("account", shown(d.account_id))
    head.add_row("agent", shown(f"{d.agent.id} (variables: {_fmt(d.agent.variables)})"))
    head.add_row("source number", shown(d.source_number))
    head.add_row("default region", shown(d.default_region))
    head.add_row("status after create", "draft (start or schedule it)")
    return head


def _contacts_table(s: UploadSummary) -> Table:
    contacts = Table(title=shown(f"Contacts from {s.contacts_path.name}"), show_header=False)
    contacts.add_row("rows read", str(s.rows))
    contacts.add_row("accepted", str(s.accepted))
    contacts.add_row("rejected", str(s.rejected))
    alternates = [f"phone_number_{n}" for n, _ in s.layout.alternates]
    contacts.add_row("alternate number columns", _fmt(alternates))
    contacts.add_row(
        "override columns", shown(_fmt([s.layout.columns[i] for _, _, i in s.layout.overrides]))
    )
    if s.rejects_path is not None:
        contacts.add_row("rejects report", shown(s.rejects_path))
    return contacts


def _mapping_table(s: UploadSummary) -> Table:
    d = s.definition
    mapping = Table(title="Variables")
    mapping.add_column("column")
    mapping.add_column("agent variable")
    agent_vars = set(d.agent.variables)
    for col, var in s.mapping.mapped.items():
        mark = "" if var in agent_vars or not agent_vars else " (not in the prompt)"
        mapping.add_row(shown(col), shown(var + mark))
    mapping.add_row(
        "[b]agent variables no column feeds[/b]", shown(_fmt(s.mapping.unfed_variables))
    )
    mapping.add_row(
        "[b]columns not in variable_mapping[/b]", shown(_fmt(s.mapping.unmapped_columns))
    )
    if s.mapping.unfed_voicemail_variables:
        mapping.add_row(
            "[b]voicemail variables no column feeds (left empty)[/b]",
            shown(_fmt(s.mapping.unfed_voicemail_variables)),
        )
    missing = [c for c in d.variable_mapping if c not in s.mapping.mapped]
    if missing:
        mapping.add_row("[b]mapped columns absent from the file[/b]", shown(_fmt(missing)))
    return mapping


def preview_table(counts: dict[str, int], at_us: int) -> Table:
    """SPEC 7 launch preview: contacts callable at the start, else the first rule blocking them."""
    table = Table(title=f"Launch preview for a start at {iso(at_us)}")
    table.add_column("first attempt")
    table.add_column("contacts", justify="right")
    table.add_column("why")
    for reason, n in counts.items():
        table.add_row(reason, str(n), preview_reason(reason))
    return table


def status_line(s: UploadSummary) -> str:
    if not s.published:
        planned = (
            f" The contacts would go in {s.batches} batches (largest {s.largest_batch_bytes:,}"
            " bytes)."
            if s.batches
            else ""
        )
        return "Nothing published (dry run): run again with --yes to create the campaign." + planned
    line = (
        f"Published {s.accepted} contacts in {s.batches} batches and the create command"
        f" ({s.create_command_id}); campaign {s.definition.campaign_id} is a draft."
    )
    if s.dead_lettered:
        line += f" {s.dead_lettered} rejected rows parked on the dead-letter topic."
    if s.answer:
        line += f" Engine: {s.answer}."
    return line


def render(s: UploadSummary, console: Console | None = None) -> None:
    console = console or Console()
    console.print(Group(*tables(s)))
    if s.seconds > 0:
        console.print(f"{s.rows} rows in {s.seconds:.1f}s ({s.rows_per_second:,.0f} rows/s)")
    console.print(shown(status_line(s)))
