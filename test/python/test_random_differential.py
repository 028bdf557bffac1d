"""A fixed-seed slice of the randomized differential test (test/python/randdiff.py).

Every scenario is a random table shape and a random frame (randgen.py),
loaded with zcimport into one twin table and with PostgreSQL's own COPY into
the other; the rows, their partitions, the audit tables written by triggers
and the sequences must agree, or both loads must fail with the same
SQLSTATE and leave nothing behind, and the server must never crash.  See
randdiff.py for what is checked and why several faults in one frame only
get a weaker check.

This slice runs in ``make test`` (about a minute on two cores).  The long
mode takes any seed and count::

    PYTHONPATH=python python3 test/python/randdiff.py --seed 123 --count 5000 --dsn "$ZC_TEST_DSN"

and ``--index N`` (with the same ``--seed``) replays one scenario; a failure
below prints that command.  docs/testing.md has more.
"""

from __future__ import annotations

import io
import os
from typing import Iterator

import psycopg
import pytest
from psycopg import sql

import randdiff
import randgen

#: make test runs the whole slice in the "latest" Python environment and a
#: quarter of it in the others (ZC_TEST_SCALE=0.25, set by test/run.sh): the
#: server side is the same in each, the client side is what differs.
SCALE = float(os.environ.get("ZC_TEST_SCALE", "1"))
SEED = 20261201
GROUPS = 8
SCENARIOS = max(GROUPS, int(200 * SCALE)) // GROUPS * GROUPS
LATIN1_SCENARIOS = max(4, int(16 * SCALE))


@pytest.fixture(scope="module")
def runner(dsn: str) -> Iterator[randdiff.Runner]:
    r = randdiff.Runner(dsn, out=io.StringIO())
    yield r
    r.close()


def test_the_generator_is_deterministic():
    a = randgen.make_scenario(SEED, 7)
    b = randgen.make_scenario(SEED, 7)
    assert a.describe() == b.describe()
    assert a.table.render() == b.table.render()
    assert repr(a.oracle_rows(a.fcols, a.n)) == repr(b.oracle_rows(b.fcols, b.n))  # (NaN != NaN)


def test_the_hash_partition_port_agrees_with_the_server(runner):
    """randgen routes rows to hash partitions with its own port of PostgreSQL's hash."""
    conn = runner.conn
    cases = [("integer", "int4", [0, 1, -1, 2**31 - 1, -2**31, 12345]),
             ("bigint", "int8", [0, 1, -1, 2**62 + 12345, -2**63, 2**63 - 1]),
             ("text", "text", ["", "alpha", "\u03a9mega", "\u4e2d", "a'b", "x" * 40])]
    with conn.transaction():
        for sqltype, base, values in cases:
            conn.execute(f"CREATE TEMP TABLE rd_hash_{base} (k {sqltype}) PARTITION BY HASH (k)")
            for r in range(3):
                conn.execute(f"CREATE TEMP TABLE rd_hash_{base}_{r} PARTITION OF rd_hash_{base} "
                             f"FOR VALUES WITH (MODULUS 3, REMAINDER {r})")
            for v in values:
                conn.execute(f"INSERT INTO rd_hash_{base} VALUES (%s)", (v,))
                got = conn.execute(f"SELECT tableoid::regclass::text FROM rd_hash_{base} WHERE k = %s",
                                   (v,)).fetchone()[0]
                assert got == f"rd_hash_{base}_{randgen.pg_hash_remainder(v, base, 3)}", (base, v)
            conn.execute(f"DROP TABLE rd_hash_{base}")


def test_the_runner_reports_a_row_that_differs(runner, monkeypatch):
    """The harness itself: a row zcimport lost must be reported, with its columns."""
    index = next(i for i in range(1000) for sc in [randgen.make_scenario(SEED, i)]
                 if not sc.faults and sc.n >= 3 and not sc.table.skip_flag and sc.where is None
                 and sc.table.root is None)
    load = randdiff._load_zcimport

    def lossy(conn, sc, schema, frame):
        n = load(conn, sc, schema, frame)
        table = sql.Identifier(schema, sc.table.name)
        conn.execute(sql.SQL("DELETE FROM {} WHERE ctid = (SELECT min(ctid) FROM {})").format(table, table))
        return n

    monkeypatch.setattr(randdiff, "_load_zcimport", lossy)
    res = runner.run(randgen.make_scenario(SEED, index))
    assert res.status == "discrepancy", res.report
    assert "COPY only" in res.report and "--seed" in res.report and "CREATE TABLE" in res.report


def test_the_server_log_check_finds_a_crash(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("LOG:  database system is ready to accept connections\n")
    watch = randdiff.ServerLog(str(log))
    watch.mark()
    assert watch.crash_lines() == []
    with open(log, "a") as f:
        f.write("LOG:  server process (PID 4242) was terminated by signal 11: Segmentation fault\n")
    assert len(watch.crash_lines()) == 1
    watch.mark()
    assert watch.crash_lines() == []


@pytest.fixture(scope="module")
def latin1_dsn(dsn: str) -> Iterator[str]:
    """A LATIN1 database with the extension, for the duration of the module."""
    import os

    name = f"zcimport_randdiff_latin1_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'")
                     .format(sql.Identifier(name)))
        other = psycopg.conninfo.make_conninfo(dsn, dbname=name)
        with psycopg.connect(other, autocommit=True) as c:
            c.execute("CREATE EXTENSION zcimport")
        yield other
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_random_scenarios_in_a_latin1_database(latin1_dsn, monkeypatch):
    """Text is converted to the server's encoding; a character LATIN1 lacks is a fault (22P05)."""
    monkeypatch.setattr(randgen, "LATIN1", True)
    r = randdiff.Runner(latin1_dsn, out=io.StringIO())
    try:
        failures = [res.report for index in range(LATIN1_SCENARIOS)
                    for res in [r.run(randgen.make_scenario(SEED + 1, index))] if res.status != "pass"]
    finally:
        r.close()
    assert not failures, f"{len(failures)} of {LATIN1_SCENARIOS} scenarios failed:\n\n" + "\n\n".join(failures)


@pytest.mark.parametrize("group", range(GROUPS))
def test_random_scenarios(runner, group):
    per = SCENARIOS // GROUPS
    failures = []
    for index in range(group * per, (group + 1) * per):
        sc = randgen.make_scenario(SEED, index)
        res = runner.run(sc)
        if res.status != "pass":
            failures.append(res.report)
    assert not failures, f"{len(failures)} of {per} scenarios failed:\n\n" + "\n\n".join(failures)
