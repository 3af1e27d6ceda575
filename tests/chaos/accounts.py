"""The account scenario of the chaos rig (SPEC 8 and 9, issue 22 item 6): two accounts of two
campaigns each, under the rig's kills.

Each account has scarce lines (fewer than one campaign's concurrency), keeps free slots for
its inbound calls, and gets inbound traffic from the simulated dialers (`--inbound-rate`).
Every fourth contact of every campaign dials a Florida number shared with a contact of the
account's other campaign (and with the other account: calls of another account never count;
a campaign's own list rejects a repeated number), under a
3-calls-per-24-hours limit across the account (the rule of SPEC 7's Florida preset, written
as an `across: account` limit so the run does not depend on the hour in Florida). Contacts
the limit holds back wait past the run: the campaigns' `ends_at` makes them `expired`.

Checks, besides the rig's (every contact final, one outcome per call, no call id placed
twice, the engine's committed counters against ClickHouse):
- from ClickHouse: at each call creation, the account's outbound calls in flight (created, no
  outcome or timeout yet, the call itself included) + the campaign's inbound free slots <=
  lines. A call is counted from its latest creation time to its first outcome's end (the
  engine reads an outcome after its end): this count is never above the engine's own.
- from the engine's counters: each worker's `campaignflow_calls_in_flight`, sampled through
  the run, summed over an account's campaigns, never above lines - free slots.
- no Florida number called more than 3 times by an account (the run is far shorter than 24 h).
- every contact final with one status; no (campaign, contact, attempt) with two call ids, no
  call id for two attempts; inbound calls reached the engine.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.chaos.rig import AREAS, MAX_RETRIES, STATUSES, WEIGHTS, ChaosRun, Size

ACCOUNTS = ("acme", "beta")
LINES = 8  # per account: fewer than one campaign's concurrent_calls (10)
FREE_SLOTS = 1  # inbound_free_slots of every campaign
FLORIDA = "305"
FLORIDA_LIMIT = 3
PRIORITIES = (8, 3)  # the account's first campaign, its second
INBOUND_RATE = 6.0  # a minute per account
INBOUND_MEDIAN_S = 6.0
ACCOUNTS_SIZE = Size(campaigns=4, contacts=200, concurrent_calls=10)
# The campaigns' end date, from writing the inputs: set-up, then about what calling takes on
# a loaded machine (seed 44, 120 contacts a campaign: 100 s of set-up, 260 s of calling),
# so that most contacts are called and the ones the Florida limit holds back end `expired`.
ENDS_BASE_S = 150.0
ENDS_PER_CONTACT_S = 2.2  # per contact of a campaign


def florida_number(i: int) -> str:
    """Contact i (i % 4 == 0) of every campaign dials this number: one contact of each
    campaign of an account (a campaign rejects a number repeated in its list) and the same
    contacts of the other account."""
    return f"+1{FLORIDA}555{i // 4:04d}"


def account_campaign_yaml(cid: str, account: str, priority: int, ends_at: str) -> str:
    return f"""\
campaign_id: {cid}
account_id: {account}
name: Chaos {cid}
agent: {{id: bot, prompt: "Hi {{{{name}}}}"}}
source_number: "+15550100000"
rules:
  max_retries: {MAX_RETRIES}
  retry_delay_minutes: 0.01
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {{start: "00:00", end: "24:00"}}
  timezone: Europe/Paris
  concurrent_calls: {ACCOUNTS_SIZE.concurrent_calls}
  inbound_free_slots: {FREE_SLOTS}
  priority: {priority}
  ends_at: "{ends_at}"
  attempt_limits:
    - {{scope: number, max_calls: {FLORIDA_LIMIT}, period_hours: 24, across: account}}
  caller_ids: {{numbers: ["+15550100001", "+15550100002", "+15550100003"], strategy: rolling}}
  alternate_strategy: rolling
  max_call_minutes: 1
"""


class AccountsRun(ChaosRun):
    """The rig with two accounts of two campaigns (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaigns = [f"chaos-{a}{k}" for a in ACCOUNTS for k in range(2)]
        self.account_of = {cid: cid[len("chaos-") : -1] for cid in self.campaigns}
        self.forecast_exact = False  # which campaign gets a line depends on the answers' timing
        self.ends_at_s = 0.0
        self.engine_in_flight: dict[tuple[str, str], int] = defaultdict(int)  # (worker, account)
        self.samples = 0

    # ---- inputs ----------------------------------------------------------------------------

    def write_inputs(self) -> None:
        after_s = ENDS_BASE_S + ENDS_PER_CONTACT_S * self.size.contacts
        ends = datetime.now(UTC) + timedelta(seconds=after_s)
        self.ends_at_s = self.elapsed() + after_s
        ends_at = ends.isoformat(timespec="seconds").replace("+00:00", "Z")
        rows = ["contact_id,attempt,status,duration_seconds"]
        for k, cid in enumerate(self.campaigns):
            account = self.account_of[cid]
            yaml = account_campaign_yaml(cid, account, PRIORITIES[k % 2], ends_at)
            (self.work / f"{cid}.yaml").write_text(yaml)
            lines = ["contact_id,phone_number,name,phone_number_2"]
            for i in range(self.size.contacts):
                contact = f"k{k}-{i}"
                own = f"+1{AREAS[k % 4]}55{k // 4}{i:04d}"
                number = florida_number(i) if i % 4 == 0 else own
                alt = f"+1{AREAS[k % 4]}23{k // 4}{i:04d}" if i % 3 == 0 else ""
                lines.append(f"{contact},{number},Person {i},{alt}")
                for attempt in range(1, MAX_RETRIES + 2):
                    status = self.rng.choices(STATUSES, WEIGHTS)[0]
                    duration = round(self.rng.uniform(0.3, 2.5), 2)
                    rows.append(f"{contact},{attempt},{status},{duration}")
            (self.work / f"{cid}.csv").write_text("\n".join(lines) + "\n")
        (self.work / "outcomes.csv").write_text("\n".join(rows) + "\n")

    def setup_accounts(self) -> None:
        super().setup_accounts()
        for account in ACCOUNTS:
            done = self.cli("accounts", "set", account, "--lines", str(LINES))
            if done.returncode != 0:
                raise RuntimeError(f"accounts set {account}: {done.stdout}{done.stderr}")

    def define_processes(self) -> None:
        super().define_processes()
        for name in ("dialer-a", "dialer-b"):
            self.procs[name].argv += [
                "--inbound-rate",
                str(INBOUND_RATE / 2),  # two dialers: the account's rate between them
                "--inbound-median-seconds",
                str(INBOUND_MEDIAN_S),
            ]

    # ---- during the run --------------------------------------------------------------------

    def progress_extra(self) -> object:
        """Until the end date, contacts the Florida limit holds back are waiting by rule."""
        return int(self.elapsed()) if self.elapsed() < self.ends_at_s + 5 else None

    def wait_final(self, finished: threading.Event) -> bool:
        sampler = threading.Thread(target=self.sample_engine, args=(finished,), daemon=True)
        sampler.start()
        try:
            return super().wait_final(finished)
        finally:
            finished.set()
            sampler.join(30)

    def sample_engine(self, finished: threading.Event) -> None:
        """The engine's counters: each worker's calls in flight, per account, the worst seen."""
        while not finished.wait(0.5):
            for name in ("worker-a", "worker-b"):
                port = self.procs[name].metrics_port
                try:
                    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                except requests.RequestException:
                    continue
                for account, n in in_flight_per_account(text, self.account_of).items():
                    key = (name, account)
                    self.engine_in_flight[key] = max(self.engine_in_flight[key], n)
                self.samples += 1

    # ---- invariants ------------------------------------------------------------------------

    def verify(
        self, forecasts: dict[str, tuple[set[tuple[str, str, str]], dict[str, str]]], done: bool
    ) -> None:
        super().verify(forecasts, done)
        names = ",".join(f"'{c}'" for c in self.campaigns)
        self.check_lines_clickhouse(names)
        worst = {
            a: max((n for (_, x), n in self.engine_in_flight.items() if x == a), default=0)
            for a in ACCOUNTS
        }
        self.check(
            f"engine counters: outbound in flight per account <= lines - free slots ({LINES}-{FREE_SLOTS})",
            all(0 < n <= LINES - FREE_SLOTS for n in worst.values()),  # 0: none seen
            f"worst {worst} over {self.samples} scrapes",
        )
        self.check_florida(names)
        self.check_once(names)

    def check_lines_clickhouse(self, names: str) -> None:
        calls = self.sql(
            "SELECT a.account_id AS account_id, a.call_id AS call_id, a.created AS created,"
            " o.ended AS ended FROM (SELECT account_id, call_id,"
            " max(toUnixTimestamp64Milli(created_at)) AS created FROM call_attempts"
            f" WHERE campaign_id IN ({names}) GROUP BY account_id, call_id) AS a"
            " LEFT JOIN (SELECT account_id, call_id, min(toUnixTimestamp64Milli(ended_at)) AS ended"
            f" FROM call_outcomes WHERE campaign_id IN ({names}) GROUP BY account_id, call_id)"
            " AS o ON a.account_id = o.account_id AND a.call_id = o.call_id"
        )
        worst: dict[str, int] = {}
        for account in ACCOUNTS:
            spans = sorted(
                (int(r["created"]), int(r["ended"]) or 2**62)
                for r in calls
                if r["account_id"] == account
            )
            worst[account] = max_overlap(spans)
        self.check(
            "ClickHouse: at each creation, account's outbound in flight + free slots <= lines",
            bool(calls) and all(n + FREE_SLOTS <= LINES for n in worst.values()),
            f"most in flight at a creation {worst}, lines {LINES}, free slots {FREE_SLOTS},"
            f" {len(calls)} calls",
        )

    def check_florida(self, names: str) -> None:
        rows = self.sql(
            "SELECT account_id, to_number, uniqExact(call_id) AS n FROM call_attempts"
            f" WHERE campaign_id IN ({names}) AND startsWith(to_number, '+1{FLORIDA}')"
            " GROUP BY account_id, to_number"
        )
        by_account = {
            a: max((int(r["n"]) for r in rows if r["account_id"] == a), default=0) for a in ACCOUNTS
        }
        both: Counter[str] = Counter()
        for r in rows:
            both[r["to_number"]] += int(r["n"])
        at_limit = sum(1 for r in rows if int(r["n"]) == FLORIDA_LIMIT)
        self.check(
            f"no Florida number called more than {FLORIDA_LIMIT} times by an account",
            bool(rows) and all(n <= FLORIDA_LIMIT for n in by_account.values()),
            f"most calls to a number per account {by_account}, {at_limit} (account, number)"
            f" at the limit, most by both accounts {max(both.values(), default=0)}",
        )

    def check_once(self, names: str) -> None:
        finals = self.sql(
            "SELECT campaign_id, contact_id, uniqExact(status) AS statuses FROM campaign_events"
            f" WHERE campaign_id IN ({names}) AND kind = 'contact_final'"
            " GROUP BY campaign_id, contact_id HAVING statuses > 1"
        )
        self.check(
            "every contact made final with one status",
            not finals,
            f"{len(finals)} contacts with two final statuses {finals[:3]}",
        )
        twice = self.sql(
            "SELECT campaign_id, contact_id, attempt, uniqExact(call_id) AS ids"
            f" FROM call_attempts WHERE campaign_id IN ({names})"
            " GROUP BY campaign_id, contact_id, attempt HAVING ids > 1"
        )
        shared = self.sql(
            "SELECT account_id, call_id, uniqExact(campaign_id, contact_id, attempt) AS uses"
            f" FROM call_attempts WHERE campaign_id IN ({names})"
            " GROUP BY account_id, call_id HAVING uses > 1"
        )
        self.check(
            "no call id twice: one id per attempt, one attempt per id",
            not twice and not shared,
            f"{len(twice)} attempts with two ids, {len(shared)} ids of two attempts",
        )
        inbound = sum(
            inc.get("campaignflow_inbound_inputs", 0.0)
            for name in ("worker-a", "worker-b")
            for inc in self.procs[name].incarnations
        )
        self.check("inbound calls reached the engine", inbound > 0, f"{inbound:.0f} inputs")


IN_FLIGHT = re.compile(r'^campaignflow_calls_in_flight\{campaign_id="([^"/]+)/([^"]+)"\} (\S+)$')


def in_flight_per_account(metrics: str, account_of: dict[str, str]) -> Counter[str]:
    """A worker's `campaignflow_calls_in_flight` (labelled `account/campaign`), summed per
    account over the run's campaigns."""
    out: Counter[str] = Counter()
    for line in metrics.splitlines():
        m = IN_FLIGHT.match(line)
        if m and account_of.get(m.group(2)) == m.group(1):
            out[m.group(1)] += int(float(m.group(3)))
    return out


def max_overlap(spans: list[tuple[int, int]]) -> int:
    """The most spans [created, ended) holding at one creation instant, that span included
    (spans of one instant count together: one round creates them one after another)."""
    worst = 0
    for created, _ in spans:
        n = sum(1 for c, e in spans if c <= created < e)
        worst = max(worst, n)
    return worst
