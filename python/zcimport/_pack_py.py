"""Packing of object columns into zcimport stream buffers, in Python.

The pure-Python version of the C module :mod:`zcimport._pack` (``_pack.c``):
the same four functions, with the same arguments, the same results byte for
byte and the same errors (type, message and, for UnicodeEncodeError, its
attributes).  :mod:`zcimport._packers` chooses between the two
(``ZCIMPORT_IMPL``); this one serves where the C module is not built, and
is several times slower on string columns.

What the C module reads from an object's C struct, this one reads through
the base type's own methods, so that a subclass overriding ``__len__``,
``encode`` or ``toordinal`` packs as in C: ``str.encode(v)``,
``bytes.__len__(v)``, ``datetime.date.toordinal(v)``.  Types are tested
with ``issubclass(type(v), ...)``, never with ``isinstance``, which a
``__class__`` property can fool.

Missing values (NULL): None, a float NaN (float and its subclasses, such as
numpy.float64), and the objects of the ``missing`` tuple (by identity).
"""

from __future__ import annotations

import datetime as _dt
import io
import math
import operator
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

#: Bytes of a single buffer of a batch: a batch message must stay < 1 GiB.
MAX_DATA = 0x3FFFFFFF
#: The most objects the ``missing`` tuple may hold.
MAX_MISSING = 8
#: Values read at a time (a list of their pointers, their encoded bytes).
CHUNK_ROWS = 4096

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_NOT_CONTIGUOUS = "memoryview: underlying buffer is not C-contiguous"
_FORMAT_PREFIXES = "|=@<>"

# -- helpers -----------------------------------------------------------------


def type_name(o: Any) -> str:
    """The fully qualified name of o's type, as _pack.c's error messages give it.

    ``module.qualname``, or the bare qualname for builtins and __main__.
    """
    t = type(o)
    qualname = t.__qualname__
    try:
        module = t.__module__
    except Exception:  # pragma: no cover - a type without __module__
        module = None
    if not issubclass(type(module), str) or module in ("builtins", "__main__"):
        return str.__str__(qualname)
    return f"{str.__str__(module)}.{str.__str__(qualname)}"


def _missing_tuple(missing: Any) -> Tuple[Any, ...]:
    """The extra missing values (None: none), checked as _pack.c checks them."""
    if missing is None:
        return ()
    if not issubclass(type(missing), tuple) or tuple.__len__(missing) > MAX_MISSING:
        raise TypeError(f"missing must be a tuple of at most {MAX_MISSING} objects")
    return tuple.__getitem__(missing, slice(None))


def _open(values: Any) -> Tuple[Any, int]:
    """(items, n): values as a list, tuple or 1-D object ndarray, and its length.

    Accepts what _pack.c accepts: a list, a tuple (or a subclass), or an
    object exporting a 1-D buffer of Python objects (format 'O').
    """
    t = type(values)
    if issubclass(t, list):
        return values, list.__len__(values)
    if issubclass(t, tuple):
        return values, tuple.__len__(values)
    try:
        view = memoryview(values)
    except Exception:
        raise TypeError("expected a 1-D NumPy array of objects, a list or a tuple, not "
                        f"{type_name(values)}") from None
    with view:
        fmt = view.format
        ndim, itemsize = view.ndim, view.itemsize
    bare = fmt[1:] if fmt[:1] and fmt[0] in _FORMAT_PREFIXES else fmt
    if bare != "O" or ndim != 1 or itemsize != np.dtype(object).itemsize:
        raise TypeError("expected a 1-D array of Python objects (format 'O'), not format"
                        f" '{fmt}' with {ndim} dimensions")
    arr = np.asarray(values)
    return arr, int(arr.shape[0])


def _rows(items: Any, start: int, stop: int) -> List[Any]:
    """Values [start, stop) of what _open() returned, as a list."""
    if isinstance(items, np.ndarray):
        out: List[Any] = items[start:stop].tolist()
        return out
    base = list if issubclass(type(items), list) else tuple
    return list(base.__getitem__(items, slice(start, stop)))


def _is_missing(o: Any, missing: Tuple[Any, ...]) -> bool:
    """Is o a missing value (see the module's docstring)?"""
    if o is None:
        return True
    if issubclass(type(o), float):
        return math.isnan(o)
    for m in missing:
        if o is m:
            return True
    return False


def _is_date(o: Any) -> bool:
    """Is o a datetime.date, and not a datetime.datetime?"""
    t = type(o)
    return issubclass(t, _dt.date) and not issubclass(t, _dt.datetime)


def _binary_len(o: Any) -> int:
    """The length of a bytes, bytearray or memoryview value, as _pack.c reads it.

    A memoryview must be readable as C-contiguous bytes: BufferError (or
    ValueError for a released one) otherwise, as the buffer protocol says.
    """
    t = type(o)
    if issubclass(t, bytes):
        return bytes.__len__(o)
    if issubclass(t, bytearray):
        return bytearray.__len__(o)
    if not o.c_contiguous:  # raises ValueError when released
        raise BufferError(_NOT_CONTIGUOUS)
    return int(o.nbytes)


def _utf8(o: str, name: Any, row: int) -> bytes:
    """The UTF-8 bytes of a str; UnicodeEncodeError as _pack.c raises it."""
    try:
        return str.encode(o)
    except UnicodeEncodeError as ex:
        raise _surrogate_error(o, ex.start, name, row) from None


def _surrogate_error(o: str, pos: int, name: Any, row: int) -> UnicodeEncodeError:
    """The error for the lone surrogate at index pos of str o."""
    return UnicodeEncodeError(
        "utf-8", o, pos, pos + 1,
        f"lone surrogate in column {name!r}, row {row}, which UTF-8 cannot encode")


def _check_range(start: Any, stop: Any, n: int) -> Tuple[int, int]:
    """start and stop as ints, within the n values (IndexError otherwise)."""
    start, stop = operator.index(start), operator.index(stop)
    if start < 0 or stop < start or stop > n:
        raise IndexError(f"rows [{start}, {stop}) are not within the {n} values")
    return start, stop


class _Batch:
    """The arguments shared by the pack_*() functions, checked as _pack.c's
    pack_args() checks them, and the batch's mask."""

    def __init__(self, values: Any, start: Any, stop: Any, missing: Any, with_mask: Any,
                 base_row: Any) -> None:
        self.missing = _missing_tuple(missing)
        self.items, n = _open(values)
        self.start, self.stop = _check_range(start, stop, n)
        self.nrows = self.stop - self.start
        self.first = operator.index(base_row) + self.start  # the row of the first value
        self.mask = bytearray(self.nrows) if with_mask else None

    def chunks(self) -> Iterator[Tuple[int, List[Any]]]:
        """(index of the first, values) of each chunk of CHUNK_ROWS values."""
        return _chunks(self.items, self.start, self.stop)

    def mask_bytes(self) -> Optional[bytes]:
        return bytes(self.mask) if self.mask is not None else None


def _chunks(items: Any, start: int, stop: int) -> Iterator[Tuple[int, List[Any]]]:
    """(index from start, values) of each chunk of CHUNK_ROWS of [start, stop)."""
    for a in range(0, stop - start, CHUNK_ROWS):
        yield a, _rows(items, start + a, min(stop, start + a + CHUNK_ROWS))


def _type_error(name: Any, row: int, expected: str, o: Any) -> TypeError:
    return TypeError(f"column {name!r}, row {row}: expected {expected} or a missing value"
                     f" (None, NaN, pd.NA), not {type_name(o)}")


def _null_error(name: Any, row: int) -> ValueError:
    return ValueError(f"column {name!r}, row {row}: a missing value in a column that was"
                      " planned without NULLs (was the frame changed after planning?)")


def _too_large_error(name: Any, first: int, last: int, need: int) -> ValueError:
    return ValueError(f"column {name!r}: the values of rows {first} to {last} take more than"
                      f" {MAX_DATA} bytes (at least {need}), more than a batch message can"
                      " hold (1 GiB); use a smaller batch_rows")


# -- scan_objects() -------------------------------------------------------------


class _Scan:
    """What scan_objects() counts, chunk by chunk."""

    def __init__(self) -> None:
        self.types: Dict[type, List[int]] = {}
        self.nulls = 0
        self.first_null = -1
        self.utf8_bytes = self.utf8_max = 0
        self.utf8_bad = -1
        self.bin_bytes = self.bin_max = 0
        self.bin_bad = -1

    def add_type(self, t: type, row: int, count: int) -> None:
        """count values of type t, the first at row."""
        seen = self.types.get(t)
        if seen is None:
            self.types[t] = [row, count]
        else:
            seen[1] += count

    def plain(self, p: _PlainStrs, at: int) -> None:
        """A chunk of str and None values (rows at, at + 1, ...)."""
        n = len(p.lengths)
        if p.nones:
            if self.nulls == 0:
                self.first_null = at + p.nones[0]
            self.nulls += len(p.nones)
        if p.strs:
            first = at + _first_not_in(p.nones, n)
            self.add_type(str, first, len(p.strs))
            self.utf8_bytes += int(p.lengths.sum())
            self.utf8_max = max(self.utf8_max, int(p.lengths.max()))

    def values(self, vals: List[Any], at: int, ms: Tuple[Any, ...]) -> None:
        """A chunk of any values (rows at, at + 1, ...), one by one."""
        for i, o in enumerate(vals, at):
            if _is_missing(o, ms):
                if self.nulls == 0:
                    self.first_null = i
                self.nulls += 1
                continue
            t = type(o)
            self.add_type(t, i, 1)
            if issubclass(t, str):
                if str.isascii(o):
                    k = str.__len__(o)
                else:
                    try:
                        k = len(str.encode(o))
                    except UnicodeEncodeError:
                        if self.utf8_bad < 0:
                            self.utf8_bad = i
                        continue
                self.utf8_bytes += k
                self.utf8_max = max(self.utf8_max, k)
            elif issubclass(t, (bytes, bytearray, memoryview)):
                try:
                    k = _binary_len(o)
                except (BufferError, ValueError):
                    if self.bin_bad < 0:
                        self.bin_bad = i
                    continue
                self.bin_bytes += k
                self.bin_max = max(self.bin_max, k)

    def result(self) -> Dict[str, Any]:
        """The dict scan_objects() returns."""
        return {
            "nulls": self.nulls, "first_null": self.first_null,
            "types": [(t, first, count) for t, (first, count) in self.types.items()],
            "utf8_bytes": self.utf8_bytes, "utf8_max": self.utf8_max,
            "utf8_bad": self.utf8_bad,
            "binary_bytes": self.bin_bytes, "binary_max": self.bin_max,
            "binary_bad": self.bin_bad,
        }


def _first_not_in(sorted_rows: List[int], n: int) -> int:
    """The first of 0..n-1 not in sorted_rows (which does not hold them all)."""
    for i, r in enumerate(sorted_rows):
        if r != i:
            return i
    return len(sorted_rows)


def scan_objects(values: Any, missing: Any = ()) -> Dict[str, Any]:
    """One pass over values (a 1-D NumPy object array, a list or a tuple).

    Returns the dict _pack.c's scan_objects returns: nulls, first_null
    (-1 if none), types ([(type, first row, count), ...] of the other
    values, in order of first appearance), utf8_bytes, utf8_max, utf8_bad
    (first row of a str with a lone surrogate, or -1), binary_bytes,
    binary_max and binary_bad (first row of a memoryview that cannot be
    read as C-contiguous bytes, or -1).
    """
    ms = _missing_tuple(missing)
    items, n = _open(values)
    scan = _Scan()
    for a, vals in _chunks(items, 0, n):
        plain, _ = _plain_strs(vals, False)
        if plain is not None:
            scan.plain(plain, a)
        else:
            scan.values(vals, a, ms)
    return scan.result()


# -- pack_utf8(), pack_binary() -------------------------------------------------


class _PlainStrs:
    """A chunk of values that are all exactly str or None, without lone
    surrogates (the common case, handled without a loop in Python)."""

    __slots__ = ("strs", "nones", "lengths")

    def __init__(self, strs: List[str], nones: List[int], lengths: np.ndarray) -> None:
        self.strs = strs  # the str values, in order
        self.nones = nones  # the indexes of the None values
        self.lengths = lengths  # UTF-8 lengths of all values (0 for None)


def _plain_strs(vals: List[Any], encode: bool) -> Tuple[Optional[_PlainStrs], List[bytes]]:
    """(_PlainStrs, the UTF-8 bytes of the str values if encode) for a chunk
    of exactly str and None values, or (None, []) for any other chunk."""
    kinds = set(map(type, vals))
    if not kinds <= {str, type(None)}:
        return None, []
    if type(None) in kinds:
        nones = [i for i, v in enumerate(vals) if v is None]
        strs = [v for v in vals if v is not None]
    else:
        nones, strs = [], vals
    parts: List[bytes] = []
    if encode or not "".join(strs).isascii():
        try:
            parts = list(map(str.encode, strs))
        except UnicodeEncodeError:
            return None, []
        str_lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(strs))
    else:
        str_lengths = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    if nones:
        lengths = np.zeros(len(vals), dtype=np.int64)
        is_str = np.ones(len(vals), dtype=bool)
        is_str[nones] = False
        lengths[is_str] = str_lengths
    else:
        lengths = str_lengths
    return _PlainStrs(strs, nones, lengths), parts


def _pack_var(values: Any, start: Any, stop: Any, missing: Any, with_mask: Any, name: Any,
              base_row: Any, binary: bool) -> Tuple[Optional[bytes], bytes, bytes, int]:
    """The shared body of pack_utf8 and pack_binary.

    The rows are read CHUNK_ROWS at a time, so that the Python objects made
    per value (a list of pointers, the encoded bytes) are those of one
    chunk; the data is gathered in a BytesIO, whose getvalue() then returns
    its buffer without a copy.
    """
    batch = _Batch(values, start, stop, missing, with_mask, base_row)
    nrows, first, mask = batch.nrows, batch.first, batch.mask
    offsets = np.zeros(nrows + 1, dtype="<i8")
    out = io.BytesIO()
    nulls = off = 0
    for a, vals in batch.chunks():
        b = a + len(vals)
        plain, parts = (None, []) if binary else _plain_strs(vals, True)
        if plain is not None and (mask is not None or not plain.nones):
            lengths: Any = plain.lengths
            if plain.nones and mask is not None:
                flags = np.zeros(b - a, dtype=np.uint8)
                flags[plain.nones] = 1
                mask[a:b] = flags.tobytes()
                nulls += len(plain.nones)
        else:
            parts, lengths, k = _pack_var_loop(vals, batch.missing, mask, a, name, first,
                                               first + nrows - 1, off, binary)
            nulls += k
        chunk = offsets[a + 1:b + 1]
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=chunk)
        chunk += off
        over = np.flatnonzero(chunk > MAX_DATA)
        if over.size:  # only str values get here: the loop checks as it goes
            raise _too_large_error(name, first, first + nrows - 1, int(chunk[over[0]]))
        off = int(offsets[b])
        out.write(b"".join(parts))
        del parts, vals
    data = out.getvalue()
    return batch.mask_bytes(), offsets.tobytes(), data, nulls


def _pack_var_loop(vals: List[Any], ms: Tuple[Any, ...], mask: Optional[bytearray], at: int,
                   name: Any, first: int, last: int, off: int,
                   binary: bool) -> Tuple[List[Any], List[int], int]:
    """The values of a chunk (rows at, at + 1, ...), one by one: (parts to
    join, the lengths of all values, nulls); rows first to last are the
    batch's, for errors.

    Raises the first error in row order, as _pack.c's first pass does (a
    batch too large included: off, the bytes before the chunk, is counted
    on value by value).
    """
    expected = "bytes, bytearray or memoryview" if binary else "str"
    kinds = (bytes, bytearray, memoryview) if binary else str
    parts: List[Any] = []
    lengths: List[int] = []
    nulls = 0
    for i, o in enumerate(vals, at):
        if issubclass(type(o), kinds):
            if binary:
                try:
                    k = _binary_len(o)
                except (BufferError, ValueError) as ex:
                    raise ValueError(f"column {name!r}, row {first + i}: cannot read the"
                                     f" memoryview as contiguous bytes: {ex}") from None
                part = o
            else:
                part = _utf8(o, name, first + i)
                k = len(part)
        elif _is_missing(o, ms):
            if mask is None:
                raise _null_error(name, first + i)
            mask[i] = 1
            nulls += 1
            lengths.append(0)
            continue
        else:
            raise _type_error(name, first + i, expected, o)
        parts.append(part)
        lengths.append(k)
        off += k
        if off > MAX_DATA:
            raise _too_large_error(name, first, last, off)
    return parts, lengths, nulls


def pack_utf8(values: Any, start: int, stop: int, missing: Any = (), with_mask: bool = False,
              name: Any = None, base_row: int = 0) -> Tuple[Optional[bytes], bytes, bytes, int]:
    """Pack rows [start, stop) of str values as a utf8 column's buffers.

    Returns (mask, offsets, data, nulls) as _pack.c's pack_utf8: mask
    (bytes, 1 = NULL; None unless with_mask), offsets ((n + 1) little-endian
    int64 from 0), data (the UTF-8 bytes) and the number of NULLs.  Missing
    values without with_mask raise ValueError, other values TypeError,
    lone surrogates UnicodeEncodeError, naming the column and the row
    (base_row + index).
    """
    return _pack_var(values, start, stop, missing, with_mask, name, base_row, False)


def pack_binary(values: Any, start: int, stop: int, missing: Any = (), with_mask: bool = False,
                name: Any = None, base_row: int = 0) -> Tuple[Optional[bytes], bytes, bytes, int]:
    """As pack_utf8, for bytes, bytearray and (C-contiguous) memoryview values."""
    return _pack_var(values, start, stop, missing, with_mask, name, base_row, True)


# -- pack_date32() ----------------------------------------------------------------


def pack_date32(values: Any, start: int, stop: int, missing: Any = (), with_mask: bool = False,
                name: Any = None, base_row: int = 0) -> Tuple[Optional[bytes], bytes, int]:
    """Pack rows [start, stop) of datetime.date values (not datetimes) as a
    date32 column's buffers: (mask or None, little-endian int32 days since
    1970-01-01 with 0 for NULLs, nulls), as _pack.c's pack_date32."""
    batch = _Batch(values, start, stop, missing, with_mask, base_row)
    mask = batch.mask
    ordinals = np.full(batch.nrows, _EPOCH_ORDINAL, dtype=np.int64)
    nulls = 0
    for a, vals in batch.chunks():
        for i, o in enumerate(vals, a):
            if _is_date(o):
                ordinals[i] = _dt.date.toordinal(o)
            elif _is_missing(o, batch.missing):
                if mask is None:
                    raise _null_error(name, batch.first + i)
                mask[i] = 1
                nulls += 1
            else:
                raise _type_error(name, batch.first + i, "datetime.date", o)
    days = (ordinals - _EPOCH_ORDINAL).astype("<i4")
    return batch.mask_bytes(), days.tobytes(), nulls
