"""The public functions ``copy_dataframe``, ``dump`` and ``plan`` (re-exported by the package).

They live here, not in the package's ``__init__``, so that the accessor
(:mod:`zcimport._accessor`) can call them without importing the package
back: the package's modules import one way.
"""

from __future__ import annotations

import os
from typing import IO, Any, Optional, Union

import psycopg

from ._base import TableArg
from ._copy import (
    ProgressArg,
    load_other,
    load_request,
    load_request_sync,
    transport as _transport,
)
from ._encode import dump_plan as _dump_plan
from ._upsert import ConflictColumnsArg
from ._plan import ColumnsArg, Plan, make_plan as _make_plan, resolve_batch_rows as _resolve_batch_rows
from ._progress import progress_bar as _progress_bar

#: What the functions accept as a frame: a DataFrame, a mapping of column
#: names to 1-D arrays (NumPy arrays, pandas arrays or Series, pyarrow
#: arrays) of equal length, or an Arrow source: a pyarrow Table,
#: RecordBatch or RecordBatchReader, a polars DataFrame, an object with
#: ``__arrow_c_stream__`` or ``__arrow_c_array__``.
FrameArg = Any


def copy_dataframe(
    df: FrameArg,
    table: TableArg,
    conn: Union["psycopg.Connection[Any]", str, Any],
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
    freeze: bool = False,
    create: bool = False,
    if_exists: str = "fail",
    progress: ProgressArg = False,
    on_conflict: Optional[str] = None,
    conflict_columns: ConflictColumnsArg = None,
) -> int:
    """Load a DataFrame into a table with COPY ... WITH (FORMAT zcimport).

    Args:
        df: the pandas DataFrame (or a mapping of column names to 1-D
            arrays of equal length), or an Arrow source: a pyarrow Table,
            RecordBatch or RecordBatchReader (read and sent one record batch
            at a time, never whole), a polars DataFrame, any object with
            ``__arrow_c_stream__`` (read as a RecordBatchReader) or
            ``__arrow_c_array__`` (the last three need pyarrow).
        table: the target table: ``"name"``, ``"schema.name"``, a tuple
            ``(schema, name)`` or ``(name,)``, or a ``psycopg.sql.Composable``
            used as it is.  A string is split at its dots, except dots inside
            double quotes: ``'"my.schema".t'`` is schema ``my.schema``, table
            ``t``; at most one dot may separate parts.  Parts are used exactly
            as written, including case (they are quoted with
            ``psycopg.sql.Identifier``: ``"Sales"`` means the table "Sales",
            not sales).
        conn: a psycopg 3 ``Connection``: the load runs in the caller's
            current transaction (or implicitly starts one), which is not
            committed.  Or a connection string (conninfo or URL): a
            connection is opened, the load committed, and the connection
            closed (rolled back on error).
        columns: None for every column of the frame, named as in the frame;
            a list of frame columns (a subset, in that order); or a dict
            ``{frame_column: table_column}`` (a subset, renamed).  The
            COPY statement always lists the target columns explicitly, so
            table columns not listed get their defaults.
        batch_rows: rows per batch; default :func:`default_batch_rows`
            (about 4 MiB of column data per batch).
        nan_as_null: load NaN in float columns as NULL (the default) or as
            NaN.  NaT is always NULL.
        freeze: COPY with FREEZE: rows are loaded already frozen, as with
            ``COPY ... (FREEZE)``, under the same conditions (the table was
            created or truncated in the current transaction, and is not
            partitioned); otherwise the server refuses the load.  With
            ``create=True`` and a table that is new, replaced or truncated,
            these conditions hold.
        create: create the table first, from the frame's dtypes (see
            ``zcimport._ddl`` for the column types: ``int64`` is ``bigint``,
            ``float64`` ``double precision``, strings ``text``, Decimal
            ``numeric``, dict/list ``jsonb``...), with quoted identifiers.
            The DDL runs in the load's transaction, before the COPY (on an
            autocommit connection the two run in one transaction block), so
            a failed load leaves no table behind.
        if_exists: with ``create=True``, what to do when the table exists,
            as pandas' ``to_sql``: ``"fail"`` (the default: raise
            :class:`TableExistsError`), ``"replace"`` (DROP TABLE and create
            it), ``"append"`` (load into it as it is); or ``"truncate"``
            (TRUNCATE it, keeping its definition).  Any value but
            ``"fail"`` without ``create=True`` is a ValueError.
        progress: True draws a progress bar (tqdm) on stderr: rows, MB and
            rows/s, as the command line does.  A
            :class:`zcimport.Progress`, or a callable taking each batch's row
            count, is reported to instead.
        on_conflict: None (the default) for a plain load; ``"nothing"`` or
            ``"update"`` for an upsert, whose result is exactly that of
            ``INSERT INTO table (loaded columns) SELECT loaded columns FROM
            <the frame> ON CONFLICT (conflict columns) DO NOTHING`` (or ``DO
            UPDATE SET c = EXCLUDED.c`` for every loaded column that is not
            a conflict column; all of them if none is left).  The frame is
            COPYed into a temporary staging table, then inserted from it in
            the conflict columns' order, in one transaction (on an
            autocommit connection, a transaction block of its own; else the
            caller's, where a failure aborts it as any failed statement
            does).  ``freeze=True`` is a ValueError; with ``create=True``,
            ``conflict_columns`` are required and a table that is created
            (or replaced) gets them as its PRIMARY KEY.
        conflict_columns: the conflict target: a column name or a sequence
            of them, which a unique index or constraint of the table must
            cover exactly (else the server's 42P10); None (the default) for
            the table's primary key.

    Returns:
        The number of rows loaded, from the COPY command tag; for an
        upsert, the INSERT's row count: rows inserted plus rows updated
        (``"nothing"``: rows inserted).

    Raises:
        TypeError: a column has a dtype that is not supported, or an
            object column holds values of an unsupported or mixed kind
            (the message names the column and the row).
        ValueError: a value cannot be sent (a signaling NaN Decimal, a
            value JSON cannot encode...); UnicodeEncodeError (a
            ValueError) for a string with a lone surrogate.  These are
            raised while planning, before anything is sent.
        ExtensionNotInstalledError: ``SELECT zcimport.version()`` failed:
            the extension is not installed in that database.
        TableExistsError: ``create=True``, ``if_exists="fail"`` and the
            table exists (a ValueError, as in pandas; nothing was changed).
        NoConflictTargetError: ``on_conflict`` without ``conflict_columns``
            and the table has no primary key (SQLSTATE 42P10, as the server
            reports a conflict target without a unique index; nothing was
            changed).
        psycopg.Error: errors reported by the server, unchanged (with their
            sqlstate), e.g. ``BadCopyFileFormat``.

    Before the COPY, ``SELECT zcimport.version()`` runs on the connection
    (it loads the server library, which installs the COPY hook); inside a
    transaction it runs in a savepoint.  On connections without SSL or
    GSSAPI encryption the column buffers go from the frame's memory to the
    socket with sendmsg(); otherwise through libpq, which copies them.
    """
    req = load_request(df, table, columns=columns, batch_rows=batch_rows,
                       nan_as_null=nan_as_null, freeze=freeze, create=create,
                       if_exists=if_exists, progress=progress, on_conflict=on_conflict,
                       conflict_columns=conflict_columns)
    if isinstance(conn, str):
        with psycopg.connect(conn) as own:
            return load_request_sync(req, own)
    if isinstance(conn, psycopg.Connection):
        return load_request_sync(req, conn)
    rows = load_other(req, conn)  # psycopg2, SQLAlchemy; TypeError for an AsyncConnection
    if rows is not None:
        return rows
    raise TypeError(
        "conn must be a psycopg 3 Connection or a connection string,"
        f" not {type(conn).__module__}.{type(conn).__name__}"
    )


def dump(
    df: FrameArg,
    file: Union[IO[bytes], str, "os.PathLike[str]"],
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
    progress: ProgressArg = False,
) -> int:
    """Write the zcimport stream of a DataFrame to a binary file.

    The stream is exactly what :func:`copy_dataframe` sends (a ``.zci``
    file that ``psql``'s ``\\copy t (cols) FROM 'f.zci' WITH (FORMAT
    zcimport)`` can load).

    Args:
        df, columns, batch_rows, nan_as_null: as for :func:`copy_dataframe`.
        file: a binary file object, whose ``write()`` is called with each
            part of the stream (memoryviews of the column data, without a
            copy), or a path, which is created or truncated.
        progress: as for :func:`copy_dataframe`.

    Returns:
        The number of rows written.
    """
    the_plan = _make_plan(df, columns=columns, nan_as_null=nan_as_null)
    batch = _resolve_batch_rows(the_plan, batch_rows)
    with _progress_bar(progress, total_rows=the_plan.rows) as bar:
        if isinstance(file, (str, os.PathLike)):
            with open(file, "wb") as f:
                return _dump_plan(the_plan, f, batch, bar)
        return _dump_plan(the_plan, file, batch, bar)  # rows: known once sent (streams)


def plan(
    df: FrameArg,
    *,
    columns: ColumnsArg = None,
    nan_as_null: bool = True,
    conn: Optional["psycopg.Connection[Any]"] = None,
) -> Plan:
    """Describe how each column would be sent, without sending anything.

    Args:
        df, columns, nan_as_null: as for :func:`copy_dataframe`.
        conn: optionally a psycopg 3 ``Connection`` (or another
            connection ``zcimport._drivers`` handles); then
            ``Plan.transport`` says whether the zero-copy socket path or the
            libpq fallback (SSL, GSSAPI encryption) would be used.  Nothing
            is executed on it.

    A stream of record batches (RecordBatchReader, ``__arrow_c_stream__``)
    is planned from its schema, without reading a batch: ``Plan.rows`` is
    None.  An object whose ``__arrow_c_stream__`` can be called only once
    is consumed by this call, though: plan a reader you will load by
    loading it.

    Returns:
        A :class:`Plan`: a sequence of :class:`ColumnPlan` (name, dtype,
        wire type, null encoding, zero_copy, reason, packed_bytes, ...) with
        a readable ``str()`` and ``to_frame()``.

    Raises:
        TypeError, ValueError: as for :func:`copy_dataframe`, while planning.
    """
    desc = _describe_transport(conn) if conn is not None else None
    return _make_plan(df, columns=columns, nan_as_null=nan_as_null, transport=desc)


def _describe_transport(conn: Any) -> Optional[str]:
    """How COPY data would travel on conn (a connection object)."""
    if isinstance(conn, psycopg.Connection):
        return _transport(conn)[1]
    if isinstance(conn, str):
        raise TypeError(
            "plan(conn=...) describes an open connection's transport; a connection"
            " string names no connection yet: pass the psycopg, psycopg2 or"
            " SQLAlchemy connection you will load with")
    from ._drivers import describe_transport

    desc = describe_transport(conn)
    if desc is not None:
        return desc
    try:  # an object that quacks like a psycopg 3 connection
        return _transport(conn)[1]
    except AttributeError:
        raise TypeError(
            f"plan(conn=...) does not know connections of type {type(conn).__module__}."
            f"{type(conn).__name__}") from None
