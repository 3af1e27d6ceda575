"""The API's read model lists what the engine took, per account (issue 21 items 5 and 6).

The fold is fed records as the topics carry them, in either order between topics: a
contact batch is listed only once the engine's ContactsAccepted names which of its
contacts it took; a batch it refused, or the rows it rejected, are never listed; two
accounts' campaigns of one id stay apart; ids that are no ids are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.readmodel import ReadModel
from api.readmodel.fold import FoldBatch
from campaigns import testing
from campaigns.engine import CONTACT_BATCH
from campaigns.events import Command, CommandKind, CommandRejected, ContactsAccepted
from tests.helpers import contact
from topics import translate
from topics.clients import KafkaSettings

pytestmark = pytest.mark.unit


@pytest.fixture()
def rm(tmp_path: Path) -> Iterator[ReadModel]:
    model = ReadModel(KafkaSettings("127.0.0.1:1"), "", tmp_path / "rm")
    try:
        yield model
    finally:
        model.store.close()


def fold(rm: ReadModel, *items: tuple[str, dict[str, Any]]) -> None:
    batch = FoldBatch(rm.store)
    for kind, rec in items:
        getattr(batch, kind)(rec)
    batch.commit()


def create(account: str, cid: str = "spring", n: int = 3) -> tuple[str, dict[str, Any]]:
    d = testing.definition(cid, account_id=account, concurrent_calls=1)
    cmd = Command(f"create-{account}", CommandKind.create, d, n, account_id=account)
    return "command", translate.command_to_record(cid, cmd, 0)


def batch(
    account: str | None, batch_id: str, rows: list[int], cid: str = "spring"
) -> tuple[str, dict[str, Any]]:
    people = [contact(i) for i in rows]
    return "contacts", translate.batch_to_record(cid, batch_id, people, 0, account)


def accepted(
    account: str, batch_id: str, positions: list[int], cid: str = "spring"
) -> tuple[str, dict[str, Any]]:
    ev = ContactsAccepted(0, cid, batch_id, positions)
    return "event", translate.event_to_record(
        account, ev, f"{account}/{cid}:accepted:{batch_id}"
    ) or {}


def listed(rm: ReadModel, account: str, cid: str = "spring") -> list[str]:
    return [view.contact_id for _rec, view in rm.all_contacts(account, cid)]


def test_a_batch_is_listed_only_with_what_the_engine_took_in_either_order(rm: ReadModel) -> None:
    fold(rm, create("acme"), batch("acme", "b1", [1, 2, 3]))
    assert listed(rm, "acme") == []  # the engine has not said yet
    fold(rm, accepted("acme", "b1", [0, 2]))  # row-2 was rejected
    assert listed(rm, "acme") == ["row-1", "row-3"]
    fold(rm, accepted("acme", "b2", [0]))  # the event first, the batch later
    fold(rm, batch("acme", "b2", [4]))
    assert listed(rm, "acme") == ["row-1", "row-3", "row-4"]
    row = rm.campaign("acme", "spring")
    assert row is not None and row.arrived == 3


def test_a_batch_the_engine_refused_or_replayed_is_never_listed(rm: ReadModel) -> None:
    fold(rm, create("acme"), batch("acme", "b1", [1]), accepted("acme", "b1", [0]))
    refusal = CommandRejected(0, "spring", "late", CONTACT_BATCH, "campaign is cancelled", True)
    refused = translate.event_to_record("acme", refusal, "acme/spring:rejected:late")
    assert refused is not None
    fold(rm, batch("acme", "late", [9]), ("event", refused))
    fold(rm, batch("acme", "b1", [1]), accepted("acme", "b1", [0]))  # replays
    fold(rm, accepted("acme", "none-taken", []), batch("acme", "none-taken", [8]))
    assert listed(rm, "acme") == ["row-1"]
    row = rm.campaign("acme", "spring")
    assert row is not None and row.arrived == 1


def test_two_accounts_spring_are_two_campaigns(rm: ReadModel) -> None:
    fold(rm, create("acme"), batch("acme", "b1", [1, 2]), accepted("acme", "b1", [0, 1]))
    fold(rm, create("beta", n=1), batch("beta", "b1", [7]), accepted("beta", "b1", [0]))
    # a batch labelled beta for `spring` is beta's spring, never acme's
    fold(rm, batch("beta", "b9", [8]), accepted("beta", "b9", [0]))
    assert listed(rm, "acme") == ["row-1", "row-2"]
    assert listed(rm, "beta") == ["row-7", "row-8"]
    assert [r.campaign_id for r in rm.page("acme", None, None, 10)[0]] == ["spring"]
    assert rm.campaign("acme", "spring") is not rm.campaign("beta", "spring")
    assert rm.campaign("gamma", "spring") is None


def test_records_without_an_account_or_with_a_bad_id_are_skipped(rm: ReadModel) -> None:
    _, rec = create("acme", cid="ok")
    fold(
        rm, ("command", {**rec, "campaign_id": "evil|id"}), ("command", {**rec, "account_id": None})
    )
    fold(rm, batch(None, "b1", [1], cid="ok"))
    assert rm.store.campaigns == {}
    assert listed(rm, "acme", "ok") == []
