"""End-to-end loads of packed and converted columns (ZC_TEST_DSN).

Strings (object and string dtype), categoricals, bytes, dates, Decimal,
JSON, UUID, ipaddress, datetime and timedelta objects, loaded into their
natural PostgreSQL types and read back exactly; type mismatches reported
before any row; value errors naming the row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import errors

import zcimport
from test_objects import NULL_PATTERNS, TRICKY, _with_nulls

UTC = dt.timezone.utc
TEXT = [t for t in TRICKY if "\x00" not in t]  # PostgreSQL text cannot hold NUL


@pytest.fixture
def db(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("SELECT zcimport.version()")
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def _column(conn, table, col="x"):
    return [r[0] for r in conn.execute(f"SELECT {col} FROM {table} ORDER BY k")]


@pytest.mark.parametrize("pattern", ["none", "first", "last", "runs", "all"])
def test_strings_round_trip(db, pattern):
    values = _with_nulls(TEXT, NULL_PATTERNS[pattern](len(TEXT)))
    df = pd.DataFrame({
        "k": np.arange(len(values)),
        "o": pd.Series(values, dtype=object),
        "s": pd.array(values, dtype="string"),
        "c": pd.Series(values, dtype="category"),
    })
    db.execute("CREATE TEMP TABLE t (k int, o text, s varchar, c text)")
    assert zcimport.copy_dataframe(df, "t", db, batch_rows=3) == len(values)
    for col in ("o", "s", "c"):
        assert _column(db, "t", col) == values


def test_other_objects_round_trip(db):
    D = decimal.Decimal
    n = 7
    df = pd.DataFrame({
        "k": np.arange(n),
        "b": [b"", b"\x00\xff\\", None, bytearray(b"ba"), memoryview(b"mv"), b"x" * 500, None],
        "d": [dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2000, 2, 29),
              dt.date(1970, 1, 1), dt.date(1969, 12, 31), None],
        "n": [D("1.5"), D("-0.00005"), None, D("NaN"), D("Infinity"), D("1E+3"), D("-Infinity")],
        "j": [{"a": [1, "é😀"]}, [], None, {"q": "\"\\\n"}, {}, [None, True], None],
        "u": [uuid.UUID(int=k) if k != 2 else None for k in range(n)],
        "ip": [ipaddress.ip_address("10.1.2.3"), ipaddress.ip_network("10.0.0.0/8"), None,
               ipaddress.ip_interface("192.0.2.5/24"), ipaddress.ip_address("::1"),
               ipaddress.ip_network("2001:db8::/32"), None],
        "ts": np.array([dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=k)))
                        if k != 2 else None for k in range(n)], dtype=object),
        "td": pd.Series([dt.timedelta(days=k, microseconds=k) if k != 2 else None
                         for k in range(n)], dtype=object),
    })
    assert df["td"].dtype == object
    db.execute("""CREATE TEMP TABLE t (k int, b bytea, d date, n numeric, j jsonb, u uuid,
                  ip inet, ts timestamptz, td interval)""")
    assert zcimport.copy_dataframe(df, "t", db, batch_rows=2) == n
    assert _column(db, "t", "b") == [None if v is None else bytes(v) for v in df["b"]]
    assert _column(db, "t", "d") == list(df["d"])
    got = _column(db, "t", "n")
    assert got[2] is None and got[3].is_nan()
    assert [v for i, v in enumerate(got) if i not in (2, 3)] == [
        D("1.5"), D("-0.00005"), D("Infinity"), D("1000"), D("-Infinity")]
    assert _column(db, "t", "j") == list(df["j"])
    assert _column(db, "t", "u") == list(df["u"])
    assert _column(db, "t", "ip::text") == [
        "10.1.2.3/32", "10.0.0.0/8", None, "192.0.2.5/24", "::1/128", "2001:db8::/32", None]
    assert _column(db, "t", "ts") == [
        None if v is None else v.astimezone(UTC) for v in df["ts"]]
    assert _column(db, "t", "td") == list(df["td"])


def test_categorical_of_numbers_into_text_is_a_mismatch(db):
    db.execute("CREATE TEMP TABLE t (x text)")
    with pytest.raises(errors.DatatypeMismatch, match="sends int64"):
        zcimport.copy_dataframe(pd.DataFrame({"x": pd.Categorical([1, 2])}), "t", db)
    db.rollback()
    db.execute("CREATE TEMP TABLE t (x int)")
    assert zcimport.copy_dataframe(pd.DataFrame({"x": pd.Categorical([1, None, 2])}), "t", db) == 3
    assert [r[0] for r in db.execute("SELECT x FROM t ORDER BY x")] == [1, 2, None]


def test_unused_categories_are_not_converted(db):
    db.execute("CREATE TEMP TABLE t (k int, x numeric(5, 2))")
    df = pd.DataFrame({"k": [0, 1, 2],
                       "x": pd.Categorical(["1.005", "2", None], categories=["1.005", "2", "junk"])})
    assert zcimport.copy_dataframe(df, "t", db) == 3
    assert _column(db, "t") == [decimal.Decimal("1.01"), decimal.Decimal("2.00"), None]


def test_value_errors_name_the_row(db):
    db.execute("CREATE TEMP TABLE t (x numeric(5, 2))")
    df = pd.DataFrame({"x": [decimal.Decimal(1)] * 5 + [decimal.Decimal("12345.6")]})
    with pytest.raises(errors.NumericValueOutOfRange) as ei:
        zcimport.copy_dataframe(df, "t", db, batch_rows=4)
    assert "batch 2, row 5, column x" in str(ei.value)  # the frame's row
    db.rollback()
    db.execute("CREATE TEMP TABLE s (x text)")
    with pytest.raises(errors.CharacterNotInRepertoire, match="0x00"):
        zcimport.copy_dataframe(pd.DataFrame({"x": ["a", "b\x00c"]}), "s", db)


def test_mixed_frame_like_the_benchmark(db):
    rng = np.random.default_rng(7)
    n = 200_000
    names = np.array([f"customer_{i:05d}_é" for i in range(5000)], dtype=object)
    name = names[rng.integers(0, 5000, n)]
    name[rng.random(n) < 0.01] = None
    df = pd.DataFrame({
        "k": np.arange(n, dtype=np.int64),
        "name": name,
        "region": pd.Categorical(rng.choice(["north", "south", "east", "west"], n)),
    })
    db.execute("CREATE TEMP TABLE t (k bigint, name text, region text)")
    assert zcimport.copy_dataframe(df, "t", db) == n
    got = db.execute("SELECT name, region FROM t ORDER BY k").fetchall()
    # pandas 3 without pyarrow infers str, where None becomes NaN
    assert [g[0] for g in got] == [None if pd.isna(v) else v for v in df["name"]]
    assert [g[1] for g in got] == list(df["region"].astype(str))


def test_categorical_without_categories_loads_nulls_anywhere(conn):
    # no category means every value is NULL: it loads into any column type,
    # as COPY of NULLs does (it was sent as a string dictionary: 42804)
    conn.execute("CREATE TEMP TABLE nocat (i integer, t text, d date)")
    frame = pd.DataFrame({
        "i": pd.Categorical([None, None], categories=pd.Index([], dtype="int64")),
        "t": pd.Categorical([None, None]),
        "d": pd.Categorical([None, None], categories=pd.Index([], dtype="float64")),
    })
    assert [p.wire_type for p in zcimport.plan(frame)] == ["null", "null", "null"]
    assert zcimport.copy_dataframe(frame, "nocat", conn) == 2
    assert conn.execute("SELECT count(*), count(i), count(t), count(d) FROM nocat").fetchone() == (2, 0, 0, 0)
