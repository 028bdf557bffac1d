"""The command line, run for real: ``python3 -m zcimport`` in a subprocess.

Against the private cluster (ZC_TEST_DSN): every input format, ``--create``
with each ``--if-exists``, a chunked CSV larger than the chunk size whose
dtypes drift between chunks, a memory bound on a large chunked load, and
every error path with its exit code and its one line on stderr (never a
traceback).  Rows are read back and compared exactly.

Tests of the chunks of a CSV file as pandas reads them pass --csv-engine
pandas (pyarrow's reader reads blocks, and is tested in
test_readers_arrow.py, with Parquet and Feather).  Parquet and Feather's
"missing package" path is tested here with pyarrow hidden from the
subprocess.  HDF5 is tested for real when PyTables is installed, and its
missing-package path with PyTables hidden.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

import zci_reference as ref
import zcimport

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
HAVE_TABLES = importlib.util.find_spec("tables") is not None
HAVE_PYARROW = importlib.util.find_spec("pyarrow") is not None

SUMMARY = re.compile(r"^loaded [\d,]+ rows? into .+ in [\d.]+ s \([\d.]+ [kMG ]*rows/s,"
                     r" [\d.,]+ MB\)$")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def cli_env(extra_path: Optional[str] = None, **env: str) -> Dict[str, str]:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("PG") and k != "ZCIMPORT_DSN"}
    e["PYTHONPATH"] = str(PYTHON_DIR) if extra_path is None else f"{extra_path}:{PYTHON_DIR}"
    e.update(env)
    return e


def run(*args: Any, env: Optional[Dict[str, str]] = None, timeout: float = 300,
        cwd: Optional[str] = None, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """python3 -m zcimport ARGS; stdout and stderr as text."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "zcimport", *[str(a) for a in args]],
        capture_output=True, text=True, env=env if env is not None else cli_env(),
        timeout=timeout, cwd=cwd)


def assert_ok(r: subprocess.CompletedProcess, rows: Optional[int] = None) -> None:
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stderr == "", r.stderr
    if rows is not None:
        lines = r.stdout.splitlines()
        assert len(lines) == 1 and SUMMARY.match(lines[0]), r.stdout
        assert lines[0].startswith(f"loaded {rows:,} row"), r.stdout


def assert_error(r: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """Exit code, exactly one line on stderr, no traceback; returns the line."""
    assert r.returncode == code, (r.returncode, r.stderr, r.stdout)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("zcimport: error: "), line
    for f in fragments:
        assert f in line, (f, line)
    assert r.stdout == "", r.stdout
    return line


def rows_of(conn: psycopg.Connection, table: str, order: str = "1") -> List[tuple]:
    return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY " + order).format(
        sql.Identifier(table))).fetchall()


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(table))).fetchone()[0]


def exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]


def types_of(conn: psycopg.Connection, table: str) -> List[tuple]:
    return conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid ="
        " %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", [table]).fetchall()


def hide_packages(tmp_path: Path, *names: str) -> str:
    """A directory that, first on PYTHONPATH, makes these imports fail."""
    d = tmp_path / "hide"
    d.mkdir(exist_ok=True)
    for name in names:
        (d / f"{name}.py").write_text(f"raise ImportError('{name} is hidden by the test')\n")
    return str(d)


# A small frame with the kinds of columns the text formats carry.
def small_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": np.arange(6, dtype=np.int64),
        "name": ["a", "b", None, "d é", 'q"uote', "f,comma"],
        "x": [0.5, np.nan, 2.25, -1.0, 1e10, 3.0],
        "flag": [True, False, True, True, False, False],
        "ts": pd.to_datetime([dt.datetime(2021, 1, 1), dt.datetime(2021, 6, 30, 12, 34, 56),
                              dt.datetime(1999, 12, 31), dt.datetime(2021, 1, 2),
                              dt.datetime(2030, 1, 1, 0, 0, 1), dt.datetime(2000, 2, 29)]),
    })


def small_rows() -> List[tuple]:
    f = small_frame()
    out = []
    for r in f.itertuples(index=False):
        out.append((int(r.id), None if pd.isna(r.name) else r.name,
                    None if np.isnan(r.x) else float(r.x), bool(r.flag),
                    r.ts.to_pydatetime()))
    return out


SMALL_TYPES = [("id", "bigint"), ("name", "text"), ("x", "double precision"),
               ("flag", "boolean"), ("ts", "timestamp without time zone")]


# ---------------------------------------------------------------------------
# help and usage
# ---------------------------------------------------------------------------


def test_help_documents_the_exit_codes():
    r = run("--help")
    assert r.returncode == 0
    assert "exit codes:" in r.stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "130 "):
        assert re.search(rf"^  {code}", r.stdout, re.M), code
    for cmd in ("load", "plan", "dump"):
        r = run(cmd, "--help")
        assert r.returncode == 0 and "exit codes:" in r.stdout
    r = run("load", "--help")
    for opt in ("--table", "--dsn", "--create", "--if-exists", "--columns", "--batch-rows",
                "--chunk-rows", "--quiet", "--nan-as-null", "--keep-nan", "--freeze",
                "--format", "--sep", "--parse-dates", "--null", "--encoding", "--skip-rows",
                "--hdf-key", "--debug", "--csv-engine", "--no-parse-dates"):
        assert opt in r.stdout, opt


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"zcimport {zcimport.__version__} (object column packers: {zcimport.IMPL})"
    assert zcimport.IMPL in ("c", "python")


@pytest.mark.parametrize("args,fragment", [
    ((), "COMMAND"),
    (("load", "x.csv"), "--table"),
    (("load", "x.csv", "-t", "t", "--if-exists", "nope"), "invalid choice"),
    (("frobnicate",), "invalid choice"),
    (("load", "x.csv", "-t", "t", "--chunk-rows", "0"), "at least 1"),
    (("load", "x.csv", "-t", "t", "--batch-rows", "many"), "not a whole number"),
    (("load", "x.csv", "-t", "t", "--keep-nan", "--nan-as-null"), "not allowed with"),
])
def test_usage_errors(args, fragment):
    assert_error(run(*args), 2, fragment)


def test_console_script_entry_point_is_main(capsys):
    from zcimport import cli

    with pytest.raises(SystemExit) as ei:  # argparse's --version
        cli.main(["--version"])
    assert ei.value.code == 0
    assert cli.main(["plan", "/nonexistent/x.csv"]) == cli.EXIT_INPUT
    assert capsys.readouterr().err == "zcimport: error: /nonexistent/x.csv: no such file\n"


# ---------------------------------------------------------------------------
# every input format
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "tsv", "semicolon", "csv.gz", "txt-with-format"])
def test_csv_like(tmp_path, dsn, autoconn, table, kind):
    f = small_frame()
    if kind == "csv":
        path, extra = tmp_path / "in.csv", []
        f.to_csv(path, index=False)
    elif kind == "tsv":
        path, extra = tmp_path / "in.tsv", []
        f.to_csv(path, index=False, sep="\t")
    elif kind == "semicolon":
        path, extra = tmp_path / "in.csv", ["--sep", ";"]
        f.to_csv(path, index=False, sep=";")
    elif kind == "csv.gz":
        path, extra = tmp_path / "in.csv.gz", []
        f.to_csv(path, index=False)
    else:
        path, extra = tmp_path / "in.txt", ["--format", "csv"]
        f.to_csv(path, index=False)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--parse-dates", "ts", *extra)
    assert_ok(r, rows=6)
    assert types_of(autoconn, table) == SMALL_TYPES
    assert rows_of(autoconn, table) == small_rows()


def test_json_lines(tmp_path, dsn, autoconn, table):
    path = tmp_path / "in.jsonl"
    small_frame().to_json(path, orient="records", lines=True, date_format="iso")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--parse-dates", "ts")
    assert_ok(r, rows=6)
    assert types_of(autoconn, table) == SMALL_TYPES
    assert rows_of(autoconn, table) == small_rows()


def test_json_lines_in_chunks_with_missing_and_nested_values(tmp_path, dsn, autoconn, table):
    path = tmp_path / "in.ndjson"
    with open(path, "w") as fh:
        for i in range(250):
            obj: Dict[str, Any] = {"id": i, "tags": {"k": i}}
            if i < 100 or i % 7:  # 'n' is missing from some objects after the first chunk
                obj["n"] = i * 10
            if i >= 150:
                obj["s"] = None
            else:
                obj["s"] = f"s{i}"
            fh.write(json.dumps(obj) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100")
    assert_ok(r, rows=250)
    assert types_of(autoconn, table) == [("id", "bigint"), ("tags", "jsonb"), ("n", "bigint"),
                                         ("s", "text")]
    got = rows_of(autoconn, table)
    assert got == [(i, {"k": i}, i * 10 if (i < 100 or i % 7) else None,
                    f"s{i}" if i < 150 else None) for i in range(250)]


def test_json_lines_with_a_key_the_first_chunk_lacks(tmp_path, dsn, autoconn, table):
    path = tmp_path / "in.jsonl"
    with open(path, "w") as fh:
        for i in range(20):
            fh.write(json.dumps({"a": i, **({"late": 1} if i == 15 else {})}) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "10")
    assert_error(r, 6, "row 16", "'late'", "--chunk-rows")
    assert not exists(autoconn, table)


def test_pickle_frame_and_series(tmp_path, dsn, autoconn, table):
    f = small_frame()
    f["cat"] = pd.Categorical(["x", "y", "x", None, "y", "x"])
    f["dec"] = [__import__("decimal").Decimal(k) / 4 for k in range(6)]
    path = tmp_path / "in.pkl"
    f.to_pickle(path)
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create"), rows=6)
    assert types_of(autoconn, table) == SMALL_TYPES + [("cat", "text"), ("dec", "numeric")]
    got = rows_of(autoconn, table)
    assert [r[:5] for r in got] == small_rows()
    assert [r[5] for r in got] == ["x", "y", "x", None, "y", "x"]
    assert [float(r[6]) for r in got] == [k / 4 for k in range(6)]

    spath = tmp_path / "s.pickle"
    pd.Series([1.5, 2.5], name="price").to_pickle(spath)
    assert_ok(run("load", spath, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace"),
              rows=2)
    assert rows_of(autoconn, table) == [(1.5,), (2.5,)]
    assert types_of(autoconn, table) == [("price", "double precision")]


def test_npy_one_two_dimensional_and_structured(tmp_path, dsn, autoconn, table):
    one = tmp_path / "one.npy"
    np.save(one, np.array([3, 1, 2], dtype=np.int32))
    assert_ok(run("load", one, "-t", table, "--dsn", dsn, "--create"), rows=3)
    assert types_of(autoconn, table) == [("value", "integer")]
    assert rows_of(autoconn, table) == [(1,), (2,), (3,)]

    two = tmp_path / "two.npy"
    np.save(two, np.arange(12, dtype=np.float32).reshape(4, 3))
    assert_ok(run("load", two, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                  "--chunk-rows", "3"), rows=4)
    assert types_of(autoconn, table) == [("c0", "real"), ("c1", "real"), ("c2", "real")]
    assert rows_of(autoconn, table) == [(float(3 * i), float(3 * i + 1), float(3 * i + 2))
                                        for i in range(4)]

    rec = np.zeros(1000, dtype=[("a", "<i8"), ("b", ">f8"), ("when", "M8[us]"), ("s", "U4")])
    rec["a"] = np.arange(1000)
    rec["b"] = np.arange(1000) / 8
    rec["when"] = np.datetime64("2020-01-01") + np.arange(1000).astype("m8[D]")
    rec["s"] = [f"s{i % 100}" for i in range(1000)]
    rpath = tmp_path / "rec.npy"
    np.save(rpath, rec)
    assert_ok(run("load", rpath, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                  "--chunk-rows", "300"), rows=1000)
    got = rows_of(autoconn, table)
    assert got == [(i, i / 8, dt.datetime(2020, 1, 1) + dt.timedelta(days=i), f"s{i % 100}")
                   for i in range(1000)]


def test_pickle_with_integer_labels(tmp_path, dsn, autoconn, table):
    path = tmp_path / "labels.pkl"
    pd.DataFrame({0: [1, 2], 1: ["a", "b"]}).to_pickle(path)
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--columns", "1=name,0"),
              rows=2)
    assert types_of(autoconn, table) == [("name", "text"), ("0", "bigint")]
    assert rows_of(autoconn, table) == [("a", 1), ("b", 2)]


def test_npz(tmp_path, dsn, autoconn, table):
    path = tmp_path / "in.npz"
    np.savez_compressed(path, k=np.arange(4, dtype=np.int16), v=np.array([0.5, 1, 2, 4]),
                        name=np.array(["w", "x", "y", "z"]))
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create"), rows=4)
    assert types_of(autoconn, table) == [("k", "smallint"), ("v", "double precision"),
                                         ("name", "text")]
    assert rows_of(autoconn, table) == [(0, 0.5, "w"), (1, 1.0, "x"), (2, 2.0, "y"), (3, 4.0, "z")]


def test_zci_as_it_is(tmp_path, dsn, autoconn, table):
    df = small_frame()
    path = tmp_path / "in.zci"
    zcimport.dump(df, path, batch_rows=2)
    # --create: the table from the stream's header
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create"), rows=6)
    assert types_of(autoconn, table) == SMALL_TYPES
    assert rows_of(autoconn, table) == small_rows()
    # into an existing table with other column names and order: --columns is the COPY list
    other = f"{table}_o"
    autoconn.execute(sql.SQL("CREATE TABLE {} (extra int DEFAULT 9, i int8, n text, x float8,"
                             " f bool, t timestamptz)").format(sql.Identifier(other)))
    try:
        assert_ok(run("load", path, "-t", other, "--dsn", dsn, "--columns", "i,n,x,f,t"), rows=6)
        got = rows_of(autoconn, other, "i")
        assert [r[0] for r in got] == [9] * 6
        assert [r[1:4] for r in got] == [r[:3] for r in small_rows()]
        # renaming header names: id=i ... (the rest keep their names -> error: no such column)
        r = run("load", path, "-t", other, "--dsn", dsn, "--columns", "id=i")
        assert_error(r, 5, 'column "name"', "does not exist", "42703")
    finally:
        autoconn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(other)))


@pytest.mark.skipif(not HAVE_TABLES, reason="PyTables is not installed")
@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_hdf5(tmp_path, dsn, autoconn, table, fmt):
    import warnings

    f = small_frame()
    path = tmp_path / "in.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f.to_hdf(path, key="frame", format=fmt)
        f.iloc[:2].to_hdf(path, key="other", format=fmt)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create")
    assert_error(r, 2, "2 keys", "--hdf-key")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--hdf-key", "frame",
            "--chunk-rows", "4")
    assert_ok(r, rows=6)
    assert rows_of(autoconn, table) == small_rows()
    r = run("load", path, "-t", table, "--dsn", dsn, "--hdf-key", "nope")
    assert_error(r, 2, "no key 'nope'")


@pytest.mark.parametrize("ext,what", [("parquet", "Parquet"), ("pq", "Parquet"),
                                      ("feather", "Feather"), ("arrow", "Feather")])
def test_parquet_and_feather_need_pyarrow(tmp_path, dsn, ext, what):
    path = tmp_path / f"in.{ext}"
    path.write_bytes(b"PAR1 not really")
    extra = hide_packages(tmp_path, "pyarrow") if HAVE_PYARROW else None
    r = run("load", path, "-t", "t", "--dsn", dsn, env=cli_env(extra))
    assert_error(r, 7, f"reading {what} needs pyarrow", "not installed", "(pip install pyarrow)")
    r = run("plan", path, env=cli_env(extra))
    assert_error(r, 7, "pyarrow")


def test_hdf5_needs_pytables(tmp_path, dsn):
    path = tmp_path / "in.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    r = run("load", path, "-t", "t", "--dsn", dsn,
            env=cli_env(hide_packages(tmp_path, "tables")))
    assert_error(r, 7, "reading HDF5 needs tables", "apt install python3-tables")


# ---------------------------------------------------------------------------
# --create and --if-exists
# ---------------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    small_frame().to_csv(path, index=False)
    return path


def test_if_exists_fail(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int8)").format(sql.Identifier(table)))
    autoconn.execute(sql.SQL("INSERT INTO {} VALUES (42)").format(sql.Identifier(table)))
    for extra in ([], ["--if-exists", "fail"]):
        r = run("load", csv_file, "-t", table, "--dsn", dsn, "--create", *extra)
        assert_error(r, 5, f'table "{table}" already exists', "--if-exists append")
    assert rows_of(autoconn, table) == [(42,)]


def test_if_exists_append(csv_file, dsn, autoconn, table):
    for _ in range(2):
        assert_ok(run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--if-exists",
                      "append", "--parse-dates", "ts"), rows=6)
    assert rows_of(autoconn, table, "1, 2") == sorted(small_rows() * 2, key=lambda r: r[0])


def test_if_exists_replace(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (something text)").format(sql.Identifier(table)))
    autoconn.execute(sql.SQL("INSERT INTO {} VALUES ('old')").format(sql.Identifier(table)))
    assert_ok(run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--if-exists",
                  "replace", "--parse-dates", "ts"), rows=6)
    assert types_of(autoconn, table) == SMALL_TYPES
    assert rows_of(autoconn, table) == small_rows()


def test_if_exists_truncate(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int4, name varchar(10), x numeric, flag bool,"
                             " ts timestamptz, added int DEFAULT 5)").format(sql.Identifier(table)))
    autoconn.execute(sql.SQL("INSERT INTO {} (id) VALUES (100)").format(sql.Identifier(table)))
    assert_ok(run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--if-exists",
                  "truncate", "--freeze"), rows=6)
    got = rows_of(autoconn, table)
    assert [r[0] for r in got] == list(range(6))  # the old row is gone
    assert {r[5] for r in got} == {5}  # the definition (and its default) is kept
    assert types_of(autoconn, table)[1] == ("name", "character varying(10)")


@pytest.mark.parametrize("mode", ["fail", "append", "replace", "truncate"])
def test_each_if_exists_creates_a_missing_table(csv_file, dsn, autoconn, table, mode):
    assert_ok(run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--if-exists", mode,
                  "--freeze", "--parse-dates", "ts"), rows=6)
    assert rows_of(autoconn, table) == small_rows()


def test_if_exists_needs_create(csv_file, dsn):
    assert_error(run("load", csv_file, "-t", "t", "--dsn", dsn, "--if-exists", "append"), 2,
                 "--if-exists 'append' needs --create")


def test_freeze_without_a_new_table(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int8, name text, x float8, flag bool,"
                             " ts text)").format(sql.Identifier(table)))
    r = run("load", csv_file, "-t", table, "--dsn", dsn, "--freeze")
    assert_error(r, 5, "COPY FREEZE", "55000")


def test_schema_qualified_quoted_table(csv_file, dsn, autoconn):
    schema = f"S {uuid.uuid4().hex[:6]}"
    autoconn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        target = f'"{schema}"."Mixed.Case"'
        r = run("load", csv_file, "-t", target, "--dsn", dsn, "--create")
        assert_ok(r, rows=6)
        assert f'into "{schema}"."Mixed.Case" in' in r.stdout
        assert autoconn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, "Mixed.Case"))).fetchone() == (6,)
    finally:
        autoconn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# ---------------------------------------------------------------------------
# chunked CSV
# ---------------------------------------------------------------------------


def drifting_csv(path: Path, n: int = 2500, chunk: int = 1000) -> List[tuple]:
    """A CSV whose later chunks have what the first does not; the expected rows."""
    lines = ["id,n,f,s,e,b,d"]
    want = []
    for i in range(n):
        late = i >= chunk
        # big integers (beyond floats) with empty fields later: read exactly
        nval = None if late and i % 10 == 0 else (2**62 + i if late or i == 7 else i)
        fval = None if i % 9 == 0 else (i if i % 2 else i + 0.5)
        sval = None if i >= 2 * chunk else f"s{i}"          # all empty in the 3rd chunk
        eval_ = f"late{i}" if late and i % 3 == 0 else None  # empty in the whole 1st chunk
        bval = None if late and i % 4 == 0 else (i % 2 == 0)
        dval = None if late and i % 6 == 0 else dt.datetime(2021, 1, 1) + dt.timedelta(hours=i)
        lines.append(",".join([
            str(i), "" if nval is None else str(nval), "" if fval is None else str(fval),
            "" if sval is None else sval, "" if eval_ is None else eval_,
            "" if bval is None else str(bval), "" if dval is None else dval.isoformat(" "),
        ]))
        want.append((i, nval, None if fval is None else float(fval), sval, eval_, bval, dval))
    path.write_text("\n".join(lines) + "\n")
    return want


def test_chunked_csv_with_drifting_dtypes(tmp_path, dsn, autoconn, table):
    path = tmp_path / "drift.csv"
    want = drifting_csv(path)
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "1000",
            "--parse-dates", "d", "--batch-rows", "300")
    assert_ok(r, rows=2500)
    assert types_of(autoconn, table) == [
        ("id", "bigint"), ("n", "bigint"), ("f", "double precision"), ("s", "text"),
        ("e", "text"), ("b", "boolean"), ("d", "timestamp without time zone")]
    assert rows_of(autoconn, table) == want


@pytest.mark.parametrize("engine", ["pandas", "pyarrow"])
def test_chunked_csv_is_one_stream(tmp_path, engine):
    if engine == "pyarrow":
        pytest.importorskip("pyarrow", reason="the pyarrow CSV engine needs pyarrow")
    path = tmp_path / "drift.csv"
    want = drifting_csv(path)
    out = tmp_path / "drift.zci"
    r = run("dump", path, out, "--chunk-rows", "1000", "--parse-dates", "d", "--csv-engine", engine)
    assert r.returncode == 0, r.stderr
    assert re.match(r"dumped 2,500 rows to .*drift.zci in", r.stdout)
    data = out.read_bytes()
    assert data.count(ref.MAGIC) == 1
    s = ref.decode(data)
    assert s.total_rows == 2500
    assert s.names == ["id", "n", "f", "s", "e", "b", "d"]
    # pandas: the nullable dtypes' byte masks (strings: a bitmap when pandas'
    # str is pyarrow-backed), NaN sentinels for floats; pyarrow: bitmaps
    nulls = [c.nulls for c in s.columns]
    if engine == "pandas":
        assert nulls[:3] == ["bytemask", "bytemask", "none"] and nulls[6] == "none"
        assert all(n in ("bytemask", "bitmap") for n in nulls[3:6]), nulls
    else:
        assert nulls[:6] == ["bitmap"] * 6 and nulls[6] in ("none", "bitmap")
    assert s.column_values(1) == [w[1] for w in want]
    assert s.column_values(4) == [w[4] for w in want]


def test_big_integers_with_empty_fields_in_a_later_chunk(tmp_path, dsn, autoconn, table):
    # small integers in the first chunk; a later chunk with empty fields and
    # integers beyond 2**53, which pandas reads as floats: refused, not rounded
    path = tmp_path / "ids.csv"
    lines = ["id,ref"] + [f"{i},{i}" for i in range(10)] + ["10,", f"11,{2**60 + 1}"]
    path.write_text("\n".join(lines) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "5",
            "--csv-engine", "pandas")
    assert_error(r, 6, "column 'ref' holds integers", "rows 11 to 12", "cannot hold")
    assert not exists(autoconn, table)
    # big integers in the first chunk: the column is read as text and converted exactly
    lines = ["id,ref"] + [f"{i},{2**60 + i}" for i in range(10)] + ["10,", f"11,{2**60 + 11}"]
    path.write_text("\n".join(lines) + "\n")
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "5",
                  "--csv-engine", "pandas"), rows=12)
    assert rows_of(autoconn, table) == [(i, None if i == 10 else 2**60 + i) for i in range(12)]


def test_empty_first_chunk_takes_the_target_columns_type(tmp_path, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int8, i int4, g float8, h bool, t text,"
                             " dd date)").format(sql.Identifier(table)))
    lines = ["id,i,g,h,t,dd"]
    for k in range(250):
        late = k >= 100 and k % 2 == 0
        lines.append(f"{k},{k if late else ''},{k / 4 if late else ''},"
                     f"{'true' if late else ''},{'t%d' % k if late else ''},"
                     f"{'2020-01-%02d' % (k % 28 + 1) if late else ''}")
    path = tmp_path / "sparse.csv"
    path.write_text("\n".join(lines) + "\n")
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--chunk-rows", "100"), rows=250)
    got = rows_of(autoconn, table)
    for k, row in enumerate(got):
        late = k >= 100 and k % 2 == 0
        assert row == ((k, k, k / 4, True, f"t{k}", dt.date(2020, 1, k % 28 + 1)) if late
                       else (k, None, None, None, None, None))


def test_a_later_chunk_that_does_not_fit(tmp_path, dsn, autoconn, table):
    lines = ["a,b"] + [f"{i},x" for i in range(150)] + ["oops,x"] + [f"{i},x" for i in range(49)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "100",
            "--csv-engine", "pandas")
    assert_error(r, 6, "rows 101 to 200", "oops", "--chunk-rows")
    assert not exists(autoconn, table)  # the CREATE TABLE was rolled back too
    # a larger first chunk sees the text: the column is text
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "1000",
                  "--csv-engine", "pandas"), rows=200)
    assert types_of(autoconn, table) == [("a", "text"), ("b", "text")]


def test_a_later_chunk_with_a_bad_date(tmp_path, dsn, autoconn, table):
    lines = ["d"] + ["2021-01-01"] * 10 + ["not a date"]
    path = tmp_path / "dates.csv"
    path.write_text("\n".join(lines) + "\n")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--chunk-rows", "5",
            "--parse-dates", "d")
    assert_error(r, 6, "column 'd'", "chunk 3 (rows 11 to 11)")
    r = run("load", path, "-t", table, "--dsn", dsn, "--create", "--parse-dates", "d")
    assert_error(r, 6, "column 'd'", "cannot be parsed as dates", "not a date")


@pytest.mark.once
@pytest.mark.parametrize("engine", ["pandas", pytest.param("pyarrow", marks=pytest.mark.skipif(
    not HAVE_PYARROW, reason="pyarrow is not installed"))])
def test_chunked_load_memory_stays_bounded(tmp_path, dsn, table, engine):
    """Peak RSS of a chunked load of a large CSV stays far below the file's size."""
    path = tmp_path / "big.csv"
    n, step = 3_000_000, 500_000
    rng = np.random.default_rng(7)
    with open(path, "w") as fh:
        fh.write("id,v,k,s\n")
        for start in range(0, n, step):
            ids = np.arange(start, start + step)
            pd.DataFrame({"id": ids, "v": rng.random(step), "k": rng.integers(0, 10**9, step),
                          "s": np.char.add("name-", (ids % 9973).astype(str))}).to_csv(
                fh, index=False, header=False)
    size = path.stat().st_size
    small = tmp_path / "small.csv"
    pd.read_csv(path, nrows=10).to_csv(small, index=False)
    # VmHWM: the peak RSS of this process's memory, since its exec
    runner = ("import re, runpy, sys\n"
              "sys.argv = ['zcimport'] + sys.argv[1:]\n"
              "try:\n"
              "    runpy.run_module('zcimport', run_name='__main__', alter_sys=True)\n"
              "finally:\n"
              "    hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())\n"
              "    print('peak', int(hwm.group(1)) * 1024, file=sys.stderr)\n")

    def peak(*args: Any) -> int:
        r = subprocess.run([sys.executable, "-c", runner, *map(str, args)], capture_output=True,
                           text=True, env=cli_env(), timeout=600)
        assert r.returncode == 0, r.stderr
        m = re.search(r"peak (\d+)", r.stderr)
        assert m, r.stderr
        return int(m.group(1))

    base = peak("load", small, "-t", table, "--dsn", dsn, "--create", "-q", "--csv-engine", engine)
    big = peak("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
               "--chunk-rows", "20000", "-q", "--csv-engine", engine)
    with psycopg.connect(dsn) as c:
        assert count(c, table) == n
        assert c.execute(sql.SQL("SELECT sum(id), count(DISTINCT s) FROM {}").format(
            sql.Identifier(table))).fetchone() == (n * (n - 1) // 2, 9973)
    assert size > 100e6
    # a whole-file read would hold the frame (several times the file's size);
    # the chunked load holds one chunk of 20,000 rows at a time (pyarrow's
    # reader: a few dozen blocks of a quarter of that, read ahead).  (The
    # base, with pandas, pyarrow and psycopg imported, is some 140 MB.)
    assert big - base < min(size / 4, 48e6), (base, big, size)


# ---------------------------------------------------------------------------
# error paths: exit code and one line
# ---------------------------------------------------------------------------


def test_missing_file(tmp_path, dsn):
    assert_error(run("load", tmp_path / "nope.csv", "-t", "t", "--dsn", dsn), 3,
                 "nope.csv: no such file")
    assert_error(run("plan", tmp_path / "nope.npy"), 3, "no such file")
    assert_error(run("dump", tmp_path / "nope.pkl", tmp_path / "o.zci"), 3, "no such file")
    assert not (tmp_path / "o.zci").exists()


def test_a_directory(tmp_path, dsn):
    d = tmp_path / "dir.csv"
    d.mkdir()
    assert_error(run("load", d, "-t", "t", "--dsn", dsn), 3, "is a directory")


def test_unreadable_file(tmp_path, dsn):
    path = tmp_path / "secret.csv"
    path.write_text("a\n1\n")
    path.chmod(0)
    prefix: List[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        prefix = ["runuser", "-u", "nobody", "--"]
    r = run("load", path, "-t", "t", "--dsn", dsn, prefix=prefix, cwd="/")
    assert_error(r, 3, "secret.csv: permission denied")


@pytest.mark.parametrize("name,content,fragments", [
    ("bad.csv", b"a,b\n1,2\n3,4,5\n", ["cannot parse", "Expected 2"]),
    ("empty.csv", b"", ["the file is empty"]),
    ("latin.csv", "a\ncaf\xe9\n".encode("latin-1"), ["cannot decode", "utf-8", "--encoding"]),
    ("bad.pkl", b"this is not a pickle", ["cannot unpickle"]),
    ("list.pkl", pickle.dumps([1, 2, 3]), ["holds a builtins.list, not a pandas DataFrame"]),
    ("bad.npy", b"\x93NUMPY garbage", ["bad.npy"]),
    ("bad.npz", b"PK not a zip", ["bad.npz"]),
    ("bad.jsonl", b'{"a": 1}\n{"a": \n', ["cannot read the JSON lines"]),
    ("bad.zci", b"not a zcimport stream at all", ["not a zcimport stream"]),
])
def test_malformed_files(tmp_path, dsn, name, content, fragments):
    path = tmp_path / name
    path.write_bytes(content)
    assert_error(run("load", path, "-t", "t", "--dsn", dsn), 3, *fragments)


def test_npy_that_cannot_be_loaded(tmp_path, dsn):
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_error(run("load", obj, "-t", "t", "--dsn", dsn), 3, "Python objects")
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 2, 2)))
    assert_error(run("load", cube, "-t", "t", "--dsn", dsn), 3, "3-D array")
    npz = tmp_path / "ragged.npz"
    np.savez(npz, a=np.arange(3), b=np.arange(4))
    assert_error(run("load", npz, "-t", "t", "--dsn", dsn), 3, "different lengths")


def test_unknown_format(tmp_path, dsn):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    assert_error(run("load", path, "-t", "t", "--dsn", dsn), 2, "cannot tell the format",
                 "--format")


@pytest.mark.parametrize("args,fragments", [
    (["--null", "NA"], ["--null does not apply to npy input"]),
    (["--sep", ";"], ["--sep does not apply to npy input"]),
    (["--hdf-key", "k"], ["--hdf-key does not apply"]),
    (["--parse-dates", "x"], ["--parse-dates does not apply to npy"]),
    (["--skip-rows", "2"], ["--skip-rows does not apply"]),
    (["--columns", "nosuch"], ["--columns", "'nosuch'"]),
    (["--columns", "value,"], ["empty column name"]),
])
def test_options_that_do_not_fit_the_file(tmp_path, dsn, args, fragments):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(3))
    assert_error(run("load", path, "-t", "t", "--dsn", dsn, *args), 2, *fragments)


def test_options_that_do_not_fit_a_zci(tmp_path, dsn):
    path = tmp_path / "a.zci"
    zcimport.dump(pd.DataFrame({"a": [1]}), path)
    for extra in (["--batch-rows", "5"], ["--keep-nan"], ["--chunk-rows", "5"]):
        assert_error(run("load", path, "-t", "t", "--dsn", dsn, *extra), 2,
                     "does not apply to a .zci stream")
    assert_error(run("load", path, "-t", "t", "--dsn", dsn, "--columns", "a,b"), 2,
                 "has 1 columns", "--columns names 2")


def test_parse_dates_names_no_column(csv_file, dsn):
    assert_error(run("load", csv_file, "-t", "t", "--dsn", dsn, "--parse-dates", "nope"), 2,
                 "--parse-dates", "nope")


def test_server_cannot_be_reached(csv_file, tmp_path):
    r = run("load", csv_file, "-t", "t", "--dsn", f"host={tmp_path} port=1 connect_timeout=5")
    assert_error(r, 4, "cannot connect to the database")
    r = run("load", csv_file, "-t", "t", "--dsn", "postgresql://127.0.0.1:1/x?connect_timeout=5")
    assert_error(r, 4, "cannot connect to the database")


def test_database_does_not_exist(csv_file, dsn):
    params = conninfo_to_dict(dsn)
    params["dbname"] = "zcimport_no_such_db"
    other = " ".join(f"{k}={v}" for k, v in params.items())
    assert_error(run("load", csv_file, "-t", "t", "--dsn", other), 4,
                 'database "zcimport_no_such_db" does not exist')


def test_invalid_dsn(csv_file):
    assert_error(run("load", csv_file, "-t", "t", "--dsn", "nonsense"), 2,
                 "invalid connection string")


def test_dsn_from_the_environment(csv_file, dsn, autoconn, table):
    r = run("load", csv_file, "-t", table, "--create", env=cli_env(ZCIMPORT_DSN=dsn))
    assert_ok(r, rows=6)
    params = conninfo_to_dict(dsn)
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
             "password": "PGPASSWORD"}
    env = cli_env(**{names[k]: v for k, v in params.items() if k in names})
    assert_ok(run("load", csv_file, "-t", table, "--create", "--if-exists", "append", env=env),
              rows=6)
    assert count(autoconn, table) == 12
    # --dsn wins over $ZCIMPORT_DSN
    r = run("load", csv_file, "-t", table, "--dsn", dsn, env=cli_env(ZCIMPORT_DSN="nonsense"))
    assert_ok(r, rows=6)
    assert count(autoconn, table) == 18


def test_table_does_not_exist(csv_file, dsn):
    assert_error(run("load", csv_file, "-t", "no_such_table_zc", "--dsn", dsn), 5,
                 'relation "no_such_table_zc" does not exist', "--create", "42P01")


def test_column_does_not_exist(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int8)").format(sql.Identifier(table)))
    assert_error(run("load", csv_file, "-t", table, "--dsn", dsn), 5, 'column "name"',
                 "does not exist")


def test_extension_not_installed(csv_file, dsn, autoconn):
    db = f"zc_noext_{uuid.uuid4().hex[:6]}"
    autoconn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        params = conninfo_to_dict(dsn)
        params["dbname"] = db
        other = " ".join(f"{k}={v}" for k, v in params.items())
        r = run("load", csv_file, "-t", "t", "--dsn", other, "--create")
        assert_error(r, 5, "the zcimport extension is not installed", "CREATE EXTENSION")
    finally:
        autoconn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(db)))


def test_type_mismatch(csv_file, dsn, autoconn, table):
    autoconn.execute(sql.SQL("CREATE TABLE {} (id int8, name int4, x float8, flag bool,"
                             " ts text)").format(sql.Identifier(table)))
    r = run("load", csv_file, "-t", table, "--dsn", dsn)
    assert_error(r, 6, 'column "name" is of type integer', "utf8", "42804")
    assert count(autoconn, table) == 0


def test_value_out_of_range_and_constraints(tmp_path, dsn, autoconn, table):
    path = tmp_path / "v.csv"
    path.write_text("v\n1\n40000\n")
    autoconn.execute(sql.SQL("CREATE TABLE {} (v int2)").format(sql.Identifier(table)))
    assert_error(run("load", path, "-t", table, "--dsn", dsn), 6,
                 "value 40000 is out of range for type smallint",
                 f"COPY {table}, batch 1, row 1, column v", "22003")
    autoconn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    autoconn.execute(sql.SQL("CREATE TABLE {} (v int4 NOT NULL, w int DEFAULT 1)").format(
        sql.Identifier(table)))
    path.write_text("v\n1\nNA\n2\n")
    assert_error(run("load", path, "-t", table, "--dsn", dsn), 6, "23502")
    assert count(autoconn, table) == 0


def test_unsupported_dtype(tmp_path, dsn):
    path = tmp_path / "p.pkl"
    pd.DataFrame({"p": pd.period_range("2021-01", periods=3, freq="M")}).to_pickle(path)
    assert_error(run("load", path, "-t", "t", "--dsn", dsn), 6, "column 'p' has dtype period")
    assert_error(run("plan", path), 6, "period")


def test_malformed_stream_is_refused_by_the_server(tmp_path, dsn, autoconn, table):
    path = tmp_path / "cut.zci"
    zcimport.dump(pd.DataFrame({"a": np.arange(100)}), path, batch_rows=10)
    data = path.read_bytes()
    path.write_bytes(data[:-24])  # the end marker and part of the last batch are gone
    autoconn.execute(sql.SQL("CREATE TABLE {} (a int8)").format(sql.Identifier(table)))
    r = run("load", path, "-t", table, "--dsn", dsn)
    assert_error(r, 6, "22P04")
    assert count(autoconn, table) == 0


def test_debug_shows_the_traceback(csv_file, dsn):
    r = run("load", csv_file, "-t", "no_such_table_zc", "--dsn", dsn, "--debug")
    assert r.returncode == 5
    assert "Traceback" in r.stderr
    assert r.stderr.splitlines()[-1].startswith("zcimport: error: relation")


def test_interrupted_load_leaves_nothing(tmp_path, dsn, autoconn, table):
    path = tmp_path / "big.npy"
    np.save(path, np.arange(30_000_000, dtype=np.int64))
    proc = subprocess.Popen([sys.executable, "-m", "zcimport", "load", str(path), "-t", table,
                             "--dsn", dsn, "--create", "--chunk-rows", "1000", "--batch-rows",
                             "1000"], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if autoconn.execute("SELECT count(*) FROM pg_stat_progress_copy WHERE"
                                " tuples_processed > 0").fetchone()[0]:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines() == ["zcimport: error: interrupted; nothing was loaded"]
    assert not exists(autoconn, table)


# ---------------------------------------------------------------------------
# plan and dump
# ---------------------------------------------------------------------------


def test_plan_of_a_csv(tmp_path):
    path = tmp_path / "drift.csv"
    drifting_csv(path)
    r = run("plan", path, "--chunk-rows", "1000", "--parse-dates", "d", "-t", "events",
            "--csv-engine", "pandas")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "zcimport plan: 7 columns, 1,000 rows" in out
    assert re.search(r"^n\s+Int64\s+int64\s+bytemask", out, re.M)
    # string[python]: a byte mask; string[pyarrow] (pyarrow installed): an Arrow bitmap
    assert re.search(r"^e\s+string\s+utf8\s+(bytemask|bitmap)", out, re.M)
    assert "column 'e' has no value in the first chunk" in out
    assert ('--create would run: CREATE TABLE "events" ("id" bigint, "n" bigint, "f" double'
            ' precision, "s" pg_catalog.text, "e" pg_catalog.text, "b" boolean, "d" timestamp)'
            ) in out


def test_plan_of_a_whole_file_shows_its_rows(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(5), b=np.linspace(0, 1, 5))
    r = run("plan", path, "--columns", "b=beta")
    assert r.returncode == 0, r.stderr
    assert "rows in the file: 5" in r.stdout
    assert re.search(r"^beta\s+float64\s+float64\s+none\s+yes\s+yes", r.stdout, re.M)
    assert 'CREATE TABLE "x" ("beta" double precision)' in r.stdout


def test_plan_of_a_zci(tmp_path):
    path = tmp_path / "s.zci"
    df = pd.DataFrame({"a": np.arange(10), "c": pd.Categorical(list("xyxyxyxyxy")),
                       "t": pd.date_range("2021", periods=10, tz="UTC")})
    zcimport.dump(df, path, batch_rows=4)
    r = run("plan", path)
    assert r.returncode == 0, r.stderr
    assert "3 columns, 10 rows, 3 batches, 1 dictionaries" in r.stdout
    assert re.search(r"^c\s+dictionary\[int8\]\s+none\s+no\s+text", r.stdout, re.M)
    assert re.search(r"^t\s+timestamptz\[[nu]s, UTC\]\s+none\s+yes\s+timestamptz", r.stdout,
                     re.M)


def test_dump_and_load_its_output(tmp_path, dsn, autoconn, table, csv_file):
    out = tmp_path / "out.zci"
    r = run("dump", csv_file, out, "--parse-dates", "ts")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("dumped 6 rows to ")
    assert ref.decode(out.read_bytes()).total_rows == 6
    assert_ok(run("load", out, "-t", table, "--dsn", dsn, "--create"), rows=6)
    assert rows_of(autoconn, table) == small_rows()


def test_dump_to_stdout(csv_file):
    r = subprocess.run([sys.executable, "-m", "zcimport", "dump", str(csv_file), "-"],
                       capture_output=True, env=cli_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert ref.decode(r.stdout).total_rows == 6
    assert r.stderr.decode().startswith("dumped 6 rows to stdout")


def test_dump_that_fails_leaves_no_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a\n" + "1\n" * 150 + "x\n")
    out = tmp_path / "out.zci"
    assert_error(run("dump", path, out, "--chunk-rows", "100", "--csv-engine", "pandas"), 6,
                 "rows 101 to 151", "'x'")
    assert not out.exists()


def test_dump_to_an_unwritable_place(csv_file, tmp_path):
    assert_error(run("dump", csv_file, tmp_path / "no" / "such" / "dir.zci"), 3, "cannot write")


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------


def test_quiet_prints_nothing(csv_file, dsn, table):
    r = run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--quiet")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_keep_nan_and_nan_as_null(tmp_path, dsn, autoconn, table):
    path = tmp_path / "n.npy"
    np.save(path, np.array([1.0, np.nan]))
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--keep-nan"), rows=2)
    got = [r[0] for r in rows_of(autoconn, table)]
    assert got[0] == 1.0 and np.isnan(got[1])
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--if-exists", "truncate",
                  "--nan-as-null"), rows=2)
    assert sorted(rows_of(autoconn, table), key=str) == [(1.0,), (None,)]


def test_columns_subset_and_renaming(csv_file, dsn, autoconn, table):
    assert_ok(run("load", csv_file, "-t", table, "--dsn", dsn, "--create", "--columns",
                  "x, id=ident"), rows=6)
    assert types_of(autoconn, table) == [("x", "double precision"), ("ident", "bigint")]
    assert rows_of(autoconn, table, "2") == [(r[2], r[0]) for r in small_rows()]


def test_null_string_as_copy_does(tmp_path, dsn, autoconn, table):
    path = tmp_path / "n.csv"
    path.write_text('a,b\n\\N,\n"",x\nNA,\\N\n')
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--null", "\\N"), rows=3)
    assert rows_of(autoconn, table, "1 NULLS FIRST") == [(None, ""), ("", "x"), ("NA", None)]


def test_skip_rows_and_encoding(tmp_path, dsn, autoconn, table):
    path = tmp_path / "l.csv"
    path.write_bytes("# exported\n# by a tool\nname,n\ncaf\xe9,1\nna\xefve,2\n".encode("latin-1"))
    assert_ok(run("load", path, "-t", table, "--dsn", dsn, "--create", "--skip-rows", "2",
                  "--encoding", "latin-1"), rows=2)
    assert rows_of(autoconn, table, "2") == [("café", 1), ("naïve", 2)]
    jpath = tmp_path / "l.jsonl"
    jpath.write_text('garbage line\n{"a": 1}\n{"a": 2}\n')
    assert_ok(run("load", jpath, "-t", table, "--dsn", dsn, "--create", "--if-exists", "replace",
                  "--skip-rows", "1"), rows=2)
    assert rows_of(autoconn, table) == [(1,), (2,)]


def test_python_m_and_main_agree(csv_file):
    """zcimport.cli.main is the console script; python3 -m zcimport runs it."""
    r1 = run("plan", csv_file)
    code = ("import sys; from zcimport.cli import main; sys.exit(main(['plan', %r]))"
            % str(csv_file))
    r2 = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env=cli_env(), timeout=120)
    assert r1.returncode == r2.returncode == 0
    assert r1.stdout == r2.stdout
