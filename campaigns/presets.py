"""Legal presets of SPEC section 7: which destinations each names, and what it requires.

A preset restricts only the numbers it names (by country code, and for `us_tcpa` by
area code); the campaign's own rules still apply to every number. The lists below are
SPEC's, verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from campaigns.blackouts import closed
from campaigns.models import Preset
from campaigns.windows import OpenHours, Span, hours

HOUR_US = timedelta(hours=1) // timedelta(microseconds=1)

# us_tcpa: area codes with state rules stricter than the federal 08:00-21:00.
FLORIDA = frozenset(
    [
        "239",
        "305",
        "321",
        "324",
        "352",
        "386",
        "407",
        "448",
        "561",
        "645",
        "656",
        "689",
        "727",
        "728",
        "754",
        "772",
        "786",
        "813",
        "850",
        "863",
        "904",
        "941",
        "954",
    ]
)
OKLAHOMA = frozenset(["405", "539", "572", "580", "918"])
MARYLAND = frozenset(["227", "240", "301", "410", "443", "667"])
US_STRICT_AREAS = FLORIDA | OKLAHOMA | MARYLAND
US_HOURS: tuple[Span, ...] = ((8 * 60, 21 * 60),)
US_STRICT_HOURS: tuple[Span, ...] = ((8 * 60, 20 * 60),)
US_STRICT_MAX_CALLS = 3
US_STRICT_PERIOD_US = 24 * HOUR_US

# fr_2022_1313 (décret n° 2022-1313): weekdays 10-13 and 14-20, Paris time, no holidays.
FR_ZONE = "Europe/Paris"
FR_HOURS: tuple[Span, ...] = ((10 * 60, 13 * 60), (14 * 60, 20 * 60))
FR_MAX_CALLS = 4
FR_PERIOD_US = 720 * HOUR_US


@dataclass(frozen=True, slots=True)
class NumberLimit:
    """At most `max_calls` calls to one destination number in any rolling `period_us`."""

    max_calls: int
    period_us: int


@dataclass(frozen=True, slots=True)
class PresetRule:
    """What one preset requires of a call to one destination."""

    preset: Preset
    local_hours: tuple[Span, ...]  # in each of the contact's zones (empty: no such rule)
    fixed: OpenHours | None  # a window in a fixed zone (fr_2022_1313), else None
    limit: NumberLimit | None

    @property
    def reason(self) -> str:
        return f"preset:{self.preset.value}"


_US = PresetRule(Preset.us_tcpa, US_HOURS, None, None)
_US_STRICT = PresetRule(
    Preset.us_tcpa, US_STRICT_HOURS, None, NumberLimit(US_STRICT_MAX_CALLS, US_STRICT_PERIOD_US)
)


def _fr_rule() -> PresetRule:
    week = tuple(FR_HOURS if day < 5 else () for day in range(7))
    return PresetRule(
        Preset.fr_2022_1313,
        (),
        hours(FR_ZONE, week, closed((), (("FR", None),))),
        NumberLimit(FR_MAX_CALLS, FR_PERIOD_US),
    )


_FR = _fr_rule()


US_TCPA = Preset.us_tcpa.value
FR_2022_1313 = Preset.fr_2022_1313.value


# A preset tells numbers apart by their first characters only (country code, US area code):
# `rule_for` of a number is that of its first RULE_PREFIX_CHARS characters.
RULE_PREFIX_CHARS = 5


def rule_for(preset: str, number: str) -> PresetRule | None:
    """The preset's rule (by name) for a call to `number` (E.164), or None if it does not name
    it; it reads no more than the number's first RULE_PREFIX_CHARS characters."""
    if preset == US_TCPA:
        if not number.startswith("+1"):
            return None
        return _US_STRICT if number[2:5] in US_STRICT_AREAS else _US
    if preset == FR_2022_1313 and number.startswith("+33"):
        return _FR
    return None


def limits_of(presets: tuple[str, ...]) -> tuple[NumberLimit, ...]:
    """Every number limit the presets (by name) may impose (to size what the engine keeps)."""
    out: list[NumberLimit] = []
    if US_TCPA in presets:
        out.append(NumberLimit(US_STRICT_MAX_CALLS, US_STRICT_PERIOD_US))
    if FR_2022_1313 in presets:
        out.append(NumberLimit(FR_MAX_CALLS, FR_PERIOD_US))
    return tuple(out)
