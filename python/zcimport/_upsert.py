"""Upsert: ``copy_dataframe(..., on_conflict="nothing" | "update")``.

A load with ``on_conflict`` is, from the user's point of view, the one
statement::

    INSERT INTO t (loaded columns) SELECT loaded columns FROM <the loaded rows>
    ON CONFLICT (conflict columns) DO NOTHING
                                 | DO UPDATE SET c = EXCLUDED.c, ...

It travels as these statements, in the load's transaction (a transaction
block of its own on an autocommit connection, the caller's transaction
otherwise):

1. (without ``conflict_columns``) the table's primary key, from
   ``pg_catalog.pg_index``;
2. ``CREATE TEMP TABLE pg_temp."zcimport_upsert_<random>" ON COMMIT DROP AS
   SELECT <loaded columns> FROM t WITH NO DATA``: the staging table has the
   target's column types, typmods, collations and domains, and nothing else
   (no constraints, defaults, indexes or triggers);
3. ``EXPLAIN`` of the INSERT of step 5: planning it reports a conflict
   target that matches no unique index (42P10) before any data is sent;
4. ``COPY pg_temp."zcimport_upsert_<random>" (<columns>) FROM STDIN WITH
   (FORMAT zcimport)``: the fast path, unchanged;
5. ``INSERT INTO t (<columns>) SELECT <columns> FROM <staging> ORDER BY
   <conflict columns>, ctid ON CONFLICT (<conflict columns>) DO ...``, whose
   row count is the load's result;
6. ``DROP TABLE <staging>``.

The ORDER BY is what makes this faster than the same statements without it
(the measurements are in docs/python.md, "Upsert"): the conflict index is
probed, and the target's heap visited, in key order instead of at random.
``ctid`` (the staging table's row position, which is the frame's row order)
breaks ties, so that with DO NOTHING the first of several rows with the same
key in the frame is the one inserted, as a scan of the loaded rows in their
order would do.  Rows are therefore inserted (and row triggers fire, and
volatile defaults such as ``nextval()`` are evaluated) in key order, not in
the frame's order.

The default conflict target is the table's primary key, read from
``pg_catalog.pg_index`` (every name in the statements is schema-qualified or
quoted, so that nothing in an earlier ``search_path`` schema is used).  A
table without one, and no ``conflict_columns``, is
:class:`NoConflictTargetError` (SQLSTATE 42P10, as PostgreSQL reports a
conflict target that matches no unique index), raised before anything is
changed.

This module makes the statements as strings and runs them through a
callable (:data:`Run`), so that every driver shares it: psycopg 3
(:mod:`zcimport._copy`), psycopg2 and SQLAlchemy (:mod:`zcimport._dbapi`),
asyncio (:mod:`zcimport._async`, which awaits the same statements).  It
imports nothing of the package but :mod:`zcimport._ddl` and :mod:`zcimport._drive`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import psycopg
import psycopg.errors

from ._ddl import quote_ident, table_name
from ._drive import Gen, Query, run_queries

log = logging.getLogger("zcimport")

#: The accepted values of ``on_conflict`` (besides None, a plain load).
ON_CONFLICT = ("nothing", "update")

#: What ``conflict_columns`` accepts: None (the primary key), a column name,
#: or a sequence of column names.
ConflictColumnsArg = Union[None, str, Sequence[str]]

#: ``run(query, params=None) -> (rows, rowcount)``: runs one statement with
#: ``%s`` placeholders; ``rows`` is ``[]`` for a statement without a result.
Run = Callable[..., Tuple[List[Tuple[Any, ...]], int]]

#: The table's primary key columns, in the key's order.
_PRIMARY_KEY_QUERY = (
    "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a"
    " ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid"
    " WHERE i.indrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass AND i.indisprimary"
    " AND pg_catalog.array_position(i.indkey, a.attnum) IS NOT NULL"
    " ORDER BY pg_catalog.array_position(i.indkey, a.attnum)"
)


class NoConflictTargetError(psycopg.errors.InvalidColumnReference):
    """``on_conflict`` without ``conflict_columns``, and the table has no primary key.

    SQLSTATE 42P10 (invalid_column_reference), the code PostgreSQL gives a
    conflict target that matches no unique index; a subclass of
    ``psycopg.errors.InvalidColumnReference``, so one ``except`` catches
    both.  Raised by the client, on every driver (``pgcode`` is set too, as
    psycopg2's errors have it), after reading the catalog and before
    anything has been changed: the caller's transaction is still usable.
    """

    sqlstate = "42P10"
    pgcode = "42P10"

    def __init__(self, table: str) -> None:
        super().__init__(
            f"table {table} has no primary key, so ON CONFLICT has no conflict target:"
            " pass conflict_columns (--conflict-columns) naming the columns of a unique"
            " index or constraint")
        self.table = table


def check_on_conflict(
    on_conflict: Optional[str],
    conflict_columns: ConflictColumnsArg = None,
    *,
    freeze: bool = False,
    create: bool = False,
) -> Optional[Tuple[str, ...]]:
    """Validate the upsert arguments, before connecting; the conflict columns.

    Returns ``conflict_columns`` as a tuple (None for the primary key).

    Raises:
        ValueError: ``on_conflict`` is not None, ``"nothing"`` or
            ``"update"``; ``conflict_columns`` without ``on_conflict``, empty,
            with an empty or repeated name; ``freeze=True`` with
            ``on_conflict`` (the rows go through a staging table, which
            FREEZE cannot apply to); ``create=True`` with ``on_conflict`` but
            without ``conflict_columns`` (they are the primary key of a table
            that ``create=`` makes).
        TypeError: a name that is not a str.
    """
    if on_conflict is None:
        if conflict_columns is not None:
            raise ValueError("conflict_columns needs on_conflict='nothing' or 'update'")
        return None
    if not isinstance(on_conflict, str) or on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be None, 'nothing' or 'update', not {on_conflict!r}")
    if freeze:
        raise ValueError("freeze=True cannot be used with on_conflict: the rows are inserted"
                         " from a staging table, not by COPY")
    keys: Optional[Tuple[str, ...]] = None
    if conflict_columns is not None:
        names = [conflict_columns] if isinstance(conflict_columns, str) else list(conflict_columns)
        for n in names:
            if not isinstance(n, str):
                raise TypeError(f"conflict_columns must be column names (str), not"
                                f" {type(n).__name__}")
            quote_ident(n)  # empty, NUL: ValueError
        if not names:
            raise ValueError("conflict_columns is empty; pass None for the primary key")
        if len(set(names)) != len(names):
            raise ValueError(f"conflict_columns names a column twice: {names}")
        keys = tuple(names)
    if create and keys is None:
        raise ValueError("create=True with on_conflict needs conflict_columns: they are the"
                         " primary key of a table that create= makes")
    return keys


class Upsert:
    """The statements of one upsert, and their order.

    Args:
        table: the target, as :func:`zcimport._ddl.table_name` takes it (a
            string, a tuple, or a ``psycopg.sql``/``psycopg2.sql`` object it
            can render).
        names: the loaded (table) columns, in the stream's order.
        action: ``"nothing"`` or ``"update"``.
        conflict_columns: the conflict target's columns; None for the
            table's primary key (looked up by :meth:`start`).

    Drive it with :meth:`start` (before the COPY, which goes into
    :attr:`stage_table`) and :meth:`finish` (after it), or, for an
    asynchronous driver, run the statements of :meth:`primary_key_query`,
    :meth:`create_stage_sql`, :meth:`insert_sql` and :meth:`drop_stage_sql`
    in that order (:meth:`set_primary_key` takes the key's rows).
    """

    def __init__(self, table: Any, names: Sequence[str], action: str,
                 conflict_columns: Optional[Sequence[str]] = None) -> None:
        if action not in ON_CONFLICT:
            raise ValueError(f"on_conflict must be 'nothing' or 'update', not {action!r}")
        if not names:
            raise ValueError("an upsert needs at least one column")
        self.target = table_name(table)
        self.names = list(names)
        self.action = action
        self.keys: Optional[List[str]] = list(conflict_columns) if conflict_columns else None
        #: The staging table's name (in pg_temp), unique to this load.
        self.stage = f"zcimport_upsert_{uuid.uuid4().hex[:16]}"

    @property
    def stage_table(self) -> Tuple[str, str]:
        """The staging table, as a ``(schema, name)`` tuple for the COPY."""
        return ("pg_temp", self.stage)

    @property
    def _stage_sql(self) -> str:
        return f"pg_temp.{quote_ident(self.stage)}"

    def _columns(self, names: Sequence[str]) -> str:
        return ", ".join(quote_ident(n) for n in names)

    # -- the statements

    def primary_key_query(self) -> Tuple[str, Tuple[str]]:
        """The query of the table's primary key columns, and its parameters.

        The table name is cast to ``regclass``, so a missing table is the
        server's 42P01, as the load itself would report it.
        """
        return _PRIMARY_KEY_QUERY, (self.target,)

    def set_primary_key(self, rows: Sequence[Sequence[Any]]) -> None:
        """Take the primary key from :meth:`primary_key_query`'s rows.

        Raises :class:`NoConflictTargetError` when there are none.
        """
        if not rows:
            raise NoConflictTargetError(self.target)
        self.keys = [str(r[0]) for r in rows]

    def create_stage_sql(self) -> str:
        """``CREATE TEMP TABLE`` the staging table, as the target's loaded columns."""
        return (f"CREATE TEMP TABLE {self._stage_sql} ON COMMIT DROP AS SELECT"
                f" {self._columns(self.names)} FROM {self.target} WITH NO DATA")

    def insert_sql(self) -> str:
        """The ``INSERT ... SELECT ... ON CONFLICT`` from the staging table."""
        assert self.keys is not None, "the conflict target is not known yet"
        cols = self._columns(self.names)
        order = ""
        if all(k in self.names for k in self.keys):
            # key order: the index and the heap are visited in order; ctid
            # (the frame's order) breaks ties between rows of the same key
            order = f" ORDER BY {self._columns(self.keys)}, ctid"
        target = f" ON CONFLICT ({self._columns(self.keys)})"
        if self.action == "nothing":
            action = " DO NOTHING"
        else:
            updated = [n for n in self.names if n not in self.keys] or self.names
            action = " DO UPDATE SET " + ", ".join(
                f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in updated)
        return (f"INSERT INTO {self.target} ({cols}) SELECT {cols} FROM {self._stage_sql}"
                f"{order}{target}{action}")

    def check_sql(self) -> str:
        """``EXPLAIN`` of :meth:`insert_sql`, run before the COPY.

        Planning the INSERT reports, before any data is sent, what the
        INSERT itself would report: a conflict target that no unique index
        matches (42P10), an unknown conflict column (42703), missing
        privileges (42501).
        """
        return "EXPLAIN " + self.insert_sql()

    def drop_stage_sql(self) -> str:
        """``DROP TABLE`` the staging table."""
        return f"DROP TABLE {self._stage_sql}"

    # -- the statements, for any driver (zcimport._drive)

    def start_gen(self) -> Gen[None]:
        """Before the COPY: find the primary key if needed, create the staging
        table, and plan the INSERT (:meth:`check_sql`)."""
        if self.keys is None:
            query, params = self.primary_key_query()
            self.set_primary_key((yield Query(query, params))[0])
        stmt = self.create_stage_sql()
        log.debug("zcimport: %s", stmt)
        yield Query(stmt)
        yield Query(self.check_sql())

    def finish_gen(self, copied: int = -1) -> Gen[int]:
        """After the COPY: the INSERT (its row count is returned), then DROP the staging table."""
        stmt = self.insert_sql()
        log.debug("zcimport: %s", stmt)
        rows: int = (yield Query(stmt))[1]
        yield Query(self.drop_stage_sql())
        self.log_done(copied, rows)
        return rows

    def start(self, run: Run) -> None:
        """:meth:`start_gen`, run with ``run`` (a :data:`Run`)."""
        run_queries(self.start_gen(), run)

    def finish(self, run: Run, copied: int = -1) -> int:
        """:meth:`finish_gen`, run with ``run`` (a :data:`Run`)."""
        return run_queries(self.finish_gen(copied), run)

    def log_done(self, copied: int, rows: int) -> None:
        """The DEBUG line of a finished upsert."""
        log.debug("zcimport: upsert into %s: %d rows staged, %d %s (ON CONFLICT (%s) DO %s)",
                  self.target, copied, rows,
                  "inserted" if self.action == "nothing" else "inserted or updated",
                  ", ".join(self.keys or ()), self.action.upper())


def make_upsert(table: Any, names: Sequence[str], on_conflict: Optional[str],
                conflict_columns: Optional[Sequence[str]]) -> Optional[Upsert]:
    """An :class:`Upsert` for a load, or None when ``on_conflict`` is None."""
    if on_conflict is None:
        return None
    return Upsert(table, names, on_conflict, conflict_columns)


def dbapi_run(cursor: Any) -> Run:
    """A :data:`Run` for a DB-API cursor with ``%s`` placeholders (psycopg2)."""

    def run(query: Any, params: Optional[Sequence[Any]] = None) -> Tuple[List[Any], int]:
        if params is None:
            cursor.execute(query)
        else:
            cursor.execute(query, params)
        rows = list(cursor.fetchall()) if cursor.description is not None else []
        return rows, cursor.rowcount

    return run


__all__ = [
    "ConflictColumnsArg",
    "NoConflictTargetError",
    "ON_CONFLICT",
    "Run",
    "Upsert",
    "check_on_conflict",
    "dbapi_run",
    "make_upsert",
]
