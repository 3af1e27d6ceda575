"""Versioned, idempotent migrations of the analytics database (`campaignflow analytics migrate`).

Migrations are the numbered files in ops/sql/migrations (NNNN_name.sql); each
statement is idempotent (IF NOT EXISTS / CREATE OR REPLACE) so a half-applied
migration can simply run again. Applied versions are recorded with their checksum
in `schema_migrations`; a view-only migration whose file changed is re-applied
(views are replaced), a changed table migration is refused: write a new one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sinks.exceptions import MigrationError

# The migration files live beside the packages (ops/sql/migrations), found from here.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "ops" / "sql" / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_CREATES = re.compile(r"^CREATE\s+(?:TABLE\s+IF\s+NOT\s+EXISTS|OR\s+REPLACE\s+VIEW)\s+(\w+)", re.I)
LEDGER = "schema_migrations"

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


class _Client(Protocol):
    def command(self, cmd: str) -> object: ...

    def query(self, query: str) -> object: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()[:16]

    @property
    def views_only(self) -> bool:
        return all(s.upper().startswith("CREATE OR REPLACE VIEW") for s in self.statements())

    def statements(self) -> list[str]:
        """The file's statements, comments stripped, split on `;` at line ends."""
        lines = [ln for ln in self.sql.splitlines() if not ln.strip().startswith("--")]
        parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
        return [p.strip() for p in parts if p.strip()]


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, by version; a malformed name or a repeated version is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, m.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def relations(migrations: list[Migration] | None = None) -> frozenset[str]:
    """Names of the tables and views the migrations create, and the ledger's."""
    names = {LEDGER}
    for mig in load() if migrations is None else migrations:
        for statement in mig.statements():
            m = _CREATES.match(statement)
            if m:
                names.add(m.group(1))
    return frozenset(names)


def applied(client: _Client) -> dict[int, str]:
    """version -> checksum of the migrations recorded in the database."""
    client.command(LEDGER_DDL)
    result = client.query(
        "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version"
    )
    rows = getattr(result, "result_rows", [])
    return {int(v): str(c) for v, c in rows}


def migrate(client: _Client, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing (or changed views); returns the names applied, in order."""
    todo = load() if migrations is None else migrations
    done = applied(client)
    out: list[str] = []
    for mig in todo:
        previous = done.get(mig.version)
        if previous == mig.checksum:
            continue
        if previous is not None and not mig.views_only:
            raise MigrationError(
                f"migration {mig.version:04d}_{mig.name} changed after it was applied;"
                " table changes go in a new migration file"
            )
        for statement in mig.statements():
            client.command(statement)
        client.command(
            f"INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({mig.version}, '{mig.name}', '{mig.checksum}')"
        )
        out.append(f"{mig.version:04d}_{mig.name}")
    return out
