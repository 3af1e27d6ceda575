"""One writer per account on the real broker (issue 22 item 1, issue 21 item 6).

Two accounts each run a campaign `spring` through the worker and the scripted dialer:
every record of an account is keyed by its account and lands on that account's one
partition, the two campaigns never see each other's contacts, and the same call id
(`spring/c0/1`) is placed and answered once per account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns import testing
from campaigns.contacts import Contact
from campaigns.events import Command, CommandKind
from streams.partitioner import partition_of
from tests.integration.dialer_kit import read_all
from tests.integration.worker_rig import PARTITIONS, Rig, ScriptedDialer, wait_until
from topics import catalogue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NS = "io.campaignflow.v1."
ACME = "acme"
# a second account on another partition than acme's, so "one partition each" means something
OTHER = next(
    name
    for name in ("beta", "bravo", "blue", "bolt", "birch")
    if partition_of(name.encode(), PARTITIONS) != partition_of(ACME.encode(), PARTITIONS)
)
N = 4


def numbers(account: str) -> list[str]:
    base = 3000 if account == ACME else 4000
    return [f"+1202555{base + i:04d}" for i in range(N)]


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate(ACME, OTHER)
    try:
        yield r
    finally:
        r.close()


def _run_spring(rig: Rig, account: str) -> None:
    d = testing.definition("spring", account_id=account, concurrent_calls=2, max_call_minutes=0.5)
    people = [
        Contact(f"c{i}", i + 1, n, [], {"name": f"p{i}"}) for i, n in enumerate(numbers(account))
    ]
    rig.send_contacts("spring", people, size=2, account=account)
    create = Command(f"create-{account}", CommandKind.create, d, N, account_id=account)
    rig.send_command("spring", create)
    rig.send_command("spring", Command(f"start-{account}", CommandKind.start, account_id=account))


def test_two_accounts_run_their_own_spring_each_on_its_own_partition(rig: Rig) -> None:
    events = rig.collect(catalogue.EVENTS)
    dialer = ScriptedDialer(rig, {}, default="answered")
    port = rig.start_worker()
    rig.wait_ready(port)
    for account in (ACME, OTHER):
        _run_spring(rig, account)

    def finals(account: str) -> dict[str, str]:
        return {
            r["body"][1]["contact_id"]: r["body"][1]["status"]
            for name, r in events.snapshot()
            if name == "CampaignEvent"
            and r["account_id"] == account
            and r["body"][0] == NS + "ContactFinal"
        }

    wait_until(
        lambda: all(len(finals(a)) == N for a in (ACME, OTHER)), 300, "both campaigns' finals"
    )
    for account in (ACME, OTHER):
        assert set(finals(account).values()) == {"reached"}
        calls = [c for c in dialer.calls() if c["account_id"] == account]
        assert {c["to"] for c in calls} == set(numbers(account)), account
        assert sorted(c["call_id"] for c in calls) == [f"spring/c{i}/1" for i in range(N)]
        status = wait_until(lambda a=account: rig.status(port, "spring", a), 60, "status page")
        assert status["contacts"]["arrived"] == N and status["status"] == "completed"
    _every_record_is_keyed_and_placed_by_its_account(rig)


def _every_record_is_keyed_and_placed_by_its_account(rig: Rig) -> None:
    for logical in (
        catalogue.COMMANDS,
        catalogue.CONTACTS,
        catalogue.CALL_CREATE,
        catalogue.OUTCOMES,
        catalogue.EVENTS,
    ):
        seen: dict[str, set[int]] = {}
        rows: list[tuple[Any, str, dict[str, Any]]] = read_all(rig.bootstrap, rig.topic(logical))
        for msg, _event, rec in rows:
            account = rec["account_id"]
            assert msg.key() == account.encode(), (logical, msg.key(), account)
            seen.setdefault(account, set()).add(msg.partition())
        assert seen == {
            ACME: {partition_of(ACME.encode(), PARTITIONS)},
            OTHER: {partition_of(OTHER.encode(), PARTITIONS)},
        }, logical
