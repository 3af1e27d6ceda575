"""Intake: contact batches and contacts reaching a campaign (SPEC 2), before and after its create."""

from __future__ import annotations

from campaigns.contacts import Contact
from campaigns.events import (
    FINAL_CAMPAIGN,
    CommandRejected,
    ContactBatch,
    ContactRejected,
    ContactsAccepted,
    ContactStatus,
)
from campaigns.state import ContactState
from campaigns.step.base import CONTACT_BATCH, StepBase, batch_key, early_key


class Intake(StepBase):
    def add_batch(self, batch: ContactBatch) -> None:
        """A batch from a producer: a batch seen before is a replay and changes nothing.

        In a new batch, a contact id the campaign already has is rejected and counted,
        so the add-contacts command that counted it cannot keep the campaign open.
        A batch of another account than the campaign's is refused whole. Before the
        create command nobody knows the campaign's account: the batch is taken, its
        contacts indexed under its account, and the create sorts them out (`settle`).
        """
        account = batch.account_id
        if account == "":
            self.refuse_batch(batch.batch_id, "contact batch carries no account_id")
            return
        if self.definition is not None and account not in (None, self.definition.account_id):
            self.refuse_batch(batch.batch_id, self.foreign(account))
            return
        key = batch_key(account, batch.batch_id)
        if self.store.has_batch(self.campaign_id, key):
            return
        if self.camp.status not in FINAL_CAMPAIGN:
            self.store.add_batch(self.campaign_id, key)
        first = self.camp.arrived
        early = self.camp.status is None and self.definition is None
        accepted = [
            position
            for position, contact in enumerate(batch.contacts)
            if self.add_contact(
                contact, count_duplicates=True, early=(account or "") if early else None
            )
        ]
        self.out.append(ContactsAccepted(self.now_us, self.campaign_id, batch.batch_id, accepted))
        if early and self.camp.arrived > first:
            self.camp.pending.append([batch.batch_id, account or "", first, self.camp.arrived])

    def foreign(self, account: str) -> str:
        """The reason for another account's input (the owner's name is not told)."""
        return f"account {account!r} is not the account of campaign {self.campaign_id}"

    def refuse_batch(self, batch_id: str, reason: str) -> None:
        self.out.append(
            CommandRejected(
                self.now_us, self.campaign_id, batch_id, CONTACT_BATCH, reason, dead_letter=True
            )
        )

    def settle(self, owner: str) -> None:
        """At the create: early contacts of the owner's account join; other accounts' are refused.

        Early contacts were indexed per account (`early_key`), so another account's rows
        could not take the owner's contact ids. The owner's stay where they are: the
        campaign looks contact ids up under the owner's early keys from now on
        (`early_owner`, `StepBase.find`), so a create does no work per contact of its own
        list (issue 26: 100,000 of them, moved in one step, held the worker past its
        lease). Contacts an owner's contact may have come after (a batch written before
        accounts, or one taken outside a batch) are judged one by one, first come first
        kept, as are the owner's batches that follow them; other accounts' are passed
        over for good.
        """
        pending, self.camp.pending = self.camp.pending, []
        one_by_one = sum(int(p[3]) - int(p[2]) for p in pending) != self.camp.arrived
        self.camp.early_owner = owner
        for batch_id, account, first, end in pending:
            assert isinstance(account, str) and isinstance(first, int) and isinstance(end, int)
            one_by_one = one_by_one or account == ""
            if account != owner or one_by_one:
                self.settle_batch(str(batch_id), account, owner, range(first, end))

    def settle_batch(self, batch_id: str, account: str, owner: str, seqs: range) -> None:
        """One early batch judged contact by contact at the create (see `settle`)."""
        ours = account in ("", owner)
        refused = 0
        for seq in seqs:
            state = self.contact(seq)
            if state is None:
                continue
            contact_id = state.contact.contact_id
            if ours and not self.came_before(contact_id, seq):
                self.store.index_contact(self.scope, contact_id, seq)
                continue
            # Passed over by every loop (final), counted in `refused`, not in `final`.
            state.status = ContactStatus.cancelled
            self.store.put_contact(self.scope, state)
            self.camp.refused += 1
            if ours:
                self.camp.duplicates += 1
                reason = f"contact_id {contact_id!r} is already in the campaign"
                self.out.append(
                    ContactRejected(
                        self.now_us, self.campaign_id, contact_id, state.contact.row, reason
                    )
                )
            else:
                refused += 1
        if refused:
            self.refuse_batch(batch_id, f"{self.foreign(account)}: {refused} contact(s) not added")

    def came_before(self, contact_id: str, seq: int) -> bool:
        """Whether the campaign holds `contact_id` from before contact `seq`: in the index,
        or as an owner's early contact left under its early key (`settle`)."""
        if self.store.find_contact(self.scope, contact_id) is not None:
            return True
        owner = self.camp.early_owner
        kept = (
            None
            if owner is None
            else self.store.find_contact(self.scope, early_key(owner, contact_id))
        )
        return kept is not None and kept < seq

    def add_contact(
        self, contact: Contact, count_duplicates: bool = False, early: str | None = None
    ) -> bool:
        """Take one contact; False when it is not added (a final campaign, a known id)."""
        c = self.camp
        if c.status in FINAL_CAMPAIGN:
            self.out.append(
                ContactRejected(
                    self.now_us,
                    self.campaign_id,
                    contact.contact_id,
                    contact.row,
                    f"campaign is {c.status}: contact not added",
                )
            )
            return False
        if early is None:
            index_key = contact.contact_id
            known = self.find(index_key)
        else:
            index_key = early_key(early, contact.contact_id)
            known = self.store.find_contact(self.scope, index_key)
        if known is not None:
            if count_duplicates:
                c.duplicates += 1
                self.out.append(
                    ContactRejected(
                        self.now_us,
                        self.campaign_id,
                        contact.contact_id,
                        contact.row,
                        f"contact_id {contact.contact_id!r} is already in the campaign",
                    )
                )
            return False  # without a batch id: a replay or a second upload of the same row
        seq = c.arrived
        c.arrived += 1
        self.store.index_contact(self.scope, index_key, seq)
        state = self.seen[seq] = ContactState(seq, contact)
        self.store.put_contact(self.scope, state)
        if early is None and self.past_end():  # SPEC 9: arriving at or after ends_at
            self.finalize(state, ContactStatus.expired)
        return True
