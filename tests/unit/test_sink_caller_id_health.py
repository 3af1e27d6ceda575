"""Caller-ID health (issue 23 item 5, migration 0007).

Campaign "hh": A answers 100 of its last 200 calls (50 %; its 30 oldest, all answered,
fall outside them), B 15 of 30 (50 %), C 3 of 30 (10 %: below half of the median, 50 %),
D 1 of 5 (too few calls to judge).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.chdb_kit import loaded
from tests.unit.test_sink_views import create, outcome, q, t

pytestmark = pytest.mark.unit

A, B, C, D = "+15550100001", "+15550100002", "+15550100003", "+15550100004"


def calls(
    caller: str, n: int, answered: int, day: int, prefix: str
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        contact = f"{prefix}{i}"
        at = t(14) + day * 86_400_000 + i * 1000
        status = "answered" if i < answered else "no_answer"
        out.append(("CallCreate", create("hh", contact, 1, at, caller, 0)))
        out.append(("CallOutcome", outcome("hh", contact, 1, status, at + 500, 10.0)))
    return out


def records() -> list[tuple[str, dict[str, Any]]]:
    return [
        *calls(A, 30, 30, 0, "a-old"),  # day 0: all answered, later outside the last 200
        *calls(A, 200, 100, 1, "a"),
        *calls(B, 30, 15, 1, "b"),
        *calls(C, 30, 3, 1, "c"),
        *calls(D, 5, 1, 1, "d"),
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with loaded(tmp_path_factory.mktemp("health") / "ch", records()) as c:
        yield c


def test_a_number_below_half_the_campaigns_median_is_degraded(client: Any) -> None:
    rows = q(
        client,
        "SELECT caller_id, recent_calls, recent_answer_rate, campaign_median_answer_rate, degraded"
        " FROM v_caller_id_health WHERE campaign_id = 'hh' ORDER BY caller_id",
    )
    got = [
        (r["caller_id"], r["recent_calls"], r["recent_answer_rate"], r["degraded"]) for r in rows
    ]
    assert got == [
        (A, 200, 0.5, False),  # judged on its last 200 calls, not on its first answered ones
        (B, 30, 0.5, False),
        (C, 30, 0.1, True),
        (D, 5, 0.2, False),  # 5 calls: not judged yet
    ]
    assert {r["campaign_median_answer_rate"] for r in rows} == {0.5}


def test_by_caller_id_and_day_with_the_current_flag(client: Any) -> None:
    rows = q(
        client,
        "SELECT caller_id, toString(day) AS day, calls, answer_rate, degraded FROM v_caller_id_daily"
        " WHERE campaign_id = 'hh' AND caller_id IN ('+15550100001', '+15550100003')"
        " ORDER BY caller_id, day",
    )
    assert [
        (r["caller_id"], r["day"], r["calls"], r["answer_rate"], r["degraded"]) for r in rows
    ] == [
        (A, "2026-12-01", 30, 1.0, False),
        (A, "2026-12-02", 200, 0.5, False),
        (C, "2026-12-02", 30, 0.1, True),
    ]
