"""Builders shared by the engine tests: a campaign definition and contacts in a few lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns import testing
from campaigns.contacts import Alternate, Contact
from campaigns.models import CampaignDefinition
from campaigns.windows import from_datetime


def definition(**rules: Any) -> CampaignDefinition:
    """Campaign c1, always open, two lines (a rule given as None is left out)."""
    return testing.definition("c1", **{"concurrent_calls": 2, **rules})


def contact(n: int, alternates: list[str] | None = None, **variables: str) -> Contact:
    return Contact(
        contact_id=f"row-{n}",
        row=n,
        phone_number=f"+1212555{n:04d}",
        alternates=[Alternate(i + 2, a) for i, a in enumerate(alternates or [])],
        variables=variables or {"name": f"N{n}"},
    )


def at(*args: int) -> int:
    """Epoch microseconds of a UTC wall-clock time."""
    return from_datetime(datetime(*args, tzinfo=UTC))  # type: ignore[misc]
