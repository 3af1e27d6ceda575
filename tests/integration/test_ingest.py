"""On the real broker: CSV upload, idempotent re-upload, bad input, manual entry, lifecycle commands."""

from __future__ import annotations

import csv
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from campaignflow.config import settings
from campaigns.engine import Engine
from campaigns.events import CampaignStatus, Command, CommandKind
from campaigns.models import DefinitionError
from campaigns.store import MemoryStore, StaticDirectory
from ingest import CampaignClient, UploadError
from ingest.manual import derived_id
from ingest.upload import Target, ensure_topics
from topics import catalogue
from topics.admin import delete_topics
from topics.clients import KafkaSettings, admin_config, consumer_config, producer_config
from topics.codec import decode, encode
from topics.translate import command_from_record, contact_from_record, event_to_record

pytestmark = pytest.mark.integration

DEFINITION: dict[str, Any] = {
    "campaign_id": "spring",
    "account_id": "acme",
    "name": "Spring renewals",
    "agent": {"id": "bot", "prompt": "Hi {{customer_name}}, about your {{plan}} plan."},
    "source_number": "+15550100000",
    "variable_mapping": {"name": "customer_name", "plan_name": "plan"},
    "rules": {
        "timezone": "America/New_York",
        "concurrent_calls": 2,
        "max_retries": 2,
        "retry_delay_minutes": 30,
    },
}

LIST = (
    "contact_id,phone_number,name,plan_name,phone_number_2,name_2,phone_number_3,plan_name_3,timezone\n"
    "c1,(212) 555-0101,Ann,gold,+1 415 555 0102,Bob,646-555-0103,silver,America/Chicago\n"
    ",2125550104,Cy,bronze,,,,,\n"
    "c3,12,Ed,gold,,,,,\n"
    "c4,2125550104,Fi,gold,,,,,\n"
    "c5,2125550105,Gus,gold,,,,,Mars/Base\n"
    "c6,+44 20 7946 0958,Hal,gold,2125550106,,,,\n"
)


@pytest.fixture(scope="module")
def target(kafka_bootstrap: str) -> Iterator[Target]:
    t = Target(
        KafkaSettings(kafka_bootstrap), settings().topics_at(f"it-ingest-{uuid.uuid4().hex[:8]}.")
    )
    ensure_topics(t)
    yield t
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(admin_config(KafkaSettings(kafka_bootstrap)))
    delete_topics([s.name for s in t.topics.catalogue().values()], admin=admin)


@pytest.fixture()
def client(target: Target) -> Iterator[CampaignClient]:
    with CampaignClient(target.kafka, target.topics, timeout_seconds=30) as c:
        yield c


def write(tmp_path: Path, campaign_id: str, contacts: str | bytes) -> tuple[Path, Path]:
    d = dict(DEFINITION, campaign_id=campaign_id)
    y = tmp_path / "campaign.yaml"
    y.write_text(yaml.safe_dump(d), encoding="utf-8")
    c = tmp_path / "contacts.csv"
    c.write_bytes(contacts.encode() if isinstance(contacts, str) else contacts)
    return y, c


def consume(target: Target, logical: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every record of a topic now, from the beginning: (key, decoded record)."""
    consumer = Consumer(consumer_config(target.kafka, f"it-{uuid.uuid4().hex}"))
    topic = catalogue.topic_name(logical, target.prefix)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        got: list[tuple[bytes | None, dict[str, Any]]] = []
        seen: dict[int, int] = {}
        idle = 0
        while any(seen.get(p, -1) < end - 1 for p, end in ends.items()) and idle < 30:
            batch = consumer.consume(500, timeout=1.0)
            idle = 0 if batch else idle + 1
            for msg in batch:
                assert msg.error() is None
                seen[msg.partition()] = msg.offset()
                got.append((msg.key(), decode(msg.value())[1]))
        return got
    finally:
        consumer.close()


def contacts_of(target: Target, campaign_id: str) -> list[Any]:
    out = []
    for key, rec in consume(target, catalogue.CONTACTS):
        if rec["campaign_id"] == campaign_id:
            assert key == b"acme"
            out += [contact_from_record(c) for c in rec["contacts"]]
    return out


def commands_of(target: Target, campaign_id: str) -> list[Command]:
    return [
        command_from_record(rec)
        for _, rec in consume(target, catalogue.COMMANDS)
        if rec["campaign_id"] == campaign_id
    ]


def test_csv_round_trips_with_alternates_overrides_and_rejections(
    client: CampaignClient, target: Target, tmp_path: Path
) -> None:
    y, c = write(tmp_path, "spring", LIST)
    s = client.create(y, c)
    assert (s.rows, s.accepted, s.rejected) == (6, 3, 3)
    got = {x.contact_id: x for x in contacts_of(target, "spring")}
    assert set(got) == {"c1", "row-2", "c6"}
    c1 = got["c1"]
    assert c1.row == 1 and c1.phone_number == "+12125550101" and c1.timezone == "America/Chicago"
    assert [(a.position, a.phone_number, a.variables) for a in c1.alternates] == [
        (2, "+14155550102", {"name": "Bob"}),
        (3, "+16465550103", {"plan_name": "silver"}),
    ]
    assert c1.variables == {"name": "Ann", "plan_name": "gold"}
    assert got["row-2"].phone_number == "+12125550104" and got["row-2"].alternates == []
    assert got["c6"].phone_number == "+442079460958"
    assert got["c6"].alternates[0].phone_number == "+12125550106"
    # the create command went out with the accepted count
    creates = [k for k in commands_of(target, "spring") if k.kind is CommandKind.create]
    assert len(creates) == 1 and creates[0].expected_contacts == 3
    assert creates[0].definition is not None and creates[0].definition.campaign_id == "spring"
    # rejects report and dead letters
    report = list(csv.DictReader((tmp_path / "contacts.rejects.csv").open(encoding="utf-8")))
    assert [(r["row"], r["column"]) for r in report] == [
        ("3", "phone_number"),
        ("4", "phone_number"),
        ("5", "timezone"),
    ]
    assert report[0]["reason"] == "not a valid phone number: '12'" and report[0]["name"] == "Ed"
    parked = [
        r
        for _, r in consume(target, catalogue.DEADLETTER)
        if r["key"] == b"acme" and "(campaign spring)" in r["error"]
    ]
    assert sorted(r["offset"] for r in parked) == [3, 4, 5]
    assert all(r["stage"] == "ingest" and "contacts.csv: row" in r["error"] for r in parked)


def test_second_identical_upload_changes_nothing_the_engine_keeps(
    client: CampaignClient, target: Target, tmp_path: Path
) -> None:
    y, c = write(tmp_path, "twice", LIST)
    first = client.create(y, c)
    second = client.create(y, c)
    assert first.accepted == second.accepted == 3
    contacts = contacts_of(target, "twice")
    assert len(contacts) == 6
    assert [x.contact_id for x in contacts[:3]] == [x.contact_id for x in contacts[3:]]
    # the real engine over what came back from the topics: 3 contacts, one campaign
    store = MemoryStore()
    engine = Engine(store, StaticDirectory())
    cmds = commands_of(target, "twice")
    events = engine.step_campaign("twice", 0, contacts=contacts, commands=cmds)
    camp = store.get_campaign("twice")
    assert camp is not None and camp.arrived == 3 and camp.expected == 3
    rejected = [e for e in events if type(e).__name__ == "CommandRejected"]
    assert len(rejected) == 1 and "already exists" in rejected[0].reason  # type: ignore[attr-defined]


BAD_INPUTS: list[tuple[str, bytes, str]] = [
    ("missing-phone", b"name,plan_name\nAnn,gold\n", "required column 'phone_number' is missing"),
    ("empty", b"", "the file is empty"),
    (
        "bad-bytes",
        b"phone_number,name\n2125550101,Ann\n2125550102,B\xffob\n",
        "byte 45: not UTF-8 (0xff)",
    ),
    (
        "open-quote",
        b'phone_number,name\n2125550101,Ann\n2125550102,"Bob\n2125550103,Cy\n',
        "unterminated quote",
    ),
    (
        "huge-cell",
        b"phone_number,name\n2125550101,Ann\n2125550102," + b"x" * (10 * 1024 * 1024) + b"\n",
        "row 2 (line 3): a line of over 1048576 bytes",
    ),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gives_one_clear_line_a_report_and_no_create(
    client: CampaignClient, target: Target, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    y, c = write(tmp_path, f"bad-{name}", data)
    with pytest.raises(UploadError) as err:
        client.create(y, c)
    line = str(err.value)
    assert "\n" not in line and message in line and str(c) in line
    report = (tmp_path / "contacts.rejects.csv").read_text(encoding="utf-8")
    assert message in report
    assert not [k for k in commands_of(target, f"bad-{name}") if k.kind is CommandKind.create]


def test_unknown_timezone_and_unknown_variable(client: CampaignClient, tmp_path: Path) -> None:
    y, c = write(tmp_path, "tz", "phone_number,timezone\n2125550101,Mars/Base\n2125550102,UTC\n")
    s = client.create(y, c)
    assert (s.accepted, s.rejected) == (1, 1)
    assert "unknown IANA time zone 'Mars/Base'" in (tmp_path / "contacts.rejects.csv").read_text()
    bad = dict(DEFINITION, campaign_id="vars", variable_mapping={"plan_name": "tier"})
    y.write_text(yaml.safe_dump(bad), encoding="utf-8")
    c.write_text("phone_number,name,plan_name\n2125550101,Ann,gold\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        client.create(y, c)
    assert "variable_mapping.plan_name" in str(err.value)
    assert "column 3 'plan_name' maps to 'tier', which agent bot does not have" in str(err.value)
    assert "tier" in (tmp_path / "contacts.rejects.csv").read_text()
    bad_rules = dict(DEFINITION, rules=dict(DEFINITION["rules"], timezone="Mars/Base"))
    y.write_text(yaml.safe_dump(bad_rules), encoding="utf-8")
    with pytest.raises(DefinitionError, match="rules.timezone: unknown IANA time zone 'Mars/Base'"):
        client.create(y, c)


def test_dry_run_publishes_nothing(client: CampaignClient, target: Target, tmp_path: Path) -> None:
    y, c = write(tmp_path, "dry", LIST)
    s = client.create(y, c, dry_run=True)
    assert s.accepted == 3 and not s.published
    assert contacts_of(target, "dry") == [] and commands_of(target, "dry") == []


class MiniWorker(threading.Thread):
    """The real engine over campaign.commands/contacts, answering on campaign.events."""

    def __init__(self, target: Target) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.stop = threading.Event()
        self.engine = Engine(MemoryStore(), StaticDirectory())
        self.ready = threading.Event()

    def run(self) -> None:
        consumer = Consumer(consumer_config(self.target.kafka, f"mini-{uuid.uuid4().hex}"))
        producer = Producer(producer_config(self.target.kafka))
        topics = [
            catalogue.topic_name(t, self.target.prefix)
            for t in (catalogue.COMMANDS, catalogue.CONTACTS)
        ]
        parts = []
        for t in topics:
            for p in consumer.list_topics(t, timeout=10).topics[t].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                parts.append(TopicPartition(t, p, high))
        consumer.assign(parts)
        self.ready.set()
        n = 0
        while not self.stop.is_set():
            for msg in consumer.consume(100, timeout=0.2):
                event, rec = decode(msg.value())
                cid = rec["campaign_id"]
                if event == "CampaignCommand":
                    out = self.engine.step_campaign(cid, 0, commands=[command_from_record(rec)])
                else:
                    out = self.engine.step_campaign(
                        cid, 0, contacts=[contact_from_record(c) for c in rec["contacts"]]
                    )
                for ev in out:
                    r = event_to_record(rec["account_id"], ev, f"e{n}")
                    n += 1
                    if r is not None:
                        producer.produce(
                            catalogue.topic_name(catalogue.EVENTS, self.target.prefix),
                            value=encode("CampaignEvent", r),
                            key=rec["account_id"].encode(),
                        )
                producer.flush(10)
        consumer.close()


def test_lifecycle_commands_get_the_engines_answer(
    client: CampaignClient, target: Target, tmp_path: Path
) -> None:
    worker = MiniWorker(target)
    worker.start()
    assert worker.ready.wait(30)
    try:
        y, c = write(tmp_path, "life", LIST)
        s = client.create(y, c, wait=True)
        assert s.answer == "create life: accepted, campaign is draft"
        paused = client.pause("life")
        assert paused.outcome == "rejected" and paused.reason == "cannot pause a draft campaign"
        assert client.start("life").status == CampaignStatus.running
        assert client.pause("life").status == CampaignStatus.paused
        added = client.add_contacts("life", [{"phone_number": "2125550199", "name": "Zoe"}])
        assert [x.contact_id for x in added.accepted] == [derived_id("+12125550199")]
        assert client.resume("life").status == CampaignStatus.running
        assert client.cancel("life").status == CampaignStatus.cancelled
        assert client.start("life").outcome == "rejected"
        assert client.start("life", wait=False).outcome == "sent"
        info = {i.campaign_id: i for i in client.campaigns()}["life"]
        assert info.status == "cancelled" and info.expected_contacts == 4
        camp = worker.engine.store.get_campaign("life")
        assert camp is not None and camp.expected == 4 and camp.arrived == 4
    finally:
        worker.stop.set()
        worker.join(30)
