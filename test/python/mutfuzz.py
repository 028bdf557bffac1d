#!/usr/bin/env python3
"""Server-level mutation fuzzing of ``COPY ... FROM STDIN WITH (FORMAT zcimport)``.

Valid streams come from frames of every dtype the client supports
(``zcimport.dump``: NumPy and nullable dtypes, datetimes in every unit and
zone, strings, categoricals, dates, Decimal, bytes, JSON, all-None columns,
and text made for a type's input function, named ``tt:<type>:<k>``), from
the ``.zci`` fixtures in test/fixtures/, and by hand: bitmap validity, every
index type, replaced dictionaries, invalid UTF-8 in unused entries, garbage
in NULL slots, nonzero first offsets, empty batches, batches of 1,000+ rows
with wide text and NULLs in some 1,024-row chunks only, values of about a
MiB (input slices).  Each is mutated: bit flips and byte sets;
structure-aware changes to header, descriptor and message fields (kept
consistent or not), wire types with fitting buffers, row counts, buffer
lengths, offsets, dictionary codes and messages, values, text and names;
truncation, duplication, removal and moving of messages; splices of two
streams; bytes after the end.

Each stream goes through COPY with psycopg 3, in random CopyData sizes down
to 1 byte (10% with ``WHERE c<k> IS NOT NULL``), or through
``zcimport.import_bytea``, ``zcimport.import_file`` or
``zcimport.describe``, into a table whose columns match the original
stream: the natural column types; the same with a primary key, NOT NULL,
dropped columns, or columns outside the COPY list (constant defaults that
the server's tuple image holds, NULL, volatile and generated columns, and a
column added later with a default); or other types (narrower integers,
numeric(6,2), varchar(5), char(n), timestamp(0), interval(0), domains, an
enum, jsonb, uuid, point, ... and now and then one that cannot work).  The
session's TimeZone changes every 150 streams.

Each stream is judged:

- rejected: the SQLSTATE must be an expected one (22P04, class 22 and 23,
  42804, 54000; 42601 from tsvector's input); the table must then hold 0
  rows and the connection must still work;
- accepted: the command tag, ``count(*)`` and the stream's row count (from
  the independent reference decoder, zci_reference.py) must agree, and a
  stream that the reference decoder rejects must not be accepted.  The rows
  read back must be the rows the stream holds, converted as docs/types.md
  says: the oracle computes each value (exactly: binary send functions for
  floats, timestamps, dates and intervals), or asks PostgreSQL's own cast
  where an input function, the session's zone or float4out/float8out
  digits decide; so values out of range or refused by the column type,
  invalid text, NULLs in NOT NULL columns and duplicate keys must have been
  rejected.  Extra columns must hold their defaults;
- never: a lost connection, a backend killed by a signal, PANIC or TRAP in
  the server log, a fresh connection that cannot run ``SELECT 1``, a
  statement that runs into statement_timeout (20 s), XX000, another
  SQLSTATE, a WARNING sent to the client.

Findings are saved under /tmp/mutfuzz-findings/ (``--findings``): the
stream (``.zci``), a minimized version (``.min.zci``, long mode), and a
``.txt`` with the table's DDL, the error and psql reproducers.  Rejections
of streams that the oracle expected to load are counted as notes (the
server may be stricter: names must be UTF-8 without NUL, time zones
printable ASCII).

Long mode (any seed and count; ``--minutes`` bounds the run instead)::

    eval "$(ZC_PGPORT=54430 test/cluster.sh env)"
    PYTHONPATH=python /usr/bin/python3 test/python/mutfuzz.py --seed 7 --count 100000 \\
        --dsn "host=$PGHOST port=$PGPORT user=postgres dbname=zcimport_pytest" \\
        [--minutes 30] [--server-log FILE] [--findings DIR] [--stats] [--no-minimize]

The database needs ``CREATE EXTENSION zcimport`` and a superuser (or a role
that may create schemas, types and tables, and read server files for
import_file); the fuzzer works in its own schema (``mutfuzz_<pid>_<seed>``),
dropped at the end.  The server log defaults to $ZC_TEST_SERVER_LOG, else
server.log in the socket directory of the DSN's host or $PGHOST (the test
cluster's root); import_file is used only when that log is found (the
server is on this machine).  It prints a progress line every minute, and
last the summary: streams sent, accepted (and compared row by row),
rejected by SQLSTATE, crashes, hangs, findings and the rate; ``--stats``
adds the outcomes of each mutation.  The exit status is 1 when there was
any finding.  test/python/test_mutfuzz.py runs a fixed-seed slice of a few
thousand streams in ``make test``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import decimal
import hashlib
import io
import ipaddress
import math
import os
import random
import re
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[1]
for _p in (str(_ROOT / "python"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import zci_reference as ref  # noqa: E402

FIXTURES = _ROOT / "test" / "fixtures"
MAGIC = ref.MAGIC
U64 = (1 << 64) - 1

# wire type codes
T = {name: code for code, name in ref.TYPE_NAMES.items()}
INT_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
FLOAT_TYPES = {"float32", "float64"}
TIME_TYPES = {"timestamp", "timestamptz", "duration"}
WIDTH = {name: w for name, (_, w) in ref.FIXED.items()}
FMT = {name: f for name, (f, _) in ref.FIXED.items()}
INT_RANGE = {
    "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "uint8": (0, (1 << 8) - 1), "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1),
}


def _pad8(n: int) -> int:
    return (-n) % 8


# =============================================================================
# The stream as a model: parse a valid stream, change it, write it back
# =============================================================================


@dataclass
class Desc:
    type: int
    nulls: int = 0
    flags: int = 0
    unit: int = 0
    itype: int = 0
    vtype: int = 0
    name: bytes = b""
    tz: bytes = b""
    reserved: int = 0
    name_len: Optional[int] = None  # override of the length field
    tz_len: Optional[int] = None
    pad: Optional[bytes] = None  # override of the padding bytes

    @property
    def tname(self) -> str:
        return ref.ALL_TYPE_NAMES.get(self.type, f"?{self.type}")


@dataclass
class Buf:
    data: bytes
    role: str  # validity values offsets data codes doffsets ddata
    col: int
    length: Optional[int] = None  # override of the length prefix
    pad: Optional[bytes] = None


@dataclass
class Msg:
    kind: int
    idx: int
    count: int
    bufs: List[Buf] = field(default_factory=list)


@dataclass
class Model:
    descs: List[Desc]
    msgs: List[Msg]
    magic: bytes = MAGIC
    version: int = 1
    order: int = 0x4C
    flags: int = 0
    ncols: Optional[int] = None
    header_len: Optional[int] = None
    reserved: int = 0
    trailer: bytes = b""

    def copy(self) -> "Model":
        return Model(
            [dataclasses.replace(d) for d in self.descs],
            [Msg(m.kind, m.idx, m.count, [dataclasses.replace(b) for b in m.bufs]) for m in self.msgs],
            self.magic, self.version, self.order, self.flags, self.ncols, self.header_len,
            self.reserved, self.trailer)

    def fix_end(self) -> None:
        """Make the last end marker's count the total of the batches."""
        total = sum(m.count for m in self.msgs if m.kind == 1)
        for m in reversed(self.msgs):
            if m.kind == 3:
                m.count = total
                return


@dataclass
class FieldPos:
    name: str
    pos: int
    size: int


def serialize(m: Model) -> Tuple[bytes, List[FieldPos]]:
    """The stream of a model, and where each of its fields is."""
    out = bytearray()
    fields: List[FieldPos] = []

    def put(name: str, b: bytes) -> None:
        fields.append(FieldPos(name, len(out), len(b)))
        out.extend(b)

    put("magic", m.magic)
    put("hdr.version", struct.pack("<H", m.version & 0xFFFF))
    put("hdr.order", bytes([m.order & 0xFF]))
    put("hdr.flags", bytes([m.flags & 0xFF]))
    put("hdr.ncols", struct.pack("<I", (len(m.descs) if m.ncols is None else m.ncols) & 0xFFFFFFFF))
    hl_pos = len(out)
    put("hdr.header_len", b"\0\0\0\0")
    put("hdr.reserved", struct.pack("<I", m.reserved & 0xFFFFFFFF))
    for i, d in enumerate(m.descs):
        p = f"desc{i}."
        put(p + "type", bytes([d.type & 0xFF]))
        put(p + "nulls", bytes([d.nulls & 0xFF]))
        put(p + "flags", bytes([d.flags & 0xFF]))
        put(p + "unit", bytes([d.unit & 0xFF]))
        put(p + "itype", bytes([d.itype & 0xFF]))
        put(p + "vtype", bytes([d.vtype & 0xFF]))
        put(p + "name_len", struct.pack("<H", (len(d.name) if d.name_len is None else d.name_len) & 0xFFFF))
        put(p + "tz_len", struct.pack("<H", (len(d.tz) if d.tz_len is None else d.tz_len) & 0xFFFF))
        put(p + "reserved", struct.pack("<H", d.reserved & 0xFFFF))
        if d.name:
            put(p + "name", d.name)
        if d.tz:
            put(p + "tz", d.tz)
        n = _pad8(len(out))
        if d.pad is not None:
            put(p + "pad", d.pad)
        elif n:
            put(p + "pad", b"\0" * n)
    hl = len(out) if m.header_len is None else m.header_len
    out[hl_pos:hl_pos + 4] = struct.pack("<I", hl & 0xFFFFFFFF)
    for j, msg in enumerate(m.msgs):
        p = f"msg{j}."
        put(p + "kind", struct.pack("<I", msg.kind & 0xFFFFFFFF))
        put(p + "idx", struct.pack("<I", msg.idx & 0xFFFFFFFF))
        put(p + "count", struct.pack("<Q", msg.count & U64))
        for k, b in enumerate(msg.bufs):
            q = f"{p}b{k}.{b.role}{b.col}."
            put(q + "len", struct.pack("<Q", (len(b.data) if b.length is None else b.length) & U64))
            if b.data:
                put(q + "data", b.data)
            n = _pad8(len(out))
            if b.pad is not None:
                put(q + "pad", b.pad)
            elif n:
                put(q + "pad", b"\0" * n)
    if m.trailer:
        put("trailer", m.trailer)
    return bytes(out), fields


#: Wire types with an offsets and a data buffer.
VARLEN_TYPES = ("utf8", "binary", "utf8_32", "binary_32")


def _batch_roles(d: Desc) -> List[str]:
    roles = ["validity"] if d.nulls else []
    t = d.tname
    if t in VARLEN_TYPES:
        roles += ["offsets", "data"]
    elif t == "dictionary":
        roles.append("codes")
    else:
        roles.append("values")
    return roles


def parse_model(data: bytes) -> Model:
    """The model of a stream whose structure is valid (the reference decoder accepts it)."""
    s = ref.decode(data, strict_text=False)
    descs = []
    for c in s.columns:
        t, nulls, flags, unit, itype, vtype, nl, tl, res = struct.unpack_from("<BBBBBBHHH", c.raw, 0)
        descs.append(Desc(t, nulls, flags, unit, itype, vtype, c.raw[12:12 + nl],
                          c.raw[12 + nl:12 + nl + tl], res))
    m = Model(descs, [])
    pos = s.header_len

    def buf(role: str, col: int) -> Buf:
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        b = Buf(data[pos + 8:pos + 8 + n], role, col)
        pos += 8 + n + _pad8(n)
        return b

    while True:
        kind, idx, count = struct.unpack_from("<IIQ", data, pos)
        pos += 16
        msg = Msg(kind, idx, count)
        m.msgs.append(msg)
        if kind == 3:
            break
        if kind == 2:
            msg.bufs = [buf("doffsets", idx), buf("ddata", idx)]
            continue
        for ci, d in enumerate(descs):
            for role in _batch_roles(d):
                msg.bufs.append(buf(role, ci))
    if serialize(m)[0] != bytes(data):
        raise AssertionError("parse_model does not round-trip")
    return m


def lenient_descs(data: bytes) -> Optional[List[Desc]]:
    """The descriptors of a stream whose header may be broken elsewhere."""
    try:
        (ncols,) = struct.unpack_from("<I", data, 12)
        if not 1 <= ncols <= 64:
            return None
        off, out = 24, []
        for _ in range(ncols):
            t, nulls, flags, unit, itype, vtype, nl, tl, res = struct.unpack_from("<BBBBBBHHH", data, off)
            if t not in ref.TYPE_NAMES or off + 12 + nl + tl > len(data):
                return None
            out.append(Desc(t, nulls, flags, unit, itype, vtype, data[off + 12:off + 12 + nl],
                            data[off + 12 + nl:off + 12 + nl + tl], res))
            off += 12 + nl + tl
            off += _pad8(off)
        return out
    except struct.error:
        return None


def scan_batches(data: bytes) -> Tuple[int, int, bool]:
    """(largest batch row count, total, every column takes 0 bytes per row), read leniently.

    Walks the messages as the reference decoder does, without checking
    anything, so that streams claiming absurd row counts can be recognised
    before the reference decoder builds lists of that length.
    """
    descs = lenient_descs(data)
    if not descs:
        return 0, 0, False
    zero = all(d.tname == "null" and d.nulls == 0 for d in descs)
    nbufs = sum((1 if d.nulls else 0) + (2 if d.tname in VARLEN_TYPES else 1) for d in descs)
    biggest = total = 0
    try:
        (pos,) = struct.unpack_from("<I", data, 16)
        while pos + 16 <= len(data):
            kind, idx, count = struct.unpack_from("<IIQ", data, pos)
            pos += 16
            if kind == 1:
                biggest = max(biggest, count)
                total += count
                k = nbufs
            elif kind == 2:
                k = 2
            else:
                break
            for _ in range(k):
                if pos + 8 > len(data):
                    raise struct.error("end")
                (n,) = struct.unpack_from("<Q", data, pos)
                pos += 8 + n + _pad8(n)
    except (struct.error, OverflowError):
        pass
    return biggest, total, zero


def message_spans(data: bytes) -> List[Tuple[int, int]]:
    """(start, end) of each message, as far as the stream can be walked; the end marker last."""
    descs = lenient_descs(data)
    if not descs:
        return []
    nbufs = sum((1 if d.nulls else 0) + (2 if d.tname in VARLEN_TYPES else 1) for d in descs)
    out = []
    try:
        (pos,) = struct.unpack_from("<I", data, 16)
        while pos + 16 <= len(data):
            start = pos
            kind, idx, count = struct.unpack_from("<IIQ", data, pos)
            pos += 16
            k = nbufs if kind == 1 else 2 if kind == 2 else 0
            for _ in range(k):
                if pos + 8 > len(data):
                    return out
                (n,) = struct.unpack_from("<Q", data, pos)
                pos += 8 + n + _pad8(n)
            if pos > len(data):
                return out
            out.append((start, pos))
            if kind not in (1, 2):
                break
    except (struct.error, OverflowError):
        pass
    return out


def zero_width_rows(data: bytes) -> int:
    """Rows claimed by batches of a stream whose columns all take 0 bytes per row.

    Such a stream (every column of wire type null, no validity buffer) may
    claim 2**31 rows per batch in 40 bytes; the server must then insert
    them all before it can see that the end marker disagrees, which takes
    far longer than statement_timeout.  0 when the stream is not like that.
    """
    biggest, total, zero = scan_batches(data)
    return total if zero else 0


def reference_decode(data: bytes) -> ref.Stream:
    """zci_reference.decode(strict_text=False), quick to refuse absurd row counts."""
    biggest, _, zero = scan_batches(data)
    if biggest > 8 * len(data) + 64 and not zero:
        # some column needs at least a bit per row: its buffer cannot be that long
        raise ref.FormatError(f"a batch of {biggest} rows in a stream of {len(data)} bytes")
    return ref.decode(data, strict_text=False)


# =============================================================================
# Values: what a buffer holds, valid and otherwise
# =============================================================================

NAMES = ["a", "b", "value", "x1", "", "ünïcødé", "with space", 'quo"te', "tab\there", "😀",
         "Ω" * 30, "n" * 63, "UPPER", "semi;colon"]
TZS = ["UTC", "Europe/Berlin", "", "America/New_York", "Asia/Kolkata", "Etc/GMT+12", "+05:30"]
WORDS = ["", "a", "happy", "sad", "ok", "héllo", "😀", "tab\tnl\n", "x" * 40, "back\\slash",
         "'q'", "NULL", "\\N", "ünï", "日本語", " lead", "trail ", "0", "1.5", "-7", "NaN",
         "2024-02-29", "{\"k\": [1, 2]}", "[]", "1e400", "Infinity", "z" * 300]
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"a\x00b",
            b"\x80", b"\xe2\x82", b"\x00"]


def _rand_text(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.7:
        return rng.choice(WORDS).encode()
    if r < 0.9:
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FF),
                                       rng.randint(0x4E00, 0x4FFF), rng.randint(0x1F600, 0x1F64F)]))
                       for _ in range(rng.randint(0, 12))).encode()
    return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 10)))  # maybe invalid


# microseconds since 1970 that PostgreSQL's timestamp holds
PG_SHIFT_US = 946684800000000
TS_MIN_US = -211813488000000000 + PG_SHIFT_US
TS_END_US = 9223371331200000000 + PG_SHIFT_US
DATE_MIN = -2451545 + 10957
DATE_END = 2145031949 + 10957
DAY_US = 86400 * 1000000
UNIT_US = {0: 1000000, 1: 1000, 2: 1}  # 3 (ns) divides by 1000


def _rand_int(rng: random.Random, t: str) -> int:
    lo, hi = INT_RANGE[t]
    r = rng.random()
    if r < 0.15:
        return rng.choice([lo, hi, 0, 1, lo + 1, hi - 1, -1 if lo < 0 else 2])
    if r < 0.5:
        return max(lo, min(hi, rng.randint(-1000, 1000)))
    return rng.randint(lo, hi)


def _rand_time(rng: random.Random, t: str, unit: int) -> int:
    r = rng.random()
    if t == "duration":
        us = rng.randint(-10 ** 15, 10 ** 15) if r < 0.9 else rng.randint(-(1 << 63), (1 << 63) - 1)
    else:
        us = rng.randint(-6 * 10 ** 16, 8 * 10 ** 15) if r < 0.95 else rng.choice(
            [TS_MIN_US, TS_MIN_US - 1, rng.randint(-(1 << 63), (1 << 63) - 1), (1 << 63) - 1])
    if rng.random() < 0.1:
        us = rng.choice([0, -1, 1, 500, -500, 1500, -1500])
    if unit == 3:
        v = us * 1000 + rng.choice([0, 0, 500, -500, 1, 999, 499, 501])
    else:
        v = us // UNIT_US[unit]
    return max(-(1 << 63), min((1 << 63) - 1, v))


def _rand_float(rng: random.Random, t: str) -> bytes:
    r = rng.random()
    fmt = "<" + FMT[t]
    if r < 0.1:
        return bytes(rng.randint(0, 255) for _ in range(WIDTH[t]))  # any bits: NaN payloads too
    if r < 0.3:
        v = rng.choice([0.0, -0.0, math.inf, -math.inf, math.nan, 1.5, -2.25, 3.4e38, 1e-45, 1e-310,
                        1.7976931348623157e308, 2.0 ** 63, -2.0 ** 63, 32767.0, 32768.0, 0.5, 1e20])
    else:
        v = rng.choice([rng.uniform(-1000, 1000), float(rng.randint(-100000, 100000)),
                        rng.gauss(0, 1e10)])
    if t == "float32":
        with np.errstate(all="ignore"):
            return np.array([v], dtype="<f4").tobytes()
    return struct.pack(fmt, v)


def gen_fixed(rng: random.Random, d: Desc, valid: Sequence[bool]) -> bytes:
    """n fixed-width values of d's type: mostly loadable, garbage in NULL slots."""
    t = d.tname
    out = bytearray()
    for ok in valid:
        if not ok and rng.random() < 0.5:
            out += bytes(rng.randint(0, 255) for _ in range(WIDTH[t]))
            continue
        if t == "bool":
            out.append(rng.choice([0, 1, 1, 0, 2, 255, 0x80]) if rng.random() < 0.2 else rng.randint(0, 1))
        elif t in INT_TYPES:
            out += struct.pack("<" + FMT[t], _rand_int(rng, t))
        elif t in FLOAT_TYPES:
            out += _rand_float(rng, t)
        elif t in TIME_TYPES:
            v = _rand_time(rng, t, d.unit if d.unit in (0, 1, 2, 3) else 2)
            if d.flags & 1 and rng.random() < 0.1:
                v = -(1 << 63)
            out += struct.pack("<q", v)
        elif t == "date32":
            v = rng.randint(-800000, 3000000) if rng.random() < 0.95 else rng.choice(
                [DATE_MIN, DATE_MIN - 1, DATE_END - 1, DATE_END, -(1 << 31), (1 << 31) - 1])
            out += struct.pack("<i", v)
    return bytes(out)


def gen_varlen(rng: random.Random, d: Desc, valid: Sequence[bool]) -> Tuple[bytes, bytes]:
    """Offsets and data for n utf8/binary values (nonzero first offset, slack at the end)."""
    binary = d.tname == "binary"
    pre = bytes(rng.randint(0, 255) for _ in range(rng.choice([0, 0, 0, 1, 5])))
    data = bytearray(pre)
    offs = [len(data)]
    for ok in valid:
        if binary:
            v = bytes(rng.randint(0, 255) for _ in range(rng.choice([0, 1, 3, 8, 20])))
        elif ok:
            v = _rand_text(rng)
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                v = b"?"
            if rng.random() < 0.01:
                v = b"L" * rng.choice([1000, 3000])  # TOAST-able
        else:
            v = rng.choice([b"", b"null", rng.choice(BAD_UTF8)])
        data += v
        offs.append(len(data))
    data += bytes(rng.randint(0, 255) for _ in range(rng.choice([0, 0, 0, 3])))
    return struct.pack(f"<{len(offs)}q", *offs), bytes(data)


def gen_validity(rng: random.Random, d: Desc, valid: Sequence[bool]) -> bytes:
    n = len(valid)
    if d.nulls == 1:
        b = bytearray((n + 7) // 8)
        for i, ok in enumerate(valid):
            if ok:
                b[i >> 3] |= 1 << (i & 7)
        if n % 8 and rng.random() < 0.5:
            b[-1] |= (0xFF << (n % 8)) & 0xFF  # bits past n are ignored
        return bytes(b)
    if d.nulls == 2:
        return bytes(0 if ok else rng.choice([1, 1, 1, 2, 0x80, 0xFF]) for ok in valid)
    return b""


def gen_codes(rng: random.Random, d: Desc, valid: Sequence[bool], usable: Sequence[int]) -> bytes:
    it = ref.TYPE_NAMES.get(d.itype, "int8")
    lo, hi = INT_RANGE.get(it, INT_RANGE["int8"])
    codes = []
    for ok in valid:
        if not ok:
            codes.append(rng.choice([-1, 0, 99, -5, lo, hi]))
        elif not usable or rng.random() < 0.1:
            codes.append(-1)
        else:
            codes.append(rng.choice(usable))
    return struct.pack(f"<{len(codes)}{FMT.get(it, 'b')}", *codes)


def gen_batch_bufs(rng: random.Random, descs: Sequence[Desc], n: int,
                   usable: Dict[int, List[int]], null_rate: Optional[float] = None) -> List[Buf]:
    """Buffers of a batch of n rows that the decoder accepts (for valid descriptors)."""
    bufs = []
    for ci, d in enumerate(descs):
        rate = rng.choice([0.0, 0.1, 0.5, 1.0, -1.0]) if null_rate is None else null_rate
        if not d.nulls:
            valid = [True] * n
        elif rate >= 0:
            valid = [rng.random() >= rate for _ in range(n)]
        else:  # NULLs only in some windows of rows (some 1,024-row chunks and not others)
            w, k = rng.choice([8, 100, 1000, 1024]), rng.randint(0, 1)
            valid = [(i // w) % 2 != k or rng.random() >= 0.05 for i in range(n)]
        if d.nulls:
            bufs.append(Buf(gen_validity(rng, d, valid), "validity", ci))
        t = d.tname
        if t in ("utf8", "binary"):
            o, data = gen_varlen(rng, d, valid)
            bufs += [Buf(o, "offsets", ci), Buf(data, "data", ci)]
        elif t == "dictionary":
            bufs.append(Buf(gen_codes(rng, d, valid, usable.get(ci, [])), "codes", ci))
        elif t == "null":
            bufs.append(Buf(b"", "values", ci))
        elif t in WIDTH:
            bufs.append(Buf(gen_fixed(rng, d, valid), "values", ci))
        else:  # unknown type: some bytes
            bufs.append(Buf(bytes(rng.randint(0, 255) for _ in range(n)), "values", ci))
    return bufs


def gen_dictionary(rng: random.Random, d: Desc, ci: int) -> Tuple[Msg, List[int]]:
    """A dictionary message for column ci, and the entries rows may use."""
    it = ref.TYPE_NAMES.get(d.itype, "int8")
    size = rng.choice([0, 1, 2, 3, 5, 20, 127] + ([128, 300] if it != "int8" else []))
    entries, usable = [], []
    for k in range(size):
        e = _rand_text(rng)
        try:
            e.decode("utf-8")
            if b"\0" not in e:
                usable.append(k)
        except UnicodeDecodeError:
            pass  # an unused invalid entry is never converted
        entries.append(e)
    offs = [0]
    for e in entries:
        offs.append(offs[-1] + len(e))
    msg = Msg(2, ci, size, [Buf(struct.pack(f"<{size + 1}q", *offs), "doffsets", ci),
                            Buf(b"".join(entries), "ddata", ci)])
    return msg, usable


def random_desc(rng: random.Random, i: int) -> Desc:
    t = rng.choice(list(ref.TYPE_NAMES.values()))
    d = Desc(T[t], nulls=rng.choice([0, 1, 2]), name=rng.choice(NAMES).encode())
    if t in TIME_TYPES:
        d.unit = rng.randint(0, 3)
    if (t in TIME_TYPES or t in FLOAT_TYPES) and rng.random() < 0.5:
        d.flags = 1
    if t == "timestamptz":
        d.tz = rng.choice(TZS).encode()
    if t == "dictionary":
        d.itype = T[rng.choice(["int8", "int16", "int32", "int64"])]
        d.vtype = T["utf8"]
    return d


ROWS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64]
BIG_ROWS = [999, 1000, 1001, 1024, 1025, 2048, 3000]


def synth_model(rng: random.Random, big: bool = False) -> Model:
    """A valid stream built by hand, with what the client never sends.

    big: batches of about a thousand rows or more (across the server's
    multi-insert flushes), with wide text.
    """
    descs = [random_desc(rng, i) for i in range(rng.choice([1, 1, 2, 3, 4, 6]))]
    if big:
        descs = [Desc(T["int64"], name=b"id")] + [d for d in descs if d.tname != "null"][:2] + \
            [Desc(T["utf8"], nulls=rng.choice([1, 2]), name=b"note")]
    msgs: List[Msg] = []
    usable: Dict[int, List[int]] = {}
    total = 0
    for _ in range(rng.choice([0, 1, 1, 2, 3, 5])):
        for ci, d in enumerate(descs):
            if d.tname == "dictionary" and (ci not in usable or rng.random() < 0.3) and rng.random() < 0.9:
                msg, usable[ci] = gen_dictionary(rng, d, ci)
                msgs.append(msg)
        n = rng.choice(BIG_ROWS if big else ROWS)
        bufs = gen_batch_bufs(rng, descs, n, usable)
        if big:  # unique ids, and notes of 50 characters
            bufs[0] = Buf(struct.pack(f"<{n}q", *range(total, total + n)), "values", 0)
            k = len(bufs) - 2
            valid = [True] * n
            if descs[-1].nulls:
                valid = [(i // 1024) % 2 == 0 or rng.random() >= 0.01 for i in range(n)]
                bufs[k - 1] = Buf(gen_validity(rng, descs[-1], valid), "validity", len(descs) - 1)
            bufs[k] = Buf(struct.pack(f"<{n + 1}q", *range(0, 50 * (n + 1), 50)), "offsets", len(descs) - 1)
            bufs[k + 1] = Buf(b"n" * (50 * n), "data", len(descs) - 1)
        msgs.append(Msg(1, 0, n, bufs))
        total += n
    msgs.append(Msg(3, 0, total))
    return Model(descs, msgs)


def synth_large(rng: random.Random) -> Model:
    """A few rows with values of about a MiB: messages that cross the server's 1 MiB input slices."""
    descs = [Desc(T["int32"], name=b"id"), Desc(T["utf8"], nulls=1, name=b"big text"),
             Desc(T["binary"], nulls=2, name=b"big bytes"),
             Desc(T["dictionary"], itype=T["int16"], vtype=T["utf8"], name=b"big entry")]
    big = rng.choice([700_000, 1 << 20, (1 << 20) + 3])
    entries = [b"small", "é".encode() * (big // 2)]
    offs = [0, len(entries[0]), len(entries[0]) + len(entries[1])]
    msgs = [Msg(2, 3, 2, [Buf(struct.pack("<3q", *offs), "doffsets", 3), Buf(b"".join(entries), "ddata", 3)])]
    total = 0
    for _ in range(rng.choice([1, 2])):
        n = rng.choice([1, 3, 5])
        # one big text and one big blob per batch, in random rows
        bt, bb = rng.randrange(n), rng.randrange(n)
        texts = [("ü" * (big // 2)).encode() if k == bt else rng.choice([b"t", b"", "ü".encode()])
                 for k in range(n)]
        blobs = [bytes(rng.getrandbits(8) for _ in range(64)) * (big // 64 if k == bb else 1) for k in range(n)]
        to = [0]
        for x in texts:
            to.append(to[-1] + len(x))
        bo = [0]
        for x in blobs:
            bo.append(bo[-1] + len(x))
        bm = sum(1 << i for i in range(n) if rng.random() < 0.8)
        msgs.append(Msg(1, 0, n, [
            Buf(struct.pack(f"<{n}i", *range(total, total + n)), "values", 0),
            Buf(bytes([bm & 0xFF]), "validity", 1), Buf(struct.pack(f"<{n + 1}q", *to), "offsets", 1),
            Buf(b"".join(texts), "data", 1),
            Buf(bytes(rng.choice([0, 0, 1]) for _ in range(n)), "validity", 2),
            Buf(struct.pack(f"<{n + 1}q", *bo), "offsets", 2), Buf(b"".join(blobs), "data", 2),
            Buf(struct.pack(f"<{n}h", *[rng.choice([0, 1, 1, -1]) for _ in range(n)]), "codes", 3)]))
        total += n
    msgs.append(Msg(3, 0, total))
    return Model(descs, msgs)


def to_bitmaps(rng: random.Random, m: Model) -> Model:
    """The same rows with bitmap validity: byte masks rewritten, and added to other columns."""
    m = m.copy()
    add = {ci for ci, d in enumerate(m.descs) if d.nulls == 0 and rng.random() < 0.5}
    for msg in m.msgs:
        if msg.kind != 1:
            continue
        new = []
        for b in msg.bufs:
            d = m.descs[b.col]
            if b.role == "validity" and d.nulls == 2:
                bm = bytearray((msg.count + 7) // 8)
                for i, x in enumerate(b.data):
                    if x == 0:
                        bm[i >> 3] |= 1 << (i & 7)
                b = Buf(bytes(bm), "validity", b.col)
            elif b.col in add and (not new or new[-1].col != b.col or new[-1].role == "validity") and \
                    b.role != "validity" and not any(x.col == b.col for x in new):
                n = msg.count
                bm = bytearray(((n + 7) // 8))
                for i in range(n):
                    if rng.random() < 0.8:
                        bm[i >> 3] |= 1 << (i & 7)
                new.append(Buf(bytes(bm), "validity", b.col))
            new.append(b)
        msg.bufs = new
    for ci, d in enumerate(m.descs):
        if d.nulls == 2 or ci in add:
            d.nulls = 1
    return m


# =============================================================================
# Seeds: frames of every dtype, fixtures, hand-built streams
# =============================================================================


def _typed_text(rng: random.Random) -> Dict[str, Callable[[], str]]:
    """Text that one PostgreSQL type's input function accepts, by type."""
    r = rng.randint
    return {
        "uuid": lambda: str(uuid.UUID(int=rng.getrandbits(128))),
        "time": lambda: f"{r(0, 23):02}:{r(0, 59):02}:{r(0, 59):02}.{r(0, 999999):06}",
        "timetz": lambda: f"{r(0, 23):02}:{r(0, 59):02}:{r(0, 59):02}{rng.choice(['+05:30', '-08', 'Z', '+00'])}",
        "point": lambda: f"({rng.uniform(-1e3, 1e3)},{r(-5, 5)})",
        "macaddr": lambda: ":".join(f"{r(0, 255):02x}" for _ in range(6)),
        '"char"': lambda: chr(r(33, 126)),
        "name": lambda: rng.choice(["pg", "ünï", "n" * 70, "x y"]),
        "circle": lambda: f"<({r(-9, 9)},{r(-9, 9)}),{r(0, 9)}>",
        "box": lambda: f"({r(-9, 9)},{r(-9, 9)}),({r(-9, 9)},{r(-9, 9)})",
        "interval": lambda: rng.choice(["1 day 02:03:04.5", "-3 hours", "P1Y2M3DT4H", "00:00:00.0000015",
                                        "1000000 years", "@ 1 minute ago"]),
        "date": lambda: rng.choice(["2024-02-29", "epoch", "infinity", "0001-01-01 BC", "5874897-12-31"]),
        "timestamptz": lambda: rng.choice(["2024-03-31 02:30:00+02", "epoch", "-infinity",
                                           "2000-01-01 00:00:00.0000005", "1999-12-31 23:59:59.999999-12"]),
        "numeric": lambda: rng.choice(["123.456", "-1e5", "NaN", "0.000000000000000000001", "1e100",
                                       "  7  ", "-0.0"]),
        "jsonb": lambda: rng.choice(['{"a": [1, 2.50]}', "[]", '"x"', "null", '{"b":1,"a":2,"a":3}']),
        "int4range": lambda: rng.choice(["[1,5)", "empty", "(,3]", "[2,2]"]),
        "text[]": lambda: rng.choice(["{a,b,NULL}", "{}", '{"x y","\\\\"}', "{{1,2},{3,4}}"]),
        "bytea": lambda: rng.choice(["\\x0102ff", "plain", "\\000a"]),
        "money": lambda: rng.choice(["12.34", "-1,234.56", "0"]),
        "numeric(6,2)": lambda: rng.choice(["1.005", "9999.994", "-0.005", "NaN", "12"]),
        "timestamp(0)": lambda: rng.choice(["2024-01-01 00:00:00.5", "1999-12-31 23:59:59.5", "epoch"]),
        "varchar(5)": lambda: rng.choice(["abc", "abcde", "abcde   ", "", "ünïcø"]),
    }


def _frame_columns(rng: random.Random, n: int) -> Dict[str, Any]:
    """Candidate columns of n rows, one per supported dtype."""
    r = np.random.default_rng(rng.randrange(1 << 32))

    def ints(dt_: str) -> np.ndarray:
        info = np.iinfo(dt_)
        v = r.integers(info.min, info.max, size=n, dtype=dt_, endpoint=True)
        if n and rng.random() < 0.5:
            v[r.integers(0, n)] = rng.choice([info.min, info.max])
        return v

    def floats(dt_: str) -> np.ndarray:
        with np.errstate(all="ignore"):  # float32 overflows to inf, on purpose
            v = (r.standard_normal(n) * 10 ** rng.randint(0, 50)).astype(dt_)
        for _ in range(rng.randint(0, 3)):
            if n:
                v[r.integers(0, n)] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.5])
        return v

    def masked(arr: Any) -> Any:
        for i in range(n):
            if rng.random() < 0.3:
                arr[i] = pd.NA
        return arr

    def nulls(vals: List[Any]) -> List[Any]:
        return [None if rng.random() < 0.3 else x for x in vals]

    ns = r.integers(-2 * 10 ** 18, 4 * 10 ** 18, size=n)

    def ts(unit: str) -> np.ndarray:
        v = (ns // {"s": 10 ** 9, "ms": 10 ** 6, "us": 10 ** 3, "ns": 1}[unit]).astype(f"datetime64[{unit}]")
        if n and rng.random() < 0.5:
            v[r.integers(0, n)] = np.datetime64("NaT")
        return v

    cols: Dict[str, Callable[[], Any]] = {
        "bool": lambda: r.integers(0, 2, size=n).astype(bool),
        **{k: (lambda k=k: ints(k)) for k in ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                              "uint32", "uint64"]},
        "float32": lambda: floats("float32"),
        "float64": lambda: floats("float64"),
        "ts_ns": lambda: pd.Series(ts("ns")),
        "ts_s": lambda: ts("s"),
        "ts_ms": lambda: ts("ms"),
        "ts_us": lambda: ts("us"),
        "tstz": lambda: pd.Series(pd.to_datetime(ns, unit="ns")).dt.tz_localize("UTC").dt.tz_convert(
            rng.choice(["Europe/Berlin", "UTC", "America/New_York", "Asia/Kathmandu"])),
        "td_ns": lambda: pd.Series(pd.to_timedelta(r.integers(-10 ** 17, 10 ** 17, size=n), unit="ns")),
        "td_s": lambda: r.integers(-10 ** 11, 10 ** 11, size=n).astype("timedelta64[s]"),
        "td_ms": lambda: r.integers(-10 ** 13, 10 ** 13, size=n).astype("timedelta64[ms]"),
        **{k: (lambda k=k: masked(pd.array(ints(k.lower()), dtype=k)))
           for k in ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]},
        "boolean": lambda: pd.array(nulls([bool(x) for x in r.integers(0, 2, size=n)]), dtype="boolean"),
        "Float32": lambda: pd.array(nulls([float(x) for x in floats("float32")]), dtype="Float32"),
        "Float64": lambda: pd.array(nulls([float(x) for x in floats("float64")]), dtype="Float64"),
        "str": lambda: pd.Series(nulls([rng.choice(WORDS) for _ in range(n)]), dtype=object),
        "string": lambda: pd.Series(nulls([rng.choice(WORDS) for _ in range(n)]), dtype="string"),
        "category": lambda: pd.Categorical(nulls([rng.choice(["happy", "sad", "ok", "x" * 9])
                                                 for _ in range(n)]),
                                           categories=["sad", "ok", "happy", "x" * 9, "unused"]),
        "category_big": lambda: pd.Categorical(nulls([f"c{rng.randint(0, 299)}" for _ in range(n)]),
                                               categories=[f"c{k}" for k in range(300)]),
        "category_num": lambda: pd.Categorical(nulls([rng.choice([10, 20, 30]) for _ in range(n)])),
        "date": lambda: pd.Series(nulls([dt.date(1, 1, 1) + dt.timedelta(days=rng.randint(0, 3652058))
                                         for _ in range(n)]), dtype=object),
        "decimal": lambda: pd.Series(nulls([decimal.Decimal(rng.choice(["1.005", "-2.5", "NaN", "1E+2",
                                                                         "12345678901234567890.5", "0"]))
                                            for _ in range(n)]), dtype=object),
        "bytes": lambda: pd.Series(nulls([bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 9)))
                                          for _ in range(n)]), dtype=object),
        "json": lambda: pd.Series(nulls([rng.choice([{"a": [1, 2]}, [], {"k": "ü", "n": None},
                                                     [1, {"x": 1.5}]]) for _ in range(n)]), dtype=object),
        "uuid": lambda: pd.Series(nulls([uuid.UUID(int=rng.getrandbits(128)) for _ in range(n)]),
                                  dtype=object),
        "inet": lambda: pd.Series(nulls([ipaddress.ip_address(rng.getrandbits(32)) for _ in range(n)]),
                                  dtype=object),
        "datetime_obj": lambda: pd.Series(nulls([dt.datetime(2000, 1, 1) + dt.timedelta(
            seconds=rng.randint(-10 ** 9, 10 ** 9)) for _ in range(n)]), dtype=object),
        "timedelta_obj": lambda: pd.Series(nulls([dt.timedelta(seconds=rng.randint(-10 ** 7, 10 ** 7))
                                                  for _ in range(n)]), dtype=object),
        "none": lambda: pd.Series([None] * n, dtype=object),
    }
    for ty, gen in _typed_text(rng).items():
        cols[f"tt:{ty}"] = (lambda gen=gen: pd.Series(nulls([gen() for _ in range(n)]), dtype=object))
    return cols


def _colname(rng: random.Random, kind: str, k: int) -> str:
    """A column's name in the stream; typed text says which type it is made for."""
    return f"{kind}:{k}" if kind.startswith("tt:") else f"{rng.choice(NAMES)}_{k}"


def frame_stream(rng: random.Random) -> Tuple[str, bytes]:
    """zcimport.dump() of a random frame of a few dtypes."""
    import zcimport

    n = rng.choice([0, 1, 2, 5, 16, 17, 33, 40])
    cands = _frame_columns(rng, n)
    kinds = rng.sample(sorted(cands), rng.choice([1, 1, 2, 3, 4, 5]))
    frame = {}
    for k in kinds:
        frame[_colname(rng, k, len(frame))] = cands[k]()
    buf = io.BytesIO()
    batch = rng.choice([None, 1, 2, 3, 7, 16, 17, 32])
    zcimport.dump(frame, buf, batch_rows=batch, nan_as_null=rng.random() < 0.7)
    return f"frame[{','.join(kinds)};n={n};batch={batch}]", buf.getvalue()


def every_dtype_streams(rng: random.Random) -> List[Tuple[str, bytes]]:
    """One stream per dtype, in batches of 16+ rows, and one with all of them."""
    import zcimport

    out = []
    for n, batch in ((40, 16), (3, 1)):
        cands = _frame_columns(rng, n)
        for k in sorted(cands):
            buf = io.BytesIO()
            zcimport.dump({_colname(rng, k, 0): cands[k]()}, buf, batch_rows=batch)
            out.append((f"dtype[{k};n={n};batch={batch}]", buf.getvalue()))
    cands = _frame_columns(rng, 17)
    buf = io.BytesIO()
    zcimport.dump({_colname(rng, k, i): v() for i, (k, v) in enumerate(cands.items())}, buf, batch_rows=8)
    out.append(("dtype[all;n=17;batch=8]", buf.getvalue()))
    return out


@dataclass
class Seed:
    name: str
    data: bytes
    model: Optional[Model]
    descs: List[Desc]  # the columns the table is made for
    stream: Optional[ref.Stream]  # the reference decoding, when valid
    tables: Dict[str, "Table"] = field(default_factory=dict)


def make_seed(name: str, data: bytes) -> Optional[Seed]:
    try:
        model = parse_model(data)
        return Seed(name, data, model, model.descs, ref.decode(data, strict_text=False))
    except (ref.FormatError, struct.error, AssertionError):
        descs = lenient_descs(data)
        if descs is None:
            return None
        return Seed(name, data, None, descs, None)


def build_seeds(rng: random.Random, n_frames: int, n_synth: int, n_big: int = 4, n_large: int = 0,
                fixtures: bool = True, max_len: int = 16384, max_big_len: int = 4 << 20) -> List[Seed]:
    raw: List[Tuple[str, bytes]] = []
    raw += every_dtype_streams(rng)
    for _ in range(n_frames):
        raw.append(frame_stream(rng))
    if fixtures:
        for p in sorted(FIXTURES.glob("*.zci")):
            if p.stat().st_size <= max_len:
                raw.append((f"fixture[{p.name}]", p.read_bytes()))
    for i in range(n_synth):
        raw.append((f"synth[{i}]", serialize(synth_model(rng))[0]))
    for i in range(n_big):
        raw.append((f"big[{i}]", serialize(synth_model(rng, big=True))[0]))
    for i in range(n_large):
        raw.append((f"large[{i}]", serialize(synth_large(rng))[0]))
    seeds = []
    for name, data in raw:
        if len(data) > (max_big_len if name.startswith(("big[", "large[")) else max_len):
            continue
        s = make_seed(name, data)
        if s is None:
            continue
        seeds.append(s)
        # the same rows with bitmap validity
        if s.model is not None and rng.random() < 0.3 and any(
                d.nulls == 2 for d in s.model.descs):
            b = make_seed(name + "+bitmap", serialize(to_bitmaps(rng, s.model))[0])
            if b is not None:
                seeds.append(b)
    return seeds


# =============================================================================
# Mutations
# =============================================================================

INTERESTING = {
    1: [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 2, 3, 0x40],
    2: [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x400, 0x401, 255, 256],
    4: [0, 1, 2, 3, 4, 7, 8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1600, 1601, 1 << 20, (1 << 20) + 8],
    8: [0, 1, 7, 8, 9, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63,
        U64, (1 << 30) - 1, 1 << 30, (1 << 31) - 1, 1 << 31],
}


def _int_field(b: bytes) -> int:
    return int.from_bytes(b, "little")


def _set_field(data: bytearray, f: FieldPos, value: int) -> None:
    data[f.pos:f.pos + f.size] = (value % (1 << (8 * f.size))).to_bytes(f.size, "little")


def _tweak(rng: random.Random, old: int, size: int) -> int:
    r = rng.random()
    if r < 0.4:
        return old + rng.choice([1, -1, 8, -8, 2, -2, 16, -16, 7, 9])
    if r < 0.8:
        return rng.choice(INTERESTING[size])
    return rng.getrandbits(8 * size)


class Mutator:
    """Applies one or more mutations to a seed; returns the stream and what was done."""

    def __init__(self, rng: random.Random, seeds: Sequence[Seed]) -> None:
        self.rng = rng
        self.seeds = seeds
        self.model_ops: List[Tuple[float, Callable[[Model], Optional[str]]]] = [
            (3, self.m_header), (6, self.m_desc), (5, self.m_retype), (5, self.m_count),
            (5, self.m_buflen), (5, self.m_offsets), (5, self.m_codes), (4, self.m_dicts),
            (5, self.m_messages), (3, self.m_end), (6, self.m_values), (4, self.m_text),
            (2, self.m_names), (2, self.m_padding), (2, self.m_trailer), (3, self.m_splice_model),
        ]
        self.raw_ops: List[Tuple[float, Callable[[bytearray, List[FieldPos]], str]]] = [
            (4, self.r_bitflip), (4, self.r_byteset), (6, self.r_field), (3, self.r_truncate),
            (2, self.r_insert), (2, self.r_delete), (1, self.r_dup_range), (2, self.r_splice),
        ]

    def _pick(self, ops: Sequence[Tuple[float, Any]]) -> Any:
        return self.rng.choices([o for _, o in ops], weights=[w for w, _ in ops])[0]

    def mutate(self, seed: Seed) -> Tuple[bytes, List[str]]:
        rng = self.rng
        labels: List[str] = []
        if seed.model is not None and rng.random() < 0.75:
            m = seed.model.copy()
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                op = self._pick(self.model_ops)
                try:
                    lab = op(m)
                except (IndexError, KeyError, ValueError, struct.error, OverflowError):
                    lab = None  # an earlier mutation left the model where this one does not apply
                if lab:
                    labels.append(lab)
            data, fields = serialize(m)
            data = bytearray(data)
            nraw = rng.choice([0, 0, 0, 0, 1])
        else:
            data = bytearray(seed.data)
            fields = serialize(seed.model)[1] if seed.model is not None else []
            nraw = rng.choice([1, 1, 2, 3])
        for _ in range(nraw):
            labels.append(self._pick(self.raw_ops)(data, fields))
        if not data:
            data = bytearray(b"\0")
        return bytes(data), labels

    # -- structure-aware, on the model -----------------------------------------

    def _batches(self, m: Model) -> List[Msg]:
        return [x for x in m.msgs if x.kind == 1]

    def _usable(self, m: Model) -> Dict[int, List[int]]:
        sizes: Dict[int, List[int]] = {}
        for x in m.msgs:
            if x.kind == 2:
                sizes[x.idx] = list(range(min(x.count, 1000)))
        return sizes

    def _regen_batches(self, m: Model) -> None:
        """New buffers for every batch, consistent with the (changed) descriptors."""
        usable = self._usable(m)
        for x in self._batches(m):
            if x.count <= 10000:  # an earlier mutation may have made it absurd
                x.bufs = gen_batch_bufs(self.rng, m.descs, x.count, usable)

    def m_header(self, m: Model) -> str:
        rng = self.rng
        f = rng.choice(["version", "order", "flags", "ncols", "header_len", "reserved", "magic"])
        if f == "version":
            m.version = rng.choice([0, 2, 0xFFFF, 0x100])
        elif f == "order":
            m.order = rng.choice([ord("B"), ord("l"), 0, 0xFF])
        elif f == "flags":
            m.flags = rng.choice([1, 0x80, 0xFF])
        elif f == "ncols":
            m.ncols = rng.choice([0, len(m.descs) + 1, len(m.descs) - 1, 1601, 0xFFFFFFFF, 1 << 31])
        elif f == "header_len":
            hl = len(serialize(Model(m.descs, []))[0])
            m.header_len = rng.choice([hl + 8, hl - 8, hl + 1, hl - 1, 0, 24, (1 << 20) + 8, 1 << 20,
                                       0xFFFFFFF8, hl + 16])
        elif f == "reserved":
            m.reserved = rng.choice([1, 0x80000000])
        else:
            b = bytearray(m.magic)
            b[rng.randrange(8)] ^= 1 << rng.randrange(8)
            m.magic = bytes(b)
        return f"header.{f}"

    def m_desc(self, m: Model) -> str:
        rng = self.rng
        ci = rng.randrange(len(m.descs))
        d = m.descs[ci]
        f = rng.choice(["type", "nulls", "flags", "unit", "itype", "vtype", "name_len", "tz_len",
                        "reserved"])
        regen = rng.random() < 0.5  # keep the batches consistent with the change
        if f == "type":
            d.type = rng.choice([0, 20, 21, 0xFF, rng.randint(1, 19)])
        elif f == "nulls":
            d.nulls = rng.choice([0, 1, 2, 3, 0xFF])
        elif f == "flags":
            d.flags = rng.choice([0, 1, 2, 3, 0x80, 0xFF])
        elif f == "unit":
            d.unit = rng.choice([0, 1, 2, 3, 4, 0xFF])
        elif f == "itype":
            d.itype = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 16, 18, 0xFF])
        elif f == "vtype":
            d.vtype = rng.choice([0, 16, 17, 18, 2, 0xFF])
        elif f == "name_len":
            d.name_len = max(0, len(d.name) + rng.choice([1, -1, 8, -8, 1024, 1025, 0xFFFF]))
            regen = False
        elif f == "tz_len":
            if rng.random() < 0.5:
                d.tz = rng.choice([b"UTC", b"Europe/Berlin", b"x" * 255, b"x" * 256, b"\xff\xfe",
                                   b"bad\nzone", b"\x1b[31m", b"UTC\0"])
            else:
                d.tz_len = max(0, len(d.tz) + rng.choice([1, -1, 8, 256]))
                regen = False
        else:
            d.reserved = rng.choice([1, 0x8000])
        if regen:
            self._regen_batches(m)
        return f"desc.{f}{'+regen' if regen else ''}"

    def m_retype(self, m: Model) -> str:
        """Another valid wire type (and valid descriptor fields) for a column, with fitting buffers."""
        rng = self.rng
        ci = rng.randrange(len(m.descs))
        old = m.descs[ci]
        new = random_desc(rng, ci)
        new.name = old.name
        if rng.random() < 0.5:
            new.nulls = old.nulls
        m.descs[ci] = new
        # dictionaries: drop those of columns that are no longer dictionaries, add one if needed
        m.msgs = [x for x in m.msgs if x.kind != 2 or (
            x.idx < len(m.descs) and m.descs[x.idx].tname == "dictionary")]
        if new.tname == "dictionary" and rng.random() < 0.9:
            msg, _ = gen_dictionary(rng, new, ci)
            m.msgs.insert(0, msg)
        self._regen_batches(m)
        return f"retype.{old.tname}->{new.tname}"

    def m_count(self, m: Model) -> Optional[str]:
        rng = self.rng
        msgs = [x for x in m.msgs if x.kind in (1, 2)]
        if not msgs:
            return None
        x = rng.choice(msgs)
        if x.kind == 1 and rng.random() < 0.4:
            # a batch of another size, consistent buffers and end marker
            x.count = rng.choice([0, 1, 8, 15, 16, 17, 100, 1000, 5000])
            x.bufs = gen_batch_bufs(rng, m.descs, x.count, self._usable(m))
            m.fix_end()
            return "count.regen"
        x.count = _tweak(rng, x.count, 8)
        if rng.random() < 0.5:
            m.fix_end()
        return f"count.{'batch' if x.kind == 1 else 'dict'}"

    def m_buflen(self, m: Model) -> Optional[str]:
        rng = self.rng
        bufs = [b for x in m.msgs for b in x.bufs]
        if not bufs:
            return None
        b = rng.choice(bufs)
        b.length = _tweak(rng, len(b.data), 8)
        if rng.random() < 0.3:
            # the data follows the length (or is cut to it)
            L = b.length if b.length is not None else 0
            if 0 <= L <= len(b.data) + 64:
                b.data = (b.data + bytes(64))[:L]
                b.length = None
        return f"buflen.{b.role}"

    def m_offsets(self, m: Model) -> Optional[str]:
        rng = self.rng
        bufs = [(x, k, b) for x in m.msgs for k, b in enumerate(x.bufs)
                if b.role in ("offsets", "doffsets") and len(b.data) >= 8]
        if not bufs:
            return None
        x, k, b = rng.choice(bufs)
        offs = list(struct.unpack(f"<{len(b.data) // 8}q", b.data))
        data = x.bufs[k + 1] if k + 1 < len(x.bufs) else None
        dlen = len(data.data) if data is not None else 0
        i = rng.randrange(len(offs))
        how = rng.choice(["decrease", "negative", "past_end", "first_nonzero", "last_plus1", "huge",
                          "shift_valid", "swap", "min"])
        if how == "decrease" and i > 0:
            offs[i] = offs[i - 1] - rng.choice([1, 8, 1000])
        elif how == "negative":
            offs[i] = rng.choice([-1, -8, -(1 << 63), -(1 << 31)])
        elif how == "past_end":
            offs[i] = dlen + rng.choice([1, 8, 1 << 31, 1 << 40])
        elif how == "first_nonzero":
            offs[0] = rng.choice([1, 8, dlen, dlen + 1])
        elif how == "last_plus1":
            offs[-1] = dlen + 1
        elif how == "huge":
            offs[i] = (1 << 63) - rng.choice([1, 8, 0])
        elif how == "shift_valid" and data is not None:
            # a valid nonzero first offset: prepend bytes to the data
            pre = rng.choice([1, 3, 8, 13])
            offs = [o + pre for o in offs]
            data.data = bytes(rng.randint(0, 255) for _ in range(pre)) + data.data
        elif how == "swap" and len(offs) > 2:
            j = rng.randrange(len(offs))
            offs[i], offs[j] = offs[j], offs[i]
        else:
            offs[i] = -(1 << 63)
        offs = [max(-(1 << 63), min((1 << 63) - 1, o)) for o in offs]
        b.data = struct.pack(f"<{len(offs)}q", *offs)
        return f"offsets.{how}"

    def m_codes(self, m: Model) -> Optional[str]:
        rng = self.rng
        cands = [b for x in m.msgs if x.kind == 1 for b in x.bufs if b.role == "codes" and b.data]
        if not cands:
            return None
        b = rng.choice(cands)
        d = m.descs[b.col]
        it = ref.TYPE_NAMES.get(d.itype, "int8")
        w = WIDTH.get(it, 1)
        n = len(b.data) // w
        codes = list(struct.unpack(f"<{n}{FMT[it]}", b.data[:n * w]))
        size = max([x.count for x in m.msgs if x.kind == 2 and x.idx == b.col] or [0])
        lo, hi = INT_RANGE[it]
        for _ in range(rng.choice([1, 1, 2, n])):
            i = rng.randrange(n)
            codes[i] = rng.choice([size, size + 1, -2, lo, hi, -1, 0, size - 1, -(1 << 7)])
            codes[i] = max(lo, min(hi, codes[i]))
        b.data = struct.pack(f"<{n}{FMT[it]}", *codes)
        return "codes"

    def m_dicts(self, m: Model) -> Optional[str]:
        rng = self.rng
        didx = [i for i, x in enumerate(m.msgs) if x.kind == 2]
        how = rng.choice(["dup", "remove", "move_after", "shrink", "column", "new", "replace"])
        if not didx and how != "new" and rng.random() < 0.7:
            return None
        if how == "new" or not didx:
            ci = rng.randrange(len(m.descs))
            d = m.descs[ci]
            dd = d if d.tname == "dictionary" else Desc(T["dictionary"], itype=T["int8"], vtype=T["utf8"])
            msg, _ = gen_dictionary(rng, dd, ci)
            m.msgs.insert(rng.randrange(len(m.msgs)), msg)
            return "dict.new" + ("" if d.tname == "dictionary" else ".wrong_column")
        i = rng.choice(didx)
        x = m.msgs[i]
        if how == "dup":
            m.msgs.insert(rng.randrange(len(m.msgs)), Msg(x.kind, x.idx, x.count, list(x.bufs)))
        elif how == "remove":
            del m.msgs[i]
        elif how == "move_after":
            del m.msgs[i]
            m.msgs.insert(rng.randrange(i, len(m.msgs)), x)
        elif how == "shrink" and x.count:
            k = rng.randrange(x.count)
            offs = list(struct.unpack(f"<{x.count + 1}q", x.bufs[0].data))[:k + 1]
            x.count = k
            x.bufs[0] = Buf(struct.pack(f"<{k + 1}q", *offs), "doffsets", x.idx)
        elif how == "column":
            x.idx = rng.choice([x.idx + 1, len(m.descs), 0xFFFFFFFF, max(0, x.idx - 1)])
        else:  # replace: a new dictionary for the same column, before a later batch (valid)
            msg, _ = gen_dictionary(rng, m.descs[x.idx], x.idx)
            m.msgs.insert(rng.randrange(i + 1, len(m.msgs)), msg)
        return f"dict.{how}"

    def m_messages(self, m: Model) -> Optional[str]:
        rng = self.rng
        how = rng.choice(["dup", "remove", "swap", "end_middle", "end_dup", "end_remove",
                          "empty_batch", "kind", "idx", "zero_rows_bad"])
        fix = rng.random() < 0.6
        body = [i for i, x in enumerate(m.msgs) if x.kind != 3]
        if how == "dup" and body:
            x = m.msgs[rng.choice(body)]
            m.msgs.insert(rng.randrange(len(m.msgs)), Msg(x.kind, x.idx, x.count, list(x.bufs)))
        elif how == "remove" and body:
            del m.msgs[rng.choice(body)]
        elif how == "swap" and len(body) > 1:
            i, j = rng.sample(body, 2)
            m.msgs[i], m.msgs[j] = m.msgs[j], m.msgs[i]
        elif how == "end_middle" and body:
            end = [x for x in m.msgs if x.kind == 3]
            if end:
                m.msgs.remove(end[0])
                m.msgs.insert(rng.randrange(len(m.msgs)), end[0])
        elif how == "end_dup":
            m.msgs.append(Msg(3, 0, sum(x.count for x in self._batches(m))))
        elif how == "end_remove":
            m.msgs = [x for x in m.msgs if x.kind != 3]
        elif how == "empty_batch":
            m.msgs.insert(rng.randrange(len(m.msgs)), Msg(1, 0, 0, gen_batch_bufs(rng, m.descs, 0, {})))
        elif how == "kind" and m.msgs:
            x = rng.choice(m.msgs)
            x.kind = rng.choice([0, 1, 2, 3, 4, 0xFFFFFFFF, 0x100])
        elif how == "idx" and m.msgs:
            x = rng.choice(m.msgs)
            x.idx = rng.choice([1, 0xFFFFFFFF, len(m.descs)])
        elif how == "zero_rows_bad":
            m.msgs.insert(rng.randrange(len(m.msgs)), Msg(1, 0, 0, [Buf(b"", "values", 0)]))
        else:
            return None
        if fix:
            m.fix_end()
        return f"msg.{how}{'+fixend' if fix else ''}"

    def m_end(self, m: Model) -> Optional[str]:
        end = [x for x in m.msgs if x.kind == 3]
        if not end:
            return None
        x = end[-1]
        x.count = _tweak(self.rng, x.count, 8)
        return "end.count"

    def m_values(self, m: Model) -> Optional[str]:
        """Interesting values in value, validity and code buffers, lengths kept."""
        rng = self.rng
        cands = [b for x in m.msgs if x.kind == 1 for b in x.bufs
                 if b.role in ("values", "validity") and b.data]
        if not cands:
            return None
        b = rng.choice(cands)
        d = m.descs[b.col]
        data = bytearray(b.data)
        t = d.tname
        if b.role == "validity":
            i = rng.randrange(len(data))
            data[i] = rng.choice([0, 1, 2, 0x80, 0xFF, 0xFE]) if rng.random() < 0.8 else data[i] ^ 0xFF
        elif t in WIDTH:
            w = WIDTH[t]
            n = len(data) // w
            for _ in range(rng.choice([1, 1, 2, max(1, n)])):
                i = rng.randrange(n)
                if t in INT_TYPES:
                    lo, hi = INT_RANGE[t]
                    v = struct.pack("<" + FMT[t], rng.choice([lo, hi, 0, -1 if lo else 1, lo + 1, hi - 1]))
                elif t in FLOAT_TYPES:
                    v = _rand_float(rng, t)
                elif t in TIME_TYPES:
                    v = struct.pack("<q", rng.choice([
                        -(1 << 63), (1 << 63) - 1, -(1 << 63) + 1, TS_MIN_US, TS_MIN_US - 1, TS_END_US // 1000,
                        9223372036854, -9223372036854, 106751991167 * 86400, 2 ** 53, -1, 500, 1500, -1500,
                        2500, 10 ** 18, -(10 ** 18), 9223372036854775, -210866803200000000]))
                elif t == "date32":
                    v = struct.pack("<i", rng.choice([-(1 << 31), (1 << 31) - 1, DATE_MIN, DATE_MIN - 1,
                                                      DATE_END, DATE_END - 1, 2932896, 2932897, -719162,
                                                      106751, 0, -1]))
                else:  # bool
                    v = bytes([rng.choice([0, 1, 2, 0x80, 0xFF])])
                data[i * w:(i + 1) * w] = v
        else:
            return None
        b.data = bytes(data)
        return f"values.{t}.{b.role}"

    def m_text(self, m: Model) -> Optional[str]:
        """Invalid UTF-8, NUL and long values in utf8 data and dictionary entries (offsets kept valid)."""
        rng = self.rng
        cands = [(x, k) for x in m.msgs for k, b in enumerate(x.bufs) if b.role in ("offsets", "doffsets")
                 and len(b.data) >= 16]
        if not cands:
            return None
        x, k = rng.choice(cands)
        ob, db = x.bufs[k], x.bufs[k + 1]
        offs = list(struct.unpack(f"<{len(ob.data) // 8}q", ob.data))
        i = rng.randrange(len(offs) - 1)
        new = rng.choice(BAD_UTF8 + [b"x" * rng.choice([5, 6, 64, 2000, 70000]), b"", "é".encode()])
        a, e = offs[i], offs[i + 1]
        if not (0 <= a <= e <= len(db.data)):
            return None
        delta = len(new) - (e - a)
        db.data = db.data[:a] + new + db.data[e:]
        offs = offs[:i + 1] + [o + delta for o in offs[i + 1:]]
        ob.data = struct.pack(f"<{len(offs)}q", *offs)
        return f"text.{'dict' if ob.role == 'doffsets' else 'value'}"

    def m_names(self, m: Model) -> str:
        rng = self.rng
        d = rng.choice(m.descs)
        d.name = rng.choice([b"\xff", b"a\x00b", b"\x1b[2Jx", b"new\nline", b"n" * 1024, b"n" * 1025,
                             "é".encode() * 300, b"", b"%s%n", b"\xc3"])
        return "names"

    def m_padding(self, m: Model) -> Optional[str]:
        rng = self.rng
        if rng.random() < 0.3:
            d = rng.choice(m.descs)
            n = _pad8(12 + len(d.name) + len(d.tz))
            if n:
                p = bytearray(n)
                p[rng.randrange(n)] = rng.choice([1, 0x80, 0xFF])
                d.pad = bytes(p)
                return "pad.desc"
        bufs = [b for x in m.msgs for b in x.bufs if _pad8(len(b.data))]
        if not bufs:
            return None
        b = rng.choice(bufs)
        p = bytearray(_pad8(len(b.data)))
        p[rng.randrange(len(p))] = rng.choice([1, 0x80, 0xFF])
        b.pad = bytes(p)
        return f"pad.{b.role}"

    def m_trailer(self, m: Model) -> str:
        rng = self.rng
        m.trailer = rng.choice([b"\0" * 8, b"\0", bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 40))),
                                struct.pack("<IIQ", 3, 0, 0), struct.pack("<IIQ", 1, 0, 0) + b"\0" * 8,
                                serialize(Model(m.descs, [Msg(3, 0, 0)]))[0][-16:]])
        return "trailer"

    def m_splice_model(self, m: Model) -> Optional[str]:
        """Messages of another stream, after this header (or this stream's after another's)."""
        rng = self.rng
        other = rng.choice(self.seeds)
        if other.model is None:
            return None
        o = other.model.copy()
        how = rng.choice(["their_msgs", "their_header", "append_batches"])
        if how == "their_msgs":
            m.msgs = o.msgs
        elif how == "their_header":
            m.descs = o.descs
        else:
            end = [x for x in m.msgs if x.kind == 3]
            m.msgs = [x for x in m.msgs if x.kind != 3] + [x for x in o.msgs if x.kind != 3] + end
            m.fix_end()
        return f"splice.{how}"

    # -- raw bytes ----------------------------------------------------------------

    def r_bitflip(self, data: bytearray, fields: List[FieldPos]) -> str:
        for _ in range(self.rng.choice([1, 1, 2, 4, 8])):
            i = self.rng.randrange(len(data)) if data else 0
            if data:
                data[i] ^= 1 << self.rng.randrange(8)
        return "raw.bitflip"

    def r_byteset(self, data: bytearray, fields: List[FieldPos]) -> str:
        for _ in range(self.rng.choice([1, 1, 2, 3])):
            if data:
                data[self.rng.randrange(len(data))] = self.rng.choice(INTERESTING[1])
        return "raw.byteset"

    def r_field(self, data: bytearray, fields: List[FieldPos]) -> str:
        cands = [f for f in fields if f.size in INTERESTING and f.pos + f.size <= len(data)
                 and not f.name.endswith((".data", ".name", ".tz", ".pad"))]
        if not cands:
            return self.r_byteset(data, fields)
        f = self.rng.choice(cands)
        _set_field(data, f, _tweak(self.rng, _int_field(data[f.pos:f.pos + f.size]), f.size))
        return "raw.field." + re.sub(r"\d+", "", f.name.split(".", 1)[-1])

    def r_truncate(self, data: bytearray, fields: List[FieldPos]) -> str:
        rng = self.rng
        if fields and rng.random() < 0.5:
            f = rng.choice(fields)
            cut = max(1, f.pos + rng.choice([0, 0, 1, 4, 8, -1, f.size]))
        else:
            cut = rng.randint(1, max(1, len(data) - 1))
        del data[cut:]
        return "raw.truncate"

    def r_insert(self, data: bytearray, fields: List[FieldPos]) -> str:
        rng = self.rng
        i = rng.randrange(len(data) + 1)
        n = rng.choice([1, 4, 8, 16])
        data[i:i] = bytes(rng.choice([0, rng.randint(0, 255)]) for _ in range(n))
        return "raw.insert"

    def r_delete(self, data: bytearray, fields: List[FieldPos]) -> str:
        rng = self.rng
        if len(data) < 2:
            return "raw.delete"
        i = rng.randrange(len(data))
        del data[i:i + rng.choice([1, 4, 8, 16])]
        return "raw.delete"

    def r_dup_range(self, data: bytearray, fields: List[FieldPos]) -> str:
        rng = self.rng
        a = rng.randrange(0, len(data) + 1, 8) if data else 0
        b = min(len(data), a + rng.choice([8, 16, 24, 64]))
        data[b:b] = data[a:b]
        return "raw.dup_range"

    def r_splice(self, data: bytearray, fields: List[FieldPos]) -> str:
        rng = self.rng
        other = rng.choice(self.seeds).data
        a = rng.randrange(0, len(data) + 1, 8) if rng.random() < 0.7 else rng.randrange(len(data) + 1)
        b = rng.randrange(0, len(other) + 1, 8) if rng.random() < 0.7 else rng.randrange(len(other) + 1)
        data[a:] = other[b:]
        return "raw.splice"


# =============================================================================
# Tables, and what a table must hold after a load
# =============================================================================

NATURAL = {
    "bool": "boolean", "int8": "smallint", "int16": "smallint", "int32": "integer", "int64": "bigint",
    "uint8": "smallint", "uint16": "integer", "uint32": "bigint", "uint64": "numeric",
    "float32": "real", "float64": "double precision", "timestamp": "timestamp",
    "timestamptz": "timestamptz", "duration": "interval", "date32": "date", "utf8": "text",
    "binary": "bytea", "dictionary": "text", "null": "text",
}
_INTS_ALT = ["smallint", "integer", "bigint", "numeric(6,2)", "real", "double precision", "numeric",
             "{s}.mf_int_dom"]
ALT = {
    "bool": ["boolean", "{s}.mf_bool_dom"],
    **{t: _INTS_ALT for t in INT_TYPES},
    "float32": ["real", "double precision", "numeric(6,2)", "numeric", "bigint", "integer", "smallint"],
    "float64": ["real", "double precision", "numeric(6,2)", "numeric", "bigint", "integer", "smallint"],
    "timestamp": ["timestamp", "timestamptz", "timestamp(0)", "timestamptz(3)"],
    "timestamptz": ["timestamptz", "timestamp", "timestamptz(0)"],
    "date32": ["date", "timestamp", "timestamptz", "{s}.mf_date_dom"],
    "duration": ["interval", "interval(0)", "interval day to second"],
    "utf8": ["text", "varchar(5)", "char(3)", "varchar", "{s}.mf_text_dom", "jsonb", "json", "numeric",
             "name", "uuid", "inet", "date", "text[]", "point", "xml"],
    "binary": ["bytea", "{s}.mf_bytea_dom"],
    "dictionary": ["text", "varchar(5)", "char(5)", "{s}.mf_mood", "{s}.mf_text_dom"],
    "null": ["text", "integer", "jsonb", "timestamptz", "bytea", "boolean"],
}
WRONG = ["boolean", "integer", "bytea", "interval", "date", "text", "double precision", "int4range",
         "tsvector", "timestamp"]
TYPE_DDL = """
CREATE DOMAIN {s}.mf_int_dom AS bigint CHECK (VALUE > -1000000000);
CREATE DOMAIN {s}.mf_bool_dom AS boolean NOT NULL;
CREATE DOMAIN {s}.mf_date_dom AS date CHECK (VALUE > '1900-01-01');
CREATE DOMAIN {s}.mf_text_dom AS text CHECK (length(VALUE) < 20);
CREATE DOMAIN {s}.mf_bytea_dom AS bytea CHECK (length(VALUE) < 100);
CREATE TYPE {s}.mf_mood AS ENUM ('happy', 'sad', 'ok', 'a', 'b', '', 'xxxxxxxxx');
"""

SQL_INT = {"smallint": (-(1 << 15), (1 << 15) - 1), "integer": (-(1 << 31), (1 << 31) - 1),
           "bigint": (-(1 << 63), (1 << 63) - 1)}


@dataclass
class TCol:
    name: str
    sqltype: str  # as in the DDL, with {s} for the schema
    natural: bool
    not_null: bool = False


# Columns outside the COPY list: fixed-width constant defaults (part of the
# server's tuple image), a NULL default, a volatile default, a stored
# generated column; what each must hold in every loaded row.
EXTRA_COLUMNS = [
    ("x_i8 bigint DEFAULT 42", "x_i8 = 42"),
    ("x_iv interval DEFAULT '1 day 02:00:00.5'", "x_iv = '1 day 02:00:00.5'"),
    ("x_uu uuid DEFAULT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "x_uu = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    ("x_nm name DEFAULT 'nm'", "x_nm = 'nm'"),
    ("x_ch \"char\" DEFAULT 'q'", "x_ch = 'q'"),
    ("x_ts timestamptz DEFAULT '2020-01-01 00:00:00+00'", "x_ts = '2020-01-01 00:00:00+00'"),
    ("x_b bool DEFAULT true", "x_b"),
    ("x_i2 smallint DEFAULT -7", "x_i2 = -7"),
    ("x_pt point DEFAULT '(1,2)'", "x_pt ~= '(1,2)'"),
    ("x_tx text DEFAULT 'dflt'", "x_tx = 'dflt'"),
    ("x_nul integer", "x_nul IS NULL"),
]
VOLATILE_COLUMNS = [
    ("x_ord bigserial", "x_ord > 0"),
    ("x_rand double precision DEFAULT random()", "x_rand >= 0 AND x_rand < 1"),
]
GENERATED = ("x_gen boolean GENERATED ALWAYS AS ({c} IS NULL) STORED", "x_gen = ({c} IS NULL)")
ADDED = [("x_add integer DEFAULT 7", "x_add = 7"), ("x_add2 text DEFAULT 'm'", "x_add2 = 'm'")]


@dataclass
class Table:
    name: str
    variant: str
    cols: List[TCol]
    pk: Optional[int] = None
    extras: List[Tuple[int, str]] = field(default_factory=list)  # (before stream column i, definition)
    drops: List[str] = field(default_factory=list)  # columns dropped after CREATE
    adds: List[str] = field(default_factory=list)  # columns added after CREATE
    checks: List[str] = field(default_factory=list)  # what every loaded row satisfies

    @property
    def extra(self) -> bool:
        """Live columns outside the COPY list (import_bytea loads every column)."""
        return len(self.extras) > len(self.drops) or bool(self.adds)

    @property
    def natural(self) -> bool:
        return all(c.natural for c in self.cols)

    def ddl(self, schema: str) -> str:
        parts = []
        for i, c in enumerate(self.cols):
            parts += [e for pos, e in self.extras if pos == i]
            s = f"{c.name} {c.sqltype.format(s=schema)}"
            if c.not_null:
                s += " NOT NULL"
            if self.pk == i:
                s += " PRIMARY KEY"
            parts.append(s)
        parts += [e for pos, e in self.extras if pos >= len(self.cols)]
        q = f"{schema}.{self.name}"
        out = [f"CREATE TABLE {q} ({', '.join(parts)})"]
        out += [f"ALTER TABLE {q} DROP COLUMN {d}" for d in self.drops]
        out += [f"ALTER TABLE {q} ADD COLUMN {a}" for a in self.adds]
        return "; ".join(out)

    def uses_types(self) -> bool:
        return any("{s}" in c.sqltype for c in self.cols)


def _tt_type(d: Desc) -> Optional[str]:
    """The type a typed-text column was made for (its name is tt:<type>:<k>)."""
    if d.tname == "utf8" and d.name.startswith(b"tt:"):
        return d.name.decode("utf-8", "replace").split(":")[1]
    return None


def make_table(rng: random.Random, seed: Seed, variant: str, name: str) -> Table:
    cols = []
    st = seed.stream
    for i, d in enumerate(seed.descs):
        t = d.tname
        nat = NATURAL.get(t, "text")
        tt = _tt_type(d)
        if variant == "alt":
            r = rng.random()
            if r < 0.06:
                ty = rng.choice(WRONG)
            elif r < 0.25:
                ty = nat
            elif tt and r < 0.8:
                ty = tt
            else:
                ty = rng.choice(ALT.get(t, ["text"]))
            cols.append(TCol(f"c{i}", ty, False, rng.random() < 0.15))
        elif variant == "typed" and tt:
            cols.append(TCol(f"c{i}", tt, False))
        else:
            cols.append(TCol(f"c{i}", nat, True))
    tab = Table(name, variant, cols)
    values = [st.column_values(i) for i in range(len(seed.descs))] if st is not None and \
        len(st.columns) == len(seed.descs) else None
    if variant == "natural_nn" and values is not None:
        for i, c in enumerate(cols):
            if all(v is not None for v in values[i]) or rng.random() < 0.2:
                c.not_null = True
    if variant == "natural_pk" and values is not None:
        cands = []
        for i, d in enumerate(seed.descs):
            if d.tname in ("null",):
                continue
            try:
                canon = expected_column(st.columns[i], values[i], cols[i].sqltype)
            except Exception:
                continue
            vals = [v for v, bad in canon]
            if all(v is not None and v is not UNKNOWN for v in vals) and len(set(vals)) == len(vals):
                cands.append(i)
        if cands:
            tab.pk = rng.choice(cands)
    n = len(cols)
    if variant == "natural_extra":
        # defaults, at random places among the stream's columns
        for defn, check in rng.sample(EXTRA_COLUMNS, rng.randint(1, 4)) + \
                ([rng.choice(VOLATILE_COLUMNS)] if rng.random() < 0.5 else []) + \
                ([(GENERATED[0].format(c="c0"), GENERATED[1].format(c="c0"))] if rng.random() < 0.3 else []):
            tab.extras.append((rng.randint(0, n), defn))
            tab.checks.append(check)
        if rng.random() < 0.4:
            defn, check = rng.choice(ADDED)
            tab.adds.append(defn)
            tab.checks.append(check)
    if variant == "natural_dropped":
        # dropped columns before, between and after the stream's columns
        for k in range(rng.randint(1, 4)):
            ty = rng.choice(["bigint", "text", "smallint", "interval", "boolean", "uuid"])
            tab.extras.append((rng.randint(0, n), f"x_drop{k} {ty}"))
            tab.drops.append(f"x_drop{k}")
    return tab


# -- what a value becomes in a column of a given type -----------------------------

UNKNOWN = object()  # the value comes from a type's input function: not predicted
NOTNULL = "<not null>"  # what an unpredicted value is compared as: only its NULL-ness


class PairError(Exception):
    """The wire type cannot load into the column type (42804)."""


MOODS = ("happy", "sad", "ok", "a", "b", "", "xxxxxxxxx")  # the labels of mf_mood
DAYS_1900 = -25567  # 1900-01-01, in days since 1970-01-01


@dataclass(frozen=True)
class TypeInfo:
    """What the oracle knows of a column type: its base, typmod and domain rule."""
    base: str  # a natural type, varchar, bpchar, enum, or other
    mod: Any = None  # varchar/bpchar length, (precision, scale), fractional digits
    check: Optional[Callable[[Any], bool]] = None  # the domain's CHECK, on the canonical value
    not_null: bool = False  # a NOT NULL domain


TYPES = {
    **{t: TypeInfo(t) for t in set(NATURAL.values())},
    "varchar": TypeInfo("varchar"), "varchar(5)": TypeInfo("varchar", 5),
    "char(3)": TypeInfo("bpchar", 3), "char(5)": TypeInfo("bpchar", 5),
    "numeric(6,2)": TypeInfo("numeric", (6, 2)),
    "timestamp(0)": TypeInfo("timestamp", 0), "timestamptz(3)": TypeInfo("timestamptz", 3),
    "timestamptz(0)": TypeInfo("timestamptz", 0),
    "interval(0)": TypeInfo("interval", 0), "interval day to second": TypeInfo("interval"),
    "{s}.mf_int_dom": TypeInfo("bigint", check=lambda v: v > -1000000000),
    "{s}.mf_bool_dom": TypeInfo("boolean", not_null=True),
    "{s}.mf_date_dom": TypeInfo("date", check=lambda v: isinstance(v, int) and v > DAYS_1900),
    "{s}.mf_text_dom": TypeInfo("text", check=lambda v: len(v) < 20),
    "{s}.mf_bytea_dom": TypeInfo("bytea", check=lambda v: len(v) < 100),
    "{s}.mf_mood": TypeInfo("enum", MOODS),
}


def type_info(T: str) -> TypeInfo:
    return TYPES.get(T, TypeInfo("other"))


def canon_numeric(s: str) -> str:
    if s in ("NaN", "Infinity", "-Infinity"):
        return s
    with decimal.localcontext() as ctx:
        ctx.prec = 400
        d = decimal.Decimal(s)
        if d.is_nan():
            return "NaN"
        if d.is_infinite():
            return "Infinity" if d > 0 else "-Infinity"
        if d == 0:
            return "0"
        return str(d.normalize())


def canon_float(b: bytes) -> Any:
    v = struct.unpack(">f" if len(b) == 4 else ">d", b)[0]
    return "NaN" if math.isnan(v) else b


def _f32_of_int(v: int) -> float:
    with np.errstate(all="ignore"):
        a = np.array([v], dtype=np.uint64 if v > INT_RANGE["int64"][1] else np.int64)
        return float(a.astype(np.float32)[0])


def _f32_of_float(v: float) -> Tuple[float, bool]:
    """float64 to real as PostgreSQL's float8 -> float4: the value, and whether it fails."""
    with np.errstate(all="ignore"):
        f = float(np.float32(v))
    bad = (math.isinf(f) and not math.isinf(v)) or (f == 0.0 and v != 0.0)
    return f, bad


def to_us(v: int, unit: Optional[str]) -> int:
    if unit == "s":
        return v * 1000000
    if unit == "ms":
        return v * 1000
    if unit == "ns":
        q, r = divmod(v, 1000)
        if r > 500 or (r == 500 and q % 2):
            q += 1
        return q
    return v


def _round_away(v: int, scale: int) -> int:
    """v rounded to a multiple of scale, halves away from zero (PostgreSQL's typmod rounding)."""
    if v >= 0:
        return (v + scale // 2) // scale * scale
    return -((-v + scale // 2) // scale * scale)


def _text_bad(v: Any) -> bool:
    return isinstance(v, ref.InvalidText) or "\x00" in v


#: Arrow wire types whose values the reference decoder gives as those of an
#: older type: the model of that type applies to them as it is.
ARROW_ALIASES = {"bitbool": "bool", "utf8_32": "utf8", "binary_32": "binary"}
#: Arrow wire types whose conversions this model does not predict (their
#: differential test against COPY is test_arrow_wire.py): a load may succeed
#: or fail cleanly, and is judged only on crashes, counts and leftovers.
UNMODELED = {"date64", "time32", "time64", "decimal128", "decimal256"}


def modeled(col: ref.Column) -> ref.Column:
    """col, with an aliased Arrow type replaced by the type modeled for it."""
    alias = ARROW_ALIASES.get(col.type)
    return col if alias is None else dataclasses.replace(col, type=alias)


def pair_kind(t: str, T: str) -> str:
    """'ok', 'input' (through the type's input function), 'bad' (42804) or
    'unknown' (not modeled: UNMODELED) for wire type t."""
    base = type_info(T).base
    t = ARROW_ALIASES.get(t, t)
    if t == "null":
        return "ok"
    if t in UNMODELED:
        return "unknown"
    text = t in ("utf8", "dictionary")
    if base == "boolean":
        return "ok" if t == "bool" else "bad"
    if base in SQL_INT or base in ("real", "double precision"):
        return "ok" if t in INT_TYPES or t in FLOAT_TYPES else "bad"
    if base == "numeric":
        return "ok" if t in INT_TYPES or t in FLOAT_TYPES else "input" if text else "bad"
    if base in ("timestamp", "timestamptz"):
        return "ok" if t in ("timestamp", "timestamptz", "date32") else "input" if text else "bad"
    if base == "interval":
        return "ok" if t == "duration" else "input" if text else "bad"
    if base == "date":
        return "ok" if t == "date32" else "input" if text else "bad"
    if base in ("text", "varchar", "bpchar", "enum"):
        return "ok" if text else "bad"
    if base == "bytea":
        return "ok" if t == "binary" else "input" if text else "bad"
    return "input" if text else "bad"


def tz_dependent(t: str, T: str) -> bool:
    """Does loading wire type t into column type T depend on the session's TimeZone?"""
    B = type_info(T).base
    return (t, B) in (("timestamp", "timestamptz"), ("timestamptz", "timestamp"), ("date32", "timestamptz"))


def _base_cell(col: ref.Column, v: Any, ti: TypeInfo, utc: bool = True) -> Tuple[Any, bool]:
    """(canonical value, must fail) of a non-NULL value in a column of ti's base type.

    utc: the session's TimeZone is UTC (else timestamp <-> timestamptz is not predicted here).
    """
    t, B = col.type, ti.base
    if t in ("utf8", "dictionary"):
        if _text_bad(v):
            return UNKNOWN, True
        if B in ("text", "varchar", "bpchar"):
            if ti.mod is not None and len(v) > ti.mod:
                if v[ti.mod:].strip(" "):
                    return UNKNOWN, True  # too long
                v = v[:ti.mod]  # only spaces too many: cut
            return (v.rstrip(" ") if B == "bpchar" else v), False
        if B == "enum":
            return (v, False) if v in ti.mod else (UNKNOWN, True)
        return UNKNOWN, False  # the type's input function decides
    if B == "boolean":
        return bool(v), False
    if B in SQL_INT:
        lo, hi = SQL_INT[B]
        if t in FLOAT_TYPES:
            if math.isnan(v) or math.isinf(v) or v != math.floor(v):
                return UNKNOWN, True
            v = int(v)
        return v, not lo <= v <= hi
    if B == "real":
        if t in INT_TYPES:
            return canon_float(struct.pack(">f", _f32_of_int(v))), False
        if t == "float32":
            return canon_float(struct.pack(">f", v)), False
        f, bad = _f32_of_float(v)
        return (UNKNOWN if bad else canon_float(struct.pack(">f", f))), bad
    if B == "double precision":
        return canon_float(struct.pack(">d", float(v))), False
    if B == "numeric":
        if t in INT_TYPES:
            s = str(v)
        elif math.isnan(v):
            return "NaN", False
        elif math.isinf(v):
            # Infinity where numeric has no typmod (or an error); never with one
            return ("Infinity" if v > 0 else "-Infinity"), ti.mod is not None
        else:
            # "the float's shortest exact decimal": PostgreSQL's float4out/float8out, whose
            # digits can differ from Python's and NumPy's (5.1836728e+07, not 5.183673e+07);
            # readback() asks the server
            return UNKNOWN, False
        if ti.mod is None:
            return canon_numeric(s), False
        p, sc = ti.mod
        with decimal.localcontext() as ctx:
            ctx.prec = 400
            d = decimal.Decimal(s).quantize(decimal.Decimal(1).scaleb(-sc), rounding=decimal.ROUND_HALF_UP)
            return canon_numeric(str(d)), abs(d) >= decimal.Decimal(10) ** (p - sc)
    if B in ("timestamp", "timestamptz"):
        us = v * DAY_US if t == "date32" else to_us(v, col.unit)
        if not TS_MIN_US <= us < TS_END_US:
            return UNKNOWN, True
        if not -(1 << 63) <= us < (1 << 63):
            return UNKNOWN, False  # valid, but only past int64 microseconds since 1970: either way
        if not utc and (t, B) in (("timestamp", "timestamptz"), ("timestamptz", "timestamp"),
                                  ("date32", "timestamptz")):
            # shifted by the session's zone: readback() asks the server; near the ends, either way
            if not TS_MIN_US + 2 * DAY_US <= us < TS_END_US - 2 * DAY_US:
                return UNKNOWN, False
            return UNKNOWN, False
        if ti.mod is not None:
            r = _round_away(us - PG_SHIFT_US, 10 ** (6 - ti.mod)) + PG_SHIFT_US
            if not TS_MIN_US <= r < TS_END_US:
                return UNKNOWN, False  # rounded past the end of the range: either way
            us = r
        return us, False
    if B == "interval":
        us = to_us(v, col.unit)
        days = us // DAY_US
        if not -(1 << 31) <= days < (1 << 31):
            return UNKNOWN, True
        if not -(1 << 63) <= us < (1 << 63):
            return UNKNOWN, False  # fits days + time, but not int64 microseconds: either way
        time_us = us - days * DAY_US
        if ti.mod is not None:
            time_us = _round_away(time_us, 10 ** (6 - ti.mod))
        return (0, days, time_us), False
    if B == "date":
        if t == "date32":
            return v, not DATE_MIN <= v < DATE_END
    if B == "bytea" and t == "binary":
        return bytes(v), False
    raise AssertionError(f"no rule for {t} into {B}")


def expected_cell(col: ref.Column, v: Any, T: str, utc: bool = True) -> Tuple[Any, bool]:
    """(canonical value, must fail) of one stream value loaded into a column of type T.

    The canonical value is what canon_read() makes of the column read back
    with read_sql(); UNKNOWN when the oracle cannot say.
    """
    ti = type_info(T)
    if pair_kind(col.type, T) == "bad":
        raise PairError(f"{col.type} into {T}")
    if v is None:
        return None, ti.not_null
    value, bad = _base_cell(col, v, ti, utc)
    if not bad and ti.check is not None and value is not UNKNOWN and not ti.check(value):
        bad = True
    if ti.base == "other" and not bad:
        return NOTNULL, False
    return value, bad


def expected_column(col: ref.Column, values: Sequence[Any], T: str, utc: bool = True
                    ) -> List[Tuple[Any, bool]]:
    return [expected_cell(col, v, T, utc) for v in values]


READ_SQL = {  # exact: the binary send functions where text or extract() would round
    "numeric": "{c}::text",
    "real": "float4send({c})",
    "double precision": "float8send({c})",
    "timestamp": "timestamp_send({c})",
    "timestamptz": "timestamptz_send({c})",
    "interval": "interval_send({c})",
    "date": "date_send({c})",
    "varchar": "{c}::text",
    "bpchar": "{c}::text",
    "enum": "{c}::text",
    "other": "CASE WHEN {c} IS NULL THEN NULL ELSE '" + NOTNULL + "' END",
}


def read_sql(T: str, c: str) -> str:
    return READ_SQL.get(type_info(T).base, "{c}").format(c=c)


def canon_read(T: str, v: Any) -> Any:
    B = type_info(T).base
    if v is None:
        return None
    if B == "numeric":
        return canon_numeric(v)
    if B in ("real", "double precision"):
        return canon_float(bytes(v))
    if B in ("timestamp", "timestamptz"):
        (x,) = struct.unpack(">q", bytes(v))
        return "infinity" if x == (1 << 63) - 1 else "-infinity" if x == -(1 << 63) else x + PG_SHIFT_US
    if B == "date":
        (x,) = struct.unpack(">i", bytes(v))
        return "infinity" if x == (1 << 31) - 1 else "-infinity" if x == -(1 << 31) else x + 10957
    if B == "interval":
        time_us, days, months = struct.unpack(">qii", bytes(v))
        return (months, days, time_us)
    if B == "bytea":
        return bytes(v)
    return v


@dataclass
class Prediction:
    must_fail: List[str]  # why the load must fail (empty: it may succeed)
    rows: collections.Counter  # the rows, over the predicted columns
    known: List[int]  # the predicted columns
    total: int
    exact: bool = False  # every column predicted, none through an input function
    cols: List[List[Any]] = field(default_factory=list)  # per column, the canonical values
    keep: List[bool] = field(default_factory=list)  # the rows a WHERE keeps


def predict(stream: ref.Stream, table: Table, where: Optional[int] = None, utc: bool = True) -> Prediction:
    """What loading the stream into the table must do (the stream is valid).

    where: the load has ``WHERE c<where> IS NOT NULL``: values are converted
    (and may fail) in every row, constraints apply to the rows it keeps.
    """
    why: List[str] = []
    if len(stream.columns) != len(table.cols):
        return Prediction([f"{len(stream.columns)} stream columns, {len(table.cols)} in the table"],
                          collections.Counter(), [], stream.total_rows)
    keep = [True] * stream.total_rows
    if where is not None:
        keep = [v is not None for v in stream.column_values(where)]
    cols: List[List[Any]] = []
    known = []
    for i, (c, tc) in enumerate(zip(stream.columns, table.cols)):
        vals = stream.column_values(i)
        c = modeled(c)
        kind = pair_kind(c.type, tc.sqltype)
        if kind in ("bad", "unknown"):
            if kind == "bad":
                why.append(f"column {tc.name}: {c.type} into {tc.sqltype}")
            cols.append([UNKNOWN] * len(vals))
            continue
        cells = expected_column(c, vals, tc.sqltype, utc)
        bad = [k for k, (_, b) in enumerate(cells) if b]
        if bad:
            why.append(f"column {tc.name} row {bad[0]}: value {vals[bad[0]]!r:.80} cannot be a {tc.sqltype}")
        if (tc.not_null or table.pk == i) and any(v is None for v, k in zip(vals, keep) if k):
            why.append(f"NULL in NOT NULL column {tc.name}")
        canon = [v for v, _ in cells]
        if table.pk == i:
            seen = [v for v, k in zip(canon, keep) if k and v is not None and v is not UNKNOWN]
            # real/double: -0 and 0 are equal keys, and every NaN is the same key
            norm = [(b"\0" * len(v) if isinstance(v, bytes) and T_IS_FLOAT(tc.sqltype) and
                     not any(v[1:]) and v[0] in (0, 0x80) else v) for v in seen]
            if len(set(norm)) != len(norm):
                why.append(f"duplicate key in column {tc.name}")
        if all(v is not UNKNOWN for v in canon):
            known.append(i)
        cols.append(canon)
    rows = collections.Counter(tuple(cols[i][r] for i in known) for r in range(stream.total_rows) if keep[r])
    exact = len(known) == len(table.cols) and all(
        pair_kind(c.type, tc.sqltype) == "ok" for c, tc in zip(stream.columns, table.cols))
    return Prediction(why, rows, known, sum(keep), exact, cols, keep)


def T_IS_FLOAT(T: str) -> bool:
    return type_info(T).base in ("real", "double precision")


# =============================================================================
# Sending streams, and judging what happened
# =============================================================================

EXPECTED_STATES = {"22P04", "42804", "54000"}
LOG_PATTERNS = re.compile(r"terminated by signal|was terminated|server process|PANIC|TRAP|"
                          r"database system is in recovery|all server processes terminated")


def expected_state(s: Optional[str], table: Optional["Table"] = None) -> bool:
    """An SQLSTATE a bad stream may end with; input functions add their own (tsvector: 42601)."""
    if s is not None and s == "42601" and table is not None:
        return any(type_info(c.sqltype).base == "other" for c in table.cols)
    return s is not None and (s in EXPECTED_STATES or s[:2] in ("22", "23"))


@dataclass
class Outcome:
    path: str
    ok: bool = False
    rowcount: Optional[int] = None
    sqlstate: Optional[str] = None
    message: str = ""
    lost: bool = False  # the connection broke
    count_after: Optional[int] = None
    error: Optional[str] = None  # a client-side exception while checking
    describe: Optional[List[Tuple[Any, ...]]] = None


@dataclass
class Finding:
    kind: str
    detail: str


@dataclass
class Case:
    no: int
    seed: Seed
    data: bytes
    labels: List[str]
    table: Table
    path: str  # copy, import_bytea, describe
    chunks: List[int]  # CopyData sizes
    where: Optional[int] = None  # COPY ... WHERE c<where> IS NOT NULL
    tz: str = "UTC"  # the session's TimeZone

    def chunk_desc(self) -> str:
        if len(self.chunks) <= 1:
            return "one CopyData"
        return f"{len(self.chunks)} CopyData of {min(self.chunks)}..{max(self.chunks)} bytes"


@dataclass
class Summary:
    sent: int = 0
    accepted: int = 0
    rejected: collections.Counter = field(default_factory=collections.Counter)
    crashes: int = 0
    hangs: int = 0
    skipped: int = 0
    findings: collections.Counter = field(default_factory=collections.Counter)
    notes: collections.Counter = field(default_factory=collections.Counter)
    paths: collections.Counter = field(default_factory=collections.Counter)
    compared: int = 0  # accepted loads whose rows were compared value by value
    by_label: Dict[str, collections.Counter] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    seconds: float = 0.0
    finding_files: List[str] = field(default_factory=list)

    def line(self) -> str:
        rej = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items(), key=lambda kv: -kv[1]))
        nf = sum(self.findings.values())
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (f"mutfuzz: {self.sent} streams sent, {self.accepted} accepted ({self.compared} compared "
                f"row by row), {sum(self.rejected.values())} rejected ({rej or 'none'}), "
                f"{self.crashes} crashes, {self.hangs} hangs, {nf} findings"
                f"{' (' + ', '.join(f'{k} {v}' for k, v in self.findings.items()) + ')' if nf else ''}, "
                f"{self.seconds:.1f} s, {rate:.0f} streams/s")


def names_clean(stream: ref.Stream) -> bool:
    """Names valid UTF-8 without NUL, time zones printable ASCII (what the server requires)."""
    for c in stream.columns:
        try:
            c.name.encode("utf-8")
        except UnicodeEncodeError:
            return False
        if "\x00" in c.name or any(not 0x20 <= ord(ch) < 0x7F for ch in c.tz):
            return False
    return True


class LogWatch:
    """New lines of the server log that show a crash."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path if path and os.path.exists(path) else None
        self.pos = os.path.getsize(self.path) if self.path else 0

    def check(self) -> List[str]:
        if not self.path:
            return []
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                new = f.read()
        except OSError:
            return []
        self.pos += len(new)
        return [ln for ln in new.decode("utf-8", "replace").splitlines() if LOG_PATTERNS.search(ln)]


def _norm_message(msg: str) -> str:
    return re.sub(r"\d+", "N", msg.split("\n")[0])[:120]


def drop_schema(conn: Any, schema: str) -> None:
    """Drop a fuzzer's schema, a table at a time (one DROP ... CASCADE would need a lock per table)."""
    conn.execute("SET statement_timeout = 0")
    for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall():
        conn.execute(f'DROP TABLE IF EXISTS {schema}."{name}" CASCADE')
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class Fuzzer:
    def __init__(self, dsn: str, seed: int, server_log: Optional[str] = None,
                 findings_dir: Optional[str] = "/tmp/mutfuzz-findings", minimize: bool = False,
                 statement_timeout: str = "20s", verbose: bool = False, frames: int = 60,
                 synth: int = 80, big: int = 4, large: int = 1) -> None:
        import psycopg

        self.psycopg = psycopg
        self.dsn = dsn
        self.seed = seed
        self.rng = random.Random(seed)
        self.log = LogWatch(server_log)
        self.findings_dir = Path(findings_dir) if findings_dir else None
        self.minimize = minimize
        self.timeout = statement_timeout
        self.verbose = verbose
        self.n_frames, self.n_synth, self.n_big, self.n_large = frames, synth, big, large
        self.schema = f"mutfuzz_{os.getpid()}_{seed % 100000}"
        self.summary = Summary()
        self.signatures: collections.Counter = collections.Counter()
        self.notes_saved: collections.Counter = collections.Counter()
        self.warnings: List[str] = []
        self.conn: Any = None
        self.tz = "UTC"  # the session's TimeZone
        self.seeds: List[Seed] = []
        # import_file() reads a file on the server: only when the server is this machine
        self.file_dir: Optional[str] = None
        if self.log.path is not None:
            self.file_dir = f"/tmp/mutfuzz-files-{os.getpid()}"
            os.makedirs(self.file_dir, exist_ok=True)
            os.chmod(self.file_dir, 0o755)
        self.tables_made = 0

    # -- connections ------------------------------------------------------------

    def connect(self) -> Any:
        c = self.psycopg.connect(self.dsn, autocommit=True)
        c.execute("SELECT zcimport.version()")
        c.execute(f"SET statement_timeout = '{self.timeout}'")
        c.execute(f"SET TimeZone = '{getattr(self, 'tz', 'UTC')}'")
        try:  # keep the shared server log readable: this makes thousands of errors
            c.execute("SET log_min_messages = fatal")
            c.execute("SET log_min_error_statement = panic")
        except self.psycopg.Error:
            pass

        def on_notice(diag: Any) -> None:
            if diag.severity_nonlocalized in ("WARNING",) or diag.severity in ("WARNING",):
                self.warnings.append(f"{diag.sqlstate}: {diag.message_primary}")

        c.add_notice_handler(on_notice)
        return c

    def wait_for_server(self, limit: float = 180.0) -> bool:
        t0 = time.time()
        while time.time() - t0 < limit:
            try:
                with self.psycopg.connect(self.dsn, connect_timeout=5) as c:
                    c.execute("SELECT 1")
                return True
            except self.psycopg.Error:
                time.sleep(0.5)
        return False

    def fresh_select1(self) -> bool:
        try:
            with self.psycopg.connect(self.dsn, connect_timeout=10) as c:
                return c.execute("SELECT 1").fetchone() == (1,)
        except self.psycopg.Error:
            return False

    def setup(self) -> None:
        self.conn = self.connect()
        self.conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        self.conn.execute(f"CREATE SCHEMA {self.schema}")
        self.conn.execute(TYPE_DDL.format(s=self.schema))
        try:  # a server built without libxml refuses every xml value, COPY's too
            self.conn.execute("SELECT '<a/>'::pg_catalog.xml")
        except self.psycopg.errors.FeatureNotSupported:
            ALT["utf8"] = [t for t in ALT["utf8"] if t != "xml"]
            print("mutfuzz: the server has no libxml: no xml columns", file=sys.stderr)
        self.seeds = build_seeds(self.rng, self.n_frames, self.n_synth, self.n_big, self.n_large)
        self.mutator = Mutator(self.rng, self.seeds)

    def teardown(self) -> None:
        if self.file_dir is not None:
            import shutil

            shutil.rmtree(self.file_dir, ignore_errors=True)
        try:
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = self.connect()
            drop_schema(self.conn, self.schema)
            self.conn.close()
        except self.psycopg.Error as ex:
            print(f"mutfuzz: could not drop schema {self.schema}: {ex}", file=sys.stderr)

    def table_for(self, seed: Seed, variant: str) -> Table:
        t = seed.tables.get(variant)
        if t is None:
            self.tables_made += 1
            t = make_table(self.rng, seed, variant, f"t{self.tables_made}_{variant}")
            self.conn.execute(t.ddl(self.schema))
            seed.tables[variant] = t
        return t

    # -- one case ---------------------------------------------------------------

    def _chunks(self, n: int) -> List[int]:
        rng = self.rng
        r = rng.random()
        if r < 0.5 or n == 0:
            return [n]
        if r < 0.8:
            top = rng.choice([16, 100, 1000, 4096])
        elif r < 0.95 and n <= 8192:
            top = rng.choice([2, 3, 8])
        elif n <= 3000:
            top = 1
        else:
            top = 64
        out = []
        while n > 0:
            k = min(n, rng.randint(1, top))
            out.append(k)
            n -= k
        return out

    def _qname(self, t: Table) -> str:
        return f"{self.schema}.{t.name}"

    def send(self, case: Case) -> Outcome:
        psycopg = self.psycopg
        conn = self.conn
        t = case.table
        out = Outcome(case.path)
        timer = threading.Timer(90.0, self._watchdog, args=(conn,))
        timer.daemon = True
        timer.start()
        try:
            if case.path == "copy":
                cols = ", ".join(c.name for c in t.cols)
                with conn.cursor() as cur:
                    where = "" if case.where is None else f" WHERE c{case.where} IS NOT NULL"
                    with cur.copy(f"COPY {self._qname(t)} ({cols}) FROM STDIN WITH (FORMAT zcimport){where}") as cp:
                        p = 0
                        for k in case.chunks:
                            cp.write(case.data[p:p + k])
                            p += k
                        self._drain(conn)
                    out.rowcount = cur.rowcount
            elif case.path == "import_bytea":
                out.rowcount = conn.execute("SELECT zcimport.import_bytea(%s::regclass, %s)",
                                            (self._qname(t), case.data)).fetchone()[0]
            elif case.path == "import_file":
                assert self.file_dir is not None
                path = os.path.join(self.file_dir, "case.zci")
                with open(path, "wb") as fh:
                    fh.write(case.data)
                os.chmod(path, 0o644)
                out.rowcount = conn.execute("SELECT zcimport.import_file(%s::regclass, %s)",
                                            (self._qname(t), path)).fetchone()[0]
            else:
                out.describe = conn.execute(
                    "SELECT column_no, wire_type, null_encoding, sentinel_null, rows, nulls "
                    "FROM zcimport.describe(%s)", (case.data,)).fetchall()
            out.ok = True
        except psycopg.Error as ex:
            out.sqlstate = ex.sqlstate
            out.message = str(ex).split("\n")[0]
            if ex.diag and ex.diag.message_detail:
                out.message += " | " + ex.diag.message_detail
        except UnicodeDecodeError as ex:
            out.error = f"client could not decode the answer: {ex}"
        except TimeoutError as ex:
            out.sqlstate, out.message = "57014", f"client: {ex}"
        finally:
            timer.cancel()
        if conn.broken or conn.closed:
            out.lost = True
            return out
        if case.path == "describe":
            return out
        try:
            out.count_after = conn.execute(f"SELECT count(*) FROM {self._qname(t)}").fetchone()[0]
        except psycopg.Error as ex:
            out.error = f"counting the rows: {ex.sqlstate}: {ex}"
            out.lost = conn.broken or conn.closed
        return out

    def readback(self, case: Case, stream: Optional[ref.Stream], pred: Optional[Prediction]) -> List[Finding]:
        """After a load: the rows against the prediction, and the extra columns' checks."""
        psycopg = self.psycopg
        conn, t, q = self.conn, case.table, self._qname(case.table)
        f: List[Finding] = []
        try:
            if t.checks:
                bad = conn.execute(f"SELECT count(*) FROM {q} WHERE ({' AND '.join(t.checks)}) IS NOT TRUE"
                                   ).fetchone()[0]
                if bad:
                    f.append(Finding("wrong-defaults", f"{bad} rows break {t.checks}"))
            if stream is None or pred is None or pred.must_fail:
                return f
            # columns whose values an input function makes: PostgreSQL's own cast is the oracle
            exprs, known, cols = [], list(pred.known), [list(c) for c in pred.cols]
            for i, (c, tc) in enumerate(zip(stream.columns, t.cols)):
                T = tc.sqltype.format(s=self.schema)
                src = None
                if pair_kind(c.type, tc.sqltype) == "input":
                    src, arr = f"CAST(v AS {T})", "text[]"
                elif c.type in FLOAT_TYPES and type_info(tc.sqltype).base == "numeric":
                    f4 = "real" if c.type == "float32" else "double precision"
                    src, arr = f"CAST(CAST(CAST(v AS {f4}) AS text) AS {T})", "float8[]"
                elif self.tz != "UTC" and tz_dependent(c.type, tc.sqltype):
                    srct = {"timestamp": "timestamp", "timestamptz": "timestamptz", "date32": "date"}[c.type]
                    src, arr = f"CAST(CAST(v AS {srct}) AS {T})", "text[]"
                vals = stream.column_values(i)
                if src is not None and arr == "text[]" and c.type in ("timestamp", "timestamptz", "date32"):
                    try:  # the value as text PostgreSQL reads the same in any zone
                        vals = [None if v is None else
                                str(dt.date(1970, 1, 1) + dt.timedelta(days=v)) if c.type == "date32" else
                                (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=to_us(v, c.unit))
                                 ).isoformat(sep=" ") + ("+00" if c.type == "timestamptz" else "")
                                for v in vals]
                    except OverflowError:  # before year 1 or after 9999: not compared
                        src = None
                        known = [k for k in known if k != i]
                        exprs.append(read_sql(tc.sqltype, tc.name))
                        continue
                if src is not None:
                    exprs.append(f"{tc.name}::text")
                    keyed = {(repr(v) if isinstance(v, float) else v): v for v in vals if v is not None}
                    try:
                        got_cast = conn.execute(
                            f"SELECT CAST({src} AS text) FROM unnest(%s::{arr}) WITH ORDINALITY AS u(v, o) "
                            "ORDER BY o", (list(keyed.values()),)).fetchall() if keyed else []
                    except psycopg.Error as ex:
                        f.append(Finding("accepted-bad-value",
                                         f"column {tc.name}: a value that {tc.sqltype} refuses was loaded: "
                                         f"{ex.sqlstate}: {str(ex).splitlines()[0]}"))
                        return f
                    key = {k: x for k, (x,) in zip(keyed, got_cast)}
                    cols[i] = [None if v is None else key[repr(v) if isinstance(v, float) else v] for v in vals]
                    if i not in known:
                        known.append(i)
                else:
                    exprs.append(read_sql(tc.sqltype, tc.name))
            known.sort()
            rows = conn.execute(f"SELECT {', '.join(exprs)} FROM {q}").fetchall()
            want = collections.Counter(tuple(cols[i][r] for i in known)
                                       for r in range(stream.total_rows) if pred.keep[r])
            got = collections.Counter(
                tuple(r[i] if i not in pred.known else canon_read(t.cols[i].sqltype, r[i]) for i in known)
                for r in rows)
            if got != want:
                missing = list((want - got).elements())[:2]
                extra = list((got - want).elements())[:2]
                f.append(Finding("wrong-rows", f"expected but missing {missing!r:.300}; "
                                               f"loaded but not expected {extra!r:.300}"))
            elif known:
                self.summary.compared += 1
        except psycopg.Error as ex:
            f.append(Finding("client-error", f"reading the table back: {ex.sqlstate}: {ex}"))
        except Exception as ex:  # noqa: BLE001 - e.g. text the client cannot decode
            f.append(Finding("client-error", f"reading the table back: {type(ex).__name__}: {ex}"))
        finally:
            if not (conn.broken or conn.closed):
                try:
                    conn.execute(f"DELETE FROM {q}")
                except psycopg.Error as ex:
                    f.append(Finding("client-error", f"emptying the table: {ex.sqlstate}: {ex}"))
        return f

    @staticmethod
    def _drain(conn: Any, limit: float = 120.0) -> None:
        """Send what libpq still holds, reading what the server sends meanwhile.

        psycopg 3.1 waits for the socket to be writable before it flushes the
        end of a COPY; when the server is itself blocked sending a large
        error message, neither side reads and both wait forever.  libpq's
        contract for a non-blocking flush is to wait for read *or* write
        and to consume input on read: done here before the copy ends.
        """
        import select

        pg = conn.pgconn
        t0 = time.time()
        while pg.flush() == 1:
            if time.time() - t0 > limit:
                raise TimeoutError("the server neither reads the COPY data nor answers")
            select.select([pg.socket], [pg.socket], [], 1.0)
            pg.consume_input()

    def _watchdog(self, conn: Any) -> None:
        """A statement that ignores statement_timeout: cancel it, then end its backend."""
        try:
            pid = conn.info.backend_pid
            conn.cancel()
            time.sleep(30)
            if conn.info.transaction_status == 1:  # ACTIVE
                with self.psycopg.connect(self.dsn, autocommit=True) as c:
                    c.execute("SELECT pg_terminate_backend(%s)", (pid,))
        except Exception:  # noqa: BLE001
            pass

    def judge(self, case: Case, out: Outcome) -> List[Finding]:
        f: List[Finding] = []
        if out.lost:
            f.append(Finding("crash", "the connection was lost"))
        if out.error:
            f.append(Finding("client-error", out.error))
        if out.sqlstate == "57014":
            f.append(Finding("hang", out.message))
        elif out.sqlstate == "XX000":
            f.append(Finding("internal-error", out.message))
        elif out.sqlstate is not None and not expected_state(out.sqlstate, case.table):
            f.append(Finding("unexpected-sqlstate", f"{out.sqlstate}: {out.message}"))
        if self.warnings:
            f.append(Finding("warning", "; ".join(self.warnings[:3])))
            self.warnings.clear()
        if out.lost or out.error:
            if out.ok and not out.lost and case.path != "describe":
                try:
                    self.conn.execute(f"DELETE FROM {self._qname(case.table)}")
                except self.psycopg.Error:
                    pass
            return f
        try:
            stream: Optional[ref.Stream] = reference_decode(case.data)
            ref_error = ""
        except ref.FormatError as ex:
            stream, ref_error = None, str(ex)
        if case.path == "describe":
            return f + self.judge_describe(case, out, stream, ref_error)
        if not out.ok:
            if out.count_after:
                f.append(Finding("rows-left", f"{out.count_after} rows after {out.sqlstate}"))
            if stream is not None and out.sqlstate == "22P04":
                # the reference decoder sees a valid stream: a stricter server, or a divergence
                if len(stream.columns) == len(case.table.cols) and names_clean(stream):
                    self.note("22P04-on-valid-stream", case, out)
            elif stream is not None:
                pred = predict(stream, case.table, case.where, self.tz == "UTC")
                if not pred.must_fail and pred.exact:
                    self.note(f"{out.sqlstate}-predicted-to-load", case, out)
            return f
        # accepted
        if out.count_after != out.rowcount:
            f.append(Finding("wrong-count", f"COPY {out.rowcount} but count(*) = {out.count_after}"))
        pred = predict(stream, case.table, case.where, self.tz == "UTC") if stream is not None else None
        f += self.readback(case, stream, pred)
        if stream is None or pred is None:
            f.append(Finding("accepted-malformed", f"the reference decoder says: {ref_error}"))
            return f
        if out.rowcount != pred.total:
            f.append(Finding("wrong-count", f"COPY {out.rowcount}, the stream holds {pred.total} rows"
                                            f"{'' if case.where is None else ' that WHERE keeps'}"))
        if pred.must_fail:
            kind = "accepted-mismatch" if any(" into " in w for w in pred.must_fail) else "accepted-bad-value"
            f.append(Finding(kind, "; ".join(pred.must_fail[:3])))
        return f

    def judge_describe(self, case: Case, out: Outcome, stream: Optional[ref.Stream],
                       ref_error: str) -> List[Finding]:
        f: List[Finding] = []
        if not out.ok:
            if stream is not None and out.sqlstate == "22P04" and names_clean(stream):
                self.note("describe-22P04-on-valid-stream", case, out)
            return f
        if stream is None:
            return [Finding("describe-accepted-malformed", f"the reference decoder says: {ref_error}")]
        rows = out.describe or []
        if len(rows) != len(stream.columns):
            return [Finding("describe-mismatch", f"{len(rows)} rows for {len(stream.columns)} columns")]
        for r, c in zip(rows, stream.columns):
            no, wire, nulls, sentinel, nrows, nnull = r
            i = no - 1
            vals = stream.column_values(i)
            exp_nulls = sum(v is None for v in vals)
            problems = []
            if not wire.startswith(c.type):
                problems.append(f"wire_type {wire!r}, expected {c.type}")
            if nulls != c.nulls:
                problems.append(f"null_encoding {nulls}, expected {c.nulls}")
            if sentinel != c.sentinel:
                problems.append(f"sentinel_null {sentinel}")
            if nrows != stream.total_rows:
                problems.append(f"rows {nrows}, expected {stream.total_rows}")
            if nnull != exp_nulls:
                problems.append(f"nulls {nnull}, expected {exp_nulls}")
            if problems:
                f.append(Finding("describe-mismatch", f"column {no}: " + "; ".join(problems)))
        return f

    # -- findings ---------------------------------------------------------------

    def note(self, kind: str, case: Case, out: Outcome) -> None:
        key = f"{kind}: {_norm_message(out.message)}"
        self.summary.notes[key] += 1
        if self.findings_dir is not None and self.notes_saved[key] < 2:
            self.notes_saved[key] += 1
            d = self.findings_dir / "notes"
            d.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha1(case.data).hexdigest()[:12]
            (d / f"{kind}-{h}.zci").write_bytes(case.data)
            (d / f"{kind}-{h}.txt").write_text(f"{key}\n{out.message}\nseed {self.seed} case {case.no}\n"
                                                f"{case.seed.name}\n{case.labels}\n{case.table.ddl('mfrepro')}\n")

    def record(self, case: Case, out: Outcome, findings: List[Finding]) -> None:
        for fd in findings:
            self.summary.findings[fd.kind] += 1
            sig = f"{fd.kind}|{out.sqlstate}|{_norm_message(fd.detail if fd.kind != 'crash' else '')}"
            self.signatures[sig] += 1
            first = self.signatures[sig] == 1
            if self.verbose or first:
                print(f"FINDING case {case.no} ({case.path}, {case.seed.name}, {case.labels}): "
                      f"{fd.kind}: {fd.detail}", file=sys.stderr)
            if self.findings_dir is None or self.signatures[sig] > 3:
                continue
            self.findings_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.findings_dir, 0o755)
            h = hashlib.sha1(case.data).hexdigest()[:12]
            base = self.findings_dir / f"{fd.kind}-{h}"
            base.with_suffix(".zci").write_bytes(case.data)
            os.chmod(base.with_suffix(".zci"), 0o644)
            small = None
            if self.minimize and first and fd.kind not in ("hang", "warning", "client-error"):
                small = self.minimize_case(case, fd.kind, out.sqlstate)
                if small is not None:
                    base.with_name(base.name + ".min.zci").write_bytes(small)
                    os.chmod(base.with_name(base.name + ".min.zci"), 0o644)
            self.write_report(base, case, out, fd, small)
            self.summary.finding_files.append(str(base.with_suffix(".zci")))

    def write_report(self, base: Path, case: Case, out: Outcome, fd: Finding, small: Optional[bytes]) -> None:
        t = case.table
        types = TYPE_DDL.format(s="mfrepro").strip() if t.uses_types() else ""
        path = base.with_name(base.name + ".min.zci") if small is not None else base.with_suffix(".zci")
        cols = ", ".join(c.name for c in t.cols)
        ddl = f"CREATE SCHEMA IF NOT EXISTS mfrepro; {types} {t.ddl('mfrepro')};".replace("\n", " ")
        lines = [
            f"finding: {fd.kind}: {fd.detail}",
            f"server said: {out.sqlstate or 'OK'} {out.message} rowcount={out.rowcount} "
            f"count_after={out.count_after}",
            f"seed {self.seed}, case {case.no}, from {case.seed.name}, mutations {case.labels}",
            f"path {case.path}, {case.chunk_desc()}, {len(case.data)} bytes, TimeZone {case.tz}"
            + (f" (minimized: {len(small)} bytes)" if small is not None else ""),
            "",
            f"psql -X -c \"{ddl}\"",
            f"psql -X -c \"SET TimeZone = '{case.tz}'\" "
            f"-c \"SELECT zcimport.import_bytea('mfrepro.{t.name}', pg_read_binary_file('{path}'))\"",
            f"psql -X -c \"\\copy mfrepro.{t.name} ({cols}) FROM '{path}' WITH (FORMAT zcimport)"
            + ("" if case.where is None else f" WHERE c{case.where} IS NOT NULL") + "\"",
        ]
        try:
            s = reference_decode(case.data)
            lines.append(f"reference decoder: {len(s.columns)} columns "
                         f"{[(c.type, c.nulls, c.unit, c.index_type) for c in s.columns]}, "
                         f"{len(s.batches)} batches, {s.total_rows} rows")
        except ref.FormatError as ex:
            lines.append(f"reference decoder: {ex}")
        base.with_suffix(".txt").write_text("\n".join(lines) + "\n")

    def minimize_case(self, case: Case, kind: str, sqlstate: Optional[str]) -> Optional[bytes]:
        """A smaller stream that gives the same kind of finding (byte-range removal)."""
        budget = [40 if kind == "crash" else 400]

        def same(data: bytes) -> bool:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            c = dataclasses.replace(case, data=data, chunks=[len(data)] if len(case.chunks) <= 1 else
                                    self._rechunk(case, len(data)))
            # after a crash, recovery may have lost the table
            self.conn.execute(case.table.ddl(self.schema).replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
            out = self.send(c)
            fs = self.judge(c, out)
            if out.lost:
                self.after_crash()
            return any(x.kind == kind for x in fs) and (kind != "internal-error" or out.sqlstate == sqlstate)

        data = case.data
        # whole messages first (as far as the stream can be walked), last to first
        changed = True
        while changed and budget[0] > 0:
            changed = False
            for a, b in reversed(message_spans(data)):
                cand = data[:a] + data[b:]
                if same(cand):
                    data, changed = cand, True
                    break
        size = max(8, 1 << (max(8, len(data)).bit_length() - 2))
        while size >= 1:
            i = 0
            changed = False
            while i < len(data) and budget[0] > 0:
                cand = data[:i] + data[i + size:]
                if cand and same(cand):
                    data = cand
                    changed = True
                else:
                    i += size
            if not changed:
                size //= 2
            if budget[0] <= 0:
                break
        return data if len(data) < len(case.data) else None

    def _rechunk(self, case: Case, n: int) -> List[int]:
        k = max(1, min(case.chunks)) if case.chunks else n
        return [k] * (n // k) + ([n % k] if n % k else []) if n else [0]

    def after_crash(self) -> None:
        ok = self.wait_for_server()
        if not ok:
            raise RuntimeError("the server did not come back after a crash")
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:  # noqa: BLE001
            pass
        self.conn = self.connect()
        self.log.check()
        # crash recovery may have lost the last transactions (synchronous_commit = off):
        # make every table again, under new names, and the types if they are gone
        for seed in self.seeds:
            seed.tables.clear()
        if self.conn.execute("SELECT to_regtype(%s)", (f"{self.schema}.mf_mood",)).fetchone()[0] is None:
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            self.conn.execute(TYPE_DDL.format(s=self.schema))

    # -- the loop ---------------------------------------------------------------

    def variant(self) -> str:
        return self.rng.choices(["natural", "natural_pk", "natural_nn", "natural_extra", "natural_dropped",
                                 "typed", "alt"], weights=[35, 8, 8, 12, 7, 5, 25])[0]

    def one(self, no: int, seed: Seed, data: bytes, labels: List[str]) -> None:
        rng = self.rng
        if no % 150 == 149:
            self.tz = rng.choice(["UTC", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
                                  "Australia/Lord_Howe", "Pacific/Chatham"])
            self.conn.execute(f"SET TimeZone = '{self.tz}'")
        if zero_width_rows(data) > 100000:
            self.summary.skipped += 1
            return
        table = self.table_for(seed, self.variant())
        r = rng.random()
        if r < 0.04:
            path = "describe"
        elif r < 0.16 and not table.extra:
            path = "import_bytea"
        elif r < 0.20 and not table.extra and self.file_dir is not None:
            path = "import_file"
        else:
            path = "copy"
        case = Case(no, seed, data, labels, table, path, self._chunks(len(data)) if path == "copy" else [len(data)])
        if path == "copy" and rng.random() < 0.1:
            case.where = rng.randrange(len(table.cols))
        case.tz = self.tz
        out = self.send(case)
        self.summary.sent += 1
        self.summary.paths[path] += 1
        if out.ok:
            self.summary.accepted += 1
        elif out.sqlstate:
            self.summary.rejected[out.sqlstate] += 1
        for lab in set(re.sub(r"\.[a-z0-9_]+->.*", "", x) for x in labels):
            self.summary.by_label[lab]["OK" if out.ok else out.sqlstate or "?"] += 1
        findings = self.judge(case, out)
        crash_lines = self.log.check() if (out.lost or no % 25 == 0) else []
        if crash_lines and not any(x.kind == "crash" for x in findings):
            findings.append(Finding("crash", "server log: " + " / ".join(crash_lines[:3])))
        if out.lost:
            more = self.log.check()
            findings = [Finding(x.kind, x.detail + ("; server log: " + " / ".join((crash_lines + more)[:3])
                                                    if x.kind == "crash" and (crash_lines or more) else ""))
                        for x in findings]
        if any(x.kind == "crash" for x in findings):
            self.summary.crashes += 1
        if any(x.kind == "hang" for x in findings):
            self.summary.hangs += 1
        if findings:
            if out.lost:
                self.after_crash()
            self.record(case, out, findings)
            if out.lost or any(x.kind == "crash" for x in findings):
                self.after_crash()
        if no % 250 == 0 and not self.fresh_select1():
            self.summary.crashes += 1
            self.summary.findings["crash"] += 1
            print(f"FINDING case {no}: a fresh connection cannot run SELECT 1", file=sys.stderr)
            self.after_crash()

    def run(self, count: Optional[int] = None, seconds: Optional[float] = None,
            progress: bool = False) -> Summary:
        t0 = time.time()
        self.setup()
        try:
            no = 0
            # every seed once as it is: the oracle and the server must agree on valid streams
            for s in self.seeds:
                if (count is not None and no >= count) or (seconds is not None and time.time() - t0 > seconds):
                    break
                self.one(no, s, s.data, ["unmutated"])
                no += 1
            last = time.time()
            while (count is None or no < count) and (seconds is None or time.time() - t0 < seconds):
                seed = self.rng.choice(self.seeds)
                data, labels = self.mutator.mutate(seed)
                self.one(no, seed, data, labels)
                no += 1
                if progress and time.time() - last > 60:
                    last = time.time()
                    self.summary.seconds = last - t0
                    print(self.summary.line(), file=sys.stderr, flush=True)
            for line in self.log.check():
                self.summary.crashes += 1
                self.summary.findings["crash"] += 1
                print(f"FINDING: server log: {line}", file=sys.stderr)
            if not self.fresh_select1():
                self.summary.crashes += 1
                self.summary.findings["crash"] += 1
        finally:
            self.summary.seconds = time.time() - t0
            self.teardown()
        return self.summary


def default_server_log(dsn: str = "") -> Optional[str]:
    """$ZC_TEST_SERVER_LOG, else server.log in the test cluster's socket directory."""
    p = os.environ.get("ZC_TEST_SERVER_LOG")
    if p:
        return p
    h = os.environ.get("PGHOST")
    if dsn:
        try:
            from psycopg.conninfo import conninfo_to_dict

            h = str(conninfo_to_dict(dsn).get("host") or h or "")
        except Exception:  # noqa: BLE001
            pass
    if h and h.startswith("/"):
        return os.path.join(h, "server.log")
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=None, help="streams to send (default: 10000 unless --minutes)")
    ap.add_argument("--minutes", type=float, default=None, help="stop after this long")
    ap.add_argument("--dsn", default=os.environ.get("ZC_TEST_DSN", ""))
    ap.add_argument("--server-log", default=None, help="default: $ZC_TEST_SERVER_LOG, else "
                    "server.log in the socket directory of the DSN's host or $PGHOST")
    ap.add_argument("--findings", default="/tmp/mutfuzz-findings")
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--frames", type=int, default=120, help="random frames among the seeds")
    ap.add_argument("--synth", type=int, default=150, help="hand-built streams among the seeds")
    ap.add_argument("--big", type=int, default=8, help="seeds with batches of 1,000+ rows")
    ap.add_argument("--large", type=int, default=3, help="seeds with values of about a MiB")
    ap.add_argument("--statement-timeout", default="20s")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--stats", action="store_true", help="outcomes by mutation")
    a = ap.parse_args(argv)
    count = a.count if a.count is not None or a.minutes is not None else 10000
    fz = Fuzzer(a.dsn, a.seed, a.server_log or default_server_log(a.dsn), a.findings, minimize=not a.no_minimize,
                statement_timeout=a.statement_timeout, verbose=a.verbose, frames=a.frames, synth=a.synth,
                big=a.big, large=a.large)
    s = fz.run(count, a.minutes * 60 if a.minutes else None, progress=True)
    for k, v in s.notes.most_common(20):
        print(f"note: {v} x {k}")
    if a.stats:
        for lab, c in sorted(s.by_label.items()):
            print(f"{lab:34} {sum(c.values()):6} " + " ".join(f"{k}:{v}" for k, v in c.most_common(6)))
    for p in s.finding_files:
        print(f"saved: {p}")
    print(f"seeds: {len(fz.seeds)}; paths: {dict(s.paths)}; skipped (zero-width amplification): {s.skipped}")
    print(s.line())
    return 1 if sum(s.findings.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
