"""Column planning: how each column of a frame travels in the stream.

The core (plan objects, the handler registry) is :mod:`zcimport._core`;
the handlers are in one module per source of columns.  This module
registers them, in the order they are tried, and selects a frame's
columns:

1. :mod:`zcimport._src_arrow`: pyarrow arrays, wherever they come from
   (Arrow tables and streams, polars, pandas' ``ArrowDtype`` and
   pyarrow-backed strings); it imports pyarrow only if pyarrow is loaded;
2. :mod:`zcimport._src_pandas`: pandas extension arrays;
3. :mod:`zcimport._src_numpy`: NumPy arrays.

A frame is a pandas DataFrame, a mapping of names to 1-D arrays, or an
Arrow source (:func:`zcimport._src_arrow.as_arrow_frame`,
:func:`~zcimport._src_arrow.as_arrow_stream`).  The names of the core are
importable from here too, as they were before the split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from . import _src_arrow, _src_numpy, _src_pandas
from ._core import (  # noqa: F401  (re-exported)
    MIN_BATCH_ROWS,
    TARGET_BATCH_BYTES,
    BaseMaskedArray,
    ColumnData,
    ColumnInput,
    ColumnPlan,
    ColumnsArg,
    FixedWidthData,
    Handler,
    Plan,
    PlannedColumn,
    _as_values,
    _column_name,
    _HANDLERS,
    _INT_TYPES,
    _planned,
    _Prepared,
    _series_values,
    _time_unit,
    _unsupported,
    batch_message_length,
    default_batch_rows,
    log,
    plan_column,
    register_handler,
    resolve_batch_rows,
)
from ._format import MAX_COLUMNS

for _handler in _src_arrow.HANDLERS + _src_pandas.HANDLERS + _src_numpy.HANDLERS:
    if _handler not in _HANDLERS:
        register_handler(_handler)
del _handler


def select_columns(
    df: Any, columns: ColumnsArg
) -> Tuple[List[Tuple[Any, str, Union[np.ndarray, ExtensionArray], str]], int]:
    """Resolve ``columns`` against df.

    Returns ([(label, table column name, values, dtype string), ...], nrows).
    """
    arrow = None if isinstance(df, (pd.DataFrame, Mapping)) else _src_arrow.as_arrow_frame(df)
    if isinstance(df, pd.DataFrame):
        labels = list(df.columns)
        nrows = len(df)

        def position(label: Any) -> int:
            try:
                loc = df.columns.get_loc(label)
            except KeyError:
                raise KeyError(f"column {label!r} is not in the DataFrame") from None
            if not isinstance(loc, (int, np.integer)):
                raise ValueError(f"column {label!r} appears more than once in the DataFrame")
            return int(loc)

        def fetch(pos: int) -> Tuple[Any, str]:
            s = df.iloc[:, pos]
            return _series_values(s), str(s.dtype)

    elif isinstance(df, Mapping):
        labels = list(df.keys())
        arrays = {k: _as_values(v) for k, v in df.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        nrows = lengths.pop() if lengths else 0

        def position(label: Any) -> int:
            try:
                return labels.index(label)
            except ValueError:
                raise KeyError(f"column {label!r} is not in the mapping") from None

        def fetch(pos: int) -> Tuple[Any, str]:
            a: Any = arrays[labels[pos]]  # a NumPy, pandas or pyarrow array
            return a, str(a.dtype if hasattr(a, "dtype") else a.type)  # pyarrow: .type

    elif arrow is not None:
        table = arrow
        labels = list(table.column_names)
        nrows = table.num_rows

        def position(label: Any) -> int:
            found = [i for i, n in enumerate(labels) if n == label]
            if not found:
                raise KeyError(f"column {label!r} is not in the {type(df).__name__}")
            if len(found) > 1:
                raise ValueError(f"column {label!r} appears more than once in the"
                                 f" {type(df).__name__}")
            return found[0]

        def fetch(pos: int) -> Tuple[Any, str]:
            col = table.column(pos)
            return col, str(col.type)

    else:
        raise TypeError(
            f"expected a pandas DataFrame, a mapping of column names to arrays, or an"
            f" Arrow table or stream (pyarrow Table, RecordBatch, RecordBatchReader,"
            f" a polars DataFrame, an object with __arrow_c_stream__ or"
            f" __arrow_c_array__), not {type(df).__module__}.{type(df).__name__}"
        )

    picks: List[Tuple[int, Any]]  # (position, target name)
    if columns is None:
        picks = [(i, label) for i, label in enumerate(labels)]
    elif isinstance(columns, Mapping):
        picks = [(position(k), v) for k, v in columns.items()]
    elif isinstance(columns, (str, bytes)):
        raise TypeError("columns must be a list of column names or a dict, not a string")
    else:
        picks = [(position(k), k) for k in columns]

    if not picks:
        raise ValueError("nothing to load: the DataFrame (or the selection) has no columns")
    if len(picks) > MAX_COLUMNS:
        raise ValueError(f"{len(picks)} columns; the stream format allows at most {MAX_COLUMNS}")

    out = []
    seen: Dict[str, Any] = {}
    for pos, target in picks:
        name = _column_name(target)
        if name in seen:
            raise ValueError(f"duplicate column name {name!r}")
        seen[name] = pos
        values, dtype = fetch(pos)
        if getattr(values, "ndim", 1) != 1:
            raise ValueError(f"column {name!r} is not 1-D")
        if len(values) != nrows:
            raise ValueError(f"column {name!r} has {len(values)} rows, expected {nrows}")
        out.append((labels[pos], name, values, dtype))
    return out, nrows


def make_plan(
    df: Any,
    *,
    columns: ColumnsArg = None,
    nan_as_null: bool = True,
    transport: Optional[str] = None,
) -> Plan:
    """Plan every selected column (see :func:`zcimport.plan`).

    A stream of Arrow record batches (a ``pyarrow.RecordBatchReader``, an
    object with ``__arrow_c_stream__`` that is not a table) is planned from
    its schema, without reading a batch: a :class:`StreamPlan`.
    """
    reader = _src_arrow.as_arrow_stream(df)
    if reader is not None:
        return StreamPlan(reader, columns=columns, nan_as_null=nan_as_null,
                          transport=transport)
    selected, nrows = select_columns(df, columns)
    if nrows > 2**63 - 1:  # pragma: no cover
        raise ValueError("too many rows")
    planned = []
    for label, name, values, dtype in selected:
        inp = ColumnInput(source=label, name=name, values=values, dtype=dtype,
                          nan_as_null=bool(nan_as_null))
        planned.append(plan_column(inp))
    planned = note_cuts(planned, nrows)
    return Plan(planned, nrows, transport)


def note_cuts(planned: List[PlannedColumn], nrows: int) -> List[PlannedColumn]:
    """Record in each column's plan the copies that the batch boundaries
    imposed by the other columns' chunks will take (bitmaps re-packed)."""
    cuts = Plan(planned, nrows).boundaries()
    out = []
    for c in planned:
        reason, nbytes = c.data.cut_copies(cuts)
        if reason:
            p = c.plan
            c = dataclasses.replace(c, plan=dataclasses.replace(
                p, zero_copy=False, reason=f"{p.reason}; {reason}" if p.reason else reason,
                packed_bytes=p.packed_bytes + nbytes))
        out.append(c)
    return out


class StreamPlan(Plan):
    """The plan of a stream of Arrow record batches, from its schema.

    Nothing is read from the stream until it is sent (by
    :func:`zcimport._encode.iter_chunks`, once): the header's columns are
    the schema's (a nullable field gets a validity bitmap, all ones in a
    batch without NULLs), and each record batch is planned and sent in turn,
    never the whole stream at once.  ``rows`` is None.
    """

    def __init__(self, reader: Any, *, columns: ColumnsArg = None, nan_as_null: bool = True,
                 transport: Optional[str] = None) -> None:
        header = make_plan(reader.schema.empty_table(), columns=columns,
                           nan_as_null=nan_as_null)
        cols = _src_arrow.stream_header(header.planned_columns, reader.schema)
        super().__init__(cols, None, transport)
        self.reader = reader
        self.columns = columns
        self.nan_as_null = bool(nan_as_null)
        self._taken = False

    @property
    def streamed(self) -> bool:
        return True

    def take_reader(self) -> Any:
        """The reader, once: a stream is read only once."""
        if self._taken:
            raise RuntimeError("this stream of record batches has already been sent")
        self._taken = True
        return self.reader


__all__ = [
    "MIN_BATCH_ROWS",
    "TARGET_BATCH_BYTES",
    "BaseMaskedArray",
    "ColumnData",
    "ColumnInput",
    "ColumnPlan",
    "ColumnsArg",
    "FixedWidthData",
    "Handler",
    "Plan",
    "PlannedColumn",
    "StreamPlan",
    "batch_message_length",
    "default_batch_rows",
    "make_plan",
    "note_cuts",
    "plan_column",
    "register_handler",
    "resolve_batch_rows",
    "select_columns",
]
