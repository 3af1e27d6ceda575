"""Commands: the campaign's state machine (SPEC 4), its account checks, cancel, scheduled starts."""

from __future__ import annotations

from bisect import insort

from campaigns import queues
from campaigns.events import (
    FINAL_CAMPAIGN,
    CampaignStatus,
    Command,
    CommandKind,
    CommandRejected,
    ContactStatus,
)
from campaigns.lifecycle import NEEDS_SUBSCRIPTION, transition
from campaigns.state import RECENT_COMMANDS
from campaigns.step.base import MAX_CONTACTS, list_scope
from campaigns.step.intake import Intake
from campaigns.windows import iso


class Commands(Intake):
    def refusal(self, cmd: Command) -> str | None:
        """Why `cmd` is refused as unauthorised or absurd, or None.

        Checked before its id is remembered: another account's command cannot use up the
        id of the owner's (add-contacts ids are deterministic, so guessable).
        """
        account = cmd.account_id
        if account == "":
            return "command carries no account_id"
        d = self.definition
        if cmd.kind in (CommandKind.create, CommandKind.edit):
            if cmd.definition is not None and account not in (None, cmd.definition.account_id):
                return (
                    f"account {account!r} may not create a campaign of account"
                    f" {cmd.definition.account_id!r}"
                )
            creator = account or (cmd.definition.account_id if cmd.definition else None)
            if d is not None and creator is not None and creator != d.account_id:
                return f"campaign {self.campaign_id} already exists under another account"
            if not 0 <= cmd.expected_contacts <= MAX_CONTACTS:
                return f"expected_contacts must be between 0 and {MAX_CONTACTS}, not {cmd.expected_contacts}"
            return None
        if d is not None and account is not None and account != d.account_id:
            return self.foreign(account)
        if cmd.kind is CommandKind.add_contacts and not (
            0 <= cmd.count <= MAX_CONTACTS and self.camp.expected + cmd.count <= MAX_CONTACTS
        ):
            return (
                f"add_contacts count must be between 0 and {MAX_CONTACTS} (with the"
                f" {self.camp.expected} already expected), not {cmd.count}"
            )
        return None

    def command(self, cmd: Command) -> None:
        c = self.camp
        if cmd.command_id in c.recent_commands:
            return
        refused = self.refusal(cmd)
        if refused is not None:
            self.reject(cmd, refused, dead_letter=True)
            return
        if cmd.kind is not CommandKind.create and (c.status is None or self.definition is None):
            # Not remembered either: anyone could send it before the create, under the id
            # the owner's command will carry.
            self.reject(cmd, "unknown campaign: no create command was seen for it")
            return
        c.recent_commands.append(cmd.command_id)
        del c.recent_commands[:-RECENT_COMMANDS]
        if cmd.kind is CommandKind.create:
            self.create(cmd)
            return
        assert c.status is not None and self.definition is not None  # checked above
        if cmd.kind is CommandKind.add_contacts:
            if c.status in FINAL_CAMPAIGN:
                self.reject(cmd, f"campaign is {c.status.value}: no contacts can be added")
            else:
                c.expected += cmd.count
            return
        nxt = transition(c.status, cmd.kind)
        if not isinstance(nxt, CampaignStatus):
            self.reject(cmd, nxt)
            return
        if cmd.kind in NEEDS_SUBSCRIPTION and not self.directory.subscription_active(
            self.definition.account_id
        ):
            self.reject(cmd, f"account {self.definition.account_id} has no active subscription")
            return
        if cmd.kind is CommandKind.schedule and cmd.start_at_us is None:
            self.reject(cmd, "schedule needs a start time")
            return
        ended = self.ended_reason(cmd)
        if ended is not None:
            self.reject(cmd, ended)
            return
        if cmd.kind is CommandKind.edit:
            self.edit(cmd)
            return
        if cmd.kind is CommandKind.schedule:
            assert cmd.start_at_us is not None
            c.start_at_us = cmd.start_at_us
        self.set_status(nxt)
        if nxt is CampaignStatus.cancelled:
            self.cancel_all()
        elif nxt is CampaignStatus.scheduled:
            self.scheduled_start()  # a start time already past starts it at once (SPEC 4)

    def ended_reason(self, cmd: Command) -> str | None:
        """SPEC 9: `start` at or after ends_at, and `schedule` whose start (the later of its
        time and now) is, are refused; None when the command may go on."""
        ends = self.ends_at_us
        if ends is None or cmd.kind not in (CommandKind.start, CommandKind.schedule):
            return None
        starts = self.now_us
        if cmd.kind is CommandKind.schedule and cmd.start_at_us is not None:
            starts = max(starts, cmd.start_at_us)
        if starts < ends:
            return None
        return f"the campaign ended at {iso(ends)}"

    def create(self, cmd: Command) -> None:
        c = self.camp
        if c.status is not None:
            self.reject(cmd, f"campaign {self.campaign_id} already exists ({c.status.value})")
            return
        if cmd.definition is None or cmd.definition.campaign_id != self.campaign_id:
            self.reject(
                cmd, "create needs a definition whose campaign_id is the command's campaign"
            )
            return
        if cmd.definition.account_id != self.account.account_id:
            reason = (
                f"campaign {self.campaign_id} belongs to account {cmd.definition.account_id!r},"
                f" not to {self.account.account_id!r}"
            )
            self.reject(cmd, reason, dead_letter=True)
            return
        self.set_definition(cmd.definition)
        self.store.put_definition(cmd.definition)
        c.expected = max(c.expected, cmd.expected_contacts)
        self.settle(cmd.definition.account_id)
        self.join_account()
        self.set_status(CampaignStatus.draft)
        if self.past_end():  # SPEC 9: contacts that came before, at or after ends_at
            for seq in range(c.arrived):
                contact = self.contact(seq)
                if contact is not None and not contact.is_final:
                    self.finalize(contact, ContactStatus.expired)

    def edit(self, cmd: Command) -> None:
        """A draft's new definition and list: its contacts are dropped, the new ones follow
        as batches (counted by `expected_contacts`); answered with a StatusChanged to draft.

        The new list starts under a new store scope (`list_scope`): the old one is out of
        reach at once and later steps drop it (`sweep`), so the edit does no work per
        contact (issue 26).
        """
        d = cmd.definition
        if (
            d is None
            or d.campaign_id != self.campaign_id
            or d.account_id != self.account.account_id
        ):
            self.reject(cmd, "edit needs a definition of this campaign and account")
            return
        c = self.camp
        if c.arrived:
            c.stale.append([c.list_gen, 0, c.arrived, c.early_owner or ""])
            c.list_gen += 1
            self.scope = list_scope(self.campaign_id, c.list_gen)
        self.sweep_later = True  # the old list is dropped from the next step on, not in this one
        self.seen.clear()
        c.early_owner = None
        c.expected = cmd.expected_contacts
        c.arrived = c.cursor = c.final = c.duplicates = c.refused = 0
        c.counts = {}
        c.held_back = {}
        self.set_definition(d)
        self.store.put_definition(d)
        self.join_account()
        self.set_status(CampaignStatus.draft)

    def join_account(self) -> None:
        """List the campaign in its account, and widen the account's call log to its limits."""
        assert self.definition is not None
        account = self.account
        if self.campaign_id not in account.campaigns:
            insort(account.campaigns, self.campaign_id)
        keep = self.engine.gate(self.definition).keep_account
        if keep is not None:
            account.log_period_us = max(account.log_period_us, keep.period_us)
            account.log_calls = max(account.log_calls, keep.calls)

    def reject(self, cmd: Command, reason: str, dead_letter: bool = False) -> None:
        self.out.append(
            CommandRejected(
                self.now_us, self.campaign_id, cmd.command_id, cmd.kind.value, reason, dead_letter
            )
        )

    def cancel_all(self) -> None:
        for seq in range(self.camp.arrived):
            contact = self.contact(seq)
            if contact is not None and not contact.is_final:
                self.finalize(contact, ContactStatus.cancelled)
        for q in (self.retries, self.parked, self.callbacks):
            q.drain()
        self.store.put_queue(self.campaign_id, queues.QueueName.RETURNED, [])
        self.camp.cursor = self.camp.arrived

    def scheduled_start(self) -> None:
        c = self.camp
        if (
            c.status is CampaignStatus.scheduled
            and c.start_at_us is not None
            and c.start_at_us <= self.now_us
        ):
            self.set_status(CampaignStatus.running)
