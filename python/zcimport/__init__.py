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

from pathlib import Path

from ._api import FrameArg, copy_dataframe, dump, plan
from ._base import ExtensionNotInstalledError, TableArg
from ._copy import ProgressArg
from ._async import copy_dataframe_async
from ._ddl import IF_EXISTS, TableExistsError
from ._upsert import ON_CONFLICT, ConflictColumnsArg, NoConflictTargetError
from ._progress import Progress
from ._format import NullEncoding, TimeUnit, WireType
from ._plan import ColumnPlan, ColumnsArg, Plan, default_batch_rows
from ._packers import IMPL

#: The version of zcimport, server and client: the one place it is written
#: is zcimport/VERSION, next to this file (pyproject.toml's version and the
#: extension's, through the top-level Makefile, come from it too).
__version__ = (Path(__file__).with_name("VERSION")).read_text(encoding="ascii").strip()


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


# Registers the DataFrame accessor df.zcimport (to_postgres, plan, dump).
from . import _accessor  # noqa: E402,F401
