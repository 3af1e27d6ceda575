"""The account's billing increment (issue 23 item 4): 1, 6 or 60 s, 60 until set, kept on
the account's control-plane record where the sink reads it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from api import accounts
from api.models import Billing

pytestmark = pytest.mark.unit


class FakeControlPlane:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}

    def get(self, kind: str, account: str, rid: str) -> dict[str, Any] | None:
        found = self.records.get((kind, account, rid))
        return None if found is None else dict(found)

    def put(self, kind: str, account: str, rid: str, body: dict[str, Any]) -> None:
        self.records[(kind, account, rid)] = body


@pytest.mark.parametrize("bad", [0, 5, 30, 61, "6", 6.5, None, True])
def test_only_1_6_or_60_seconds_and_the_error_names_the_field(bad: Any) -> None:
    with pytest.raises(ValidationError) as err:
        Billing.model_validate({"billing_increment_seconds": bad})
    assert err.value.errors()[0]["loc"] == ("billing_increment_seconds",)


def test_the_increment_is_kept_on_the_account_record() -> None:
    cp: Any = FakeControlPlane()
    cp.put("account", "acme", "acme", {"account_id": "acme", "name": "Acme", "keys": []})
    assert accounts.billing_increment(cp, "acme") == 60 == Billing().billing_increment_seconds
    accounts.set_billing_increment(
        cp, "acme", Billing(billing_increment_seconds=6).billing_increment_seconds
    )
    assert accounts.billing_increment(cp, "acme") == 6
    assert cp.records[("account", "acme", "acme")]["name"] == "Acme"  # the rest is kept
