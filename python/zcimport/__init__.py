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
(period, interval, sparse, complex, float16, objects of other or mixed
kinds) raise TypeError naming the column, with a hint.

Column names: the stream and the COPY column list use the frame's column
labels, or the names given by ``columns={frame_column: table_column}``.
Labels that are not str are converted with ``str()`` (the integer label 0
becomes the column "0").  Duplicate names are an error.

Messages are logged to the ``"zcimport"`` logger (INFO when a column had
to be copied, or when a connection cannot use the zero-copy socket path).
"""

from __future__ import annotations

import os
from typing import IO, Any, Mapping, Optional, Union

import pandas as pd
import psycopg

from ._copy import (
    ExtensionNotInstalledError,
    TableArg,
    copy_dataframe as _copy_dataframe,
    transport as _transport,
)
from ._encode import dump_plan as _dump_plan
from ._format import NullEncoding, TimeUnit, WireType
from ._plan import (
    ColumnPlan,
    ColumnsArg,
    Plan,
    default_batch_rows,
    make_plan as _make_plan,
    resolve_batch_rows as _resolve_batch_rows,
)

__version__ = "0.1.0"

#: What the functions accept as a frame: a DataFrame, or a mapping of column
#: names to 1-D arrays (NumPy arrays, pandas arrays or Series) of equal length.
FrameArg = Union[pd.DataFrame, Mapping[Any, Any]]

__all__ = [
    "ColumnPlan",
    "ExtensionNotInstalledError",
    "FrameArg",
    "NullEncoding",
    "Plan",
    "TimeUnit",
    "WireType",
    "copy_dataframe",
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
) -> int:
    """Load a DataFrame into a table with COPY ... WITH (FORMAT zcimport).

    Args:
        df: the pandas DataFrame (or a mapping of column names to 1-D
            arrays of equal length).
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
            partitioned); otherwise the server refuses the load.

    Returns:
        The number of rows loaded, from the COPY command tag.

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
        freeze=freeze,
    )


def dump(
    df: FrameArg,
    file: Union[IO[bytes], str, "os.PathLike[str]"],
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
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

    Returns:
        The number of rows written.
    """
    the_plan = _make_plan(df, columns=columns, nan_as_null=nan_as_null)
    batch = _resolve_batch_rows(the_plan, batch_rows)
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            return _dump_plan(the_plan, f, batch)
    return _dump_plan(the_plan, file, batch)


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
        conn: optionally a psycopg 3 ``Connection``; then ``Plan.transport``
            says whether the zero-copy socket path or the libpq fallback
            (SSL, GSSAPI encryption) would be used.  Nothing is executed on
            it.

    Returns:
        A :class:`Plan`: a sequence of :class:`ColumnPlan` (name, dtype,
        wire type, null encoding, zero_copy, reason, packed_bytes, ...) with
        a readable ``str()`` and ``to_frame()``.

    Raises:
        TypeError: a column has a dtype that is not supported, or an
            object column holds values of an unsupported or mixed kind
            (the message names the column and the row).
        ValueError: a value cannot be sent (a signaling NaN Decimal, a
            value JSON cannot encode...); UnicodeEncodeError (a
            ValueError) for a string with a lone surrogate.  These are
            raised while planning, before anything is sent.
    """
    desc = _transport(conn)[1] if conn is not None else None
    return _make_plan(df, columns=columns, nan_as_null=nan_as_null, transport=desc)
