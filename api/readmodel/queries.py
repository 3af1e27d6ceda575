"""The read model's typed queries: point lookups and bounded range scans over sorted keys.

Every read is cursor-paginated; a filtered scan stops after MAX_SCAN keys and hands
back a cursor, so no request reads a whole campaign.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from typing import Any

from api.readmodel.records import CampaignSummary, ContactView, DncView, LinesInUse
from api.readmodel.store import ReadStore, db_key, decoder, dnc_prefix
from campaigns.models import CampaignDefinition
from campaigns.store import campaign_key

MAX_SCAN = 20_000  # keys one filtered page may read before it hands back a cursor


class ReadQueries:
    """What the API asks of the read model; reads only, never the fold's state."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def campaign(self, account: str, campaign_id: str) -> CampaignSummary | None:
        """The account's campaign of that id (ids are per account: another account's is
        another campaign, never this one)."""
        return self.store.campaigns.get(campaign_key(account, campaign_id))

    def exists(self, account: str, campaign_id: str) -> bool:
        return campaign_key(account, campaign_id) in self.store.campaigns

    def definition(self, account: str, campaign_id: str) -> CampaignDefinition | None:
        return self.store.definition(account, campaign_id)

    def page(
        self, account: str, status: str | None, after: str | None, limit: int
    ) -> tuple[list[CampaignSummary], str | None]:
        """The account's campaigns by id after the cursor's id, of one status or all."""
        ids = self.store.by_account.get(account, [])
        start = bisect.bisect_right(ids, after) if after is not None else 0
        out: list[CampaignSummary] = []
        stop = min(len(ids), start + MAX_SCAN)
        pos = start
        while pos < stop:
            summary = self.store.campaigns[campaign_key(account, ids[pos])]
            pos += 1
            if status is None or summary.status == status:
                out.append(summary)
                if len(out) == limit:
                    break
        return out, (ids[pos - 1] if pos < len(ids) and pos > start else None)

    def contacts(
        self, account: str, campaign_id: str, status: str | None, after_seq: int | None, limit: int
    ) -> tuple[list[ContactView], int | None]:
        """A page in arrival order; the cursor is the arrival number of the last key read."""
        out: list[ContactView] = []
        last_seq: int | None = None
        key_of = campaign_key(account, campaign_id)
        prefix = db_key("k", key_of, "")
        it = self.store.db.iter()
        it.seek(prefix + (f"{after_seq + 1:012d}".encode() if after_seq is not None else b""))
        scanned = 0
        more = False
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            if len(out) == limit or scanned >= MAX_SCAN:
                more = True
                break
            scanned += 1
            view = self._view(key_of, decoder.decode(bytes(it.value())))
            last_seq = int(key[len(prefix) :])
            if status is None or view.status == status:
                out.append(view)
            it.next()
        return out, (last_seq if more else None)

    def _view(self, key: str, c: dict[str, Any]) -> ContactView:
        raw = self.store.db.get(db_key("s", key, c["contact_id"]))
        st = decoder.decode(raw) if raw is not None else {}
        return ContactView(
            contact_id=c["contact_id"],
            row=int(c["row"]),
            status=st.get("status", "pending"),
            attempts=int(st.get("attempts", 0)),
            last_outcome=st.get("last_outcome"),
            next_attempt_at_ms=st.get("next_attempt_at"),
            phone_last4=c["last4"],
            agent_id=(c.get("record") or {}).get("agent_id"),
        )

    def all_contacts(
        self, account: str, campaign_id: str
    ) -> Iterator[tuple[dict[str, Any], ContactView]]:
        """Every contact in row order: (its record, its view); streamed from disk."""
        key = campaign_key(account, campaign_id)
        prefix = db_key("k", key, "")
        it = self.store.db.iter()
        it.seek(prefix)
        while it.valid():
            if not bytes(it.key()).startswith(prefix):
                break
            c = decoder.decode(bytes(it.value()))
            yield c["record"], self._view(key, c)
            it.next()

    def calls(
        self, account: str, campaign_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        prefix = db_key("l", campaign_key(account, campaign_id), "")
        it = self.store.db.iter()
        it.seek(prefix + (after.encode() + b"\x00" if after is not None else b""))
        out: list[dict[str, Any]] = []
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            if len(out) == limit:
                return out, out[-1]["call_id"]
            out.append(decoder.decode(bytes(it.value())))
            it.next()
        return out, None

    def minutes(self, account: str, campaign_id: str) -> list[tuple[int, dict[str, int]]]:
        """Outcomes per minute (bounded by the campaign's span in minutes)."""
        prefix = db_key("t", campaign_key(account, campaign_id), "")
        it = self.store.db.iter()
        it.seek(prefix)
        out = []
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            out.append((int(key[len(prefix) :]), decoder.decode(bytes(it.value()))))
            it.next()
        return out

    def lines_in_use(self, account: str, inbound_max_ms: int, now_ms: int) -> LinesInUse:
        """In flight per campaign (calls created less calls ended, engine timeouts included)
        and inbound calls started and not ended, each for at most `inbound_max_ms` (SPEC 8's
        cut-off: a lost end stops counting then)."""
        campaigns: dict[str, int] = {}
        with self.store.lock:
            ids = list(self.store.by_account.get(account, []))
        for campaign_id in ids:
            summary = self.store.campaigns.get(campaign_key(account, campaign_id))
            if summary is None:
                continue
            n = max(0, summary.calls_created - summary.calls_ended)
            if n or summary.status == "running":
                campaigns[campaign_id] = n
        inbound = 0
        prefix = db_key("v", account, "")
        it = self.store.db.iter()
        it.seek(prefix)
        while it.valid():
            if not bytes(it.key()).startswith(prefix):
                break
            if int(bytes(it.value())) + inbound_max_ms > now_ms:
                inbound += 1
            it.next()
        return LinesInUse(inbound, campaigns)

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        return self.store.db.get(db_key("w", webhook_id, event_id)) is not None

    def mark_delivered(self, webhook_id: str, event_id: str) -> None:
        self.store.db.put(db_key("w", webhook_id, event_id), b"1")

    # ---- do-not-call lists --------------------------------------------------------------

    def dnc_entry(self, account: str | None, number: str) -> DncView | None:
        raw = self.store.db.get(dnc_prefix(account) + number.encode())
        return DncView(number, int(raw)) if raw is not None else None

    def dnc_page(
        self, account: str | None, after: str | None, limit: int, starts_with: str = ""
    ) -> tuple[list[DncView], str | None]:
        """One list's entries by number, after the cursor's number, those that start with
        `starts_with` only; a bounded range scan (the keys are sorted by number)."""
        out = list(self._dnc_scan(account, after, limit + 1, starts_with))
        more = len(out) > limit
        out = out[:limit]
        return out, (out[-1].number if more else None)

    def dnc_all(self, account: str | None) -> Iterator[DncView]:
        """Every entry of one list by number, streamed from disk."""
        return self._dnc_scan(account, None, None)

    def _dnc_scan(
        self, account: str | None, after: str | None, limit: int | None, starts_with: str = ""
    ) -> Iterator[DncView]:
        prefix = dnc_prefix(account)
        wanted = prefix + starts_with.encode()
        start = prefix + (after.encode() + b"\x00" if after is not None else b"")
        it = self.store.db.iter()
        it.seek(max(start, wanted))
        n = 0
        while it.valid() and (limit is None or n < limit):
            key = bytes(it.key())
            if not key.startswith(wanted):
                break
            yield DncView(key[len(prefix) :].decode(), int(bytes(it.value())))
            n += 1
            it.next()

    # ---- read-your-writes -----------------------------------------------------------

    def has_reached(self, written: dict[tuple[str, int], int]) -> bool:
        """Whether every (topic, partition) was folded past the offset given."""
        reached = self.store.reached
        return all(reached.get(tp, -1) > offset for tp, offset in written.items())

    def wait_for(self, predicate: Callable[[], bool], timeout_seconds: float) -> bool:
        """Wait until the fold makes the predicate true (a write the caller just made)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())
