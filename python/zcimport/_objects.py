"""Planning of columns that have no buffer the stream can send as it is.

The column data and planning functions of object columns, pandas'
``string`` dtype, categoricals and NumPy fixed-width strings; their
handlers are in :mod:`zcimport._src_numpy` and :mod:`zcimport._src_pandas`.

**Strings** (object columns of ``str``, ``string[python]``) become ``utf8``
columns.  Their values are packed *per batch*, never for the whole column at
once, by ``pack_utf8`` of :mod:`zcimport._packers`: in C
(:mod:`zcimport._pack`), one pass over the batch's object pointers computes
the offsets (starting at 0 in every batch) and the byte mask, a second
copies the UTF-8 bytes into a buffer of the exact size.  No Python object is
created per value.  ASCII strings are copied as they are; other strings are
encoded to UTF-8 by zcimport itself, without filling CPython's per-string
UTF-8 cache (which would keep a UTF-8 copy of every non-ASCII string alive).
Client memory for a string column is thus the packed batch being sent (and
the previous one, until it is released).  With ``ZCIMPORT_IMPL=python`` (or
without the C module) :mod:`zcimport._pack_py` packs the same bytes, slower,
with a bytes object per value of the batch.

**Missing values** in object columns are None, float NaN (including
``numpy.float64``), ``pd.NA`` and ``pd.NaT``: they load as NULL, whatever
``nan_as_null`` says.  A column's null encoding is fixed in the stream
header, so it is decided at planning: ``bytemask`` when the column holds at
least one missing value, ``none`` otherwise (no mask is sent).

**Kinds of objects.**  The planner scans an object column once (``scan_objects``) and
decides its wire type from the types of its non-missing values, which must
all be of one kind:

============================  ===========  ===================================
values                        wire type    how
============================  ===========  ===================================
str (and subclasses)          utf8         packed per batch
bytes, bytearray, memoryview  binary       packed per batch
datetime.date (not datetime)  date32       packed per batch, int32 days
decimal.Decimal               utf8         ``str(d)``; NaN as ``NaN``; sNaN is
                                           an error; per batch
dict, list                    utf8         ``json.dumps(v, ensure_ascii=False,
                                           separators=(",", ":"),
                                           allow_nan=False)``; per batch
uuid.UUID                     utf8         ``str(u)``; per batch
ipaddress addresses,          utf8         ``str(a)``; per batch
networks, interfaces
datetime.datetime,            timestamp    microseconds, Python's arithmetic
pd.Timestamp                  [tz]         (a copy); aware values go to UTC
                                           by their own offset (``fold``
                                           too); naive and aware values mixed
                                           are an error
datetime.timedelta,           duration     microseconds (a copy); nanoseconds
pd.Timedelta                               round half to even
only missing values           null         no data: loads into any type
============================  ===========  ===================================

Values converted to text (Decimal, JSON, UUID, ipaddress) are converted
once at planning, chunk by chunk, to validate them and count their bytes
(so errors are raised before anything is sent, and ``packed_bytes`` is
exact), and again per batch while sending.  Anything else (int, float,
bool objects, mixed kinds...) raises TypeError naming the column, the row
and the type, with a hint.

**Categoricals** (:mod:`zcimport._src_pandas`) whose categories are strings become ``dictionary`` columns:
the codes are sent as they are (int8/16/32/64 as pandas holds them; code -1
is NULL), and the categories as one dictionary message, before the first
batch.  Other categoricals (numbers, datetimes, ...) are materialized as
their plain dtype (NULLs as a mask, or NaT) and sent as that type.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import ipaddress
import dataclasses
import json
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ._format import MAX_MESSAGE_LEN, MESSAGE_FIXED_LEN, NullEncoding, TimeUnit, WireType, align8
from ._core import (
    ColumnData,
    ColumnInput,
    FixedWidthData,
    PlannedColumn,
    _planned,
    _Prepared,
    _time_unit,
)

from . import _packers

#: Missing values besides None and float NaN, which the packers check themselves.
MISSING = (pd.NA, pd.NaT)

#: Rows converted at a time when validating converted columns at planning.
CHUNK_ROWS = 65536

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max


def _is_missing(v: Any) -> bool:
    """The missing values of object columns (as the packers check them)."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


# --------------------------------------------------------------------------
# Column data
# --------------------------------------------------------------------------

#: A converter: rows [start, stop) of a column as a list or object array of
#: values the packers can pack (str, bytes or missing values).
Converter = Callable[[int, int], Union[Sequence[Any], np.ndarray]]


class PackedVarData(ColumnData):
    """A utf8 or binary column, packed batch by batch by zcimport._packers.

    ``values`` is the column's object array (or anything the packers accept), or
    ``convert`` produces a batch's values from the rows of the column.
    """

    def __init__(
        self,
        values: Any,
        *,
        binary: bool,
        with_mask: bool,
        name: str,
        rows: int,
        data_bytes: int,
        max_value: int,
        convert: Optional[Converter] = None,
    ) -> None:
        self._values = values
        self._binary = binary
        self._with_mask = with_mask
        self._name = name
        self._convert = convert
        self._data_bytes = data_bytes
        self._max_value = max_value
        avg = -(-data_bytes // rows) if rows else 0
        self.row_width = (1 if with_mask else 0) + 8 + avg

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        pack = _packers.pack_binary if self._binary else _packers.pack_utf8
        if self._convert is not None:
            values = self._convert(start, stop)
            args: Tuple[Any, ...] = (values, 0, stop - start, MISSING, self._with_mask,
                                     self._name, start)
        else:
            args = (self._values, start, stop, MISSING, self._with_mask, self._name, 0)
        mask, offsets, data, _nulls = pack(*args)
        out = [memoryview(mask)] if self._with_mask else []
        return out + [memoryview(offsets), memoryview(data)]

    def buffer_lengths(self, nrows: int) -> List[int]:
        # The data length is an upper bound: the batch's values are not known.
        data = min(self._data_bytes, nrows * self._max_value)
        out = [nrows] if self._with_mask else []
        return out + [(nrows + 1) * 8, data]

    def packed_bytes(self, rows: int) -> int:
        """Bytes packed for the whole column, as if sent in one batch."""
        return (rows if self._with_mask else 0) + (rows + 1) * 8 + self._data_bytes


class NullData(ColumnData):
    """A column with no value: an empty values buffer per batch."""

    row_width = 0

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        return [memoryview(b"")]

    def buffer_lengths(self, nrows: int) -> List[int]:
        return [0]


class Date32Data(ColumnData):
    """A date32 column of datetime.date objects, packed batch by batch."""

    def __init__(self, values: np.ndarray, *, with_mask: bool, name: str) -> None:
        self._values = values
        self._with_mask = with_mask
        self._name = name
        self.row_width = 4 + (1 if with_mask else 0)

    def buffers(self, start: int, stop: int) -> List[memoryview]:
        mask, values, _nulls = _packers.pack_date32(
            self._values, start, stop, MISSING, self._with_mask, self._name, 0)
        return ([memoryview(mask)] if self._with_mask else []) + [memoryview(values)]

    def buffer_lengths(self, nrows: int) -> List[int]:
        return ([nrows] if self._with_mask else []) + [4 * nrows]


class DictionaryData(FixedWidthData):
    """Dictionary codes (the column's own array) and the packed dictionary."""

    def __init__(self, codes: np.ndarray, entries: int, offsets: bytes, data: bytes) -> None:
        super().__init__(codes)
        self._entries = entries
        self._offsets = offsets
        self._data = data

    def dictionary(self) -> Optional[Tuple[int, List[memoryview]]]:
        return self._entries, [memoryview(self._offsets), memoryview(self._data)]

    @property
    def dictionary_bytes(self) -> int:
        """Bytes of the packed dictionary (offsets and data)."""
        return len(self._offsets) + len(self._data)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def _type_name(t: type) -> str:
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


_SUPPORTED_OBJECTS = (
    "str, bytes (bytearray, memoryview), datetime.date, datetime.datetime,"
    " datetime.timedelta, decimal.Decimal, dict/list (JSON), uuid.UUID or"
    " ipaddress objects"
)

_HINTS = {
    bool: "df[col].astype('boolean')",
    int: "df[col].astype('Int64')",
    float: "df[col].astype('Float64')",
}


def _hint(t: type) -> str:
    for base, hint in _HINTS.items():
        if issubclass(t, base):
            return f"; convert the column first, e.g. {hint}"
    if issubclass(t, (np.integer, np.floating, np.bool_)):
        return "; convert the column to a numeric dtype first, e.g. df[col].astype('Float64')"
    return "; convert the column first, e.g. df[col].astype(str) to load text"


def _surrogate_error(name: str, row: int, value: str) -> UnicodeEncodeError:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as ex:
        return UnicodeEncodeError(
            ex.encoding, ex.object, ex.start, ex.end,
            f"lone surrogate in column {name!r}, row {row}, which UTF-8 cannot encode")
    return UnicodeEncodeError("utf-8", value, 0, 0,  # pragma: no cover
                              f"column {name!r}, row {row} cannot be encoded")


# --------------------------------------------------------------------------
# Object kinds
# --------------------------------------------------------------------------

_IP_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address,
             ipaddress.IPv4Network, ipaddress.IPv6Network)  # interfaces subclass addresses


def _object_kind(t: type) -> Optional[str]:
    """The kind of a non-missing value's type; None when unsupported."""
    if issubclass(t, str):
        return "str"
    if issubclass(t, (bytes, bytearray, memoryview)):
        return "bytes"
    if issubclass(t, _dt.datetime):
        return "datetime"
    if issubclass(t, _dt.date):
        return "date"
    if issubclass(t, _dt.timedelta):
        return "timedelta"
    if issubclass(t, decimal.Decimal):
        return "decimal"
    if issubclass(t, (dict, list)):
        return "json"
    if issubclass(t, uuid.UUID):
        return "uuid"
    if issubclass(t, _IP_TYPES):
        return "ip"
    return None


_KIND_NAMES = {
    "str": "str", "bytes": "bytes", "datetime": "datetime", "date": "date",
    "timedelta": "timedelta", "decimal": "Decimal", "json": "dict/list (JSON)",
    "uuid": "UUID", "ip": "ipaddress",
}


def _decide_kind(inp: ColumnInput, info: Dict[str, Any]) -> Optional[str]:
    """The kind of an object column from scan_objects(); None if all missing."""
    types = info["types"]
    if not types:
        return None
    t0, row0, _ = min(types, key=lambda x: x[1])
    kind = _object_kind(t0)
    if kind is None:
        raise TypeError(
            f"column {inp.name!r} has dtype {inp.dtype} and holds"
            f" {_type_name(t0)} values (row {row0}), which zcimport does not support:"
            f" object columns may hold {_SUPPORTED_OBJECTS}{_hint(t0)}"
        )
    others = [(row, t) for t, row, _ in types if _object_kind(t) != kind]
    if others:
        row, t = min(others, key=lambda x: x[0])
        raise TypeError(
            f"column {inp.name!r} has dtype {inp.dtype} and holds {_KIND_NAMES[kind]}"
            f" values (row {row0}), but row {row} holds {_type_name(t)}: the non-missing"
            f" values of an object column must all be of one kind ({_SUPPORTED_OBJECTS});"
            f" missing values are None, NaN, pd.NA and pd.NaT"
        )
    return kind


# --------------------------------------------------------------------------
# Converters (values -> text, per batch)
# --------------------------------------------------------------------------


def _decimal_text(name: str) -> Callable[[Any, int], Optional[str]]:
    def conv(v: Any, row: int) -> Optional[str]:
        if type(v) is not decimal.Decimal and not isinstance(v, decimal.Decimal):
            _other(v, row, name, "decimal.Decimal")
            return None
        if v.is_nan():
            if v.is_snan():
                raise ValueError(
                    f"column {name!r}, row {row}: {v!r} is a signaling NaN, which"
                    " PostgreSQL's numeric cannot hold")
            return "NaN"
        return str(v)  # finite: "1.5", "1E+3"; "Infinity", "-Infinity"

    return conv


def _json_text(name: str) -> Callable[[Any, int], Optional[str]]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False).encode

    def conv(v: Any, row: int) -> Optional[str]:
        if not isinstance(v, (dict, list)):
            _other(v, row, name, "dict or list")
            return None
        try:
            return encode(v)
        except (TypeError, ValueError, RecursionError) as ex:
            raise type(ex)(
                f"column {name!r}, row {row}: cannot encode the value as JSON: {ex}") from ex

    return conv


def _str_text(name: str, types: Tuple[type, ...], what: str) -> Callable[[Any, int], Optional[str]]:
    def conv(v: Any, row: int) -> Optional[str]:
        if not isinstance(v, types):
            _other(v, row, name, what)
            return None
        return str(v)

    return conv


def _other(v: Any, row: int, name: str, expected: str) -> None:
    if _is_missing(v):
        return None
    raise TypeError(
        f"column {name!r}, row {row}: expected {expected} or a missing value,"
        f" not {_type_name(type(v))}")


def _object_converter(values: np.ndarray, conv: Callable[[Any, int], Optional[str]]) -> Converter:
    def convert(start: int, stop: int) -> List[Optional[str]]:
        out: List[Optional[str]] = []
        append = out.append
        row = start
        for v in values[start:stop]:
            append(None if _is_missing(v) else conv(v, row))
            row += 1
        return out

    return convert


def _measure(inp: ColumnInput, convert: Converter, rows: int, binary: bool) -> Tuple[int, int, int]:
    """Convert every chunk once: validate, and count (nulls, bytes, max)."""
    nulls = total = biggest = 0
    prefix = "binary" if binary else "utf8"
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(rows, start + CHUNK_ROWS)
        values = convert(start, stop)
        info = _packers.scan_objects(values, MISSING)
        bad = info[f"{prefix}_bad"]
        if bad >= 0:
            if binary:  # pragma: no cover - converters make bytes
                raise ValueError(f"column {inp.name!r}, row {start + bad}: unreadable bytes")
            raise _surrogate_error(inp.name, start + bad, values[bad])
        for t, row, _ in info["types"]:
            ok = issubclass(t, (bytes, bytearray, memoryview)) if binary else issubclass(t, str)
            if not ok:  # pragma: no cover - converters make str/bytes
                raise TypeError(f"column {inp.name!r}, row {start + row}: converted to"
                                f" {_type_name(t)}")
        nulls += info["nulls"]
        total += info[f"{prefix}_bytes"]
        biggest = max(biggest, info[f"{prefix}_max"])
    return nulls, total, biggest


# --------------------------------------------------------------------------
# Planning helpers
# --------------------------------------------------------------------------


def _rows(values: Any) -> int:
    return len(values)


def _packed_var(
    inp: ColumnInput,
    prep: _Prepared,
    values: Any,
    *,
    binary: bool,
    nulls: int,
    data_bytes: int,
    max_value: int,
    reason: str,
    convert: Optional[Converter] = None,
) -> PlannedColumn:
    rows = _rows(values)
    data = PackedVarData(values, binary=binary, with_mask=nulls > 0, name=inp.name,
                         rows=rows, data_bytes=data_bytes, max_value=max_value,
                         convert=convert)
    prep.note(reason, data.packed_bytes(rows), inp.name)
    return _planned(inp, prep, WireType.BINARY if binary else WireType.UTF8, data,
                    nulls=NullEncoding.BYTEMASK if nulls else NullEncoding.NONE)


def _plan_text(
    inp: ColumnInput,
    prep: _Prepared,
    values: Any,
    info: Dict[str, Any],
    reason: str,
) -> PlannedColumn:
    """A column whose values are str or missing (info from scan_objects)."""
    if info["utf8_bad"] >= 0:
        row = info["utf8_bad"]
        raise _surrogate_error(inp.name, row, values[row])
    return _packed_var(inp, prep, values, binary=False, nulls=info["nulls"],
                       data_bytes=info["utf8_bytes"], max_value=info["utf8_max"],
                       reason=reason)


def _plan_converted_text(
    inp: ColumnInput,
    prep: _Prepared,
    values: Any,
    convert: Converter,
    reason: str,
    *,
    binary: bool = False,
    sizes: Optional[Tuple[int, int, int]] = None,
) -> PlannedColumn:
    """A column converted per batch.  Unless sizes (nulls, data bytes,
    largest value) are known, every value is converted once now, to
    validate it and count the bytes."""
    rows = _rows(values)
    nulls, total, biggest = sizes or _measure(inp, convert, rows, binary)
    return _packed_var(inp, prep, values, binary=binary, nulls=nulls, data_bytes=total,
                       max_value=biggest, reason=reason, convert=convert)


def _without_missing(values: np.ndarray) -> np.ndarray:
    """values with every missing value replaced by None (a copy if needed)."""
    miss = np.asarray(pd.isna(values))
    if not miss.any():
        return values
    out = values.copy()
    out[miss] = None
    return out


_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MICROSECOND = _dt.timedelta(microseconds=1)


def _aware(v: Any) -> bool:
    return v.tzinfo is not None and v.utcoffset() is not None


def _check_awareness(inp: ColumnInput, values: np.ndarray) -> bool:
    """True if the datetimes are all aware, False if all naive; else TypeError."""
    first: Optional[Tuple[int, bool]] = None
    for row, v in enumerate(values):
        if _is_missing(v):
            continue
        a = _aware(v)
        if first is None:
            first = (row, a)
        elif a != first[1]:
            what = "time-zone-aware" if first[1] else "naive"
            raise TypeError(
                f"column {inp.name!r} holds {what} datetimes (row {first[0]}), but the"
                f" datetime in row {row} is {'aware' if a else 'naive'}: mixing naive and"
                " aware datetimes is ambiguous; localize or convert them first")
    return bool(first and first[1])


def _duration_micros(d: Any) -> int:
    """A datetime.timedelta or pd.Timedelta in whole microseconds.

    A pd.Timedelta's nanoseconds round to the nearest microsecond, ties to
    even, as the server rounds a nanosecond column.
    """
    ns = getattr(d, "value", None)  # pd.Timedelta: int nanoseconds
    if isinstance(ns, int):
        q, r = divmod(ns, 1000)
        return q + (r > 500 or (r == 500 and q % 2 == 1))
    return int((d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)


def _micros(inp: ColumnInput, values: np.ndarray, epoch: Any) -> np.ndarray:
    """int64 microseconds of datetimes (v - epoch) or timedeltas (epoch None).

    Python's own arithmetic, value by value: exact for every datetime
    Python holds, whatever unit pandas would infer, and an aware value's
    UTC offset is its own (``fold`` included: the two 02:30 of a DST
    fall-back are different instants, which pandas' conversion cache
    merges).
    """
    out = np.empty(len(values), dtype=np.int64)
    for row, v in enumerate(values):
        if _is_missing(v):
            out[row] = _INT64_MIN
            continue
        us = _duration_micros(v - epoch if epoch is not None else v)
        if not _INT64_MIN < us <= _INT64_MAX:
            raise ValueError(f"column {inp.name!r}, row {row}: {v!r} is out of range")
        out[row] = us
    return out


def _zone_name(values: np.ndarray) -> str:
    """The time zone of aware datetimes, for the stream's header, if they share one."""
    names = {str(v.tzinfo) for v in values if not _is_missing(v)}
    return names.pop() if len(names) == 1 else "UTC"


def _plan_datetimes(inp: ColumnInput, prep: _Prepared, values: np.ndarray) -> PlannedColumn:
    clean = _without_missing(values)
    aware = _check_awareness(inp, clean)
    if aware:
        # Python's arithmetic: pd.to_datetime's cache merges aware values that
        # compare equal but are different instants (the fold of a DST fall-back)
        ints = _micros(inp, values, _EPOCH_UTC)
        unit, tz = TimeUnit.US, _zone_name(values)
        note = "aware datetime objects converted to UTC microseconds"
    else:
        try:
            raw = np.asarray(pd.to_datetime(clean).values)
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            raw = None
        if raw is not None and raw.dtype.kind == "M":
            # in the unit pandas chose (nanoseconds before pandas 3, microseconds since)
            unit, tz = _time_unit(raw.dtype, inp), ""
            ints = np.ascontiguousarray(raw).view(np.int64)  # NaT is the sentinel
            note = "datetime objects converted with pd.to_datetime"
        else:
            ints, unit, tz = _micros(inp, values, _EPOCH), TimeUnit.US, ""
            note = "datetime objects converted to microseconds"
    prep.note(f"{note} (a copy)", ints.nbytes, inp.name)
    return _planned(inp, prep, WireType.TIMESTAMPTZ if aware else WireType.TIMESTAMP,
                    FixedWidthData(ints), sentinel=True, unit=unit,
                    tz=tz if len(tz) <= 255 and tz.isascii() and tz.isprintable() else "")


def _plan_timedeltas(inp: ColumnInput, prep: _Prepared, values: np.ndarray) -> PlannedColumn:
    try:
        raw = np.asarray(pd.to_timedelta(_without_missing(values)).values)
    except (pd.errors.OutOfBoundsTimedelta, OverflowError):
        raw = None
    if raw is not None and raw.dtype.kind == "m":
        # in the unit pandas chose
        unit = _time_unit(raw.dtype, inp)
        ints = np.ascontiguousarray(raw).view(np.int64)  # NaT is the sentinel
        note = "timedelta objects converted with pd.to_timedelta"
    else:
        ints, unit = _micros(inp, values, None), TimeUnit.US
        note = "timedelta objects converted to microseconds"
    prep.note(f"{note} (a copy)", ints.nbytes, inp.name)
    return _planned(inp, prep, WireType.DURATION, FixedWidthData(ints), sentinel=True,
                    unit=unit)


def plan_objects(inp: ColumnInput, values: np.ndarray, prep: Optional[_Prepared] = None) -> PlannedColumn:
    """Plan a 1-D NumPy object array (see the module's docstring).

    The planned column's ``value_kind`` says which kind of values it holds
    (``"null"`` when every value is missing).
    """
    prep = prep or _Prepared()
    info = _packers.scan_objects(values, MISSING)
    kind = _decide_kind(inp, info)
    col = _plan_object_kind(inp, values, prep, info, kind)
    col.value_kind = kind or "null"
    return col


def _plan_object_kind(
    inp: ColumnInput, values: np.ndarray, prep: _Prepared, info: Dict[str, Any], kind: Optional[str]
) -> PlannedColumn:
    name = inp.name
    if kind is None:
        # nothing to type the column by: the null wire type loads anywhere
        return _planned(inp, prep, WireType.NULL, NullData())
    if kind == "str":
        return _plan_text(inp, prep, values, info, "str values packed per batch")
    if kind == "bytes":
        if info["binary_bad"] >= 0:
            raise ValueError(
                f"column {name!r}, row {info['binary_bad']}: the memoryview cannot be read"
                " as C-contiguous bytes (or was released)")
        return _packed_var(inp, prep, values, binary=True, nulls=info["nulls"],
                           data_bytes=info["binary_bytes"], max_value=info["binary_max"],
                           reason="bytes values packed per batch")
    if kind == "date":
        with_mask = info["nulls"] > 0
        prep.note("dates packed per batch as int32 days", len(values) * (4 + with_mask), name)
        return _planned(inp, prep, WireType.DATE32,
                        Date32Data(values, with_mask=with_mask, name=name),
                        nulls=NullEncoding.BYTEMASK if with_mask else NullEncoding.NONE)
    if kind == "datetime":
        return _plan_datetimes(inp, prep, values)
    if kind == "timedelta":
        return _plan_timedeltas(inp, prep, values)
    if kind == "decimal":
        conv, reason = _decimal_text(name), "Decimal values converted to text per batch"
    elif kind == "json":
        conv, reason = _json_text(name), "dict/list values converted to JSON text per batch"
    elif kind == "uuid":  # str(u) is always 36 ASCII characters: no need to measure
        conv = _str_text(name, (uuid.UUID,), "uuid.UUID")
        count = len(values) - info["nulls"]
        return _plan_converted_text(inp, prep, values, _object_converter(values, conv),
                                    "UUID values converted to text per batch",
                                    sizes=(info["nulls"], 36 * count, 36 if count else 0))
    else:
        conv, reason = _str_text(name, _IP_TYPES, "an ipaddress object"), \
            "ipaddress values converted to text per batch"
    return _plan_converted_text(inp, prep, values, _object_converter(values, conv), reason)


__all__ = [
    "Date32Data",
    "DictionaryData",
    "MISSING",
    "PackedVarData",
    "plan_objects",
]
