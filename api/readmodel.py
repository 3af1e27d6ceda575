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

Keys (bytes, '|' separated): o|topic|partition (next offset), c|campaign (summary),
k|campaign|seq (contact in arrival order: id, last 4 digits, record), i|campaign|contact_id
(its seq), n|campaign (contacts arrived), s|campaign|contact_id (state),
l|campaign|call_id (call), t|campaign|minute (outcomes that minute),
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

from campaigns.models import CampaignDefinition
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
        if campaign_id not in self.campaigns:
            bisect.insort(self._by_account.setdefault(row["account_id"], []), campaign_id)
        self.campaigns[campaign_id] = row

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

    def definition(self, campaign_id: str) -> CampaignDefinition | None:
        d = self._defs.get(campaign_id)
        if d is None:
            row = self.campaigns.get(campaign_id)
            if row is None or row.get("definition") is None:
                return None
            try:
                d = definition_from_record(row["definition"])
            except ValueError:
                return None
            self._defs[campaign_id] = d
        return d

    # ---- reads ----------------------------------------------------------------------

    def campaign(self, account: str, campaign_id: str) -> dict[str, Any] | None:
        """The summary, only for its own account (another account's campaign is None)."""
        row = self.campaigns.get(campaign_id)
        if row is None or row["account_id"] != account:
            return None
        return row

    def exists(self, campaign_id: str) -> bool:
        return campaign_id in self.campaigns

    def page(
        self, account: str, status: str | None, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        ids = self._by_account.get(account, [])
        start = bisect.bisect_right(ids, after) if after is not None else 0
        out: list[dict[str, Any]] = []
        stop = min(len(ids), start + MAX_SCAN)
        pos = start
        while pos < stop:
            row = self.campaigns[ids[pos]]
            pos += 1
            if status is None or row["status"] == status:
                out.append(row)
                if len(out) == limit:
                    break
        return out, (ids[pos - 1] if pos < len(ids) and pos > start else None)

    def contacts(
        self, campaign_id: str, status: str | None, after_seq: int | None, limit: int
    ) -> tuple[list[ContactView], int | None]:
        """A page in arrival order; the cursor is the arrival number of the last key read."""
        out: list[ContactView] = []
        last_seq: int | None = None
        prefix = _k("k", campaign_id, "")
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
            view = self._view(campaign_id, c)
            last_seq = int(key[len(prefix) :])
            if status is None or view.status == status:
                out.append(view)
            it.next()
        return out, (last_seq if more else None)

    def _view(self, campaign_id: str, c: dict[str, Any]) -> ContactView:
        raw = self.db.get(_k("s", campaign_id, c["contact_id"]))
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

    def all_contacts(self, campaign_id: str) -> Iterator[tuple[dict[str, Any], ContactView]]:
        """Every contact in row order: (its record, its view); streamed from disk."""
        prefix = _k("k", campaign_id, "")
        it = self.db.iter()
        it.seek(prefix)
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(prefix):
                break
            c = _dec.decode(bytes(it.value()))
            yield c["record"], self._view(campaign_id, c)
            it.next()

    def calls(
        self, campaign_id: str, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        prefix = _k("l", campaign_id, "")
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

    def minutes(self, campaign_id: str) -> list[tuple[int, dict[str, int]]]:
        """Outcomes per minute (bounded by the campaign's span in minutes)."""
        prefix = _k("t", campaign_id, "")
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
    """One consumed batch: rows touched are cached, written once with the offsets."""

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

    # rows touched in this batch: read once, written once at commit
    def _state(self, campaign_id: str, contact_id: str) -> dict[str, Any]:
        key = _k("s", campaign_id, contact_id)
        st = self.states.get(key)
        if st is None:
            raw = self.rm.db.get(key)
            st = _dec.decode(raw) if raw is not None else {"status": "pending", "attempts": 0}
            self.states[key] = st
        return st

    def _call(self, campaign_id: str, call_id: str) -> dict[str, Any] | None:
        key = _k("l", campaign_id, call_id)
        if key not in self.calls_:
            raw = self.rm.db.get(key)
            self.calls_[key] = _dec.decode(raw) if raw is not None else None
        return self.calls_[key]

    def _camp(self, campaign_id: str) -> dict[str, Any] | None:
        """The batch's copy of a summary: readers see the old one until commit swaps it in."""
        row = self.rows.get(campaign_id)
        if row is None:
            live = self.rm.campaigns.get(campaign_id)
            if live is None:
                return None
            row = self.rows[campaign_id] = _dec.decode(_enc.encode(live))
        return row

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
        name, body = _named(rec["command"])
        campaign_id = rec["campaign_id"]
        issued = _ms(rec.get("issued_at"))
        if name == "CreateCampaign":
            if campaign_id in self.rm.campaigns or campaign_id in self.rows:
                return
            d = body["definition"]
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
                "arrived": self._seq(campaign_id),
                "final": 0,
                "by_status": {},
                "calls_created": 0,
                "calls_ended": 0,
                "outcomes": {},
                "by_caller_id": {},
                "by_attempt": {},
                "engine": None,
            }
            self.rows[campaign_id] = row
            return
        known = self._camp(campaign_id)
        if known is None:
            return
        row = known
        if name == "AddContacts":
            row["expected"] += int(body["count"])
        elif name == "ScheduleCampaign":
            row["requested_start_at_ms"] = _ms(body.get("start_at"))

    def contacts(self, rec: dict[str, Any]) -> None:
        """Contacts in arrival order (k|campaign|seq); a contact id seen before is skipped.

        Contacts are published before their create command, so the count lives apart
        from the summary (n|campaign) and the summary takes it when the create arrives.
        """
        campaign_id = rec["campaign_id"]
        seq = self._seq(campaign_id)
        for c in rec["contacts"]:
            ikey = _k("i", campaign_id, c["contact_id"])
            if ikey in self.seen or self.rm.db.get(ikey) is not None:
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
            self.wb.put(_k("k", campaign_id, f"{seq:012d}"), _enc.encode(value))
        self.seqs[campaign_id] = seq
        row = self._camp(campaign_id)
        if row is not None:
            row["arrived"] = seq

    def _seq(self, campaign_id: str) -> int:
        if campaign_id not in self.seqs:
            raw = self.rm.db.get(_k("n", campaign_id))
            self.seqs[campaign_id] = int(raw) if raw is not None else 0
        return self.seqs[campaign_id]

    def call(self, rec: dict[str, Any]) -> None:
        campaign_id = rec["campaign_id"]
        call = self._call(campaign_id, rec["call_id"])
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
        self.calls_[_k("l", campaign_id, rec["call_id"])] = call
        st = self._state(campaign_id, rec["contact_id"])
        st["attempts"] = max(int(st.get("attempts", 0)), int(rec["attempt"]))
        st["next_attempt_at"] = None
        row = self._camp(campaign_id)
        if row is None:
            return
        row["calls_created"] += 1
        by_cid = row["by_caller_id"].setdefault(rec["from"], {"calls": 0, "answered": 0})
        by_cid["calls"] += 1
        by_att = row["by_attempt"].setdefault(str(rec["attempt"]), {"calls": 0, "answered": 0})
        by_att["calls"] += 1
        self._touch(row, created)

    def outcome(self, rec: dict[str, Any]) -> None:
        campaign_id = rec.get("campaign_id")
        if not campaign_id:
            return
        call = self._call(campaign_id, rec["call_id"])
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
        self.calls_[_k("l", campaign_id, rec["call_id"])] = call
        st = self._state(campaign_id, rec["contact_id"])
        st["last_outcome"] = status
        row = self._camp(campaign_id)
        if row is None:
            return
        d = self.rm.definition(campaign_id)
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
            mkey = _k("t", campaign_id, f"{ended // MINUTE_MS * MINUTE_MS:015d}")
            minute = self.minutes_.get(mkey)
            if minute is None:
                raw = self.rm.db.get(mkey)
                minute = _dec.decode(raw) if raw is not None else {}
                self.minutes_[mkey] = minute
            minute[status] = minute.get(status, 0) + 1
        self._touch(row, ended)

    def event(self, rec: dict[str, Any]) -> None:
        campaign_id = rec["campaign_id"]
        row = self._camp(campaign_id)
        if row is None:
            return
        name, body = _named(rec["body"])
        at = _ms(rec.get("at"))
        if name == "StatusChanged":
            row["status"] = str(body["status"])
            if row["status"] == "scheduled":
                row["start_at_ms"] = row.get("requested_start_at_ms")
            elif row["status"] == "running" and row.get("start_at_ms") is None:
                row["start_at_ms"] = at
            self._touch(row, at)
        elif name == "ContactFinal":
            st = self._state(campaign_id, body["contact_id"])
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
        for key, st in self.states.items():
            self.wb.put(key, _enc.encode(st))
        for key, call in self.calls_.items():
            if call is not None:
                self.wb.put(key, _enc.encode(call))
        for key, minute in self.minutes_.items():
            self.wb.put(key, _enc.encode(minute))
        for campaign_id, row in self.rows.items():
            self.wb.put(_k("c", campaign_id), _enc.encode(row))
        for campaign_id, seq in self.seqs.items():
            self.wb.put(_k("n", campaign_id), str(seq).encode())
        for (topic, part), offset in self.offsets.items():
            self.wb.put(_k("o", topic, str(part)), str(offset).encode())
        rm.db.write(self.wb)
        with rm._lock:
            for row in self.rows.values():
                rm._index(row)
        rm.reached.update(self.offsets)
