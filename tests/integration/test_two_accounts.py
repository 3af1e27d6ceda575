"""The account as the unit (SPEC 8, issue 22 item 6) on the real broker: two accounts of two
campaigns each share their account's scarce lines, the higher priority campaign first.

The worker runs as `campaignflow worker` (worker_rig). The dialer here answers call.create
from a script, but holds one account's calls (they stay in flight, holding its lines) until
released, and notes at each call.create how many of that account's calls it had not yet
answered: the engine's in-flight count is never lower (an outcome counts once the worker
reads it), so that count above the lines is a violation. Calls of one account are keyed by
the account, so their call.create records come in creation order. No timing thresholds:
every wait is on a condition with a stall bound.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from campaigns import testing
from campaigns.contacts import Contact
from campaigns.engine import parse_call_id
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue

pytestmark = pytest.mark.integration

NS = "io.campaignflow.v1."
LINES = 2  # per account; each campaign alone could place 3 at once
CONTACTS = 6  # per campaign
ACCOUNTS = {"acme": ("acme-hi", "acme-lo"), "beta": ("beta-hi", "beta-lo")}
SCRIPT = {("c1", 1): "no_answer", ("c3", 1): "busy", ("c4", 1): "no_answer"}  # retried once


def definition(cid: str, account: str, priority: int) -> CampaignDefinition:
    return testing.definition(
        cid,
        account_id=account,
        name="Two accounts",
        variable_mapping={},
        max_retries=1,
        retry_delay_minutes=0.02,
        concurrent_calls=3,
        max_call_minutes=60,  # a held call is never timed out during the test
        priority=priority,
        caller_ids={"numbers": ["+15550100001"], "strategy": "rolling"},
    )


def contacts(k: int) -> list[Contact]:
    return [
        Contact(f"c{i}", i + 1, f"+1202556{k}{i:03d}", [], {"name": f"p{i}"})
        for i in range(CONTACTS)
    ]


class AccountDialer(ScriptedDialer):
    """The scripted dialer, holding the calls of the accounts in `held_accounts` only, and
    noting per account the calls not yet answered at each call.create (this one included)."""

    def __init__(self, rig: Rig, held_accounts: set[str]) -> None:
        self.held_accounts = set(held_accounts)
        self.unanswered: Counter[str] = Counter()
        self.in_flight_at_create: dict[str, list[int]] = {a: [] for a in ACCOUNTS}
        self._count_lock = threading.Lock()
        super().__init__(rig, SCRIPT, default="answered")

    def _on_call(self, name: str, rec: dict[str, Any]) -> None:
        account = rec["account_id"]
        with self._count_lock:
            self.unanswered[account] += 1
            self.in_flight_at_create[account].append(self.unanswered[account])
            held = account in self.held_accounts
        if held:
            with self._lock:
                self.created.append(rec)
                self.held.append((account, rec["campaign_id"], rec["call_id"]))
            return
        super()._on_call(name, rec)

    def _answer(self, account: str, campaign_id: str, call_id: str, status: str) -> None:
        with self._count_lock:
            self.unanswered[account] -= 1  # before it is sent: the engine's count is not lower
        super()._answer(account, campaign_id, call_id, status)

    def release_account(self, account: str) -> int:
        with self._count_lock, self._lock:
            self.held_accounts.discard(account)
            held = [h for h in self.held if h[0] == account]
            self.held = [h for h in self.held if h[0] != account]
            self.answered.update((acc, call_id) for acc, _, call_id in held)
        for acc, cid, call_id in held:
            parsed = parse_call_id(cid, call_id)
            assert parsed is not None
            self._answer(acc, cid, call_id, self.script.get(parsed, self.default))
        return len(held)


def finals(events: Any, cid: str) -> list[str]:
    return [
        r["body"][1]["contact_id"]
        for name, r in events.snapshot()
        if name == "CampaignEvent"
        and r["campaign_id"] == cid
        and r["body"][0] == NS + "ContactFinal"
    ]


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate(*ACCOUNTS)
    for account in ACCOUNTS:
        r.set_lines(account, LINES)
    try:
        yield r
    finally:
        r.close()


def test_two_accounts_share_their_own_lines_by_priority(rig: Rig) -> None:
    dialer = AccountDialer(rig, held_accounts={"acme"})
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    plan = [(a, cid, p) for a, cs in ACCOUNTS.items() for cid, p in zip(cs, (9, 1), strict=True)]
    for k, (account, cid, priority) in enumerate(plan):
        rig.send_command(
            cid,
            Command(
                f"create-{cid}",
                CommandKind.create,
                definition=definition(cid, account, priority),
                expected_contacts=CONTACTS,
            ),
        )
        rig.send_contacts(cid, contacts(k))
    every = [c for cs in ACCOUNTS.values() for c in cs]

    def status_is(cid: str, status: str) -> bool:
        s = rig.status(port, cid)
        return s is not None and s["status"] == status

    for cid in every:
        wait_until(partial(status_is, cid, "draft"), 120, f"{cid} a draft")
    for cid in every:
        rig.send_command(cid, Command(f"start-{cid}", CommandKind.start))

    # acme's calls are held: its 2 lines stay busy. beta's 2 lines are its own: both of its
    # campaigns run to completion meanwhile, and acme has placed no call past its lines.
    for cid in ACCOUNTS["beta"]:
        wait_until(partial(status_is, cid, "completed"), 180, f"{cid} done, acme's lines held")
    wait_until(lambda: len(dialer.held) >= LINES, 120, "acme's calls up to its lines")
    acme_first = [c for c in dialer.calls() if c["account_id"] == "acme"]
    assert [c["campaign_id"] for c in acme_first] == ["acme-hi"] * LINES  # priority first

    assert dialer.release_account("acme") == LINES
    for cid in ACCOUNTS["acme"]:
        wait_until(partial(status_is, cid, "completed"), 180, f"{cid} completed")

    # The worker's status says completed once its step is done; its events reach our reader
    # a moment later: wait for every campaign's finals before counting them.
    for cid in every:
        wait_until(lambda c=cid: len(finals(events, c)) >= CONTACTS, 120, f"{cid}'s finals read")
    calls = dialer.calls()
    for account, (hi, lo) in ACCOUNTS.items():
        seq = [c for c in calls if c["account_id"] == account]
        assert max(dialer.in_flight_at_create[account]) <= LINES, account
        assert len(dialer.in_flight_at_create[account]) == len(seq)
        # the higher priority campaign has every contact's first call before lo gets a line
        first_lo = next(i for i, c in enumerate(seq) if c["campaign_id"] == lo)
        hi_firsts = [i for i, c in enumerate(seq) if c["campaign_id"] == hi and c["attempt"] == 1]
        assert len(hi_firsts) == CONTACTS and max(hi_firsts) < first_lo, account
        ids = [(c["campaign_id"], c["call_id"]) for c in seq]
        assert len(ids) == len(set(ids)), f"a call id twice in {account}"
        for cid in (hi, lo):
            tried = Counter(c["contact_id"] for c in seq if c["campaign_id"] == cid)
            assert len(tried) == CONTACTS and sum(tried.values()) == CONTACTS + len(SCRIPT)
            made_final = Counter(finals(events, cid))
            assert made_final == Counter({f"c{i}": 1 for i in range(CONTACTS)}), cid
