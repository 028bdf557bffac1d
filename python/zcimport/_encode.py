"""Encoding of a planned frame as a zcimport stream (docs/FORMAT.md).

The encoder yields the stream as *chunks*: lists of parts, each part a
bytes-like object.  Only small headers are built here (the stream header,
message fixed parts, buffer length prefixes, zero padding); the column data
parts are byte-format memoryviews of the columns' arrays, sliced per batch,
so the encoder itself copies no column data.  Columns that must be packed
(strings, bytes, dates) pack one batch when the encoder asks for that
batch's buffers; nothing else of theirs is held.

The stream: the header; then, if the frame has rows, one dictionary message
per dictionary column (categoricals), in column order; the batches; the end
marker.

:class:`FrameStream` makes one stream of several frames (the chunks of a
large CSV file, say), for one COPY: see its docstring.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Type, Union

import numpy as np
import pandas as pd

from ._format import (
    VAR_WIDTH,
    BYTE_ORDER_LITTLE,
    DESC_FIXED_LEN,
    HEADER_FIXED_LEN,
    MAGIC,
    MAX_HEADER_LEN,
    MAX_MESSAGE_LEN,
    MAX_TZ_LEN,
    VERSION,
    MessageKind,
    NullEncoding,
    WireType,
    align8,
)
from ._plan import (
    ColumnData,
    ColumnInput,
    ColumnsArg,
    Plan,
    PlannedColumn,
    StreamPlan,
    plan_column,
    resolve_batch_rows,
    select_columns,
)
from ._progress import reporter

#: A part of a chunk: small headers are bytes, column data are memoryviews.
Part = Union[bytes, memoryview]


class Chunk(List[Part]):
    """A piece of the stream: a list of parts, and the rows it carries.

    ``rows`` is the batch's row count for a batch message, 0 for the
    header, dictionaries and the end marker.  It compares equal to a plain
    list of the same parts.
    """

    __slots__ = ("rows",)

    def __init__(self, parts: Iterable[Part] = (), rows: int = 0) -> None:
        super().__init__(parts)
        self.rows = rows

    @property
    def nbytes(self) -> int:
        """Bytes of all its parts."""
        return sum(memoryview(p).nbytes for p in self)

_HEADER = struct.Struct("<8sHcBIII")
_DESC = struct.Struct("<BBBBBBHHH")
_MESSAGE = struct.Struct("<IIQ")
_LENGTH = struct.Struct("<Q")
_ZEROS = bytes(8)

assert _HEADER.size == HEADER_FIXED_LEN and _DESC.size == DESC_FIXED_LEN


def encode_header(columns: Sequence[PlannedColumn]) -> bytes:
    """The stream header: fixed part and one descriptor per column."""
    descs = []
    for c in columns:
        name = c.name.encode("utf-8")
        tz = c.tz.encode("utf-8")
        if len(tz) > MAX_TZ_LEN:  # pragma: no cover - the planner drops it
            raise ValueError(f"time zone name of column {c.name!r} is too long")
        d = _DESC.pack(
            int(c.wire_type), int(c.nulls), c.flags, c.unit, c.index_type,
            c.value_type, len(name), len(tz), 0,
        ) + name + tz
        descs.append(d + _ZEROS[: align8(len(d)) - len(d)])
    length = HEADER_FIXED_LEN + sum(len(d) for d in descs)
    if length > MAX_HEADER_LEN:
        raise ValueError(
            f"the stream header would be {length} bytes; the limit is"
            f" {MAX_HEADER_LEN} (too many columns with long names)"
        )
    fixed = _HEADER.pack(MAGIC, VERSION, BYTE_ORDER_LITTLE, 0, len(columns), length, 0)
    return b"".join([fixed] + descs)


def _message_parts(head: bytes, buffers: Sequence[memoryview]) -> Tuple[List[Part], int]:
    """A message's parts: its fixed part, then each buffer with its length
    prefix and padding; and the message's length.

    Small header bytes between two data buffers (padding of the previous
    buffer, length prefix of the next) are merged into one bytes part.
    """
    parts: List[Part] = []
    pending = [head]
    length = len(head)
    for buf in buffers:
        n = buf.nbytes
        length += 8 + align8(n)
        pending.append(_LENGTH.pack(n))
        if n:
            parts.append(b"".join(pending))
            parts.append(buf)
            pending = [_ZEROS[: align8(n) - n]]
    tail = b"".join(pending)
    if tail:
        parts.append(tail)
    return parts, length


def batch_parts(columns: Sequence[PlannedColumn], start: int, stop: int) -> List[Part]:
    """The parts of the batch message for rows [start, stop)."""
    buffers: List[memoryview] = []
    for c in columns:
        buffers.extend(c.data.buffers(start, stop))
    parts, length = _message_parts(_MESSAGE.pack(MessageKind.BATCH, 0, stop - start), buffers)
    if length > MAX_MESSAGE_LEN:
        raise ValueError(
            f"the batch of rows {start} to {stop - 1} takes {length} bytes, more than"
            f" the server's limit of {MAX_MESSAGE_LEN} bytes per message; use a"
            " smaller batch_rows")
    return parts


def dictionary_parts(columns: Sequence[PlannedColumn]) -> List[Part]:
    """The dictionary messages of the dictionary columns, in column order."""
    parts: List[Part] = []
    for index, c in enumerate(columns):
        d = c.data.dictionary()
        if d is None:
            continue
        entries, buffers = d
        p, _ = _message_parts(_MESSAGE.pack(MessageKind.DICTIONARY, index, entries), buffers)
        parts.extend(p)
    return parts


def end_marker(total_rows: int) -> bytes:
    """The end message with the stream's total row count."""
    return _MESSAGE.pack(MessageKind.END, 0, total_rows)


def batch_ranges(rows: int, batch_rows: int, cuts: Sequence[int] = ()) -> Iterator[Tuple[int, int]]:
    """The batches [start, stop) of a frame of ``rows`` rows.

    Batches end at every multiple of ``batch_rows`` and at every ``cut``
    (the rows where a chunk of some column starts), so that each batch lies
    inside one chunk of every column.
    """
    it = iter(sorted(c for c in set(cuts) if 0 < c < rows))
    cut = next(it, rows)
    start = 0
    while start < rows:
        stop = min((start // batch_rows + 1) * batch_rows, rows)
        if cut < stop:
            stop = cut
        if stop == cut:
            cut = next(it, rows)
        yield start, stop
        start = stop


def _dictionary_message(index: int, d: Tuple[int, List[memoryview]]) -> List[Part]:
    entries, buffers = d
    parts, _ = _message_parts(_MESSAGE.pack(MessageKind.DICTIONARY, index, entries), buffers)
    return parts


def frame_batches(columns: Sequence[PlannedColumn], rows: int, batch_rows: int,
                  sent: Dict[int, Any]) -> Iterator[Chunk]:
    """The batches of a planned frame, each preceded by the dictionary
    messages of the dictionary columns whose dictionary changes there (a
    chunked Arrow dictionary column has one per chunk).

    ``sent`` maps a column index to the key of the dictionary it last sent
    (:meth:`~zcimport._core.ColumnData.dictionary_key`); it is updated.
    """
    cuts: Set[int] = set()
    for c in columns:
        cuts.update(c.data.boundaries())
    dict_columns = [i for i, c in enumerate(columns) if c.data.dictionary() is not None]
    for start, stop in batch_ranges(rows, batch_rows, sorted(cuts)):
        parts: List[Part] = []
        for index in dict_columns:
            data = columns[index].data
            key = data.dictionary_key(start)
            if sent.get(index, sent) != key:
                d = data.dictionary_at(start)
                if d is not None:
                    parts.extend(_dictionary_message(index, d))
                sent[index] = key
        if parts:
            yield Chunk(parts)
        del parts
        yield Chunk(batch_parts(columns, start, stop), stop - start)


def iter_chunks(plan: Plan, batch_rows: int) -> Iterator[List[Part]]:
    """The whole stream: [header], the dictionaries (one chunk, if any),
    one chunk per batch, then [end marker].

    Batches are row slices [start, start + batch_rows) of every column, cut
    also where a chunk of some column starts (Arrow's ChunkedArrays); a
    dictionary whose chunk changes is sent again before the batch.  A frame
    with no rows has no batch, and no dictionary either.  A
    :class:`~zcimport._plan.StreamPlan` (a stream of Arrow record batches)
    is read and sent batch by batch (:class:`FrameStream`); its ``rows``
    is set once it has been sent.
    """
    if isinstance(plan, StreamPlan):
        stream = FrameStream(plan.take_reader(), columns=plan.columns,
                             nan_as_null=plan.nan_as_null, batch_rows=batch_rows,
                             header=plan.planned_columns)
        yield from stream.chunks()
        plan.rows = stream.rows
        return
    columns = plan.planned_columns
    rows = plan.rows or 0
    yield Chunk([encode_header(columns)])
    sent: Dict[int, Any] = {}
    if rows:
        dicts = []
        for index, c in enumerate(columns):
            d = c.data.dictionary_at(0)
            if d is not None:
                dicts.extend(_dictionary_message(index, d))
                sent[index] = c.data.dictionary_key(0)
        if dicts:
            yield Chunk(dicts)
        del dicts
    yield from frame_batches(columns, rows, batch_rows, sent)
    yield Chunk([end_marker(rows)])


def write_parts(file: IO[bytes], parts: Sequence[Part]) -> int:
    """file.write() every part (short writes of raw files are retried)."""
    total = 0
    for part in parts:
        view = memoryview(part)
        n = view.nbytes
        written = file.write(view)
        if written is not None and written < n:
            done = written
            while done < n:
                more = file.write(view[done:])
                if more is None:  # non-blocking raw file with no room
                    raise BlockingIOError("the file accepted no more data")
                done += more
        total += n
    return total


def dump_plan(plan: Plan, file: Any, batch_rows: int, progress: Any = None) -> int:
    """Write the stream of a planned frame to a binary file object."""
    write_chunks(iter_chunks(plan, batch_rows), file, progress)
    return plan.rows or 0


def write_chunks(chunks: Iterable[List[Part]], file: Any, progress: Any = None) -> int:
    """Write a stream's chunks to a binary file object; returns the bytes.

    ``progress``: a :class:`~zcimport._progress.Progress`, a callable taking
    each batch's row count, or None.
    """
    report = reporter(progress)
    total = 0
    for chunk in chunks:
        n = write_parts(file, chunk)
        total += n
        if report is not None:
            report(getattr(chunk, "rows", 0), n)
        del chunk  # release a packed batch before the next one is packed
    return total


# --------------------------------------------------------------------------
# Streams of several frames
# --------------------------------------------------------------------------

#: The nullable pandas dtype of each NumPy dtype, for safe conversions.
_NULLABLE = {
    np.dtype(np.int8): "Int8", np.dtype(np.int16): "Int16", np.dtype(np.int32): "Int32",
    np.dtype(np.int64): "Int64", np.dtype(np.uint8): "UInt8", np.dtype(np.uint16): "UInt16",
    np.dtype(np.uint32): "UInt32", np.dtype(np.uint64): "UInt64", np.dtype(np.bool_): "boolean",
    np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
}


def _same_dtype(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except TypeError:
        return False


def _all_missing(values: Any) -> bool:
    return bool(np.all(np.asarray(pd.isna(values))))


def _text(values: Any) -> bool:
    """Strings (and missing values) only: a string array, or objects that are."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return isinstance(values, np.ndarray) and values.dtype == object and \
        pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _first_missing(values: Any) -> int:
    return int(np.argmax(np.asarray(pd.isna(values))))


def _row_text(i: int, first_row: int) -> str:
    return f"row {first_row + i:,}" if first_row else f"its row {i}"


def _culprit(values: Any, ref: Any, first_row: int = 0) -> str:
    """'; row N holds V': the first value that cannot take dtype ref."""
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        return ""
    s = pd.Series(values)
    kind = ref.kind if isinstance(ref, np.dtype) else getattr(ref, "kind", "")
    if kind in "iufb":
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna()
        if kind in "iu":
            bad |= conv.notna() & (conv % 1 != 0)
    elif kind == "M":
        bad = pd.to_datetime(s, errors="coerce", utc=True, **_MIXED).isna() & s.notna()
    elif kind == "m":
        bad = pd.to_timedelta(s, errors="coerce").isna() & s.notna()
    else:
        return ""
    if not bad.any():
        return ""
    i = int(np.argmax(bad.to_numpy()))
    return f"; {_row_text(i, first_row)} holds {values[i]!r}"


#: pd.to_datetime's option for strings in several formats (pandas >= 2).
_MIXED = {"format": "mixed"} if int(pd.__version__.split(".")[0]) >= 2 else {}


def _to_datetime(values: Any, **kw: Any) -> Any:
    """pd.to_datetime; strings in several formats too (pandas 2 infers one
    format from the first string and refuses the others)."""
    try:
        return pd.to_datetime(values, **kw)
    except ValueError:
        if not _MIXED:
            raise
        return pd.to_datetime(values, **_MIXED, **kw)


def coerce_values(values: Any, ref: Any, name: str, frame: str, first_row: int = 0) -> Any:
    """A later frame's column converted to the first frame's dtype ``ref``.

    Used by :class:`FrameStream`; see its docstring for the rules.  Raises
    TypeError or ValueError, naming the column and the frame (``frame`` is
    how messages name it, e.g. ``"frame 3 (rows 201 to 300)"``; ``first_row``,
    if not 0, is the number messages give the frame's first row), when the
    values cannot take that dtype without losing something.
    """
    vd = values.dtype
    if _same_dtype(vd, ref):
        return values
    n = len(values)

    def fail(why: str, exc: Type[Exception] = TypeError) -> Exception:
        return exc(f"column {name!r}: {frame} has dtype {vd}, but the first one's is"
                   f" {ref}, which fixed the column's type in the stream: {why}"
                   f"{_culprit(values, ref, first_row)}")

    if isinstance(ref, pd.CategoricalDtype):
        if isinstance(vd, pd.CategoricalDtype):
            return values  # a new dictionary for this frame
        if _all_missing(values):
            return pd.Categorical(np.full(n, None, dtype=object))
        try:
            return pd.Categorical(values)
        except (TypeError, ValueError) as ex:  # pragma: no cover - Categorical takes anything
            raise fail(str(ex)) from ex
    if isinstance(ref, pd.StringDtype) or (isinstance(ref, np.dtype) and ref.kind in "OUS"):
        if _all_missing(values):
            return np.full(n, None, dtype=object)  # sent as NULLs of the header's type
        if isinstance(ref, pd.StringDtype) and _text(values):
            # the storage of the first frame's (pyarrow or Python), which
            # decides the wire layout
            return pd.array(np.asarray(values, dtype=object), dtype=ref)
        if isinstance(ref, np.dtype) and ref.kind == "O" and isinstance(vd, pd.StringDtype):
            return np.asarray(values.to_numpy(dtype=object, na_value=None))
        if isinstance(vd, pd.StringDtype) or (isinstance(vd, np.dtype) and vd.kind in "OUS"):
            return values  # the planner decides; the wire types must agree
        if isinstance(vd, pd.CategoricalDtype):
            return np.asarray(values.astype(object))
        raise fail("its values are not text or objects")
    if isinstance(ref, np.dtype) and ref.kind in "iub":
        try:
            nullable = pd.array(values, dtype=_NULLABLE[ref])
        except (TypeError, ValueError, OverflowError) as ex:
            raise fail(str(ex)) from ex
        missing = np.asarray(nullable.isna())
        if missing.any():
            raise ValueError(
                f"column {name!r} is {ref} in the first frame of the stream, without NULLs,"
                f" but {frame} has a missing value"
                f" ({_row_text(int(np.argmax(missing)), first_row)}):"
                f" give the column a nullable dtype ({_NULLABLE[ref]!r}) in every frame")
        return nullable.to_numpy(dtype=ref)
    if isinstance(ref, np.dtype) and ref.kind == "f":
        try:
            return pd.array(values, dtype=_NULLABLE[ref]).to_numpy(dtype=ref, na_value=np.nan)
        except (TypeError, ValueError) as ex:
            raise fail(str(ex)) from ex
    if isinstance(ref, np.dtype) and ref.kind == "M":
        if isinstance(vd, pd.DatetimeTZDtype):
            raise fail("its timestamps have a time zone, the first frame's do not")
        try:
            idx = _to_datetime(values)
        except (TypeError, ValueError, OverflowError) as ex:
            raise fail(str(ex), ValueError) from ex
        if getattr(idx, "tz", None) is not None:
            raise fail("its timestamps have a time zone, the first frame's do not")
        return np.asarray(idx).astype(ref)
    if isinstance(ref, pd.DatetimeTZDtype):
        if isinstance(vd, np.dtype) and vd.kind == "M" and not _all_missing(values):
            raise fail("its timestamps have no time zone")
        try:
            try:
                idx = _to_datetime(values)
            except ValueError:  # several UTC offsets
                idx = _to_datetime(values, utc=True)
        except (TypeError, ValueError, OverflowError) as ex:
            raise fail(str(ex), ValueError) from ex
        if getattr(idx, "tz", None) is None:
            if not _all_missing(values):
                raise fail("its timestamps have no time zone")
            idx = pd.DatetimeIndex(idx).tz_localize("UTC")
        return pd.DatetimeIndex(idx).tz_convert(ref.tz).array
    if isinstance(ref, np.dtype) and ref.kind == "m":
        try:
            return np.asarray(pd.to_timedelta(values)).astype(ref)
        except (TypeError, ValueError, OverflowError) as ex:
            raise fail(str(ex), ValueError) from ex
    try:  # nullable Int*/Float*/boolean, and other extension dtypes
        return pd.array(values, dtype=ref)
    except (TypeError, ValueError, OverflowError) as ex:
        raise fail(str(ex)) from ex


class _Wrapper(ColumnData):
    """A frame's column data adapted to the stream header (abstract)."""

    def __init__(self, inner: ColumnData) -> None:
        self._inner = inner
        self.bit_packed = inner.bit_packed

    def dictionary(self) -> Optional[Tuple[int, List[memoryview]]]:
        return self._inner.dictionary()

    def boundaries(self) -> Sequence[int]:
        return self._inner.boundaries()

    def dictionary_key(self, start: int) -> Any:
        return self._inner.dictionary_key(start)

    def dictionary_at(self, start: int) -> Optional[Tuple[int, List[memoryview]]]:
        return self._inner.dictionary_at(start)


class _ZeroMask(_Wrapper):
    """A column without NULLs in a stream whose header gives it a byte mask."""

    def __init__(self, inner: ColumnData) -> None:
        super().__init__(inner)
        self.row_width = inner.row_width + 1

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        return [memoryview(bytes(stop - start))] + self._inner.buffers(start, stop)

    def buffer_lengths(self, nrows: int) -> List[int]:
        return [nrows] + self._inner.buffer_lengths(nrows)


class _AllValid(_Wrapper):
    """An Arrow column without NULLs in a stream whose header gives it a
    validity bitmap: all ones (a shared buffer)."""

    def __init__(self, inner: ColumnData) -> None:
        super().__init__(inner)
        self.bit_packed = True
        self.row_width = inner.row_width + 1

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        from ._src_arrow import _ones

        return [_ones((stop - start + 7) // 8)] + self._inner.buffers(start, stop)

    def buffer_lengths(self, nrows: int) -> List[int]:
        return [(nrows + 7) // 8] + self._inner.buffer_lengths(nrows)


class _WideCodes(_Wrapper):
    """Dictionary codes widened per batch to the header's index type."""

    def __init__(self, inner: ColumnData, dtype: np.dtype) -> None:
        super().__init__(inner)
        (self._codes,) = inner.arrays()
        self._dtype = dtype
        self.row_width = dtype.itemsize

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        return [memoryview(self._codes[start:stop].astype(self._dtype)).cast("B")]

    def buffer_lengths(self, nrows: int) -> List[int]:
        return [nrows * self._dtype.itemsize]


class _AllNull(ColumnData):
    """A frame's column with no value at all, as NULLs of the header's type."""

    def __init__(self, header: PlannedColumn) -> None:
        self._header = header
        self.row_width = sum(self.buffer_lengths(1))

    def buffer_lengths(self, nrows: int) -> List[int]:
        h = self._header
        out = []
        if h.nulls == NullEncoding.BYTEMASK:
            out.append(nrows)
        elif h.nulls == NullEncoding.BITMAP:  # Arrow columns
            out.append((nrows + 7) // 8)
        if h.wire_type in VAR_WIDTH:
            out += [(nrows + 1) * VAR_WIDTH[h.wire_type], 0]
        elif h.wire_type == WireType.BITBOOL:
            out.append((nrows + 7) // 8)
        elif h.wire_type == WireType.DICTIONARY:
            out.append(nrows * WireType(h.index_type).width)
        else:
            out.append(nrows * h.wire_type.width)
        return out

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        h = self._header
        n = stop - start
        lengths = self.buffer_lengths(n)
        out = []
        if h.nulls == NullEncoding.BYTEMASK:
            out.append(memoryview(b"\x01" * n))
            lengths = lengths[1:]
        elif h.nulls == NullEncoding.BITMAP:  # all zero: every row NULL
            out.append(memoryview(bytes(lengths[0])))
            lengths = lengths[1:]
        if h.wire_type == WireType.DICTIONARY:
            width = WireType(h.index_type).width
            return out + [memoryview(np.full(n, -1, dtype=f"<i{width}")).cast("B")]
        return out + [memoryview(bytes(k)) for k in lengths]


def _describe(c: PlannedColumn) -> str:
    p = c.plan
    s = c.wire_type.wire_name
    if p.unit:
        s += f"[{p.unit}]"
    if c.wire_type == WireType.DICTIONARY:
        s += f"[{WireType(c.index_type).wire_name} codes]"
    if c.flags:
        s += " with NaN/NaT as NULL"
    return s


def _widen(c: PlannedColumn) -> PlannedColumn:
    """The header's column for a stream of frames (see FrameStream)."""
    p = c.plan
    if getattr(c.data, "arrow", False):
        # Arrow columns (pandas' pyarrow-backed str, ArrowDtype): a validity
        # bitmap in case a later frame has NULLs (all ones in a frame without)
        if c.nulls == NullEncoding.NONE and c.wire_type != WireType.NULL:
            note = "a validity bitmap, in case a later frame has NULLs"
            plan = dataclasses.replace(p, nulls="bitmap",
                                       reason=f"{p.reason}; {note}" if p.reason else note)
            return dataclasses.replace(c, nulls=NullEncoding.BITMAP, plan=plan,
                                       data=c.data.with_bitmap())  # type: ignore[attr-defined]
        return c
    if c.wire_type in (WireType.UTF8, WireType.BINARY, WireType.DATE32) and \
            c.nulls == NullEncoding.NONE:
        note = "a byte mask, in case a later frame has NULLs"
        plan = dataclasses.replace(p, nulls="bytemask",
                                   reason=f"{p.reason}; {note}" if p.reason else note)
        return dataclasses.replace(c, nulls=NullEncoding.BYTEMASK, plan=plan)
    if c.wire_type == WireType.DICTIONARY and WireType(c.index_type).width < 4:
        note = (f"codes widened from {WireType(c.index_type).wire_name} to int32 per batch,"
                " in case a later frame has more categories")
        plan = dataclasses.replace(p, zero_copy=False,
                                   reason=f"{p.reason}; {note}" if p.reason else note)
        return dataclasses.replace(c, index_type=int(WireType.INT32), plan=plan)
    return c


def fit_column(header: PlannedColumn, col: PlannedColumn, frame: str) -> PlannedColumn:
    """A frame's planned column, made to match the stream header's column.

    The wire type, unit, flags and value type must agree.  A frame's column
    without NULLs gets an all-zero byte mask when the header has one; its
    categorical codes are widened to the header's index type; a column with
    no value at all (the ``null`` wire type) is sent as NULLs of the
    header's type, when that type can mark NULLs.
    """
    name = header.name
    if col.wire_type == WireType.NULL and header.wire_type != WireType.NULL:
        if header.nulls == NullEncoding.NONE and header.wire_type != WireType.DICTIONARY:
            raise ValueError(
                f"column {name!r}: {frame} has no value in it, but the"
                f" stream's header (from the first frame) sends it as {_describe(header)}"
                " without NULLs")
        return dataclasses.replace(header, plan=col.plan, data=_AllNull(header))
    if header.wire_type == WireType.NULL and col.wire_type != WireType.NULL:
        raise TypeError(
            f"column {name!r} has no value in the first frame of the stream, which gave it"
            f" the null wire type, but {frame} has {col.plan.dtype} values: give"
            " the column a definite dtype in the first frame (e.g. .astype('string') for"
            " text, 'Float64', 'Int64')")
    if (col.wire_type, col.unit, col.flags, col.value_type) != \
            (header.wire_type, header.unit, header.flags, header.value_type) or (
            col.wire_type == WireType.DICTIONARY
            and WireType(col.index_type).width > WireType(header.index_type).width):
        raise TypeError(
            f"column {name!r}: {frame} ({col.plan.dtype}) would be"
            f" sent as {_describe(col)}, but the stream's header, from the first frame,"
            f" says {_describe(header)}: give the column the same dtype in every frame")
    data = col.data
    if col.wire_type == WireType.DICTIONARY and col.index_type != header.index_type:
        data = _WideCodes(data, np.dtype(f"<i{WireType(header.index_type).width}"))
    if col.nulls != header.nulls:
        if header.nulls == NullEncoding.BYTEMASK and col.nulls == NullEncoding.NONE:
            data = _ZeroMask(data)
        elif header.nulls == NullEncoding.BITMAP and col.nulls == NullEncoding.NONE:
            data = _AllValid(data)
        else:
            raise TypeError(
                f"column {name!r}: {frame} marks NULLs with"
                f" {col.nulls.wire_name}, the stream's header with {header.nulls.wire_name}")
    return dataclasses.replace(header, plan=col.plan, data=data)


class FrameStream:
    """One zcimport stream made of several frames, for one COPY.

    The first frame with rows fixes the stream's header: the columns, their
    names and wire types (frames before it, with no rows, are skipped).
    Every later frame must have the same columns (the same labels, or
    the same ``columns=`` selection) and is converted, column by column, to
    the first frame's dtypes (:func:`coerce_values`):

    - NumPy integers and booleans: values that convert exactly (``1.0`` ->
      ``1``); a missing value is an error, since the header has no NULL mask
      for the column (use pandas' nullable ``Int64``/``boolean`` dtypes, as
      the command line does for CSV files);
    - floats: numbers convert, missing values become NaN;
    - nullable ``Int*``/``Float*``/``boolean``: converted with pandas' safe
      casting (``1.5`` is an error for ``Int64``), missing values NULL;
    - ``datetime64``/tz-aware/``timedelta64``: converted with
      ``pd.to_datetime``/``pd.to_timedelta`` (time zones must agree in
      kind: naive or aware);
    - text and other objects: kept; a column that is entirely missing is
      sent as NULLs; the kind of values must give the same wire type;
    - categoricals: each frame's categorical sends its own dictionary
      message before the frame's batches (a later dictionary replaces the
      earlier one, docs/FORMAT.md), unless it is the same as the previous
      one.

    With ``widen=True`` (the default) the header is made to fit frames that
    differ from the first one in ways the data cannot show up front: text,
    bytes and date columns always carry a byte mask (all zero in a frame
    without NULLs), and categorical codes are sent as ``int32`` (widened
    per batch: pandas uses ``int8`` codes up to 127 categories).
    ``widen=False`` keeps the first frame's header as it is (a stream of
    one frame is then exactly what :func:`iter_chunks` makes).

    Only one frame is held at a time: the next is taken from ``frames``
    when the previous one has been sent.  ``rows`` counts the rows sent so
    far; the end marker carries the total.

    Args:
        frames: an iterable of DataFrames (or mappings of columns).
        columns, nan_as_null: as for :func:`zcimport.copy_dataframe`,
            applied to every frame.
        batch_rows: rows per batch; default: each frame's own default
            (:func:`zcimport.default_batch_rows`).
        widen: see above.
        what: what error messages call a frame (``"chunk"``: "chunk 3
            (rows 200,001 to 300,000)", rows counted from 1).
        hint: appended to the message of a later frame that does not fit.
        header: the stream's header columns, planned beforehand (a stream
            of Arrow record batches: from its schema,
            :class:`zcimport._plan.StreamPlan`); then no frame is read
            before :meth:`chunks`, and every frame, the first included, is
            fitted to it.

    Raises:
        ValueError: ``frames`` is empty.  Errors of planning the first
        frame are raised here; later frames' errors while streaming.
    """

    def __init__(
        self,
        frames: Iterable[Any],
        *,
        columns: ColumnsArg = None,
        nan_as_null: bool = True,
        batch_rows: Optional[int] = None,
        widen: bool = True,
        what: str = "frame",
        hint: str = "",
        header: Optional[Sequence[PlannedColumn]] = None,
    ) -> None:
        self._frames = iter(frames)
        self._what = what
        self._hint = hint
        self._columns = columns
        self._nan_as_null = bool(nan_as_null)
        self._batch_rows = batch_rows
        self._started = False
        self._label = ""
        #: Rows sent so far (all frames).
        self.rows = 0
        first: Optional[Tuple[Plan, List[Any]]] = None
        self._frame_no = 0
        self._fixed = header is not None
        #: Frames read, once the stream has been sent (frames without rows too).
        self.frames = 0
        if header is not None:
            self._ref: Optional[List[Any]] = None
            self._names = [c.name for c in header]
            self._first: Optional[Plan] = None
            self.header_columns: Tuple[PlannedColumn, ...] = tuple(header)
            self.plan = Plan(header, 0)
            return
        for frame in self._frames:
            self._frame_no += 1
            first = self._plan_frame(frame, None)
            del frame
            if first[0].rows:
                break
        if first is None:
            raise ValueError("no frames to load: the iterable of frames is empty")
        plan, self._ref = first
        resolve_batch_rows(plan, batch_rows)  # validate now
        self._names = [c.name for c in plan.planned_columns]
        self._first = plan
        cols = [_widen(c) if widen else c for c in plan.planned_columns]
        #: The stream's header columns (the first frame's, widened).
        self.header_columns = tuple(cols)
        #: The plan as sent: the header's columns, with the first frame's rows.
        self.plan = Plan(cols, plan.rows)

    @property
    def names(self) -> List[str]:
        """The stream's column names (the COPY column list)."""
        return list(self._names)

    def _plan_frame(self, frame: Any, ref: Optional[List[Any]]) -> Tuple[Plan, List[Any]]:
        k = self._frame_no
        what = f"{self._what} {k}"
        try:
            selected, nrows = select_columns(frame, self._columns)
        except KeyError as ex:
            if ref is None:
                raise
            raise KeyError(f"{what}: {ex.args[0]}") from None
        names = [name for _, name, _, _ in selected]
        if (ref is not None or self._fixed) and names != self._names:
            raise ValueError(f"{what} has the columns {names}, but the first one has"
                             f" {self._names}")
        if nrows:
            what += f" (rows {self.rows + 1:,} to {self.rows + nrows:,})"
        self._label = what
        planned = []
        dtypes = []
        for i, (label, name, values, dtype) in enumerate(selected):
            arrow = getattr(values, "dtype", None) is None  # pyarrow: a schema fixes the type
            if ref is not None and not arrow:
                try:
                    values = coerce_values(values, ref[i], name, what, self.rows + 1)
                except (TypeError, ValueError) as ex:
                    if not self._hint:
                        raise
                    raise type(ex)(f"{ex}; {self._hint}") from None
                dtype = str(values.dtype)
            dtypes.append(getattr(values, "dtype", None))
            planned.append(plan_column(ColumnInput(source=label, name=name, values=values,
                                                   dtype=dtype, nan_as_null=self._nan_as_null)))
        return Plan(planned, nrows), dtypes

    def chunks(self) -> Iterator[Chunk]:
        """The stream: header, then per frame its dictionaries and batches, then the end."""
        if self._started:
            raise RuntimeError("a FrameStream can be sent only once")
        self._started = True
        header = self.header_columns
        yield Chunk([encode_header(header)])
        plan = self._first
        self._first = None
        k = self._frame_no
        sent: Dict[int, Any] = {}  # column index -> the last dictionary sent
        keys: Dict[int, Any] = {}  # column index -> the key of the last dictionary sent
        while True:
            if plan is not None and plan.rows:
                try:
                    cols = [fit_column(h, c, self._label)
                            for h, c in zip(header, plan.planned_columns)]
                except (TypeError, ValueError) as ex:
                    if not self._hint:
                        raise
                    raise type(ex)(f"{ex}; {self._hint}") from None
                parts: List[Part] = []
                for index, c in enumerate(cols):
                    d = c.data.dictionary_at(0)
                    if d is None:
                        continue
                    keys[index] = c.data.dictionary_key(0)
                    entries, buffers = d
                    last = sent.get(index)
                    if last is not None and last[0] == entries and all(
                            a == b for a, b in zip(last[1], buffers)):
                        continue  # the same categories: the dictionary stays
                    sent[index] = d
                    parts.extend(_dictionary_message(index, d))
                if parts:
                    yield Chunk(parts)
                del parts
                batch = resolve_batch_rows(plan, self._batch_rows)
                yield from frame_batches(cols, plan.rows, batch, keys)
                for index, c in enumerate(cols):
                    if index in sent and c.data.boundaries():
                        del sent[index]  # a chunk's dictionary may have been sent since
                self.rows += plan.rows
                del cols
            plan = None  # release this frame before the next one is read
            frame = next(self._frames, None)
            if frame is None:
                break
            self._frame_no = k = k + 1
            plan, _ = self._plan_frame(frame, self._ref)
            del frame
        self.frames = k
        yield Chunk([end_marker(self.rows)])


def dump_frames(
    frames: Iterable[Any],
    file: Any,
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
    widen: bool = True,
    progress: Any = None,
) -> int:
    """Write one stream of several frames to a binary file object.

    See :class:`FrameStream`.  Returns the total number of rows written.
    """
    stream = FrameStream(frames, columns=columns, nan_as_null=nan_as_null,
                         batch_rows=batch_rows, widen=widen)
    write_chunks(stream.chunks(), file, progress)
    return stream.rows
