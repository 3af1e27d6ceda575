"""Dates with no calls (SPEC section 7): `blackout_dates` and public holidays.

Holidays come from the `holidays` package (pinned in pyproject: a release can move a
date), never from tables written here. A calendar is looked up once per year.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import holidays as holiday_data


@lru_cache(maxsize=1)
def _countries() -> dict[str, list[str]]:
    return dict(holiday_data.list_supported_countries())


def check_country(code: str) -> str:
    """An ISO 3166 alpha-2 code the `holidays` package knows, upper-cased; else ValueError."""
    if not isinstance(code, str) or code.upper() not in _countries():
        raise ValueError(
            f"unknown holiday country {code!r}: not an ISO 3166 alpha-2 code the holidays "
            f"package {holiday_data.__version__} knows (e.g. US, FR, GB)"
        )
    return code.upper()


def check_subdivision(country: str, subdivision: str) -> str:
    known = _countries().get(country.upper(), [])
    if subdivision not in known:
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise ValueError(
            f"unknown subdivision {subdivision!r} of {country}"
            + (f"; known: {shown}" if known else f"; {country} has no subdivisions")
        )
    return subdivision


@lru_cache(maxsize=1024)
def holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holidays of one year, observed days included, as the package lists them."""
    found = holiday_data.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(found.keys())


@dataclass(frozen=True, slots=True)
class Closed:
    """Dates (in one zone's calendar) on which no call may be placed."""

    dates: frozenset[date] = frozenset()
    calendars: tuple[tuple[str, str | None], ...] = ()  # (country, subdivision)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day in self.dates:
            return True
        return any(day in holiday_dates(c, s, day.year) for c, s in self.calendars)

    def __bool__(self) -> bool:
        return bool(self.dates or self.calendars)


def closed(dates: Iterable[date], calendars: Iterable[tuple[str, str | None]] = ()) -> Closed:
    return Closed(frozenset(dates), tuple(calendars))
