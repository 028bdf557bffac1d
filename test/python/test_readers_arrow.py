"""The command line's CSV readers (pandas and pyarrow) and its Parquet and
Feather readers, run for real: ``python3 -m zcimport load`` in a
subprocess against the private cluster (ZC_TEST_DSN), values read back and
compared exactly.

CSV tests run with both engines (``--csv-engine pandas`` and ``pyarrow``;
the pyarrow ones skip, visibly, without pyarrow): text columns stay text in
every chunk ("01" is not 1), ISO 8601 dates and timestamps are detected
(``--no-parse-dates`` keeps them text), NULLs follow COPY's CSV rules, and
a value that does not fit the first chunk's types stops the load with exit
code 6 and a message naming the column and the row.  Parquet and Feather
files with every common Arrow type are loaded and read back (they skip
without pyarrow).
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
from pathlib import Path
from typing import List

import pytest

from test_cli import (assert_error, assert_ok, cli_env, count, exists, hide_packages, rows_of,
                      run, types_of)

HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None
needs_pyarrow = pytest.mark.skipif(not HAVE_PYARROW, reason="pyarrow is not installed")

ENGINES = ["pandas", pytest.param("pyarrow", marks=needs_pyarrow)]

UTC = dt.timezone.utc


# ---------------------------------------------------------------------------
# CSV, both engines
# ---------------------------------------------------------------------------


def zip_codes_csv(path: Path, n: int = 3000) -> List[tuple]:
    """First rows "01" and "a"; every later row "01"/"02"... only (which
    alone would be read as integers)."""
    lines = ["id,code,other"]
    want = []
    for i in range(n):
        code = "a" if i == 1 else f"{i % 7:02d}"
        other = "" if i % 5 == 0 else "b" if i == 2 else f"0{i % 3}"
        lines.append(f"{i},{code},{other}")
        want.append((i, code, other or None))
    path.write_text("\n".join(lines) + "\n")
    return want


@pytest.mark.parametrize("engine", ENGINES)
def test_text_stays_text_in_later_chunks(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "codes.csv"
    want = zip_codes_csv(path)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100",
            "--csv-engine", engine)
    assert_ok(r, rows=3000)
    assert types_of(autoconn, table) == [("id", "bigint"), ("code", "text"), ("other", "text")]
    assert rows_of(autoconn, table) == want


@pytest.mark.parametrize("engine", ENGINES)
def test_text_stays_text_with_the_default_chunks(tmp_path, dsn, autoconn, table, engine):
    # "01" first, "a" only in the last rows of a large first chunk
    path = tmp_path / "late.csv"
    lines = ["k"] + ["01"] * 50 + ["a"]
    path.write_text("\n".join(lines) + "\n")
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--csv-engine", engine),
              rows=51)
    assert rows_of(autoconn, table) == [("01",)] * 50 + [("a",)]


def dates_csv(path: Path, n: int = 2000) -> List[tuple]:
    lines = ["id,d,ts,tz,t,notdate"]
    want = []
    for i in range(n):
        d = None if i % 11 == 3 else dt.date(2020, 1, 1) + dt.timedelta(days=i)
        ts = None if i % 13 == 4 else dt.datetime(2021, 3, 28, 1, 30) + dt.timedelta(
            seconds=37 * i, microseconds=i * 1001 if i % 2 else 0)
        tz = None if i % 17 == 5 else dt.datetime(2022, 10, 30, 0, 59, tzinfo=UTC) + \
            dt.timedelta(minutes=7 * i)
        tz_text = None if tz is None else (
            tz.strftime("%Y-%m-%dT%H:%M:%SZ") if i % 3 == 0 else
            tz.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat())
        t = f"{i % 24:02d}:{i % 60:02d}:00"
        notdate = "2021-02-30" if i == 7 else "2021-02-01"
        lines.append(",".join([
            str(i), "" if d is None else d.isoformat(),
            "" if ts is None else ts.isoformat(" ", "microseconds" if i % 2 else "seconds"),
            tz_text or "", t, notdate]))
        want.append((i, d, ts, tz, t, notdate))
    path.write_text("\n".join(lines) + "\n")
    return want


@pytest.mark.parametrize("engine", ENGINES)
def test_iso_dates_and_timestamps_are_detected(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "dates.csv"
    want = dates_csv(path)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "300",
            "--csv-engine", engine)
    assert_ok(r, rows=len(want))
    assert types_of(autoconn, table) == [
        ("id", "bigint"), ("d", "date"), ("ts", "timestamp without time zone"),
        ("tz", "timestamp with time zone"), ("t", "text"), ("notdate", "text")]
    autoconn.execute("SET TIME ZONE 'UTC'")
    assert rows_of(autoconn, table) == want


@pytest.mark.parametrize("engine", ENGINES)
def test_no_parse_dates_keeps_them_text(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "dates.csv"
    dates_csv(path, 50)
    lines = path.read_text().splitlines()
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--no-parse-dates",
            "--csv-engine", engine)
    assert_ok(r, rows=50)
    assert [t for _, t in types_of(autoconn, table)] == ["bigint"] + ["text"] * 5
    got = rows_of(autoconn, table)
    for line, row in zip(lines[1:], got):
        assert tuple("" if v is None else str(v) for v in row) == tuple(line.split(","))
    # --parse-dates still parses the columns it names
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
            "--no-parse-dates", "--parse-dates", "ts", "--csv-engine", engine)
    assert_ok(r, rows=50)
    assert [t for _, t in types_of(autoconn, table)] == [
        "bigint", "text", "timestamp without time zone", "text", "text", "text"]


@pytest.mark.parametrize("engine", ENGINES)
def test_nulls_as_copy_csv(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "n.csv"
    path.write_text('id,s,n\n1,,\n2,"",5\n3,x,NA\n4,NA,\n5,"NA",7\n')
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--csv-engine", engine),
              rows=5)
    got = rows_of(autoconn, table)
    assert [r[2] for r in got] == [None, 5, None, None, 7]
    if engine == "pyarrow":
        # a quoted field is never NULL: "" is an empty string, "NA" the text NA
        assert [r[1] for r in got] == [None, "", "x", None, "NA"]
    else:
        # pandas cannot tell a quoted field from an unquoted one
        assert [r[1] for r in got] == [None, None, "x", None, None]
    # --null: only that string (unquoted) is NULL; an empty field is an empty string
    path.write_text('a,b\n\\N,\n"",x\nNA,\\N\n"\\N",y\n')
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                  "--null", "\\N", "--csv-engine", engine), rows=4)
    want = [(None, ""), ("", "x"), ("NA", None)]
    want.append(("\\N", "y") if engine == "pyarrow" else (None, "y"))
    assert sorted(rows_of(autoconn, table, "2"), key=repr) == sorted(want, key=repr)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_later_chunk_that_does_not_fit_names_the_column_and_row(tmp_path, dsn, autoconn,
                                                                  table, engine):
    path = tmp_path / "bad.csv"
    lines = ["a,b"] + [f"{i},x{i}" for i in range(2500)] + ["oops,y"] + \
        [f"{i},z" for i in range(100)]
    path.write_text("\n".join(lines) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100",
            "--csv-engine", engine)
    line = assert_error(r, 6, "'a'", "oops", "--chunk-rows")
    assert ("row 2,501" in line) if engine == "pyarrow" else ("rows 2,501 to 2,600" in line), line
    assert not exists(autoconn, table)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_later_chunk_with_a_bad_date(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "d.csv"
    lines = ["id,d"] + [f"{i},2021-01-{i % 28 + 1:02d}" for i in range(2500)] + \
        ["2500,not a date", "2501,2021-01-01"]
    path.write_text("\n".join(lines) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100",
            "--csv-engine", engine)
    assert_error(r, 6, "column 'd'", "row 2,501", "'not a date'", "--no-parse-dates")
    assert not exists(autoconn, table)
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100",
                  "--csv-engine", engine, "--no-parse-dates"), rows=2502)
    assert types_of(autoconn, table)[1] == ("d", "text")


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_first_chunk_takes_the_target_columns_type(tmp_path, dsn, autoconn, table, engine):
    autoconn.execute(f'CREATE TABLE "{table}" (id int8, i int4, g float8, h bool, t text)')
    lines = ["id,i,g,h,t"]
    for k in range(3000):
        late = k >= 2000 and k % 2 == 0
        lines.append(f"{k},{k if late else ''},{k / 4 if late else ''},"
                     f"{'true' if late else ''},{'t%d' % k if late else ''}")
    path = tmp_path / "sparse.csv"
    path.write_text("\n".join(lines) + "\n")
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--chunk-rows", "100",
                  "--csv-engine", engine), rows=3000)
    for k, row in enumerate(rows_of(autoconn, table)):
        late = k >= 2000 and k % 2 == 0
        assert row == ((k, k, k / 4, True, f"t{k}") if late else (k, None, None, None, None))


@pytest.mark.parametrize("engine", ENGINES)
def test_options_and_compression(tmp_path, dsn, autoconn, table, engine):
    import gzip
    import lzma

    text = "# exported\nname;n;when\ncaf\xe9;1;2021-01-01\nna\xefve;2;\n"
    for name, opener in (("l.csv.gz", gzip.open), ("l.csv.xz", lzma.open), ("l.csv", open)):
        path = tmp_path / name
        with opener(path, "wb") as fh:
            fh.write(text.encode("latin-1"))
        r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                "--skip-rows", "1", "--encoding", "latin-1", "--sep", ";", "--columns",
                "n,name=who,when", "--csv-engine", engine)
        assert_ok(r, rows=2)
        assert types_of(autoconn, table) == [("n", "bigint"), ("who", "text"), ("when", "date")]
        assert rows_of(autoconn, table) == [(1, "café", dt.date(2021, 1, 1)), (2, "naïve", None)]


@pytest.mark.parametrize("engine", ENGINES)
def test_big_integers_stay_exact(tmp_path, dsn, autoconn, table, engine):
    path = tmp_path / "big.csv"
    vals = [2**63 + 5, 2**64 - 1, None, 7]
    path.write_text("k,v\n" + "\n".join(f"{k}," + ("" if v is None else str(v))
                                        for k, v in enumerate(vals)) + "\n")
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--csv-engine", engine),
              rows=4)
    assert [r[1] for r in rows_of(autoconn, table)] == vals


@needs_pyarrow
def test_pyarrow_engine_refuses_what_it_cannot_read(tmp_path, dsn, autoconn, table):
    path = tmp_path / "s.csv"
    path.write_text("a::b\n1::x\n2::y\n")
    assert_error(run("load", path, "-t", table, "--dsn", dsn, "--create", "--sep", "::",
                     "--csv-engine", "pyarrow"), 2, "--csv-engine pyarrow", "--sep '::'",
                 "--csv-engine pandas")
    # auto: pandas reads it
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--sep", "::"), rows=2)
    assert rows_of(autoconn, table) == [(1, "x"), (2, "y")]
    # --parse-dates of a column that is not ISO 8601: pandas parses it
    dpath = tmp_path / "us.csv"
    dpath.write_text("d\n01/02/2021\n12/31/2020\n")
    assert_error(run("load", dpath, "-t", table, "--dsn", dsn, "--parse-dates", "d",
                     "--csv-engine", "pyarrow"), 2, "column 'd'", "ISO 8601",
                 "--csv-engine pandas")
    assert_ok(run("load", dpath, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                  "--parse-dates", "d"), rows=2)
    assert rows_of(autoconn, table) == [(dt.datetime(2020, 12, 31),), (dt.datetime(2021, 1, 2),)]


def test_csv_engine_pyarrow_without_pyarrow(tmp_path, dsn, autoconn, table):
    path = tmp_path / "c.csv"
    zip_codes_csv(path, 300)
    env = cli_env(hide_packages(tmp_path, "pyarrow")) if HAVE_PYARROW else cli_env()
    r = run("load", path, "-t", table, "--dsn", dsn, "--csv-engine", "pyarrow", env=env)
    assert_error(r, 7, "needs pyarrow", "pip install pyarrow")
    # auto reads with pandas
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "50",
                  env=env), rows=300)
    assert count(autoconn, table) == 300
    assert rows_of(autoconn, table)[3] == (3, "03", "00")


def test_csv_engine_is_for_csv_only(tmp_path, dsn):
    import numpy as np

    path = tmp_path / "a.npy"
    np.save(path, np.arange(3))
    assert_error(run("load", path, "-t", "t", "--dsn", dsn, "--csv-engine", "pandas"), 2,
                 "--csv-engine does not apply to npy")
    assert_error(run("load", path, "-t", "t", "--dsn", dsn, "--no-parse-dates"), 2,
                 "--no-parse-dates does not apply to npy")


@pytest.mark.parametrize("engine", ENGINES)
def test_plan_names_the_engine_and_the_dates(tmp_path, engine):
    path = tmp_path / "dates.csv"
    dates_csv(path, 20)
    r = run("plan", path, "--csv-engine", engine, "-t", "x")
    assert r.returncode == 0, r.stderr
    assert ("pyarrow's CSV reader" in r.stdout) == (engine == "pyarrow"), r.stdout
    assert "column 'd' holds ISO 8601 dates" in r.stdout
    assert "column 'tz' holds ISO 8601 timestamps with a time zone" in r.stdout


# ---------------------------------------------------------------------------
# Parquet and Feather
# ---------------------------------------------------------------------------


def arrow_table(n: int = 1000):
    import pyarrow as pa

    def nul(k: int, v):
        return None if k % 7 == 3 else v

    return pa.table({
        "i8": pa.array([nul(k, k % 100 - 50) for k in range(n)], pa.int8()),
        "i32": pa.array([k * 1000 for k in range(n)], pa.int32()),
        "i64": pa.array([nul(k, k * 2**40) for k in range(n)], pa.int64()),
        "u16": pa.array([k % 65536 for k in range(n)], pa.uint16()),
        "f32": pa.array([k / 4 for k in range(n)], pa.float32()),
        "f64": pa.array([nul(k, k / 3) for k in range(n)], pa.float64()),
        "s": pa.array([nul(k, f"s{k} é") for k in range(n)], pa.string()),
        "ls": pa.array([f"{k:05d}" for k in range(n)], pa.large_string()),
        "b": pa.array([nul(k, k % 2 == 0) for k in range(n)], pa.bool_()),
        "ts": pa.array([nul(k, dt.datetime(2021, 1, 1) + dt.timedelta(seconds=k, microseconds=k))
                        for k in range(n)], pa.timestamp("us")),
        "tstz": pa.array([dt.datetime(2021, 3, 28, tzinfo=UTC) + dt.timedelta(minutes=k)
                          for k in range(n)], pa.timestamp("ms", "Europe/Berlin")),
        "d": pa.array([nul(k, dt.date(1999, 12, 31) + dt.timedelta(days=k)) for k in range(n)],
                      pa.date32()),
        "dec": pa.array([nul(k, decimal.Decimal(k) / 100) for k in range(n)],
                        pa.decimal128(12, 2)),
        "cat": pa.array([nul(k, ["red", "green", "blue"][k % 3]) for k in range(n)],
                        pa.string()).dictionary_encode(),
        "bin": pa.array([nul(k, bytes([k % 256, 0, 255])) for k in range(n)], pa.binary()),
    })


ARROW_TYPES = [
    ("i8", "smallint"), ("i32", "integer"), ("i64", "bigint"), ("u16", "integer"),
    ("f32", "real"), ("f64", "double precision"), ("s", "text"), ("ls", "text"),
    ("b", "boolean"), ("ts", "timestamp without time zone"), ("tstz", "timestamp with time zone"),
    ("d", "date"), ("dec", "numeric"), ("cat", "text"), ("bin", "bytea")]


def expected_rows(t) -> List[tuple]:
    cols = t.to_pydict()
    out = []
    for k in range(t.num_rows):
        row = []
        for name, _ in ARROW_TYPES:
            v = cols[name][k]
            if name == "tstz":
                v = v.astimezone(UTC)
            elif name == "f32" and v is not None:
                v = float(v)
            row.append(v)
        out.append(tuple(row))
    return out


def check_loaded(autoconn, table, t) -> None:
    types = dict(types_of(autoconn, table))
    for name, typ in ARROW_TYPES:
        if name == "dec":
            assert types[name].startswith("numeric"), types[name]
        elif name == "u16":
            assert types[name] in ("integer", "bigint"), types[name]
        else:
            assert types[name] == typ, (name, types[name])
    autoconn.execute("SET TIME ZONE 'UTC'")
    names = ", ".join(f'"{n}"' for n, _ in ARROW_TYPES)
    got = autoconn.execute(f'SELECT {names} FROM "{table}" ORDER BY i32').fetchall()
    got = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got]
    assert got == expected_rows(t)


@needs_pyarrow
@pytest.mark.parametrize("ext", ["parquet", "pq"])
def test_parquet_every_common_type(tmp_path, dsn, autoconn, table, ext):
    import pyarrow.parquet as pq

    t = arrow_table()
    path = tmp_path / f"x.{ext}"
    pq.write_table(t, path, row_group_size=300)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "128")
    assert_ok(r, rows=t.num_rows)
    check_loaded(autoconn, table, t)
    # again into the table as it is, with a subset of the columns
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "truncate",
            "--columns", "i32,s,cat")
    assert_ok(r, rows=t.num_rows)
    got = autoconn.execute(f'SELECT count(*), count(s), count(i64) FROM "{table}"').fetchone()
    assert got == (t.num_rows, t.num_rows - t.column("s").null_count, 0)


@needs_pyarrow
@pytest.mark.filterwarnings("ignore:Feather V1")
@pytest.mark.parametrize("ext,version", [("feather", 2), ("arrow", 2), ("feather", 1)])
def test_feather_every_common_type(tmp_path, dsn, autoconn, table, ext, version):
    import pyarrow.feather as feather

    t = arrow_table(700)
    path = tmp_path / f"x.{ext}"
    if version == 1:
        # Feather V1 has no decimals, dictionaries of strings are fine through pandas
        t = t.drop_columns(["dec"]) if hasattr(t, "drop_columns") else t.drop(["dec"])
        feather.write_feather(t, path, version=1)
    else:
        feather.write_feather(t, path, chunksize=250, compression="uncompressed")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create")
    assert_ok(r, rows=t.num_rows)
    if version == 1:
        assert count(autoconn, table) == t.num_rows
        got = autoconn.execute(f'SELECT s, d, cat, bin FROM "{table}" ORDER BY i32').fetchall()
        cols = t.to_pydict()
        assert [r[0] for r in got] == cols["s"]
        assert [r[1] for r in got] == cols["d"]
        assert [r[2] for r in got] == cols["cat"]
        assert [None if r[3] is None else bytes(r[3]) for r in got] == cols["bin"]
        return
    check_loaded(autoconn, table, t)


@needs_pyarrow
def test_parquet_empty_and_malformed(tmp_path, dsn, autoconn, table):
    import pyarrow.parquet as pq

    t = arrow_table(10).slice(0, 0)
    path = tmp_path / "empty.parquet"
    pq.write_table(t, path)
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create"), rows=0)
    assert count(autoconn, table) == 0
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really a parquet file")
    assert_error(run("load", bad, "-t", table, "--dsn", dsn), 3, "bad.parquet")
    bad = tmp_path / "bad.feather"
    bad.write_bytes(b"ARROW1 not really")
    assert_error(run("load", bad, "-t", table, "--dsn", dsn), 3, "bad.feather")


@needs_pyarrow
def test_parquet_value_that_does_not_fit_the_table(tmp_path, dsn, autoconn, table):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({"v": pa.array([1, 2, 40000], pa.int32())}), path)
    autoconn.execute(f'CREATE TABLE "{table}" (v int2)')
    assert_error(run("load", path, "-t", table, "--dsn", dsn), 6,
                 "value 40000 is out of range for type smallint", "row 2, column v", "22003")
    assert count(autoconn, table) == 0
