"""Packages depend downward only: nothing below the command line imports `campaignflow`.

Settings are read in `campaignflow/` and passed down (a `Topics` layout, `KafkaSettings`,
`WorkerSettings`, `SinkSettings`, `DialerOptions`, `ApiConfig`); a module below that
imported `campaignflow` would read them behind its caller's back again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BELOW = ("campaigns", "topics", "streams", "ingest", "dialer", "sinks", "api")


def upward_imports(source: str, filename: str) -> list[str]:
    """`line: statement` of every import of `campaignflow` (top level, nested or lazy)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "campaignflow" or name.startswith("campaignflow."):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_walker_sees_every_form_of_import() -> None:
    source = (
        "import campaignflow\n"
        "import os, campaignflow.config as c\n"
        "from campaignflow.config import settings\n"
        "def f():\n"
        "    from campaignflow import cli\n"
        "from campaignflowx import y\n"
        "from . import campaignflow\n"
    )
    assert [line.split(":")[0] for line in upward_imports(source, "x.py")] == ["1", "2", "3", "5"]


@pytest.mark.parametrize("package", BELOW)
def test_no_module_below_the_command_line_imports_campaignflow(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in files
        if (hits := upward_imports(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}, f"{package}/ imports campaignflow (pass the settings down): {offenders}"
