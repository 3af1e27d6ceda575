"""An agent per contact through the API (issue 23 item 3), on the real broker with the worker.

JSON rows name an agent in `agent_id`: one of the account's agents joins the definition and
that contact's call:create carries its id and prompt, a row without one gets the campaign's
agent, and a row naming no agent of the account is rejected naming the column `agent_id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.api_kit import PROMPT, definition, setup_account
from tests.integration.test_api_dnc import running_api
from tests.integration.test_worker import statuses
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue

pytestmark = pytest.mark.integration  # bound: the session timeout; waits fail on a stall

WINBACK_PROMPT = "Hello {{customer_name}}, we would like you back."


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_json_rows_name_their_agent_and_calls_carry_it(rig: Rig, tmp_path: Path) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    with running_api(rig.bootstrap, rig.prefix, tmp_path / "api") as api:
        h = api.account("agentco")
        setup_account(api.http, h)
        r = api.http.post(
            "/v1/agents",
            json={"agent_id": "winback-bot", "name": "Win-back", "prompt": WINBACK_PROMPT},
            headers=h,
        )
        assert r.status_code == 201, r.text
        rig.wait_ready(port)
        people = [
            {
                "contact_id": "w",
                "phone_number": "+12025553101",
                "name": "W",
                "agent_id": "winback-bot",
            },
            {"contact_id": "d", "phone_number": "+12025553102", "name": "D", "agent_id": ""},
            {
                "contact_id": "g",
                "phone_number": "+12025553103",
                "name": "G",
                "agent_id": "ghost-bot",
            },
        ]
        cid = "per-contact-agents"
        r = api.http.post(
            "/v1/campaigns",
            json={"definition": definition(cid, max_retries=0), "contacts": people},
            headers=h,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["contacts"]["accepted"] == 2
        [rejected] = body["rejected"]
        assert (rejected["row"], rejected["column"]) == (3, "agent_id")
        assert "ghost-bot" in rejected["reason"]
        assert "agent_id" not in body["variables"]["unmapped_columns"]  # not a variable
        started = api.http.post(f"/v1/campaigns/{cid}/start", headers=h)
        assert started.status_code == 200, started.text
        wait_until(lambda: "completed" in statuses(events, cid), 90, f"{cid} completed")

        def shown() -> dict[str, str | None]:
            listed = api.http.get(f"/v1/campaigns/{cid}/contacts", headers=h)
            assert listed.status_code == 200, listed.text
            return {c["contact_id"]: c["agent_id"] for c in listed.json()["items"]}

        wait_until(lambda: len(shown()) == 2, 60, "the read model to list both contacts")
        assert shown() == {"w": "winback-bot", "d": None}
    calls = {c["contact_id"]: c for c in dialer.calls() if c["campaign_id"] == cid}
    assert sorted(calls) == ["d", "w"]
    assert (calls["w"]["agent_id"], calls["w"]["agent_prompt"]) == ("winback-bot", WINBACK_PROMPT)
    assert (calls["d"]["agent_id"], calls["d"]["agent_prompt"]) == ("renewals-bot", PROMPT)
