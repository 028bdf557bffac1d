"""Shared helpers for the zcimport benchmarks (bench/seed.py, bench/mixed.py,
bench/csvload.py) and the demo.

Nothing here prints: the helpers return values and the scripts format them.

- :func:`cluster` starts the private, durable throwaway cluster through
  ``test/cluster.sh`` (and stops it afterwards), or reuses the server that
  the environment names with ``PGHOST``/``PGPORT``;
- :func:`connect`, :func:`ensure_database`, :func:`fresh_table`,
  :func:`table_checksum`: connections and per-load table setup;
- :func:`seed_frame`, :func:`frame_checksum`: the seed DataFrame and its
  exact checksum;
- :func:`load_zcimport`, :func:`psql_insert_copy`, :func:`load_csv_recipe`:
  the loads that both the benchmark and the demo run;
- :class:`Samples`, :func:`time_call`: timing with medians;
- :func:`proc_status_bytes`, :func:`reset_peak_rss`: peak-RSS measurement
  through ``/proc/self/status`` and ``/proc/self/clear_refs``;
- :class:`PerfRecorder`, :func:`perf_report`, :func:`group_profile`: server
  profiles with Linux ``perf``;
- :func:`md_table`, :func:`write_section`, :func:`machine_info`,
  :func:`cluster_settings`, :func:`command_line`: the markdown report and
  its place in BENCHMARKS.md, between ``<!-- bench:NAME:start -->`` and
  ``<!-- bench:NAME:end -->``, so that several benchmarks share the file;
- :data:`PACKAGES`, :func:`package_version`, :func:`package_versions`: the
  versions every report records; :data:`PEER_REQUIREMENTS` and
  :func:`missing_requirements`: the packages of the optional peers (a peer
  whose packages are missing is skipped, on stderr and in the report);
- what the benchmarks share beyond that: :class:`Peer` and
  :class:`PeerRunners` (the peers' connections and common loads: zcimport,
  the CSV recipe, the server-side file, ADBC ``adbc_ingest``, pandas
  ``to_sql`` over ADBC, polars ``write_database``, pgpq with psycopg),
  :func:`prepare_server_file`, :func:`run_reps` (the interleaved timed
  repetitions), :class:`Profile` and :func:`profile_load` (a perf profile of
  one load); the report's pieces :func:`report_preamble`,
  :func:`timing_table`, :func:`all_times`, :func:`speed_targets`,
  :func:`profile_lines`; the command line (``add_*_argument(s)``,
  :func:`check_args`) and the course of a run (:func:`run_guarded`,
  :func:`begin_run`, :class:`RunContext`, :func:`emit_report`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime
import gc
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import quote

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

#: The repository's root (the parent of bench/).
REPO = Path(__file__).resolve().parent.parent
#: The private cluster script.
CLUSTER_SH = REPO / "test" / "cluster.sh"
#: The shared benchmark report.
BENCHMARKS_MD = REPO / "BENCHMARKS.md"

BENCHMARKS_INTRO = """\
# zcimport benchmarks

Each section below is written by one benchmark script in `bench/`, run
against the private throwaway PostgreSQL cluster of `test/cluster.sh` with
durable settings (`ZC_PGDURABLE=1`: fsync, synchronous_commit and
full_page_writes on).  A section starts with the exact command that produced
it; rerun that command with `--write` to replace it.  Scripts only rewrite
their own section (between the `bench:NAME` markers).
"""


class BenchError(RuntimeError):
    """A benchmark precondition failed (cluster, durability, tools)."""


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """Where the PostgreSQL server is, and whether this process started it."""

    host: str
    port: int
    user: str
    dbname: str
    started_here: bool
    #: The cluster's directory when it is the private cluster of cluster.sh.
    root: Optional[Path] = None

    def conninfo(self, dbname: Optional[str] = None) -> str:
        """A libpq connection string for a database of this server."""
        return make_conninfo(
            host=self.host, port=str(self.port), user=self.user, dbname=dbname or self.dbname
        )

    def sqlalchemy_url(self, dbname: Optional[str] = None) -> str:
        """A SQLAlchemy URL for psycopg2 (host may be a socket directory)."""
        return (
            f"postgresql+psycopg2://{quote(self.user, safe='')}@/{quote(dbname or self.dbname, safe='')}"
            f"?host={quote(self.host, safe='')}&port={self.port}"
        )

    def libpq_uri(self, dbname: Optional[str] = None) -> str:
        """A libpq URI (postgresql://user@/db?host=...&port=...), for ADBC and polars."""
        return (f"postgresql://{quote(self.user, safe='')}@/{quote(dbname or self.dbname, safe='')}"
                f"?host={quote(self.host, safe='')}&port={self.port}")

    def asyncpg_kwargs(self, dbname: Optional[str] = None) -> Dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect``."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "database": dbname or self.dbname}

    def describe(self) -> str:
        """One line: where the server is and who runs it."""
        if self.started_here:
            who = "private cluster of test/cluster.sh, started by this run"
        elif self.root is not None:
            who = "private cluster of test/cluster.sh, already running"
        else:
            who = "server named by PGHOST/PGPORT"
        return f"{who}, host={self.host} port={self.port}"


def _cluster_env(port: int, durable: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env["ZC_PGPORT"] = str(port)
    env["ZC_PGDURABLE"] = "1" if durable else "0"
    return env


def _cluster_root(port: int) -> Path:
    return Path(os.environ.get("ZC_PGROOT") or f"/tmp/zcimport-pg-{port}")


def _postmaster_alive(root: Path) -> bool:
    pidfile = root / "data" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_cluster_sh(action: str, port: int, durable: bool) -> str:
    proc = subprocess.run(
        ["bash", str(CLUSTER_SH), action], env=_cluster_env(port, durable),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    if proc.returncode != 0:
        raise BenchError(f"test/cluster.sh {action} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


@contextlib.contextmanager
def cluster(port: int, *, dbname: str, durable: bool = True) -> Iterator[Server]:
    """The server to benchmark against, for the duration of the block.

    When the environment has ``PGHOST`` or ``PGPORT``, that server is used
    as it is (``PGUSER`` defaults to postgres) and left running.  Otherwise
    the private cluster of ``test/cluster.sh`` is started on ``port``, with
    ``ZC_PGDURABLE=1`` when ``durable``, and stopped (and deleted) on exit.  A
    cluster already running on that port is reused and left running; a
    stale one that is not running is deleted first, so that it is created
    again with the requested settings.
    """
    if os.environ.get("PGHOST") or os.environ.get("PGPORT"):
        yield Server(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=int(os.environ.get("PGPORT", "5432")),
            user=os.environ.get("PGUSER", "postgres"),
            dbname=dbname,
            started_here=False,
        )
        return
    root = _cluster_root(port)
    if _postmaster_alive(root):
        yield Server(host=str(root), port=port, user="postgres", dbname=dbname,
                     started_here=False, root=root)
        return
    _run_cluster_sh("stop", port, durable)  # a stale, stopped cluster: start afresh
    _run_cluster_sh("start", port, durable)
    try:
        yield Server(host=str(root), port=port, user="postgres", dbname=dbname,
                     started_here=True, root=root)
    finally:
        _run_cluster_sh("stop", port, durable)


def connect(server: Server, *, dbname: Optional[str] = None,
            autocommit: bool = False) -> "psycopg.Connection[Any]":
    """A psycopg 3 connection to the server."""
    return psycopg.connect(server.conninfo(dbname), autocommit=autocommit)


def ensure_database(server: Server) -> None:
    """Create ``server.dbname`` (if missing) and the zcimport extension in it."""
    with connect(server, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (server.dbname,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server.dbname)))
    with connect(server, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS zcimport")


#: Settings that make commits durable; the benchmarks require all of them on.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


def durability(conn: "psycopg.Connection[Any]") -> Dict[str, str]:
    """The durability-related settings of the server, and wal_level."""
    rows = conn.execute(
        "SELECT name, setting FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
        (list(DURABILITY_SETTINGS) + ["wal_level"],),
    ).fetchall()
    return {name: setting for name, setting in rows}


def non_durable(conn: "psycopg.Connection[Any]") -> List[str]:
    """The durability settings that are off (empty when the server is durable)."""
    settings = durability(conn)
    return [f"{n}={settings.get(n)}" for n in DURABILITY_SETTINGS if settings.get(n) != "on"]


def fresh_table(admin: "psycopg.Connection[Any]", table: str, columns_ddl: str) -> None:
    """DROP and CREATE the table, then CHECKPOINT (admin is in autocommit)."""
    ident = sql.Identifier(table)
    admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    admin.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(columns_ddl)))
    admin.execute("CHECKPOINT")


def drop_table(admin: "psycopg.Connection[Any]", table: str) -> None:
    """DROP TABLE IF EXISTS (admin is in autocommit)."""
    admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


# --------------------------------------------------------------------------
# The seed frame and its checksum
# --------------------------------------------------------------------------

#: The seed table.
SEED_DDL = "a float8, b int8"


def seed_frame(rows: int, seed: int = 42) -> pd.DataFrame:
    """The seed frame: ``a`` float64 (standard normal), ``b`` int64 (uniform
    over the whole int64 range), both without missing values."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(rows)
    b = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=rows,
                     dtype=np.int64, endpoint=True)
    return pd.DataFrame({"a": a, "b": b})


@dataclass(frozen=True)
class Checksum:
    """Row count, non-NULL count of ``a``, exact ``sum(b)`` and ``sum(a)``."""

    rows: int
    a_count: int
    b_sum: int
    a_sum: float
    a_abs_sum: float

    def matches(self, other: "Checksum") -> bool:
        """Exact on counts and sum(b); sum(a) within rounding of the order of
        summation (1e-9 of sum(|a|))."""
        tol = 1e-9 * max(self.a_abs_sum, other.a_abs_sum, 1.0)
        return (self.rows == other.rows and self.a_count == other.a_count
                and self.b_sum == other.b_sum and abs(self.a_sum - other.a_sum) <= tol)


def frame_checksum(df: pd.DataFrame) -> Checksum:
    """The checksum of the seed frame, computed without int64 overflow."""
    b = df["b"].to_numpy()
    hi = b >> 32  # arithmetic shift: b == hi * 2**32 + lo, 0 <= lo < 2**32
    lo = b & np.int64(0xFFFFFFFF)
    b_sum = int(hi.sum(dtype=np.int64)) * (1 << 32) + int(lo.sum(dtype=np.int64))
    a = df["a"].to_numpy()
    return Checksum(rows=len(df), a_count=int(np.count_nonzero(~np.isnan(a))), b_sum=b_sum,
                    a_sum=float(a.sum()), a_abs_sum=float(np.abs(a).sum()))


def table_checksum(conn: "psycopg.Connection[Any]", table: str) -> Checksum:
    """The same checksum, read back from the table (sum(b) as numeric)."""
    row = conn.execute(
        sql.SQL("SELECT count(*), count(a), coalesce(sum(b), 0)::text,"
                " coalesce(sum(a), 0), coalesce(sum(abs(a)), 0) FROM {}").format(sql.Identifier(table))
    ).fetchone()
    assert row is not None
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.rollback()
    return Checksum(rows=int(row[0]), a_count=int(row[1]), b_sum=int(row[2]),
                    a_sum=float(row[3]), a_abs_sum=float(row[4]))


# --------------------------------------------------------------------------
# Loads shared by the benchmark and the demo
# --------------------------------------------------------------------------


def load_zcimport(df: pd.DataFrame, table: str, conn: "psycopg.Connection[Any]") -> int:
    """``zcimport.copy_dataframe(df, table, conn)`` then COMMIT; the row count."""
    import zcimport  # imported late: PYTHONPATH=python must be set by the caller

    rows = zcimport.copy_dataframe(df, table, conn)
    conn.commit()
    return rows


# The pandas documentation's recipe, copied as it is (comments included) from
# the pandas 1.5 user guide, "IO tools", section "Insertion method"
# (https://pandas.pydata.org/pandas-docs/version/1.5/user_guide/io.html#io-sql-method),
# the example of a callable for DataFrame.to_sql(method=...):
# "Alternative to_sql() *method* for DBs that support COPY FROM".  Only the
# type hints were added; the body is unchanged.
def psql_insert_copy(table: Any, conn: Any, keys: List[str], data_iter: Iterable[Any]) -> None:
    """
    Execute SQL statement inserting data

    Parameters
    ----------
    table : pandas.io.sql.SQLTable
    conn : sqlalchemy.engine.Engine or sqlalchemy.engine.Connection
    keys : list of str
        Column names
    data_iter : Iterable that iterates the values to be inserted
    """
    # gets a DBAPI connection that can provide a cursor
    dbapi_conn = conn.connection
    with dbapi_conn.cursor() as cur:
        s_buf = StringIO()
        writer = csv.writer(s_buf)
        writer.writerows(data_iter)
        s_buf.seek(0)

        columns = ', '.join(['"{}"'.format(k) for k in keys])
        if table.schema:
            table_name = '{}.{}'.format(table.schema, table.name)
        else:
            table_name = table.name

        sql = 'COPY {} ({}) FROM STDIN WITH CSV'.format(
            table_name, columns)
        cur.copy_expert(sql=sql, file=s_buf)


def make_engine(server: Server) -> Any:
    """A SQLAlchemy engine (psycopg2), with its pooled connection opened."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(server.sqlalchemy_url())
    with engine.connect() as c:  # open the pool's connection outside any timing
        c.execute(sqlalchemy.text("SELECT 1"))
    return engine


def load_csv_recipe(df: pd.DataFrame, table: str, engine: Any) -> None:
    """The recipe as the pandas docs use it: to_sql(..., method=psql_insert_copy).

    pandas runs the insert in a transaction of the engine and commits it.
    """
    df.to_sql(table, engine, if_exists="append", index=False, method=psql_insert_copy)


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def time_call(fn: Callable[[], Any]) -> Tuple[float, Any]:
    """(seconds, result) of fn(), with time.perf_counter."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


@dataclass
class Samples:
    """Timings of one contender, in seconds."""

    name: str
    times: List[float] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when it has timings and did not fail."""
        return self.error is None and bool(self.times)

    @property
    def median(self) -> float:
        """The median time."""
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        """The shortest time."""
        return min(self.times)

    @property
    def max(self) -> float:
        """The longest time."""
        return max(self.times)


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def proc_status_bytes(name: str, pid: str = "self") -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM, ...), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(f"{name} not in /proc/{pid}/status")


def reset_peak_rss() -> None:
    """Reset VmHWM to the current VmRSS (write "5" to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    sign = "-" if n < 0 else ""
    n = abs(float(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------
# Server profiles with perf
# --------------------------------------------------------------------------


def perf_unavailable() -> Optional[str]:
    """None if ``perf record`` can be used here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed (Debian package linux-perf)"
    try:
        proc = subprocess.run(["perf", "record", "-q", "-o", os.devnull, "--", "true"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as ex:
        return f"perf record could not run: {ex}"
    if proc.returncode != 0:
        return f"perf record is not permitted or failed: {proc.stderr.strip()[:300]}"
    return None


#: Call-graph modes of perf record: "fp" is ``-g`` (frame pointers); "dwarf"
#: unwinds with the binaries' .eh_frame from a copy of each sample's stack.
#: Debian builds postgres without frame pointers, so ``-g`` chains skip its
#: frames (a static function of heapam.c called by heap_multi_insert shows
#: as called straight from zcimport's buffers_flush); dwarf gets them right.
CALL_GRAPH_ARGS: Dict[str, List[str]] = {
    "fp": ["-g"],
    "dwarf": ["--call-graph", "dwarf,16384"],
}


class PerfRecorder:
    """``perf record -g -p PID`` (or ``--call-graph dwarf``) for the duration
    of a ``with`` block.

    The data file goes into a private temporary directory, removed by
    :meth:`cleanup`.  ``error`` is set (and no exception raised) when perf
    fails, so that callers can report it.
    """

    def __init__(self, pid: int, *, call_graph: str = "fp",
                 frequency: Optional[int] = None) -> None:
        self.pid = pid
        self.dir = Path(tempfile.mkdtemp(prefix="zcimport-perf-"))
        self.data = self.dir / "perf.data"
        self.frequency = frequency
        self.error: Optional[str] = None
        self.command = (["perf", "record"] + CALL_GRAPH_ARGS[call_graph]
                        + (["-F", str(frequency)] if frequency else [])
                        + ["-o", str(self.data), "-p", str(pid)])
        self._proc: Optional[subprocess.Popen[bytes]] = None

    def __enter__(self) -> "PerfRecorder":
        cmd = self.command
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)  # let perf attach before the work starts
        if self._proc.poll() is not None:
            self.error = (f"perf record exited at once ({self._proc.returncode}): "
                          f"{self._proc.stderr.read().decode(errors='replace').strip()[:300]}")
        return self

    def __exit__(self, *exc: Any) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            self.error = "perf record did not stop within 120 s after SIGINT"
            return
        if not self.data.exists() or self.data.stat().st_size == 0:
            self.error = f"perf record wrote no data: {err.decode(errors='replace').strip()[:300]}"

    def cleanup(self) -> None:
        """Remove the data file and its directory."""
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class PerfEntry:
    """One line of ``perf report``: share of samples, object, symbol."""

    percent: float
    dso: str
    kernel: bool
    symbol: str


PERF_REPORT_ARGS = ["--no-children", "--stdio", "-g", "none", "--sort", "dso,sym"]
_PERF_LINE = re.compile(r"^\s*([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")
_PERF_SAMPLES = re.compile(r"^# Samples:\s+(\S+)\s+of event '([^']*)'")


def perf_report(data: Path, percent_limit: Optional[float] = None) -> Tuple[List[PerfEntry], str]:
    """Parse ``perf report --no-children --stdio -g none --sort dso,sym``.

    Returns the entries, best first, and a header line (sample count and
    event).
    """
    cmd = ["perf", "report", "-i", str(data)] + PERF_REPORT_ARGS
    if percent_limit is not None:
        cmd += ["--percent-limit", str(percent_limit)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise BenchError(f"perf report failed: {proc.stderr.strip()[:300]}")
    entries: List[PerfEntry] = []
    header = ""
    for line in proc.stdout.splitlines():
        m = _PERF_SAMPLES.match(line)
        if m:
            header = f"{m.group(1)} samples of {m.group(2)}"
            continue
        if line.startswith("#"):
            continue
        m = _PERF_LINE.match(line)
        if m:
            entries.append(PerfEntry(percent=float(m.group(1)), dso=m.group(2),
                                     kernel=m.group(3) == "k", symbol=m.group(4)))
    return entries, header


@dataclass(frozen=True)
class Frame:
    """One frame of a sampled call chain (from ``perf script``)."""

    ip: int
    sym: str
    dso: str

    @property
    def kernel(self) -> bool:
        """A kernel frame."""
        return self.dso.startswith("[kernel")

    @property
    def resolved(self) -> bool:
        """perf knows the symbol (the Debian postgres binary is stripped, so
        its static functions are not)."""
        return self.sym != "[unknown]"

    @property
    def obj(self) -> str:
        """The object's file name (postgres, pg_zcimport.so, libc.so.6, ...)."""
        return self.dso.rsplit("/", 1)[-1]


_SCRIPT_FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def perf_callchains(data: Path) -> List[Tuple[Frame, ...]]:
    """The call chain of every sample, leaf first (``perf script -F ip,sym,dso``)."""
    proc = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym,dso", "--no-inline"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1200)
    if proc.returncode != 0:
        raise BenchError(f"perf script failed: {proc.stderr.strip()[:300]}")
    chains: List[Tuple[Frame, ...]] = []
    current: List[Frame] = []
    for line in proc.stdout.splitlines():
        m = _SCRIPT_FRAME.match(line)
        if m:
            if m.group(3) == "inlined":  # the real function's frame follows
                continue
            current.append(Frame(int(m.group(1), 16), m.group(2), m.group(3)))
        elif not line.strip() and current:
            chains.append(tuple(current))
            current = []
    if current:
        chains.append(tuple(current))
    return chains


def _rx(pattern: str) -> "re.Pattern[str]":
    return re.compile(pattern)


#: Groups of a backend's user-space code: (label, pattern on the symbol, or
#: None for "the object is the zcimport server library").  A sample is attributed to the
#: first frame, from the leaf up, that matches one of these; so libc calls
#: (memcpy), generic helpers (hash_search) and the stripped binary's static
#: functions count for their nearest categorised caller.
USER_GROUPS: List[Tuple[str, Optional["re.Pattern[str]"]]] = [
    ("zcimport server library (its own code)", None),
    ("WAL (XLog*, CRC)", _rx(
        r"^(XLog|CopyXLog|ReserveXLog|WALInsert|WaitXLog|AdvanceXLInsert|GetXLogBuffer|log_heap|"
        r"pg_comp_crc32c|issue_xlog_fsync|RecordTransactionCommit)")),
    ("heap insert (heap_multi_insert, RelationPutHeapTuple, PageAdd*, tuple forming)", _rx(
        r"^(heap_|RelationPutHeapTuple|PageAdd|PageInit|PageGetHeapFreeSpace|"
        r"RelationGetBufferForTuple|RelationAddExtraBlocks|ExecStoreHeapTuple|"
        r"ExecStoreVirtualTuple|ExecMaterializeSlot|ExecClearTuple|ExecFetchSlotHeapTuple|"
        r"ExecCopySlot|MakeTupleTableSlot|tts_|slot_|toast_|table_multi_insert|"
        r"CopyMultiInsert)")),
    ("buffer manager and storage (bufmgr, smgr, md, fd)", _rx(
        r"^(ReadBuffer|ReleaseBuffer|UnlockReleaseBuffer|LockBuffer|MarkBufferDirty|PinBuffer|"
        r"UnpinBuffer|BufTable|StrategyGetBuffer|StrategyRejectBuffer|FlushBuffer|BufferAlloc|"
        r"BufferGetBlockNumber|GetVictimBuffer|InvalidateBuffer|smgr|md[a-z]|File[A-Z]|"
        r"pg_pwrite|RelationGetNumberOfBlocks|LockRelationForExtension|"
        r"UnlockRelationForExtension|ScheduleBufferTagForWriteback|IssuePendingWritebacks|"
        r"WritebackContext|LWLock)")),
    ("COPY input and datatype parsing (CopyFrom, NextCopyFrom, pq_*, *recv)", _rx(
        r"^(Copy|NextCopyFrom|BeginCopyFrom|EndCopyFrom|pq_|float8recv|int8recv|float8in|int8in|"
        r"ReceiveFunctionCall|InputFunctionCall|resetStringInfo|enlargeStringInfo|"
        r"appendBinaryStringInfo|secure_read|secure_raw_read|ProcessClientReadInterrupt|"
        r"pgstat_progress_update)")),
    ("memory contexts (palloc, pfree, AllocSet*)", _rx(
        r"^(palloc|pfree|repalloc|AllocSet|MemoryContext|GenerationAlloc|GenerationFree|"
        r"SlabAlloc|SlabFree)")),
]
GROUP_KERNEL_FILE = "kernel: data file write/extend (pwrite, ext4, page cache)"
GROUP_KERNEL_WAL = "kernel: WAL write and fsync"
GROUP_KERNEL_READ = "kernel: reading the COPY input (socket or file)"
GROUP_KERNEL_FAULT = "kernel: page faults"
GROUP_KERNEL_OTHER = "kernel: other (scheduling, syscalls, timers)"
GROUP_OTHER = "other (parse/plan/executor setup, catalog, ...)"

_K_FAULT = _rx(r"exc_page_fault|handle_mm_fault")
_U_WAL = _rx(r"^(XLog|issue_xlog_fsync|pg_fdatasync|pg_fsync|RecordTransactionCommit)")
_U_FILE = _rx(r"^(md(write|extend|zeroextend)|smgr(write|extend)|File(Write|Zero|Fallocate)|"
              r"pg_pwrite|FlushBuffer)")
_U_READ = _rx(r"^(secure_raw_read|secure_read|pq_recvbuf|pq_getbyte|pq_getmessage|"
              r"CopyGetData|CopyLoadRawBuf|CopyLoadInputBuf|fread|_IO_)")
_K_SYSCALL = _rx(r"^__x64_sys_(\w+)")


def _kernel_group(chain: Sequence[Frame]) -> str:
    """The group of a sample whose leaf is in the kernel, from its chain."""
    kernel = [f for f in chain if f.kernel]
    user = [f for f in chain if not f.kernel and f.resolved]
    if any(_K_FAULT.search(f.sym) for f in kernel):
        return GROUP_KERNEL_FAULT
    if any(_U_WAL.match(f.sym) for f in user):
        return GROUP_KERNEL_WAL
    if any(_U_FILE.match(f.sym) for f in user):
        return GROUP_KERNEL_FILE
    if any(_U_READ.match(f.sym) for f in user):
        return GROUP_KERNEL_READ
    syscalls = {m.group(1) for f in kernel for m in [_K_SYSCALL.match(f.sym)] if m}
    if syscalls & {"pwrite64", "write", "fallocate", "ftruncate"}:
        return GROUP_KERNEL_FILE
    if syscalls & {"fdatasync", "fsync"}:
        return GROUP_KERNEL_WAL
    if syscalls & {"recvfrom", "recvmsg", "read"}:
        return GROUP_KERNEL_READ
    return GROUP_KERNEL_OTHER


def kernel_group(chain: Sequence[Frame]) -> str:
    """The group of a sample whose leaf is in the kernel (see _kernel_group)."""
    return _kernel_group(chain)


def classify_sample(chain: Sequence[Frame]) -> Tuple[str, str]:
    """(group, the frame that decided it) for one sample."""
    if not chain:
        return GROUP_OTHER, "?"
    if chain[0].kernel:
        return _kernel_group(chain), chain[0].sym
    for frame in chain:
        if frame.kernel:
            continue
        if "zcimport" in frame.obj:  # pg_zcimport.so (or "... (deleted)")
            return USER_GROUPS[0][0], frame.sym
        if not frame.resolved:
            continue
        for label, pattern in USER_GROUPS[1:]:
            assert pattern is not None
            if pattern.match(frame.sym):
                return label, frame.sym
    leaf = chain[0]
    return GROUP_OTHER, leaf.sym if leaf.resolved else f"{leaf.obj}+{leaf.ip:#x}"


@dataclass(frozen=True)
class GroupShare:
    """A group's share of the samples, with the frames that decided most of it."""

    label: str
    percent: float
    top: List[Tuple[str, float]]


def group_profile(chains: Sequence[Tuple[Frame, ...]],
                  classify: Optional[Callable[[Sequence[Frame]], Tuple[str, str]]] = None,
                  ) -> List[GroupShare]:
    """Shares of the samples by group, largest first.

    ``classify`` maps a call chain to (group, the frame that decided it);
    the default is :func:`classify_sample` and its groups (a benchmark with
    other code paths to tell apart passes its own, see bench/mixed.py).
    """
    if not chains:
        return []
    classify = classify or classify_sample
    counts: Dict[str, Dict[str, int]] = {}
    for chain in chains:
        label, via = classify(chain)
        by = counts.setdefault(label, {})
        by[via] = by.get(via, 0) + 1
    total = len(chains)
    out = []
    for label, by in counts.items():
        n = sum(by.values())
        top = sorted(by.items(), key=lambda kv: -kv[1])[:4]
        out.append(GroupShare(label, 100.0 * n / total, [(k, 100.0 * v / total) for k, v in top]))
    return sorted(out, key=lambda g: -g.percent)


def unresolved_callers(chains: Sequence[Tuple[Frame, ...]]) -> Dict[Tuple[str, int], str]:
    """For each unresolved leaf address (object name, ip): its most frequent
    nearest resolved caller, to annotate perf report's bare addresses."""
    seen: Dict[Tuple[str, int], Dict[str, int]] = {}
    for chain in chains:
        if not chain or chain[0].resolved:
            continue
        caller = next((f.sym for f in chain[1:] if f.resolved), "?")
        by = seen.setdefault((chain[0].obj, chain[0].ip), {})
        by[caller] = by.get(caller, 0) + 1
    return {key: max(by.items(), key=lambda kv: kv[1])[0] for key, by in seen.items()}


# --------------------------------------------------------------------------
# Markdown and BENCHMARKS.md
# --------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
             align: Optional[str] = None) -> str:
    """A markdown table; align is one character per column: l, r or c."""
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(str(h) for h in headers) + " |",
             "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                       for c in row) + " |")
    return "\n".join(lines)


def _markers(name: str) -> Tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD,
                  intro: str = BENCHMARKS_INTRO) -> None:
    """Replace the ``name`` section of path (between its markers), or append
    it; the file is created with ``intro`` if missing.  Written atomically."""
    start, end = _markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else intro.rstrip() + "\n"
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        j += len(end)
        if j < len(text) and text[j] == "\n":
            j += 1
        text = text[:i] + block + text[j:]
    elif i >= 0 or text.find(end) >= 0:
        raise BenchError(f"{path}: the markers of section {name!r} are unbalanced; fix the file")
    else:
        text = text.rstrip() + "\n\n" + block
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def command_line() -> str:
    """The command that runs this process, as typed from the repository root."""
    argv = list(sys.argv)
    script = Path(argv[0]).resolve()
    try:
        argv[0] = str(script.relative_to(REPO))
    except ValueError:
        argv[0] = str(script)
    prefix = []
    if os.environ.get("PYTHONPATH"):
        prefix.append(f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])}")
    return " ".join(prefix + [sys.executable] + [shlex.quote(a) for a in argv])


def _meminfo_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def server_library(conn: "psycopg.Connection[Any]") -> Optional[Tuple[Path, str]]:
    """The zcimport server library file and a fingerprint of it (mtime and
    SHA-256 prefix), to notice a reinstall during a run; None if unknown.

    The path is the ``$libdir/...`` of the extension's C functions, with
    ``$libdir`` from ``pg_config --pkglibdir`` (the server must be local).
    """
    import hashlib

    try:
        row = conn.execute(
            "SELECT probin FROM pg_proc WHERE pronamespace = 'zcimport'::regnamespace"
            " AND probin IS NOT NULL LIMIT 1").fetchone()
    except psycopg.Error:
        conn.rollback()
        return None
    conn.rollback()
    if not row or not row[0]:
        return None
    probin = str(row[0])
    pg_config = "/usr/lib/postgresql/15/bin/pg_config"
    if not os.path.exists(pg_config):
        pg_config = shutil.which("pg_config") or "pg_config"
    try:
        libdir = subprocess.run([pg_config, "--pkglibdir"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(probin.replace("$libdir", libdir))
    if not path.suffix:
        path = path.with_suffix(".so")
    try:
        data = path.read_bytes()
        mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
    except OSError:
        return path, "missing"
    return path, f"modified {mtime:%Y-%m-%d %H:%M:%S} UTC, sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def source_state() -> str:
    """The repository's commit, and whether tracked files have uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=True).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return f"commit {head}" + (" with uncommitted changes to tracked files" if dirty else "")


#: The Python packages whose versions every report records: (import name,
#: distribution name as pip knows it).
PACKAGES: List[Tuple[str, str]] = [
    ("pandas", "pandas"), ("numpy", "numpy"), ("pyarrow", "pyarrow"), ("polars", "polars"),
    ("adbc_driver_postgresql", "adbc-driver-postgresql"),
    ("adbc_driver_manager", "adbc-driver-manager"), ("pgpq", "pgpq"), ("psycopg", "psycopg"),
    ("psycopg2", "psycopg2"), ("asyncpg", "asyncpg"), ("sqlalchemy", "SQLAlchemy"),
]


def package_version(module: str) -> Optional[str]:
    """The version of an importable package, or None when it is not installed."""
    import importlib
    import importlib.metadata

    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    version = getattr(mod, "__version__", None)
    if version is None:
        for dist in (module, module.replace("_", "-")):
            try:
                version = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return str(version).split()[0] if version else "installed (version unknown)"


def package_versions() -> List[Tuple[str, str]]:
    """(distribution name, version or "not installed") of every PACKAGES entry."""
    return [(dist, package_version(mod) or "not installed") for mod, dist in PACKAGES]


def machine_info(conn: "psycopg.Connection[Any]") -> List[Tuple[str, str]]:
    """(label, value) pairs: date, CPUs, RAM, kernel, PostgreSQL, Python and
    the versions of every package a benchmark may use (PACKAGES)."""
    version = conn.execute("SELECT version()").fetchone()
    try:
        zc = conn.execute("SELECT zcimport.version()").fetchone()
        zc_version = str(zc[0]) if zc else "?"
    except psycopg.Error:
        zc_version = "not installed"
    conn.rollback()
    try:
        import zcimport

        client = zcimport.__version__
    except ImportError:
        client = "not importable"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    packages = ", ".join(f"{dist} {v}" for dist, v in package_versions())
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"nproc {affinity} ({_cpu_model()})"),
        ("RAM", format_bytes(_meminfo_total())),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("PostgreSQL", str(version[0]) if version else "unknown"),
        ("zcimport", f"server library {zc_version}, Python client {client}; source {source_state()}"),
        ("Python", f"{platform.python_version()} ({sys.executable}); libpq of psycopg"
                   f" {psycopg.pq.version()} ({psycopg.pq.__impl__} implementation)"),
        ("packages", packages),
    ]


def cluster_settings(conn: "psycopg.Connection[Any]") -> List[Tuple[str, str, str]]:
    """(name, value with unit, source) of the settings whose source is not
    'default', without the ones that a session sets for itself (sources
    client, session, override: application_name, data_directory, ...)."""
    rows = conn.execute(
        "SELECT name, setting, coalesce(unit, ''), source FROM pg_settings"
        " WHERE source <> 'default' AND source NOT IN ('client', 'session', 'override')"
        " ORDER BY name"
    ).fetchall()
    conn.rollback()
    out = []
    for name, setting, unit, source in rows:
        value = setting
        if unit in ("8kB", "kB", "MB") and setting.isdigit():
            mult = {"8kB": 8192, "kB": 1024, "MB": 1 << 20}[unit]
            value = f"{setting} ({format_bytes(int(setting) * mult)})"
        elif unit:
            value = f"{setting} {unit}"
        out.append((name, value, source))
    return out


# --------------------------------------------------------------------------
# Benchmark runs: peers, interleaved repetitions, server profiles
# --------------------------------------------------------------------------


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Peer:
    """One way of loading the frame; load() is timed, COMMIT included."""

    key: str
    name: str
    description: str
    load: Callable[[], None]
    #: Roll back whatever the peer's connection left open after a failure.
    reset: Callable[[], None] = lambda: None


#: The description of the zcimport peer; {table} is the table's name.
ZCIMPORT_PEER_DESCRIPTION = '`zcimport.copy_dataframe(df, "{table}", conn)` (psycopg 3), then `conn.commit()`'
#: The description of the CSV recipe peer; {table} is the table's name.
CSV_PEER_DESCRIPTION = (
    "`df.to_sql('{table}', engine, if_exists='append', index=False, method=psql_insert_copy)`:"
    " the `psql_insert_copy` insertion method of the pandas 1.5 user guide"
    " (csv.writer into a StringIO, then psycopg2 `copy_expert('COPY ... FROM STDIN WITH CSV')`),"
    " SQLAlchemy engine, psycopg2")


#: What the optional peers need: peer key -> [(import name, pip name, minimum
#: version or None)].  A peer whose packages are missing is skipped, with a
#: message on stderr and in the report (see :func:`check_args`).
PEER_REQUIREMENTS: Dict[str, List[Tuple[str, str, Optional[str]]]] = {
    "csv": [("sqlalchemy", "SQLAlchemy", None), ("psycopg2", "psycopg2-binary", None)],
    "asyncpg": [("asyncpg", "asyncpg", None)],
    "adbc": [("pyarrow", "pyarrow", None), ("adbc_driver_postgresql", "adbc-driver-postgresql", None)],
    "pandas_adbc": [("pyarrow", "pyarrow", None),
                    ("adbc_driver_postgresql", "adbc-driver-postgresql", None),
                    ("pandas", "pandas", "2.2")],
    "polars": [("polars", "polars", None), ("pyarrow", "pyarrow", None),
               ("adbc_driver_postgresql", "adbc-driver-postgresql", None)],
    "pgpq": [("pgpq", "pgpq", None), ("pyarrow", "pyarrow", None)],
}


def _version_tuple(text: str) -> Tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def missing_requirements(key: str) -> Optional[str]:
    """None when the peer's packages are importable (and recent enough), else why not."""
    missing = []
    for module, dist, minimum in PEER_REQUIREMENTS.get(key, []):
        version = package_version(module)
        if version is None:
            missing.append(f"{dist} is not installed (pip install {dist})")
        elif minimum and _version_tuple(version) < _version_tuple(minimum):
            missing.append(f"{dist} {version} is older than {minimum}")
    return "; ".join(missing) if missing else None


def arrow_table(df: pd.DataFrame) -> Any:
    """``pa.Table.from_pandas(df, preserve_index=False)`` (NaN in float columns
    and NaT become null, as pandas' to_sql ADBC path does)."""
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def pgpq_compatible(table: Any) -> Any:
    """The Arrow table cast to types pgpq's encoder accepts: timestamps in
    µs (PostgreSQL's precision; pgpq refuses ns), dictionaries (pandas
    categoricals) decoded to their values."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_timestamp(t) and t.unit != "us":
            t = pa.timestamp("us", tz=t.tz)
        fields.append(pa.field(f.name, t, f.nullable))
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


#: Rows per Arrow record batch that the pgpq peer encodes at a time (the
#: default batch size of pyarrow's datasets, as pgpq's examples iterate).
PGPQ_BATCH_ROWS = 131_072

#: The descriptions of the Arrow-based peers; {table} is the table's name.
ADBC_PEER_DESCRIPTION = (
    "ADBC's PostgreSQL driver: `tbl = pa.Table.from_pandas(df, preserve_index=False)` (the"
    " conversion is timed: a pandas user has to make it), then, on an ADBC DB-API connection"
    " opened beforehand (`adbc_driver_postgresql.dbapi.connect(uri)`),"
    " `cursor.adbc_ingest('{table}', tbl, mode='append')` and `conn.commit()`.  The driver"
    " (C/C++, libpq and nanoarrow) runs `COPY ... FROM STDIN WITH (FORMAT binary)` and encodes"
    " each Arrow record batch into PostgreSQL's binary COPY format in C, row by row and field by"
    " field (a length and a big-endian value per field), and sends it through libpq")
PANDAS_ADBC_PEER_DESCRIPTION = (
    "`df.to_sql('{table}', con=adbc_conn, if_exists='append', index=False)` with the same kind of"
    " ADBC connection (pandas ≥ 2.2 takes ADBC connections): pandas checks the table, converts"
    " the frame with `pa.Table.from_pandas`, calls `adbc_ingest` and commits; so the ADBC peer"
    " plus pandas' own overhead")
POLARS_PEER_DESCRIPTION = (
    "polars: the frame as a polars user holds it, `pl.from_pandas(df)` built before the timing"
    " (not timed); timed: `pl_df.write_database('{table}', connection=uri, engine='adbc',"
    " if_table_exists='append')`, which opens its own ADBC connection from the URI (connection"
    " setup included: {connect}), exports the frame to Arrow and calls the same `adbc_ingest`,"
    " then commits{cast}")
PGPQ_PEER_DESCRIPTION = (
    "pgpq (Rust) with psycopg 3: `pa.Table.from_pandas(df, preserve_index=False)`{cast} (timed),"
    " `enc = pgpq.ArrowToPostgresBinaryEncoder(tbl.schema)`, then"
    " `cursor.copy('COPY {table} FROM STDIN WITH (FORMAT binary)')` and `copy.write()` of"
    " `enc.write_header()`, `enc.write_batch(b)` for each record batch of"
    f" {PGPQ_BATCH_ROWS:,} rows (`tbl.to_batches(max_chunksize=...)`), `enc.finish()`; then"
    " `conn.commit()`.  pgpq encodes the binary COPY format row by row in Rust")


class PeerRunners:
    """The connections of a benchmark's peers, opened up front, and the loads
    that every benchmark has: zcimport, the CSV recipe of the pandas docs and
    the server-side ``COPY table FROM 'file'``.

    A benchmark subclasses it with its other peers and its ``all()`` (the
    peers in report order).  ``keys`` names the peers that will run: the
    SQLAlchemy engine is opened only for "csv" and the asyncpg connection
    (``self.apg``) only for "asyncpg"; None opens both.
    """

    #: The FORMAT of the server-side file (see :func:`prepare_server_file`).
    file_format = "binary"

    def __init__(self, server: Server, df: pd.DataFrame, file_path: str, *, table: str,
                 keys: Optional[Sequence[str]] = None) -> None:
        self.df = df
        self.file_path = file_path
        self.table = table
        self.pg3 = connect(server)
        self.engine = make_engine(server) if keys is None or "csv" in keys else None
        self.loop = asyncio.new_event_loop()
        self.apg: Any = None
        if keys is None or "asyncpg" in keys:
            import asyncpg

            self.apg = self.loop.run_until_complete(asyncpg.connect(**server.asyncpg_kwargs()))
        #: The libpq URI of the ADBC and polars peers.
        self.uri = server.libpq_uri()
        #: An ADBC DB-API connection (autocommit off), for "adbc" and "pandas_adbc".
        self.adbc: Any = None
        if keys is None or {"adbc", "pandas_adbc"} & set(keys):
            import adbc_driver_postgresql.dbapi as adbc_dbapi

            self.adbc = adbc_dbapi.connect(self.uri)
        #: The frame as a polars DataFrame, built before any timing.
        self.pl_df: Any = None
        if keys is None or "polars" in keys:
            import polars as pl

            self.pl_df = pl.from_pandas(df)
        #: The median time of opening (and closing) an ADBC connection, which
        #: the polars peer pays in each load; None when not measured.
        self.adbc_connect_s: Optional[float] = None
        if keys is None or "polars" in keys:
            import adbc_driver_postgresql.dbapi as adbc_dbapi

            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                adbc_dbapi.connect(self.uri).close()
                times.append(time.perf_counter() - t0)
            self.adbc_connect_s = statistics.median(times)

    def close(self) -> None:
        """Close every connection."""
        if self.adbc is not None:
            with contextlib.suppress(Exception):
                self.adbc.close()
        if self.apg is not None:
            self.loop.run_until_complete(self.apg.close())
        self.loop.close()
        if self.engine is not None:
            self.engine.dispose()
        self.pg3.close()

    def rollback_pg3(self) -> None:
        """Roll back the psycopg 3 connection (the reset of the peers that use it)."""
        if not self.pg3.closed:
            self.pg3.rollback()

    def zcimport(self) -> None:
        """zcimport.copy_dataframe(df, table, conn), then COMMIT."""
        load_zcimport(self.df, self.table, self.pg3)

    def csv_recipe(self) -> None:
        """df.to_sql(table, engine, if_exists='append', index=False, method=psql_insert_copy)."""
        load_csv_recipe(self.df, self.table, self.engine)

    def server_file(self) -> None:
        """COPY table FROM 'file' (FORMAT file_format) on the server, then COMMIT."""
        self.pg3.execute(sql.SQL("COPY {} FROM {} (FORMAT {})").format(
            sql.Identifier(self.table), sql.Literal(self.file_path), sql.SQL(self.file_format)))
        self.pg3.commit()

    def rollback_adbc(self) -> None:
        """Roll back the ADBC connection (the reset of the peers that use it)."""
        if self.adbc is not None:
            self.adbc.rollback()

    def adbc_ingest(self) -> None:
        """pa.Table.from_pandas, then adbc_ingest(mode='append') and COMMIT."""
        tbl = arrow_table(self.df)
        with self.adbc.cursor() as cur:
            cur.adbc_ingest(self.table, tbl, mode="append")
        self.adbc.commit()

    def pandas_adbc(self) -> None:
        """df.to_sql(table, con=<ADBC connection>, if_exists='append', index=False)."""
        self.df.to_sql(self.table, con=self.adbc, if_exists="append", index=False)

    def polars_categoricals(self) -> List[str]:
        """The polars frame's Categorical and Enum columns, which ADBC's COPY
        writer refuses (Arrow dictionaries with uint32 indices)."""
        import polars as pl

        return [name for name, dt in self.pl_df.schema.items()
                if dt == pl.Categorical or isinstance(dt, pl.Enum)]

    def polars_write(self) -> None:
        """pl_df.write_database(table, connection=uri, engine='adbc', if_table_exists='append');
        Categorical columns cast to String first (in the timed part)."""
        import polars as pl

        frame = self.pl_df
        cats = self.polars_categoricals()
        if cats:
            frame = frame.with_columns(pl.col(cats).cast(pl.String))
        frame.write_database(self.table, connection=self.uri, engine="adbc",
                             if_table_exists="append")

    def pgpq_copy(self) -> None:
        """pa.Table.from_pandas, pgpq's encoder, psycopg 3 binary COPY, COMMIT."""
        import pgpq

        tbl = pgpq_compatible(arrow_table(self.df))
        enc = pgpq.ArrowToPostgresBinaryEncoder(tbl.schema)
        with self.pg3.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} FROM STDIN WITH (FORMAT binary)").format(
                    sql.Identifier(self.table))) as copy:
                copy.write(enc.write_header())
                for batch in tbl.to_batches(max_chunksize=PGPQ_BATCH_ROWS):
                    copy.write(enc.write_batch(batch))
                copy.write(enc.finish())
        self.pg3.commit()

    def adbc_peer(self) -> Peer:
        """The ADBC adbc_ingest peer."""
        return Peer("adbc", "ADBC adbc_ingest", ADBC_PEER_DESCRIPTION.format(table=self.table),
                    self.adbc_ingest, self.rollback_adbc)

    def pandas_adbc_peer(self) -> Peer:
        """The pandas to_sql over ADBC peer."""
        return Peer("pandas_adbc", "pandas to_sql (ADBC connection)",
                    PANDAS_ADBC_PEER_DESCRIPTION.format(table=self.table), self.pandas_adbc,
                    self.rollback_adbc)

    def polars_peer(self) -> Peer:
        """The polars write_database(engine='adbc') peer."""
        cats = self.polars_categoricals() if self.pl_df is not None else []
        cast = (f"; the Categorical column{'s' if len(cats) > 1 else ''}"
                f" {', '.join(f'`{c}`' for c in cats)} cast to `pl.String` first, in the timed"
                " part, since ADBC's COPY writer refuses polars' Arrow dictionaries"
                " (\"COPY Writer not implemented for type 30\")" if cats else "")
        connect = ("`adbc_driver_postgresql.dbapi.connect(uri)` and `close()` alone took"
                   f" {self.adbc_connect_s * 1000:.0f} ms here, median of 3, measured beforehand"
                   if self.adbc_connect_s is not None else "not measured")
        return Peer("polars", "polars write_database (ADBC)",
                    POLARS_PEER_DESCRIPTION.format(table=self.table, cast=cast, connect=connect),
                    self.polars_write)

    def pgpq_peer(self) -> Peer:
        """The pgpq + psycopg 3 binary COPY peer."""
        cast = ""
        if self.df is not None:
            kinds = []
            if any(isinstance(dt, pd.CategoricalDtype) for dt in self.df.dtypes):
                kinds.append("dictionaries (categoricals) decoded to their values")
            if any(str(dt).startswith("datetime64") and "[us" not in str(dt) for dt in self.df.dtypes):
                kinds.append("timestamps cast from ns to µs (pgpq refuses ns)")
            if kinds:
                cast = " and `tbl.cast(...)` to types pgpq accepts: " + ", ".join(kinds)
        return Peer("pgpq", "pgpq + psycopg binary COPY",
                    PGPQ_PEER_DESCRIPTION.format(table=self.table, cast=cast), self.pgpq_copy,
                    self.rollback_pg3)

    def zcimport_peer(self) -> Peer:
        """The zcimport peer."""
        return Peer("zcimport", "zcimport", ZCIMPORT_PEER_DESCRIPTION.format(table=self.table),
                    self.zcimport, self.rollback_pg3)

    def csv_peer(self) -> Peer:
        """The peer of the CSV recipe of the pandas docs."""
        return Peer("csv", "CSV recipe (pandas docs)", CSV_PEER_DESCRIPTION.format(table=self.table),
                    self.csv_recipe)

    def all(self) -> List[Peer]:
        """The peers, in report order."""
        raise NotImplementedError


@contextlib.contextmanager
def server_writable_dir() -> Iterator[Path]:
    """A temporary directory that the server's OS user can write (sticky,
    world-writable), removed with its contents at the end of the block."""
    path = Path(tempfile.mkdtemp(prefix="zcimport-bench-"))
    os.chmod(path, 0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def prepare_server_file(admin: "psycopg.Connection[Any]", df: pd.DataFrame, path: Path, *,
                        table: str, ddl: str, file_format: str) -> str:
    """Write the frame to ``path`` with the server's ``COPY table TO path
    (FORMAT file_format)``, through a table loaded with zcimport (and dropped
    afterwards); the path, for the server-side file peer."""
    fresh_table(admin, table, ddl)
    with psycopg.connect(admin.info.dsn) as conn:
        load_zcimport(df, table, conn)
    admin.execute(sql.SQL("COPY {} TO {} (FORMAT {})").format(
        sql.Identifier(table), sql.Literal(str(path)), sql.SQL(file_format)))
    drop_table(admin, table)
    return str(path)


def run_reps(admin: "psycopg.Connection[Any]", peers: Sequence[Peer], reps: int, *,
             table: str, ddl: str, check: Callable[[], Optional[str]],
             log: Callable[[str], None]) -> Dict[str, Samples]:
    """Time every peer reps times, interleaved; a failing peer is dropped.

    Each load goes into a fresh table (``fresh_table(admin, table, ddl)``,
    not timed).  After it, ``check()`` reads the table back: None when its
    contents are right, else what is wrong (the peer then fails).
    """
    log(f"{reps} interleaved repetitions of: {', '.join(p.name for p in peers)}")
    samples = {p.key: Samples(p.name) for p in peers}
    for rep in range(reps):
        # every repetition runs each peer once; the first peer rotates
        order = [peers[(rep + i) % len(peers)] for i in range(len(peers))]
        for peer in order:
            s = samples[peer.key]
            if s.error is not None:
                continue
            fresh_table(admin, table, ddl)
            gc.collect()
            try:
                seconds, _ = time_call(peer.load)
            except Exception as ex:  # a failing peer is reported, not fatal
                s.error = f"{type(ex).__name__}: {str(ex).strip()[:300]}"
                try:
                    peer.reset()
                except Exception:
                    pass
                log(f"rep {rep + 1}/{reps} {peer.name}: FAILED {s.error}")
                continue
            problem = check()
            if problem is not None:
                s.error = f"wrong table contents after the load: {problem}"
                log(f"rep {rep + 1}/{reps} {peer.name}: FAILED {s.error}")
                continue
            s.times.append(seconds)
            log(f"rep {rep + 1}/{reps} {peer.name}: {seconds:.3f} s")
    drop_table(admin, table)
    return samples


def profiling_unavailable(no_profile: bool) -> Optional[str]:
    """None if the server profiles are to be recorded, else why not."""
    if no_profile:
        return "--no-profile was given"
    return perf_unavailable()


@dataclass
class Profile:
    """A backend profile of one load."""

    label: str
    seconds: float = 0.0
    header: str = ""
    top: Optional[List[PerfEntry]] = None
    groups: Optional[List[GroupShare]] = None
    callers: Optional[Dict[Tuple[str, int], str]] = None
    command: str = ""
    warning: Optional[str] = None
    error: Optional[str] = None


def profile_load(admin: "psycopg.Connection[Any]", label: str, pid: int, load: Callable[[], None], *,
                 table: str, ddl: str, call_graph: str, frequency: Optional[int] = None,
                 classify: Optional[Callable[[Sequence[Frame]], Tuple[str, str]]] = None) -> Profile:
    """``perf record`` of backend ``pid`` around one load into a fresh table,
    then its report: the top symbols, the samples grouped by ``classify``
    (see :func:`group_profile`) and the callers of unresolved addresses.

    ``frequency`` is perf record's ``-F`` (None: perf's default).  A failure
    is reported in ``Profile.error``, not raised.
    """
    prof = Profile(label)
    fresh_table(admin, table, ddl)
    rec = PerfRecorder(pid, call_graph=call_graph, frequency=frequency)
    prof.command = " ".join(rec.command[:-1] + ["<backend pid>"]).replace(str(rec.data), "perf.data")
    try:
        with rec:
            if rec.error is None:
                prof.seconds, _ = time_call(load)
        if rec.error is not None:
            prof.error = rec.error
            return prof
        prof.top, header = perf_report(rec.data, percent_limit=1)
        chains = perf_callchains(rec.data)
        event = header.split(" of ", 1)[-1] if " of " in header else "samples"
        prof.header = f"{len(chains):,} samples of {event}"
        prof.groups = group_profile(chains, classify)
        prof.callers = unresolved_callers(chains)
        deleted = sorted({f.obj for c in chains for f in c if f.dso.endswith("(deleted)")})
        if deleted:
            prof.warning = (f"{', '.join(deleted)}: the file was replaced on disk after the backend"
                            " loaded it (a reinstall during the run), so perf could not resolve"
                            " its symbols; its samples show as bare offsets")
    except Exception as ex:
        prof.error = f"{type(ex).__name__}: {ex}"
    finally:
        rec.cleanup()
        drop_table(admin, table)
    return prof


# --------------------------------------------------------------------------
# Report pieces shared by the benchmarks (lists of markdown lines; "" is a
# blank line)
# --------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    """Seconds with 3 significant decimals."""
    return f"{x:.3f} s" if x < 100 else f"{x:.1f} s"


def fmt_rate(rows: int, seconds: float) -> str:
    """Rows per second, in millions."""
    return f"{rows / seconds / 1e6:.2f} M"


def report_preamble(title: str, args: argparse.Namespace, info: Sequence[Tuple[str, str]],
                    server: Server, durable: Dict[str, str],
                    settings: Sequence[Tuple[str, str, str]], frame: str) -> List[str]:
    """The start of a benchmark's section: the ``## title``, the command,
    the run's warnings (``args.warnings``), the table of the machine and the
    server (``info``, then the load averages, the server, its durability and
    ``frame``, what the frame holds) and the table of the cluster settings."""
    out = [f"## {title}", "", f"Command (from the repository root): `{command_line()}`", ""]
    for warning in args.warnings:
        out += [f"**Warning**: {warning}.", ""]
    out += skipped_lines(args)
    rows = list(info)
    rows.append(("load average", f"{args.loadavg_start} at the start, {args.loadavg_end} at the end"
                                 " (1, 5, 15 min; the machine is shared)"))
    rows.append(("server", server.describe()))
    rows.append(("durability", ", ".join(f"{k}={v}" for k, v in sorted(durable.items()))))
    rows.append(("frame", frame))
    out += [md_table(["", ""], rows), ""]
    out += ["Cluster settings that differ from the defaults (`pg_settings.source <> 'default'`,"
            " without per-session sources):", ""]
    out += [md_table(["setting", "value", "source"], settings), ""]
    return out


def skipped_lines(args: argparse.Namespace) -> List[str]:
    """The report's lines on the peers that were skipped (missing packages)."""
    skipped = getattr(args, "skipped", [])
    if not skipped:
        return []
    return ["**Skipped peers** (not measured in this run): " + "; ".join(
        f"`{key}`: {why}" for key, why in skipped) + ".", ""]


def timing_table(peers: Sequence[Peer], samples: Dict[str, Samples], rows: int) -> List[str]:
    """The load-time table (median, min, max, rate, ratio to zcimport's
    median) and the numbered list of what each peer does."""
    zc = samples.get("zcimport")
    table_rows = []
    for p in peers:
        s = samples[p.key]
        if not s.ok:
            table_rows.append((p.name, "FAILED", "", "", "", s.error or "no samples"))
            continue
        ratio = f"{s.median / zc.median:.2f}×" if zc is not None and zc.ok else "n/a"
        note = f" (failed later: {s.error})" if s.error else ""
        table_rows.append((p.name, fmt_s(s.median), fmt_s(s.min), fmt_s(s.max),
                           fmt_rate(rows, s.median), ratio + note))
    out = [md_table(["peer", "median", "min", "max", "rows/s (median)",
                     "median / zcimport median"], table_rows, "lrrrrr"), ""]
    out += [f"{i}. **{p.name}**: {p.description}." for i, p in enumerate(peers, 1)]
    return out + [""]


def all_times(peers: Sequence[Peer], samples: Dict[str, Samples]) -> List[str]:
    """Every timing of every peer, in the order they ran."""
    return ["All times, in the order they ran: " + "; ".join(
        f"{samples[p.key].name} " + ", ".join(f"{t:.3f}" for t in samples[p.key].times)
        for p in peers) + " (seconds).", ""]


def speed_targets(samples: Dict[str, Samples], targets: Sequence[Tuple[str, float]],
                  label: str) -> List[Tuple[str, str, str]]:
    """(target, measured, result) rows of the speed targets: for each (peer
    key, minimum), the ratio of the peer's median to zcimport's.  ``label``
    is formatted with ``minimum`` and ``name`` (the peer's name)."""
    zc = samples.get("zcimport")
    rows = []
    for key, minimum in targets:
        s = samples.get(key)
        text = label.format(minimum=minimum, name=s.name if s else key)
        if s is None or not s.ok or zc is None or not zc.ok:
            rows.append((text, "not measured", "n/a"))
            continue
        ratio = s.median / zc.median
        rows.append((text, f"{ratio:.2f}×", "PASS" if ratio >= minimum else "FAIL"))
    return rows


def profile_lines(prof: Profile) -> List[str]:
    """The ``####`` section of one server profile: the sample count, the
    table of groups (with the frames that decided them) and the table of
    the top symbols (self time, at most 25)."""
    out = [f"#### {prof.label}", ""]
    if prof.error:
        return out + [f"Profiling failed: `{prof.error}`", ""]
    out += [f"{prof.header}; the profiled load took {prof.seconds:.3f} s (with perf attached).", ""]
    if prof.warning:
        out += [f"**Warning**: {prof.warning}.", ""]
    assert prof.groups is not None and prof.top is not None and prof.callers is not None
    out += [md_table(
        ["group", "share", "mostly"],
        [(g.label, f"{g.percent:.1f}%",
          ", ".join(f"`{name}` {pct:.1f}%" for name, pct in g.top if pct >= 0.05))
         for g in prof.groups],
        "lrl"), ""]
    rows = []
    for e in prof.top[:25]:
        sym = f"`{e.symbol}`"
        if e.symbol.startswith("0x"):
            caller = prof.callers.get((e.dso, int(e.symbol, 16)))
            if caller:
                sym += f" (static, called from `{caller}`)"
        rows.append((sym, e.dso, f"{e.percent:.2f}%"))
    return out + [md_table(["symbol", "object", "self"], rows, "llr"), ""]


# --------------------------------------------------------------------------
# The command line and the course of a run
# --------------------------------------------------------------------------


def add_size_arguments(p: argparse.ArgumentParser, *, rows: int, reps: bool = True) -> None:
    """--rows (default ``rows``) and, with ``reps``, --reps."""
    p.add_argument("--rows", type=int, default=rows, help=f"rows of the frame (default {rows:,})")
    if reps:
        p.add_argument("--reps", type=int, default=5, help="repetitions per peer, at least 3 (default 5)")


def add_call_graph_argument(p: argparse.ArgumentParser) -> None:
    """--call-graph: perf record's call graphs (see CALL_GRAPH_ARGS)."""
    p.add_argument("--call-graph", choices=sorted(CALL_GRAPH_ARGS), default="dwarf",
                   help="perf record's call graphs: dwarf (default; right for the Debian postgres,"
                        " which has no frame pointers) or fp (perf record -g)")


def add_peers_argument(p: argparse.ArgumentParser, keys: Sequence[str]) -> None:
    """--peers: a comma-separated subset of keys (see :func:`check_args`)."""
    p.add_argument("--peers", default=",".join(keys),
                   help=f"comma-separated subset of {','.join(keys)} (default: all; zcimport is"
                        " always included)")


#: The help of --port of the benchmarks; {port} is the default port.
PORT_HELP = ("port of the private cluster (default $ZC_PGPORT or {port}); ignored when"
             " PGHOST/PGPORT name an existing server")


def add_server_arguments(p: argparse.ArgumentParser, *, port: int, dbname: str,
                         port_help: str = PORT_HELP) -> None:
    """--seed (of the frame), --port (default $ZC_PGPORT or ``port``; its
    help is ``port_help`` formatted with ``port``) and --dbname."""
    p.add_argument("--seed", type=int, default=42, help="random seed of the frame (default 42)")
    p.add_argument("--port", type=int, default=int(os.environ.get("ZC_PGPORT", str(port))),
                   help=port_help.format(port=port))
    p.add_argument("--dbname", default=dbname,
                   help=f"database, created if missing (default {dbname})")


def add_run_arguments(p: argparse.ArgumentParser, section: str) -> None:
    """--allow-nondurable, --write (the ``section`` of BENCHMARKS.md),
    --output and -q/--quiet."""
    p.add_argument("--allow-nondurable", action="store_true",
                   help="run even if fsync, synchronous_commit or full_page_writes is off")
    p.add_argument("--write", action="store_true",
                   help=f"replace the '{section}' section of BENCHMARKS.md with the report")
    p.add_argument("--output", type=Path, default=BENCHMARKS_MD,
                   help="the file that --write updates (default BENCHMARKS.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace, keys: Sequence[str]) -> None:
    """Check --reps and --rows (p.error() exits), and set ``args.peer_keys``
    from --peers: known keys only, zcimport always (first if it was missing)."""
    if args.reps < 3:
        p.error("--reps must be at least 3")
    if args.rows < 1:
        p.error("--rows must be positive")
    args.peer_keys = [k.strip() for k in args.peers.split(",") if k.strip()]
    unknown = set(args.peer_keys) - set(keys)
    if unknown:
        p.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if "zcimport" not in args.peer_keys:
        args.peer_keys.insert(0, "zcimport")
    args.skipped = []
    for key in list(args.peer_keys):
        why = missing_requirements(key)
        if why is not None:
            args.skipped.append((key, why))
            args.peer_keys.remove(key)


def run_guarded(prog: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """run(args); when it raises BenchError (it cannot run: cluster,
    durability), the message on stderr after ``prog:`` and 2."""
    try:
        return run(args)
    except BenchError as ex:
        print(f"{prog}: {ex}", file=sys.stderr)
        return 2


def begin_run(args: argparse.Namespace, name: str) -> Callable[[str], None]:
    """Note the load average at the start (``args.loadavg_start``), start
    ``args.warnings``, and return the progress log: ``[name HH:MM:SS] msg``
    lines on stderr, none with ``args.quiet``."""
    args.loadavg_start = loadavg()
    args.warnings = []

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
    for key, why in getattr(args, "skipped", []):
        # always shown, even with --quiet: a peer is missing from the report
        print(f"[{name}] SKIPPED peer {key}: {why}", file=sys.stderr, flush=True)
    return log


@dataclass
class RunContext:
    """The admin connection of a benchmark run (autocommit) and what the
    report says of the machine and the server, read at the start."""

    admin: "psycopg.Connection[Any]"
    #: :func:`durability`
    durable: Dict[str, str]
    #: :func:`machine_info`, then the server library; the benchmark appends more
    info: List[Tuple[str, str]]
    #: :func:`cluster_settings`
    settings: List[Tuple[str, str, str]]
    #: :func:`server_library` at the start
    library: Optional[Tuple[Path, str]]

    @classmethod
    def open(cls, server: Server, *, allow_nondurable: bool,
             log: Callable[[str], None]) -> "RunContext":
        """Create the database and extension if missing, connect, and refuse
        (BenchError) a server that is not durable unless allow_nondurable."""
        log(f"server: {server.describe()}")
        ensure_database(server)
        admin = connect(server, autocommit=True)
        off = non_durable(admin)
        if off and not allow_nondurable:
            raise BenchError(
                f"the server is not durable ({', '.join(off)}): benchmarks need ZC_PGDURABLE=1"
                " (stop the cluster so that it is created again) or --allow-nondurable")
        durable = durability(admin)
        info = machine_info(admin)
        library = server_library(admin)
        if library:
            info.append(("server library", f"`{library[0]}`, {library[1]}"))
        return cls(admin, durable, info, cluster_settings(admin), library)

    def close(self, args: argparse.Namespace) -> None:
        """At the end of the run: a warning in ``args.warnings`` if the
        server library was reinstalled meanwhile, close the connection, and
        note the load average (``args.loadavg_end``)."""
        if self.library:
            now = server_library(self.admin)
            if now != self.library:
                args.warnings.append(
                    f"the zcimport server library `{self.library[0]}` was reinstalled during the run"
                    f" (it was {self.library[1]}; now {now}): connections opened"
                    " before that kept the old code, so parts of this run may have measured different"
                    " builds; rerun when nobody is installing")
        self.admin.close()
        args.loadavg_end = loadavg()


def transport_info(transport: str, server: Server, conn: "psycopg.Connection[Any]") -> Tuple[str, str]:
    """The "zcimport transport" row of the machine table."""
    return ("zcimport transport", f"{transport} (connections use"
            f" host={server.host}; {'SSL' if conn.pgconn.ssl_in_use else 'no SSL'})")


def emit_report(text: str, section: str, args: argparse.Namespace, log: Callable[[str], None]) -> int:
    """Print the report; with --write, also replace its section of
    ``args.output``.  0, the exit status."""
    print(text)
    if args.write:
        write_section(section, text, args.output)
        log(f"wrote the '{section}' section of {args.output}")
    return 0
