"""Arrow columns and Arrow sources: every Arrow type, sent from its own buffers.

Unit tests decode zcimport.dump() with the independent reference decoder
(zci_reference) and compare every value with pyarrow's own; the end-to-end
tests load into PostgreSQL and compare with the same rows loaded by
psycopg's own COPY (text format, from ``to_pylist()``).  The sources: a
pyarrow Table, RecordBatch and RecordBatchReader, pandas ``ArrowDtype``
columns, pandas' pyarrow-backed strings, polars, and objects with only
``__arrow_c_stream__`` or ``__arrow_c_array__``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import io
import os
import sys
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed: no Arrow columns to test")
import pyarrow.compute as pc  # noqa: E402

import zci_reference as ref  # noqa: E402
import zcimport  # noqa: E402
from procmem import NullSink, proc_status  # noqa: E402
from zcimport import _encode, _src_arrow  # noqa: E402

#: The server helper's new wire types are installed (bitbool, utf8_32,
#: based offsets, date64, time32/64, decimals, unsigned dictionary codes).
WIRE_READY = os.path.exists("/tmp/zc-wire-ready") or os.environ.get("ZC_ARROW_WIRE") == "1"
needs_wire = pytest.mark.skipif(not WIRE_READY, reason="the server does not have the Arrow"
                                " wire types yet (/tmp/zc-wire-ready is missing)")

N = 100


# --------------------------------------------------------------------------
# Sample arrays
# --------------------------------------------------------------------------


def _valid(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.random(n) > 0.2
    v[:2] = True
    return v


def _ints(rng, n, lo, hi):
    out = rng.integers(lo, hi, n, endpoint=True, dtype=np.int64 if lo < 0 or hi < 2**63 else np.uint64)
    out[0], out[1] = lo, hi
    return out


#: string_view and binary_view came with pyarrow 16 (the oldest environment has 15)
HAS_VIEWS = hasattr(pa, "string_view")
needs_views = pytest.mark.skipif(not HAS_VIEWS, reason="pyarrow < 16 has no string_view")


def sample_arrays(n: int = N, seed: int = 1) -> Dict[str, Any]:
    """One array of every supported Arrow type, with NULLs."""
    rng = np.random.default_rng(seed)

    def mask() -> np.ndarray:
        return ~_valid(rng, n)

    out: Dict[str, Any] = {}
    for name, t, lo, hi in [
        ("i8", pa.int8(), -128, 127), ("i16", pa.int16(), -2**15, 2**15 - 1),
        ("i32", pa.int32(), -2**31, 2**31 - 1), ("i64", pa.int64(), -2**63, 2**63 - 1),
        ("u8", pa.uint8(), 0, 255), ("u16", pa.uint16(), 0, 2**16 - 1),
        ("u32", pa.uint32(), 0, 2**32 - 1),
    ]:
        out[name] = pa.array(_ints(rng, n, lo, hi), t, mask=mask())
    u64 = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
    u64[1] = np.uint64(2**64 - 1)
    out["u64"] = pa.array(u64, pa.uint64(), mask=mask())
    out["f16"] = pa.array(rng.normal(size=n).astype(np.float16), pa.float16(), mask=mask())
    out["f32"] = pa.array(rng.normal(size=n).astype(np.float32), mask=mask())
    out["f64"] = pa.array(rng.normal(size=n) * 1e10, mask=mask())
    out["bool"] = pa.array(rng.random(n) > 0.5, mask=mask())
    us = rng.integers(-2 * 10**15, 4 * 10**15, n)  # about 1906..2096, in microseconds
    for unit, per in [("s", 10**6), ("ms", 1000), ("us", 1), ("ns", None)]:
        v = us // per if per else us * 1000
        out[f"ts_{unit}"] = pa.array(v, pa.timestamp(unit), mask=mask())
        out[f"tstz_{unit}"] = pa.array(v, pa.timestamp(unit, tz="UTC" if unit != "us"
                                                        else "Europe/Berlin"), mask=mask())
        out[f"dur_{unit}"] = pa.array(v, pa.duration(unit), mask=mask())
    days = rng.integers(-40000, 40000, n)
    out["date32"] = pa.array(days.astype(np.int32), pa.date32(), mask=mask())
    out["date64"] = pa.array(days * 86_400_000, pa.date64(), mask=mask())
    tod_us = rng.integers(0, 86_400 * 10**6, n)
    out["time32_s"] = pa.array((tod_us // 10**6).astype(np.int32), pa.time32("s"), mask=mask())
    out["time32_ms"] = pa.array((tod_us // 1000).astype(np.int32), pa.time32("ms"), mask=mask())
    out["time64_us"] = pa.array(tod_us, pa.time64("us"), mask=mask())
    out["time64_ns"] = pa.array(tod_us * 1000, pa.time64("ns"), mask=mask())
    m = mask()
    out["dec128"] = pa.array([None if m[i] else decimal.Decimal(int(rng.integers(-10**12, 10**12)))
                              .scaleb(-2) for i in range(n)], pa.decimal128(14, 2))
    m = mask()
    out["dec128_38"] = pa.array([None if m[i] else decimal.Decimal(
        str(int(rng.integers(-10**17, 10**17))) + "1" * 20).scaleb(-10) for i in range(n)],
        pa.decimal128(38, 10))
    m = mask()
    out["dec256"] = pa.array([None if m[i] else decimal.Decimal(
        str(int(rng.integers(-10**17, 10**17))) + "7" * 40).scaleb(-5) for i in range(n)],
        pa.decimal256(60, 5))
    words = [f"w{k}-é" * (k % 4) for k in range(30)] + ["", "😀"]
    m = mask()
    text = [None if m[i] else words[int(rng.integers(0, len(words)))] for i in range(n)]
    out["string"] = pa.array(text, pa.string())
    out["large_string"] = pa.array(text, pa.large_string())
    if HAS_VIEWS:
        out["string_view"] = pa.array(text, pa.string_view())
    m = mask()
    blobs = [None if m[i] else bytes(rng.integers(0, 256, i % 7, dtype=np.uint8)) for i in range(n)]
    out["binary"] = pa.array(blobs, pa.binary())
    out["large_binary"] = pa.array(blobs, pa.large_binary())
    if HAS_VIEWS:
        out["binary_view"] = pa.array(blobs, pa.binary_view())
    cats = pa.array(["north", "south", "east", "wést"])
    m = mask()
    codes = rng.integers(0, 4, n)
    for name, it in [("dict_i8", pa.int8()), ("dict_u16", pa.uint16()), ("dict_i64", pa.int64())]:
        out[name] = pa.DictionaryArray.from_arrays(pa.array(codes, it, mask=m), cats)
    out["dict_large"] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=m),
                                                       cats.cast(pa.large_string()))
    out["dict_int"] = pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int16(), mask=m), pa.array([10, 20, 30, 40], pa.int32()))
    out["null"] = pa.nulls(n)
    return out


def reference_values(arr: Any) -> List[Any]:
    """The values zci_reference decodes for an Arrow array or ChunkedArray."""
    t = arr.type
    if pa.types.is_dictionary(t):
        if isinstance(arr, pa.ChunkedArray):
            arr = pa.chunked_array([c.dictionary_decode() for c in arr.chunks], t.value_type)
        else:
            arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date64(t) \
            or pa.types.is_time64(t):
        return arr.cast(pa.int64()).to_pylist()
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return arr.cast(pa.int32()).to_pylist()
    if pa.types.is_float16(t):
        return arr.cast(pa.float32()).to_pylist()
    return arr.to_pylist()


def decode(source: Any, **kw: Any) -> ref.Stream:
    buf = io.BytesIO()
    zcimport.dump(source, buf, **kw)
    return ref.decode(buf.getvalue())


def sliced(a: Any, off: int = 3, tail: int = 2) -> Any:
    return a.slice(off, len(a) - off - tail)


def chunked(a: Any, cuts: List[int]) -> Any:
    bounds = [0] + cuts + [len(a)]
    return pa.chunked_array([a.slice(x, y - x) for x, y in zip(bounds, bounds[1:])], a.type)


ARRAYS = sample_arrays()
TYPE_NAMES = list(ARRAYS)

EXPECTED_WIRE = {
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "u8": "uint8",
    "u16": "uint16", "u32": "uint32", "u64": "uint64", "f16": "float32", "f32": "float32",
    "f64": "float64", "bool": "bitbool", "date32": "date32", "date64": "date64",
    "time32_s": "time32", "time32_ms": "time32", "time64_us": "time64", "time64_ns": "time64",
    "dec128": "decimal128", "dec128_38": "decimal128", "dec256": "decimal256",
    "string": "utf8_32", "large_string": "utf8", "string_view": "utf8", "binary": "binary_32",
    "large_binary": "binary", "binary_view": "binary", "dict_i8": "dictionary",
    "dict_u16": "dictionary", "dict_i64": "dictionary", "dict_large": "dictionary",
    "dict_int": "int32", "null": "null",
    **{f"ts_{u}": "timestamp" for u in ("s", "ms", "us", "ns")},
    **{f"tstz_{u}": "timestamptz" for u in ("s", "ms", "us", "ns")},
    **{f"dur_{u}": "duration" for u in ("s", "ms", "us", "ns")},
}

#: Columns that are not sent as they are, and why.
COPIED = {"f16": "float16", "string_view": "string_view", "binary_view": "binary_view",
          "dict_int": "decoded",
          # dictionary messages take int64 offsets: a string dictionary's
          # int32 offsets are widened (a large_string dictionary is not)
          "dict_i8": "int64", "dict_u16": "int64", "dict_i64": "int64"}


# --------------------------------------------------------------------------
# The stream, decoded by the reference decoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_type_round_trips(name):
    a = ARRAYS[name]
    s = decode(pa.table({name: a}), batch_rows=16)
    c = s.columns[0]
    assert c.type == EXPECTED_WIRE[name]
    assert s.column_values(0) == reference_values(a)
    if name != "null":
        assert c.nulls == "bitmap"
    if c.type in ("utf8", "utf8_32", "binary", "binary_32"):
        assert c.based
    if c.type.startswith("decimal"):
        assert (c.precision, c.scale) == (a.type.precision, a.type.scale)
    if c.type in ("timestamp", "timestamptz", "duration", "time32", "time64"):
        assert c.unit == a.type.unit
    if c.type == "timestamptz":
        assert c.tz == a.type.tz
    if c.type == "dictionary":
        assert c.index_type == {"dict_i8": "int8", "dict_u16": "uint16", "dict_i64": "int64",
                                "dict_large": "int32"}[name]


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_sliced_arrays_offset_not_a_multiple_of_8(name):
    a = sliced(ARRAYS[name], 3)
    assert a.offset == 3
    s = decode(pa.table({name: a}), batch_rows=16)
    assert s.column_values(0) == reference_values(a)
    (p,) = zcimport.plan(pa.table({name: a}))
    if name not in COPIED and name != "null":
        # the bitmap (and bitbool values) must be re-packed: said in the plan
        assert not p.zero_copy and "re-packed" in p.reason and "offset 3" in p.reason


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_sliced_arrays_offset_multiple_of_8_are_sent_as_they_are(name):
    a = sliced(ARRAYS[name], 16)
    s = decode(pa.table({name: a}), batch_rows=24)
    assert s.column_values(0) == reference_values(a)
    (p,) = zcimport.plan(pa.table({name: a}))
    assert p.zero_copy == (name not in COPIED), p.reason


def test_chunk_boundaries_differ_between_columns():
    cols = {}
    cut_sets = [[10], [33, 34, 70], [8, 16, 64], [1, 2, 3, 99], []]
    for k, name in enumerate(TYPE_NAMES):
        cols[name] = chunked(ARRAYS[name], cut_sets[k % len(cut_sets)])
    table = pa.table(cols)
    for batch_rows in (8, 16, 1000):
        s = decode(table, batch_rows=batch_rows)
        for i, name in enumerate(TYPE_NAMES):
            assert s.column_values(i) == reference_values(cols[name]), name
        every_cut = sorted({c for cs in cut_sets for c in cs})
        starts = np.cumsum([0] + [b.rows for b in s.batches])[:-1]
        assert set(every_cut) <= set(starts)  # batches never straddle a chunk
    pl = zcimport.plan(table)
    # batches that start inside a chunk at another column's boundary, off a
    # byte of its bitmap, are re-packed: the plan says so
    i64 = pl[TYPE_NAMES.index("i64")]
    assert "re-packed" in i64.reason and "another column's chunk" in i64.reason


def test_chunked_dictionaries_send_a_dictionary_per_chunk():
    a = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int8()), pa.array(["a", "b"]))
    b = pa.DictionaryArray.from_arrays(pa.array([1, 0, None], pa.int8()), pa.array(["x", "y"]))
    col = pa.chunked_array([a, b, b])
    s = decode(pa.table({"d": col, "i": pa.array(range(9))}), batch_rows=8)
    assert s.column_values(0) == ["a", "b", "a", "y", "x", None, "y", "x", None]
    # the same dictionary buffers for the last two chunks: sent once
    assert [d[1] for d in s.dictionaries] == [["a", "b"], ["x", "y"]]


def test_dictionary_with_null_entries():
    d = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, None], pa.int8()),
                                       pa.array(["a", None, "c"]))
    s = decode(pa.table({"d": d}))
    assert s.column_values(0) == ["a", None, "c", None]


def test_nan_as_null_for_arrow_floats():
    t = pa.table({"f": pa.array([1.5, float("nan"), None])})
    assert decode(t).column_values(0) == [1.5, None, None]
    v = decode(t, nan_as_null=False).column_values(0)
    assert v[0] == 1.5 and v[1] != v[1] and v[2] is None


def test_no_nulls_means_no_bitmap():
    s = decode(pa.table({"i": pa.array([1, 2, 3]), "s": pa.array(["a", "b", "c"])}))
    assert [c.nulls for c in s.columns] == ["none", "none"]


def test_empty_and_zero_chunk_columns():
    t = pa.table({"i": pa.chunked_array([], pa.int64()), "s": pa.chunked_array([], pa.string())})
    s = decode(t)
    assert s.total_rows == 0 and [c.type for c in s.columns] == ["int64", "utf8_32"]
    t = pa.table({"i": pa.chunked_array([pa.array([], pa.int64()), pa.array([1, 2])])})
    assert decode(t).column_values(0) == [1, 2]


# --------------------------------------------------------------------------
# Zero copy
# --------------------------------------------------------------------------


def _address(mv: memoryview) -> int:
    return np.frombuffer(mv, dtype=np.uint8).ctypes.data if mv.nbytes else 0


def _inside(mv: memoryview, buf: Any) -> bool:
    a = _address(mv)
    return buf.address <= a and a + mv.nbytes <= buf.address + buf.size


def test_buffers_point_into_the_arrow_buffers():
    t = pa.table({
        "i": sliced(ARRAYS["i64"], 8), "s": sliced(ARRAYS["large_string"], 8),
        "b": sliced(ARRAYS["bool"], 8), "d": sliced(ARRAYS["dict_large"], 8),
        "s32": sliced(ARRAYS["string"], 8),
    })
    pl = zcimport.plan(t)
    assert pl.zero_copy and pl.packed_bytes == 0, str(pl)
    cols = pl.planned_columns
    for start, stop in [(0, 8), (16, 40), (40, 85)]:
        i = t.column("i").chunk(0)
        validity, values = cols[0].data.buffers(start, stop)
        assert _inside(validity, i.buffers()[0]) and _inside(values, i.buffers()[1])
        assert _address(values) == i.buffers()[1].address + 8 * (i.offset + start)
        s = t.column("s").chunk(0)
        validity, offsets, data = cols[1].data.buffers(start, stop)
        assert _inside(validity, s.buffers()[0]) and _inside(offsets, s.buffers()[1])
        assert _inside(data, s.buffers()[2])
        b = t.column("b").chunk(0)
        assert all(_inside(m, bb) for m, bb in zip(cols[2].data.buffers(start, stop), b.buffers()))
        d = t.column("d").chunk(0)
        validity, codes = cols[3].data.buffers(start, stop)
        assert _inside(codes, d.indices.buffers()[1])
        s32 = t.column("s32").chunk(0)
        validity, offsets, data = cols[4].data.buffers(start, stop)
        assert _inside(offsets, s32.buffers()[1]) and _inside(data, s32.buffers()[2])
        # based offsets: the data are the batch's own bytes only
        o = np.frombuffer(offsets, "<i4")
        assert data.nbytes == o[-1] - o[0]


@needs_views
def test_plan_says_what_is_copied_and_why():
    t = pa.table({"f16": ARRAYS["f16"].slice(0, N - 5), "sv": ARRAYS["string_view"].slice(5),
                  "di": ARRAYS["dict_int"].slice(5), "off": sliced(ARRAYS["i32"], 5, 0),
                  "ok": ARRAYS["i32"].slice(0, N - 5), "ds": ARRAYS["dict_i8"].slice(0, N - 5)})
    pl = zcimport.plan(t)
    by = {p.name: p for p in pl}
    assert "float16 cast to float32" in by["f16"].reason and by["f16"].packed_bytes == 4 * (N - 5)
    assert "string_view cast once to large_string" in by["sv"].reason
    assert "no Python objects" in by["sv"].reason
    assert "decoded" in by["di"].reason
    assert "offset 5" in by["off"].reason and not by["off"].zero_copy
    assert by["ok"].zero_copy and by["ok"].reason == ""
    assert "int64" in by["ds"].reason  # the dictionary's int32 offsets widened
    text = str(pl)
    assert "float16 cast" in text
    assert [p.dtype for p in pl][:2] == ["halffloat", "string_view"]


def test_batches_are_multiples_of_8_rows_by_default():
    t = pa.table({"b": pa.array(np.ones(100_003, bool)), "i": pa.array(np.arange(100_003))})
    pl = zcimport.plan(t)
    assert pl.batch_rows % 8 == 0


def test_ddl_types_from_arrow():
    from zcimport import _ddl

    t = pa.table({name: ARRAYS[name] for name in TYPE_NAMES})
    types = dict(_ddl.column_types(zcimport.plan(t)))
    assert types["dec128"] == "numeric(14,2)" and types["dec256"] == "numeric(60,5)"
    assert types["time32_s"] == types["time64_ns"] == "time"
    assert types["date64"] == types["date32"] == "date"
    assert types["large_binary"] == types.get("binary_view", "bytea") == "bytea"
    assert types["dict_i8"] == types.get("string_view", "text") == "text"
    assert types["dict_int"] == "integer"
    assert types["tstz_ms"] == "timestamptz" and types["ts_ns"] == "timestamp"
    assert types["u64"] == "numeric(20,0)" and types["f16"] == "real"
    assert types["dur_s"] == "interval" and types["bool"] == "boolean"


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


class StreamOnly:
    """An object with only __arrow_c_stream__ (the PyCapsule interface)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


class ArrayOnly:
    """An object with only __arrow_c_array__ (a record batch)."""

    def __init__(self, batch: Any) -> None:
        self._batch = batch

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._batch.__arrow_c_array__(requested_schema)


def _table() -> Any:
    return pa.table({name: ARRAYS[name] for name in TYPE_NAMES})


def _expect_all(s: ref.Stream, table: Any) -> None:
    assert s.names == table.column_names
    for i, name in enumerate(table.column_names):
        assert s.column_values(i) == reference_values(table.column(name)), name


@pytest.mark.parametrize("kind", ["table", "record_batch", "reader", "stream_only",
                                  "array_only"])
def test_arrow_sources(kind):
    t = _table()
    source = {
        "table": lambda: t,
        "record_batch": lambda: t.combine_chunks().to_batches()[0],
        "reader": lambda: t.to_reader(max_chunksize=13),  # batch offsets 13, 26...
        "stream_only": lambda: StreamOnly(t),
        "array_only": lambda: ArrayOnly(t.combine_chunks().to_batches()[0]),
    }[kind]()
    s = decode(source, batch_rows=16)
    _expect_all(s, t)
    if kind == "reader":
        assert sum(b.rows for b in s.batches) == N and max(b.rows for b in s.batches) <= 13
        assert zcimport.dump(t.to_reader(max_chunksize=13), io.BytesIO()) == N


def test_reader_is_planned_from_its_schema_without_reading():
    t = _table()
    reader = t.to_reader(max_chunksize=10)
    pl = zcimport.plan(reader)
    assert pl.rows is None and "a stream of record batches" in str(pl)
    assert [p.nulls for p in pl] == ["bitmap"] * (len(TYPE_NAMES) - 1) + ["none"]
    # nothing was read: the reader still holds every batch
    assert reader.read_all().num_rows == N


def test_reader_batches_without_nulls_get_an_all_valid_bitmap():
    schema = pa.schema([("i", pa.int64()), ("s", pa.string())])
    batches = [pa.record_batch([pa.array([1, 2]), pa.array(["a", "b"])], schema=schema),
               pa.record_batch([pa.array([None, 4]), pa.array(["c", None])], schema=schema)]
    s = decode(pa.RecordBatchReader.from_batches(schema, batches))
    assert [c.nulls for c in s.columns] == ["bitmap", "bitmap"]
    assert s.column_values(0) == [1, 2, None, 4] and s.column_values(1) == ["a", "b", "c", None]


def test_reader_dictionaries_change_between_batches():
    schema = pa.schema([("d", pa.dictionary(pa.int8(), pa.string()))])
    b1 = pa.record_batch([pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int8()),
                                                         pa.array(["a", "b"]))], schema=schema)
    b2 = pa.record_batch([pa.DictionaryArray.from_arrays(pa.array([0, None], pa.int8()),
                                                         pa.array(["z"]))], schema=schema)
    s = decode(pa.RecordBatchReader.from_batches(schema, [b1, b2, b1]))
    assert s.column_values(0) == ["a", "b", "z", None, "a", "b"]


def test_reader_is_streamed_one_batch_at_a_time():
    read = []

    def gen():
        for k in range(5):
            read.append(k)
            yield pa.record_batch([pa.array(np.arange(10) + 10 * k)], names=["i"])

    reader = pa.RecordBatchReader.from_batches(pa.schema([("i", pa.int64())]), gen())
    pl = zcimport.plan(reader)
    assert read == []
    chunks = _encode.iter_chunks(pl, 1000)
    next(chunks)  # the header: nothing read yet
    assert read == []
    next(chunks)
    assert read == [0]
    rest = list(chunks)
    assert read == [0, 1, 2, 3, 4] and len(rest) == 5
    assert pl.rows == 50


def test_columns_selection_and_renaming():
    t = _table()
    s = decode(t, columns={"string": "text", "i64": "n"})
    assert s.names == ["text", "n"]
    assert s.column_values(0) == reference_values(t.column("string"))
    s = decode(t.to_reader(), columns=["u8", "bool"])
    assert s.names == ["u8", "bool"] and s.column_values(1) == reference_values(t.column("bool"))
    with pytest.raises(KeyError, match="'nope'"):
        zcimport.plan(t, columns=["nope"])


def test_pandas_arrow_dtype_columns():
    t = pa.table({n: ARRAYS[n] for n in TYPE_NAMES if n not in ("string_view", "binary_view")})
    df = t.to_pandas(types_mapper=pd.ArrowDtype)
    assert all(isinstance(d, pd.ArrowDtype) for d in df.dtypes)
    pl = zcimport.plan(df)
    for p in pl:
        assert p.wire_type == EXPECTED_WIRE[p.name], p.name
    s = decode(df, batch_rows=16)
    for i, name in enumerate(df.columns):
        assert s.column_values(i) == reference_values(df[name].array._pa_array), name


def test_pandas_pyarrow_strings_are_arrow_columns():
    for dtype in ("string[pyarrow]", pd.StringDtype("pyarrow")) + (
            (pd.StringDtype("pyarrow", na_value=np.nan),)
            if "na_value" in pd.StringDtype.__init__.__code__.co_varnames else ()):
        ser = pd.Series(["a", None, "é" * 3] * 5, dtype=dtype)
        (p,) = zcimport.plan({"s": ser})
        assert (p.wire_type, p.nulls, p.zero_copy) == ("utf8", "bitmap", True)
        assert decode({"s": ser}).column_values(0) == ["a", None, "ééé"] * 5


def test_pandas_3_default_str_dtype():
    ser = pd.Series(["x", None, "yz"])
    (p,) = zcimport.plan(pd.DataFrame({"s": ser}))
    if isinstance(ser.dtype, pd.StringDtype) and ser.dtype.storage == "pyarrow":
        assert (p.wire_type, p.zero_copy) == ("utf8", True)
    assert decode(pd.DataFrame({"s": ser})).column_values(0) == ["x", None, "yz"]


def test_polars_frame():
    pl_ = pytest.importorskip("polars", reason="polars is not installed")
    df = pl_.DataFrame({
        "i": [1, None, 3], "f": [0.5, 1.5, None], "s": ["a", None, "ccc"],
        "b": [True, None, False], "d": [dt.date(2020, 1, 1), None, dt.date(1969, 12, 31)],
        "t": [dt.datetime(2020, 1, 1, 1, 2, 3, 4), None, dt.datetime(1900, 5, 6)],
        "c": pl_.Series(["x", "y", None], dtype=pl_.Categorical),
        "dec": pl_.Series([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")],
                          dtype=pl_.Decimal(10, 2)),
    })
    s = decode(df)
    assert s.names == df.columns
    assert s.column_values(0) == [1, None, 3]
    assert s.column_values(2) == ["a", None, "ccc"]
    assert s.column_values(3) == [True, None, False]
    assert s.column_values(6) == ["x", "y", None]
    assert s.column_values(7) == [decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")]
    t = df.to_arrow()
    for i, name in enumerate(df.columns):
        assert s.column_values(i) == reference_values(t.column(name)), name
    # polars also through the PyCapsule stream
    s2 = decode(StreamOnly(df))
    assert [s2.column_values(i) for i in range(8)] == [s.column_values(i) for i in range(8)]


def test_mapping_of_arrow_arrays():
    s = decode({"a": ARRAYS["i16"], "b": chunked(ARRAYS["string"], [50])})
    assert s.column_values(0) == reference_values(ARRAYS["i16"])
    assert s.column_values(1) == reference_values(ARRAYS["string"])


def test_unsupported_arrow_type_names_the_column():
    t = pa.table({"l": pa.array([[1], [2]])})
    with pytest.raises(TypeError, match="'l'.*list"):
        zcimport.plan(t)


def test_without_pyarrow_capsule_objects_say_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match="pip install pyarrow"):
        zcimport.plan(StreamOnly(None))


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def test_loading_a_large_string_column_does_not_copy_it():
    n = 5_000_000
    rng = np.random.default_rng(5)
    lengths = rng.integers(20, 60, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789" * (int(offsets[-1]) // 36 + 1),
                         np.uint8)[: offsets[-1]]
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data.copy()))
    t = pa.table({"s": arr, "i": pa.array(np.arange(n))})
    del data
    frame_bytes = t.nbytes
    assert frame_bytes > 200_000_000
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("cannot reset VmHWM through /proc/self/clear_refs")
    before = proc_status("VmHWM")
    sink = NullSink()
    assert zcimport.dump(t, sink) == n
    growth = proc_status("VmHWM") - before
    assert sink.n > frame_bytes * 0.99
    assert growth < 0.05 * frame_bytes, (growth, frame_bytes)


# --------------------------------------------------------------------------
# End to end, against psycopg's own COPY
# --------------------------------------------------------------------------


def _copy_rows(conn: Any, table: str, names: List[str], rows: List[tuple]) -> None:
    from psycopg import sql

    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)))) as cp:
            for r in rows:
                cp.write_row(r)


def _py_rows(table: Any) -> List[tuple]:
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], col.type.value_type)
        if pa.types.is_float16(col.type):
            col = col.cast(pa.float32())
        if pa.types.is_timestamp(col.type) and col.type.unit == "ns":
            col = col.cast(pa.timestamp("us", col.type.tz))  # whole microseconds
        if pa.types.is_time64(col.type) and col.type.unit == "ns":
            col = col.cast(pa.time64("us"))
        if pa.types.is_duration(col.type) and col.type.unit == "ns":
            col = col.cast(pa.duration("us"))
        if pa.types.is_date64(col.type):
            col = col.cast(pa.date32())
        if _src_arrow._is_view(col.type, "string"):
            col = col.cast(pa.large_string())
        if _src_arrow._is_view(col.type, "binary"):
            col = col.cast(pa.large_binary())
        cols.append(col.to_pylist())
    return list(zip(*cols))


def _load_and_compare(conn: Any, table: str, source: Any, arrow_table: Any, **kw: Any) -> None:
    from psycopg import sql

    n = zcimport.copy_dataframe(source, table, conn, create=True, **kw)
    assert n == arrow_table.num_rows
    other = table + "_ref"
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(
        sql.Identifier(other), sql.Identifier(table)))
    names = [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " ORDER BY attnum", [table]).fetchall()]
    _copy_rows(conn, other, names, _py_rows(arrow_table))
    for a, b in [(table, other), (other, table)]:
        diff = conn.execute(sql.SQL("SELECT * FROM {} EXCEPT ALL SELECT * FROM {}").format(
            sql.Identifier(a), sql.Identifier(b))).fetchall()
        assert diff == [], (a, diff[:3])


def _existing_codes_table() -> Any:
    """The Arrow types that travel as wire types the installed server has
    had from the start (no bitmap-free requirement: bitmaps are NULL
    encoding 1, which it had too)."""
    keep = [n for n in TYPE_NAMES if EXPECTED_WIRE[n] in (
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float32", "float64", "timestamp", "timestamptz", "duration", "date32", "null")
        or n in ("dict_i8", "dict_i64")]
    return pa.table({n: ARRAYS[n] for n in keep})


def test_e2e_existing_wire_types(conn, table):
    conn.execute("SET TIME ZONE 'UTC'")
    t = _existing_codes_table()
    _load_and_compare(conn, table, t, t, batch_rows=16)


def test_e2e_existing_wire_types_sliced_and_chunked(conn, table):
    conn.execute("SET TIME ZONE 'UTC'")
    t = _existing_codes_table()
    cut_sets = [[10], [33, 34, 70], [8, 16, 64], [1, 2, 3, 90], []]
    t2 = pa.table({n: chunked(sliced(t.column(n).chunk(0), 3), cut_sets[k % 5])
                   for k, n in enumerate(t.column_names)})
    _load_and_compare(conn, table, t2, t2, batch_rows=16)


@needs_wire
@pytest.mark.parametrize("how", ["table", "sliced_chunked", "reader", "stream_only",
                                 "arrow_dtype", "record_batch"])
def test_e2e_every_type(conn, table, how):
    conn.execute("SET TIME ZONE 'UTC'")
    t = _table()
    if how == "sliced_chunked":
        cut_sets = [[10], [33, 34, 70], [8, 16, 64], [1, 2, 3, 90], []]
        t = pa.table({n: chunked(sliced(ARRAYS[n], 3), cut_sets[k % 5])
                      for k, n in enumerate(TYPE_NAMES)})
    source: Any = t
    if how == "reader":
        source = t.to_reader(max_chunksize=11)
    elif how == "stream_only":
        source = StreamOnly(t)
    elif how == "record_batch":
        source = t.combine_chunks().to_batches()[0]
    elif how == "arrow_dtype":
        t = t.drop_columns([c for c in ("string_view", "binary_view") if c in t.column_names])
        source = t.to_pandas(types_mapper=pd.ArrowDtype)
    _load_and_compare(conn, table, source, t, batch_rows=16)


@needs_wire
def test_e2e_polars(conn, table):
    pl_ = pytest.importorskip("polars", reason="polars is not installed")
    conn.execute("SET TIME ZONE 'UTC'")
    df = pl_.DataFrame({
        "i": [1, None, 3], "f": [0.5, 1.5, None], "s": ["a", None, "ccc"],
        "b": [True, None, False], "d": [dt.date(2020, 1, 1), None, dt.date(1969, 12, 31)],
        "t": [dt.datetime(2020, 1, 1, 1, 2, 3, 4), None, dt.datetime(1900, 5, 6)],
        "c": pl_.Series(["x", "y", None], dtype=pl_.Categorical),
        "dec": pl_.Series([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")],
                          dtype=pl_.Decimal(10, 2)),
    })
    _load_and_compare(conn, table, df, df.to_arrow())


@needs_wire
def test_e2e_pandas_str_and_async(dsn, table):
    import asyncio

    import psycopg

    df = pd.DataFrame({"s": pd.Series(["a", None, "é"] * 100, dtype="string[pyarrow]"),
                       "b": pd.Series([True, None, False] * 100, dtype="bool[pyarrow]")})

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            n = await zcimport.copy_dataframe_async(df, table, c, create=True)
            await c.commit()
            return n

    assert asyncio.run(run()) == 300
    with psycopg.connect(dsn) as c:
        rows = c.execute(f'SELECT s, b FROM "{table}"').fetchall()
    assert rows == [("a", True), (None, None), ("é", False)] * 100


@needs_wire
def test_e2e_reader_in_one_copy(conn, table):
    t = _table()
    reader = t.to_reader(max_chunksize=7)
    assert zcimport.copy_dataframe(reader, table, conn, create=True) == N
    assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == N


@needs_wire
def test_e2e_async_reader_and_renamed_columns(dsn, table):
    import asyncio

    import psycopg

    t = _table()

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            n = await zcimport.copy_dataframe_async(
                t.to_reader(max_chunksize=9), table, c, create=True,
                columns={"i64": "n", "large_string": "s", "dec128": "d"})
            await c.commit()
            return n

    assert asyncio.run(run()) == N
    with psycopg.connect(dsn) as c:
        rows = c.execute(f'SELECT n, s, d FROM "{table}"').fetchall()
        types = c.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE"
                          " attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
                          [table]).fetchall()
    assert rows == list(zip(*(t.column(n).to_pylist() for n in ("i64", "large_string", "dec128"))))
    assert [x for (x,) in types] == ["bigint", "text", "numeric(14,2)"]
