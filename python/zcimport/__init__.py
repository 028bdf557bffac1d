"""zcimport: zero-copy bulk loading of pandas DataFrames into PostgreSQL.

The client encodes a DataFrame as a zcimport stream (docs/FORMAT.md) whose
column data are the frame's own NumPy buffers, and sends it with
``COPY table (columns) FROM STDIN WITH (FORMAT zcimport)``; the zcimport
server extension decodes it in place.  Example::

    import zcimport
    print(zcimport.plan(df))                      # what would be sent, and how
    zcimport.copy_dataframe(df, "public.measurements", conn)
    with open("frame.zci", "wb") as f:            # or write a .zci file
        zcimport.dump(df, f)

Supported column dtypes: NumPy bool, int8..int64, uint8..uint64, float32,
float64, datetime64 and timedelta64 (units s, ms, us, ns), pandas'
tz-aware datetime64[ns, tz], pandas' nullable Int*, UInt*, boolean and
Float* arrays (all sent without a copy); pandas' ``string`` dtype, object
columns of str, bytes, datetime.date, Decimal, dict/list (JSON), UUID,
ipaddress, datetime and timedelta values, and NumPy fixed-width strings
(packed or converted, see ``zcimport._objects``); ``category`` (a
``dictionary`` column when the categories are strings, else materialized).
In object columns None, NaN, pd.NA and pd.NaT are NULL.  Other dtypes
(period, interval, sparse, complex, NumPy float16, objects of other or
mixed kinds) raise TypeError naming the column, with a hint.

Arrow: pandas ``ArrowDtype`` columns and pyarrow-backed strings (pandas 3's
``str``, ``string[pyarrow]``), pyarrow Tables, RecordBatches and
RecordBatchReaders (streamed batch by batch), polars DataFrames, and any
object with ``__arrow_c_stream__`` or ``__arrow_c_array__``: the Arrow
buffers are sent as they are (validity bitmaps, values, offsets), see
``zcimport._src_arrow`` and docs/python.md.

Column names: the stream and the COPY column list use the frame's column
labels, or the names given by ``columns={frame_column: table_column}``.
Labels that are not str are converted with ``str()`` (the integer label 0
becomes the column "0").  Duplicate names are an error.

Table creation: ``copy_dataframe(..., create=True, if_exists=...)`` creates
the table from the frame's dtypes first (see ``zcimport._ddl``), in the
load's transaction.  ``progress=True`` draws a tqdm bar on stderr.

Upsert: ``copy_dataframe(..., on_conflict="nothing" | "update")`` loads the
frame into a temporary staging table and inserts it into the table with
``INSERT ... ON CONFLICT`` on the primary key (or ``conflict_columns``), in
one transaction (see ``zcimport._upsert``).

The command line, ``python3 -m zcimport`` (or ``zcimport``), loads CSV,
JSON lines, pickle, NumPy and ``.zci`` files: see ``zcimport.cli`` and
docs/cli.md.

Messages are logged to the ``"zcimport"`` logger (INFO when a column had
to be copied, or when a connection cannot use the zero-copy socket path).

Object columns (str, bytes, datetime.date) are packed by a C module,
``zcimport._pack``, or by its pure-Python version, ``zcimport._pack_py``,
as the environment variable ``ZCIMPORT_IMPL`` says (``c``, ``python``, or
unset: C if built); :data:`IMPL` says which is in use (see
``zcimport._packers``).
"""

from __future__ import annotations

import os
from typing import IO, Any, Mapping, Optional, Union

import pandas as pd
import psycopg

from ._api import dump, plan
from ._copy import (
    ExtensionNotInstalledError,
    ProgressArg,
    TableArg,
    copy_dataframe as _copy_dataframe,
)
from ._async import copy_dataframe_async
from ._ddl import IF_EXISTS, TableExistsError
from ._upsert import ON_CONFLICT, ConflictColumnsArg, NoConflictTargetError
from ._progress import Progress
from ._format import NullEncoding, TimeUnit, WireType
from ._plan import ColumnPlan, ColumnsArg, Plan, default_batch_rows
from ._packers import IMPL

__version__ = "0.1.0"

#: What the functions accept as a frame: a DataFrame, a mapping of column
#: names to 1-D arrays (NumPy arrays, pandas arrays or Series, pyarrow
#: arrays) of equal length, or an Arrow source: a pyarrow Table,
#: RecordBatch or RecordBatchReader, a polars DataFrame, an object with
#: ``__arrow_c_stream__`` or ``__arrow_c_array__``.
FrameArg = Union[pd.DataFrame, Mapping[Any, Any], Any]

__all__ = [
    "ColumnPlan",
    "ExtensionNotInstalledError",
    "FrameArg",
    "IF_EXISTS",
    "IMPL",
    "NoConflictTargetError",
    "NullEncoding",
    "ON_CONFLICT",
    "Plan",
    "Progress",
    "TableExistsError",
    "TimeUnit",
    "WireType",
    "copy_dataframe",
    "copy_dataframe_async",
    "default_batch_rows",
    "dump",
    "plan",
    "__version__",
]


def copy_dataframe(
    df: FrameArg,
    table: TableArg,
    conn: Union["psycopg.Connection[Any]", str],
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
    return _copy_dataframe(
        df, table, conn, columns=columns, batch_rows=batch_rows, nan_as_null=nan_as_null,
        freeze=freeze, create=create, if_exists=if_exists, progress=progress,
        on_conflict=on_conflict, conflict_columns=conflict_columns,
    )


# Registers the DataFrame accessor df.zcimport (to_postgres, plan, dump).
from . import _accessor  # noqa: E402,F401
