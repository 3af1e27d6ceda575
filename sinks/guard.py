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

import functools
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

# Functions a query may call (ClickHouse's names; compared lower-cased, after sqlglot has
# resolved its aliases: `lcase` is `lower`). An allow list, not a deny list: ClickHouse
# has functions that read files (`file`), reach other servers (`url`, `remote`, `s3`),
# sleep, read dictionaries or describe the server, under spellings (`FILE`, `\`file\``,
# `"file"`) a deny list keeps missing. Anything not named here is refused.
AGGREGATE_FUNCTIONS = frozenset(
    {
        "count", "sum", "avg", "min", "max", "any", "anyLast", "anyHeavy", "argMin", "argMax",
        "uniq", "uniqExact", "uniqCombined", "uniqCombined64", "uniqHLL12",
        "groupArray", "groupUniqArray", "groupArraySorted", "groupBitAnd", "groupBitOr",
        "groupBitXor", "sumWithOverflow", "sumKahan",
        "median", "medianExact", "quantile", "quantiles", "quantileExact", "quantilesExact",
        "quantileExactInclusive", "quantileExactExclusive", "quantileTiming",
        "quantileTDigest", "quantilesTDigest", "stddevPop", "stddevSamp", "varPop", "varSamp",
        "covarPop", "covarSamp", "corr", "topK", "topKWeighted", "histogram", "avgWeighted",
        "simpleLinearRegression", "entropy", "any_value", "first_value", "last_value",
        "nth_value", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
        "lagInFrame", "leadInFrame", "lag", "lead", "windowFunnel", "retention",
        "sequenceMatch", "sequenceCount", "boundingRatio", "deltaSum",
    }
)  # fmt: skip
# Suffixes ClickHouse adds to an aggregate (`sumIf`, `uniqArrayIf`, `avgOrNull`).
AGGREGATE_COMBINATORS = (
    "if", "array", "map", "simplestate", "mergestate", "state", "merge", "foreach",
    "distinct", "ordefault", "ornull", "resample", "argmin", "argmax",
)  # fmt: skip
SCALAR_FUNCTIONS = frozenset(
    {
        # logic, comparison, arithmetic
        "and", "or", "xor", "not", "if", "multiIf", "ifNull", "nullIf", "coalesce", "isNull",
        "isNotNull", "assumeNotNull", "toNullable", "greatest", "least", "equals",
        "notEquals", "less", "greater", "lessOrEquals", "greaterOrEquals", "like", "notLike",
        "ilike", "notILike", "in", "notIn", "has", "hasAny", "hasAll", "match", "plus",
        "minus", "multiply", "divide", "intDiv", "intDivOrZero", "modulo", "negate", "abs",
        "gcd", "lcm", "exp", "log", "ln", "log2", "log10", "sqrt", "cbrt", "pow", "power",
        "round", "roundBankers", "floor", "ceil", "ceiling", "trunc", "truncate", "sign",
        "e", "pi", "isFinite", "isNaN", "isInfinite", "bitAnd", "bitOr", "bitXor", "bitNot",
        "bitShiftLeft", "bitShiftRight", "transform", "throwIf", "identity", "materialize",
        "ignore", "toTypeName", "currentDatabase", "getSetting",
        # conversion
        "toString", "toFixedString", "toInt8", "toInt16", "toInt32", "toInt64", "toInt128",
        "toUInt8", "toUInt16", "toUInt32", "toUInt64", "toFloat32", "toFloat64",
        "toDecimal32", "toDecimal64", "toDecimal128", "toDate", "toDate32", "toDateTime",
        "toDateTime64", "toUUID", "toBool", "toLowCardinality", "accurateCast",
        "accurateCastOrNull", "toInt64OrNull", "toInt64OrZero", "toUInt64OrNull",
        "toUInt64OrZero", "toFloat64OrNull", "toFloat64OrZero", "toDateOrNull",
        "toDateTimeOrNull", "toDecimalString", "parseDateTimeBestEffort",
        "parseDateTimeBestEffortOrNull", "parseDateTime64BestEffort", "cast",
        # dates and times
        "now", "now64", "today", "yesterday", "toYear", "toQuarter", "toMonth", "toWeek",
        "toISOWeek", "toISOYear", "toDayOfMonth", "toDayOfWeek", "toDayOfYear", "toHour",
        "toMinute", "toSecond", "toStartOfYear", "toStartOfQuarter", "toStartOfMonth",
        "toStartOfWeek", "toMonday", "toStartOfDay", "toStartOfHour", "toStartOfMinute",
        "toStartOfFiveMinutes", "toStartOfTenMinutes", "toStartOfFifteenMinutes",
        "toStartOfInterval", "toTimeZone", "toUnixTimestamp", "toUnixTimestamp64Milli",
        "toUnixTimestamp64Micro", "fromUnixTimestamp", "fromUnixTimestamp64Milli",
        "formatDateTime", "dateDiff", "date_diff", "date_trunc",
        "dateTrunc", "age", "timeSlot", "toYYYYMM", "toYYYYMMDD", "addSeconds", "addMinutes",
        "addHours", "addDays", "addWeeks", "addMonths", "addYears", "subtractSeconds",
        "subtractMinutes", "subtractHours", "subtractDays", "subtractWeeks",
        "subtractMonths", "subtractYears", "toIntervalSecond", "toIntervalMinute",
        "toIntervalHour", "toIntervalDay", "toIntervalWeek", "toIntervalMonth",
        "toIntervalQuarter", "toIntervalYear", "extract", "current_date",
        # strings
        "length", "lengthUTF8", "char_length", "empty", "notEmpty", "lower", "upper",
        "lowerUTF8", "upperUTF8", "concat", "concatWithSeparator", "substring", "substr",
        "substringUTF8", "left", "right", "leftUTF8", "rightUTF8", "leftPad", "rightPad",
        "lpad", "rpad", "trim", "trimLeft", "trimRight", "trimBoth", "ltrim", "rtrim",
        "replace", "replaceOne", "replaceAll", "replaceRegexpOne", "replaceRegexpAll",
        "position", "positionCaseInsensitive", "locate", "startsWith", "endsWith",
        "splitByChar", "splitByString", "splitByRegexp", "arrayStringConcat", "format",
        "reverse", "repeat", "extractAll", "hex", "unhex", "toValidUTF8", "visibleWidth",
        "formatReadableSize", "formatReadableQuantity", "formatReadableTimeDelta", "bar",
        "base64Encode", "base64Decode",
        # arrays, tuples, maps, JSON
        "array", "arrayJoin", "range", "indexOf", "arrayMap", "arrayFilter", "arrayCount",
        "arraySum", "arrayAvg", "arrayMin", "arrayMax", "arraySort", "arrayReverseSort",
        "arrayDistinct", "arrayUniq", "arrayConcat", "arrayElement", "arraySlice",
        "arrayEnumerate", "arrayReverse", "arrayExists", "arrayAll", "arrayFirst",
        "arrayLast", "arrayZip", "arrayFlatten", "arrayCumSum", "arrayDifference",
        "arrayReduce", "arrayPushBack", "arrayPushFront", "arrayPopBack", "arrayPopFront",
        "arrayCompact", "arrayIntersect", "countEqual", "emptyArrayString", "tuple",
        "tupleElement", "map", "mapKeys", "mapValues", "mapContains",
        "mapFromArrays", "JSONExtract", "JSONExtractString", "JSONExtractInt",
        "JSONExtractFloat", "JSONExtractBool", "JSONExtractRaw", "JSONExtractKeys",
        "JSONHas", "JSONLength", "isValidJSON",
        # hashes, random
        "cityHash64", "sipHash64", "xxHash32", "xxHash64", "murmurHash3_64", "farmHash64",
        "halfMD5", "MD5", "SHA1", "SHA256", "rand", "rand64", "randCanonical",
        "generateUUIDv4", "runningDifference", "neighbor",
    }
)  # fmt: skip

# Session settings that close what the engine itself offers (applied before readonly=1,
# which then forbids changing them): no introspection (addressToLine, demangle...), no
# sleeping, and in chdb no python() table function. `file()` has no such switch in the
# embedded engine (clickhouse-local reads any path, whatever `user_files_path` says), so
# the allow list above is what keeps it out.
LOCKED_SETTINGS: dict[str, Any] = {
    "allow_introspection_functions": 0,
    "function_sleep_max_microseconds_per_block": 1,
}
EMBEDDED_LOCKED_SETTINGS: dict[str, Any] = {"allow_python_table_function": 0}

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

    def settings(self, *, embedded: bool = True) -> dict[str, Any]:
        """The ClickHouse settings, in the order they must be applied (readonly is added last).

        `embedded`: the client runs chdb, which has settings of its own to lock too.
        """
        locked = LOCKED_SETTINGS | (EMBEDDED_LOCKED_SETTINGS if embedded else {})
        return locked | {
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
        name = function_name(node)
        if not function_allowed(name):
            raise RefusedQuery(
                f"function {name}() is not allowed here (only the usual aggregate, date, string,"
                " array and conversion functions are; see sinks/guard.py)"
            )


# Functions sqlglot keeps by the name written (ClickHouse's own, unknown to it).
_NAMED = (exp.Anonymous, exp.AnonymousAggFunc, exp.ParameterizedAgg)


def function_name(node: exp.Func) -> str:
    """The name a function is checked by: lower-case, unquoted, sqlglot's for what it knows.

    A function sqlglot knows is one of its classes whatever the spelling (`LCASE`,
    `` `lower` ``, `"lower"` are all `lower`); the others keep the name written, quotes off.
    """
    if isinstance(node, _NAMED) or type(node).__name__.startswith("Combined"):
        this = node.args.get("this")
        text = this.name if isinstance(this, exp.Expression) else str(this)
        return text.lower()
    return node.key


def _key_of(name: str) -> set[str]:
    """The names an allowed ClickHouse function `name` is checked by (its own, sqlglot's)."""
    keys = {name.lower()}
    for args in ("x", "x, y", "x, y, z"):
        try:
            tree = sqlglot.parse_one(f"SELECT {name}({args})", read="clickhouse")
        except Exception:  # noqa: BLE001 - sqlglot's builders raise anything on a wrong arity
            continue
        keys |= {function_name(f) for f in tree.find_all(exp.Func)}
        break
    return keys


# Functions that come from syntax rather than a call: CASE, CAST, [..], {..}, EXTRACT, ...
_SYNTAX_KEYS = frozenset(
    {"case", "cast", "trycast", "array", "varmap", "struct", "strposition", "currentdate",
     "rownumber", "jsonextract", "substring", "trim", "extract"}
)  # fmt: skip


@functools.cache
def _allowed_keys() -> tuple[frozenset[str], frozenset[str]]:
    """(every allowed name, the aggregates' names), as function_name gives them."""
    aggregates = frozenset(k for name in AGGREGATE_FUNCTIONS for k in _key_of(name))
    scalars = frozenset(k for name in SCALAR_FUNCTIONS for k in _key_of(name))
    return scalars | aggregates | _SYNTAX_KEYS, aggregates


def function_allowed(name: str) -> bool:
    """Whether the function checked as `name` (function_name) may run: listed, or a listed
    aggregate with combinators (`sumIf`, `uniqArrayIf`, `argMaxOrNull`)."""
    allowed, aggregates = _allowed_keys()
    if name in allowed:
        return True
    base = name
    while True:
        suffix = next((c for c in AGGREGATE_COMBINATORS if base.endswith(c) and base != c), None)
        if suffix is None:
            return False
        base = base[: -len(suffix)]
        if base in aggregates:
            return True


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
