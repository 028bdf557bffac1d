"""The randomized differential test of zcimport against PostgreSQL's own COPY.

Each scenario (drawn by test/python/randgen.py from a seed and an index) is
a random table shape, a random frame, a way in and zero, one or several
injected faults.  The table is created twice, in two schemas of their own
(the *twins*: each has its own sequences, types, trigger functions and audit
table); the frame is loaded into one twin with zcimport and into the other
with PostgreSQL's own COPY fed by psycopg's ``write_row`` (the oracle, as in
test/python/oracle.py), each load in a savepoint.  Then:

- if both loads succeeded: the same ``COPY n`` count, the same rows (every
  row's text, EXCEPT ALL both ways, as oracle.py compares), each row in the
  same partition (``tableoid`` mapped to the twin's partition name), the
  same audit-table rows (written by AFTER ROW triggers and by statement
  triggers over their transition tables), and the same sequence positions;
- if a load failed: both failed, with exactly the same SQLSTATE, and
  neither left a row behind (table and audit table hold what they held
  before the load);
- the server never crashed: the connection is still alive, and the server
  log has no "terminated by signal" / "was terminated" line written since the
  scenario began.

**Faults.**  A frame carries zero or one injected fault: a single bad row of
one kind (a value out of range for a narrowing column, a float that is not
whole for an integer column, NULL into NOT NULL or into a domain's NOT
NULL, a CHECK or domain CHECK violation, a duplicate key within the load or
against a pre-existing row, a row outside the partition loaded directly, a
value no partition takes, a string too long for varchar(n)/char(n), text
that the type's input function rejects, a row that makes a BEFORE trigger
raise, a foreign key violation).  With one fault kind, both loaders must fail
with exactly the same SQLSTATE.  With several faults of different kinds in
one frame (the *multi-fault* mode, about one scenario in eight) that is not a
meaningful requirement: COPY's own error order depends on its input format
and on its buffering (constraint and unique checks happen when 1,000 rows or
64 kB are flushed, after later rows were already parsed), and zcimport
converts a chunk of 1,024 rows column by column before it inserts any of
them, so a conversion error in row 900 of column 5 is found before a NOT NULL
violation in row 3 of column 1.  There the check is only: both fail, nothing
is left, and zcimport's SQLSTATE is one of the injected faults' SQLSTATEs.

Values that are valid are valid by construction (the generator keeps them
in range, unique where a key needs it, routable to a partition, away from
the values a CHECK forbids, short enough for btree indexes), so any failure
without a fault, or a fault that does not fire, is reported as a
*generator* problem, distinct from a *discrepancy* between the two loaders.

**Running it.**  The pytest module test/python/test_random_differential.py
runs a fixed-seed slice in ``make test``.  The long mode is this script::

    PYTHONPATH=python python3 test/python/randdiff.py --seed 123 --count 5000 \\
        --dsn "host=/tmp/zcimport-pg-54420 port=54420 user=postgres dbname=zcimport_pytest"

It takes any seed and count (``--start`` for the first index, ``--index``
for one scenario, ``--multi`` to force the multi-fault mode, ``--keep`` to
keep the twin schemas of failing scenarios, ``--shrink`` to minimize a
failing scenario, ``-v`` to print every scenario).  The DSN defaults to
``$ZC_TEST_DSN``, else to the cluster of ``$PGHOST``/``$PGPORT``; the server
log to ``$ZC_TEST_SERVER_LOG``, else ``$PGHOST/server.log`` (test/cluster.sh
puts the log in the socket directory).  The database must have ``CREATE
EXTENSION zcimport``.  A failure prints the seed, the index, the command that
reproduces it, the DDL and a description of the frame.  See docs/testing.md.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import itertools
import os
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1] / "python"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import zcimport  # noqa: E402
from zcimport import _copy as zc_copy  # noqa: E402

import randgen  # noqa: E402
from oracle import copy_rows, python_value  # noqa: E402

CRASH_RE = re.compile(r"terminated by signal|was terminated")
_COUNTER = itertools.count()


def default_dsn() -> Optional[str]:
    dsn = os.environ.get("ZC_TEST_DSN")
    if dsn:
        return dsn
    if os.environ.get("PGHOST"):
        return (f"host={os.environ['PGHOST']} port={os.environ.get('PGPORT', '5432')} "
                f"user={os.environ.get('PGUSER', 'postgres')} dbname=zcimport_pytest")
    return None


def default_server_log(dsn: Optional[str] = None) -> Optional[str]:
    """ZC_TEST_SERVER_LOG, else the test cluster's log: $PGHOST/server.log."""
    path = os.environ.get("ZC_TEST_SERVER_LOG")
    if path:
        return path
    host = os.environ.get("PGHOST")
    if not host and dsn:
        m = re.search(r"host=(\S+)", dsn)
        host = m.group(1) if m else None
    if host and host.startswith("/"):
        return os.path.join(host, "server.log")
    return None


# ---------------------------------------------------------------------------
# the server log
# ---------------------------------------------------------------------------


class ServerLog:
    """Lines the server wrote since mark()."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path if path and os.access(path, os.R_OK) else None
        self.offset = 0

    def mark(self) -> None:
        if self.path:
            self.offset = os.path.getsize(self.path)

    def crash_lines(self) -> List[str]:
        if not self.path:
            return []
        size = os.path.getsize(self.path)
        start = self.offset if size >= self.offset else 0
        with open(self.path, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        return [line for line in text.splitlines() if CRASH_RE.search(line)]


# ---------------------------------------------------------------------------
# one load
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    count: Optional[int] = None
    sqlstate: Optional[str] = None
    message: str = ""
    rows_before: int = 0
    audit_before: int = 0
    rows_after: int = 0
    audit_after: int = 0
    crashed: bool = False
    seconds: float = 0.0

    def short(self) -> str:
        if self.ok:
            return f"ok, COPY {self.count}"
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"failed {self.sqlstate}: {first[:300]}"


@dataclass
class Result:
    seed: int
    index: int
    status: str            # pass, discrepancy, crash, generator, error
    reasons: List[str] = field(default_factory=list)
    zc: Optional[Outcome] = None
    cp: Optional[Outcome] = None
    report: str = ""
    seconds: float = 0.0
    scenario: Optional[randgen.Scenario] = None


def qname(schema: str, rel: str) -> sql.Composable:
    return sql.Identifier(schema, rel)


def render(stmts: List[str], schema: str) -> List[str]:
    return [s.replace(randgen.S, randgen.qi(schema)) for s in stmts]


def oracle_frame(sc: randgen.Scenario, fcols: List[randgen.FrameCol], n: int) -> pd.DataFrame:
    rows = sc.oracle_rows(fcols, n)
    names = sc.oracle_cols(fcols)
    cols = list(zip(*rows)) if rows and names else [[] for _ in names]
    return pd.DataFrame({name: pd.Series(list(col), dtype=object) for name, col in zip(names, cols)},
                        index=pd.RangeIndex(n))


def _count(conn: psycopg.Connection, schema: str, sc: randgen.Scenario) -> Tuple[int, int]:
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(qname(schema, sc.table.name))).fetchone()[0]
    audit = 0
    if sc.table.has_audit:
        audit = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(qname(schema, "rd_audit"))).fetchone()[0]
    return rows, audit


def _load_zcimport(conn: psycopg.Connection, sc: randgen.Scenario, schema: str, df: pd.DataFrame) -> int:
    target = (schema, sc.target)
    columns: Any = None
    if sc.renamed:
        columns = {fc.name: fc.col.name for fc in sc.fcols if fc.col is not None}
    elif any(fc.col is None for fc in sc.fcols):
        columns = sc.load_cols
    if sc.way in ("copy", "copy_libpq"):
        saved = zc_copy.FORCE_LIBPQ
        zc_copy.FORCE_LIBPQ = sc.way == "copy_libpq"
        try:
            return zcimport.copy_dataframe(df, target, conn, batch_rows=sc.batch_rows, columns=columns,
                                           nan_as_null=sc.nan_as_null, freeze=sc.freeze)
        finally:
            zc_copy.FORCE_LIBPQ = saved
    if sc.way == "async":
        return asyncio.run(_load_async(conn, df, target, sc, columns))
    buf = io.BytesIO()
    zcimport.dump(df, buf, batch_rows=sc.batch_rows, nan_as_null=sc.nan_as_null, columns=columns)
    data = buf.getvalue()
    rel = f"{randgen.qi(schema)}.{randgen.qi(sc.target)}"
    if sc.way == "file" and _server_reads_our_files(conn):
        fd, path = tempfile.mkstemp(prefix="zcimport-randdiff-", suffix=".zci")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)  # the server runs as another user
            return conn.execute("SELECT zcimport.import_file(%s::regclass, %s)", (rel, path)).fetchone()[0]
        finally:
            os.unlink(path)
    if sc.way in randgen.POSITIONAL:  # bytea (and file, when the server cannot read our files)
        return conn.execute("SELECT zcimport.import_bytea(%s::regclass, %s)", (rel, data)).fetchone()[0]
    conn.execute("SELECT zcimport.version()")
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT zcimport) WHERE {}").format(
        qname(schema, sc.target), sql.SQL(", ").join(sql.Identifier(c) for c in sc.load_cols),
        sql.SQL(sc.where))  # type: ignore[arg-type]
    with conn.cursor() as cur:
        with cur.copy(stmt) as cp:
            cp.write(data)
        return cur.rowcount


async def _load_async(conn: psycopg.Connection, df: Any, target: Any, sc: randgen.Scenario, columns: Any) -> int:
    """copy_dataframe_async on a connection of its own, committed (rolled back on error)."""
    dsn = conn.info.dsn + (f" password={conn.info.password}" if conn.info.password else "")
    async with await psycopg.AsyncConnection.connect(dsn) as aconn:
        await aconn.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(sc.timezone)))
        await aconn.execute("SET client_encoding = 'UTF8'")
        await aconn.commit()
        n = await zcimport.copy_dataframe_async(df, target, aconn, batch_rows=sc.batch_rows, columns=columns,
                                                nan_as_null=sc.nan_as_null)
        await aconn.commit()
        return n


_READS_OUR_FILES: Dict[str, bool] = {}


def _server_reads_our_files(conn: psycopg.Connection) -> bool:
    """Is the server on this machine (Unix socket or loopback), and may we call import_file()?"""
    key = conn.info.dsn
    if key not in _READS_OUR_FILES:
        host = conn.info.host or ""
        local = host.startswith("/") or host in ("localhost", "127.0.0.1", "::1")
        _READS_OUR_FILES[key] = local and conn.execute(
            "SELECT pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')").fetchone()[0]
    return _READS_OUR_FILES[key]


def _load_oracle(conn: psycopg.Connection, sc: randgen.Scenario, schema: str, of: pd.DataFrame) -> int:
    if sc.where is None:
        return copy_rows(conn, f"{schema}.{sc.target}", of, columns=sc.load_cols,
                         nan_as_null=sc.nan_as_null, freeze=sc.freeze)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WHERE {}").format(
        qname(schema, sc.target), sql.SQL(", ").join(sql.Identifier(c) for c in sc.load_cols),
        sql.SQL(sc.where))  # type: ignore[arg-type]
    with conn.cursor() as cur:
        with cur.copy(stmt) as cp:
            for row in of.itertuples(index=False, name=None):
                cp.write_row([python_value(v, sc.nan_as_null) for v in row])
        return cur.rowcount


def run_load(conn: psycopg.Connection, sc: randgen.Scenario, schema: str, loader: Any, frame: Any) -> Outcome:
    """One load, in a savepoint of its own transaction; the counts around it."""
    out = Outcome(ok=False)
    t0 = time.monotonic()
    try:
        with conn.transaction():
            out.rows_before, out.audit_before = _count(conn, schema, sc)
            try:
                with conn.transaction():  # the savepoint
                    if sc.freeze:
                        conn.execute(sql.SQL("TRUNCATE {}").format(qname(schema, sc.target)))
                        out.rows_before, out.audit_before = _count(conn, schema, sc)
                    out.count = loader(conn, sc, schema, frame)
                    out.ok = True
            except psycopg.Error as ex:
                if conn.closed or conn.broken:
                    raise
                out.sqlstate = ex.sqlstate
                out.message = str(ex)
            out.rows_after, out.audit_after = _count(conn, schema, sc)
    except psycopg.Error as ex:
        if conn.closed or conn.broken:
            out.crashed = True
            out.sqlstate = ex.sqlstate
            out.message = f"connection lost: {ex}"
        else:
            raise
    out.seconds = time.monotonic() - t0
    return out


# ---------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------


def connect_runner(dsn: str, wait: float = 0, *settings: str) -> psycopg.Connection:
    """An autocommit connection for a runner, with the library loaded,
    retrying for ``wait`` seconds (a server restarting after a crash);
    ``settings`` are further SET statements."""
    deadline = time.monotonic() + wait
    while True:
        try:
            c = psycopg.connect(dsn, autocommit=True)
            c.execute("SELECT zcimport.version()")
            # a loader's connection left in a transaction (a client bug)
            # must fail the scenario, not hang the run on its locks
            c.execute("SET lock_timeout = '30s'")
            for setting in settings:
                c.execute(setting)
            return c
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


class Runner:
    def __init__(self, dsn: str, server_log: Optional[str] = None, keep: bool = False,
                 out: Any = None) -> None:
        self.dsn = dsn
        self.log = ServerLog(server_log if server_log is not None else default_server_log(dsn))
        self.keep = keep
        self.out = out or sys.stdout
        self.runs = 0
        self.conn = self._connect()

    def _connect(self, wait: float = 0) -> psycopg.Connection:
        return connect_runner(self.dsn, wait)

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.close()

    def _alive(self) -> bool:
        try:
            self.conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _crash_lines(self, wait: float) -> List[str]:
        """The log's crash lines; the postmaster may write them a moment after the client notices."""
        deadline = time.monotonic() + wait
        while True:
            lines = self.log.crash_lines()
            if lines or time.monotonic() > deadline or not self.log.path:
                return lines
            time.sleep(0.2)

    def _drop(self, schemas: List[str]) -> None:
        for s in schemas:
            try:
                self.conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)))
            except psycopg.Error:
                pass

    def setup(self, sc: randgen.Scenario, schema: str) -> None:
        conn = self.conn
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        with conn.transaction():
            for stmt in render(sc.table.render(), schema):
                conn.execute(stmt)  # type: ignore[arg-type]
        if sc.npre:
            copy_rows(conn, f"{schema}.{sc.target}", oracle_frame(sc, sc.pre, sc.npre),
                      columns=sc.load_cols, nan_as_null=sc.nan_as_null)

    def run(self, sc: randgen.Scenario) -> Result:
        t0 = time.monotonic()
        res = Result(sc.seed, sc.index, "pass", scenario=sc)
        tag = f"{os.getpid()}_{next(_COUNTER)}"
        zs, cs = f"rdz_{tag}", f"rdc_{tag}"
        self.log.mark()
        try:
            self.runs += 1
            if self.runs % 200 == 0 and not self.conn.closed:
                self.conn.close()  # a fresh backend now and then: thousands of CREATE/DROP bloat its caches
            if self.conn.closed or not self._alive():
                self.conn = self._connect(wait=60)
            self.conn.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(sc.timezone)))
            # the oracle's text goes as UTF-8 and the server converts it, as zcimport's does
            self.conn.execute("SET client_encoding = 'UTF8'")
            try:
                self.setup(sc, zs)
                self.setup(sc, cs)
            except psycopg.Error as ex:
                res.status = "generator"
                res.reasons.append(f"setup failed: {ex.sqlstate}: {ex}")
                raise _Done()
            df = sc.frame()
            of = oracle_frame(sc, sc.fcols, sc.n)
            res.zc = run_load(self.conn, sc, zs, _load_zcimport, df)
            if res.zc.crashed or not self._alive():
                # nothing more to compare: after crash recovery even the twins may be gone
                self.conn = self._connect(wait=120)
                res.status = "crash"
                res.reasons.append("the server crashed during the zcimport load: connection lost; "
                                   + "; ".join(self._crash_lines(wait=5)[:5]))
                raise _Done()
            res.cp = run_load(self.conn, sc, cs, _load_oracle, of)
            lines = self.log.crash_lines()
            if res.cp.crashed or lines:
                res.status = "crash"
                res.reasons.append("the server crashed: " + ("connection lost in the COPY load; " if res.cp.crashed
                                                             else "") + "; ".join(lines[:5]))
            else:
                self.compare(sc, zs, cs, res)
        except _Done:
            pass
        except Exception as ex:  # a bug of the harness, or an unexpected client error
            if res.status == "pass":
                res.status = "error"
            res.reasons.append(f"{type(ex).__name__}: {ex}\n{traceback.format_exc()}")
            if self.conn.closed or not self._alive():
                self.conn = self._connect(wait=120)
                lines = self._crash_lines(wait=5)
                if lines:
                    res.status = "crash"
                    res.reasons.insert(0, "the server crashed: " + "; ".join(lines[:5]))
        finally:
            if not (self.keep and res.status != "pass"):
                if self.conn.closed or not self._alive():
                    self.conn = self._connect(wait=120)
                self._drop([zs, cs])
        res.seconds = time.monotonic() - t0
        if res.status != "pass":
            res.report = self.report(sc, res, zs, cs)
        return res

    # -- checks

    def compare(self, sc: randgen.Scenario, zs: str, cs: str, res: Result) -> None:
        zc, cp = res.zc, res.cp
        assert zc is not None and cp is not None
        expected = sc.expected_sqlstates()
        if zc.ok and cp.ok:
            if zc.count != cp.count:
                res.reasons.append(f"row counts differ: zcimport COPY {zc.count}, COPY {cp.count}")
            diff = self.diff_rows(sc, zs, cs)
            if diff:
                res.reasons.append("rows differ (side, partition, row):\n" + "\n".join(
                    f"    {side}: [{p}] {r[:600]}" for side, p, r in diff))
                res.reasons.append("columns that differ (count, an example each side):\n" + "\n".join(
                    f"    {name}: {k} values, zcimport {a!r:.200} / COPY {b!r:.200}"
                    for name, k, a, b in self.diff_columns(sc, zs, cs)))
            adiff = self.diff_audit(sc, zs, cs)
            if adiff:
                res.reasons.append("audit tables differ:\n" + "\n".join(f"    {side}: {r[:600]}" for side, r in adiff))
            seqs = self.sequences(zs), self.sequences(cs)
            if seqs[0] != seqs[1]:
                res.reasons.append(f"sequences differ: zcimport {seqs[0]}, COPY {seqs[1]}")
            if res.reasons:
                res.status = "discrepancy"
            elif sc.faults:
                res.status = "generator"
                res.reasons.append(f"the injected fault(s) {expected} did not make either load fail")
            return
        if zc.ok != cp.ok:
            res.status = "discrepancy"
            res.reasons.append(f"only one load failed: zcimport {zc.short()}; COPY {cp.short()}")
            return
        # both failed
        for name, o in (("zcimport", zc), ("COPY", cp)):
            if o.rows_after != o.rows_before or o.audit_after != o.audit_before:
                res.reasons.append(f"{name} left rows behind after failing: table {o.rows_before} -> "
                                   f"{o.rows_after}, audit {o.audit_before} -> {o.audit_after}")
        if sc.multi:
            if zc.sqlstate not in expected:
                res.reasons.append(f"zcimport failed with {zc.sqlstate}, not one of the injected {expected}: "
                                   f"zcimport {zc.short()}; COPY {cp.short()}")
        elif zc.sqlstate != cp.sqlstate:
            res.reasons.append(f"different SQLSTATEs: zcimport {zc.short()}; COPY {cp.short()}")
        if res.reasons:
            res.status = "discrepancy"
            return
        if not sc.faults:
            res.status = "generator"
            res.reasons.append(f"no fault was injected, but both failed the same way: zcimport {zc.short()}; "
                               f"COPY {cp.short()}")
        elif cp.sqlstate not in expected:
            res.status = "generator"
            res.reasons.append(f"both failed alike, but not with the injected {expected}: zcimport {zc.short()}; "
                               f"COPY {cp.short()}")

    def diff_rows(self, sc: randgen.Scenario, zs: str, cs: str, limit: int = 6) -> List[Tuple[str, str, str]]:
        q = sql.SQL("""
            WITH a AS (SELECT c.relname::text AS p, t::text AS r FROM {za} t JOIN pg_class c ON c.oid = t.tableoid),
                 b AS (SELECT c.relname::text AS p, t::text AS r FROM {cb} t JOIN pg_class c ON c.oid = t.tableoid)
            (SELECT 'zcimport only', p, r FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b) x LIMIT {n})
            UNION ALL
            (SELECT 'COPY only', p, r FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a) y LIMIT {n})
        """).format(za=qname(zs, sc.table.name), cb=qname(cs, sc.table.name), n=sql.Literal(limit))
        return [tuple(r) for r in self.conn.execute(q).fetchall()]  # type: ignore[misc]

    def diff_columns(self, sc: randgen.Scenario, zs: str, cs: str) -> List[Tuple[str, int, Any, Any]]:
        names = [r[0] for r in self.conn.execute(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum", (f"{randgen.qi(zs)}.{randgen.qi(sc.table.name)}",)).fetchall()]
        out = []
        for name in names:
            q = sql.SQL("""
                WITH a AS (SELECT {c}::text AS v FROM {za}), b AS (SELECT {c}::text AS v FROM {cb}),
                     x AS (SELECT v FROM a EXCEPT ALL SELECT v FROM b), y AS (SELECT v FROM b EXCEPT ALL SELECT v FROM a)
                SELECT (SELECT count(*) FROM x), (SELECT v FROM x LIMIT 1), (SELECT v FROM y LIMIT 1)
            """).format(c=sql.Identifier(name), za=qname(zs, sc.table.name), cb=qname(cs, sc.table.name))
            k, a, b = self.conn.execute(q).fetchone()  # type: ignore[misc]
            if k:
                out.append((name, k, a, b))
        return out

    def diff_audit(self, sc: randgen.Scenario, zs: str, cs: str, limit: int = 6) -> List[Tuple[str, str]]:
        if not sc.table.has_audit:
            return []
        q = sql.SQL("""
            WITH a AS (SELECT t::text AS r FROM {za} t), b AS (SELECT t::text AS r FROM {cb} t)
            (SELECT 'zcimport only', r FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b) x LIMIT {n})
            UNION ALL
            (SELECT 'COPY only', r FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a) y LIMIT {n})
        """).format(za=qname(zs, "rd_audit"), cb=qname(cs, "rd_audit"), n=sql.Literal(limit))
        return [tuple(r) for r in self.conn.execute(q).fetchall()]  # type: ignore[misc]

    def sequences(self, schema: str) -> List[Tuple[str, Any]]:
        rows = self.conn.execute("SELECT sequencename::text, last_value FROM pg_sequences WHERE schemaname = %s "
                                 "ORDER BY 1", (schema,)).fetchall()
        return [(n, v) for n, v in rows]

    # -- reporting

    def report(self, sc: randgen.Scenario, res: Result, zs: str, cs: str) -> str:
        lines = [f"=== {res.status.upper()}: seed {sc.seed}, scenario {sc.index} ===",
                 "reproduce: " + repro_command(sc, self.dsn)]
        lines += ["  " + r for r in res.reasons]
        if res.zc:
            lines.append(f"  zcimport: {res.zc.short()} ({res.zc.seconds:.2f}s)")
        if res.cp:
            lines.append(f"  COPY:     {res.cp.short()} ({res.cp.seconds:.2f}s)")
        if self.keep:
            lines.append(f"  twin schemas kept: {zs} (zcimport), {cs} (COPY)")
        lines.append(sc.describe())
        lines.append("  DDL (schema zc):")
        lines += ["    " + s + ";" for s in render(sc.table.render(), "zc")]
        return "\n".join(lines)


class _Done(Exception):
    pass


def generator_fingerprint() -> str:
    """A hash of randgen.py: a scenario replays only with the generator that drew it."""
    import hashlib

    return hashlib.sha256(Path(randgen.__file__).read_bytes()).hexdigest()[:12]


def repro_command(sc: randgen.Scenario, dsn: str) -> str:
    extra = (" --multi" if sc.multi else "") + (" --latin1" if randgen.LATIN1 else "")
    return (f"PYTHONPATH=python python3 test/python/randdiff.py --seed {sc.seed} --index {sc.index}{extra} "
            f"--dsn '{dsn}' -v")


# ---------------------------------------------------------------------------
# shrinking a failing scenario
# ---------------------------------------------------------------------------


def _signature(res: Result) -> Tuple[str, ...]:
    if res.status == "crash":
        return ("crash",)
    zc, cp = res.zc, res.cp
    if zc is None or cp is None:
        return (res.status,)
    return (res.status, str(zc.ok), str(cp.ok), str(zc.sqlstate), str(cp.sqlstate))


def _take_rows(sc: randgen.Scenario, keep: List[int]) -> randgen.Scenario:
    new = copy.copy(sc)
    new.fcols = [randgen.FrameCol(fc.name, fc.model, [fc.vals[i] for i in keep], fc.mask[keep].copy(), fc.col)
                 for fc in sc.fcols]
    pos = {r: i for i, r in enumerate(keep)}
    new.faults = [randgen.Fault(f.kind, f.sqlstate, f.column, [pos[r] for r in f.rows], f.detail)
                  for f in sc.faults]
    new.n = len(keep)
    return new


def _drop_column(sc: randgen.Scenario, name: str) -> Optional[randgen.Scenario]:
    t = sc.table
    col = t.col(name)
    if col.role not in ("payload", "absent", "generated", "note") or name in t.pk:
        return None
    if any(f.column == name for f in sc.faults):
        return None
    q = randgen.qi(name)
    new_t = copy.copy(t)
    drop = {name} | {c.name for c in t.cols if c.generated_sql and q in c.generated_sql}
    new_t.cols = [c for c in t.cols if c.name not in drop]
    new_t.indexes = [s for s in t.indexes if not any(randgen.qi(d) in s for d in drop)]
    new_t.uniques = [s for s in t.uniques if not any(randgen.qi(d) in s for d in drop)]
    if name == "rd_note":
        new_t.triggers = [tr for tr in t.triggers if tr.name != "rd_b1"] if not (t.skip_flag or t.raise_flag) else t.triggers
        if new_t.triggers is t.triggers:
            return None
    new = copy.copy(sc)
    new.table = new_t
    new.fcols = [fc for fc in sc.fcols if fc.col is None or fc.col.name not in drop]
    new.pre = [fc for fc in sc.pre if fc.col is None or fc.col.name not in drop]
    new.load_cols = [c for c in sc.load_cols if c not in drop]
    return new


def shrink(runner: Runner, sc: randgen.Scenario, res: Result, budget: float = 600.0, out: Any = None) -> Tuple[randgen.Scenario, Result]:
    """A smaller scenario that fails the same way (rows, columns, indexes, triggers, options)."""
    out = out or sys.stdout
    want = _signature(res)
    deadline = time.monotonic() + budget
    best, best_res = sc, res

    def attempt(cand: Optional[randgen.Scenario]) -> bool:
        nonlocal best, best_res
        if cand is None or time.monotonic() > deadline:
            return False
        r = runner.run(cand)
        if r.status != "pass" and _signature(r) == want:
            best, best_res = cand, r
            print(f"  shrink: {cand.n} rows, {len(cand.fcols)} frame columns, {len(cand.table.cols)} table columns, "
                  f"{len(cand.table.indexes) + len(cand.table.uniques)} indexes, {len(cand.table.triggers)} triggers, "
                  f"way={cand.way}, batch_rows={cand.batch_rows}", file=out, flush=True)
            return True
        return False

    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        # options
        for change in ({"batch_rows": None}, {"way": "copy", "where": None}, {"npre": 0, "pre": []},
                       {"timezone": "UTC"}, {"nan_as_null": True}):
            if all(getattr(best, k) == v for k, v in change.items()):
                continue
            if "npre" in change and any(f.kind == "dup_existing" for f in best.faults):
                continue
            if "way" in change and best.way in randgen.POSITIONAL:
                continue
            cand = copy.copy(best)
            for k, v in change.items():
                setattr(cand, k, v)
            progress |= attempt(cand)
        # rows: halves, then blocks
        n = best.n
        fault_rows = sorted({r for f in best.faults for r in f.rows})
        for size in (n // 2, n // 4, n // 8, 1024, 256, 64, 16, 4, 1):
            if size <= 0 or size >= best.n:
                continue
            for start in range(0, best.n, size):
                if time.monotonic() > deadline:
                    break
                drop = set(range(start, min(best.n, start + size)))
                fault_rows = sorted({r for f in best.faults for r in f.rows})
                if drop & set(fault_rows):
                    continue
                keep = [i for i in range(best.n) if i not in drop]
                if not keep:
                    continue
                if attempt(_take_rows(best, keep)):
                    progress = True
                    break
        # columns, indexes, triggers
        for c in list(best.table.cols):
            if time.monotonic() > deadline:
                break
            progress |= attempt(_drop_column(best, c.name))
        for attr in ("indexes", "uniques", "triggers", "junk", "table_checks"):
            items = getattr(best.table, attr)
            for i in range(len(items)):
                if time.monotonic() > deadline:
                    break
                t2 = copy.copy(best.table)
                items2 = list(getattr(best.table, attr))
                if i >= len(items2):
                    break
                del items2[i]
                setattr(t2, attr, items2)
                cand = copy.copy(best)
                cand.table = t2
                if attempt(cand):
                    progress = True
                    break
    return best, best_res


# ---------------------------------------------------------------------------
# what the generator covers
# ---------------------------------------------------------------------------


def coverage(seed: int, count: int, start: int = 0) -> Dict[str, Dict[str, int]]:
    """Tallies of what scenarios (seed, start..start+count) contain; no database needed."""
    from collections import Counter

    tallies: Dict[str, Counter] = {k: Counter() for k in (
        "way", "target", "partitioning", "rows", "batch_rows", "faults", "dtype", "dtype -> type",
        "null pattern", "constraints", "defaults", "triggers", "indexes", "options")}
    for i in range(start, start + count):
        sc = randgen.make_scenario(seed, i)
        t = sc.table
        tallies["way"][sc.way + (" WHERE" if sc.where else "")] += 1
        tallies["target"]["view (INSTEAD OF)" if sc.target == t.view else "partition" if sc.target != t.name
                          else ("partitioned parent" if t.root else "table")] += 1
        if t.root is not None:
            levels = 2 if any(c.children for c in t.root.children) else 1
            tallies["partitioning"][f"{t.root.strategy} {levels} level(s)"] += 1
            for node in t.root.nodes():
                if node.is_default:
                    tallies["partitioning"]["DEFAULT partition"] += 1
                if node.standalone:
                    tallies["partitioning"]["attached, other column order"] += 1
        n = sc.n
        tallies["rows"]["0" if n == 0 else "1-20" if n <= 20 else "21-998" if n < 999 else
                        "999-1025" if n <= 1025 else "1026-4096" if n <= 4096 else "4097-10000"] += 1
        tallies["batch_rows"][str(sc.batch_rows) if sc.batch_rows in randgen.BATCH_ROWS else "random"] += 1
        for f in sc.faults:
            tallies["faults"][f.kind + (" (multi)" if sc.multi else "")] += 1
        if not sc.faults:
            tallies["faults"]["none"] += 1
        for fc in sc.fcols:
            tallies["dtype"][fc.model.kind] += 1
            tallies["dtype -> type"][f"{fc.model.kind} -> {fc.model.target.base}"] += 1
            if fc.col is not None:
                nulls = int(fc.mask.sum())
                tallies["null pattern"][fc.col.null_pattern if nulls else "none"] += 1
        for c in t.cols:
            if c.not_null:
                tallies["constraints"]["NOT NULL"] += 1
            if c.check_sql:
                tallies["constraints"]["CHECK"] += 1
            if c.domain is not None:
                tallies["constraints"]["domain" + (" NOT NULL" if c.domain.not_null else "")
                                      + (" CHECK" if c.domain.forbid_sql else "")] += 1
            if c.generated_sql:
                tallies["defaults"]["stored generated"] += 1
            if c.identity:
                tallies["defaults"][f"identity {c.identity}{' (in frame)' if c.in_frame else ''}"] += 1
            if not c.in_frame and c.default_sql is not None:
                kind = ("sequence" if "nextval" in c.default_sql else "volatile function" if "rd_volatile" in c.default_sql
                        else "expression" if "(" in c.default_sql else "constant")
                tallies["defaults"][kind] += 1
            if c.role == "fk":
                tallies["constraints"]["foreign key"] += 1
        if t.pk:
            tallies["constraints"][f"primary key ({len(t.pk)} col)"] += 1
        for tr in t.triggers:
            tallies["triggers"][tr.name + (" on a partition" if tr.on != t.name else "")] += 1
        if t.skip_flag:
            tallies["triggers"]["BEFORE skips rows"] += 1
        if t.raise_flag:
            tallies["triggers"]["BEFORE raises"] += 1
        for ix in t.indexes + t.uniques:
            kind = ("exclusion " if "EXCLUDE" in ix else "deferrable " if "DEFERRABLE" in ix else "") + \
                ("unique " if "UNIQUE" in ix else "") + ("hash" if "hash" in ix else "brin" if "brin" in ix else
                                                           "gin" if "gin" in ix else "partial" if "WHERE" in ix else
                                                           "expression" if "((" in ix or "md5(" in ix else "btree")
            tallies["indexes"][kind] += 1
        for flag, on in (("UNLOGGED", t.unlogged), ("dropped columns", bool(t.junk)), ("FREEZE", sc.freeze),
                         ("pre-existing rows", bool(sc.npre)), ("nan_as_null=False", not sc.nan_as_null),
                         ("column added later", any(c.added_later for c in t.cols))):
            if on:
                tallies["options"][flag] += 1
    return {k: dict(v.most_common()) for k, v in tallies.items()}


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def long_mode_parser(description: str, max_rows: int) -> argparse.ArgumentParser:
    """The options the long modes of the randomized runners share (this
    one and randindex.py): which scenarios, where, and what to do on a
    failure."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100, help="scenarios to run")
    ap.add_argument("--start", type=int, default=0, help="index of the first scenario")
    ap.add_argument("--index", type=int, action="append", help="run only this scenario (repeatable)")
    ap.add_argument("--dsn", default=default_dsn())
    ap.add_argument("--server-log", default=None)
    ap.add_argument("--max-rows", type=int, default=max_rows, help="rows per scenario at most")
    ap.add_argument("--keep", action="store_true", help="keep the twin schemas of failing scenarios")
    ap.add_argument("--stop", action="store_true", help="stop at the first failure")
    ap.add_argument("--coverage", action="store_true", help="tally what the scenarios contain, and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def print_coverage(tallies: Dict[str, Dict[str, int]]) -> None:
    """Print what --coverage tallied, section by section."""
    for section, counts in tallies.items():
        print(f"{section}:")
        for k, v in counts.items():
            print(f"    {v:6d}  {k}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = long_mode_parser("zcimport against COPY on random tables and frames", 10000)
    ap.add_argument("--multi", action="store_true", help="force the multi-fault mode")
    ap.add_argument("--shrink", action="store_true", help="minimize each failing scenario")
    ap.add_argument("--include-known", action="store_true",
                    help="do not steer around the discrepancies already known (randgen.KNOWN)")
    ap.add_argument("--latin1", action="store_true",
                    help="the database's encoding is LATIN1: text holds only its characters, others are faults")
    args = ap.parse_args(argv)
    if args.include_known:
        randgen.AVOID_KNOWN = False
    if args.latin1:
        randgen.LATIN1 = True
    if args.coverage:
        print_coverage(coverage(args.seed, args.count, args.start))
        return 0
    if not args.dsn:
        ap.error("no --dsn, and neither ZC_TEST_DSN nor PGHOST is set")
    runner = Runner(args.dsn, args.server_log, keep=args.keep)
    print(f"generator {generator_fingerprint()} (scenarios replay only with the same generator); "
          f"server log: {runner.log.path or '(not readable: crashes are seen by the lost connection only)'}",
          flush=True)
    indexes = args.index if args.index else range(args.start, args.start + args.count)
    tally: Dict[str, int] = {}
    failures: List[Result] = []
    t0 = time.monotonic()
    for i in indexes:
        sc = randgen.make_scenario(args.seed, i, max_rows=args.max_rows, multi=True if args.multi else None)
        if args.verbose:
            print(sc.describe())
        res = runner.run(sc)
        tally[res.status] = tally.get(res.status, 0) + 1
        if args.verbose:
            print(f"  -> {res.status} in {res.seconds:.2f}s: zcimport {res.zc.short() if res.zc else '-'}; "
                  f"COPY {res.cp.short() if res.cp else '-'}")
        if res.status != "pass":
            failures.append(res)
            print(res.report, flush=True)
            if args.shrink and res.status in ("discrepancy", "crash"):
                small, sres = shrink(runner, sc, res)
                print("--- minimized ---")
                print(sres.report or runner.report(small, sres, "-", "-"), flush=True)
            if args.stop:
                break
        elif not args.verbose and (i - (args.index or [args.start])[0]) % 100 == 99:
            print(f"... {i + 1 - args.start} scenarios, {time.monotonic() - t0:.0f}s: {tally}", flush=True)
    runner.close()
    print(f"seed {args.seed}: {sum(tally.values())} scenarios in {time.monotonic() - t0:.1f}s: {tally}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
