"""The voicemail policy (issue 23 item 1): `rules.voicemail` is validated naming its field,
the engine puts the rendered message on call.create for the attempts the policy names,
the definition and the call travel through Avro unchanged, and a message variable no
column feeds is flagged in the create summary's mapping."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.engine import Engine
from campaigns.events import CallCreated, CallOutcome, Command, CommandKind
from campaigns.exceptions import DefinitionError
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.testing import definition
from tests.helpers import at, contact
from topics import translate
from topics.codec import Codec

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)
MESSAGE = "Hi {{name}}, call us back about {{plan}}."


def calls(voicemail: dict[str, Any] | None, max_retries: int = 2) -> list[CallCreated]:
    """One contact (name N1, no plan column) whose every attempt ends no_answer."""
    rules: dict[str, Any] = {"concurrent_calls": 1, "max_retries": max_retries}
    if max_retries:
        rules["retry_delay_minutes"] = 0
    if voicemail is not None:
        rules["voicemail"] = voicemail
    d = definition("c1", **rules)
    engine = Engine(MemoryStore(), StaticDirectory())
    create = Command("k0", CommandKind.create, definition=d, expected_contacts=1)
    start = Command("k1", CommandKind.start)
    out = engine.step_campaign("c1", START, contacts=[contact(1)], commands=[create, start])
    made = [e for e in out if isinstance(e, CallCreated)]
    now = START
    while made and len(made) < 1 + max_retries:
        now += 1_000_000
        out = engine.step_campaign("c1", now, outcomes=[CallOutcome(made[-1].call_id, "no_answer")])
        made += [e for e in out if isinstance(e, CallCreated)]
    return made


def test_by_default_every_attempt_hangs_up() -> None:
    assert [c.voicemail_message for c in calls(None)] == [None, None, None]


def test_leave_message_on_the_last_attempt_only_rendered_with_its_variables() -> None:
    made = calls({"action": "leave_message", "message": MESSAGE, "on": "last"})
    assert [c.attempt for c in made] == [1, 2, 3]
    # the contact has no `plan`: it renders empty
    assert [c.voicemail_message for c in made] == [None, None, "Hi N1, call us back about ."]


def test_leave_message_on_every_attempt() -> None:
    made = calls({"action": "leave_message", "message": "Hi {{name}}", "on": "every"})
    assert [c.voicemail_message for c in made] == ["Hi N1"] * 3


def test_without_retries_the_first_attempt_is_the_last() -> None:
    made = calls({"action": "leave_message", "message": "Hi {{name}}"}, max_retries=0)
    assert [c.voicemail_message for c in made] == ["Hi N1"]


@pytest.mark.parametrize(
    ("voicemail", "field"),
    [
        ({"action": "leave_message"}, "rules.voicemail.message"),
        ({"action": "leave_message", "message": "  "}, "rules.voicemail.message"),
        ({"action": "shout", "message": "x"}, "rules.voicemail.action"),
        ({"action": "leave_message", "message": "x", "on": "first"}, "rules.voicemail.on"),
        ({"action": "hang_up", "when": "now"}, "rules.voicemail.when"),
        ({"action": "leave_message", "message": "x" * 2001}, "rules.voicemail.message"),
    ],
)
def test_a_bad_policy_is_an_error_naming_its_field(voicemail: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError, match=field.replace(".", r"\.")):
        definition("c1", concurrent_calls=1, voicemail=voicemail)


def test_the_policy_and_the_message_travel_through_avro() -> None:
    codec = Codec(None)
    d = definition(
        "c1",
        concurrent_calls=1,
        voicemail={"action": "leave_message", "message": MESSAGE, "on": "every"},
    )
    rec = translate.command_to_record(
        "c1", Command("k0", CommandKind.create, definition=d, expected_contacts=1), START
    )
    _, back = codec.decode(codec.encode("CampaignCommand", {**rec, "account_id": "acme"}))
    again = translate.command_from_record(back)
    assert again.definition == d
    plain = definition("c1", concurrent_calls=1)
    assert translate.definition_to_record(plain)["rules"]["voicemail"] is None
    call = calls({"action": "leave_message", "message": MESSAGE}, max_retries=0)[0]
    _, created = codec.decode(codec.encode("CallCreate", translate.call_to_record(call)))
    assert created["voicemail_message"] == "Hi N1, call us back about ."


def test_message_variables_no_column_feeds_are_flagged() -> None:
    d = definition(
        "c1",
        concurrent_calls=1,
        voicemail={"action": "leave_message", "message": MESSAGE},
        variable_mapping={"plan_name": "plan"},
    )
    report = d.mapping_report(["name", "plan_name"])
    assert report.unfed_voicemail_variables == []
    assert report.unknown_targets == []  # `plan` is a message variable, not a stray target
    assert d.mapping_report(["name"]).unfed_voicemail_variables == ["plan"]
