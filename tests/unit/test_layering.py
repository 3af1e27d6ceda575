"""Packages depend downward only, in one order, and shells meet only at named seams.

    campaigns <- topics <- (streams, ingest, dialer, sinks) <- api <- campaignflow

The engine (`campaigns/`) imports none of the others; `topics/` only the engine; the four
shells only those two; the API those and the shells; the command line anything. Settings
are read in `campaignflow/` and passed down (a `Topics` layout, `KafkaSettings`,
`WorkerSettings`, `SinkSettings`, `DialerSettings`, `ApiSettings`): a module below that
imported `campaignflow` would read them behind its caller's back again.

A shell (the four and the API) importing another shell's module is a seam: each one that
exists is listed in SEAMS with why; any other is a failure.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE, TOPICS, CLI = "campaigns", "topics", "campaignflow"
SHELLS = ("streams", "ingest", "dialer", "sinks")
API = "api"
PACKAGES = (ENGINE, TOPICS, *SHELLS, API, CLI)
BELOW_CLI = PACKAGES[:-1]

# What each package may import, besides itself: the layers under it.
MAY_IMPORT: dict[str, frozenset[str]] = {
    ENGINE: frozenset(),
    TOPICS: frozenset({ENGINE}),
    **{shell: frozenset({ENGINE, TOPICS}) for shell in SHELLS},
    API: frozenset({ENGINE, TOPICS, *SHELLS}),
    CLI: frozenset(PACKAGES) - {CLI},
}

# (importing package, imported module): why the one shell uses the other's module.
SEAMS: dict[tuple[str, str], str] = {
    (API, "ingest.api"): "the API publishes campaigns and commands through the Python API"
    " upstream systems use (CampaignClient), one write path",
    (API, "ingest.commands"): "the engine's answer to a command (Answer), as CampaignClient"
    " returns it",
    (API, "ingest.upload"): "a CSV upload is validated and published by ingest's one upload"
    " pipeline (upload, UploadError)",
    (API, "ingest.manual"): "contacts sent as JSON rows are read by ingest's row reader"
    " (header_of), the rules of a CSV row",
    (API, "ingest.dnc"): "do-not-call writes go through ingest's one write path (DncWriter,"
    " change, import_file), as `campaignflow dnc` does",
    (API, "dialer.signing"): "webhook bodies are signed with the one HMAC scheme the dialer's"
    " webhook adapter uses",
    (API, "dialer.targets"): "webhooks go only to public addresses, by the one check the"
    " dialer's pre-dial requests go through",
    (API, "sinks.query"): "the fixed analytics queries quote their values with the sink's one"
    " SQL literal (literal); the command line hands the API the runner over run_query",
}


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import, top level, nested or lazy. `from a import b`
    names `a.b` when that is a module of the tree, else `a`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = ROOT.joinpath(*f"{node.module}.{alias.name}".split("."))
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                found.append(
                    (node.lineno, f"{node.module}.{alias.name}" if is_module else node.module)
                )
    return found


def crossings(package: str) -> list[tuple[str, int, str]]:
    """(file, line, module) of every import from `package` into another package of the tree."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    out = []
    for path in files:
        for line, module in imported_modules(path.read_text(encoding="utf-8"), str(path)):
            top = module.split(".")[0]
            if top in PACKAGES and top != package:
                out.append((str(path.relative_to(ROOT)), line, module))
    return out


def test_the_walker_sees_every_form_of_import() -> None:
    source = (
        "import campaignflow\n"
        "import os, campaignflow.config as c\n"
        "from campaignflow.config import settings\n"
        "def f():\n"
        "    from dialer import signing\n"
        "from campaignflowx import y\n"
        "from . import campaignflow\n"
        "from topics import catalogue, TOPIC_NAME\n"
    )
    assert imported_modules(source, "x.py") == [
        (1, "campaignflow"),
        (2, "os"),
        (2, "campaignflow.config"),
        (3, "campaignflow.config"),
        (6, "campaignflowx"),
        (8, "topics.catalogue"),
        (8, "topics"),
        (5, "dialer.signing"),
    ]


@pytest.mark.parametrize("package", BELOW_CLI)
def test_no_module_below_the_command_line_imports_campaignflow(package: str) -> None:
    offenders = [c for c in crossings(package) if c[2].split(".")[0] == CLI]
    assert offenders == [], f"{package}/ imports campaignflow (pass the settings down): {offenders}"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_under_it(package: str) -> None:
    allowed = MAY_IMPORT[package]
    upward = [c for c in crossings(package) if c[2].split(".")[0] not in allowed]
    assert upward == [], f"{package}/ may import only {sorted(allowed)}: {upward}"


@pytest.mark.parametrize("package", (*SHELLS, API))
def test_shells_meet_only_at_named_seams(package: str) -> None:
    unnamed = [
        c
        for c in crossings(package)
        if c[2].split(".")[0] in SHELLS and (package, c[2]) not in SEAMS
    ]
    assert unnamed == [], f"{package}/ reaches into another shell outside SEAMS: {unnamed}"


def test_every_seam_listed_is_still_used() -> None:
    """A seam nothing crosses any more leaves the list, so the list says what is true."""
    used = {(package, c[2]) for package in (*SHELLS, API) for c in crossings(package)}
    assert set(SEAMS) - used == set()
