from campaigns.models import Strategy
from campaigns.strategies import caller_id, destination_index

A = ["a1", "a2"]


def dest(strategy: Strategy, m: int, k: int) -> str:
    idx = destination_index(strategy, m, k)
    return "primary" if idx is None else A[idx]


def test_first_attempt_and_no_alternates_use_the_primary() -> None:
    for s in Strategy:
        assert dest(s, 2, 1) == "primary"
        assert destination_index(s, 0, 3) is None


def test_alternate_strategies_follow_the_spec_table() -> None:
    got = {s: [dest(s, 2, k) for k in range(1, 6)] for s in Strategy}
    assert got[Strategy.rolling] == ["primary", "a1", "a2", "a1", "a2"]
    assert got[Strategy.clamp] == ["primary", "a1", "a2", "a2", "a2"]
    assert got[Strategy.custom] == ["primary", "a1", "a2", "primary", "primary"]


def test_caller_id_strategies_follow_the_spec_table() -> None:
    c = ["c1", "c2"]
    got = {s: [caller_id(s, c, k, "src") for k in range(1, 5)] for s in Strategy}
    assert got[Strategy.rolling] == ["c1", "c2", "c1", "c2"]
    assert got[Strategy.clamp] == ["c1", "c2", "c2", "c2"]
    assert got[Strategy.custom] == ["c1", "c2", "src", "src"]
    assert caller_id(Strategy.rolling, [], 3, "src") == "src"
