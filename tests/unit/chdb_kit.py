"""An embedded ClickHouse with the project's migrations and a test's records, as the sink
would have written them (its own row mapping): the view tests share this one loader."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sinks.dsn import open_client
from sinks.migrations import migrate
from sinks.rows import COLUMNS, to_row


@contextlib.contextmanager
def loaded(path: Path, records: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[Any]:
    """A migrated chdb client at `path` holding `records` (Avro record name, record)."""
    c = open_client(f"chdb://{path}")
    migrate(c)
    by_table: dict[str, list[Any]] = {}
    for name, rec in records:
        mapped = to_row(name, rec, 0)
        assert mapped is not None
        by_table.setdefault(mapped[0], []).append(mapped[1])
    for table, rows in by_table.items():
        c.insert(table, rows, column_names=list(COLUMNS[table]))
    try:
        yield c
    finally:
        c.close()
