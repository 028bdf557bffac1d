"""The core of column planning: the plan objects and the handler registry.

Planning looks at every column once, before anything is sent, and decides
its wire type, null encoding and flags, and which buffers hold its stream
data.  Those buffers are the column's own memory whenever possible (zero
copy); a column is copied once only when its memory cannot be sent as it
is (strided, big-endian, a bitmap that does not start on a byte...), and
the plan says so.

This module imports no handler.  Each source of columns is a handler
module that imports this one and exports its handlers:

- :mod:`zcimport._src_numpy`: NumPy arrays (numbers, datetime64,
  timedelta64, fixed-width strings, objects);
- :mod:`zcimport._src_pandas`: pandas extension arrays (nullable masked
  arrays, tz-aware datetimes, ``string``/``str``, categoricals);
- :mod:`zcimport._src_arrow`: Apache Arrow arrays (pyarrow, pandas'
  ``ArrowDtype`` and pyarrow-backed strings, Arrow tables and streams);

and :mod:`zcimport._objects` packs object columns for the first two.
:mod:`zcimport._plan` registers the handlers, in order, and selects a
frame's columns.

Adding a dtype means adding a *handler*: a function that receives a
:class:`ColumnInput` and returns a :class:`PlannedColumn` (or ``None`` to
let the next handler try), registered with :func:`register_handler`.  The
handler chooses a :class:`ColumnData` subclass that produces the column's
buffers for a batch: :class:`FixedWidthData` for fixed-width values with an
optional byte mask.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Hashable, Mapping
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
    overload,
)

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from ._format import (
    FLAG_SENTINEL_NULL,
    MAX_COUNT,
    MAX_MESSAGE_LEN,
    MAX_NAME_LEN,
    MAX_TZ_LEN,
    MESSAGE_FIXED_LEN,
    NullEncoding,
    TimeUnit,
    WireType,
    align8,
)

try:  # pandas >= 1.2; the home of IntegerArray, BooleanArray, FloatingArray
    from pandas.core.arrays.masked import BaseMaskedArray as BaseMaskedArray
except ImportError:  # pragma: no cover
    BaseMaskedArray = None  # type: ignore[assignment,misc,unused-ignore]

log = logging.getLogger("zcimport")

#: What ``columns=`` accepts: all columns, a list of frame columns, or a
#: mapping of frame columns to table columns.  (The mapping's keys are any
#: hashable labels: Mapping is invariant in its key type, and
#: ``Mapping[Hashable, str]`` would refuse a ``dict[str, str]``.)
ColumnsArg = Union[None, Sequence[Hashable], Mapping[Any, Any]]

#: Default batch size target: about this many bytes of column data.
TARGET_BATCH_BYTES = 4 << 20
#: Default batches have at least this many rows.
MIN_BATCH_ROWS = 1024


# --------------------------------------------------------------------------
# Public plan objects
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """How one column is sent.

    Attributes:
        name: the table column it is loaded into (the name in the stream and
            in the COPY column list).
        source: the DataFrame's column label it comes from.
        dtype: the column's pandas/NumPy dtype, as a string.
        wire_type: the stream's wire type (``"int64"``, ``"timestamptz"``...).
        nulls: the null encoding: ``"none"``, ``"bitmap"`` or ``"bytemask"``.
        sentinel: whether NaN (floats) or NaT (times) is loaded as NULL.
        unit: time unit of timestamp/timestamptz/duration columns, else "".
        tz: the time zone name of a timestamptz column (informational), else "".
        zero_copy: True when every buffer of the column is sent straight
            from the column's own memory.
        reason: why the column is not zero-copy ("" when it is).
        packed_bytes: bytes the client had to create for this column
            (0 when zero-copy): copies and converted arrays; for packed
            columns (utf8, binary, date32 from objects) the packed buffers
            of the whole column as if it were sent in one batch (mask, 8
            bytes of offsets per row plus 8, data), which are in fact
            created one batch at a time and released after it is sent;
            for dictionary columns, the packed dictionary.
    """

    name: str
    source: Any
    dtype: str
    wire_type: str
    nulls: str
    sentinel: bool
    unit: str
    tz: str
    zero_copy: bool
    reason: str
    packed_bytes: int


class ColumnData:
    """The stream buffers of one column, batch by batch (abstract).

    Subclasses produce, for rows ``[start, stop)``, the column's buffers in
    stream order (validity first, then values, or offsets and data), as
    byte-format memoryviews.  They must not copy data that already has the
    right layout: slicing a contiguous NumPy array is a view.
    """

    #: Stream bytes per row (an estimate for variable-width data); used to
    #: size the default batch.
    row_width: int = 0

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        """The column's buffers for rows [start, stop)."""
        raise NotImplementedError

    def buffer_lengths(self, nrows: int) -> List[int]:
        """Lengths of the buffers of a batch of nrows rows (fixed width)."""
        raise NotImplementedError

    def arrays(self) -> Tuple[np.ndarray, ...]:
        """The whole-column arrays the buffers are sliced from (for tests)."""
        return ()

    def dictionary(self) -> Optional[Tuple[int, List[memoryview]]]:
        """A dictionary column's dictionary: (entries, [offsets, data]).

        The encoder sends it once, before the first batch; None for other
        columns.
        """
        return None

    def boundaries(self) -> Sequence[int]:
        """Rows, other than 0, where a new chunk of the column's memory starts.

        The encoder never lets a batch straddle one: every batch lies inside
        one chunk of every column (Arrow's ChunkedArray).  Empty for columns
        in one piece.
        """
        return ()

    def dictionary_key(self, start: int) -> Any:
        """Identifies the dictionary that the batch starting at row ``start``
        uses (chunked dictionary columns have one per chunk): when it
        differs from the previous batch's, the encoder sends
        :meth:`dictionary_at` before the batch."""
        return 0

    def dictionary_at(self, start: int) -> Optional[Tuple[int, List[memoryview]]]:
        """The dictionary of the batch starting at row ``start``."""
        return self.dictionary()

    def cut_copies(self, cuts: Sequence[int]) -> Tuple[str, int]:
        """What batches starting at ``cuts`` (rows where some column's chunk
        starts) would copy of this column: (reason, bytes), or ("", 0)."""
        return "", 0

    #: True when the column sends bit-packed buffers (a validity bitmap,
    #: bitbool values): batches should then start on multiples of 8 rows.
    bit_packed: bool = False


def _byte_view(arr: np.ndarray) -> memoryview:
    """A byte-format memoryview of a contiguous 1-D array (no copy)."""
    if arr.dtype.kind in "mM":
        arr = arr.view(np.int64)
    return memoryview(arr).cast("B")


class FixedWidthData(ColumnData):
    """Fixed-width values, optionally preceded by a byte mask.

    ``arrays`` are 1-D, C-contiguous, little-endian NumPy arrays of equal
    length: the mask first (if any), then the values.
    """

    def __init__(self, *arrays: np.ndarray) -> None:
        for a in arrays:
            if a.ndim != 1 or not a.flags.c_contiguous:
                raise ValueError("FixedWidthData needs 1-D contiguous arrays")
        self._arrays = arrays
        self.row_width = sum(a.dtype.itemsize for a in arrays)

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        return [_byte_view(a[start:stop]) for a in self._arrays]

    def buffer_lengths(self, nrows: int) -> List[int]:
        return [nrows * a.dtype.itemsize for a in self._arrays]

    def arrays(self) -> Tuple[np.ndarray, ...]:
        return self._arrays


@dataclasses.dataclass
class PlannedColumn:
    """A column's plan plus what the encoder needs to send it."""

    plan: ColumnPlan
    wire_type: WireType
    nulls: NullEncoding
    flags: int
    unit: int
    tz: str
    data: ColumnData
    #: Descriptor bytes 4 and 5: a dictionary column's index and value wire
    #: types; a decimal column's precision and scale (as an unsigned byte).
    index_type: int = 0
    value_type: int = 0
    #: For object columns, the kind of their values (``"str"``, ``"bytes"``,
    #: ``"date"``, ``"datetime"``, ``"timedelta"``, ``"decimal"``, ``"json"``,
    #: ``"uuid"``, ``"ip"``, or ``"null"`` when every value is missing); ""
    #: for other columns.  :mod:`zcimport._ddl` uses it to pick a column type.
    value_kind: str = ""
    #: The PostgreSQL type ``create=True`` gives the column, when the
    #: source knows better than the wire type (Arrow: ``numeric(10,2)``,
    #: ``time``...); "" to let :mod:`zcimport._ddl` decide from the wire type.
    pg_type: str = ""

    @property
    def name(self) -> str:
        """The table column name (stream column name)."""
        return self.plan.name


class Plan(Sequence[ColumnPlan]):
    """The plan of a load: a sequence of :class:`ColumnPlan`, one per column.

    Attributes:
        rows: number of rows of the frame (None for a stream of Arrow
            record batches, whose length is known once it has been sent).
        row_width: stream bytes per row, all columns together.
        batch_rows: rows per batch of the default batch size
            (see :func:`default_batch_rows`).
        transport: how COPY data would travel on the connection given to
            :func:`zcimport.plan` (``"socket"``, or ``"libpq"`` with the
            reason), or ``None`` when no connection was given.
    """

    def __init__(
        self,
        columns: Sequence[PlannedColumn],
        rows: Optional[int],
        transport: Optional[str] = None,
    ) -> None:
        self._columns: Tuple[PlannedColumn, ...] = tuple(columns)
        self.rows = rows
        self.row_width = sum(c.data.row_width for c in self._columns)
        self.batch_rows = default_batch_rows(self.row_width)
        if any(c.data.bit_packed for c in self._columns):
            # bitmaps of every batch start on a byte of the column's own
            self.batch_rows = max(8, self.batch_rows & ~7)
        self.transport = transport

    @property
    def streamed(self) -> bool:
        """True for a stream of record batches (an Arrow RecordBatchReader):
        the plan is its schema's, and the batches are read as they are sent."""
        return False

    def boundaries(self) -> List[int]:
        """Rows where a chunk of some column starts (besides 0), sorted."""
        cuts: Set[int] = set()
        for c in self._columns:
            cuts.update(c.data.boundaries())
        return sorted(x for x in cuts if 0 < x < (self.rows or 0))

    @property
    def planned_columns(self) -> Tuple[PlannedColumn, ...]:
        """The columns with their data, for the encoder."""
        return self._columns

    @property
    def zero_copy(self) -> bool:
        """True when no column needed a copy."""
        return all(c.plan.zero_copy for c in self._columns)

    @property
    def packed_bytes(self) -> int:
        """Bytes the client created, all columns together."""
        return sum(c.plan.packed_bytes for c in self._columns)

    @overload
    def __getitem__(self, i: int) -> ColumnPlan:
        ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[ColumnPlan]:
        ...

    def __getitem__(
        self, i: Union[int, slice]
    ) -> Union[ColumnPlan, Sequence[ColumnPlan]]:
        if isinstance(i, slice):
            return [c.plan for c in self._columns[i]]
        return self._columns[i].plan

    def __len__(self) -> int:
        return len(self._columns)

    def __iter__(self) -> Iterator[ColumnPlan]:
        return (c.plan for c in self._columns)

    def __repr__(self) -> str:
        return (
            f"<zcimport.Plan {len(self)} columns, {self.rows} rows,"
            f" zero_copy={self.zero_copy}>"
        )

    def __str__(self) -> str:
        head = ["column", "dtype", "wire", "nulls", "sentinel", "zero_copy",
                "packed_bytes", "reason"]
        rows = []
        for c in self._columns:
            p = c.plan
            wire = p.wire_type
            if p.unit:
                wire += f"[{p.unit}" + (f", {p.tz}]" if p.tz else "]")
            if c.wire_type == WireType.DICTIONARY:
                wire += f"[{WireType(c.index_type).wire_name}]"
            elif c.wire_type in (WireType.DECIMAL128, WireType.DECIMAL256):
                wire += f"({c.index_type},{c.value_type - 256 if c.value_type > 127 else c.value_type})"
            rows.append([
                p.name, p.dtype, wire, p.nulls, "yes" if p.sentinel else "no",
                "yes" if p.zero_copy else "no", f"{p.packed_bytes:,}",
                p.reason,
            ])
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        right = {6}  # numbers

        def fmt(r: List[str]) -> str:
            cells = [c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths))]
            return "  ".join(cells).rstrip()

        count = "a stream of record batches" if self.rows is None else f"{self.rows:,} rows"
        title = (
            f"zcimport plan: {len(self)} column{'s' if len(self) != 1 else ''},"
            f" {count}, {self.row_width} bytes/row,"
            f" {self.batch_rows:,} rows/batch"
        )
        if self.transport is not None:
            title += f", transport: {self.transport}"
        lines = [title, fmt(head), fmt(["-" * w for w in widths])]
        lines += [fmt(r) for r in rows]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The plan as a DataFrame, one row per column."""
        fields = [f.name for f in dataclasses.fields(ColumnPlan)]
        return pd.DataFrame(
            [[getattr(p, f) for f in fields] for p in self], columns=fields
        )


def default_batch_rows(row_width: int) -> int:
    """Rows per batch when ``batch_rows`` is not given.

    A batch carries about 4 MiB of column data: ``max(1024, 4 MiB //
    row_width)`` rows, where row_width is the number of stream bytes per row
    (all values and masks).  Batches of a few MiB keep the per-batch
    overhead (one message header, one sendmsg() per CopyData message, one
    batch of server-side work) negligible while bounding server memory, which
    holds one whole batch.  The result is also capped at the format's limit
    of 2**31 - 1 rows per batch.
    """
    rows = max(MIN_BATCH_ROWS, TARGET_BATCH_BYTES // max(row_width, 1))
    return min(rows, MAX_COUNT)


def batch_message_length(columns: Sequence[PlannedColumn], nrows: int) -> int:
    """Length in bytes of a batch message of nrows rows."""
    total = MESSAGE_FIXED_LEN
    for c in columns:
        for n in c.data.buffer_lengths(nrows):
            total += 8 + align8(n)
    return total


def resolve_batch_rows(plan: Plan, batch_rows: Optional[int]) -> int:
    """Validate ``batch_rows`` (or pick the default) for this plan."""
    if batch_rows is None:
        return plan.batch_rows
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, (int, np.integer)):
        raise TypeError(f"batch_rows must be an int, not {type(batch_rows).__name__}")
    batch_rows = int(batch_rows)
    if not 1 <= batch_rows <= MAX_COUNT:
        raise ValueError(f"batch_rows must be between 1 and {MAX_COUNT}, not {batch_rows}")
    n = batch_rows if plan.rows is None else min(batch_rows, plan.rows)
    if batch_message_length(plan.planned_columns, n) > MAX_MESSAGE_LEN:
        raise ValueError(
            f"batch_rows={batch_rows} makes batches larger than 1 GiB,"
            " the server's limit for one message"
        )
    return batch_rows


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


@dataclasses.dataclass
class ColumnInput:
    """What a handler sees of one column."""

    source: Any  # the frame's column label
    name: str  # the table column name
    values: Union[np.ndarray, ExtensionArray]
    dtype: str  # str() of the pandas dtype
    nan_as_null: bool


Handler = Callable[[ColumnInput], Optional[PlannedColumn]]
_HANDLERS: List[Handler] = []


def register_handler(handler: Handler) -> Handler:
    """Add a column handler; handlers are tried in registration order."""
    _HANDLERS.append(handler)
    return handler


class _Prepared:
    """Arrays made sendable, with the copies it took."""

    def __init__(self) -> None:
        self.reasons: List[str] = []
        self.packed = 0

    def array(self, arr: np.ndarray, what: str, name: str) -> np.ndarray:
        """arr as a 1-D, C-contiguous, little-endian array; copies if needed."""
        if arr.ndim != 1:
            raise ValueError(f"column {name!r}: {what} must be 1-D, not {arr.ndim}-D")
        bo = arr.dtype.byteorder
        big = bo == ">" or (bo == "=" and sys.byteorder == "big")
        if big:
            out = arr.astype(arr.dtype.newbyteorder("<"))
            reason = f"{what} is big-endian ({arr.dtype.str})"
        elif not arr.flags.c_contiguous:
            out = np.ascontiguousarray(arr)
            reason = (f"{what} is not contiguous (stride {arr.strides[0]} bytes"
                      f" for {arr.dtype.itemsize}-byte items)")
        else:
            return arr
        self.reasons.append(reason)
        self.packed += out.nbytes
        log.info("zcimport: column %r copied (%d bytes): %s", name, out.nbytes, reason)
        return out

    def note(self, reason: str, nbytes: int, name: str) -> None:
        """Record that the column's data is packed or converted (nbytes)."""
        self.reasons.append(reason)
        self.packed += nbytes
        log.info("zcimport: column %r: %s (%d bytes)", name, reason, nbytes)


_INT_TYPES = {
    ("i", 1): WireType.INT8,
    ("i", 2): WireType.INT16,
    ("i", 4): WireType.INT32,
    ("i", 8): WireType.INT64,
    ("u", 1): WireType.UINT8,
    ("u", 2): WireType.UINT16,
    ("u", 4): WireType.UINT32,
    ("u", 8): WireType.UINT64,
    ("f", 4): WireType.FLOAT32,
    ("f", 8): WireType.FLOAT64,
    ("b", 1): WireType.BOOL,
}

_UNITS = {"s": TimeUnit.S, "ms": TimeUnit.MS, "us": TimeUnit.US, "ns": TimeUnit.NS}


def _numeric_wire_type(dtype: np.dtype) -> Optional[WireType]:
    return _INT_TYPES.get((dtype.kind, dtype.itemsize))


def _time_unit(dtype: np.dtype, inp: ColumnInput) -> TimeUnit:
    unit, count = np.datetime_data(dtype)
    if count != 1 or unit not in _UNITS:
        raise _unsupported(inp, f"time unit {count if count != 1 else ''}{unit}"
                           " is not supported (only s, ms, us, ns)")
    return _UNITS[unit]


def _unsupported(inp: ColumnInput, detail: str = "") -> TypeError:
    msg = f"column {inp.name!r} has dtype {inp.dtype}, which zcimport does not support"
    if detail:
        msg += f": {detail}"
    else:
        msg += _dtype_hint(inp)
    return TypeError(msg)


def _dtype_hint(inp: ColumnInput) -> str:
    """A hint for a dtype no handler accepts."""
    dtype = getattr(inp.values, "dtype", None)
    if isinstance(dtype, pd.PeriodDtype):
        return ("; convert it first, e.g. with .dt.to_timestamp() (timestamp) or"
                " .astype(str) (text)")
    if isinstance(dtype, pd.IntervalDtype):
        return "; convert it first, e.g. with .astype(str), or load .array.left and .array.right"
    if isinstance(dtype, pd.SparseDtype):
        return "; densify it first with .sparse.to_dense()"
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        return "; load its real and imaginary parts (np.real, np.imag) as two columns"
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return "; convert it first, e.g. with .astype('float32')"
    return "; convert it first, e.g. with .astype(str) to load text"


def _planned(
    inp: ColumnInput,
    prep: _Prepared,
    wire: WireType,
    data: ColumnData,
    *,
    nulls: NullEncoding = NullEncoding.NONE,
    sentinel: bool = False,
    unit: Optional[TimeUnit] = None,
    tz: str = "",
) -> PlannedColumn:
    plan = ColumnPlan(
        name=inp.name,
        source=inp.source,
        dtype=inp.dtype,
        wire_type=wire.wire_name,
        nulls=nulls.wire_name,
        sentinel=sentinel,
        unit=unit.wire_name if unit is not None else "",
        tz=tz,
        zero_copy=not prep.reasons,
        reason="; ".join(prep.reasons),
        packed_bytes=prep.packed,
    )
    return PlannedColumn(
        plan=plan,
        wire_type=wire,
        nulls=nulls,
        flags=FLAG_SENTINEL_NULL if sentinel else 0,
        unit=int(unit) if unit is not None else 0,
        tz=tz,
        data=data,
    )


def plan_column(inp: ColumnInput) -> PlannedColumn:
    """Plan one column: the first handler that accepts it decides."""
    for handler in _HANDLERS:
        col = handler(inp)
        if col is not None:
            return col
    raise _unsupported(inp)



def _column_name(label: Any) -> str:
    name = label if isinstance(label, str) else str(label)
    encoded = name.encode("utf-8")  # raises on lone surrogates
    if len(encoded) > MAX_NAME_LEN:
        raise ValueError(
            f"column name {name[:40]!r}... is {len(encoded)} bytes long;"
            f" the limit is {MAX_NAME_LEN}"
        )
    return name


def _series_values(series: pd.Series) -> Union[np.ndarray, ExtensionArray]:
    """The column's own array: an ndarray for NumPy dtypes, else the EA."""
    if isinstance(series.dtype, np.dtype):
        return series.to_numpy(copy=False)
    return series.array


def _as_values(obj: Any) -> Union[np.ndarray, ExtensionArray]:
    if isinstance(obj, pd.Series):
        return _series_values(obj)
    if isinstance(obj, pd.Index):
        return _series_values(obj.to_series())
    if isinstance(obj, ExtensionArray):
        # NumPy-backed arrays (PandasArray, naive DatetimeArray...): their
        # ndarray, without a copy.
        nd = getattr(obj, "_ndarray", None)
        if isinstance(nd, np.ndarray) and (
            isinstance(obj.dtype, np.dtype)
            or type(obj).__name__ in ("PandasArray", "NumpyExtensionArray")
        ):
            return nd
        return obj
    if _is_arrow_array(obj):
        return obj  # pyarrow Array or ChunkedArray: its own buffers
    to_arrow = getattr(obj, "to_arrow", None)
    if callable(to_arrow) and type(obj).__module__.startswith("polars"):
        return to_arrow()  # a polars Series (zero copy for most types)
    return np.asarray(obj)


def _is_arrow_array(obj: Any) -> bool:
    """A pyarrow Array or ChunkedArray (without importing pyarrow)."""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(obj, (pa.Array, pa.ChunkedArray))


