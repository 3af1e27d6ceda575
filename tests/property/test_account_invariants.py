"""SPEC 8's promise about lines, on generated scenarios (the reference reading of sections 8
and 9 is another file's): no outbound call is created while `busy + free slots >= lines`."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.events import CallCreated, OutcomeRecorded
from campaigns.models import AccountSettings
from campaigns.simulate import CampaignRun, Driver, ScriptedCall, SimDialer, Simulation
from campaigns.windows import US
from tests.property.test_engine_invariants import scenarios

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_account(sim: Simulation, lines: int | None = None) -> Driver:
    run = CampaignRun(sim.definition, sim.contacts, [], sim.commands, sim.dialer)
    return Driver(
        sim.definition.account_id,
        [run],
        sim.start_us,
        dnc=sim.dnc,
        until_us=sim.start_us + 30 * 86_400 * US,
        settings=AccountSettings(account_id=sim.definition.account_id, lines=lines),
    )


@SETTINGS
@given(scenarios(), st.integers(1, 3), st.data())
def test_outbound_never_created_on_a_full_account(sim: Simulation, lines: int, data: Any) -> None:
    copy = CampaignRun(
        sim.definition.model_copy(update={"campaign_id": "prop2"}),
        list(sim.contacts),
        [],
        None,
        SimDialer(
            script={},
            default=ScriptedCall(data.draw(st.sampled_from(["answered", "busy"])), 90 * US),
        ),
    )
    driver = as_account(sim, lines)
    driver.runs.append(copy)
    busy = 0
    for ev in driver.events():
        if isinstance(ev, CallCreated):
            free = sim.definition.rules.inbound_free_slots
            assert busy + free < lines, "a call created with no line left"
            busy += 1
        elif isinstance(ev, OutcomeRecorded) and ev.applied:
            busy -= 1
    assert busy >= 0
