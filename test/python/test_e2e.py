"""End-to-end loads against the test cluster (ZC_TEST_DSN).

Exact round trips of every dtype zcimport loads, with edge values; NULLs,
NaN and NaT; column subsets and defaults; atomicity when the server fails,
when the client sends CopyFail, and when it disconnects; privileges and
row-level security; a bound on the server's memory; and differential tests
that load the same frame with zcimport and with psycopg's own COPY into
twin tables and compare them with EXCEPT ALL both ways.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any, Iterator, List

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors, sql

import zcimport
from oracle import assert_same_table, copy_rows
from procmem import proc_status

UTC = dt.timezone.utc


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def values(conn: psycopg.Connection, query: str) -> List[Any]:
    """The first column of a query's rows."""
    return [r[0] for r in conn.execute(query)]


def us_half_even(ns: int) -> int:
    """Nanoseconds to microseconds, rounding ties to even, as the server does."""
    q, r = divmod(ns, 1000)
    if r > 500 or (r == 500 and q % 2 == 1):
        q += 1
    return q


def epoch_us_to_naive(us: int) -> dt.datetime:
    """A naive datetime from microseconds since 1970-01-01."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)


def count(conn: psycopg.Connection, name: str) -> int:
    """Rows in a table."""
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()[0]


# ---------------------------------------------------------------------------
# exact round trips
# ---------------------------------------------------------------------------


INT_TARGETS = [
    (np.int8, "int2"), (np.int16, "int2"), (np.int32, "int4"), (np.int64, "int8"),
    (np.uint8, "int2"), (np.uint16, "int4"), (np.uint32, "int8"), (np.uint64, "numeric"),
    (np.int64, "numeric"), (np.int8, "int8"), (np.uint32, "numeric"),
]


@pytest.mark.parametrize("dtype,pgtype", INT_TARGETS)
def test_integers_round_trip_exactly(conn, dtype, pgtype):
    info = np.iinfo(dtype)
    edge = sorted({int(info.min), int(info.min) + 1, 0, 1, int(info.max) - 1, int(info.max)})
    conn.execute(f"CREATE TEMP TABLE t (v {pgtype})")
    n = zcimport.copy_dataframe(pd.DataFrame({"v": np.array(edge, dtype=dtype)}), "t", conn)
    assert n == len(edge)
    assert [int(v) for v in values(conn, "SELECT v FROM t ORDER BY v")] == edge


@pytest.mark.parametrize("dtype,pgtype", [(np.float64, "float8"), (np.float32, "float4"),
                                          (np.float32, "float8")])
def test_floats_round_trip_bit_for_bit(conn, dtype, pgtype):
    info = np.finfo(dtype)
    edge = np.array([info.min, info.max, info.tiny, info.smallest_subnormal, -0.0, 0.0,
                     np.inf, -np.inf, 1 / 3, -2.5, np.nan], dtype=dtype)
    conn.execute(f"CREATE TEMP TABLE t (i int4, v {pgtype})")
    frame = pd.DataFrame({"i": np.arange(len(edge), dtype=np.int32), "v": edge})
    zcimport.copy_dataframe(frame, "t", conn, nan_as_null=False)
    got = values(conn, "SELECT v FROM t ORDER BY i")
    for want, have in zip(edge, got):
        assert have is not None
        if np.isnan(want):
            assert math.isnan(have)
        else:
            assert dtype(have) == want
            assert math.copysign(1, have) == math.copysign(1, want)


def test_nan_is_null_by_default_and_kept_on_request(conn):
    conn.execute("CREATE TEMP TABLE t (i int4, v float8)")
    frame = pd.DataFrame({"i": np.arange(3, dtype=np.int32), "v": [1.5, np.nan, np.inf]})
    zcimport.copy_dataframe(frame, "t", conn)
    zcimport.copy_dataframe(frame.assign(i=frame.i + 10), "t", conn, nan_as_null=False)
    rows = conn.execute("SELECT i, v, v IS NULL FROM t ORDER BY i").fetchall()
    assert rows[:3] == [(0, 1.5, False), (1, None, True), (2, math.inf, False)]
    assert rows[4][2] is False and math.isnan(rows[4][1])


def test_bool_and_nullable_arrays_send_their_mask(conn):
    conn.execute("CREATE TEMP TABLE t (i int4, b bool, nb bool, ni int8, nu int8, nf float8)")
    frame = pd.DataFrame({
        "i": np.arange(4, dtype=np.int32),
        "b": np.array([True, False, True, False]),
        "nb": pd.array([True, None, False, None], dtype="boolean"),
        "ni": pd.array([-(2**63), None, 2**63 - 1, 0], dtype="Int64"),
        "nu": pd.array([None, 4294967295, 0, None], dtype="UInt32"),
        "nf": pd.array([0.5, None, -1.0, 2.0], dtype="Float64"),
    })
    assert zcimport.copy_dataframe(frame, "t", conn) == 4
    assert conn.execute("SELECT b, nb, ni, nu, nf FROM t ORDER BY i").fetchall() == [
        (True, True, -(2**63), None, 0.5),
        (False, None, None, 4294967295, None),
        (True, False, 2**63 - 1, 0, -1.0),
        (False, None, 0, None, 2.0),
    ]


@pytest.mark.parametrize("dtype", ["Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16",
                                   "UInt32", "Float32", "Float64", "boolean"])
def test_every_nullable_dtype(conn, dtype):
    pgtype = {"boolean": "bool", "Float32": "float4"}.get(dtype, "numeric")
    raw = [1, None, 0, None] if dtype != "boolean" else [True, None, False, None]
    conn.execute(f"CREATE TEMP TABLE t (i int4, v {pgtype})")
    frame = pd.DataFrame({"i": np.arange(4, dtype=np.int32), "v": pd.array(raw, dtype=dtype)})
    zcimport.copy_dataframe(frame, "t", conn)
    got = values(conn, "SELECT v FROM t ORDER BY i")
    assert [None if v is None else (bool(v) if dtype == "boolean" else float(v)) for v in got] == [
        None if v is None else (v if dtype == "boolean" else float(v)) for v in raw]


def test_masked_float_nan_follows_nan_as_null(conn):
    arr = pd.array([1.0, None, 3.0], dtype="Float64")
    arr[2] = np.nan  # a NaN under a valid mask bit
    arr._data[2] = np.nan
    arr._mask[2] = False
    conn.execute("CREATE TEMP TABLE t (i int4, v float8)")
    frame = pd.DataFrame({"i": np.arange(3, dtype=np.int32), "v": arr})
    zcimport.copy_dataframe(frame, "t", conn)
    zcimport.copy_dataframe(frame.assign(i=frame.i + 10), "t", conn, nan_as_null=False)
    got = values(conn, "SELECT v FROM t ORDER BY i")
    assert got[:3] == [1.0, None, None]
    assert got[3:5] == [1.0, None] and math.isnan(got[5])


def test_naive_timestamps_round_to_microseconds_and_nat_is_null(conn):
    stamps = pd.to_datetime([
        pd.Timestamp.min, pd.Timestamp.max, "1970-01-01 00:00:00.000000500",
        "1970-01-01 00:00:00.000001500", "1969-12-31 23:59:59.999999500",
        "2024-02-29 12:34:56.789012345", None,
    ])
    conn.execute("CREATE TEMP TABLE t (i int4, ts timestamp)")
    frame = pd.DataFrame({"i": np.arange(len(stamps), dtype=np.int32), "ts": stamps})
    zcimport.copy_dataframe(frame, "t", conn)
    got = values(conn, "SELECT ts FROM t ORDER BY i")
    want = [None if pd.isna(s) else epoch_us_to_naive(us_half_even(s.value)) for s in stamps]
    assert got == want


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_aware_timestamps_keep_the_instant(conn, tz):
    # around the 2024 DST changes in Europe and the US, and a NaT
    local = pd.to_datetime(["2024-03-10 01:59:59", "2024-03-10 03:00:00",
                            "2024-03-31 01:59:59.999999", "2024-03-31 03:00:00",
                            "2024-10-27 01:30:00", "2024-11-03 01:30:00", None], format="ISO8601")
    stamps = local.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    conn.execute("SET TIME ZONE 'Pacific/Auckland'")
    conn.execute("CREATE TEMP TABLE t (i int4, ts timestamptz)")
    frame = pd.DataFrame({"i": np.arange(len(stamps), dtype=np.int32), "ts": stamps})
    zcimport.copy_dataframe(frame, "t", conn)
    got = values(conn, "SELECT ts FROM t ORDER BY i")
    for want, have in zip(stamps, got):
        if pd.isna(want):
            assert have is None
        else:
            # in UTC: an aware datetime in a repeated hour never equals one in
            # another zone (PEP 495), whatever the instant
            assert have.astimezone(dt.timezone.utc) == want.tz_convert("UTC").to_pydatetime()


def test_timestamps_cross_into_the_other_type_in_the_session_zone(conn):
    conn.execute("SET TIME ZONE 'America/New_York'")
    conn.execute("CREATE TEMP TABLE t (naive_into_tz timestamptz, aware_into_naive timestamp)")
    frame = pd.DataFrame({
        "naive_into_tz": pd.to_datetime(["2024-07-01 12:00:00"]),
        "aware_into_naive": pd.to_datetime(["2024-07-01 12:00:00"]).tz_localize("UTC"),
    })
    zcimport.copy_dataframe(frame, "t", conn)
    a, b = conn.execute("SELECT naive_into_tz, aware_into_naive FROM t").fetchone()
    assert a == dt.datetime(2024, 7, 1, 16, 0, tzinfo=UTC)
    assert b == dt.datetime(2024, 7, 1, 8, 0)


def test_empty_frame_one_row_and_many_batches(conn):
    conn.execute("CREATE TEMP TABLE t (a float8, b int8)")
    empty = pd.DataFrame({"a": np.array([], dtype=np.float64), "b": np.array([], dtype=np.int64)})
    assert zcimport.copy_dataframe(empty, "t", conn) == 0
    assert zcimport.copy_dataframe(pd.DataFrame({"a": [2.5], "b": [7]}), "t", conn) == 1
    frame = pd.DataFrame({"a": np.arange(1000) / 8, "b": np.arange(1000) * 3})
    assert zcimport.copy_dataframe(frame, "t", conn, batch_rows=7) == 1000
    assert conn.execute("SELECT count(*), sum(a), sum(b) FROM t").fetchone() == (
        1001, 2.5 + float(frame.a.sum()), 7 + int(frame.b.sum()))


def test_large_load_checksums(conn):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(size=300_000), "b": rng.integers(-10**12, 10**12, 300_000)})
    conn.execute("CREATE TEMP TABLE t (a float8, b int8)")
    assert zcimport.copy_dataframe(frame, "t", conn, batch_rows=50_000) == 300_000
    total, b_sum, a_min, a_max = conn.execute("SELECT count(*), sum(b), min(a), max(a) FROM t").fetchone()
    assert (total, int(b_sum), a_min, a_max) == (300_000, int(frame.b.sum()), frame.a.min(), frame.a.max())


def test_toasted_values_and_the_widest_table(conn):
    big = ["x" * 5_000_000, "é" * 3_000_000, None, "".join(chr(65 + i % 26) for i in range(300_000))]
    conn.execute("CREATE TEMP TABLE big (s text, b bytea)")
    frame = pd.DataFrame({"s": pd.Series(big, dtype=object),
                          "b": pd.Series([v.encode() if v else None for v in big], dtype=object)})
    assert zcimport.copy_dataframe(frame, "big", conn) == 4
    rows = conn.execute("SELECT length(s), octet_length(b), pg_column_size(s) < length(s),"
                        " s = convert_from(b, 'UTF8') FROM big").fetchall()
    assert rows == [(5_000_000, 5_000_000, True, True), (3_000_000, 6_000_000, True, True),
                    (None, None, None, None), (300_000, 300_000, True, True)]
    ncol = 1600  # MaxHeapAttributeNumber
    wide = pd.DataFrame({f"c{i}": np.arange(100, dtype=np.int32) + i for i in range(ncol)})
    conn.execute("CREATE TEMP TABLE wide (" + ", ".join(f"c{i} int4" for i in range(ncol)) + ")")
    assert zcimport.copy_dataframe(wide, "wide", conn, batch_rows=33) == 100
    assert conn.execute("SELECT sum(c0), sum(c1599) FROM wide").fetchone() == (4950, 164850)


def test_non_contiguous_frame_is_copied_once_and_loads(conn, caplog):
    block = np.arange(30, dtype=np.float64).reshape(10, 3)
    # copy=False: pandas 3 would otherwise copy the block (column by column)
    frame = pd.DataFrame(block, columns=["x", "y", "z"], copy=False)
    assert not frame["x"].to_numpy(copy=False).flags.c_contiguous
    conn.execute("CREATE TEMP TABLE t (x float8, y float8, z float8)")
    with caplog.at_level(logging.INFO, logger="zcimport"):
        zcimport.copy_dataframe(frame, "t", conn)
    assert conn.execute("SELECT sum(x), sum(y), sum(z) FROM t").fetchone() == (135.0, 145.0, 155.0)
    assert any("cop" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------
# column lists, defaults, names
# ---------------------------------------------------------------------------


def test_column_subset_gets_defaults(conn):
    conn.execute("""CREATE TEMP TABLE t (
        id serial, a float8, b int8 DEFAULT 42, note text DEFAULT 'none',
        loaded timestamptz DEFAULT now(), c int4)""")
    frame = pd.DataFrame({"c": np.array([5, 6], dtype=np.int32), "a": [0.5, 1.5],
                          "ignored": [True, False]})
    assert zcimport.copy_dataframe(frame, "t", conn, columns=["a", "c"]) == 2
    rows = conn.execute("SELECT id, a, b, note, c, loaded = now() FROM t ORDER BY id").fetchall()
    assert rows == [(1, 0.5, 42, "none", 5, True), (2, 1.5, 42, "none", 6, True)]


def test_columns_mapping_renames(conn):
    conn.execute("CREATE TEMP TABLE t (alpha float8, beta int8)")
    frame = pd.DataFrame({"a": [1.0], "b": [2]})
    zcimport.copy_dataframe(frame, "t", conn, columns={"b": "beta", "a": "alpha"})
    assert conn.execute("SELECT alpha, beta FROM t").fetchone() == (1.0, 2)


def test_quoted_schema_qualified_names(conn):
    conn.execute('CREATE SCHEMA "My Schema"')
    conn.execute('CREATE TABLE "My Schema"."Mixed Table" ("Col A" float8)')
    zcimport.copy_dataframe(pd.DataFrame({"Col A": [1.0, 2.0]}), '"My Schema"."Mixed Table"', conn)
    zcimport.copy_dataframe(pd.DataFrame({"Col A": [3.0]}), ("My Schema", "Mixed Table"), conn)
    assert values(conn, 'SELECT "Col A" FROM "My Schema"."Mixed Table" ORDER BY 1') == [1.0, 2.0, 3.0]


def test_conninfo_string_commits_its_own_connection(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8)").format(sql.Identifier(table)))
    assert zcimport.copy_dataframe(pd.DataFrame({"a": [1.0, 2.0]}), table, dsn) == 2
    assert count(autoconn, table) == 2


def test_runs_in_the_callers_transaction(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8)").format(sql.Identifier(table)))
    with psycopg.connect(dsn) as c:
        zcimport.copy_dataframe(pd.DataFrame({"a": [1.0]}), table, c)
        assert count(autoconn, table) == 0  # not committed yet
        c.rollback()
    assert count(autoconn, table) == 0


def test_ssl_connection_falls_back_to_libpq_writes(dsn, caplog):
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params.update(host="127.0.0.1", sslmode="require")
    try:
        c = psycopg.connect(**params)
    except psycopg.OperationalError as ex:
        pytest.skip(f"the test server does not take SSL connections: {ex}")
    with c:
        assert c.pgconn.ssl_in_use
        c.execute("CREATE TEMP TABLE t (a float8, b int8)")
        frame = pd.DataFrame({"a": np.arange(50_000) / 4, "b": np.arange(50_000) * 7})
        with caplog.at_level(logging.INFO, logger="zcimport"):
            assert zcimport.copy_dataframe(frame, "t", c, batch_rows=4096) == 50_000
        assert c.execute("SELECT sum(a), sum(b) FROM t").fetchone() == (
            float(frame.a.sum()), int(frame.b.sum()))
    assert any("through libpq" in r.getMessage() and "SSL" in r.getMessage()
               for r in caplog.records)


# ---------------------------------------------------------------------------
# errors and atomicity
# ---------------------------------------------------------------------------


def test_range_error_names_column_and_row_and_leaves_nothing(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, v int2)").format(sql.Identifier(table)))
    v = np.zeros(100_000, dtype=np.int64)
    v[70_001] = 40_000
    frame = pd.DataFrame({"a": np.ones(100_000), "v": v})
    with pytest.raises(errors.NumericValueOutOfRange) as info:
        zcimport.copy_dataframe(frame, table, dsn, batch_rows=10_000)
    message = str(info.value)
    assert info.value.diag.message_primary == "value 40000 is out of range for type smallint"
    assert "row 70001, column v" in message
    assert info.value.diag.context.startswith(f"COPY {table}, batch 8, row 70001, column v")
    assert count(autoconn, table) == 0


def test_type_mismatch_is_reported_before_any_row(conn):
    conn.execute("CREATE TEMP TABLE t (a bool)")
    with pytest.raises(errors.DatatypeMismatch) as info:
        zcimport.copy_dataframe(pd.DataFrame({"a": [1.5]}), "t", conn)
    assert 'column "a" is of type boolean, but the stream sends float64' in str(info.value)
    assert "loads into real, double precision or numeric" in info.value.diag.message_hint


def test_constraint_violation_is_atomic(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (v int8 CHECK (v < 1000) NOT NULL)").format(
        sql.Identifier(table)))
    frame = pd.DataFrame({"v": np.arange(5000, dtype=np.int64)})
    with pytest.raises(errors.CheckViolation):
        zcimport.copy_dataframe(frame, table, dsn, batch_rows=100)
    with pytest.raises(errors.NotNullViolation):
        zcimport.copy_dataframe(pd.DataFrame({"v": pd.array([1, None], dtype="Int64")}), table, dsn)
    assert count(autoconn, table) == 0


def test_unique_violation_mid_load_is_atomic(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (v int8 PRIMARY KEY)").format(sql.Identifier(table)))
    v = np.arange(50_000, dtype=np.int64)
    v[-1] = 5
    with pytest.raises(errors.UniqueViolation) as info:
        zcimport.copy_dataframe(pd.DataFrame({"v": v}), table, dsn, batch_rows=4096)
    assert "row 49999" in info.value.diag.context
    assert count(autoconn, table) == 0


def test_copy_fail_from_the_client_leaves_nothing(dsn, autoconn, table, dump_bytes):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, b int8)").format(sql.Identifier(table)))
    stream = dump_bytes(pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10)}), batch_rows=2)
    with psycopg.connect(dsn) as c:
        c.execute("SELECT zcimport.version()")
        # psycopg < 3.2 raises the server's QueryCanceled, later versions the
        # client's own exception (with the server's answer logged)
        with pytest.raises((errors.QueryCanceled, RuntimeError)) as info:
            with c.cursor().copy(sql.SQL("COPY {} FROM STDIN WITH (FORMAT zcimport)").format(
                    sql.Identifier(table))) as copy:
                copy.write(stream[:200])
                raise RuntimeError("the client gave up")
        if isinstance(info.value, errors.QueryCanceled):
            assert "COPY from stdin failed" in str(info.value)
        assert "the client gave up" in str(info.value)
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    assert count(autoconn, table) == 0


def test_client_disconnect_mid_stream_leaves_nothing(dsn, autoconn, table, tmp_path):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, b int8)").format(sql.Identifier(table)))
    frame = pd.DataFrame({"a": np.arange(200_000.0), "b": np.arange(200_000)})
    path = tmp_path / "frame.zci"
    zcimport.dump(frame, str(path), batch_rows=1000)
    half = path.stat().st_size // 2
    # A client that sends half of the stream (many batches, so rows are
    # already inserted on the server) and then dies without a word.
    script = textwrap.dedent(f"""
        import os, psycopg
        data = open({str(path)!r}, "rb").read()
        c = psycopg.connect({dsn!r})
        c.execute("SELECT zcimport.version()")
        with c.cursor().copy('COPY "{table}" FROM STDIN WITH (FORMAT zcimport)') as copy:
            copy.write(data[:{half}])
            c.pgconn.flush()
            print(c.info.backend_pid, flush=True)
            os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    pid = int(out.stdout.split()[0])
    for _ in range(100):
        if not autoconn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the backend of the dead client is still there")
    assert count(autoconn, table) == 0


def test_server_error_stops_the_client_early(dsn, autoconn, table, caplog):
    autoconn.execute(sql.SQL("CREATE TABLE {} (v int2)").format(sql.Identifier(table)))
    v = np.zeros(3_000_000, dtype=np.int64)
    v[0] = 99_999
    with caplog.at_level(logging.DEBUG, logger="zcimport"):
        with pytest.raises(errors.NumericValueOutOfRange):
            zcimport.copy_dataframe(pd.DataFrame({"v": v}), table, dsn, batch_rows=65_536)
    assert any("stop sending" in r.getMessage() for r in caplog.records)


def test_cancel_and_statement_timeout_abort_cleanly(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, b int8)").format(sql.Identifier(table)))
    frame = pd.DataFrame({"a": np.ones(20_000_000), "b": np.arange(20_000_000)})
    with psycopg.connect(dsn, autocommit=True) as c:
        pid = c.info.backend_pid
        timer = threading.Timer(0.5, lambda: autoconn.execute("SELECT pg_cancel_backend(%s)", [pid]))
        timer.start()
        try:
            with pytest.raises(errors.QueryCanceled) as info:
                zcimport.copy_dataframe(frame, table, c)
        finally:
            timer.cancel()
        assert "canceling statement due to user request" in str(info.value)
        assert info.value.diag.context.startswith(f"COPY {table}")
        c.execute("SET statement_timeout = '300ms'")
        with pytest.raises(errors.QueryCanceled) as info:
            zcimport.copy_dataframe(frame, table, c)
        assert "statement timeout" in str(info.value)
        assert c.execute("SELECT 1").fetchone() == (1,)  # the connection is usable
    assert count(autoconn, table) == 0


def test_malformed_stream_is_rejected(conn):
    conn.execute("CREATE TEMP TABLE t (a float8)")
    conn.execute("SELECT zcimport.version()")
    with pytest.raises(errors.BadCopyFileFormat) as info:
        with conn.cursor().copy("COPY t FROM STDIN WITH (FORMAT zcimport)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(40))
    assert "invalid zcimport stream" in str(info.value)
    assert "PostgreSQL binary COPY file" in info.value.diag.message_detail


def test_missing_extension_is_a_clear_error(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        name = f"e2e_noext_{uuid.uuid4().hex[:8]}"
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            other = psycopg.conninfo.make_conninfo(dsn, dbname=name)
            with pytest.raises(zcimport.ExtensionNotInstalledError) as info:
                zcimport.copy_dataframe(pd.DataFrame({"a": [1.0]}), "t", other)
            assert "CREATE EXTENSION zcimport" in str(info.value)
        finally:
            c.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


# ---------------------------------------------------------------------------
# privileges
# ---------------------------------------------------------------------------


@pytest.fixture
def role(autoconn: psycopg.Connection) -> Iterator[str]:
    """An unprivileged role, dropped afterwards."""
    name = f"e2e_role_{uuid.uuid4().hex[:8]}"
    autoconn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    autoconn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(name)))
    yield name
    autoconn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    autoconn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_insert_privilege_on_the_loaded_columns(dsn, autoconn, table, role):
    ident, r = sql.Identifier(table), sql.Identifier(role)
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, b int8 DEFAULT 1)").format(ident))
    frame_ab = pd.DataFrame({"a": [1.0], "b": [2]})
    frame_a = pd.DataFrame({"a": [3.0]})
    with psycopg.connect(dsn) as c:
        c.execute(sql.SQL("SET ROLE {}").format(r))
        with pytest.raises(errors.InsufficientPrivilege):
            zcimport.copy_dataframe(frame_a, table, c)
        c.rollback()
    autoconn.execute(sql.SQL("GRANT INSERT (a) ON {} TO {}").format(ident, r))
    with psycopg.connect(dsn) as c:
        c.execute(sql.SQL("SET ROLE {}").format(r))
        with pytest.raises(errors.InsufficientPrivilege):
            zcimport.copy_dataframe(frame_ab, table, c)
        c.rollback()
        c.execute(sql.SQL("SET ROLE {}").format(r))
        assert zcimport.copy_dataframe(frame_a, table, c) == 1
    assert autoconn.execute(sql.SQL("SELECT a, b FROM {}").format(ident)).fetchall() == [(3.0, 1)]


def test_row_level_security_is_refused(dsn, autoconn, table, role):
    ident, r = sql.Identifier(table), sql.Identifier(role)
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8)").format(ident))
    autoconn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident))
    autoconn.execute(sql.SQL("CREATE POLICY p ON {} USING (true)").format(ident))
    autoconn.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(ident, r))
    with psycopg.connect(dsn) as c:
        c.execute(sql.SQL("SET ROLE {}").format(r))
        with pytest.raises(errors.FeatureNotSupported) as info:
            zcimport.copy_dataframe(pd.DataFrame({"a": [1.0]}), table, c)
        assert "row-level security" in str(info.value)


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------


def test_progress_is_reported_in_pg_stat_progress_copy(dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (a float8, b int8)").format(sql.Identifier(table)))
    frame = pd.DataFrame({"a": np.ones(4_000_000), "b": np.arange(4_000_000)})
    seen: List[Any] = []
    with psycopg.connect(dsn) as loader:
        pid = loader.info.backend_pid
        worker = threading.Thread(
            target=zcimport.copy_dataframe, args=(frame, table, loader), kwargs={"batch_rows": 65_536})
        worker.start()
        while worker.is_alive():
            row = autoconn.execute(
                "SELECT relid::regclass::text, command, type, bytes_processed, tuples_processed"
                " FROM pg_stat_progress_copy WHERE pid = %s", [pid]).fetchone()
            if row:
                seen.append(row)
            time.sleep(0.005)
        worker.join()
        loader.commit()
    assert seen, "the load never showed up in pg_stat_progress_copy"
    assert {(r[0], r[1], r[2]) for r in seen} == {(table, "COPY FROM", "PIPE")}
    assert max(r[3] for r in seen) > 0
    tuples = [r[4] for r in seen]
    assert tuples == sorted(tuples) and tuples[-1] <= 4_000_000
    assert count(autoconn, table) == 4_000_000


# ---------------------------------------------------------------------------
# server memory stays bounded
# ---------------------------------------------------------------------------


def test_server_memory_does_not_grow_with_the_load(conn):
    pid = conn.info.backend_pid
    if not os.path.exists(f"/proc/{pid}/status"):
        pytest.skip("the server is not on this machine")
    conn.execute("CREATE TEMP TABLE t (a float8, b int8)")
    # a first load allocates what every load needs (temp buffers, caches)
    zcimport.copy_dataframe(pd.DataFrame({"a": np.ones(200_000), "b": np.arange(200_000)}),
                            "t", conn, batch_rows=65_536)
    rows = 6_000_000
    frame = pd.DataFrame({"a": np.ones(rows), "b": np.arange(rows)})
    base = proc_status("RssAnon", pid) // 1024
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc_status("RssAnon", pid) // 1024)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        zcimport.copy_dataframe(frame, "t", conn, batch_rows=65_536)
    finally:
        done.set()
        sampler.join()
    growth_mb = (peak[0] - base) / 1024
    frame_mb = frame.memory_usage(index=False).sum() / 2**20
    # one batch is 1 MB; a per-row leak of even 8 bytes would be 46 MB
    assert growth_mb < 8, f"server private memory grew {growth_mb:.0f} MB for a {frame_mb:.0f} MB frame"


# ---------------------------------------------------------------------------
# differential: zcimport against psycopg's own COPY
# ---------------------------------------------------------------------------


def load_both_ways(conn: psycopg.Connection, frame: pd.DataFrame, ddl: str,
                   nan_as_null: bool = True, batch_rows: Any = None) -> None:
    """Load frame into twin tables zc and oracle; assert they are equal."""
    conn.execute(f"CREATE TEMP TABLE zc ({ddl})")
    conn.execute(f"CREATE TEMP TABLE oracle ({ddl})")
    n = zcimport.copy_dataframe(frame, "zc", conn, nan_as_null=nan_as_null, batch_rows=batch_rows)
    assert n == len(frame)
    copy_rows(conn, "oracle", frame, nan_as_null=nan_as_null)
    assert_same_table(conn, "zc", "oracle")
    assert count(conn, "zc") == len(frame)


def test_differential_mixed_frame(conn):
    rng = np.random.default_rng(3)
    n = 2000
    naive = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(
        rng.integers(-10**15, 10**15, n) // 1000 * 1000, unit="ns"))
    naive[rng.random(n) < 0.1] = pd.NaT
    frame = pd.DataFrame({
        "i8": rng.integers(-128, 127, n).astype(np.int8),
        "i64": rng.integers(-(2**62), 2**62, n),
        "u32": rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
        "f32": rng.normal(size=n).astype(np.float32),
        "f64": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n) * 1e10),
        "flag": rng.random(n) < 0.5,
        "ni": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(-999, 999, n)), dtype="Int32"),
        "nb": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype="boolean"),
        "ts": naive,
        "tstz": naive.dt.tz_localize("Europe/Berlin", ambiguous="NaT", nonexistent="NaT"),
    })
    load_both_ways(conn, frame, "i8 int2, i64 int8, u32 int8, f32 float4, f64 float8, flag bool, "
                   "ni int4, nb bool, ts timestamp, tstz timestamptz", batch_rows=333)


def test_differential_widening_targets(conn):
    rng = np.random.default_rng(4)
    n = 500
    frame = pd.DataFrame({
        "a": rng.integers(-(2**31), 2**31 - 1, n).astype(np.int32),
        "b": rng.integers(0, 2**16, n).astype(np.uint16),
        "c": rng.normal(size=n).astype(np.float32),
        "d": rng.integers(-(2**53), 2**53, n),
    })
    load_both_ways(conn, frame, "a numeric, b int8, c float8, d numeric")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_differential_random_frames(conn, data):
    n = data.draw(st.integers(0, 60), label="rows")
    ints = data.draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
    floats = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
    small = data.draw(st.lists(st.one_of(st.none(), st.integers(-(2**15), 2**15 - 1)),
                               min_size=n, max_size=n))
    flags = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    micros = data.draw(st.lists(st.one_of(st.none(), st.integers(-(2**52), 2**52)),
                                min_size=n, max_size=n))
    nan_as_null = data.draw(st.booleans(), label="nan_as_null")
    batch_rows = data.draw(st.sampled_from([None, 1, 7, 64]), label="batch_rows")
    frame = pd.DataFrame({
        "i": np.array(ints, dtype=np.int64),
        "f": np.array(floats, dtype=np.float64),
        "s": pd.array(small, dtype="Int16"),
        "b": np.array(flags, dtype=bool),
        "t": pd.to_datetime([None if m is None else m * 1000 for m in micros], unit="ns"),
    })
    conn.execute("DROP TABLE IF EXISTS zc, oracle")
    load_both_ways(conn, frame, "i int8, f float8, s int2, b bool, t timestamp",
                   nan_as_null=nan_as_null, batch_rows=batch_rows)
