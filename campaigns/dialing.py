"""Composing one call: destination, caller ID, variables, and the contact's local zones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as number_zones
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from campaigns.contacts import Alternate, Contact
from campaigns.models import CampaignDefinition
from campaigns.store import Directory
from campaigns.strategies import caller_id, destination_index


@dataclass(slots=True)
class Dial:
    to: str
    alternate: Alternate | None


class CallPlan:
    """What every call of a campaign shares, worked out once, not once per call."""

    __slots__ = ("definition", "account_id", "agent_id", "max_call_us", "_caller_ids")

    def __init__(self, definition: CampaignDefinition) -> None:
        self.definition = definition
        self.account_id = definition.account_id
        self.agent_id = definition.agent.id
        self.max_call_us = definition.rules.max_call_us
        self._caller_ids: dict[int, str] = {}

    def caller_id(self, attempt: int) -> str:
        found = self._caller_ids.get(attempt)
        if found is None:
            found = self._caller_ids[attempt] = choose_caller_id(self.definition, attempt)
        return found


def choose_destination(
    definition: CampaignDefinition, contact: Contact, attempt: int, directory: Directory
) -> Dial:
    """SPEC section 3, after leaving out alternates that are on the do-not-call list."""
    if attempt == 1 or not contact.alternates:
        return Dial(contact.phone_number, None)
    is_blocked = directory.is_blocked
    alternates = [a for a in contact.alternates if not is_blocked(a.phone_number)]
    idx = destination_index(definition.rules.alternate_strategy, len(alternates), attempt)
    if idx is None:
        return Dial(contact.phone_number, None)
    alt = alternates[idx]
    return Dial(alt.phone_number, alt)


def choose_caller_id(definition: CampaignDefinition, attempt: int) -> str:
    ids = definition.rules.caller_ids
    if ids is None:
        return definition.source_number
    return caller_id(ids.strategy, ids.numbers, attempt, definition.source_number)


def call_variables(
    definition: CampaignDefinition, contact: Contact, alternate: Alternate | None
) -> dict[str, str]:
    """The row's variable columns, overridden for an alternate, renamed by the mapping."""
    mapping = definition.variable_mapping
    values = contact.variables
    if alternate is not None and alternate.variables:
        values = values | alternate.variables
    if not mapping:
        return dict(values)
    get = mapping.get
    return {get(k, k): v for k, v in values.items()}


_TYPE_DESCS_NON_GEO = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _ten_digit(desc: object) -> re.Pattern[str] | None:
    """phonenumbers' match of one number description, for a ten-digit number (None: never)."""
    pattern = getattr(desc, "national_number_pattern", None)
    lengths = getattr(desc, "possible_length", None) or ()
    if desc is None or not pattern or (lengths and 10 not in lengths):
        return None
    return re.compile(str(pattern))


def _any_of(patterns: list[re.Pattern[str] | None]) -> re.Pattern[str] | None:
    found = [p.pattern for p in patterns if p is not None]
    return re.compile("|".join(f"(?:{p})" for p in found)) if found else None


@dataclass(frozen=True, slots=True)
class _NanpTypes:
    """One country-code-1 region's number types, as phonenumbers' number_type reads them."""

    leading: re.Pattern[str] | None
    general: re.Pattern[str] | None
    non_geo: re.Pattern[str] | None  # premium, toll-free, ... voicemail: tried first
    fixed: re.Pattern[str] | None
    mobile: re.Pattern[str] | None
    same_fixed_mobile: bool

    def kind(self, nsn: str) -> str:
        """'geo' (fixed line), 'country' (a non-geographic type or mobile), or 'unknown'."""
        if self.general is None or not self.general.fullmatch(nsn):
            return "unknown"
        if self.non_geo is not None and self.non_geo.fullmatch(nsn):
            return "country"
        if self.fixed is not None and self.fixed.fullmatch(nsn):
            return "geo"
        if not self.same_fixed_mobile and self.mobile is not None and self.mobile.fullmatch(nsn):
            return "country"  # mobile is not geographic for country code 1
        return "unknown"


@lru_cache(maxsize=1)
def _nanp_types() -> tuple[_NanpTypes, ...]:
    from phonenumbers.phonemetadata import PhoneMetadata

    out = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        m = PhoneMetadata.metadata_for_region(code.upper(), None)
        if m is None:
            continue
        out.append(
            _NanpTypes(
                re.compile(m.leading_digits) if m.leading_digits else None,
                _ten_digit(m.general_desc),
                _any_of([_ten_digit(getattr(m, k)) for k in _TYPE_DESCS_NON_GEO]),
                _ten_digit(m.fixed_line),
                _ten_digit(m.mobile),
                bool(m.same_mobile_and_fixed_line_pattern),
            )
        )
    return tuple(out)


_NANP_E164 = re.compile(r"\+1[2-9]\d{9}")


def _nanp_zones(number: str) -> tuple[str, ...]:
    """phonenumbers' time_zones_for_number for +1 and ten digits, without parsing.

    The same steps on the same metadata: the region is the first (in phonenumbers'
    order) whose leading digits the number starts with, or whose types it matches; a
    fixed-line number is looked up by its longest listed prefix, any other type gets
    the country's zones. tests/property/test_contacts_numbers.py checks it.
    """
    nsn = number[2:]
    kind = "unknown"
    for region in _nanp_types():
        if region.leading is not None:
            if region.leading.match(nsn):
                kind = region.kind(nsn)
                break
        else:
            kind = region.kind(nsn)
            if kind != "unknown":
                break
    if kind == "unknown":
        return ()
    digits = number[1:] if kind == "geo" else "1"
    for length in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        found = TIMEZONE_DATA.get(digits[:length])
        if found is not None:
            return tuple(z for z in found if z != "Etc/Unknown")
    return ()


@lru_cache(maxsize=1 << 16)
def zones_of_number(number: str) -> tuple[str, ...]:
    """Every IANA zone a number may be in; empty when unknown."""
    if _NANP_E164.fullmatch(number):
        return _nanp_zones(number)
    return zones_by_phonenumbers(number)


def zones_by_phonenumbers(number: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = number_zones.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != "Etc/Unknown")


def contact_zones(definition: CampaignDefinition, contact: Contact, to: str) -> tuple[str, ...]:
    """The contact's zone for the local-time rule: CSV zone, else the number's, else the campaign's."""
    if contact.timezone:
        return (contact.timezone,)
    return zones_of_number(to) or (definition.rules.timezone,)
