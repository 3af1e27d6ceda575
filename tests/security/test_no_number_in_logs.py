"""No raw phone number in a log line or an error reason outside the rejects report (item 13)."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from campaignflow.runtime import mask_numbers_in_logs
from campaigns.privacy import mask_number, mask_numbers_in
from dialer.calls import BadCall, Call
from ingest.manual import derived_id
from ingest.summary import render
from ingest.upload import upload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "spec"
CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")

# Rejected for different reasons: too short to be valid, a duplicate primary, a bad alternate.
LIST = (
    "contact_id,phone_number,name,plan_name,phone_number_2,name_2\n"
    "c1,2125550101,Ann,gold,,\n"
    "c2,21255501019,Bob,gold,,\n"
    "c3,(212) 555-0101,Cy,gold,,\n"
    "c4,2125550104,Di,gold,4155550,\n"
)
FULL_NUMBERS = ["21255501019", "2125550101", "4155550"]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _leaks(text: str) -> list[str]:
    """Full numbers of LIST that appear in `text` (digits compared, separators ignored)."""
    runs = [_digits(m) for m in re.findall(r"[\d() .+-]{7,}", text)]
    return [n for n in FULL_NUMBERS if any(n in r for r in runs)]


def test_mask_number_keeps_only_the_last_four_digits() -> None:
    assert mask_number("+12025550143") == "+*******0143"
    assert mask_number("(212) 555-0101") == "(***) ***-0101"
    assert mask_number("999") == "999"
    assert (
        mask_numbers_in("call to +12025550143 failed, id 17")
        == "call to +*******0143 failed, id 17"
    )


@pytest.mark.parametrize(
    "text",
    [
        "message of 1047152 bytes is over the limit of 1048576 bytes",
        "a contact batch of 1,048,576 rows",
        "step took 1234567 ms",
        "parked topic[0]@123456789 at offset 123456789",
        "scheduled at 2026-12-07T03:19:00Z, due 2026-12-08 10:00",
        "contact c12345678 of campaign spring-2026",
    ],
)
def test_sizes_offsets_dates_and_ids_are_not_masked(text: str) -> None:
    """Issue 21, item 17: sizes came out as "***7152 bytes"; only numbers are masked."""
    assert mask_numbers_in(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +1 202 555 0143 now", "to +* *** *** 0143 now"),
        ("(212) 555-0101 called", "(***) ***-0101 called"),
        ("tel:+33612345678;", "tel:+*******5678;"),
        ("number 2125550101 refused", "number ******0101 refused"),
        ("020 7183 8750 and 212.555.0101", "*** **** 8750 and ***.***.0101"),
        ("row-2125550101 rejected", "row-******0101 rejected"),
    ],
)
def test_what_looks_like_a_phone_number_is_still_masked(text: str, masked: str) -> None:
    assert mask_numbers_in(text) == masked


def test_an_ingest_run_with_rejects_logs_no_full_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(LIST)
    caplog.set_level(logging.DEBUG)
    summary = upload(EXAMPLES / "campaign.yaml", contacts, publish=False, workers=1)
    assert summary.rejected == 3
    shown = io.StringIO()
    render(summary, Console(file=shown, width=200))
    logs = "\n".join(r.getMessage() for r in caplog.records)
    reasons = "\n".join(r.reason for r in summary.first_rejections)
    assert _leaks(logs) == [] and _leaks(reasons) == [] and _leaks(shown.getvalue()) == []
    # the rejects report is the one place that keeps the values, to fix the list with
    assert summary.rejects_path is not None
    assert set(_leaks(summary.rejects_path.read_text())) == set(FULL_NUMBERS)


def test_simulate_rejections_and_errors_show_no_full_number(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(LIST)
    env = {**os.environ, "CAMPAIGNFLOW_HOME": str(tmp_path)}
    args = [CAMPAIGNFLOW, "simulate", "--campaign", str(EXAMPLES / "campaign.yaml")]
    args += ["--contacts", str(contacts), "--start", "2026-12-01T14:00:00Z"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rejected = [ln for ln in done.stdout.splitlines() if '"contact.rejected"' in ln]
    assert len(rejected) == 3 and _leaks("\n".join(rejected)) == []
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+12125550101\n21255501019\n")
    done = subprocess.run(
        [*args, "--dnc", str(dnc)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "line 2" in done.stderr
    assert _leaks(done.stderr) == []


def test_a_dialer_reason_shows_no_full_number() -> None:
    record = {
        "call_id": "camp/c1/1",
        "campaign_id": "camp",
        "account_id": "acme",
        "contact_id": "c1",
        "attempt": 1,
        "to": "21255501019",
        "from": "+15550100000",
        "alternate_position": 0,
        "agent_id": "bot",
        "agent_prompt": "",
        "variables": {},
        "created_at": 0,
        "deadline": 1,
    }
    with pytest.raises(BadCall) as err:
        Call.from_record(record)
    assert "*******1019" in str(err.value) and _leaks(str(err.value)) == []


def test_manual_contact_ids_do_not_carry_the_number() -> None:
    assert "2125550199" not in derived_id("+12125550199")
    assert derived_id("+12125550199") == derived_id("+12125550199")


def test_every_log_record_of_the_cli_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    before = logging.getLogRecordFactory()
    try:
        mask_numbers_in_logs()
        caplog.set_level(logging.INFO)
        logging.getLogger("anything").warning("could not reach %s for %s", "+12125550101", "c1")
        try:
            raise ValueError("bad number 21255501019")
        except ValueError:
            logging.getLogger("anything").exception("failed")
    finally:
        logging.setLogRecordFactory(before)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "+*******0101" in text and _leaks(text) == []
