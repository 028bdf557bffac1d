"""An independent, pure-Python decoder of the zcimport stream format.

Written from docs/FORMAT.md alone, as an oracle for the tests: it shares no
code with the zcimport package.  It validates every rule of the format it
can check (magic, version, byte order, header length, descriptor fields,
alignment, zero padding, buffer lengths, offsets, dictionary codes, end
marker count, nothing after the end) and raises ``FormatError`` on the
first violation.

``decode(data)`` returns a :class:`Stream`: the column descriptors, the
batches (each a list of per-column value lists, with ``None`` for NULL) and
the total row count.  Values are Python objects:

- bool -> bool; integer types -> int; float types -> float (NaN stays NaN
  unless the sentinel flag makes it None);
- timestamp, timestamptz, duration -> int (count of the column's unit);
- date32 -> int (days); utf8 -> str; binary -> bytes;
- dictionary -> the dictionary entry (str).

``decode(data, strict_text=False)`` is for callers that must know what a
stream holds beyond what the *decoder* checks (the server validates text
only when it converts a value, so an unused dictionary entry or a name may
be invalid UTF-8 without failing a load): names and time zones are then
decoded with ``surrogateescape``, and a ``utf8`` value or dictionary entry
that is not UTF-8 becomes an :class:`InvalidText` (the raw bytes) instead of
raising ``FormatError``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

MAGIC = bytes([0x89, 0x5A, 0x43, 0x49, 0x0D, 0x0A, 0x1A, 0x0A])

TYPE_NAMES = {
    1: "bool", 2: "int8", 3: "int16", 4: "int32", 5: "int64",
    6: "uint8", 7: "uint16", 8: "uint32", 9: "uint64",
    10: "float32", 11: "float64", 12: "timestamp", 13: "timestamptz",
    14: "duration", 15: "date32", 16: "utf8", 17: "binary", 18: "dictionary",
    19: "null",
}
# struct format and width of the fixed-width types
FIXED = {
    "bool": ("B", 1), "int8": ("b", 1), "int16": ("h", 2), "int32": ("i", 4),
    "int64": ("q", 8), "uint8": ("B", 1), "uint16": ("H", 2),
    "uint32": ("I", 4), "uint64": ("Q", 8), "float32": ("f", 4),
    "float64": ("d", 8), "timestamp": ("q", 8), "timestamptz": ("q", 8),
    "duration": ("q", 8), "date32": ("i", 4),
}
NULL_NAMES = {0: "none", 1: "bitmap", 2: "bytemask"}
UNIT_NAMES = {0: "s", 1: "ms", 2: "us", 3: "ns"}
TIME_TYPES = {"timestamp", "timestamptz", "duration"}
INDEX_TYPES = {"int8", "int16", "int32", "int64"}
INT64_MIN = -(2**63)
MAX_COUNT = 2**31 - 1


class FormatError(ValueError):
    """The stream breaks a rule of docs/FORMAT.md."""


class InvalidText(bytes):
    """A utf8 value or dictionary entry that is not UTF-8 (strict_text=False)."""


@dataclass
class Column:
    type: str
    nulls: str
    sentinel: bool
    unit: Optional[str]
    index_type: Optional[str]
    value_type: Optional[str]
    name: str
    tz: str
    raw: bytes = b""  # the descriptor bytes, padding included


@dataclass
class Batch:
    rows: int
    columns: List[List[Any]]  # per column, the values of the batch
    offset: int  # stream offset of the message


@dataclass
class Stream:
    version: int
    columns: List[Column]
    header_len: int
    batches: List[Batch] = field(default_factory=list)
    dictionaries: List[Tuple[int, List[str]]] = field(default_factory=list)
    total_rows: int = 0

    def column_values(self, i: int) -> List[Any]:
        """All values of column i, batch after batch."""
        out: List[Any] = []
        for b in self.batches:
            out.extend(b.columns[i])
        return out

    @property
    def names(self) -> List[str]:
        return [c.name for c in self.columns]


def _u(fmt: str, data: bytes, off: int) -> Tuple[Any, ...]:
    try:
        return struct.unpack_from("<" + fmt, data, off)
    except struct.error:
        raise FormatError(f"truncated stream at offset {off}") from None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise FormatError(f"stream ends inside {what} at offset {self.pos}")

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def pad(self, what: str) -> None:
        n = (-self.pos) % 8
        b = self.take(n, f"padding of {what}")
        if any(b):
            raise FormatError(f"non-zero padding after {what} at offset {self.pos - n}")

    def buffer(self, what: str, max_len: Optional[int] = None) -> bytes:
        if self.pos % 8:
            raise FormatError(f"{what} not aligned at offset {self.pos}")
        (length,) = _u("Q", self.data, self.pos)
        self.pos += 8
        if max_len is not None and length != max_len:
            raise FormatError(f"{what}: length {length}, expected {max_len}")
        b = self.take(length, what)
        self.pad(what)
        return b


def _decode_descriptor(data: bytes, off: int, end: int,
                       strict_text: bool = True) -> Tuple[Column, int]:
    if off + 12 > end:
        raise FormatError(f"descriptor at {off} exceeds the header")
    t, nulls, flags, unit, itype, vtype, name_len, tz_len, reserved = _u(
        "BBBBBBHHH", data, off
    )
    if t not in TYPE_NAMES:
        raise FormatError(f"unknown wire type {t}")
    tname = TYPE_NAMES[t]
    if nulls not in NULL_NAMES:
        raise FormatError(f"unknown null encoding {nulls}")
    if flags & ~1:
        raise FormatError(f"unknown flag bits {flags:#x}")
    sentinel = bool(flags & 1)
    if sentinel and tname not in TIME_TYPES | {"float32", "float64"}:
        raise FormatError(f"sentinel flag on a {tname} column")
    if tname in TIME_TYPES:
        if unit not in UNIT_NAMES:
            raise FormatError(f"unknown time unit {unit}")
        unit_name: Optional[str] = UNIT_NAMES[unit]
    else:
        if unit:
            raise FormatError("time unit set on a non-time column")
        unit_name = None
    if tname == "dictionary":
        if TYPE_NAMES.get(itype) not in INDEX_TYPES:
            raise FormatError(f"bad dictionary index type {itype}")
        if TYPE_NAMES.get(vtype) != "utf8":
            raise FormatError(f"bad dictionary value type {vtype}")
        index_type: Optional[str] = TYPE_NAMES[itype]
        value_type: Optional[str] = "utf8"
    else:
        if itype or vtype:
            raise FormatError("index/value type set on a non-dictionary column")
        index_type = value_type = None
    if name_len > 1024:
        raise FormatError(f"name length {name_len} > 1024")
    if tz_len > 255:
        raise FormatError(f"tz length {tz_len} > 255")
    if tz_len and tname != "timestamptz":
        raise FormatError("time zone on a column that is not timestamptz")
    if reserved:
        raise FormatError("non-zero reserved descriptor field")
    p = off + 12
    if p + name_len + tz_len > end:
        raise FormatError("descriptor strings exceed the header")
    errors = "strict" if strict_text else "surrogateescape"
    try:
        name = data[p : p + name_len].decode("utf-8", errors)
        tz = data[p + name_len : p + name_len + tz_len].decode("utf-8", errors)
    except UnicodeDecodeError as ex:
        raise FormatError(f"descriptor string is not UTF-8: {ex}") from None
    q = p + name_len + tz_len
    padded = q + (-q) % 8
    if padded > end:
        raise FormatError("descriptor padding exceeds the header")
    if any(data[q:padded]):
        raise FormatError("non-zero descriptor padding")
    col = Column(tname, NULL_NAMES[nulls], sentinel, unit_name, index_type,
                 value_type, name, tz, data[off:padded])
    return col, padded


def _validity(col: Column, buf: bytes, n: int) -> List[bool]:
    if col.nulls == "bitmap":
        return [bool((buf[i >> 3] >> (i & 7)) & 1) for i in range(n)]
    if col.nulls == "bytemask":
        return [b == 0 for b in buf]
    return [True] * n


def _offsets(buf: bytes, count: int, data_len: int, what: str) -> List[int]:
    offs = [v for (v,) in struct.iter_unpack("<q", buf)] if buf else []
    if len(offs) != count + 1:
        raise FormatError(f"{what}: {len(offs)} offsets for {count} values")
    if offs[0] < 0:
        raise FormatError(f"{what}: negative first offset")
    for a, b in zip(offs, offs[1:]):
        if b < a:
            raise FormatError(f"{what}: offsets decrease")
    if offs[-1] > data_len:
        raise FormatError(f"{what}: offsets beyond the data buffer")
    return offs


def _text(b: bytes, strict_text: bool, what: str) -> Any:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        if strict_text:
            raise FormatError(f"{what} is not UTF-8") from None
        return InvalidText(b)


def decode(data: bytes, strict_text: bool = True) -> Stream:
    """Decode a whole stream; raise FormatError on any violation.

    strict_text=False: invalid UTF-8 in text is not a format error (see the
    module's docstring).
    """
    data = bytes(data)
    if len(data) < 24:
        raise FormatError("stream shorter than the header's fixed part")
    if data[:8] != MAGIC:
        raise FormatError("bad magic")
    version, order, flags, ncols, header_len, reserved = _u("HcBIII", data, 8)
    if version != 1:
        raise FormatError(f"unsupported version {version}")
    if order != b"L":
        raise FormatError(f"bad byte order {order!r}")
    if flags:
        raise FormatError("non-zero header flags")
    if not 1 <= ncols <= 1600:
        raise FormatError(f"bad column count {ncols}")
    if header_len % 8 or header_len > (1 << 20) or header_len < 24:
        raise FormatError(f"bad header length {header_len}")
    if reserved:
        raise FormatError("non-zero reserved header field")
    if header_len > len(data):
        raise FormatError("stream ends inside the header")
    cols = []
    off = 24
    for _ in range(ncols):
        col, off = _decode_descriptor(data, off, header_len, strict_text)
        cols.append(col)
    if off != header_len:
        raise FormatError(f"header length {header_len}, descriptors end at {off}")

    stream = Stream(version, cols, header_len)
    dicts: Dict[int, List[str]] = {}
    r = _Reader(data)
    r.pos = header_len
    while True:
        if r.pos >= len(data):
            raise FormatError("stream ends before the end marker")
        msg_off = r.pos
        r.need(16, "message fixed part")
        kind, idx, count = _u("IIQ", data, r.pos)
        r.pos += 16
        if kind == 3:
            if idx:
                raise FormatError("end marker with a non-zero column field")
            if count != stream.total_rows:
                raise FormatError(f"end marker says {count} rows, batches had {stream.total_rows}")
            if r.pos != len(data):
                raise FormatError(f"{len(data) - r.pos} bytes after the end marker")
            return stream
        if kind == 2:
            if idx >= ncols or cols[idx].type != "dictionary":
                raise FormatError(f"dictionary for column {idx}, which is not a dictionary column")
            if count > MAX_COUNT:
                raise FormatError("too many dictionary entries")
            obuf = r.buffer("dictionary offsets", (count + 1) * 8)
            dbuf = r.buffer("dictionary data")
            offs = _offsets(obuf, count, len(dbuf), "dictionary")
            entries = [_text(dbuf[offs[i] : offs[i + 1]], strict_text, "dictionary entry")
                       for i in range(count)]
            dicts[idx] = entries
            stream.dictionaries.append((idx, entries))
            continue
        if kind != 1:
            raise FormatError(f"unknown message kind {kind}")
        if idx:
            raise FormatError("batch with a non-zero column field")
        n = count
        if n > MAX_COUNT:
            raise FormatError("too many rows in a batch")
        values_of_batch = []
        for ci, col in enumerate(cols):
            if col.nulls == "bitmap":
                valid = _validity(col, r.buffer(f"column {ci} bitmap", (n + 7) // 8), n)
            elif col.nulls == "bytemask":
                valid = _validity(col, r.buffer(f"column {ci} bytemask", n), n)
            else:
                valid = [True] * n
            if col.type == "null":
                if r.buffer(f"column {ci} values", 0):
                    raise FormatError(f"column {ci}: a null column's values buffer must be empty")
                raw = [None] * n
                valid = [False] * n
            elif col.type in FIXED:
                fmt, width = FIXED[col.type]
                buf = r.buffer(f"column {ci} values", n * width)
                raw = [v for (v,) in struct.iter_unpack("<" + fmt, buf)] if n else []
                if col.type == "bool":
                    raw = [v != 0 for v in raw]
            elif col.type in ("utf8", "binary"):
                obuf = r.buffer(f"column {ci} offsets", (n + 1) * 8)
                dbuf = r.buffer(f"column {ci} data")
                offs = _offsets(obuf, n, len(dbuf), f"column {ci}")
                raw = []
                for i in range(n):
                    b = dbuf[offs[i] : offs[i + 1]]
                    if col.type == "utf8" and valid[i]:
                        raw.append(_text(b, strict_text, f"column {ci} row {i}"))
                    else:
                        raw.append(b)
            else:  # dictionary
                fmt, width = FIXED[col.index_type or "int8"]
                buf = r.buffer(f"column {ci} codes", n * width)
                codes = [v for (v,) in struct.iter_unpack("<" + fmt, buf)] if n else []
                raw = []
                for i, code in enumerate(codes):
                    if not valid[i] or code == -1:
                        raw.append(None)
                        continue
                    if code < 0:
                        raise FormatError(f"column {ci}: negative code {code}")
                    if ci not in dicts:
                        raise FormatError(f"column {ci}: code before any dictionary")
                    if code >= len(dicts[ci]):
                        raise FormatError(f"column {ci}: code {code} out of range")
                    raw.append(dicts[ci][code])
            out = []
            for i in range(n):
                v = raw[i]
                if not valid[i]:
                    v = None
                elif col.sentinel and col.type in ("float32", "float64") and math.isnan(v):
                    v = None
                elif col.sentinel and col.type in TIME_TYPES and v == INT64_MIN:
                    v = None
                out.append(v)
            values_of_batch.append(out)
        stream.batches.append(Batch(n, values_of_batch, msg_off))
        stream.total_rows += n
