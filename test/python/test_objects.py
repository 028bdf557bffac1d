"""Columns that are packed or converted: strings, bytes, dates and other
Python objects, pandas' string dtype, categoricals, NumPy fixed-width
strings.  Exact round trips through zcimport.dump() and the independent
reference decoder, plans, errors, zero-copy codes, bounded memory, and the
packers themselves (the active implementation, see zcimport._packers)."""

from __future__ import annotations

import ctypes
import datetime as dt
import decimal
import gc
import io
import ipaddress
import json
import struct
import uuid

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zci_reference as ref
import zcimport
from procmem import NullSink, proc_status
from zcimport import _encode, _objects, _plan
from zcimport import _packers as packers  # the active implementation (ZCIMPORT_IMPL)

MISSING = (pd.NA, pd.NaT)

TRICKY = [
    "",
    "plain",
    "tab\there",
    "new\nline\r\n",
    "back\\slash \\N \\\\",
    "quotes ' \" `",
    "comma, semicolon; pipe |",
    "naïve café",  # latin-1 range: 1 byte per code point in CPython
    "Ελληνικά русский 中文 日本語",  # 2 bytes per code point
    "emoji 😀🎉 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # 4-byte UTF-8
    "x" * 301,
    "é" * 333,
    "😀" * 300,
    "nul \x00 inside",
    " leading and trailing ",
    "\u2028\u2029\ufeff",
]


def _dump(df, **kw):
    buf = io.BytesIO()
    zcimport.dump(df, buf, **kw)
    return buf.getvalue()


def _decode(df, **kw):
    return ref.decode(_dump(df, **kw))


def _with_nulls(values, pattern):
    """values with None where pattern (a sequence of bools) is True."""
    return [None if p else v for v, p in zip(values, pattern)]


NULL_PATTERNS = {
    "none": lambda n: [False] * n,
    "all": lambda n: [True] * n,
    "first": lambda n: [i == 0 for i in range(n)],
    "last": lambda n: [i == n - 1 for i in range(n)],
    "every_other": lambda n: [i % 2 == 0 for i in range(n)],
    "runs": lambda n: [(i // 3) % 2 == 1 for i in range(n)],
    "middle_run": lambda n: [n // 4 <= i < 3 * n // 4 for i in range(n)],
}


# -- strings ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", sorted(NULL_PATTERNS))
@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5, 7, 16, None])
def test_str_round_trip(pattern, batch_rows):
    values = _with_nulls(TRICKY, NULL_PATTERNS[pattern](len(TRICKY)))
    df = pd.DataFrame({"s": pd.Series(values, dtype=object)})
    s = _decode(df, batch_rows=batch_rows)
    c = s.columns[0]
    if set(values) == {None}:
        # no value to type the column by: the null wire type
        assert (c.type, c.nulls, c.sentinel) == ("null", "none", False)
    else:
        assert (c.type, c.nulls, c.sentinel) == (
            "utf8", "bytemask" if None in values else "none", False)
    assert s.column_values(0) == values
    if batch_rows:
        assert [b.rows for b in s.batches][:-1] == [batch_rows] * (len(s.batches) - 1)


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, pd.NaT, np.float64("nan"), float("nan")])
def test_missing_values_are_null(missing):
    arr = np.array(["a", missing, "b", missing], dtype=object)
    s = _decode({"s": arr})
    assert s.column_values(0) == ["a", None, "b", None]
    assert s.columns[0].nulls == "bytemask"


def test_string_dtype_round_trip():
    for storage_values in (TRICKY, _with_nulls(TRICKY, NULL_PATTERNS["runs"](len(TRICKY)))):
        arr = pd.array(storage_values, dtype="string")
        df = pd.DataFrame({"s": arr})
        (p,) = zcimport.plan(df)
        assert (p.dtype, p.wire_type) == ("string", "utf8")
        for batch_rows in (1, 4, None):
            s = _decode(df, batch_rows=batch_rows)
            assert s.column_values(0) == storage_values


def test_str_subclasses_and_numpy_str():
    class MyStr(str):
        pass

    values = [MyStr("sub"), np.str_("numpy"), MyStr("é😀"), np.str_("ü"), "plain"]
    s = _decode({"s": np.array(values, dtype=object)})
    assert s.column_values(0) == [str(v) for v in values]


def _cache_utf8(s: str) -> None:
    """Make CPython cache the UTF-8 form of s (PyUnicode_AsUTF8AndSize)."""
    fn = ctypes.pythonapi.PyUnicode_AsUTF8AndSize
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.py_object, ctypes.c_void_p]
    fn(s, None)


def test_cached_and_uncached_utf8_give_the_same_bytes():
    fresh = [("é" * k + "x" + "😀" * k + "中" * k) for k in range(1, 40)]
    cached = [("é" * k + "x" + "😀" * k + "中" * k) for k in range(1, 40)]
    for v in cached:
        _cache_utf8(v)
    a = packers.pack_utf8(np.array(fresh, dtype=object), 0, len(fresh))
    b = packers.pack_utf8(np.array(cached, dtype=object), 0, len(cached))
    assert a == b
    assert a[2] == "".join(fresh).encode("utf-8")


def test_packing_does_not_fill_the_utf8_cache():
    import sys

    values = ["é" * 1000 + str(k) for k in range(100)]
    before = [sys.getsizeof(v) for v in values]
    _decode({"s": np.array(values, dtype=object)})
    assert [sys.getsizeof(v) for v in values] == before  # getsizeof counts the cache
    _cache_utf8(values[0])
    assert sys.getsizeof(values[0]) > before[0]


def test_offsets_start_at_zero_in_every_batch():
    df = pd.DataFrame({"s": ["abc", None, "de", "", "fghij", None, "k"]}, dtype=object)
    pl = zcimport.plan(df)
    for start in range(0, 7, 3):
        mask, offsets, data = pl.planned_columns[0].data.buffers(start, min(start + 3, 7))
        offs = np.frombuffer(offsets, "<i8")
        assert offs[0] == 0 and offs[-1] == data.nbytes
        assert np.all(np.diff(offs) >= 0)
        # NULL slots are empty
        assert all(offs[i + 1] == offs[i] for i in range(len(mask)) if mask[i])


def test_str_stream_layout_exactly():
    df = pd.DataFrame({"s": ["ab", None, "é"]}, dtype=object)
    data = _dump(df)
    s = ref.decode(data)
    assert s.columns[0].raw == struct.pack("<BBBBBBHHH", 16, 2, 0, 0, 0, 0, 1, 0, 0) + b"s" + bytes(3)
    off = s.header_len + 16
    assert data[off:off + 16] == struct.pack("<Q", 3) + bytes([0, 1, 0]) + bytes(5)
    off += 16
    assert data[off:off + 40] == struct.pack("<Q4q", 32, 0, 2, 2, 4)
    off += 40
    assert data[off:off + 16] == struct.pack("<Q", 4) + b"ab\xc3\xa9" + bytes(4)
    off += 16
    assert data[off:] == struct.pack("<IIQ", 3, 0, 3)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=40),
    batch_rows=st.integers(1, 45),
)
def test_property_str_round_trip(values, batch_rows):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    s = _decode({"s": arr}, batch_rows=batch_rows)
    assert s.column_values(0) == values
    assert s.total_rows == len(values)


# -- bytes ----------------------------------------------------------------------------


def test_bytes_round_trip():
    values = [b"", b"\x00\x01\xff", bytearray(b"array"), memoryview(b"view"), None,
              b"x" * 400, memoryview(np.arange(3, dtype="<i2")), np.bytes_(b"np"), np.nan]
    for batch_rows in (1, 2, 4, None):
        s = _decode({"b": np.array(values, dtype=object)}, batch_rows=batch_rows)
        c = s.columns[0]
        assert (c.type, c.nulls) == ("binary", "bytemask")
        want = [None if v is None or v is np.nan else bytes(v) for v in values]
        assert s.column_values(0) == want


def test_bytes_without_nulls_has_no_mask():
    s = _decode(pd.DataFrame({"b": [b"a", b"bc"]}))
    assert (s.columns[0].type, s.columns[0].nulls) == ("binary", "none")
    assert s.column_values(0) == [b"a", b"bc"]


def test_non_contiguous_memoryview_is_an_error():
    mv = memoryview(b"abcdef")[::2]
    with pytest.raises(ValueError, match=r"column 'b', row 1: .*contiguous"):
        zcimport.plan({"b": np.array([b"x", mv], dtype=object)})


# -- dates ------------------------------------------------------------------------------


def test_date_round_trip():
    dates = [dt.date(1970, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29),
             dt.date(1969, 12, 31), dt.date(1900, 3, 1), dt.date(2024, 12, 31)]
    for pattern in NULL_PATTERNS.values():
        values = _with_nulls(dates, pattern(len(dates)))
        for batch_rows in (1, 3, None):
            s = _decode({"d": np.array(values, dtype=object)}, batch_rows=batch_rows)
            c = s.columns[0]
            assert c.type == ("null" if set(values) == {None} else "date32")  # all NULL
            assert c.nulls == ("bytemask" if None in values and c.type != "null" else "none")
            want = [None if v is None else (v - dt.date(1970, 1, 1)).days for v in values]
            assert s.column_values(0) == want


def test_dates_and_datetimes_do_not_mix():
    arr = np.array([dt.date(2020, 1, 1), dt.datetime(2020, 1, 1)], dtype=object)
    with pytest.raises(TypeError, match=r"'d'.*date values \(row 0\), but row 1 holds datetime.datetime"):
        zcimport.plan({"d": arr})


# -- Decimal, JSON, UUID, ipaddress ------------------------------------------------------


def test_decimal_round_trip():
    D = decimal.Decimal
    values = [D("1.5"), D("-0"), D("1E+3"), D("0E-7"), D("123456789012345678901234567890.123456789"),
              D("NaN"), D("-NaN"), D("Infinity"), D("-Infinity"), None, np.nan, D("-1.000")]
    s = _decode({"n": np.array(values, dtype=object)}, batch_rows=4)
    assert s.columns[0].type == "utf8"
    assert s.column_values(0) == [
        "1.5", "-0", "1E+3", "0E-7", "123456789012345678901234567890.123456789",
        "NaN", "NaN", "Infinity", "-Infinity", None, None, "-1.000"]


def test_decimal_snan_is_an_error():
    arr = np.array([decimal.Decimal(1), None, decimal.Decimal("sNaN")], dtype=object)
    with pytest.raises(ValueError, match=r"column 'n', row 2: .*signaling NaN"):
        zcimport.plan({"n": arr})


def test_json_round_trip():
    values = [{"a": 1, "b": [1, 2.5, None, True]}, [1, "é😀", {"x": "\n\t\"\\"}], None, {}, [],
              {"nested": {"deep": [[]]}}, np.nan]
    s = _decode({"j": np.array(values, dtype=object)}, batch_rows=3)
    got = s.column_values(0)
    assert got[2] is None and got[6] is None
    for g, v in zip(got, values):
        if isinstance(v, (dict, list)):
            assert json.loads(g) == v
            assert g == json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    assert got[1] == '[1,"é😀",{"x":"\\n\\t\\"\\\\"}]'


@pytest.mark.parametrize("bad,exc,what", [
    ({"x": float("nan")}, ValueError, "Out of range float"),
    ({"x": object()}, TypeError, "not JSON serializable"),
])
def test_json_errors_name_column_and_row(bad, exc, what):
    arr = np.array([{}, None, bad], dtype=object)
    with pytest.raises(exc, match=rf"column 'j', row 2: cannot encode the value as JSON: .*{what}"):
        zcimport.plan({"j": arr})


def test_uuid_and_ipaddress_round_trip():
    u = [uuid.UUID(int=0), uuid.uuid4(), None, uuid.UUID("12345678-1234-5678-1234-567812345678")]
    ips = [ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1"),
           ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_interface("192.0.2.5/24"),
           ipaddress.ip_network("2001:db8::/32"), None]
    s = _decode({"u": np.array(u, dtype=object)})
    assert s.column_values(0) == [None if v is None else str(v) for v in u]
    (p,) = zcimport.plan({"u": np.array(u, dtype=object)})
    assert (p.wire_type, p.nulls, p.packed_bytes) == ("utf8", "bytemask", 4 + 5 * 8 + 3 * 36)
    s = _decode({"ip": np.array(ips, dtype=object)}, batch_rows=2)
    assert s.column_values(0) == [None if v is None else str(v) for v in ips]
    assert s.column_values(0)[3] == "192.0.2.5/24"


# -- datetime and timedelta objects -------------------------------------------------------

UTC = dt.timezone.utc


def _ns(ts) -> int:
    return pd.Timestamp(ts).value


def _us(ts) -> int:
    """Microseconds since the epoch (UTC for aware values), nanoseconds
    rounded half to even, as the server rounds them."""
    q, r = divmod(pd.Timestamp(ts).value, 1000)
    return q + (r > 500 or (r == 500 and q % 2 == 1))


def test_naive_datetime_objects():
    values = [dt.datetime(2020, 1, 1, 12, 30, 0, 123456), None, pd.Timestamp("2021-06-01 00:00:00.000000001")]
    arr = np.array(values, dtype=object)
    (p,) = zcimport.plan({"t": arr})
    # in the unit pandas chose: nanoseconds before pandas 3, since then the
    # finest the values need
    unit = np.datetime_data(np.asarray(pd.to_datetime(arr)).dtype)[0]
    assert (p.wire_type, p.unit, p.tz, p.zero_copy) == ("timestamp", unit, "", False)
    assert "pd.to_datetime" in p.reason and p.packed_bytes == 24
    s = _decode({"t": arr})
    scale = {"ns": _ns, "us": _us}[unit]
    assert s.column_values(0) == [scale(values[0]), None, scale(values[2])]


def test_aware_datetimes_at_a_dst_fall_back_stay_apart():
    # the two 02:00 of Berlin's fall-back compare equal in Python (same wall
    # time, different fold): pandas' conversion cache merged them, loading
    # the second as NULL or an hour off
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    a = dt.datetime(2021, 10, 31, 0, tzinfo=UTC).astimezone(berlin)
    b = dt.datetime(2021, 10, 31, 1, tzinfo=UTC).astimezone(berlin)
    assert a == b and a.fold != b.fold
    values = [a, b] * 30 + [dt.datetime(2021, 10, 31, 0, tzinfo=UTC)]
    s = _decode({"t": np.array(values, dtype=object)})
    assert s.columns[0].type == "timestamptz"
    assert s.column_values(0) == [_us("2021-10-31 00:00"), _us("2021-10-31 01:00")] * 30 + \
        [_us("2021-10-31 00:00")]


def test_object_datetimes_go_in_the_unit_pandas_chose():
    # pandas 3 infers microseconds where pandas 2 gave nanoseconds: the unit
    # sent is the unit of the values, so no value can be 1000 times off
    values = [dt.datetime(2024, 5, 6, 7, 8, 9, 10), dt.datetime(1900, 1, 1), None]
    s = _decode({"t": np.array(values, dtype=object)})
    per_us = {"ns": 1000, "us": 1}[s.columns[0].unit]
    assert s.column_values(0) == [_us(values[0]) * per_us, _us(values[1]) * per_us, None]
    tds = [dt.timedelta(minutes=3, microseconds=7), None]
    s = _decode({"d": np.array(tds, dtype=object)})
    per_us = {"ns": 1000, "us": 1}[s.columns[0].unit]
    assert s.column_values(0) == [180_000_007 * per_us, None]


def test_mixed_time_zones_go_to_utc():
    berlin = dt.timezone(dt.timedelta(hours=1))
    values = [dt.datetime(2020, 1, 1, tzinfo=berlin), dt.datetime(2020, 1, 1, tzinfo=UTC), pd.NaT,
              pd.Timestamp("2020-01-01", tz="Asia/Tokyo")]
    arr = np.array(values, dtype=object)
    (p,) = zcimport.plan({"t": arr})
    assert (p.wire_type, p.tz, p.sentinel) == ("timestamptz", "UTC", True)
    assert "UTC" in p.reason
    s = _decode({"t": arr})
    assert s.column_values(0) == [_us("2019-12-31 23:00"), _us("2020-01-01"), None,
                                  _us("2019-12-31 15:00")]


def test_aware_datetimes_in_one_zone_keep_its_name():
    arr = np.array([pd.Timestamp("2020-07-01 12:00", tz="Europe/Berlin"), None], dtype=object)
    (p,) = zcimport.plan({"t": arr})
    assert (p.wire_type, p.tz) == ("timestamptz", "Europe/Berlin")
    assert _decode({"t": arr}).column_values(0) == [_us("2020-07-01 10:00"), None]


def test_naive_and_aware_datetimes_do_not_mix():
    arr = np.array([dt.datetime(2020, 1, 1), None, dt.datetime(2020, 1, 1, tzinfo=UTC)], dtype=object)
    with pytest.raises(TypeError, match=r"'t' holds naive datetimes \(row 0\), but .* row 2 is aware"):
        zcimport.plan({"t": arr})


def test_datetimes_beyond_pandas_range_use_microseconds():
    values = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), None]
    s = _decode({"t": np.array(values, dtype=object)})
    c = s.columns[0]
    assert (c.type, c.unit) == ("timestamp", "us")
    epoch = dt.datetime(1970, 1, 1)
    assert s.column_values(0) == [(values[0] - epoch) // dt.timedelta(microseconds=1),
                                  (values[1] - epoch) // dt.timedelta(microseconds=1), None]
    aware = [dt.datetime(1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5))), None]
    s = _decode({"t": np.array(aware, dtype=object)})
    assert (s.columns[0].type, s.columns[0].unit, s.columns[0].tz) == ("timestamptz", "us", "UTC+05:00")
    assert s.column_values(0)[0] == (aware[0] - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)


def test_timedelta_objects():
    values = [dt.timedelta(days=1, microseconds=5), None, pd.Timedelta(7), pd.NA, dt.timedelta(-1)]
    arr = np.array(values, dtype=object)
    (p,) = zcimport.plan({"d": arr})
    unit = np.datetime_data(np.asarray(pd.to_timedelta(
        np.array([None if v is pd.NA else v for v in values], dtype=object))).dtype)[0]
    assert (p.wire_type, p.unit, p.sentinel, p.zero_copy) == ("duration", unit, True, False)
    assert "pd.to_timedelta" in p.reason
    s = _decode({"d": arr})
    per_us = {"ns": 1000, "us": 1}[unit]
    assert s.column_values(0) == [(86400 * 10**6 + 5) * per_us, None, 7 if unit == "ns" else 0,
                                  None, -86400 * 10**6 * per_us]
    big = np.array([dt.timedelta(days=10**6), None], dtype=object)
    s = _decode({"d": big})
    assert (s.columns[0].unit, s.column_values(0)) == ("us", [10**6 * 86400 * 10**6, None])


# -- numpy fixed-width strings --------------------------------------------------------------


def test_numpy_fixed_width_strings():
    u = np.array(["a", "é😀", "", "x" * 50])
    s = _decode({"u": u}, batch_rows=3)
    assert (s.columns[0].type, s.columns[0].nulls) == ("utf8", "none")
    assert s.column_values(0) == list(u)
    b = np.array([b"ab", b"", b"\x01\x02\x03"])
    s = _decode({"b": b})
    assert s.columns[0].type == "binary" and s.column_values(0) == list(b)
    (p,) = zcimport.plan({"u": u})
    assert "<U50" in p.reason and p.packed_bytes == 5 * 8 + len(("aé😀" + "x" * 50).encode())


def test_mapping_of_lists_of_str():
    s = _decode({"a": ["x", "y"], "b": ["x", None]})
    assert s.column_values(0) == ["x", "y"] and s.column_values(1) == ["x", None]


# -- all-missing and empty columns ------------------------------------------------------------


def test_all_missing_object_column_is_the_null_type():
    arr = np.array([None, np.nan, pd.NA], dtype=object)
    (p,) = zcimport.plan({"x": arr})
    assert (p.wire_type, p.nulls, p.packed_bytes) == ("null", "none", 0)
    assert _decode({"x": arr}).column_values(0) == [None, None, None]


def test_empty_frames():
    df = pd.DataFrame({
        "s": pd.Series([], dtype=object),
        "st": pd.Series([], dtype="string"),
        "c": pd.Categorical([]),
        "cs": pd.Categorical([], categories=["a", "b"]),
    })
    pl = zcimport.plan(df)
    # a categorical without categories has no type: null, as an empty object column
    assert [p.wire_type for p in pl] == ["null", "utf8", "null", "dictionary"]
    assert [p.nulls for p in pl] == ["none"] * 4
    data = _dump(df)
    s = ref.decode(data)
    assert s.batches == [] and s.dictionaries == [] and s.total_rows == 0
    assert len(data) == s.header_len + 16


# -- categoricals ---------------------------------------------------------------------------------


def _messages(data):
    """[(kind, index, count, offset)] of a stream's messages (walking buffers)."""
    s = ref.decode(data)
    out = []
    pos = s.header_len
    nbuf = {}
    for i, c in enumerate(s.columns):
        nb = (c.nulls != "none") + (2 if c.type in ("utf8", "binary") else 1)
        nbuf[i] = nb
    while pos < len(data):
        kind, idx, count = struct.unpack_from("<IIQ", data, pos)
        out.append((kind, idx, count, pos))
        pos += 16
        if kind == 3:
            break
        n = 2 if kind == 2 else sum(nbuf.values())
        for _ in range(n):
            (length,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + length + (-length) % 8
    assert pos == len(data)
    return out


def test_categorical_dictionary_round_trip():
    cats = ["b", "a", "é😀", "", "tab\t", "unused"]
    values = ["a", None, "é😀", "", "b", None, None, "tab\t", "a"]
    df = pd.DataFrame({
        "i": np.arange(len(values)),
        "c": pd.Categorical(values, categories=cats),
    })
    pl = zcimport.plan(df)
    p = pl[1]
    assert (p.dtype, p.wire_type, p.nulls, p.sentinel) == ("category", "dictionary", "none", False)
    assert "dictionary of 6 categories" in p.reason
    assert p.packed_bytes == 7 * 8 + len("".join(cats).encode())
    assert "dictionary[int8]" in str(pl)
    for batch_rows in (1, 2, 4, None):
        data = _dump(df, batch_rows=batch_rows)
        s = ref.decode(data)
        c = s.columns[1]
        assert (c.type, c.index_type, c.value_type, c.nulls) == ("dictionary", "int8", "utf8", "none")
        assert s.column_values(1) == values
        assert s.dictionaries == [(1, cats)]  # once
        kinds = [(k, i) for k, i, _, _ in _messages(data)]
        assert kinds[0] == (2, 1)  # the dictionary comes before the first batch
        assert [k for k, _ in kinds[1:]] == [1] * len(s.batches) + [3]


def test_categorical_codes_are_zero_copy():
    cat = pd.Categorical(np.random.default_rng(0).choice(["x", "y", "z"], 1000))
    df = pd.DataFrame({"c": cat})
    pl = zcimport.plan(df)
    (codes,) = pl.planned_columns[0].data.arrays()
    assert np.shares_memory(codes, df["c"].array.codes)
    chunks = list(_encode.iter_chunks(pl, 300))
    assert len(chunks) == 1 + 1 + 4 + 1  # header, dictionaries, batches, end
    for chunk in chunks[2:-1]:
        (part,) = [p for p in chunk if isinstance(p, memoryview)]
        assert np.shares_memory(np.frombuffer(part, np.uint8), df["c"].array.codes)


@pytest.mark.parametrize("ncats,index_type", [(5, "int8"), (300, "int16"), (40000, "int32")])
def test_categorical_index_types(ncats, index_type):
    cats = [f"c{k}" for k in range(ncats)]
    values = [cats[0], None, cats[-1], cats[ncats // 2]]
    s = _decode({"c": pd.Categorical(values, categories=cats)})
    assert s.columns[0].index_type == index_type
    assert s.column_values(0) == values
    assert s.dictionaries == [(0, cats)]


def test_several_dictionary_columns():
    df = pd.DataFrame({"a": pd.Categorical(["x", "y"]), "n": [1, 2],
                       "b": pd.Series(["p", None], dtype="category")})
    s = _decode(df, batch_rows=1)
    assert s.dictionaries == [(0, ["x", "y"]), (2, ["p"])]
    assert s.column_values(0) == ["x", "y"] and s.column_values(2) == ["p", None]


def test_string_dtype_categories():
    cat = pd.Categorical(["a", None, "b"], categories=pd.Index(["a", "b"], dtype="string"))
    s = _decode({"c": cat})
    assert s.columns[0].type == "dictionary" and s.column_values(0) == ["a", None, "b"]


@pytest.mark.parametrize("values,wire,nulls,expected", [
    ([1, 2, None, 1], "int64", "bytemask", [1, 2, None, 1]),
    ([1, 2, 3], "int64", "none", [1, 2, 3]),
    ([1.5, None, 2.5], "float64", "bytemask", [1.5, None, 2.5]),
    ([True, None, False], "bool", "bytemask", [True, None, False]),
    ([2**63 - 1, -(2**63), None], "int64", "bytemask", [2**63 - 1, -(2**63), None]),
])
def test_categorical_of_numbers_is_materialized(values, wire, nulls, expected):
    cat = pd.Categorical(values)
    (p,) = zcimport.plan({"c": cat})
    assert (p.dtype, p.wire_type, p.nulls, p.zero_copy) == ("category", wire, nulls, False)
    assert p.reason.startswith(f"categorical of {cat.categories.dtype} materialized")
    assert p.packed_bytes > 0
    s = _decode({"c": cat}, batch_rows=2)
    assert s.columns[0].type == wire and s.column_values(0) == expected


def test_categorical_of_datetimes_is_materialized():
    naive = pd.Categorical(pd.to_datetime(["2020-01-01", None, "2020-01-01"]))
    s = _decode({"c": naive})
    assert (s.columns[0].type, s.columns[0].sentinel) == ("timestamp", True)
    per = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}[s.columns[0].unit]
    assert s.column_values(0) == [_ns("2020-01-01") // per, None, _ns("2020-01-01") // per]
    aware = pd.Categorical(pd.to_datetime(["2020-01-01", None]).tz_localize("Europe/Berlin"))
    s = _decode({"c": aware})
    assert (s.columns[0].type, s.columns[0].tz) == ("timestamptz", "Europe/Berlin")
    per = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}[s.columns[0].unit]
    assert s.column_values(0) == [_ns("2019-12-31 23:00") // per, None]


def test_categorical_of_other_objects_is_materialized():
    D = decimal.Decimal
    s = _decode({"c": pd.Categorical([D("1.5"), None, D("2")])})
    assert s.columns[0].type == "utf8" and s.column_values(0) == ["1.5", None, "2"]


def test_categorical_of_mixed_or_unsupported_categories():
    with pytest.raises(TypeError, match=r"'c' has dtype category of object .* row 1 holds int"):
        zcimport.plan({"c": pd.Categorical(["a", 1])})
    with pytest.raises(TypeError, match=r"'c' has dtype category of period\[D\].*to_timestamp"):
        zcimport.plan({"c": pd.Categorical(pd.period_range("2020", periods=2, freq="D"))})


def test_categorical_with_surrogate_category():
    with pytest.raises(UnicodeEncodeError, match=r"category 1 of column 'c'"):
        zcimport.plan({"c": pd.Categorical.from_codes(
            [0, 1], categories=pd.Index(np.array(["a", "b\ud800"], dtype=object), dtype=object))})


# -- plans ------------------------------------------------------------------------------------------


def test_plan_of_packed_columns():
    df = pd.DataFrame({
        "s": ["ab", None, "é"],  # 2 + 0 + 2 bytes
        "t": ["x", "y", "z"],
        "b": [b"\x00", b"", None],
        "d": [dt.date(2020, 1, 1), None, dt.date(2020, 1, 2)],
    }, dtype=object)
    pl = zcimport.plan(df)
    s, t, b, d = pl
    assert (s.wire_type, s.nulls, s.zero_copy, s.packed_bytes) == ("utf8", "bytemask", False, 3 + 32 + 4)
    assert (t.wire_type, t.nulls, t.packed_bytes) == ("utf8", "none", 32 + 3)
    assert (b.wire_type, b.nulls, b.packed_bytes) == ("binary", "bytemask", 3 + 32 + 1)
    assert (d.wire_type, d.nulls, d.packed_bytes) == ("date32", "bytemask", 3 * 5)
    assert "packed per batch" in s.reason and "int32 days" in d.reason
    assert not pl.zero_copy and pl.packed_bytes == 39 + 35 + 36 + 15
    # row widths: mask + offset + average data (rounded up); date: mask + 4
    assert pl.row_width == (1 + 8 + 2) + (8 + 1) + (1 + 8 + 1) + 5
    frame = pl.to_frame()
    assert list(frame["wire_type"]) == ["utf8", "utf8", "binary", "date32"]


def test_packing_is_logged(caplog):
    with caplog.at_level("INFO", logger="zcimport"):
        zcimport.plan(pd.DataFrame({"s": pd.Series(["a"], dtype=object),
                                    "c": pd.Categorical(["x"])}))
    msgs = [r.getMessage() for r in caplog.records]
    assert any("'s'" in m and "packed per batch" in m for m in msgs)
    assert any("'c'" in m and "dictionary of 1 categories" in m for m in msgs)


def test_batch_message_length_is_an_upper_bound():
    df = pd.DataFrame({"s": ["a" * 100] + ["b"] * 99, "n": np.arange(100)})
    pl = zcimport.plan(df)
    for n in (1, 10, 100):
        bound = _plan.batch_message_length(pl.planned_columns, n)
        parts = _encode.batch_parts(pl.planned_columns, 0, n)
        assert sum(memoryview(p).nbytes for p in parts) <= bound


def test_default_batch_is_about_4_mib_with_strings():
    n = 100_000
    df = pd.DataFrame({"s": np.array([f"{i:030d}" for i in range(n)], dtype=object)})
    pl = zcimport.plan(df)
    assert pl.row_width == 8 + 30
    assert pl.batch_rows == (4 << 20) // 38


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values,first_kind,row,type_name", [
    (["a", 1], "str", 1, "int"),
    ([None, "a", np.nan, b"b"], "str", 3, "bytes"),
    ([b"a", "b"], "bytes", 1, "str"),
    (["a", 1.5], "str", 1, "float"),
    (["a", np.float32("nan")], "str", 1, "numpy.float32"),
    ([dt.date(2020, 1, 1), "2020-01-01"], "date", 1, "str"),
    ([decimal.Decimal(1), 1], "Decimal", 1, "int"),
    ([{"a": 1}, "x"], "dict/list (JSON)", 1, "str"),
    ([uuid.UUID(int=1), "x"], "UUID", 1, "str"),
])
def test_mixed_kinds_are_errors(values, first_kind, row, type_name):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    with pytest.raises(TypeError) as ei:
        zcimport.plan({"mixed col": arr})
    msg = str(ei.value)
    assert "'mixed col'" in msg and f"holds {first_kind} values" in msg
    assert f"row {row} holds {type_name}:" in msg


def test_unsupported_objects_name_row_and_type():
    arr = np.array([None, None, 3 + 4j], dtype=object)
    with pytest.raises(TypeError, match=r"'x' has dtype object and holds complex values \(row 2\), which zcimport does not support"):
        zcimport.plan({"x": arr})
    with pytest.raises(TypeError, match=r"holds tuple values \(row 0\).*astype\(str\)"):
        zcimport.plan({"x": np.array([(1, 2), None], dtype=object)})


@pytest.mark.parametrize("bad", ["\ud800", "ok\udfff", "é\udc80", "😀\ud83d"])
def test_lone_surrogates_are_errors(bad):
    arr = np.array(["fine", None, bad, "\ud800 again"], dtype=object)
    with pytest.raises(UnicodeEncodeError) as ei:
        zcimport.plan({"s": arr})
    assert "column 's', row 2" in str(ei.value)
    assert ei.value.object == bad
    with pytest.raises(UnicodeEncodeError, match="column 's', row 1"):
        zcimport.plan({"s": pd.array(["a", bad], dtype=pd.StringDtype("python"))})
    with pytest.raises(UnicodeEncodeError, match="column 'j', row 0"):
        zcimport.plan({"j": np.array([{"k": bad}], dtype=object)})


def test_surrogate_pairs_written_as_two_code_points_are_errors():
    # '\ud83d\ude00' is two lone surrogates in Python, not an emoji
    with pytest.raises(UnicodeEncodeError):
        zcimport.plan({"s": np.array(["\ud83d\ude00"], dtype=object)})


def test_frame_changed_after_planning_is_caught_by_the_packer():
    arr = np.array(["a", "b", "c", "d"], dtype=object)
    pl = zcimport.plan({"s": arr})
    arr[3] = 42
    chunks = _encode.iter_chunks(pl, 2)
    next(chunks), next(chunks)  # header, rows 0-1
    with pytest.raises(TypeError, match=r"column 's', row 3: expected str .* not int"):
        next(chunks)
    arr[3] = None  # no mask was planned
    with pytest.raises(ValueError, match=r"column 's', row 3: a missing value in a column that was planned without NULLs"):
        list(_encode.iter_chunks(pl, 2))
    arr[3] = "\udfff"
    with pytest.raises(UnicodeEncodeError, match=r"column 's', row 3"):
        list(_encode.iter_chunks(pl, 2))


# -- the packers ------------------------------------------------------------------------------------


def test_pack_utf8_accepts_arrays_lists_tuples_and_strides():
    base = np.array(["a", "bb", None, "ccc", "dddd"], dtype=object)
    mask, offsets, data, nulls = packers.pack_utf8(base[::2], 0, 3, MISSING, True, "x")
    assert mask == b"\x00\x01\x00" and data == b"adddd" and nulls == 1
    assert list(np.frombuffer(offsets, "<i8")) == [0, 1, 1, 5]
    assert packers.pack_utf8(["x", "yz"], 1, 2) == (None, struct.pack("<2q", 0, 2), b"yz", 0)
    assert packers.pack_utf8(("x", "yz"), 0, 2)[2] == b"xyz"
    assert packers.pack_utf8(base[::-1], 0, 2)[2] == b"ddddccc"
    assert packers.pack_utf8(base, 2, 2, MISSING, True) == (b"", struct.pack("<q", 0), b"", 0)


def test_pack_argument_errors():
    arr = np.array(["a"], dtype=object)
    with pytest.raises(IndexError):
        packers.pack_utf8(arr, 0, 2)
    with pytest.raises(IndexError):
        packers.pack_utf8(arr, -1, 1)
    with pytest.raises(TypeError, match="format 'O'"):
        packers.pack_utf8(np.arange(3), 0, 1)
    with pytest.raises(TypeError, match="format 'O'"):
        packers.pack_utf8(np.array([["a"]], dtype=object), 0, 1)
    with pytest.raises(TypeError):
        packers.pack_utf8(42, 0, 0)
    with pytest.raises(TypeError, match="missing"):
        packers.pack_utf8(arr, 0, 1, [pd.NA])


def test_pack_date32_and_binary_directly():
    arr = np.array([dt.date(1970, 1, 2), pd.NaT, dt.date(1969, 12, 31)], dtype=object)
    mask, values, nulls = packers.pack_date32(arr, 0, 3, MISSING, True, "d")
    assert mask == b"\x00\x01\x00" and nulls == 1
    assert list(np.frombuffer(values, "<i4")) == [1, 0, -1]
    with pytest.raises(TypeError, match=r"column 'd', row 5: expected datetime.date .* not datetime.datetime"):
        packers.pack_date32(np.array([dt.datetime(2020, 1, 1)], dtype=object), 0, 1, MISSING, True, "d", 5)
    with pytest.raises(TypeError, match="expected bytes, bytearray or memoryview .* not str"):
        packers.pack_binary(np.array(["s"], dtype=object), 0, 1, MISSING, True, "b")


def test_scan_objects():
    arr = np.array(["ab", None, 1, "é", 2.5, np.nan, b"xyz", pd.NA, "\ud800", 3], dtype=object)
    info = packers.scan_objects(arr, MISSING)
    assert info["nulls"] == 3 and info["first_null"] == 1
    assert info["types"] == [(str, 0, 3), (int, 2, 2), (float, 4, 1), (bytes, 6, 1)]
    assert (info["utf8_bytes"], info["utf8_max"], info["utf8_bad"]) == (4, 2, 8)
    assert (info["binary_bytes"], info["binary_max"], info["binary_bad"]) == (3, 3, -1)


# -- memory ----------------------------------------------------------------------------------------


def _trim_heap():
    """Give freed heap memory back to the OS (glibc), so that reusing it
    shows in the peak RSS."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def test_packing_a_large_string_column_holds_about_one_batch():
    n = 2_000_000
    df = pd.DataFrame({
        "s": pd.Series(np.array([f"name {i:08d} é" for i in range(n)], dtype=object),
                       dtype=object),  # 16 bytes of UTF-8
        "i": np.arange(n, dtype=np.int64),
    })
    df.loc[::7, "s"] = None
    pl = zcimport.plan(df)
    column_packed = pl[0].packed_bytes
    assert column_packed > 40_000_000
    packed_batch = pl.batch_rows * pl.planned_columns[0].data.row_width  # about 3 MB
    gc.collect()
    _trim_heap()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("cannot reset VmHWM through /proc/self/clear_refs")
    before = proc_status("VmHWM")
    sink = NullSink()
    assert zcimport.dump(df, sink) == n
    growth = proc_status("VmHWM") - before
    assert sink.n > column_packed
    # one packed batch at a time (the previous one is released first), plus
    # slack; the Python packers also hold the batch's offsets twice (a NumPy
    # array, then bytes) and the encoded values of a chunk
    batches, share = (1.5, 0.15) if packers.IMPL == "c" else (2.5, 0.25)
    assert growth < batches * packed_batch + (2 << 20), f"peak RSS grew by {growth} bytes"
    assert growth < share * column_packed, f"peak RSS grew by {growth} bytes"


# -- through psycopg and libpq, against the fake server ---------------------------------------------


def _mixed_objects_frame(n):
    rng = np.random.default_rng(3)
    names = np.array([f"name-{k}-é" for k in range(50)], dtype=object)
    s = names[rng.integers(0, 50, n)]
    s[::11] = None
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "name": pd.Series(s, dtype=object),
        "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        "day": np.array([dt.date(2020, 1, 1) + dt.timedelta(days=int(k)) for k in range(n)], dtype=object),
        "blob": np.array([bytes([k % 256]) * (k % 5) for k in range(n)], dtype=object),
    })


@pytest.mark.parametrize("force_libpq", [False, True])
def test_copy_sends_the_dump_stream_with_packed_columns(fake_pg, monkeypatch, force_libpq):
    from zcimport import _copy

    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    df = _mixed_objects_frame(5000)
    with psycopg.connect(fake_pg.dsn) as conn:
        assert zcimport.copy_dataframe(df, "t", conn, batch_rows=700) == 5000
    (stream,) = fake_pg.streams
    assert stream == _dump(df, batch_rows=700)
    s = ref.decode(stream)
    assert s.column_values(1) == [None if v is None else v for v in df["name"]]
    assert s.column_values(2) == list(df["region"])
    assert len(s.dictionaries) == 1


def test_error_while_packing_sends_copyfail(fake_pg, monkeypatch):
    real = _objects.PackedVarData.buffers

    def failing(self, start, stop):
        if start >= 1000:
            raise RuntimeError("packing exploded")
        return real(self, start, stop)

    monkeypatch.setattr(_objects.PackedVarData, "buffers", failing)
    df = _mixed_objects_frame(3000)
    with psycopg.connect(fake_pg.dsn) as conn:
        with pytest.raises(RuntimeError, match="packing exploded") as ei:
            zcimport.copy_dataframe(df, "t", conn, batch_rows=500)
        assert isinstance(ei.value.__context__, psycopg.errors.QueryCanceled)
        conn.rollback()
        monkeypatch.setattr(_objects.PackedVarData, "buffers", real)
        assert zcimport.copy_dataframe(df, "t", conn, batch_rows=500) == 3000
    assert fake_pg.copy_ends[0].startswith("fail: error from Python: RuntimeError - packing exploded")
    assert fake_pg.copy_ends[1] == "done"
