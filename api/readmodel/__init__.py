"""The read model: campaigns, contacts and calls as the engine decided them, in RocksDB.

Why this design (README, "What backs the reads"): list and detail must not scan topics
and must work whether ClickHouse is embedded (the sink owns its directory, no other
process may open it) or a server. So the API does not read ClickHouse at all: each
replica follows campaign.commands, campaign.contacts, call.create, call.outcomes,
campaign.events and campaign.dnc itself and folds them into a RocksDB directory of its
own, writing each consumed batch together with the offsets it reached in one atomic
WriteBatch. A restart resumes from those offsets (a snapshot, never a scan from the
start); a new replica catches up once, like a schema registry reading its topic.
Memory is bounded by the number of campaigns (one small summary each, also in
RocksDB); contacts and calls live on disk only.

Its parts, along those seams: `follower` (the consuming thread), `fold` (records ->
rows), `store` (the directory, its keys and the summaries in memory), `queries` (the
typed reads: `CampaignSummary`, `ContactView`, `DncView` of `records`).
"""

from __future__ import annotations

from pathlib import Path

from api.readmodel.follower import ReadFollower
from api.readmodel.queries import ReadQueries
from api.readmodel.records import AnswerCount, CampaignSummary, ContactView, DncView
from api.readmodel.store import ReadStore
from topics.clients import KafkaSettings

__all__ = ["AnswerCount", "CampaignSummary", "ContactView", "DncView", "ReadModel"]


class ReadModel(ReadQueries):
    """Follows the campaign topics into RocksDB; answers the API's reads."""

    def __init__(self, kafka: KafkaSettings, prefix: str, directory: Path) -> None:
        super().__init__(ReadStore(directory))
        self.follower = ReadFollower(kafka, prefix, self.store)

    def start(self) -> None:
        self.follower.start()

    def close(self) -> None:
        self.follower.close()
        self.store.close()
