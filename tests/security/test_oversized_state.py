"""A campaign whose state no message can carry is refused, never written (issue 21, item 2).

Before: a create command with 60,000 `attempt_limits` (Avro: 660 kB, under the message
limit) was taken; the worker then failed with MessageTooLarge writing the definition's
state row (3 MB of JSON) to its changelog, restarted, failed again: every campaign of the
partition stopped. Now such input is refused in the step that would create the state:
a dead letter and `command.rejected`, and the other campaigns of the batch go on.
"""

from __future__ import annotations

from typing import Any

from campaigns import testing
from campaigns.contacts import Contact
from campaigns.engine import CONTACT_BATCH, Engine
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from campaigns.store import StaticDirectory
from streams.shell import SAFE_BATCH_BYTES, Incoming, Outbound, Shell
from streams.tablestore import TableStore
from tests.unit.test_stream_commit import Rocks
from topics import catalogue, translate
from topics.codec import Codec

CODEC = Codec(None)
PREFIX = "sec."
NOW_US = 1_796_000_000_000_000
# 1,000 mapping entries of 200 control characters each side: 400 kB of Avro (under the
# message limit) but 2.4 MB as the worker's JSON state row (each one written \u00XX).
CONTROL_MAPPING = {f"{i:03d}" + "\x01" * 197: f"{i:03d}" + "\x02" * 197 for i in range(1_000)}


def _shell() -> tuple[Shell, TableStore]:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    shell = Shell(
        Engine(store, StaticDirectory()), store, CODEC, clock=lambda: NOW_US, prefix=PREFIX
    )
    return shell, store


def _topic(logical: str) -> str:
    return catalogue.topic_name(logical, PREFIX)


def _create(d: CampaignDefinition, offset: int, expected: int = 1) -> Incoming:
    command = Command(
        f"create-{d.campaign_id}",
        CommandKind.create,
        definition=d,
        expected_contacts=expected,
        account_id=d.account_id,
    )
    value = CODEC.encode(
        "CampaignCommand", translate.command_to_record(d.campaign_id, command, NOW_US)
    )
    assert len(value) < catalogue.MAX_MESSAGE_BYTES
    return Incoming(_topic(catalogue.COMMANDS), 0, offset, d.campaign_id.encode(), value)


def _batch(campaign_id: str, contacts: list[Contact], offset: int) -> Incoming:
    record = translate.batch_to_record(campaign_id, "b1", contacts, NOW_US, "acme")
    value = CODEC.encode("ContactBatch", record)
    assert len(value) < catalogue.MAX_MESSAGE_BYTES
    return Incoming(_topic(catalogue.CONTACTS), 0, offset, campaign_id.encode(), value)


def _decoded(out: list[Outbound]) -> list[tuple[str, dict[str, Any]]]:
    return [CODEC.decode(o.value) for o in out]


def _rejections(out: list[Outbound]) -> list[dict[str, Any]]:
    return [
        {**r["body"][1], "campaign_id": r["campaign_id"]}
        for name, r in _decoded(out)
        if name == "CampaignEvent" and r["body"][0].endswith("CommandRejected")
    ]


def _letters(out: list[Outbound]) -> list[dict[str, Any]]:
    return [r for name, r in _decoded(out) if name == "DeadLetter"]


def test_a_create_whose_definition_row_is_over_the_limit_is_refused_not_stored() -> None:
    shell, store = _shell()
    big = testing.definition("big", variable_mapping=CONTROL_MAPPING, concurrent_calls=2)
    assert len(translate.definition_row(big)) > catalogue.VALUE_MAX_BYTES
    small = testing.definition("small", concurrent_calls=2)
    contact = Contact("c1", 1, "+12025550101", [], {"name": "A"})
    out = shell.handle([_create(big, 7), _create(small, 8), _batch("small", [contact], 9)])

    rejected = _rejections(out)
    assert [(r["campaign_id"], r["command_id"], r["command"]) for r in rejected] == [
        ("big", "create-big", "create")
    ]
    assert "definition row" in rejected[0]["reason"]
    assert [letter["offset"] for letter in _letters(out)] == [7]
    assert store.get_campaign("big") is None and store.get_definition("big") is None
    # The other campaign of the same batch was created and took its contact.
    camp = store.get_campaign("small")
    assert camp is not None and camp.arrived == 1
    run = store.seal()  # what reaches the changelog: every value fits a message
    assert all(
        len(k) + len(v or b"") <= catalogue.VALUE_MAX_BYTES
        for writes in run.writes.values()
        for k, v in writes.items()
    )
    assert not [k for w in run.writes.values() for k in w if k[1:].startswith(b"big")]


def test_a_batch_whose_contact_row_is_over_the_limit_is_refused() -> None:
    shell, store = _shell()
    d = testing.definition("wide", concurrent_calls=2)
    shell.handle([_create(d, 1, expected=2)])
    store.seal()  # the agent seals each batch's changes once it is handled
    wide = Contact("c1", 1, "+12025550101", [], {"note": "\x03" * 300_000})
    batch = _batch("wide", [wide], 2)
    assert len(batch.value or b"") > SAFE_BATCH_BYTES
    out = shell.handle([batch])
    rejected = _rejections(out)
    assert [(r["command_id"], r["command"]) for r in rejected] == [("b1", CONTACT_BATCH)]
    assert "contact row" in rejected[0]["reason"]
    assert [letter["offset"] for letter in _letters(out)] == [2]
    camp = store.get_campaign("wide")
    assert camp is not None and camp.arrived == 0
    # A normal batch of the same campaign is taken afterwards.
    store.seal()
    shell.handle([_batch("wide", [Contact("c2", 2, "+12025550102", [], {"note": "x"})], 3)])
    camp = store.get_campaign("wide")
    assert camp is not None and camp.arrived == 1


def test_a_create_past_the_definition_bounds_is_parked_and_answered() -> None:
    """Straight on the topic (no API, no CLI): 40,000 attempt limits (a record under the
    message limit) decode, then fail the model's bound; the sender hears `command.rejected`
    naming the field."""
    shell, store = _shell()
    d = testing.definition("limits", concurrent_calls=2)
    command = Command("create-limits", CommandKind.create, definition=d, expected_contacts=1)
    record = translate.command_to_record("limits", command, NOW_US)
    record["account_id"] = "acme"
    limit = {"scope": "number", "max_calls": 3, "period_hours": 24.0}
    body = record["command"][1] if isinstance(record["command"], tuple) else record["command"]
    body["definition"]["rules"]["attempt_limits"] = [limit] * 40_000
    value = CODEC.encode("CampaignCommand", record)
    assert len(value) < catalogue.MAX_MESSAGE_BYTES
    out = shell.handle([Incoming(_topic(catalogue.COMMANDS), 0, 5, b"limits", value)])
    rejected = _rejections(out)
    assert [(r["command_id"], r["command"]) for r in rejected] == [("create-limits", "create")]
    assert "rules.attempt_limits: List should have at most 20 items" in rejected[0]["reason"]
    assert "input_value" not in rejected[0]["reason"]  # the rule, not the values
    assert [letter["offset"] for letter in _letters(out)] == [5]
    assert store.get_campaign("limits") is None
