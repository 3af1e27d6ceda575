"""Builders shared by the engine tests: a campaign definition and contacts in a few lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns.contacts import Alternate, Contact
from campaigns.models import CampaignDefinition, parse_definition
from campaigns.windows import from_datetime


def definition(**rules: Any) -> CampaignDefinition:
    base: dict[str, Any] = {
        "timezone": "UTC",
        "concurrent_calls": 2,
        "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "calling_window": {"start": "00:00", "end": "24:00"},
    }
    base.update(rules)
    base = {k: v for k, v in base.items() if v is not None}  # None: leave the field out
    return parse_definition(
        {
            "campaign_id": "c1",
            "account_id": "acme",
            "name": "Test",
            "agent": {"id": "bot", "prompt": "Hi {{name}}"},
            "source_number": "+15550100000",
            "rules": base,
        }
    )


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
