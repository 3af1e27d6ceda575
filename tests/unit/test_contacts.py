import io

import pytest

from campaigns.contacts import Contact, ContactLayout, ContactsFileError, Rejection, iter_contacts


def parse(text: str | bytes) -> tuple[ContactLayout, list[Contact], list[Rejection]]:
    data = text.encode() if isinstance(text, str) else text
    items = list(iter_contacts(io.BytesIO(data), "US", "list.csv"))
    layout = items[0]
    assert isinstance(layout, ContactLayout)
    return (
        layout,
        [i for i in items if isinstance(i, Contact)],
        [i for i in items if isinstance(i, Rejection)],
    )


def test_alternates_overrides_and_variables() -> None:
    layout, contacts, rejected = parse(
        "\ufeffcontact_id,phone_number,name,plan,phone_number_3,phone_number_2,name_2,name_3,foo_2,timezone\n"
        "a,(212) 555-0101,Ann,gold,+1 212 555 0103,212-555-0102,Assistant,,x,America/Chicago\n"
    )
    assert not rejected
    (c,) = contacts
    assert c.contact_id == "a" and c.row == 1 and c.timezone == "America/Chicago"
    assert c.phone_number == "+12125550101"
    assert [(a.position, a.phone_number, a.variables) for a in c.alternates] == [
        (2, "+12125550102", {"name": "Assistant"}),
        (3, "+12125550103", {}),
    ]
    # foo_2 has no base column foo: it is a variable of its own.
    assert c.variables == {"name": "Ann", "plan": "gold", "foo_2": "x"}
    assert layout.variable_columns == ["name", "plan", "foo_2"]


def test_default_contact_id_and_empty_alternates_skipped() -> None:
    _, contacts, _ = parse(
        "phone_number,phone_number_2,phone_number_3\n2125550101,,2125550103\n\n2125550104,,\n"
    )
    assert [c.contact_id for c in contacts] == ["row-1", "row-2"]  # blank lines are not rows
    assert [a.position for a in contacts[0].alternates] == [3]


def test_rejections_name_row_column_and_reason() -> None:
    _, contacts, rejected = parse(
        "contact_id,phone_number,phone_number_2,timezone\n"
        "a,2125550101,,\n"
        "b,12345,,\n"  # invalid primary
        "c,2125550103,999,\n"  # invalid alternate
        "a,2125550104,,\n"  # repeated contact_id
        "d,+1 212 555 0101,,\n"  # repeated primary
        "e,2125550105,,Mars/Base\n"  # unknown zone
        "f,,,\n"  # missing number
        "g,2125550106,,\n"
    )
    assert [c.contact_id for c in contacts] == ["a", "g"]
    got = [(r.row, r.column, r.reason) for r in rejected]
    assert got[0] == (2, "phone_number", "not a valid phone number: '*2345'")
    assert got[1] == (3, "phone_number_2", "not a valid phone number: '999'")
    assert got[2] == (4, "contact_id", "contact_id 'a' repeats an earlier row")
    assert got[3][:2] == (5, "phone_number") and "repeats an earlier row's primary" in got[3][2]
    assert got[4] == (6, "timezone", "unknown IANA time zone 'Mars/Base'")
    assert got[5] == (7, "phone_number", "phone number is missing")
    assert rejected[0].values["contact_id"] == "b"


def test_rejected_row_does_not_reserve_its_id_or_number() -> None:
    _, contacts, rejected = parse(
        "contact_id,phone_number,timezone\na,2125550101,Bad/Zone\na,2125550101,\n"
    )
    assert [c.row for c in contacts] == [2] and [r.row for r in rejected] == [1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "list.csv: the file is empty"),
        (
            b"name,plan\nAnn,gold\n",
            "list.csv: row 0 (header): required column 'phone_number' is missing",
        ),
        (b'phone_number,name\n2125550101,"Ann\n', "unterminated quote"),
        (
            b"phone_number,name\n2125550101,Ann\n2125550102,B\xffb\n",
            "list.csv: byte 45: not UTF-8 (0xff)",
        ),
        (
            b"phone_number,name\n2125550101," + b"x" * 300_000 + b"\n",
            "row 1, column 2: cell of 300000 characters",
        ),
        (b"phone_number,phone_number\n1,2\n", "duplicate column 'phone_number'"),
    ],
)
def test_file_errors_are_one_clear_line(data: bytes, message: str) -> None:
    with pytest.raises(ContactsFileError) as err:
        parse(data)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_ten_megabyte_cell_is_refused() -> None:
    with pytest.raises(ContactsFileError) as err:
        parse(b"phone_number,name\n2125550101," + b"x" * 10_000_000 + b"\n")
    assert "list.csv: row 1" in str(err.value) and "over the limit" in str(err.value)
