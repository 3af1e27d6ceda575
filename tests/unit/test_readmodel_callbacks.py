"""The read model's SPEC 9 statuses and callbacks: what the campaign page shows.

`expired` and `skipped` are final statuses like the others (counted once, filterable);
an answer asking for a callback makes its contact wait, due at the later of callback_at
and the answer's end, until the callback is placed or the contact ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.campaign_models import CONTACT_STATUSES
from api.campaign_service import campaign_out
from api.readmodel import ReadModel
from campaigns.events import ContactFinal, ContactStatus
from tests.unit import test_readmodel_accepted as kit
from tests.unit.test_readmodel_accepted import accepted, batch, create, fold
from topics import translate

pytestmark = pytest.mark.unit

rm = kit.rm  # the same read model fixture (its store closed after the test)

A = "acme"
T0 = 1_796_000_000_000  # epoch millis


def call(contact: str, attempt: int, at_ms: int) -> tuple[str, dict[str, Any]]:
    return "call", {
        "call_id": f"spring/{contact}/{attempt}",
        "campaign_id": "spring",
        "account_id": A,
        "contact_id": contact,
        "attempt": attempt,
        "to": "+15550100123",
        "from": "+15550100001",
        "created_at": at_ms,
    }


def outcome(
    contact: str, attempt: int, status: str, at_ms: int, callback_ms: int | None = None
) -> tuple[str, dict[str, Any]]:
    return "outcome", {
        "call_id": f"spring/{contact}/{attempt}",
        "campaign_id": "spring",
        "account_id": A,
        "contact_id": contact,
        "attempt": attempt,
        "status": status,
        "ended_at": at_ms,
        "callback_at": callback_ms,
    }


def final(contact: str, status: ContactStatus, attempts: int) -> tuple[str, dict[str, Any]]:
    ev = ContactFinal(T0 * 1000, "spring", contact, status, attempts)
    return "event", translate.event_to_record(A, ev, f"{A}/spring:final:{contact}") or {}


def test_expired_and_skipped_are_final_statuses_everywhere() -> None:
    assert {"expired", "skipped"} <= set(CONTACT_STATUSES)


def test_callbacks_wait_until_placed_or_final(rm: ReadModel) -> None:
    fold(rm, create(A, n=4), batch(A, "b1", [1, 2, 3, 4]), accepted(A, "b1", [0, 1, 2, 3]))
    fold(
        rm,
        call("row-1", 1, T0),
        call("row-2", 1, T0),
        call("row-3", 1, T0),
        outcome("row-1", 1, "answered", T0 + 60_000, callback_ms=T0 + 3_600_000),
        outcome("row-2", 1, "answered", T0 + 90_000, callback_ms=T0),  # asked for a past time
        outcome("row-3", 1, "skipped", T0 + 1_000, callback_ms=T0 + 60_000),  # ignored: skipped
        final("row-3", ContactStatus.skipped, 1),
        final("row-4", ContactStatus.expired, 0),
    )
    row = rm.campaign(A, "spring")
    assert row is not None
    counters = campaign_out(row).counters
    assert counters.callbacks_waiting == 2
    assert counters.next_callback_at == "2026-11-30T00:54:50.000Z"  # row-2: its answer's end
    assert counters.contacts_by_status["expired"] == 1
    assert counters.contacts_by_status["skipped"] == 1
    # a repeated final event is counted once, expired as any final status
    fold(rm, final("row-4", ContactStatus.expired, 0))
    fold(rm, call("row-2", 2, T0 + 100_000))  # row-2's callback is placed
    row = rm.campaign(A, "spring")
    assert row is not None
    counters = campaign_out(row).counters
    assert counters.contacts_by_status["expired"] == 1
    assert (counters.callbacks_waiting, counters.next_callback_at) == (
        1,
        "2026-11-30T01:53:20.000Z",
    )
    fold(rm, final("row-1", ContactStatus.expired, 1))  # the end date came first
    row = rm.campaign(A, "spring")
    assert row is not None
    assert campaign_out(row).counters.callbacks_waiting == 0
    filtered = rm.contacts(A, "spring", "expired", None, 10)[0]
    assert sorted(v.contact_id for v in filtered) == ["row-1", "row-4"]
