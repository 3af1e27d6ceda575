"""The pre-dial check's definition (issue 23 item 2): `predial` is validated naming its
field (https only, http only to loopback), the engine copies it onto every call.create,
and it travels through Avro on the definition and on the call."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.engine import Engine
from campaigns.events import CallCreated, Command, CommandKind
from campaigns.exceptions import DefinitionError
from campaigns.models import CampaignDefinition, parse_definition
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.testing import definition_record
from dialer.calls import Call
from tests.helpers import at, contact
from topics import translate
from topics.codec import Codec

pytestmark = pytest.mark.unit

START = at(2026, 12, 1, 14, 0)
CHECK = {"url": "https://checks.example.com/predial", "timeout_ms": 500, "on_error": "dial"}


def with_predial(predial: Any) -> CampaignDefinition:
    record = definition_record("c1", concurrent_calls=2)
    if predial is not None:
        record["predial"] = predial
    return parse_definition(record)


@pytest.mark.parametrize(
    ("predial", "field", "says"),
    [
        ({"url": "http://checks.example.com/p"}, "predial.url", "https"),
        ({"url": "ftp://checks.example.com/p"}, "predial.url", "https"),
        ({"url": "https:///nohost"}, "predial.url", "host"),
        ({"url": "https://u:p@checks.example.com/p"}, "predial.url", "password"),
        ({"url": "https://x.example.com", "timeout_ms": 99}, "predial.timeout_ms", "100"),
        ({"url": "https://x.example.com", "timeout_ms": 10_001}, "predial.timeout_ms", "10000"),
        ({"url": "https://x.example.com", "on_error": "retry"}, "predial.on_error", "skip"),
        ({"timeout_ms": 500}, "predial.url", "required"),
        ({"url": "https://x.example.com", "retries": 2}, "predial.retries", "not permitted"),
    ],
)
def test_a_bad_check_is_an_error_naming_its_field(predial: Any, field: str, says: str) -> None:
    with pytest.raises(DefinitionError, match=field.replace(".", r"\.")) as err:
        with_predial(predial)
    assert says in str(err.value)


def test_defaults_and_loopback_http() -> None:
    p = with_predial({"url": "http://127.0.0.1:8080/check"}).predial
    assert p is not None and (p.timeout_ms, p.on_error.value) == (2000, "skip")
    assert with_predial({"url": "http://localhost/c"}).predial is not None
    assert with_predial(None).predial is None


def made_calls(d: CampaignDefinition) -> list[CallCreated]:
    engine = Engine(MemoryStore(), StaticDirectory())
    create = Command("k0", CommandKind.create, definition=d, expected_contacts=2)
    start = Command("k1", CommandKind.start)
    out = engine.step_campaign(
        "c1", START, contacts=[contact(1), contact(2)], commands=[create, start]
    )
    return [e for e in out if isinstance(e, CallCreated)]


def test_the_engine_copies_the_check_onto_every_call_and_it_travels_through_avro() -> None:
    codec = Codec(None)
    d = with_predial(CHECK)
    made = made_calls(d)
    assert len(made) == 2 and all(c.predial == d.predial for c in made)
    rec = translate.command_to_record(
        "c1", Command("k0", CommandKind.create, definition=d, expected_contacts=1), START
    )
    _, back = codec.decode(codec.encode("CampaignCommand", {**rec, "account_id": "acme"}))
    assert translate.command_from_record(back).definition == d
    _, created = codec.decode(codec.encode("CallCreate", translate.call_to_record(made[0])))
    assert created["predial"] == CHECK
    spec = Call.from_record(created).predial
    assert spec is not None and (spec.url, spec.timeout_ms, spec.on_error) == (
        CHECK["url"],
        500,
        "dial",
    )


def test_without_a_check_calls_carry_none() -> None:
    made = made_calls(with_predial(None))
    codec = Codec(None)
    _, created = codec.decode(codec.encode("CallCreate", translate.call_to_record(made[0])))
    assert created["predial"] is None and Call.from_record(created).predial is None
