"""The keys benchmark (issue 10): loads into tables with a primary key and a
secondary btree index, zcimport against PostgreSQL's server-side
``COPY t FROM '/path/file' WITH (FORMAT binary)``, side by side in one run,
on the durable private cluster of test/cluster.sh.

The table is always

    CREATE TABLE t (id int8 PRIMARY KEY, a float8, b int8);
    CREATE INDEX t_b_idx ON t (b);

with ``id`` in random order, ``a`` ~ N(0, 1) and ``b`` uniform over the
whole int64 range (so both indexes get random keys).

Scenarios (each timed from the first statement up to and including COMMIT):

(a) ``--rows-a`` rows (default 10M) into an empty table, in two lines:
    ``a_truncate``: ``BEGIN; TRUNCATE t; COPY ...; COMMIT`` (the empty table
    with its two indexes is created before, not timed), and
    ``a_create``: ``BEGIN; CREATE TABLE t ...; CREATE INDEX ...; COPY ...;
    COMMIT``.  Target: zcimport >= 4x faster.
(b) ``b_append``: ``--append`` rows (default 3M, new ids, random order)
    appended to a table that holds ``--base`` rows (default 10M) with both
    indexes.  Target >= 2x.
(c) ``c_upsert``: ``--upsert`` rows (default 1M: half new ids, half
    existing ids, random order) upserted into the ``--base``-row table:
    ``zcimport.copy_dataframe(df, "t", conn, on_conflict="update")`` against
    the same by hand (temp staging table, binary COPY into it from a server
    file or from the client with psycopg, then ``INSERT ... ON CONFLICT (id)
    DO UPDATE``), all in one transaction.  Target >= 1.5x.  Skipped, visibly,
    while zcimport.copy_dataframe has no ``on_conflict`` parameter.

Every load of (b) and (c) starts from the same state: the base table is
built once, in a template database (server-side COPY, then ALTER TABLE ...
ADD PRIMARY KEY and CREATE INDEX, then VACUUM (FREEZE, ANALYZE)), and before
each load the run database is dropped and cloned from it with ``CREATE
DATABASE ... TEMPLATE ... STRATEGY FILE_COPY``, a file-level copy, so that
each load meets byte-identical files (heap, indexes, visibility map).  A
CHECKPOINT precedes every timed load, and the first peer alternates between
runs.  The template database is kept for the next run (its COMMENT records
its sizes); --rebuild-base rebuilds it, --drop-base drops it at the end.

After each load the table is checked: count(*), exact sum(id), exact sum(b)
and sum(a) must equal what the frames say (so the peers' sums equal
zcimport's), a sample of 1,000 loaded ids and 1,000 loaded b values must be
found by index scans of t_pkey and t_b_idx exactly as often as by a
sequential scan, and (--amcheck first, the default) the first zcimport load
of each scenario is verified with amcheck's ``bt_index_check(index, true)``
(every heap tuple is in each index).

--profile records the zcimport backend (``perf record -g -F 1000 -p <pid
of SELECT pg_backend_pid()>``) during one extra, untimed load of (a) (both
lines) and (b) and reports the top symbols (``perf report --no-children
--sort dso,sym``).

--server-library PATH measures another build of the server library without
installing it (e.g. the "before" of a change: ``git archive HEAD Makefile
src sql zcimport.control | tar -x -C /tmp/zc_before && make
-C /tmp/zc_before pg_zcimport.so``): in the benchmark's databases the
extension's C functions are pointed at PATH (``pg_proc.probin``), so the
loading sessions load that file (and install its COPY hook) instead of
``$libdir/pg_zcimport.so``; each loading backend is checked to have exactly
that one zcimport library mapped.

With two random btree indexes bigger than shared_buffers, the peer's loads
are slow whatever zcimport does (about 3 minutes per 10M-row load of (a) on
2 cores), so the default run takes about 30 minutes plus zcimport's own
loads; --only and the size options make shorter runs.

Prints a markdown report; --write replaces the "keys" section of
BENCHMARKS.md.  Run from the repository root, e.g. a quick smoke run:

    PYTHONPATH=python .venv/latest/bin/python bench/keys.py --rows-a 200000 \\
        --base 200000 --append 60000 --upsert 20000
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Peer, Samples  # noqa: E402

TABLE = "t"
SECTION = "keys"
TITLE = "Keys and indexes (issue 10)"
#: The table, its primary key and its secondary index.
CREATE_TABLE = "CREATE TABLE t (id int8 PRIMARY KEY, a float8, b int8)"
CREATE_INDEX = "CREATE INDEX t_b_idx ON t (b)"
INDEXES = ("t_pkey", "t_b_idx")
#: The settings that the report shows (and that matter for keyed loads).
SETTINGS = ("shared_buffers", "maintenance_work_mem", "max_parallel_maintenance_workers",
            "max_worker_processes", "work_mem", "wal_level", "max_wal_size", "checkpoint_timeout",
            "fsync", "synchronous_commit", "full_page_writes", "wal_compression")
#: Scenario key -> target: minimum ratio (peer median / zcimport median), and
#: the peers it applies to.
TARGETS: Dict[str, Tuple[float, Tuple[str, ...]]] = {
    "a_truncate": (4.0, ("file",)),
    "a_create": (4.0, ("file",)),
    "b_append": (2.0, ("file",)),
    "c_upsert": (1.5, ("file", "psycopg")),
}
#: Rows per sample of the index checks.
INDEX_SAMPLE = 1000
#: Layout version of the template database (part of its COMMENT).
BASE_LAYOUT = "keys-base-v1"
#: Symbols listed per profile.
PROFILE_TOP = 15
#: The probin of the extension's C functions (module_pathname of zcimport.control).
DEFAULT_PROBIN = "$libdir/pg_zcimport"

#: PostgreSQL's binary COPY header, trailer and one tuple of t.
PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
PGCOPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
PGCOPY_ROW = np.dtype([("nfields", ">i2"), ("len_id", ">i4"), ("id", ">i8"),
                       ("len_a", ">i4"), ("a", ">f8"), ("len_b", ">i4"), ("b", ">i8")])
#: Bytes per Copy.write() of the psycopg peer.
CHUNK_BYTES = 1 << 20


# --------------------------------------------------------------------------
# Frames, files and checksums
# --------------------------------------------------------------------------


def key_frame(ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """(id, a, b): the given ids, a ~ N(0, 1), b uniform over int64."""
    n = len(ids)
    b = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=n, dtype=np.int64,
                     endpoint=True)
    return pd.DataFrame({"id": ids.astype(np.int64), "a": rng.standard_normal(n), "b": b})


def binary_copy_buffer(df: pd.DataFrame) -> np.ndarray:
    """The whole binary COPY stream of (id, a, b) as one uint8 array."""
    n = len(df)
    head, width = len(PGCOPY_HEADER), PGCOPY_ROW.itemsize
    buf = np.empty(head + n * width + len(PGCOPY_TRAILER), dtype=np.uint8)
    buf[:head] = np.frombuffer(PGCOPY_HEADER, dtype=np.uint8)
    rows = buf[head:head + n * width].view(PGCOPY_ROW)
    rows["nfields"] = 3
    rows["len_id"] = 8
    rows["id"] = df["id"].to_numpy()
    rows["len_a"] = 8
    rows["a"] = df["a"].to_numpy()
    rows["len_b"] = 8
    rows["b"] = df["b"].to_numpy()
    buf[head + n * width:] = np.frombuffer(PGCOPY_TRAILER, dtype=np.uint8)
    return buf


def write_copy_file(df: pd.DataFrame, path: Path) -> str:
    """Write the frame as a binary COPY file the server can read (written by
    NumPy, independently of zcimport); its path."""
    binary_copy_buffer(df).tofile(path)
    os.chmod(path, 0o644)
    return str(path)


def exact_sum(x: np.ndarray) -> int:
    """The exact sum of an int64 array, without overflow."""
    x = np.asarray(x, dtype=np.int64)
    hi = x >> 32
    lo = x & np.int64(0xFFFFFFFF)
    return int(hi.sum(dtype=np.int64)) * (1 << 32) + int(lo.sum(dtype=np.int64))


@dataclass(frozen=True)
class Sums:
    """count(*), exact sum(id) and sum(b), sum(a) (and sum(|a|) for its tolerance)."""

    rows: int
    id_sum: int
    b_sum: int
    a_sum: float
    a_abs: float

    def matches(self, other: "Sums") -> bool:
        """Exact on count, sum(id), sum(b); sum(a) within 1e-9 of sum(|a|)."""
        tol = 1e-9 * max(self.a_abs, other.a_abs, 1.0)
        return (self.rows, self.id_sum, self.b_sum) == (other.rows, other.id_sum, other.b_sum) \
            and abs(self.a_sum - other.a_sum) <= tol

    def __add__(self, o: "Sums") -> "Sums":
        return Sums(self.rows + o.rows, self.id_sum + o.id_sum, self.b_sum + o.b_sum,
                    self.a_sum + o.a_sum, self.a_abs + o.a_abs)

    def __sub__(self, o: "Sums") -> "Sums":
        return Sums(self.rows - o.rows, self.id_sum - o.id_sum, self.b_sum - o.b_sum,
                    self.a_sum - o.a_sum, self.a_abs + o.a_abs)

    def short(self) -> str:
        """count, sum(id), sum(b), sum(a), for the report."""
        return f"count {self.rows:,}, sum(id) {self.id_sum}, sum(b) {self.b_sum}, sum(a) {self.a_sum:.6f}"


def arrays_sums(ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> Sums:
    """The sums of the given columns."""
    return Sums(len(ids), exact_sum(ids), exact_sum(b), float(np.sum(a)), float(np.abs(a).sum()))


def frame_sums(df: pd.DataFrame) -> Sums:
    """The sums of a frame."""
    return arrays_sums(df["id"].to_numpy(), df["a"].to_numpy(), df["b"].to_numpy())


def int8_array(values: Sequence[int]) -> sql.Composable:
    """An int8[] literal (a constant, so that a sequential scan hashes it)."""
    return sql.SQL("{}::int8[]").format(
        sql.Literal("{" + ",".join(str(int(v)) for v in values) + "}"))


def table_sums(conn: "psycopg.Connection[Any]", id_sample: Sequence[int] = (),
               b_sample: Sequence[int] = ()) -> Tuple[Sums, int, int]:
    """The sums read back from t, and how many rows hold one of the sampled
    ids and b values; one sequential scan (index scans disabled)."""
    for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
        conn.execute(f"SET LOCAL {setting} = off")
    row = conn.execute(sql.SQL(
        "SELECT count(*), coalesce(sum(id), 0)::text, coalesce(sum(b), 0)::text,"
        " coalesce(sum(a), 0), coalesce(sum(abs(a)), 0),"
        " count(*) FILTER (WHERE id = ANY({})), count(*) FILTER (WHERE b = ANY({})) FROM t").format(
            int8_array(id_sample), int8_array(b_sample))).fetchone()
    conn.rollback()
    assert row is not None
    return (Sums(int(row[0]), int(row[1]), int(row[2]), float(row[3]), float(row[4])),
            int(row[5]), int(row[6]))


# --------------------------------------------------------------------------
# The table checks
# --------------------------------------------------------------------------


def index_count(conn: "psycopg.Connection[Any]", column: str,
                values: Sequence[int]) -> Tuple[int, str]:
    """count(*) of rows whose column is one of values, by index scans only;
    and the plan."""
    for setting in ("enable_seqscan", "enable_bitmapscan"):
        conn.execute(f"SET LOCAL {setting} = off")
    query = sql.SQL("SELECT count(*) FROM t WHERE {} = ANY({})").format(
        sql.Identifier(column), int8_array(values))
    plan = "\n".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + query).fetchall())
    row = conn.execute(query).fetchone()
    conn.rollback()
    assert row is not None
    return int(row[0]), plan


def check_table(conn: "psycopg.Connection[Any]", expected: Sums, id_sample: List[int],
                b_sample: List[int], amcheck: bool) -> Tuple[Optional[str], Sums, List[str]]:
    """(what is wrong or None, the table's sums, notes on what was checked)."""
    notes: List[str] = []
    got = Sums(0, 0, 0, 0.0, 0.0)
    try:
        got, n_id, n_b = table_sums(conn, id_sample, b_sample)
        if not got.matches(expected):
            return f"sums {got.short()}; expected {expected.short()}", got, notes
        for column, index, values, n_seq in (("id", "t_pkey", id_sample, n_id),
                                             ("b", "t_b_idx", b_sample, n_b)):
            n_idx, plan = index_count(conn, column, values)
            if index not in plan:
                return f"the index check of {column} did not use {index}: {plan}", got, notes
            if n_idx != n_seq or n_seq < len(set(values)):
                return (f"{index}: index scans find {n_idx} rows for {len(values)} sampled loaded"
                        f" {column} values, a sequential scan {n_seq}"), got, notes
        if amcheck:
            t0 = time.perf_counter()
            for index in INDEXES:
                conn.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
            notes.append(f"amcheck bt_index_check(heapallindexed) of {', '.join(INDEXES)}"
                         f" passed ({time.perf_counter() - t0:.1f} s)")
        return None, got, notes
    except psycopg.Error as ex:
        return f"check failed: {type(ex).__name__}: {str(ex).strip()[:300]}", got, notes
    finally:
        conn.rollback()


# --------------------------------------------------------------------------
# Scenarios and their runs
# --------------------------------------------------------------------------


@dataclass
class Scenario:
    """One keyed load, timed for each of its peers."""

    key: str
    title: str
    rows: int
    #: what the table holds before, how the load is timed
    description: str
    peers: List[Peer]
    #: Untimed, before each load: restore the starting state, CHECKPOINT.
    prepare: Callable[[], None]
    #: The connection that loads (after prepare()).
    conn: Callable[[], "psycopg.Connection[Any]"]
    expected: Sums
    id_sample: List[int]
    b_sample: List[int]
    samples: Dict[str, Samples] = field(default_factory=dict)
    sums: Dict[str, List[Sums]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    skipped: Optional[str] = None


def run_scenario(sc: Scenario, runs: int, amcheck: str, log: Callable[[str], None]) -> None:
    """Time every peer of the scenario ``runs`` times, the first peer
    alternating; each load checked afterwards (a failing peer is dropped)."""
    log(f"{sc.key}: {runs} runs of {', '.join(p.name for p in sc.peers)} ({sc.rows:,} rows)")
    sc.samples = {p.key: Samples(p.name) for p in sc.peers}
    sc.sums = {p.key: [] for p in sc.peers}
    for run in range(runs):
        order = [sc.peers[(run + i) % len(sc.peers)] for i in range(len(sc.peers))]
        for peer in order:
            s = sc.samples[peer.key]
            if s.error is not None:
                continue
            t0 = time.perf_counter()
            sc.prepare()
            prep = time.perf_counter() - t0
            gc.collect()
            try:
                seconds, _ = common.time_call(peer.load)
            except Exception as ex:  # a failing peer is reported, not fatal
                s.error = f"{type(ex).__name__}: {str(ex).strip()[:300]}"
                with contextlib.suppress(Exception):
                    peer.reset()
                log(f"{sc.key} run {run + 1}/{runs} {peer.name}: FAILED {s.error}")
                continue
            do_amcheck = peer.key == "zcimport" and (
                amcheck == "all" or (amcheck == "first" and not s.times))
            t1 = time.perf_counter()
            problem, got, notes = check_table(sc.conn(), sc.expected, sc.id_sample, sc.b_sample,
                                              do_amcheck)
            sc.notes += [f"{peer.name}, run {run + 1}: {n}" for n in notes]
            if problem is not None:
                s.error = f"wrong table contents after the load: {problem}"
                log(f"{sc.key} run {run + 1}/{runs} {peer.name}: FAILED {s.error}")
                continue
            s.times.append(seconds)
            sc.sums[peer.key].append(got)
            log(f"{sc.key} run {run + 1}/{runs} {peer.name}: {seconds:.3f} s"
                f" (prepare {prep:.1f} s, check {time.perf_counter() - t1:.1f} s)")


@dataclass
class ProfileResult:
    """The perf profile of one zcimport load."""

    label: str
    seconds: float = 0.0
    header: str = ""
    top: List[common.PerfEntry] = field(default_factory=list)
    unresolved_postgres: float = 0.0
    postgres_share: float = 0.0
    error: Optional[str] = None


def profile_scenario(sc: Scenario, label: str, frequency: int,
                     log: Callable[[str], None]) -> ProfileResult:
    """``perf record -g -p <backend>`` around one extra (untimed) zcimport
    load of the scenario; its top symbols."""
    res = ProfileResult(label)
    zc = next(p for p in sc.peers if p.key == "zcimport")
    sc.prepare()
    conn = sc.conn()
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    conn.rollback()
    assert row is not None
    pid = int(row[0])
    log(f"{sc.key}: profiling a zcimport load (backend pid {pid})")
    rec = common.PerfRecorder(pid, call_graph="fp", frequency=frequency)
    try:
        with rec:
            if rec.error is None:
                res.seconds, _ = common.time_call(zc.load)
        if rec.error is not None:
            res.error = rec.error
            return res
        entries, res.header = common.perf_report(rec.data)
        res.top = entries[:PROFILE_TOP]
        res.postgres_share = sum(e.percent for e in entries if e.dso == "postgres")
        res.unresolved_postgres = sum(e.percent for e in entries
                                      if e.dso == "postgres" and e.symbol.startswith("0x"))
        problem, _, _ = check_table(conn, sc.expected, sc.id_sample, sc.b_sample, False)
        if problem is not None:
            res.error = f"the profiled load left a wrong table: {problem}"
    except Exception as ex:
        res.error = f"{type(ex).__name__}: {ex}"
        with contextlib.suppress(Exception):
            conn.rollback()
    finally:
        rec.cleanup()
    return res


# --------------------------------------------------------------------------
# The databases: (a) in the main database; (b) and (c) in clones of a
# template database that holds the base table
# --------------------------------------------------------------------------


def point_library(conn: "psycopg.Connection[Any]", library: Optional[str]) -> None:
    """Point the zcimport extension's C functions of conn's database (an
    autocommit connection) at ``library`` (--server-library), or back at
    the installed library.  Sessions opened afterwards load that file when
    they first call one (which installs its COPY hook)."""
    target = library or DEFAULT_PROBIN
    conn.execute("UPDATE pg_catalog.pg_proc SET probin = %s"
                 " WHERE pronamespace = 'zcimport'::regnamespace AND probin IS NOT NULL"
                 " AND probin IS DISTINCT FROM %s", (target, target))


def check_backend_library(conn: "psycopg.Connection[Any]", library: Optional[str]) -> None:
    """After the loading session called zcimport.version(): exactly one
    zcimport server library is mapped in its backend, and it is ``library``
    when given (read from /proc/<pid>/maps; skipped when the server is not
    local)."""
    try:
        maps = Path(f"/proc/{conn.info.backend_pid}/maps").read_text()
    except OSError:
        return
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "pg_zcimport" in line})
    if len(libs) > 1:
        raise common.BenchError(f"the loading backend has two zcimport server libraries mapped:"
                                f" {', '.join(libs)}")
    if library and libs and os.path.realpath(libs[0]) != os.path.realpath(
            library if library.endswith(".so") else library + ".so"):
        raise common.BenchError(f"the loading backend mapped {libs[0]}, not {library}")


class MainDB:
    """(a): one loading connection to the main database for all runs."""

    def __init__(self, server: common.Server, admin: "psycopg.Connection[Any]",
                 library: Optional[str]) -> None:
        self.admin = admin
        self.conn = common.connect(server)
        self.conn.execute("SELECT zcimport.version()")
        self.conn.rollback()
        check_backend_library(self.conn, library)

    def prepare_truncate(self) -> None:
        """An empty t with both indexes, then CHECKPOINT."""
        self.admin.execute("DROP TABLE IF EXISTS t")
        self.admin.execute(CREATE_TABLE)
        self.admin.execute(CREATE_INDEX)
        self.admin.execute("CHECKPOINT")

    def prepare_create(self) -> None:
        """No t, then CHECKPOINT."""
        self.admin.execute("DROP TABLE IF EXISTS t")
        self.admin.execute("CHECKPOINT")

    def close(self) -> None:
        """Drop t, close the loading connection."""
        with contextlib.suppress(Exception):
            self.conn.rollback()
        self.conn.close()
        self.admin.execute("DROP TABLE IF EXISTS t")


class CloneDB:
    """(b) and (c): the template database with the base table, and the run
    database cloned from it before each load."""

    def __init__(self, server: common.Server, admin: "psycopg.Connection[Any]",
                 library: Optional[str]) -> None:
        self.server = server
        self.admin = admin
        self.library = library
        self.base_db = f"{server.dbname}_keys_base"
        self.run_db = f"{server.dbname}_keys_run"
        self.conn_: Optional["psycopg.Connection[Any]"] = None
        #: How the template was obtained (for the report).
        self.how = ""
        #: Seconds of each clone (CREATE DATABASE ... STRATEGY FILE_COPY).
        self.clone_times: List[float] = []

    def base_comment(self, base: int, seed: int) -> str:
        return f"{BASE_LAYOUT} rows={base} seed={seed}"

    def ensure_base(self, base_df_file: Callable[[], str], base: int, seed: int, rebuild: bool,
                    log: Callable[[str], None]) -> None:
        """Build the template database unless one with the same comment exists."""
        want = self.base_comment(base, seed)
        row = self.admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (self.base_db,)).fetchone()
        if row is not None and row[0] == want and not rebuild:
            self.how = (f"reused: the template database `{self.base_db}` of an earlier run"
                        f" (COMMENT `{want}`)")
            log(f"reusing the template database {self.base_db} ({want})")
            return
        log(f"building the template database {self.base_db} with {base:,} rows")
        t0 = time.perf_counter()
        path = base_df_file()
        ident = sql.Identifier(self.base_db)
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        with common.connect(self.server, dbname=self.base_db, autocommit=True) as c:
            with contextlib.suppress(psycopg.Error):
                c.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            c.execute("CREATE TABLE t (id int8 NOT NULL, a float8, b int8)")
            c.execute(sql.SQL("COPY t FROM {} (FORMAT binary)").format(sql.Literal(path)))
            c.execute("ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)")
            c.execute(CREATE_INDEX)
            c.execute("VACUUM (FREEZE, ANALYZE) t")
        self.admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(want)))
        self.how = (f"built by this run in {time.perf_counter() - t0:.0f} s: server-side COPY of the"
                    " base rows into `t (id int8 NOT NULL, a float8, b int8)`, then"
                    " `ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)`, `CREATE INDEX t_b_idx"
                    " ON t (b)`, `VACUUM (FREEZE, ANALYZE) t`")

    def restore(self) -> None:
        """Drop the run database, clone it from the template (file copy),
        connect, CREATE EXTENSION zcimport, warm the connection, CHECKPOINT."""
        self.close_conn()
        ident = sql.Identifier(self.run_db)
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        t0 = time.perf_counter()
        self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            ident, sql.Identifier(self.base_db)))
        self.clone_times.append(time.perf_counter() - t0)
        # CREATE EXTENSION loads the installed library (it validates the C
        # functions), so it runs in a session of its own: the loading session
        # must load only the library that --server-library names, since two
        # builds in one backend bind to each other's global symbols
        with common.connect(self.server, dbname=self.run_db, autocommit=True) as setup:
            setup.execute("CREATE EXTENSION IF NOT EXISTS zcimport")
            point_library(setup, self.library)
        conn = common.connect(self.server, dbname=self.run_db)
        # the same warm-up for every peer: the server library, t and its indexes in the relcache
        conn.execute("SELECT zcimport.version()")
        conn.execute("SELECT count(*) FROM t WHERE id = -1 OR b = -1")
        conn.rollback()
        check_backend_library(conn, self.library)
        self.conn_ = conn
        self.admin.execute("CHECKPOINT")

    def conn(self) -> "psycopg.Connection[Any]":
        assert self.conn_ is not None
        return self.conn_

    def close_conn(self) -> None:
        if self.conn_ is not None:
            with contextlib.suppress(Exception):
                self.conn_.close()
            self.conn_ = None

    def close(self, drop_base: bool) -> None:
        """Close, drop the run database (and the template with drop_base)."""
        self.close_conn()
        self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(self.run_db)))
        if drop_base:
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(self.base_db)))


# --------------------------------------------------------------------------
# The loads
# --------------------------------------------------------------------------


def zcimport_load(df: pd.DataFrame, conn: Callable[[], "psycopg.Connection[Any]"],
                  before: Sequence[str] = (), **kwargs: Any) -> Callable[[], None]:
    """statements, zcimport.copy_dataframe(df, 't', conn, **kwargs), COMMIT."""
    import zcimport

    def load() -> None:
        c = conn()
        for stmt in before:
            c.execute(stmt)
        zcimport.copy_dataframe(df, TABLE, c, **kwargs)
        c.commit()
    return load


def file_load(path: str, conn: Callable[[], "psycopg.Connection[Any]"],
              before: Sequence[str] = ()) -> Callable[[], None]:
    """statements, COPY t FROM 'path' (FORMAT binary), COMMIT."""
    def load() -> None:
        c = conn()
        for stmt in before:
            c.execute(stmt)
        c.execute(sql.SQL("COPY t FROM {} (FORMAT binary)").format(sql.Literal(path)))
        c.commit()
    return load


STAGING = "CREATE TEMP TABLE staging (LIKE t) ON COMMIT DROP"
UPSERT = ("INSERT INTO t SELECT * FROM staging"
          " ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b")


def staging_file_load(path: str, conn: Callable[[], "psycopg.Connection[Any]"]) -> Callable[[], None]:
    """The upsert by hand, staging filled by a server-side binary COPY."""
    def load() -> None:
        c = conn()
        c.execute(STAGING)
        c.execute(sql.SQL("COPY staging FROM {} (FORMAT binary)").format(sql.Literal(path)))
        c.execute(UPSERT)
        c.commit()
    return load


def staging_psycopg_load(df: pd.DataFrame,
                         conn: Callable[[], "psycopg.Connection[Any]"]) -> Callable[[], None]:
    """The upsert by hand, staging filled by psycopg binary COPY from the client."""
    def load() -> None:
        c = conn()
        c.execute(STAGING)
        view = memoryview(binary_copy_buffer(df))
        with c.cursor() as cur:
            with cur.copy("COPY staging (id, a, b) FROM STDIN (FORMAT binary)") as copy:
                for i in range(0, len(view), CHUNK_BYTES):
                    copy.write(view[i:i + CHUNK_BYTES])
        c.execute(UPSERT)
        c.commit()
    return load


def has_on_conflict() -> Optional[str]:
    """None when zcimport.copy_dataframe takes on_conflict, else why not."""
    import zcimport

    params = inspect.signature(zcimport.copy_dataframe).parameters
    if "on_conflict" in params:
        return None
    return ("zcimport.copy_dataframe has no `on_conflict` parameter yet"
            f" (inspect.signature: {', '.join(params)})")


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def server_settings(conn: "psycopg.Connection[Any]") -> List[Tuple[str, str, str]]:
    """(name, value with unit, source) of SETTINGS."""
    rows = conn.execute("SELECT name, setting, coalesce(unit, ''), source FROM pg_settings"
                        " WHERE name = ANY(%s)", (list(SETTINGS),)).fetchall()
    conn.rollback()
    by = {r[0]: r for r in rows}
    out = []
    for name in SETTINGS:
        if name not in by:
            continue
        _, setting, unit, source = by[name]
        value = setting
        if unit in ("8kB", "kB", "MB") and setting.lstrip("-").isdigit():
            mult = {"8kB": 8192, "kB": 1024, "MB": 1 << 20}[unit]
            value = f"{setting} × {unit} ({common.format_bytes(int(setting) * mult)})"
        elif unit:
            value = f"{setting} {unit}"
        out.append((name, value, source))
    return out


def postgres_symbols_note() -> str:
    """Whether perf can name the functions of the postgres binary."""
    binary = POSTGRES_BINARY
    try:
        out = subprocess.run(["file", "-L", binary], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        out = ""
    dbg = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "postgresql-15-dbgsym"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    stripped = "stripped" in out and "not stripped" not in out
    installed = "install ok installed" in dbg
    if stripped and not installed:
        return (f"`{binary}` is stripped and its debug symbols (postgresql-15-dbgsym) are not"
                " installed: perf names only the functions that the binary exports (its dynamic"
                " symbol table: most non-static functions); static functions show as bare"
                " addresses (`0x...`), shown with the exported functions around them in the"
                " binary (`nm -D`), which tells their source file")
    if installed:
        return "postgresql-15-dbgsym is installed: perf names static functions too"
    return f"`{binary}` is not stripped"


POSTGRES_BINARY = "/usr/lib/postgresql/15/bin/postgres"


def exported_neighbours() -> Callable[[int], Optional[str]]:
    """For an address in the stripped postgres binary: the exported
    functions around it (``nm -D``), to tell which source file a static
    function perf cannot name belongs to; None when unknown."""
    try:
        out = subprocess.run(["nm", "-D", "--defined-only", POSTGRES_BINARY],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return lambda addr: None
    syms = sorted((int(p[0], 16), p[2]) for p in (line.split() for line in out.splitlines())
                  if len(p) == 3 and p[1] in "Tt")

    def around(addr: int) -> Optional[str]:
        import bisect

        i = bisect.bisect_right(syms, (addr, "\uffff")) - 1
        if i < 0 or i + 1 >= len(syms):
            return None
        return f"static; between the exported `{syms[i][1]}` and `{syms[i + 1][1]}`"
    return around


def frame_desc(args: argparse.Namespace) -> str:
    """The frames of the scenarios that ran."""
    parts = ["`id` int64 (random order), `a` float64 ~ N(0, 1), `b` int64 uniform over the whole"
             " int64 range"]
    if "a" in args.scenarios:
        parts.append(f"(a) {args.rows_a:,} rows, ids a permutation of 0 … {args.rows_a - 1:,}")
    if {"b", "c"} & set(args.scenarios):
        parts.append(f"base table of (b) and (c) {args.base:,} rows, ids a permutation of 0 …"
                     f" {args.base - 1:,}")
    if "b" in args.scenarios:
        parts.append(f"(b) {args.append:,} rows, ids a permutation of {args.base:,} …"
                     f" {args.base + args.append - 1:,}")
    if "c" in args.scenarios:
        parts.append(f"(c) {args.upsert:,} rows, {args.upsert // 2:,} existing ids (drawn without"
                     f" replacement) and {args.upsert - args.upsert // 2:,} new ids"
                     f" ({args.base:,} …), shuffled, new `a` and `b`")
    return "; ".join(parts) + f"; seed {args.seed}"


def ratio_of(sc: Scenario, peer: str) -> Optional[float]:
    zc, s = sc.samples.get("zcimport"), sc.samples.get(peer)
    if zc is None or s is None or not zc.ok or not s.ok:
        return None
    return s.median / zc.median


def summary_rows(scenarios: Sequence[Scenario]) -> List[Tuple[str, ...]]:
    rows = []
    for sc in scenarios:
        if sc.skipped and not sc.samples:
            rows.append((sc.title, f"{sc.rows:,}", "skipped", "", "", "", "", sc.skipped))
            continue
        zc = sc.samples.get("zcimport")
        zc_text = common.fmt_s(zc.median) if zc is not None and zc.ok else (
            "skipped" if zc is None else "FAILED")
        minimum, target_peers = TARGETS[sc.key]
        for p in sc.peers:
            if p.key == "zcimport":
                continue
            s = sc.samples[p.key]
            ratio = ratio_of(sc, p.key)
            result = "n/a" if ratio is None or p.key not in target_peers else (
                "PASS" if ratio >= minimum else "FAIL")
            rows.append((sc.title, f"{sc.rows:,}", zc_text, p.name,
                         common.fmt_s(s.median) if s.ok else "FAILED",
                         f"{ratio:.2f}×" if ratio is not None else "n/a",
                         f"≥ {minimum:g}×" if p.key in target_peers else "", result))
    return rows


def report(args: argparse.Namespace, ctx: common.RunContext, server: common.Server,
           settings: List[Tuple[str, str, str]], scenarios: Sequence[Scenario],
           clone: Optional[CloneDB], profiles: List[ProfileResult],
           perf_note: Optional[str]) -> str:
    out = common.report_preamble(
        f"{TITLE}: a primary key and a secondary btree index", args, ctx.info, server,
        ctx.durable, ctx.settings, frame_desc(args))
    w = out.append
    w("Settings that matter for keyed loads (as the cluster has them; nothing is changed for"
      " this benchmark):")
    w("")
    w(common.md_table(["setting", "value", "source"], settings))
    w("")
    w("### Summary")
    w("")
    w(f"Medians of {args.runs} runs per peer; ratio = the peer's median / zcimport's median"
      " (above 1: zcimport is faster).  Every time runs from the first statement of the"
      " transaction up to and including COMMIT.")
    w("")
    w(common.md_table(["scenario", "rows", "zcimport", "peer", "peer median", "ratio", "target",
                       "result"], summary_rows(scenarios), "lrrlrrcc"))
    w("")
    w("The table in every scenario: `CREATE TABLE t (id int8 PRIMARY KEY, a float8, b int8)` and"
      " `CREATE INDEX t_b_idx ON t (b)`; both indexes get keys in random order.")
    w("")
    w("After every load the table is checked, and a load that fails the check fails its peer:"
      " count(*), exact sum(id), exact sum(b) and sum(a) (within 1e-9 of sum(|a|)) must equal"
      " the values computed from the frames (so zcimport's sums equal the peer's); 1,000 sampled"
      " loaded ids and 1,000 sampled loaded b values must be found by index scans of `t_pkey`"
      " and `t_b_idx` (enable_seqscan and enable_bitmapscan off, the plan checked) as often as"
      " by a sequential scan; and"
      + {"first": " the first zcimport load of each scenario is verified with amcheck's"
                  " `bt_index_check(index, heapallindexed => true)` on both indexes.",
         "all": " every zcimport load is verified with amcheck's `bt_index_check(index,"
                " heapallindexed => true)` on both indexes.",
         "none": " (`--amcheck none`) no amcheck."}[args.amcheck])
    w("")
    for sc in scenarios:
        w(f"### {sc.title}")
        w("")
        w(sc.description)
        w("")
        if sc.skipped:
            w(f"**Skipped**: {sc.skipped}.")
            w("")
        if not sc.samples:
            continue
        out.extend(common.timing_table(sc.peers, sc.samples, sc.rows))
        out.extend(common.all_times(sc.peers, sc.samples))
        sums = {k: v[0] for k, v in sc.sums.items() if v}
        if sums:
            same = len({(s.rows, s.id_sum, s.b_sum) for s in sums.values()}) == 1
            w(f"Table after the load: {next(iter(sums.values())).short()}"
              + (" — the same for every peer and every run." if same else
                 " — **the peers differ**: " + "; ".join(f"{k}: {s.short()}" for k, s in sums.items())))
            w("")
        for note in sc.notes:
            w(f"- {note}")
        if sc.notes:
            w("")
    if clone is not None and clone.clone_times:
        w(f"The template database of (b) and (c): {clone.how}.  Each clone (`CREATE DATABASE"
          f" ... TEMPLATE ... STRATEGY FILE_COPY`, not timed) took"
          f" {min(clone.clone_times):.1f} … {max(clone.clone_times):.1f} s.")
        w("")
    w("### Server profile of the zcimport backend")
    w("")
    if perf_note:
        w(f"Not profiled: {perf_note}.")
        w("")
        return "\n".join(out).rstrip() + "\n"
    w(f"`perf record -g -F {args.perf_freq} -p <pid>` (the pid from `SELECT pg_backend_pid()` on the loading"
      " connection) during one extra zcimport load of each scenario, not counted in the times"
      " above, then `perf report --no-children --stdio -g none --sort dso,sym` (self time of each"
      f" symbol, top {PROFILE_TOP}).  Only the backend's own CPU samples: the WAL writer,"
      " checkpointer, parallel index-build workers and the client are not included.")
    w("")
    w(f"Symbols: {postgres_symbols_note()}.  perf_event_paranoid is"
      f" {read_text('/proc/sys/kernel/perf_event_paranoid')}; the benchmark runs as"
      f" {'root' if os.geteuid() == 0 else 'uid ' + str(os.geteuid())}, so perf may attach to the"
      " backend (owned by the postgres user).")
    w("")
    around = exported_neighbours()
    for prof in profiles:
        w(f"#### {prof.label}")
        w("")
        if prof.error:
            w(f"Profiling failed: `{prof.error}`")
            w("")
            continue
        w(f"{prof.header}; the profiled load took {prof.seconds:.3f} s (with perf attached)."
          f"  The postgres binary has {prof.postgres_share:.1f}% of the samples, of which"
          f" {prof.unresolved_postgres:.1f}% (of all samples) fall in functions perf cannot name.")
        w("")
        rows = []
        for e in prof.top:
            where = (around(int(e.symbol, 16))
                     if e.dso == "postgres" and e.symbol.startswith("0x") else None)
            rows.append((f"`{e.symbol}`" + (f" ({where})" if where else ""), e.dso,
                         f"{e.percent:.2f}%"))
        w(common.md_table(["symbol", "object", "self"], rows, "llr"))
        w("")
    return "\n".join(out).rstrip() + "\n"


def read_text(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

SCENARIO_KEYS = ("a", "b", "c")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows-a", type=int, default=10_000_000,
                   help="rows of (a), loaded into an empty table (default 10,000,000)")
    p.add_argument("--base", type=int, default=10_000_000,
                   help="rows of the table of (b) and (c) before the load (default 10,000,000)")
    p.add_argument("--append", type=int, default=3_000_000,
                   help="rows appended in (b) (default 3,000,000)")
    p.add_argument("--upsert", type=int, default=1_000_000,
                   help="rows upserted in (c), half of them new (default 1,000,000)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per peer (default 3)")
    p.add_argument("--only", default="a,b,c",
                   help="comma-separated scenarios to run: a, b, c (default all)")
    p.add_argument("--profile", action="store_true",
                   help="perf-record the zcimport backend during one extra load of (a) and (b)")
    p.add_argument("--perf-freq", type=int, default=1000,
                   help="perf record -F: samples per second of the profiles (default 1000)")
    p.add_argument("--amcheck", choices=("first", "all", "none"), default="first",
                   help="verify the indexes with amcheck after the first zcimport load of each"
                        " scenario (default), after every one, or never")
    p.add_argument("--upsert-peers-anyway", action="store_true",
                   help="when zcimport has no on_conflict yet, still time (c)'s by-hand peers")
    p.add_argument("--server-library", metavar="PATH",
                   help="load the zcimport server library from PATH (e.g. a build of another"
                        " commit, not installed) instead of $libdir/pg_zcimport, by pointing the"
                        " extension's C functions at it in this benchmark's databases")
    p.add_argument("--rebuild-base", action="store_true",
                   help="rebuild the template database of (b) and (c) even if it matches")
    p.add_argument("--drop-base", action="store_true",
                   help="drop the template database at the end (default: keep it for the next run)")
    common.add_server_arguments(p, port=54430, dbname="zcimport_keys")
    common.add_run_arguments(p, SECTION)
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be positive")
    for name in ("rows_a", "base", "append", "upsert"):
        if getattr(args, name) < 2:
            p.error(f"--{name.replace('_', '-')} must be at least 2")
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(args.scenarios) - set(SCENARIO_KEYS):
        p.error(f"--only takes a comma-separated subset of {','.join(SCENARIO_KEYS)}")
    args.skipped = []
    if args.server_library:
        path = os.path.abspath(args.server_library)
        if not os.path.exists(path if path.endswith(".so") else path + ".so"):
            p.error(f"--server-library: no {path}(.so)")
        args.server_library = path
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return common.run_guarded("keys.py", run, args)


def run(args: argparse.Namespace) -> int:
    log = common.begin_run(args, SECTION)
    t_start = time.perf_counter()
    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        ctx = common.RunContext.open(server, allow_nondurable=args.allow_nondurable, log=log)
        admin = ctx.admin
        with contextlib.suppress(psycopg.Error):
            admin.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        if args.amcheck != "none" and admin.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone() is None:
            args.warnings.append("amcheck is not available, so the indexes were not verified with it")
            args.amcheck = "none"
        point_library(admin, args.server_library)
        ctx.library = common.server_library(admin)
        if ctx.library is not None:
            ctx.info = [row for row in ctx.info if row[0] != "server library"]
            via = (f"; --server-library: this benchmark's databases point the extension's C"
                   f" functions at it (`pg_proc.probin`), nothing installed"
                   if args.server_library else "")
            ctx.info.append(("server library", f"`{ctx.library[0]}`, {ctx.library[1]}{via}"))
        settings = server_settings(admin)
        log("settings: " + ", ".join(f"{n}={v}" for n, v, _ in settings))
        import zcimport

        with common.connect(server) as probe:
            plan = zcimport.plan(pd.DataFrame({"id": np.zeros(1, np.int64)}), conn=probe)
            ctx.info.append(common.transport_info(plan.transport, server, probe))
        rng = np.random.default_rng(args.seed)
        scenarios: List[Scenario] = []
        profiles: List[ProfileResult] = []
        perf_note = None if args.profile else "--profile was not given"
        if perf_note is None:
            perf_note = common.perf_unavailable()
            if perf_note:
                log(f"profiling unavailable: {perf_note}")
        main_db: Optional[MainDB] = None
        clone: Optional[CloneDB] = None

        def sample(values: np.ndarray) -> List[int]:
            k = min(INDEX_SAMPLE, len(values))
            return [int(v) for v in rng.choice(values, size=k, replace=False)]

        with common.server_writable_dir() as file_dir:
            try:
                # ---------------- (a)
                if "a" in args.scenarios:
                    log(f"(a): building the frame of {args.rows_a:,} rows and its binary COPY file")
                    df_a = key_frame(rng.permutation(args.rows_a), rng)
                    file_a = write_copy_file(df_a, file_dir / "a.bin")
                    sums_a = frame_sums(df_a)
                    ids_a, b_a = sample(df_a["id"].to_numpy()), sample(df_a["b"].to_numpy())
                    main_db = MainDB(server, admin, args.server_library)
                    conn_a = (lambda: main_db.conn)  # noqa: E731
                    ddl = [CREATE_TABLE, CREATE_INDEX]
                    for key, title, before, prepare, what in (
                            ("a_truncate", "(a) empty table truncated in the load's transaction",
                             ["TRUNCATE t"], main_db.prepare_truncate,
                             "`BEGIN; TRUNCATE t; <load>; COMMIT`, the table (empty, with both"
                             " indexes) created beforehand (DROP, CREATE TABLE, CREATE INDEX,"
                             " CHECKPOINT: not timed)"),
                            ("a_create", "(a) table created in the load's transaction",
                             ddl, main_db.prepare_create,
                             f"`BEGIN; {CREATE_TABLE}; {CREATE_INDEX}; <load>; COMMIT`, after"
                             " `DROP TABLE IF EXISTS t; CHECKPOINT` (not timed)")):
                        peers = [
                            Peer("zcimport", "zcimport",
                                 f"{', '.join(f'`{s}`' for s in before)}, then"
                                 " `zcimport.copy_dataframe(df, \"t\", conn)` and `conn.commit()`"
                                 " (psycopg 3, one connection for all runs)",
                                 zcimport_load(df_a, conn_a, before), main_db.conn.rollback),
                            Peer("file", "server-side binary COPY",
                                 f"{', '.join(f'`{s}`' for s in before)}, then"
                                 " `COPY t FROM '<file>' (FORMAT binary)` and `conn.commit()` (the"
                                 " file written once beforehand by NumPy, in the page cache; no"
                                 " client work)",
                                 file_load(file_a, conn_a, before), main_db.conn.rollback),
                        ]
                        sc = Scenario(key, title, args.rows_a, f"Timed: {what}.", peers, prepare,
                                      conn_a, sums_a, ids_a, b_a)
                        scenarios.append(sc)
                        run_scenario(sc, args.runs, args.amcheck, log)
                        if perf_note is None:
                            profiles.append(profile_scenario(sc, sc.title, args.perf_freq, log))
                    main_db.close()
                    main_db = None
                    del df_a
                    os.unlink(file_a)
                    gc.collect()

                # ---------------- (b) and (c): the base table
                if {"b", "c"} & set(args.scenarios):
                    base_rng = np.random.default_rng([args.seed, 1])
                    log(f"(b), (c): building the base frame of {args.base:,} rows")
                    df_base = key_frame(base_rng.permutation(args.base), base_rng)
                    sums_base = frame_sums(df_base)
                    # a and b of the base rows by id, for the upsert's expected sums
                    a_by_id = np.empty(args.base, np.float64)
                    b_by_id = np.empty(args.base, np.int64)
                    a_by_id[df_base["id"].to_numpy()] = df_base["a"].to_numpy()
                    b_by_id[df_base["id"].to_numpy()] = df_base["b"].to_numpy()
                    clone = CloneDB(server, admin, args.server_library)
                    clone.ensure_base(lambda: write_copy_file(df_base, file_dir / "base.bin"),
                                      args.base, args.seed, args.rebuild_base, log)
                    del df_base
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(file_dir / "base.bin")
                    gc.collect()
                    base_desc = (f"`t` holds {args.base:,} rows with both indexes; before each"
                                 " load the database is cloned from the template (`CREATE DATABASE"
                                 " ... TEMPLATE ... STRATEGY FILE_COPY`: byte-identical files),"
                                 " a new connection warmed (`SELECT zcimport.version()`, a lookup"
                                 " in t) and `CHECKPOINT` run (not timed)")

                # ---------------- (b)
                if "b" in args.scenarios:
                    assert clone is not None
                    log(f"(b): building the frame of {args.append:,} rows and its file")
                    df_b = key_frame(args.base + rng.permutation(args.append), rng)
                    file_b = write_copy_file(df_b, file_dir / "append.bin")
                    peers = [
                        Peer("zcimport", "zcimport",
                             "`zcimport.copy_dataframe(df, \"t\", conn)` and `conn.commit()`",
                             zcimport_load(df_b, clone.conn), lambda: clone.conn().rollback()),
                        Peer("file", "server-side binary COPY",
                             "`COPY t FROM '<file>' (FORMAT binary)` and `conn.commit()` (the file"
                             " written once beforehand by NumPy; no client work)",
                             file_load(file_b, clone.conn), lambda: clone.conn().rollback()),
                    ]
                    sc = Scenario("b_append", "(b) append to a table of the base rows",
                                  args.append,
                                  f"{base_desc}.  Timed: the append (`BEGIN; <load>; COMMIT`).",
                                  peers, clone.restore, clone.conn,
                                  sums_base + frame_sums(df_b),
                                  sample(df_b["id"].to_numpy()), sample(df_b["b"].to_numpy()))
                    scenarios.append(sc)
                    run_scenario(sc, args.runs, args.amcheck, log)
                    if perf_note is None:
                        profiles.append(profile_scenario(sc, sc.title, args.perf_freq, log))
                    del df_b
                    os.unlink(file_b)

                # ---------------- (c)
                if "c" in args.scenarios:
                    assert clone is not None
                    missing = has_on_conflict()
                    n_old = args.upsert // 2
                    n_new = args.upsert - n_old
                    old_ids = rng.choice(args.base, size=n_old, replace=False).astype(np.int64)
                    ids = np.concatenate([old_ids, args.base + np.arange(n_new, dtype=np.int64)])
                    df_c = key_frame(rng.permutation(ids), rng)
                    expected = (sums_base
                                - arrays_sums(old_ids, a_by_id[old_ids], b_by_id[old_ids])
                                + frame_sums(df_c))
                    file_c = write_copy_file(df_c, file_dir / "upsert.bin")
                    peers = []
                    if missing is None:
                        peers.append(Peer(
                            "zcimport", "zcimport",
                            "`zcimport.copy_dataframe(df, \"t\", conn, on_conflict=\"update\")` and"
                            " `conn.commit()`",
                            zcimport_load(df_c, clone.conn, on_conflict="update"),
                            lambda: clone.conn().rollback()))
                    peers += [
                        Peer("file", "staging + server-side binary COPY + INSERT ON CONFLICT",
                             f"`{STAGING}`, `COPY staging FROM '<file>' (FORMAT binary)` (the file"
                             f" written once beforehand by NumPy), `{UPSERT}`, `conn.commit()`",
                             staging_file_load(file_c, clone.conn), lambda: clone.conn().rollback()),
                        Peer("psycopg", "staging + psycopg binary COPY + INSERT ON CONFLICT",
                             f"`{STAGING}`, then a big-endian NumPy structured array in binary COPY"
                             " format built from the frame (timed) and sent with psycopg 3"
                             " `cursor.copy('COPY staging (id, a, b) FROM STDIN (FORMAT binary)')`"
                             f" in {CHUNK_BYTES >> 20} MiB slices, `{UPSERT}`, `conn.commit()`",
                             staging_psycopg_load(df_c, clone.conn), lambda: clone.conn().rollback()),
                    ]
                    sc = Scenario("c_upsert", "(c) upsert into a table of the base rows",
                                  args.upsert,
                                  f"{base_desc}.  Timed: the whole upsert, one transaction"
                                  f" ({n_old:,} rows update existing ids, {n_new:,} are new).",
                                  peers, clone.restore, clone.conn, expected,
                                  sample(df_c["id"].to_numpy()), sample(df_c["b"].to_numpy()))
                    if missing is not None:
                        sc.skipped = f"(c) zcimport upsert: {missing}"
                        print(f"[{SECTION}] SKIPPED (c) upsert: {missing}", file=sys.stderr,
                              flush=True)
                        args.warnings.append(f"(c) was skipped: {missing}")
                    scenarios.append(sc)
                    if missing is None or args.upsert_peers_anyway:
                        run_scenario(sc, args.runs, args.amcheck, log)
            finally:
                if main_db is not None:
                    with contextlib.suppress(Exception):
                        main_db.close()
                if clone is not None:
                    with contextlib.suppress(Exception):
                        clone.close(args.drop_base)

        ctx.close(args)
        log(f"done in {time.perf_counter() - t_start:.0f} s")
        text = report(args, ctx, server, settings, scenarios, clone, profiles, perf_note)
    return common.emit_report(text, SECTION, args, log)


if __name__ == "__main__":
    sys.exit(main())
