"""The mypyc-compiled engine decides exactly what the interpreted one does.

`benchmarks/engine.py` quotes the compiled engine's speed, so the same campaigns
are run through `campaignflow simulate` on both and the outputs compared byte for
byte: the demo list with a random outcome model, the spec example with scripted
outcomes, pause/resume/cancel commands and a do-not-call list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaignflow.compiled import build

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")
DEMO = ROOT / "examples" / "demo"
SPEC = ROOT / "examples" / "spec"


@pytest.fixture(scope="module")
def engine_path() -> str:
    return str(build())


def run(args: list[str], cwd: Path, engine_path: str | None = None) -> str:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if engine_path:
        env["PYTHONPATH"] = engine_path
    out = subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_compiled_engine_is_the_one_loaded(engine_path: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=engine_path)
    probe = "import campaigns.engine, campaigns.models; print(campaigns.engine.__file__)"
    out = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(".so")
    assert out.stdout.startswith(engine_path)


def test_demo_list_with_an_outcome_model(engine_path: str, tmp_path: Path) -> None:
    args = [
        "simulate",
        "--campaign",
        str(DEMO / "campaign.yaml"),
        "--contacts",
        str(DEMO / "contacts.csv"),
        "--start",
        "2026-12-01T14:00:00Z",
        "--model",
        "answered=0.3,no_answer=0.4,busy=0.2,voicemail=0.05,failed=0.05",
        "--seed",
        "11",
        "--summary",
    ]
    interpreted = run(args, tmp_path)
    assert interpreted.count("\n") > 3000
    assert run(args, tmp_path, engine_path) == interpreted


def test_spec_example_with_commands_and_do_not_call(engine_path: str, tmp_path: Path) -> None:
    commands = tmp_path / "commands.csv"
    commands.write_text(
        "at,command,start_at\n"
        "2026-12-01T14:00:00Z,start,\n"
        "2026-12-01T14:20:00Z,pause,\n"
        "2026-12-01T15:05:00Z,resume,\n"
        "2026-12-02T16:00:00Z,cancel,\n"
    )
    dnc = tmp_path / "dnc.txt"
    contacts = (SPEC / "contacts.csv").read_text().splitlines()
    number = contacts[2].split(",")[1]  # the second contact's primary number
    dnc.write_text(number + "\n")
    args = [
        "simulate",
        "--campaign",
        str(SPEC / "campaign.yaml"),
        "--contacts",
        str(SPEC / "contacts.csv"),
        "--start",
        "2026-12-01T14:00:00Z",
        "--outcomes",
        str(SPEC / "outcomes.csv"),
        "--commands",
        str(commands),
        "--dnc",
        str(dnc),
        "--summary",
    ]
    interpreted = run(args, tmp_path)
    assert '"suppressed"' in interpreted
    assert run(args, tmp_path, engine_path) == interpreted


def test_section_7_example_decides_the_same(engine_path: str, tmp_path: Path) -> None:
    """Window lists, calling_hours, blackout dates, holidays, limits and presets, compiled."""
    example = ROOT / "examples" / "compliance"
    args = [
        "simulate",
        "--campaign",
        str(example / "campaign.yaml"),
        "--contacts",
        str(example / "contacts.csv"),
        "--start",
        "2026-12-23T14:00:00Z",
        "--summary",
    ]
    interpreted = run(args, tmp_path)
    assert '"preview":{"callable":4' in interpreted
    assert run(args, tmp_path, engine_path) == interpreted
