"""Small exact scenarios of SPEC sections 8 and 9, expected lines written out by hand.

Each example is an account (campaigns, lines, inbound calls, scripted outcomes, commands)
written as `simulate --account`'s files; the lines it must print were read off the SPEC
text by hand, not computed. The same examples also hold the naive reference of
tests/property to the hand reading, so the property test's oracle is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.property.account_reference import reference
from tests.property.account_scenario import (
    US,
    Account,
    Alternate,
    Campaign,
    Cmd,
    Inbound,
    Planned,
    Row,
    account_args,
    iso_us,
    readable_diff,
    run_cli,
    us_of,
)

T0 = us_of("2026-12-01T14:00:00Z")  # a Tuesday, 09:00 in New York
OPEN = {
    "timezone": "UTC",
    "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "calling_window": {"start": "00:00", "end": "24:00"},
}
SOURCE = "+15550100000"


def at(seconds: float) -> str:
    return iso_us(T0 + round(seconds * US))


def status(s: float, cid: str, value: str) -> dict[str, Any]:
    return {"at": at(s), "type": "campaign.status", "campaign_id": cid, "status": value}


def create(
    s: float, cid: str, contact: str, k: int, to: str, name: str, caller: str = SOURCE
) -> dict[str, Any]:
    return {
        "at": at(s),
        "type": "call.create",
        "campaign_id": cid,
        "call_id": f"{cid}/{contact}/{k}",
        "contact_id": contact,
        "attempt": k,
        "to": to,
        "from": caller,
        "variables": {"customer_name": name},
    }


def outcome(s: float, cid: str, call: str, value: str, **extra: Any) -> dict[str, Any]:
    line = {"at": at(s), "type": "call.outcome", "campaign_id": cid, "call_id": f"{cid}/{call}"}
    return {**line, "status": value, **extra}


def final(s: float, cid: str, contact: str, value: str, attempts: int) -> dict[str, Any]:
    return {
        "at": at(s),
        "type": "contact.final",
        "campaign_id": cid,
        "contact_id": contact,
        "status": value,
        "attempts": attempts,
    }


def row(contact: str, number: str, name: str, *alternates: Alternate) -> Row:
    return Row(contact, number, {"name": name}, tuple(alternates))


def plan(status: str, seconds: int, **extra: Any) -> Planned:
    return Planned(status, seconds, **extra)


def campaign(cid: str, rows: list[Row], **rules: Any) -> Campaign:
    return Campaign(cid, {**OPEN, "concurrent_calls": 1, **rules}, rows)


# ---- the examples ---------------------------------------------------------------------------


def tie_breaks() -> tuple[Account, list[dict[str, Any]]]:
    """3 lines, three campaigns: the higher priority first; between equal priorities the
    fewest calls in flight, then the smaller campaign_id in plain string order (a10 < a2)."""
    hi = campaign("hi", [row("k0", "+12125550100", "H0"), row("k1", "+12125550101", "H1")])
    hi.rules["priority"] = 7
    a10 = campaign("a10", [row("k0", "+12125550110", "P0"), row("k1", "+12125550111", "P1")])
    a10.rules["concurrent_calls"] = 2
    a10.outcomes = {("k0", 1): plan("answered", 600)}
    a2 = campaign("a2", [row("k0", "+12125550120", "Q0"), row("k1", "+12125550121", "Q1")])
    a2.rules["concurrent_calls"] = 2
    account = Account([hi, a10, a2], T0, lines=3, default_outcome="answered")
    account.default_duration_seconds = 60
    want = [
        status(0, "a10", "draft"),
        status(0, "a10", "running"),
        status(0, "a2", "draft"),
        status(0, "a2", "running"),
        status(0, "hi", "draft"),
        status(0, "hi", "running"),
        create(0, "hi", "k0", 1, "+12125550100", "H0"),  # priority 7 beats 5
        create(0, "a10", "k0", 1, "+12125550110", "P0"),  # 0 in flight each: a10 < a2
        create(0, "a2", "k0", 1, "+12125550120", "Q0"),  # the third line
        outcome(60, "hi", "k0/1", "answered"),
        final(60, "hi", "k0", "reached", 1),
        outcome(60, "a2", "k0/1", "answered"),
        final(60, "a2", "k0", "reached", 1),
        create(60, "hi", "k1", 1, "+12125550101", "H1"),
        create(60, "a2", "k1", 1, "+12125550121", "Q1"),  # a2 has 0 in flight, a10 has 1
        outcome(120, "hi", "k1/1", "answered"),
        final(120, "hi", "k1", "reached", 1),
        status(120, "hi", "completed"),
        outcome(120, "a2", "k1/1", "answered"),
        final(120, "a2", "k1", "reached", 1),
        status(120, "a2", "completed"),
        create(120, "a10", "k1", 1, "+12125550111", "P1"),
        outcome(180, "a10", "k1/1", "answered"),
        final(180, "a10", "k1", "reached", 1),
        outcome(600, "a10", "k0/1", "answered"),
        final(600, "a10", "k0", "reached", 1),
        status(600, "a10", "completed"),
    ]
    return account, want


def inbound_cut_off() -> tuple[Account, list[dict[str, Any]]]:
    """2 lines, both held by inbound calls from --start; one never ends, one ends after
    10 minutes: with inbound_max_minutes 2 both are over at +2 min, and the call is made then."""
    c = campaign("c", [row("k0", "+12125550100", "Ann")])
    account = Account([c], T0, lines=2, inbound_max_minutes=2, default_outcome="answered")
    account.inbound = [Inbound("in1", T0, None), Inbound("in2", T0, T0 + 600 * US)]
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(120, "c", "k0", 1, "+12125550100", "Ann"),
        outcome(150, "c", "k0/1", "answered"),
        final(150, "c", "k0", "reached", 1),
        status(150, "c", "completed"),
    ]
    return account, want


def inbound_cut_off_counts_from_its_start() -> tuple[Account, list[dict[str, Any]]]:
    """1 line held by an inbound call that started a minute before --start and never ends:
    with inbound_max_minutes 2 it is over at start + 2 min (+60 s here), not 2 min after
    the run saw it."""
    c = campaign("c", [row("k0", "+12125550100", "Ann")])
    account = Account([c], T0, lines=1, inbound_max_minutes=2, default_outcome="answered")
    account.inbound = [Inbound("in1", T0 - 60 * US, None)]
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(60, "c", "k0", 1, "+12125550100", "Ann"),
        outcome(90, "c", "k0/1", "answered"),
        final(90, "c", "k0", "reached", 1),
        status(90, "c", "completed"),
    ]
    return account, want


def inbound_start_and_end_at_one_instant() -> tuple[Account, list[dict[str, Any]]]:
    """1 line: an inbound call ends at +60 s as another starts then: the end frees the line
    before the round, the start holds it for that round; the call waits for +120 s."""
    c = campaign("c", [row("k0", "+12125550100", "Ann")])
    account = Account([c], T0, lines=1, default_outcome="answered")
    account.inbound = [
        Inbound("in1", T0 - 60 * US, T0 + 60 * US),
        Inbound("in2", T0 + 60 * US, T0 + 120 * US),
    ]
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(120, "c", "k0", 1, "+12125550100", "Ann"),
        outcome(150, "c", "k0/1", "answered"),
        final(150, "c", "k0", "reached", 1),
        status(150, "c", "completed"),
    ]
    return account, want


def ended_campaign_holds_its_line() -> tuple[Account, list[dict[str, Any]]]:
    """1 line: campaign a (priority 10) is cancelled while its call is in flight; the call
    still holds the line, so b calls only once a's outcome arrives (printed with a's id)."""
    a = campaign("a", [row("k0", "+12125550100", "Ann")], priority=10)
    a.outcomes = {("k0", 1): plan("answered", 600)}
    a.commands = [Cmd(T0, "start"), Cmd(T0 + 60 * US, "cancel")]
    b = campaign("b", [row("k0", "+12125550200", "Bob")])
    account = Account([a, b], T0, lines=1, default_outcome="answered")
    account.default_duration_seconds = 60
    want = [
        status(0, "a", "draft"),
        status(0, "a", "running"),
        status(0, "b", "draft"),
        status(0, "b", "running"),
        create(0, "a", "k0", 1, "+12125550100", "Ann"),
        status(60, "a", "cancelled"),
        final(60, "a", "k0", "cancelled", 1),
        outcome(600, "a", "k0/1", "answered"),
        create(600, "b", "k0", 1, "+12125550200", "Bob"),
        outcome(660, "b", "k0/1", "answered"),
        final(660, "b", "k0", "reached", 1),
        status(660, "b", "completed"),
    ]
    return account, want


FLORIDA = "+13052223000"


def preset_counted_from_another_campaign() -> tuple[Account, list[dict[str, Any]]]:
    """Campaign `plain` (no preset) calls a Florida number 3 times; `tcpa` (us_tcpa),
    started after, may not call it until the first of those leaves the 24 hours."""
    plain = campaign("plain", [row("k0", FLORIDA, "Ann")], max_retries=2, retry_delay_minutes=0)
    tcpa = campaign("tcpa", [row("k0", FLORIDA, "Ann")], compliance=["us_tcpa"])
    tcpa.rules["timezone"] = "America/New_York"
    tcpa.outcomes = {("k0", 1): plan("answered", 60)}
    tcpa.commands = [Cmd(T0 + 150 * US, "start")]
    day = 86_400
    account = Account([plain, tcpa], T0, until_us=T0 + 2 * day * US)
    account.default_duration_seconds = 60
    want = [
        status(0, "plain", "draft"),
        status(0, "plain", "running"),
        status(0, "tcpa", "draft"),
        create(0, "plain", "k0", 1, FLORIDA, "Ann"),
        outcome(60, "plain", "k0/1", "no_answer"),
        create(60, "plain", "k0", 2, FLORIDA, "Ann"),
        outcome(120, "plain", "k0/2", "no_answer"),
        create(120, "plain", "k0", 3, FLORIDA, "Ann"),
        status(150, "tcpa", "running"),
        outcome(180, "plain", "k0/3", "no_answer"),
        final(180, "plain", "k0", "exhausted", 3),
        status(180, "plain", "completed"),
        create(day, "tcpa", "k0", 1, FLORIDA, "Ann"),  # 09:00 in Miami the next day
        outcome(day + 60, "tcpa", "k0/1", "answered"),
        final(day + 60, "tcpa", "k0", "reached", 1),
        status(day + 60, "tcpa", "completed"),
    ]
    return account, want


def callback_to_an_alternate_now_on_the_list() -> tuple[Account, list[dict[str, Any]]]:
    """k0 answers attempt 2 (alternate A1, caller C2) asking for a callback; k1 then opts
    A1 out; the callback is placed as an ordinary attempt 3: A2 (A1 left out), caller C1,
    A2's variables, in the callbacks' place."""
    p, a1, a2, c1, c2 = (
        "+12125550100",
        "+12125551001",
        "+12125551002",
        "+15550100001",
        "+15550100002",
    )
    c = campaign(
        "c",
        [
            row("k0", p, "Ann", Alternate(a1), Alternate(a2, {"name": "Second"})),
            row("k1", a1, "Al"),
        ],
        concurrent_calls=2,
        max_retries=1,
        retry_delay_minutes=0,
        max_callbacks=1,
        caller_ids={"numbers": [c1, c2], "strategy": "rolling"},
    )
    c.outcomes = {
        ("k0", 1): plan("no_answer", 60),
        ("k0", 2): plan("answered", 60, callback_at_us=T0 + 600 * US),
        ("k1", 1): plan("answered", 200, opt_out=True),
    }
    account = Account([c], T0, default_outcome="answered")
    account.default_duration_seconds = 60
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(0, "c", "k0", 1, p, "Ann", c1),
        create(0, "c", "k1", 1, a1, "Al", c1),
        outcome(60, "c", "k0/1", "no_answer"),
        create(60, "c", "k0", 2, a1, "Ann", c2),
        outcome(120, "c", "k0/2", "answered", callback_at=at(600)),
        outcome(200, "c", "k1/1", "answered", opt_out=True),
        final(200, "c", "k1", "opted_out", 1),
        create(600, "c", "k0", 3, a2, "Second", c1),
        outcome(660, "c", "k0/3", "answered"),
        final(660, "c", "k0", "reached", 3),
        status(660, "c", "completed"),
    ]
    return account, want


def callbacks_and_retries_after_ends_at() -> tuple[Account, list[dict[str, Any]]]:
    """ends_at +300 s: a callback asked for after it (k0) expires the contact at once; a
    retry due after it (k2) waits and expires at ends_at; a call in flight then (k1) ends
    by its outcome, which asks for a callback: expired at once."""
    c = campaign(
        "c",
        [row(f"k{i}", f"+1212555010{i}", f"N{i}") for i in range(3)],
        concurrent_calls=3,
        max_retries=1,
        retry_delay_minutes=10,
        ends_at=at(300),
    )
    c.outcomes = {
        ("k0", 1): plan("answered", 60, callback_at_us=T0 + 400 * US),
        ("k1", 1): plan("answered", 320, callback_at_us=T0 + 330 * US),
        ("k2", 1): plan("no_answer", 30),
    }
    account = Account([c], T0)
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(0, "c", "k0", 1, "+12125550100", "N0"),
        create(0, "c", "k1", 1, "+12125550101", "N1"),
        create(0, "c", "k2", 1, "+12125550102", "N2"),
        outcome(30, "c", "k2/1", "no_answer"),
        outcome(60, "c", "k0/1", "answered", callback_at=at(400)),
        final(60, "c", "k0", "expired", 1),
        final(300, "c", "k2", "expired", 1),
        outcome(320, "c", "k1/1", "answered", callback_at=at(330)),
        final(320, "c", "k1", "expired", 1),
        status(320, "c", "completed"),
    ]
    return account, want


def skipped_with_an_opt_out() -> tuple[Account, list[dict[str, Any]]]:
    """A skipped call with an opt-out: opted_out (0 s: 1 ms later), and the number is off
    every campaign of the account; a skipped call with a callback_at: skipped, whatever
    retry_on and the retries left say."""
    a = campaign(
        "a",
        [row("k0", "+12125550100", "Ann"), row("k1", "+12125550101", "Ben")],
        concurrent_calls=2,
        max_retries=2,
        retry_delay_minutes=0,
    )
    a.outcomes = {
        ("k0", 1): plan("skipped", 0, opt_out=True),
        ("k1", 1): plan("skipped", 5, callback_at_us=T0 + 600 * US),
    }
    b = campaign("b", [row("k0", "+12125550100", "Ann")])
    b.commands = [Cmd(T0 + 120 * US, "start")]
    account = Account([a, b], T0)
    want = [
        status(0, "a", "draft"),
        status(0, "a", "running"),
        status(0, "b", "draft"),
        create(0, "a", "k0", 1, "+12125550100", "Ann"),
        create(0, "a", "k1", 1, "+12125550101", "Ben"),
        outcome(0.001, "a", "k0/1", "skipped", opt_out=True),
        final(0.001, "a", "k0", "opted_out", 1),
        outcome(5, "a", "k1/1", "skipped", callback_at=at(600)),
        final(5, "a", "k1", "skipped", 1),
        status(5, "a", "completed"),
        status(120, "b", "running"),
        final(120, "b", "k0", "suppressed", 0),
        status(120, "b", "completed"),
    ]
    return account, want


def start_at_ends_at_is_refused() -> tuple[Account, list[dict[str, Any]]]:
    """`start` at the end date is refused; the campaign stays a draft (it never ends)."""
    c = campaign("c", [row("k0", "+12125550100", "Ann")], ends_at=at(60))
    c.commands = [Cmd(T0 + 60 * US, "start")]
    account = Account([c], T0, until_us=T0 + 3600 * US)
    reason = f"the campaign ended at {at(60)}"
    want = [
        status(0, "c", "draft"),
        {"at": at(60), "type": "command.rejected", "campaign_id": "c", "command": "start"}
        | {"reason": reason},
    ]
    return account, want


def free_slots_count_twice() -> tuple[Account, list[dict[str, Any]]]:
    """3 lines, one inbound call in progress; concurrent_calls 3 with inbound_free_slots 1:
    L = 2, but busy + 1 < 3 allows one call only (1 inbound + 1 outbound + 1 kept free)."""
    c = campaign(
        "c",
        [row("k0", "+12125550100", "Ann"), row("k1", "+12125550101", "Ben")],
        concurrent_calls=3,
        inbound_free_slots=1,
    )
    account = Account([c], T0, lines=3, default_outcome="answered")
    account.inbound = [Inbound("in1", T0 - 60 * US, T0 + 3600 * US)]
    want = [
        status(0, "c", "draft"),
        status(0, "c", "running"),
        create(0, "c", "k0", 1, "+12125550100", "Ann"),
        outcome(30, "c", "k0/1", "answered"),
        final(30, "c", "k0", "reached", 1),
        create(30, "c", "k1", 1, "+12125550101", "Ben"),
        outcome(60, "c", "k1/1", "answered"),
        final(60, "c", "k1", "reached", 1),
        status(60, "c", "completed"),
    ]
    return account, want


def limit_across_the_account() -> tuple[Account, list[dict[str, Any]]]:
    """b's `across: account` limit (1 call per number per hour) counts a's call to the same
    number, made in the same round: b calls when that call leaves the hour."""
    number = "+12125550100"
    one_an_hour = {"scope": "number", "max_calls": 1, "period_hours": 1}
    a = campaign("a", [row("k0", number, "Ann")], attempt_limits=[one_an_hour], priority=9)
    b = campaign("b", [row("k0", number, "Ann")])
    b.rules["attempt_limits"] = [{**one_an_hour, "across": "account"}]
    account = Account([a, b], T0, default_outcome="answered")
    want = [
        status(0, "a", "draft"),
        status(0, "a", "running"),
        status(0, "b", "draft"),
        status(0, "b", "running"),
        create(0, "a", "k0", 1, number, "Ann"),
        outcome(30, "a", "k0/1", "answered"),
        final(30, "a", "k0", "reached", 1),
        status(30, "a", "completed"),
        create(3600, "b", "k0", 1, number, "Ann"),  # a's call at +0 left (t - 1 h, t]
        outcome(3630, "b", "k0/1", "answered"),
        final(3630, "b", "k0", "reached", 1),
        status(3630, "b", "completed"),
    ]
    return account, want


EXAMPLES: list[Callable[[], tuple[Account, list[dict[str, Any]]]]] = [
    tie_breaks,
    inbound_cut_off,
    inbound_cut_off_counts_from_its_start,
    inbound_start_and_end_at_one_instant,
    ended_campaign_holds_its_line,
    preset_counted_from_another_campaign,
    callback_to_an_alternate_now_on_the_list,
    callbacks_and_retries_after_ends_at,
    skipped_with_an_opt_out,
    start_at_ends_at_is_refused,
    free_slots_count_twice,
    limit_across_the_account,
]


def events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines but the summaries; a refusal's reason up to the instant it names."""
    out = []
    for line in lines:
        if line["type"] == "summary":
            continue
        if line["type"] == "command.rejected" and "ended at" in str(line.get("reason")):
            line = {**line, "reason": str(line["reason"])[line["reason"].index("the campaign") :]}
        out.append(line)
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda f: f.__name__)
def test_simulate_prints_what_the_spec_says(
    example: Callable[[], tuple[Account, list[dict[str, Any]]]], tmp_path: Path
) -> None:
    account, want = example()
    got = events(run_cli(account_args(tmp_path, account)))
    assert got == want, readable_diff(got, want)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda f: f.__name__)
def test_the_naive_reference_reads_the_spec_as_by_hand(
    example: Callable[[], tuple[Account, list[dict[str, Any]]]],
) -> None:
    account, want = example()
    got = events(reference(account))
    assert got == want, readable_diff(got, want)


def test_the_preview_counts_the_accounts_earlier_calls_for_a_preset(tmp_path: Path) -> None:
    """SPEC 8: the launch preview of `tcpa` at +150 s counts `plain`'s three calls to the
    Florida number (created before that instant): held back by preset:us_tcpa."""
    account, _ = preset_counted_from_another_campaign()
    summaries = {
        line["campaign_id"]: line
        for line in run_cli(account_args(tmp_path, account))
        if line["type"] == "summary"
    }
    assert summaries["tcpa"]["preview"] == {
        "callable": 0,
        "dnc": 0,
        "window": 0,
        "local_time": 0,
        "preset:us_tcpa": 1,
        "attempt_limit": 0,
    }
    assert summaries["plain"]["contacts"]["exhausted"] == 1
    assert summaries["plain"]["calls"] == {"no_answer": 3}


def test_the_preview_counts_an_opt_out_of_another_campaign_as_dnc(tmp_path: Path) -> None:
    """SPEC 7 and 8: the preview counts each contact's first attempt at the start, on the
    account's list as it is then: a number another campaign's call opted out before."""
    a = campaign("a", [row("k0", "+12125550100", "Ann")])
    a.outcomes = {("k0", 1): plan("answered", 0, opt_out=True)}
    b = campaign("b", [row("k0", "+12125550100", "Ann"), row("k1", "+12125550101", "Ben")])
    b.commands = [Cmd(T0 + 60 * US, "start")]
    account = Account([a, b], T0, default_outcome="answered")
    want = {"callable": 1, "dnc": 1, "window": 0, "local_time": 0, "attempt_limit": 0}

    def preview_of_b(lines: list[dict[str, Any]]) -> Any:
        return next(
            x["preview"] for x in lines if x["type"] == "summary" and x["campaign_id"] == "b"
        )

    assert preview_of_b(reference(account)) == want
    assert preview_of_b(run_cli(account_args(tmp_path, account))) == want
