"""The read model's fold: records of the campaign topics -> rows in RocksDB.

- Counters are folded from the same records the sink stores, deduplicated by call id
  and contact id, so replays (at-least-once topics) count once.
- Only what the engine accepted is listed: a contact batch waits (b|...) until the
  engine's `ContactsAccepted` event names which of its contacts it took (an event that
  comes first waits as a|...); a batch the engine refused is never listed, counted,
  exported or duplicated. A record without a valid account or campaign id is skipped.
- Each batch is one atomic WriteBatch with the offsets it reached, so a restart resumes
  exactly where the last batch ended.
"""

from __future__ import annotations

import logging
from typing import Any

import rocksdict

from api.readmodel.records import AnswerCount, CampaignSummary, EngineProgress
from api.readmodel.store import (
    ReadStore,
    db_key,
    decoder,
    dnc_prefix,
    encoder,
    record_key,
    summary_decoder,
)
from campaigns.engine import CONTACT_BATCH
from topics import catalogue
from topics.codec import DecodeError, decode
from topics.translate import NAMESPACE, dnc_key_scope

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
FINAL_STATUSES = ("reached", "exhausted", "failed", "cancelled", "suppressed", "opted_out")


def _ms(value: Any) -> int | None:
    """Avro timestamp-millis as fastavro gives it (datetime or int) -> epoch millis."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value.timestamp() * 1000)


def _named(value: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(value, tuple):
        return value[0].removeprefix(NAMESPACE + "."), value[1]
    return "", value


def last4(number: str) -> str:
    return number[-4:] if number else ""


def fold_messages(store: ReadStore, msgs: list[Any], logical: dict[str, str]) -> None:
    """Fold one consumed batch (`logical`: topic name -> catalogue name) and commit it."""
    batch = FoldBatch(store)
    for msg in msgs:
        if msg.error() is not None:
            continue
        topic = msg.topic()
        batch.offsets[(topic, msg.partition())] = msg.offset() + 1
        value = msg.value()
        kind = logical.get(topic)
        if kind == catalogue.DNC:
            batch.dnc(msg.key(), value, topic, msg.partition(), msg.offset())
            continue
        if value is None:
            continue
        try:
            _, rec = decode(value, topic, msg.partition(), msg.offset())
        except DecodeError:
            continue  # the engine parks what it cannot read; here it is just skipped
        try:
            batch.fold(kind, rec)
        except (KeyError, TypeError, ValueError):
            log.warning("read model: record skipped at %s/%s", topic, msg.offset())
    batch.commit()


class FoldBatch:
    """One consumed batch: rows touched are cached, written once with the offsets.

    Campaigns are named by their key (`record_key`: account and campaign id) throughout.
    """

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        self.wb = rocksdict.WriteBatch(raw_mode=True)
        self.offsets: dict[tuple[str, int], int] = {}
        self.rows: dict[str, CampaignSummary] = {}  # copies of the summaries touched
        self.states: dict[bytes, dict[str, Any]] = {}
        self.calls_: dict[bytes, dict[str, Any] | None] = {}
        self.minutes_: dict[bytes, dict[str, int]] = {}
        self.seqs: dict[str, int] = {}
        self.seen: set[bytes] = set()
        # b|... and a|... rows written or deleted in this batch (None: deleted)
        self.pending: dict[bytes, Any] = {}

    # rows touched in this batch: read once, written once at commit
    def _state(self, key: str, contact_id: str) -> dict[str, Any]:
        skey = db_key("s", key, contact_id)
        st = self.states.get(skey)
        if st is None:
            raw = self.store.db.get(skey)
            st = decoder.decode(raw) if raw is not None else {"status": "pending", "attempts": 0}
            self.states[skey] = st
        return st

    def _call(self, key: str, call_id: str) -> dict[str, Any] | None:
        lkey = db_key("l", key, call_id)
        if lkey not in self.calls_:
            raw = self.store.db.get(lkey)
            self.calls_[lkey] = decoder.decode(raw) if raw is not None else None
        return self.calls_[lkey]

    def _camp(self, key: str) -> CampaignSummary | None:
        """The batch's copy of a summary: readers see the old one until commit swaps it in."""
        row = self.rows.get(key)
        if row is None:
            live = self.store.campaigns.get(key)
            if live is None:
                return None
            row = self.rows[key] = summary_decoder.decode(encoder.encode(live))
        return row

    def _pending(self, pkey: bytes) -> Any:
        if pkey in self.pending:
            return self.pending[pkey]
        raw = self.store.db.get(pkey)
        return decoder.decode(raw) if raw is not None else None

    def _set_pending(self, pkey: bytes, value: Any) -> None:
        self.pending[pkey] = value
        if value is None:
            self.wb.delete(pkey)
        else:
            self.wb.put(pkey, encoder.encode(value))

    def _touch(self, row: CampaignSummary, at_ms: int | None) -> None:
        if at_ms is not None and (row.last_activity_at_ms or 0) < at_ms:
            row.last_activity_at_ms = at_ms

    def fold(self, kind: str | None, rec: dict[str, Any]) -> None:
        """One decoded record of the topic named `kind` (a catalogue name)."""
        if kind == catalogue.COMMANDS:
            self.command(rec)
        elif kind == catalogue.CONTACTS:
            self.contacts(rec)
        elif kind == catalogue.CALL_CREATE:
            self.call(rec)
        elif kind == catalogue.OUTCOMES:
            self.outcome(rec)
        elif kind == catalogue.EVENTS:
            self.event(rec)

    def dnc(
        self, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
    ) -> None:
        """An entry (or its tombstone) of campaign.dnc, as `ingest.dnc.read_lists` reads it."""
        if not key:
            return
        try:
            account, number = dnc_key_scope(key)
        except UnicodeDecodeError:
            return
        if account == "" or "|" in (account or "") or "|" in number:
            return  # no list of ours: '|' separates the parts of our keys
        dkey = dnc_prefix(account) + number.encode()
        if value is None:
            self.wb.delete(dkey)
            return
        try:
            _, rec = decode(value, topic, partition, offset)
        except DecodeError:
            return
        if rec.get("blocked"):
            self.wb.put(dkey, str(_ms(rec["updated_at"]) or 0).encode())
        else:
            self.wb.delete(dkey)

    def command(self, rec: dict[str, Any]) -> None:
        key = record_key(rec)
        if key is None:
            return  # the engine parks a command without a valid account or campaign id
        name, body = _named(rec["command"])
        campaign_id = rec["campaign_id"]
        issued = _ms(rec.get("issued_at"))
        if name == "CreateCampaign":
            if key in self.store.campaigns or key in self.rows:
                return
            d = body["definition"]
            if d.get("account_id") != rec["account_id"] or d.get("campaign_id") != campaign_id:
                return  # the engine refuses a create that is not its definition's
            self.rows[key] = CampaignSummary(
                campaign_id=campaign_id,
                account_id=d["account_id"],
                name=d["name"],
                description=d.get("description") or "",
                definition=d,
                status="draft",
                start_at_ms=None,
                requested_start_at_ms=None,
                created_at_ms=issued,
                last_activity_at_ms=issued,
                expected=int(body["expected_contacts"]),
                arrived=self._seq(key),
            )
            return
        known = self._camp(key)
        if known is None:
            return
        row = known
        if name == "AddContacts":
            row.expected += int(body["count"])
        elif name == "ScheduleCampaign":
            row.requested_start_at_ms = _ms(body.get("start_at"))

    def contacts(self, rec: dict[str, Any]) -> None:
        """A batch waits until the engine says which of its contacts it took (or is listed
        at once when that came first): nothing the engine refused is ever listed."""
        key = record_key(rec)
        if key is None:
            return
        batch_id = str(rec["batch_id"])
        if self._pending(db_key("x", key, batch_id)) is not None:
            return  # a replay of a batch already listed: the engine takes it once too
        akey = db_key("a", key, batch_id)
        positions = self._pending(akey)
        if positions is None:
            self._set_pending(db_key("b", key, batch_id), rec["contacts"])
            return
        self._set_pending(akey, None)
        self._list(key, batch_id, rec["contacts"], positions)

    def accepted(self, key: str, body: dict[str, Any]) -> None:
        """The engine's ContactsAccepted: list the batch's contacts it took."""
        batch_id = str(body["batch_id"])
        if self._pending(db_key("x", key, batch_id)) is not None:
            return  # the same event again (at-least-once): listed already
        positions = [int(p) for p in body.get("positions") or []]
        bkey = db_key("b", key, batch_id)
        contacts = self._pending(bkey)
        if contacts is None:
            self._set_pending(db_key("a", key, batch_id), positions)
            return
        self._set_pending(bkey, None)
        self._list(key, batch_id, contacts, positions)

    def _list(
        self, key: str, batch_id: str, contacts: list[dict[str, Any]], positions: list[int]
    ) -> None:
        """Contacts in arrival order (k|K|seq); a contact id seen before is skipped.

        Contacts may come before their create command, so the count lives apart from the
        summary (n|K) and the summary takes it when the create arrives. The batch is marked
        listed (x|K|batch_id), so a replay of it waits for nothing.
        """
        self._set_pending(db_key("x", key, batch_id), 1)
        seq = self._seq(key)
        for position in positions:
            if not 0 <= position < len(contacts):
                continue
            c = contacts[position]
            ikey = db_key("i", key, c["contact_id"])
            if ikey in self.seen or self.store.db.get(ikey) is not None:
                continue  # a re-upload: the engine keeps a contact id once too
            seq += 1
            self.seen.add(ikey)
            self.wb.put(ikey, str(seq).encode())
            value = {
                "contact_id": c["contact_id"],
                "row": int(c["row"]),
                "last4": last4(c["phone_number"]),
                "record": c,
            }
            self.wb.put(db_key("k", key, f"{seq:012d}"), encoder.encode(value))
        self.seqs[key] = seq
        row = self._camp(key)
        if row is not None:
            row.arrived = seq

    def _seq(self, key: str) -> int:
        if key not in self.seqs:
            raw = self.store.db.get(db_key("n", key))
            self.seqs[key] = int(raw) if raw is not None else 0
        return self.seqs[key]

    def call(self, rec: dict[str, Any]) -> None:
        key = record_key(rec)
        if key is None:
            return
        call = self._call(key, rec["call_id"])
        created = _ms(rec.get("created_at"))
        if call is not None and call.get("created"):
            return
        if call is None:
            call = {"call_id": rec["call_id"], "status": "in_flight", "ended_at_ms": None}
        call.update(
            contact_id=rec["contact_id"],
            attempt=int(rec["attempt"]),
            to_last4=last4(rec["to"]),
            caller_id=rec["from"],
            created_at_ms=created,
            created=True,
        )
        self.calls_[db_key("l", key, rec["call_id"])] = call
        st = self._state(key, rec["contact_id"])
        st["attempts"] = max(int(st.get("attempts", 0)), int(rec["attempt"]))
        st["next_attempt_at"] = None
        row = self._camp(key)
        if row is None:
            return
        row.calls_created += 1
        row.by_caller_id.setdefault(rec["from"], AnswerCount()).calls += 1
        row.by_attempt.setdefault(str(rec["attempt"]), AnswerCount()).calls += 1
        self._touch(row, created)

    def outcome(self, rec: dict[str, Any]) -> None:
        key = record_key(rec)
        if key is None:
            return  # the engine parks an outcome without its account
        row = self._camp(key)
        call = self._call(key, rec["call_id"])
        if call is not None and call.get("ended_at_ms") is not None:
            return  # a duplicate or a late outcome: the engine ignores it too
        ended = _ms(rec.get("ended_at"))
        status = str(rec["status"])
        if call is None:
            call = {
                "call_id": rec["call_id"],
                "contact_id": rec["contact_id"],
                "attempt": int(rec["attempt"]),
                "to_last4": "",
                "caller_id": "",
                "created_at_ms": _ms(rec.get("created_at")),
                "created": False,
            }
        call["status"] = status
        call["ended_at_ms"] = ended
        self.calls_[db_key("l", key, rec["call_id"])] = call
        st = self._state(key, rec["contact_id"])
        st["last_outcome"] = status
        if row is None:
            return
        self._count_outcome(key, row, rec, call, st)

    def _count_outcome(
        self,
        key: str,
        row: CampaignSummary,
        rec: dict[str, Any],
        call: dict[str, Any],
        st: dict[str, Any],
    ) -> None:
        ended = call["ended_at_ms"]
        status = call["status"]
        d = self.store.definition(row.account_id, row.campaign_id)
        attempt = int(rec["attempt"])
        if (
            d is not None
            and st.get("status") == "pending"
            and status in d.rules.retry_statuses
            and attempt < d.rules.attempts_allowed
            and ended is not None
        ):
            # earliest due time; the engine calls it at the first callable instant after
            st["next_attempt_at"] = ended + d.rules.retry_delay_us // 1000
        row.calls_ended += 1
        row.outcomes[status] = row.outcomes.get(status, 0) + 1
        if status == "answered":
            if call.get("caller_id"):
                row.by_caller_id.setdefault(call["caller_id"], AnswerCount()).answered += 1
            row.by_attempt.setdefault(str(attempt), AnswerCount()).answered += 1
        if ended is not None:
            mkey = db_key("t", key, f"{ended // MINUTE_MS * MINUTE_MS:015d}")
            minute = self.minutes_.get(mkey)
            if minute is None:
                raw = self.store.db.get(mkey)
                minute = decoder.decode(raw) if raw is not None else {}
                self.minutes_[mkey] = minute
            minute[status] = minute.get(status, 0) + 1
        self._touch(row, ended)

    def event(self, rec: dict[str, Any]) -> None:
        key = record_key(rec)
        if key is None:
            return
        name, body = _named(rec["body"])
        if name == "ContactsAccepted":
            self.accepted(key, body)
            return
        if name == "CommandRejected" and body.get("command") == CONTACT_BATCH:
            self._set_pending(db_key("b", key, str(body["command_id"])), None)  # never listed
            return
        row = self._camp(key)
        if row is None:
            return
        at = _ms(rec.get("at"))
        if name == "StatusChanged":
            row.status = str(body["status"])
            if row.status == "scheduled":
                row.start_at_ms = row.requested_start_at_ms
            elif row.status == "running" and row.start_at_ms is None:
                row.start_at_ms = at
            self._touch(row, at)
        elif name == "ContactFinal":
            st = self._state(key, body["contact_id"])
            if st.get("status") in FINAL_STATUSES:
                return
            status = str(body["status"])
            st["status"] = status
            st["attempts"] = max(int(st.get("attempts", 0)), int(body["attempts"]))
            st["next_attempt_at"] = None
            row.final += 1
            row.by_status[status] = row.by_status.get(status, 0) + 1
            self._touch(row, at)
        elif name == "Progress":
            row.engine = EngineProgress(
                contacts_total=int(body["contacts_total"]),
                contacts_final=int(body["contacts_final"]),
                calls_in_flight=int(body["calls_in_flight"]),
                at_ms=at,
            )

    def commit(self) -> None:
        """Write the batch and the offsets it reached at once, then swap the summaries in."""
        store = self.store
        for skey, st in self.states.items():
            self.wb.put(skey, encoder.encode(st))
        for lkey, call in self.calls_.items():
            if call is not None:
                self.wb.put(lkey, encoder.encode(call))
        for mkey, minute in self.minutes_.items():
            self.wb.put(mkey, encoder.encode(minute))
        for key, row in self.rows.items():
            self.wb.put(db_key("c", key), encoder.encode(row))
        for key, seq in self.seqs.items():
            self.wb.put(db_key("n", key), str(seq).encode())
        for (topic, part), offset in self.offsets.items():
            self.wb.put(db_key("o", topic, str(part)), str(offset).encode())
        store.db.write(self.wb)
        with store.lock:
            for row in self.rows.values():
                store.index(row)
        store.reached.update(self.offsets)
