"""`simulate` streams the contact list and reads a do-not-call file safely (issue 17, item 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from campaignflow import cli_simulate
from campaignflow.cli_simulate import InputError, load_contacts, load_dnc, precheck_contacts
from campaigns.simulate import Simulation
from campaigns.windows import from_datetime
from ingest.definitions import load_definition

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "spec"
EXE = str(Path(sys.executable).parent / "campaignflow")
START = "2026-12-01T14:00:00Z"


def test_contacts_are_read_as_the_engine_takes_them_not_before() -> None:
    contacts, rejections = load_contacts(SPEC / "contacts.csv", "US")
    assert not isinstance(contacts, list) and rejections == []
    assert len(list(contacts)) > 0  # read now; the list's rejections fill meanwhile


def test_a_streamed_list_prints_what_a_list_in_memory_prints() -> None:
    from datetime import datetime

    d = load_definition(SPEC / "campaign.yaml")
    start = from_datetime(datetime.fromisoformat(START))
    streamed, rejections = load_contacts(SPEC / "contacts.csv", "US")
    listed, listed_rejections = load_contacts(SPEC / "contacts.csv", "US")
    as_list = list(listed)
    a = list(Simulation(d, streamed, rejections, start).run(summary=True))
    b = list(Simulation(d, as_list, list(listed_rejections), start).run(summary=True))
    assert a == b and a[-1]["contacts"]["accepted"] == len(as_list)


def test_a_list_that_breaks_late_fails_before_any_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "late.csv"
    text = (SPEC / "contacts.csv").read_text()
    bad.write_text(text + 'z9,"+12025550000,never closed\n')
    monkeypatch.setattr(cli_simulate, "PRECHECK_BYTES", 0)
    with pytest.raises(InputError, match="unterminated quote"):
        precheck_contacts(bad, "US")
    out = subprocess.run(
        [EXE, "simulate", "--campaign", str(SPEC / "campaign.yaml"), "--contacts", str(bad)]
        + ["--start", START],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "unterminated quote" in out.stderr


def test_a_do_not_call_file_with_bad_utf8_names_its_line(tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_bytes(b"+12125550101\n# ok\n+1212555\xff0102\n")
    with pytest.raises(InputError) as err:
        load_dnc(dnc, "US")
    assert str(err.value) == f"{dnc}: line 3: not UTF-8 (byte 0xff at column 9)"
    out = subprocess.run(
        [EXE, "simulate", "--campaign", str(SPEC / "campaign.yaml"), "--contacts"]
        + [str(SPEC / "contacts.csv"), "--start", START, "--dnc", str(dnc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "line 3: not UTF-8" in out.stderr
    assert "Traceback" not in out.stderr
