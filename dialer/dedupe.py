"""A persistent, bounded record of the call ids this dialer has placed (SQLite under home).

Why: `call:create` can arrive twice (replays, engine restarts); the dialer must place
one call. Ids are added in memory and written by `flush()`, which the consumer calls
before it commits offsets: an offset is never committed for a call the record could
forget. Survives restarts (WAL; a killed process loses nothing flushed). Bounded: past
`max_size` ids, the oldest are forgotten.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class DedupeStore:
    """Call ids seen, oldest evicted first."""

    def __init__(self, path: Path, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_size = max_size
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (call_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS seen_seq ON seen (seq)")
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM seen").fetchone()
        self._seq: int = row[0]
        self._count: int = row[1]
        self._pending: dict[str, int] = {}

    def __contains__(self, call_id: str) -> bool:
        if call_id in self._pending:
            return True
        row = self._db.execute("SELECT 1 FROM seen WHERE call_id = ?", (call_id,)).fetchone()
        return row is not None

    def known(self, call_ids: list[str]) -> set[str]:
        """The ids of `call_ids` already recorded (one query per 500 ids)."""
        found = {c for c in call_ids if c in self._pending}
        rest = [c for c in call_ids if c not in found]
        for i in range(0, len(rest), 500):
            chunk = rest[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT call_id FROM seen WHERE call_id IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    def __len__(self) -> int:
        return min(self._count + len(self._pending), self.max_size)

    def add(self, call_id: str) -> None:
        """Remember an id (written at the next flush)."""
        if call_id not in self._pending:
            self._seq += 1
            self._pending[call_id] = self._seq

    def flush(self) -> None:
        """Write pending ids and forget the oldest past max_size, in one transaction."""
        if not self._pending:
            return
        items = list(self._pending.items())
        self._db.execute("BEGIN")
        try:
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO seen (call_id, seq) VALUES (?, ?)", items)
            self._count += self._db.total_changes - before
            if self._count > self.max_size:
                cut = self._db.execute(
                    "SELECT seq FROM seen ORDER BY seq DESC LIMIT 1 OFFSET ?", (self.max_size,)
                ).fetchone()
                if cut is not None:
                    cur = self._db.execute("DELETE FROM seen WHERE seq <= ?", (cut[0],))
                    self._count -= cur.rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._db.close()
