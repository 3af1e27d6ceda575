"""Property (issue 23 item 1): on every generated run, the message is on exactly the
attempts the policy names (every attempt, or from attempt 1 + max_retries on), rendered
from that attempt's variables, and nowhere with hang_up. `simulate` and the worker run
this same engine step, so both put the same message on the same calls."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.engine import Engine
from campaigns.events import CallCreated, CallOutcome, Command, CommandKind
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.testing import definition
from tests.helpers import at, contact

pytestmark = pytest.mark.property

START = at(2026, 12, 1, 14, 0)
RETRYABLE = ["no_answer", "busy", "voicemail", "failed", "timeout"]


def run(voicemail: dict[str, Any], max_retries: int, statuses: list[str], n: int) -> list[Any]:
    rules: dict[str, Any] = {
        "concurrent_calls": 2,
        "max_retries": max_retries,
        "retry_delay_minutes": 0,
        "voicemail": voicemail,
    }
    engine = Engine(MemoryStore(), StaticDirectory())
    create = Command("k0", CommandKind.create, definition(**rules), expected_contacts=n)
    out = engine.step_campaign(
        "c1",
        START,
        contacts=[contact(i + 1) for i in range(n)],
        commands=[create, Command("k1", CommandKind.start)],
    )
    made: list[CallCreated] = []
    now, i = START, 0
    while True:
        new = [e for e in out if isinstance(e, CallCreated)]
        made += new
        if not new:
            return made
        now += 1_000_000
        outcomes = [
            CallOutcome(c.call_id, statuses[(i + k) % len(statuses)]) for k, c in enumerate(new)
        ]
        i += len(new)
        out = engine.step_campaign("c1", now, outcomes=outcomes)


@settings(max_examples=60, deadline=None)
@given(
    action=st.sampled_from(["hang_up", "leave_message"]),
    on=st.sampled_from(["every", "last"]),
    max_retries=st.integers(0, 3),
    statuses=st.lists(st.sampled_from(RETRYABLE + ["answered", "invalid_number"]), min_size=1),
    n=st.integers(1, 4),
)
def test_the_message_is_on_the_attempts_the_policy_names(
    action: str, on: str, max_retries: int, statuses: list[str], n: int
) -> None:
    voicemail = {"action": action, "message": "Hi {{name}} {{nothing}}!", "on": on}
    made = run(voicemail, max_retries, statuses, n)
    assert made
    for call in made:
        named = action == "leave_message" and (on == "every" or call.attempt >= 1 + max_retries)
        expected = f"Hi {call.variables['name']} !" if named else None
        assert call.voicemail_message == expected, (call.call_id, voicemail)
