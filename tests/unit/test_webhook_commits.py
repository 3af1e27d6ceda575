"""The webhook dispatcher commits its positions at most once a `COMMIT_SECONDS`, not after
every fetch (issue 26: ~15 synchronous commits a second while a campaign ran). Driven by
a fake consumer and a fake clock: no broker, no sleeping."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api import webhooks
from tests.unit.test_webhook_caller_id import Msg, _dispatcher


class FetchOneEachTurn:
    """Hands the dispatcher one event without a body a fetch (the clock moves 0.25 s a
    fetch), and stops it after `turns` fetches; keeps the commits."""

    def __init__(self, dispatcher: webhooks.Dispatcher, clock: list[float], turns: int) -> None:
        self.dispatcher, self.clock, self.turns = dispatcher, clock, turns
        self.fetches = 0
        self.commits: list[list[tuple[str, int, int]]] = []

    def messages(self, max_messages: int) -> list[Any]:
        self.fetches += 1
        self.clock[0] += 0.25
        if self.fetches >= self.turns:
            self.dispatcher._stop.set()
        return [Msg(self.dispatcher.topic, None, offset=self.fetches)]  # type: ignore[arg-type]

    def commit(self, offsets: list[Any]) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


def test_positions_are_committed_once_a_second_not_once_a_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(webhooks, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(webhooks, "COMMIT_SECONDS", 1.0)
    d = _dispatcher(tmp_path, [])
    consumer = d._consumer = FetchOneEachTurn(d, clock, turns=20)  # type: ignore[assignment]
    d._run()
    assert consumer.fetches == 20
    # fetches 1, 5, 9, 13 and 17 (0.25 s apart), each up to the event it had just read
    assert consumer.commits == [[(d.topic, 2, n + 1)] for n in (1, 5, 9, 13, 17)]
