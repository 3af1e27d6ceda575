"""The engine's `Directory` over two global tables every worker holds in full.

`campaign.dnc` (DncEntry, keyed `<account_id>/<number>` for an account's list and by
the number alone for the global list) and `account.status` (AccountStatus by account
id) are compacted topics; each worker reads them whole as Faust global tables whose
"changelog" is the topic itself. Values stay raw Avro bytes in the table and are
decoded on lookup, with a small cache keyed by the raw value.

An opt-out the engine honours is published on `campaign.dnc` by the shell, and applied
at once here (`add_blocked`), so the next contact the engine considers sees it before
the entry comes back round through the topic. That local entry gives way to the table
as soon as the table has a record for the key, and lapses after OPT_OUT_OVERLAY_S (the
table catches up in well under a second; a removal of the number within that time is
honoured by this worker only when the overlay lapses: it errs on the side of no call).

An account with no status record counts as `settings().account_default_active` (false
since accounts exist: the API and `campaignflow accounts activate` publish the records).
account.status is also followed live by `AccountFollower`, which answers first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import faust

from topics.codec import DecodeError, decode
from topics.translate import dnc_key

OPT_OUT_OVERLAY_S = 300.0


@lru_cache(maxsize=65_536)
def _flag(raw: bytes, field: str) -> bool | None:
    try:
        _, record = decode(raw)
    except DecodeError:
        return None
    value = record.get(field)
    return bool(value) if value is not None else None


def _raw_get(table: Mapping[Any, Any], key: bytes) -> Any:
    """The stored bytes of `key`, read from the table's RocksDB partitions when it has them.

    The engine asks the DNC list once per call. Faust's `table.get` of an absent number
    (the usual case) goes through a membership test, sensors and a KeyError, which cost
    more than the engine's whole decision; the bytes in RocksDB are the topic's values.
    """
    dbs = getattr(getattr(table, "data", None), "_dbs", None)
    if dbs is None:  # not on RocksDB (a plain mapping)
        return table.get(key)
    for db in dbs.values():
        if db.key_may_exist(key):
            value = db.get(key)
            if value is not None:
                return value
    return None


class AccountFollower:
    """account.status followed live by a plain consumer, one record per account in memory.

    The Faust global table reads the partitions this worker is "active" for only while
    recovering, so a subscription activated after the worker started (the API's accounts,
    `campaignflow accounts activate`) never reached it. Accounts are few; a dict is enough.
    """

    def __init__(self, consumer_conf: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self.active: dict[str, bool] = {}
        self._conf = consumer_conf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="account-follower", daemon=True)

    def start(self) -> AccountFollower:
        self._thread.start()
        return self

    def _run(self) -> None:
        from topics.consumer import TopicConsumer

        with TopicConsumer(self._conf) as consumer:
            consumer.assign_from_start([self.topic], wait_seconds=30)
            consumer.follow(self._apply, self._stop, timeout_seconds=0.5)

    def _apply(self, msgs: list[Any]) -> None:
        """The last record of each account wins; a tombstone forgets the account."""
        for msg in msgs:
            key = msg.key()
            if key is None:
                continue
            account = bytes(key).decode("utf-8", "replace")
            value = msg.value()
            if value is None:
                self.active.pop(account, None)
                continue
            flag = _flag(bytes(value), "active")
            if flag is not None:
                self.active[account] = flag

    def stop(self) -> None:
        self._stop.set()


class TableDirectory:
    def __init__(
        self,
        dnc: Mapping[Any, Any],
        accounts: Mapping[Any, Any],
        default_active: bool = True,
        clock: Callable[[], float] = time.monotonic,
        follower: AccountFollower | None = None,
    ) -> None:
        self.dnc = dnc
        self.accounts = accounts
        self.default_active = default_active
        self.clock = clock
        self._added: dict[bytes, float] = {}  # opt-outs not yet seen in the table -> when
        self.follower = follower

    def _listed(self, key: bytes) -> bool | None:
        """The table's say on a key: True/False from its record, None when it has none."""
        raw = _raw_get(self.dnc, key)
        if raw is None:
            return None
        if self._added:
            self._added.pop(key, None)  # the table has caught up with our own entry
        return _flag(bytes(raw), "blocked") is True

    def is_blocked(self, account_id: str, number: str) -> bool:
        """On the global list (the number's own key) or on the account's list."""
        if self._listed(number.encode()):
            return True
        key = dnc_key(account_id, number)
        listed = self._listed(key)
        if listed is not None:
            return listed
        added = self._added.get(key)
        if added is None:
            return False
        if self.clock() - added < OPT_OUT_OVERLAY_S:
            return True
        del self._added[key]
        return False

    def add_blocked(self, account_id: str, number: str) -> None:
        self._added[dnc_key(account_id, number)] = self.clock()

    def subscription_active(self, account_id: str) -> bool:
        if self.follower is not None and account_id in self.follower.active:
            return self.follower.active[account_id]
        raw = _raw_get(self.accounts, account_id.encode())
        if not raw:
            return self.default_active
        active = _flag(bytes(raw), "active")
        return self.default_active if active is None else active


class TopicGlobalTable(faust.GlobalTable):
    """A global table whose changelog is an existing topic.

    faust-streaming 0.15.3 names a table's changelog `<app id>-<table>-changelog` in its
    partition assignor even when `changelog_topic=` points elsewhere; the assignment then
    dies silently on a missing topic and the worker never gets partitions.
    """

    def _changelog_topic_name(self) -> str:
        return str(self.changelog_topic.get_topic_name())


def global_table(app: faust.App, name: str, topic: Any, **kwargs: Any) -> TopicGlobalTable:
    """`app.GlobalTable(...)` with the class above (same arguments Faust passes)."""
    table = TopicGlobalTable(
        app,
        name=name,
        # Faust's own RocksDB store. Not "rocksdb://": that URL is falsy, so the table
        # silently took the app's default store (the state table's marker-run store),
        # which never applies a topic written without markers: the lists stayed empty.
        store=f"rocksdb:{name}",
        beacon=app.tables.beacon,
        standby_buffer_size=1,
        is_global=True,
        changelog_topic=topic,
        **kwargs,
    )
    app.tables.add(table)
    return table
