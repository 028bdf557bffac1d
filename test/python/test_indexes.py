"""Loads into indexed tables, in transactions: hand-written cases, each against PostgreSQL's own COPY.

Each case is a scenario of test/python/randindex.py written by hand: a table
shape, the steps of a transaction, the rows of each load.  The runner plays
the steps in two twin schemas, the loads with zcimport in one and with COPY
in the other, and checks that outcomes and SQLSTATEs agree, that a failure
leaves nothing, and, after every load, that both twins hold the same rows,
that ``bt_index_check(index, true)`` (amcheck) passes on every btree index of
the zcimport twin, and that index scans and bitmap scans on it answer what a
sequential scan of the COPY twin does.  The cases also assert the expected
outcome itself (a duplicate raises 23505, an exclusion conflict 23P01, a
deferred duplicate fails the COMMIT) and, for the table of every access
method, that EXPLAIN shows each index used by its query.

The shapes cover tables created in the transaction, truncated in it (also
with rows INSERTed after the TRUNCATE, and in a savepoint rolled back), loads
in savepoints rolled back and loaded again, and appends to tables that hold
rows, with keys below, above and among theirs.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import randindex as ri
from randindex import Ix, Query, Scenario, Shape, Step, S, TABLE, make_load, plan, rng

#: a server suite: make test runs it in the first Python environment only
pytestmark = pytest.mark.server_side

T = f"{S}.\"{TABLE}\""
COLS = ["rn", "id", "k", "s", "flag", "u", "grp", "r", "p", "arr", "j", "doc", "ts", "f", "e"]
TS0 = dt.datetime(2024, 2, 28, 23, 0, 0)
WORDS = ["alpha", "beta", "gamma", "delta", "über", "東京", "heap"]
_RN = itertools.count(1)


@pytest.fixture(scope="module")
def runner(dsn: str) -> Iterator[ri.Runner]:
    with ri.scratch_database(dsn, "zcimport_indexes") as other:
        r = ri.Runner(other, out=io.StringIO())
        yield r
        r.close()


# -- building scenarios ---------------------------------------------------------


def value(c: str, i: int) -> Any:
    """Column c of row i: distinct keys for every unique index, spread values for the others."""
    return {
        "id": i * 3 + 1,
        "k": i % 50,
        "s": f"key {i:05d} é",
        "flag": i % 3 == 0,
        "u": 10_000 + i,
        "grp": i % 4,
        "r": rng(i * 10, i * 10 + 1 + i % 9),
        "p": f"({i % 40},{(i * 7) % 23 - 11})",
        "arr": "{%d,%d}" % (i % 30, (i * 7) % 31) if i % 11 else "{}",
        "j": {"a": i % 10, "tags": [WORDS[i % 4]], "b": "x" if i % 2 else "y"},
        "doc": f"{WORDS[i % 7]} {WORDS[(i * 3) % 7]} {i}",
        "ts": TS0 + dt.timedelta(minutes=7 * i),
        "f": i / 4,
        "e": f"E{i:06d}x",
    }[c]


def rows(keys: Any, cols: List[str] = COLS, **over: Callable[[int], Any]) -> List[Dict[str, Any]]:
    """One row per key i (its values from value(c, i), or from over[c](i))."""
    out = []
    for i in keys:
        r = {"rn": next(_RN)}
        for c in cols:
            if c != "rn":
                r[c] = over[c](i) if c in over else value(c, i)
        out.append(r)
    return out


def table(*ixs: Ix, cols: List[str] = COLS, coll: str = "default", parts: Optional[List[ri.Part]] = None) -> Shape:
    return Shape(list(cols), coll, list(ixs), parts=parts or [])


def index(name: str, ddl: str, am: str = "btree", **kw: Any) -> Ix:
    """CREATE INDEX name ON the table ddl (or, with constraint=True, a table constraint)."""
    if kw.pop("constraint", False):
        return Ix(kw.pop("kind", "constraint"), name, am, ddl, True, **kw)
    unique = "UNIQUE " if kw.get("enforce") == "unique" else ""
    return Ix(kw.pop("kind", "index"), name, am, f"CREATE {unique}INDEX {name} ON {T} {ddl}", **kw)


def load_step(shape: Shape, rs: List[Dict[str, Any]], guard: bool = False, **kw: Any) -> Step:
    return Step("load", make_load(shape, rs, **kw), guard=guard)


def scenario(name: str, shape: Shape, steps: List[Step], queries: Optional[List[Query]] = None) -> Scenario:
    return plan(Scenario(0, 0, name, shape, steps, queries=queries or []))


def transaction(how: str, shape: Shape, loads: List[Step], pre: Optional[List[Dict[str, Any]]] = None,
                inserted: Optional[List[Dict[str, Any]]] = None, end: str = "commit") -> List[Step]:
    """The steps of a transaction shape around the loads.

    create: BEGIN; CREATE TABLE (and its indexes); loads.
    truncate: the table holds pre (committed); BEGIN; TRUNCATE; [INSERT inserted]; loads.
    append: the table holds pre (committed); BEGIN; loads.
    savepoint: the table holds pre; BEGIN; TRUNCATE; SAVEPOINT a; loads; RELEASE a.
    subxact: BEGIN; SAVEPOINT a; CREATE TABLE; loads; RELEASE a.
    Then end: COMMIT, or ROLLBACK (right after the loads).
    """
    steps: List[Step] = []
    if how in ("truncate", "append", "savepoint"):
        steps.append(Step("create", setup=True))
        if pre:
            steps.append(Step("pre", pre, setup=True))
    steps.append(Step("begin"))
    if how == "create":
        steps.append(Step("create"))
    elif how == "subxact":
        steps += [Step("savepoint", "a"), Step("create")]
    elif how in ("truncate", "savepoint"):
        steps.append(Step("truncate"))
        if inserted:
            steps.append(Step("insert", inserted))
        if how == "savepoint":
            steps.append(Step("savepoint", "a"))
    steps += loads
    if how in ("savepoint", "subxact") and end == "commit":
        steps.append(Step("release", "a"))
    steps.append(Step(end))  # after a failed load: ROLLBACK straight away (the transaction is aborted)
    return steps


def run(runner: ri.Runner, sc: Scenario) -> ri.Result:
    res = runner.run(sc)
    if res.status == "skip":
        pytest.skip("; ".join(res.reasons))
    assert res.status == "pass", res.report
    return res


def outcome(res: ri.Result, sc: Scenario, op: str, nth: int = 0) -> ri.Out:
    """The zcimport twin's outcome of the nth step op (the runner checked COPY's is the same)."""
    i = [k for k, st in enumerate(sc.steps) if st.op == op][nth]
    return res.outcomes[i][0]


SHAPES = ["create", "truncate", "append", "savepoint", "subxact"]
#: make test runs every case in the "latest" Python environment; in the others (ZC_TEST_SCALE < 1,
#: the same server code under another client) the table of every access method in two shapes only
AM_SHAPES = SHAPES if float(os.environ.get("ZC_TEST_SCALE", "1")) >= 1 else ["create", "append"]


# -- every access method, and EXPLAIN ---------------------------------------------

#: Tables whose indexes each have a query only that index can answer: (indexes, queries).
AM_SETS: Dict[str, Any] = {
    "btree": (
        [index("ix_pk", "PRIMARY KEY (id)", constraint=True, cols=("id",), enforce="unique", kind="pk"),
         index("ix_ks", "UNIQUE (k, s)", constraint=True, cols=("k", "s"), enforce="unique"),
         index("ix_multi", "(grp, ts DESC, u)"),
         index("ix_lower", "(lower(e))", cols=("e",), enforce="unique", lower=True),
         index("ix_partial", "(u) WHERE flag"),
         index("ix_c", '(s COLLATE "C")'),
         index("ix_f", "(f DESC NULLS FIRST) WITH (deduplicate_items = off)")],
        [Query("id = 301", "ix_pk"), Query("id BETWEEN 100 AND 400", "ix_pk"),
         Query("k = 7 AND s = 'key 00107 é'", "ix_ks"), Query("grp = 2 AND ts < '2024-03-01'", "ix_multi"),
         Query("lower(e) = 'e000042x'", "ix_lower"), Query("flag AND u BETWEEN 10100 AND 10200", "ix_partial"),
         Query("s COLLATE \"C\" > 'key 02990'", "ix_c"), Query("f > 700", "ix_f")]),
    "hash, brin, gin": (
        [index("ix_pk", "PRIMARY KEY (id)", constraint=True, cols=("id",), enforce="unique", kind="pk"),
         index("ix_hash", "USING hash (s)", am="hash"),
         index("ix_brin", "USING brin (ts) WITH (pages_per_range = 2)", am="brin"),
         index("ix_gin_arr", "USING gin (arr)", am="gin"),
         index("ix_gin_j", "USING gin (j jsonb_path_ops) WITH (fastupdate = off)", am="gin"),
         index("ix_gin_tsv", "USING gin (to_tsvector('simple', doc))", am="gin")],
        [Query("s = 'key 00042 é'", "ix_hash"),
         Query("ts BETWEEN '2024-02-29 10:00' AND '2024-02-29 12:00'", "ix_brin"),
         Query("arr @> ARRAY[17]", "ix_gin_arr"), Query("arr && ARRAY[3, 29]", "ix_gin_arr"),
         Query("j @> '{\"a\": 3, \"tags\": [\"gamma\"]}'", "ix_gin_j"),
         Query("to_tsvector('simple', doc) @@ plainto_tsquery('simple', 'über heap')", "ix_gin_tsv")]),
    "gist, spgist": (
        [index("ix_gist_r", "USING gist (r)", am="gist"),
         index("ix_gist_p", "USING gist (p)", am="gist"),
         index("ix_gist_k", "USING gist (k)", am="gist"),
         index("ix_sp_s", "USING spgist (s)", am="spgist"),
         index("ix_sp_ts", "USING spgist (doc)", am="spgist")],
        [Query("r && int4range(995, 1012)", "ix_gist_r"), Query("r @> 2003", "ix_gist_r"),
         Query("p <@ box '((3,-2),(8,4))'", "ix_gist_p"), Query("k = 13", "ix_gist_k"),
         Query("s ^@ 'key 0001'", "ix_sp_s"), Query("doc = 'alpha delta 7'", "ix_sp_ts")]),
    "spgist, exclusion": (
        [index("ix_excl", "EXCLUDE USING gist (grp WITH =, r WITH &&)", am="gist", constraint=True,
               cols=("grp", "r"), enforce="exclusion", kind="excl"),
         index("ix_sp_p", "USING spgist (p)", am="spgist"),
         index("ix_u", "UNIQUE (u) DEFERRABLE INITIALLY IMMEDIATE", constraint=True, cols=("u",),
               enforce="unique", deferrable=True, kind="def_u")],
        [Query("grp = 1 AND r && int4range(400, 460)", "ix_excl"), Query("p ~= point '(5,-6)'", "ix_sp_p"),
         Query("p <@ box '((0,0),(2,2))'", "ix_sp_p"), Query("u = 10500", "ix_u")]),
}


@pytest.mark.parametrize("how", AM_SHAPES)
@pytest.mark.parametrize("am_set", list(AM_SETS))
def test_every_access_method(runner, am_set, how):
    """2,100 rows (and 1,100 more in a second load) into indexes of every access method; each index
    answers its query as a sequential scan does, and EXPLAIN shows the query used it."""
    ixs, queries = AM_SETS[am_set]
    shape = table(*ixs)
    pre = rows(range(4000, 4600)) if how in ("truncate", "append", "savepoint") else None
    order = list(range(2100))[::-1] if how == "append" else list(range(2100))
    first = load_step(shape, rows(order), way="copy")
    second = load_step(shape, rows(range(5000, 6100)), way="raw", batch_rows=1024)
    sc = scenario(f"{am_set} / {how}", shape, transaction(how, shape, [first, second], pre=pre), queries)
    res = run(runner, sc)
    assert outcome(res, sc, "load").count == 2100
    assert outcome(res, sc, "load", 1).count == 1100
    assert res.queries_run and res.checks >= 3
    missed = sorted({q.uses for q in queries} - res.hits)
    assert not missed, f"EXPLAIN shows no query using {missed}: {res.used}"


def test_explain_shows_index_scans_on_a_table_created_in_the_transaction(runner):
    """A hand-checked plan: after the load, still in the transaction, the query plans name the indexes."""
    ixs, queries = AM_SETS["hash, brin, gin"]
    shape = table(*ixs)
    sc = scenario("explain", shape, transaction("create", shape, [load_step(shape, rows(range(2000)))]), queries)
    res = run(runner, sc)
    assert {"ix_hash", "ix_brin", "ix_gin_arr", "ix_gin_j", "ix_gin_tsv"} <= res.hits, res.used


# -- duplicates ----------------------------------------------------------------------

PK = index("ix_pk", "PRIMARY KEY (id)", constraint=True, cols=("id",), enforce="unique", kind="pk")
UQ_S = index("ix_s", "UNIQUE (s)", constraint=True, cols=("s",), enforce="unique")
GIN = index("ix_gin", "USING gin (arr)", am="gin")


@pytest.mark.parametrize("how", SHAPES)
@pytest.mark.parametrize("where", ["adjacent", "same chunk", "far apart"])
def test_a_duplicate_within_the_load_fails_with_23505(runner, how, where):
    shape = table(PK, UQ_S, GIN)
    rs = rows(range(3000))
    j = {"adjacent": 11, "same chunk": 900, "far apart": 2999}[where]
    rs[j]["id"] = rs[10]["id"]
    pre = rows(range(5000, 5100)) if how in ("truncate", "append", "savepoint") else None
    sc = scenario("dup in load", shape, transaction(how, shape, [load_step(shape, rs)], pre=pre, end="rollback"))
    res = run(runner, sc)
    assert outcome(res, sc, "load").sqlstate == "23505"


@pytest.mark.parametrize("keys", ["below", "above", "among"])
def test_a_duplicate_of_an_existing_row_fails_with_23505(runner, keys):
    shape = table(PK, UQ_S, GIN)
    pre = rows(range(1000, 2000, 2))
    load = {"below": range(0, 900), "above": range(2000, 3000), "among": range(1001, 2001, 2)}[keys]
    rs = rows(load)
    rs[-5]["s"] = pre[17]["s"]  # a duplicate under UNIQUE (s) only
    steps = transaction("append", shape, [load_step(shape, rs)], pre=pre)
    del steps[-1]  # the generator would end an aborted transaction with ROLLBACK
    steps.append(Step("rollback"))
    sc = scenario("dup existing", shape, steps)
    res = run(runner, sc)
    assert outcome(res, sc, "load").sqlstate == "23505"


@pytest.mark.parametrize("keys", ["below", "above", "among"])
def test_appends_to_a_table_that_holds_rows(runner, keys):
    shape = table(PK, UQ_S, GIN, index("ix_bt", "(k, s)"))
    pre = rows(range(1000, 3000, 2))
    load = {"below": range(0, 900), "above": range(3000, 5000), "among": range(1001, 3001, 2)}[keys]
    sc = scenario("append", shape, transaction("append", shape, [load_step(shape, rows(load)),
                                                                 load_step(shape, rows(range(6000, 6100)))],
                                               pre=pre),
                  [Query("id BETWEEN 2990 AND 3500", "ix_pk"), Query("k = 3 AND s > 'key 01'", "ix_bt")])
    run(runner, sc)


def test_truncate_then_inserted_rows_then_the_load(runner):
    """Keys of truncated rows load again; a key of a row INSERTed after the TRUNCATE is a duplicate."""
    shape = table(PK, UQ_S, GIN)
    pre = rows(range(500))
    ok = scenario("truncate insert", shape, transaction("truncate", shape, [load_step(shape, rows(range(100, 600)))],
                                                       pre=pre, inserted=rows(range(700, 720))))
    run(runner, ok)
    bad_rows = rows(range(100, 600))
    bad_rows[250]["id"] = value("id", 705)
    bad = scenario("truncate insert dup", shape,
                   transaction("truncate", shape, [load_step(shape, bad_rows)], pre=pre,
                               inserted=rows(range(700, 720)))[:-1] + [Step("rollback")])
    res = run(runner, bad)
    assert outcome(res, bad, "load").sqlstate == "23505"


def test_a_load_rolled_back_to_its_savepoint_loads_again(runner):
    """Loaded, rolled back (to a savepoint of the transaction that created the table), loaded again."""
    shape = table(PK, UQ_S, GIN, index("ix_brin", "USING brin (id)", am="brin"))
    first = rows(range(2500))
    steps = [Step("begin"), Step("create"), Step("savepoint", "a"), load_step(shape, first),
             load_step(shape, rows(range(3000, 3100))), Step("rollback_to", "a"),
             load_step(shape, [dict(r) for r in first], way="raw"), Step("commit")]
    sc = scenario("savepoint reload", shape, steps, [Query("id = 31", "ix_pk"), Query("id > 7000", "ix_brin")])
    res = run(runner, sc)
    assert outcome(res, sc, "load", 2).count == 2500


def test_a_truncate_rolled_back_to_its_savepoint_brings_the_old_indexes_back(runner):
    """TRUNCATE and a load in a savepoint, rolled back: the old rows are back, and so are their index
    entries (a key of theirs is a duplicate again)."""
    shape = table(PK, UQ_S, GIN)
    pre = rows(range(1000))
    again = rows(range(990, 1100))  # ten keys of the old rows
    steps = [Step("create", setup=True), Step("pre", pre, setup=True), Step("begin"), Step("savepoint", "a"),
             Step("truncate"), load_step(shape, rows(range(0, 1500))), Step("rollback_to", "a"),
             load_step(shape, again, guard=True), load_step(shape, rows(range(1000, 1100))), Step("commit")]
    sc = scenario("truncate in savepoint", shape, steps, [Query("id = 2998", "ix_pk")])
    res = run(runner, sc)
    assert outcome(res, sc, "load", 1).sqlstate == "23505"
    assert outcome(res, sc, "load", 2).count == 100


def test_truncate_outside_and_the_load_in_a_savepoint(runner):
    shape = table(PK, UQ_S, GIN)
    pre = rows(range(800))
    steps = [Step("create", setup=True), Step("pre", pre, setup=True), Step("begin"), Step("truncate"),
             Step("savepoint", "a"), load_step(shape, rows(range(400, 1200))), Step("rollback_to", "a"),
             load_step(shape, rows(range(0, 700))), Step("release", "a"),
             load_step(shape, rows(range(700, 900))), Step("commit")]
    run(runner, scenario("truncate outside", shape, steps, [Query("id BETWEEN 2000 AND 2100", "ix_pk")]))


def test_two_loads_in_the_transaction_that_created_the_table(runner):
    shape = table(PK, UQ_S, GIN, index("ix_k", "(k)"))
    steps = [Step("begin"), Step("create"), load_step(shape, rows(range(0, 4000, 2))),
             load_step(shape, rows(range(1, 4000, 2)), way="libpq"), Step("commit")]
    run(runner, scenario("two loads", shape, steps, [Query("k = 7", "ix_k"), Query("id < 40", "ix_pk")]))


def test_indexes_created_after_the_first_load(runner):
    late = index("ix_late", "(lower(e))", cols=("e",), enforce="unique", lower=True)
    late.late = True
    shape = table(PK, late)
    steps = [Step("begin"), Step("create"), load_step(shape, rows(range(1000))), Step("create_index"),
             load_step(shape, rows(range(1000, 2000))), Step("commit")]
    run(runner, scenario("late index", shape, steps, [Query("lower(e) = 'e001500x'", "ix_late")]))


def test_an_autocommit_load_with_a_duplicate_leaves_nothing(runner):
    shape = table(PK, UQ_S)
    rs = rows(range(2000))
    rs[1500]["s"] = rs[3]["s"]
    steps = [Step("create", setup=True), Step("pre", rows(range(5000, 5010)), setup=True),
             Step("autoload", make_load(shape, rows(range(3000, 3500)))), Step("autoload", make_load(shape, rs))]
    sc = scenario("autocommit", shape, steps)
    res = run(runner, sc)
    assert outcome(res, sc, "autoload", 1).sqlstate == "23505"


# -- NULL keys ---------------------------------------------------------------------------


def test_null_keys_are_not_duplicates(runner):
    shape = table(index("ix_id", "(id)", enforce="unique", cols=("id",)),
                  index("ix_ks", "UNIQUE (k, s)", constraint=True, cols=("k", "s"), enforce="unique"))
    rs = rows(range(3000), id=lambda i: None if i % 3 == 0 else i, k=lambda i: None if i % 5 == 0 else i % 7,
              s=lambda i: None if i % 7 == 0 else f"s{i}")
    pre = rows(range(5000, 5100), id=lambda i: None)
    sc = scenario("nulls", shape, transaction("append", shape, [load_step(shape, rs)], pre=pre),
                  [Query("id IS NULL", "ix_id"), Query("k IS NULL AND s = 's1'", "ix_ks")])
    run(runner, sc)


@pytest.mark.parametrize("how", ["create", "append"])
def test_nulls_not_distinct(runner, how):
    """UNIQUE NULLS NOT DISTINCT: a second NULL key is a duplicate (in the load, or against a row)."""
    shape = table(index("ix_id", "UNIQUE NULLS NOT DISTINCT (id)", constraint=True, cols=("id",),
                        enforce="unique", nnd=True))
    rs = rows(range(2000))
    rs[1200]["id"] = None
    pre = None
    if how == "create":
        rs[40]["id"] = None
    else:
        pre = rows([9000], id=lambda i: None)
    sc = scenario("nnd", shape, transaction(how, shape, [load_step(shape, rs)], pre=pre, end="rollback"))
    res = run(runner, sc)
    assert outcome(res, sc, "load").sqlstate == "23505"


# -- exclusion constraints ------------------------------------------------------------------

EXCL = index("ix_excl", "EXCLUDE USING gist (grp WITH =, r WITH &&) WHERE (grp <> 0)", am="gist", constraint=True,
             cols=("grp", "r"), enforce="exclusion", kind="excl", partial="grp")


@pytest.mark.parametrize("how", SHAPES)
def test_an_exclusion_conflict_fails_with_23P01(runner, how):
    shape = table(EXCL, PK)
    rs = rows(range(2500))
    rs[2000]["grp"], rs[2000]["r"] = rs[7]["grp"] or 1, rng(rs[7]["r"].lo + 1, rs[7]["r"].lo + 3)
    rs[7]["grp"] = rs[2000]["grp"]
    pre = rows(range(3000, 3100)) if how in ("truncate", "append", "savepoint") else None
    sc = scenario("exclusion", shape, transaction(how, shape, [load_step(shape, rs)], pre=pre, end="rollback"))
    res = run(runner, sc)
    assert outcome(res, sc, "load").sqlstate == "23P01"


def test_overlaps_outside_the_exclusion_load(runner):
    """Overlapping ranges in different groups, in the group its predicate exempts, and empty ranges."""
    shape = table(EXCL, PK)
    rs = rows(range(2000), grp=lambda i: 0 if i % 10 == 0 else 1 + i % 3,
              r=lambda i: rng(0, 100) if i % 10 == 0 else ri.EMPTY if i % 10 == 5 else rng(i * 10, i * 10 + 5))
    rs.append(dict(rows([5000])[0], grp=2, r=rs[1]["r"]))  # rs[1] is in group 2: it overlaps
    rs[-1]["grp"] = 3 if rs[1]["grp"] != 3 else 1  # another group: no conflict
    sc = scenario("exclusion ok", shape, transaction("create", shape, [load_step(shape, rs)]),
                  [Query("grp = 2 AND r && int4range(100, 200)", "ix_excl")])
    run(runner, sc)


def test_an_exclusion_conflict_with_an_existing_row(runner):
    shape = table(EXCL, PK)
    pre = rows(range(100))
    rs = rows(range(200, 1200))
    rs[500]["grp"], rs[500]["r"] = pre[50]["grp"] or 1, rng(pre[50]["r"].lo, pre[50]["r"].lo + 1)
    pre[50]["grp"] = rs[500]["grp"]
    steps = transaction("append", shape, [load_step(shape, rs)], pre=pre)[:-1] + [Step("rollback")]
    res = run(runner, sc := scenario("exclusion existing", shape, steps))
    assert outcome(res, sc, "load").sqlstate == "23P01"


# -- deferrable constraints -------------------------------------------------------------------


def deferrable(initially: str) -> Ix:
    return index("ix_u", f"UNIQUE (u) DEFERRABLE INITIALLY {initially}", constraint=True, cols=("u",),
                 enforce="unique", deferrable=True, deferred=initially == "DEFERRED", kind="def_u")


def dup_u(n: int = 1500) -> List[Dict[str, Any]]:
    rs = rows(range(n))
    rs[n - 1]["u"] = rs[2]["u"]
    return rs


@pytest.mark.parametrize("how", ["create", "truncate", "append"])
def test_a_deferred_duplicate_fails_the_commit(runner, how):
    shape = table(deferrable("DEFERRED"), PK)
    pre = rows(range(5000, 5050)) if how != "create" else None
    sc = scenario("deferred", shape, transaction(how, shape, [load_step(shape, dup_u())], pre=pre),
                  [Query("u = 10002", "ix_u")])
    res = run(runner, sc)
    assert outcome(res, sc, "load").ok
    assert outcome(res, sc, "commit").sqlstate == "23505"


def test_a_deferrable_initially_immediate_duplicate_fails_the_load(runner):
    shape = table(deferrable("IMMEDIATE"), PK)
    steps = [Step("begin"), Step("create"), load_step(shape, dup_u()), Step("rollback")]
    res = run(runner, sc := scenario("immediate", shape, steps))
    assert outcome(res, sc, "load").sqlstate == "23505"


def test_set_constraints_deferred_then_immediate(runner):
    shape = table(deferrable("IMMEDIATE"), PK)
    steps = [Step("create", setup=True), Step("begin"), Step("set_constraints", "DEFERRED"),
             load_step(shape, dup_u()), Step("set_constraints", "IMMEDIATE"), Step("rollback")]
    res = run(runner, sc := scenario("set constraints", shape, steps))
    assert outcome(res, sc, "load").ok
    assert outcome(res, sc, "set_constraints", 1).sqlstate == "23505"


def test_a_deferred_duplicate_deleted_before_the_commit(runner):
    shape = table(deferrable("DEFERRED"), PK)
    rs = dup_u()
    steps = [Step("begin"), Step("create"), load_step(shape, rs), Step("delete", {rs[-1]["rn"]}),
             Step("set_constraints", "IMMEDIATE"), Step("commit")]
    run(runner, scenario("deferred fixed", shape, steps, [Query("u BETWEEN 10000 AND 10010", "ix_u")]))


def test_a_deferred_duplicate_in_a_savepoint_rolled_back(runner):
    shape = table(deferrable("DEFERRED"), PK)
    steps = [Step("begin"), Step("create"), load_step(shape, rows(range(100))), Step("savepoint", "a"),
             load_step(shape, dup_u(1000)[100:]), Step("rollback_to", "a"), Step("commit")]
    run(runner, scenario("deferred rolled back", shape, steps))


# -- collations and float keys ----------------------------------------------------------------


@pytest.mark.parametrize("coll", ["default", "C", "en-x-icu", "sv-x-icu", "ci"])
def test_text_keys_in_a_collation(runner, coll):
    """Unique and plain text keys under a collation; ranges answered in the column's and in "C" order."""
    shape = table(index("ix_s", "UNIQUE (s)", constraint=True, cols=("s",), enforce="unique", ci=coll == "ci"),
                  index("ix_sc", '(s COLLATE "C", k)'), index("ix_hash", "USING hash (s)", am="hash"), cols=COLS,
                  coll=coll)
    letters = ["a", "B", "ä", "z", "Å", "o", "Ö", "1", " ", "-", "é", "E"] if coll != "ci" else list("aBzOe1")
    words = [f"{x}{y}{i}" for i, (x, y) in enumerate(itertools.product(letters, letters))]
    rs = rows(range(len(words)), s=lambda i: words[i])
    sc = scenario(f"collation {coll}", shape, transaction("create", shape, [load_step(shape, rs)]),
                  [Query("s > 'a' AND s < 'p'", "ix_s"), Query("s COLLATE \"C\" >= 'Ö'", "ix_sc"),
                   Query(f"s = {ri.ql(words[5].upper() if coll == 'ci' else words[5])}", "ix_hash")])
    run(runner, sc)


def test_a_case_insensitive_duplicate(runner):
    """Under a nondeterministic collation 'Key42' = 'kEY42': a duplicate, though the bytes differ."""
    shape = table(index("ix_s", "UNIQUE (s)", constraint=True, cols=("s",), enforce="unique", ci=True), coll="ci")
    rs = rows(range(1500), s=lambda i: f"Key{i}")
    rs[1400]["s"] = "kEY42"
    res = run(runner, sc := scenario("ci dup", shape, [Step("begin"), Step("create"), load_step(shape, rs),
                                                       Step("rollback")]))
    assert outcome(res, sc, "load").sqlstate == "23505"


@pytest.mark.parametrize("pair", ["zero", "nan"])
def test_float_keys_zero_and_minus_zero_nan_and_nan(runner, pair):
    shape = table(index("ix_f", "(f)", cols=("f",), enforce="unique"))
    rs = rows(range(1, 1200))
    if pair == "zero":
        rs[5]["f"], rs[900]["f"] = 0.0, -0.0
    else:
        rs[5]["f"], rs[900]["f"] = float("nan"), float("nan")
    steps = [Step("begin"), Step("create"), load_step(shape, rs, nan_as_null=False), Step("rollback")]
    res = run(runner, sc := scenario("float keys", shape, steps))
    assert outcome(res, sc, "load").sqlstate == "23505"


# -- partitioned tables, FREEZE ----------------------------------------------------------------

PARTS = [ri.Part("t_p1", "FOR VALUES FROM (MINVALUE) TO (1000)", None, 1000),
         ri.Part("t_p2", "FOR VALUES FROM (1000) TO (5000)", 1000, 5000),
         ri.Part("t_p3", "FOR VALUES FROM (5000) TO (MAXVALUE)", 5000, None)]


@pytest.mark.parametrize("how", ["create", "truncate", "subxact"])
def test_a_partitioned_table_with_indexes(runner, how):
    shape = table(PK, GIN, index("ix_brin", "USING brin (ts)", am="brin"), index("ix_k", "(k, s)"), parts=PARTS)
    through_parent = load_step(shape, rows(range(3000)))
    into_partition = load_step(shape, rows(range(3400, 3366, -1)), target="t_p3")  # ids 10201..10102: t_p3
    steps = transaction(how, shape, [through_parent, into_partition],
                        pre=rows(range(4000, 4100)) if how == "truncate" else None)
    sc = scenario("partitioned", shape, steps, [Query("id BETWEEN 900 AND 1200", "ix_pk"),
                                                Query("arr @> ARRAY[5]", "ix_gin"), Query("k = 3", "ix_k")])
    res = run(runner, sc)
    assert {"ix_pk", "ix_gin", "ix_k"} <= res.hits, res.used


def test_a_duplicate_in_a_partition(runner):
    shape = table(PK, GIN, parts=PARTS)
    rs = rows(range(3000))
    rs[2500]["id"] = rs[600]["id"]
    steps = [Step("begin"), Step("create"), load_step(shape, rs), Step("rollback")]
    res = run(runner, sc := scenario("partition dup", shape, steps))
    assert outcome(res, sc, "load").sqlstate == "23505"


def test_freeze_where_copy_allows_it_and_where_it_does_not(runner):
    shape = table(PK, GIN)
    steps = [Step("create", setup=True), Step("pre", rows(range(10)), setup=True), Step("begin"),
             Step("truncate"), load_step(shape, rows(range(1000)), freeze=True),
             Step("savepoint", "a"), load_step(shape, rows(range(1000, 1100)), freeze=True),
             Step("rollback_to", "a"), Step("commit")]
    res = run(runner, sc := scenario("freeze", shape, steps))
    assert outcome(res, sc, "load").ok
    assert outcome(res, sc, "load", 1).sqlstate == "55000"


# -- an invalid index ------------------------------------------------------------------------


def test_an_invalid_index_is_left_alone_by_an_append(runner):
    """A failed CREATE INDEX CONCURRENTLY leaves an index neither valid nor ready (its expression divides
    by zero on every row): appends must not insert into it."""
    shape = table(PK, UQ_S, GIN)
    steps = [Step("create", setup=True), Step("pre", rows(range(100)), setup=True),
             Step("invalid_index", setup=True), Step("begin"), load_step(shape, rows(range(100, 2200))),
             Step("commit"), Step("autoload", make_load(shape, rows(range(3000, 3100))))]
    res = run(runner, sc := scenario("invalid index", shape, steps, [Query("id > 6000", "ix_pk")]))
    assert outcome(res, sc, "load").count == 2100


def test_a_truncate_makes_an_invalid_index_valid_again(runner):
    """TRUNCATE rebuilds every index, the invalid one too, which then takes (and fails on) every row: in
    both twins alike, and a ROLLBACK TO the savepoint before the TRUNCATE brings the invalid one back."""
    shape = table(PK, UQ_S)
    steps = [Step("create", setup=True), Step("pre", rows(range(100)), setup=True),
             Step("invalid_index", setup=True), Step("begin"), Step("savepoint", "a"), Step("truncate"),
             load_step(shape, rows(range(100, 1200)), guard=True), Step("rollback_to", "a"),
             load_step(shape, rows(range(100, 1200))), Step("commit")]
    sc = scenario("truncate revalidates", shape, steps)
    sc.steps[6].expect = ri.Expect(False, ("22012",))  # the model knows nothing of the invalid index
    res = run(runner, sc)
    assert outcome(res, sc, "load").sqlstate == "22012"
    assert outcome(res, sc, "load", 1).count == 1100
