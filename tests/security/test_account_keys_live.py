"""The account is the unit of every key, live on a `dev up` stack (issue 21 items 4, 5, 6;
issue 22 item 1): two accounts, the real broker, worker, simulated dialer, sink and API.

- 21.6: campaign ids are per account. Two accounts both create `spring` (the second got a
  409 that told the id was used, or took the first's campaign over); each sees, calls,
  duplicates and analyses only its own, and every record of an account is keyed by it
  and lands on one partition.
- 21.4: a record without an account (a v1 cancel, a v1 contact batch) was trusted and
  acted on any account's campaign; now it is parked and changes nothing.
- 21.5: the read model listed a batch the engine refused; now it lists what the engine
  took (its ContactsAccepted events), and a path id that is no campaign id is a 404.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from campaigns import testing
from campaigns.events import Command, CommandKind
from streams.partitioner import partition_of
from tests.helpers import contact, wait_until
from tests.integration.api_kit import definition as api_definition
from tests.integration.api_kit import setup_account
from tests.integration.dialer_kit import read_all
from tests.integration.test_api_flow import Stack, all_pages, cli, start, wait_campaign
from tests.integration.test_api_flow import stack as stack  # noqa: F401 - the module's stack
from tests.security.test_tenancy import _v1_bytes
from topics import catalogue, translate
from topics.clients import KafkaSettings, producer_config
from topics.codec import Codec

pytestmark = pytest.mark.timeout(1200)  # whole campaigns on a shared, loaded machine

ACME, BETA = "keys-acme", "keys-beta"
NUMBERS = {
    ACME: ["+12125551001", "+12125551002", "+12125551003"],
    BETA: ["+12125552001", "+12125552002"],
}


def _csv(numbers: list[str]) -> str:
    rows = ["contact_id,phone_number,name,plan"]
    rows += [f"c{i},{n},Name {i},gold" for i, n in enumerate(numbers, 1)]
    return "\n".join(rows) + "\n"


def _upload(stack: Stack, headers: dict[str, str], cid: str, numbers: list[str]) -> httpx.Response:
    return stack.http.post(
        "/v1/campaigns",
        files={
            "definition": (None, json.dumps(api_definition(cid))),
            "contacts": ("contacts.csv", _csv(numbers), "text/csv"),
        },
        headers=headers,
    )


def _until(pred: Callable[[], Any], what: str) -> Any:
    """Wait on progress (tests.helpers.wait_until: a generous window, no fixed deadline)."""
    return wait_until(pred, what, poll_seconds=0.5)


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> dict[str, dict[str, str]]:  # noqa: F811 - the imported fixture
    """The two accounts of this module, each with the agent and numbers it names."""
    made = {name: stack.account(name) for name in (ACME, BETA)}
    for headers in made.values():
        setup_account(stack.http, headers)
    return made


def _topic(stack: Stack, logical: str) -> str:
    return catalogue.topic_name(logical, stack.env["CAMPAIGNFLOW_TOPIC_PREFIX"])


def _produce(stack: Stack, logical: str, key: bytes, value: bytes) -> None:
    """As any producer must (ingest/README.md): murmur2 over the account key."""
    producer = Producer(producer_config(KafkaSettings(stack.env["KAFKA_BOOTSTRAP_SERVERS"])))
    producer.produce(_topic(stack, logical), key=key, value=value)
    assert producer.flush(30) == 0


def _sql(stack: Stack, query: str) -> list[dict[str, Any]]:
    out = cli(stack.env, "sql", query, "--format", "json", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_two_accounts_each_have_their_own_spring_end_to_end(
    stack: Stack,  # noqa: F811
    accounts: dict[str, dict[str, str]],
) -> None:
    acme, beta = accounts[ACME], accounts[BETA]
    assert _upload(stack, acme, "spring", NUMBERS[ACME]).status_code == 201
    r = _upload(stack, beta, "spring", NUMBERS[BETA])
    assert r.status_code == 201, r.text  # was 409: "campaign_id 'spring' is already in use"
    for name, headers in accounts.items():
        n = len(NUMBERS[name])
        wait_campaign(stack, headers, "spring", lambda c, n=n: c["counters"]["contacts_total"] == n)
        listed = _until(
            lambda h=headers, n=n: (
                (got := all_pages(stack, h, "/v1/campaigns/spring/contacts"))
                and len(got) >= n
                and got
            ),
            f"{name}'s contacts listed",
        )
        assert sorted(c["phone_last4"] for c in listed) == sorted(x[-4:] for x in NUMBERS[name])
    # beta's duplicate copies beta's contacts, never acme's
    r = stack.http.post(
        "/v1/campaigns/spring/duplicate", json={"campaign_id": "spring-again"}, headers=beta
    )
    assert r.status_code == 201, r.text
    wait_campaign(stack, beta, "spring-again", lambda c: c["counters"]["contacts_total"] == 2)
    assert stack.http.get("/v1/campaigns/spring-again", headers=acme).status_code == 404

    for headers in accounts.values():
        assert start(stack, headers, "spring").status_code == 200
    for headers in accounts.values():
        wait_campaign(stack, headers, "spring", lambda c: c["status"] == "completed")
    for name, headers in accounts.items():
        calls = all_pages(stack, headers, "/v1/campaigns/spring/calls")
        assert calls and {c["to_last4"] for c in calls} <= {x[-4:] for x in NUMBERS[name]}
        assert "spring/c1/1" in {c["call_id"] for c in calls}  # the same call id, twice

    _each_account_is_keyed_and_on_one_partition(stack)
    _the_sink_keeps_both_accounts_calls(stack)


def _each_account_is_keyed_and_on_one_partition(stack: Stack) -> None:
    partitions = int(stack.env.get("CAMPAIGNFLOW_PARTITIONS", catalogue.DEFAULT_PARTITIONS))
    for logical in (
        catalogue.COMMANDS,
        catalogue.CONTACTS,
        catalogue.CALL_CREATE,
        catalogue.OUTCOMES,
        catalogue.EVENTS,
    ):
        seen: dict[str, set[int]] = {}
        for msg, _event, rec in read_all(
            stack.env["KAFKA_BOOTSTRAP_SERVERS"], _topic(stack, logical)
        ):
            account = rec.get("account_id")
            if account not in (ACME, BETA):
                continue
            assert msg.key() == account.encode(), (logical, msg.key(), account)
            seen.setdefault(account, set()).add(msg.partition())
        assert set(seen) == {ACME, BETA}, (logical, seen)
        for account, parts in seen.items():
            assert parts == {partition_of(account.encode(), partitions)}, (logical, account, parts)


def _the_sink_keeps_both_accounts_calls(stack: Stack) -> None:
    """ClickHouse keys lead with account_id: acme's and beta's spring/c1/1 are two rows."""
    query = (
        "SELECT account_id, count() AS calls, countIf(finished) AS ended FROM v_calls"
        " WHERE campaign_id = 'spring' AND call_id = 'spring/c1/1' GROUP BY account_id"
        " ORDER BY account_id"
    )
    rows = _until(
        lambda: (
            (got := _sql(stack, query))
            and all(r["ended"] == 1 for r in got)
            and len(got) == 2
            and got
        ),
        "both accounts' spring/c1/1 in ClickHouse",
    )
    assert [(r["account_id"], r["calls"]) for r in rows] == [(ACME, 1), (BETA, 1)]


def test_records_without_an_account_are_parked_and_change_nothing(
    stack: Stack,  # noqa: F811
    accounts: dict[str, dict[str, str]],
) -> None:
    """21.4: a v1 cancel cancelled another account's campaign and a v1 batch added a
    number that was called; both are parked now."""
    acme = accounts[ACME]
    cid = f"v1-target-{uuid.uuid4().hex[:6]}"
    assert _upload(stack, acme, cid, NUMBERS[ACME][:2]).status_code == 201
    wait_campaign(stack, acme, cid, lambda c: c["counters"]["contacts_total"] == 2)
    cancel = translate.command_to_record(cid, Command("v1-cancel", CommandKind.cancel), 0)
    batch = translate.batch_to_record(cid, f"{cid}/v1", [contact(7)], 0, None)
    _produce(stack, catalogue.COMMANDS, ACME.encode(), _v1_bytes("CampaignCommand", cancel))
    _produce(stack, catalogue.CONTACTS, ACME.encode(), _v1_bytes("ContactBatch", batch))

    def parked() -> bool:
        letters = read_all(
            stack.env["KAFKA_BOOTSTRAP_SERVERS"], _topic(stack, catalogue.DEADLETTER)
        )
        errors = [r.get("error", "") for _m, _e, r in letters]
        return sum("no account_id" in e for e in errors) >= 2

    _until(parked, "the two records without an account on the dead-letter topic")
    # the engine went on: the campaign starts, as a draft does, and calls its own two only
    assert start(stack, acme, cid).status_code == 200
    body = wait_campaign(stack, acme, cid, lambda c: c["status"] == "completed")
    assert body["counters"]["contacts_total"] == 2
    calls = all_pages(stack, acme, f"/v1/campaigns/{cid}/calls")
    assert {c["contact_id"] for c in calls} == {"c1", "c2"}


def test_the_read_model_lists_only_what_the_engine_took(
    stack: Stack,  # noqa: F811
    accounts: dict[str, dict[str, str]],
) -> None:
    """21.5: contacts the engine refused were listed, counted, exported and duplicated."""
    acme, beta = accounts[ACME], accounts[BETA]
    cid = f"closed-{uuid.uuid4().hex[:6]}"
    assert _upload(stack, acme, cid, NUMBERS[ACME][:2]).status_code == 201
    wait_campaign(stack, acme, cid, lambda c: c["counters"]["contacts_total"] == 2)
    assert stack.http.post(f"/v1/campaigns/{cid}/cancel", headers=acme).status_code == 200
    wait_campaign(stack, acme, cid, lambda c: c["status"] == "cancelled")
    codec = Codec(None)
    late = translate.batch_to_record(cid, f"{cid}/late", [contact(8)], 0, ACME)
    foreign = translate.batch_to_record(cid, f"{cid}/foreign", [contact(9)], 0, BETA)
    _produce(stack, catalogue.CONTACTS, ACME.encode(), codec.encode("ContactBatch", late))
    _produce(stack, catalogue.CONTACTS, BETA.encode(), codec.encode("ContactBatch", foreign))

    def refused() -> bool:
        events = read_all(stack.env["KAFKA_BOOTSTRAP_SERVERS"], _topic(stack, catalogue.EVENTS))
        return any(
            r.get("account_id") == ACME
            and r.get("campaign_id") == cid
            and r["body"][0].endswith("ContactRejected")
            and r["body"][1].get("contact_id") == "row-8"
            for _m, _e, r in events
        )

    _until(refused, "the engine's refusal of the late contact")
    # A marker whose status change comes after the refusal on acme's events partition: once
    # the read model shows it, it has folded the refusal too.
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    assert _upload(stack, acme, marker, NUMBERS[ACME][:1]).status_code == 201
    wait_campaign(stack, acme, marker, lambda c: c["counters"]["contacts_total"] == 1)
    assert start(stack, acme, marker).status_code == 200
    wait_campaign(stack, acme, marker, lambda c: c["status"] in ("running", "completed"))

    body = stack.http.get(f"/v1/campaigns/{cid}", headers=acme).json()
    assert body["counters"]["contacts_total"] == 2, body
    listed = all_pages(stack, acme, f"/v1/campaigns/{cid}/contacts")
    assert sorted(c["contact_id"] for c in listed) == ["c1", "c2"]
    export = stack.http.get(f"/v1/campaigns/{cid}/export.csv", headers=acme)
    assert export.status_code == 200 and "row-8" not in export.text and "row-9" not in export.text
    r = stack.http.post(
        f"/v1/campaigns/{cid}/duplicate", json={"campaign_id": f"{cid}-copy"}, headers=acme
    )
    assert r.status_code == 201, r.text
    wait_campaign(stack, acme, f"{cid}-copy", lambda c: c["counters"]["contacts_total"] == 2)
    # the batch labelled beta is beta's: beta has no such campaign
    assert stack.http.get(f"/v1/campaigns/{cid}", headers=beta).status_code == 404


def test_a_campaign_id_that_is_no_campaign_id_is_never_listed_nor_a_500(
    stack: Stack,  # noqa: F811
    accounts: dict[str, dict[str, str]],
) -> None:
    """21.5: a campaign id with `|`, written straight to the topic, was listed and made
    GET contacts answer 500. The worker parks it, the read model skips it, the API says 404."""
    acme = accounts[ACME]
    codec = Codec(None)
    evil = "evil|id"
    create = Command(
        "evil-create",
        CommandKind.create,
        definition=testing.definition("evil", account_id=ACME, concurrent_calls=1),
        expected_contacts=1,
        account_id=ACME,
    )
    rec = translate.command_to_record(evil, create, 0)
    _produce(stack, catalogue.COMMANDS, ACME.encode(), codec.encode("CampaignCommand", rec))
    batch = translate.batch_to_record(evil, "evil/b", [contact(5)], 0, ACME)
    _produce(stack, catalogue.CONTACTS, ACME.encode(), codec.encode("ContactBatch", batch))
    # a campaign created after it on acme's partitions: once listed, the bad one was read
    marker = f"marker-{uuid.uuid4().hex[:6]}"
    assert _upload(stack, acme, marker, NUMBERS[ACME][:1]).status_code == 201
    wait_campaign(stack, acme, marker, lambda c: c["counters"]["contacts_total"] == 1)
    listed = all_pages(stack, acme, "/v1/campaigns")
    assert marker in {c["campaign_id"] for c in listed}
    assert not [c for c in listed if "|" in c["campaign_id"]]
    for path in (
        "/v1/campaigns/evil%7Cid/contacts",
        "/v1/campaigns/evil%7Cid",
        "/v1/campaigns/evil%7Cid/export.csv",
        "/v1/campaigns/A%20B/calls",
    ):
        r = stack.http.get(path, headers=acme)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
