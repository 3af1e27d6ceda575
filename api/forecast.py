"""A forecast before (or during) launch: the engine's own `simulate` on a definition and contacts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from campaigns.contacts import Contact
from campaigns.models import CampaignDefinition
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from campaigns.windows import US, from_datetime

DEFAULT_MODEL = "answered=0.3,no_answer=0.5,busy=0.2"
HORIZON_US = 366 * 86_400 * US  # a campaign whose windows never open stops being simulated


def forecast(
    definition: CampaignDefinition,
    contacts: Iterable[Contact],
    model: list[tuple[str, float]],
    seed: int,
    start: datetime | None = None,
    call_seconds: int = 30,
) -> dict[str, Any]:
    """simulate's summary line for the campaign started at `start` (now by default)."""
    start_us = from_datetime(start or datetime.now(UTC))
    sim = Simulation(
        definition=definition,
        contacts=list(contacts),
        rejections=[],
        start_us=start_us,
        dialer=SimDialer(
            default=ScriptedCall("no_answer", call_seconds * US), model=model, seed=seed
        ),
        until_us=start_us + HORIZON_US,
    )
    for _ in sim.events():
        pass
    summary = sim.summary()
    return {
        "finished_at": summary["finished_at"],
        "status": summary["status"],
        "contacts": summary["contacts"],
        "calls": summary["calls"],
    }
