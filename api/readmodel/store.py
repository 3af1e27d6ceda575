"""The read model's RocksDB directory, its key layout and the summaries kept in memory.

The fold writes here, the queries read here; both name campaigns by their key
(`campaigns.store.campaign_key`: "<account>/<campaign>"; neither id holds '|' or '/').

Keys (bytes, '|' separated; K = the campaign key): o|topic|partition (next offset),
c|K (summary), k|K|seq (contact in arrival order: id, last 4 digits, record),
i|K|contact_id (its seq), n|K (contacts arrived), s|K|contact_id (state), l|K|call_id
(call), t|K|minute (outcomes that minute), b|K|batch_id (a batch's contacts until the
engine says which it took), a|K|batch_id (what it took, until the batch is read),
x|K|batch_id (a batch listed: its replays are skipped), w|webhook|event (delivered),
d|account|number (a do-not-call entry: when it was added; account empty for the global
list), folded from campaign.dnc, whose tombstones remove it.
"""

from __future__ import annotations

import bisect
import threading
from pathlib import Path
from typing import Any

import msgspec
import rocksdict

from api.readmodel.records import CampaignSummary
from campaigns.models import ACCOUNT_ID, CAMPAIGN_ID, CampaignDefinition
from campaigns.store import campaign_key
from topics.translate import definition_from_record

encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder()
summary_decoder = msgspec.json.Decoder(CampaignSummary)


def db_key(*parts: str) -> bytes:
    """A RocksDB key: its parts joined by '|' (no part holds one)."""
    return "|".join(parts).encode()


def dnc_prefix(account: str | None) -> bytes:
    """The keys of one do-not-call list (account None: the global list)."""
    return db_key("d", account or "", "")


def record_key(rec: dict[str, Any]) -> str | None:
    """The campaign key of a record, or None when its account or campaign id is not valid."""
    account, campaign_id = rec.get("account_id"), rec.get("campaign_id")
    if not (isinstance(account, str) and ACCOUNT_ID.match(account)):
        return None
    if not (isinstance(campaign_id, str) and CAMPAIGN_ID.match(campaign_id)):
        return None
    return campaign_key(account, campaign_id)


class ReadStore:
    """The directory plus what is kept in memory: one summary per campaign, by key and by
    account in id order (list pages), and the offsets folded so far."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = rocksdict.Rdict(str(directory), options=rocksdict.Options(raw_mode=True))
        self.lock = threading.RLock()
        self.campaigns: dict[str, CampaignSummary] = {}
        self.by_account: dict[str, list[str]] = {}
        self._definitions: dict[str, CampaignDefinition] = {}
        self.reached: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset
        self._load()

    def _load(self) -> None:
        it = self.db.iter()
        it.seek(b"c|")
        while it.valid():
            key = bytes(it.key())
            if not key.startswith(b"c|"):
                break
            self.index(summary_decoder.decode(bytes(it.value())))
            it.next()

    def index(self, summary: CampaignSummary) -> None:
        """Swap in a campaign's new summary (readers holding the old one keep it)."""
        key = campaign_key(summary.account_id, summary.campaign_id)
        if key not in self.campaigns:
            ids = self.by_account.setdefault(summary.account_id, [])
            bisect.insort(ids, summary.campaign_id)
        self.campaigns[key] = summary

    def stored_offset(self, topic: str, partition: int) -> int | None:
        """The next offset to fold of a partition, as the last batch wrote it."""
        stored = self.db.get(db_key("o", topic, str(partition)))
        if stored is None:
            return None
        self.reached[(topic, partition)] = int(stored)
        return int(stored)

    def definition(self, account: str, campaign_id: str) -> CampaignDefinition | None:
        """The campaign's definition, built once from its summary's record."""
        key = campaign_key(account, campaign_id)
        d = self._definitions.get(key)
        if d is None:
            summary = self.campaigns.get(key)
            if summary is None:
                return None
            try:
                d = definition_from_record(summary.definition)
            except ValueError:
                return None
            self._definitions[key] = d
        return d

    def close(self) -> None:
        self.db.close()
