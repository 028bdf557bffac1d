"""The randomized differential test of loads into indexed tables, in transactions.

test/python/randdiff.py draws random tables and frames and compares one load
with zcimport against one load with PostgreSQL's own COPY.  This module
(generator, runner and command line in one) does the same for what the
server's insert path does with *indexes* and *transactions*: bulk index
builds for tables created or truncated in the loading transaction, key-ordered
index maintenance for appends, unique, exclusion and deferrable checks.
A scenario is a pure function of ``(seed, index)`` (:func:`make_scenario`).

**A scenario** is

- a *table shape* (:class:`Shape`): the columns a set of indexes needs
  (``id bigint``, ``k integer``, ``s text`` in a collation drawn from the
  default, "C", ICU ``en``/``sv``/``und`` and a nondeterministic
  case-insensitive ICU collation, ``flag boolean``, ``u integer``, ``grp
  smallint``, ``r int4range``, ``p point``, ``arr integer[]``, ``j jsonb``,
  ``doc text``, ``ts timestamp``, ``f float8``, ``e text``, a constant default
  and sometimes a ``bigserial``), and 2 to 7 indexes drawn from
  :data:`KINDS`: primary keys, unique constraints and indexes (with NULLS
  NOT DISTINCT, multi-column, on a collated text key, on ``float8`` where 0
  and -0 and NaN and NaN are duplicates, on an expression, partial),
  deferrable unique constraints (INITIALLY DEFERRED and IMMEDIATE),
  exclusion constraints ``EXCLUDE USING gist (grp WITH =, r WITH &&)``
  (partial, deferrable), btree (multi-column, DESC, INCLUDE, another
  collation, ``text_pattern_ops``, ``deduplicate_items = off``), expression,
  partial, hash, BRIN, GIN (int array, jsonb, jsonb_path_ops, a tsvector
  expression, with and without fastupdate), GiST (range, point, btree_gist on
  an integer) and SP-GiST (point, text, range) indexes; now and then a
  partitioned table (range on ``id``, indexes on the parent), an UNLOGGED
  table or a no-op BEFORE ROW trigger;
- a *transaction shape* (:data:`TEMPLATES`): an append to a table that holds
  committed rows (keys interleaved with the load's, all above, all below or
  all inside a gap of them; after a committed DELETE and VACUUM, reusing the
  deleted keys); a table created in the transaction; a table truncated in it
  (also with rows INSERTed after the TRUNCATE); loads in a savepoint rolled
  back and then loaded again; TRUNCATE outside and the load inside a
  savepoint; a table created, or truncated, in a savepoint; a load per
  autocommit statement; two loads in one transaction; ``SET CONSTRAINTS``;
  indexes created after a load; COMMIT or ROLLBACK at the end.  Loads go
  through ``copy_dataframe`` (over the socket or through libpq), a raw
  ``COPY ... (FORMAT zcimport)`` of ``dump()``'s bytes or ``import_bytea``,
  with FREEZE where COPY allows it (and now and then where it does not), in
  the frame's key order, reversed, shuffled, or in sorted runs;
- *faults*: duplicates within the load and against existing rows (for
  every kind of unique index: the same key, the same key in another case
  under a case-insensitive collation or ``lower()``, 0 and -0, NaN and NaN,
  NULL and NULL under NULLS NOT DISTINCT), exclusion conflicts (23P01),
  duplicates that a deferred constraint lets through (then ``SET CONSTRAINTS
  ALL IMMEDIATE`` or COMMIT must fail, unless a DELETE removed the
  duplicate first), NULL into a primary key; and near misses that must load:
  NULL keys in unique indexes, duplicates outside a partial index's
  predicate, overlapping ranges an exclusion's predicate exempts, keys of
  deleted, truncated or rolled-back rows.

A small model of the table (:class:`Model`) runs through the steps as the
generator draws them: it knows which step must fail and with which
SQLSTATE(s), so a scenario where COPY disagrees with the model is reported as
a *generator* problem, apart from a *discrepancy* between the twins.

**The oracle.**  Every scenario runs in two schemas (the twins), each on a
connection of its own, step by step in lockstep: the loads go through
zcimport into one twin and through PostgreSQL's own COPY (psycopg's
``write_row``, as test/python/oracle.py does) into the other; every other
step (DDL, INSERT, DELETE, TRUNCATE, SAVEPOINT, SET CONSTRAINTS, COMMIT) is
the same SQL in both.  Then:

- every step succeeds in both twins or fails in both, with the same SQLSTATE
  (when one statement breaks constraints of different SQLSTATEs, e.g. a
  duplicate key and an exclusion conflict, the order in which they are found
  legitimately differs: zcimport's SQLSTATE must then be one of them);
  ``COPY n`` counts agree;
- after a failed statement (in a savepoint of its own) or a failed
  transaction (a load, ``SET CONSTRAINTS``, COMMIT), each twin holds exactly
  what it held before it (or, for a table created in the transaction, no
  table); after ``ROLLBACK TO SAVEPOINT``, what it held at the savepoint;
- after every successful load, after every ROLLBACK TO and at the end (in
  the transaction, and again after it): both twins hold the same rows; the
  zcimport twin's indexes are the COPY twin's (definitions, valid, ready,
  live), ``bt_index_check(index, true)`` (amcheck, heapallindexed) passes on
  each of its btree indexes, and queries that can use each index (equality
  and ranges on btree keys, collation-aware ranges, ``=`` on hash, ranges on
  BRIN, ``@>``/``&&``/``?``/``@@`` on GIN, ``&&``/``@>``/``<@``/``~=`` on GiST
  and SP-GiST, a partial index's predicate, the expression of an expression
  index) answer on the zcimport twin, with index scans only and with bitmap
  scans only, exactly what a sequential scan answers on the COPY twin.
  EXPLAIN tells which indexes those queries used; a scenario where no query
  used any index at all is a generator problem (the check would be vacuous);
- the server never crashed (the connections live, the server log has no
  "terminated by signal" line since the scenario began).

**Running it.**  test/python/test_random_indexes.py runs a fixed-seed slice
in ``make test``.  The long mode is this script::

    PYTHONPATH=python python3 test/python/randindex.py --seed 5 --count 2000 \\
        --dsn "host=/tmp/zcimport-pg-54329 port=54329 user=postgres dbname=zcimport_pytest"

``--index N`` (repeatable) replays one scenario of ``--seed``, ``--start``
sets the first index, ``-v`` prints each scenario and its outcome, ``--keep``
keeps the twin schemas of a failing scenario, ``--stop`` stops at the first
failure, ``--coverage`` tallies what the scenarios contain (no database).
The database needs ``CREATE EXTENSION zcimport``; the runner creates
``amcheck`` and ``btree_gist`` in it when they are missing (both in
PostgreSQL's contrib).  The DSN and server log default as in randdiff.py.
See docs/testing.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import os
import random
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1] / "python"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import zcimport  # noqa: E402
from zcimport import _copy as zc_copy  # noqa: E402

import randgen  # noqa: E402
from randgen import Gen, qi, ql  # noqa: E402
from randdiff import (ServerLog, connect_runner, default_dsn, default_server_log,  # noqa: E402
                      long_mode_parser, print_coverage)

S = randgen.S  # the twin's schema, in rendered SQL
TABLE = "t"
_COUNTER = itertools.count()

# ---------------------------------------------------------------------------
# columns, collations, values
# ---------------------------------------------------------------------------

#: Every column a shape may have, in the default table order.
COLUMNS = ["rn", "id", "k", "s", "flag", "u", "grp", "r", "p", "arr", "j", "doc", "ts", "f", "e", "c", "sn"]

SQLTYPE = {
    "rn": "bigint NOT NULL", "id": "bigint", "k": "integer", "s": "text", "flag": "boolean DEFAULT true",
    "u": "integer", "grp": "smallint", "r": "int4range", "p": "point", "arr": "integer[]", "j": "jsonb",
    "doc": "text", "ts": "timestamp", "f": "double precision", "e": "text", "c": "integer DEFAULT 7",
    "sn": "bigserial",
}

#: Columns a load may leave to their defaults (never keys of a unique or exclusion index).
DEFAULTED = {"flag": True, "c": 7}

#: Collations of ``s`` (weights).  "ci" is a nondeterministic ICU collation created in
#: each twin: ``und-u-ks-level2``, where 'Abc' = 'aBC'.
COLLATIONS = [("default", 4), ("C", 3), ("en-x-icu", 2), ("sv-x-icu", 1), ("und-x-icu", 1), ("ci", 3)]
ICU = {"en-x-icu", "sv-x-icu", "und-x-icu", "ci"}

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
         "mu", "omega", "über", "naïve", "東京", "index", "load", "heap", "btree", "gin", "gist"]
JSON_STRS = ["x", "y", "zz", "Ω", "", "a b", "quote\"d"]
#: Characters of deterministic text keys: ASCII, punctuation, accents, other scripts.
_KEY_ALPHA = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_ .,'éüßøÅÄÖäöΩж中字😀"
#: Characters of case-insensitive keys (Python's lower() is ICU's level-2 equality on these).
_CI_ALPHA = "0123456789abcdefghijklmnopqrstuvwxyz"
TS0 = dt.datetime(2021, 3, 28, 0, 0, 0)

SLOT_SPACE = 40_000_000  # slots are drawn below this; keys are monotone functions of slots


@dataclass(frozen=True)
class Rng:
    """An int4range: [lo, hi) in canonical form; None is unbounded."""
    lo: Optional[int]
    hi: Optional[int]
    empty: bool
    text: str


def rng(lo: Optional[int], hi: Optional[int], style: int = 0) -> Rng:
    """A range [lo, hi), written in one of several equivalent input forms."""
    if lo is not None and hi is not None and lo >= hi:
        return Rng(None, None, True, "empty")
    a = "" if lo is None else str(lo)
    b = "" if hi is None else str(hi)
    if style == 1 and lo is not None and hi is not None:  # (lo-1, hi-1]: canonicalized to [lo, hi)
        return Rng(lo, hi, False, f"({lo - 1},{hi - 1}]")
    if style == 2 and lo is not None and hi is not None:  # [lo, hi-1]
        return Rng(lo, hi, False, f"[{lo},{hi - 1}]")
    return Rng(lo, hi, False, f"[{a},{b})")


EMPTY = Rng(None, None, True, "empty")


def code(slot: int, alpha: str, width: int) -> str:
    """slot in base len(alpha), fixed width: distinct slots give distinct strings."""
    out = []
    n = len(alpha)
    for _ in range(width):
        slot, d = divmod(slot, n)
        out.append(alpha[d])
    return "".join(reversed(out))


def swapcase_some(g: Gen, s: str) -> str:
    """s with the case of some letters flipped (equal under lower() and the ci collation)."""
    out = [ch.swapcase() if ch.isalpha() and g.chance(0.5) else ch for ch in s]
    t = "".join(out)
    if t == s and any(ch.isalpha() for ch in s):
        i = next(i for i, ch in enumerate(s) if ch.isalpha())
        t = s[:i] + s[i].swapcase() + s[i + 1:]
    return t


# ---------------------------------------------------------------------------
# indexes
# ---------------------------------------------------------------------------


@dataclass
class Query:
    where: str           # over the alias t
    uses: str            # the index meant to answer it
    what: str = ""       # what it exercises (for reports and coverage)


@dataclass
class Ix:
    kind: str
    name: str
    am: str
    sql: str                   # CREATE INDEX ... or, for a constraint, the table constraint clause
    constraint: bool = False   # a table constraint (PRIMARY KEY, UNIQUE, EXCLUDE)
    cols: Tuple[str, ...] = ()  # key columns (for the model)
    enforce: Optional[str] = None  # "unique" or "exclusion"
    nnd: bool = False          # NULLS NOT DISTINCT
    ci: bool = False           # s compares case-insensitively
    lower: bool = False        # the key is lower(e)
    partial: Optional[str] = None  # "flag": WHERE flag; "grp": WHERE grp <> 0
    deferrable: bool = False
    deferred: bool = False     # INITIALLY DEFERRED
    late: bool = False         # created after the first rows are in
    queries: List[Query] = field(default_factory=list)

    @property
    def sqlstate(self) -> str:
        return "23P01" if self.enforce == "exclusion" else "23505"

    def create_sql(self) -> str:
        if self.constraint:
            return f"ALTER TABLE {S}.{qi(TABLE)} ADD CONSTRAINT {qi(self.name)} {self.sql}"
        return self.sql


#: An index whose CREATE INDEX CONCURRENTLY fails on any row (division by zero): it stays invalid and not
#: ready, and inserts must leave it alone (a TRUNCATE would rebuild it, valid, and then every insert fails).
INVALID_INDEX = f"CREATE INDEX CONCURRENTLY ix_invalid ON {S}.{qi(TABLE)} ((rn / (rn - rn)))"

#: Index kinds: (kind, weight, on a partitioned table too).
KINDS: List[Tuple[str, float, bool]] = [
    ("pk", 4, True), ("uq_id", 2, True), ("uq_ks", 2, False), ("uq_idk", 1, True), ("uq_s", 2, False),
    ("uq_f", 1, False), ("uq_lower", 2, False), ("uq_partial", 2, False), ("def_u", 2.5, False),
    ("excl", 2.5, False), ("bt_s", 2, True), ("bt_multi", 2, True), ("bt_f", 1, True), ("expr", 2, True),
    ("partial", 2, True), ("hash", 2, True), ("brin", 1.5, True), ("gin_arr", 1.5, True), ("gin_j", 1.5, True),
    ("gin_tsv", 1, True), ("gist_r", 1, True), ("gist_p", 1, True), ("gist_k", 1, True), ("sp_p", 1, True),
    ("sp_s", 1, True), ("sp_r", 1, True),
]
UNIQUE_KINDS = {"pk", "uq_id", "uq_ks", "uq_idk", "uq_s", "uq_f", "uq_lower", "uq_partial", "def_u"}

#: Which column carries a unique index's uniqueness (made unique by construction).
CARRIER = {"pk": "id", "uq_id": "id", "uq_idk": "id", "uq_ks": "s", "uq_s": "s", "uq_f": "f",
           "uq_lower": "e", "uq_partial": "k", "def_u": "u"}


# ---------------------------------------------------------------------------
# the table shape
# ---------------------------------------------------------------------------


@dataclass
class Part:
    name: str
    bound: str                  # FOR VALUES ... / DEFAULT
    lo: Optional[int] = None    # [lo, hi) of id; None unbounded
    hi: Optional[int] = None
    default: bool = False

    def holds(self, v: Optional[int], others: Sequence["Part"]) -> bool:
        if self.default:
            return v is None or not any(p.holds(v, ()) for p in others if not p.default)
        if v is None:
            return False
        return (self.lo is None or v >= self.lo) and (self.hi is None or v < self.hi)


@dataclass
class Shape:
    cols: List[str]
    coll: str
    indexes: List[Ix]
    parts: List[Part] = field(default_factory=list)
    unlogged: bool = False
    trigger: bool = False
    fillfactor: Optional[int] = None

    @property
    def partitioned(self) -> bool:
        return bool(self.parts)

    @property
    def needs_icu(self) -> bool:
        return self.coll in ICU or any("-x-icu" in ix.sql for ix in self.indexes)

    def ix(self, name: str) -> Ix:
        return next(i for i in self.indexes if i.name == name)

    def coll_clause(self) -> str:
        if self.coll == "default":
            return ""
        if self.coll == "ci":
            return f" COLLATE {S}.rd_ci"
        return f' COLLATE "{self.coll}"'

    def schema_stmts(self) -> List[str]:
        """What each twin's schema holds before any transaction: the collation, the trigger function."""
        out = []
        if self.coll == "ci":
            out.append(f"CREATE COLLATION {S}.rd_ci (provider = icu, locale = 'und-u-ks-level2', "
                       "deterministic = false)")
        if self.trigger:
            out.append(f"CREATE FUNCTION {S}.rd_noop() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$BEGIN RETURN NEW; END$$")
        return out

    def create_stmts(self) -> List[str]:
        """CREATE TABLE (with its partitions, constraints, early indexes and trigger)."""
        defs = []
        for c in self.cols:
            t = SQLTYPE[c]
            if c == "s":
                t += self.coll_clause()
            defs.append(f"{qi(c)} {t}")
        for ix in self.indexes:
            if ix.constraint and not ix.late:
                defs.append(f"CONSTRAINT {qi(ix.name)} {ix.sql}")
        t = f"{S}.{qi(TABLE)}"
        head = "CREATE UNLOGGED TABLE" if self.unlogged and not self.partitioned else "CREATE TABLE"
        stmt = f"{head} {t} ({', '.join(defs)})"
        if self.partitioned:
            stmt += " PARTITION BY RANGE (id)"
        elif self.fillfactor:
            stmt += f" WITH (fillfactor = {self.fillfactor})"
        out = [stmt]
        for p in self.parts:
            out.append(f"CREATE TABLE {S}.{qi(p.name)} PARTITION OF {t} {p.bound}")
        for ix in self.indexes:
            if not ix.constraint and not ix.late:
                out.append(ix.sql)
        if self.trigger:
            out.append(f"CREATE TRIGGER rd_before BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {S}.rd_noop()")
        return out

    def late_stmts(self) -> List[str]:
        return [ix.create_sql() for ix in self.indexes if ix.late]

    def render(self) -> List[str]:
        return self.schema_stmts() + self.create_stmts() + self.late_stmts()


# ---------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------


@dataclass
class Load:
    label: str
    rows: List[Dict[str, Any]]
    cols: List[str]             # frame columns, in frame order
    dtypes: Dict[str, str]
    way: str                    # copy, libpq, raw, bytea
    batch_rows: Optional[int]
    freeze: bool
    nan_as_null: bool
    target: str
    order: str                  # the frame's key order: asc, desc, random, runs, nearly
    faults: List["Fault"] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        data = {c: _series(c, [r[c] for r in self.rows], self.dtypes[c]) for c in self.cols}
        return pd.DataFrame(data, index=pd.RangeIndex(len(self.rows)))

    def oracle_rows(self) -> List[List[Any]]:
        return [[_oracle(c, r[c]) for c in self.cols] for r in self.rows]


@dataclass
class Fault:
    kind: str
    ix: str
    rows: List[int]
    note: str = ""


@dataclass
class Expect:
    ok: bool = True
    states: Tuple[str, ...] = ()

    def __str__(self) -> str:
        return "ok" if self.ok else "fails " + "/".join(self.states)


@dataclass
class Step:
    op: str          # create, pre, insert, delete, truncate, vacuum, create_index, begin, commit,
    #                  rollback, savepoint, rollback_to, release, set_constraints, load, autoload, check
    arg: Any = None
    guard: bool = False        # a load in a savepoint of its own
    setup: bool = False        # before the scenario's transaction (must succeed)
    expect: Expect = field(default_factory=Expect)

    def describe(self) -> str:
        if self.op in ("load", "autoload"):
            ld: Load = self.arg
            f = "; ".join(f"{x.kind} on {x.ix} rows {x.rows[:4]}{' ' + x.note if x.note else ''}" for x in ld.faults)
            return (f"{self.op} {ld.label}: {len(ld.rows)} rows into {ld.target}, way={ld.way}, "
                    f"batch_rows={ld.batch_rows}, order={ld.order}, freeze={ld.freeze}, "
                    f"nan_as_null={ld.nan_as_null}{', guarded' if self.guard else ''}"
                    + (f", faults: {f}" if f else ""))
        if self.op in ("pre", "insert"):
            return f"{self.op} {len(self.arg)} rows"
        if self.op == "delete":
            return f"delete {len(self.arg)} rows"
        return self.op + (f" {self.arg}" if self.arg is not None else "")


@dataclass
class Scenario:
    seed: int
    index: int
    template: str
    shape: Shape
    steps: List[Step]
    layout: str = ""
    queries: List[Query] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def loads(self) -> List[Load]:
        return [s.arg for s in self.steps if s.op in ("load", "autoload")]

    @property
    def faults(self) -> List[Fault]:
        return [f for ld in self.loads for f in ld.faults]

    def describe(self) -> str:
        sh = self.shape
        lines = [f"scenario seed={self.seed} index={self.index}: template={self.template}, layout={self.layout}, "
                 f"collation of s={sh.coll}, partitioned={sh.partitioned}, unlogged={sh.unlogged}, "
                 f"trigger={sh.trigger}, columns={sh.cols}"]
        for ix in sh.indexes:
            lines.append(f"  index {ix.name} ({ix.kind}, {ix.am}{', late' if ix.late else ''}): {ix.sql}")
        for i, st in enumerate(self.steps):
            lines.append(f"  step {i}: {'(setup) ' if st.setup else ''}{st.describe()}  -> expect {st.expect}")
        for n in self.notes:
            lines.append("  note: " + n)
        return "\n".join(lines)


def _series(c: str, vals: List[Any], dtype: str) -> Any:
    if dtype in ("int64", "int32", "int16", "bool"):
        return np.array(vals, dtype=dtype)
    if dtype in ("Int64", "Int32", "Int16", "boolean"):
        return pd.array(vals, dtype=dtype)
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
    if dtype.startswith("datetime64"):
        unit = dtype[11:-1]
        return pd.Series(np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "us") for v in vals],
                                  dtype="datetime64[us]").astype(f"datetime64[{unit}]"))
    if dtype == "string":
        return pd.array([None if v is None else _text(c, v) for v in vals], dtype="string")
    if dtype == "json":  # dicts
        return pd.Series(list(vals), dtype=object)
    return pd.Series([None if v is None else _text(c, v) for v in vals], dtype=object)


def _text(c: str, v: Any) -> Any:
    if isinstance(v, Rng):
        return v.text
    if c == "j" and isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dt.datetime):
        return v
    return v


def _oracle(c: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, Rng):
        return v.text
    if c == "j":
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return v


# ---------------------------------------------------------------------------
# the model: which steps must fail, and how
# ---------------------------------------------------------------------------


def _fkey(v: Optional[float]) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return v + 0.0  # -0.0 -> 0.0


def ukey(ix: Ix, row: Dict[str, Any]) -> Optional[Tuple[Any, ...]]:
    """The key a unique index enforces for row; None when not enforced (NULL, predicate)."""
    if ix.partial == "flag" and row.get("flag") is not True:
        return None
    out = []
    for c in ix.cols:
        v = row.get(c)
        if v is None:
            if not ix.nnd:
                return None
            out.append(("NULL",))
            continue
        if c == "s" and ix.ci:
            v = v.lower()
        elif c == "e" and ix.lower:
            v = v.lower()
        elif c == "f":
            v = _fkey(v)
        out.append(v)
    return tuple(out)


def excl_conflicts(ix: Ix, rows: Sequence[Dict[str, Any]]) -> bool:
    groups: Dict[Any, List[Rng]] = {}
    for row in rows:
        gv, r = row.get("grp"), row.get("r")
        if gv is None or r is None or r.empty:
            continue
        if ix.partial == "grp" and gv == 0:
            continue
        groups.setdefault(gv, []).append(r)
    for rs in groups.values():
        rs.sort(key=lambda x: -2**40 if x.lo is None else x.lo)
        reach: Optional[float] = None  # the furthest upper end so far (inf: unbounded)
        for x in rs:
            lo = -math.inf if x.lo is None else x.lo
            if reach is not None and lo < reach:
                return True
            hi = math.inf if x.hi is None else x.hi
            reach = hi if reach is None else max(reach, hi)
    return False


class Model:
    """The table as PostgreSQL must see it: rows, savepoints, deferred constraints."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.exists = False
        self.rows: List[Dict[str, Any]] = []
        self.active: Set[str] = set()
        self.in_tx = False
        self.committed: Tuple[bool, List[Dict[str, Any]], Set[str]] = (False, [], set())
        self.subs: List[int] = [1]
        self._subid = 1
        # savepoints: (name, exists, rows, active indexes, created_sub, trunc_sub, deferred)
        self.sp: List[Tuple[str, bool, List[Dict[str, Any]], Set[str], Optional[int], Optional[int],
                            Dict[str, bool]]] = []
        self.created_sub: Optional[int] = None
        self.trunc_sub: Optional[int] = None
        self.deferred: Dict[str, bool] = {ix.name: ix.deferred for ix in shape.indexes if ix.deferrable}
        self.removed: List[Dict[str, Any]] = []  # rows deleted/truncated/rolled back: their keys are free

    # -- transaction control
    def begin(self) -> Expect:
        self.in_tx = True
        self.committed = (self.exists, list(self.rows), set(self.active))
        self.subs = [1]
        self.created_sub = self.trunc_sub = None
        self.deferred = {ix.name: ix.deferred for ix in self.shape.indexes if ix.deferrable}
        return Expect()

    def _end(self) -> None:
        self.in_tx = False
        self.sp = []
        self.subs = [1]
        self.created_sub = self.trunc_sub = None

    def rollback(self) -> Expect:
        if self.in_tx:
            dropped = [r for r in self.rows]
            self.exists, self.rows, self.active = self.committed[0], list(self.committed[1]), set(self.committed[2])
            keep = {id(r) for r in self.rows}
            self.removed += [r for r in dropped if id(r) not in keep]
        self._end()
        return Expect()

    def commit(self) -> Expect:
        bad = self._violations(deferred=True)
        if bad:
            self.rollback()
            return Expect(False, tuple(sorted(bad)))
        self.committed = (self.exists, list(self.rows), set(self.active))
        self._end()
        return Expect()

    def savepoint(self, name: str) -> Expect:
        self.sp.append((name, self.exists, list(self.rows), set(self.active), self.created_sub, self.trunc_sub,
                        dict(self.deferred)))
        self._subid += 1
        self.subs.append(self._subid)
        return Expect()

    def _find(self, name: str) -> int:
        return max(i for i, e in enumerate(self.sp) if e[0] == name)

    def rollback_to(self, name: str) -> Expect:
        i = self._find(name)
        _, ex, rows, active, cs, ts, dfr = self.sp[i]
        del self.sp[i + 1:]
        keep = {id(r) for r in rows}
        self.removed += [r for r in self.rows if id(r) not in keep]
        self.exists, self.rows, self.active = ex, list(rows), set(active)
        self.created_sub, self.trunc_sub, self.deferred = cs, ts, dict(dfr)
        self._subid += 1
        self.subs = self.subs[:i + 1] + [self._subid]
        return Expect()

    def release(self, name: str) -> Expect:
        i = self._find(name)
        released = set(self.subs[i + 1:])
        del self.sp[i:]
        self.subs = self.subs[:i + 1]
        if self.created_sub in released:
            self.created_sub = self.subs[-1]
        if self.trunc_sub in released:
            self.trunc_sub = self.subs[-1]
        return Expect()

    # -- DDL and data
    def create(self) -> Expect:
        self.exists = True
        self.rows = []
        self.active = {ix.name for ix in self.shape.indexes if not ix.late}
        self.created_sub = self.subs[-1] if self.in_tx else None
        return Expect()

    def create_index(self) -> Expect:
        late = {ix.name for ix in self.shape.indexes if ix.late}
        self.active |= late
        bad = self._violations(only=late, immediate_only=False)
        if bad:
            self.active -= late
            return Expect(False, tuple(sorted(bad)))
        return Expect()

    def truncate(self) -> Expect:
        self.removed += self.rows
        self.rows = []
        self.trunc_sub = self.subs[-1] if self.in_tx else None
        return Expect()

    def delete(self, rns: Set[int]) -> Expect:
        self.removed += [r for r in self.rows if r["rn"] in rns]
        self.rows = [r for r in self.rows if r["rn"] not in rns]
        return Expect()

    def freeze_error(self, target_is_parent: bool) -> Optional[str]:
        if self.shape.partitioned and target_is_parent:
            return "0A000"
        cur = self.subs[-1] if self.in_tx else None
        if cur is None or (self.created_sub != cur and self.trunc_sub != cur):
            return "55000"
        return None

    def insert(self, rows: List[Dict[str, Any]]) -> Expect:
        states: Set[str] = set()
        pk = any(ix.kind == "pk" and ix.name in self.active for ix in self.shape.indexes)
        if pk and any(r.get("id") is None for r in rows):
            states.add("23502")
        states |= self._violations(extra=rows)
        if states:
            return Expect(False, tuple(sorted(states)))
        self.rows = self.rows + rows
        return Expect()

    def set_constraints(self, mode: str) -> Expect:
        if mode == "IMMEDIATE":
            bad = self._violations(deferred=True)
            if bad:
                return Expect(False, tuple(sorted(bad)))
        for name in self.deferred:
            self.deferred[name] = mode == "DEFERRED"
        return Expect()

    def _violations(self, extra: Sequence[Dict[str, Any]] = (), deferred: bool = False,
                    only: Optional[Set[str]] = None, immediate_only: bool = True) -> Set[str]:
        """SQLSTATEs of the constraints the rows (plus extra) break.

        deferred=False: the immediate constraints (a statement's checks);
        deferred=True: the constraints now deferred (COMMIT, SET CONSTRAINTS IMMEDIATE).
        """
        out: Set[str] = set()
        rows = list(self.rows) + list(extra)
        for ix in self.shape.indexes:
            if ix.enforce is None or ix.name not in self.active:
                continue
            if only is not None and ix.name not in only:
                continue
            is_deferred = ix.deferrable and self.deferred.get(ix.name, False) and self.in_tx
            if only is None and is_deferred != deferred:
                continue
            if ix.enforce == "exclusion":
                if excl_conflicts(ix, rows):
                    out.add(ix.sqlstate)
                continue
            seen: Set[Tuple[Any, ...]] = set()
            for row in rows:
                key = ukey(ix, row)
                if key is None:
                    continue
                if key in seen:
                    out.add(ix.sqlstate)
                    break
                seen.add(key)
        return out


def apply(model: Model, st: Step) -> Expect:
    """Run a step through the model: what PostgreSQL must answer."""
    op = st.op
    if op == "create":
        return model.create()
    if op == "pre":
        return model.insert(st.arg)
    if op == "insert":
        return model.insert(st.arg)
    if op == "create_index":
        return model.create_index()
    if op == "delete":
        return model.delete(st.arg)
    if op in ("vacuum", "invalid_index"):
        return Expect()
    if op == "truncate":
        return model.truncate()
    if op == "begin":
        return model.begin()
    if op == "commit":
        return model.commit()
    if op == "rollback":
        return model.rollback()
    if op == "savepoint":
        return model.savepoint(st.arg)
    if op == "rollback_to":
        return model.rollback_to(st.arg)
    if op == "release":
        return model.release(st.arg)
    if op == "set_constraints":
        return model.set_constraints(st.arg)
    if op in ("load", "autoload"):
        ld: Load = st.arg
        auto = op == "autoload"
        if auto:
            model.begin()
        if st.guard:
            model.savepoint("rd_guard")
        e = Expect()
        if ld.freeze:
            err = model.freeze_error(ld.target == TABLE)
            if err:
                e = Expect(False, (err,))
        if e.ok:
            e = model.insert(ld.rows)
        if st.guard:
            if e.ok:
                model.release("rd_guard")
            else:
                model.rollback_to("rd_guard")
                model.release("rd_guard")
        if auto:
            if e.ok:
                e = model.commit()
            else:
                model.rollback()
        return e
    raise AssertionError(op)


def plan(sc: "Scenario") -> "Scenario":
    """Fill in every step's expected outcome (hand-written scenarios)."""
    model = Model(sc.shape)
    for st in sc.steps:
        st.expect = apply(model, st)
    return sc


def default_dtypes(cols: Sequence[str], rows: Sequence[Dict[str, Any]]) -> Dict[str, str]:
    """Plain dtypes for a frame of these rows: nullable integers where there are NULLs, objects for text."""
    out = {}
    for c in cols:
        nulls = any(r.get(c) is None for r in rows)
        if c in ("rn", "id", "k", "u", "grp", "c"):
            out[c] = "Int64" if nulls else "int64"
        elif c == "flag":
            out[c] = "boolean" if nulls else "bool"
        elif c == "f":
            out[c] = "float64"
        elif c == "ts":
            out[c] = "datetime64[us]"
        else:
            out[c] = "object"
    return out


def make_load(shape: "Shape", rows: List[Dict[str, Any]], label: str = "L", way: str = "copy",
              freeze: bool = False, target: str = TABLE, batch_rows: Optional[int] = None,
              nan_as_null: bool = True) -> "Load":
    """A load of rows (each holding a value for every column of the shape) with plain dtypes."""
    cols = [c for c in shape.cols if c != "sn"]
    full = [dict({c: None for c in cols}, **r) for r in rows]
    return Load(label, full, cols, default_dtypes(cols, full), way, batch_rows, freeze, nan_as_null, target,
                "as given")


# ---------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------


#: Transaction shapes (weights).
TEMPLATES = [("append", 3), ("create", 3), ("truncate", 3), ("sp_rollback", 2.5), ("truncate_outer_sp", 2),
             ("create_sub", 1), ("truncate_sub", 1.5), ("autocommit", 1)]
WAYS = [("copy", 5), ("libpq", 2), ("raw", 3), ("bytea", 1)]
ORDERS = [("asc", 3), ("desc", 2), ("random", 3), ("runs", 2), ("nearly", 1)]
LAYOUTS = [("interleave", 3), ("above", 2), ("below", 2), ("inside", 2)]
BATCH_ROWS = [None, None, None, 1, 7, 999, 1000, 1024, 1025, 4096]


def _gen(seed: int, index: int) -> Gen:
    g = Gen(seed, index)
    g.r = random.Random(f"zcimport-randindex/{seed}/{index}")
    g.np = np.random.default_rng([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, index, 0x1D5])
    return g


def make_scenario(seed: int, index: int, *, max_rows: int = 12000) -> Scenario:
    """The scenario (seed, index): a shape, a transaction, frames, faults, queries."""
    return _Builder(_gen(seed, index), seed, index, max_rows).build()


class _Builder:
    def __init__(self, g: Gen, seed: int, index: int, max_rows: int) -> None:
        self.g = g
        self.seed = seed
        self.index = index
        self.max_rows = max_rows
        self.rows_left = max_rows
        self.rn = 0
        self.notes: List[str] = []

    # -- shape
    def pick_kinds(self, partitioned: bool, coll: str) -> List[str]:
        g = self.g
        n = g.wpick([(2, 2), (3, 3), (4, 3), (5, 2), (6, 1), (7, 1)])
        pool = [(k, w) for k, w, onpart in KINDS if onpart or not partitioned]
        if coll == "ci":
            pool = [(k, w) for k, w in pool if k != "sp_s"]
        out: List[str] = []
        while len(out) < n and pool:
            k = g.wpick(pool)
            pool = [(a, w) for a, w in pool if a != k]
            if k == "pk" and "uq_id" in out or k == "uq_id" and "pk" in out:
                continue
            out.append(k)
        return out

    def make_ix(self, kind: str, i: int, coll: str, partitioned: bool) -> Ix:
        g = self.g
        name = f"ix_{kind}_{i}"
        t = f"{S}.{qi(TABLE)}"
        nnd = g.chance(0.3)
        nnds = " NULLS NOT DISTINCT" if nnd else ""
        ci = coll == "ci"
        if kind == "pk":
            return Ix(kind, name, "btree", "PRIMARY KEY (id)", True, ("id",), "unique")
        if kind == "uq_id":
            if g.chance(0.5):
                return Ix(kind, name, "btree", f"UNIQUE{nnds} (id)", True, ("id",), "unique", nnd=nnd)
            return Ix(kind, name, "btree", f"CREATE UNIQUE INDEX {name} ON {t} (id){nnds}", False, ("id",),
                      "unique", nnd=nnd)
        if kind == "uq_idk":
            return Ix(kind, name, "btree", f"UNIQUE{nnds} (id, k)", True, ("id", "k"), "unique", nnd=nnd)
        if kind == "uq_ks":
            inc = " INCLUDE (ts)" if g.chance(0.2) else ""
            return Ix(kind, name, "btree", f"UNIQUE{nnds} (k, s){inc}", True, ("k", "s"), "unique", nnd=nnd, ci=ci)
        if kind == "uq_s":
            if g.chance(0.5):
                return Ix(kind, name, "btree", f"UNIQUE{nnds} (s)", True, ("s",), "unique", nnd=nnd, ci=ci)
            return Ix(kind, name, "btree", f"CREATE UNIQUE INDEX {name} ON {t} (s DESC){nnds}", False, ("s",),
                      "unique", nnd=nnd, ci=ci)
        if kind == "uq_f":
            return Ix(kind, name, "btree", f"CREATE UNIQUE INDEX {name} ON {t} (f){nnds}", False, ("f",), "unique",
                      nnd=nnd)
        if kind == "uq_lower":
            return Ix(kind, name, "btree", f"CREATE UNIQUE INDEX {name} ON {t} (lower(e))", False, ("e",), "unique",
                      lower=True)
        if kind == "uq_partial":
            return Ix(kind, name, "btree", f"CREATE UNIQUE INDEX {name} ON {t} (k) WHERE flag", False, ("k",),
                      "unique", partial="flag")
        if kind == "def_u":
            deferred = g.chance(0.5)
            d = " DEFERRABLE INITIALLY DEFERRED" if deferred else " DEFERRABLE INITIALLY IMMEDIATE"
            return Ix(kind, name, "btree", f"UNIQUE (u){d}", True, ("u",), "unique", deferrable=True,
                      deferred=deferred)
        if kind == "excl":
            part = g.chance(0.3)
            dfr = g.wpick([("", 3), (" DEFERRABLE", 1), (" DEFERRABLE INITIALLY DEFERRED", 1)])
            w = " WHERE (grp <> 0)" if part else ""
            return Ix(kind, name, "gist", f"EXCLUDE USING gist (grp WITH =, r WITH &&){w}{dfr}", True,
                      ("grp", "r"), "exclusion", partial="grp" if part else None, deferrable=bool(dfr),
                      deferred="DEFERRED" in dfr)
        if kind == "bt_s":
            opts = [("(s)", 3), ("(s DESC NULLS FIRST)", 2), ('(s COLLATE "C")', 2), ("(s, id)", 1)]
            if not ci:
                opts.append(("(s text_pattern_ops)", 1))
            opts.append(('(s COLLATE "en-x-icu")', 1))
            spec = g.wpick(opts)
            w = " WITH (deduplicate_items = off)" if g.chance(0.2) else ""
            return Ix(kind, name, "btree", f"CREATE INDEX {name} ON {t} {spec}{w}", cols=("s",))
        if kind == "bt_multi":
            spec = g.pick(["(grp, ts DESC, id)", "(k, s, id)", "(k NULLS FIRST, f DESC) INCLUDE (grp)", "(ts, k)"])
            return Ix(kind, name, "btree", f"CREATE INDEX {name} ON {t} {spec}")
        if kind == "bt_f":
            return Ix(kind, name, "btree", f"CREATE INDEX {name} ON {t} (f)")
        if kind == "expr":
            spec = g.pick(["((k % 7), id)", "(md5(s))", "((id / 1000))", "(lower(s))", "((ts::date))"])
            return Ix(kind, name, "btree", f"CREATE INDEX {name} ON {t} ({spec})" if not spec.startswith("((")
                      else f"CREATE INDEX {name} ON {t} {spec}")
        if kind == "partial":
            spec = g.pick(["(ts) WHERE k > 0", "(id) WHERE flag IS NOT TRUE", "(s) WHERE grp = 1"])
            return Ix(kind, name, "btree", f"CREATE INDEX {name} ON {t} {spec}")
        if kind == "hash":
            c = g.pick(["s", "k", "id"])
            return Ix(kind, name, "hash", f"CREATE INDEX {name} ON {t} USING hash ({c})", cols=(c,))
        if kind == "brin":
            c = g.pick(["ts", "id"])
            ppr = g.pick([1, 2, 4, 128])
            return Ix(kind, name, "brin", f"CREATE INDEX {name} ON {t} USING brin ({c}) WITH (pages_per_range = {ppr})",
                      cols=(c,))
        if kind == "gin_arr":
            w = " WITH (fastupdate = off)" if g.chance(0.4) else ""
            return Ix(kind, name, "gin", f"CREATE INDEX {name} ON {t} USING gin (arr){w}")
        if kind == "gin_j":
            ops = g.pick(["", " jsonb_path_ops"])
            w = " WITH (fastupdate = off)" if g.chance(0.4) else ""
            return Ix(kind, name, "gin", f"CREATE INDEX {name} ON {t} USING gin (j{ops}){w}")
        if kind == "gin_tsv":
            return Ix(kind, name, "gin", f"CREATE INDEX {name} ON {t} USING gin (to_tsvector('simple', doc))")
        if kind == "gist_r":
            return Ix(kind, name, "gist", f"CREATE INDEX {name} ON {t} USING gist (r)")
        if kind == "gist_p":
            return Ix(kind, name, "gist", f"CREATE INDEX {name} ON {t} USING gist (p)")
        if kind == "gist_k":
            return Ix(kind, name, "gist", f"CREATE INDEX {name} ON {t} USING gist (k)")
        if kind == "sp_p":
            return Ix(kind, name, "spgist", f"CREATE INDEX {name} ON {t} USING spgist (p)")
        if kind == "sp_s":
            return Ix(kind, name, "spgist", f"CREATE INDEX {name} ON {t} USING spgist (s)")
        if kind == "sp_r":
            return Ix(kind, name, "spgist", f"CREATE INDEX {name} ON {t} USING spgist (r)")
        raise AssertionError(kind)

    def columns_for(self, kinds: List[str], ixs: List[Ix]) -> List[str]:
        need = {"rn", "id"}
        text = " ".join(ix.sql for ix in ixs)
        for c in COLUMNS:
            if re.search(rf"\b{c}\b", text):
                need.add(c)
        for c in COLUMNS:
            if c not in need and c not in ("sn",) and self.g.chance(0.25):
                need.add(c)
        cols = [c for c in COLUMNS if c in need]
        if self.g.chance(0.3):
            self.g.r.shuffle(cols)
        return cols

    def build_shape(self) -> Shape:
        g = self.g
        partitioned = g.chance(0.15)
        coll = g.wpick(COLLATIONS)
        kinds = self.pick_kinds(partitioned, coll)
        ixs = [self.make_ix(k, i, coll, partitioned) for i, k in enumerate(kinds)]
        cols = self.columns_for(kinds, ixs)
        shape = Shape(cols, coll, ixs, unlogged=g.chance(0.1), trigger=g.chance(0.08),
                      fillfactor=g.pick([None, None, None, 50, 90]))
        self.partitioned = partitioned  # the partitions come once the keys' layout is drawn
        return shape

    def value_params(self, shape: Shape) -> None:
        g = self.g
        kinds = {ix.kind for ix in shape.indexes}
        self.uniq = {CARRIER[k] for k in kinds if k in CARRIER}
        if "excl" in kinds:
            self.uniq.add("r")
        self.null_p = g.pick([0.0, 0.0, 0.02, 0.1, 0.3])
        self.id_lo = g.pick([0, 1, -5000, -2**40, 2**40])
        self.id_stride = g.pick([1, 1, 3, 1000, 2**20 + 7, -1, -17])
        self.k_lo = g.pick([0, -10**8, 1])
        self.k_stride = g.pick([1, 2, 7, -3])
        self.u_lo = g.pick([0, 10**6, -10**6])
        self.u_stride = g.pick([1, 5, -1])
        self.f_lo = g.pick([0.0, 0.0, -1000.5, 1e15])
        self.s_prefix = "" if shape.coll == "ci" else g.pick(["", "", "key-", "Ω", "a" * 30, "zz "])
        if shape.coll == "ci":
            self.s_prefix = g.pick(["", "Key", "ab"])
        self.s_width = 5 if shape.coll != "ci" else 6
        self.s_pool = self.text_pool(shape.coll == "ci")
        self.ts_mode = g.pick(["slot", "random", "clustered"])
        self.nan_ok = g.chance(0.2)

    def text_pool(self, ci: bool) -> List[str]:
        g = self.g
        if ci:
            base = ["".join(g.r.choices(_CI_ALPHA, k=g.r.randint(0, 6))) for _ in range(6)]
            return base + [swapcase_some(g, b) for b in base if b] + [b.upper() for b in base]
        out = [randgen.rand_text(g, 12) for _ in range(10)] + ["", " ", "a", "A", "b", "é", "Z", "中"]
        return out

    def make_parts(self, shape: Shape) -> None:
        """Range partitions on id: bounds at a third and two thirds of the keys the layout draws."""
        g = self.g
        span = {"above": (0, self.max_rows), "below": (SLOT_SPACE - self.max_rows, SLOT_SPACE),
                "inside": (0, (self.max_rows + 2) * 1000)}.get(self.layout, (0, SLOT_SPACE))
        a = self.id_of(span[0] + (span[1] - span[0]) // 3)
        b = self.id_of(span[0] + 2 * (span[1] - span[0]) // 3)
        lo, hi = min(a, b), max(a, b)
        parts = [Part("t_p1", f"FOR VALUES FROM (MINVALUE) TO ({lo})", None, lo),
                 Part("t_p2", f"FOR VALUES FROM ({lo}) TO ({hi})", lo, hi),
                 Part("t_p3", f"FOR VALUES FROM ({hi}) TO (MAXVALUE)", hi, None)]
        if "id" not in self.nonull or g.chance(0.5):
            parts.append(Part("t_pd", "DEFAULT", default=True))
        shape.parts = parts

    # -- values
    def id_of(self, slot: int) -> int:
        return self.id_lo + slot * self.id_stride

    def s_of(self, slot: int, ci: bool) -> str:
        if ci:
            return swapcase_some(self.g, self.s_prefix + code(slot, _CI_ALPHA, self.s_width)) \
                if self.g.chance(0.3) else self.s_prefix + code(slot, _CI_ALPHA, self.s_width)
        suffix = "" if self.g.chance(0.7) else "".join(self.g.r.choices(_KEY_ALPHA, k=self.g.r.randint(1, 5)))
        return self.s_prefix + code(slot, _KEY_ALPHA, self.s_width) + suffix

    def e_of(self, slot: int) -> str:
        base = code(slot, _CI_ALPHA, 6)
        return swapcase_some(self.g, base) if self.g.chance(0.4) else base

    def maybe_null(self, c: str) -> bool:
        return self.null_p > 0 and c not in self.nonull and self.g.r.random() < self.null_p

    def ri(self, a: int, b: int) -> int:
        """randint(a, b), faster (rows are drawn by the thousand)."""
        return a + int(self.g.r.random() * (b - a + 1))

    def ch(self, p: float) -> bool:
        return self.g.r.random() < p

    def make_row(self, slot: int, shape: Shape, nan: bool) -> Dict[str, Any]:
        g = self.g
        self.rn += 1
        row: Dict[str, Any] = {"rn": self.rn}
        cols = set(shape.cols)
        uniq = self.uniq
        ci = shape.coll == "ci"
        if "id" in cols:
            if "id" in uniq:
                row["id"] = None if self.maybe_null("id") else self.id_of(slot)
            else:
                row["id"] = None if self.maybe_null("id") else self.id_of(g.r.randrange(SLOT_SPACE))
        if "k" in cols:
            if "k" in uniq:
                row["k"] = None if self.maybe_null("k") else self.k_lo + slot * self.k_stride
            else:
                row["k"] = None if self.maybe_null("k") else self.ri(-3, 20)
        if "s" in cols:
            if "s" in uniq:
                row["s"] = None if self.maybe_null("s") else self.s_of(slot, ci)
            else:
                row["s"] = None if self.maybe_null("s") else g.pick(self.s_pool)
        if "flag" in cols:
            row["flag"] = None if self.maybe_null("flag") else self.ch(0.6)
        if "u" in cols:
            if "u" in uniq:
                row["u"] = None if self.maybe_null("u") else self.u_lo + slot * self.u_stride
            else:
                row["u"] = None if self.maybe_null("u") else self.ri(0, 50)
        if "grp" in cols:
            row["grp"] = None if self.maybe_null("grp") else self.ri(0, 3)
        if "r" in cols:
            row["r"] = None if self.maybe_null("r") else self.r_of(slot, "r" in uniq)
        if "p" in cols:
            row["p"] = None if self.maybe_null("p") else \
                f"({self.ri(0, 40) / 2:g},{self.ri(-20, 20) / 2:g})"
        if "arr" in cols:
            row["arr"] = None if self.maybe_null("arr") else self.arr_value()
        if "j" in cols:
            row["j"] = None if self.maybe_null("j") else self.json_value()
        if "doc" in cols:
            row["doc"] = None if self.maybe_null("doc") else " ".join(
                g.r.choices(WORDS, k=self.ri(0, 6))) + g.pick(["", "", ".", "!", " 42"])
        if "ts" in cols:
            row["ts"] = None if self.maybe_null("ts") else self.ts_of(slot)
        if "f" in cols:
            if "f" in uniq:
                row["f"] = None if (not nan and self.maybe_null("f")) else self.f_lo + (slot % 10**7) * 0.25 + \
                    (slot // 10**7) * 10**7
            elif nan and self.ch(0.05):
                row["f"] = float("nan")
            else:
                row["f"] = None if (not nan and self.maybe_null("f")) else g.pick(
                    [0.0, -0.0, 1.5, -2.25, 1e300, float("inf"), float("-inf"), self.ri(-100, 100) / 4])
        if "e" in cols:
            row["e"] = None if self.maybe_null("e") else (self.e_of(slot) if "e" in uniq else
                                                         swapcase_some(g, g.pick(["ab", "abc", "x1", "q"])))
        if "c" in cols:
            row["c"] = 7
        return row

    def r_of(self, slot: int, exclusive: bool) -> Rng:
        g = self.g
        if exclusive:
            if self.ch(0.05):
                return EMPTY
            a = self.ri(0, 8)
            b = self.ri(a + 1, 10)
            return rng(slot * 10 + a, slot * 10 + b, self.ri(0, 2))
        roll = g.r.random()
        if roll < 0.05:
            return EMPTY
        if roll < 0.1:
            return rng(None, self.ri(-50, 50))
        if roll < 0.15:
            return rng(self.ri(-50, 50), None)
        a = self.ri(-100, 100)
        return rng(a, a + self.ri(1, 30), self.ri(0, 2))

    def arr_value(self) -> str:
        g = self.g
        n = g.wpick([(0, 1), (1, 3), (2, 3), (3, 2), (6, 1)])
        items = [("NULL" if self.ch(0.05) else str(self.ri(0, 30))) for _ in range(n)]
        return "{" + ",".join(items) + "}"

    def json_value(self) -> Any:
        g = self.g
        if self.ch(0.05):
            return g.pick(["null", "[1, 2]", '"str"', "3"])
        d: Dict[str, Any] = {}
        if self.ch(0.8):
            d["a"] = self.ri(0, 9)
        if self.ch(0.6):
            d["b"] = g.pick(JSON_STRS)
        if self.ch(0.5):
            d["tags"] = g.r.sample(WORDS[:8], self.ri(0, 3))
        if self.ch(0.2):
            d["n"] = {"x": self.ch(0.5), "y": None}
        return d

    def ts_of(self, slot: int) -> dt.datetime:
        g = self.g
        if self.ts_mode == "slot":
            return TS0 + dt.timedelta(seconds=(slot % 10**7) * 37, microseconds=self.ri(0, 5) * 1000)
        if self.ts_mode == "clustered":
            return TS0 + dt.timedelta(days=self.ri(0, 3), seconds=self.ri(0, 100))
        return TS0 + dt.timedelta(seconds=self.ri(-10**8, 10**8), microseconds=self.ri(0, 999999))

    # -- slots (keys)
    def take_slots(self, n: int, group: int) -> List[int]:
        g = self.g
        lay = self.layout
        if lay == "above":
            out = list(range(self.next_up, self.next_up + n))
            self.next_up += n
        elif lay == "below":
            out = list(range(self.next_down - n, self.next_down))
            self.next_down -= n
        elif lay == "inside" and group == 0:
            out = [self.spacing * (i + 1) for i in range(n)]
            self.inside_at = self.spacing * (n // 2 + 1) + 1
        elif lay == "inside":
            out = list(range(self.inside_at, self.inside_at + n))
            self.inside_at += n
        else:
            out = []
            while len(out) < n:
                for v in g.np.integers(0, SLOT_SPACE, size=n - len(out) + 8).tolist():
                    if v not in self.used and len(out) < n:
                        self.used.add(v)
                        out.append(v)
        return out

    def rows_for(self, n: int, shape: Shape, nan: bool, reuse: Sequence[Dict[str, Any]] = ()) -> List[Dict[str, Any]]:
        """n new rows: fresh keys, or (some) keys of removed rows."""
        g = self.g
        self.group += 1
        fresh = self.take_slots(n, self.group)
        rows = [self.make_row(s, shape, nan) for s in fresh]
        if reuse and g.chance(0.6):
            donors = [r for r in reuse]
            g.r.shuffle(donors)
            k = min(len(donors), g.r.randint(1, max(1, n)))
            for i in range(min(k, n)):
                j = g.r.randrange(n)
                rows[j] = self.clone_keys(rows[j], donors[i], shape)
        return rows

    def donor_keys(self, shape: Shape, r: Dict[str, Any]) -> List[Any]:
        out: List[Any] = []
        for ix in shape.indexes:
            if ix.enforce == "unique":
                k = ukey(ix, r)
            else:
                x = r.get("r")
                k = None if x is None or x.empty or r.get("grp") is None else (r["grp"], (x.lo or 0) // 10)
            if k is not None:
                out.append((ix.name, k))
        return out

    def free_donors(self, model: Model, shape: Shape) -> List[Dict[str, Any]]:
        """Removed rows (deleted, truncated, rolled back) whose keys no live row holds: reusable keys."""
        taken = {k for r in model.rows for k in self.donor_keys(shape, r)}
        out = []
        for r in model.removed:
            keys = self.donor_keys(shape, r)
            if any(k in taken for k in keys):
                continue
            taken.update(keys)
            out.append(r)
        return out

    def clone_keys(self, row: Dict[str, Any], donor: Dict[str, Any], shape: Shape) -> Dict[str, Any]:
        new = dict(row)
        for c in self.uniq | {"grp"}:
            if c in donor and c in new:
                new[c] = donor[c]
        if "flag" in donor and "flag" in new:
            new["flag"] = donor["flag"]
        return new

    def order_rows(self, rows: List[Dict[str, Any]], shape: Shape) -> Tuple[List[Dict[str, Any]], str]:
        g = self.g
        order = g.wpick(ORDERS)
        keyc = next((c for c in ("id", "s", "k", "u", "e", "f") if c in self.uniq), "id")

        def key(r: Dict[str, Any]) -> Any:
            v = r.get(keyc)
            if v is None:
                return (1, "")
            if isinstance(v, float) and math.isnan(v):
                return (2, "")
            return (0, v.lower() if isinstance(v, str) and shape.coll == "ci" else v)
        rows = sorted(rows, key=key)
        if order == "desc":
            rows.reverse()
        elif order == "random":
            g.r.shuffle(rows)
        elif order == "runs":
            out: List[Dict[str, Any]] = []
            i = 0
            runs = []
            while i < len(rows):
                n = g.r.randint(1, 300)
                runs.append(rows[i:i + n])
                i += n
            g.r.shuffle(runs)
            for run in runs:
                out += run
            rows = out
        elif order == "nearly":
            for _ in range(max(1, len(rows) // 100)):
                if len(rows) > 1:
                    a, b = g.r.randrange(len(rows)), g.r.randrange(len(rows))
                    rows[a], rows[b] = rows[b], rows[a]
        return rows, f"{order} by {keyc}"

    # -- faults
    def fault_kinds(self, shape: Shape, existing: bool) -> List[Tuple[Ix, str]]:
        out = []
        for ix in shape.indexes:
            if ix.enforce == "unique":
                out.append((ix, "dup_load"))
                if existing:
                    out.append((ix, "dup_existing"))
                if ix.nnd and not (shape.partitioned and "id" in ix.cols):
                    out.append((ix, "null_nnd"))
                if ix.kind == "pk" and not shape.partitioned:  # (a NULL key may have no partition: 23514)
                    out.append((ix, "null_pk"))
            elif ix.enforce == "exclusion":
                out.append((ix, "excl_load"))
                if existing:
                    out.append((ix, "excl_existing"))
        return out

    def near(self, g: Gen, n: int, i: int) -> int:
        """Another row: next to i, in the same 1,024-row chunk, or anywhere."""
        choice = g.pick(["adjacent", "chunk", "far"])
        if choice == "adjacent":
            j = i + 1 if i + 1 < n else i - 1
        elif choice == "chunk":
            base = i // 1024 * 1024
            j = g.r.randrange(base, min(n, base + 1024))
        else:
            j = g.r.randrange(n)
        return j if j != i else (i + 1) % n

    def inject(self, rows: List[Dict[str, Any]], ix: Ix, kind: str, existing: List[Dict[str, Any]],
               shape: Shape) -> Optional[Fault]:
        g = self.g
        n = len(rows)
        if n == 0:
            return None
        if kind == "null_pk":
            i = g.r.randrange(n)
            rows[i] = dict(rows[i], id=None)
            return Fault(kind, ix.name, [i])
        if kind == "null_nnd":
            donor_null = [r for r in existing if all(r.get(x) is None for x in ix.cols)]
            if n == 1 and not donor_null:
                return None
            i = g.r.randrange(n)
            c = CARRIER[ix.kind]
            rows[i] = dict(rows[i], **{c: None})
            for x in ix.cols:
                if x != c and g.chance(0.5):
                    rows[i][x] = None
            if donor_null and (n == 1 or g.chance(0.5)):
                rows[i].update({x: None for x in ix.cols})
                return Fault(kind, ix.name, [i], "NULL key also in an existing row")
            j = self.near(g, n, i)
            rows[j] = dict(rows[j], **{x: rows[i][x] for x in ix.cols})
            return Fault(kind, ix.name, [i, j])
        if kind in ("dup_load", "dup_existing", "excl_load", "excl_existing"):
            if kind.endswith("existing"):
                cands = [r for r in existing if self.enforced(ix, r)]
                if not cands:
                    return None
                donor = g.pick(cands)
                j = g.r.randrange(n)
                where = "an existing row"
            else:
                if n == 1:
                    return None
                cands = [i for i in range(n) if self.enforced(ix, rows[i])]
                if not cands:
                    return None
                i = g.pick(cands)
                donor = rows[i]
                j = self.near(g, n, i)
                where = f"row {i}"
            new = dict(rows[j])
            note = ""
            if ix.enforce == "exclusion":
                new["grp"] = donor["grp"]
                r: Rng = donor["r"]
                lo = r.lo if r.lo is not None else -5
                new["r"] = rng(lo, lo + g.r.randint(1, 3), g.r.randint(0, 2))
                note = f"{new['r'].text} overlaps {r.text} of {where}"
            else:
                for c in ix.cols:
                    v = donor[c]
                    if isinstance(v, str) and ((c == "s" and ix.ci) or (c == "e" and ix.lower)) and g.chance(0.6):
                        v = swapcase_some(g, v)
                        note = "the same key in another case"
                    if c == "f" and isinstance(v, float) and v == 0.0 and g.chance(0.7):
                        v = -v
                        note = "0 and -0"
                    new[c] = v
                if ix.partial == "flag":
                    new["flag"] = True
                note = (note + " " if note else "") + f"duplicates {where}"
            rows[j] = new
            return Fault(kind, ix.name, [j] if kind.endswith("existing") else [i, j], note)
        raise AssertionError(kind)

    def enforced(self, ix: Ix, row: Dict[str, Any]) -> bool:
        if ix.enforce == "exclusion":
            r = row.get("r")
            return (row.get("grp") is not None and r is not None and not r.empty
                    and not (ix.partial == "grp" and row["grp"] == 0))
        return ukey(ix, row) is not None

    def near_misses(self, rows: List[Dict[str, Any]], shape: Shape) -> None:
        """Valid rows that look like faults: duplicates a partial index or an exclusion's predicate exempts."""
        g = self.g
        n = len(rows)
        if n < 2:
            return
        for ix in shape.indexes:
            if ix.partial == "flag" and g.chance(0.5):
                i = g.r.randrange(n)
                j = self.near(g, n, i)
                if rows[i].get("flag") is not True:
                    rows[j] = dict(rows[j], k=rows[i]["k"], flag=g.pick([False, None]))
            if ix.partial == "grp" and g.chance(0.5):
                i = g.r.randrange(n)
                j = self.near(g, n, i)
                if rows[i].get("grp") == 0 and rows[i].get("r") is not None:
                    rows[j] = dict(rows[j], grp=0, r=rows[i]["r"])
            if ix.kind == "uq_f" and self.nan_ok and g.chance(0.3):
                pass  # NaN stays out of unique float keys unless injected

    # -- frames
    def make_load(self, label: str, rows: List[Dict[str, Any]], shape: Shape, nan: bool, freeze: bool,
                  target: str) -> Load:
        g = self.g
        cols = list(shape.cols)
        cols = [c for c in cols if c != "sn"]
        way = g.wpick(WAYS)
        if way == "bytea" and (freeze or "sn" in shape.cols):
            way = "copy"
        if way != "bytea":
            for c in DEFAULTED:
                if c in cols and g.chance(0.3) and not (c == "flag" and any(ix.partial == "flag"
                                                                             for ix in shape.indexes)):
                    cols.remove(c)
                    for r in rows:
                        r[c] = DEFAULTED[c]
            if g.chance(0.4):
                g.r.shuffle(cols)
        dtypes = {}
        for c in cols:
            vals = [r[c] for r in rows]
            has_null = any(v is None for v in vals)
            if c in ("rn", "id"):
                dtypes[c] = "Int64" if has_null or g.chance(0.2) else "int64"
            elif c in ("k", "u"):
                dtypes[c] = g.pick(["Int32", "Int64"]) if has_null else g.pick(["int32", "int64", "Int32"])
            elif c == "grp":
                dtypes[c] = g.pick(["Int16", "Int64"]) if has_null else g.pick(["int16", "int64", "Int16"])
            elif c == "flag":
                dtypes[c] = "boolean" if has_null else g.pick(["bool", "boolean"])
            elif c == "c":
                dtypes[c] = "int64"
            elif c == "f":
                dtypes[c] = "float64"
            elif c == "ts":
                dtypes[c] = g.pick(["datetime64[us]", "datetime64[ns]", "object"])
            elif c == "j":
                dtypes[c] = "json" if all(v is None or isinstance(v, dict) for v in vals) and g.chance(0.6) \
                    else "object"
            else:
                dtypes[c] = g.pick(["object", "string"])
        br = g.pick(BATCH_ROWS)
        return Load(label, rows, cols, dtypes, way, br, freeze, not nan, target, "")


    # -- the whole scenario
    def build(self) -> Scenario:
        g = self.g
        shape = self.build_shape()
        self.layout = g.wpick(LAYOUTS)
        self.value_params(shape)
        # NULL keys: never in a primary key or under NULLS NOT DISTINCT (a second NULL is a fault)
        self.nonull = {"rn"} | {CARRIER[ix.kind] for ix in shape.indexes if ix.kind == "pk" or ix.nnd}
        if self.partitioned:
            self.make_parts(shape)
            if not any(p.default for p in shape.parts):
                self.nonull.add("id")  # a NULL id would have no partition
        template = g.wpick(TEMPLATES)
        self.next_up = 0
        self.next_down = SLOT_SPACE
        self.spacing = self.max_rows + 2
        self.inside_at = 0
        self.used: Set[int] = set()
        self.group = -1
        fault_mode = g.wpick([("none", 45), ("one", 45), ("multi", 10)])
        if fault_mode == "none" and g.chance(0.3) and not shape.partitioned:
            shape.cols.append("sn")  # a volatile default (nextval), safe without failing loads
        model = Model(shape)
        steps: List[Step] = []
        sc = Scenario(self.seed, self.index, template, shape, steps, layout=self.layout)

        def run(st: Step) -> Expect:
            e = apply(model, st)
            st.expect = e
            steps.append(st)
            return e

        existing = template in ("append", "truncate", "truncate_outer_sp", "truncate_sub", "autocommit")
        sp_pre = None
        if template == "sp_rollback":
            sp_pre = g.pick(["create", "truncate", "none"])
            existing = sp_pre != "create"
        deferrables = [ix for ix in shape.indexes if ix.deferrable]
        late_ok = [ix for ix in shape.indexes if ix.kind not in ("pk",)]
        for ix in late_ok:
            if g.chance(0.12):
                ix.late = True
        if existing:
            run(Step("create", setup=True))
            npre = g.wpick([(0, 1), (g.r.randint(1, 30), 2), (g.r.randint(31, 1500), 3),
                            (g.r.randint(1500, 4000), 0.6)])
            npre = min(npre, self.rows_left // 3)
            nan = self.nan_ok
            pre = self.rows_for(npre, shape, nan)
            pre = self.route(pre, shape, None)
            self.rows_left -= len(pre)
            if pre:
                run(Step("pre", pre, setup=True))
                if template in ("append", "autocommit") and not shape.partitioned and g.chance(0.15):
                    run(Step("invalid_index", setup=True))
            if any(ix.late for ix in shape.indexes):
                run(Step("create_index", setup=True))
            if pre and g.chance(0.25):
                gone = {r["rn"] for r in g.r.sample(pre, max(1, len(pre) // g.pick([2, 5, 20])))}
                run(Step("delete", gone, setup=True))
            if g.chance(0.2):
                run(Step("vacuum", setup=True))
        # the transaction
        faults_left = {"none": 0, "one": 1, "multi": g.r.randint(2, 3)}[fault_mode]

        def do_load(label: str, target_parent: bool = True, guard: Optional[bool] = None,
                    reuse: bool = True, rows: Optional[List[Dict[str, Any]]] = None, auto: bool = False) -> Expect:
            nonlocal faults_left
            nan = self.nan_ok and g.chance(0.5)
            if rows is None:
                n = self.pick_n()
                freed = self.free_donors(model, shape) if reuse else []
                rows = self.rows_for(n, shape, nan, freed)
                self.near_misses(rows, shape)
                rows, order = self.order_rows(rows, shape)
            else:
                rows = [dict(r) for r in rows]
                order = "the rows of the load rolled back"
                nan = any(isinstance(r.get("f"), float) and math.isnan(r["f"]) for r in rows)
            target = TABLE
            if shape.partitioned and not target_parent:
                # straight into a partition: one that takes rows of this frame, most often
                homes = Counter(self.home(r, shape) for r in rows)
                full = [p.name for p in shape.parts if homes.get(p.name)]
                target = g.pick(full) if full and g.chance(0.9) else g.pick([p.name for p in shape.parts])
            rows = self.route(rows, shape, None if target == TABLE else target)
            self.rows_left -= len(rows)
            self.cur_nan = nan
            fl: List[Fault] = []
            if faults_left and rows and g.chance(0.7 if fault_mode == "one" else 0.6):
                nf = 1 if fault_mode == "one" else min(faults_left, g.r.randint(1, faults_left))
                kinds = [(ix, k) for ix, k in self.fault_kinds(shape, bool(model.rows)) if ix.name in model.active]
                for _ in range(nf):
                    if not kinds:
                        break
                    ix, kind = g.pick(kinds)
                    saved = list(rows)
                    f = self.inject(rows, ix, kind, model.rows, shape)
                    if f is not None and target != TABLE and len(self.route(rows, shape, target)) != len(rows):
                        f = None  # the faulty row would belong to another partition
                    if f is None:
                        rows[:] = saved
                    else:
                        fl.append(f)
                        faults_left -= 1
            if guard is None:
                guard = not auto and g.chance(0.35)
            freeze = False
            if not auto and g.chance(0.3):
                if st_guard_freeze_ok(model, guard, target):
                    freeze = True
                else:
                    freeze = g.chance(0.1)  # where COPY refuses FREEZE: both must refuse it alike
            ld = self.make_load(label, rows, shape, nan, freeze, target)
            ld.order = order
            ld.faults = fl
            return run(Step("autoload" if auto else "load", ld, guard=guard))

        def st_guard_freeze_ok(m: Model, guard: bool, target: str) -> bool:
            if not m.in_tx or guard:
                return False
            return m.freeze_error(target == TABLE) is None

        def begin() -> None:
            run(Step("begin"))
            if deferrables and g.chance(0.3):
                run(Step("set_constraints", g.pick(["DEFERRED", "IMMEDIATE"])))

        def finish() -> None:
            if not model.in_tx:
                return
            if deferrables:
                dups = self.dup_rns(model, shape)
                if dups and g.chance(0.3):
                    run(Step("delete", {max(dups)}))  # a deferred duplicate removed before the check
                if g.chance(0.3) and not run(Step("set_constraints", "IMMEDIATE")).ok:
                    run(Step("rollback"))
                    return
            run(Step("commit" if g.chance(0.85) else "rollback"))

        def after(e: Expect, guarded: bool) -> bool:
            """After a step: False when the transaction is aborted (then rolled back here)."""
            if e.ok or guarded:
                return True
            run(Step("rollback"))
            return False

        if template == "autocommit":
            for i in range(g.pick([1, 1, 2, 3])):
                do_load(f"L{i + 1}", auto=True, target_parent=g.chance(0.8))
        elif template in ("append", "create", "truncate"):
            begin()
            if template == "create":
                run(Step("create"))
            elif template == "truncate":
                run(Step("truncate"))
            if template in ("create", "truncate") and g.chance(0.3):
                ins = self.route(self.rows_for(self.pick_n(small=True), shape, False), shape, None)
                e = run(Step("insert", ins))
                if not after(e, False):
                    return self.finish_scenario(sc, shape)
            if template == "append" and model.rows and g.chance(0.2):
                gone = {r["rn"] for r in g.r.sample(model.rows, max(1, len(model.rows) // 4))}
                run(Step("delete", gone))
            nloads = g.pick([1, 1, 2, 2, 3])
            for i in range(nloads):
                e = do_load(f"L{i + 1}", target_parent=g.chance(0.8))
                if not after(e, steps[-1].guard):
                    return self.finish_scenario(sc, shape)
                # (not with deferred constraint checks pending: CREATE INDEX refuses, 55006)
                if i == 0 and any(ix.late for ix in shape.indexes) and template == "create" and g.chance(0.5) \
                        and not any(model.deferred.values()):
                    e = run(Step("create_index"))
                    if not after(e, False):
                        return self.finish_scenario(sc, shape)
            finish()
        elif template == "sp_rollback":
            begin()
            if sp_pre == "create":
                run(Step("create"))
            elif sp_pre == "truncate":
                run(Step("truncate"))
            run(Step("savepoint", "a"))
            first_rows = None
            for i in range(g.pick([1, 1, 2])):
                e = do_load(f"L{i + 1}", guard=g.chance(0.3))
                if i == 0:
                    first_rows = steps[-1].arg.rows
                if not e.ok and not steps[-1].guard:
                    # the transaction is aborted: ROLLBACK TO the savepoint recovers it
                    break
            run(Step("rollback_to", "a"))
            again = first_rows is not None and g.chance(0.6)
            e = do_load("again" if again else "L3", rows=first_rows if again else None)
            if after(e, steps[-1].guard):
                finish()
        elif template == "truncate_outer_sp":
            begin()
            run(Step("truncate"))
            run(Step("savepoint", "a"))
            e = do_load("L1", guard=g.chance(0.2))
            if not e.ok and not steps[-1].guard:
                run(Step("rollback_to", "a"))
            elif g.chance(0.5):
                run(Step("release", "a"))
            else:
                run(Step("rollback_to", "a"))
            if g.chance(0.7):
                e = do_load("L2")
                if not after(e, steps[-1].guard):
                    return self.finish_scenario(sc, shape)
            finish()
        elif template == "create_sub":
            begin()
            run(Step("savepoint", "a"))
            run(Step("create"))
            e = do_load("L1", guard=g.chance(0.3))
            if not e.ok and not steps[-1].guard:
                run(Step("rollback_to", "a"))  # the table is gone again
                finish()
                return self.finish_scenario(sc, shape)
            if g.chance(0.75):
                run(Step("release", "a"))
                e = do_load("L2")
                if not after(e, steps[-1].guard):
                    return self.finish_scenario(sc, shape)
            else:
                run(Step("rollback_to", "a"))
            finish()
        elif template == "truncate_sub":
            begin()
            run(Step("savepoint", "a"))
            run(Step("truncate"))
            e = do_load("L1", guard=g.chance(0.3))
            if (not e.ok and not steps[-1].guard) or g.chance(0.6):
                run(Step("rollback_to", "a"))  # the old relfilenode and its indexes are back
            else:
                run(Step("release", "a"))
            e = do_load("L2", reuse=False)
            if after(e, steps[-1].guard):
                finish()
        return self.finish_scenario(sc, shape)

    def finish_scenario(self, sc: Scenario, shape: Shape) -> Scenario:
        sc.queries = self.make_queries(sc, shape)
        sc.notes = self.notes
        return sc

    def dup_rns(self, model: Model, shape: Shape) -> Set[int]:
        """rn of rows that duplicate an earlier row under a deferrable constraint."""
        out: Set[int] = set()
        for ix in shape.indexes:
            if not ix.deferrable or ix.enforce != "unique":
                continue
            seen: Set[Any] = set()
            for r in model.rows:
                k = ukey(ix, r)
                if k is None:
                    continue
                if k in seen:
                    out.add(r["rn"])
                seen.add(k)
        return out

    def pick_n(self, small: bool = False) -> int:
        g = self.g
        if small:
            n = g.r.randint(1, 40)
        else:
            n = g.wpick([(0, 1), (1, 3), (g.r.randint(2, 30), 7), (g.r.randint(31, 700), 6),
                         (g.pick([999, 1000, 1001, 1023, 1024, 1025, 2048, 2049]), 3),
                         (g.r.randint(701, 3000), 2), (g.r.randint(3001, 8000), 0.6)])
        return max(0, min(n, self.rows_left))

    def route(self, rows: List[Dict[str, Any]], shape: Shape, target: Optional[str]) -> List[Dict[str, Any]]:
        """Rows a partitioned table can take (and, loading a partition, only that partition's)."""
        if not shape.partitioned:
            return rows
        out = []
        for r in rows:
            home = self.home(r, shape)
            if home is None or (target is not None and home != target):
                continue
            out.append(r)
        return out

    @staticmethod
    def home(row: Dict[str, Any], shape: Shape) -> Optional[str]:
        """The partition a row goes to (None: none takes it)."""
        parts = shape.parts
        v = row.get("id")
        home = next((p for p in parts if not p.default and p.holds(v, parts)), None) or \
            next((p for p in parts if p.default), None)
        return home.name if home else None

    # -- queries
    def make_queries(self, sc: Scenario, shape: Shape) -> List[Query]:
        g = self.g
        all_rows = [r for ld in sc.loads for r in ld.rows] + [r for st in sc.steps if st.op in ("pre", "insert")
                                                               for r in st.arg]

        sample = [all_rows[i] for i in sorted(g.r.sample(range(len(all_rows)), min(len(all_rows), 200)))]
        pools = {c: [r[c] for r in sample if r.get(c) is not None] for c in shape.cols}

        def val(c: str) -> Any:
            vals = pools.get(c)
            return g.pick(vals) if vals and g.chance(0.85) else None

        out: List[Query] = []
        for ix in shape.indexes:
            for _ in range(2):
                q = self.query_for(ix, val, shape)
                if q is not None:
                    out.append(q)
        return out

    def query_for(self, ix: Ix, val: Callable[[str], Any], shape: Shape) -> Optional[Query]:
        g = self.g
        k = ix.kind
        name = ix.name

        def iv(c: str, default: int) -> int:
            v = val(c)
            return default if v is None else v

        def sv() -> str:
            v = val("s")
            return g.pick(self.s_pool) if v is None else v

        def tsv() -> str:
            v = val("ts")
            v = v if v is not None else TS0
            return ql(v.isoformat(sep=" ")) + "::timestamp"

        if k in ("pk", "uq_id", "uq_idk"):
            i = iv("id", 0)
            return g.pick([Query(f"id = {i}", name, "= on the key"),
                           Query(f"id BETWEEN {i - 50 * abs(self.id_stride)} AND {i}", name, "range on the key"),
                           Query(f"id > {i} AND id < {i + 10 * abs(self.id_stride) + 1}", name, "range")]
                          + ([Query("id IS NULL", name, "IS NULL")] if k != "pk" else []))
        if k == "uq_ks":
            kk, s = iv("k", 0), sv()
            return g.pick([Query(f"k = {kk} AND s = {ql(s)}", name, "= on both columns"),
                           Query(f"k = {kk}", name, "= on the leading column"),
                           Query(f"k BETWEEN {kk - 5} AND {kk + 5} AND s >= {ql(s)}", name, "ranges")])
        if k in ("uq_s", "bt_s", "sp_s"):
            s = sv()
            if k == "bt_s" and 'COLLATE "C"' in ix.sql:
                return g.pick([Query(f's COLLATE "C" > {ql(s)}', name, "range in the index's collation C"),
                               Query(f's COLLATE "C" = {ql(s)}', name, "= in collation C")])
            if k == "bt_s" and 'COLLATE "en-x-icu"' in ix.sql:
                return Query(f's COLLATE "en-x-icu" < {ql(s)}', name, "range in ICU en")
            if k == "bt_s" and "text_pattern_ops" in ix.sql:
                return Query(f"s ~>=~ {ql(s)} AND s ~<~ {ql(s + 'zz')}", name, "pattern-ops range")
            if k == "sp_s":
                return g.pick([Query(f"s = {ql(s)}", name, "="), Query(f"s ^@ {ql(s[:2])}", name, "prefix")])
            return g.pick([Query(f"s = {ql(s)}", name, "= in the column's collation"),
                           Query(f"s > {ql(s)}", name, "range in the column's collation"),
                           Query(f"s BETWEEN {ql(s)} AND {ql(s + 'zz')}", name, "range"),
                           Query("s IS NULL", name, "IS NULL")])
        if k == "uq_f" or k == "bt_f":
            f = val("f")
            f = 0.0 if f is None else f
            lit = "'NaN'::float8" if isinstance(f, float) and math.isnan(f) else \
                ("'Infinity'::float8" if f == math.inf else "'-Infinity'::float8" if f == -math.inf else repr(f))
            return g.pick([Query(f"f = {lit}", name, "= on float (0 = -0, NaN = NaN)"),
                           Query(f"f >= {lit}", name, "range on float"), Query("f = 'NaN'::float8", name, "NaN")])
        if k == "uq_lower":
            e = val("e") or "ab"
            return g.pick([Query(f"lower(e) = {ql(e.lower())}", name, "the expression"),
                           Query(f"lower(e) > {ql(e.lower())}", name, "range on the expression")])
        if k == "uq_partial":
            kk = iv("k", 0)
            return g.pick([Query(f"flag AND k = {kk}", name, "the predicate and ="),
                           Query(f"flag AND k BETWEEN {kk - 100} AND {kk + 100}", name, "the predicate and a range")])
        if k == "def_u":
            u = iv("u", 0)
            return g.pick([Query(f"u = {u}", name, "="), Query(f"u BETWEEN {u - 20} AND {u + 20}", name, "range")])
        if k == "excl":
            gr = iv("grp", 1)
            if ix.partial == "grp" and gr == 0:
                gr = 1  # the index holds no row of group 0
            r = val("r")
            lo = r.lo if isinstance(r, Rng) and r.lo is not None else 0
            return Query(f"grp = {gr} AND r && int4range({lo - 5}, {lo + 25})", name, "= and && (btree_gist)")
        if k == "bt_multi":
            if "(grp, ts DESC" in ix.sql:
                return Query(f"grp = {iv('grp', 1)} AND ts < {tsv()}", name, "= then a DESC range")
            if "(k, s, id)" in ix.sql:
                return Query(f"k = {iv('k', 1)} AND s >= {ql(sv())}", name, "= then a range")
            if "(k NULLS FIRST" in ix.sql:
                return Query(f"k = {iv('k', 1)} AND f < 10", name, "= then a DESC range")
            return Query(f"ts = {tsv()}", name, "= on the leading column")
        if k == "expr":
            if "(k % 7)" in ix.sql:
                return Query(f"(k % 7) = {g.r.randint(-6, 6)}", name, "the expression")
            if "md5(s)" in ix.sql:
                return Query(f"md5(s) = md5({ql(sv())})", name, "the expression")
            if "(id / 1000)" in ix.sql:
                return Query(f"(id / 1000) = {iv('id', 0) // 1000 if iv('id', 0) >= 0 else -(-iv('id', 0) // 1000)}",
                             name, "the expression")
            if "lower(s)" in ix.sql:
                return Query(f"lower(s) = lower({ql(sv())})", name, "the expression")
            return Query(f"ts::date = {tsv()}::date", name, "the expression")
        if k == "partial":
            if "WHERE k > 0" in ix.sql:
                return Query(f"k > 0 AND ts <= {tsv()}", name, "the predicate")
            if "flag IS NOT TRUE" in ix.sql:
                return Query(f"flag IS NOT TRUE AND id >= {iv('id', 0)}", name, "the predicate")
            return Query(f"grp = 1 AND s <= {ql(sv())}", name, "the predicate")
        if k == "hash":
            c = ix.cols[0]
            if c == "s":
                return Query(f"s = {ql(sv())}", name, "= on hash")
            return Query(f"{c} = {iv(c, 0)}", name, "= on hash")
        if k == "brin":
            if ix.cols[0] == "ts":
                return Query(f"ts BETWEEN {tsv()} AND {tsv()} + interval '3 hours'", name, "range on BRIN")
            i = iv("id", 0)
            return Query(f"id BETWEEN {i} AND {i + 20 * abs(self.id_stride)}", name, "range on BRIN")
        if k == "gin_arr":
            a, b = g.r.randint(0, 30), g.r.randint(0, 30)
            return g.pick([Query(f"arr @> ARRAY[{a}]", name, "@>"), Query(f"arr && ARRAY[{a}, {b}]", name, "&&"),
                           Query(f"arr @> ARRAY[{a}, {b}]", name, "@> two")])
        if k == "gin_j":
            opts = [Query(f"j @> '{{\"a\": {g.r.randint(0, 9)}}}'", name, "@>"),
                    Query(f"j @> {ql(json.dumps({'tags': [g.pick(WORDS[:8])]}))}", name, "@> nested")]
            if "jsonb_path_ops" not in ix.sql:
                opts.append(Query(f"j ? {ql(g.pick(['b', 'tags', 'n']))}", name, "?"))
            return g.pick(opts)
        if k == "gin_tsv":
            w = " ".join(g.r.sample(WORDS, g.r.randint(1, 2)))
            return Query(f"to_tsvector('simple', doc) @@ plainto_tsquery('simple', {ql(w)})", name, "@@")
        if k in ("gist_r", "sp_r"):
            r = val("r")
            lo = r.lo if isinstance(r, Rng) and r.lo is not None else g.r.randint(-50, 50)
            return g.pick([Query(f"r && int4range({lo}, {lo + 7})", name, "&&"),
                           Query(f"r @> {lo + 1}", name, "@> an element"),
                           Query(f"r <@ int4range({lo - 30}, {lo + 30})", name, "<@")])
        if k in ("gist_p", "sp_p"):
            x, y = g.r.randint(0, 20), g.r.randint(-10, 10)
            p = val("p")
            return g.pick([Query(f"p <@ box '(({x},{y}),({x + 6},{y + 5}))'", name, "<@ box"),
                           Query(f"p ~= point {ql(p or '(1,1)')}", name, "~=")])
        if k == "gist_k":
            kk = iv("k", 0)
            return g.pick([Query(f"k = {kk}", name, "= (btree_gist)"), Query(f"k < {kk}", name, "< (btree_gist)")])
        return None


# ---------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------


@dataclass
class Out:
    ok: bool = True
    sqlstate: Optional[str] = None
    message: str = ""
    count: Optional[int] = None
    skipped: bool = False

    def short(self) -> str:
        if self.skipped:
            return "not run"
        if self.ok:
            return "ok" + (f", COPY {self.count}" if self.count is not None else "")
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"failed {self.sqlstate}: {first[:240]}"


@dataclass
class Result:
    seed: int
    index: int
    status: str = "pass"   # pass, discrepancy, crash, generator, error, skip
    reasons: List[str] = field(default_factory=list)
    outcomes: List[Tuple[Out, Out]] = field(default_factory=list)
    used: Dict[str, Set[str]] = field(default_factory=dict)  # query-intended index -> index names EXPLAIN showed
    hits: Set[str] = field(default_factory=set)  # indexes some query of theirs used (EXPLAIN)
    checks: int = 0
    queries_run: int = 0
    report: str = ""
    seconds: float = 0.0


class _Stop(Exception):
    pass


RANK = {"pass": 0, "skip": 0, "generator": 1, "error": 2, "discrepancy": 3, "crash": 4}


def render(stmt: str, schema: str) -> str:
    return stmt.replace(S, qi(schema))


_EXPLAIN_RE = re.compile(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+)")

#: The plan settings of the index checks: index scans only, bitmap scans only, and the truth.
PLAN_DEFAULTS = {"enable_seqscan": "on", "enable_bitmapscan": "on", "enable_indexscan": "on",
                 "enable_indexonlyscan": "on"}
MODES = {
    "index": {"enable_seqscan": "off", "enable_bitmapscan": "off", "enable_indexscan": "on",
              "enable_indexonlyscan": "on"},
    "bitmap": {"enable_seqscan": "off", "enable_bitmapscan": "on", "enable_indexscan": "off",
               "enable_indexonlyscan": "off"},
    "seq": {"enable_seqscan": "on", "enable_bitmapscan": "off", "enable_indexscan": "off",
            "enable_indexonlyscan": "off"},
}


def ensure_extensions(conn: psycopg.Connection) -> None:
    for ext in ("amcheck", "btree_gist"):
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")


@contextlib.contextmanager
def scratch_database(dsn: str, prefix: str) -> Iterator[str]:
    """A UTF8 database of its own (zcimport, amcheck, btree_gist), dropped afterwards: the conninfo."""
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        coll, ctype = conn.execute("SELECT datcollate, datctype FROM pg_database "
                                   "WHERE datname = current_database()").fetchone()
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE {} LC_CTYPE {}")
                         .format(sql.Identifier(name), sql.Literal(coll), sql.Literal(ctype)))
        except psycopg.Error:  # the current database's locale is not a UTF-8 one
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' "
                                 "LC_CTYPE 'C'").format(sql.Identifier(name)))
        other = psycopg.conninfo.make_conninfo(dsn, dbname=name)
        try:
            with psycopg.connect(other, autocommit=True) as c:
                c.execute("CREATE EXTENSION zcimport")
                ensure_extensions(c)
            yield other
        finally:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Runner:
    """Runs scenarios in twin schemas: zcimport on one connection, COPY on the other."""

    def __init__(self, dsn: str, server_log: Optional[str] = None, keep: bool = False, out: Any = None) -> None:
        self.dsn = dsn
        self.log = ServerLog(server_log if server_log is not None else default_server_log(dsn))
        self.keep = keep
        self.out = out or sys.stdout
        self.runs = 0
        self.zc = self._connect()
        self.cp = self._connect()
        self.watcher = self._connect()
        ensure_extensions(self.zc)
        self.icu = bool(self.zc.execute("SELECT count(*) FROM pg_collation WHERE collprovider = 'i' "
                                        "AND collname = 'en-x-icu'").fetchone()[0])

    def _connect(self, wait: float = 0) -> psycopg.Connection:
        return connect_runner(self.dsn, wait, "SET TimeZone = 'UTC'", "SET client_encoding = 'UTF8'")

    def close(self) -> None:
        for c in (self.zc, self.cp, self.watcher):
            if not c.closed:
                c.close()

    @staticmethod
    def _alive(conn: psycopg.Connection) -> bool:
        try:
            if conn.closed or conn.broken:
                return False
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _reconnect(self) -> None:
        for attr in ("zc", "cp", "watcher"):
            c = getattr(self, attr)
            if not self._alive(c):
                try:
                    c.close()
                except Exception:
                    pass
                setattr(self, attr, self._connect(wait=120))

    # -- one scenario
    def run(self, sc: Scenario) -> Result:
        t0 = time.monotonic()
        res = Result(sc.seed, sc.index)
        if sc.shape.needs_icu and not self.icu:
            res.status = "skip"
            res.reasons.append("the server has no ICU collations")
            return res
        tag = f"{os.getpid()}_{next(_COUNTER)}"
        zs, cs = f"riz_{tag}", f"ric_{tag}"
        self._shape = sc.shape
        self.log.mark()
        for c in (self.zc, self.cp, self.watcher):
            if self._alive(c):
                self._set(c, PLAN_DEFAULTS)  # a check that failed halfway may have left them off
        self.runs += 1
        if self.runs % 150 == 0:
            self.close()  # fresh backends now and then: thousands of CREATE/DROP bloat their caches
        self._reconnect()
        try:
            for conn, schema in ((self.zc, zs), (self.cp, cs)):
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                for stmt in sc.shape.schema_stmts():
                    conn.execute(render(stmt, schema))  # type: ignore[arg-type]
            self.steps(sc, zs, cs, res)
        except _Stop:
            pass
        except Exception as ex:  # a bug of the harness, or an unexpected client error
            if res.status == "pass":
                res.status = "error"
            res.reasons.append(f"{type(ex).__name__}: {ex}\n{traceback.format_exc()}")
        finally:
            lost = not (self._alive(self.zc) and self._alive(self.cp) and self._alive(self.watcher))
            lines = self._crash_lines(wait=5 if lost else 0)
            if lost or lines:
                res.status = "crash"
                res.reasons.insert(0, "the server crashed: " + ("connection lost; " if lost else "")
                                   + "; ".join(lines[:5]))
                self._reconnect()
            if not (self.keep and res.status != "pass"):
                for conn, schema in ((self.zc, zs), (self.cp, cs)):
                    try:
                        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                            conn.execute("ROLLBACK")
                        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
                    except psycopg.Error:
                        pass
        res.seconds = time.monotonic() - t0
        if res.status not in ("pass", "skip"):
            res.report = self.report(sc, res, zs, cs)
        return res

    def _crash_lines(self, wait: float) -> List[str]:
        deadline = time.monotonic() + wait
        while True:
            lines = self.log.crash_lines()
            if lines or time.monotonic() >= deadline or not self.log.path:
                return lines
            time.sleep(0.2)

    def fail(self, res: Result, status: str, reason: str, stop: bool = False) -> None:
        if RANK[status] > RANK[res.status]:
            res.status = status
        res.reasons.append(reason)
        if stop:
            raise _Stop()

    # -- the steps, in lockstep
    def steps(self, sc: Scenario, zs: str, cs: str, res: Result) -> None:
        twins = (("zcimport", self.zc, zs), ("COPY", self.cp, cs))
        snaps: Dict[str, Dict[str, Any]] = {"zcimport": {}, "COPY": {}}

        def snap(key: str) -> None:
            for name, conn, schema in twins:
                snaps[name][key] = self.snapshot(conn, schema)

        for i, st in enumerate(sc.steps):
            label = f"step {i} ({st.describe()})"
            if st.op in ("begin", "autoload"):
                snap("tx")  # what a failed transaction must leave
            elif st.op == "savepoint":
                snap("sp:" + st.arg)
            elif st.op == "load" and st.guard:
                snap("guard")
            zo, co = (self.execute(conn, name, schema, st) for name, conn, schema in twins)
            res.outcomes.append((zo, co))
            for o, (name, conn, _) in zip((zo, co), twins):
                if conn.broken or conn.closed:
                    self.fail(res, "crash", f"{label}: {name}'s connection was lost: {o.short()}", stop=True)
            # the twins agree
            if zo.ok != co.ok:
                self.fail(res, "discrepancy", f"{label}: only one twin failed: zcimport {zo.short()}; "
                                              f"COPY {co.short()}", stop=True)
            if not zo.ok:
                exp = set(st.expect.states)
                if zo.sqlstate != co.sqlstate and not (len(exp) > 1 and zo.sqlstate in exp):
                    self.fail(res, "discrepancy", f"{label}: different SQLSTATEs: zcimport {zo.short()}; "
                                                  f"COPY {co.short()}")
            elif zo.count != co.count:
                self.fail(res, "discrepancy", f"{label}: counts differ: zcimport {zo.count}, COPY {co.count}")
            # COPY agrees with the model (else the generator, or its model, is wrong)
            if st.setup and not co.ok:
                self.fail(res, "generator", f"{label}: a setup step failed: {co.short()}", stop=True)
            if co.ok != st.expect.ok:
                self.fail(res, "generator", f"{label}: the model expected {st.expect}, COPY {co.short()}",
                          stop=True)
            if not co.ok and co.sqlstate not in st.expect.states:
                self.fail(res, "generator", f"{label}: the model expected {st.expect}, COPY {co.short()}")
            # what each twin holds now
            if zo.ok:
                if st.op in ("load", "autoload", "create_index"):
                    self.check(sc, twins, res, f"after {label}")
                elif st.op == "rollback_to":
                    self.compare_snap(twins, snaps, "sp:" + st.arg, f"after {label}", res)
                    self.check(sc, twins, res, f"after {label}")
                elif st.op == "rollback":
                    self.compare_snap(twins, snaps, "tx", f"after {label}", res)
            elif st.op == "load" and st.guard:
                self.compare_snap(twins, snaps, "guard", f"after {label} failed (ROLLBACK TO its savepoint)", res)
            elif st.op in ("commit", "autoload"):
                self.compare_snap(twins, snaps, "tx", f"after {label} failed", res)
        for _, conn, _ in twins:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.fail(res, "generator", "the steps left a transaction open")
                conn.execute("ROLLBACK")
        self.check(sc, twins, res, "at the end, after the transaction")
        # and from a session that did nothing but watch: its caches learned of the new relfilenodes
        # (a TRUNCATE's, a rebuilt index's) from invalidation messages alone
        self.check(sc, (("zcimport", self.watcher, zs), twins[1]), res,
                   "at the end, seen from another session")
        if res.queries_run and not any(res.used.values()):
            self.fail(res, "generator", "vacuous: no query used any index (EXPLAIN)")

    def execute(self, conn: psycopg.Connection, twin: str, schema: str, st: Step) -> Out:
        out = Out()
        tbl = sql.Identifier(schema, TABLE)
        try:
            op = st.op
            if op == "create":
                if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    with conn.transaction():
                        for stmt in self._shape.create_stmts():
                            conn.execute(render(stmt, schema))  # type: ignore[arg-type]
                else:
                    for stmt in self._shape.create_stmts():
                        conn.execute(render(stmt, schema))  # type: ignore[arg-type]
            elif op == "create_index":
                for stmt in self._shape.late_stmts():
                    conn.execute(render(stmt, schema))  # type: ignore[arg-type]
            elif op in ("pre", "insert"):
                cols = [c for c in self._shape.cols if c != "sn"]
                rows = [[_oracle(c, r[c]) for c in cols] for r in st.arg]
                if op == "pre":
                    self.copy_rows(conn, schema, TABLE, cols, rows, False)
                else:
                    casts = [_cast(c) for c in cols]
                    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        tbl, sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                        sql.SQL(", ").join(sql.SQL("%s::" + k) for k in casts))
                    with conn.cursor() as cur:
                        cur.executemany(stmt, rows)
            elif op == "invalid_index":
                # a CREATE INDEX CONCURRENTLY that fails leaves an index neither valid nor ready: inserts
                # must leave it alone (its expression fails on every row)
                try:
                    conn.execute(render(INVALID_INDEX, schema))  # type: ignore[arg-type]
                    out = Out(False, "XX000", "CREATE INDEX CONCURRENTLY did not fail")
                except psycopg.Error as ex:
                    if ex.sqlstate != "22012":
                        raise
            elif op == "delete":
                conn.execute(sql.SQL("DELETE FROM {} WHERE rn = ANY(%s)").format(tbl), (sorted(st.arg),))
            elif op == "vacuum":
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(tbl))
            elif op == "truncate":
                conn.execute(sql.SQL("TRUNCATE {}").format(tbl))
            elif op == "begin":
                conn.execute("BEGIN")
            elif op == "commit":
                conn.execute("COMMIT")
            elif op == "rollback":
                conn.execute("ROLLBACK")
            elif op == "savepoint":
                conn.execute(sql.SQL("SAVEPOINT {}").format(sql.Identifier(st.arg)))
            elif op == "rollback_to":
                conn.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(sql.Identifier(st.arg)))
            elif op == "release":
                conn.execute(sql.SQL("RELEASE SAVEPOINT {}").format(sql.Identifier(st.arg)))
            elif op == "set_constraints":
                conn.execute(f"SET CONSTRAINTS ALL {st.arg}")
            elif op in ("load", "autoload"):
                ld: Load = st.arg
                if st.guard:
                    conn.execute("SAVEPOINT rd_guard")
                try:
                    out.count = self.load(conn, twin, schema, ld)
                except psycopg.Error:
                    if st.guard and not (conn.closed or conn.broken):
                        conn.execute("ROLLBACK TO SAVEPOINT rd_guard")
                        conn.execute("RELEASE SAVEPOINT rd_guard")
                    raise
                if st.guard:
                    conn.execute("RELEASE SAVEPOINT rd_guard")
            else:
                raise AssertionError(op)
        except psycopg.Error as ex:
            out.ok = False
            out.sqlstate = ex.sqlstate
            out.message = str(ex)
        return out

    def load(self, conn: psycopg.Connection, twin: str, schema: str, ld: Load) -> int:
        if twin == "COPY":
            return self.copy_rows(conn, schema, ld.target, ld.cols, ld.oracle_rows(), ld.freeze)
        df = ld.frame()
        if ld.way in ("copy", "libpq"):
            saved = zc_copy.FORCE_LIBPQ
            zc_copy.FORCE_LIBPQ = ld.way == "libpq"
            try:
                return zcimport.copy_dataframe(df, (schema, ld.target), conn, batch_rows=ld.batch_rows,
                                               nan_as_null=ld.nan_as_null, freeze=ld.freeze)
            finally:
                zc_copy.FORCE_LIBPQ = saved
        buf = io.BytesIO()
        zcimport.dump(df, buf, batch_rows=ld.batch_rows, nan_as_null=ld.nan_as_null)
        data = buf.getvalue()
        if ld.way == "bytea":
            rel = f"{qi(schema)}.{qi(ld.target)}"
            return conn.execute("SELECT zcimport.import_bytea(%s::regclass, %s)", (rel, data)).fetchone()[0]
        stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT zcimport{})").format(
            sql.Identifier(schema, ld.target), sql.SQL(", ").join(sql.Identifier(c) for c in ld.cols),
            sql.SQL(", FREEZE" if ld.freeze else ""))
        with conn.cursor() as cur:
            with cur.copy(stmt) as cp:
                cp.write(data)
            return cur.rowcount

    @staticmethod
    def copy_rows(conn: psycopg.Connection, schema: str, target: str, cols: List[str], rows: List[List[Any]],
                  freeze: bool) -> int:
        stmt = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
            sql.Identifier(schema, target), sql.SQL(", ").join(sql.Identifier(c) for c in cols),
            sql.SQL(" WITH (FREEZE)") if freeze else sql.SQL(""))
        with conn.cursor() as cur:
            with cur.copy(stmt) as cp:
                for row in rows:
                    cp.write_row(row)
            return cur.rowcount

    # -- what the twins hold
    def snapshot(self, conn: psycopg.Connection, schema: str) -> Optional[List[str]]:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            return None
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{qi(schema)}.{qi(TABLE)}",)).fetchone()[0]
        if not exists:
            return None
        rows = conn.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(schema, TABLE))).fetchall()
        return sorted(r[0] for r in rows)

    def compare_snap(self, twins: Any, snaps: Dict[str, Dict[str, Any]], key: str, label: str, res: Result) -> None:
        for name, conn, schema in twins:
            if key not in snaps[name]:
                continue
            now = self.snapshot(conn, schema)
            before = snaps[name][key]
            if now != before:
                self.fail(res, "discrepancy" if name == "zcimport" else "generator",
                          f"{label}: {name} does not hold what it held before: "
                          + _diff_text(before, now, "before", "now"))

    def check(self, sc: Scenario, twins: Any, res: Result, label: str) -> None:
        """Rows, index definitions, amcheck and index scans: zcimport's twin against COPY's."""
        res.checks += 1
        (_, zconn, zs), (_, cconn, cs) = twins
        za, ca = self.snapshot(zconn, zs), self.snapshot(cconn, cs)
        if za != ca:
            self.fail(res, "discrepancy", f"{label}: the twins hold different rows: "
                      + _diff_text(za, ca, "zcimport", "COPY"))
            return
        if za is None:
            return
        zi, ci = self.indexes(zconn, zs), self.indexes(cconn, cs)
        if zi != ci:
            self.fail(res, "discrepancy", f"{label}: index definitions or states differ:\n    zcimport {zi}\n"
                      f"    COPY     {ci}")
        # (no savepoints around the checks: the loads of a transaction follow one another in the same
        # subtransaction; an error here ends the scenario)
        for name, am, leaf, valid, *_ in zi:
            if am == "btree" and leaf and valid:
                try:
                    zconn.execute("SELECT bt_index_check(%s::regclass, true)", (f"{qi(zs)}.{qi(name)}",))
                except psycopg.Error as ex:
                    self.fail(res, "discrepancy", f"{label}: bt_index_check({name}, true) failed on the zcimport "
                              f"twin: {ex.sqlstate}: {ex}", stop=True)
        self.run_queries(sc, twins, res, label)

    def indexes(self, conn: psycopg.Connection, schema: str) -> List[Tuple[Any, ...]]:
        """(name, access method, has storage, valid, ready, live, unique, definition) of every index."""
        rows = conn.execute("""
            SELECT c.relname::text, am.amname::text, c.relkind = 'i', i.indisvalid, i.indisready, i.indislive,
                   i.indisunique, replace(pg_get_indexdef(i.indexrelid), %s, 'S.')
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
            WHERE i.indrelid IN (SELECT relid FROM pg_partition_tree(%s::regclass))
            ORDER BY 1""", (qi(schema) + "." if schema != schema.lower() else schema + ".",
                            f"{qi(schema)}.{qi(TABLE)}")).fetchall()
        return [tuple(r) for r in rows]

    def leaf_names(self, conn: psycopg.Connection, schema: str, ix: str) -> Set[str]:
        """The index and, for a partitioned index, its partitions' indexes; empty if it does not exist (yet)."""
        rel = f"{qi(schema)}.{qi(ix)}"
        rows = conn.execute("SELECT c.relname::text FROM pg_partition_tree(to_regclass(%s)) p "
                            "JOIN pg_class c ON c.oid = p.relid", (rel,)).fetchall()
        return {ix} | {r[0] for r in rows} if rows or self._exists(conn, rel) else set()

    @staticmethod
    def _exists(conn: psycopg.Connection, rel: str) -> bool:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (rel,)).fetchone()[0]

    @staticmethod
    def _set(conn: psycopg.Connection, settings: Dict[str, str]) -> None:
        conn.execute("SELECT " + ", ".join(f"set_config('{k}', '{v}', false)" for k, v in settings.items()))

    def _answers(self, conn: psycopg.Connection, schema: str, queries: List[Query], mode: str,
                 explain: bool) -> Tuple[List[List[str]], List[Set[str]]]:
        """Every query's rows (their rn, sorted) under a plan mode, in one statement (a scalar subquery each,
        each planned apart), and the indexes EXPLAIN shows each subquery using."""
        subs = [f"(SELECT array_agg(rn ORDER BY rn) FROM {qi(schema)}.{qi(TABLE)} t WHERE {q.where})"
                for q in queries]
        stmt = "SELECT " + ", ".join(subs)
        used: List[Set[str]] = [set() for _ in queries]
        self._set(conn, MODES[mode])
        if explain:
            part = -1
            for (line,) in conn.execute("EXPLAIN (COSTS OFF) " + stmt).fetchall():  # type: ignore[arg-type]
                m = re.search(r"InitPlan (\d+)", line)
                if m:
                    part = int(m.group(1)) - 1
                elif 0 <= part < len(used):
                    used[part].update(_EXPLAIN_RE.findall(line))
        row = conn.execute(stmt).fetchone()  # type: ignore[arg-type]
        self._set(conn, PLAN_DEFAULTS)
        return [[str(x) for x in v or []] for v in row], used

    def run_queries(self, sc: Scenario, twins: Any, res: Result, label: str) -> None:
        """The queries, on the zcimport twin with index scans only and with bitmap scans only, against a
        sequential scan of the COPY twin."""
        (_, zconn, zs), (_, cconn, cs) = twins
        leaves = {ix.name: self.leaf_names(zconn, zs, ix.name) for ix in sc.shape.indexes}
        queries = [q for q in sc.queries if leaves.get(q.uses)]
        if not queries:
            return
        try:
            truth, _ = self._answers(cconn, cs, queries, "seq", False)
        except psycopg.Error as ex:
            self.fail(res, "generator", f"{label}: the queries failed on the COPY twin: {ex.sqlstate}: {ex}",
                      stop=True)
        ams = {ix.name: ix.am for ix in sc.shape.indexes}
        for mode in ("index", "bitmap"):
            # GIN and BRIN have no plain index scans: with those off and seqscan "off", the planner would
            # walk a whole unrelated btree instead (slow, and no test of theirs)
            sel = [i for i, q in enumerate(queries) if mode == "bitmap" or ams[q.uses] not in ("gin", "brin")]
            if not sel:
                continue
            try:
                got, used = self._answers(zconn, zs, [queries[i] for i in sel], mode, True)
            except psycopg.Error as ex:
                self.fail(res, "discrepancy", f"{label}: the queries with {mode} scans failed on the zcimport "
                          f"twin (not on the COPY twin): {ex.sqlstate}: {ex}", stop=True)
            for q, g, w, u in zip([queries[i] for i in sel], got, [truth[i] for i in sel], used):
                res.queries_run += 1
                res.used.setdefault(q.uses, set()).update(u)
                if u & leaves[q.uses]:
                    res.hits.add(q.uses)
                if g != w:
                    self.fail(res, "discrepancy", f"{label}: the query WHERE {q.where} ({q.what}, meant for "
                              f"{q.uses}) with {mode} scans on the zcimport twin does not answer what a "
                              f"sequential scan answers on the COPY twin (indexes used: {sorted(u)}): "
                              + _diff_text(g, w, "zcimport", "COPY") + " (rn of the rows)")

    # -- reporting
    def report(self, sc: Scenario, res: Result, zs: str, cs: str) -> str:
        lines = [f"=== {res.status.upper()}: seed {sc.seed}, scenario {sc.index} ===",
                 "reproduce: " + repro_command(sc, self.dsn)]
        lines += ["  " + r for r in res.reasons]
        for i, (zo, co) in enumerate(res.outcomes):
            if i < len(sc.steps):
                lines.append(f"  step {i} {sc.steps[i].op}: zcimport {zo.short()}; COPY {co.short()}")
        if self.keep:
            lines.append(f"  twin schemas kept: {zs} (zcimport), {cs} (COPY)")
        lines.append(sc.describe())
        lines.append("  DDL (schema zc):")
        lines += ["    " + render(s, "zc") + ";" for s in sc.shape.render()]
        lines.append("  queries: " + "; ".join(f"[{q.uses}] {q.where}" for q in sc.queries))
        return "\n".join(lines)


def _cast(c: str) -> str:
    t = SQLTYPE[c].split(" DEFAULT")[0].replace(" NOT NULL", "")
    return {"bigserial": "bigint", "double precision": "float8"}.get(t, t)


def _diff_text(a: Optional[List[str]], b: Optional[List[str]], an: str, bn: str, limit: int = 6) -> str:
    if a is None or b is None:
        def size(x: Optional[List[str]]) -> str:
            return "no table" if x is None else f"{len(x)} rows"
        return f"{an}: {size(a)}, {bn}: {size(b)}"
    ca, cb = Counter(a), Counter(b)
    only_a = list((ca - cb).elements())
    only_b = list((cb - ca).elements())
    lines = [f"{len(a)} rows ({an}) vs {len(b)} rows ({bn}); {len(only_a)} only in {an}, {len(only_b)} only in {bn}"]
    lines += [f"      {an} only: {r[:300]}" for r in only_a[:limit]]
    lines += [f"      {bn} only: {r[:300]}" for r in only_b[:limit]]
    return "\n".join(lines)


def generator_fingerprint() -> str:
    """A hash of this file: a scenario replays only with the generator that drew it."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def repro_command(sc: Scenario, dsn: str) -> str:
    return (f"PYTHONPATH=python python3 test/python/randindex.py --seed {sc.seed} --index {sc.index} "
            f"--dsn '{dsn}' -v")


# ---------------------------------------------------------------------------
# what the generator covers
# ---------------------------------------------------------------------------


def coverage(seed: int, count: int, start: int = 0) -> Dict[str, Dict[str, int]]:
    """Tallies of what scenarios (seed, start..start+count) contain; no database needed."""
    tallies: Dict[str, Counter] = {k: Counter() for k in (
        "template", "layout", "collation", "indexes", "faults", "expected", "steps", "ways", "orders",
        "rows per load", "options")}
    for i in range(start, start + count):
        sc = make_scenario(seed, i)
        sh = sc.shape
        tallies["template"][sc.template] += 1
        tallies["layout"][sc.layout] += 1
        tallies["collation"][sh.coll] += 1
        for ix in sh.indexes:
            extra = (" NULLS NOT DISTINCT" if ix.nnd else "") + (" INITIALLY DEFERRED" if ix.deferred else
                                                                 " DEFERRABLE" if ix.deferrable else "") + \
                (" partial" if ix.partial else "") + (" late" if ix.late else "")
            tallies["indexes"][ix.kind + extra] += 1
            tallies["indexes"]["(am) " + ix.am] += 1
        for f in sc.faults:
            tallies["faults"][f"{f.kind} on {sh.ix(f.ix).kind}" + (f" ({f.note.split(' duplicates')[0]})"
                                                                   if "case" in f.note or "-0" in f.note else "")] += 1
        if not sc.faults:
            tallies["faults"]["none"] += 1
        for st in sc.steps:
            tallies["steps"][st.op + (" (guarded)" if st.guard else "") + (" (setup)" if st.setup else "")] += 1
            if not st.expect.ok:
                tallies["expected"][f"{st.op} fails {'/'.join(st.expect.states)}"] += 1
            if st.op in ("load", "autoload"):
                ld: Load = st.arg
                tallies["ways"][ld.way + (" FREEZE" if ld.freeze else "") + (" into a partition"
                                                                             if ld.target != TABLE else "")] += 1
                tallies["orders"][ld.order.split(" by")[0]] += 1
                n = len(ld.rows)
                tallies["rows per load"]["0" if n == 0 else "1" if n == 1 else "2-30" if n <= 30 else
                                         "31-998" if n < 999 else "999-1025" if n <= 1025 else
                                         "1026-3000" if n <= 3000 else ">3000"] += 1
        for flag, on in (("partitioned", sh.partitioned), ("UNLOGGED", sh.unlogged), ("BEFORE ROW trigger", sh.trigger),
                         ("bigserial", "sn" in sh.cols), ("fillfactor", bool(sh.fillfactor)),
                         ("invalid index", any(st.op == "invalid_index" for st in sc.steps))):
            if on:
                tallies["options"][flag] += 1
    return {k: dict(v.most_common()) for k, v in tallies.items()}


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    ap = long_mode_parser("zcimport against COPY: indexes and transactions", 12000)
    args = ap.parse_args(argv)
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
    hits: Counter = Counter()
    failures = 0
    t0 = time.monotonic()
    for n, i in enumerate(indexes):
        sc = make_scenario(args.seed, i, max_rows=args.max_rows)
        if args.verbose:
            print(sc.describe())
        res = runner.run(sc)
        tally[res.status] = tally.get(res.status, 0) + 1
        for ix in sc.shape.indexes:
            hits[(ix.am, ix.name in res.hits)] += 1
        if args.verbose:
            print(f"  -> {res.status} in {res.seconds:.2f}s: {res.checks} checks, {res.queries_run} index queries; "
                  f"used by EXPLAIN: {sorted(res.hits)}")
            for j, (zo, co) in enumerate(res.outcomes):
                print(f"     step {j} {sc.steps[j].op}: zcimport {zo.short()}; COPY {co.short()}")
        if res.status not in ("pass", "skip"):
            failures += 1
            print(res.report, flush=True)
            if args.stop:
                break
        elif not args.verbose and n % 100 == 99:
            print(f"... {n + 1} scenarios, {time.monotonic() - t0:.0f}s: {tally}", flush=True)
    runner.close()
    used = ", ".join(f"{am} {hits[(am, True)]}/{hits[(am, True)] + hits[(am, False)]}"
                     for am in sorted({am for am, _ in hits}))
    print(f"indexes a query used (EXPLAIN), per access method: {used}")
    print(f"seed {args.seed}: {sum(tally.values())} scenarios in {time.monotonic() - t0:.1f}s: {tally}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
