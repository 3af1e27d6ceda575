"""A number's zones, asked once per prefix, are exactly what phonenumbers answers per number."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as number_zones

from campaigns import numberzones
from campaigns.numberzones import zones_of_number

pytestmark = pytest.mark.unit

TYPES = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
)
REGIONS = [
    "US",
    "CA",
    "PR",
    "JM",
    "DO",
    "GB",
    "FR",
    "DE",
    "RU",
    "KZ",
    "AU",
    "BR",
    "MX",
    "MN",
    "IN",
    "CN",
    "ID",
    "AR",
    "IT",
    "CD",
    "GL",
    "ES",
    "NZ",
    "CL",
]


def library(number: str) -> tuple[str, ...]:
    """The library's own answer for the number, parsed from scratch."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in number_zones.time_zones_for_number(parsed) if z != "Etc/Unknown")


def spread() -> list[str]:
    """Every example number of these regions' types, each with its last 1-4 digits varied."""
    rnd = random.Random(26)
    out = []
    for region in REGIONS:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            for _ in range(25):
                k = rnd.randint(1, 4)
                out.append(e164[:-k] + "".join(rnd.choice("0123456789") for _ in range(k)))
    # Area codes whose numbers may be in more than one zone, and a shared prefix's neighbours.
    out += [f"+1208{x}" for x in ("2000000", "2000001", "2000099", "5550123", "7331234")]
    out += [f"+1605{x}" for x in ("2000000", "2000042", "3349876")]
    out += [f"+1212200{x:04d}" for x in range(0, 10000, 37)]
    out += [f"+1212100{x:04d}" for x in range(0, 10000, 97)]  # exchange 1xx: not valid
    return out


def test_the_cached_answer_is_the_librarys_for_a_spread_of_numbers() -> None:
    numbers = spread()
    assert len(numbers) > 2000
    for number in numbers:
        assert zones_of_number(number) == library(number), number
    # What the spread covers: several zones for one number, and unknown numbers.
    answers = {zones_of_number(n) for n in numbers}
    assert any(len(a) > 1 for a in answers)
    assert () in answers
    assert len(answers) > 30


def test_numbers_sharing_a_prefix_are_asked_once() -> None:
    numberzones._zones_of_prefix.cache_clear()
    first = zones_of_number("+12122001234")
    before = numberzones._zones_of_prefix.cache_info()
    assert zones_of_number("+12122001299") == first == library("+12122001299")
    after = numberzones._zones_of_prefix.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert first == ("America/New_York",)


def test_a_number_the_patterns_read_to_the_end_is_asked_whole() -> None:
    # Numbers not in E.164 digits, and calling codes whose patterns read every digit.
    for number in ("+1 212 200 1234", "+12122001234x", "+442079460000", "+999123456789"):
        assert zones_of_number(number) == library(number)
    assert numberzones._free_digits("+999", 13) == 0  # no such calling code
    assert numberzones._shape(44) == (0, 1 << 30)  # a GB pattern ends in a tested digit


@pytest.mark.parametrize(
    ("pattern", "free"),
    [
        (r"[2-9]\d{6}", 6),
        (r"(?:2[1-9]|3[0-5])\d{7}|4\d{6}", 6),
        (r"1\d{6}|2\d{2}", 2),
        (r"(?:1|2\d)\d{3}", 3),
        (r"1(?:2\d|[0-9]{2})\d", 2),
        (r"1\d{2,3}", 2),
        (r"(?:12)?\d{3}", 3),
        (r"\d{4}5", 0),
        (r"1\d(?=2)\d", 0),
    ],
)
def test_free_tail_counts_only_digits_no_pattern_tests(pattern: str, free: int) -> None:
    assert numberzones._free_tail(pattern) == free
