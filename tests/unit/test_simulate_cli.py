"""`campaignflow simulate` as a user runs it: JSON Lines out, exit 2 and one line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")
SPEC = ROOT / "examples" / "spec"
BASE = [
    "simulate",
    "--campaign",
    str(SPEC / "campaign.yaml"),
    "--contacts",
    str(SPEC / "contacts.csv"),
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_prints_sorted_json_lines_with_a_summary() -> None:
    out = run(
        *BASE,
        "--start",
        "2026-12-01T14:00:00Z",
        "--outcomes",
        str(SPEC / "outcomes.csv"),
        "--summary",
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["at"] for x in lines] == sorted(x["at"] for x in lines)
    assert all(x["at"].endswith("Z") and len(x["at"]) == 24 for x in lines)
    assert lines[-1]["type"] == "summary"
    summary = lines[-1]
    assert summary["contacts"]["accepted"] == sum(
        v for k, v in summary["contacts"].items() if k not in ("accepted", "rejected")
    )
    rejected = [x for x in lines if x["type"] == "contact.rejected"]
    assert {(x["row"], x["column"]) for x in rejected} == {(3, "phone_number"), (4, "phone_number")}


def test_model_forecast_is_reproducible_with_a_seed() -> None:
    args = [
        *BASE,
        "--start",
        "2026-12-01T14:00:00Z",
        "--model",
        "answered=0.3,no_answer=0.5,busy=0.2",
        "--seed",
        "7",
        "--summary",
    ]
    first, second = run(*args), run(*args)
    assert first.returncode == 0 and first.stdout == second.stdout


def test_commands_file_and_until(tmp_path: Path) -> None:
    cmds = tmp_path / "k.csv"
    cmds.write_text(
        "at,command,start_at\n2026-12-01T14:00:00Z,schedule,2026-12-01T15:00:00Z\n2026-12-01T15:10:00Z,pause,\n"
    )
    out = run(
        *BASE,
        "--start",
        "2026-12-01T14:00:00Z",
        "--commands",
        str(cmds),
        "--until",
        "2026-12-02T00:00:00Z",
    )
    assert out.returncode == 0, out.stderr
    statuses = [
        (x["at"], x["status"])
        for x in map(json.loads, out.stdout.splitlines())
        if x["type"] == "campaign.status"
    ]
    assert statuses == [
        ("2026-12-01T14:00:00.000Z", "draft"),
        ("2026-12-01T14:00:00.000Z", "scheduled"),
        ("2026-12-01T15:00:00.000Z", "running"),
        ("2026-12-01T15:10:00.000Z", "paused"),
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2026-12-01T14:00:00"], "--start: '2026-12-01T14:00:00' has no time zone"),
        (["--start", "yesterday"], "--start: not an ISO 8601 time"),
        (
            ["--start", "2026-12-01T14:00:00Z", "--model", "answered=x"],
            "--model: share of answered is not a number",
        ),
        (
            ["--start", "2026-12-01T14:00:00Z", "--default-outcome", "ringing"],
            "--default-outcome: unknown status 'ringing'",
        ),
    ],
)
def test_bad_options_exit_2_with_one_line(extra: list[str], message: str) -> None:
    out = run(*BASE, *extra)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr


def test_bad_files_name_file_row_and_field(tmp_path: Path) -> None:
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(
        "contact_id,attempt,status,duration_seconds\nc1,1,answered,10\nc1,two,busy,3\n"
    )
    out = run(*BASE, "--start", "2026-12-01T14:00:00Z", "--outcomes", str(outcomes))
    assert out.returncode == 2 and f"{outcomes}: row 2, column attempt" in out.stderr
    bad = tmp_path / "c.yaml"
    bad.write_text(
        (SPEC / "campaign.yaml").read_text().replace("concurrent_calls: 3", "concurrent_calls: 1")
    )
    out = run(
        "simulate",
        "--campaign",
        str(bad),
        "--contacts",
        str(SPEC / "contacts.csv"),
        "--start",
        "2026-12-01T14:00:00Z",
    )
    assert out.returncode == 2
    assert (
        "rules.inbound_free_slots: concurrent_calls - inbound_free_slots must be >= 1" in out.stderr
    )
    out = run(
        "simulate", "--campaign", str(SPEC / "campaign.yaml"), "--start", "2026-12-01T14:00:00Z"
    )
    assert (
        out.returncode == 2
        and out.stderr.strip() == "campaignflow simulate: Missing option '--contacts'."
    )


def test_outcomes_csv_fifth_column_opt_out(tmp_path: Path) -> None:
    """SPEC section 7: `opt_out` (true/false, default false) ends the contact `opted_out`."""
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(
        "contact_id,attempt,status,duration_seconds,opt_out\n"
        "c1,1,answered,40,true\n"
        "c2,1,answered,40,\n"
        "c5,1,answered,40,false\n"
    )
    out = run(*BASE, "--start", "2026-12-01T14:00:00Z", "--outcomes", str(outcomes), "--summary")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    flagged = [x["call_id"] for x in lines if x["type"] == "call.outcome" and x.get("opt_out")]
    assert flagged == ["spring-renewals/c1/1"]
    finals = {x["contact_id"]: x["status"] for x in lines if x["type"] == "contact.final"}
    assert finals["c1"] == "opted_out" and finals["c2"] == "reached"
    assert lines[-1]["contacts"]["opted_out"] == 1
    outcomes.write_text("contact_id,attempt,status,duration_seconds,opt_out\nc1,1,busy,4,yes\n")
    bad = run(*BASE, "--start", "2026-12-01T14:00:00Z", "--outcomes", str(outcomes))
    assert bad.returncode == 2
    assert "row 1, column opt_out: must be true or false" in bad.stderr
