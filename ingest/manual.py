"""Contacts one by one (CLI `contacts add`, upstream systems): the same rules as a CSV row.

Rows are dicts keyed like CSV columns (`phone_number`, `phone_number_2`, `name_2`,
`contact_id`, `timezone`, `agent_id`, variables). They go through the engine's own parser
(`ContactLayout`, `build_contact`, `Deduper`), so a manual row is accepted or
rejected exactly as the same row in a file would be. Without a `contact_id` the id
is derived from the primary number (`manual-<16 hex digits of its SHA-256>`): adding the
same person twice is one contact for the engine, and the number itself never shows in
call ids (which go into logs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from campaigns.contacts import (
    AGENT,
    PRIMARY,
    Contact,
    ContactLayout,
    Deduper,
    Rejection,
    build_contact,
)


def derived_id(phone_number: str) -> str:
    return "manual-" + hashlib.sha256(phone_number.encode("utf-8")).hexdigest()[:16]


def header_of(rows: list[Mapping[str, str]]) -> list[str]:
    """Every key of every row, in first-seen order, phone_number first."""
    seen: dict[str, None] = {PRIMARY: None}
    for r in rows:
        for k in r:
            seen.setdefault(k.strip(), None)
    return list(seen)


def parse_rows(
    rows: Iterable[Mapping[str, str]],
    region: str,
    source: str = "manual entry",
    agents: Iterable[str] | None = None,
) -> tuple[list[Contact], list[Rejection]]:
    """Accepted contacts and rejections (row = 1-based position in `rows`); `agents`: the
    agent ids an `agent_id` cell may name (the campaign's), None: not checked."""
    items = list(rows)
    header = header_of(items)
    layout = ContactLayout.from_header(header, source)
    if agents is not None:
        layout = layout.with_agents(agents)
    dedupe = Deduper()
    accepted: list[Contact] = []
    rejected: list[Rejection] = []
    for n, r in enumerate(items, 1):
        clean = {k.strip(): v for k, v in r.items()}
        cells = [str(clean.get(c, "")) for c in layout.columns]
        item = build_contact(layout, n, cells, region)
        if isinstance(item, Contact):
            if not clean.get("contact_id", "").strip():
                item.contact_id = derived_id(item.phone_number)
            rej = dedupe.check(item)
            if rej is None:
                accepted.append(item)
                continue
            rej.values = dict(zip(layout.columns, cells, strict=True))
            item = rej
        rejected.append(item)
    return accepted, rejected


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    """`["k=v", ...]` -> dict; ValueError naming the bad pair."""
    out: dict[str, str] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"{what}: expected NAME=VALUE, got {p!r}")
        out[k.strip()] = v
    return out


def cli_row(
    phone: str,
    variables: list[str],
    alternates: list[str],
    alternate_variables: list[str],
    contact_id: str | None = None,
    timezone: str | None = None,
    agent_id: str | None = None,
) -> dict[str, str]:
    """The row `contacts add` describes. `--alt-var [N:]k=v`: N = 2 for the first --alt;
    without N the value is for the last --alt given."""
    row: dict[str, str] = {PRIMARY: phone}
    if contact_id:
        row["contact_id"] = contact_id
    if timezone:
        row["timezone"] = timezone
    if agent_id:
        row[AGENT] = agent_id
    base = parse_pairs(variables, "--var")
    row.update(base)
    for i, alt in enumerate(alternates):
        row[f"{PRIMARY}_{i + 2}"] = alt
    for item in alternate_variables:
        n = len(alternates) + 1
        head, colon, rest = item.partition(":")
        if colon and head.isdigit() and "=" not in head:
            n, item = int(head), rest
        if not 2 <= n <= len(alternates) + 1:
            raise ValueError(
                f"--alt-var {item!r}: there is no alternate {n} (give --alt before --alt-var)"
            )
        for k, v in parse_pairs([item], "--alt-var").items():
            if k not in base:
                raise ValueError(
                    f"--alt-var {k}={v}: overrides need the variable on the contact too (--var {k}=...)"
                )
            row[f"{k}_{n}"] = v
    return row
