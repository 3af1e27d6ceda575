"""Dialer building blocks: simulator determinism, scripts, HMAC signatures, offsets."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from dialer.calls import BadCall, Call, PredialSpec, split_call_id
from dialer.offsets import OffsetTracker
from dialer.script import ScriptError, load_script
from dialer.signing import sign, verify
from dialer.simulator import SimulatorAdapter, SimulatorConfig, parse_shares
from topics.clients import watermarks


def make_call(contact: str = "c1", attempt: int = 1, to: str = "+15550100001") -> Call:
    return Call(
        call_id=f"camp/{contact}/{attempt}",
        campaign_id="camp",
        account_id="acme",
        contact_id=contact,
        attempt=attempt,
        to=to,
        from_="+15550100000",
        agent_id="bot",
        agent_prompt="Hi",
        created_at=1_700_000_000_000,
        deadline=1_700_003_600_000,
    )


def record(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "call_id": "camp/c1/1",
        "campaign_id": "camp",
        "account_id": "acme",
        "contact_id": "c1",
        "attempt": 1,
        "to": "+15550100001",
        "from": "+15550100000",
        "alternate_position": 0,
        "agent_id": "bot",
        "agent_prompt": "Hi",
        "variables": {"name": "Ann"},
        "created_at": 1,
        "deadline": 2,
    }
    base.update(over)
    return base


# -- calls ---------------------------------------------------------------------------------


def test_call_from_record_reads_every_field() -> None:
    call = Call.from_record(record())
    assert call.from_ == "+15550100000" and call.variables == {"name": "Ann"}


def test_call_from_record_is_the_constructor_with_every_field_set() -> None:
    """`from_record` fills the instance without `__init__`: it must set every field (a
    field added to Call and not to it fails here) and equal the constructor's call."""
    rec = record(voicemail_message="Call us back", predial={"url": "https://x/check"})
    call = Call.from_record(rec)
    assert {f.name for f in dataclasses.fields(Call)} <= set(vars(call))
    built = Call(
        "camp/c1/1", "camp", "acme", "c1", 1, "+15550100001", "+15550100000", "bot", "Hi", 1, 2,
        variables={"name": "Ann"}, voicemail_message="Call us back",
        predial=PredialSpec("https://x/check"),
    )  # fmt: skip
    assert call == built and repr(call) == repr(built) and call.key == "acme/camp/c1/1"
    placed = call.placed(7)
    assert placed == dataclasses.replace(call, placed_at=7) and call.placed_at == 0


@pytest.mark.parametrize(
    "over, words",
    [
        ({"to": ""}, "missing number in field 'to'"),
        ({"from": ""}, "missing number in field 'from'"),
        ({"to": "5550100"}, "not an E.164"),
        ({"call_id": ""}, "without call_id"),
        ({"attempt": 0}, "attempt"),
    ],
)
def test_bad_call_names_the_problem(over: dict[str, object], words: str) -> None:
    with pytest.raises(BadCall, match=words):
        Call.from_record(record(**over))


def test_split_call_id_allows_slashes_in_contact() -> None:
    assert split_call_id("camp/a/b/3") == ("camp", "a/b", 3)
    with pytest.raises(ValueError):
        split_call_id("nonsense")


# -- simulator -----------------------------------------------------------------------------


def test_simulator_is_deterministic_per_call_whatever_the_order() -> None:
    calls = [make_call(f"c{i}") for i in range(300)]
    a = SimulatorAdapter(SimulatorConfig(seed=7))
    b = SimulatorAdapter(SimulatorConfig(seed=7))
    plans_a = {c.call_id: a.plan(c) for c in calls}
    plans_b = {c.call_id: b.plan(c) for c in reversed(calls)}
    assert plans_a == plans_b
    other = SimulatorAdapter(SimulatorConfig(seed=8))
    assert {c.call_id: other.plan(c) for c in calls} != plans_a


def test_simulator_follows_the_shares() -> None:
    adapter = SimulatorAdapter(SimulatorConfig(seed=1, shares={"answered": 0.7, "busy": 0.3}))
    counts = Counter(adapter.plan(make_call(f"c{i}")).status for i in range(2000))
    assert set(counts) == {"answered", "busy"}
    assert 0.6 < counts["answered"] / 2000 < 0.8


def test_simulator_instant_outcomes_have_consistent_times() -> None:
    adapter = SimulatorAdapter(SimulatorConfig(seed=3, time_scale=0, shares={"answered": 1}))
    handed: list[bool] = []
    outcome = asyncio.run(adapter.place_call(make_call(), lambda: handed.append(True)))
    assert handed == [True]
    assert outcome is not None and outcome.status == "answered"
    assert outcome.started_at is not None and outcome.answered_at is not None
    assert outcome.started_at <= outcome.answered_at <= outcome.ended_at
    talked = outcome.duration_seconds  # a field of the simulated call, not a timing of the test
    assert talked is not None and talked > 0


def test_simulator_rejects_unknown_share_status() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        SimulatorConfig(shares=parse_shares("answered=1,ringing=2"))


def test_script_csv_drives_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text(
        "contact_id,attempt,status,duration_seconds,to\n"
        "c1,1,busy,5,\n"
        "c1,2,none,0,\n"
        ",,invalid_number,1,+15550100009\n"
    )
    adapter = SimulatorAdapter(SimulatorConfig(script=load_script(path), time_scale=0))
    assert adapter.plan(make_call("c1", 1)).status == "busy"
    assert adapter.plan(make_call("c1", 1)).end_after == 5
    assert asyncio.run(adapter.place_call(make_call("c1", 2))) is None  # no outcome ever
    assert adapter.plan(make_call("c9", 3, to="+15550100009")).status == "invalid_number"


def test_script_errors_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("contact_id,attempt,status,duration_seconds\nc1,1,ringing,5\n")
    with pytest.raises(ScriptError, match="row 1, column status"):
        load_script(path)


# -- signatures ----------------------------------------------------------------------------


def test_hmac_signature_round_trip_and_tamper() -> None:
    body = b'{"call_id":"camp/c1/1"}'
    secret = "s" * 32
    header = sign(secret, body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header) == len("t=1700000000,v1=") + 64
    assert verify([secret], body, header, 1_700_000_000)
    assert not verify(["o" * 32], body, header, 1_700_000_000)
    assert not verify([secret], body + b" ", header, 1_700_000_000)
    assert not verify([secret], body, None, 1_700_000_000)
    assert not verify([secret], body, header.replace("t=1700000000", "t=1700000001"), 1_700_000_000)


def test_hmac_matches_a_known_vector() -> None:
    # RFC 4231 test case 2, over "<t>." + body with t = 0 folded into the message.
    assert sign("Jefe", b"what do ya want for nothing?", 0) == (
        "t=0,v1=" + hmac.new(b"Jefe", b"0.what do ya want for nothing?", hashlib.sha256).hexdigest()
    )


# -- offsets -------------------------------------------------------------------------------


def test_offsets_commit_only_past_contiguous_done_messages() -> None:
    t = OffsetTracker()
    for o in (10, 11, 12):
        t.add("x", 0, o)
    t.add("x", 1, 5)
    t.done("x", 0, 11)
    assert t.take_ready() == {}
    t.done("x", 0, 10)
    assert t.take_ready() == {("x", 0): 12}
    t.done("x", 1, 5)
    t.done("x", 0, 12)
    assert t.take_ready() == {("x", 0): 13, ("x", 1): 6}
    assert t.pending() == 0


def test_dialers_of_two_topic_prefixes_never_share_a_group(topic_prefix: str) -> None:
    """Two stacks on one broker (each its own topic prefix) run dialers with the same
    default dialer id, their static member id: in one group the second fenced the first."""
    from campaignflow.config import settings

    mine = settings().dialer()
    assert mine.group_id == "campaignflow-dialer-" + topic_prefix.strip(".")
    assert settings().dialer(group_id="explicit").group_id == "explicit"


class _Moving:
    """A consumer whose partition has no leader for its first `failures` questions."""

    def __init__(self, failures: int, code: int) -> None:
        self.failures = failures
        self.code = code
        self.asked = 0

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.asked <= self.failures:
            raise KafkaException(KafkaError(self.code))
        return 3, 9


def test_a_partition_whose_leader_is_moving_is_asked_again_not_a_crash() -> None:
    """A dialer's restore of `call.placed` stopped the dialer on NOT_LEADER_FOR_PARTITION
    (seen as `make bench`'s dialer failure, and a chaos dialer that exited by itself)."""
    moving = _Moving(2, KafkaError.NOT_LEADER_FOR_PARTITION)
    assert watermarks(moving, TopicPartition("t", 0), 5.0) == (3, 9)  # type: ignore[arg-type]
    assert moving.asked == 3
    broken = _Moving(1, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermarks(broken, TopicPartition("t", 0), 5.0)  # type: ignore[arg-type]
