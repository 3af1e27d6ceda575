"""The API takes a campaign's pre-dial check (issue 23 item 2) beside its rules; an error
names the request's field, and a draft's create body carries the check back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from api.campaign_io import CampaignIn, build_definition
from api.campaign_service import create_summary
from api.problems import ApiProblem

pytestmark = pytest.mark.unit


class Plane:
    """The two control-plane reads `build_definition` makes."""

    def get(self, kind: str, account: str, rid: str) -> dict[str, Any] | None:
        if kind == "agent":
            return {"agent_id": rid, "prompt": "Hi {{name}}"}
        return {"e164": "+15550100000"}

    def items(self, kind: str, account: str) -> list[tuple[str, dict[str, Any]]]:
        return []


def body(predial: dict[str, Any] | None) -> CampaignIn:
    return CampaignIn(
        campaign_id="c1",
        name="C1",
        agent_id="bot",
        source_number_id="n1",
        rules={"timezone": "UTC", "concurrent_calls": 2},
        predial=predial,
    )


def test_the_check_reaches_the_definition() -> None:
    d = build_definition(Plane(), "acme", body({"url": "https://crm.example.com/p"}))  # type: ignore[arg-type]
    assert d.predial is not None and d.predial.url == "https://crm.example.com/p"
    assert build_definition(Plane(), "acme", body(None)).predial is None  # type: ignore[arg-type]


def test_a_bad_check_names_the_request_field() -> None:
    with pytest.raises(ApiProblem) as err:
        build_definition(Plane(), "acme", body({"url": "http://crm.example.com/p"}))  # type: ignore[arg-type]
    assert err.value.status == 422
    assert [e.field for e in err.value.errors] == ["definition.predial.url"]


def test_the_dry_run_summary_names_the_check() -> None:
    """The console's step 5 says the check from the summary (issue 23)."""
    mapping = SimpleNamespace(
        mapped={}, unfed_variables=[], unmapped_columns=[], unfed_voicemail_variables=[]
    )
    s = SimpleNamespace(
        accepted=1, rejected=0, rows=1, rejects_path=None, mapping=mapping,
        preview=None, preview_at_us=None, dead_lettered=0,
    )  # fmt: skip
    check = {"url": "https://crm.example.com/p", "timeout_ms": 1500, "on_error": "dial"}
    d = build_definition(Plane(), "acme", body(check))  # type: ignore[arg-type]
    assert create_summary(d, s, True, None).predial == check
    d = build_definition(Plane(), "acme", body(None))  # type: ignore[arg-type]
    assert create_summary(d, s, True, None).predial is None
