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
- bitbool -> bool; utf8_32 -> str; binary_32 -> bytes; date64 -> int (ms);
  time32, time64 -> int (count of the column's unit since midnight);
  decimal128, decimal256 -> decimal.Decimal (exact: unscaled * 10**-scale).

The module also has a small reference *encoder*, :func:`encode`, which lays
out :class:`EncColumn` values exactly as docs/FORMAT.md says (for the wire
types Arrow needs too), for tests that want streams the client would not
produce.

``decode(data, strict_text=False)`` is for callers that must know what a
stream holds beyond what the *decoder* checks (the server validates text
only when it converts a value, so an unused dictionary entry or a name may
be invalid UTF-8 without failing a load): names and time zones are then
decoded with ``surrogateescape``, and a ``utf8`` value or dictionary entry
that is not UTF-8 becomes an :class:`InvalidText` (the raw bytes) instead of
raising ``FormatError``.
"""

from __future__ import annotations

import decimal
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
# The wire types Arrow needs (docs/FORMAT.md), kept apart from TYPE_NAMES,
# whose users (mutfuzz.py) model codes 1 to 19 only; the decoder and the
# encoder know them all.
ARROW_TYPE_NAMES = {
    20: "bitbool", 21: "utf8_32", 22: "binary_32", 23: "date64",
    24: "time32", 25: "time64", 26: "decimal128", 27: "decimal256",
}
ALL_TYPE_NAMES = {**TYPE_NAMES, **ARROW_TYPE_NAMES}
TYPE_CODES = {name: code for code, name in ALL_TYPE_NAMES.items()}
# struct format and width of the fixed-width types
FIXED = {
    "bool": ("B", 1), "int8": ("b", 1), "int16": ("h", 2), "int32": ("i", 4),
    "int64": ("q", 8), "uint8": ("B", 1), "uint16": ("H", 2),
    "uint32": ("I", 4), "uint64": ("Q", 8), "float32": ("f", 4),
    "float64": ("d", 8), "timestamp": ("q", 8), "timestamptz": ("q", 8),
    "duration": ("q", 8), "date32": ("i", 4),
    "date64": ("q", 8), "time32": ("i", 4), "time64": ("q", 8),
}
VARLEN = {"utf8": "q", "binary": "q", "utf8_32": "i", "binary_32": "i"}
DECIMAL_WIDTH = {"decimal128": 16, "decimal256": 32}
DECIMAL_MAX_PRECISION = {"decimal128": 38, "decimal256": 76}
TIME_OF_DAY_UNITS = {"time32": (0, 1), "time64": (2, 3)}
NULL_NAMES = {0: "none", 1: "bitmap", 2: "bytemask"}
UNIT_NAMES = {0: "s", 1: "ms", 2: "us", 3: "ns"}
TIME_TYPES = {"timestamp", "timestamptz", "duration"}
INDEX_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
FLAG_SENTINEL = 1
FLAG_BASED_OFFSETS = 2
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
    based: bool = False  # flag bit 1: based offsets (utf8, binary, *_32)
    precision: Optional[int] = None  # decimals
    scale: Optional[int] = None  # decimals


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
    if t not in ALL_TYPE_NAMES:
        raise FormatError(f"unknown wire type {t}")
    tname = ALL_TYPE_NAMES[t]
    if nulls not in NULL_NAMES:
        raise FormatError(f"unknown null encoding {nulls}")
    if flags & ~3:
        raise FormatError(f"unknown flag bits {flags:#x}")
    sentinel = bool(flags & 1)
    based = bool(flags & 2)
    if sentinel and tname not in TIME_TYPES | {"float32", "float64"}:
        raise FormatError(f"sentinel flag on a {tname} column")
    if based and tname not in VARLEN:
        raise FormatError(f"based-offsets flag on a {tname} column")
    if tname in TIME_OF_DAY_UNITS:
        if unit not in TIME_OF_DAY_UNITS[tname]:
            raise FormatError(f"time unit {unit} not allowed for {tname}")
        unit_name = UNIT_NAMES[unit]
    elif tname in TIME_TYPES:
        if unit not in UNIT_NAMES:
            raise FormatError(f"unknown time unit {unit}")
        unit_name: Optional[str] = UNIT_NAMES[unit]
    else:
        if unit:
            raise FormatError("time unit set on a non-time column")
        unit_name = None
    precision = scale = None
    if tname in DECIMAL_WIDTH:
        if not 1 <= itype <= DECIMAL_MAX_PRECISION[tname]:
            raise FormatError(f"bad {tname} precision {itype}")
        precision = itype
        scale = vtype - 256 if vtype >= 128 else vtype
        index_type = value_type = None
    elif tname == "dictionary":
        if ALL_TYPE_NAMES.get(itype) not in INDEX_TYPES:
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
                 value_type, name, tz, data[off:padded], based, precision, scale)
    return col, padded


def _validity(col: Column, buf: bytes, n: int) -> List[bool]:
    if col.nulls == "bitmap":
        return [bool((buf[i >> 3] >> (i & 7)) & 1) for i in range(n)]
    if col.nulls == "bytemask":
        return [b == 0 for b in buf]
    return [True] * n


def _offsets(buf: bytes, count: int, data_len: int, what: str,
             fmt: str = "q", based: bool = False) -> List[int]:
    """The offsets, validated; based ones are returned relative to offsets[0]."""
    offs = [v for (v,) in struct.iter_unpack("<" + fmt, buf)] if buf else []
    if len(offs) != count + 1:
        raise FormatError(f"{what}: {len(offs)} offsets for {count} values")
    if offs[0] < 0:
        raise FormatError(f"{what}: negative first offset")
    for a, b in zip(offs, offs[1:]):
        if b < a:
            raise FormatError(f"{what}: offsets decrease")
    if based:
        if offs[-1] - offs[0] > data_len:
            raise FormatError(f"{what}: based offsets beyond the data buffer")
        return [o - offs[0] for o in offs]
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
            elif col.type == "bitbool":
                buf = r.buffer(f"column {ci} values", (n + 7) // 8)
                raw = [bool((buf[i >> 3] >> (i & 7)) & 1) for i in range(n)]
            elif col.type in DECIMAL_WIDTH:
                w = DECIMAL_WIDTH[col.type]
                buf = r.buffer(f"column {ci} values", n * w)
                raw = [_decimal(int.from_bytes(buf[i * w:(i + 1) * w], "little", signed=True),
                                col.scale or 0) for i in range(n)]
            elif col.type in VARLEN:
                fmt = VARLEN[col.type]
                width = 8 if fmt == "q" else 4
                obuf = r.buffer(f"column {ci} offsets", (n + 1) * width)
                dbuf = r.buffer(f"column {ci} data")
                offs = _offsets(obuf, n, len(dbuf), f"column {ci}", fmt, col.based)
                raw = []
                for i in range(n):
                    b = dbuf[offs[i] : offs[i + 1]]
                    if col.type in ("utf8", "utf8_32") and valid[i]:
                        raw.append(_text(b, strict_text, f"column {ci} row {i}"))
                    else:
                        raw.append(b)
            else:  # dictionary
                fmt, width = FIXED[col.index_type or "int8"]
                buf = r.buffer(f"column {ci} codes", n * width)
                codes = [v for (v,) in struct.iter_unpack("<" + fmt, buf)] if n else []
                unsigned = (col.index_type or "").startswith("u")
                raw = []
                for i, code in enumerate(codes):
                    if not valid[i] or (code == -1 and not unsigned):
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


def _decimal(unscaled: int, scale: int) -> decimal.Decimal:
    """unscaled * 10**-scale, exactly."""
    sign = 1 if unscaled < 0 else 0
    digits = tuple(int(c) for c in str(abs(unscaled)))
    return decimal.Decimal((sign, digits, -scale))


def decimal_text(unscaled: int, scale: int) -> str:
    """The text numeric_out prints for unscaled * 10**-scale (display scale
    max(scale, 0)), which is what the server makes of a decimal value."""
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled))
    if scale <= 0:
        return sign + digits + ("0" * -scale if unscaled else "")
    if len(digits) <= scale:
        return sign + "0." + "0" * (scale - len(digits)) + digits
    return sign + digits[:-scale] + "." + digits[-scale:]


# ---------------------------------------------------------------------------
# The reference encoder
# ---------------------------------------------------------------------------

@dataclass
class EncColumn:
    """One column for :func:`encode`.

    values: one per row; None is NULL (then nulls must not be 0).  By type:
    bool/bitbool -> bool; integers, date32, date64, time32, time64, timestamp,
    timestamptz, duration -> int; floats -> float; utf8/utf8_32 -> str (or
    bytes, sent as they are); binary/binary_32 -> bytes; decimals -> the
    unscaled int; dictionary -> the code (int); null -> None.

    byte4/byte5 are descriptor bytes 4 and 5 (index/value type of a
    dictionary, precision/scale of a decimal; scale may be negative).
    first: for varlen types, offsets start here; with based=True (flag bit 1)
    the data buffer holds only the bytes from offsets[0], otherwise `first`
    filler bytes precede the values.
    """

    type: str
    values: List[Any]
    nulls: int = 0
    flags: int = 0
    unit: int = 0
    byte4: int = 0
    byte5: int = 0
    name: str = "c"
    tz: str = ""
    first: int = 0
    based: bool = False
    dictionary: Optional[List[str]] = None


def _pad(b: bytearray) -> None:
    b.extend(b"\0" * ((-len(b)) % 8))


def _buffer(out: bytearray, data: bytes) -> None:
    out.extend(struct.pack("<Q", len(data)))
    out.extend(data)
    _pad(out)


def encode_descriptor(c: EncColumn) -> bytes:
    name = c.name.encode("utf-8")
    tz = c.tz.encode("ascii")
    flags = c.flags | (FLAG_BASED_OFFSETS if c.based else 0)
    d = bytearray(struct.pack("<BBBBBBHHH", TYPE_CODES[c.type], c.nulls, flags, c.unit,
                              c.byte4 & 0xFF, c.byte5 & 0xFF, len(name), len(tz), 0))
    d += name + tz
    _pad(d)
    return bytes(d)


def _validity_bytes(nulls: int, valid: List[bool]) -> bytes:
    n = len(valid)
    if nulls == 1:
        out = bytearray((n + 7) // 8)
        for i, v in enumerate(valid):
            if v:
                out[i >> 3] |= 1 << (i & 7)
        if n % 8:  # bits past n are ignored: set them
            out[-1] |= (0xFF << (n % 8)) & 0xFF
        return bytes(out)
    return bytes(0 if v else 1 for v in valid)


def _column_buffers(out: bytearray, c: EncColumn, values: List[Any]) -> None:
    valid = [v is not None for v in values]
    if c.nulls:
        _buffer(out, _validity_bytes(c.nulls, valid))
    elif not all(valid) and c.type != "null":
        raise ValueError(f"column {c.name}: None without a null encoding")
    t = c.type
    if t == "null":
        _buffer(out, b"")
    elif t == "bitbool":
        bits = bytearray((len(values) + 7) // 8)
        for i, v in enumerate(values):
            if v:
                bits[i >> 3] |= 1 << (i & 7)
        _buffer(out, bytes(bits))
    elif t in DECIMAL_WIDTH:
        w = DECIMAL_WIDTH[t]
        _buffer(out, b"".join((v or 0).to_bytes(w, "little", signed=True) for v in values))
    elif t in VARLEN:
        fmt = VARLEN[t]
        items = []
        for v in values:
            if v is None:
                items.append(b"")
            elif isinstance(v, str):
                items.append(v.encode("utf-8"))
            else:
                items.append(bytes(v))
        offs = [c.first]
        for it in items:
            offs.append(offs[-1] + len(it))
        _buffer(out, struct.pack(f"<{len(offs)}{fmt}", *offs))
        prefix = b"" if c.based else b"\xff" * c.first
        _buffer(out, prefix + b"".join(items))
    elif t == "dictionary":
        fmt, _ = FIXED[TYPE_NAMES[c.byte4]]
        _buffer(out, b"".join(struct.pack("<" + fmt, 0 if v is None else v) for v in values))
    else:
        fmt, _ = FIXED[t]
        zero = 0.0 if fmt in "fd" else 0
        _buffer(out, b"".join(struct.pack("<" + fmt, zero if v is None else v) for v in values))


def encode(columns: List[EncColumn], batch_rows: Optional[int] = None) -> bytes:
    """A whole stream: header, each dictionary column's dictionary, batches
    of batch_rows rows (one batch when None), the end marker."""
    descs = [encode_descriptor(c) for c in columns]
    out = bytearray(MAGIC)
    out += struct.pack("<HcBII", 1, b"L", 0, len(columns), 24 + sum(map(len, descs)))
    out += struct.pack("<I", 0)
    for d in descs:
        out += d
    for i, c in enumerate(columns):
        if c.type == "dictionary" and c.dictionary is not None:
            entries = [e.encode("utf-8") for e in c.dictionary]
            out += struct.pack("<IIQ", 2, i, len(entries))
            offs = [0]
            for e in entries:
                offs.append(offs[-1] + len(e))
            _buffer(out, struct.pack(f"<{len(offs)}q", *offs))
            _buffer(out, b"".join(entries))
    nrows = len(columns[0].values) if columns else 0
    step = batch_rows or max(nrows, 1)
    total = 0
    for start in range(0, nrows, step):
        n = min(step, nrows - start)
        out += struct.pack("<IIQ", 1, 0, n)
        for c in columns:
            _column_buffers(out, c, c.values[start:start + n])
        total += n
    out += struct.pack("<IIQ", 3, 0, total)
    return bytes(out)
