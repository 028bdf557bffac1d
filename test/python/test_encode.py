"""Stream encoding: exact bytes, round trips through the reference decoder,
batching, and proofs that no column data is copied."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zci_reference as ref
import zcimport
from procmem import NullSink, proc_status
from zcimport import _encode, _plan

# docs/FORMAT.md, "Example": float64 column "a" = [1.5, NaN], nan_as_null=True
FORMAT_EXAMPLE = bytes.fromhex(
    "89 5A 43 49 0D 0A 1A 0A"
    "01 00 4C 00 01 00 00 00"
    "28 00 00 00 00 00 00 00"
    "0B 00 01 00 00 00 01 00"
    "00 00 00 00 61 00 00 00"
    "01 00 00 00 00 00 00 00"
    "02 00 00 00 00 00 00 00"
    "10 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 F8 3F"
    "00 00 00 00 00 00 F8 7F"
    "03 00 00 00 00 00 00 00"
    "02 00 00 00 00 00 00 00"
)


def test_format_md_example(dump_bytes):
    assert len(FORMAT_EXAMPLE) == 96
    df = pd.DataFrame({"a": [1.5, np.nan]})
    assert dump_bytes(df) == FORMAT_EXAMPLE
    assert dump_bytes(df, batch_rows=2) == FORMAT_EXAMPLE
    s = ref.decode(FORMAT_EXAMPLE)
    assert s.column_values(0) == [1.5, None]


def test_format_md_example_without_nan_as_null(dump_bytes):
    data = dump_bytes(pd.DataFrame({"a": [1.5, np.nan]}), nan_as_null=False)
    expected = bytearray(FORMAT_EXAMPLE)
    expected[0x1A] = 0  # no sentinel flag
    assert data == bytes(expected)
    v = ref.decode(data).column_values(0)
    assert v[0] == 1.5 and math.isnan(v[1])


def test_dump_returns_rows_and_accepts_paths(tmp_path, dump_bytes):
    df = pd.DataFrame({"a": np.arange(5)})
    assert zcimport.dump(df, io.BytesIO()) == 5
    path = tmp_path / "f.zci"
    assert zcimport.dump(df, path, batch_rows=2) == 5
    assert path.read_bytes() == dump_bytes(df, batch_rows=2)
    assert zcimport.dump(df, str(path)) == 5
    assert path.read_bytes() == dump_bytes(df)


def _int_edges(dtype):
    info = np.iinfo(dtype)
    return np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1, 0], dtype=dtype)


INT_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("dtype", INT_TYPES)
@pytest.mark.parametrize("batch_rows", [None, 1, 3, 7])
def test_integer_edges_round_trip(dtype, batch_rows, dump_bytes):
    arr = _int_edges(dtype)
    s = ref.decode(dump_bytes(pd.DataFrame({"x": arr}), batch_rows=batch_rows))
    assert s.columns[0].type == np.dtype(dtype).name
    assert s.column_values(0) == [int(v) for v in arr]
    assert s.total_rows == len(arr)
    expected_batches = 1 if batch_rows is None else math.ceil(len(arr) / batch_rows)
    assert len(s.batches) == expected_batches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nan_as_null", [True, False])
def test_float_edges_round_trip(dtype, nan_as_null, dump_bytes):
    info = np.finfo(dtype)
    arr = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, info.max, info.min, info.tiny,
                    info.smallest_subnormal, 1.5], dtype=dtype)
    s = ref.decode(dump_bytes(pd.DataFrame({"x": arr}), batch_rows=4, nan_as_null=nan_as_null))
    col = s.columns[0]
    assert col.type == np.dtype(dtype).name and col.sentinel == nan_as_null
    got = s.column_values(0)
    for g, want in zip(got, arr):
        if np.isnan(want):
            assert g is None if nan_as_null else math.isnan(g)
        else:
            assert g == float(want) and math.copysign(1, g) == math.copysign(1, want)


def test_other_nan_payloads_are_null(dump_bytes):
    # any NaN is NULL, not only the canonical one
    bits = np.array([0x7FF8000000000001, 0xFFF0000000000001, 0x7FF0000000000000],
                    dtype=np.uint64).view(np.float64)
    s = ref.decode(dump_bytes(pd.DataFrame({"x": bits})))
    assert s.column_values(0) == [None, None, math.inf]
    raw = dump_bytes(pd.DataFrame({"x": bits}), nan_as_null=False)
    assert struct.unpack_from("<3Q", raw, raw.index(struct.pack("<Q", 24)) + 8) == (
        0x7FF8000000000001, 0xFFF0000000000001, 0x7FF0000000000000)


def test_bool_round_trip(dump_bytes):
    arr = np.array([True, False, True, True, False])
    s = ref.decode(dump_bytes(pd.DataFrame({"b": arr}), batch_rows=2))
    assert s.column_values(0) == [True, False, True, True, False]
    assert s.columns[0].type == "bool"


def test_timestamp_round_trip(dump_bytes):
    t = pd.DatetimeIndex(np.array(["1970-01-01", "2262-04-11T23:47:16.854775807", "NaT",
                                   "1677-09-21T00:12:43.145224193",
                                   "2000-02-29T12:00:00.000000001"], dtype="M8[ns]"))
    df = pd.DataFrame({"t": t})
    for nan_as_null in (True, False):
        s = ref.decode(dump_bytes(df, batch_rows=2, nan_as_null=nan_as_null))
        c = s.columns[0]
        assert (c.type, c.unit, c.sentinel, c.tz) == ("timestamp", "ns", True, "")
        expect = [None if v == np.iinfo(np.int64).min else int(v) for v in t.asi8]
        assert expect[2] is None
        assert s.column_values(0) == expect


def test_timestamptz_round_trip(dump_bytes):
    t = pd.DatetimeIndex(["2021-03-28 01:30", None, "2021-10-31 02:30"]).tz_localize(
        "Europe/Berlin", ambiguous=[True, True, True])
    if hasattr(t, "as_unit"):
        t = t.as_unit("ns")  # pandas 3 makes microseconds
    df = pd.DataFrame({"t": t})
    s = ref.decode(dump_bytes(df))
    c = s.columns[0]
    assert (c.type, c.unit, c.sentinel, c.tz) == ("timestamptz", "ns", True, "Europe/Berlin")
    utc = t.tz_convert("UTC")
    assert s.column_values(0) == [utc[0].value, None, utc[2].value]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_numpy_time_units_round_trip(unit, dump_bytes):
    t = np.array(["1969-12-31T23:59:59", "NaT", "2020-05-17T10:11:12"], dtype=f"M8[{unit}]")
    d = np.array([-5, "NaT", 7], dtype=f"m8[{unit}]")
    s = ref.decode(dump_bytes({"t": t, "d": d}, batch_rows=2))
    assert [(c.type, c.unit, c.sentinel) for c in s.columns] == [
        ("timestamp", unit, True), ("duration", unit, True)]
    assert s.column_values(0) == [int(t[0].view("i8")), None, int(t[2].view("i8"))]
    assert s.column_values(1) == [-5, None, 7]


def test_duration_round_trip(dump_bytes):
    df = pd.DataFrame({"d": pd.to_timedelta(["1 days", None, "-3 ns"])})
    s = ref.decode(dump_bytes(df))
    assert s.columns[0].type == "duration"
    assert s.column_values(0) == [86400 * 10**9, None, -3]


MASKED = ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"]


@pytest.mark.parametrize("dtype", MASKED)
def test_masked_integers_round_trip(dtype, dump_bytes):
    info = np.iinfo(dtype.lower())
    values = [int(info.min), None, int(info.max), 0, None, None, 1]
    arr = pd.array(values, dtype=dtype)
    s = ref.decode(dump_bytes(pd.DataFrame({"m": arr}), batch_rows=3))
    c = s.columns[0]
    assert (c.type, c.nulls, c.sentinel) == (dtype.lower(), "bytemask", False)
    assert s.column_values(0) == values
    assert len(s.batches) == 3


def test_masked_boolean_round_trip(dump_bytes):
    values = [True, None, False, None]
    s = ref.decode(dump_bytes(pd.DataFrame({"m": pd.array(values, dtype="boolean")})))
    assert (s.columns[0].type, s.columns[0].nulls) == ("bool", "bytemask")
    assert s.column_values(0) == values


@pytest.mark.parametrize("dtype", ["Float32", "Float64"])
def test_masked_float_with_nan_round_trip(dtype, dump_bytes):
    arr = pd.array([1.5, None, 2.5, np.inf], dtype=dtype)
    arr._data[2] = np.nan  # a NaN that is not masked: FloatingArray can hold both
    arr._mask[2] = False
    df = pd.DataFrame({"m": arr})
    s = ref.decode(dump_bytes(df, batch_rows=3))
    assert (s.columns[0].nulls, s.columns[0].sentinel) == ("bytemask", True)
    assert s.column_values(0) == [1.5, None, None, math.inf]
    s = ref.decode(dump_bytes(df, nan_as_null=False))
    v = s.column_values(0)
    assert s.columns[0].sentinel is False
    assert v[0] == 1.5 and v[1] is None and math.isnan(v[2]) and v[3] == math.inf


def test_mixed_frame_round_trip(mixed_frame, dump_bytes):
    for batch_rows in (None, 1, 3, 4, 10, 11):
        s = ref.decode(dump_bytes(mixed_frame, batch_rows=batch_rows))
        assert s.names == list(mixed_frame.columns)
        assert s.total_rows == len(mixed_frame)
        for i, name in enumerate(mixed_frame.columns):
            col = mixed_frame[name]
            got = s.column_values(i)
            if isinstance(col.dtype, pd.DatetimeTZDtype) or col.dtype.kind in "mM":
                asi8 = col.array.asi8
                want = [None if v == np.iinfo(np.int64).min else int(v) for v in asi8]
            else:
                want = [None if pd.isna(v) else v for v in col.tolist()]
            assert got == want, name


def test_batches_are_row_slices():
    df = pd.DataFrame({"a": np.arange(10, dtype=np.int32), "b": np.arange(10.0)})
    s = ref.decode(_dump(df, batch_rows=4))
    assert [b.rows for b in s.batches] == [4, 4, 2]
    assert s.batches[1].columns == [[4, 5, 6, 7], [4.0, 5.0, 6.0, 7.0]]
    assert all(b.offset % 8 == 0 for b in s.batches)


def _dump(df, **kw):
    buf = io.BytesIO()
    zcimport.dump(df, buf, **kw)
    return buf.getvalue()


def test_padding_and_layout_of_a_batch():
    # int8 x3 (3 bytes, 5 padding) and a bytemask (3 bytes, 5 padding)
    df = pd.DataFrame({"i": np.array([1, 2, 3], np.int8), "m": pd.array([1, None, 3], "Int16")})
    data = _dump(df)
    s = ref.decode(data)
    off = s.header_len
    assert data[off:off + 16] == struct.pack("<IIQ", 1, 0, 3)
    off += 16
    assert data[off:off + 16] == struct.pack("<Q", 3) + bytes([1, 2, 3]) + bytes(5)
    off += 16
    assert data[off:off + 16] == struct.pack("<Q", 3) + bytes([0, 1, 0]) + bytes(5)
    off += 16
    # values: 3 x int16 (the masked slot holds whatever pandas left there), 2 padding
    assert data[off:off + 8] == struct.pack("<Q", 6)
    assert data[off + 8:off + 10] == struct.pack("<h", 1)
    assert data[off + 12:off + 14] == struct.pack("<h", 3) and data[off + 14:off + 16] == bytes(2)
    off += 16
    assert data[off:] == struct.pack("<IIQ", 3, 0, 3)


def test_header_descriptors():
    df = pd.DataFrame({"abc": np.zeros(1, np.uint32),
                       "t": pd.date_range("2020", periods=1, tz="America/New_York"),
                       "é": pd.array([1], "Int8")})
    data = _dump(df)
    s = ref.decode(data)
    assert s.header_len % 8 == 0
    assert [c.raw for c in s.columns] == [
        struct.pack("<BBBBBBHHH", 8, 0, 0, 0, 0, 0, 3, 0, 0) + b"abc" + bytes(1),
        struct.pack("<BBBBBBHHH", 13, 0, 1, {"s": 0, "ms": 1, "us": 2, "ns": 3}[
            getattr(df["t"].dtype, "unit", "ns")], 0, 0, 1, 16, 0) + b"tAmerica/New_York" + bytes(3),
        struct.pack("<BBBBBBHHH", 2, 2, 0, 0, 0, 0, 2, 0, 0) + "é".encode() + bytes(2),
    ]
    assert s.header_len == 24 + 16 + 32 + 16
    assert data[:24] == ref.MAGIC + struct.pack("<HcBIII", 1, b"L", 0, 3, s.header_len, 0)


def test_empty_frame():
    df = pd.DataFrame({"a": np.array([], np.float64), "b": pd.array([], "Int32")})
    data = _dump(df)
    s = ref.decode(data)
    assert s.batches == [] and s.total_rows == 0
    assert len(data) == s.header_len + 16
    assert data[-16:] == struct.pack("<IIQ", 3, 0, 0)
    assert zcimport.dump(df, io.BytesIO()) == 0


def test_one_row():
    df = pd.DataFrame({"a": [7], "b": [np.nan], "c": pd.array([None], "Int64")})
    s = ref.decode(_dump(df))
    assert [b.rows for b in s.batches] == [1]
    assert [s.column_values(i) for i in range(3)] == [[7], [None], [None]]


def test_zero_columns_is_an_error():
    with pytest.raises(ValueError):
        zcimport.dump(pd.DataFrame(index=[1, 2]), io.BytesIO())


def test_renamed_columns_in_header():
    df = pd.DataFrame({"a": [1], "b": [2]})
    s = ref.decode(_dump(df, columns={"b": "B", "a": "x y"}))
    assert s.names == ["B", "x y"] and s.column_values(0) == [2]


def test_header_too_long():
    names = {f"{i:04d}" + "x" * 1000: np.zeros(1, np.int8) for i in range(1100)}
    with pytest.raises(ValueError, match="header"):
        zcimport.dump(names, io.BytesIO())


def test_max_columns():
    cols = {f"c{i}": np.zeros(2, np.int8) for i in range(1600)}
    s = ref.decode(_dump(cols))
    assert len(s.columns) == 1600
    cols["one more"] = np.zeros(2, np.int8)
    with pytest.raises(ValueError, match="1600"):
        zcimport.dump(cols, io.BytesIO())


def test_strided_and_big_endian_columns_round_trip():
    arr = np.arange(30.0).reshape(10, 3)
    df = pd.DataFrame(arr, columns=["a", "b", "c"])
    df["be"] = np.arange(10, dtype=">i4")
    s = ref.decode(_dump(df, batch_rows=4))
    assert s.column_values(1) == list(arr[:, 1])
    assert s.column_values(3) == list(range(10))


class ShortWriter(io.RawIOBase):
    """A raw file whose write() accepts at most 5 bytes at a time."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = memoryview(b).cast("B")[:5]
        self.data += b
        return len(b)


def test_short_writes(mixed_frame, dump_bytes):
    w = ShortWriter()
    zcimport.dump(mixed_frame, w, batch_rows=3)
    assert bytes(w.data) == dump_bytes(mixed_frame, batch_rows=3)


# -- no copies -----------------------------------------------------------------


def _data_parts(chunk):
    return [p for p in chunk if isinstance(p, memoryview)]


def test_parts_share_memory_with_columns(mixed_frame):
    pl = zcimport.plan(mixed_frame)
    assert pl.zero_copy
    chunks = list(_encode.iter_chunks(pl, 4))
    assert len(chunks) == 1 + 3 + 1
    assert all(isinstance(p, bytes) for p in chunks[0] + chunks[-1])
    owners = []
    for name in mixed_frame.columns:
        a = mixed_frame[name].array
        if hasattr(a, "_mask"):
            owners += [a._mask, a._data]
        elif hasattr(a, "asi8"):
            owners.append(a.asi8)
        else:
            owners.append(mixed_frame[name].to_numpy())
    for chunk in chunks[1:-1]:
        parts = _data_parts(chunk)
        assert len(parts) == len(owners)
        for part, owner in zip(parts, owners):
            assert part.format == "B" and part.c_contiguous
            assert np.shares_memory(np.frombuffer(part, np.uint8), owner)
        # everything else is small header bytes
        assert all(len(p) <= 32 for p in chunk if not isinstance(p, memoryview))


def test_tz_aware_parts_share_memory():
    df = pd.DataFrame({"t": pd.date_range("2020", periods=100, freq="s", tz="Asia/Tokyo")})
    chunks = list(_encode.iter_chunks(zcimport.plan(df), 1000))
    (part,) = _data_parts(chunks[1])
    assert np.shares_memory(np.frombuffer(part, np.uint8), df["t"].array.asi8)
    assert np.shares_memory(np.frombuffer(part, np.uint8), df["t"].array._ndarray)


def test_dump_passes_memoryviews_to_write(mixed_frame):
    seen = []

    class Recorder:
        def write(self, b):
            seen.append(b)
            return len(memoryview(b).cast("B"))

    zcimport.dump(mixed_frame, Recorder())
    col = mixed_frame["i64"].to_numpy()
    assert any(isinstance(b, memoryview) and np.shares_memory(np.frombuffer(b, np.uint8), col)
               for b in seen)


def test_no_copy_memory_high_water_mark():
    n = 5_000_000  # 4 x 8 + (4 + 1) + 4 bytes x 5M rows = 205 MB
    df = pd.DataFrame({
        "a": np.arange(n, dtype=np.int64),
        "b": np.ones(n, dtype=np.float64),
        "c": np.arange(n, dtype=np.int64).view("M8[ns]"),
        "d": np.full(n, 3, dtype=np.uint64),
    })
    df["e"] = pd.array(np.arange(n, dtype=np.int32), dtype="Int32")
    df["f"] = np.ones(n, dtype=np.float32)
    frame_bytes = int(df.memory_usage(index=False).sum())
    assert frame_bytes >= 200_000_000
    pl = zcimport.plan(df)
    assert pl.zero_copy
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        pytest.skip("cannot reset VmHWM through /proc/self/clear_refs")
    before = proc_status("VmHWM")
    sink = NullSink()
    assert zcimport.dump(df, sink) == n
    growth = proc_status("VmHWM") - before
    assert sink.n > frame_bytes
    assert growth < 0.05 * frame_bytes, f"peak RSS grew by {growth} bytes"
    assert growth < 8 << 20, f"peak RSS grew by {growth} bytes"


# -- property tests --------------------------------------------------------------

_NUMERIC_DTYPES = st.sampled_from(
    ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "?"])


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=_NUMERIC_DTYPES,
    n=st.integers(0, 40),
    batch_rows=st.integers(1, 50),
    nan_as_null=st.booleans(),
    masked=st.booleans(),
)
def test_property_round_trip(data, dtype, n, batch_rows, nan_as_null, masked):
    arr = data.draw(hnp.arrays(np.dtype(dtype), n))
    if masked and dtype != "?":
        mask = data.draw(hnp.arrays(np.bool_, n))
        col = pd.Series(arr).astype({"f": "Float", "i": "Int", "u": "UInt"}[arr.dtype.kind]
                                    + str(arr.dtype.itemsize * 8))
        col = col.mask(mask)
        values = [None if m else v for m, v in zip(col.isna(), arr.tolist())]
        values = [None if (v is not None and isinstance(v, float) and math.isnan(v)) else v
                  for v in values]
    else:
        col = arr
        values = arr.tolist()
        if arr.dtype.kind == "f" and nan_as_null:
            values = [None if math.isnan(v) else v for v in values]
    s = ref.decode(_dump(pd.DataFrame({"x": col}), batch_rows=batch_rows, nan_as_null=nan_as_null))
    got = s.column_values(0)
    assert s.total_rows == n and len(s.batches) == math.ceil(n / batch_rows)
    assert len(got) == n
    for g, v in zip(got, values):
        if isinstance(v, float) and math.isnan(v):
            assert isinstance(g, float) and math.isnan(g)
        else:
            assert g == v


def test_batch_message_length_matches_stream():
    df = pd.DataFrame({"a": np.arange(13, dtype=np.int16), "m": pd.array(range(13), "Int8")})
    pl = zcimport.plan(df)
    parts = _encode.batch_parts(pl.planned_columns, 0, 13)
    assert sum(memoryview(p).nbytes for p in parts) == _plan.batch_message_length(pl.planned_columns, 13)
