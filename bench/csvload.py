"""The file benchmark: load a real-looking CSV file of N rows (and the same
data as a Parquet file) into

    CREATE TABLE t (id int8, created_at timestamp, day date, amount float8,
                    qty int4, name text, city text, note text, paid bool)

timing whole processes against whole processes, as a user at the shell
runs them: interpreter start-up, imports, reading and parsing the file,
the COPY and the COMMIT all count.

Peers, each a subprocess started from this script (wall time from the
start of the process to its exit):

- CSV: (1) ``python -m zcimport load t.csv --table t --dsn ...``
  (``--parse-dates created_at``) against (2) ``psql -c "\\copy t FROM
  't.csv' CSV HEADER"`` (PostgreSQL parses the CSV);
- Parquet, when pyarrow is installed: (3) ``python -m zcimport load
  t.parquet --table t --dsn ...`` against (4) a Python process that runs
  ``pyarrow.parquet.read_table`` and ADBC's ``cursor.adbc_ingest`` (binary
  COPY, encoded row by row in C), then commits.
  pg_parquet (a server extension that COPYs Parquet files on the server)
  is skipped: it is not packaged for Debian and needs Rust and pgrx to
  build, so it is not installed here (the report says whether the server
  has it).

The files are written once (seeded: ints, floats, text with commas, quotes
and non-ASCII characters, timestamps, dates, booleans, some empty fields)
and are in the page cache during the loads.  Every load goes into a fresh
table (DROP, CREATE, CHECKPOINT: not timed) and is checked against a
reference load made beforehand with psql's ``\\copy`` (PostgreSQL's own CSV
parser): row count, non-NULL counts per column and the exact sum of a
64-bit hash of every row's text (``hashtextextended(t::text, 0)``), so that
every value of every row must match.  The repetitions are interleaved (each
repetition runs every peer once, the first peer rotating); the report gives
the median, min and max.

Prints a markdown report; --write replaces the "csvload" section of
BENCHMARKS.md.  Run from the repository root, e.g.:

    PYTHONPATH=python .venv/latest/bin/python bench/csvload.py --rows 100000 --reps 3
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Peer, Samples  # noqa: E402
from mixed import FAMILY_NAMES, GIVEN_NAMES  # noqa: E402

TABLE = "t"
SECTION = "csvload"
DDL = ("id int8, created_at timestamp, day date, amount float8, qty int4, name text, city text,"
       " note text, paid bool")
COLUMNS = ["id", "created_at", "day", "amount", "qty", "name", "city", "note", "paid"]

#: Targets: (peer key, reference key, minimum ratio of the peer's median to
#: the reference's).
TARGETS: List[Tuple[str, str, float]] = [("psql", "zcimport", 1.5)]

#: The options of ``zcimport load`` for the CSV file (created_at as a
#: timestamp column; day stays text and goes through date's input function
#: on the server, since datetime64 columns load into timestamp columns).
ZC_CSV_OPTIONS = ["--parse-dates", "created_at"]

#: Cities, a few with commas, apostrophes or non-ASCII characters.
CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Oslo", "Zürich", "Kraków",
          "São Paulo", "México City", "New York", "Washington, D.C.", "Xi'an", "Tōkyō", "Seoul",
          "Lima", "Cairo", "Lagos", "Mumbai", "Sydney", "Toronto", "St. John's", "Reykjavík",
          "Москва", "Αθήνα", "北京", "Dubai", "Nairobi", "Santiago"]
#: Words of the free-text note column (none of them is one of pandas'
#: missing-value markers, such as NA or null).
WORDS = ["order", "delivered", "late", "on time", "customer", "called", "refund", "partial",
         "box", "damaged", "gift", "wrap", "express", "standard", "pickup", "store", "returned",
         "exchange", "size", "colour", "blue", "red", "large", "small", "thanks", "urgent",
         "left at door", "neighbour", "signed", "café", "naïve", "façade", "über", "ok", "12",
         "3.5", "#7", "100%", "a/b", "x-ray", "€20", "5 €", "don't", "it's"]

#: pg_parquet: why it is not a peer.
PG_PARQUET_NOTE = (
    "pg_parquet (`COPY t FROM '/path/t.parquet'` on the server, a Rust extension built with"
    " pgrx) is skipped: it is not packaged for Debian 12 and building it needs a Rust toolchain"
    " and cargo-pgrx, neither of which is installed here")

#: The ADBC Parquet peer's process: read_table, adbc_ingest, commit.
ADBC_PARQUET_SCRIPT = """\
import sys
import pyarrow.parquet as pq
import adbc_driver_postgresql.dbapi as dbapi
path, uri, table = sys.argv[1:4]
tbl = pq.read_table(path)
with dbapi.connect(uri) as conn:
    with conn.cursor() as cur:
        cur.adbc_ingest(table, tbl, mode="append")
    conn.commit()
"""

#: What each peer needs (on top of zcimport, pandas, numpy, psycopg).
REQUIREMENTS: Dict[str, List[Tuple[str, str]]] = {
    "zcimport_parquet": [("pyarrow", "pyarrow")],
    "adbc_parquet": [("pyarrow", "pyarrow"), ("adbc_driver_postgresql", "adbc-driver-postgresql")],
}


# --------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------


def data_frame(rows: int, seed: int) -> pd.DataFrame:
    """The data, deterministic from seed.

    - ``id`` 1 .. rows;
    - ``created_at``: uniform over 2023-2024, whole seconds, 2% empty;
    - ``day``: a date in 2024 (text "YYYY-MM-DD"), 2% empty;
    - ``amount``: log-normal amounts in whole cents (cents / 100, so that
      the shortest decimal of each is the cents), 5% empty;
    - ``qty``: 1 .. 500, 3% empty;
    - ``name``: "given family" from the mixed benchmark's names (a fifth not
      ASCII), never empty;
    - ``city``: 30 cities, some with a comma or a quote, 1% empty;
    - ``note``: 1 to 6 words, with commas, double quotes and non-ASCII
      characters in some, 40% empty;
    - ``paid``: True/False, never empty (pandas reads a boolean column with
      empty fields as an object column of str, which zcimport sends as text,
      and text does not load into boolean).
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(1, rows + 1, dtype=np.int64)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    created = start + rng.integers(0, 2 * 365 * 86400, rows).astype("timedelta64[s]")
    created = pd.Series(created.astype("datetime64[ns]"))
    created[rng.random(rows) < 0.02] = pd.NaT
    days = np.datetime64("2024-01-01", "D") + rng.integers(0, 366, rows).astype("timedelta64[D]")
    day = pd.Series(np.datetime_as_string(days, unit="D"), dtype=object)
    day[rng.random(rows) < 0.02] = None
    cents = np.round(rng.lognormal(7.0, 1.2, rows)).astype(np.int64)
    amount = cents / 100.0
    amount[rng.random(rows) < 0.05] = np.nan
    qty = pd.array(rng.integers(1, 501, rows), dtype="Int32")
    qty[rng.random(rows) < 0.03] = pd.NA
    given = np.array(GIVEN_NAMES, dtype=object)
    family = np.array(FAMILY_NAMES, dtype=object)
    name = given[rng.integers(0, len(given), rows)] + " " + family[rng.integers(0, len(family), rows)]
    city = pd.Series(np.array(CITIES, dtype=object)[rng.integers(0, len(CITIES), rows)], dtype=object)
    city[rng.random(rows) < 0.01] = None
    words = np.array(WORDS, dtype=object)
    nwords = rng.integers(1, 7, rows)
    picks = rng.integers(0, len(words), (rows, 6))
    flavour = rng.random(rows)
    notes: List[Optional[str]] = []
    for i in range(rows):
        if flavour[i] < 0.40:
            notes.append(None)
            continue
        text = " ".join(words[picks[i, :nwords[i]]])
        if flavour[i] > 0.95:
            text = f'"{text}", she said'
        elif flavour[i] > 0.90:
            text = text + ", then " + words[picks[i, 0]]
        notes.append(text)
    paid = rng.random(rows) < 0.7
    return pd.DataFrame({"id": ids, "created_at": created, "day": day, "amount": amount,
                         "qty": qty, "name": pd.Series(name, dtype=object), "city": city,
                         "note": pd.Series(notes, dtype=object), "paid": paid})


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """The CSV file: a header line, comma-separated, quoted where needed,
    empty fields for missing values, timestamps as 'YYYY-MM-DD HH:MM:SS'."""
    df.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """The Parquet file of the same data, with the table's types (timestamp
    in µs, date32, int32 for qty, bool), zstd-compressed in row groups of
    128 Ki rows (pyarrow's defaults but the row group size)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.int64()), ("created_at", pa.timestamp("us")),
                        ("day", pa.date32()), ("amount", pa.float64()), ("qty", pa.int32()),
                        ("name", pa.string()), ("city", pa.string()), ("note", pa.string()),
                        ("paid", pa.bool_())])
    day = pd.to_datetime(df["day"]).dt.date.astype(object).where(df["day"].notna(), None)
    frame = df.assign(day=day)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, path, row_group_size=128 * 1024, compression="zstd")


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

FINGERPRINT_SQL = (
    "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text, "
    + ", ".join(f"count({c})" for c in COLUMNS[1:]) + f" FROM {TABLE} AS t")
FINGERPRINT_KEYS = ["rows", "row_hash_sum"] + [f"count({c})" for c in COLUMNS[1:]]


def fingerprint(conn: "psycopg.Connection[Any]") -> Dict[str, Any]:
    """Row count, the exact sum of the rows' 64-bit text hashes, non-NULL counts."""
    row = conn.execute(FINGERPRINT_SQL).fetchone()
    assert row is not None
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.rollback()
    return dict(zip(FINGERPRINT_KEYS, row))


def mismatches(expected: Dict[str, Any], got: Dict[str, Any]) -> Optional[str]:
    """None when equal, else the differences."""
    bad = [f"{k}: got {got.get(k)!r}, expected {v!r}" for k, v in expected.items() if got.get(k) != v]
    return "; ".join(bad) if bad else None


# --------------------------------------------------------------------------
# Peers: whole processes
# --------------------------------------------------------------------------


class ProcessFailed(RuntimeError):
    """A peer's process exited with an error."""


def run_process(cmd: Sequence[str], env: Dict[str, str]) -> None:
    """Run cmd from the repository root; ProcessFailed unless it exits 0."""
    proc = subprocess.run(list(cmd), cwd=str(common.REPO), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ProcessFailed(f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}")


def shown(cmd: Sequence[str], conninfo: str, uri: str) -> str:
    """A command as the report shows it (the connection strings shortened)."""
    out = []
    for a in cmd:
        if a == conninfo:
            out.append("$DSN")
        elif a == uri:
            out.append("$URI")
        elif a == ADBC_PARQUET_SCRIPT:
            out.append("<script>")
        elif "'" in a and not any(c in a for c in '"$`!\n'):
            out.append(f'"{a}"')  # \copy ... FROM '<file>': as one would type it
        else:
            out.append(shlex.quote(a))
    return " ".join(out)


class Peers:
    """The peers' commands and their environment."""

    def __init__(self, server: common.Server, csv_path: Path, parquet_path: Optional[Path],
                 psql: str) -> None:
        self.conninfo = server.conninfo()
        self.uri = server.libpq_uri()
        self.env = dict(os.environ)
        py = sys.executable
        zc = [py, "-m", "zcimport", "load"]
        self.commands: Dict[str, List[str]] = {
            "zcimport": zc + [str(csv_path), "--table", TABLE, "--dsn", self.conninfo, "-q"]
            + ZC_CSV_OPTIONS,
            "psql": [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo, "-c",
                     f"\\copy {TABLE} FROM '{csv_path}' CSV HEADER"],
        }
        if parquet_path is not None:
            self.commands["zcimport_parquet"] = zc + [str(parquet_path), "--table", TABLE, "--dsn",
                                                      self.conninfo, "-q"]
            self.commands["adbc_parquet"] = [py, "-c", ADBC_PARQUET_SCRIPT, str(parquet_path),
                                             self.uri, TABLE]

    def load(self, key: str) -> Callable[[], None]:
        cmd = self.commands[key]
        return lambda: run_process(cmd, self.env)

    def command(self, key: str) -> str:
        return shown(self.commands[key], self.conninfo, self.uri) if key in self.commands else ""

    def all(self) -> List[Peer]:
        """The peers, in report order (only those with a command)."""
        pythonpath = (f"PYTHONPATH={shlex.quote(self.env['PYTHONPATH'])} "
                      if self.env.get("PYTHONPATH") else "")
        described = {
            "zcimport": ("zcimport load (CSV)",
                         f"`{pythonpath}{self.command('zcimport')}`: pandas' `read_csv` in chunks of"
                         " 100,000 rows, each chunk's columns sent as they are (numbers, parsed"
                         " timestamps) or packed (strings) in one COPY ... (FORMAT zcimport),"
                         " committed at the end"),
            "psql": ("psql \\copy (CSV)",
                     f"`{self.command('psql')}`: psql sends the file's bytes, the server parses"
                     " the CSV (COPY ... FROM STDIN CSV HEADER), autocommit"),
            "zcimport_parquet": ("zcimport load (Parquet)",
                                 f"`{pythonpath}{self.command('zcimport_parquet')}`: pyarrow reads"
                                 " the row groups' batches, converted to pandas, sent in one COPY ..."
                                 " (FORMAT zcimport)"),
            "adbc_parquet": ("pyarrow + ADBC adbc_ingest (Parquet)",
                             f"`{self.command('adbc_parquet')}` where `<script>` is `tbl ="
                             " pyarrow.parquet.read_table(path)`, `adbc_driver_postgresql.dbapi"
                             ".connect(uri)`, `cursor.adbc_ingest('t', tbl, mode='append')`,"
                             " `conn.commit()`: ADBC runs a binary COPY and encodes the Arrow"
                             " columns into it row by row, in C"),
        }
        return [Peer(k, described[k][0], described[k][1], self.load(k))
                for k in ("zcimport", "psql", "zcimport_parquet", "adbc_parquet")
                if k in self.commands]


def startup_times(psql: str, conninfo: str, env: Dict[str, str], n: int = 5) -> List[Tuple[str, str, str]]:
    """Medians of n runs of what every whole-process run pays before any
    work: the interpreter, the imports, a psql connection."""
    cases = [
        ("`python -c pass`", [sys.executable, "-c", "pass"]),
        ("`python -c 'import zcimport.cli, pandas, psycopg'`",
         [sys.executable, "-c", "import zcimport.cli, pandas, psycopg"]),
        ("`python -c 'import pyarrow.parquet, adbc_driver_postgresql.dbapi'`",
         [sys.executable, "-c", "import pyarrow.parquet, adbc_driver_postgresql.dbapi"]),
        ("`psql -X -c 'SELECT 1'`", [psql, "-X", "-q", "-d", conninfo, "-c", "SELECT 1"]),
    ]
    rows = []
    for label, cmd in cases:
        times = []
        error = None
        for _ in range(n):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=str(common.REPO), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
                break
        if error:
            rows.append((label, "failed", error[:200]))
        else:
            rows.append((label, common.fmt_s(float(np.median(times))), f"median of {n}"))
    return rows


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def group_table(peers: Sequence[Peer], samples: Dict[str, Samples], ref: str, rows: int) -> List[str]:
    """The timing table of a group of peers, ratios to the ref peer's median."""
    base = samples.get(ref)
    out = []
    for p in peers:
        s = samples[p.key]
        if not s.ok:
            out.append((p.name, "FAILED", "", "", "", s.error or "no samples"))
            continue
        ratio = f"{s.median / base.median:.2f}×" if base is not None and base.ok else "n/a"
        out.append((p.name, common.fmt_s(s.median), common.fmt_s(s.min), common.fmt_s(s.max),
                    common.fmt_rate(rows, s.median), ratio))
    return [common.md_table(["peer (whole process)", "median", "min", "max", "rows/s (median)",
                             f"median / {samples[ref].name if ref in samples else ref} median"],
                            out, "lrrrrr"), ""]


def report(args: argparse.Namespace, info: List[Tuple[str, str]], server: common.Server,
           durable: Dict[str, str], settings: List[Tuple[str, str, str]], peers: Sequence[Peer],
           samples: Dict[str, Samples], files: List[Tuple[str, str]], startup: List[Tuple[str, str, str]],
           pg_parquet: str) -> str:
    """The markdown report."""
    out = common.report_preamble(
        f"File benchmark: a {args.rows:,}-row CSV file (and Parquet file), whole process against"
        " whole process", args, info, server, durable, settings,
        f"{args.rows:,} rows of (id int8, created_at timestamp, day date, amount float8, qty int4,"
        f" name text, city text, note text, paid bool); seed {args.seed}")
    w = out.append
    w("### The files")
    w("")
    w(common.md_table(["file", "what"], files))
    w("")
    w("### Load time")
    w("")
    w(f"Each peer is a whole process started by the benchmark (`subprocess.run`, wall time from"
      f" its start to its exit: interpreter start-up, imports, reading the file, COPY, COMMIT)."
      f" Each load goes into a fresh table `CREATE TABLE t ({DDL})` (DROP, CREATE, CHECKPOINT"
      f" before it, not timed) and is then checked against a reference load made beforehand with"
      f" psql's `\\copy`: row count, non-NULL count of every column, and the exact sum of"
      f" `hashtextextended(t::text, 0)` over the rows (every value of every row must match)."
      f" {args.reps} repetitions, interleaved: each repetition runs every peer once, the first"
      f" peer rotating.  `$DSN` is `{server.conninfo()}`, `$URI` is `{server.libpq_uri()}`.")
    w("")
    csv_peers = [p for p in peers if p.key in ("zcimport", "psql")]
    pq_peers = [p for p in peers if p.key in ("zcimport_parquet", "adbc_parquet")]
    w("**CSV**")
    w("")
    out += group_table(csv_peers, samples, "zcimport", args.rows)
    if pq_peers:
        w("**Parquet**")
        w("")
        out += group_table(pq_peers, samples, "zcimport_parquet", args.rows)
    out += [f"{i}. **{p.name}**: {p.description}." for i, p in enumerate(peers, 1)]
    w("")
    w(f"Skipped: {pg_parquet}.")
    w("")
    out += common.all_times(peers, samples)

    w("### Targets")
    w("")
    rows = []
    for key, ref, minimum in TARGETS:
        s, base = samples.get(key), samples.get(ref)
        label = (f"`zcimport load` ≥ {minimum:g}× faster than"
                 f" {s.name if s else key} (whole process, {args.rows:,}-row CSV)")
        if s is None or base is None or not s.ok or not base.ok:
            rows.append((label, "not measured", "n/a"))
            continue
        ratio = s.median / base.median
        rows.append((label, f"{ratio:.2f}×", "PASS" if ratio >= minimum else "FAIL"))
    w(common.md_table(["target", "measured", "result"], rows, "lrc"))
    w("")

    w("### What every process pays before any work")
    w("")
    w(common.md_table(["", "wall time", ""], startup, "lrl"))
    w("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

PEER_KEYS = ["zcimport", "psql", "zcimport_parquet", "adbc_parquet"]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_size_arguments(p, rows=1_000_000)
    common.add_peers_argument(p, PEER_KEYS)
    p.add_argument("--psql", default=shutil.which("psql") or "psql",
                   help="the psql binary (default: psql on PATH)")
    p.add_argument("--keep-files", type=Path, metavar="DIR",
                   help="write the CSV and Parquet files into DIR and keep them (default: a"
                        " temporary directory, removed at the end)")
    common.add_server_arguments(p, port=54333, dbname="zcimport_bench")
    common.add_run_arguments(p, SECTION)
    args = p.parse_args(argv)
    common.check_args(p, args, PEER_KEYS)
    for key in list(args.peer_keys):
        missing = [f"{dist} is not installed (pip install {dist})"
                   for mod, dist in REQUIREMENTS.get(key, []) if common.package_version(mod) is None]
        if missing:
            args.skipped.append((key, "; ".join(missing)))
            args.peer_keys.remove(key)
    if "psql" in args.peer_keys and shutil.which(args.psql) is None:
        p.error(f"psql not found ({args.psql}); pass --psql or --peers without psql")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success (missed targets and failed peers are
    reported, not errors), 2 when it cannot run (cluster, durability)."""
    return common.run_guarded("csvload.py", run, parse_args(argv))


def pg_parquet_status(admin: "psycopg.Connection[Any]") -> str:
    """Why pg_parquet is not a peer, with whether this server has it."""
    row = admin.execute("SELECT default_version FROM pg_available_extensions"
                        " WHERE name = 'pg_parquet'").fetchone()
    if row:
        return (PG_PARQUET_NOTE.replace("is skipped: it is not packaged",
                                        f"is available on this server ({row[0]}) but not a peer"
                                        " yet; it is not packaged"))
    return PG_PARQUET_NOTE + " (the server has no pg_parquet: `pg_available_extensions`)"


def run(args: argparse.Namespace) -> int:
    """The benchmark proper."""
    log = common.begin_run(args, SECTION)
    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        ctx = common.RunContext.open(server, allow_nondurable=args.allow_nondurable, log=log)
        admin = ctx.admin
        psql_version = subprocess.run([args.psql, "--version"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True).stdout.strip()
        ctx.info.append(("psql", f"{psql_version} (`{shutil.which(args.psql) or args.psql}`)"))
        pg_parquet = pg_parquet_status(admin)
        log(f"skipping pg_parquet: {pg_parquet}")

        tmp: Optional[str] = None
        if args.keep_files:
            args.keep_files.mkdir(parents=True, exist_ok=True)
            file_dir = args.keep_files.resolve()
        else:
            tmp = tempfile.mkdtemp(prefix="zcimport-csvload-")
            file_dir = Path(tmp)
        try:
            log(f"writing the files of {args.rows:,} rows into {file_dir}")
            df = data_frame(args.rows, args.seed)
            csv_path = file_dir / "t.csv"
            write_csv(df, csv_path)
            files = [("`t.csv`", f"{common.format_bytes(csv_path.stat().st_size)}"
                      f" ({csv_path.stat().st_size:,} bytes), a header line and {args.rows:,} rows;"
                      f" written by `DataFrame.to_csv(index=False, date_format='%Y-%m-%d %H:%M:%S')`")]
            parquet_path: Optional[Path] = None
            if {"zcimport_parquet", "adbc_parquet"} & set(args.peer_keys):
                parquet_path = file_dir / "t.parquet"
                write_parquet(df, parquet_path)
                files.append(("`t.parquet`", f"{common.format_bytes(parquet_path.stat().st_size)}"
                              f" ({parquet_path.stat().st_size:,} bytes), the same rows; int64,"
                              " timestamp[us], date32, float64, int32, string ×3, bool; zstd,"
                              " row groups of 131,072 rows (`pyarrow.parquet.write_table`)"))
            with open(csv_path, encoding="utf-8") as f:
                sample = [next(f).rstrip("\n") for _ in range(min(4, args.rows + 1))]
            files.append(("first lines of `t.csv`", "<br>".join(
                f"`{line}`" for line in sample)))
            del df

            contenders = Peers(server, csv_path, parquet_path, args.psql)
            peers = [p for p in contenders.all() if p.key in args.peer_keys]

            log("reference load with psql \\copy")
            common.fresh_table(admin, TABLE, DDL)
            run_process(contenders.commands["psql"], contenders.env)
            expected = fingerprint(admin)
            if expected["rows"] != args.rows:
                raise common.BenchError(f"the reference load has {expected['rows']} rows,"
                                        f" not {args.rows}")
            samples = common.run_reps(admin, peers, args.reps, table=TABLE, ddl=DDL,
                                      check=lambda: mismatches(expected, fingerprint(admin)), log=log)
            log("start-up times")
            startup = startup_times(args.psql, server.conninfo(), contenders.env)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        ctx.close(args)
        text = report(args, ctx.info, server, ctx.durable, ctx.settings, peers, samples, files,
                      startup, pg_parquet)
    return common.emit_report(text, SECTION, args, log)


if __name__ == "__main__":
    sys.exit(main())
