"""normalise_number's fast path for North American spellings equals phonenumbers' full path."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber

from campaigns.contacts import NANP_SHAPE, _full_normalise, nanp_valid, normalise_number

pytestmark = pytest.mark.property

SEPARATORS = ["", " ", "-", ".", "  ", "/", "_"]


@st.composite
def spellings(draw: st.DrawFn) -> str:
    """Ten digits (any first digits, valid or not) in the shapes lists use, and near misses."""
    area = draw(st.text("0123456789", min_size=3, max_size=3))
    exchange = draw(st.text("0123456789", min_size=3, max_size=3))
    line = draw(st.text("0123456789", min_size=4, max_size=4))
    s1, s2 = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
    head = draw(st.sampled_from(["", "+1", "+1 ", "+1-", "+1.", "1", "1 ", "+", "+11", " ", "011"]))
    paren = draw(st.booleans())
    tail = draw(st.sampled_from(["", "", "", " ", "x12", " ext. 5", "#", "a"]))
    a = f"({area}){s1}" if paren else f"{area}{s1}"
    return f"{head}{a}{exchange}{s2}{line}{tail}"


@settings(max_examples=3000, deadline=None)
@given(spellings())
def test_fast_path_equals_phonenumbers(raw: str) -> None:
    assert normalise_number.__wrapped__(raw, "US") == _full_normalise(raw, "US")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789+()-. ext", max_size=18))
def test_any_text_equals_phonenumbers(raw: str) -> None:
    assert normalise_number.__wrapped__(raw, "US") == _full_normalise(raw, "US")


def test_fast_path_covers_the_usual_spellings() -> None:
    for raw in (
        "+12125550101",
        "(212) 555-0101",
        "212.555.0101",
        "212-555-0101",
        "+1 212 555 0101",
    ):
        assert NANP_SHAPE.fullmatch(raw), raw
        assert normalise_number(raw, "US") == "+12125550101"
    assert NANP_SHAPE.fullmatch("12125550101") is None  # national prefix: full path
    assert normalise_number("(112) 555-0101", "US") is None
    assert normalise_number("(212) 555-0101", "GB") == _full_normalise("(212) 555-0101", "GB")


def test_every_area_code_and_exchange_agrees() -> None:
    """Validity depends on area code and exchange: every one of them, in each shape."""
    raws = [f"({a:03d}) {e:03d}-0101" for a in range(1000) for e in (0, 155, 200, 555, 911, 999)]
    raws += [f"+1{a:03d}{a:03d}{a:04d}" for a in range(1000)]
    raws += [f"{a:03d}.{e:03d}.9999" for a in range(200, 1000, 7) for e in range(0, 1000, 13)]
    for raw in raws:
        assert normalise_number.__wrapped__(raw, "US") == _full_normalise(raw, "US"), raw


def test_nanp_valid_is_is_valid_number_in_every_region() -> None:
    """Every area code (Canada, the Caribbean, toll-free, premium...) with random exchanges."""
    rng = random.Random(5)
    for area in range(200, 1000):
        for _ in range(40):
            nsn = f"{area}{rng.randrange(1000):03d}{rng.randrange(10000):04d}"
            want = phonenumbers.is_valid_number(
                PhoneNumber(country_code=1, national_number=int(nsn))
            )
            assert nanp_valid(nsn) == want, nsn


@settings(max_examples=2000, deadline=None)
@given(st.integers(2_000_000_000, 9_999_999_999))
def test_nanp_valid_on_any_ten_digits(n: int) -> None:
    assert nanp_valid(str(n)) == phonenumbers.is_valid_number(
        PhoneNumber(country_code=1, national_number=n)
    )


@settings(max_examples=3000, deadline=None)
@given(st.text("0123456789", min_size=10, max_size=10))
def test_nanp_zones_equal_phonenumbers(digits: str) -> None:
    from campaigns.dialing import zones_by_phonenumbers, zones_of_number

    number = "+1" + digits
    assert zones_of_number.__wrapped__(number) == zones_by_phonenumbers(number)


def test_nanp_zones_of_every_area_code() -> None:
    from campaigns.dialing import zones_by_phonenumbers, zones_of_number

    rng = random.Random(16)
    for area in range(200, 1000):
        for _ in range(3):
            number = f"+1{area}{rng.randrange(10**7):07d}"
            assert zones_of_number.__wrapped__(number) == zones_by_phonenumbers(number), number
