"""CSV input and output (item 11): no silently dropped column, bounded N and ids, no NUL,
the right limit named, and no formula reaching a spreadsheet from a CSV we write."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from campaigns.contacts import (
    FIELD_READ_LIMIT,
    MAX_CELL_CHARS,
    MAX_CONTACT_ID_CHARS,
    ContactsFileError,
    csv_rows,
    iter_contacts,
)
from campaigns.csvsafe import neutralise
from ingest.manual import parse_rows
from ingest.upload import UploadError, upload

SPEC = Path(__file__).resolve().parents[2] / "examples" / "spec" / "campaign.yaml"


def _parse(text: str) -> list[object]:
    import io

    return list(iter_contacts(io.BytesIO(text.encode()), "US", "l.csv"))


@pytest.mark.parametrize(
    "column", ["phone_number_0", "phone_number_1", "phone_numbers", "phone_number_02"]
)
def test_a_phone_column_the_list_does_not_use_is_refused_not_dropped(column: str) -> None:
    with pytest.raises(ContactsFileError) as err:
        _parse(f"phone_number,{column}\n+12025550001,+12025550002\n")
    assert f"column 2: {column!r} is not a phone column" in str(err.value)


def test_alternate_numbers_are_bounded() -> None:
    with pytest.raises(ContactsFileError, match="alternates go up to phone_number_99"):
        _parse("phone_number,phone_number_100\n+12025550001,+12025550002\n")
    assert len(_parse("phone_number,phone_number_99\n+12025550001,+12025550002\n")) == 2


def test_a_nul_in_a_value_rejects_the_row() -> None:
    items = _parse("phone_number,name\n+12025550001,a\x00b\n+12025550002,ok\n")
    rejection = items[1]
    assert getattr(rejection, "column", None) == "name"
    assert "NUL" in getattr(rejection, "reason", "")
    accepted, rejected = parse_rows([{"phone_number": "+12025550001", "name": "x\x00"}], "US")
    assert not accepted and "NUL" in rejected[0].reason


def test_a_long_contact_id_is_rejected() -> None:
    long_id = "i" * 60_000
    items = _parse(f"contact_id,phone_number\n{long_id},+12025550001\nok,+12025550002\n")
    assert getattr(items[1], "column", None) == "contact_id"
    assert f"over the limit of {MAX_CONTACT_ID_CHARS}" in getattr(items[1], "reason", "")
    assert getattr(items[2], "contact_id", None) == "ok"


def test_a_runaway_cell_names_the_limit_that_was_applied() -> None:
    text = "phone_number,name\n+12025550001," + "x" * (FIELD_READ_LIMIT + 10) + "\n"
    import io

    with pytest.raises(ContactsFileError) as err:
        list(csv_rows(io.StringIO(text, newline=""), "l.csv"))
    assert f"over {FIELD_READ_LIMIT} characters (the limit is {MAX_CELL_CHARS})" in str(err.value)


def test_neutralise_follows_owasp() -> None:
    for cell in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("plain") == "plain" and neutralise(None) == ""


def test_the_rejects_report_carries_no_formula(tmp_path: Path) -> None:
    contacts = tmp_path / "l.csv"
    contacts.write_text(
        "contact_id,phone_number,name,plan_name\n"
        '=HYPERLINK("http://x"),12,"=cmd|\' /C calc\'!A0",@SUM(1)\n'
        "c2,+12025550002,ok,gold\n"
    )
    summary = upload(SPEC, contacts, publish=False, workers=1)
    assert summary.rejected == 1 and summary.rejects_path is not None
    with summary.rejects_path.open(newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert '\'=HYPERLINK("http://x")' in cells


def test_a_file_level_error_in_the_report_is_neutralised_too(tmp_path: Path) -> None:
    contacts = tmp_path / "l.csv"
    contacts.write_text("phone_number,phone_number_1\n+12025550001,+12025550002\n")
    with pytest.raises(UploadError):
        upload(SPEC, contacts, publish=False, workers=1)
