"""The tree keeps the shape issue 25 gave it: small functions, one consumer layer, one
name per class.

- No function over 60 lines outside tests in the packages listed in SHORT (a long one is
  where every change lands; `api/routes_campaigns.py` is being split apart on its own).
- A Kafka consumer is built in `topics/` only (`topics/consumer.py`): everything else goes through
  `TopicConsumer` (its loop, error triage and read-to-end), so a fix is made once.
- No two classes of the project share a name, so a name in a traceback or a review
  means one thing.
"""

from __future__ import annotations

import ast
import functools
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHORT = ("topics", "api", "ingest", "campaignflow", "streams")
SHORT_EXCEPT = {"api/routes_campaigns.py"}
MAX_FUNCTION_LINES = 60
PACKAGES = ("campaigns", "topics", "streams", "ingest", "dialer", "sinks", "api", "campaignflow")
CONSUMER_HOME = "topics/"  # consumer.py, and clients.py for its watermarks helper

pytestmark = pytest.mark.unit


@functools.cache
def parsed(package: str) -> tuple[tuple[str, ast.Module], ...]:
    """The package's modules, parsed once for every test here."""
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "node_modules" not in rel:
            out.append((rel, ast.parse(path.read_text(), rel)))
    return tuple(out)


def sources(packages: tuple[str, ...]) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        yield from parsed(package)


def test_no_function_is_over_60_lines() -> None:
    long = [
        f"{rel}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for rel, tree in sources(SHORT)
        if rel not in SHORT_EXCEPT
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_only_the_consumer_layer_builds_a_kafka_consumer() -> None:
    raw = [
        f"{rel}:{node.lineno}"
        for rel, tree in sources(PACKAGES)
        if not rel.startswith(CONSUMER_HOME)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "confluent_kafka"
        and any(alias.name == "Consumer" for alias in node.names)
    ]
    assert raw == []


def test_no_two_classes_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for rel, tree in sources(PACKAGES):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{rel}:{node.lineno}")
    assert {name: places for name, places in where.items() if len(places) > 1} == {}


def layout_table() -> list[str]:
    """The paths of the README's layout table (`| path | holds |`), first column."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| path | holds |") + 2
    paths = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        paths += [p for i, p in enumerate(first.split("`")) if i % 2 == 1]
    return paths


def test_the_readme_layout_table_matches_the_tree() -> None:
    """Every path the table names exists, and every top-level entry git tracks is named
    (the READMEs and ignore files excepted: they are the prose around the code)."""
    paths = layout_table()
    assert [p for p in paths if not (ROOT / p.rstrip("/")).exists()] == []
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {name.split("/")[0] + ("/" if "/" in name else "") for name in tracked}
    named = {p.split("/")[0] + ("/" if "/" in p else "") for p in paths}
    prose = {"README.md", "BENCHMARKS.md", ".gitignore", ".dockerignore"}
    assert sorted(top - named - prose) == []
