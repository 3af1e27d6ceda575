"""`campaignflow simulate --account` (SPEC 8): every line names its campaign, one summary per
campaign last, and bad input exits 2 with one line naming the file, row and field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "campaignflow")
EXAMPLE = ROOT / "examples" / "account"
START = "2026-12-01T14:00:00Z"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "simulate", *args], capture_output=True, text=True, timeout=60)


def lines_of(out: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert out.returncode == 0, out.stderr
    return [json.loads(x) for x in out.stdout.splitlines()]


def test_two_campaigns_share_the_lines_with_inbound_calls() -> None:
    lines = lines_of(
        run(
            "--account",
            str(EXAMPLE / "account.yaml"),
            "--start",
            START,
            "--inbound",
            str(EXAMPLE / "inbound.csv"),
            "--default-outcome",
            "answered",
            "--default-duration",
            "90",
            "--summary",
        )
    )
    assert all("campaign_id" in x for x in lines)
    body = [x for x in lines if x["type"] != "summary"]
    assert [x["at"] for x in body] == sorted(str(x["at"]) for x in body)
    assert [(x["type"], x["campaign_id"]) for x in lines[-2:]] == [
        ("summary", "renewals"),
        ("summary", "winback"),
    ]
    first = [
        x["campaign_id"]
        for x in body
        if x["type"] == "call.create" and x["at"] == START[:-1] + ".000Z"
    ]
    assert first == ["renewals", "renewals"]  # 3 lines, one inbound: priority 8 takes both
    outcome = next(
        x for x in lines if x.get("call_id") == "renewals/r1/1" and x["type"] == "call.outcome"
    )
    assert outcome["callback_at"] == "2026-12-01T16:00:00.000Z"
    finals = {
        (x["campaign_id"], x["contact_id"]): x["status"]
        for x in lines
        if x["type"] == "contact.final"
    }
    assert finals[("renewals", "r2")] == "skipped"


def copy_example(tmp_path: Path) -> Path:
    for f in EXAMPLE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "account.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("account.yaml", "lines: 3", "lines: 0", "account.yaml: lines: "),
        ("account.yaml", "lines: 3", "lines: 3\ntrunks: 2", "account.yaml: trunks: "),
        (
            "account.yaml",
            "winback.csv}",
            "winback.csv, dialer: x}",
            "campaigns[1].dialer: unknown key",
        ),
        ("winback.yaml", "account_id: acme", "account_id: other", "campaigns[1].campaign: "),
        ("winback.yaml", "campaign_id: winback", "campaign_id: renewals", "repeats campaigns[0]"),
        ("renewals.yaml", "priority: 8", "priority: 11", "renewals.yaml: rules.priority: "),
        ("renewals.yaml", '-05:00"', '"', "rules.ends_at: "),
        ("inbound.csv", "in-2,", "in-1,", "inbound.csv: row 2, column call_id: "),
        ("inbound.csv", "14:05:00Z", "13:05:00Z", "inbound.csv: row 1, column ended_at: "),
        ("inbound.csv", "14:00:30Z", "soon", "inbound.csv: row 2, column started_at: "),
        ("renewals-outcomes.csv", "2026-12-01T16:00:00Z", "4pm", "row 1, column callback_at: "),
    ],
)
def test_bad_input_exits_2_naming_file_row_and_field(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    account = copy_example(tmp_path)
    path = tmp_path / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    out = run(
        "--account", str(account), "--start", START, "--inbound", str(tmp_path / "inbound.csv")
    )
    assert out.returncode == 2, out.stdout
    assert out.stdout == ""
    [line] = out.stderr.splitlines()
    assert expected in line, line


def test_account_and_campaign_options_exclude_each_other() -> None:
    out = run("--account", str(EXAMPLE / "account.yaml"), "--campaign", "x.yaml", "--start", START)
    assert out.returncode == 2 and "--account excludes --campaign" in out.stderr
    out = run("--start", START)
    assert out.returncode == 2 and "--account" in out.stderr


def test_a_campaign_with_commands_gets_only_those_the_others_start_at_once(tmp_path: Path) -> None:
    account = copy_example(tmp_path)
    (tmp_path / "winback-commands.csv").write_text(
        "at,command,start_at\n2026-12-01T14:00:00Z,schedule,2026-12-01T15:00:00Z\n"
    )
    text = account.read_text().replace(
        "contacts: winback.csv}", "contacts: winback.csv, commands: winback-commands.csv}"
    )
    account.write_text(text)
    lines = lines_of(
        run("--account", str(account), "--start", START, "--default-outcome", "answered")
    )
    statuses = [
        (x["campaign_id"], x["status"], x["at"][11:16])
        for x in lines
        if x["type"] == "campaign.status"
    ]
    assert ("renewals", "running", "14:00") in statuses
    assert ("winback", "scheduled", "14:00") in statuses and (
        "winback",
        "running",
        "15:00",
    ) in statuses
    first = min(
        x["at"] for x in lines if x["type"] == "call.create" and x["campaign_id"] == "winback"
    )
    assert first == "2026-12-01T15:00:00.000Z"
