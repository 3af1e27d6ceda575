"""The engine worker on the real broker: live equals simulate, crashes, two workers, lifecycle, bad input.

Each test runs `campaignflow worker` subprocesses under its own topic prefix and
CAMPAIGNFLOW_HOME, with the scripted dialer of worker_rig answering call:create.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns import testing
from campaigns.contacts import Alternate, Contact
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition
from campaigns.simulate import ScriptedCall, SimDialer, Simulation
from campaigns.windows import US
from tests.helpers import STALL_SECONDS
from tests.integration.worker_rig import Rig, ScriptedDialer, now_us, wait_until
from topics import catalogue, translate

pytestmark = pytest.mark.integration  # bound: the session timeout; waits fail on a stall

NS = "io.campaignflow.v1."


def definition(campaign_id: str, **rules: Any) -> CampaignDefinition:
    base: dict[str, Any] = {
        "max_retries": 2,
        "retry_delay_minutes": 0.02,
        "concurrent_calls": 3,
        "max_call_minutes": 0.05,
        "caller_ids": {"numbers": ["+15550100001", "+15550100002"], "strategy": "rolling"},
    }
    return testing.definition(
        campaign_id, name="Live test", variable_mapping={}, **{**base, **rules}
    )


def contacts(n: int) -> list[Contact]:
    out = []
    for i in range(n):
        alts = [Alternate(2, f"+1202555{2000 + i:04d}", {"name": f"alt{i}"})] if i % 3 == 0 else []
        out.append(Contact(f"c{i}", i + 1, f"+1202555{1000 + i:04d}", alts, {"name": f"person{i}"}))
    return out


SCRIPT: dict[tuple[str, int], str] = {
    ("c0", 1): "answered",
    ("c1", 1): "busy",
    ("c1", 2): "answered",
    ("c2", 1): "invalid_number",
    ("c4", 1): "none",  # the engine times it out
    ("c4", 2): "answered",
    ("c5", 1): "voicemail",
    ("c5", 2): "busy",
    ("c5", 3): "no_answer",
    ("c7", 1): "answered",
}


def simulate(
    d: CampaignDefinition, cs: list[Contact], script: dict[tuple[str, int], str] | None = None
) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    dialer = SimDialer(
        script={k: ScriptedCall(v, 0) for k, v in (SCRIPT if script is None else script).items()},
        default=ScriptedCall("no_answer", 0),
    )
    lines = list(Simulation(d, cs, [], start_us=now_us(), dialer=dialer).run())
    calls = {(x["call_id"], x["to"], x["from"]) for x in lines if x["type"] == "call.create"}
    finals = {x["contact_id"]: x["status"] for x in lines if x["type"] == "contact.final"}
    return calls, finals


def bodies(items: list[tuple[str, dict[str, Any]]], cid: str, kind: str) -> list[dict[str, Any]]:
    return [
        r["body"][1]
        for name, r in items
        if name == "CampaignEvent" and r["campaign_id"] == cid and r["body"][0] == NS + kind
    ]


def statuses(events: Any, cid: str) -> list[str]:
    return [b["status"] for b in bodies(events.snapshot(), cid, "StatusChanged")]


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(kafka_bootstrap, tmp_path)
    r.activate("acme")  # an account without a subscription record cannot start
    try:
        yield r
    finally:
        r.close()


@pytest.fixture()
def cluster_rig(kafka_cluster_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    """The rig on the 3-node cluster: its longer rebalances and recoveries widen the windows."""
    r = Rig(kafka_cluster_bootstrap, tmp_path)
    r.activate("acme")
    try:
        yield r
    finally:
        r.close()


def create(rig: Rig, d: CampaignDefinition, n: int, cid: str | None = None) -> None:
    rig.send_command(
        d.campaign_id,
        Command(f"create-{d.campaign_id}", CommandKind.create, definition=d, expected_contacts=n),
    )


def command(rig: Rig, cid: str, kind: CommandKind, cmd_id: str, **kw: Any) -> None:
    rig.send_command(cid, Command(cmd_id, kind, **kw))


def live_result(
    dialer: ScriptedDialer, events: Any, cid: str
) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    calls = {(c["call_id"], c["to"], c["from"]) for c in dialer.calls() if c["campaign_id"] == cid}
    finals = {b["contact_id"]: b["status"] for b in bodies(events.snapshot(), cid, "ContactFinal")}
    return calls, finals


# ---- live equals simulate ------------------------------------------------------------------


@pytest.mark.parametrize("contacts_first", [False, True], ids=["create-first", "contacts-first"])
def test_live_equals_simulate(rig: Rig, contacts_first: bool) -> None:
    cid = f"live-{int(contacts_first)}"
    d = definition(cid)
    cs = contacts(9)
    expected_calls, expected_finals = simulate(d, cs)
    dialer = ScriptedDialer(rig, SCRIPT)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    if contacts_first:
        rig.send_contacts(cid, cs, size=4)
        create(rig, d, len(cs))
    else:
        create(rig, d, len(cs))
        rig.send_contacts(cid, cs, size=4)
    command(rig, cid, CommandKind.start, "start-1")
    wait_until(lambda: "completed" in statuses(events, cid), 90, "campaign completed")
    calls, finals = live_result(dialer, events, cid)
    assert calls == expected_calls
    assert finals == expected_finals
    # the status API reads committed state, which follows the published events closely
    status = wait_until(
        lambda: (st := rig.status(port, cid)) and st["status"] == "completed" and st,
        30,
        "status API says completed",
    )
    assert status["contacts"]["final"] == len(cs) and status["in_flight"] == 0


def test_attempt_limits_live_equal_simulate_and_survive_a_restart(rig: Rig) -> None:
    """SPEC 7 limits keep their call times in the worker's table (with its changelog):
    a worker killed mid-campaign and restarted still holds a contact's retry until its
    period has passed, and makes the calls simulate forecasts."""
    cid = "limits"
    d = definition(
        cid,
        concurrent_calls=4,
        attempt_limits=[
            {"scope": "contact", "max_calls": 1, "period_hours": 0.001},  # 3.6 s
            {"scope": "number", "max_calls": 2, "period_hours": 0.002},
        ],
    )
    cs = contacts(12)
    expected_calls, expected_finals = simulate(d, cs)
    dialer = ScriptedDialer(rig, SCRIPT)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    create(rig, d, len(cs))
    rig.send_contacts(cid, cs, size=5)
    command(rig, cid, CommandKind.start, "start-1")
    wait_until(lambda: len(dialer.calls()) >= 6, 60, "some calls before the crash")
    rig.kill(port)
    port2 = rig.start_worker(port)
    rig.wait_ready(port2)
    wait_until(lambda: "completed" in statuses(events, cid), 120, "campaign completed")
    calls, finals = live_result(dialer, events, cid)
    assert calls == expected_calls
    assert finals == expected_finals
    made: dict[str, list[int]] = {}
    for c in {c["call_id"]: c for c in dialer.calls()}.values():
        at = c["created_at"]
        ms = at if isinstance(at, int) else int(at.timestamp() * 1000)
        made.setdefault(c["contact_id"], []).append(ms)
    for times in made.values():
        times.sort()
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= 3600 for g in gaps), f"a contact called twice within 3.6 s: {gaps}"


# ---- crash -----------------------------------------------------------------------------------


def test_kill_9_and_restart_completes_without_double_attempts(rig: Rig) -> None:
    cid = "crash"
    d = definition(cid, concurrent_calls=4)
    cs = contacts(30)
    expected_calls, expected_finals = simulate(d, cs)
    dialer = ScriptedDialer(rig, SCRIPT)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    create(rig, d, len(cs))
    rig.send_contacts(cid, cs, size=7)
    command(rig, cid, CommandKind.start, "start-1")
    wait_until(lambda: len(dialer.calls()) >= 12, 60, "a dozen calls before the crash")
    rig.kill(port)  # SIGKILL mid-campaign
    port2 = rig.start_worker(port)  # same home and data dir
    rig.wait_ready(port2)
    wait_until(
        lambda: "completed" in statuses(events, cid), 120, "campaign completed after restart"
    )
    calls, finals = live_result(dialer, events, cid)
    assert calls == expected_calls  # every expected attempt, nothing more
    assert finals == expected_finals
    by_id: dict[str, set[tuple[str, str, int]]] = {}
    for c in dialer.calls():
        by_id.setdefault(c["call_id"], set()).add((c["to"], c["from"], c["attempt"]))
    assert all(len(v) == 1 for v in by_id.values()), "a repeated call:create changed"
    attempts = Counter(c["contact_id"] for c in {c["call_id"]: c for c in dialer.calls()}.values())
    assert max(attempts.values()) <= 1 + d.rules.max_retries


def test_kill_9_twice_under_load_places_no_call_twice_and_counts_no_outcome_twice(
    rig: Rig,
) -> None:
    """Commits run behind the agent (outputs acked, then the changelog run, then offsets):
    kills under load land with all three in flight. The calls made are exactly those
    simulate forecasts, and the committed counters count every call and outcome once.

    A replay may read a call's outcome before the tick that makes the call again (they
    come on different topics): the engine holds it until then, so the call neither times
    out nor is dialled an extra time."""
    cid = "crash-load"
    d = definition(cid, concurrent_calls=25, retry_delay_minutes=0.01, max_call_minutes=0.2)
    cs = contacts(300)
    script = {k: v for k, v in SCRIPT.items() if v != "none"}
    expected_calls, _ = simulate(d, cs, script)
    dialer = ScriptedDialer(rig, script)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)
    create(rig, d, len(cs))
    rig.send_contacts(cid, cs, size=50)
    command(rig, cid, CommandKind.start, "start-1")
    for calls in (150, 450):
        wait_until(lambda n=calls: len(dialer.calls()) >= n, 90, f"{calls} calls before a kill")
        rig.kill(port)  # SIGKILL
        port = rig.start_worker(port)  # same home and data dir
        rig.wait_ready(port)
    wait_until(lambda: "completed" in statuses(events, cid), 180, "completed after two kills")
    calls, finals = live_result(dialer, events, cid)
    assert calls == expected_calls, (sorted(calls - expected_calls), sorted(expected_calls - calls))
    assert set(finals) == {c.contact_id for c in cs}  # no contact lost
    by_id: dict[str, set[tuple[str, str, int]]] = {}
    for c in dialer.calls():
        by_id.setdefault(c["call_id"], set()).add((c["to"], c["from"], c["attempt"]))
    assert all(len(v) == 1 for v in by_id.values()), "a repeated call:create changed"
    attempts = Counter(c["contact_id"] for c in {c["call_id"]: c for c in dialer.calls()}.values())
    assert max(attempts.values()) <= 1 + d.rules.max_retries
    status = wait_until(
        lambda: (st := rig.status(port, cid)) and st["status"] == "completed" and st,
        30,
        "status API says completed",
    )
    assert status["calls_created"] == len(by_id)  # each call counted once
    assert status["in_flight"] == 0
    assert status["contacts"]["final"] == len(cs)  # each contact finished once
    assert sum(status["contacts"]["by_final_status"].values()) == len(cs)
    assert status["contacts"]["by_final_status"] == dict(Counter(finals.values()))


# ---- two workers -------------------------------------------------------------------------------


def test_two_workers_stop_one_the_other_carries_on(rig: Rig) -> None:
    ids = [f"pair-{i}" for i in range(4)]
    dialer = ScriptedDialer(rig, SCRIPT)
    events = rig.collect(catalogue.EVENTS)
    a, b = rig.start_worker(), rig.start_worker()
    rig.wait_ready(a)
    rig.wait_ready(b)
    expected: dict[str, Any] = {}
    for cid in ids:
        d = definition(cid, concurrent_calls=2)
        cs = contacts(12)
        expected[cid] = simulate(d, cs)
        create(rig, d, len(cs))
        rig.send_contacts(cid, cs, size=5)
        command(rig, cid, CommandKind.start, f"start-{cid}")
    wait_until(lambda: len(dialer.calls()) >= 10, 60, "calls from both workers")
    rig.kill(b, signal.SIGTERM)
    for cid in ids:

        def done(c: str = cid) -> bool:
            return "completed" in statuses(events, c)

        def reported(c: str = cid) -> bool:
            st = rig.status(a, c)
            return st is not None and st["status"] == "completed"

        wait_until(done, 150, f"{cid} completed")
        assert live_result(dialer, events, cid) == expected[cid]
        wait_until(reported, 30, f"status of {cid} from the remaining worker")


# ---- lifecycle --------------------------------------------------------------------------------


def test_lifecycle_pause_resume_cancel_schedule_reject(rig: Rig) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered", hold=True)
    events = rig.collect(catalogue.EVENTS)
    port = rig.start_worker()
    rig.wait_ready(port)

    # pause: calls in flight still get their outcomes recorded, no new call is created
    d = definition("life-pause", concurrent_calls=2)
    create(rig, d, 6)
    rig.send_contacts(d.campaign_id, contacts(6))
    command(rig, d.campaign_id, CommandKind.start, "p-start")
    wait_until(lambda: len(dialer.held) == 2, 30, "two calls in flight")
    command(rig, d.campaign_id, CommandKind.pause, "p-pause")
    wait_until(lambda: "paused" in statuses(events, d.campaign_id), 30, "paused")
    assert dialer.release() == 2
    dialer.hold = False
    wait_until(
        lambda: len(bodies(events.snapshot(), d.campaign_id, "ContactFinal")) == 2,
        30,
        "outcomes recorded while paused",
    )
    time.sleep(2.5)  # two ticks: a paused campaign must not call
    st = rig.status(port, d.campaign_id)
    assert st is not None and st["status"] == "paused" and st["in_flight"] == 0
    assert len(dialer.calls()) == 2
    command(rig, d.campaign_id, CommandKind.resume, "p-resume")
    wait_until(lambda: "completed" in statuses(events, d.campaign_id), 60, "completed after resume")
    assert len({c["call_id"] for c in dialer.calls()}) == 6

    # cancel: every open contact finishes as cancelled, in-flight outcomes change nothing
    dialer.hold = True
    d = definition("life-cancel", concurrent_calls=2)
    create(rig, d, 5)
    rig.send_contacts(d.campaign_id, contacts(5))
    command(rig, d.campaign_id, CommandKind.start, "c-start")
    wait_until(lambda: len(dialer.held) == 2, 30, "two calls in flight")
    command(rig, d.campaign_id, CommandKind.cancel, "c-cancel")
    wait_until(lambda: "cancelled" in statuses(events, d.campaign_id), 30, "cancelled")
    finals = wait_until(
        lambda: (
            (f := bodies(events.snapshot(), d.campaign_id, "ContactFinal")) and len(f) == 5 and f
        ),
        30,
        "every contact final",
    )
    assert {f["status"] for f in finals} == {"cancelled"}
    dialer.release()

    # schedule: starts at its time
    d = definition("life-sched")
    create(rig, d, 1)
    rig.send_contacts(d.campaign_id, contacts(1))
    start_at = now_us() + 3 * US
    command(rig, d.campaign_id, CommandKind.schedule, "s-sched", start_at_us=start_at)
    wait_until(lambda: "scheduled" in statuses(events, d.campaign_id), 30, "scheduled")
    wait_until(lambda: "running" in statuses(events, d.campaign_id), 30, "running at its time")
    first = wait_until(
        lambda: [c for c in dialer.calls() if c["campaign_id"] == d.campaign_id], 30, "first call"
    )
    assert first[0]["created_at"] * 1000 >= start_at - 1000  # created_at is in millis
    dialer.release()

    # a command the state machine refuses: command rejected with the reason
    d = definition("life-reject")
    create(rig, d, 1)
    command(rig, d.campaign_id, CommandKind.resume, "r-resume")
    rejected = wait_until(
        lambda: bodies(events.snapshot(), d.campaign_id, "CommandRejected"), 30, "rejection"
    )
    assert rejected[0]["command_id"] == "r-resume" and rejected[0]["reason"]


# ---- bad input --------------------------------------------------------------------------------


def test_bad_input_goes_to_dead_letter_and_the_agent_goes_on(rig: Rig) -> None:
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    parked = rig.collect(catalogue.DEADLETTER)
    port = rig.start_worker()
    rig.wait_ready(port)

    d = definition("bad-done")
    create(rig, d, 2)
    rig.send_contacts(d.campaign_id, contacts(2))
    command(rig, d.campaign_id, CommandKind.start, "b-start")
    wait_until(lambda: "completed" in statuses(events, d.campaign_id), 60, "first campaign done")

    rig.send_raw(catalogue.COMMANDS, b"bad-done", b"\x07not avro at all")
    rig.send_outcome("bad-done", "bad-done/nobody/1", "answered")
    late = [Contact("late-1", 99, "+12025559999", [], {"name": "late"})]
    rig.send_contacts(d.campaign_id, late)

    def letters() -> list[dict[str, Any]]:
        return [r for name, r in parked.snapshot() if name == "DeadLetter"]

    wait_until(lambda: len(letters()) >= 3, 60, "three dead letters")
    errors = [r["error"] for r in letters()]
    commands_topic = rig.topic(catalogue.COMMANDS)
    assert any(r["topic"] == commands_topic and "decode" in r["error"] for r in letters()), errors
    assert any("bad-done/nobody/1" in e and "unknown call" in e for e in errors), errors
    assert any("late-1" in e and "completed" in e for e in errors), errors
    assert all(r["stage"] == "engine" for r in letters())

    d2 = definition("bad-after")  # the agent goes on
    create(rig, d2, 2)
    rig.send_contacts(d2.campaign_id, contacts(2))
    command(rig, d2.campaign_id, CommandKind.start, "a-start")
    wait_until(lambda: "completed" in statuses(events, d2.campaign_id), 60, "next campaign done")
    assert len({c["call_id"] for c in dialer.calls()}) == 4


def test_worker_partitioner_matches_the_project_producers(rig: Rig) -> None:
    """The status API routes by key; it must agree with where producers put a campaign."""
    from streams.partitioner import partition_of

    topic = rig.topic(catalogue.COMMANDS)
    landed: dict[bytes, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        landed[msg.key()] = msg.partition()

    for i in range(30):
        rig.producer.produce(topic, key=f"campaign-{i}".encode(), value=b"x", on_delivery=delivered)
    rig.producer.flush(30)
    assert landed and all(
        p == partition_of(k, rig.specs[catalogue.COMMANDS].partitions) for k, p in landed.items()
    )


def test_do_not_call_list_and_account_status_reach_the_engine(rig: Rig) -> None:
    """Both global tables are read from their compacted topics: a blocked number is
    suppressed and never dialled; a campaign of an account marked inactive cannot start."""
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    cs = contacts(4)
    stamp = now_us() // 1000
    dnc = {"number": cs[1].phone_number, "blocked": True, "updated_at": stamp}
    rig.send_raw(catalogue.DNC, dnc["number"].encode(), rig.codec.encode("DncEntry", dnc))
    frozen = {"account_id": "frozen-co", "active": False, "plan": "pro", "updated_at": stamp}
    rig.send_raw(catalogue.ACCOUNT_STATUS, b"frozen-co", rig.codec.encode("AccountStatus", frozen))
    port = rig.start_worker()
    rig.wait_ready(port)

    blocked = definition("dnc-1", max_retries=0)
    create(rig, blocked, len(cs))
    rig.send_contacts(blocked.campaign_id, cs)
    command(rig, blocked.campaign_id, CommandKind.start, "dnc-start")
    inactive = definition("frozen-1").model_copy(update={"account_id": "frozen-co"})
    create(rig, inactive, 0)
    command(rig, inactive.campaign_id, CommandKind.start, "frozen-start")

    wait_until(lambda: "completed" in statuses(events, "dnc-1"), 60, "dnc-1 completed")
    finals = {
        b["contact_id"]: b["status"] for b in bodies(events.snapshot(), "dnc-1", "ContactFinal")
    }
    assert finals["c1"] == "suppressed"
    assert {finals[c.contact_id] for c in cs if c.contact_id != "c1"} == {"reached"}
    called = {c["to"] for c in dialer.calls() if c["campaign_id"] == "dnc-1"}
    assert cs[1].phone_number not in called and cs[0].phone_number in called

    def refused() -> list[dict[str, Any]]:
        return bodies(events.snapshot(), "frozen-1", "CommandRejected")

    rejected = wait_until(refused, 60, "the start of frozen-1 refused")
    assert "no active subscription" in rejected[0]["reason"]
    assert statuses(events, "frozen-1") == ["draft"]


def test_commands_sent_while_two_fresh_workers_settle_are_not_lost(
    cluster_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates sent while two workers start (join, rebalance, table recovery) on topics
    nobody has committed an offset of yet: each one the broker acknowledged reaches the
    engine, so every campaign's start finds its create. (Faust handed the fetch its live
    set of active partitions; emptied by the recovery while the fetch waited, it let aiokafka
    consume every buffered record, Faust delivered none outside the set, and a partition with
    no committed offset was never sought back: the start was refused as "unknown campaign".)"""
    rig = cluster_rig
    monkeypatch.setenv("RIG_LOGLEVEL", "info")  # Faust logs "[^Worker]: Ready" at info
    dialer = ScriptedDialer(rig, {}, default="answered")
    events = rig.collect(catalogue.EVENTS)
    a = rig.start_worker()
    b = rig.start_worker()
    ids: list[str] = []

    def ready(port: int) -> bool:
        return "[^Worker]: Ready" in rig.log(port)

    settled_at: float | None = None
    deadline = time.monotonic() + STALL_SECONDS  # generous: two workers starting, loaded
    while time.monotonic() < deadline:  # a create every 0.2 s until both settled 3 s ago
        cid = f"fresh-{len(ids)}"
        ids.append(cid)
        create(rig, definition(cid), 1)
        rig.send_contacts(cid, contacts(1))
        time.sleep(0.2)
        if settled_at is None and ready(a) and ready(b):
            settled_at = time.monotonic()
        if settled_at is not None and time.monotonic() - settled_at > 3:
            break
    assert settled_at is not None, "the workers never settled"
    for cid in ids:
        command(rig, cid, CommandKind.start, f"start-{cid}")

    def answered(cid: str) -> bool:
        items = events.snapshot()
        return "completed" in statuses(events, cid) or bool(bodies(items, cid, "CommandRejected"))

    with contextlib.suppress(AssertionError):
        wait_until(lambda: all(answered(c) for c in ids), 60, "every campaign answered")
    items = events.snapshot()
    unfinished = {
        cid: statuses(events, cid) + [r["reason"] for r in bodies(items, cid, "CommandRejected")]
        for cid in ids
        if "completed" not in statuses(events, cid)
    }
    assert unfinished == {}, f"of {len(ids)} campaigns"
    assert len({c["call_id"] for c in dialer.calls()}) == len(ids)


# ---- the account's lines and its inbound calls (SPEC 8) ------------------------------------


def test_inbound_calls_hold_the_accounts_lines_until_they_end(rig: Rig) -> None:
    """An account of 2 lines with 2 inbound calls in progress places no call; each inbound
    end frees one line for one call (the dialer holds its answers, so calls stay in flight).

    No wait for "nothing happens": each call's creation time is compared with the instant the
    end that freed its line was sent (the worker's clock is this machine's)."""
    rig.set_lines("acme", 2)
    dialer = ScriptedDialer(rig, {}, hold=True)
    dead = rig.collect(catalogue.DEADLETTER)
    port = rig.start_worker()
    rig.wait_ready(port)
    cid = "lines"
    d = definition(cid, max_retries=0, concurrent_calls=5, max_call_minutes=60)
    create(rig, d, 3)
    rig.send_contacts(cid, contacts(3))
    wait_until(lambda: (st := rig.status(port, cid)) and st["status"] == "draft", 120, "draft")
    rig.send_inbound("acme", "in-1", "started")
    rig.send_inbound("acme", "in-2", "started")
    wait_until(lambda: rig.inputs_handled(port, catalogue.INBOUND) >= 2, 120, "inbound starts")
    command(rig, cid, CommandKind.start, "start-1")
    wait_until(lambda: (st := rig.status(port, cid)) and st["status"] == "running", 120, "start")
    freed_ms = []
    for n, call in enumerate(("in-1", "in-2"), start=1):
        freed_ms.append(now_us() // 1000)
        rig.send_inbound("acme", call, "ended")
        wait_until(lambda n=n: len(dialer.calls()) >= n, 120, f"call {n} after an inbound end")
    created_ms = sorted(translate.us(c["created_at"]) // 1000 for c in dialer.calls())
    assert len(created_ms) == 2
    assert created_ms[0] >= freed_ms[0]  # no call while both lines were held
    assert created_ms[1] >= freed_ms[1]  # one line for one call while in-2 was in progress
    assert rig.inputs_handled(port, catalogue.INBOUND) == 4
    assert dead.snapshot() == []  # every inbound call was the account's: none parked
