"""zcimport on a Citus cluster: loads into Citus tables through the coordinator.

``copy_dataframe(df, t, coordinator)`` and ``COPY t FROM STDIN WITH (FORMAT
zcimport)`` on the coordinator load Citus tables: hash-distributed tables
(the coordinator hashes the distribution column as Citus does and sends
each shard its rows as a zcimport sub-stream, over Citus's own placement
connections, in Citus's coordinated transaction), reference tables (every
placement, the coordinator's too), Citus-local and single-shard tables.  A
statement is atomic across the nodes; a failure on any shard, a cancel, a
worker that goes away leave nothing anywhere.

The oracle is Citus's own COPY (psycopg's ``write_row`` through the
coordinator, as test/python/oracle.py does) into a *twin* table co-located
with the target (``colocate_with``): shard i of both covers the same hash
range on the same nodes.  The tests connect to every node and compare,
shard by shard (pg_dist_shard by ``shardminvalue``; a shard's table is
``<table>_<shardid>``), the multiset of rows in each placement of the
target with the twin's; errors must have the SQLSTATE of Citus's COPY
(which reports a worker's constraint violation as XX000 with the worker's
message: the SQLSTATE that message stands for is accepted too).  Large loads
(a cancel, a worker stopped, a shard move under way) are checked without a
twin: the counts, and ``worker_hash()`` of every row within its shard's
range.  test/python/randcitus.py holds these checks and the seeded random
scenarios of ``test_random_scenario``.

How the cluster is found: the session fixture ``citus`` runs
``test/citus.sh start`` (a coordinator and two workers on loopback, ports
ZC_CITUS_PORT, default 54460, and the next two) and ``test/citus.sh env``.
When Citus is not installed in this PostgreSQL, the script exits with status
3 and every test here is skipped with its message (``pytest -rs`` shows it);
any other failure of the script is an error.  At the end of the session the
fixture runs ``test/citus.sh stop`` if it was the one that started the
cluster; a cluster that was already up is reused and left running.  One
test stops a worker (``pg_ctl stop -m immediate``, as the cluster's owner)
and starts it again with ``test/citus.sh start``.

How the shell table is read: Citus plans every query that names a Citus
table (``SELECT ... FROM ONLY t`` too) as a distributed query over the
shards, so no SELECT shows the coordinator's shell table's own heap.
``pgstattuple`` reads the heap directly; ``shell_rows`` sums its live tuples
over the table, or its partitions.  ``test_shell_probe_sees_rows_in_the_shell``
shows that this probe sees rows that Citus leaves in a shell.

Run from the repository root:
  PYTHONPATH=python .venv/latest/bin/python -m pytest test/python/test_citus.py -rs -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

import randcitus
import zcimport
from oracle import copy_rows
from randcitus import (Nodes, Outcome, acceptable_states, attempt, canonical_state, compare_placements,
                       coordinator_rows, misplaced_rows, placement_total, rows_anywhere, shards,
                       shell_rows, wait_no_prepared_xacts)

#: a server suite: make test runs it in the first Python environment only
pytestmark = pytest.mark.server_side

CITUS_SH = Path(__file__).resolve().parents[2] / "test" / "citus.sh"
NOT_INSTALLED = 3  # test/citus.sh start's status when Citus is not installed
ROWS = 1000
WAYS = list(randcitus.WAYS)
#: the seeded slice of randcitus.py's scenarios
RANDOM_SEED = 20261202
RANDOM_SCENARIOS = 30


# ---------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------


@dataclass
class CitusCluster:
    """Where test/citus.sh's cluster listens (all nodes share one socket dir)."""

    host: str
    port: int
    user: str
    dbname: str
    worker_ports: List[int]

    def dsn(self, port: "int | None" = None) -> str:
        return (f"host={self.host} port={port or self.port} user={self.user}"
                f" dbname={self.dbname}")


def _script(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([str(CITUS_SH), *args], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def _is_up(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def citus() -> Iterator[CitusCluster]:
    """The Citus cluster of test/citus.sh, started for this session if need be."""
    env = randcitus.cluster_env()
    cluster = CitusCluster(
        host=env["PGHOST"], port=int(env["PGPORT"]), user=env["PGUSER"],
        dbname=env["PGDATABASE"],
        worker_ports=[int(p) for p in env["ZC_CITUS_WORKER_PORTS"].split(",")],
    )
    was_up = _is_up(cluster.dsn())
    out = _script("start")  # also when up: it starts what is down, sets up what is not
    if out.returncode == NOT_INSTALLED:
        pytest.skip(f"no Citus cluster: {out.stderr.strip()}")
    if out.returncode != 0:
        pytest.fail(f"test/citus.sh start failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as c:
            # for shell_rows(); Citus creates it on the workers too
            c.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        yield cluster
    finally:
        if not was_up:
            _script("stop")


@pytest.fixture(scope="session")
def nodes(citus: CitusCluster) -> Iterator[Nodes]:
    """Connections to every node (the coordinator and the workers), for the physical checks."""
    n = Nodes(citus.dsn, citus.port, citus.worker_ports)
    yield n
    n.close()


@pytest.fixture
def coord(citus: CitusCluster) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the coordinator."""
    with psycopg.connect(citus.dsn(), autocommit=True) as c:
        yield c


@pytest.fixture
def worker(citus: CitusCluster) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the first worker."""
    with psycopg.connect(citus.dsn(citus.worker_ports[0]), autocommit=True) as c:
        yield c


@pytest.fixture
def name(citus: CitusCluster) -> Iterator[str]:
    """A unique table name; afterwards every table named after it (``name``,
    ``name_twin``, ``name_lo``...; not shards, ``name_<shardid>``) is dropped."""
    value = f"citus_{uuid.uuid4().hex[:10]}"
    yield value
    with psycopg.connect(citus.dsn(), autocommit=True) as c:
        c.execute("SET lock_timeout = '60s'")
        tables = [r[0] for r in c.execute(
            "SELECT relname FROM pg_catalog.pg_class WHERE relkind IN ('r', 'p')"
            " AND NOT relispartition AND relnamespace = 'public'::regnamespace"
            " AND (relname = %(n)s OR (relname LIKE %(n)s || '\\_%%' AND relname !~ '_[0-9]+$'))",
            {"n": value}).fetchall()]
        for t in tables:
            c.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(t)))


@pytest.fixture(scope="session")
def server_dir() -> Iterator[Path]:
    """A directory whose files the server (the postgres OS user) can read."""
    with tempfile.TemporaryDirectory(prefix="zcimport-citus-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


# ---------------------------------------------------------------------------
# tables, frames and the ways in
# ---------------------------------------------------------------------------

COLUMNS = "id bigint, a double precision, s text"

KINDS = ["distributed", "reference", "citus_local", "single_shard", "partitioned", "partition"]


def make_table(conn: psycopg.Connection, kind: str, name: str, columns: str = COLUMNS,
               dist: str = "id", shard_count: int = 4, colocate_with: Optional[str] = None) -> str:
    """Create table ``name`` of the given kind; return the table to load into.

    A hash-distributed table gets ``shard_count`` shards in a colocation group
    of its own, or joins ``colocate_with``'s.  ``partitioned`` and ``partition``
    are range-partitioned on ``dist`` (two partitions, name_lo and name_hi, split
    at 1,000,000), distributed by it; ``partition`` loads into name_lo.
    """
    t = sql.Identifier(name)
    if kind in ("partitioned", "partition"):
        conn.execute(sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE ({})").format(
            t, sql.SQL(columns), sql.Identifier(dist)))
        for suffix, bounds in (("lo", "(MINVALUE) TO (1000000)"), ("hi", "(1000000) TO (MAXVALUE)")):
            conn.execute(sql.SQL(f"CREATE TABLE {{}} PARTITION OF {{}} FOR VALUES FROM {bounds}")
                         .format(sql.Identifier(f"{name}_{suffix}"), t))
    else:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(t, sql.SQL(columns)))
    lit = sql.Literal(name)
    colocation = sql.SQL("colocate_with := {}").format(sql.Literal(colocate_with)) if colocate_with \
        else sql.SQL("shard_count := {}, colocate_with := 'none'").format(sql.Literal(shard_count))
    if kind in ("distributed", "partitioned", "partition"):
        conn.execute(sql.SQL("SELECT pg_catalog.create_distributed_table({}, {}, {})").format(
            lit, sql.Literal(dist), colocation))
    elif kind == "single_shard":
        conn.execute(sql.SQL("SELECT pg_catalog.create_distributed_table({}, NULL{})").format(
            lit, sql.SQL(", colocate_with := {}").format(sql.Literal(colocate_with)) if colocate_with
            else sql.SQL("")))
    elif kind == "reference":
        conn.execute(sql.SQL("SELECT pg_catalog.create_reference_table({})").format(lit))
    elif kind == "citus_local":
        conn.execute(sql.SQL("SELECT pg_catalog.citus_add_local_table_to_metadata({})").format(lit))
    else:
        assert kind == "local", kind
    return f"{name}_lo" if kind == "partition" else name


def make_pair(conn: psycopg.Connection, kind: str, name: str, columns: str = COLUMNS,
              dist: str = "id", shard_count: int = 4) -> Tuple[str, str, List[Tuple[str, str]]]:
    """The target (named name) and its twin (name_twin), co-located with it.

    Returns the table to load into, the twin's counterpart of it, and the
    (target relation, twin relation) pairs whose placements must agree (a
    partitioned table's partitions too).
    """
    target = make_table(conn, kind, name, columns, dist, shard_count)
    twin = f"{name}_twin"
    make_table(conn, kind, twin, columns, dist, shard_count,
               colocate_with=name if kind in ("distributed", "partitioned", "partition", "single_shard")
               else None)
    pairs = [(name, twin)]
    if kind in ("partitioned", "partition"):
        pairs += [(f"{name}_lo", f"{twin}_lo"), (f"{name}_hi", f"{twin}_hi")]
    return target, (f"{twin}_lo" if kind == "partition" else twin), pairs


def frame(n: int = ROWS, first: int = 0, step: int = 1) -> pd.DataFrame:
    """Rows first, first + step, ...: id, a = id / 4, s with a NULL every 7 rows."""
    ids = np.arange(first, first + n * step, step, dtype=np.int64)
    return pd.DataFrame({
        "id": ids,
        "a": ids / 4.0,
        "s": [None if k % 7 == 3 else f"row {k}" for k in ids],
    })


def load(way: str, conn: psycopg.Connection, df: pd.DataFrame, target: str, where: Path,
         **kwargs: Any) -> int:
    """Load df into target one of the four ways (see randcitus.load)."""
    return randcitus.load(way, conn, df, target, where, **kwargs)


def citus_count(conn: psycopg.Connection, table: str) -> int:
    """count(*) as Citus answers it (over the shards, for a Citus table)."""
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def in_pg_dist_partition(conn: psycopg.Connection, table: str) -> bool:
    """Is table a Citus table (as this node's metadata says)?"""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition"
                        " WHERE logicalrelid = %s::regclass)", (table,)).fetchone()[0]


def skip_if_refused_clearly(way: str, out: Outcome, coord: psycopg.Connection, nodes: Nodes,
                            target: str) -> None:
    """import_bytea/import_file may refuse Citus tables clearly (0A000, nothing loaded): skip, saying so."""
    if way in ("import_bytea", "import_file") and out.sqlstate == "0A000":
        assert not rows_anywhere(coord, nodes, target)
        pytest.skip(f"{way} refuses Citus tables (0A000): {out.message}")


def assert_loaded_like_twin(coord: psycopg.Connection, nodes: Nodes, target: str, twin: str,
                            pairs: Sequence[Tuple[str, str]], n: int, zc: Outcome,
                            oracle: Outcome, notice: bool = True) -> None:
    """zcimport's load of n rows into target matches Citus's COPY of them into twin, node by node."""
    assert zc.ok, f"zcimport failed: {zc}"
    assert oracle.ok, f"Citus's COPY into the twin failed: {oracle}"
    assert zc.rows == n, f"zcimport answered {zc.rows}, the frame has {n} rows"
    assert oracle.rows == n
    a, b = coordinator_rows(coord, target), coordinator_rows(coord, twin)
    assert a == b, f"through the coordinator: {randcitus._diff(a, b)}"
    problems = compare_placements(coord, nodes, pairs)
    assert not problems, "\n".join(problems)
    for rel, _ in pairs:
        assert shell_rows(coord, rel) == 0, f"rows in the coordinator's shell of {rel}"
    if notice:
        assert randcitus.names_table(zc.notices, target), f"no NOTICE names {target}: {zc.notices}"


def assert_nothing_left(coord: psycopg.Connection, nodes: Nodes, *tables: str) -> None:
    """After a failure: the connection works, no row of tables on any node, no prepared xact."""
    assert coord.execute("SELECT 1").fetchone() == (1,)
    for t in tables:
        left = rows_anywhere(coord, nodes, t)
        assert not left, f"rows left in {t}: {left}"
    xacts = wait_no_prepared_xacts(nodes)
    assert not xacts, f"prepared transactions left (port: count): {xacts}"


def assert_refused(coord: psycopg.Connection, nodes: Nodes, conn: psycopg.Connection,
                   load_it: Callable[[], Any], target: str) -> Outcome:
    """load_it() fails with 0A000 and a message, leaving no row anywhere and a usable connection."""
    out = attempt(conn, load_it)
    assert not out.ok, f"the load into Citus table {target} answered {out.rows} instead of 0A000"
    assert out.sqlstate == "0A000", str(out)
    assert out.message
    assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not rows_anywhere(coord, nodes, target)
    return out


def stop_node(citus: CitusCluster, node: str) -> None:
    """Stop node (coordinator, worker1, worker2) at once, as the cluster's owner does."""
    bindir = subprocess.run(["bash", "-c", f". {CITUS_SH.parent}/pgnode.sh && echo $bindir"],
                            capture_output=True, text=True, check=True).stdout.strip()
    cmd = [f"{bindir}/pg_ctl", "-D", f"{citus.host}/{node}", "stop", "-m", "immediate", "-w"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def streamed_frames(started: threading.Event, stop: threading.Event, batch: int = 50_000,
                    max_batches: int = 60, first: int = 0, sent: Optional[List[int]] = None) -> Any:
    """A pyarrow RecordBatchReader of batches (id bigint from first, a = id / 4) made on demand:
    ``started`` is set once two batches were taken; no more after ``stop`` or max_batches.
    ``sent`` (a one-element list) counts the rows handed out."""
    pa = pytest.importorskip("pyarrow")
    schema = pa.schema([("id", pa.int64()), ("a", pa.float64())])
    counter = sent if sent is not None else [0]

    def batches() -> Iterator[Any]:
        for k in range(max_batches):
            if stop.is_set():
                return
            ids = np.arange(first + k * batch, first + (k + 1) * batch, dtype=np.int64)
            yield pa.record_batch([pa.array(ids), pa.array(ids / 4.0)], schema=schema)
            counter[0] += batch
            if k == 1:
                started.set()

    return pa.RecordBatchReader.from_batches(schema, batches())


class LoadThread(threading.Thread):
    """Runs one load on a connection of its own, keeping its outcome."""

    def __init__(self, dsn: str, target: str, source: Any, batch_rows: Optional[int] = None) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.pid = self.conn.info.backend_pid
        self.target = target
        self.source = source
        self.batch_rows = batch_rows
        self.outcome: Optional[Outcome] = None
        self.crash: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.outcome = attempt(self.conn, lambda: zcimport.copy_dataframe(
                self.source, self.target, self.conn, batch_rows=self.batch_rows))
        except BaseException as ex:  # reported by finish()
            self.crash = ex

    def finish(self, timeout: float = 120.0) -> Outcome:
        """Wait for the load; its outcome (fails the test if it hangs or raised a client error)."""
        self.join(timeout)
        assert not self.is_alive(), f"the load into {self.target} still runs after {timeout} s"
        if self.crash is not None:
            raise self.crash
        assert self.outcome is not None
        return self.outcome


# ---------------------------------------------------------------------------
# every kind of Citus table, every way in
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("kind", KINDS)
def test_loads_every_kind(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path,
                          kind: str, way: str) -> None:
    """Each kind of Citus table loads each way: the rows Citus's COPY puts in the twin, on
    the same shards and nodes; the load answers the row count; a NOTICE names the table."""
    target, twin, pairs = make_pair(coord, kind, name)
    assert in_pg_dist_partition(coord, target)
    n = 3000
    df = frame(n, first=-400_000 if kind != "partition" else -2_000_000, step=1009 if kind != "partition" else 7)
    if kind == "partitioned":
        assert (df["id"] >= 1_000_000).any() and (df["id"] < 1_000_000).any()
    zc = attempt(coord, lambda: load(way, coord, df, target, server_dir, batch_rows=700))
    skip_if_refused_clearly(way, zc, coord, nodes, target)
    oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
    assert_loaded_like_twin(coord, nodes, target, twin, pairs, n, zc, oracle)
    # a second load appends
    zc2 = attempt(coord, lambda: load(way, coord, frame(50, first=7), target, server_dir))
    oracle2 = attempt(coord, lambda: copy_rows(coord, twin, frame(50, first=7)))
    assert zc2.rows == 50 and oracle2.rows == 50, (zc2, oracle2)
    assert not compare_placements(coord, nodes, pairs)
    assert citus_count(coord, target) == n + 50


#: distribution column types: (SQL type, randcitus kind family, typmod parameter)
DIST_TYPES = [
    ("smallint", "int2", 0), ("integer", "int4", 0), ("bigint", "int8", 0),
    ("double precision", "float8", 0), ("numeric", "numeric", 0), ("numeric(12,2)", "numeric_s", 2),
    ("text", "text", 0), ("varchar(12)", "varchar", 12), ("char(4)", "char", 4), ("date", "date", 0),
    ("timestamp", "timestamp", 6), ("timestamp(0)", "timestamp", 0), ("timestamptz", "timestamptz", 6),
    ("timestamptz(3)", "timestamptz", 3), ("uuid", "uuid", 0), ("boolean", "bool", 0),
]


def typed_frame(sqltype: str, family: str, param: int, n: int, seed: int,
                tz: str = "Europe/Berlin") -> pd.DataFrame:
    """n rows: k of the type (random values from randcitus, edge values first), v = row number."""
    kind = randcitus.Kind(family, sqltype, param=param, tz=tz)
    g = randcitus.Gen(seed, zlib.crc32(sqltype.encode()))
    vals = [randcitus.draw_value(g, kind) for _ in range(n)]
    return pd.DataFrame({"k": randcitus.series(kind, vals, seed), "v": np.arange(n, dtype=np.int32)})


@pytest.mark.parametrize("sqltype,family,param", DIST_TYPES, ids=[t[0] for t in DIST_TYPES])
def test_distribution_column_types(coord: psycopg.Connection, nodes: Nodes, name: str,
                                   server_dir: Path, sqltype: str, family: str, param: int) -> None:
    """Each type Citus hashes, as the distribution column of 32 shards: every row on the
    shard Citus's COPY puts it on (typmods applied before hashing: numeric(12,2),
    timestamp(0), char(4))."""
    target, twin, pairs = make_pair(coord, "distributed", name, f"k {sqltype}, v integer", "k", 32)
    coord.execute("SET TIME ZONE 'America/New_York'")
    df = typed_frame(sqltype, family, param, 2500, 11)
    zc = attempt(coord, lambda: load("copy_dataframe", coord, df, target, server_dir, batch_rows=999))
    oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
    assert_loaded_like_twin(coord, nodes, target, twin, pairs, len(df), zc, oracle)
    assert not misplaced_rows(coord, nodes, target, "k")


@pytest.mark.parametrize("shard_count", [1, 4, 32])
@pytest.mark.parametrize("sqltype,family,param", [("bigint", "int8", 0), ("text", "text", 0),
                                                  ("uuid", "uuid", 0)], ids=["bigint", "text", "uuid"])
@pytest.mark.parametrize("way", ["copy_stream", "import_bytea"])
def test_shard_counts(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path,
                      shard_count: int, sqltype: str, family: str, param: int, way: str) -> None:
    """1, 4 and 32 shards, through the raw COPY and import_bytea."""
    target, twin, pairs = make_pair(coord, "distributed", name, f"k {sqltype}, v integer", "k",
                                    shard_count)
    assert len(shards(coord, target)) == shard_count
    df = typed_frame(sqltype, family, param, 1500, shard_count)
    zc = attempt(coord, lambda: load(way, coord, df, target, server_dir, batch_rows=256))
    skip_if_refused_clearly(way, zc, coord, nodes, target)
    oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
    assert_loaded_like_twin(coord, nodes, target, twin, pairs, len(df), zc, oracle)


def test_empty_frame(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path) -> None:
    """0 rows: COPY 0, nothing anywhere."""
    target, twin, pairs = make_pair(coord, "distributed", name)
    zc = attempt(coord, lambda: load("copy_dataframe", coord, frame(0), target, server_dir))
    assert zc.ok and zc.rows == 0, str(zc)
    assert not rows_anywhere(coord, nodes, target)


def test_dropped_column_in_the_shell_only(coord: psycopg.Connection, nodes: Nodes, name: str,
                                          server_dir: Path) -> None:
    """A column dropped before distributing: the shell has a hole where the shards have none;
    columns must travel by name, with defaults for those the frame lacks."""
    cols = "id bigint, junk integer, a double precision, s text, d integer DEFAULT 42"
    for t in (name, f"{name}_twin"):
        coord.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(t), sql.SQL(cols)))
        coord.execute(sql.SQL("ALTER TABLE {} DROP COLUMN junk").format(sql.Identifier(t)))
    coord.execute("SELECT create_distributed_table(%s, 'id', shard_count := 8, colocate_with := 'none')", (name,))
    coord.execute("SELECT create_distributed_table(%s, 'id', colocate_with := %s)", (f"{name}_twin", name))
    df = frame(2000)[["s", "a", "id"]]
    zc = attempt(coord, lambda: load("copy_dataframe", coord, df, name, server_dir))
    oracle = attempt(coord, lambda: copy_rows(coord, f"{name}_twin", df))
    assert_loaded_like_twin(coord, nodes, name, f"{name}_twin", [(name, f"{name}_twin")], 2000, zc, oracle)
    assert coord.execute(sql.SQL("SELECT count(*) FROM {} WHERE d = 42").format(
        sql.Identifier(name))).fetchone()[0] == 2000


# ---------------------------------------------------------------------------
# errors: the SQLSTATE of Citus's COPY, nothing anywhere afterwards
# ---------------------------------------------------------------------------

ERROR_COLUMNS = "id bigint, a double precision CHECK (a <> -1), s text NOT NULL, u integer, UNIQUE (id, u)"


def error_frame(fault: str, coord: psycopg.Connection, target: str, n: int = 20_000) -> Tuple[pd.DataFrame, str]:
    """A frame of n rows for ERROR_COLUMNS with one kind of fault; the fault's SQLSTATE.

    ``check``: a = -1 in five rows that all hash to the same shard (its third),
    late in the frame, after rows for every shard."""
    ids = np.arange(n, dtype=np.int64) * 7919 - 3_000_000
    df = pd.DataFrame({"id": ids, "a": ids / 4.0, "s": [f"s{k}" for k in ids],
                       "u": pd.array(np.arange(n, dtype=np.int32) % 1000, dtype="Int32")})
    if fault == "check":
        ss = shards(coord, target)
        on_it = [n - 3]
        if len(ss) > 1:
            victim = ss[2].shardid
            homes = coord.execute(
                "SELECT array_agg(pg_catalog.get_shard_id_for_distribution_column(%s, x) ORDER BY i)"
                " FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(x, i)",
                (target, [int(v) for v in ids[n // 2:]])).fetchone()[0]
            on_it = [n // 2 + i for i, home in enumerate(homes) if home == victim][:5]
            assert len(on_it) == 5
        df.loc[on_it, "a"] = -1.0
        return df, "23514"
    if fault == "not_null":
        df["s"] = df["s"].astype(object)
        df.loc[n - 10, "s"] = None
        return df, "23502"
    if fault == "null_distribution":
        df["id"] = pd.array(ids, dtype="Int64")
        df.loc[n - 10, "id"] = pd.NA
        return df, "22004"
    if fault == "unique":
        df.loc[n - 10, ["id", "u"]] = df.loc[5, ["id", "u"]].to_numpy()
        return df, "23505"
    if fault == "range_distribution":
        return df, "22003"  # the table's id is an integer: see test_constraint_errors
    if fault == "range_other":
        df["u"] = df["u"].astype("Int64")
        df.loc[n - 10, "u"] = 2 ** 40
        return df, "22003"
    raise AssertionError(fault)


FAULTS = ["check", "not_null", "null_distribution", "unique", "range_distribution", "range_other"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("way", ["copy_dataframe", "copy_stream"])
def test_constraint_errors(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path,
                           fault: str, way: str) -> None:
    """A bad row fails the whole load with Citus's COPY's SQLSTATE (or the one its XX000
    message stands for), leaves no row on any node and no prepared transaction, and the
    connection then loads the good rows."""
    cols = ERROR_COLUMNS.replace("id bigint", "id integer") if fault == "range_distribution" else ERROR_COLUMNS
    target, twin, pairs = make_pair(coord, "distributed", name, cols, "id", 8)
    df, state = error_frame(fault, coord, target)
    if fault == "range_distribution":
        df.loc[len(df) - 10, "id"] = 2 ** 33
    zc = attempt(coord, lambda: load(way, coord, df, target, server_dir, batch_rows=2048))
    oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
    assert not oracle.ok, "the oracle loaded the bad frame"
    assert not zc.ok, f"zcimport loaded the bad frame ({zc.rows} rows); now: {rows_anywhere(coord, nodes, target)}"
    assert zc.sqlstate in acceptable_states(oracle.sqlstate, oracle.message) | {state}, \
        f"zcimport: {zc}; Citus's COPY: {oracle}"
    assert_nothing_left(coord, nodes, target, twin)
    good = df.drop(index=len(df) - 10) if fault != "check" else df[df["a"] != -1.0]
    zc2 = attempt(coord, lambda: load(way, coord, good, target, server_dir))
    oracle2 = attempt(coord, lambda: copy_rows(coord, twin, good))
    assert_loaded_like_twin(coord, nodes, target, twin, pairs, len(good), zc2, oracle2)


@pytest.mark.parametrize("kind", ["reference", "citus_local", "single_shard", "partitioned"])
@pytest.mark.parametrize("fault", ["check", "unique"])
def test_constraint_errors_other_kinds(coord: psycopg.Connection, nodes: Nodes, name: str,
                                       server_dir: Path, kind: str, fault: str) -> None:
    """The same on reference (three placements), Citus-local, single-shard and partitioned tables."""
    target, twin, pairs = make_pair(coord, kind, name, ERROR_COLUMNS, "id", 4)
    df, state = error_frame(fault, coord, target, 5000)
    zc = attempt(coord, lambda: load("copy_dataframe", coord, df, target, server_dir))
    oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
    assert not oracle.ok and not zc.ok, f"zcimport: {zc}; Citus's COPY: {oracle}"
    assert zc.sqlstate in acceptable_states(oracle.sqlstate, oracle.message) | {state}, \
        f"zcimport: {zc}; Citus's COPY: {oracle}"
    assert_nothing_left(coord, nodes, target, twin)
    good = df.drop(index=len(df) - 10) if fault != "check" else df[df["a"] != -1.0]
    zc2 = attempt(coord, lambda: load("copy_dataframe", coord, good, target, server_dir))
    oracle2 = attempt(coord, lambda: copy_rows(coord, twin, good))
    assert_loaded_like_twin(coord, nodes, target, twin, pairs, len(good), zc2, oracle2)


# ---------------------------------------------------------------------------
# refused: 0A000, nothing loaded
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_refused_on_a_worker(coord: psycopg.Connection, worker: psycopg.Connection, nodes: Nodes,
                             name: str, kind: str) -> None:
    """A worker has the metadata (and shell tables) too: a load issued there is refused."""
    target = make_table(coord, kind, name)
    assert in_pg_dist_partition(worker, target)
    assert_refused(coord, nodes, worker, lambda: zcimport.copy_dataframe(frame(), target, worker), target)
    assert shell_rows(worker, target) == 0


@pytest.mark.parametrize("kind", ["distributed", "reference", "citus_local"])
def test_refused_copy_where(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path,
                            kind: str) -> None:
    """COPY ... WHERE on a Citus table (Citus's COPY refuses WHERE too)."""
    target = make_table(coord, kind, name)
    stmt = sql.SQL("COPY {} (id, a, s) FROM STDIN WITH (FORMAT zcimport) WHERE id > 10").format(
        sql.Identifier(target))

    def copy_where() -> int:
        coord.execute("SELECT zcimport.version()")
        with coord.cursor() as cur:
            with cur.copy(stmt) as copy:
                copy.write(randcitus.stream_bytes(frame()))
            return cur.rowcount

    assert_refused(coord, nodes, coord, copy_where, target)


@pytest.mark.parametrize("kind", ["distributed", "reference", "citus_local"])
def test_refused_freeze(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path,
                        kind: str) -> None:
    """COPY ... (FORMAT zcimport, FREEZE) into a Citus table, even in the creating transaction."""
    target = make_table(coord, kind, name)
    assert_refused(coord, nodes, coord, lambda: load("copy_stream", coord, frame(), target, server_dir,
                                                     options=", FREEZE"), target)
    assert_refused(coord, nodes, coord,
                   lambda: zcimport.copy_dataframe(frame(), target, coord, freeze=True), target)


@pytest.mark.parametrize("kind", ["distributed", "partitioned"])
def test_refused_stream_without_distribution_column(coord: psycopg.Connection, nodes: Nodes,
                                                    name: str, server_dir: Path, kind: str) -> None:
    """A stream that lacks the distribution column cannot be routed: COPY t (a, s)."""
    target = make_table(coord, kind, name)
    df = frame()[["a", "s"]]
    assert_refused(coord, nodes, coord, lambda: load("copy_stream", coord, df, target, server_dir), target)
    assert_refused(coord, nodes, coord, lambda: zcimport.copy_dataframe(df, target, coord), target)


@pytest.mark.parametrize("method", ["append", "range"])
def test_refused_append_and_range(coord: psycopg.Connection, nodes: Nodes, name: str,
                                  server_dir: Path, method: str) -> None:
    """Append- and range-distributed tables (Citus 13 still creates them)."""
    coord.execute(sql.SQL(f"CREATE TABLE {{}} ({COLUMNS})").format(sql.Identifier(name)))
    try:
        coord.execute("SELECT create_distributed_table(%s, 'id', %s)", (name, method))
    except psycopg.Error as ex:
        pytest.skip(f"Citus no longer creates {method}-distributed tables: {ex}")
    for way in ("copy_dataframe", "copy_stream"):
        assert_refused(coord, nodes, coord, lambda: load(way, coord, frame(), name, server_dir), name)


# ---------------------------------------------------------------------------
# interruptions: a cancel, a worker that goes away
# ---------------------------------------------------------------------------


def test_cancel_mid_load(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                         name: str) -> None:
    """pg_cancel_backend() while batches stream in: 57014, nothing anywhere, no prepared xacts."""
    target = make_table(coord, "distributed", name, shard_count=16)
    started, stop = threading.Event(), threading.Event()
    loader = LoadThread(citus.dsn(), target, streamed_frames(started, stop, max_batches=400))
    loader.start()
    try:
        assert started.wait(60), "the load did not start"
        time.sleep(0.3)
        state = coord.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s",
                              (loader.pid,)).fetchone()
        assert state and state[0] == "active", f"the loading backend is not busy: {state}"
        assert coord.execute("SELECT pg_cancel_backend(%s::int)", (loader.pid,)).fetchone()[0]
        out = loader.finish()
    finally:
        stop.set()
    assert out.sqlstate == "57014", str(out)
    assert loader.conn.execute("SELECT 1").fetchone() == (1,)
    assert_nothing_left(coord, nodes, target)
    assert zcimport.copy_dataframe(frame(), target, loader.conn) == ROWS
    assert citus_count(coord, target) == ROWS
    loader.conn.close()


def test_cancel_from_the_client(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                                name: str) -> None:
    """psycopg's conn.cancel() from another thread, into a reference table (three placements)."""
    target = make_table(coord, "reference", name)
    started, stop = threading.Event(), threading.Event()
    loader = LoadThread(citus.dsn(), target, streamed_frames(started, stop, max_batches=400))
    loader.start()
    try:
        assert started.wait(60), "the load did not start"
        time.sleep(0.3)
        loader.conn.cancel()
        out = loader.finish()
    finally:
        stop.set()
    assert out.sqlstate == "57014", str(out)
    assert_nothing_left(coord, nodes, target)
    loader.conn.close()


def test_statement_timeout_mid_load(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                                    name: str) -> None:
    """statement_timeout expires while batches stream in: 57014, nothing anywhere."""
    target = make_table(coord, "distributed", name, shard_count=8)
    started, stop = threading.Event(), threading.Event()
    loader = LoadThread(citus.dsn() + " options='-c statement_timeout=1500'", target,
                        streamed_frames(started, stop, max_batches=2000))
    loader.start()
    try:
        out = loader.finish()
    finally:
        stop.set()
    loader.conn.close()
    assert started.is_set()
    assert out.sqlstate == "57014", str(out)
    assert_nothing_left(coord, nodes, target)


#: a client that streams a load until it is killed (argv: dsn, table, application_name)
DYING_CLIENT = r"""
import sys
import numpy as np, pyarrow as pa, psycopg, zcimport
dsn, table, tag = sys.argv[1:4]
schema = pa.schema([("id", pa.int64()), ("a", pa.float64())])
def batches():
    for k in range(100000):
        ids = np.arange(k * 50000, (k + 1) * 50000, dtype=np.int64)
        yield pa.record_batch([pa.array(ids), pa.array(ids / 4.0)], schema=schema)
        if k == 2:
            print("started", flush=True)
with psycopg.connect(dsn, autocommit=True, application_name=tag) as c:
    zcimport.copy_dataframe(pa.RecordBatchReader.from_batches(schema, batches()), table, c)
"""


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_client_dies_mid_load(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                              name: str, kind: str) -> None:
    """The client process is killed (SIGKILL) while it streams: once its backend is gone,
    nothing anywhere and no prepared transaction."""
    pytest.importorskip("pyarrow")
    target = make_table(coord, kind, name, shard_count=8)
    tag = f"zc-dying-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(CITUS_SH.parents[1] / "python"))
    proc = subprocess.Popen([sys.executable, "-c", DYING_CLIENT, citus.dsn(), target, tag],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "started", \
            f"the client did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(30)
    deadline = time.monotonic() + 30
    while coord.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (tag,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the dead client's backend is still there after 30 s"
        time.sleep(0.1)
    assert_nothing_left(coord, nodes, target)


def test_coordinator_holds_shards(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                                  name: str, server_dir: Path) -> None:
    """A hash-distributed table with shards on the coordinator too (shouldhaveshards, set
    only while the tables are created): each shard, the coordinator's included, holds the
    rows Citus's COPY puts in the twin's; in a transaction, the load's rows are seen."""
    coord.execute("SELECT citus_set_node_property('127.0.0.1', %s, 'shouldhaveshards', true)", (citus.port,))
    try:
        target, twin, pairs = make_pair(coord, "distributed", name, shard_count=12)
    finally:
        coord.execute("SELECT citus_set_node_property('127.0.0.1', %s, 'shouldhaveshards', false)",
                      (citus.port,))
    assert any(citus.port in s.ports for s in shards(coord, target)), "no shard on the coordinator"
    df = frame(5000, first=-2500)
    for way in ("copy_dataframe", "import_bytea"):
        zc = attempt(coord, lambda: load(way, coord, df, target, server_dir))
        skip_if_refused_clearly(way, zc, coord, nodes, target)
        oracle = attempt(coord, lambda: copy_rows(coord, twin, df))
        assert_loaded_like_twin(coord, nodes, target, twin, pairs, len(df), zc, oracle)
        coord.execute(sql.SQL("TRUNCATE {}, {}").format(sql.Identifier(target), sql.Identifier(twin)))
    with psycopg.connect(citus.dsn()) as c:
        assert zcimport.copy_dataframe(df, target, c) == len(df)
        assert citus_count(c, target) == len(df), "the transaction does not see all the rows it loaded"
        c.rollback()
    assert_nothing_left(coord, nodes, target)


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_worker_stopped_mid_load(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                                 name: str, kind: str) -> None:
    """Worker 2 stops (immediate) while batches stream in: a clean error, the connection
    usable, nothing on worker 1 or the coordinator; once worker 2 is back and
    recover_prepared_transactions() ran, nothing there either, no prepared xact anywhere,
    no placement marked inactive, and a new load succeeds."""
    target = make_table(coord, kind, name, shard_count=8)
    started, stop = threading.Event(), threading.Event()
    loader = LoadThread(citus.dsn(), target, streamed_frames(started, stop, max_batches=400))
    loader.start()
    try:
        assert started.wait(60), "the load did not start"
        time.sleep(0.2)
        stop_node(citus, "worker2")
        out = loader.finish()
    finally:
        stop.set()
        restarted = _script("start")
    assert restarted.returncode == 0, restarted.stderr
    assert not out.ok, f"the load succeeded ({out.rows} rows) although worker 2 stopped"
    assert out.sqlstate is not None and out.sqlstate[:2] in ("08", "57", "XX", "58"), str(out)
    assert loader.conn.execute("SELECT 1").fetchone() == (1,)
    loader.conn.close()
    # (a new session: this test's other sessions cache Citus connections to the old worker 2)
    with psycopg.connect(citus.dsn(), autocommit=True) as fresh:
        fresh.execute("SELECT recover_prepared_transactions()")
        assert_nothing_left(fresh, nodes, target)
        assert fresh.execute("SELECT count(*) FROM pg_dist_placement WHERE shardstate <> 1").fetchone()[0] == 0
        assert zcimport.copy_dataframe(frame(), target, fresh) == ROWS
        assert citus_count(fresh, target) == ROWS
        assert not misplaced_rows(fresh, nodes, target, "id")


# ---------------------------------------------------------------------------
# concurrency, shard moves and rebalances
# ---------------------------------------------------------------------------


def test_concurrent_loads(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes,
                          name: str) -> None:
    """Four sessions load disjoint frames into one table at once: every row, on its shard."""
    target, twin, pairs = make_pair(coord, "distributed", name, shard_count=16)
    frames = [frame(60_000, first=k, step=4) for k in range(4)]
    loaders = [LoadThread(citus.dsn(), target, f, batch_rows=5000) for f in frames]
    for t in loaders:
        t.start()
    outs = [t.finish() for t in loaders]
    for t in loaders:
        t.conn.close()
    assert all(o.ok and o.rows == 60_000 for o in outs), [str(o) for o in outs]
    everything = pd.concat(frames, ignore_index=True)
    oracle = attempt(coord, lambda: copy_rows(coord, twin, everything))
    assert oracle.ok, str(oracle)
    assert citus_count(coord, target) == len(everything)
    problems = compare_placements(coord, nodes, pairs)
    assert not problems, "\n".join(problems)


def move_shards(coord: psycopg.Connection, table: str, from_port: int, to_port: int,
                count: Optional[int] = None, mode: str = "block_writes") -> List[int]:
    """Move (up to count of) table's shards placed on from_port to to_port; their ids."""
    moved = []
    for s in shards(coord, table):
        if from_port in s.ports and (count is None or len(moved) < count):
            coord.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s,"
                          " shard_transfer_mode := %s)", (s.shardid, from_port, to_port, mode))
            moved.append(s.shardid)
    return moved


@pytest.mark.parametrize("session", ["same", "other"])
def test_rerun_after_moves(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes, name: str,
                           server_dir: Path, session: str) -> None:
    """Load, move shards (the twin's move with them), load again: every row on the placement
    pg_dist_placement names.  The loading session is the one that moved the shards, or
    another one that loaded before the move (and so cached the old placements)."""
    w1, w2 = nodes.workers
    target, twin, pairs = make_pair(coord, "distributed", name, shard_count=8)
    df1, df2 = frame(4000, first=0, step=3), frame(4000, first=1, step=3)
    with psycopg.connect(citus.dsn(), autocommit=True) as other:
        loader = coord if session == "same" else other
        assert load("copy_dataframe", loader, df1, target, server_dir) == 4000
        copy_rows(coord, twin, df1)
        before = {s.shardid: s.ports for s in shards(coord, target)}
        moved = move_shards(coord, target, w1, w2, count=3)
        assert len(moved) == 3
        after = {s.shardid: s.ports for s in shards(coord, target)}
        assert all(after[m] == (w2,) and before[m] == (w1,) for m in moved)
        for way, df in (("copy_dataframe", df2), ("copy_stream", frame(500, first=2, step=3))):
            zc = attempt(loader, lambda: load(way, loader, df, target, server_dir))
            assert zc.ok and zc.rows == len(df), str(zc)
            copy_rows(coord, twin, df)
    problems = compare_placements(coord, nodes, pairs) + misplaced_rows(coord, nodes, target, "id")
    assert not problems, "\n".join(problems)
    assert citus_count(coord, target) == 8500
    assert placement_total(coord, nodes, target) == 8500


def test_rerun_after_split(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes, name: str,
                           server_dir: Path) -> None:
    """A session loads, another splits a shard in two (the twin's with it, on both
    workers), the first loads again: the new hash ranges route the rows."""
    target, twin, pairs = make_pair(coord, "distributed", name, shard_count=4)
    node_ids = [r[0] for r in coord.execute(
        "SELECT nodeid FROM pg_dist_node WHERE nodeport = ANY(%s) ORDER BY nodeport",
        (nodes.workers,)).fetchall()]
    with psycopg.connect(citus.dsn(), autocommit=True) as loader:
        df1 = frame(3000, first=-1500)
        assert load("copy_dataframe", loader, df1, target, server_dir) == 3000
        copy_rows(coord, twin, df1)
        first = shards(coord, target)[0]
        mid = (first.minvalue + first.maxvalue) // 2
        coord.execute("SELECT citus_split_shard_by_split_points(%s, ARRAY[%s], %s::int[], 'block_writes')",
                      (first.shardid, str(mid), node_ids))
        assert len(shards(coord, target)) == 5
        df2 = frame(3000, first=5000)
        assert load("copy_dataframe", loader, df2, target, server_dir) == 3000
        copy_rows(coord, twin, df2)
    problems = compare_placements(coord, nodes, pairs) + misplaced_rows(coord, nodes, target, "id")
    assert not problems, "\n".join(problems)
    assert citus_count(coord, target) == 6000


def test_rerun_after_rebalance(coord: psycopg.Connection, nodes: Nodes, name: str, server_dir: Path) -> None:
    """All shards drained onto worker 2, a load, rebalance_table_shards(), a load: each on
    the placements the metadata names at the time."""
    w1, w2 = nodes.workers
    target, twin, pairs = make_pair(coord, "distributed", name, shard_count=6)
    move_shards(coord, target, w1, w2)
    assert all(s.ports == (w2,) for s in shards(coord, target))
    df1 = frame(3000, first=0, step=2)
    way = "import_bytea" if _import_works(coord, target) else "copy_dataframe"
    assert load(way, coord, df1, target, server_dir) == 3000
    copy_rows(coord, twin, df1)
    coord.execute("SELECT rebalance_table_shards(%s, shard_transfer_mode := 'block_writes')", (target,))
    spread = {s.ports for s in shards(coord, target)}
    assert spread == {(w1,), (w2,)}, f"the rebalancer left {spread}"
    df2 = frame(3000, first=1, step=2)
    assert load("copy_dataframe", coord, df2, target, server_dir) == 3000
    copy_rows(coord, twin, df2)
    problems = compare_placements(coord, nodes, pairs) + misplaced_rows(coord, nodes, target, "id")
    assert not problems, "\n".join(problems)
    assert citus_count(coord, target) == 6000


def _import_works(coord: psycopg.Connection, target: str) -> bool:
    """Does import_bytea load Citus tables (rather than refuse them)? Probed with 0 rows."""
    out = attempt(coord, lambda: coord.execute("SELECT zcimport.import_bytea(%s::regclass, %s)",
                                               (target, randcitus.stream_bytes(frame(0)))).fetchone()[0])
    return out.ok


@pytest.mark.parametrize("order", ["load_first", "move_first"])
@pytest.mark.parametrize("mode", ["block_writes", "force_logical"])
def test_move_during_load(citus: CitusCluster, coord: psycopg.Connection, nodes: Nodes, name: str,
                          order: str, mode: str) -> None:
    """A shard move concurrent with a long load (started just before it, or just after):
    afterwards every row is where queries find it, exactly once."""
    w1, w2 = nodes.workers
    target = make_table(coord, "distributed", name, shard_count=4)
    coord.execute(sql.SQL("INSERT INTO {} (id, a) SELECT -g, g FROM generate_series(1, 200000) g")
                  .format(sql.Identifier(target)))
    on_w1 = [s.shardid for s in shards(coord, target) if s.ports == (w1,)]
    assert on_w1
    started, stop = threading.Event(), threading.Event()
    sent = [0]
    errors: List[BaseException] = []

    def mover() -> None:
        try:
            with psycopg.connect(citus.dsn(), autocommit=True) as c:
                c.execute("SET statement_timeout = '120s'")
                c.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s,"
                          " shard_transfer_mode := %s)", (on_w1[0], w1, w2, mode))
        except BaseException as ex:
            errors.append(ex)

    move = threading.Thread(target=mover, daemon=True)
    loader = LoadThread(citus.dsn(), target, streamed_frames(started, stop, batch=20_000, max_batches=60,
                                                             sent=sent), batch_rows=20_000)
    if order == "move_first":
        move.start()
        time.sleep(0.05)
        loader.start()
    else:
        loader.start()
        assert started.wait(60)
        move.start()
    out = loader.finish()
    move.join(150)
    loader.conn.close()
    assert not move.is_alive(), "the move did not finish"
    assert not errors, f"the move failed: {errors}"
    assert out.ok and out.rows == sent[0], f"{out}; rows sent {sent[0]}"
    total = 200_000 + sent[0]
    assert [s.ports for s in shards(coord, target) if s.shardid == on_w1[0]] == [(w2,)]
    got = coord.execute(sql.SQL("SELECT count(*), count(DISTINCT id), sum(id) FROM {}").format(
        sql.Identifier(target))).fetchone()
    assert got == (total, total, sum(range(sent[0])) - sum(range(1, 200_001))), got
    assert placement_total(coord, nodes, target) == total
    assert not misplaced_rows(coord, nodes, target, "id")


# ---------------------------------------------------------------------------
# transaction blocks
# ---------------------------------------------------------------------------


@pytest.fixture
def txconn(citus: CitusCluster, name: str) -> Iterator[psycopg.Connection]:
    """A coordinator connection in transaction mode (no autocommit), rolled back afterwards
    (before ``name``'s tables are dropped)."""
    with psycopg.connect(citus.dsn()) as c:
        c.execute("SET statement_timeout = '60s'")
        c.commit()
        yield c
        if not c.closed:
            c.rollback()


@pytest.mark.parametrize("kind", ["distributed", "reference", "citus_local"])
def test_rollback_leaves_nothing(coord: psycopg.Connection, txconn: psycopg.Connection, nodes: Nodes,
                                 name: str, kind: str) -> None:
    """BEGIN; load; (the load's rows visible in the transaction); ROLLBACK: nothing anywhere."""
    target = make_table(coord, kind, name)
    assert zcimport.copy_dataframe(frame(), target, txconn) == ROWS
    assert citus_count(txconn, target) == ROWS  # read back in the loading transaction
    txconn.rollback()
    assert_nothing_left(coord, nodes, target)


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_two_loads_commit(coord: psycopg.Connection, txconn: psycopg.Connection, nodes: Nodes,
                          name: str, server_dir: Path, kind: str) -> None:
    """BEGIN; load; load (another way); COMMIT: both, each on its shard."""
    target, twin, pairs = make_pair(coord, kind, name, shard_count=8)
    df1, df2 = frame(2000, first=0, step=2), frame(2000, first=1, step=2)
    assert zcimport.copy_dataframe(df1, target, txconn) == 2000
    assert load("copy_stream", txconn, df2, target, server_dir) == 2000
    assert citus_count(txconn, target) == 4000
    txconn.commit()
    copy_rows(coord, twin, pd.concat([df1, df2]))
    assert citus_count(coord, target) == 4000
    problems = compare_placements(coord, nodes, pairs)
    assert not problems, "\n".join(problems)
    assert not wait_no_prepared_xacts(nodes)


@pytest.mark.parametrize("kind", ["distributed", "reference", "citus_local"])
def test_load_then_update_in_one_transaction(coord: psycopg.Connection, txconn: psycopg.Connection,
                                             nodes: Nodes, name: str, kind: str) -> None:
    """BEGIN; load; UPDATE every row; COMMIT: every placement holds the updated rows (an
    UPDATE that misses the loaded rows on one placement would leave a reference table's
    placements different)."""
    target = make_table(coord, kind, name, shard_count=4)
    assert zcimport.copy_dataframe(frame(), target, txconn) == ROWS
    updated = txconn.execute(sql.SQL("UPDATE {} SET a = -1").format(sql.Identifier(target))).rowcount
    txconn.commit()
    per_placement = {(s.shardid, port): nodes.query(port, sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE a = -1) FROM {}").format(
            sql.Identifier(s.relation(target))))[0] for s in shards(coord, target) for port in s.ports}
    if kind == "distributed":
        assert sum(v[0] for v in per_placement.values()) == ROWS
        assert all(v[0] == v[1] for v in per_placement.values()), per_placement
    else:
        assert all(v == (ROWS, ROWS) for v in per_placement.values()), \
            f"UPDATE answered {updated}; (rows, updated rows) per (shard, node port): {per_placement}"
    assert updated == ROWS


def test_load_then_failing_statement(coord: psycopg.Connection, txconn: psycopg.Connection,
                                     nodes: Nodes, name: str) -> None:
    """BEGIN; load; a statement that fails; ROLLBACK: nothing anywhere."""
    target = make_table(coord, "distributed", name, shard_count=8)
    assert zcimport.copy_dataframe(frame(), target, txconn) == ROWS
    with pytest.raises(psycopg.errors.DivisionByZero):
        txconn.execute("SELECT 1 / 0")
    txconn.rollback()
    assert_nothing_left(coord, nodes, target)


def test_commit_fails_after_load(coord: psycopg.Connection, txconn: psycopg.Connection,
                                 nodes: Nodes, name: str) -> None:
    """A deferred unique constraint broken by the load fails at COMMIT: nothing anywhere."""
    cols = "id bigint, a double precision, s text, UNIQUE (id) DEFERRABLE INITIALLY DEFERRED"
    target = make_table(coord, "distributed", name, cols, shard_count=4)
    df = frame(500)
    df.loc[400, "id"] = 3
    assert zcimport.copy_dataframe(df, target, txconn) == 500
    with pytest.raises(psycopg.errors.Error) as ei:
        txconn.commit()
    assert ei.value.sqlstate in ("23505", "XX000"), str(ei.value)
    assert_nothing_left(coord, nodes, target)


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_load_after_insert_in_one_transaction(coord: psycopg.Connection, txconn: psycopg.Connection,
                                              nodes: Nodes, name: str, kind: str) -> None:
    """BEGIN; INSERT rows (Citus opens its connections to their placements); a load; a
    load that duplicates an inserted row fails with a duplicate key (over the same
    connections: no self-deadlock, no hang); ROLLBACK leaves nothing.  Then INSERT, load,
    COMMIT keeps both.

    (A reference table has a placement on the coordinator, which Citus writes by local
    execution; docs/citus.md says a load after that is refused with 0A000, and works
    with citus.enable_local_execution off.)"""
    cols = "id bigint PRIMARY KEY, a double precision, s text"
    target = make_table(coord, kind, name, cols, shard_count=4)
    if kind == "reference":
        txconn.execute(sql.SQL("INSERT INTO {} VALUES (5, 0, 'x')").format(sql.Identifier(target)))
        out = attempt(txconn, lambda: zcimport.copy_dataframe(frame(100, first=1000), target, txconn))
        assert out.sqlstate == "0A000", f"a load after a local write: {out}"
        txconn.rollback()
        assert_nothing_left(coord, nodes, target)
        txconn.execute("SET LOCAL citus.enable_local_execution TO off")
    txconn.execute(sql.SQL("INSERT INTO {} VALUES (5, 0, 'x'), (6, 0, 'y')").format(sql.Identifier(target)))
    assert zcimport.copy_dataframe(frame(100, first=1000), target, txconn) == 100
    assert citus_count(txconn, target) == 102
    with pytest.raises(psycopg.Error) as ei:
        zcimport.copy_dataframe(frame(100), target, txconn)  # holds id 5 and 6
    assert ei.value.sqlstate in ("23505", "XX000"), str(ei.value)
    assert "duplicate key" in str(ei.value)
    txconn.rollback()
    assert_nothing_left(coord, nodes, target)
    # and committed: the inserted rows and the load
    if kind == "reference":
        txconn.execute("SET LOCAL citus.enable_local_execution TO off")
    txconn.execute(sql.SQL("INSERT INTO {} VALUES (5, 0, 'x')").format(sql.Identifier(target)))
    assert zcimport.copy_dataframe(frame(100, first=1000), target, txconn) == 100
    txconn.commit()
    assert citus_count(coord, target) == 101
    assert not misplaced_rows(coord, nodes, target, "id")


def test_savepoints_as_citus_copy(coord: psycopg.Connection, citus: CitusCluster, nodes: Nodes,
                                  name: str) -> None:
    """BEGIN; load A; SAVEPOINT; load B; ROLLBACK TO; load C; failing load in a savepoint;
    ROLLBACK TO; COMMIT: each step as Citus's COPY does it on the twin (the same outcome,
    success or SQLSTATE), and the same rows on the same shards at the end."""
    cols = "id bigint, a double precision CHECK (a <> -1), s text"
    target, twin, pairs = make_pair(coord, "distributed", name, cols, shard_count=8)
    bad = frame(300, first=5000)
    bad.loc[250, "a"] = -1.0
    steps: List[Tuple[str, Optional[pd.DataFrame]]] = [
        ("load", frame(1000)), ("SAVEPOINT s1", None), ("load", frame(500, first=2000)),
        ("ROLLBACK TO SAVEPOINT s1", None), ("load", frame(700, first=3000)),
        ("SAVEPOINT s2", None), ("load", bad), ("ROLLBACK TO SAVEPOINT s2", None),
        ("load", frame(10, first=9000)), ("COMMIT", None)]
    outcomes: Dict[str, List[str]] = {}
    for table, loader in ((target, "zcimport"), (twin, "citus")):
        with psycopg.connect(citus.dsn()) as c:
            seq = []
            for step, df in steps:
                if step == "load":
                    assert df is not None
                    out = attempt(c, (lambda: zcimport.copy_dataframe(df, table, c)) if loader == "zcimport"
                                  else (lambda: copy_rows(c, table, df)))
                    seq.append(f"load {len(df)}: " + ("ok" if out.ok else
                                                       canonical_state(out.sqlstate, out.message)))
                else:
                    out = attempt(c, lambda: c.execute(step) and None)
                    seq.append(f"{step}: {'ok' if out.ok else out.sqlstate}")
            outcomes[loader] = seq
            c.rollback()
    assert outcomes["zcimport"] == outcomes["citus"], \
        f"zcimport: {outcomes['zcimport']}\nCitus's COPY: {outcomes['citus']}"
    assert coordinator_rows(coord, target) == coordinator_rows(coord, twin)
    problems = compare_placements(coord, nodes, pairs)
    assert not problems, "\n".join(problems)
    assert not wait_no_prepared_xacts(nodes)


# ---------------------------------------------------------------------------
# local tables, the shell probe
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_local_table_on_the_coordinator_loads(coord: psycopg.Connection, name: str,
                                              server_dir: Path, way: str) -> None:
    """A plain table on a Citus coordinator is no Citus table: it loads as anywhere."""
    target = make_table(coord, "local", name)
    assert not in_pg_dist_partition(coord, target)
    df = frame()
    assert load(way, coord, df, target, server_dir) == ROWS
    got = coord.execute(sql.SQL(
        "SELECT count(*), count(s), sum(id), sum(a) FROM {}").format(sql.Identifier(target))).fetchone()
    assert got == (ROWS, int(df["s"].notna().sum()), int(df["id"].sum()), float(df["a"].sum()))
    assert shell_rows(coord, target) == ROWS


def test_shell_probe_sees_rows_in_the_shell(coord: psycopg.Connection, name: str) -> None:
    """shell_rows() is no vacuous 0: create_distributed_table leaves a table's old rows
    in the shell (until truncate_local_data_after_distributing_table)."""
    coord.execute(sql.SQL(f"CREATE TABLE {{}} ({COLUMNS})").format(sql.Identifier(name)))
    coord.execute(sql.SQL("INSERT INTO {} SELECT g, g, 'x' FROM generate_series(1, 5) g")
                  .format(sql.Identifier(name)))
    coord.execute("SELECT pg_catalog.create_distributed_table(%s, 'id')", (name,))
    assert citus_count(coord, name) == 5
    assert shell_rows(coord, name) == 5
    coord.execute("SELECT pg_catalog.truncate_local_data_after_distributing_table(%s)", (name,))
    assert shell_rows(coord, name) == 0
    assert citus_count(coord, name) == 5


def test_placement_probe_sees_misplaced_rows(coord: psycopg.Connection, nodes: Nodes, name: str) -> None:
    """The physical checks are no vacuous pass: a row written straight into the wrong
    shard placement is seen by compare_placements() and misplaced_rows(), and rows
    written into a placement by rows_anywhere()."""
    target, twin, pairs = make_pair(coord, "distributed", name, shard_count=4)
    copy_rows(coord, target, frame(100))
    copy_rows(coord, twin, frame(100))
    assert not compare_placements(coord, nodes, pairs)
    assert not misplaced_rows(coord, nodes, target, "id")
    ss = shards(coord, target)
    wrong = next(s for s in ss if coord.execute(
        "SELECT pg_catalog.get_shard_id_for_distribution_column(%s, 1::bigint)", (target,)).fetchone()[0]
        != s.shardid)
    nodes.query(wrong.ports[0], sql.SQL("INSERT INTO {} VALUES (1, 0, 'stray') RETURNING 1").format(
        sql.Identifier(wrong.relation(target))))
    assert compare_placements(coord, nodes, pairs)
    assert misplaced_rows(coord, nodes, target, "id")
    coord.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(target)))
    nodes.query(ss[0].ports[0], sql.SQL("INSERT INTO {} VALUES (-1, 0, 'x') RETURNING 1").format(
        sql.Identifier(ss[0].relation(target))))
    assert rows_anywhere(coord, nodes, target)


# ---------------------------------------------------------------------------
# the seeded random scenarios (randcitus.py)
# ---------------------------------------------------------------------------


def test_the_generator_is_deterministic() -> None:
    """A scenario is a function of (seed, index): the same shape and frame twice."""
    a = randcitus.make_scenario(RANDOM_SEED, 3)
    b = randcitus.make_scenario(RANDOM_SEED, 3)
    assert a.describe() == b.describe()
    assert a.ddl("t") == b.ddl("t")
    pd.testing.assert_frame_equal(a.frame(), b.frame())


@pytest.mark.parametrize("index", range(RANDOM_SCENARIOS))
def test_random_scenario(coord: psycopg.Connection, nodes: Nodes, server_dir: Path, index: int) -> None:
    """Scenario index of RANDOM_SEED: zcimport into the target, Citus's COPY into the
    co-located twin; the same outcome, rows, shards (see randcitus.py)."""
    sc = randcitus.make_scenario(RANDOM_SEED, index)
    res = randcitus.run_scenario(coord, nodes, sc, server_dir)
    assert res.ok, res.report()
