"""Callbacks and inbound calls at the dialer edge (SPEC 8, 9): the webhook's `callback_at`,
the simulator's callback share and inbound stream."""

from __future__ import annotations

import random
import statistics

import pytest

from dialer.calls import Call, Outcome, outcome_record
from dialer.simulator import SimulatorAdapter, SimulatorConfig, parse_shares
from dialer.webhook import outcome_from_json
from topics import translate
from topics.codec import Codec

HOUR_MS = 3_600_000


def call(i: int) -> Call:
    return Call(
        f"camp/c{i}/1",
        "camp",
        "acme",
        f"c{i}",
        1,
        "+15550100001",
        "+15550100000",
        "bot",
        "",
        1_700_000_000_000,
        1_700_003_600_000,
        placed_at=1_700_000_000_000,
    )


def test_callback_at_is_an_iso_instant_or_epoch_millis() -> None:
    iso = outcome_from_json({"status": "answered", "callback_at": "2026-12-07T15:00:00+01:00"})
    assert iso.callback_at == 1_796_652_000_000
    millis = outcome_from_json({"status": "answered", "callback_at": 1_796_652_000_000})
    assert millis.callback_at == 1_796_652_000_000
    assert outcome_from_json({"status": "answered"}).callback_at is None


@pytest.mark.parametrize(
    "value", ["2026-12-07T15:00:00", "at three", "x" * 100, True, -5, 1e400, ["2026"]]
)
def test_a_callback_at_that_is_not_an_instant_names_the_field(value: object) -> None:
    with pytest.raises(ValueError, match="callback_at"):
        outcome_from_json({"status": "answered", "callback_at": value})


def test_callback_at_reaches_the_outcome_record_and_the_engine() -> None:
    codec = Codec()
    outcome = Outcome("answered", ended_at=9, callback_at=1_796_652_000_000)
    rec = outcome_record("camp/c1/1", "camp", "acme", "c1", 1, outcome, None, "d1")
    decoded = codec.decode(codec.encode("CallOutcome", rec))[1]
    assert translate.outcome_from_record(decoded).callback_at_us == 1_796_652_000_000_000


def test_the_simulator_asks_a_share_of_answered_calls_for_a_callback_hours_later() -> None:
    shares = parse_shares("answered=0.5,no_answer=0.5,callback=0.1")
    with_callbacks = SimulatorAdapter(SimulatorConfig(shares=shares, seed=3, time_scale=1))
    without = SimulatorAdapter(
        SimulatorConfig(shares=parse_shares("answered=0.5,no_answer=0.5"), seed=3, time_scale=1)
    )
    asked = answered = 0
    for i in range(4000):
        got, _ends = with_callbacks._outcome(call(i), call(i).placed_at)
        plain, _ = without._outcome(call(i), call(i).placed_at)
        assert got is not None and plain is not None
        assert (got.status, got.ended_at, got.answered_at) == (
            plain.status,
            plain.ended_at,
            plain.answered_at,
        )  # every other draw unchanged
        if got.callback_at is None:
            answered += got.status == "answered"
            continue
        assert got.status == "answered"
        assert got.ended_at + HOUR_MS <= got.callback_at <= got.ended_at + 4 * HOUR_MS
        asked += 1
        answered += 1
    assert 0.07 < asked / answered < 0.13


def test_callbacks_follow_the_time_scale() -> None:
    config = SimulatorConfig(shares=parse_shares("answered=1,callback=1"), time_scale=0.01)
    got, _ = SimulatorAdapter(config)._outcome(call(1), call(1).placed_at)
    assert got is not None and got.callback_at is not None
    assert got.ended_at + 36_000 <= got.callback_at <= got.ended_at + 144_000


def test_a_callback_share_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="callback"):
        SimulatorConfig(shares=parse_shares("answered=1,callback=1.5"))


def test_the_inbound_stream_has_its_rate_its_median_length_and_the_accounts_agents() -> None:
    adapter = SimulatorAdapter(
        SimulatorConfig(inbound_per_minute=6, inbound_median_seconds=90, time_scale=1)
    )
    rng = random.Random(1)
    draws = [adapter.next_inbound(rng, ["a1", "a2"]) for _ in range(5000)]
    assert 9.0 < statistics.fmean(d.gap_seconds for d in draws) < 11.0  # 6 a minute
    assert 80 < statistics.median(d.length_seconds for d in draws) < 100
    assert {d.agent_id for d in draws} == {"a1", "a2"}


@pytest.mark.parametrize("over", [{"inbound_per_minute": -1}, {"inbound_median_seconds": 0}])
def test_a_bad_inbound_model_is_refused(over: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="inbound"):
        SimulatorConfig(**over)  # type: ignore[arg-type]
