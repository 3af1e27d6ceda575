"""The shells around opt-outs and do-not-call lists: records, keys, the worker's directory,
the dialer's callback and script, the import parser (SPEC section 7)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_writer

from campaigns.events import NumberOptedOut
from campaigns.privacy import mask_number
from dialer.calls import Call, Outcome, outcome_record
from dialer.script import ScriptError, load_script
from dialer.simulator import SimulatorAdapter, SimulatorConfig
from dialer.webhook import outcome_from_json
from ingest.dnc import ImportReport, numbers_of
from streams.directory import OPT_OUT_OVERLAY_S, TableDirectory
from topics import schemas, translate
from topics.codec import SINGLE_OBJECT_MAGIC, Codec

pytestmark = pytest.mark.unit

CODEC = Codec()
NUMBER = "+12025550143"


def entry(account: str | None, blocked: bool = True) -> bytes:
    return CODEC.encode(
        "DncEntry", {**translate.dnc_record(account, NUMBER, 1), "blocked": blocked}
    )


def v1_entry() -> bytes:
    """A DncEntry as written before lists were per account (no account_id)."""
    [(_, old), *_] = schemas.history("DncEntry")
    buf = io.BytesIO()
    buf.write(SINGLE_OBJECT_MAGIC + schemas.fingerprint(old))
    schemaless_writer(buf, parse_schema(old), {"number": NUMBER, "blocked": True, "updated_at": 1})
    return buf.getvalue()


def test_keys_name_the_list() -> None:
    assert translate.dnc_key(None, NUMBER) == NUMBER.encode()
    assert translate.dnc_key("acme", NUMBER) == b"acme/+12025550143"
    assert translate.dnc_key_scope(b"acme/+12025550143") == ("acme", NUMBER)
    assert translate.dnc_key_scope(b"team/east/+12025550143") == ("team/east", NUMBER)
    assert translate.dnc_key_scope(NUMBER.encode()) == (None, NUMBER)


def test_an_old_entry_reads_as_global() -> None:
    assert CODEC.decode(v1_entry()) == (
        "DncEntry",
        {"number": NUMBER, "blocked": True, "updated_at": 1, "account_id": None},
    )
    directory = TableDirectory({NUMBER.encode(): v1_entry()}, {})
    assert directory.is_blocked("acme", NUMBER) and directory.is_blocked("globex", NUMBER)


def test_the_worker_checks_the_account_list_and_the_global_one() -> None:
    table = {translate.dnc_key("acme", NUMBER): entry("acme")}
    directory = TableDirectory(table, {})
    assert directory.is_blocked("acme", NUMBER)
    assert not directory.is_blocked("globex", NUMBER)
    table[translate.dnc_key("acme", NUMBER)] = entry("acme", blocked=False)
    assert not directory.is_blocked("acme", NUMBER)


def test_an_opt_out_applies_at_once_then_the_table_decides() -> None:
    now = [1000.0]
    table: dict[bytes, bytes] = {}
    directory = TableDirectory(table, {}, clock=lambda: now[0])
    directory.add_blocked("acme", NUMBER)
    assert directory.is_blocked("acme", NUMBER)  # before the topic comes back round
    assert not directory.is_blocked("globex", NUMBER)
    table[translate.dnc_key("acme", NUMBER)] = entry("acme")  # the table caught up
    assert directory.is_blocked("acme", NUMBER)
    del table[translate.dnc_key("acme", NUMBER)]  # an operator's removal (a tombstone)
    assert not directory.is_blocked("acme", NUMBER)
    # An entry the table never shows lapses after the overlay's lifetime.
    directory.add_blocked("globex", NUMBER)
    now[0] += OPT_OUT_OVERLAY_S + 1
    assert not directory.is_blocked("globex", NUMBER)


def test_the_opt_out_record_is_the_accounts_entry() -> None:
    ev = NumberOptedOut(5_000_000, "c1", "acme", NUMBER, "c1/row-1/1")
    rec = translate.opt_out_to_record(ev)
    assert rec == {"number": NUMBER, "blocked": True, "updated_at": 5_000, "account_id": "acme"}
    assert CODEC.decode(CODEC.encode("DncEntry", rec))[1] == rec


def test_outcomes_carry_opt_out_and_old_ones_read_false() -> None:
    assert translate.outcome_from_record({"call_id": "c/k/1", "status": "busy"}).opt_out is False
    rec = outcome_record(
        "c/k/1", "c", "acme", "k", 1, Outcome("answered", 9, opt_out=True), None, "d"
    )
    assert rec["opt_out"] is True
    assert translate.outcome_from_record(CODEC.decode(CODEC.encode("CallOutcome", rec))[1]).opt_out


def test_the_webhook_callback_accepts_a_boolean_opt_out() -> None:
    assert outcome_from_json({"status": "answered", "opt_out": True}).opt_out is True
    assert outcome_from_json({"status": "answered"}).opt_out is False
    assert outcome_from_json({"status": "answered", "opt_out": None}).opt_out is False
    with pytest.raises(ValueError, match="opt_out must be a JSON boolean"):
        outcome_from_json(json.loads('{"status": "busy", "opt_out": "yes"}'))


def call(contact: str, attempt: int) -> Call:
    return Call(
        call_id=f"camp/{contact}/{attempt}",
        campaign_id="camp",
        account_id="acme",
        contact_id=contact,
        attempt=attempt,
        to="+15550100001",
        from_="+15550100000",
        agent_id="bot",
        agent_prompt="Hi",
        created_at=1_700_000_000_000,
        deadline=1_700_003_600_000,
    )


def test_the_simulator_script_reads_the_opt_out_column(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text(
        "contact_id,attempt,status,duration_seconds,opt_out\nc1,1,answered,5,true\nc2,1,busy,5,\n"
    )
    adapter = SimulatorAdapter(SimulatorConfig(script=load_script(path), time_scale=0))
    first = asyncio.run(adapter.place_call(call("c1", 1)))
    second = asyncio.run(adapter.place_call(call("c2", 1)))
    assert first is not None and first.opt_out is True
    assert second is not None and second.opt_out is False
    path.write_text("contact_id,attempt,status,duration_seconds,opt_out\nc1,1,busy,5,maybe\n")
    with pytest.raises(ScriptError, match="row 1, column opt_out"):
        load_script(path)


def test_the_import_parser_streams_and_names_bad_lines() -> None:
    lines = [
        b"\xef\xbb\xbfphone_number\n",
        b"(212) 555-0101\n",
        b"\n",
        b"# note\n",
        b"12345\n",
        b"\xff\xfe\n",
        b"+44 20 7183 8750, office\n",
        b"9" * 2000 + b"\n",
    ]
    report = ImportReport()
    got = list(numbers_of(iter(lines), "us", report, keep_rejected=10))
    assert got == ["+12125550101", "+442071838750"]
    assert [(r.line, r.reason) for r in report.rejected] == [
        (5, "not a valid phone number (region US)"),
        (6, "not UTF-8 text"),
        (8, "line too long"),
    ]
    assert (report.lines, report.accepted, report.skipped, report.rejected_count) == (8, 2, 3, 3)


def test_numbers_in_log_lines_keep_only_their_last_four_digits() -> None:
    assert mask_number(NUMBER) == "+*******0143"
