"""The Citus benchmark: loads of a pandas frame into Citus tables through the
coordinator, zcimport against Citus's own COPY (psycopg binary COPY with
``write_row``), side by side in one run, on a private Citus cluster of
test/citus.sh (a coordinator and two workers on loopback, durable).

The frame is built once: ``--rows`` rows (default 3M) of ``id`` int64 =
0 … n-1 (in order), ``a`` float64 ~ N(0, 1) and ``s`` strings ``"row <id>"``
(pandas' default ``str`` dtype), every 10th missing (None).  The table is
always ``t (id int8, a float8, s text)``, in three cases:

- ``dist32``: ``create_distributed_table('t', 'id', shard_count := 32)``;
- ``dist4``: the same with ``shard_count := 4``;
- ``reference``: ``create_reference_table('t')`` (a placement on every node,
  the coordinator included: test/citus.sh adds the coordinator to the
  metadata).

Every load goes into a fresh, empty table: before it (not timed) ``DROP
TABLE IF EXISTS t``, ``CREATE TABLE t``, the distribution call, and
``CHECKPOINT`` on every node; after it the table is checked and dropped.
Each load is timed from the start of its client work up to and including COMMIT, on
a connection to the coordinator opened beforehand (one per peer, kept for
all runs).  The peers:

1. ``zcimport``: ``zcimport.copy_dataframe(df, "t", conn)``, ``conn.commit()``.
   Until zcimport loads Citus tables it fails with SQLSTATE 0A000; the
   failure is reported for that peer and the run carries on.
2. ``writerow``: Citus's COPY through the coordinator, as a psycopg user
   writes it: the columns to Python lists (timed), ``COPY t (id, a, s) FROM
   STDIN (FORMAT binary)`` with ``set_types`` and ``write_row`` per row.
   The denominator of the targets.
3. ``preenc``: the same COPY of a binary COPY stream encoded beforehand by
   NumPy (not timed), sent in 1 MiB slices: Citus's floor for binary COPY.
4. ``csv``: the pandas-docs CSV recipe (``to_sql(method=psql_insert_copy)``,
   bench/common.py), through the coordinator.
5. Design probes, not user paths:
   (b) coordinator tuples to Citus's COPY receiver: zcimport loads the
   frame into a local UNLOGGED table on the coordinator (timed on its own),
   then ``INSERT INTO t SELECT * FROM t_stage`` (Citus's "pull to
   coordinator": the coordinator's tuples go through Citus's COPY
   destination receiver to the shards); both times and their sum;
   (c) client routing: the client hashes ``id`` as Citus does (PostgreSQL's
   hashint8, in NumPy, checked against ``worker_hash`` at the start), splits
   the frame by the shard ranges of ``pg_dist_shard``, and loads each
   shard's rows with ``zcimport.copy_dataframe`` straight into the shard
   table ``t_<shardid>`` on its node (a reference table: the whole frame
   into every placement), one connection per node (opened beforehand, one
   thread per node), each node committing on its own: NOT atomic, only a
   probe of the cost floor.  Timed from the metadata query to the last
   commit.

Every peer runs ``--repeat`` times per case (default 3), the first peer
rotating from round to round; the report gives medians, min, max, and the
ratios of the write_row peer's median (and the pre-encoded peer's) to each
peer's median (above 1: faster than that peer).  After every load, through
the coordinator: count(*), exact sum(id), count(s), sum(length(s)) and
sum(a) (within 1e-9 of sum(|a|)) must equal the frame's, and 1,000 sampled
ids must be found by a (shard-pruned) ``id = ANY(...)`` query; and on every
placement, through a connection to its node: its row count (the counts of a
distributed table's shards add up to the rows, every placement of a
reference table holds them all) and, for a distributed table, that no row
lies outside its shard's hash range (``worker_hash(id)``).  A load that
fails the check fails its peer.

The cluster: ``--port`` (default 54470; workers on the next two ports).
When its coordinator is not running, the script starts it with
``ZC_CITUS_PORT=<port> ZC_PGDURABLE=1 test/citus.sh start`` (after a
``stop`` that deletes a stale one) and stops it at the end; a running one
is used as it is and left running.  Non-durable nodes are refused unless
--allow-nondurable.

Prints a markdown report; --write replaces the "citus" section of
BENCHMARKS.md.  Run from the repository root, e.g. a quick run:

    PYTHONPATH=python .venv/latest/bin/python bench/citus.py --rows 300000 --repeat 1
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Samples  # noqa: E402

SECTION = "citus"
TABLE = "t"
STAGE = "t_stage"
COLUMNS_DDL = "id int8, a float8, s text"
CITUS_SH = common.REPO / "test" / "citus.sh"
#: Case key -> (title, the distribution statement, {table} is the table).
CASES: Dict[str, Tuple[str, str]] = {
    "dist32": ("distributed table, 32 shards",
               "SELECT create_distributed_table('{table}', 'id', shard_count := 32)"),
    "dist4": ("distributed table, 4 shards",
              "SELECT create_distributed_table('{table}', 'id', shard_count := 4)"),
    "reference": ("reference table", "SELECT create_reference_table('{table}')"),
}
#: The speed target of every case: write_row's median / zcimport's median.
TARGET = 2.0
#: Every NULL_EVERY-th value of s (id % NULL_EVERY == NULL_EVERY - 1) is None.
NULL_EVERY = 10
#: Bytes per Copy.write() of the pre-encoded and CSV peers.
CHUNK_BYTES = 1 << 20
#: Ids sampled for the shard-pruned lookup after each load.
ID_SAMPLE = 1000
#: Values in the check of the NumPy hashint8 against worker_hash.
HASH_SAMPLE = 100_000
#: Settings of the coordinator that matter for Citus's COPY.
CITUS_SETTINGS = ("citus.node_conninfo", "citus.enable_binary_protocol",
                  "citus.max_adaptive_executor_pool_size", "citus.max_shared_pool_size",
                  "citus.max_cached_conns_per_worker", "citus.copy_switchover_threshold",
                  "citus.multi_shard_modify_mode", "citus.shard_replication_factor",
                  "citus.local_shared_pool_size", "shared_buffers", "max_wal_size", "fsync",
                  "synchronous_commit", "full_page_writes", "wal_level")

#: PostgreSQL's binary COPY header and trailer, and the fixed part of a row.
PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
PGCOPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
ROW_FIXED = np.dtype([("nfields", ">i2"), ("len_id", ">i4"), ("id", ">i8"),
                      ("len_a", ">i4"), ("a", ">f8"), ("len_s", ">i4")])


# --------------------------------------------------------------------------
# The frame, its binary COPY stream, its sums
# --------------------------------------------------------------------------


def build_frame(rows: int, seed: int) -> pd.DataFrame:
    """(id, a, s): id = 0 … rows-1, a ~ N(0, 1), s = "row <id>" or None."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64)
    s = "row " + pd.Series(ids).astype("str")
    s[ids % NULL_EVERY == NULL_EVERY - 1] = None
    return pd.DataFrame({"id": ids, "a": rng.standard_normal(rows), "s": s})


def object_strings(df: pd.DataFrame) -> np.ndarray:
    """s as an object array of str and None."""
    return df["s"].to_numpy(dtype=object, na_value=None)


def binary_copy_stream(df: pd.DataFrame) -> np.ndarray:
    """The whole binary COPY stream of (id, a, s) as one uint8 array,
    written by NumPy (independently of zcimport and psycopg)."""
    import pyarrow as pa

    n = len(df)
    arr = pa.array(object_strings(df), type=pa.large_string())
    valid = ~arr.is_null().to_numpy(zero_copy_only=False)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = (np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None
            else np.zeros(0, np.uint8))
    lens = np.diff(offsets)
    fixed = np.empty(n, ROW_FIXED)
    fixed["nfields"] = 3
    fixed["len_id"] = 8
    fixed["id"] = df["id"].to_numpy()
    fixed["len_a"] = 8
    fixed["a"] = df["a"].to_numpy()
    fixed["len_s"] = np.where(valid, lens, -1)
    width = ROW_FIXED.itemsize
    sizes = width + lens
    head = len(PGCOPY_HEADER)
    starts = head + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    out = np.empty(head + int(sizes.sum()) + len(PGCOPY_TRAILER), dtype=np.uint8)
    out[:head] = np.frombuffer(PGCOPY_HEADER, dtype=np.uint8)
    out[-len(PGCOPY_TRAILER):] = np.frombuffer(PGCOPY_TRAILER, dtype=np.uint8)
    fixed_bytes = fixed.view(np.uint8).reshape(n, width)
    cols = np.arange(width, dtype=np.int64)
    step = 1 << 18
    for i in range(0, n, step):
        j = min(n, i + step)
        out[(starts[i:j, None] + cols).ravel()] = fixed_bytes[i:j].ravel()
        lo, hi = int(offsets[i]), int(offsets[j])
        if hi > lo:
            dest = np.repeat(starts[i:j] + width - offsets[i:j], lens[i:j]) + np.arange(lo, hi)
            out[dest] = data[lo:hi]
    return out


def exact_sum(x: np.ndarray) -> int:
    """The exact sum of an int64 array, without overflow."""
    x = np.asarray(x, dtype=np.int64)
    return int((x >> 32).sum(dtype=np.int64)) * (1 << 32) + int((x & np.int64(0xFFFFFFFF)).sum(
        dtype=np.int64))


@dataclass(frozen=True)
class Sums:
    """count(*), exact sum(id), count(s), sum(length(s)), sum(a), sum(|a|)."""

    rows: int
    id_sum: int
    s_count: int
    s_len: int
    a_sum: float
    a_abs: float

    def matches(self, other: "Sums") -> bool:
        tol = 1e-9 * max(self.a_abs, other.a_abs, 1.0)
        return ((self.rows, self.id_sum, self.s_count, self.s_len)
                == (other.rows, other.id_sum, other.s_count, other.s_len)
                and abs(self.a_sum - other.a_sum) <= tol)

    def short(self) -> str:
        return (f"count {self.rows:,}, sum(id) {self.id_sum}, count(s) {self.s_count:,},"
                f" sum(length(s)) {self.s_len:,}, sum(a) {self.a_sum:.6f}")


def frame_sums(df: pd.DataFrame) -> Sums:
    s = df["s"]
    a = df["a"].to_numpy()
    return Sums(len(df), exact_sum(df["id"].to_numpy()), int(s.notna().sum()),
                int(s.str.len().sum()), float(a.sum()), float(np.abs(a).sum()))


def table_sums(conn: "psycopg.Connection[Any]") -> Sums:
    """The same, read back through the coordinator."""
    row = conn.execute(sql.SQL(
        "SELECT count(*), coalesce(sum(id), 0)::text, count(s), coalesce(sum(length(s)), 0)::text,"
        " coalesce(sum(a), 0), coalesce(sum(abs(a)), 0) FROM {}").format(
            sql.Identifier(TABLE))).fetchone()
    assert row is not None
    return Sums(int(row[0]), int(row[1]), int(row[2]), int(row[3]), float(row[4]), float(row[5]))


# --------------------------------------------------------------------------
# Citus's hash of int8, in NumPy
# --------------------------------------------------------------------------


def _rot(x: np.ndarray, k: int) -> np.ndarray:
    return (x << np.uint32(k)) | (x >> np.uint32(32 - k))


def hashint8(values: np.ndarray) -> np.ndarray:
    """PostgreSQL's hashint8 (the hash of int8's default hash opclass, which
    Citus uses for shard ranges), vectorised; as int32, as worker_hash()
    returns it.

    hashint8: lohalf = (uint32) v, hihalf = (uint32) (v >> 32),
    lohalf ^= (v >= 0) ? hihalf : ~hihalf, then hash_bytes_uint32(lohalf)
    of src/common/hashfn.c: a = b = c = 0x9e3779b9 + 4 + 3923095, a += k,
    then Jenkins' lookup3 final(a, b, c); the result is c."""
    v = np.asarray(values, dtype=np.int64)
    lo = v.astype(np.uint32)
    hi = (v >> 32).astype(np.uint32)
    k = lo ^ np.where(v >= 0, hi, ~hi)
    init = np.uint32((0x9E3779B9 + 4 + 3923095) & 0xFFFFFFFF)
    b = np.full(k.shape, init, dtype=np.uint32)
    c = b.copy()
    a = b + k
    c ^= b
    c -= _rot(b, 14)
    a ^= c
    a -= _rot(c, 11)
    b ^= a
    b -= _rot(a, 25)
    c ^= b
    c -= _rot(b, 16)
    a ^= c
    a -= _rot(c, 4)
    b ^= a
    b -= _rot(a, 14)
    c ^= b
    c -= _rot(b, 24)
    return c.view(np.int32)


def check_hashint8(conn: "psycopg.Connection[Any]", frame_ids: np.ndarray, seed: int) -> str:
    """Compare hashint8() with worker_hash() for random int64 values over the
    whole range, the edges and a sample of the frame's ids; raises
    BenchError on a difference, else the report's line."""
    rng = np.random.default_rng([seed, 7])
    edges = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).min + 1, -(1 << 32) - 1,
                      -(1 << 32), -(1 << 31) - 1, -(1 << 31), -1, 0, 1, (1 << 31) - 1, 1 << 31,
                      (1 << 32) - 1, 1 << 32, np.iinfo(np.int64).max - 1, np.iinfo(np.int64).max],
                     dtype=np.int64)
    rand = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=HASH_SAMPLE // 2,
                        dtype=np.int64, endpoint=True)
    small = rng.integers(-(1 << 40), 1 << 40, size=HASH_SAMPLE // 4, dtype=np.int64)
    ids = rng.choice(frame_ids, size=min(len(frame_ids), HASH_SAMPLE // 4), replace=False)
    values = np.concatenate([edges, rand, small, ids]).astype(np.int64)
    rows = conn.execute(
        "SELECT worker_hash(x) FROM unnest(%s::int8[]) WITH ORDINALITY u(x, o) ORDER BY o",
        (values.tolist(),)).fetchall()
    server = np.array([r[0] for r in rows], dtype=np.int32)
    mine = hashint8(values)
    bad = np.flatnonzero(server != mine)
    negative = int((values < 0).sum())
    if len(bad):
        raise common.BenchError(
            f"the NumPy hashint8 differs from worker_hash for {len(bad)} of {len(values)} values,"
            f" e.g. {values[bad[0]]}: {mine[bad[0]]} != {server[bad[0]]}")
    return (f"the NumPy hashint8 equals `SELECT worker_hash(x::int8)` for all {len(values):,}"
            f" values checked ({len(edges)} edges such as ±2^31, ±2^32, the int64 extremes;"
            f" {len(rand):,} uniform over int64; {len(small):,} in ±2^40; {len(ids):,} ids of the"
            f" frame; {negative:,} negative)")


# --------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------


class CitusServer(common.Server):
    """The coordinator of test/citus.sh's cluster."""

    def describe(self) -> str:
        who = ("private Citus cluster of test/citus.sh, started by this run" if self.started_here
               else "private Citus cluster of test/citus.sh, already running")
        return f"{who}: coordinator host={self.host} port={self.port}, workers on the next two ports"


def _citus_sh(action: str, port: int) -> str:
    env = dict(os.environ, ZC_CITUS_PORT=str(port), ZC_PGDURABLE="1")
    proc = subprocess.run(["bash", str(CITUS_SH), action], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise common.BenchError(f"test/citus.sh {action} failed ({proc.returncode}):"
                                f" {proc.stderr.strip()}")
    return proc.stdout


def _is_up(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def citus_cluster(port: int, log: Callable[[str], None]) -> Any:
    """The cluster's coordinator (started, and stopped at the end, when it
    is not running) and the worker ports."""
    env: Dict[str, str] = {}
    for word in _citus_sh("env", port).split():
        name, eq, value = word.partition("=")
        if eq:
            env[name] = value
    host, dbname = env["PGHOST"], env["PGDATABASE"]
    workers = [int(p) for p in env["ZC_CITUS_WORKER_PORTS"].split(",")]
    probe = psycopg.conninfo.make_conninfo(host=host, port=str(port), user="postgres",
                                           dbname=dbname)
    started = False
    if _is_up(probe):
        if not all(_is_up(psycopg.conninfo.make_conninfo(probe, port=str(p))) for p in workers):
            log("a worker is down: test/citus.sh start")
            _citus_sh("start", port)
    else:
        log(f"starting the Citus cluster on port {port} (ZC_PGDURABLE=1 test/citus.sh start)")
        _citus_sh("stop", port)  # a stale, stopped cluster: start afresh
        _citus_sh("start", port)
        started = True
    server = CitusServer(host=host, port=port, user="postgres", dbname=dbname,
                         started_here=started, root=Path(host))
    try:
        yield server, workers
    finally:
        if started:
            log("stopping the Citus cluster (test/citus.sh stop)")
            _citus_sh("stop", port)


# --------------------------------------------------------------------------
# Peers, runs, checks
# --------------------------------------------------------------------------


@dataclass
class Line:
    """One line of a case's table."""

    key: str
    name: str


@dataclass
class Peer:
    """One way of loading; load() returns the seconds of each of its lines
    (one line for most; the staging probe has three)."""

    key: str
    name: str
    description: str
    lines: List[Line]
    load: Callable[[], Dict[str, float]]
    #: untimed, before the load (after the table is created): e.g. the staging table
    before: Callable[[], None] = lambda: None
    reset: Callable[[], None] = lambda: None


@dataclass
class Placement:
    shardid: int
    lo: Optional[int]
    hi: Optional[int]
    port: int


def placements(conn: "psycopg.Connection[Any]") -> Tuple[str, List[Placement]]:
    """The partition method of t and its active placements (shards by hash range)."""
    row = conn.execute("SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = %s::regclass",
                       (TABLE,)).fetchone()
    assert row is not None
    rows = conn.execute(
        "SELECT s.shardid, s.shardminvalue::int4, s.shardmaxvalue::int4, n.nodeport"
        " FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)"
        " JOIN pg_dist_node n ON n.groupid = p.groupid"
        " WHERE s.logicalrelid = %s::regclass AND p.shardstate = 1 AND n.isactive"
        " ORDER BY s.shardminvalue::int4 NULLS FIRST, n.nodeport", (TABLE,)).fetchall()
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.rollback()
    return str(row[0]), [Placement(int(r[0]), r[1], r[2], int(r[3])) for r in rows]


@dataclass
class Case:
    key: str
    title: str
    distribute: str
    peers: List[Peer]
    samples: Dict[str, Samples] = field(default_factory=dict)
    sums: Dict[str, Sums] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    layout: str = ""


class Runner:
    """The connections of the peers and the nodes' admin connections, the
    table setup and the checks."""

    def __init__(self, server: CitusServer, workers: Sequence[int], admin: "psycopg.Connection[Any]",
                 df: pd.DataFrame, stream: np.ndarray, expected: Sums, id_sample: List[int],
                 hash_ok: bool) -> None:
        import zcimport

        self.zcimport = zcimport
        self.server = server
        self.engine: Any = None
        self.df = df
        self.stream = stream
        self.expected = expected
        self.id_sample = id_sample
        self.hash_ok = hash_ok
        self.admin = admin
        self.node_admin: Dict[int, "psycopg.Connection[Any]"] = {server.port: admin}
        for p in workers:
            self.node_admin[p] = psycopg.connect(self.node_conninfo(p), autocommit=True)
        self.conns: Dict[str, "psycopg.Connection[Any]"] = {}
        for key in ("zcimport", "writerow", "preenc", "stage"):
            c = psycopg.connect(server.conninfo())
            c.execute("SELECT zcimport.version()")
            c.rollback()
            self.conns[key] = c
        #: probe (c): one connection per node (port), opened beforehand
        self.node_conns: Dict[int, "psycopg.Connection[Any]"] = {}
        for p in [server.port, *workers]:
            c = psycopg.connect(self.node_conninfo(p))
            c.execute("SELECT zcimport.version()")
            c.rollback()
            self.node_conns[p] = c
        self.pool = ThreadPoolExecutor(max_workers=len(self.node_conns))

    def node_conninfo(self, port: int) -> str:
        """A node's conninfo: every node of test/citus.sh listens in the same
        socket directory, so a node is reached by its port."""
        return psycopg.conninfo.make_conninfo(self.server.conninfo(), port=str(port))

    def close(self) -> None:
        self.pool.shutdown()
        for c in [*self.conns.values(), *self.node_conns.values()]:
            with contextlib.suppress(Exception):
                c.close()
        for p, c in self.node_admin.items():
            if c is not self.admin:
                with contextlib.suppress(Exception):
                    c.close()

    # ---- the table

    def drop(self) -> None:
        self.admin.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(
            sql.Identifier(TABLE), sql.Identifier(STAGE)))

    def create(self, case: Case) -> None:
        self.drop()
        self.admin.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(TABLE),
                                                                  sql.SQL(COLUMNS_DDL)))
        self.admin.execute(case.distribute.format(table=TABLE))

    def checkpoint(self) -> None:
        for c in self.node_admin.values():
            c.execute("CHECKPOINT")

    def create_stage(self) -> None:
        self.admin.execute(sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
            sql.Identifier(STAGE), sql.SQL(COLUMNS_DDL)))

    def layout(self) -> str:
        method, pls = placements(self.admin)
        by_node: Dict[int, int] = {}
        for p in pls:
            by_node[p.port] = by_node.get(p.port, 0) + 1
        shards = len({p.shardid for p in pls})
        return (f"partmethod `{method}`, {shards} shard(s), {len(pls)} placement(s): "
                + ", ".join(f"{n} on port {port}" + (" (coordinator)" if port == self.server.port
                                                     else "")
                            for port, n in sorted(by_node.items())))

    def explain_stage_insert(self) -> str:
        rows = self.admin.execute(sql.SQL("EXPLAIN INSERT INTO {} SELECT * FROM {}").format(
            sql.Identifier(TABLE), sql.Identifier(STAGE))).fetchall()
        return "; ".join(r[0].strip() for r in rows if "method" in r[0].lower()) or rows[0][0]

    # ---- the check

    def check(self) -> Tuple[Optional[str], Sums]:
        """(what is wrong or None, the sums through the coordinator)."""
        got = Sums(0, 0, 0, 0, 0.0, 0.0)
        try:
            got = table_sums(self.admin)
            if not got.matches(self.expected):
                return f"sums {got.short()}; expected {self.expected.short()}", got
            row = self.admin.execute(sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s::int8[])")
                                     .format(sql.Identifier(TABLE)), (self.id_sample,)).fetchone()
            assert row is not None
            if int(row[0]) != len(self.id_sample):
                return (f"`id = ANY(<{len(self.id_sample)} sampled ids>)` finds {row[0]} rows:"
                        " rows in the wrong shards"), got
            method, pls = placements(self.admin)
            per_shard: Dict[int, List[int]] = {}
            for p in pls:
                cond = (sql.SQL("worker_hash(id) NOT BETWEEN {} AND {}").format(
                    sql.Literal(p.lo), sql.Literal(p.hi)) if method == "h" else sql.SQL("false"))
                r = self.node_admin[p.port].execute(sql.SQL(
                    "SELECT count(*), count(*) FILTER (WHERE {}) FROM {}").format(
                        cond, sql.Identifier(f"{TABLE}_{p.shardid}"))).fetchone()
                assert r is not None
                if int(r[1]):
                    return (f"shard {p.shardid} on port {p.port} holds {r[1]} rows outside its"
                            f" hash range [{p.lo}, {p.hi}]"), got
                per_shard.setdefault(p.shardid, []).append(int(r[0]))
            if method == "h":
                total = sum(v[0] for v in per_shard.values())
                if total != self.expected.rows or any(len(set(v)) != 1 for v in per_shard.values()):
                    return f"the shards hold {total} rows ({per_shard})", got
            else:
                if any(n != self.expected.rows for v in per_shard.values() for n in v):
                    return f"the placements hold {per_shard} rows, not {self.expected.rows} each", got
            return None, got
        except psycopg.Error as ex:
            return f"check failed: {type(ex).__name__}: {str(ex).strip()[:300]}", got

    # ---- the loads

    def zcimport_load(self) -> Dict[str, float]:
        c = self.conns["zcimport"]
        t0 = time.perf_counter()
        self.zcimport.copy_dataframe(self.df, TABLE, c)
        c.commit()
        return {"zcimport": time.perf_counter() - t0}

    def writerow_load(self) -> Dict[str, float]:
        c = self.conns["writerow"]
        df = self.df
        t0 = time.perf_counter()
        ids = df["id"].tolist()
        a = df["a"].tolist()
        s = object_strings(df).tolist()
        with c.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (id, a, s) FROM STDIN (FORMAT binary)").format(
                    sql.Identifier(TABLE))) as copy:
                copy.set_types(["int8", "float8", "text"])
                for row in zip(ids, a, s):
                    copy.write_row(row)
        c.commit()
        return {"writerow": time.perf_counter() - t0}

    def preenc_load(self) -> Dict[str, float]:
        c = self.conns["preenc"]
        view = memoryview(self.stream)
        t0 = time.perf_counter()
        with c.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} (id, a, s) FROM STDIN (FORMAT binary)").format(
                    sql.Identifier(TABLE))) as copy:
                for i in range(0, len(view), CHUNK_BYTES):
                    copy.write(view[i:i + CHUNK_BYTES])
        c.commit()
        return {"preenc": time.perf_counter() - t0}

    def csv_load(self) -> Dict[str, float]:
        if self.engine is None:  # the pool's connection is opened outside any timing
            self.engine = common.make_engine(self.server)
        t0 = time.perf_counter()
        common.load_csv_recipe(self.df, TABLE, self.engine)
        return {"csv": time.perf_counter() - t0}

    def stage_load(self) -> Dict[str, float]:
        c = self.conns["stage"]
        t0 = time.perf_counter()
        self.zcimport.copy_dataframe(self.df, STAGE, c)
        c.commit()
        t1 = time.perf_counter()
        c.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(sql.Identifier(TABLE),
                                                                     sql.Identifier(STAGE)))
        c.commit()
        t2 = time.perf_counter()
        return {"stage_load": t1 - t0, "stage_insert": t2 - t1, "stage_sum": t2 - t0}

    def routed_load(self) -> Dict[str, float]:
        if not self.hash_ok:
            raise common.BenchError("the NumPy hashint8 was not verified against worker_hash")
        t0 = time.perf_counter()
        method, pls = placements(self.conns["stage"])
        work: Dict[int, List[Tuple[str, pd.DataFrame]]] = {}
        if method == "h":
            mins = np.array([p.lo for p in pls], dtype=np.int64)
            maxs = np.array([p.hi for p in pls], dtype=np.int64)
            if len(set(p.shardid for p in pls)) != len(pls) or np.any(np.diff(mins) <= 0):
                raise common.BenchError("probe (c) handles one placement per shard only")
            h = hashint8(self.df["id"].to_numpy())
            idx = (np.searchsorted(mins, h, side="right") - 1).astype(np.int16)
            if np.any(idx < 0) or np.any(h > maxs[idx]):
                raise common.BenchError("a hash falls outside every shard range")
            order = np.argsort(idx, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=len(pls)))])
            routed = self.df.take(order)
            for k, p in enumerate(pls):
                work.setdefault(p.port, []).append(
                    (f"{TABLE}_{p.shardid}", routed.iloc[bounds[k]:bounds[k + 1]]))
        else:
            for p in pls:
                work.setdefault(p.port, []).append((f"{TABLE}_{p.shardid}", self.df))

        def node(port: int) -> None:
            c = self.node_conns[port]
            try:
                for name, part in work[port]:
                    if len(part):
                        self.zcimport.copy_dataframe(part, name, c)
                c.commit()
            except BaseException:
                c.rollback()
                raise

        for f in [self.pool.submit(node, port) for port in work]:
            f.result()
        return {"routed": time.perf_counter() - t0}

    def reset(self, key: str) -> Callable[[], None]:
        def do() -> None:
            for c in ([self.conns[key]] if key in self.conns else list(self.node_conns.values())):
                with contextlib.suppress(Exception):
                    c.rollback()
        return do

    def peers(self, rows: int) -> List[Peer]:
        copy = "`COPY t (id, a, s) FROM STDIN (FORMAT binary)`"
        return [
            Peer("zcimport", "zcimport", "`zcimport.copy_dataframe(df, \"t\", conn)` (psycopg 3),"
                 " then `conn.commit()`", [Line("zcimport", "zcimport")], self.zcimport_load,
                 reset=self.reset("zcimport")),
            Peer("writerow", "psycopg binary COPY, write_row",
                 "Citus's COPY through the coordinator as a psycopg 3 user writes it: the columns"
                 " to Python lists (`df['id'].tolist()`, `df['a'].tolist()`, `s` as an object"
                 f" array with None, `.tolist()`; timed), {copy} with"
                 " `copy.set_types(['int8', 'float8', 'text'])` and `copy.write_row(row)` for each"
                 " row, then `conn.commit()`",
                 [Line("writerow", "psycopg binary COPY, write_row")], self.writerow_load,
                 reset=self.reset("writerow")),
            Peer("preenc", "psycopg binary COPY, pre-encoded stream",
                 f"{copy} of the binary COPY stream of the frame, encoded beforehand by NumPy"
                 f" ({common.format_bytes(len(self.stream))}; not timed), sent with `copy.write()`"
                 f" in {CHUNK_BYTES >> 20} MiB slices, then `conn.commit()`: what Citus's COPY"
                 " costs with no client work",
                 [Line("preenc", "psycopg binary COPY, pre-encoded stream")], self.preenc_load,
                 reset=self.reset("preenc")),
            Peer("csv", "pandas-docs CSV recipe",
                 "the pandas docs' recipe, as bench/common.py runs it for every benchmark:"
                 " `df.to_sql(\"t\", engine, if_exists=\"append\", index=False,"
                 " method=psql_insert_copy)` (to_csv into a buffer, then COPY ... FROM STDIN"
                 " WITH CSV through psycopg2's copy_expert), through the coordinator",
                 [Line("csv", "pandas-docs CSV recipe")], self.csv_load,
                 reset=self.reset("csv")),
            Peer("stage", "probe (b): coordinator tuples to Citus's COPY receiver",
                 "PROBE, not a user path.  Untimed before it: `CREATE UNLOGGED TABLE t_stage (id"
                 " int8, a float8, s text)`, a local (non-Citus) table on the coordinator.  Timed"
                 " on their own: (1) `zcimport.copy_dataframe(df, \"t_stage\", conn)` and COMMIT;"
                 " (2) `INSERT INTO t SELECT * FROM t_stage` and COMMIT (Citus pulls the rows to"
                 " the coordinator and pushes the coordinator's tuples through its COPY"
                 " destination receiver to the shards); (3) their sum",
                 [Line("stage_load", "probe (b) 1: zcimport into a local UNLOGGED table"),
                  Line("stage_insert", "probe (b) 2: INSERT INTO t SELECT * FROM local"),
                  Line("stage_sum", "probe (b) 1 + 2")],
                 self.stage_load, before=self.create_stage, reset=self.reset("stage")),
            Peer("routed", "probe (c): client routing, zcimport into the shards",
                 "PROBE, not a user path, NOT atomic.  Timed: the shards and placements of `t`"
                 " (`pg_dist_shard` ⋈ `pg_dist_placement` ⋈ `pg_dist_node` on the coordinator);"
                 " for a distributed table, the client hashes `id` as Citus does (NumPy"
                 " hashint8, checked against `worker_hash`), finds each row's shard by"
                 " `shardminvalue`/`shardmaxvalue` (`np.searchsorted`), orders the frame by shard"
                 " (stable argsort, `df.take`) and slices it; a reference table's frame goes"
                 " whole to every placement.  Then, one thread per node over a connection to that"
                 " node opened beforehand (its socket, like the coordinator's), each shard's"
                 " slice with `zcimport.copy_dataframe(part, \"t_<shardid>\", conn)`, and one"
                 " COMMIT per node (so a failure could leave some nodes loaded); the time ends"
                 " with the last node's COMMIT",
                 [Line("routed", "probe (c): client routing, zcimport into the shards")],
                 self.routed_load, reset=self.reset("routed")),
        ]


def run_case(runner: Runner, case: Case, repeat: int, log: Callable[[str], None]) -> None:
    """Every peer ``repeat`` times, the first peer rotating; each load
    checked (a failing peer is reported and dropped from the case)."""
    lines = [ln for p in case.peers for ln in p.lines]
    case.samples = {ln.key: Samples(ln.name) for ln in lines}
    errors: Dict[str, str] = {}
    runner.create(case)
    case.layout = runner.layout()
    runner.create_stage()
    case.notes.append(f"`EXPLAIN INSERT INTO t SELECT * FROM t_stage`: {runner.explain_stage_insert()}")
    runner.drop()
    log(f"{case.key}: {case.layout}")
    for run in range(repeat):
        order = [case.peers[(run + i) % len(case.peers)] for i in range(len(case.peers))]
        for peer in order:
            if peer.key in errors:
                continue
            runner.create(case)
            peer.before()
            runner.checkpoint()
            gc.collect()
            try:
                times = peer.load()
            except Exception as ex:  # a failing peer is reported, not fatal
                sqlstate = getattr(ex, "sqlstate", None)
                msg = str(ex).strip().splitlines()[0] if str(ex).strip() else ""
                errors[peer.key] = (f"{type(ex).__name__}"
                                    + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
                                    + f": {msg[:300]}")
                peer.reset()
                for ln in peer.lines:
                    case.samples[ln.key].error = errors[peer.key]
                log(f"{case.key} run {run + 1}/{repeat} {peer.name}: FAILED {errors[peer.key]}")
                runner.drop()
                continue
            t1 = time.perf_counter()
            problem, got = runner.check()
            runner.drop()
            if problem is not None:
                errors[peer.key] = f"wrong table contents after the load: {problem}"
                for ln in peer.lines:
                    case.samples[ln.key].error = errors[peer.key]
                log(f"{case.key} run {run + 1}/{repeat} {peer.name}: FAILED {errors[peer.key]}")
                continue
            case.sums[peer.key] = got
            for key, seconds in times.items():
                case.samples[key].times.append(seconds)
            log(f"{case.key} run {run + 1}/{repeat} {peer.name}: "
                + ", ".join(f"{k} {v:.3f} s" for k, v in times.items())
                + f" (check {time.perf_counter() - t1:.1f} s)")


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def ratio(num: Optional[Samples], den: Optional[Samples]) -> Optional[float]:
    if num is None or den is None or not num.ok or not den.ok:
        return None
    return num.median / den.median


def fmt_ratio(x: Optional[float]) -> str:
    return f"{x:.2f}×" if x is not None else "n/a"


def case_table(case: Case, rows: int) -> List[str]:
    base, pre = case.samples.get("writerow"), case.samples.get("preenc")
    out = []
    for p in case.peers:
        for ln in p.lines:
            s = case.samples[ln.key]
            if not s.ok:
                out.append((ln.name, "FAILED", "", "", "", "", s.error or "no samples"))
                continue
            out.append((ln.name, common.fmt_s(s.median), common.fmt_s(s.min), common.fmt_s(s.max),
                        common.fmt_rate(rows, s.median), fmt_ratio(ratio(base, s)),
                        fmt_ratio(ratio(pre, s))))
    return [common.md_table(["peer", "median", "min", "max", "rows/s (median)",
                             "write_row median / median", "pre-encoded median / median"],
                            out, "lrrrrrr"), ""]


def citus_settings(conn: "psycopg.Connection[Any]") -> List[Tuple[str, str, str]]:
    rows = conn.execute("SELECT name, setting, coalesce(unit, ''), source FROM pg_settings"
                        " WHERE name = ANY(%s)", (list(CITUS_SETTINGS),)).fetchall()
    by = {r[0]: r for r in rows}
    return [(n, f"{by[n][1]} {by[n][2]}".strip(), by[n][3]) for n in CITUS_SETTINGS if n in by]


def report(args: argparse.Namespace, ctx: common.RunContext, server: CitusServer,
           citus_info: List[Tuple[str, str]], csettings: List[Tuple[str, str, str]],
           cases: Sequence[Case], hash_line: str, frame_desc: str) -> str:
    out = common.report_preamble(
        f"Citus: {args.rows:,} rows of (id int8, a float8, s text) through the coordinator",
        args, ctx.info + citus_info, server, ctx.durable, ctx.settings, frame_desc)
    w = out.append
    w("Citus settings of the coordinator (and the durability of every node, checked at the"
      " start; nothing is changed for this benchmark):")
    w("")
    w(common.md_table(["setting", "value", "source"], csettings))
    w("")
    w("### Targets")
    w("")
    w(f"Medians of {args.repeat} run(s) per peer; ratio = psycopg binary COPY with write_row's"
      " median / zcimport's median.")
    w("")
    rows = []
    for case in cases:
        zc, base = case.samples.get("zcimport"), case.samples.get("writerow")
        r = ratio(base, zc)
        rows.append((case.title, common.fmt_s(zc.median) if zc and zc.ok else
                     f"FAILED: {zc.error}" if zc else "n/a",
                     common.fmt_s(base.median) if base and base.ok else "FAILED",
                     fmt_ratio(r), f"≥ {TARGET:g}×",
                     "not measured" if r is None else "PASS" if r >= TARGET else "FAIL"))
    w(common.md_table(["case", "zcimport", "psycopg binary COPY, write_row", "ratio", "target",
                       "result"], rows, "lrrrcc"))
    w("")
    w("Every load goes into a fresh, empty `t (id int8, a float8, s text)` (before it, not timed:"
      " `DROP TABLE IF EXISTS t`, `CREATE TABLE`, the distribution call, `CHECKPOINT` on every"
      " node; after it the check, then `DROP TABLE`), over a connection to the coordinator opened"
      " beforehand (one per peer, kept for all runs: Citus opens its own connections to the"
      " workers, as it would for any session).  Times run from the start of the peer's"
      " client work (conversion or encoding, where it has any) up to and including COMMIT.  The"
      " first peer rotates from round to round.")
    w("")
    w("After every load: count(*), exact sum(id), count(s), sum(length(s)) and sum(a) (within 1e-9"
      " of sum(|a|)) through the coordinator equal the frame's; 1,000 sampled ids are all found"
      " by a shard-pruned `id = ANY(...)`; on every placement, read on its node, the row counts"
      " add up (distributed) or are all complete (reference) and no row lies outside its shard's"
      f" hash range (`worker_hash(id)`).  Hash check at the start: {hash_line}.")
    w("")
    for case in cases:
        w(f"### {case.title} (`{case.key}`)")
        w("")
        w(f"`{case.distribute.format(table='t')}`: {case.layout}.")
        w("")
        out.extend(case_table(case, args.rows))
        w("Ratios: the other peer's median / this line's median (above 1: this line is faster).")
        w("")
        out.extend(f"{i}. **{p.name}**: {p.description}." for i, p in enumerate(case.peers, 1))
        w("")
        w("All times, in the order they ran: " + "; ".join(
            f"{s.name} " + (", ".join(f"{t:.3f}" for t in s.times) or "none")
            for s in case.samples.values()) + " (seconds).")
        w("")
        if case.sums:
            first = next(iter(case.sums.values()))
            w(f"Table after each load: {first.short()}"
              + (" — the same for every peer." if all(s == first or s.matches(first)
                                                    for s in case.sums.values()) else
                 " — **the peers differ**"))
            w("")
        for note in case.notes:
            w(f"- {note}")
        if case.notes:
            w("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=54470,
                   help="coordinator port of the Citus cluster of test/citus.sh (default 54470;"
                        " workers on the next two); started (durable) and stopped when not running")
    p.add_argument("--rows", type=int, default=3_000_000, help="rows of the frame (default 3,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs per peer and case (default 3)")
    p.add_argument("--only", default=",".join(CASES),
                   help=f"comma-separated cases: {', '.join(CASES)} (default all)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the frame (default 42)")
    common.add_run_arguments(p, SECTION)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be positive")
    if args.rows < ID_SAMPLE:
        p.error(f"--rows must be at least {ID_SAMPLE}")
    args.cases = [c.strip() for c in args.only.split(",") if c.strip()]
    if not args.cases or set(args.cases) - set(CASES):
        p.error(f"--only takes a comma-separated subset of {','.join(CASES)}")
    args.skipped = []
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    return common.run_guarded("citus.py", run, args)


def run(args: argparse.Namespace) -> int:
    log = common.begin_run(args, SECTION)
    t_start = time.perf_counter()
    with citus_cluster(args.port, log) as (server, workers):
        ctx = common.RunContext.open(server, allow_nondurable=args.allow_nondurable, log=log)
        admin = ctx.admin
        for port in workers:
            with psycopg.connect(psycopg.conninfo.make_conninfo(server.conninfo(), port=str(port)),
                                 autocommit=True) as w:
                off = common.non_durable(w)
                if off and not args.allow_nondurable:
                    raise common.BenchError(f"the worker on port {port} is not durable"
                                            f" ({', '.join(off)}): stop the cluster so that it is"
                                            " created again with ZC_PGDURABLE=1")
        row = admin.execute("SELECT citus_version()").fetchone()
        assert row is not None
        nodes = admin.execute("SELECT nodename, nodeport, groupid, shouldhaveshards FROM"
                              " pg_dist_node ORDER BY groupid").fetchall()
        citus_info = [("Citus", str(row[0])),
                      ("nodes", "; ".join(f"{n[0]}:{n[1]} group {n[2]}"
                                          + (" (coordinator)" if n[2] == 0 else "")
                                          + ("" if n[3] else ", no shards") for n in nodes))]
        csettings = citus_settings(admin)
        import zcimport

        with common.connect(server) as probe:
            plan = zcimport.plan(pd.DataFrame({"id": np.zeros(1, np.int64)}), conn=probe)
            ctx.info.append(common.transport_info(plan.transport, server, probe))

        log(f"building the frame of {args.rows:,} rows and its binary COPY stream")
        df = build_frame(args.rows, args.seed)
        expected = frame_sums(df)
        stream = binary_copy_stream(df)
        rng = np.random.default_rng([args.seed, 1])
        id_sample = [int(v) for v in rng.choice(df["id"].to_numpy(), size=ID_SAMPLE, replace=False)]
        hash_ok = True
        try:
            hash_line = check_hashint8(admin, df["id"].to_numpy(), args.seed)
        except common.BenchError as ex:
            hash_ok = False
            hash_line = f"**FAILED**: {ex}"
            args.warnings.append(f"probe (c) was not run: {ex}")
        log(f"hash check: {hash_line}")
        frame_desc = (f"{args.rows:,} rows; `id` int64 0 … {args.rows - 1:,} in order, `a` float64"
                      f" ~ N(0, 1), `s` pandas `{df['s'].dtype}` (\"row <id>\", every"
                      f" {NULL_EVERY}th None: {expected.s_count:,} non-null); "
                      f"{common.format_bytes(df.memory_usage(deep=True).sum())}; its binary COPY"
                      f" stream {common.format_bytes(len(stream))}; seed {args.seed}")
        runner = Runner(server, workers, admin, df, stream, expected, id_sample, hash_ok)
        cases: List[Case] = []
        try:
            for key in args.cases:
                title, distribute = CASES[key]
                case = Case(key, title, distribute, runner.peers(args.rows))
                cases.append(case)
                run_case(runner, case, args.repeat, log)
        finally:
            with contextlib.suppress(Exception):
                runner.drop()
            runner.close()
        ctx.close(args)
        log(f"done in {time.perf_counter() - t_start:.0f} s")
        text = report(args, ctx, server, citus_info, csettings, cases, hash_line, frame_desc)
    return common.emit_report(text, SECTION, args, log)


if __name__ == "__main__":
    sys.exit(main())
