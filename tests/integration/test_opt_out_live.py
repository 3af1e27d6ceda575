"""Opt-outs and do-not-call lists on the real broker (SPEC section 7).

An outcome with `opt_out: true` on call.outcomes puts the dialled number on the
account's list (a record on campaign.dnc); a second campaign of the account, run by a
fresh worker that knows the list only from the topic, suppresses the contact whose
primary it is and leaves it out as an alternate; another account still calls it. The
`campaignflow dnc` commands import a file with bad lines, list, export and remove.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from campaignflow.config import settings
from campaigns.contacts import Alternate, Contact
from campaigns.events import CommandKind
from ingest.dnc import DncWriter, Scope, entries, read_lists
from tests.integration.test_worker import bodies, command, create, definition, statuses
from tests.integration.worker_rig import Rig, ScriptedDialer, wait_until
from topics import catalogue
from topics.admin import admin_client, create_topics, delete_topics
from topics.clients import KafkaSettings

pytestmark = pytest.mark.integration  # bound: the session timeout; waits fail on a stall

CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")
OPTED = "+12025553001"
OTHER = "+12025553002"


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate("acme", "globex", "initech")  # no account is active without a record
    try:
        yield r
    finally:
        r.close()


def finals(events: Any, cid: str) -> dict[str, str]:
    return {b["contact_id"]: b["status"] for b in bodies(events.snapshot(), cid, "ContactFinal")}


def test_an_opt_out_on_call_outcomes_lists_the_number_for_the_whole_account(rig: Rig) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered", opt_outs=frozenset({("p0", 1)}))
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)

    first = definition("oo-1", max_retries=2)
    people = [
        Contact("p0", 1, OPTED, [], {"name": "Pat"}),
        Contact("p1", 2, "+12025553002", [], {"name": "Sam"}),
    ]
    create(rig, first, len(people))
    rig.send_contacts(first.campaign_id, people)
    command(rig, first.campaign_id, CommandKind.start, "oo-1-start")
    wait_until(lambda: "completed" in statuses(events, "oo-1"), 60, "oo-1 completed")
    assert finals(events, "oo-1") == {"p0": "opted_out", "p1": "reached"}

    dnc_topic = rig.topic(catalogue.DNC)
    listed = wait_until(
        lambda: read_lists(None, KafkaSettings(rig.bootstrap), topic=dnc_topic),
        30,
        "the opt-out on campaign.dnc",
    )
    assert [(e.account_id, e.number) for e in entries(listed)] == [("acme", OPTED)]

    # A fresh worker knows the list only from the topic (no in-process entry survives).
    rig.kill(port, signal.SIGTERM)
    port = rig.start_worker()
    rig.wait_ready(port)

    second = definition("oo-2", max_retries=1, retry_delay_minutes=0.01)
    again = [
        Contact("q0", 1, OPTED, [], {"name": "Pat again"}),
        Contact("q1", 2, "+12025553010", [Alternate(2, OPTED, {})], {"name": "Lee"}),
    ]
    create(rig, second, len(again))
    rig.send_contacts(second.campaign_id, again)
    command(rig, second.campaign_id, CommandKind.start, "oo-2-start")
    other = definition("oo-3").model_copy(update={"account_id": "globex"})
    create(rig, other, 1)
    rig.send_contacts(other.campaign_id, [Contact("g0", 1, OPTED, [], {"name": "Pat"})])
    command(rig, other.campaign_id, CommandKind.start, "oo-3-start")
    wait_until(lambda: "completed" in statuses(events, "oo-2"), 60, "oo-2 completed")
    wait_until(lambda: "completed" in statuses(events, "oo-3"), 60, "oo-3 completed")
    assert finals(events, "oo-2") == {"q0": "suppressed", "q1": "reached"}
    assert finals(events, "oo-3") == {"g0": "reached"}
    dialled = {(c["campaign_id"], c["to"]) for c in dialer.calls()}
    assert ("oo-2", OPTED) not in dialled
    assert ("oo-3", OPTED) in dialled


def test_a_global_entry_blocks_every_account(rig: Rig) -> None:
    """A global entry (the way `dnc add --global` writes it) suppresses any account's contact."""
    ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    dnc_topic = rig.topic(catalogue.DNC)
    writer = DncWriter(Scope(None), KafkaSettings(rig.bootstrap), topic=dnc_topic)
    writer.add(OPTED)
    writer.close()
    port = rig.start_worker()
    rig.wait_ready(port)
    d = definition("gl-1").model_copy(update={"account_id": "initech"})
    create(rig, d, 1)
    rig.send_contacts(d.campaign_id, [Contact("a", 1, OPTED, [], {"name": "A"})])
    command(rig, d.campaign_id, CommandKind.start, "gl-1-start")
    wait_until(lambda: "completed" in statuses(events, "gl-1"), 60, "gl-1 completed")
    assert finals(events, "gl-1") == {"a": "suppressed"}


@pytest.fixture()
def prefixed(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    prefix = f"itd-{uuid.uuid4().hex[:8]}."
    spec = replace(settings().topics_at(prefix).spec(catalogue.DNC), partitions=3)
    create_topics([spec], admin_client(settings().kafka))
    env = {
        **os.environ,
        "CAMPAIGNFLOW_TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    try:
        yield env
    finally:
        delete_topics([spec.name], admin_client(settings().kafka))


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CAMPAIGNFLOW, "dnc", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def test_dnc_import_reports_bad_lines_and_the_lists_read_back(
    prefixed: dict[str, str], tmp_path: Path
) -> None:
    numbers = tmp_path / "numbers.txt"
    numbers.write_text(
        "phone_number\n"  # a header: skipped
        "(212) 555-0101\n"
        "12345\n"  # line 3: too short
        "\n"
        "+44 20 7183 8750\n"
        "# a comment\n"
        "call me maybe\n"  # line 7
        "212-555-0102,Bob\n"  # a CSV line counts by its first field
        "(212) 555-0101\n",  # again: one entry
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    out = cli(prefixed, "import", str(numbers), "--account", "acme", "--rejects", str(rejects))
    assert out.returncode == 0, out.stderr
    assert f"{numbers}: line 3: not a valid phone number (region US): 12345" in out.stderr
    assert f"{numbers}: line 7: not a valid phone number (region US): call me maybe" in out.stderr
    assert "imported 4 number(s) to account acme from 9 line(s): 2 rejected" in out.stdout
    assert rejects.read_text().splitlines()[1:] == [
        "3,not a valid phone number (region US),12345",
        "7,not a valid phone number (region US),call me maybe",
    ]

    assert cli(prefixed, "add", "+1 202 555 0199", "--global").returncode == 0
    listed = cli(prefixed, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t")[:2] for line in listed.stdout.splitlines()]
    assert rows == [
        ["*global*", "+12025550199"],
        ["acme", "+12125550101"],
        ["acme", "+12125550102"],
        ["acme", "+442071838750"],
    ]
    assert cli(prefixed, "remove", "212 555 0102", "--account", "acme").returncode == 0
    exported = cli(prefixed, "export", "-", "--account", "acme")
    assert exported.stdout.splitlines() == ["+12125550101", "+442071838750"]
    # What export writes, import reads back unchanged (the global list gets a copy).
    back = cli(prefixed, "import", "-", "--global", stdin=exported.stdout)
    assert "imported 2 number(s) to the global list" in back.stdout
    assert cli(prefixed, "export", "-", "--global").stdout.splitlines() == [
        "+12025550199",
        "+12125550101",
        "+442071838750",
    ]
    missing = cli(prefixed, "import", str(numbers))
    assert missing.returncode == 2 and "--account ID or --global" in missing.stderr
    region = cli(prefixed, "import", str(numbers), "--global", "--default-region", "XX")
    assert region.returncode == 2 and "unknown region code 'XX'" in region.stderr


def test_an_entry_added_while_the_worker_runs_blocks_at_once(rig: Rig) -> None:
    """`dnc add` after the worker started reaches it: the list is followed live, not only read at start."""
    ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    writer = DncWriter(Scope(None), KafkaSettings(rig.bootstrap), topic=rig.topic(catalogue.DNC))
    writer.add(OPTED)
    writer.close()
    d = definition("live-1").model_copy(update={"account_id": "initech"})
    create(rig, d, 2)
    rig.send_contacts(
        d.campaign_id,
        [Contact("a", 1, OPTED, [], {"name": "A"}), Contact("b", 2, OTHER, [], {"name": "B"})],
    )
    time.sleep(3)  # the entry travels the topic while the campaign is still a draft
    command(rig, d.campaign_id, CommandKind.start, "live-1-start")
    wait_until(lambda: "completed" in statuses(events, "live-1"), 60, "live-1 completed")
    assert finals(events, "live-1") == {"a": "suppressed", "b": "reached"}
