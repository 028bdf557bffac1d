"""Column planning: wire types, null encodings, zero-copy flags and reasons."""

from __future__ import annotations

import logging
import types

import numpy as np
import pandas as pd
import pytest

import zcimport
from zcimport import _copy, _plan


def _unit(dtype) -> str:
    """The time unit of a datetime64/timedelta64 dtype (tz-aware too): pandas 3
    makes microseconds where pandas 2 made nanoseconds."""
    return str(getattr(dtype, "unit", None) or np.datetime_data(dtype)[0])

NUMERIC = [
    (np.bool_, "bool"),
    (np.int8, "int8"),
    (np.int16, "int16"),
    (np.int32, "int32"),
    (np.int64, "int64"),
    (np.uint8, "uint8"),
    (np.uint16, "uint16"),
    (np.uint32, "uint32"),
    (np.uint64, "uint64"),
    (np.float32, "float32"),
    (np.float64, "float64"),
]


@pytest.mark.parametrize("dtype,wire", NUMERIC)
def test_numpy_dtypes(dtype, wire):
    df = pd.DataFrame({"x": np.zeros(5, dtype=dtype)})
    (p,) = zcimport.plan(df)
    assert p.name == "x" and p.source == "x"
    assert p.wire_type == wire
    assert p.nulls == "none"
    assert p.sentinel == (wire.startswith("float"))
    assert p.unit == "" and p.tz == ""
    assert p.zero_copy and p.reason == "" and p.packed_bytes == 0
    assert p.dtype == str(np.dtype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_as_null_false(dtype):
    (p,) = zcimport.plan(pd.DataFrame({"x": np.zeros(3, dtype)}), nan_as_null=False)
    assert not p.sentinel


def test_datetime_naive_always_sentinel():
    df = pd.DataFrame({"t": pd.date_range("2020", periods=3)})
    for nan_as_null in (True, False):
        (p,) = zcimport.plan(df, nan_as_null=nan_as_null)
        assert (p.wire_type, p.unit, p.sentinel, p.nulls, p.tz) == (
            "timestamp", _unit(df["t"].dtype), True, "none", "")
        assert p.zero_copy


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime_units_from_numpy(unit):
    arr = np.array(["2020-01-01T00:00:01", "NaT"], dtype=f"M8[{unit}]")
    td = np.array([1, "NaT"], dtype=f"m8[{unit}]")
    pl = zcimport.plan({"t": arr, "d": td})
    assert (pl[0].wire_type, pl[0].unit, pl[0].sentinel) == ("timestamp", unit, True)
    assert (pl[1].wire_type, pl[1].unit, pl[1].sentinel) == ("duration", unit, True)
    values = pl.planned_columns[0].data.arrays()[0]
    assert values.dtype == np.int64 and np.shares_memory(values, arr)


@pytest.mark.parametrize("dtype", ["M8[D]", "M8[m]", "m8[h]", "M8[10s]"])
def test_unsupported_time_units(dtype):
    with pytest.raises(TypeError, match="'x'.*time unit"):
        zcimport.plan({"x": np.zeros(2, dtype=dtype)})


def test_timedelta_planned_as_duration():
    df = pd.DataFrame({"d": pd.to_timedelta([1, None], unit="s")})
    (p,) = zcimport.plan(df)
    assert (p.wire_type, p.unit, p.sentinel, p.zero_copy) == (
        "duration", _unit(df["d"].dtype), True, True)


def test_tz_aware():
    df = pd.DataFrame({"t": pd.date_range("2020-03-29", periods=4, freq="h", tz="Europe/Berlin")})
    pl = zcimport.plan(df)
    (p,) = pl
    assert (p.wire_type, p.unit, p.tz, p.sentinel, p.nulls) == (
        "timestamptz", _unit(df["t"].dtype), "Europe/Berlin", True, "none")
    assert p.zero_copy and p.packed_bytes == 0
    (values,) = pl.planned_columns[0].data.arrays()
    assert values.dtype == np.int64
    assert np.shares_memory(values, df["t"].array.asi8)
    assert (values == df["t"].array.asi8).all()  # UTC


def test_tz_utc_name():
    df = pd.DataFrame({"t": pd.date_range("2020", periods=2, tz="UTC")})
    assert zcimport.plan(df)[0].tz == "UTC"


def test_tz_name_not_printable_ascii_is_dropped():
    # the stream takes printable ASCII time zone names only (docs/FORMAT.md)
    import datetime as dt

    class Odd(dt.tzinfo):
        def utcoffset(self, d):
            return dt.timedelta(hours=1)

        def dst(self, d):
            return dt.timedelta(0)

        def tzname(self, d):
            return "Zürich\n"

        def __str__(self):
            return "Zürich\n"

    t = pd.Series([pd.Timestamp("2020-01-01 12:00", tz=Odd())])
    p = zcimport.plan(pd.DataFrame({"t": t}))[0]
    assert (p.wire_type, p.tz) == ("timestamptz", "")


@pytest.mark.parametrize(
    "dtype,wire",
    [("Int8", "int8"), ("Int16", "int16"), ("Int32", "int32"), ("Int64", "int64"),
     ("UInt8", "uint8"), ("UInt16", "uint16"), ("UInt32", "uint32"), ("UInt64", "uint64"),
     ("boolean", "bool"), ("Float32", "float32"), ("Float64", "float64")],
)
def test_masked_arrays(dtype, wire):
    arr = pd.array([1, None, 0], dtype=dtype)
    df = pd.DataFrame({"m": arr})
    pl = zcimport.plan(df)
    (p,) = pl
    assert (p.wire_type, p.nulls) == (wire, "bytemask")
    assert p.sentinel == dtype.startswith("Float")
    assert p.zero_copy and p.packed_bytes == 0
    mask, values = pl.planned_columns[0].data.arrays()
    col = df["m"].array
    assert np.shares_memory(mask, col._mask) and np.shares_memory(values, col._data)
    assert zcimport.plan(df, nan_as_null=False)[0].sentinel is False


def test_contiguous_frame_is_zero_copy(mixed_frame):
    pl = zcimport.plan(mixed_frame)
    assert pl.zero_copy and pl.packed_bytes == 0
    assert all(p.zero_copy and p.reason == "" for p in pl)
    # each column's buffers are the frame's own memory
    for pc in pl.planned_columns:
        series = mixed_frame[pc.plan.source]
        own = series.array
        for a in pc.data.arrays():
            bases = [getattr(own, n, None) for n in ("_data", "_mask", "_ndarray")]
            bases.append(series.to_numpy() if isinstance(series.dtype, np.dtype) else None)
            assert any(b is not None and np.shares_memory(a, b) for b in bases), pc.name


def test_strided_columns_from_2d_array(caplog):
    arr = np.arange(4000.0).reshape(1000, 4)
    # strided views of one 2-D array (pandas 3's DataFrame(arr) copies it)
    df = {c: arr[:, i] for i, c in enumerate("abcd")}
    with caplog.at_level(logging.INFO, logger="zcimport"):
        pl = zcimport.plan(df)
    for p in pl:
        assert not p.zero_copy
        assert "not contiguous" in p.reason and "stride 32" in p.reason
        assert p.packed_bytes == 8000
    assert pl.packed_bytes == 32000 and not pl.zero_copy
    msgs = [r.getMessage() for r in caplog.records if r.name == "zcimport"]
    assert any("'a'" in m and "8000" in m for m in msgs)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "zcimport")
    # the copy has the right values
    (values,) = pl.planned_columns[2].data.arrays()
    assert values.flags.c_contiguous and (values == arr[:, 2]).all()


def test_big_endian(caplog):
    df = pd.DataFrame({"x": np.arange(10, dtype=">i8"), "y": np.arange(10, dtype="<i8")})
    with caplog.at_level(logging.INFO, logger="zcimport"):
        pl = zcimport.plan(df)
    x, y = pl
    assert not x.zero_copy and "big-endian" in x.reason and x.packed_bytes == 80
    assert y.zero_copy
    (values,) = pl.planned_columns[0].data.arrays()
    assert values.dtype.byteorder in "<=" and (values == np.arange(10)).all()
    assert any("big-endian" in r.getMessage() for r in caplog.records)


def test_big_endian_datetime_and_float():
    t = np.array([0, 10**18], dtype=">M8[ns]")
    f = np.array([1.5, np.nan], dtype=">f8")
    pl = zcimport.plan({"t": t, "f": f})
    assert not pl[0].zero_copy and not pl[1].zero_copy
    assert list(pl.planned_columns[0].data.arrays()[0]) == [0, 10**18]


def test_strided_mask():
    arr = pd.array([1, None, 3, 4], dtype="Int64")
    strided = pd.arrays.IntegerArray(arr._data[::2], arr._mask[::2])
    pl = zcimport.plan({"m": strided})
    (p,) = pl
    assert not p.zero_copy
    assert "mask" in p.reason and "values" in p.reason
    assert p.packed_bytes == 2 + 16


@pytest.mark.parametrize(
    "values,hint",
    [
        (pd.period_range("2020", periods=2, freq="D").array, "to_timestamp"),
        (pd.arrays.IntervalArray.from_breaks([0, 1, 2]), "astype(str)"),
        (pd.arrays.SparseArray([0, 1]), "to_dense"),
        (np.array([1 + 2j, 3j]), "np.real"),
        (np.array([1, 2], dtype=np.float16), "float32"),
        (np.array([1, 2], dtype=object), "Int64"),
        (np.array([1.5, None], dtype=object), "Float64"),
        (np.array([True, None], dtype=object), "boolean"),
        (np.array([object(), None], dtype=object), "astype(str)"),
    ],
)
def test_unsupported(values, hint):
    df = pd.DataFrame({"weird col": values})
    with pytest.raises(TypeError) as ei:
        zcimport.plan(df)
    msg = str(ei.value)
    assert "'weird col'" in msg and str(df["weird col"].dtype) in msg and "not support" in msg
    assert hint in msg


def test_columns_subset_and_order():
    df = pd.DataFrame({"a": [1], "b": [2.0], "c": [True]})
    assert [p.name for p in zcimport.plan(df, columns=["c", "a"])] == ["c", "a"]


def test_columns_dict_renames():
    df = pd.DataFrame({"a": [1], "b": [2.0], "c": [True]})
    pl = zcimport.plan(df, columns={"b": "beta", "a": "Alpha"})
    assert [(p.source, p.name) for p in pl] == [("b", "beta"), ("a", "Alpha")]
    assert [p.wire_type for p in pl] == ["float64", "int64"]


def test_non_str_labels_converted():
    df = pd.DataFrame(np.zeros((2, 3), dtype=np.int32))
    pl = zcimport.plan(df)
    assert [p.name for p in pl] == ["0", "1", "2"] and [p.source for p in pl] == [0, 1, 2]
    assert [p.name for p in zcimport.plan(df, columns=[2, 0])] == ["2", "0"]
    assert [p.name for p in zcimport.plan(df, columns={1: 10})] == ["10"]


def test_duplicates_are_errors():
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        zcimport.plan(df)
    with pytest.raises(ValueError, match="more than once"):
        zcimport.plan(df, columns=["a"])
    df2 = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(ValueError, match="duplicate"):
        zcimport.plan(df2, columns={"a": "x", "b": "x"})
    df3 = pd.DataFrame({1: [1], "1": [2]})
    with pytest.raises(ValueError, match="duplicate column name '1'"):
        zcimport.plan(df3)


def test_missing_column():
    with pytest.raises(KeyError, match="'z'"):
        zcimport.plan(pd.DataFrame({"a": [1]}), columns=["z"])


def test_zero_columns_is_an_error():
    with pytest.raises(ValueError, match="no columns"):
        zcimport.plan(pd.DataFrame(index=range(3)))
    with pytest.raises(ValueError, match="no columns"):
        zcimport.plan(pd.DataFrame({"a": [1]}), columns=[])


def test_columns_as_string_is_rejected():
    with pytest.raises(TypeError):
        zcimport.plan(pd.DataFrame({"a": [1]}), columns="a")


def test_name_too_long():
    with pytest.raises(ValueError, match="1024"):
        zcimport.plan(pd.DataFrame({"x" * 1025: [1]}))
    zcimport.plan(pd.DataFrame({"é" * 512: [1]}))  # 1024 bytes: fine


def test_not_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        zcimport.plan([1, 2, 3])


def test_mapping_input_lengths():
    with pytest.raises(ValueError, match="different lengths"):
        zcimport.plan({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="1-D"):
        zcimport.plan({"a": np.zeros((2, 2))})


def test_mapping_input_accepts_series_and_arrays():
    s = pd.Series([1, 2], dtype="Int64")
    pl = zcimport.plan({"a": s, "b": s.array, "c": pd.array(np.arange(2), dtype=np.dtype("int64")), "d": [1.0, 2.0]})
    assert [p.wire_type for p in pl] == ["int64", "int64", "int64", "float64"]
    assert [p.nulls for p in pl] == ["bytemask", "bytemask", "none", "none"]


def test_empty_frame_plans():
    pl = zcimport.plan(pd.DataFrame({"a": np.array([], dtype=np.int32)}))
    assert pl.rows == 0 and pl[0].zero_copy


def test_plan_is_a_sequence_with_str_and_frame(mixed_frame):
    pl = zcimport.plan(mixed_frame)
    assert len(pl) == len(mixed_frame.columns)
    assert pl[0].name == "b" and [p.name for p in pl[1:3]] == ["i8", "i64"]
    assert isinstance(pl[-1], zcimport.ColumnPlan)
    text = str(pl)
    lines = text.splitlines()
    assert lines[0].startswith("zcimport plan: 12 columns, 10 rows")
    header, rule = lines[1], lines[2]
    # aligned: every column of the table starts where its header starts
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    for line in lines[3:]:
        for s in starts[:3]:
            assert line[s - 1 : s] in ("", " ")
    assert set(rule.replace(" ", "")) == {"-"}
    unit = _unit(mixed_frame["tstz"].dtype)
    assert f"timestamptz[{unit}, Europe/Berlin]" in text
    frame = pl.to_frame()
    assert list(frame.columns) == [
        "name", "source", "dtype", "wire_type", "nulls", "sentinel", "unit", "tz",
        "zero_copy", "reason", "packed_bytes"]
    assert frame["zero_copy"].all() and len(frame) == 12
    assert "12 columns" in repr(pl)


def test_row_width_and_default_batch_rows(mixed_frame):
    pl = zcimport.plan(mixed_frame)
    # b1 i8 1 i64 8 u16 2 f32 4 f64 8 ts 8 tstz 8 td 8 I32 1+4 boolean 1+1 F64 1+8
    assert pl.row_width == 1 + 1 + 8 + 2 + 4 + 8 + 8 + 8 + 8 + 5 + 2 + 9
    assert pl.batch_rows == (4 << 20) // pl.row_width


def test_default_batch_rows_rule():
    assert zcimport.default_batch_rows(8) == 524288
    assert zcimport.default_batch_rows(1) == 4 << 20
    assert zcimport.default_batch_rows(10**6) == 1024
    assert zcimport.default_batch_rows(0) == 4 << 20


def test_resolve_batch_rows():
    pl = zcimport.plan(pd.DataFrame({"a": np.zeros(10)}))
    assert _plan.resolve_batch_rows(pl, None) == pl.batch_rows
    assert _plan.resolve_batch_rows(pl, 3) == 3
    assert _plan.resolve_batch_rows(pl, np.int64(3)) == 3
    for bad in (0, -1, 2**31):
        with pytest.raises(ValueError):
            _plan.resolve_batch_rows(pl, bad)
    for bad in (True, 2.0, "3"):
        with pytest.raises(TypeError):
            _plan.resolve_batch_rows(pl, bad)


def test_batch_larger_than_1gib_is_refused():
    big = np.zeros(2**27 + 1, dtype=np.float64)  # calloc'd, never touched
    pl = zcimport.plan({"a": big})
    with pytest.raises(ValueError, match="1 GiB"):
        _plan.resolve_batch_rows(pl, 2**27 + 1)
    assert _plan.resolve_batch_rows(pl, 2**27 - 3) == 2**27 - 3  # 16 + 8 + 8n <= 2**30


# -- the COPY statement and the table argument --------------------------------


@pytest.mark.parametrize(
    "table,parts",
    [
        ("t", ("t",)),
        ("Sales", ("Sales",)),
        ("s.t", ("s", "t")),
        ('"my.schema".t', ("my.schema", "t")),
        ('"a""b"."c.d"', ('a"b', "c.d")),
        ("s.\"T x\"", ("s", "T x")),
        (("s", "t.x"), ("s", "t.x")),
        (("t",), ("t",)),
    ],
)
def test_table_names(table, parts):
    from psycopg import sql

    assert _copy.table_identifier(table) == sql.Identifier(*parts)


@pytest.mark.parametrize("table", ["", "a.", ".a", "a..b", "a.b.c", '"a', '"a"b', 'a"b', ("a", ""), ("a", "b", "c")])
def test_bad_table_names(table):
    with pytest.raises(ValueError):
        _copy.table_identifier(table)


def test_table_composable_and_bad_type():
    from psycopg import sql

    ident = sql.Identifier("x", "y")
    assert _copy.table_identifier(ident) is ident
    with pytest.raises(TypeError):
        _copy.table_identifier(42)


def test_copy_statement():
    from psycopg import sql

    stmt = _copy.copy_statement("s.t", ["a", 'we"ird', "B"])
    assert stmt == sql.Composed([
        sql.SQL("COPY "), sql.Identifier("s", "t"), sql.SQL(" ("),
        sql.Composed([sql.Identifier("a"), sql.SQL(", "), sql.Identifier('we"ird'),
                      sql.SQL(", "), sql.Identifier("B")]),
        sql.SQL(") FROM STDIN WITH (FORMAT zcimport)"),
    ])


def test_copy_dataframe_checks_before_connecting():
    df = pd.DataFrame({"a": pd.period_range("2020", periods=1, freq="D")})
    with pytest.raises(TypeError, match="'a'"):
        zcimport.copy_dataframe(df, "t", "host=/nonexistent dbname=nothing")
    with pytest.raises(ValueError):
        zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), "a.b.c", "host=/nonexistent")
    with pytest.raises(TypeError, match="psycopg 3 Connection"):
        zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), "t", object())


def _fake_conn(ssl=False):
    pgconn = types.SimpleNamespace(ssl_in_use=ssl, pgconn_ptr=None)
    return types.SimpleNamespace(pgconn=pgconn)


def test_plan_transport(monkeypatch):
    df = pd.DataFrame({"a": [1]})
    assert zcimport.plan(df).transport is None
    assert zcimport.plan(df, conn=_fake_conn(ssl=True)).transport == "libpq (SSL is in use)"
    assert zcimport.plan(df, conn=_fake_conn()).transport.startswith("socket")
    assert _copy.transport(_fake_conn(), server_gss=True) == (False, "libpq (GSSAPI encryption is in use)")
    assert _copy.transport(_fake_conn(), server_gss=False) == (True, "socket")
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", True)
    assert "transport: libpq (forced)" in str(zcimport.plan(df, conn=_fake_conn()))


# -- pandas 3 -------------------------------------------------------------------------------


def test_read_only_columns_are_sent_without_a_copy():
    # pandas' Copy-on-Write hands out read-only views of a frame's arrays
    arr = np.arange(10, dtype=np.int64)
    arr.flags.writeable = False
    ts = np.arange(10).astype("M8[ms]")
    ts.flags.writeable = False
    pl = zcimport.plan({"a": arr, "t": ts})
    assert pl.zero_copy
    assert np.shares_memory(pl.planned_columns[0].data.arrays()[0], arr)
    assert np.shares_memory(pl.planned_columns[1].data.arrays()[0], ts)
    df = pd.DataFrame({"a": np.arange(10.0)})
    pl = zcimport.plan(df)
    assert pl.zero_copy and np.shares_memory(pl.planned_columns[0].data.arrays()[0],
                                             df["a"].to_numpy())
    # and the stream takes read-only memory
    import io
    assert zcimport.dump({"a": arr}, io.BytesIO()) == 10


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Tokyo"])
def test_pandas_datetime_units(unit, tz):
    if not hasattr(pd.DatetimeIndex, "as_unit"):
        pytest.skip("pandas < 2 has nanoseconds only")
    idx = pd.date_range("2020-01-01", periods=3, freq="D", tz=tz).as_unit(unit)
    (p,) = zcimport.plan(pd.DataFrame({"t": idx}))
    assert (p.wire_type, p.unit, p.tz, p.zero_copy) == (
        "timestamptz" if tz else "timestamp", unit, tz or "", True)


def test_python_storage_str_with_nan():
    try:
        dtype = pd.StringDtype("python", na_value=np.nan)  # pandas 3's str without pyarrow
    except TypeError:
        pytest.skip("pandas < 2.3 has no na_value")
    s = pd.Series(["a", None, "bc"], dtype=dtype)
    (p,) = zcimport.plan({"s": s})
    assert (p.wire_type, p.nulls) == ("utf8", "bytemask")
    import io
    import zci_reference as ref
    buf = io.BytesIO()
    zcimport.dump({"s": s}, buf)
    assert ref.decode(buf.getvalue()).column_values(0) == ["a", None, "bc"]
