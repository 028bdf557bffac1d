"""Arrow columns: pyarrow arrays sent from their own buffers.

The handler takes a ``pyarrow.Array`` or ``ChunkedArray`` (from an Arrow
table, record batch or stream, a polars frame, or a pandas column of
``ArrowDtype`` or of pyarrow-backed strings, ``str``/``string[pyarrow]``)
and sends its validity bitmap and its values, offsets and data buffers as
memoryviews of the Arrow buffers, without a copy and without a Python
object per value:

======================================  ============================  ==========
Arrow type                              wire type                     sent
======================================  ============================  ==========
int8..int64, uint8..uint64              the same                      as it is
float32, float64                        the same                      as it is
float16                                 float32                       a copy
bool                                    bitbool (bits, LSB first)     as it is
timestamp[unit], timestamp[unit, tz]    timestamp, timestamptz        as it is
date32, date64                          date32, date64                as it is
time32[s|ms], time64[us|ns]             time32, time64                as it is
duration[unit]                          duration                      as it is
decimal128(p, s), decimal256(p, s)      decimal128, decimal256        as it is
string, binary                          utf8_32, binary_32            as it is
large_string, large_binary              utf8, binary                  as it is
string_view, binary_view                utf8, binary (large_*)        a copy
dictionary<string|large_string>         dictionary (codes as they     as it is
                                        are, any int/uint width)
dictionary<other values>                the values' type              decoded
null                                    null                          nothing
======================================  ============================  ==========

NULLs travel as Arrow's validity bitmap (null encoding 1); a chunk without
one sends a shared buffer of ones.  Var-width columns carry the *based
offsets* flag: each batch's offsets are the Arrow offsets as they are, and
its data buffer runs from ``offsets[0]`` to ``offsets[n]``, so a slice sends
only its own bytes.  A fixed-width slice starts at its byte offset.

What is copied, and recorded in the plan's ``reason``:

- a validity bitmap or bitbool buffer that would start at a row that is
  not a multiple of 8 of its buffer (an array offset, or a batch that
  starts inside a chunk at another column's chunk boundary): re-packed
  per batch (n/8 bytes);
- float16 (cast to float32), string_view/binary_view (cast once by
  pyarrow's C++ cast to large_string/large_binary, no Python objects),
  dictionaries of other value types (decoded with pyarrow);
- a ``string`` dictionary's int32 offsets, widened to the int64 offsets of
  dictionary messages;
- on a big-endian host, every fixed-width buffer (byte-swapped).

Batches never straddle chunks: the encoder cuts at every chunk boundary of
every column (:meth:`zcimport._core.ColumnData.boundaries`), and keeps the
default batch size a multiple of 8 rows.

Nothing here imports pyarrow unless an Arrow object is planned: pyarrow is
optional.  Polars frames and objects with ``__arrow_c_stream__`` or
``__arrow_c_array__`` (the Arrow PyCapsule interface) are read through
pyarrow; reading the C Data Interface directly, without pyarrow, is not
done.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ._core import (
    ColumnData,
    ColumnInput,
    Handler,
    PlannedColumn,
    _planned,
    _Prepared,
    _unsupported,
    log,
    plan_column,
)
from ._format import (
    FLAG_BASED_OFFSETS,
    MAX_MESSAGE_LEN,
    MAX_TZ_LEN,
    MESSAGE_FIXED_LEN,
    NullEncoding,
    TimeUnit,
    WireType,
    align8,
)

#: Booleans go as Arrow's bits (``bitbool``, the server unpacks them); False
#: unpacks them in the client to the byte-per-value ``bool`` wire type.
#: Measured on a 10M-row column: see docs/python.md.
BOOL_AS_BITS = True

_BIG_ENDIAN = sys.byteorder == "big"

PYARROW_MISSING = (
    "pyarrow is needed to read {what}: pip install pyarrow (zcimport reads Arrow"
    " data through pyarrow; it does not read the Arrow C Data Interface itself)")


def _pa() -> Any:
    import pyarrow

    return pyarrow


def _need_pyarrow(what: str) -> Any:
    try:
        import pyarrow
    except ImportError as ex:
        raise ImportError(PYARROW_MISSING.format(what=what)) from ex
    return pyarrow


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def as_arrow_frame(df: Any) -> Any:
    """A whole Arrow frame as a ``pyarrow.Table`` or ``RecordBatch``, or None.

    Accepts pyarrow Tables and RecordBatches, polars DataFrames
    (``to_arrow()``: zero copy for most types), and objects with
    ``__arrow_c_array__`` only (a record batch through the PyCapsule
    interface).  Streams (:func:`as_arrow_stream`) are not frames.
    """
    if isinstance(df, (pd.DataFrame, dict)):
        return None
    mod = _module(df)
    if mod.startswith("pyarrow"):
        pa = _pa()
        if isinstance(df, (pa.Table, pa.RecordBatch)):
            return df
        return None
    if mod.startswith("polars") and callable(getattr(df, "to_arrow", None)) \
            and hasattr(df, "columns") and hasattr(df, "height"):
        _need_pyarrow("a polars DataFrame")
        return df.to_arrow()
    if hasattr(df, "__arrow_c_array__") and not hasattr(df, "__arrow_c_stream__"):
        pa = _need_pyarrow("an object with __arrow_c_array__")
        return pa.record_batch(df)
    return None


def as_arrow_stream(df: Any) -> Any:
    """A stream of record batches as a ``pyarrow.RecordBatchReader``, or None.

    A RecordBatchReader is used as it is; any other object with
    ``__arrow_c_stream__`` that is not a whole frame (a pandas or polars
    DataFrame, a pyarrow Table) is opened with
    ``pyarrow.RecordBatchReader.from_stream``.
    """
    if isinstance(df, pd.DataFrame) or isinstance(df, dict):
        return None
    mod = _module(df)
    if mod.startswith("pyarrow"):
        pa = _pa()
        if isinstance(df, pa.RecordBatchReader):
            return df
        return None
    if mod.startswith("polars") and hasattr(df, "to_arrow"):
        return None
    if hasattr(df, "__arrow_c_stream__"):
        pa = _need_pyarrow("an object with __arrow_c_stream__")
        return pa.RecordBatchReader.from_stream(df)
    return None


def arrow_array_of(values: Any) -> Any:
    """The Arrow array behind a column's values, or None.

    A pyarrow Array or ChunkedArray as it is; pandas' ArrowExtensionArray
    and ArrowStringArray (``ArrowDtype``, ``str``/``string`` with pyarrow
    storage): their ChunkedArray.
    """
    pa = sys.modules.get("pyarrow")
    if pa is None:
        return None
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    for attr in ("_pa_array", "_data"):  # pandas >= 2.1; earlier ArrowStringArray
        a = getattr(values, attr, None)
        if isinstance(a, pa.ChunkedArray) and isinstance(values, pd.api.extensions.ExtensionArray):
            return a
    return None


def stream_header(columns: Sequence[PlannedColumn], schema: Any) -> List[PlannedColumn]:
    """The stream header of a RecordBatchReader, from its schema's empty plan.

    A nullable field gets a validity bitmap (all ones in a batch without
    NULLs): which batches have NULLs is not known before they are read.
    """
    import dataclasses

    out = []
    for c in columns:
        try:
            nullable = bool(schema.field(c.plan.source).nullable)
        except (KeyError, TypeError):  # pragma: no cover - duplicate names
            nullable = True
        if nullable and c.nulls == NullEncoding.NONE and c.wire_type != WireType.NULL:
            plan = dataclasses.replace(c.plan, nulls="bitmap")
            c = dataclasses.replace(c, nulls=NullEncoding.BITMAP, plan=plan,
                                    data=_with_bitmap(c.data))
        out.append(c)
    return out


def _with_bitmap(data: ColumnData) -> ColumnData:
    if isinstance(data, ArrowData):
        return data.with_bitmap()
    return data  # pragma: no cover - Arrow columns are ArrowData


# --------------------------------------------------------------------------
# Bits
# --------------------------------------------------------------------------

_ONES = b""


def _ones(nbytes: int) -> memoryview:
    """A shared buffer of nbytes bytes 0xFF (an all-valid bitmap)."""
    global _ONES
    if len(_ONES) < nbytes:
        _ONES = b"\xff" * max(nbytes, 2 * len(_ONES), 1 << 16)
    return memoryview(_ONES)[:nbytes]


def _view(buf: Any) -> memoryview:
    """A byte-format memoryview of a pyarrow Buffer (no copy)."""
    if buf is None:
        return memoryview(b"")
    mv = memoryview(buf)
    return mv if mv.format == "B" else mv.cast("B")


def _bits(buf: Any, bit: int, n: int) -> Tuple[memoryview, bool]:
    """Bits [bit, bit + n) of a bitmap buffer as ceil(n/8) bytes.

    A view of the buffer when ``bit`` is a multiple of 8; otherwise
    re-packed (a copy).  Returns (bytes, copied).
    """
    nbytes = (n + 7) // 8
    mv = _view(buf)
    if bit % 8 == 0:
        return mv[bit // 8: bit // 8 + nbytes], False
    first = bit // 8
    last = (bit + n + 7) // 8
    raw = np.frombuffer(mv[first:last], dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little")[bit % 8: bit % 8 + n]
    return memoryview(np.packbits(bits, bitorder="little")), True


def _swap(mv: memoryview, width: int) -> memoryview:
    """Values of ``width`` bytes in little-endian order (big-endian hosts)."""
    if not _BIG_ENDIAN or width == 1:
        return mv
    a = np.frombuffer(mv, dtype=np.uint8).reshape(-1, width)[:, ::-1]
    return memoryview(np.ascontiguousarray(a).reshape(-1))  # pragma: no cover


# --------------------------------------------------------------------------
# Column data
# --------------------------------------------------------------------------

# layouts
_FIXED, _BITS, _VAR, _DICT, _NULL = "fixed", "bits", "var", "dict", "null"


class _Dict:
    """A chunk's dictionary, as a dictionary message's offsets and data."""

    def __init__(self, dictionary: Any) -> None:
        self.entries = len(dictionary)
        bufs = dictionary.buffers()
        off = dictionary.offset
        self.key = (bufs[1].address if bufs[1] is not None else 0,
                    bufs[2].address if bufs[2] is not None else 0, off, self.entries)
        large = dictionary.type.equals(_pa().large_string())
        offsets = np.frombuffer(_view(bufs[1]), dtype="<i8" if large else "<i4")
        offsets = offsets[off: off + self.entries + 1]
        if len(offsets) == 0:
            offsets = np.zeros(1, dtype=np.int64)
        end = int(offsets[-1])
        self.widened = 0
        if not large:
            offsets = offsets.astype("<i8")  # dictionary messages take int64 offsets
            self.widened = offsets.nbytes
        self.offsets = memoryview(offsets).cast("B")
        self.data = _view(bufs[2])[:end]

    def message(self) -> Tuple[int, List[memoryview]]:
        return self.entries, [self.offsets, self.data]


class ArrowData(ColumnData):
    """A column of Arrow chunks, sent from the chunks' own buffers.

    ``chunks`` are pyarrow Arrays of one type, already converted to a
    sendable type (float16 cast, string_view cast, dictionaries decoded).
    A batch must lie inside one chunk (see :meth:`boundaries`); one that
    does not (a caller slicing across chunks) is concatenated (a copy).
    """

    arrow = True

    def __init__(self, chunks: Sequence[Any], layout: str, width: int, *,
                 bitmap: bool, validity: Optional[Sequence[Any]] = None) -> None:
        # per chunk: a validity bitmap (a BooleanArray) other than the
        # chunk's own (dictionaries with NULL entries), or None
        pairs = list(zip(chunks, validity if validity is not None else [None] * len(chunks)))
        pairs = [p for p in pairs if len(p[0])] or pairs[:1]  # empty chunks cut nothing
        self._chunks = [c for c, _ in pairs]
        self._validity: List[Any] = [v for _, v in pairs]
        self._layout = layout
        self._width = width  # values width; offsets width for _VAR; index width for _DICT
        self._bitmap = bitmap
        self._starts: List[int] = []
        row = 0
        for c in self._chunks:
            self._starts.append(row)
            row += len(c)
        self._rows = row
        self._dicts: List[Optional[_Dict]] = [None] * len(self._chunks)
        if layout == _DICT:
            self._dicts = [_Dict(c.dictionary) for c in self._chunks]
        self._offsets: List[Optional[np.ndarray]] = [None] * len(self._chunks)
        self._data_bytes = 0
        self._max_value: Optional[int] = None
        if layout == _VAR:
            for i, c in enumerate(self._chunks):
                o = self._chunk_offsets(i)
                if len(c):
                    self._data_bytes += int(o[c.offset + len(c)]) - int(o[c.offset])
        self.bit_packed = bitmap or layout == _BITS
        bits = 1 / 8 if bitmap else 0
        if layout == _VAR:
            avg = -(-self._data_bytes // self._rows) if self._rows else 0
            self.row_width = max(1, round(width + avg + bits))
        elif layout == _BITS:
            self.row_width = 1
        else:
            self.row_width = max(1 if layout != _NULL else 0, round(width + bits))
        #: batches re-packed so far (for tests)
        self.repacked = 0

    def with_bitmap(self) -> "ArrowData":
        """The same data with a validity bitmap (all ones where no chunk has one)."""
        out = ArrowData(self._chunks, self._layout, self._width, bitmap=True,
                        validity=self._validity)
        return out

    # -- chunks ---------------------------------------------------------

    def _chunk_offsets(self, i: int) -> np.ndarray:
        o = self._offsets[i]
        if o is None:
            c = self._chunks[i]
            buf = c.buffers()[1]
            dtype = "<i8" if self._width == 8 else "<i4"
            o = np.frombuffer(_view(buf), dtype=dtype) if buf is not None \
                else np.zeros(c.offset + len(c) + 1, dtype=dtype)
            self._offsets[i] = o
        return o

    def _find(self, start: int) -> int:
        import bisect

        return max(0, bisect.bisect_right(self._starts, start) - 1)

    def boundaries(self) -> Sequence[int]:
        return self._starts[1:]

    def arrays(self) -> Tuple[Any, ...]:
        return tuple(self._chunks)

    @property
    def chunks(self) -> List[Any]:
        """The Arrow chunks sent."""
        return list(self._chunks)

    # -- dictionaries ---------------------------------------------------

    def dictionary(self) -> Optional[Tuple[int, List[memoryview]]]:
        if self._layout != _DICT or not self._dicts:
            return None
        return self._dicts[0].message()  # type: ignore[union-attr]

    def dictionary_key(self, start: int) -> Any:
        if self._layout != _DICT or not self._dicts:
            return 0
        return self._dicts[self._find(start)].key  # type: ignore[union-attr]

    def dictionary_at(self, start: int) -> Optional[Tuple[int, List[memoryview]]]:
        if self._layout != _DICT or not self._dicts:
            return None
        return self._dicts[self._find(start)].message()  # type: ignore[union-attr]

    @property
    def dictionary_bytes(self) -> int:
        """Bytes created for the dictionaries (widened offsets)."""
        return sum(d.widened for d in self._dicts if d is not None)

    # -- buffers --------------------------------------------------------

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        i = self._find(start)
        if not self._chunks or stop <= start:
            return self._empty()
        c0 = self._starts[i]
        if stop - c0 > len(self._chunks[i]):
            return self._straddling(start, stop)
        return self._chunk_buffers(i, start - c0, stop - start)

    def _empty(self) -> List[memoryview]:
        out = [memoryview(b"")] if self._bitmap else []
        if self._layout == _VAR:
            z = bytes(self._width)
            return out + [memoryview(z), memoryview(b"")]
        if self._layout == _NULL:
            return out + [memoryview(b"")]
        return out + [memoryview(b"")]

    def _straddling(self, start: int, stop: int) -> List[memoryview]:
        """A batch across chunks: concatenated (a copy)."""
        pa = _pa()
        parts = []
        vparts = []
        for i, c in enumerate(self._chunks):
            a, b = self._starts[i], self._starts[i] + len(c)
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                parts.append(c.slice(lo - a, hi - lo))
                v = self._validity[i]
                vparts.append(None if v is None else v.slice(lo - a, hi - lo))
        if self._layout == _DICT:
            first = self.dictionary_key(start)
            if any(self.dictionary_key(s) != first for s in self._starts if start < s < stop):
                raise ValueError("a batch spans chunks with different dictionaries")
        merged = pa.concat_arrays([p.cast(parts[0].type) for p in parts]) if self._layout != _DICT \
            else pa.DictionaryArray.from_arrays(
                pa.concat_arrays([p.indices for p in parts]), parts[0].dictionary,
                mask=None)
        validity = None
        if any(v is not None for v in vparts):
            validity = pa.concat_arrays([v if v is not None else pa.array(np.ones(len(p), bool))
                                         for v, p in zip(vparts, parts)])
        elif self._layout == _DICT:
            validity = pa.concat_arrays([_pc().is_valid(p) for p in parts])
        tmp = ArrowData([merged], self._layout, self._width, bitmap=self._bitmap,
                        validity=[validity])
        return tmp._chunk_buffers(0, 0, stop - start)

    def _chunk_buffers(self, i: int, a: int, n: int) -> List[memoryview]:
        c = self._chunks[i]
        off = c.offset
        out: List[memoryview] = []
        if self._bitmap:
            v = self._validity[i]
            if v is not None:
                mv, copied = _bits(v.buffers()[1], v.offset + a, n)
            else:
                vb = c.buffers()[0]
                if vb is None:
                    mv, copied = _ones((n + 7) // 8), False
                else:
                    mv, copied = _bits(vb, off + a, n)
            self.repacked += copied
            out.append(mv)
        layout = self._layout
        if layout == _NULL:
            return out + [memoryview(b"")]
        if layout == _BITS:
            mv, copied = _bits(c.buffers()[1], off + a, n)
            self.repacked += copied
            return out + [mv]
        if layout == _FIXED:
            w = self._width
            buf = _view(c.buffers()[1])
            return out + [_swap(buf[(off + a) * w: (off + a + n) * w], w)]
        if layout == _DICT:
            idx = c.indices
            w = self._width
            buf = _view(idx.buffers()[1])
            ioff = idx.offset
            return out + [_swap(buf[(ioff + a) * w: (ioff + a + n) * w], w)]
        # _VAR
        w = self._width
        o = self._chunk_offsets(i)
        first, last = off + a, off + a + n
        obuf = _view(c.buffers()[1])
        offsets = _swap(obuf[first * w: (last + 1) * w], w) if obuf.nbytes \
            else memoryview(bytes(w * (n + 1)))
        lo, hi = (int(o[first]), int(o[last])) if len(o) else (0, 0)
        data = _view(c.buffers()[2])[lo:hi]
        return out + [offsets, data]

    def buffer_lengths(self, nrows: int) -> List[int]:
        out = [(nrows + 7) // 8] if self._bitmap else []
        layout = self._layout
        if layout == _NULL:
            return out + [0]
        if layout == _BITS:
            return out + [(nrows + 7) // 8]
        if layout in (_FIXED, _DICT):
            return out + [nrows * self._width]
        if self._max_value is None:
            self._max_value = self._longest()
        return out + [(nrows + 1) * self._width, min(self._data_bytes, nrows * self._max_value)]

    def _longest(self) -> int:
        """The longest value's bytes (block by block: no big temporary)."""
        best = 0
        for i, c in enumerate(self._chunks):
            o = self._chunk_offsets(i)[c.offset: c.offset + len(c) + 1]
            for s in range(0, max(len(o) - 1, 0), 1 << 20):
                block = o[s: s + (1 << 20) + 1]
                if len(block) > 1:
                    best = max(best, int(np.max(np.diff(block))))
        return best

    def cut_copies(self, cuts: Sequence[int]) -> Tuple[str, int]:
        if not self.bit_packed:
            return "", 0
        what = "validity bitmap" if self._layout != _BITS else "bits"
        if self._bitmap and self._layout == _BITS:
            what = "validity bitmap and bits"
        notes = []
        nbytes = 0
        for i, c in enumerate(self._chunks):
            has_bits = self._layout == _BITS or (
                self._bitmap and (c.buffers()[0] is not None or self._validity[i] is not None))
            if not has_bits:
                continue
            s0 = self._starts[i]
            off = c.offset if self._validity[i] is None else self._validity[i].offset
            inner = [x for x in cuts if s0 < x < s0 + len(c)]
            if off % 8:
                notes.append(f"chunk {i} starts at bit {off % 8} of its buffer (array offset"
                             f" {off})" if len(self._chunks) > 1 else
                             f"the array's offset {off} is not a multiple of 8")
                nbytes += (len(c) + 7) // 8
            elif (s0 - off) % 8 and len(c) > 8:
                notes.append(f"chunk {i} starts at row {s0}, so batches cut every"
                             " batch_rows do not start on a byte of its bitmap")
                nbytes += (len(c) + 7) // 8
            bad = [x for x in inner if (off + x - s0) % 8]
            if bad:
                notes.append(f"batches start at row{'s' if len(bad) > 1 else ''}"
                             f" {', '.join(str(x) for x in bad[:3])}"
                             f"{'...' if len(bad) > 3 else ''} where another column's chunk"
                             " starts, not on a byte")
                nbytes += sum(min(len(c), 1 << 20) // 8 for _ in bad)
        if not notes:
            return "", 0
        return f"{what} re-packed where a batch starts off a byte boundary: " + \
            "; ".join(notes), nbytes


# --------------------------------------------------------------------------
# The handler
# --------------------------------------------------------------------------

_TIME_UNITS = {"s": TimeUnit.S, "ms": TimeUnit.MS, "us": TimeUnit.US, "ns": TimeUnit.NS}


def _pc() -> Any:
    import pyarrow.compute as pc

    return pc


def pg_type(t: Any) -> str:
    """The PostgreSQL column type ``create=True`` gives an Arrow type."""
    pa = _pa()
    types = pa.types
    if types.is_dictionary(t):
        return pg_type(t.value_type)
    if types.is_boolean(t):
        return "boolean"
    if types.is_int8(t) or types.is_int16(t) or types.is_uint8(t):
        return "smallint"
    if types.is_int32(t) or types.is_uint16(t):
        return "integer"
    if types.is_int64(t) or types.is_uint32(t):
        return "bigint"
    if types.is_uint64(t):
        return "numeric(20,0)"
    if types.is_float16(t) or types.is_float32(t):
        return "real"
    if types.is_float64(t):
        return "double precision"
    if types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if types.is_date(t):
        return "date"
    if types.is_time(t):
        return "time"
    if types.is_duration(t):
        return "interval"
    if types.is_decimal(t):
        if 1 <= t.precision <= 1000 and -1000 <= t.scale <= 1000:
            return f"numeric({t.precision},{t.scale})"
        return "numeric"  # pragma: no cover
    if types.is_string(t) or types.is_large_string(t) or _is_view(t, "string"):
        return "text"
    if types.is_binary(t) or types.is_large_binary(t) or _is_view(t, "binary") \
            or types.is_fixed_size_binary(t):
        return "bytea"
    if types.is_null(t):
        return "text"
    return ""


def _half_to_float(pa: Any, arr: Any) -> Any:
    """A float16 array as float32: pyarrow's cast, or NumPy's where pyarrow
    (before 16) has no such cast; NULLs stay NULL."""
    try:
        return arr.cast(pa.float32())
    except pa.ArrowNotImplementedError:
        values = np.frombuffer(arr.buffers()[1], dtype="<f2")[arr.offset:arr.offset + len(arr)]
        mask = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
        return pa.array(values.astype(np.float32), type=pa.float32(), mask=mask)


def _is_view(t: Any, kind: str) -> bool:
    types = _pa().types
    f = getattr(types, f"is_{kind}_view", None)
    return bool(f and f(t))


def _chunks_of(arr: Any) -> List[Any]:
    pa = _pa()
    if isinstance(arr, pa.ChunkedArray):
        return list(arr.chunks)
    return [arr]


def _nulls(chunks: Sequence[Any]) -> bool:
    return any(c.null_count for c in chunks)


_INT_WIRE = {
    (True, 1): WireType.INT8, (True, 2): WireType.INT16, (True, 4): WireType.INT32,
    (True, 8): WireType.INT64, (False, 1): WireType.UINT8, (False, 2): WireType.UINT16,
    (False, 4): WireType.UINT32, (False, 8): WireType.UINT64,
}


def _arrow_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """pyarrow arrays, and pandas arrays backed by them."""
    arr = arrow_array_of(inp.values)
    if arr is None:
        return None
    return plan_arrow(inp, arr)


def plan_arrow(inp: ColumnInput, arr: Any) -> PlannedColumn:
    """Plan a pyarrow Array or ChunkedArray (see the module's docstring)."""
    pa = _pa()
    types = pa.types
    t = arr.type
    chunks = _chunks_of(arr)
    prep = _Prepared()
    name = inp.name
    if _BIG_ENDIAN:  # pragma: no cover - no such host in the tests
        prep.note("big-endian host: fixed-width buffers byte-swapped per batch", 0, name)

    def done(wire: WireType, data: ArrowData, **kw: Any) -> PlannedColumn:
        col = _planned(inp, prep, wire, data,
                       nulls=NullEncoding.BITMAP if data._bitmap else NullEncoding.NONE, **kw)
        col.pg_type = pg_type(t)
        return col

    bitmap = _nulls(chunks)
    if types.is_null(t):
        col = _planned(inp, prep, WireType.NULL, ArrowData(chunks, _NULL, 0, bitmap=False))
        col.value_kind = "null"
        col.pg_type = "text"
        return col
    if types.is_dictionary(t):
        return _plan_dictionary(inp, arr, prep)
    if types.is_float16(t):
        chunks = [_half_to_float(pa, c) for c in chunks]
        prep.note("float16 cast to float32 (a copy)", sum(4 * len(c) for c in chunks), name)
        return done(WireType.FLOAT32, ArrowData(chunks, _FIXED, 4, bitmap=bitmap),
                    sentinel=inp.nan_as_null)
    if types.is_floating(t):
        w = t.bit_width // 8
        return done(WireType.FLOAT32 if w == 4 else WireType.FLOAT64,
                    ArrowData(chunks, _FIXED, w, bitmap=bitmap), sentinel=inp.nan_as_null)
    if types.is_integer(t):
        w = t.bit_width // 8
        return done(_INT_WIRE[(types.is_signed_integer(t), w)],
                    ArrowData(chunks, _FIXED, w, bitmap=bitmap))
    if types.is_boolean(t):
        if BOOL_AS_BITS:
            return done(WireType.BITBOOL, ArrowData(chunks, _BITS, 0, bitmap=bitmap))
        chunks = [c.cast(pa.uint8()) for c in chunks]  # C++; keeps the validity
        prep.note("bits unpacked to one byte per value (a copy)", sum(map(len, chunks)), name)
        return done(WireType.BOOL, ArrowData(chunks, _FIXED, 1, bitmap=bitmap))
    if types.is_timestamp(t):
        tz = t.tz or ""
        if tz and (len(tz) > MAX_TZ_LEN or not (tz.isascii() and tz.isprintable())):
            tz = ""  # pragma: no cover - informational
        wire = WireType.TIMESTAMPTZ if t.tz else WireType.TIMESTAMP
        return done(wire, ArrowData(chunks, _FIXED, 8, bitmap=bitmap),
                    unit=_TIME_UNITS[t.unit], tz=tz)
    if types.is_duration(t):
        return done(WireType.DURATION, ArrowData(chunks, _FIXED, 8, bitmap=bitmap),
                    unit=_TIME_UNITS[t.unit])
    if types.is_date32(t):
        return done(WireType.DATE32, ArrowData(chunks, _FIXED, 4, bitmap=bitmap))
    if types.is_date64(t):
        return done(WireType.DATE64, ArrowData(chunks, _FIXED, 8, bitmap=bitmap))
    if types.is_time32(t):
        return done(WireType.TIME32, ArrowData(chunks, _FIXED, 4, bitmap=bitmap),
                    unit=_TIME_UNITS[t.unit])
    if types.is_time64(t):
        return done(WireType.TIME64, ArrowData(chunks, _FIXED, 8, bitmap=bitmap),
                    unit=_TIME_UNITS[t.unit])
    if types.is_decimal(t):
        w = t.byte_width
        if w not in (16, 32):
            raise _unsupported(inp, f"{t} ({w * 8}-bit decimals): cast it to decimal128")
        if not -128 <= t.scale <= 127 or not 1 <= t.precision <= 255:
            raise _unsupported(inp, f"scale {t.scale} is out of the range -128..127")
        col = done(WireType.DECIMAL128 if w == 16 else WireType.DECIMAL256,
                   ArrowData(chunks, _FIXED, w, bitmap=bitmap))
        col.index_type = t.precision
        col.value_type = t.scale & 0xFF
        return col
    if _is_view(t, "string") or _is_view(t, "binary"):
        target = pa.large_string() if _is_view(t, "string") else pa.large_binary()
        chunks = [c.cast(target) for c in chunks]
        size = sum(c.nbytes for c in chunks)
        prep.note(f"{t} cast once to {target} by pyarrow (a copy, no Python objects)",
                  size, name)
        t2 = target
    else:
        t2 = t
    if types.is_string(t2) or types.is_large_string(t2) or types.is_binary(t2) \
            or types.is_large_binary(t2):
        large = types.is_large_string(t2) or types.is_large_binary(t2)
        text = types.is_string(t2) or types.is_large_string(t2)
        wire = {(True, True): WireType.UTF8, (True, False): WireType.UTF8_32,
                (False, True): WireType.BINARY, (False, False): WireType.BINARY_32}[(text, large)]
        col = done(wire, ArrowData(chunks, _VAR, 8 if large else 4, bitmap=bitmap))
        col.flags |= FLAG_BASED_OFFSETS
        return col
    if types.is_fixed_size_binary(t):
        chunks = [c.cast(pa.large_binary()) for c in chunks]
        prep.note(f"{t} cast to large_binary by pyarrow (a copy)",
                  sum(c.nbytes for c in chunks), name)
        col = done(WireType.BINARY, ArrowData(chunks, _VAR, 8, bitmap=bitmap))
        col.flags |= FLAG_BASED_OFFSETS
        return col
    raise _unsupported(inp, f"Arrow type {t} is not supported; cast it first"
                            " (e.g. to string with .cast(pa.large_string()))")


def _plan_dictionary(inp: ColumnInput, arr: Any, prep: _Prepared) -> PlannedColumn:
    pa = _pa()
    types = pa.types
    t = arr.type
    chunks = _chunks_of(arr)
    name = inp.name
    vt = t.value_type
    if _is_view(vt, "string"):
        chunks = [pa.DictionaryArray.from_arrays(c.indices, c.dictionary.cast(pa.large_string()))
                  for c in chunks]
        prep.note("dictionary of string_view cast to large_string (a copy of the dictionary)",
                  sum(c.dictionary.nbytes for c in chunks), name)
        vt = pa.large_string()
    if not (types.is_string(vt) or types.is_large_string(vt)):
        decoded = [c.dictionary_decode() for c in chunks]
        size = sum(c.nbytes for c in decoded)
        typ = pa.chunked_array(decoded, type=vt) if decoded else pa.chunked_array([], type=vt)
        inner = ColumnInput(source=inp.source, name=name, values=typ,
                            dtype=inp.dtype, nan_as_null=inp.nan_as_null)
        col = plan_arrow(inner, typ)
        import dataclasses

        reason = f"dictionary of {vt} decoded by pyarrow (a copy)"
        log.info("zcimport: column %r: %s (%d bytes)", name, reason, size)
        p = col.plan
        col.plan = dataclasses.replace(
            p, zero_copy=False, reason=reason + (f"; {p.reason}" if p.reason else ""),
            packed_bytes=p.packed_bytes + size)
        return col
    it = t.index_type
    index_wire = _INT_WIRE[(types.is_signed_integer(it), it.bit_width // 8)]
    # NULL entries in a dictionary: the rows that use them are NULL (their
    # validity bitmap is re-computed: a copy of n/8 bytes)
    validity: List[Any] = []
    bitmap = False
    for c in chunks:
        if c.dictionary.null_count:
            # a valid index to a valid entry (pyarrow 18's is_valid of a
            # dictionary array ignores the entries' validity)
            pc = _pc()
            v = pc.and_(pc.is_valid(c.indices),
                        pc.fill_null(pc.take(pc.is_valid(c.dictionary), c.indices), False))
            validity.append(v)
            prep.note("the dictionary has NULL entries: the validity bitmap of its rows"
                      " computed (a copy)", (len(c) + 7) // 8, name)
            bitmap = True
        else:
            validity.append(None)
            bitmap = bitmap or bool(c.null_count)
    data = ArrowData(chunks, _DICT, it.bit_width // 8, bitmap=bitmap, validity=validity)
    biggest = max((MESSAGE_FIXED_LEN + 16 + align8(d.offsets.nbytes) + align8(d.data.nbytes)
                   for d in data._dicts if d is not None), default=0)
    if biggest > MAX_MESSAGE_LEN:
        raise ValueError(f"column {name!r}: its dictionary takes {biggest} bytes, more than"
                         " a dictionary message can hold (1 GiB)")
    if data.dictionary_bytes:
        prep.note("dictionary offsets widened from int32 to int64", data.dictionary_bytes, name)
    col = _planned(inp, prep, WireType.DICTIONARY, data,
                   nulls=NullEncoding.BITMAP if bitmap else NullEncoding.NONE)
    col.index_type = int(index_wire)
    col.value_type = int(WireType.UTF8)
    col.pg_type = "text"
    return col


#: In the order the registry tries them.
HANDLERS: List[Handler] = [_arrow_handler]
