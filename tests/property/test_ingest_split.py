"""The ingest pipeline (file cut into byte pieces, parsed and encoded in workers) equals the
engine's parser followed by encode_contact: same rows, ids, bytes, rejections and errors."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.contacts import (
    Contact,
    ContactLayout,
    ContactsFileError,
    Rejection,
    build_contact,
    iter_contacts,
)
from ingest.pipeline import ContactReader, ParseState, Piece, _build_piece
from ingest.rowcodec import encode_contact

pytestmark = pytest.mark.property

CELLS = st.sampled_from(
    [
        "(212) 555-0101",
        "+1 415 555 0102",
        "2125550103",
        "12",
        "",
        " ",
        "Ann",
        '"Smith, Jo"',
        '"two\nlines"',
        '"cr\r\nlf"',
        '"q ""x"" q"',
        'a"b',
        "Zoë",
        "\ufeff",
        "America/Chicago",
        "Mars/Base",
        "id1",
        "row-3",
    ]
)
ENDS = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\n\r\n"])


@st.composite
def files(draw: st.DrawFn) -> bytes:
    header = draw(
        st.sampled_from(
            [
                "phone_number,name,phone_number_2,name_2",
                "contact_id,phone_number,name,timezone",
                '\ufeff"phone_number",name',
                "\n\nphone_number,name",
                "phone_number,name,plan,phone_number_3,name_3,phone_number_2,plan_2,timezone",
                "contact_id,phone_number_2,phone_number,name_2,name",
            ]
        )
    )
    width = header.count(",") + 1
    lines = [header]
    for _ in range(draw(st.integers(0, 60))):
        n = draw(st.sampled_from([width, width, width, width - 1, width + 1]))
        lines.append(",".join(draw(CELLS) for _ in range(max(n, 1))))
    text = ""
    for line in lines:
        text += line + draw(ENDS)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode()
    tail = draw(
        st.sampled_from([b"", b"", b"", b'\n"open,x', b"\n2125550199,\xff\xfe", b"\xe2\x82"])
    )
    return data + tail


def _serial(data: bytes) -> tuple[list[tuple[object, ...]], str | None]:
    out: list[tuple[object, ...]] = []
    try:
        for item in list(iter_contacts(io.BytesIO(data), "US", "l.csv"))[1:]:
            if isinstance(item, Contact):
                out.append(("ok", item.row, item.contact_id, encode_contact(item)))
            elif isinstance(item, Rejection):
                out.append(("rej", item.row, item.column, item.reason, item.values))
    except ContactsFileError as err:
        return out, str(err)
    return out, None


def _pieces(
    data: bytes, workers: int, chunk_bytes: int
) -> tuple[list[tuple[object, ...]], str | None]:
    out: list[tuple[object, ...]] = []
    try:
        reader = ContactReader.open(io.BytesIO(data), "l.csv", "US", workers, chunk_bytes)
        for chunk in reader.chunks():
            items: list[tuple[object, ...]] = [
                ("ok", a.row, a.contact_id, a.encoded) for a in chunk.accepted
            ]
            items += [("rej", r.row, r.column, r.reason, r.values) for r in chunk.rejections]
            out += sorted(items, key=lambda t: t[1])  # type: ignore[arg-type,return-value]
    except ContactsFileError as err:
        return out, str(err)
    return out, None


@settings(max_examples=300, deadline=None)
@given(files(), st.integers(1, 200))
def test_pieces_parse_like_the_engine(data: bytes, chunk_bytes: int) -> None:
    rows, error = _serial(data)
    got, got_error = _pieces(data, 1, chunk_bytes)
    assert got_error == error
    if error is None:
        assert got == rows
    else:
        # the rows before the error are reported (the serial reader decodes ahead, so may
        # stop a few rows earlier on bad bytes)
        assert got[: len(rows)] == rows[: len(got)]


def test_two_workers_with_small_pieces() -> None:
    lines = ["contact_id,phone_number,name,phone_number_2"]
    for i in range(1, 400):
        name = f'"N{i}\nsecond line"' if i % 9 == 0 else f"N{i}"
        lines.append(
            f"{'' if i % 5 else i % 30},(212) 555-{i % 350:04d},{name},+1 415 555 {i % 40:04d}"
        )
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert _pieces(data, 2, 300) == _serial(data)


WIDE = [
    "contact_id",
    "phone_number",
    "name",
    "plan",
    "phone_number_2",
    "name_2",
    "plan_2",
    "phone_number_3",
    "name_3",
    "timezone",
    "phone_number_10",
    "name_10",
]
PHONES = st.sampled_from(
    ["(212) 555-0101", "+1 646 555 0199", "415.555.0102", "+44 20 7946 0958", "", " ", "x1"]
)
VALUES = st.sampled_from(["", "Ann", "Zoë ünï", "x" * 70, "gold", " spaced ", "row-9"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(PHONES, VALUES), min_size=10, max_size=13), st.integers(1, 10**7))
def test_worker_is_build_contact_then_encode_contact(cells: list[str], row: int) -> None:
    layout = ContactLayout.from_header(WIDE)
    for i, c in enumerate(WIDE):
        if c.startswith("phone_number") and i < len(cells) and cells[i] not in ("", " ", "x1"):
            cells[i] = cells[i] if cells[i][0] in "(+4" else "(212) 555-0101"
    want = build_contact(layout, row, cells, "US")
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(cells)
    data = line.getvalue().encode()
    state = ParseState.new(layout, "US", "contacts")
    got = _build_piece(state, Piece(0, data, row - 1, row, True, 1))
    if isinstance(want, Contact):
        assert (got.blob, list(got.rows), got.ids, got.phones) == (
            encode_contact(want),
            [row],
            [want.contact_id],
            [want.phone_number],
        )
        assert got.rejections == []
    else:
        assert got.blob == b""
        assert got.rejections == [want]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xef\xbb\xbf",
        b"\n\r\n",
        b"\xef\xbb\xbf\n",
        b"phone_number",
        b'"phone_number\n',
        b"\xff\n",
    ],
)
def test_files_without_rows_fail_like_the_engine(data: bytes) -> None:
    assert _pieces(data, 1, 3) == _serial(data)
    assert _pieces(data, 1, 1 << 20) == _serial(data)
