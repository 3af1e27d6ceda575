"""A number's time zones, as phonenumbers answers them, asked once per prefix rather than per number.

`phonenumbers.timezone.time_zones_for_number` costs about 20 us, most of it finding the
number's type (its region's regexes) before a longest-prefix lookup of at most
`TIMEZONE_LONGEST_PREFIX` digits. Every pattern the answer goes through (parsing an
E.164 string, the region and type regexes, the zone lookup) reads a leading part of the
number and its length; many patterns end in `\\d{k}`, digits they never look at. So two
numbers of the same length that differ only in the last `free` digits, `free` no larger
than every such `k` of their calling code, get the same answer: it is worked out once, by
the library, for the prefix followed by zeros. What `free` is comes from the library's
own metadata (its patterns, read with the `re` module's parser); nothing of its zone data
or its type rules is copied here.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber
from phonenumbers import timezone as number_zones
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

# The regex parser behind `re` (public as `sre_parse` until 3.11, deprecated since).
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

# Every number description phonenumbers matches a national number against.
_DESCS = (
    "general_desc",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_ANY_DIGIT = ([(_c.CATEGORY, _c.CATEGORY_DIGIT)], [(_c.RANGE, (48, 57))])
_NO_CUT = (0, 1 << 30)


def library_zones(number: str) -> tuple[str, ...]:
    """Every IANA zone phonenumbers gives the number (E.164); empty when unknown.

    A +1 number's PhoneNumber is built from its ten digits rather than parsed from text
    again: the library's own number-type and prefix lookup still decide, at a third of
    the cost.
    """
    if len(number) == 12 and number.startswith("+1") and number[2:].isdigit():
        parsed = PhoneNumber(country_code=1, national_number=int(number[2:]))
    else:
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            return ()
    zones = number_zones.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != number_zones.UNKNOWN_TIMEZONE)


def zones_of_number(number: str) -> tuple[str, ...]:
    """`library_zones(number)`, worked out once for every number sharing its prefix.

    Not cached per number: finding the prefix costs less than a lookup in a cache of a
    million numbers (120 MB at 1M contacts, and a miss in memory on most lookups).
    """
    if number[:1] == "+" and number[1:].isdigit():
        free = _free_digits(number[:4], len(number))
        # Unless the kept digits end in six zeros (a run of leading zeros could reach on
        # into the free digits), the answer is the prefix's.
        if free and number[-free - 6 : -free] != "000000":
            return _zones_of_prefix(number[:-free], free)
    return _zones_of_whole(number)


@lru_cache(maxsize=1 << 20)
def _zones_of_whole(number: str) -> tuple[str, ...]:
    return library_zones(number)


@lru_cache(maxsize=1 << 20)
def _zones_of_prefix(prefix: str, free: int) -> tuple[str, ...]:
    return library_zones(prefix + "0" * free)


@lru_cache(maxsize=4096)
def _free_digits(head: str, length: int) -> int:
    """How many last digits of an all-digit E.164 number starting `head` (+ and 3 digits)
    of `length` characters the library's answer cannot depend on."""
    for size in (1, 2, 3):
        code = head[1 : 1 + size]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            tail, lead = _shape(int(code))
            digits = length - 1
            # Kept: the zone data's longest prefix, and what the leading-digit and
            # national-prefix patterns read after the country code.
            kept = max(TIMEZONE_LONGEST_PREFIX, size + lead)
            return max(0, min(tail, digits - kept))
    return 0


@cache
def _shape(country_code: int) -> tuple[int, int]:
    """(digits every pattern of the calling code leaves free at the end, the most leading
    digits a prefix pattern of it reads)."""
    tail, lead = _NO_CUT[1], 0
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]:
        meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if meta is None:
            return _NO_CUT
        for pattern in _patterns(getattr(meta, d) for d in _DESCS):
            tail = min(tail, _free_tail(pattern))
        for prefix in (meta.leading_digits, meta.national_prefix_for_parsing):
            if prefix:
                lead = max(lead, _reach(prefix))
    if tail == 0 or lead >= _c.MAXREPEAT:
        return _NO_CUT
    return tail, lead


def _reads_ahead(pattern: str) -> bool:
    """A lookaround reads characters its width does not count (none in today's metadata)."""
    return any(x in pattern for x in ("(?=", "(?!", "(?<"))


def _reach(prefix: str) -> int:
    """The most characters a pattern matched at the start of a number reads."""
    if _reads_ahead(prefix):
        return int(_c.MAXREPEAT)
    return int(_parser.parse(prefix).getwidth()[1])


def _patterns(descs: Iterable[Any]) -> Iterator[str]:
    for desc in descs:
        if desc is not None and desc.national_number_pattern:
            yield desc.national_number_pattern


def _free_tail(pattern: str) -> int:
    """How many characters at the end of any full match of the pattern are a bare digit
    class (`\\d`, `[0-9]`), whatever precedes them: characters it never tests."""
    if _reads_ahead(pattern):
        return 0
    free, _ = _tail_of(list(_parser.parse(pattern)))
    return free


def _tail_of(items: list[Any]) -> tuple[int, bool]:
    """(free digits at the end of this sequence, whether the whole of it is such digits)."""
    free = 0
    for op, av in reversed(items):
        if op is _c.IN and av in _ANY_DIGIT:
            free += 1
            continue
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            low, high, sub = av
            inner = list(sub)
            if len(inner) == 1 and inner[0][0] is _c.IN and inner[0][1] in _ANY_DIGIT:
                free += low
                if low == high:
                    continue
            return free, False
        if op is _c.SUBPATTERN:
            more, whole = _tail_of(list(av[3]))
            free += more
            if whole:
                continue
            return free, False
        if op is _c.BRANCH:
            return free + min(_tail_of(list(b))[0] for b in av[1]), False
        return free, False
    return free, True
