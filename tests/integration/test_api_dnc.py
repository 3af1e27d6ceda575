"""/v1/dnc and /v1/operator/dnc on the real broker: the do-not-call lists through HTTP.

The API runs in this process (its services on a fresh topic prefix); what it writes is
read back both through the API (its read model) and with `ingest.dnc.read_lists`, the
reader of `campaignflow dnc list`, so both front ends are seen to share one topic and
one record format. The last test runs the engine worker on the same topics: account
A's list holds A's contact back and leaves B's campaign alone.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from campaignflow.config import settings
from ingest.dnc import Scope, read_lists
from tests.integration.api_kit import definition, local_services, setup_account
from tests.integration.dialer_kit import drop_topics
from tests.integration.test_worker import bodies, statuses
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue
from topics.translate import dnc_key_scope

pytestmark = pytest.mark.integration  # bound: the session timeout; waits fail on a stall

PROBLEM = "application/problem+json"
MAX_JSON = 2_000


class Api:
    def __init__(self, svc: Any, client: TestClient) -> None:
        self.svc = svc
        self.http = client
        self.operator = {"Authorization": f"Bearer {svc.operator_key}"}
        self.topic = catalogue.topic_name(catalogue.DNC, svc.config.prefix)

    def account(self, name: str) -> dict[str, str]:
        key = accounts.create_account(self.svc.cp, name).key
        self.svc.cp.set_subscription(name, True)
        return {"Authorization": f"Bearer {key}"}

    def numbers(self, headers: dict[str, str], path: str = "/v1/dnc") -> list[str]:
        out: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = self.http.get(path, params=params, headers=headers)
            assert r.status_code == 200, r.text
            out += [item["number"] for item in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return out

    def on_topic(self, account: str | None) -> list[str]:
        found = read_lists(Scope(account), self.svc.config.kafka, topic=self.topic)
        return sorted(dnc_key_scope(k)[1] for k in found)


@contextlib.contextmanager
def running_api(bootstrap: str, prefix: str, state: Path, **limits: Any) -> Iterator[Api]:
    svc = local_services(bootstrap, prefix, state, command_timeout_s=30.0, **limits)
    try:
        with TestClient(create_app(svc.config, services=svc)) as client:
            yield Api(svc, client)
    finally:
        stop_services(svc)


def drop_prefix(prefix: str) -> None:
    """The shared broker runs out of heap on partitions: each test drops its topics."""
    drop_topics([t.name for t in settings().topics_at(prefix).catalogue().values()])


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Api]:
    prefix = f"tdnc-{uuid.uuid4().hex[:8]}."
    try:
        with running_api(kafka_bootstrap, prefix, tmp_path / "api", max_json_bytes=MAX_JSON) as a:
            yield a
    finally:
        drop_prefix(prefix)


def test_add_list_remove_and_the_problem_naming_the_bad_entry(api: Api) -> None:
    a = api.account("dnc-a")
    r = api.http.post(
        "/v1/dnc", json={"numbers": ["(212) 555-0101", "+44 20 7183 8750"]}, headers=a
    )
    assert r.status_code == 201, r.text
    assert [i["number"] for i in r.json()["items"]] == ["+12125550101", "+442071838750"]
    assert r.json()["items"][0]["added_at"].endswith("Z")

    bad = api.http.post("/v1/dnc", json={"numbers": ["212 555 0102", "12345"]}, headers=a)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith(PROBLEM)
    assert bad.json()["errors"] == [
        {
            "field": "numbers.1",
            "row": None,
            "column": None,
            "message": "not a valid phone number (region US): '12345'",
        }
    ]
    assert "numbers.1" in bad.json()["detail"]
    region = api.http.post("/v1/dnc", json={"numbers": ["+12125550102"], "region": "XX"}, headers=a)
    assert region.status_code == 422 and region.json()["errors"][0]["field"] == "region"
    # Nothing of the refused requests was written, here or on the topic the CLI reads.
    assert api.numbers(a) == ["+12125550101", "+442071838750"]
    assert api.on_topic("dnc-a") == ["+12125550101", "+442071838750"]

    assert api.http.post("/v1/dnc", json={"numbers": ["2125550102"]}, headers=a).status_code == 201
    first = api.http.get("/v1/dnc", params={"limit": 2}, headers=a).json()
    assert [i["number"] for i in first["items"]] == ["+12125550101", "+12125550102"]
    assert first["next_cursor"]
    rest = api.http.get("/v1/dnc", params={"cursor": first["next_cursor"]}, headers=a).json()
    assert [i["number"] for i in rest["items"]] == ["+442071838750"]
    assert rest["next_cursor"] is None

    # National form, region GB, in the path; a tombstone on the topic.
    gone = api.http.delete("/v1/dnc/020 7183 8750", params={"region": "GB"}, headers=a)
    assert gone.status_code == 204, gone.text
    assert api.numbers(a) == ["+12125550101", "+12125550102"]
    assert api.on_topic("dnc-a") == ["+12125550101", "+12125550102"]
    again = api.http.delete("/v1/dnc/+442071838750", headers=a)
    assert again.status_code == 404 and again.headers["content-type"].startswith(PROBLEM)
    nonsense = api.http.delete("/v1/dnc/call-me", headers=a)
    assert nonsense.status_code == 422 and nonsense.json()["errors"][0]["field"] == "number"
    assert api.http.get("/v1/dnc", headers={}).status_code == 401


def test_import_reports_bad_lines_and_export_reads_back(api: Api) -> None:
    a = api.account("imp-a")
    b = api.account("imp-b")
    text = (
        "phone_number\n"  # a header: skipped
        "(212) 555-0101\n"
        "12345\n"  # line 3
        "\n"
        "+44 20 7183 8750\n"
        "# a comment\n"
        "call me maybe\n"  # line 7
        "212-555-0102,Bob\n"  # a CSV line counts by its first field
        "(212) 555-0101\n"
    )
    r = api.http.post("/v1/dnc/import", content=text, headers={**a, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "lines": 9,
        "accepted": 4,
        "skipped": 3,
        "rejected": 2,
        "rejected_lines": [
            {"line": 3, "text": "12345", "reason": "not a valid phone number (region US)"},
            {"line": 7, "text": "call me maybe", "reason": "not a valid phone number (region US)"},
        ],
    }
    expected = ["+12125550101", "+12125550102", "+442071838750"]
    assert api.numbers(a) == expected
    assert api.on_topic("imp-a") == expected

    # A multipart upload (curl -F file=@...) with national numbers of another region.
    up = api.http.post(
        "/v1/dnc/import",
        params={"region": "FR"},
        files={"file": ("numbers.txt", "01 42 68 53 00\n", "text/plain")},
        headers=a,
    )
    assert up.status_code == 200 and up.json()["accepted"] == 1, up.text
    expected = ["+12125550101", "+12125550102", "+33142685300", "+442071838750"]
    assert api.numbers(a) == expected

    # Over the JSON size limit but a file upload: the upload limit applies.
    big = "".join(f"+1212555{i:04d}\n" for i in range(200, 400))
    assert len(big) > MAX_JSON
    r = api.http.post("/v1/dnc/import", content=big, headers={**b, "Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["accepted"] == 200, r.text
    assert len(api.numbers(b)) == 200
    wrong = api.http.post(
        "/v1/dnc/import", content=b"{}", headers={**b, "Content-Type": "application/json"}
    )
    assert wrong.status_code == 415 and wrong.headers["content-type"].startswith(PROBLEM)

    export = api.http.get("/v1/dnc/export.csv", headers=a)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.text.splitlines()
    assert lines[0] == "number,added_at"
    assert [line.split(",")[0] for line in lines[1:]] == ["'" + n for n in expected]
    # What export writes, import reads back unchanged (here onto account B's list).
    back = api.http.post(
        "/v1/dnc/import", content=export.text, headers={**b, "Content-Type": "text/csv"}
    )
    assert back.json()["accepted"] == 4 and back.json()["rejected"] == 0, back.text
    assert set(expected) <= set(api.numbers(b))


def test_accounts_see_only_their_own_list_and_the_global_list_is_the_operators(
    api: Api,
) -> None:
    a = api.account("ten-a")
    b = api.account("ten-b")
    assert (
        api.http.post("/v1/dnc", json={"numbers": ["+12125550101"]}, headers=a).status_code == 201
    )
    assert api.numbers(b) == []
    assert api.http.get("/v1/dnc/export.csv", headers=b).text.splitlines() == ["number,added_at"]
    # B cannot take A's number off A's list: it is not on B's list (a 404, as for a campaign).
    assert api.http.delete("/v1/dnc/+12125550101", headers=b).status_code == 404
    assert api.numbers(a) == ["+12125550101"]

    # The global list: the operator key only.
    assert api.http.get("/v1/operator/dnc", headers=a).status_code == 401
    denied = api.http.post("/v1/operator/dnc", json={"numbers": ["+12125550199"]}, headers=a)
    assert denied.status_code == 401
    ok = api.http.post("/v1/operator/dnc", json={"numbers": ["+12125550199"]}, headers=api.operator)
    assert ok.status_code == 201, ok.text
    assert api.numbers(api.operator, "/v1/operator/dnc") == ["+12125550199"]
    assert api.on_topic(None) == ["+12125550199"]  # a global key: the number alone
    assert api.numbers(a) == ["+12125550101"]  # an account's page lists its own entries
    # The operator key is not an account key: /v1/dnc is an account's list.
    assert api.http.get("/v1/dnc", headers=api.operator).status_code == 401
    out = api.http.delete("/v1/operator/dnc/+12125550199", headers=api.operator)
    assert out.status_code == 204
    assert api.numbers(api.operator, "/v1/operator/dnc") == []


def test_an_idempotency_key_returns_the_first_answer(api: Api) -> None:
    a = api.account("idem-a")
    h = {**a, "Idempotency-Key": "dnc-add-1"}
    first = api.http.post("/v1/dnc", json={"numbers": ["+12125550101"]}, headers=h)
    assert first.status_code == 201
    api.http.delete("/v1/dnc/+12125550101", headers=a)
    repeat = api.http.post("/v1/dnc", json={"numbers": ["+12125550101"]}, headers=h)
    assert repeat.status_code == 201 and repeat.json() == first.json()
    assert api.numbers(a) == []  # the repeat was answered, not done again
    other = api.http.post("/v1/dnc", json={"numbers": ["+12125550102"]}, headers=h)
    assert other.status_code == 422 and "different request" in other.json()["detail"]

    imp = {**a, "Idempotency-Key": "dnc-import-1", "Content-Type": "text/plain"}
    once = api.http.post("/v1/dnc/import", content="+12125550103\n", headers=imp)
    twice = api.http.post("/v1/dnc/import", content="+12125550103\n", headers=imp)
    assert once.status_code == twice.status_code == 200 and once.json() == twice.json()
    # Another account's identical key is its own.
    b = api.account("idem-b")
    mine = api.http.post(
        "/v1/dnc", json={"numbers": ["+12125550101"]}, headers={**b, "Idempotency-Key": "dnc-add-1"}
    )
    assert mine.status_code == 201 and api.numbers(b) == ["+12125550101"]


def test_a_size_limit_answers_a_problem(api: Api) -> None:
    a = api.account("size-a")
    many = {"numbers": [f"+1212555{i:04d}" for i in range(300)]}
    r = api.http.post("/v1/dnc", json=many, headers=a)
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_an_accounts_list_blocks_its_own_campaign_and_not_another_accounts(
    rig: Rig, tmp_path: Path
) -> None:
    ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    with running_api(rig.bootstrap, rig.prefix, tmp_path / "api") as api:
        a = api.account("live-a")
        b = api.account("live-b")
        for h in (a, b):
            setup_account(api.http, h)
        listed = api.http.post("/v1/dnc", json={"numbers": ["(202) 555-3001"]}, headers=a)
        assert listed.status_code == 201, listed.text
        rig.wait_ready(port)
        people = [
            {"contact_id": "x", "phone_number": "+12025553001", "name": "X", "plan": "gold"},
            {"contact_id": "y", "phone_number": "+12025553002", "name": "Y", "plan": "gold"},
        ]
        for h, cid in ((a, "live-a-1"), (b, "live-b-1")):
            r = api.http.post(
                "/v1/campaigns",
                json={"definition": definition(cid), "contacts": people},
                headers=h,
            )
            assert r.status_code == 201, r.text
            started = api.http.post(f"/v1/campaigns/{cid}/start", headers=h)
            assert started.status_code == 200, started.text
        for cid in ("live-a-1", "live-b-1"):
            wait_until(lambda c=cid: "completed" in statuses(events, c), 90, f"{cid} completed")

        def finals(cid: str) -> dict[str, str]:
            return {
                x["contact_id"]: x["status"] for x in bodies(events.snapshot(), cid, "ContactFinal")
            }

        assert finals("live-a-1") == {"x": "suppressed", "y": "reached"}
        assert finals("live-b-1") == {"x": "reached", "y": "reached"}


def test_a_search_pages_through_the_numbers_that_start_with_its_digits(api: Api) -> None:
    a = api.account("dnc-search")
    numbers = ["+12125550101", "+12125550102", "+12125550103", "+13125550101", "+442071838750"]
    assert api.http.post("/v1/dnc", json={"numbers": numbers}, headers=a).status_code == 201
    found: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "q": "1 (212)"}
        if cursor:
            params["cursor"] = cursor
        r = api.http.get("/v1/dnc", params=params, headers=a)
        assert r.status_code == 200, r.text
        found += [i["number"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert found == ["+12125550101", "+12125550102", "+12125550103"]
    r = api.http.get("/v1/dnc", params={"q": "+44"}, headers=a)
    assert [i["number"] for i in r.json()["items"]] == ["+442071838750"]
    r = api.http.get("/v1/dnc", params={"q": "abc"}, headers=a)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["field"] == "q"
