"""A fixed-seed slice of the randomized differential test of indexes and transactions
(test/python/randindex.py).

Every scenario is a random table with 2 to 7 indexes of every access method
(unique, primary key, multi-column, expression, partial, collated, hash,
BRIN, GIN, GiST, SP-GiST, exclusion and deferrable constraints, partitioned
tables), a random transaction around the loads (created or truncated in the
transaction, savepoints rolled back and loaded again, appends to tables that
hold rows) and, now and then, duplicates and conflicts.  Each step runs in
two twin schemas: the loads with zcimport in one and with PostgreSQL's own
COPY in the other.  Outcomes and SQLSTATEs must agree, a failure must leave
nothing, and after every load both twins hold the same rows, amcheck's
``bt_index_check(index, true)`` passes on the zcimport twin's btree indexes,
and index scans on it answer what a sequential scan of the COPY twin does.

This slice runs in ``make test``, in a database of its own (with amcheck and
btree_gist).  The long mode takes any seed and count::

    PYTHONPATH=python python3 test/python/randindex.py --seed 123 --count 2000 --dsn "$ZC_TEST_DSN"

and ``--index N`` (with the same ``--seed``) replays one scenario; a failure
below prints that command.  docs/testing.md has more.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from typing import Iterator

import pytest
from psycopg import sql

import randindex

#: a server suite: make test runs it in the first Python environment only
pytestmark = pytest.mark.server_side

#: make test runs the whole slice in the "latest" Python environment and a
#: quarter of it in the others (ZC_TEST_SCALE=0.25, set by test/run.sh).
SCALE = float(os.environ.get("ZC_TEST_SCALE", "1"))
SEED = 20261215
GROUPS = 8
SCENARIOS = max(GROUPS, int(160 * SCALE)) // GROUPS * GROUPS

#: what the groups saw, for the last test: access method -> (indexes, indexes a query used)
SEEN: Counter = Counter()


@pytest.fixture(scope="module")
def index_dsn(dsn: str) -> Iterator[str]:
    with randindex.scratch_database(dsn, "zcimport_randindex") as other:
        yield other


@pytest.fixture(scope="module")
def runner(index_dsn: str) -> Iterator[randindex.Runner]:
    r = randindex.Runner(index_dsn, out=io.StringIO())
    yield r
    r.close()


def test_the_generator_is_deterministic():
    for index in (3, 11):
        a = randindex.make_scenario(SEED, index)
        b = randindex.make_scenario(SEED, index)
        assert a.describe() == b.describe()
        assert a.shape.render() == b.shape.render()
        assert [q.where for q in a.queries] == [q.where for q in b.queries]
        assert [ld.oracle_rows() for ld in a.loads] == [ld.oracle_rows() for ld in b.loads]


def test_the_model_knows_the_injected_faults():
    """A load with an injected duplicate or conflict is expected to fail (or, deferred, its COMMIT)."""
    seen = 0
    for index in range(100):
        sc = randindex.make_scenario(SEED, index)
        for st in sc.steps:
            if st.op == "load" and st.arg.faults and not st.arg.freeze:
                later = sc.steps[sc.steps.index(st):]
                deferred = any(sc.shape.ix(f.ix).deferrable for f in st.arg.faults)
                if not deferred:
                    assert not st.expect.ok, sc.describe()
                    assert set(st.expect.states) <= {"23505", "23P01", "23502"}, sc.describe()
                elif st.expect.ok:
                    # a deferred duplicate: the transaction's end or SET CONSTRAINTS must catch it,
                    # unless a DELETE or a ROLLBACK (TO) takes it away first
                    assert any(s.op in ("commit", "set_constraints", "rollback", "rollback_to", "delete", "autoload")
                               for s in later), sc.describe()
                seen += 1
    assert seen > 10


def test_the_runner_reports_a_lost_row(runner, monkeypatch):
    """The harness itself: a row zcimport lost must be reported."""
    index = next(i for i in range(200) for sc in [randindex.make_scenario(SEED, i)]
                 if not sc.faults and sc.template == "append" and any(len(ld.rows) > 3 for ld in sc.loads)
                 and not sc.shape.needs_icu)
    load = randindex.Runner.load

    def lossy(self, conn, twin, schema, ld):
        n = load(self, conn, twin, schema, ld)
        if twin == "zcimport":
            t = sql.Identifier(schema, randindex.TABLE)
            conn.execute(sql.SQL("DELETE FROM {} WHERE ctid = (SELECT min(ctid) FROM {})").format(t, t))
        return n

    monkeypatch.setattr(randindex.Runner, "load", lossy)
    res = runner.run(randindex.make_scenario(SEED, index))
    assert res.status == "discrepancy", res.report
    assert "different rows" in res.report and "--seed" in res.report and "CREATE TABLE" in res.report


def test_the_runner_reports_an_index_scan_that_answers_wrong(runner, monkeypatch):
    """The harness itself: an index answer with a row too many must be reported, with the query."""
    index = next(i for i in range(200) for sc in [randindex.make_scenario(SEED, i)]
                 if not sc.faults and any(len(ld.rows) > 50 for ld in sc.loads) and not sc.shape.needs_icu
                 and sc.steps[-1].op == "commit")
    answers = randindex.Runner._answers

    def forgetful(self, conn, schema, queries, mode, explain):
        got, used = answers(self, conn, schema, queries, mode, explain)
        if schema.startswith("riz_") and mode == "index":
            got = [g + ["0"] for g in got]  # a row no index holds
        return got, used

    monkeypatch.setattr(randindex.Runner, "_answers", forgetful)
    res = runner.run(randindex.make_scenario(SEED, index))
    assert res.status == "discrepancy", res.report
    assert "with index scans on the zcimport twin does not answer" in res.report


@pytest.mark.parametrize("group", range(GROUPS))
def test_random_scenarios(runner, group):
    per = SCENARIOS // GROUPS
    failures = []
    for index in range(group * per, (group + 1) * per):
        sc = randindex.make_scenario(SEED, index)
        res = runner.run(sc)
        if res.status not in ("pass", "skip"):
            failures.append(res.report)
        if res.queries_run:
            for ix in sc.shape.indexes:
                SEEN[(ix.am, "all")] += 1
                SEEN[(ix.am, "used")] += ix.name in res.hits
    assert not failures, f"{len(failures)} of {per} scenarios failed:\n\n" + "\n\n".join(failures)


def test_the_queries_used_every_access_method():
    """Not vacuous: over the slice, EXPLAIN showed queries using indexes of every access method."""
    if sum(SEEN.values()) == 0:
        pytest.skip("the random groups did not run")
    ams = {am for am, _ in SEEN}
    assert {"btree", "hash", "gin", "gist", "spgist", "brin"} <= ams or SCALE < 1, SEEN
    for am in ams:
        assert SEEN[(am, "used")] > 0, (am, SEEN)
    assert SEEN[("btree", "used")] >= SEEN[("btree", "all")] // 2, SEEN
