"""The API's pure pieces: webhook signatures, CSV-injection guard, cursors, error items,
the duplicate's CSV (it must parse back into the same contacts), forecast models."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from api import accounts
from api.campaign_io import records_to_csv, rows_to_csv
from api.campaign_service import bucket_seconds_for
from api.deps import decode_cursor, page
from api.problems import ApiProblem, definition_errors
from campaigns.contacts import Contact, Rejection, iter_contacts
from campaigns.csvsafe import neutralise as csv_safe
from campaigns.simulate import parse_model
from dialer import signing
from topics.translate import contact_to_record


def test_signature_is_timestamped_hmac_over_t_dot_body() -> None:
    header = signing.sign("s3cret", b'{"a":1}', 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert signing.verify(["s3cret"], b'{"a":1}', header, now_s=1_700_000_100)
    assert not signing.verify(["other"], b'{"a":1}', header, now_s=1_700_000_100)
    assert not signing.verify(["s3cret"], b'{"a":2}', header, now_s=1_700_000_100)
    assert not signing.verify(["s3cret"], b'{"a":1}', header, now_s=1_700_000_000 + 301)  # replay
    forged = header.replace("t=1700000000", "t=1700000200")
    assert not signing.verify(["s3cret"], b'{"a":1}', forged, now_s=1_700_000_200)
    assert not signing.verify(["s3cret"], b"x", None, now_s=1_700_000_000)


@pytest.mark.parametrize("cell", ["=1+2", "+SUM(A1)", "-2", "@cmd", "\tx", "\r=x"])
def test_export_cells_cannot_run_as_formulas(cell: str) -> None:
    assert csv_safe(cell) == "'" + cell


def test_plain_cells_are_unchanged() -> None:
    assert csv_safe("row-1") == "row-1" and csv_safe(3) == "3" and csv_safe(None) == ""


def test_keys_are_random_and_prefixed() -> None:
    (id1, k1), (id2, k2) = accounts.make_key(), accounts.make_key()
    assert k1.startswith(f"cfk_{id1}_") and k1 != k2 and id1 != id2
    assert len(k1.split("_", 2)[2]) >= 43  # 32 random bytes
    assert accounts.digest(k1) != accounts.digest(k2) and len(accounts.digest(k1)) == 64
    with pytest.raises(accounts.AccountError):
        accounts.check_account_id("Bad Id")


def test_operator_key_file_is_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "api" / "operator.key"
    key = accounts.operator_key(path)
    assert key and key.startswith("cfo_") and path.stat().st_mode & 0o777 == 0o600
    assert accounts.operator_key(path) == key
    assert accounts.is_operator(key, key) and not accounts.is_operator(key, key + "x")
    assert not accounts.is_operator(None, "")


def test_cursor_pages_walk_every_id_once() -> None:
    ids = [f"c{i:03d}" for i in range(23)]
    seen: list[str] = []
    cursor = None
    while True:
        chosen, cursor = page(ids, cursor, 5)
        seen += chosen
        if cursor is None:
            break
    assert seen == ids
    with pytest.raises(ApiProblem):
        decode_cursor("%%%")


def test_definition_errors_name_the_request_field() -> None:
    items = definition_errors(
        "rules.retry_delay_minutes: required when max_retries > 0\n(top): must be a mapping"
    )
    assert [(i.field, i.message) for i in items] == [
        ("definition.rules.retry_delay_minutes", "required when max_retries > 0"),
        ("definition", "must be a mapping"),
    ]


def _parse(path: Path) -> list[Contact | Rejection]:
    with path.open("rb") as f:
        items = list(iter_contacts(f, "US"))
    return [i for i in items if isinstance(i, Contact | Rejection)]


def test_duplicate_csv_parses_back_into_the_same_contacts(tmp_path: Path) -> None:
    src = tmp_path / "src.csv"
    src.write_text(
        "contact_id,phone_number,name,plan,phone_number_2,name_2,timezone\n"
        "a,+12125550101,Ann,gold,+12125550191,Ann's office,America/New_York\n"
        'b,+12125550102,"Bob, Jr",silver,,,\n'
    )
    original = [c for c in _parse(src) if isinstance(c, Contact)]
    out = tmp_path / "copy.csv"
    n = records_to_csv(iter([contact_to_record(c) for c in original]), out)
    again = [c for c in _parse(out) if isinstance(c, Contact)]
    assert n == 2
    assert [contact_to_record(c) for c in again] == [contact_to_record(c) for c in original]


def test_json_rows_become_the_csv_they_describe(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    rows_to_csv(
        [
            {"name": "Ann", "phone_number": "+12125550101"},
            {"phone_number": 2125550102, "vip": True},
        ],
        path,
    )
    text = path.read_text()
    assert text.splitlines()[0] == "phone_number,name,vip"
    items = _parse(path)
    assert [type(i).__name__ for i in items] == ["Contact", "Contact"]
    assert io.StringIO(text).read().count("true") == 1


def test_forecast_model_errors_name_the_part() -> None:
    assert parse_model("answered=0.3,busy=0.7") == [("answered", 0.3), ("busy", 0.7)]
    for bad, words in (
        ("answered", "status=share"),
        ("x=1", "status=share"),
        ("busy=-1", ">= 0"),
        ("busy=0", "add up"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_model(bad)


def test_stats_buckets_follow_the_span() -> None:
    assert bucket_seconds_for(5 * 60) == 60
    assert bucket_seconds_for(5 * 86_400) == 3600  # 120 points
    assert bucket_seconds_for(400 * 86_400) == 86_400
