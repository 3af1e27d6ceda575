"""What a read-only query may be, and the bounds it runs under (`campaignflow sql`, the sink).

ClickHouse's `readonly=1` still lets a SELECT write a file (`INTO OUTFILE`), read one (the
`file()` function), read a table through a qualified name (`SELECT system.x.y`, `IN db.t`)
or generate rows without end (`generateRandom`, `numbers`). So the text is parsed
(sqlglot, ClickHouse dialect) and checked before anything runs: exactly one SELECT (or
WITH ... SELECT, UNION ...), no INTO, SETTINGS or FORMAT clause, no table function,
tables only from an allow list (the project's tables and views, a few system tables),
no function that reads files, reaches other servers or sleeps. What runs is the SQL
regenerated from the checked tree, not the text received, so a construct that sqlglot
and ClickHouse would read differently cannot slip through.

The bounds (`QueryLimits`) are session settings of the client that runs the query, set
before `readonly=1`, which then forbids changing them. ClickHouse does not apply its
result limits to every shape of query (`SELECT arrayJoin(range(10^8))` passes
max_result_rows), so `fetch` also counts rows and bytes as the result streams in and
stops the query past either bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from sinks.exceptions import RefusedQuery
from sinks.migrations import relations

# sqlglot logs a warning with the statement's text when it falls back to a bare Command;
# the text may hold phone numbers and the statement is refused anyway.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# System tables a query may read: metadata of the project's own tables, nothing about
# other queries, users, settings of the server or its files.
SYSTEM_TABLES = frozenset({"one", "databases", "tables", "columns", "parts", "functions"})

# Functions that read files, reach the network or other servers, run programs, load
# models, sleep, or show the process's memory (lower case; ClickHouse matches some
# case-insensitively). Table functions need no entry: every one is refused in FROM.
DENIED_FUNCTIONS = frozenset(
    {
        "file",
        "url",
        "s3",
        "hdfs",
        "remote",
        "remotesecure",
        "executable",
        "catboostevaluate",
        "modelevaluate",
        "joinget",
        "joingetornull",
        "sleep",
        "sleepeachrow",
        "addresstoline",
        "addresstolinewithinlines",
        "addresstosymbol",
        "demangle",
        "trap",
        "getserversetting",
        "getmergetreesetting",
    }
)


# Database names ClickHouse has besides the project's: a qualifier naming one is a table
# reference, and no alias may take such a name.
DATABASES = frozenset({"system", "information_schema", "default"})


@dataclass(frozen=True)
class QueryLimits:
    """Hard bounds of one query, passed to ClickHouse as settings (0 would mean none)."""

    max_execution_time_s: int = 60
    max_memory_usage_bytes: int = 2 * 1024**3
    max_result_rows: int = 200_000
    max_result_bytes: int = 256 * 1024**2
    max_rows_to_read: int = 2_000_000_000

    def settings(self) -> dict[str, Any]:
        """The ClickHouse settings, in the order they must be applied (readonly is added last)."""
        return {
            "max_execution_time": self.max_execution_time_s,
            "timeout_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage_bytes,
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_rows_to_read": self.max_rows_to_read,
            "read_overflow_mode": "throw",
        }


@dataclass(frozen=True)
class Fetched:
    """A query's result: column names, ClickHouse types, rows."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]


def _size(value: Any) -> int:
    """Rough bytes of a value in a result (strings by length, numbers and times as 8)."""
    if isinstance(value, str | bytes):
        return len(value) + 2
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items()) + 2
    if isinstance(value, list | tuple):
        return sum(_size(v) for v in value) + 2
    return 8


def fetch(client: Any, sql: str, limits: QueryLimits) -> Fetched:
    """Run checked `sql`, streaming; RefusedQuery once the result passes a row or byte bound."""
    rows: list[list[Any]] = []
    size = 0
    with client.query_row_block_stream(sql) as stream:
        columns = list(stream.source.column_names)
        types = [t.name for t in stream.source.column_types]
        for block in stream:
            if len(rows) + len(block) > limits.max_result_rows:
                raise RefusedQuery(
                    f"the result has more than {limits.max_result_rows} rows (the limit): add a"
                    " LIMIT or aggregate"
                )
            for row in block:
                size += sum(_size(v) for v in row)
                rows.append(list(row))
            if size > limits.max_result_bytes:
                raise RefusedQuery(
                    f"the result is over {limits.max_result_bytes} bytes (the limit): select"
                    " fewer rows or columns"
                )
    return Fetched(columns, types, rows)


def _qualified(db: str, table: str) -> str:
    return f"{db}.{table}" if db else table


class _Check:
    """One query's walk: every table reference against the allow list, every clause and function."""

    def __init__(self, root: exp.Expression, tables: frozenset[str]) -> None:
        self.root = root
        self.tables = tables
        self.ctes = {cte.alias_or_name for cte in root.find_all(exp.CTE)}
        # Names a column may be qualified with: aliases and names of what the query reads.
        self.sources = set(self.ctes)
        for node in root.find_all(exp.Table, exp.Subquery):
            if node.alias:
                self.sources.add(node.alias)
            if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
                self.sources.add(node.name)
        aliases = self.ctes | {n.alias for n in root.find_all(exp.Table, exp.Subquery) if n.alias}
        shadowing = sorted(a for a in aliases if a.lower() in DATABASES)
        if shadowing:
            raise RefusedQuery(f"the alias {shadowing[0]!r} is the name of a database")

    def table(self, db: str, name: str, where: str) -> None:
        if db == "system":
            if name in SYSTEM_TABLES:
                return
            allowed = ", ".join(sorted(SYSTEM_TABLES))
            raise RefusedQuery(
                f"{where}: system.{name} is not readable here (system tables allowed: {allowed})"
            )
        if db:
            raise RefusedQuery(
                f"{where}: {_qualified(db, name)}: only the project's tables (unqualified) and "
                "system tables may be read"
            )
        if name in self.tables or name in self.ctes:
            return
        raise RefusedQuery(
            f"{where}: unknown table {name!r} (the project's tables and v_* views may be read)"
        )

    def run(self) -> None:
        for node in self.root.walk():
            for clause in ("into", "settings", "format"):
                if node.args.get(clause):
                    raise RefusedQuery(
                        f"a {clause.upper()} clause is not allowed (limits and output are set"
                        " by the server)"
                    )
            if isinstance(node, exp.Table):
                self._from(node)
            elif isinstance(node, exp.In):
                self._in(node)
            elif isinstance(node, exp.Column):
                self._column(node)
            if isinstance(node, exp.Func):
                self._function(node)

    def _from(self, node: exp.Table) -> None:
        if not isinstance(node.this, exp.Identifier):
            name = node.this.sql(dialect="clickhouse")[:80]
            raise RefusedQuery(f"FROM {name}: table functions are not allowed")
        if node.catalog:
            raise RefusedQuery(f"FROM {node.sql(dialect='clickhouse')[:80]}: too many name parts")
        self.table(node.db, node.name, "FROM")

    def _in(self, node: exp.In) -> None:
        # `x IN t` reads table t.
        field = node.args.get("field")
        if isinstance(field, exp.Column):
            parts = [p.name for p in field.parts]
            if len(parts) > 2:
                raise RefusedQuery(
                    f"IN {field.sql(dialect='clickhouse')[:80]}: too many name parts"
                )
            db, name = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
            self.table(db, name, "IN")
        elif field is not None and not isinstance(field, exp.Subquery | exp.Tuple | exp.Array):
            raise RefusedQuery(f"IN {field.sql(dialect='clickhouse')[:80]}: not a list or subquery")
        # `x IN (db.t)` reads table db.t too, whatever aliases the query has.
        for item in node.expressions:
            if isinstance(item, exp.Column) and len(item.parts) == 2:
                db, name = item.parts[0].name, item.parts[1].name
                self.table(db, name, f"IN ({item.sql(dialect='clickhouse')[:80]})")

    def _column(self, node: exp.Column) -> None:
        # ClickHouse reads db.table.column, and db.table where a table fits, without a FROM.
        parts = [p.name for p in node.parts]
        text = node.sql(dialect="clickhouse")[:80]
        if len(parts) > 3:
            raise RefusedQuery(f"{text}: too many name parts")
        if len(parts) == 3 or (len(parts) == 2 and parts[0].lower() in DATABASES):
            self.table(parts[0], parts[1], text)
        elif len(parts) == 2 and parts[0] not in self.sources and parts[0] not in self.tables:
            raise RefusedQuery(f"{text}: {parts[0]!r} is not a table or alias of this query")

    def _function(self, node: exp.Func) -> None:
        names = {n.lower() for n in type(node).sql_names()}
        this = node.args.get("this")
        if isinstance(this, str):
            names.add(this.lower())
        denied = names & DENIED_FUNCTIONS
        if denied:
            raise RefusedQuery(f"function {sorted(denied)[0]}() is not allowed here")


def check(sql: str, tables: frozenset[str] | None = None) -> str:
    """The SQL to run for `sql`, regenerated from its checked tree; raises RefusedQuery.

    `tables`: the unqualified names a query may read (default: what the migrations create).
    """
    allowed = relations() if tables is None else tables
    try:
        statements = [s for s in sqlglot.parse(sql, read="clickhouse") if s is not None]
    except ParseError as exc:
        errors = exc.errors[0] if exc.errors else {}
        where = f" at line {errors.get('line')}, column {errors.get('col')}" if errors else ""
        description = (errors.get("description") or str(exc).splitlines()[0])[:200]
        raise RefusedQuery(
            f"not a query this endpoint runs{where}: {description}"
            " (one SELECT, no INTO OUTFILE, SETTINGS or FORMAT)"
        ) from None
    except RecursionError:
        raise RefusedQuery("the query is nested too deeply") from None
    except SqlglotError as exc:
        raise RefusedQuery(f"cannot parse the query: {str(exc).splitlines()[0][:200]}") from None
    if not statements:
        raise RefusedQuery("empty query")
    if len(statements) > 1:
        raise RefusedQuery(f"one statement per query, not {len(statements)}")
    root = statements[0]
    if not isinstance(root, exp.Select | exp.SetOperation):
        kind = root.key.upper() if not isinstance(root, exp.Command) else str(root.this).upper()
        raise RefusedQuery(f"only SELECT (or WITH ... SELECT) queries run here, not {kind}")
    try:
        _Check(root, allowed).run()
        return root.sql(dialect="clickhouse", comments=False)
    except RecursionError:
        raise RefusedQuery("the query is nested too deeply") from None
