"""Creating the target table: ``create=True`` / ``if_exists=`` and ``--create``.

The library (:func:`zcimport.copy_dataframe`) and the command line
(``zcimport load --create``) share this module.  The table's columns come
from the load's plan: each column's wire type, and for object columns the
kind of their values (:attr:`PlannedColumn.value_kind`):

==================================  ====================
wire type / values                  column type
==================================  ====================
bool                                boolean
int8, int16, uint8                  smallint
int32, uint16                       integer
int64, uint32                       bigint
uint64                              numeric(20,0)
float32                             real
float64                             double precision
timestamp                           timestamp
timestamptz                         timestamptz
duration                            interval
date32 (datetime.date objects)      date
utf8: str                           text
utf8: decimal.Decimal               numeric
utf8: dict / list                   jsonb
utf8: uuid.UUID                     uuid
utf8: ipaddress objects             inet
binary (bytes)                      bytea
dictionary (categorical)            text
null (no value at all)              text
==================================  ====================

Columns are nullable, without defaults or constraints.  Every identifier is
double-quoted (``"Sales"`` stays ``Sales``, as the COPY's column list does),
and a table name may be schema-qualified (see :func:`zcimport.copy_dataframe`
for the accepted forms).  The statements name built-in types, functions and
operators with their schema (``pg_catalog.text``,
``pg_catalog.to_regclass``), so that objects of the same names in an earlier
``search_path`` schema are never used; only the table is looked up through
``search_path``, as the caller wrote it.

``if_exists`` follows pandas' ``DataFrame.to_sql``, plus ``truncate``:

- ``"fail"`` (the default): create the table; if it exists, raise
  :class:`TableExistsError` before anything is changed;
- ``"replace"``: ``DROP TABLE`` it if it exists, then create it;
- ``"append"``: keep it if it exists, else create it;
- ``"truncate"``: ``TRUNCATE`` it if it exists, else create it.

The statements run in the load's transaction, before the COPY, so a load
that fails leaves the table as it was, and ``replace``/``truncate`` (and a
new table) allow ``freeze=True``.

**Driver independence.**  Everything here produces plain SQL strings, with
identifiers quoted by :func:`quote_ident` (no connection needed), and runs
them through a callable, so any driver can use it:

- :func:`prepare_table` ``(execute, table, columns, if_exists)`` is the whole
  step for a synchronous driver.  ``execute(query, params=None)`` runs one
  statement with ``%s`` placeholders and returns its rows (``[]`` when it
  returns none): for psycopg 3, ``conn.execute``; for psycopg2, a cursor's
  ``execute`` followed by ``fetchall()`` when ``cursor.description`` is set.
- For asynchronous drivers, the two halves: :func:`exists_query` (a query
  and its parameters; the first column of its row is true when the table
  exists) and :func:`ddl_statements` (the statements to run, given whether
  it exists, or :class:`TableExistsError`).
- :func:`column_types` turns a :class:`~zcimport.Plan` (or planned columns)
  into ``(name, type)`` pairs; :func:`create_table_sql` into the statement.

``table`` may be a string or a tuple as for ``copy_dataframe``, or a
``psycopg.sql`` / ``psycopg2.sql`` ``Identifier``, ``SQL`` or ``Composed``,
which :func:`render` renders without a connection (``Literal`` and
``Placeholder`` cannot be rendered that way).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from ._drive import Gen, Query, Run, psycopg_query, run_queries
from ._format import WireType

log = logging.getLogger("zcimport")

#: The accepted values of ``if_exists``.
IF_EXISTS = ("fail", "replace", "append", "truncate")

#: What :func:`prepare_table` calls to run a statement: ``execute(query,
#: params=None)`` with ``%s`` placeholders, returning the rows (``[]`` for
#: a statement that returns none).
Execute = Callable[..., Any]

#: ``(column name, SQL type)`` pairs, in table order.
ColumnTypes = Sequence[Tuple[str, str]]

_WIRE_SQL = {
    WireType.BOOL: "boolean",
    WireType.INT8: "smallint",
    WireType.INT16: "smallint",
    WireType.UINT8: "smallint",
    WireType.INT32: "integer",
    WireType.UINT16: "integer",
    WireType.INT64: "bigint",
    WireType.UINT32: "bigint",
    WireType.UINT64: "numeric(20,0)",
    WireType.FLOAT32: "real",
    WireType.FLOAT64: "double precision",
    WireType.TIMESTAMP: "timestamp",
    WireType.TIMESTAMPTZ: "timestamptz",
    WireType.DURATION: "interval",
    WireType.DATE32: "date",
    WireType.UTF8: "text",
    WireType.BINARY: "bytea",
    WireType.DICTIONARY: "text",
    WireType.NULL: "text",
    # Arrow's wire types (zcimport._src_arrow also gives each column its
    # exact type, e.g. numeric(10,2), as PlannedColumn.pg_type)
    WireType.BITBOOL: "boolean",
    WireType.UTF8_32: "text",
    WireType.BINARY_32: "bytea",
    WireType.DATE64: "date",
    WireType.TIME32: "time",
    WireType.TIME64: "time",
    WireType.DECIMAL128: "numeric",
    WireType.DECIMAL256: "numeric",
}

_KIND_SQL = {
    "decimal": "numeric",
    "json": "jsonb",
    "uuid": "uuid",
    "ip": "inet",
}

#: The built-in types among those above whose names are not SQL keywords:
#: PostgreSQL looks such a name up through ``search_path``, where a type
#: (or domain) of the same name in an earlier schema would win, so the
#: statements name them with their schema.  The others (``bigint``,
#: ``double precision``, ``timestamp``, ``numeric(20,0)``...) are keywords
#: of the grammar, which always mean the ``pg_catalog`` type.
_CATALOG_TYPES = frozenset({"text", "bytea", "date", "timestamptz", "jsonb", "uuid", "inet",
                            "time"})


class TableExistsError(ValueError):
    """``if_exists="fail"`` (the default of ``create=True``) and the table exists.

    A ``ValueError``, as pandas' ``to_sql`` raises in that case.  Raised
    before any statement that changes something, so the transaction stays
    usable.  :attr:`sqlstate` is ``"42P07"`` (duplicate_table), the code the
    server would give.
    """

    sqlstate = "42P07"

    def __init__(self, table: str) -> None:
        super().__init__(
            f"table {table} already exists; pass if_exists='append', 'replace' or"
            " 'truncate' (--if-exists on the command line) to load into it anyway")
        self.table = table


# --------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------


def sql_type(wire_type: Union[WireType, int, str], value_kind: str = "") -> str:
    """The column type for a wire type (and an object column's kind of values).

    ``wire_type`` is a :class:`WireType`, its code, or its name
    (``"float64"``); ``value_kind`` is :attr:`PlannedColumn.value_kind`
    (it matters for ``utf8`` columns only).
    """
    if isinstance(wire_type, str):
        wire = WireType[wire_type.upper()]
    else:
        wire = WireType(int(wire_type))
    if wire == WireType.UTF8 and value_kind in _KIND_SQL:
        return _KIND_SQL[value_kind]
    return _WIRE_SQL[wire]


def column_types(plan: Iterable[Any]) -> List[Tuple[str, str]]:
    """``(name, SQL type)`` of each column of a plan.

    ``plan`` is a :class:`zcimport.Plan` or a sequence of
    :class:`~zcimport._plan.PlannedColumn`.
    """
    columns = getattr(plan, "planned_columns", plan)
    # pg_type: the source's own type when it says more than the wire type
    # (Arrow's decimal(p, s), time...: zcimport._src_arrow.pg_type)
    return [(c.name, getattr(c, "pg_type", "") or sql_type(c.wire_type, getattr(c, "value_kind", "")))
            for c in columns]


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (``"`` doubled).

    Raises ValueError for an empty name or one with a NUL character, which
    PostgreSQL identifiers cannot hold.
    """
    if not isinstance(name, str):
        raise TypeError(f"an identifier must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("empty identifier")
    if "\0" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def render(query: Any) -> str:
    """A ``psycopg.sql`` or ``psycopg2.sql`` object as a string, without a connection.

    ``Identifier`` (quoted with :func:`quote_ident`, parts joined by dots),
    ``SQL`` and ``Composed`` made of them; a ``str`` is returned as it is.
    Raises TypeError for anything else (``Literal``, ``Placeholder``...),
    whose rendering needs the driver.
    """
    if isinstance(query, str):
        return query
    cls = type(query).__name__
    if cls == "Identifier":
        parts = getattr(query, "strings", None)  # psycopg2
        if parts is None:
            parts = getattr(query, "_obj", None)  # psycopg 3
        if parts is not None:
            return ".".join(quote_ident(p) for p in parts)
    elif cls == "SQL":
        s = getattr(query, "string", None)
        if s is None:
            s = getattr(query, "_obj", None)
        if isinstance(s, str):
            return s
    elif cls == "Composed":
        seq = getattr(query, "seq", None)
        if seq is None:
            seq = getattr(query, "_obj", None)
        if seq is not None:
            return "".join(render(q) for q in seq)
    raise TypeError(f"cannot render {query!r} without a connection")


def table_name(table: Any) -> str:
    """The table as quoted SQL text: ``"schema"."name"`` or ``"name"``.

    ``table`` is any form :func:`zcimport.copy_dataframe` accepts (a string
    is split at dots outside double quotes), or a ``psycopg2.sql`` object.
    """
    if isinstance(table, str):
        return ".".join(quote_ident(p) for p in split_table_name(table))
    if isinstance(table, tuple):
        return ".".join(quote_ident(p) for p in table_tuple(table))
    return render(table)


def table_tuple(table: Tuple[Any, ...]) -> List[str]:
    """A ``(schema, name)`` or ``(name,)`` tuple of non-empty strings, checked."""
    if not 1 <= len(table) <= 2 or not all(isinstance(p, str) and p for p in table):
        raise ValueError("a table tuple must be (schema, name) or (name,), of non-empty strings")
    return list(table)


def split_table_name(name: str) -> List[str]:
    """Split "name" or "schema.name" at dots outside double quotes.

    A part may be double-quoted ("a.b", with "" for a quote) to contain
    dots; an unquoted part is used exactly as written (no case folding).
    """
    parts: List[str] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            buf = []
            i += 1
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quoted identifier in table name {name!r}")
                if name[i] == '"':
                    if i + 1 < n and name[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(name[i])
                i += 1
            part = "".join(buf)
            if i < n and name[i] != ".":
                raise ValueError(f"unexpected characters after a quoted identifier in {name!r}")
        else:
            j = name.find(".", i)
            j = n if j < 0 else j
            part = name[i:j]
            if '"' in part:
                raise ValueError(f"misplaced double quote in table name {name!r}")
            i = j
        if not part:
            raise ValueError(f"empty identifier in table name {name!r}")
        parts.append(part)
        if i >= n:
            break
        i += 1  # the dot
        if i >= n:
            raise ValueError(f"table name {name!r} ends with a dot")
    if len(parts) > 2:
        raise ValueError(
            f"table name {name!r} has {len(parts)} parts; use \"table\" or"
            ' "schema.table" (double-quote parts that contain dots)'
        )
    return parts


# --------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------


def check_if_exists(create: bool, if_exists: str) -> None:
    """Validate ``create`` / ``if_exists`` as :func:`zcimport.copy_dataframe` takes them.

    ``if_exists`` other than ``"fail"`` needs ``create=True``; unknown values
    are a ValueError.
    """
    if if_exists not in IF_EXISTS:
        raise ValueError(f"if_exists must be one of {', '.join(map(repr, IF_EXISTS))},"
                         f" not {if_exists!r}")
    if if_exists != "fail" and not create:
        raise ValueError(f"if_exists={if_exists!r} needs create=True")


def qualified_type(type_: str) -> str:
    """A column type as the statements write it: schema-qualified if needed.

    The built-in types :func:`sql_type` names that are not SQL keywords
    (``text``, ``bytea``, ``date``, ``timestamptz``, ``jsonb``, ``uuid``,
    ``inet``) get ``pg_catalog.``, so that a type of the same name in an
    earlier ``search_path`` schema cannot stand in for them; keyword types
    (``bigint``, ``double precision``...) and any other type are returned
    as they are.
    """
    bare = type_.strip()
    return f"pg_catalog.{bare}" if bare.lower() in _CATALOG_TYPES else type_


def create_table_sql(table: Any, columns: ColumnTypes,
                     primary_key: Optional[Sequence[str]] = None) -> str:
    """``CREATE TABLE "schema"."t" ("a" bigint, "b" pg_catalog.text, ...)``.

    Types go through :func:`qualified_type`.  ``primary_key`` (column
    names) adds ``PRIMARY KEY ("a", ...)``: what ``create=True`` makes for
    an upsert (``on_conflict`` with ``conflict_columns``).
    """
    if not columns:
        raise ValueError("a table needs at least one column")
    cols = ", ".join(f"{quote_ident(name)} {qualified_type(type_)}" for name, type_ in columns)
    if primary_key:
        cols += f", PRIMARY KEY ({', '.join(quote_ident(k) for k in primary_key)})"
    return f"CREATE TABLE {table_name(table)} ({cols})"


def drop_table_sql(table: Any) -> str:
    """``DROP TABLE "schema"."t"`` (without CASCADE, as pandas' ``replace``)."""
    return f"DROP TABLE {table_name(table)}"


def truncate_table_sql(table: Any) -> str:
    """``TRUNCATE TABLE "schema"."t"``."""
    return f"TRUNCATE TABLE {table_name(table)}"


def exists_query(table: Any) -> Tuple[str, Tuple[str]]:
    """A query (``%s`` placeholder) and its parameters: is there such a table?

    Its one row's one column is true when the name resolves to a relation,
    as the COPY will resolve it (an unqualified name through the
    ``search_path``, temporary tables first).
    """
    return "SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (table_name(table),)


def ddl_statements(table: Any, columns: ColumnTypes, if_exists: str, exists: bool,
                   primary_key: Optional[Sequence[str]] = None) -> List[str]:
    """The statements that prepare the table, given whether it exists.

    A table that is created (new, or replaced) gets ``primary_key``, if
    given (see :func:`create_table_sql`).  Raises :class:`TableExistsError`
    for ``if_exists="fail"`` when it does, ValueError for an unknown
    ``if_exists``.
    """
    check_if_exists(True, if_exists)
    if not exists:
        return [create_table_sql(table, columns, primary_key)]
    if if_exists == "fail":
        raise TableExistsError(table_name(table))
    if if_exists == "replace":
        return [drop_table_sql(table), create_table_sql(table, columns, primary_key)]
    if if_exists == "truncate":
        return [truncate_table_sql(table)]
    return []  # append


def prepare_table(
    execute: Execute,
    table: Any,
    columns: Union[ColumnTypes, Any],
    if_exists: str = "fail",
    primary_key: Optional[Sequence[str]] = None,
) -> str:
    """Create, replace, truncate or keep the table, with any driver.

    Args:
        execute: runs one statement: ``execute(query, params=None)``, ``%s``
            placeholders, returning its rows (see the module's docstring).
        table: the table, as :func:`table_name` takes it.
        columns: ``(name, type)`` pairs, or a plan (:func:`column_types`).
        if_exists: ``"fail"``, ``"replace"``, ``"append"`` or ``"truncate"``.
        primary_key: columns of the PRIMARY KEY of a table that is created
            (new or replaced); None for none.

    Returns:
        What was done: ``"created"``, ``"replaced"``, ``"truncated"`` or
        ``"kept"``.

    Raises:
        TableExistsError: the table exists and ``if_exists`` is ``"fail"``.
        The driver's errors, unchanged.
    """
    return run_queries(prepare_table_gen(table, columns, if_exists, primary_key),
                       execute_as_run(execute))


def execute_as_run(execute: Execute) -> Run:
    """An :data:`Execute` as a :data:`zcimport._drive.Run` (its rowcount: -1)."""

    def run_query(query: Any, params: Optional[Sequence[Any]] = None) -> Tuple[List[Any], int]:
        rows = execute(query) if params is None else execute(query, params)
        return list(rows or []), -1

    return run_query


def prepare_table_gen(
    table: Any,
    columns: Union[ColumnTypes, Any],
    if_exists: str = "fail",
    primary_key: Optional[Sequence[str]] = None,
) -> Gen[str]:
    """:func:`prepare_table` as a generator of :class:`zcimport._drive.Query`
    operations, for any driver (:mod:`zcimport._drive`)."""
    if not (isinstance(columns, Sequence) and all(isinstance(c, tuple) for c in columns)):
        columns = column_types(columns)
    query, params = exists_query(table)
    rows, _ = yield Query(query, params)
    exists = bool(rows and rows[0][0])
    statements = ddl_statements(table, columns, if_exists, exists, primary_key)
    for stmt in statements:
        log.debug("zcimport: %s", stmt)
        yield Query(stmt)
    if not exists:
        return "created"
    return {"replace": "replaced", "truncate": "truncated"}.get(if_exists, "kept")


def psycopg_execute(conn: Any) -> Execute:
    """An :data:`Execute` for a psycopg 3 (synchronous) connection."""
    run_query = psycopg_query(conn)

    def execute(query: Any, params: Optional[Sequence[Any]] = None) -> List[Tuple[Any, ...]]:
        return run_query(query, params)[0]

    return execute


def dbapi_execute(cursor: Any) -> Execute:
    """An :data:`Execute` for a DB-API cursor with ``%s`` placeholders (psycopg2)."""

    def execute(query: Any, params: Optional[Sequence[Any]] = None) -> List[Tuple[Any, ...]]:
        if params is None:
            cursor.execute(query)
        else:
            cursor.execute(query, params)
        return list(cursor.fetchall()) if cursor.description is not None else []

    return execute


__all__ = [
    "IF_EXISTS",
    "TableExistsError",
    "check_if_exists",
    "column_types",
    "create_table_sql",
    "dbapi_execute",
    "ddl_statements",
    "drop_table_sql",
    "exists_query",
    "prepare_table",
    "psycopg_execute",
    "qualified_type",
    "quote_ident",
    "render",
    "split_table_name",
    "sql_type",
    "table_name",
    "table_tuple",
    "truncate_table_sql",
]
