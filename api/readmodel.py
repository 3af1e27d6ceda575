"""The read model: campaigns, contacts and calls as the engine decided them, in RocksDB.

Why this design (README, "What backs the reads"): list and detail must not scan topics
and must work whether ClickHouse is embedded (the sink owns its directory, no other
process may open it) or a server. So the API does not read ClickHouse at all: each
replica follows campaign.commands, campaign.contacts, call.create, call.outcomes and
campaign.events itself and folds them into a RocksDB directory of its own, writing
each consumed batch together with the offsets it reached in one atomic WriteBatch.
A restart resumes from those offsets (a snapshot, never a scan from the start); a
new replica catches up once, like a schema registry reading its topic.

- Memory is bounded by the number of campaigns (one small summary each, also in
  RocksDB); contacts and calls live on disk only.
- Every read is a point lookup or a bounded range scan over sorted keys (cursor
  pagination); a filtered scan stops after MAX_SCAN keys and hands back a cursor.
- Counters are folded from the same records the sink stores, deduplicated by call id
  and contact id, so replays (at-least-once topics) count once.
- Only what the engine accepted is listed: a contact batch waits (b|...) until the
  engine's `ContactsAccepted` event names which of its contacts it took (an event that
  comes first waits as a|...); a batch the engine refused is never listed, counted,
  exported or duplicated. A record without a valid account or campaign id is skipped.
- Campaign ids are unique per account only: every key names the campaign by
  `campaigns.store.campaign_key` ("<account>/<campaign>"; neither id holds '|' or '/').

Keys (bytes, '|' separated; K = the campaign key): o|topic|partition (next offset),
c|K (summary), k|K|seq (contact in arrival order: id, last 4 digits, record),
i|K|contact_id (its seq), n|K (contacts arrived), s|K|contact_id (state), l|K|call_id
(call), t|K|minute (outcomes that minute), b|K|batch_id (a batch's contacts until the
engine says which it took), a|K|batch_id (what it took, until the batch is read),
x|K|batch_id (a batch listed: its replays are skipped),
d|account|number (a do-not-call entry: when it was added; account empty for the global
list), folded from campaign.dnc, whose tombstones remove it.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import rocksdict
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from campaigns.engine import CONTACT_BATCH
from campaigns.models import ACCOUNT_ID, CAMPAIGN_ID, CampaignDefinition
from campaigns.store import campaign_key
from topics import catalogue
from topics.clients import KafkaSettings, consumer_config
from topics.codec import DecodeError, decode
from topics.producer import QUIET
from topics.translate import NAMESPACE, definition_from_record, dnc_key_scope

log = logging.getLogger(__name__)

TOPICS = (
    catalogue.COMMANDS,
    catalogue.CONTACTS,
    catalogue.CALL_CREATE,
    catalogue.OUTCOMES,
    catalogue.EVENTS,
    catalogue.DNC,
)
MAX_SCAN = 20_000  # keys one filtered page may read before it hands back a cursor
MINUTE_MS = 60_000
FINAL_STATUSES = ("reached", "exhausted", "failed", "cancelled", "suppressed", "opted_out")

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def _k(*parts: str) -> bytes:
    return "|".join(parts).encode()


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


def record_key(rec: dict[str, Any]) -> str | None:
    """The campaign key of a record, or None when its account or campaign id is not valid."""
    account, campaign_id = rec.get("account_id"), rec.get("campaign_id")
    if not (isinstance(account, str) and ACCOUNT_ID.match(account)):
        return None
    if not (isinstance(campaign_id, str) and CAMPAIGN_ID.match(campaign_id)):
        return None
    return campaign_key(account, campaign_id)


def last4(number: str) -> str:
    return number[-4:] if number else ""


def dnc_prefix(account: str | None) -> bytes:
    """The keys of one do-not-call list (account None: the global list)."""
    return _k("d", account or "", "")


@dataclass(frozen=True)
class DncView:
    number: str  # E.164
    updated_at_ms: int


@dataclass(frozen=True)
class ContactView:
    contact_id: str
    row: int
    status: str
    attempts: int
    last_outcome: str | None
    next_attempt_at_ms: int | None
    phone_last4: str


class ReadModel:
    """Follows the campaign topics into RocksDB; answers the API's reads."""

    def __init__(self, kafka: KafkaSettings, prefix: str, directory: Path) -> None:
        self.kafka = kafka
        self.prefix = prefix
        self.names = {t: catalogue.topic_name(t, prefix) for t in TOPICS}
        self._logical = {v: k for k, v in self.names.items()}
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = rocksdict.Rdict(str(directory), options=rocksdict.Options(raw_mode=True))
        self._lock = threading.RLock()
        self.campaigns: dict[str, dict[str, Any]] = {}
        self._by_account: dict[str, list[str]] = {}
        self._defs: dict[str, CampaignDefinition] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self.applied = 0  # messages folded since start (tests, metrics)
        self.reached: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset
        self._load()

    # ---- start-up ---------------------------------------------------------------------

    def _load(self) -> None:
        it = self.db.iter()
        it.seek(b"c|")
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(b"c|"):
                break
            row = _dec.decode(bytes(it.value()))
            self._index(row)
            it.next()

    def _index(self, row: dict[str, Any]) -> None:
        campaign_id = row["campaign_id"]
        key = campaign_key(row["account_id"], campaign_id)
        old = self.campaigns.get(key)
        if old is None:
            bisect.insort(self._by_account.setdefault(row["account_id"], []), campaign_id)
        elif old.get("edit_id") != row.get("edit_id"):
            self._defs.pop(key, None)  # a draft's edit: its definition changed
        self.campaigns[key] = row

    def start(self) -> None:
        conf = consumer_config(self.kafka, f"campaignflow-api-read-{self.prefix}", log_level=QUIET)
        consumer = Consumer(conf)
        parts = []
        for name in self.names.values():
            deadline = time.monotonic() + 30  # a topic just created may not be in metadata yet
            while True:
                meta = consumer.list_topics(name, timeout=30).topics.get(name)
                if meta is not None and meta.error is None and meta.partitions:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"topic {name} is missing: create the topics first")
                time.sleep(0.2)
            for p in meta.partitions:
                stored = self.db.get(_k("o", name, str(p)))
                offset = int(stored) if stored is not None else OFFSET_BEGINNING
                if stored is not None:
                    self.reached[(name, p)] = int(stored)
                parts.append(TopicPartition(name, p, offset))
        consumer.assign(parts)
        self._consumer = consumer
        self._thread = threading.Thread(target=self._run, name="api-readmodel", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._consumer is not None:
            self._consumer.close()
        self.db.close()

    # ---- folding ----------------------------------------------------------------------

    def _run(self) -> None:
        assert self._consumer is not None
        while not self._stop.is_set():
            msgs = self._consumer.consume(2000, timeout=0.2)
            if not msgs:
                continue
            try:
                self._fold(msgs)
            except Exception:  # never stop following; the batch's offsets still advance
                log.exception("read model: batch failed")

    def _fold(self, msgs: list[Any]) -> None:
        batch = _Batch(self)
        for msg in msgs:
            if msg.error() is not None:
                continue
            topic = msg.topic()
            batch.offsets[(topic, msg.partition())] = msg.offset() + 1
            value = msg.value()
            logical = self._logical.get(topic)
            if logical == catalogue.DNC:
                batch.dnc(msg.key(), value, topic, msg.partition(), msg.offset())
                continue
            if value is None:
                continue
            try:
                _, rec = decode(value, topic, msg.partition(), msg.offset())
            except DecodeError:
                continue  # the engine parks what it cannot read; here it is just skipped
            try:
                if logical == catalogue.COMMANDS:
                    batch.command(rec)
                elif logical == catalogue.CONTACTS:
                    batch.contacts(rec)
                elif logical == catalogue.CALL_CREATE:
                    batch.call(rec)
                elif logical == catalogue.OUTCOMES:
                    batch.outcome(rec)
                elif logical == catalogue.EVENTS:
                    batch.event(rec)
            except (KeyError, TypeError, ValueError):
                log.warning("read model: record skipped at %s/%s", topic, msg.offset())
        batch.commit()
        self.applied += len(msgs)

    def definition(self, account: str, campaign_id: str) -> CampaignDefinition | None:
        key = campaign_key(account, campaign_id)
        d = self._defs.get(key)
        if d is None:
            row = self.campaigns.get(key)
            if row is None or row.get("definition") is None:
                return None
            try:
                d = definition_from_record(row["definition"])
            except ValueError:
                return None
            self._defs[key] = d
        return d

    # ---- reads ----------------------------------------------------------------------

    def campaign(self, account: str, campaign_id: str) -> dict[str, Any] | None:
        """The account's campaign of that id (ids are per account: another account's is
        another campaign, never this one)."""
        return self.campaigns.get(campaign_key(account, campaign_id))

    def exists(self, account: str, campaign_id: str) -> bool:
        return campaign_key(account, campaign_id) in self.campaigns

    def page(
        self, account: str, status: str | None, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        ids = self._by_account.get(account, [])
        start = bisect.bisect_right(ids, after) if after is not None else 0
        out: list[dict[str, Any]] = []
        stop = min(len(ids), start + MAX_SCAN)
        pos = start
        while pos < stop:
            row = self.campaigns[campaign_key(account, ids[pos])]
            pos += 1
            if status is None or row["status"] == status:
                out.append(row)
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
        prefix = _k("k", key_of, "")
        it = self.db.iter()
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
            c = _dec.decode(bytes(it.value()))
            view = self._view(key_of, c)
            last_seq = int(key[len(prefix) :])
            if status is None or view.status == status:
                out.append(view)
            it.next()
        return out, (last_seq if more else None)

    def _view(self, key: str, c: dict[str, Any]) -> ContactView:
        raw = self.db.get(_k("s", key, c["contact_id"]))
        st = _dec.decode(raw) if raw is not None else {}
        return ContactView(
            contact_id=c["contact_id"],
            row=int(c["row"]),
            status=st.get("status", "pending"),
            attempts=int(st.get("attempts", 0)),
            last_outcome=st.get("last_outcome"),
            next_attempt_at_ms=st.get("next_attempt_at"),
            phone_last4=c["last4"],
        )

    def all_contacts(
        self, account: str, campaign_id: str
    ) -> Iterator[tuple[dict[str, Any], ContactView]]:
        """Every contact in row order: (its record, its view); streamed from disk."""
        key = campaign_key(account, campaign_id)
        prefix = _k("k", key, "")
        it = self.db.iter()
        it.seek(prefix)
        while it.valid():
            if not bytes(it.key()).startswith(prefix):
                break
            c = _dec.decode(bytes(it.value()))
            yield c["record"], self._view(key, c)
            it.next()

    def calls(
        self, account: str, campaign_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        prefix = _k("l", campaign_key(account, campaign_id), "")
        it = self.db.iter()
        it.seek(prefix + (after.encode() + b"\x00" if after is not None else b""))
        out: list[dict[str, Any]] = []
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            if len(out) == limit:
                return out, out[-1]["call_id"]
            out.append(_dec.decode(bytes(it.value())))
            it.next()
        return out, None

    def minutes(self, account: str, campaign_id: str) -> list[tuple[int, dict[str, int]]]:
        """Outcomes per minute (bounded by the campaign's span in minutes)."""
        prefix = _k("t", campaign_key(account, campaign_id), "")
        it = self.db.iter()
        it.seek(prefix)
        out = []
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            out.append((int(key[len(prefix) :]), _dec.decode(bytes(it.value()))))
            it.next()
        return out

    def delivered(self, webhook_id: str, event_id: str) -> bool:
        return self.db.get(_k("w", webhook_id, event_id)) is not None

    def mark_delivered(self, webhook_id: str, event_id: str) -> None:
        self.db.put(_k("w", webhook_id, event_id), b"1")

    # ---- do-not-call lists --------------------------------------------------------------

    def dnc_entry(self, account: str | None, number: str) -> DncView | None:
        raw = self.db.get(dnc_prefix(account) + number.encode())
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
        it = self.db.iter()
        it.seek(max(start, wanted))
        n = 0
        while it.valid() and (limit is None or n < limit):
            key = bytes(it.key())
            if not key.startswith(wanted):
                break
            yield DncView(key[len(prefix) :].decode(), int(bytes(it.value())))
            n += 1
            it.next()

    def has_reached(self, written: dict[tuple[str, int], int]) -> bool:
        """Whether every (topic, partition) was folded past the offset given."""
        return all(self.reached.get(tp, -1) > offset for tp, offset in written.items())

    def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())


class _Batch:
    """One consumed batch: rows touched are cached, written once with the offsets.

    Campaigns are named by their key (`record_key`: account and campaign id) throughout.
    """

    def __init__(self, rm: ReadModel) -> None:
        self.rm = rm
        self.wb = rocksdict.WriteBatch(raw_mode=True)
        self.offsets: dict[tuple[str, int], int] = {}
        self.rows: dict[str, dict[str, Any]] = {}  # copies of the summaries touched
        self.states: dict[bytes, dict[str, Any]] = {}
        self.calls_: dict[bytes, dict[str, Any] | None] = {}
        self.minutes_: dict[bytes, dict[str, int]] = {}
        self.seqs: dict[str, int] = {}
        self.seen: set[bytes] = set()
        self.wiped: set[str] = set()  # drafts whose list an edit dropped in this batch
        # b|... and a|... rows written or deleted in this batch (None: deleted)
        self.pending: dict[bytes, Any] = {}

    # rows touched in this batch: read once, written once at commit
    def _state(self, key: str, contact_id: str) -> dict[str, Any]:
        skey = _k("s", key, contact_id)
        st = self.states.get(skey)
        if st is None:
            raw = None if key in self.wiped else self.rm.db.get(skey)
            st = _dec.decode(raw) if raw is not None else {"status": "pending", "attempts": 0}
            self.states[skey] = st
        return st

    def _call(self, key: str, call_id: str) -> dict[str, Any] | None:
        lkey = _k("l", key, call_id)
        if lkey not in self.calls_:
            raw = self.rm.db.get(lkey)
            self.calls_[lkey] = _dec.decode(raw) if raw is not None else None
        return self.calls_[lkey]

    def _camp(self, key: str) -> dict[str, Any] | None:
        """The batch's copy of a summary: readers see the old one until commit swaps it in."""
        row = self.rows.get(key)
        if row is None:
            live = self.rm.campaigns.get(key)
            if live is None:
                return None
            row = self.rows[key] = _dec.decode(_enc.encode(live))
        return row

    def _pending(self, pkey: bytes) -> Any:
        if pkey in self.pending:
            return self.pending[pkey]
        raw = self.rm.db.get(pkey)
        return _dec.decode(raw) if raw is not None else None

    def _set_pending(self, pkey: bytes, value: Any) -> None:
        self.pending[pkey] = value
        if value is None:
            self.wb.delete(pkey)
        else:
            self.wb.put(pkey, _enc.encode(value))

    def _touch(self, row: dict[str, Any], at_ms: int | None) -> None:
        if at_ms is not None and (row["last_activity_at_ms"] or 0) < at_ms:
            row["last_activity_at_ms"] = at_ms

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
            if key in self.rm.campaigns or key in self.rows:
                return
            d = body["definition"]
            if d.get("account_id") != rec["account_id"] or d.get("campaign_id") != campaign_id:
                return  # the engine refuses a create that is not its definition's
            row = {
                "campaign_id": campaign_id,
                "account_id": d["account_id"],
                "name": d["name"],
                "description": d.get("description") or "",
                "definition": d,
                "status": "draft",
                "start_at_ms": None,
                "requested_start_at_ms": None,
                "created_at_ms": issued,
                "last_activity_at_ms": issued,
                "expected": int(body["expected_contacts"]),
                "arrived": self._seq(key),
                "final": 0,
                "by_status": {},
                "calls_created": 0,
                "calls_ended": 0,
                "outcomes": {},
                "by_caller_id": {},
                "by_attempt": {},
                "engine": None,
                "edit_id": None,
            }
            self.rows[key] = row
            return
        known = self._camp(key)
        if known is None:
            return
        row = known
        if name == "EditDraft":
            self.edit(key, row, rec, body)
        elif name == "AddContacts":
            row["expected"] += int(body["count"])
        elif name == "ScheduleCampaign":
            row["requested_start_at_ms"] = _ms(body.get("start_at"))

    def edit(
        self, key: str, row: dict[str, Any], rec: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """A draft's new definition and list, as the engine takes it (a draft only): the
        contacts listed so far go; the new list's batches follow the command."""
        d = body["definition"]
        if row["status"] != "draft" or d.get("account_id") != row["account_id"]:
            return  # the engine refuses it too
        if d.get("campaign_id") != row["campaign_id"]:
            return
        row.update(
            name=d["name"],
            description=d.get("description") or "",
            definition=d,
            expected=int(body["expected_contacts"]),
            arrived=0,
            final=0,
            by_status={},
            edit_id=rec["command_id"],
        )
        for kind in ("k", "i", "s"):
            prefix = _k(kind, key, "")
            self.wb.delete_range(prefix, prefix[:-1] + b"}")  # '}' sorts right after '|'
            self.seen = {k for k in self.seen if not k.startswith(prefix)}
        self.states = {k: v for k, v in self.states.items() if not k.startswith(_k("s", key, ""))}
        self.seqs[key] = 0
        self.wiped.add(key)  # the deletes land at commit: until then the db still has them

    def contacts(self, rec: dict[str, Any]) -> None:
        """A batch waits until the engine says which of its contacts it took (or is listed
        at once when that came first): nothing the engine refused is ever listed."""
        key = record_key(rec)
        if key is None:
            return
        batch_id = str(rec["batch_id"])
        if self._pending(_k("x", key, batch_id)) is not None:
            return  # a replay of a batch already listed: the engine takes it once too
        akey = _k("a", key, batch_id)
        positions = self._pending(akey)
        if positions is None:
            self._set_pending(_k("b", key, batch_id), rec["contacts"])
            return
        self._set_pending(akey, None)
        self._list(key, batch_id, rec["contacts"], positions)

    def accepted(self, key: str, body: dict[str, Any]) -> None:
        """The engine's ContactsAccepted: list the batch's contacts it took."""
        batch_id = str(body["batch_id"])
        if self._pending(_k("x", key, batch_id)) is not None:
            return  # the same event again (at-least-once): listed already
        positions = [int(p) for p in body.get("positions") or []]
        bkey = _k("b", key, batch_id)
        contacts = self._pending(bkey)
        if contacts is None:
            self._set_pending(_k("a", key, batch_id), positions)
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
        self._set_pending(_k("x", key, batch_id), 1)
        seq = self._seq(key)
        for position in positions:
            if not 0 <= position < len(contacts):
                continue
            c = contacts[position]
            ikey = _k("i", key, c["contact_id"])
            if ikey in self.seen or (key not in self.wiped and self.rm.db.get(ikey) is not None):
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
            self.wb.put(_k("k", key, f"{seq:012d}"), _enc.encode(value))
        self.seqs[key] = seq
        row = self._camp(key)
        if row is not None:
            row["arrived"] = seq

    def _seq(self, key: str) -> int:
        if key not in self.seqs:
            raw = self.rm.db.get(_k("n", key))
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
        self.calls_[_k("l", key, rec["call_id"])] = call
        st = self._state(key, rec["contact_id"])
        st["attempts"] = max(int(st.get("attempts", 0)), int(rec["attempt"]))
        st["next_attempt_at"] = None
        row = self._camp(key)
        if row is None:
            return
        row["calls_created"] += 1
        by_cid = row["by_caller_id"].setdefault(rec["from"], {"calls": 0, "answered": 0})
        by_cid["calls"] += 1
        by_att = row["by_attempt"].setdefault(str(rec["attempt"]), {"calls": 0, "answered": 0})
        by_att["calls"] += 1
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
        self.calls_[_k("l", key, rec["call_id"])] = call
        st = self._state(key, rec["contact_id"])
        st["last_outcome"] = status
        if row is None:
            return
        self._count_outcome(key, row, rec, call, st)

    def _count_outcome(
        self,
        key: str,
        row: dict[str, Any],
        rec: dict[str, Any],
        call: dict[str, Any],
        st: dict[str, Any],
    ) -> None:
        ended = call["ended_at_ms"]
        status = call["status"]
        d = self.rm.definition(row["account_id"], row["campaign_id"])
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
        row["calls_ended"] += 1
        row["outcomes"][status] = row["outcomes"].get(status, 0) + 1
        if status == "answered":
            if call.get("caller_id"):
                row["by_caller_id"].setdefault(call["caller_id"], {"calls": 0, "answered": 0})[
                    "answered"
                ] += 1
            row["by_attempt"].setdefault(str(attempt), {"calls": 0, "answered": 0})["answered"] += 1
        if ended is not None:
            mkey = _k("t", key, f"{ended // MINUTE_MS * MINUTE_MS:015d}")
            minute = self.minutes_.get(mkey)
            if minute is None:
                raw = self.rm.db.get(mkey)
                minute = _dec.decode(raw) if raw is not None else {}
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
            self._set_pending(_k("b", key, str(body["command_id"])), None)  # never listed
            return
        row = self._camp(key)
        if row is None:
            return
        at = _ms(rec.get("at"))
        if name == "StatusChanged":
            row["status"] = str(body["status"])
            if row["status"] == "scheduled":
                row["start_at_ms"] = row.get("requested_start_at_ms")
            elif row["status"] == "running" and row.get("start_at_ms") is None:
                row["start_at_ms"] = at
            self._touch(row, at)
        elif name == "ContactFinal":
            st = self._state(key, body["contact_id"])
            if st.get("status") in FINAL_STATUSES:
                return
            status = str(body["status"])
            st["status"] = status
            st["attempts"] = max(int(st.get("attempts", 0)), int(body["attempts"]))
            st["next_attempt_at"] = None
            row["final"] += 1
            row["by_status"][status] = row["by_status"].get(status, 0) + 1
            self._touch(row, at)
        elif name == "Progress":
            row["engine"] = {
                "contacts_total": int(body["contacts_total"]),
                "contacts_final": int(body["contacts_final"]),
                "calls_in_flight": int(body["calls_in_flight"]),
                "at_ms": at,
            }

    def commit(self) -> None:
        rm = self.rm
        for skey, st in self.states.items():
            self.wb.put(skey, _enc.encode(st))
        for lkey, call in self.calls_.items():
            if call is not None:
                self.wb.put(lkey, _enc.encode(call))
        for mkey, minute in self.minutes_.items():
            self.wb.put(mkey, _enc.encode(minute))
        for key, row in self.rows.items():
            self.wb.put(_k("c", key), _enc.encode(row))
        for key, seq in self.seqs.items():
            self.wb.put(_k("n", key), str(seq).encode())
        for (topic, part), offset in self.offsets.items():
            self.wb.put(_k("o", topic, str(part)), str(offset).encode())
        rm.db.write(self.wb)
        with rm._lock:
            for row in self.rows.values():
                rm._index(row)
        rm.reached.update(self.offsets)
