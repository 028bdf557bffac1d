"""The public functions ``dump`` and ``plan`` (re-exported by the package).

They live here, not in the package's ``__init__``, so that the accessor
(:mod:`zcimport._accessor`) can call them without importing the package
back: the package's modules import one way.
"""

from __future__ import annotations

import os
from typing import IO, Any, Optional, Union

import psycopg

from ._copy import ProgressArg, transport as _transport
from ._encode import dump_plan as _dump_plan
from ._plan import ColumnsArg, Plan, make_plan as _make_plan, resolve_batch_rows as _resolve_batch_rows
from ._progress import progress_bar as _progress_bar

#: What the functions accept as a frame: a DataFrame, a mapping of column
#: names to 1-D arrays (NumPy arrays, pandas arrays or Series, pyarrow
#: arrays) of equal length, or an Arrow source: a pyarrow Table,
#: RecordBatch or RecordBatchReader, a polars DataFrame, an object with
#: ``__arrow_c_stream__`` or ``__arrow_c_array__``.
FrameArg = Any


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
        TypeError: a column has a dtype that is not supported, or an
            object column holds values of an unsupported or mixed kind
            (the message names the column and the row).
        ValueError: a value cannot be sent (a signaling NaN Decimal, a
            value JSON cannot encode...); UnicodeEncodeError (a
            ValueError) for a string with a lone surrogate.  These are
            raised while planning, before anything is sent.
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
