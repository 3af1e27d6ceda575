"""The dialer side of the voicemail policy (issue 23 item 1): the call's message comes in on
call.create and goes out to a webhook provider; the simulated dialer reports
`voicemail_left` when a machine answered and there was a message to leave; the webhook
adapter's outcome callback takes `voicemail_left` (a JSON boolean, else a clear error);
CallOutcome v4 carries it."""

from __future__ import annotations

from typing import Any

import pytest

from dialer.calls import Call, outcome_record
from dialer.simulator import SimulatorAdapter, SimulatorConfig
from dialer.webhook import outcome_from_json
from topics.codec import Codec

pytestmark = pytest.mark.unit

T0 = 1_796_133_600_000


def record(message: str | None) -> dict[str, Any]:
    return {
        "call_id": "c1/row-1/1",
        "campaign_id": "c1",
        "account_id": "acme",
        "contact_id": "row-1",
        "attempt": 1,
        "to": "+12125550101",
        "from": "+15550100000",
        "agent_id": "bot",
        "agent_prompt": "Hi",
        "variables": {},
        "created_at": T0,
        "deadline": T0 + 60_000,
        "voicemail_message": message,
    }


@pytest.mark.parametrize(
    ("status", "message", "left"),
    [
        ("voicemail", "Call us back", True),
        ("voicemail", None, False),  # the policy said hang up
        ("answered", "Call us back", False),  # a person answered: no message left
    ],
)
def test_the_simulator_leaves_the_message_only_on_a_machine(
    status: str, message: str | None, left: bool
) -> None:
    call = Call.from_record(record(message))
    assert call.voicemail_message == message
    assert call.to_json()["voicemail_message"] == message  # what a webhook provider gets
    sim = SimulatorAdapter(SimulatorConfig(shares={status: 1.0}, time_scale=0))
    outcome = sim.place_call_now(call)
    assert outcome is not None and outcome.status == status
    assert outcome.voicemail_left is left
    rec = outcome_record(call.call_id, "c1", "acme", "row-1", 1, outcome, T0, "sim")
    codec = Codec(None)
    assert codec.decode(codec.encode("CallOutcome", rec))[1]["voicemail_left"] is left


def test_the_webhook_callback_takes_voicemail_left() -> None:
    base = {"status": "voicemail", "ended_at": T0}
    assert outcome_from_json({**base, "voicemail_left": True}).voicemail_left is True
    assert outcome_from_json(base).voicemail_left is False
    assert outcome_from_json({**base, "voicemail_left": None}).voicemail_left is False
    with pytest.raises(ValueError, match="voicemail_left must be a JSON boolean"):
        outcome_from_json({**base, "voicemail_left": "yes"})
