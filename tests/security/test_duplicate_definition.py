"""`duplicate` of a campaign with `calling_hours` (issue 21, item 17).

Before: the copy re-validated a dump of the model, which carried the defaults of
`calling_days` and `calling_window` beside `calling_hours` ("cannot be given together"),
and every such duplicate answered 500. Real broker, the API in process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from api.campaign_service import copy_definition
from campaigns import testing
from campaigns.models import MAX_NAME_CHARS
from tests.helpers import wait_until
from tests.integration.api_kit import definition, local_services, setup_account
from tests.integration.dialer_kit import drop_topics
from tests.integration.worker_rig import Rig
from topics import catalogue
from topics.translate import definition_to_record

HOURS = {"mon": [{"start": "09:00", "end": "12:00"}], "sat": {"start": "10:00", "end": "14:00"}}


def test_the_copy_keeps_calling_hours_and_cuts_a_long_name() -> None:
    src = testing.definition(
        "src",
        name="n" * MAX_NAME_CHARS,
        calling_hours=HOURS,
        calling_days=None,  # left out: calling_hours replaces them
        calling_window=None,
        concurrent_calls=2,
    )
    copy = copy_definition(definition_to_record(src), "dst", None)
    assert copy.campaign_id == "dst" and len(copy.name) == MAX_NAME_CHARS
    assert copy.rules.calling_hours is not None and set(copy.rules.calling_hours) == {"mon", "sat"}
    assert copy.rules.weekly_hours == src.rules.weekly_hours


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API with a live worker: a duplicate copies the contacts the engine accepted."""
    rig = Rig(kafka_bootstrap, tmp_path)
    svc = local_services(kafka_bootstrap, rig.prefix, tmp_path / "api")
    app = create_app(svc.config, services=svc)
    try:
        rig.wait_ready(rig.start_worker())
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {accounts.create_account(svc.cp, 'dup').key}"}
            setup_account(client, headers)
            yield client, headers
    finally:
        stop_services(svc)
        rig.close()
        drop_topics([catalogue.topic_name(t, rig.prefix) for t in catalogue.LOGICAL_NAMES])


@pytest.mark.integration
def test_duplicate_of_a_campaign_with_calling_hours(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    d: dict[str, Any] = definition("hours-src")
    del d["rules"]["calling_days"], d["rules"]["calling_window"]
    d["rules"]["calling_hours"] = HOURS
    rows = [{"phone_number": f"+1212555{i:04d}", "name": f"N{i}"} for i in range(3)]
    r = client.post("/v1/campaigns", json={"definition": d, "contacts": rows}, headers=headers)
    assert r.status_code == 201, r.text

    def listed() -> bool:
        got = client.get("/v1/campaigns/hours-src/contacts", headers=headers)
        return got.status_code == 200 and len(got.json().get("items", [])) == 3

    wait_until(listed, "the engine to accept the 3 contacts of hours-src", poll_seconds=0.5)
    r = client.post(
        "/v1/campaigns/hours-src/duplicate", json={"campaign_id": "hours-copy"}, headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["rules"]["calling_hours"]["mon"] == [{"start": "09:00", "end": "12:00"}]
    assert r.json()["contacts"]["accepted"] == 3
    copy = client.get("/v1/campaigns/hours-copy", headers=headers).json()
    assert copy["name"] == "Campaign hours-src (copy)"
