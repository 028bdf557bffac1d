"""Seeded random loads into Citus tables, judged by Citus's own COPY.

Every scenario is a pure function of a seed and an index: a random table
shape (the distribution column's type among those Citus hashes, one to six
other columns of random types with random NULLs, NOT NULL, CHECK, UNIQUE,
DEFAULT and dropped columns now and then), a random kind (hash-distributed
with 1 to 40 shards, single-shard distributed, reference, Citus-local), a
random frame (0 to 8,000 rows, distribution values drawn from small or
large pools so that shards get skewed), a way in (``copy_dataframe``, a raw
``COPY ... (FORMAT zcimport)`` of ``dump()``'s bytes, ``import_bytea``,
``import_file``), a batch size, and zero or one injected fault (a value out
of range for its column type, a string too long, text the type's input
function rejects, NULL into NOT NULL, a CHECK that fails on one row, a
duplicate key, NULL in the distribution column).

The table is created twice with the same DDL: the *target* and its *twin*,
co-located with it (``colocate_with``), so that shard i of one and shard i
of the other cover the same hash range on the same nodes.  The frame goes
into the target with zcimport and into the twin with Citus's own COPY
(psycopg's ``write_row`` through the coordinator, as test/python/oracle.py
does).  Then:

- both loads succeed, with the same count (the frame's rows), the same rows
  read back through the coordinator, and, on every node, the same multiset
  of rows in shard placement i of the target as in shard placement i of the
  twin (the rows sit on the right shards); the coordinator's shell table
  holds none; a NOTICE names the target;
- or both fail, with the same SQLSTATE (Citus's COPY reports a worker's
  constraint violation as XX000 with the worker's message: that message is
  mapped back to its SQLSTATE, and either is accepted), nothing is left on
  any placement of any node, no prepared transaction is left on any node,
  the connection is usable, and the frame without its faulty row then loads
  (judged as above).

A scenario where both loads fail without a fault, or where a fault fails
neither, is a *generator* problem, apart from a *discrepancy*.

The pytest module test/python/test_citus.py runs a fixed-seed slice; the
long mode runs any seed and count against the cluster of test/citus.sh::

    PYTHONPATH=python .venv/latest/bin/python test/python/randcitus.py --seed 5 --count 300

(``--index N`` replays one scenario, ``-v`` prints each one.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import io
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1] / "python"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import zcimport  # noqa: E402
from oracle import copy_rows  # noqa: E402

CITUS_SH = _HERE.parents[1] / "test" / "citus.sh"


# ---------------------------------------------------------------------------
# the nodes
# ---------------------------------------------------------------------------


class Nodes:
    """Autocommit connections to every node of the cluster, by port.

    A connection that broke (a node that was stopped and started again) is
    replaced on the next use.
    """

    def __init__(self, dsn_of: Callable[[int], str], coordinator: int, workers: Sequence[int]) -> None:
        self.dsn_of = dsn_of
        self.coordinator = coordinator
        self.workers = list(workers)
        self._conns: Dict[int, psycopg.Connection] = {}

    @property
    def ports(self) -> List[int]:
        """Every node's port, the coordinator first."""
        return [self.coordinator, *self.workers]

    def conn(self, port: int) -> psycopg.Connection:
        """The cached connection to the node on port (a new one if it broke)."""
        c = self._conns.get(port)
        if c is None or c.closed or c.broken:
            c = psycopg.connect(self.dsn_of(port), autocommit=True, connect_timeout=10)
            self._conns[port] = c
        return c

    def query(self, port: int, query: Any, params: Any = None) -> List[Tuple[Any, ...]]:
        """Run query on the node on port, reconnecting once if the cached connection broke."""
        try:
            return self.conn(port).execute(query, params).fetchall()
        except psycopg.OperationalError:
            self._conns.pop(port, None)
            return self.conn(port).execute(query, params).fetchall()

    def close(self) -> None:
        """Close every connection."""
        for c in self._conns.values():
            c.close()
        self._conns.clear()


def cluster_env() -> Dict[str, str]:
    """The variables that ``test/citus.sh env`` exports."""
    out = subprocess.run([str(CITUS_SH), "env"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    env: Dict[str, str] = {}
    for word in out.stdout.split():
        name, eq, value = word.partition("=")
        if eq:
            env[name] = value
    return env


# ---------------------------------------------------------------------------
# where the rows are
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """One shard of a Citus table, and the ports of the nodes of its placements."""

    shardid: int
    minvalue: Optional[int]
    maxvalue: Optional[int]
    ports: Tuple[int, ...]

    def relation(self, table: str) -> str:
        """The name of this shard's table on the nodes: <table>_<shardid>."""
        return f"{table}_{self.shardid}"


def shards(coord: psycopg.Connection, table: str) -> List[Shard]:
    """table's shards in hash order (pg_dist_shard by shardminvalue), with their active placements."""
    rows = coord.execute(
        "SELECT s.shardid, s.shardminvalue::int, s.shardmaxvalue::int,"
        "       array_agg(n.nodeport ORDER BY n.nodeport)"
        " FROM pg_catalog.pg_dist_shard s"
        " JOIN pg_catalog.pg_dist_placement p USING (shardid)"
        " JOIN pg_catalog.pg_dist_node n USING (groupid)"
        " WHERE s.logicalrelid = %s::regclass AND p.shardstate = 1"
        " GROUP BY 1, 2, 3 ORDER BY s.shardminvalue::int NULLS FIRST, s.shardid",
        (table,)).fetchall()
    return [Shard(r[0], r[1], r[2], tuple(r[3])) for r in rows]


def citus_relations(coord: psycopg.Connection, table: str) -> List[str]:
    """table and its partitions (at any level) that Citus knows, parent first."""
    rows = coord.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " WHERE (c.oid = %(t)s::regclass"
        "        OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree(%(t)s::regclass)))"
        "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid = c.oid)"
        " ORDER BY c.oid <> %(t)s::regclass, c.relname", {"t": table}).fetchall()
    return [r[0] for r in rows]


def placement_rows(nodes: Nodes, port: int, relation: str) -> "Counter[str]":
    """The rows (as row text) of one shard table on one node."""
    rows = nodes.query(port, sql.SQL("SELECT (x.*)::text FROM {} x").format(sql.Identifier(relation)))
    return Counter(r[0] for r in rows)


def placement_count(nodes: Nodes, port: int, relation: str) -> int:
    """count(*) of one shard table on one node."""
    return nodes.query(port, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(relation)))[0][0]


def shell_rows(conn: psycopg.Connection, table: str) -> int:
    """Live rows in the heap of this node's own relation(s) of table, not its shards.

    Citus plans every query that names a Citus table as a distributed query
    over its shards, so no SELECT shows the shell's own heap: pgstattuple
    reads it directly.  (pg_partition_tree() returns no row for a table that
    is not partitioned.)
    """
    return conn.execute(
        "SELECT coalesce(sum((pgstattuple(c.oid)).tuple_count), 0)::bigint"
        " FROM pg_catalog.pg_class c WHERE c.relkind = 'r' AND (c.oid = %(t)s::regclass"
        " OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree(%(t)s::regclass)))",
        {"t": table}).fetchone()[0]


def coordinator_rows(coord: psycopg.Connection, table: str) -> "Counter[str]":
    """The rows of table as Citus answers a query through the coordinator."""
    rows = coord.execute(sql.SQL("SELECT (x.*)::text FROM {} x").format(sql.Identifier(table))).fetchall()
    return Counter(r[0] for r in rows)


def _diff(a: "Counter[str]", b: "Counter[str]", limit: int = 3) -> str:
    only_a = list((a - b).elements())
    only_b = list((b - a).elements())
    return (f"{len(only_a)} rows only in the first ({[s[:80] for s in only_a[:limit]]}),"
            f" {len(only_b)} only in the second ({[s[:80] for s in only_b[:limit]]})")


def compare_placements(coord: psycopg.Connection, nodes: Nodes,
                       pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """Problems: shard i of each target differs from shard i of its co-located twin.

    For each (target, twin): the same number of shards, the same hash range
    and the same placement nodes for shard i of both, and on each of those
    nodes the same multiset of rows in the target's shard table as in the
    twin's.  Reference tables have one shard with a placement on every node:
    each must hold all rows.
    """
    problems: List[str] = []
    for target, twin in pairs:
        a, b = shards(coord, target), shards(coord, twin)
        if len(a) != len(b) or not a:
            problems.append(f"{target} has {len(a)} shards, its twin {twin} {len(b)}")
            continue
        for i, (sa, sb) in enumerate(zip(a, b)):
            if (sa.minvalue, sa.maxvalue, sa.ports) != (sb.minvalue, sb.maxvalue, sb.ports):
                problems.append(f"shard {i} of {target} is {sa}, of its twin {sb}: not co-located")
                continue
            for port in sa.ports:
                ra = placement_rows(nodes, port, sa.relation(target))
                rb = placement_rows(nodes, port, sb.relation(twin))
                if ra != rb:
                    problems.append(
                        f"shard {i} [{sa.minvalue}, {sa.maxvalue}] on port {port}:"
                        f" {sa.relation(target)} holds {sum(ra.values())} rows,"
                        f" {sb.relation(twin)} (Citus's COPY) {sum(rb.values())}: {_diff(ra, rb)}")
    return problems


def misplaced_rows(coord: psycopg.Connection, nodes: Nodes, table: str, column: str) -> List[str]:
    """Problems: rows in a hash shard placement whose worker_hash(column) lies outside its range."""
    problems = []
    for s in shards(coord, table):
        if s.minvalue is None:
            continue
        for port in s.ports:
            n = nodes.query(port, sql.SQL(
                "SELECT count(*) FROM {} WHERE pg_catalog.worker_hash({}) NOT BETWEEN %s AND %s"
                " OR {} IS NULL").format(sql.Identifier(s.relation(table)), sql.Identifier(column),
                                         sql.Identifier(column)),
                (s.minvalue, s.maxvalue))[0][0]
            if n:
                problems.append(f"{n} rows of {s.relation(table)} on port {port} hash outside"
                                f" [{s.minvalue}, {s.maxvalue}]")
    return problems


def placement_total(coord: psycopg.Connection, nodes: Nodes, table: str) -> int:
    """Rows in the first placement of each shard of table (the rows Citus's queries read)."""
    return sum(placement_count(nodes, s.ports[0], s.relation(table)) for s in shards(coord, table))


def rows_anywhere(coord: psycopg.Connection, nodes: Nodes, table: str) -> List[str]:
    """Where rows of table (or of its partitions) are: every placement, and the shell."""
    found = []
    for rel in citus_relations(coord, table):
        for s in shards(coord, rel):
            for port in s.ports:
                n = placement_count(nodes, port, s.relation(rel))
                if n:
                    found.append(f"{n} rows in {s.relation(rel)} on port {port}")
    n = shell_rows(coord, table)
    if n:
        found.append(f"{n} rows in the coordinator's shell table {table}")
    return found


def prepared_xacts(nodes: Nodes) -> Dict[int, int]:
    """pg_prepared_xacts' count on each node (that has any)."""
    counts = {}
    for port in nodes.ports:
        n = nodes.query(port, "SELECT count(*) FROM pg_catalog.pg_prepared_xacts")[0][0]
        if n:
            counts[port] = n
    return counts


def wait_no_prepared_xacts(nodes: Nodes, timeout: float = 5.0) -> Dict[int, int]:
    """Wait up to timeout seconds for every node to have no prepared transaction; what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = prepared_xacts(nodes)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


#: How Citus's COPY reports a worker's error: XX000 with the worker's
#: message (multi_copy.c, ReportCopyError).  The SQLSTATE the message stands for.
REMOTE_MESSAGES = (
    ("violates check constraint", "23514"),
    ("violates not-null constraint", "23502"),
    ("duplicate key value violates unique constraint", "23505"),
    ("violates foreign key constraint", "23503"),
    ("violates exclusion constraint", "23P01"),
)


def canonical_state(sqlstate: Optional[str], message: str) -> Optional[str]:
    """The SQLSTATE an error stands for: a Citus XX000 of a worker's constraint violation as that
    violation's SQLSTATE, any other as it is."""
    if sqlstate == "XX000":
        for text, code in REMOTE_MESSAGES:
            if text in message:
                return code
    return sqlstate


def acceptable_states(sqlstate: Optional[str], message: str) -> Set[str]:
    """The SQLSTATEs that match Citus's COPY's: its own, and the one its XX000 message stands for."""
    states = {sqlstate} if sqlstate else set()
    if sqlstate == "XX000":
        states |= {code for text, code in REMOTE_MESSAGES if text in message}
    return states


# ---------------------------------------------------------------------------
# the ways in, and outcomes
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a load answered: a row count, or an error's SQLSTATE and message; its notices."""

    rows: Optional[int] = None
    sqlstate: Optional[str] = None
    message: str = ""
    notices: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Did the load succeed?"""
        return self.sqlstate is None

    def __str__(self) -> str:
        return f"{self.rows} rows" if self.ok else f"{self.sqlstate}: {self.message}"


def attempt(conn: psycopg.Connection, load: Callable[[], Any]) -> Outcome:
    """Run load(), catching the server's error; collects the notices it brought."""
    notices: List[str] = []

    def on_notice(d: psycopg.errors.Diagnostic) -> None:
        notices.append(" ".join(x for x in (d.severity, d.message_primary, d.message_detail,
                                            d.message_hint) if x))

    conn.add_notice_handler(on_notice)
    try:
        rows = load()
        return Outcome(rows=None if rows is None else int(rows), notices=notices)
    except psycopg.Error as ex:
        return Outcome(sqlstate=ex.sqlstate, message=(ex.diag.message_primary or str(ex)),
                       notices=notices)
    finally:
        conn.remove_notice_handler(on_notice)


def stream_bytes(df: Any, batch_rows: Optional[int] = None) -> bytes:
    """dump()'s stream of df, in memory."""
    buf = io.BytesIO()
    zcimport.dump(df, buf, batch_rows=batch_rows)
    return buf.getvalue()


def load(way: str, conn: psycopg.Connection, df: pd.DataFrame, table: str, server_dir: Path,
         batch_rows: Optional[int] = None, chunk: int = 65536, options: str = "",
         columns: Optional[Sequence[str]] = None) -> int:
    """Load df into table one of four ways; the load's answer (copy_dataframe's return,
    COPY's rowcount, import_*'s result).

    ``options`` are added to a raw COPY's WITH list and ``columns`` replace its
    column list (the frame's labels), both for the way ``copy_stream`` only.
    """
    if way == "copy_dataframe":
        return zcimport.copy_dataframe(df, table, conn, batch_rows=batch_rows)
    data = stream_bytes(df, batch_rows)
    if way == "copy_stream":
        conn.execute("SELECT zcimport.version()")  # loads the library, so its hook
        names = list(columns) if columns is not None else [str(c) for c in df.columns]
        stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT zcimport{})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(options))
        with conn.cursor() as cur:
            with cur.copy(stmt) as copy:
                for i in range(0, len(data), chunk):
                    copy.write(data[i:i + chunk])
            return cur.rowcount
    if way == "import_bytea":
        return conn.execute("SELECT zcimport.import_bytea(%s::regclass, %s)", (table, data)).fetchone()[0]
    if way == "import_file":
        path = server_dir / f"{table}-{uuid.uuid4().hex[:8]}.zci"
        path.write_bytes(data)
        os.chmod(path, 0o644)
        try:
            return conn.execute("SELECT zcimport.import_file(%s::regclass, %s)",
                                (table, str(path))).fetchone()[0]
        finally:
            path.unlink()
    raise ValueError(way)


WAYS = ("copy_dataframe", "copy_stream", "import_bytea", "import_file")


def names_table(notices: Sequence[str], table: str) -> bool:
    """Does a notice name table?"""
    return any(table in n for n in notices)


# ---------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------


class Gen:
    """A scenario's randomness, derived from (seed, index)."""

    def __init__(self, seed: int, index: int) -> None:
        self.r = random.Random(f"zcimport-randcitus/{seed}/{index}")

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self.r.random() < p

    def pick(self, seq: Sequence[Any]) -> Any:
        """One element of seq."""
        return seq[self.r.randrange(len(seq))]

    def wpick(self, pairs: Sequence[Tuple[Any, float]]) -> Any:
        """One value of (value, weight) pairs, by weight."""
        x = self.r.random() * sum(w for _, w in pairs)
        for v, w in pairs:
            x -= w
            if x < 0:
                return v
        return pairs[-1][0]


ALPHABET = "abcxyzAZ09 _-'\"\\\t\n,;{}é߀中文😀"


def rand_str(g: Gen, lo: int, hi: int) -> str:
    """A random string of lo..hi characters (no NUL), multi-byte ones too."""
    return "".join(g.pick(ALPHABET) for _ in range(g.r.randint(lo, hi)))


EPOCH = dt.datetime(1970, 1, 1)


@dataclass
class Kind:
    """A column type the generator draws: its SQL type, values and faults."""

    name: str  # the family: int2, numeric, varchar, ...
    sqltype: str  # with typmod
    dist_ok: bool = True  # may be the distribution column
    unique_ok: bool = True  # values may be drawn unique and stay unique in the table
    param: int = 0  # varchar/char length, numeric scale, timestamp precision
    tz: str = "UTC"  # the frame's time zone for timestamptz
    as_text: bool = False  # uuid sent as strings


def draw_kind(g: Gen, dist: bool) -> Kind:
    """A column type, for the distribution column (dist) or another."""
    names = ["int2", "int4", "int8", "float8", "numeric", "numeric_s", "text", "varchar", "char",
             "date", "timestamp", "timestamptz", "uuid", "bool"]
    if not dist:
        names += ["float4", "bytea", "jsonb", "interval"]
    n = g.pick(names)
    if n in ("int2", "int4", "int8", "float8", "float4", "text", "date", "bytea", "jsonb", "interval"):
        sqltype = {"int2": "smallint", "int4": "integer", "int8": "bigint", "float8": "double precision",
                   "float4": "real"}.get(n, n)
        return Kind(n, sqltype, unique_ok=n not in ("float8", "float4", "jsonb"))
    if n == "numeric":
        return Kind(n, "numeric")
    if n == "numeric_s":
        scale = g.r.randint(0, 3)
        return Kind(n, f"numeric(12,{scale})", unique_ok=False, param=scale)
    if n == "varchar":
        k = g.r.randint(1, 24)
        return Kind(n, f"varchar({k})", param=k)
    if n == "char":
        k = g.r.randint(1, 8)
        return Kind(n, f"char({k})", unique_ok=False, param=k)
    if n == "timestamp":
        p = g.pick([6, 6, 3, 0])
        return Kind(n, "timestamp" if p == 6 else f"timestamp({p})", unique_ok=p == 6, param=p)
    if n == "timestamptz":
        p = g.pick([6, 6, 3, 0])
        return Kind(n, "timestamptz" if p == 6 else f"timestamptz({p})", unique_ok=p == 6, param=p,
                    tz=g.pick(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))
    if n == "uuid":
        return Kind(n, "uuid", as_text=g.chance(0.3))
    assert n == "bool"
    return Kind(n, "boolean", unique_ok=False)


INT_LIMITS = {"int2": 2 ** 15, "int4": 2 ** 31, "int8": 2 ** 63}


def draw_value(g: Gen, k: Kind) -> Any:
    """One valid value of kind k (a Python object; the frame column is built from a list of them)."""
    n = k.name
    if n in INT_LIMITS:
        lim = INT_LIMITS[n]
        return g.wpick([(g.pick([-lim, lim - 1, 0, -1, 1]), 0.1), (g.r.randint(-1000, 1000), 0.4),
                        (g.r.randint(-lim, lim - 1), 0.5)])
    if n == "float8":
        return g.wpick([(g.pick([0.0, -0.0, float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308,
                                 0.1, 1 / 3]), 0.15),
                        (g.r.uniform(-1e6, 1e6), 0.5), (g.r.randint(-100, 100) / 4, 0.35)])
    if n == "float4":
        return float(np.float32(g.pick([0.0, -0.0, 1.5, 0.1, 3.4028235e38, -7.25e-20,
                                        g.r.uniform(-1e4, 1e4)])))
    if n == "numeric":
        if g.chance(0.05):
            return decimal.Decimal(g.pick(["NaN", "-0", "0.000", "1e-20", "123456789012345678901234567890"]))
        scale = g.r.randint(0, 6)
        return decimal.Decimal(g.r.randint(-10 ** 9, 10 ** 9)).scaleb(-scale)
    if n == "numeric_s":
        return decimal.Decimal(g.r.randint(-10 ** 11 + 1, 10 ** 11 - 1)).scaleb(-g.r.randint(2, 6))
    if n in ("text", "varchar", "char"):
        hi = k.param if n != "text" else g.pick([3, 12, 40, 3000])
        s = rand_str(g, 0, hi)
        return s if n != "char" else s.rstrip(" ") + " " * g.r.randint(0, max(0, hi - len(s.rstrip(" "))))
    if n == "date":
        return dt.date.fromordinal(g.r.randint(dt.date(1800, 1, 1).toordinal(), dt.date(2200, 12, 31).toordinal()))
    if n in ("timestamp", "timestamptz"):
        v = EPOCH + dt.timedelta(microseconds=g.r.randint(-2 * 10 ** 15, 4 * 10 ** 15))
        return v if n == "timestamp" else v.replace(tzinfo=dt.timezone.utc)
    if n == "uuid":
        return uuid.UUID(int=g.r.getrandbits(128))
    if n == "bool":
        return g.chance(0.5)
    if n == "bytea":
        return bytes(g.r.getrandbits(8) for _ in range(g.r.randint(0, 40)))
    if n == "jsonb":
        return json.dumps(g.pick([{"a": g.r.randint(0, 9)}, [1, "x", None], "s", 3.5, {"k": [True, {"z": "é"}]}]))
    if n == "interval":
        return dt.timedelta(microseconds=g.r.randint(0, 10 ** 13))
    raise AssertionError(n)


def unique_key(k: Kind, v: Any) -> Any:
    """What must differ between two values for them to stay two keys in the table.

    (Python's == is PostgreSQL's for the kinds that may be unique, but for
    numeric NaN, which PostgreSQL's btree takes as equal to itself.)
    """
    if isinstance(v, decimal.Decimal) and v.is_nan():
        return "NaN"
    return v


def draw_unique(g: Gen, c: "Column", n: int) -> Optional[List[Any]]:
    """n distinct valid values for column c, or None if its kind has too few of them."""
    seen: Set[Any] = set()
    vals: List[Any] = []
    for _ in range(20 * n + 100):
        if len(vals) == n:
            break
        v = draw_value(g, c.kind)
        key = unique_key(c.kind, v)
        if isinstance(v, str) and len(v) > 500:
            continue  # a btree entry must stay under 2,704 bytes
        if key not in seen and not (c.check is not None and v == c.check[1]):
            seen.add(key)
            vals.append(v)
    return vals if len(vals) == n else None


@dataclass
class Fault:
    """One bad value: in row ``row`` of column ``column``, expected to fail with ``sqlstate``."""

    what: str
    column: str
    row: int
    value: Any
    sqlstate: str


def bad_value(g: Gen, k: Kind) -> Optional[Tuple[str, Any, str]]:
    """(what, value, SQLSTATE) of a value that cannot load into kind k, or None."""
    n = k.name
    if n in INT_LIMITS:
        lim = INT_LIMITS[n]
        return "out of range", g.pick([lim, -lim - 1]) if n != "int8" else lim, "22003"
    if n == "numeric_s":
        return "numeric overflow", decimal.Decimal(10 ** 12), "22003"
    if n in ("varchar", "char"):
        return "too long", "x" * (k.param + 1), "22001"
    if n == "uuid" and k.as_text:
        return "bad uuid text", "not-a-uuid", "22P02"
    if n == "jsonb":
        return "bad json", "{bad", "22P02"
    return None


@dataclass
class Column:
    """A table column, and how the frame fills it."""

    name: str
    kind: Kind
    null_frac: float = 0.0
    not_null: bool = False
    check: Optional[Tuple[str, Any]] = None  # (the CHECK's SQL, the value it forbids)
    default: Optional[str] = None  # a constant DEFAULT; such a column is left out of the frame
    values: List[Any] = field(default_factory=list)


@dataclass
class Scenario:
    """One random load: a table shape, a frame, a way in, and at most one fault."""

    seed: int
    index: int
    kind: str  # distributed, single_shard, reference, citus_local
    shard_count: int
    columns: List[Column]  # the distribution column first (for every kind)
    frame_order: List[str]
    unique: Optional[List[str]]
    dropped: str  # "", "before" (dropped before distributing), "after"
    n: int
    way: str
    batch_rows: Optional[int]
    timezone: str
    fault: Optional[Fault] = None

    @property
    def dist(self) -> Column:
        """The distribution column (the first, for every kind)."""
        return self.columns[0]

    def ddl(self, name: str) -> List[str]:
        """CREATE TABLE (and ALTERs) of this shape under name; not yet a Citus table."""
        cols = []
        for i, c in enumerate(self.columns):
            d = f"{qi(c.name)} {c.kind.sqltype}"
            if c.not_null:
                d += " NOT NULL"
            if c.default is not None:
                d += f" DEFAULT {c.default}"
            if c.check is not None:
                d += f" CHECK ({c.check[0]})"
            cols.append(d)
            if i == 0 and self.dropped:
                cols.append("zz_dropped integer")
        if self.unique:
            cols.append(f"UNIQUE ({', '.join(map(qi, self.unique))})")
        stmts = [f"CREATE TABLE {qi(name)} ({', '.join(cols)})"]
        if self.dropped == "before":
            stmts.append(f"ALTER TABLE {qi(name)} DROP COLUMN zz_dropped")
        return stmts

    def citus_ddl(self, name: str, colocate_with: Optional[str]) -> List[str]:
        """What makes name a Citus table of this kind (co-located with colocate_with)."""
        lit = ql(name)
        if self.kind == "distributed":
            if colocate_with:
                s = (f"SELECT create_distributed_table({lit}, {ql(self.dist.name)},"
                     f" colocate_with := {ql(colocate_with)})")
            else:
                s = f"SELECT create_distributed_table({lit}, {ql(self.dist.name)}, shard_count := {self.shard_count})"
        elif self.kind == "single_shard":
            s = (f"SELECT create_distributed_table({lit}, NULL"
                 + (f", colocate_with := {ql(colocate_with)})" if colocate_with else ")"))
        elif self.kind == "reference":
            s = f"SELECT create_reference_table({lit})"
        else:
            s = f"SELECT citus_add_local_table_to_metadata({lit})"
        stmts = [s]
        if self.dropped == "after":
            stmts.append(f"ALTER TABLE {qi(name)} DROP COLUMN zz_dropped")
        return stmts

    def frame(self, without_fault: bool = False) -> pd.DataFrame:
        """The frame, its columns in frame_order (the fault's row dropped if without_fault)."""
        keep = [i for i in range(self.n) if not (without_fault and self.fault and i == self.fault.row)]
        by_name = {c.name: c for c in self.columns}
        data: Dict[str, Any] = {}
        for name in self.frame_order:
            c = by_name[name]
            vals = list(c.values)
            if self.fault is not None and self.fault.column == name:
                vals[self.fault.row] = self.fault.value
            data[name] = series(c.kind, [vals[i] for i in keep], self.seed + self.index)
        return pd.DataFrame(data, index=pd.RangeIndex(len(keep)))

    def describe(self) -> str:
        """The scenario in one paragraph."""
        cols = ", ".join(f"{c.name} {c.kind.sqltype}" + (f" nulls={c.null_frac:.2f}" if c.null_frac else "")
                         + (" NOT NULL" if c.not_null else "") + (" CHECK" if c.check else "")
                         + (f" DEFAULT {c.default}" if c.default else "") for c in self.columns)
        return (f"seed {self.seed} index {self.index}: {self.kind}"
                + (f" ({self.shard_count} shards)" if self.kind == "distributed" else "")
                + f" by {self.dist.name}; columns: {cols}; unique {self.unique}; dropped column {self.dropped or 'no'};"
                + f" {self.n} rows via {self.way}, batch_rows {self.batch_rows}, TimeZone {self.timezone};"
                + f" frame order {self.frame_order}; fault {self.fault}")


def qi(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ql(s: str) -> str:
    """A quoted SQL literal."""
    return "'" + s.replace("'", "''") + "'"


def series(k: Kind, vals: List[Any], salt: int) -> pd.Series:
    """The frame column of kind k holding vals (None is a NULL), in a dtype that carries them."""
    n = k.name
    has_null = any(v is None for v in vals)
    r = random.Random(f"{salt}/{k.sqltype}/{len(vals)}")  # the dtype: a function of the scenario
    if n in INT_LIMITS or n == "int2":
        present = [v for v in vals if v is not None]
        fits = [t for t, lo, hi in (("int16", -2 ** 15, 2 ** 15 - 1), ("int32", -2 ** 31, 2 ** 31 - 1),
                                    ("int64", -2 ** 63, 2 ** 63 - 1), ("uint64", 0, 2 ** 64 - 1))
                if all(lo <= v <= hi for v in present)]
        dtype = r.choice(fits[:2])
        if has_null:
            return pd.Series(pd.array(vals, dtype=dtype.capitalize().replace("Uint", "UInt")))
        return pd.Series(np.array(vals, dtype=dtype))
    if n in ("float8", "float4"):
        arr = np.array([np.nan if v is None else v for v in vals], dtype=np.float64 if n == "float8" else np.float32)
        return pd.Series(arr)
    if n == "bool":
        if has_null:
            return pd.Series(pd.array(vals, dtype="boolean"))
        return pd.Series(np.array(vals, dtype=bool))
    if n in ("timestamp", "timestamptz"):
        s = pd.Series(pd.to_datetime([v for v in vals], utc=(n == "timestamptz")))
        s = s.astype("datetime64[ns, UTC]" if n == "timestamptz" else "datetime64[ns]")
        if n == "timestamptz":
            s = s.dt.tz_convert(k.tz)
        return s
    if n == "interval":
        return pd.Series(pd.to_timedelta([pd.NaT if v is None else v for v in vals])).astype("timedelta64[ns]")
    if n == "uuid" and k.as_text:
        return pd.Series([None if v is None else str(v) for v in vals], dtype=object)
    if n in ("text", "varchar", "char") and r.random() < 0.3:
        return pd.Series(pd.array(vals, dtype="string"))
    return pd.Series(vals, dtype=object)


def make_scenario(seed: int, index: int, max_rows: int = 8000) -> Scenario:
    """Scenario number index of seed."""
    g = Gen(seed, index)
    kind = g.wpick([("distributed", 0.55), ("single_shard", 0.15), ("reference", 0.15), ("citus_local", 0.15)])
    shard_count = g.wpick([(1, 0.1), (g.r.randint(2, 8), 0.4), (g.r.randint(9, 40), 0.5)])
    dist = Column("k", draw_kind(g, dist=True))
    others = [Column(f"c{i}", draw_kind(g, dist=False)) for i in range(g.r.randint(1, 6))]
    for c in others:
        c.null_frac = g.wpick([(0.0, 0.4), (0.05, 0.2), (0.5, 0.25), (1.0, 0.15)])
    columns = [dist, *others]
    n = g.wpick([(0, 0.05), (g.r.randint(1, 12), 0.15), (g.r.randint(13, 600), 0.4),
                 (g.r.randint(600, 3000), 0.35), (g.r.randint(3000, 8000), 0.05)])
    n = min(n, max_rows)
    hash_kind = kind == "distributed"

    # constraints: UNIQUE (including the distribution column on hash tables)
    unique: Optional[List[str]] = None
    if g.chance(0.25):
        key_col = dist if (kind in ("distributed", "single_shard") or g.chance(0.5)) else g.pick(others)
        if key_col.kind.unique_ok and key_col.null_frac == 0:
            unique = [key_col.name]
            if key_col is dist and others and g.chance(0.3):
                unique.append(g.pick(others).name)
    for c in others:
        if c.null_frac == 0 and g.chance(0.2):
            c.not_null = True
        if c.kind.name in ("int2", "int4", "int8") and g.chance(0.5):
            c.check = (f"{qi(c.name)} IS DISTINCT FROM -12345", -12345)
        elif (c.kind.name == "text" or c.kind.param >= 9) and c.kind.name in ("text", "varchar") \
                and g.chance(0.2):
            c.check = (f"{qi(c.name)} IS DISTINCT FROM 'forbidden'", "forbidden")
    if others and g.chance(0.15):
        c = others[-1]
        if c.kind.name in ("int2", "int4", "int8", "text") and c.name not in (unique or []):
            c.default = "7" if c.kind.name != "text" else "'dflt'"

    # the values: unique for a key's first column, or drawn (the distribution
    # column's from a pool: skewed shards), NULLs at the column's rate
    for c in columns:
        if unique is not None and unique[0] == c.name:
            vals = draw_unique(g, c, n)
            if vals is not None:
                c.values = vals
                continue
            unique = None  # too few distinct values of this kind
        if c is dist:
            pool = [draw_value(g, c.kind) for _ in range(g.pick([1, 3, 17, max(1, n)]))]
            c.values = [g.pick(pool) for _ in range(n)]
            continue
        vals = []
        for _ in range(n):
            if c.null_frac and not c.not_null and g.r.random() < c.null_frac:
                vals.append(None)
                continue
            v = draw_value(g, c.kind)
            while c.check is not None and v == c.check[1]:
                v = draw_value(g, c.kind)
            vals.append(v)
        c.values = vals

    # the fault
    fault: Optional[Fault] = None
    if n > 0 and g.chance(0.3):
        row = g.r.randrange(n)
        options: List[Tuple[str, str, Any, str]] = []
        for c in columns:
            if c.default is not None:
                continue
            bad = bad_value(g, c.kind)
            if bad is not None and c.kind.name == "int8" and any(v is None or v < 0 for v in c.values):
                bad = None  # 2**63 travels only in a uint64 column
            if bad is not None:
                options.append((bad[0], c.name, bad[1], bad[2]))
            if c.not_null:
                options.append(("NULL into NOT NULL", c.name, None, "23502"))
            if c.check is not None:
                options.append(("CHECK", c.name, c.check[1], "23514"))
        if hash_kind:
            options.append(("NULL distribution value", dist.name, None, "22004"))
        if unique is not None and n > 1:
            options.append(("duplicate key", "*", None, "23505"))
        if options:
            what, col, value, state = g.pick(options)
            if what == "duplicate key":
                other = (row + 1 + g.r.randrange(n - 1)) % n
                fault = Fault(what, unique[0], row, None, state)
                for name in unique:
                    c = next(c for c in columns if c.name == name)
                    c.values[row] = c.values[other]
                # the duplicate is the whole key, already in place: no value to substitute
                fault.column = ""
            else:
                fault = Fault(what, col, row, value, state)

    frame_order = [c.name for c in columns if c.default is None]
    g.r.shuffle(frame_order)
    way = g.pick(WAYS)
    if way in ("import_bytea", "import_file"):
        # these load every column of the table, in its order
        frame_order = [c.name for c in columns]
        for c in columns:
            c.default = None
    batch_rows = g.wpick([(None, 0.4), (g.pick([1, 3, 100, 999, 1000, 1024, 1025]), 0.4),
                          (g.r.randint(2, 5000), 0.2)])
    if batch_rows == 1 and n > 600:
        batch_rows = 7
    return Scenario(
        seed=seed, index=index, kind=kind, shard_count=shard_count, columns=columns,
        frame_order=frame_order, unique=unique,
        dropped=g.wpick([("", 0.7), ("before", 0.15), ("after", 0.15)]),
        n=n, way=way, batch_rows=batch_rows,
        timezone=g.pick(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
        fault=fault)


# ---------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------


def create_pair(coord: psycopg.Connection, sc: Scenario, name: str, twin: str) -> None:
    """Create the target name and its twin, co-located with it."""
    for s in sc.ddl(name) + sc.citus_ddl(name, None) + sc.ddl(twin) + sc.citus_ddl(twin, name):
        coord.execute(s)


def drop_tables(coord: psycopg.Connection, *names: str) -> None:
    """Drop the tables (those that exist)."""
    for name in names:
        coord.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def judge_success(coord: psycopg.Connection, nodes: Nodes, target: str, twin: str, n: int,
                  zc: Outcome, oc: Outcome) -> List[str]:
    """Problems after both loads succeeded: counts, rows, placements, shell, notice."""
    problems = []
    if zc.rows != n or oc.rows != n:
        problems.append(f"zcimport answered {zc.rows} rows, Citus's COPY {oc.rows}, the frame has {n}")
    a, b = coordinator_rows(coord, target), coordinator_rows(coord, twin)
    if a != b:
        problems.append(f"through the coordinator, {target} and its twin differ: {_diff(a, b)}")
    problems += compare_placements(coord, nodes, [(target, twin)])
    shell = shell_rows(coord, target)
    if shell:
        problems.append(f"the coordinator's shell table {target} holds {shell} rows")
    if not names_table(zc.notices, target):
        problems.append(f"no NOTICE names {target}: {zc.notices}")
    return problems


def judge_failure(coord: psycopg.Connection, nodes: Nodes, target: str, zc: Outcome, oc: Outcome,
                  expected: Optional[str] = None) -> List[str]:
    """Problems after both loads failed: SQLSTATE, rows left anywhere, prepared xacts, the connection."""
    problems = []
    ok_states = acceptable_states(oc.sqlstate, oc.message)
    if expected is not None:
        ok_states.add(expected)
    if zc.sqlstate not in ok_states:
        problems.append(f"zcimport failed with {zc}, Citus's COPY with {oc}"
                        + (f" (the fault's SQLSTATE is {expected})" if expected else ""))
    try:
        coord.execute("SELECT 1").fetchone()
    except psycopg.Error as ex:
        problems.append(f"the connection is not usable after the failure: {ex}")
        return problems
    left = rows_anywhere(coord, nodes, target)
    if left:
        problems.append("rows left after the failure: " + "; ".join(left))
    xacts = wait_no_prepared_xacts(nodes)
    if xacts:
        problems.append(f"prepared transactions left (port: count): {xacts}")
    return problems


@dataclass
class Result:
    """A scenario's verdict: its problems, each labelled discrepancy or generator."""

    scenario: Scenario
    zc: Optional[Outcome] = None
    oracle: Optional[Outcome] = None
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found?"""
        return not self.problems

    def report(self) -> str:
        """The scenario, both outcomes, the problems and the command that replays it."""
        return "\n  ".join([self.scenario.describe(), f"zcimport: {self.zc}", f"Citus's COPY: {self.oracle}",
                            *self.problems, f"replay: {repro_command(self.scenario)}"])


def repro_command(sc: Scenario) -> str:
    """The command that replays scenario sc alone."""
    return (f"PYTHONPATH=python .venv/latest/bin/python test/python/randcitus.py"
            f" --seed {sc.seed} --index {sc.index} -v")


def run_scenario(coord: psycopg.Connection, nodes: Nodes, sc: Scenario, server_dir: Path,
                 keep: bool = False) -> Result:
    """Run sc: the zcimport load into the target, Citus's COPY into the twin, and judge them."""
    res = Result(sc)
    target = f"rc_{sc.seed % 100000}_{sc.index}_{uuid.uuid4().hex[:6]}"
    twin = f"{target}_twin"
    coord.execute(sql.SQL("SET TIME ZONE {}").format(sql.Literal(sc.timezone)))
    try:
        create_pair(coord, sc, target, twin)
        df = sc.frame()
        loaded = [c for c in sc.frame_order]
        res.zc = zc = attempt(coord, lambda: load(sc.way, coord, df, target, server_dir, sc.batch_rows))
        res.oracle = oc = attempt(coord, lambda: copy_rows(coord, twin, df, loaded))
        if zc.ok and oc.ok:
            if sc.fault is not None:
                res.problems.append(f"generator: the fault {sc.fault.what} failed neither load")
            res.problems += judge_success(coord, nodes, target, twin, sc.n, zc, oc)
        elif not zc.ok and not oc.ok:
            if sc.fault is None:
                res.problems.append("generator: both loads failed without a fault")
            res.problems += judge_failure(coord, nodes, target, zc, oc,
                                          sc.fault.sqlstate if sc.fault else None)
            # and the frame without its faulty row then loads
            if sc.fault is not None and not res.problems:
                good = sc.frame(without_fault=True)
                drop_tables(coord, twin)
                for s in sc.ddl(twin) + sc.citus_ddl(twin, target):
                    coord.execute(s)
                zc2 = attempt(coord, lambda: load(sc.way, coord, good, target, server_dir, sc.batch_rows))
                oc2 = attempt(coord, lambda: copy_rows(coord, twin, good, loaded))
                if zc2.ok and oc2.ok:
                    res.problems += [f"after the failure, the good load: {p}" for p in
                                     judge_success(coord, nodes, target, twin, len(good), zc2, oc2)]
                elif sc.fault.what == "duplicate key" and not zc2.ok and not oc2.ok:
                    pass  # the good frame still holds the row duplicated: both refuse it alike
                else:
                    res.problems.append(f"after the failure, the frame without the faulty row: zcimport {zc2},"
                                        f" Citus's COPY {oc2}")
        else:
            res.problems.append(f"discrepancy: zcimport {zc}, Citus's COPY {oc}")
            if not zc.ok:
                left = rows_anywhere(coord, nodes, target)
                if left:
                    res.problems.append("rows left after zcimport's failure: " + "; ".join(left))
        try:
            coord.execute("SELECT 1")
        except psycopg.Error as ex:
            res.problems.append(f"the coordinator connection broke: {ex}")
    finally:
        if not keep or res.ok:
            try:
                drop_tables(coord, target, twin)
            except psycopg.Error:
                pass
        try:
            coord.execute("RESET TIME ZONE")
        except psycopg.Error:
            pass
    return res


def generator_fingerprint() -> str:
    """A hash of this file: a scenario replays only with the generator that drew it."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def main(argv: Optional[List[str]] = None) -> int:
    """The long mode: run scenarios of --seed against the cluster of test/citus.sh (which must be up)."""
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--index", type=int, action="append", help="replay this scenario (repeatable)")
    ap.add_argument("--max-rows", type=int, default=8000)
    ap.add_argument("--keep", action="store_true", help="keep the tables of failing scenarios")
    ap.add_argument("--stop", action="store_true", help="stop at the first failure")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    env = cluster_env()
    workers = [int(p) for p in env["ZC_CITUS_WORKER_PORTS"].split(",")]

    def dsn_of(port: int) -> str:
        return f"host={env['PGHOST']} port={port} user={env['PGUSER']} dbname={env['PGDATABASE']}"

    out = sys.stdout
    out.write(f"randcitus.py generator {generator_fingerprint()}, seed {args.seed}\n")
    nodes = Nodes(dsn_of, int(env["PGPORT"]), workers)
    failures = 0
    indexes = args.index or list(range(args.start, args.start + args.count))
    with tempfile.TemporaryDirectory(prefix="zcimport-randcitus-") as d, \
            psycopg.connect(dsn_of(int(env["PGPORT"])), autocommit=True) as coord:
        os.chmod(d, 0o755)
        for i in indexes:
            sc = make_scenario(args.seed, i, args.max_rows)
            res = run_scenario(coord, nodes, sc, Path(d), keep=args.keep)
            if args.verbose or not res.ok:
                out.write(("ok   " if res.ok else "FAIL ") + res.report() + "\n")
            if not res.ok:
                failures += 1
                if args.stop:
                    break
    nodes.close()
    out.write(f"{len(indexes)} scenarios, {failures} failed\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
