"""`make bench`'s before column: each row's value of the table it replaces, by benchmark and figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from campaignflow.config import REPO_ROOT


def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "run_all", REPO_ROOT / "benchmarks" / "run_all.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD = """# Benchmarks

Run 2026-12-02 05:13 UTC by `make bench` on 2 cores.

| benchmark | figure | value | baseline | ratio | target |
|---|---|---|---|---|---|
| engine | engine decisions/s (1,000 contacts) | 86,629 | 1,032,989 | 0.084 | (context) |
| worker | (a) worker refill, outcomes/s (100000 calls) | 6,909 | 37,118 | 0.186 | ratio >= 0.25 |

## Full output

| engine | not a row of the table | 1 | | | |
"""


def test_before_values_come_from_the_value_column_of_the_last_table(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(OLD)
    stamp, values = run_all().previous(path)
    assert stamp == "2026-12-02 05:13"
    assert values == {
        ("engine", "engine decisions/s (1,000 contacts)"): "86,629",
        ("worker", "(a) worker refill, outcomes/s (100000 calls)"): "6,909",
    }


def test_a_table_with_a_before_column_gives_its_values_not_its_before(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "Run 2026-12-07 07:40 UTC by `make bench`.\n\n"
        "| benchmark | figure | before (2026-12-02 05:13) | value | baseline | ratio | target |\n"
        "|---|---|---|---|---|---|---|\n"
        "| e2e | start to completed, 100,000 contacts, s | - | 41.0 | - | - | <= 35 s |\n"
    )
    stamp, values = run_all().previous(path)
    assert stamp == "2026-12-07 07:40"
    assert values == {("e2e", "start to completed, 100,000 contacts, s"): "41.0"}


def test_no_earlier_table_gives_no_before(tmp_path: Path) -> None:
    assert run_all().previous(tmp_path / "missing.md") == ("", {})
