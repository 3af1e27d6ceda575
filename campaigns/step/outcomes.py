"""Outcomes and timeouts (SPEC 5), opt-outs (7), callbacks, skipped calls and the end date (9)."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

from campaigns import queues
from campaigns.events import (
    CallOutcome,
    CampaignStatus,
    ContactStatus,
    InputRejected,
    NumberOptedOut,
    OutcomeRecorded,
)
from campaigns.models import CALL_STATUSES
from campaigns.retries import Callback, Retry, verdict
from campaigns.state import ContactState, Phase
from campaigns.step.base import call_id, parse_call_id
from campaigns.step.commands import Commands


class Resolution(NamedTuple):
    """An outcome or a timeout to apply; those of one instant go by call creation (across
    the account's campaigns), then by arrival (`CREATION_ORDER`)."""

    call_order: int
    arrival: int  # index among the step's outcomes (timeouts come after them)
    outcome: CallOutcome | None  # None: the call's deadline passed
    contact: ContactState
    attempt_or_deadline_us: int  # the outcome's attempt, or the timeout's deadline
    step: Outcomes


CREATION_ORDER = itemgetter(0, 1)


class Outcomes(Commands):
    def collect(self, outcomes: Sequence[tuple[int, CallOutcome]]) -> list[Resolution]:
        """This campaign's outcomes (numbered by arrival in the account's step) and timeouts
        at this instant; the account step applies every campaign's in call-creation order."""
        work: list[Resolution] = []
        for i, o in outcomes:
            parsed = parse_call_id(self.campaign_id, o.call_id)
            seq = self.find(parsed[0]) if parsed else None
            contact = self.contact(seq) if seq is not None else None
            if (
                parsed is not None
                and contact is not None
                and parsed[1] > contact.attempts  # else a call made: no need to ask `hold`
                and self.hold(contact, parsed[1], o)
            ):
                continue
            if parsed is None or contact is None or parsed[1] > contact.attempts or parsed[1] < 1:
                self.out.append(
                    InputRejected(
                        self.now_us,
                        self.campaign_id,
                        f"outcome {o.call_id}",
                        "unknown call: the engine never created it",
                        call_id=o.call_id,
                    )
                )
                continue
            order = self.call_order(contact, parsed[1])
            work.append(Resolution(order, i, o, contact, parsed[1], self))
        for deadline_us, order, seq, _attempt in self.deadlines.pop_all_due(self.now_us):
            contact = self.contact(seq)
            if contact is not None and contact.call_open and contact.call_order == order:
                work.append(Resolution(order, 1 << 62, None, contact, deadline_us, self))
        return work

    def resolve(self, r: Resolution) -> None:
        if r.outcome is None:
            self.apply_timeout(r.contact, r.call_order, r.attempt_or_deadline_us)
        else:
            self.apply_outcome(r.contact, r.attempt_or_deadline_us, r.outcome, r.call_order)

    @staticmethod
    def call_order(contact: ContactState, attempt: int) -> int:
        """Creation order of an attempt's call (-1 for records older than the per-attempt list)."""
        if attempt == contact.attempts:
            return contact.call_order
        if attempt <= len(contact.orders):
            return contact.orders[attempt - 1]
        return -1

    def hold(self, contact: ContactState, attempt: int, outcome: CallOutcome) -> bool:
        """Keep an outcome of an attempt not made yet; it is applied when the call is made.

        Live, after a restart the worker replays its inputs from the last commit, and a
        dialer's outcome may be read before the input that makes its call again (they
        come on different topics). Rejecting it would leave the call to time out and be
        dialled once more.
        """
        if (
            attempt <= contact.attempts
            or contact.is_final
            or self.definition is None
            or attempt
            > self.definition.rules.attempts_allowed + self.definition.rules.max_callbacks
            or outcome.status not in CALL_STATUSES
        ):
            return False
        key = queues.held(contact.seq)
        entries = self.store.get_queue(self.campaign_id, key)
        if all(e[0] != attempt for e in entries):
            callback = -1 if outcome.callback_at_us is None else outcome.callback_at_us
            entry = (attempt, CALL_STATUSES.index(outcome.status), int(outcome.opt_out), callback)
            entries = [*entries, entry]
            self.store.put_queue(self.campaign_id, key, entries)
            self.camp.held += 1
        elif outcome.opt_out:  # a repeat changes nothing, but its opt-out is still honoured
            entries = [(e[0], e[1], 1, *e[3:]) if e[0] == attempt else e for e in entries]
            self.store.put_queue(self.campaign_id, key, entries)
        return True

    def release_held(self, contact: ContactState) -> None:
        """Apply the held outcome of the call just made; drop those of earlier attempts."""
        key = queues.held(contact.seq)
        entries = self.store.get_queue(self.campaign_id, key)
        if not entries:
            return
        attempt = contact.attempts
        rest = [e for e in entries if e[0] > attempt]
        self.store.put_queue(self.campaign_id, key, rest)
        self.camp.held -= len(entries) - len(rest)
        for e in entries:
            if e[0] == attempt:
                cid_ = call_id(self.campaign_id, contact.contact.contact_id, attempt)
                callback = e[3] if len(e) > 3 and e[3] >= 0 else None
                outcome = CallOutcome(
                    cid_, CALL_STATUSES[e[1]], len(e) > 2 and bool(e[2]), callback
                )
                self.apply_outcome(contact, attempt, outcome, contact.call_order)

    def apply_outcome(
        self, contact: ContactState, attempt: int, outcome: CallOutcome, order: int
    ) -> None:
        live = contact.call_open and attempt == contact.attempts and contact.call_order == order
        self.out.append(
            OutcomeRecorded(
                self.now_us,
                self.campaign_id,
                outcome.call_id,
                contact.contact.contact_id,
                attempt,
                outcome.status,
                live,
                opt_out=outcome.opt_out,
                callback_at_us=outcome.callback_at_us,
            )
        )
        if live:
            self.close_call(
                contact, outcome.status, self.now_us, outcome.opt_out, outcome.callback_at_us
            )
        elif outcome.opt_out:  # a duplicate, or late after the timeout: still honoured
            self.honour_opt_out(contact, attempt, self.now_us)

    def apply_timeout(self, contact: ContactState, order: int, deadline_us: int) -> None:
        """No outcome by the deadline: the engine records `timeout` at the deadline itself.

        Its retry is due `retry_delay` after the step that noticed it: the same
        instant in simulate; live, ticks may notice it up to a tick late, and due
        times must keep growing for the retry log to stay in order.
        """
        if not (contact.call_open and contact.call_order == order):
            return  # an outcome at this same instant came first
        cid_ = call_id(self.campaign_id, contact.contact.contact_id, contact.attempts)
        self.out.append(
            OutcomeRecorded(
                deadline_us,
                self.campaign_id,
                cid_,
                contact.contact.contact_id,
                contact.attempts,
                "timeout",
                True,
                timeout=True,
            )
        )
        self.close_call(contact, "timeout", deadline_us)

    def close_call(
        self,
        contact: ContactState,
        status: str,
        at_us: int,
        opt_out: bool = False,
        callback_at_us: int | None = None,
    ) -> None:
        """The call's slot and line are free; then SPEC 9's list decides for the contact."""
        assert self.plan is not None
        contact.call_open = False
        self.camp.in_flight -= 1
        self.account.in_flight -= 1
        if opt_out:  # whatever the status and the retries left
            self.honour_opt_out(contact, contact.attempts, at_us)
            return
        if contact.is_final:  # cancelled while the call was in flight: recorded, nothing scheduled
            self.store.put_contact(self.scope, contact)
            return
        result = verdict(
            self.plan,
            status,
            contact.attempts,
            self.now_us,
            contact.callbacks,
            callback_at_us,
        )
        if isinstance(result, Retry):
            contact.phase = Phase.retry
            contact.retry_due_us = result.due_us
            self.retries.push((result.due_us, contact.seq))  # a RetryEntry (see create_call)
            self.store.put_contact(self.scope, contact)
        elif isinstance(result, Callback):
            contact.callbacks += 1
            contact.phase = Phase.callback
            contact.callback_due_us = result.due_us
            contact.callback_of = contact.attempts
            self.callbacks.push(queues.CallbackEntry(result.due_us, contact.seq))
            self.store.put_contact(self.scope, contact)
        else:
            self.finalize(contact, result, at_us)

    def expire_at_end(self) -> None:
        """SPEC 9: at ends_at, a running or paused campaign's contacts with no call in flight
        are `expired` (those in flight end by their outcome); once."""
        c = self.camp
        if c.ended or not self.past_end():
            return
        if c.status not in (CampaignStatus.running, CampaignStatus.paused):
            return
        c.ended = True
        for seq in range(c.arrived):
            contact = self.contact(seq)
            if contact is not None and not contact.is_final and not contact.call_open:
                self.finalize(contact, ContactStatus.expired)
        for q in (self.retries, self.parked, self.callbacks):
            q.drain()
        self.store.put_queue(self.campaign_id, queues.QueueName.RETURNED, [])
        c.cursor = c.arrived

    # ---- opt-outs (SPEC section 7) -------------------------------------------------------

    def honour_opt_out(self, contact: ContactState, attempt: int, at_us: int) -> None:
        """The number attempt `attempt` dialled joins the account's list; the contact ends opted_out.

        Applied to the engine's directory at once (the next contact that comes up sees it),
        and emitted for the shell to publish on the do-not-call topic.
        """
        assert self.definition is not None
        account_id = self.definition.account_id
        number = self.dialled_number(contact, attempt)
        self.directory.add_blocked(account_id, number)
        self.listed_now = True
        self.out.append(
            NumberOptedOut(
                at_us,
                self.campaign_id,
                account_id,
                number,
                call_id(self.campaign_id, contact.contact.contact_id, attempt),
            )
        )
        if contact.is_final:
            self.store.put_contact(self.scope, contact)
        else:
            self.finalize(contact, ContactStatus.opted_out, at_us)

    def dialled_number(self, contact: ContactState, attempt: int) -> str:
        """The number a call of this contact dialled, from the positions kept per attempt."""
        c = contact.contact
        position = contact.dialled[attempt - 1]
        if position:
            for alt in c.alternates:
                if alt.position == position:
                    return alt.phone_number
        return c.phone_number
