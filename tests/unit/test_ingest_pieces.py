"""The ingest pieces without a broker: row codec, summary, rejects report, manual rows, pipeline."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from rich.console import Console

from campaigns.contacts import Alternate, Contact, ContactsFileError, Rejection, iter_contacts
from campaigns.models import parse_definition
from ingest.manual import cli_row, derived_id, parse_rows
from ingest.pipeline import ContactReader
from ingest.rejects import RejectsReport, report_path, row_bytes
from ingest.rowcodec import batch_value, encode_contact
from ingest.summary import UploadSummary, render, rule_rows
from topics.avrobytes import long_bytes
from topics.codec import decode
from topics.translate import contact_from_record

pytestmark = pytest.mark.unit

DEFINITION = {
    "campaign_id": "c1",
    "account_id": "acme",
    "name": "Test",
    "agent": {"id": "bot", "prompt": "Hi {{customer_name}} about {{plan}} in {{city}}"},
    "source_number": "+15550100000",
    "variable_mapping": {"name": "customer_name"},
    "rules": {
        "timezone": "America/New_York",
        "concurrent_calls": 3,
        "max_retries": 1,
        "retry_delay_minutes": 5,
    },
}

CSV = (
    "contact_id,phone_number,name,plan,phone_number_2,name_2,timezone\n"
    "a,(212) 555-0101,Ann,gold,+1 415 555 0102,Bob,\n"
    ",2125550103,Cy,silver,,,America/Chicago\n"
    "c,12,Ed,gold,,,\n"
    "a,2125550104,Fi,gold,,,\n"
    "e,2125550105,Gus,gold,,,Mars/Base\n"
)


def test_zigzag_matches_avro() -> None:
    assert long_bytes(0) == b"\x00"
    assert long_bytes(1) == b"\x02"
    assert long_bytes(63) == b"\x7e"
    assert long_bytes(64) == b"\x80\x01"
    assert long_bytes(-1) == b"\x01"


def test_batch_value_decodes_to_the_same_contacts() -> None:
    contacts = [
        Contact(
            "a",
            1,
            "+12125550101",
            [Alternate(2, "+14155550102", {"name": "Bob"})],
            {"name": "Ann", "ünï": "çödé"},
            "America/Chicago",
        ),
        Contact("row-2", 2, "+12125550103", [], {}, None),
        Contact(
            "x" * 128,  # the longest id allowed; its length takes two varint bytes
            300,
            "+12125550104",
            [Alternate(2, "+1415", {}), Alternate(7, "+1416", {})],
            {f"k{i}": "v" * i for i in range(70)},
        ),
    ]
    value = batch_value(
        "c1", "c1/rows-1-3", 1_700_000_000_000, [encode_contact(c) for c in contacts]
    )
    event, rec = decode(value)
    assert event == "ContactBatch"
    assert rec["batch_id"] == "c1/rows-1-3" and rec["campaign_id"] == "c1"
    assert [contact_from_record(r) for r in rec["contacts"]] == contacts
    assert decode(batch_value("c1", "b", 0, []))[1]["contacts"] == []


def _summary(tmp_path: Path) -> UploadSummary:
    d = parse_definition(DEFINITION)
    reader = ContactReader.open(io.BytesIO(CSV.encode()), "list.csv", "US", workers=1)
    s = UploadSummary(
        d, tmp_path / "list.csv", reader.layout, d.mapping_report(reader.layout.variable_columns)
    )
    for chunk in reader.chunks():
        for r in chunk.rejections:
            s.note(r)
    s.rows, s.accepted, s.rejected = reader.stats.rows, reader.stats.accepted, reader.stats.rejected
    return s


def test_summary_shows_counts_mapping_and_rules(tmp_path: Path) -> None:
    s = _summary(tmp_path)
    assert (s.rows, s.accepted, s.rejected) == (5, 2, 3)
    console = Console(record=True, width=200)
    render(s, console)
    text = console.export_text()
    flat = " ".join(text.split())
    assert "│ name │ customer_name │" in flat
    assert "agent variables no column feeds │ city" in flat
    assert "columns not in variable_mapping │ plan" in flat
    for expected in (
        "accepted",
        "phone_number_2",
        "name_2",
        "not a valid phone number: '12'",
        "contact_id 'a' repeats an earlier row",
        "unknown IANA time zone 'Mars/Base'",
        "calling_window",
        "09:00-19:00",
        "mon, tue, wed, thu, fri",
        "dry run",
    ):
        assert expected in text, expected
    assert s.mapping.unfed_variables == ["city"]
    assert s.mapping.unmapped_columns == ["plan"]


def test_rule_rows_give_effective_value_and_default() -> None:
    rows = {
        name: (eff, default) for name, eff, default in rule_rows(parse_definition(DEFINITION).rules)
    }
    assert rows["max_retries"] == ("1", "0")
    assert rows["concurrent_calls"] == ("3", "required")
    assert rows["timezone"] == ("America/New_York", "required")
    assert rows["retry_on"][1] == "no_answer, busy, failed, voicemail, timeout"
    assert rows["contact_local_time"] == ("disabled", "disabled")
    assert rows["caller_ids"][0].startswith("none")


def test_rejects_report_has_row_column_reason_and_original_values(tmp_path: Path) -> None:
    path = report_path(tmp_path / "list.csv")
    assert path.name == "list.rejects.csv"
    cols = ("contact_id", "phone_number", "name")
    with RejectsReport(path, cols) as report:
        report.add(
            Rejection(
                3,
                "phone_number",
                "not a valid phone number: '12'",
                {"contact_id": "c", "phone_number": "12", "name": "Ed, Jr."},
            )
        )
        report.fatal("list.csv: row 9 (line 10): unterminated quote", 9)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == ["row", "column", "reason", "contact_id", "phone_number", "name"]
    assert rows[1] == ["3", "phone_number", "not a valid phone number: '12'", "c", "12", "Ed, Jr."]
    assert rows[2][:3] == ["9", "", "list.csv: row 9 (line 10): unterminated quote"]
    rej = Rejection(1, None, "x", {"phone_number": "1,2"})
    assert row_bytes(rej, ("phone_number", "name")) == b'"1,2",\r\n'


def test_manual_rows_follow_the_csv_rules() -> None:
    row = cli_row(
        "212 555 0199", ["name=Zoe"], ["4155550198", "646 555 0197"], ["name=Yan", "2:name=Al"]
    )
    assert row == {
        "phone_number": "212 555 0199",
        "name": "Zoe",
        "phone_number_2": "4155550198",
        "phone_number_3": "646 555 0197",
        "name_3": "Yan",
        "name_2": "Al",
    }
    accepted, rejected = parse_rows(
        [row, {"phone_number": "2125550199"}, {"phone_number": "x"}], "US"
    )
    assert [c.contact_id for c in accepted] == [derived_id("+12125550199")]
    assert accepted[0].alternates[0].variables == {"name": "Al"}
    assert accepted[0].alternates[1].variables == {"name": "Yan"}
    assert [r.row for r in rejected] == [2, 3]
    with pytest.raises(ValueError, match="no alternate 3"):
        cli_row("1", [], ["2"], ["3:name=x"])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        cli_row("1", ["oops"], [], [])


def test_parallel_pipeline_matches_the_engine_parser() -> None:
    lines = ["contact_id,phone_number,name,phone_number_2,name_2,phone_number_3"]
    for i in range(1, 600):
        cid = "" if i % 7 else f"id{i % 50}"  # repeated ids get rejected
        primary = "bad" if i % 31 == 0 else f"(212) 555-{i % 500:04d}"  # repeats after 500
        lines.append(f"{cid},{primary},N{i},+1 415 555 {i % 40:04d},M{i},")
    data = ("\n".join(lines) + "\n").encode()
    expected = list(iter_contacts(io.BytesIO(data), "US"))[1:]
    for workers in (1, 2):
        reader = ContactReader.open(
            io.BytesIO(data), "l.csv", "US", workers=workers, chunk_bytes=700
        )
        accepted: list[tuple[int, str]] = []
        rejected: list[tuple[int, str | None, str]] = []
        for chunk in reader.chunks():
            accepted += [(a.row, a.contact_id) for a in chunk.accepted]
            rejected += [(r.row, r.column, r.reason) for r in chunk.rejections]
        assert accepted == [(c.row, c.contact_id) for c in expected if isinstance(c, Contact)]
        assert rejected == [
            (r.row, r.column, r.reason) for r in expected if isinstance(r, Rejection)
        ]
        assert reader.stats.rows == 599


def test_parallel_pipeline_reports_rows_before_a_file_error() -> None:
    lines = ["phone_number,name"] + [f"(212) 555-{i:04d},N{i}" for i in range(1, 301)]
    data = ("\n".join(lines) + '\n2125559999,"open\n2125559998,x\n').encode()
    reader = ContactReader.open(io.BytesIO(data), "l.csv", "US", workers=2, chunk_bytes=700)
    seen = 0
    with pytest.raises(ContactsFileError, match=r"l\.csv: row 301 .*unterminated quote"):
        for chunk in reader.chunks():
            seen += len(chunk.accepted) + len(chunk.rejections)
    assert seen == 300
