"""The imperative shell around the engine: a batch of input messages in, messages to publish out.

No Faust here (the app hands raw messages in and publishes what comes back), so the
whole path from bytes to `Engine.step` to bytes is one place. Every input names its
account (a record without one is parked, whatever schema version wrote it); campaign ids
are per account, so the store is scoped to the account for each step (its rows are named
by `campaign_key(account_id, campaign_id)`) and every output is keyed by the account.
Per batch and partition, each ACCOUNT gets ONE step with everything that arrived for its campaigns and its inbound
calls (SPEC 8's order inside the step, and the account round that shares its lines); a
tick on the partition then steps the accounts the due index says are due. `now_us` is the
wall clock, made non-decreasing per account.

Engine-made timeouts are published on `call.outcomes` (so the sink and analysts see them
like any outcome) with `dialer_id = "engine"`; the agent reads that topic too and skips
those records, because the engine has already applied them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, NamedTuple

from pydantic import ValidationError

from campaigns.engine import CONTACT_BATCH, Engine, campaign_of_call
from campaigns.events import (
    FINAL_CAMPAIGN,
    CallCreated,
    CallOutcome,
    Command,
    CommandRejected,
    ContactBatch,
    ContactFinal,
    ContactRejected,
    ContactsAccepted,
    Event,
    InboundCall,
    InputRejected,
    NumberOptedOut,
    OutcomeRecorded,
    StatusChanged,
)
from campaigns.models import (
    ACCOUNT_ID,
    CAMPAIGN_ID,
    AccountSettings,
    CampaignDefinition,
    format_validation_error,
)
from campaigns.privacy import mask_number, mask_numbers_in
from campaigns.state import CampaignState
from campaigns.store import campaign_key, split_campaign_key
from streams import metrics
from streams.due import DueIndex
from streams.tablestore import TableStore
from topics import catalogue, deadletter, translate
from topics.codec import Codec, DecodeError

log = logging.getLogger(__name__)

ENGINE_DIALER = "engine"  # dialer_id of the timeouts the engine makes
PROGRESS_EVERY_US = 5_000_000  # a campaign's Progress event at most this often
# A contact's state row is at most 6 bytes of JSON per byte of its Avro (a control
# character is written \u00XX) plus its own fields: contacts of a batch under this size
# always fit a message, so only bigger batches have their contact rows weighed.
SAFE_BATCH_BYTES = (catalogue.VALUE_MAX_BYTES - 16_384) // 6


class Incoming(NamedTuple):
    """One input message (a named tuple: made per message, it costs a third of a dataclass)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Outbound(NamedTuple):
    """One output message, as the publisher takes it: (topic, key, value, partition)."""

    topic: str  # real topic name
    key: bytes
    value: bytes
    partition: int | None = None  # None: by key, as every producer of these topics


@dataclass
class _Work:
    """Everything a batch brought for one account: its step's inputs, by campaign, and where
    each came from (by (campaign, id)), to park a rejected one."""

    batches: dict[str, list[ContactBatch]] = field(default_factory=dict)
    commands: dict[str, list[Command]] = field(default_factory=dict)
    outcomes: list[CallOutcome] = field(default_factory=list)
    inbound: list[InboundCall] = field(default_factory=list)
    campaigns: set[str] = field(default_factory=set)
    sources: list[Incoming] = field(default_factory=list)
    by_contact: dict[tuple[str, str], Incoming] = field(default_factory=dict)
    by_call: dict[str, Incoming] = field(default_factory=dict)
    by_command: dict[tuple[str, str], Incoming] = field(default_factory=dict)  # command or batch


def _event_id(account_id: str, ev: Event) -> str:
    """Stable ids, so a replayed step's events can be recognised downstream; they name the
    account, since two accounts may both have a campaign `spring`."""
    key = campaign_key(account_id, ev.campaign_id)
    if isinstance(ev, StatusChanged):
        return f"{key}:status:{ev.status.value}:{ev.at_us}"
    if isinstance(ev, ContactFinal):
        return f"{key}:final:{ev.contact_id}"
    if isinstance(ev, CommandRejected):
        return f"{key}:rejected:{ev.command_id}"
    if isinstance(ev, ContactRejected):
        return f"{key}:contact-rejected:{ev.contact_id}:{ev.row}"
    if isinstance(ev, ContactsAccepted):
        return f"{key}:accepted:{ev.batch_id}"
    return f"{key}:{type(ev).__name__}:{ev.at_us}"


class Shell:
    def __init__(
        self,
        engine: Engine,
        store: TableStore,
        codec: Codec,
        due: DueIndex | None = None,
        clock: Callable[[], int] | None = None,
        *,
        prefix: str,
    ) -> None:
        """`prefix`: the topics' prefix (the names inputs arrive on and outputs go to)."""
        self.engine = engine
        self.store = store
        self.codec = codec
        self.due = due or DueIndex()
        self.clock = clock or (lambda: time.time_ns() // 1000)
        self.names = {
            logical: catalogue.topic_name(logical, prefix)
            for logical in (
                *catalogue.ENGINE_INPUTS,
                catalogue.CALL_CREATE,
                catalogue.EVENTS,
                catalogue.DNC,
            )
        }
        self.logical = {v: k for k, v in self.names.items()}
        self.dead_letter_topic = catalogue.topic_name(catalogue.DEADLETTER, prefix)
        self._last_now_us: dict[str, int] = {}
        # Per account stepped here: its partition and the settings its last step was given,
        # so a tick steps an account whose settings changed (more lines: calls at once).
        self._partition_of: dict[str, int] = {}
        self._applied: dict[str, AccountSettings | None] = {}
        self._last_progress: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._inputs: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()
        self._outcomes: Counter[tuple[str, str]] = Counter()

    # ---- time -------------------------------------------------------------------------

    def now_for(self, campaign_id: str, wall_us: int) -> int:
        now_us = max(wall_us, self._last_now_us.get(campaign_id, 0))
        self._last_now_us[campaign_id] = now_us
        return now_us

    def forget(self) -> None:
        """Partitions moved: drop caches and the due index (rebuilt per partition on use)."""
        self.store.forget()
        self.engine.forget()
        self.due.reset()
        self._in_flight.clear()
        self._partition_of.clear()
        self._applied.clear()
        metrics.IN_FLIGHT.clear()

    def ensure_due(self, partition: int) -> None:
        if partition not in self.due.built:
            self.store.partition = partition
            wakes: dict[str, int | None] = {}
            for key, camp in list(self.store.campaigns(partition)):
                self._track_in_flight(key, camp.in_flight)
                account_id, _ = split_campaign_key(key)
                self._partition_of[account_id] = partition
                if account_id not in wakes:
                    self.store.account = account_id
                    wakes[account_id] = self.engine.next_wake_us(account_id)
            self.due.build(partition, wakes.items())
            self.store.touch(partition)  # first commit repairs an unclosed run, if any

    # ---- a batch ------------------------------------------------------------------------

    def handle(self, batch: Iterable[Incoming]) -> list[Outbound]:
        out: list[Outbound] = []
        work: dict[int, dict[str, _Work]] = {}
        ticks: set[int] = set()
        # Counters are bumped once per batch: a labelled metric costs microseconds a call.
        self._inputs = Counter()
        self._calls = Counter()
        self._outcomes = Counter()
        for msg in batch:
            logical = self.logical.get(msg.topic, msg.topic)
            self._inputs[logical] += 1
            if msg.value is not None and len(msg.value) > catalogue.MAX_MESSAGE_BYTES:
                # Refused before decoding: a huge batch would hold the event loop for seconds.
                self._park(out, msg, deadletter.oversize_reason(len(msg.value)), "oversize")
                continue
            try:
                name, rec = self.codec.decode(msg.value, msg.topic, msg.partition, msg.offset)
            except DecodeError as exc:
                self._park(out, msg, exc, "undecodable")
                continue
            try:
                self._route(logical, name, rec, msg, work, ticks)
            except (KeyError, TypeError, ValueError) as exc:
                self._park(out, msg, f"{name} record the engine cannot use: {exc}", "invalid")
                if name == "CampaignCommand":
                    self._reject_record(out, rec, exc)
        for partition in sorted(set(work) | ticks):
            self.ensure_due(partition)
            self.store.partition = partition
            wall_us = self.clock()
            stepped: set[str] = set()
            for account_id, w in work.get(partition, {}).items():
                self._step(out, partition, account_id, wall_us, w)
                stepped.add(account_id)
            if partition in ticks:
                for account_id in self.due.pop_due(partition, wall_us):
                    metrics.DUE_CAMPAIGNS.inc()
                    self._step(out, partition, account_id, wall_us, None)
                    stepped.add(account_id)
                for account_id in self._settings_changed(partition, stepped):
                    self._step(out, partition, account_id, wall_us, None)
        for logical, n in self._inputs.items():
            metrics.EVENTS.labels(logical).inc(n)
        for key, n in self._calls.items():
            metrics.CALLS_CREATED.labels(key).inc(n)
        for (status, applied), n in self._outcomes.items():
            metrics.OUTCOMES.labels(status, applied).inc(n)
        return out

    def _route(
        self,
        logical: str,
        name: str,
        rec: dict[str, Any],
        msg: Incoming,
        work: dict[int, dict[str, _Work]],
        ticks: set[int],
    ) -> None:
        if name == "Tick":
            ticks.add(msg.partition)
            return
        if name == "CallOutcome":
            if rec.get("dialer_id") == ENGINE_DIALER:
                return  # our own timeout, already applied when it was made
            w = self._work(work, msg, rec)
            outcome = translate.outcome_from_record(rec)
            w.outcomes.append(outcome)
            w.by_call[outcome.call_id] = msg
            return
        if name == "CampaignCommand":
            w = self._work(work, msg, rec)
            command = translate.command_from_record(rec)
            command.account_id = rec["account_id"]
            campaign_id = rec["campaign_id"]
            w.commands.setdefault(campaign_id, []).append(command)
            w.by_command[(campaign_id, command.command_id)] = msg
            return
        if name == "ContactBatch":
            rows = [translate.contact_from_record(row) for row in rec["contacts"]]
            w = self._work(work, msg, rec)
            campaign_id = rec["campaign_id"]
            # A replayed batch id changes nothing.
            batch = ContactBatch(rec["batch_id"], rows, rec["account_id"])
            w.batches.setdefault(campaign_id, []).append(batch)
            w.by_command[(campaign_id, rec["batch_id"])] = msg
            for contact in rows:
                w.by_contact[(campaign_id, contact.contact_id)] = msg
            return
        if name == "InboundCall":
            account_id = rec.get("account_id")
            if not account_id:
                raise ValueError("no account_id (every record names its account)")
            if not ACCOUNT_ID.match(str(account_id)):
                raise ValueError(f"account_id {str(account_id)[:80]!r} is not a valid account id")
            call = translate.inbound_from_record(rec)
            if not self._known(msg.partition, str(account_id)):
                raise ValueError(f"unknown account {account_id!r}: no campaign here, no settings")
            w = work.setdefault(msg.partition, {}).setdefault(str(account_id), _Work())
            w.sources.append(msg)
            w.inbound.append(call)
            return
        raise ValueError(f"unexpected {name} on {logical}")

    def _known(self, partition: int, account_id: str) -> bool:
        """An account this worker has state for, or one account.status names (SPEC 8
        settings): an inbound call of any other account is parked."""
        self.store.partition = partition
        if self.store.get_account(account_id) is not None:
            return True
        return self.engine.directory.account_settings(account_id) is not None

    def _reject_record(self, out: list[Outbound], rec: dict[str, Any], exc: Exception) -> None:
        """A command the engine cannot use (a definition past its bounds, ...) is answered
        with command.rejected too, so whoever sent it hears why instead of waiting. Only
        for a record naming a valid account and campaign: the answer is keyed by them."""
        account_id, campaign_id = rec.get("account_id"), rec.get("campaign_id")
        command_id = rec.get("command_id")
        if not (isinstance(account_id, str) and ACCOUNT_ID.match(account_id)):
            return
        if not (isinstance(campaign_id, str) and CAMPAIGN_ID.match(campaign_id)):
            return
        if not isinstance(command_id, str):
            return
        body = rec.get("command")
        kind = translate.RECORD_COMMANDS.get(body[0]) if isinstance(body, tuple) else None
        # The rule, not the values it was given (they may hold numbers): 'field: rule'.
        text = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        reason = mask_numbers_in("; ".join(text.splitlines()))[:500]
        ev = CommandRejected(
            self.now_for(account_id, self.clock()),
            campaign_id,
            command_id[:200],
            kind.value if kind is not None else "unknown",
            f"the engine cannot use this command: {reason}",
        )
        record = translate.event_to_record(account_id, ev, _event_id(account_id, ev))
        if record is not None:
            value = self.codec.encode("CampaignEvent", record)
            out.append(
                Outbound(self.names[catalogue.EVENTS], catalogue.account_key(account_id), value)
            )

    @staticmethod
    def _work(work: dict[int, dict[str, _Work]], msg: Incoming, rec: dict[str, Any]) -> _Work:
        """The work of the record's account (SPEC 8: one step per account).

        Both ids must be valid, and a record without an account is refused (the caller parks
        it): the account is the unit of every key, and no input is trusted for lacking one.
        """
        account_id = rec.get("account_id")
        if not account_id:
            raise ValueError("no account_id (every record names its account)")
        if not ACCOUNT_ID.match(str(account_id)):
            raise ValueError(f"account_id {str(account_id)[:80]!r} is not a valid account id")
        campaign_id = rec.get("campaign_id")
        if not campaign_id:
            raise ValueError("no campaign_id")
        if not CAMPAIGN_ID.match(str(campaign_id)):
            raise ValueError(f"campaign_id {str(campaign_id)[:80]!r} is not a valid campaign id")
        accounts = work.get(msg.partition)
        if accounts is None:
            accounts = work[msg.partition] = {}
        account = str(account_id)
        w = accounts.get(account)  # not setdefault: a _Work per message costs microseconds
        if w is None:
            w = accounts[account] = _Work()
        w.sources.append(msg)
        w.campaigns.add(str(campaign_id))
        return w

    def _settings_changed(self, partition: int, stepped: set[str]) -> list[str]:
        """Accounts of the partition whose settings changed since their last step (the API
        or the CLI set them on account.status); one dict lookup per account and tick."""
        settings = self.engine.directory.account_settings
        return [
            account_id
            for account_id, p in list(self._partition_of.items())
            if p == partition
            and account_id not in stepped
            and settings(account_id) is not self._applied.get(account_id)
        ]

    def _step(
        self, out: list[Outbound], partition: int, account_id: str, wall_us: int, w: _Work | None
    ) -> None:
        """One account step, with the account's settings (SPEC 8) as account.status has
        them; its events are published campaign by campaign."""
        self.store.account = account_id
        now_us = self.now_for(account_id, wall_us)
        settings = self.engine.directory.account_settings(account_id)
        self._partition_of[account_id] = partition
        self._applied[account_id] = settings
        started = perf_counter()
        try:
            if w is None:
                events = self.engine.step(account_id, now_us, settings=settings)
            else:
                events = self.engine.step(
                    account_id,
                    now_us,
                    batches=w.batches,
                    commands=w.commands,
                    outcomes=w.outcomes,
                    inbound=w.inbound,
                    settings=settings,
                )
                events = self._refuse_oversized(out, account_id, now_us, w, events)
        except Exception as exc:  # an engine bug must not stop the partition
            log.exception("engine step failed for account %s", account_id)
            self.store.discard_account(account_id)
            self.engine.forget()
            for msg in w.sources if w else ():
                self._park(out, msg, f"engine step failed: {type(exc).__name__}: {exc}", "engine")
            return
        metrics.STEP_SECONDS.observe(perf_counter() - started)
        self.due.set(partition, account_id, self.engine.next_wake_us(account_id))
        by_campaign: dict[str, list[Event]] = {c: [] for c in sorted(w.campaigns)} if w else {}
        for ev in events:
            by_campaign.setdefault(ev.campaign_id, []).append(ev)
        for campaign_id, mine in by_campaign.items():
            camp = self.store.get_campaign(campaign_id)
            key = campaign_key(account_id, campaign_id)
            self._track_in_flight(key, camp.in_flight if camp else 0)
            self._publish(out, account_id, campaign_id, mine, w)
            if camp is not None and camp.status is not None:
                self._progress(out, account_id, camp, now_us, bool(mine))

    def _refuse_oversized(
        self, out: list[Outbound], account_id: str, now_us: int, w: _Work, events: list[Event]
    ) -> list[Event]:
        """State no message could carry to the changelog (a definition or contact row over
        the limit) would stop the worker for every campaign: a campaign whose step made such
        a row has its commands and batches refused instead (dead letter + command.rejected),
        its changes dropped and its outcomes stepped alone; the account's other campaigns
        keep their step's events."""
        for campaign_id in sorted({*w.commands, *w.batches}):
            big = self._oversized(campaign_id, w)
            if not big:
                continue
            self.store.discard(campaign_id)
            self.engine.forget()
            rows = ", ".join(f"a {kind} row of {size:,} bytes" for kind, size in big[:3])
            limit = catalogue.VALUE_MAX_BYTES
            reason = f"its state would hold {rows}, over the limit of {limit:,} bytes of a message"
            log.warning("campaign %s: input refused: %s", campaign_id, reason)
            inputs = [(c.command_id, c.kind.value) for c in w.commands.get(campaign_id, [])]
            inputs += [(b.batch_id, CONTACT_BATCH) for b in w.batches.get(campaign_id, [])]
            events = [e for e in events if e.campaign_id != campaign_id]
            for input_id, what in inputs:
                events.append(CommandRejected(now_us, campaign_id, input_id, what, reason))
                src = w.by_command.get((campaign_id, input_id))
                if src is not None:
                    self._park(out, src, f"{what} {input_id}: {reason}", "oversize_state")
            mine = [o for o in w.outcomes if campaign_of_call(o.call_id) == campaign_id]
            if mine:
                events += self.engine.step(account_id, now_us, outcomes=mine)
        return events

    def _oversized(self, campaign_id: str, w: _Work) -> list[tuple[str, int]]:
        wide = any(
            len(src.value or b"") > SAFE_BATCH_BYTES
            for b in w.batches.get(campaign_id, [])
            if (src := w.by_command.get((campaign_id, b.batch_id))) is not None
        )
        found: list[tuple[str, int]] = self.store.oversized(
            campaign_id, catalogue.VALUE_MAX_BYTES, contacts=wide
        )
        return found

    def _progress(
        self, out: list[Outbound], account_id: str, camp: CampaignState, now_us: int, changed: bool
    ) -> None:
        """A Progress event per campaign at most every PROGRESS_EVERY_US, and when it finishes."""
        key = campaign_key(account_id, camp.campaign_id)
        last = self._last_progress.get(key)
        final = camp.status in FINAL_CAMPAIGN
        if not changed or (last is not None and now_us - last < PROGRESS_EVERY_US and not final):
            return
        self._last_progress[key] = now_us
        record = translate.progress_to_record(account_id, camp, now_us)
        value = self.codec.encode("CampaignEvent", record)
        out.append(Outbound(self.names[catalogue.EVENTS], catalogue.account_key(account_id), value))

    def _track_in_flight(self, key: str, value: int) -> None:
        if value:
            self._in_flight[key] = value
            metrics.IN_FLIGHT.labels(key).set(value)
        elif self._in_flight.pop(key, None) is not None:
            metrics.IN_FLIGHT.remove(key)

    # ---- what the engine said ------------------------------------------------------------------

    def _publish(
        self,
        out: list[Outbound],
        account_id: str,
        campaign_id: str,
        events: list[Event],
        w: _Work | None,
    ) -> None:
        key = catalogue.account_key(account_id)
        encode = self.codec.encode
        rejected_batches: dict[int, tuple[Incoming, list[str]]] = {}
        d: CampaignDefinition | None = None
        for ev in events:
            if isinstance(ev, CallCreated):
                if d is None:
                    d = self.store.get_definition(campaign_id)
                prompt = d.agent_for(ev.agent_id).prompt if d else ""
                value = encode("CallCreate", translate.call_to_record(ev, prompt))
                out.append(Outbound(self.names[catalogue.CALL_CREATE], key, value))
                self._calls[campaign_key(account_id, campaign_id)] += 1
                continue
            if isinstance(ev, OutcomeRecorded):
                self._outcomes[ev.status, "yes" if ev.applied else "no"] += 1
                if ev.timeout:
                    value = encode("CallOutcome", translate.timeout_to_record(account_id, ev))
                    out.append(Outbound(self.names[catalogue.OUTCOMES], key, value))
                continue
            if isinstance(ev, NumberOptedOut):
                self._opt_out(out, ev)
                continue
            if isinstance(ev, InputRejected):
                src = None
                if w is not None and ev.call_id is not None:
                    src = w.by_call.get(ev.call_id)
                self._park_event(out, src, key, f"{ev.what}: {ev.reason}", "rejected")
                continue
            if isinstance(ev, CommandRejected) and ev.dead_letter:
                src = w.by_command.get((campaign_id, ev.command_id)) if w is not None else None
                if src is None and ev.command == CONTACT_BATCH:  # an early batch, read before
                    src = Incoming(self.names[catalogue.CONTACTS], -1, -1, key, b"")
                what = f"{ev.command} {ev.command_id}"
                self._park_event(out, src, key, f"{what}: {ev.reason}", "unauthorised")
            if isinstance(ev, ContactRejected) and w is not None:
                src = w.by_contact.get((campaign_id, ev.contact_id))
                if src is not None:
                    entry = rejected_batches.setdefault(id(src), (src, []))
                    entry[1].append(f"contact {ev.contact_id} (row {ev.row}): {ev.reason}")
            record = translate.event_to_record(account_id, ev, _event_id(account_id, ev))
            if record is not None:
                out.append(
                    Outbound(self.names[catalogue.EVENTS], key, encode("CampaignEvent", record))
                )
        for src, reasons in rejected_batches.values():
            more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
            error = f"{len(reasons)} contact(s) rejected: " + "; ".join(reasons[:3]) + more
            self._park(out, src, error, "contact_rejected")

    def _opt_out(self, out: list[Outbound], ev: NumberOptedOut) -> None:
        """The number joins the account's list for every worker: a record on the DNC topic."""
        value = self.codec.encode("DncEntry", translate.opt_out_to_record(ev))
        key = translate.dnc_key(ev.account_id, ev.number)
        out.append(Outbound(self.names[catalogue.DNC], key, value))
        metrics.OPT_OUTS.inc()
        log.info(
            "opt-out on %s: %s joins the do-not-call list of account %s",
            ev.call_id,
            mask_number(ev.number),
            ev.account_id,
        )

    def _park(self, out: list[Outbound], msg: Incoming, error: Any, reason: str) -> None:
        letter = deadletter.build(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            error=error,
            stage="engine",
            codec=self.codec,
            dead_letter_topic=self.dead_letter_topic,
        )
        out.append(Outbound(letter.topic, letter.key, letter.value))
        metrics.DEAD_LETTERS.labels(reason).inc()

    def _park_event(
        self, out: list[Outbound], msg: Incoming | None, key: bytes, error: str, reason: str
    ) -> None:
        """`key`: the Kafka key (the account) of the input the engine refused."""
        if msg is None:
            msg = Incoming(self.names[catalogue.COMMANDS], -1, -1, key, b"")
        self._park(out, msg, error, reason)
