"""zcimport on a Citus cluster: every Citus table is refused (issue 8, item 3).

zcimport's ProcessUtility hook always wraps Citus's (Citus must come first in
shared_preload_libraries), so Citus never sees a ``FORMAT zcimport`` COPY:
the executor path would write the rows into the coordinator's shell table,
which no Citus query reads.  Until loads into Citus tables are supported,
every table listed in ``pg_catalog.pg_dist_partition`` must be refused with
SQLSTATE 0A000 (feature_not_supported) and a hint, by the target check that
COPY and the ``import_*`` functions share, leaving no row anywhere.

How the cluster is found: the session fixture ``citus`` runs
``test/citus.sh start`` (a coordinator and two workers on loopback, ports
ZC_CITUS_PORT, default 54460, and the next two) and ``test/citus.sh env``.
When Citus is not installed in this PostgreSQL, the script exits with status
3 and every test here is skipped with its message (``pytest -rs`` shows it);
any other failure of the script is an error.  At the end of the session the
fixture runs ``test/citus.sh stop`` if it was the one that started the
cluster; a cluster that was already up is reused and left running.  Nothing
else is needed: no DSN variable, no other fixture of conftest.py.

How the shell table is read: Citus plans every query that names a Citus
table (``SELECT ... FROM ONLY t`` too) as a distributed query over the
shards, so no SELECT shows the coordinator's shell table's own heap.
``pgstattuple`` reads the heap directly; ``shell_rows`` sums its live tuples
over the table, or its partitions.  ``test_shell_probe_sees_rows_in_the_shell``
shows that this probe sees rows that Citus leaves in a shell.

Run from the repository root:
  PYTHONPATH=python /usr/bin/python3 -m pytest test/python/test_citus.py -rs -q
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

import zcimport

#: a server suite: make test runs it in the first Python environment only
pytestmark = pytest.mark.server_side

CITUS_SH = Path(__file__).resolve().parents[2] / "test" / "citus.sh"
NOT_INSTALLED = 3  # test/citus.sh start's status when Citus is not installed
ROWS = 1000


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


def _cluster_env() -> Dict[str, str]:
    """The variables that ``test/citus.sh env`` exports."""
    out = _script("env")
    assert out.returncode == 0, out.stderr
    env: Dict[str, str] = {}
    for word in out.stdout.split():
        name, eq, value = word.partition("=")
        if eq:
            env[name] = value
    return env


def _is_up(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def citus() -> Iterator[CitusCluster]:
    """The Citus cluster of test/citus.sh, started for this session if need be."""
    env = _cluster_env()
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
def name(coord: psycopg.Connection) -> Iterator[str]:
    """A unique table name, dropped afterwards (with its partitions)."""
    value = f"citus_{uuid.uuid4().hex[:10]}"
    yield value
    coord.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(value)))


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


def make_table(conn: psycopg.Connection, kind: str, name: str) -> str:
    """Create table ``name`` of the given kind; return the table to load into."""
    t = sql.Identifier(name)
    lit = sql.Literal(name)
    if kind in ("partitioned", "partition"):
        conn.execute(sql.SQL(f"CREATE TABLE {{}} ({COLUMNS}) PARTITION BY RANGE (id)").format(t))
        for suffix, bounds in (("lo", "(MINVALUE) TO (1000000)"), ("hi", "(1000000) TO (MAXVALUE)")):
            conn.execute(sql.SQL(f"CREATE TABLE {{}} PARTITION OF {{}} FOR VALUES FROM {bounds}")
                         .format(sql.Identifier(f"{name}_{suffix}"), t))
    else:
        conn.execute(sql.SQL(f"CREATE TABLE {{}} ({COLUMNS})").format(t))
    make = {
        "local": None,
        "distributed": "SELECT pg_catalog.create_distributed_table({}, 'id')",
        "single_shard": "SELECT pg_catalog.create_distributed_table({}, NULL)",
        "reference": "SELECT pg_catalog.create_reference_table({})",
        "citus_local": "SELECT pg_catalog.citus_add_local_table_to_metadata({})",
        "partitioned": "SELECT pg_catalog.create_distributed_table({}, 'id')",
        "partition": "SELECT pg_catalog.create_distributed_table({}, 'id')",
    }[kind]
    if make is not None:
        conn.execute(sql.SQL(make).format(lit))
    return f"{name}_lo" if kind == "partition" else name


def frame(n: int = ROWS) -> pd.DataFrame:
    ids = np.arange(n, dtype=np.int64)
    return pd.DataFrame({
        "id": ids,
        "a": ids / 4.0,
        "s": [None if k % 7 == 3 else f"row {k}" for k in range(n)],
    })


def stream_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    zcimport.dump(df, buf)
    return buf.getvalue()


Load = Callable[[psycopg.Connection, pd.DataFrame, str, Path], Any]


def via_copy_dataframe(conn: psycopg.Connection, df: pd.DataFrame, target: str, _: Path) -> Any:
    return zcimport.copy_dataframe(df, target, conn)


def via_copy_stream(conn: psycopg.Connection, df: pd.DataFrame, target: str, _: Path) -> Any:
    """COPY ... FROM STDIN WITH (FORMAT zcimport) fed with dump()'s bytes, as psql would."""
    conn.execute("SELECT zcimport.version()")  # loads the library, so its hook
    stmt = sql.SQL("COPY {} (id, a, s) FROM STDIN WITH (FORMAT zcimport)").format(
        sql.Identifier(target))
    with conn.cursor() as cur:
        with cur.copy(stmt) as copy:
            copy.write(stream_bytes(df))
        return cur.rowcount


def via_import_bytea(conn: psycopg.Connection, df: pd.DataFrame, target: str, _: Path) -> Any:
    return conn.execute("SELECT zcimport.import_bytea(%s::regclass, %s)",
                        (target, stream_bytes(df))).fetchone()[0]


def via_import_file(conn: psycopg.Connection, df: pd.DataFrame, target: str, where: Path) -> Any:
    path = where / f"{target}-{uuid.uuid4().hex[:8]}.zci"
    zcimport.dump(df, path)
    os.chmod(path, 0o644)
    return conn.execute("SELECT zcimport.import_file(%s::regclass, %s)",
                        (target, str(path))).fetchone()[0]


PATHS: Dict[str, Load] = {
    "copy_dataframe": via_copy_dataframe,
    "copy_stream": via_copy_stream,
    "import_bytea": via_import_bytea,
    "import_file": via_import_file,
}


def citus_count(conn: psycopg.Connection, table: str) -> int:
    """count(*) as Citus answers it (over the shards, for a Citus table)."""
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def shell_rows(conn: psycopg.Connection, table: str) -> int:
    """Live rows in the heap of this node's own relation(s) of table, not its shards."""
    # (pg_partition_tree() returns no row for a table that is not partitioned)
    return conn.execute(
        "SELECT coalesce(sum((pgstattuple(c.oid)).tuple_count), 0)::bigint"
        " FROM pg_catalog.pg_class c WHERE c.relkind = 'r' AND (c.oid = %(t)s::regclass"
        " OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree(%(t)s::regclass)))",
        {"t": table}).fetchone()[0]


def in_pg_dist_partition(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition"
                        " WHERE logicalrelid = %s::regclass)", (table,)).fetchone()[0]


def assert_refused(conn: psycopg.Connection, load: Callable[[], Any], target: str) -> None:
    """load() fails with 0A000 and a hint, leaving 0 rows and a usable connection."""
    try:
        loaded = load()
    except psycopg.Error as ex:
        err = ex
    else:
        pytest.fail(
            f"the load into Citus table {target} answered {loaded!r} instead of SQLSTATE 0A000;"
            f" Citus now counts {citus_count(conn, target)} rows and the shell holds"
            f" {shell_rows(conn, target)}")
    assert err.sqlstate == "0A000", f"{type(err).__name__} {err.sqlstate}: {err}"
    assert err.diag.message_hint, f"no hint: {err}"
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable
    assert citus_count(conn, target) == 0
    assert shell_rows(conn, target) == 0


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------

CITUS_KINDS = ["distributed", "reference", "citus_local", "single_shard", "partitioned", "partition"]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("kind", CITUS_KINDS)
def test_citus_table_is_refused(coord: psycopg.Connection, name: str, server_dir: Path,
                                kind: str, path: str) -> None:
    """Every table in pg_dist_partition is refused, whichever way the load comes."""
    target = make_table(coord, kind, name)
    assert in_pg_dist_partition(coord, target)
    assert_refused(coord, lambda: PATHS[path](coord, frame(), target, server_dir), target)


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_citus_table_is_refused_on_a_worker(coord: psycopg.Connection, worker: psycopg.Connection,
                                            name: str, kind: str) -> None:
    """A worker has the metadata (and shell tables) too: a load there is refused alike."""
    target = make_table(coord, kind, name)
    assert in_pg_dist_partition(worker, target)
    assert_refused(worker, lambda: zcimport.copy_dataframe(frame(), target, worker), target)
    assert citus_count(coord, target) == 0


def test_refusal_inside_a_transaction(coord: psycopg.Connection, citus: CitusCluster,
                                      name: str) -> None:
    """In a transaction block the refusal aborts it; after a rollback all is as before."""
    target = make_table(coord, "distributed", name)
    with psycopg.connect(citus.dsn()) as c:
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            zcimport.copy_dataframe(frame(), target, c)
        c.rollback()
        assert c.execute("SELECT 1").fetchone() == (1,)
    assert citus_count(coord, target) == 0
    assert shell_rows(coord, target) == 0


@pytest.mark.parametrize("path", list(PATHS))
def test_local_table_on_the_coordinator_loads(coord: psycopg.Connection, name: str,
                                              server_dir: Path, path: str) -> None:
    """A plain table on a Citus coordinator is no Citus table: it loads as anywhere."""
    target = make_table(coord, "local", name)
    assert not in_pg_dist_partition(coord, target)
    df = frame()
    assert PATHS[path](coord, df, target, server_dir) == ROWS
    got = coord.execute(sql.SQL(
        "SELECT count(*), count(s), sum(id), sum(a) FROM {}").format(sql.Identifier(target))).fetchone()
    assert got == (ROWS, int(df["s"].notna().sum()), int(df["id"].sum()), float(df["a"].sum()))
    assert shell_rows(coord, target) == ROWS


def test_local_table_loads_after_a_refusal(coord: psycopg.Connection, name: str) -> None:
    """A refusal leaves the connection (and its loaded library) fit for the next load."""
    target = make_table(coord, "reference", name)
    assert_refused(coord, lambda: zcimport.copy_dataframe(frame(), target, coord), target)
    local = make_table(coord, "local", f"{name}_local")
    try:
        assert zcimport.copy_dataframe(frame(), local, coord) == ROWS
        assert citus_count(coord, local) == ROWS
    finally:
        coord.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(local)))


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
