"""Upsert: ``copy_dataframe(..., on_conflict="nothing" | "update")`` (issue 10, part 3).

Differential: every load is made twice, into twin tables that start with the
same rows: (a) by zcimport, into table ``a``; (b) by hand, the oracle, into
table ``b``: psycopg's COPY (text format, ``write_row``) of the same values
into a temporary staging table, then the exact statement the upsert stands
for::

    INSERT INTO b (cols) SELECT cols FROM staging
    ON CONFLICT (keys) DO NOTHING | DO UPDATE SET c = EXCLUDED.c, ...

The two tables (read back whole, ordered by key), the returned row counts,
and on failure the SQLSTATEs must be identical; after a failure the table
is unchanged, no staging table is left, and the connection is usable.

Frames are random (a seeded generator): int64 keys (half of them already in
the table), nullable integers, floats with NULLs, text with NULLs, quotes
and non-ASCII, timestamps and timestamptz with NULLs, booleans; a random
subset of the table's columns (the others have defaults).  Targets: a
one-column primary key, a two-column primary key, a UNIQUE constraint that
is not the primary key, a partitioned table, a table with row triggers.
Drivers: psycopg 3 (autocommit, in a transaction, a DSN string), asyncio,
psycopg2, SQLAlchemy; and the command line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import pq, sql

import zcimport
from zcimport import _upsert

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"

# ---------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def schema(autoconn: Any) -> Iterator[str]:
    """A schema of the test's own (twin tables a and b, triggers...), dropped afterwards."""
    name = f"upsert_{uuid.uuid4().hex[:10]}"
    autoconn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    autoconn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def qi(*parts: str) -> str:
    """Quoted (and dotted) identifier, without a connection (psycopg 3.1 needs one)."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def q(schema: str, name: str) -> str:
    return qi(schema, name)


def twin(autoconn: Any, schema: str, ddl: str) -> None:
    """Run ddl (with {t} for the table's name) for tables a and b."""
    for t in ("a", "b"):
        autoconn.execute(ddl.format(t=q(schema, t), s=qi(schema),
                                    name=t))


def contents(conn: Any, schema: str, t: str, order: str) -> List[tuple]:
    return conn.execute(f"SELECT * FROM {q(schema, t)} ORDER BY {order}").fetchall()


def staging_tables(conn: Any) -> int:
    """Staging tables of any session (the cluster is the tests' own)."""
    return conn.execute(
        "SELECT count(*) FROM pg_catalog.pg_class WHERE relname LIKE 'zcimport\\_upsert\\_%'"
    ).fetchone()[0]


def insert_rows(conn: Any, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    if not rows:
        return
    cols = ", ".join(qi(c) for c in columns)
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def oracle(conn: Any, table: str, columns: Sequence[str], rows: Sequence[tuple], action: str,
           keys: Sequence[str]) -> int:
    """The load by hand, in conn's transaction: COPY into a staging table, then the statement."""
    ident = lambda names: ", ".join(qi(c) for c in names)  # noqa: E731
    cols = ident(columns)
    conn.execute(f"CREATE TEMP TABLE oracle_stage AS SELECT {cols} FROM {table} WITH NO DATA")
    insert_rows(conn, "oracle_stage", columns, rows)
    if action == "nothing":
        what = "DO NOTHING"
    else:
        updated = [c for c in columns if c not in keys] or list(columns)
        what = "DO UPDATE SET " + ", ".join(
            f"{ident([c])} = EXCLUDED.{ident([c])}" for c in updated)
    n = conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM oracle_stage"
                     f" ON CONFLICT ({ident(keys)}) {what}").rowcount
    conn.execute("DROP TABLE oracle_stage")
    return n


def run_oracle(dsn: str, table: str, columns: Sequence[str], rows: Sequence[tuple], action: str,
               keys: Sequence[str]) -> Tuple[Optional[int], Optional[str]]:
    """(row count, None) or (None, SQLSTATE): the oracle, committed if it succeeds."""
    with psycopg.connect(dsn) as c:
        try:
            n = oracle(c, table, columns, rows, action, keys)
        except psycopg.Error as ex:
            c.rollback()
            return None, ex.sqlstate
        c.commit()
        return n, None


def sqlstate(ex: BaseException) -> Optional[str]:
    return getattr(ex, "sqlstate", None) or getattr(ex, "pgcode", None)


# ---------------------------------------------------------------------------
# random frames
# ---------------------------------------------------------------------------

#: The table of the random differential tests: the frame has "id" and a
#: random subset of the others; d and n have defaults.
WIDE_DDL = ("CREATE TABLE {t} (id int8 PRIMARY KEY, i int4, f float8, s text, ts timestamp,"
            " tz timestamptz, b boolean, d text DEFAULT 'default', n int8 DEFAULT 42)")
WIDE_COLUMNS = ["i", "f", "s", "ts", "tz", "b"]

_TEXT = ["", "a", "é ü", "tab\there", 'q"uote', "back\\slash", "new\nline", "∑ 😀", "comma,",
         "N", "\\N", "NULL"]


def _value(rng: random.Random, col: str) -> Any:
    if col not in ("b", "id") and rng.random() < 0.2:
        return None
    if col == "i":
        return rng.randint(-2 ** 31, 2 ** 31 - 1)
    if col == "f":
        return rng.choice([0.0, -0.0, 1.5, 1e300, -2.5e-300]) if rng.random() < 0.2 \
            else rng.uniform(-1e6, 1e6)
    if col == "s":
        return "".join(rng.choice(_TEXT) for _ in range(rng.randint(0, 3)))
    if col == "ts":
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=rng.randrange(4 * 10 ** 15))
    if col == "tz":
        return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
            microseconds=rng.randrange(4 * 10 ** 15))
    if col == "b":
        return rng.random() < 0.5
    if col == "id":
        return rng.randrange(10 ** 12)
    raise AssertionError(col)


def _series(col: str, values: List[Any]) -> Any:
    """The frame's column: the dtype a user would have."""
    if col in ("id",):
        return np.array(values, dtype=np.int64)
    if col == "i":
        return pd.array(values, dtype="Int32")
    if col == "f":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if col == "s":
        return pd.Series(values, dtype=object)
    if col == "ts":
        return pd.to_datetime(pd.Series(values, dtype=object))
    if col == "tz":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True)
    if col == "b":
        return np.array(values, dtype=bool)
    # other tables' columns: from the values
    known = [v for v in values if v is not None]
    if known and all(isinstance(v, int) and not isinstance(v, bool) for v in known):
        return pd.array(values, dtype="Int64") if len(known) < len(values) \
            else np.array(values, dtype=np.int64)
    if known and all(isinstance(v, float) for v in known):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return pd.Series(values, dtype=object)


def make_frame(columns: Sequence[str], rows: Sequence[tuple]) -> pd.DataFrame:
    return pd.DataFrame({c: _series(c, [r[k] for r in rows]) for k, c in enumerate(columns)})


def random_load(rng: random.Random, existing: Sequence[int], n: int, *,
                duplicates: bool = False) -> Tuple[List[str], List[tuple]]:
    """(columns, rows): half of the keys existing, half new, in random order."""
    columns = ["id"] + [c for c in WIDE_COLUMNS if rng.random() < 0.7]
    rng.shuffle(columns)
    ids = rng.sample(list(existing), min(len(existing), n // 2))
    taken = set(existing)
    while len(ids) < n:
        k = _value(rng, "id")
        if k not in taken:
            taken.add(k)
            ids.append(k)
    if duplicates:
        ids += rng.sample(ids, max(1, n // 10))
    rng.shuffle(ids)
    rows = [tuple(k if c == "id" else _value(rng, c) for c in columns) for k in ids]
    return columns, rows


def seed_rows(rng: random.Random, n: int) -> Tuple[List[str], List[tuple]]:
    columns = ["id"] + WIDE_COLUMNS
    ids = rng.sample(range(10 ** 12), n)
    return columns, [tuple(k if c == "id" else _value(rng, c) for c in columns) for k in ids]


def setup_wide(autoconn: Any, schema: str, rng: random.Random, n: int = 60) -> List[int]:
    twin(autoconn, schema, WIDE_DDL)
    columns, rows = seed_rows(rng, n)
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), columns, rows)
    return [r[0] for r in rows]


# ---------------------------------------------------------------------------
# the differential check
# ---------------------------------------------------------------------------

#: load(frame, table, **options) -> row count: zcimport through some driver.
Loader = Callable[..., int]


def psycopg_loader(dsn: str, *, autocommit: bool = True) -> Loader:
    def load(frame: Any, table: Any, **options: Any) -> int:
        with psycopg.connect(dsn, autocommit=autocommit) as c:
            n = zcimport.copy_dataframe(frame, table, c, **options)
            assert staging_tables(c) == 0  # dropped by the load itself
            if not autocommit:
                c.commit()
            return n

    return load


def check_same(dsn: str, autoconn: Any, schema: str, columns: Sequence[str],
               rows: Sequence[tuple], action: str, keys: Optional[Sequence[str]], order: str,
               load: Optional[Loader] = None, expect_error: Optional[str] = None,
               oracle_keys: Optional[Sequence[str]] = None) -> Optional[int]:
    """Load rows into a (zcimport) and b (the oracle); assert the same outcome."""
    load = load or psycopg_loader(dsn)
    a, b = q(schema, "a"), q(schema, "b")
    before = contents(autoconn, schema, "a", order)
    frame = make_frame(columns, rows)
    options: Dict[str, Any] = {"on_conflict": action}
    if keys is not None:
        options["conflict_columns"] = keys
    got: Optional[int] = None
    got_state: Optional[str] = None
    try:
        got = load(frame, (schema, "a"), **options)
    except psycopg.Error as ex:
        got_state = sqlstate(ex)
    except Exception as ex:  # psycopg2's errors
        got_state = sqlstate(ex)
        if got_state is None:
            raise
    want, want_state = run_oracle(dsn, b, columns, rows, action,
                                  oracle_keys or keys or ["id"])
    assert (got_state, got) == (want_state, want)
    assert got_state == expect_error
    assert contents(autoconn, schema, "a", order) == contents(autoconn, schema, "b", order)
    if got_state is not None:
        assert contents(autoconn, schema, "a", order) == before
    assert staging_tables(autoconn) == 0
    return got


# ---------------------------------------------------------------------------
# random differential tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_frames(dsn, autoconn, schema, seed):
    rng = random.Random(seed)
    existing = setup_wide(autoconn, schema, rng)
    action = ["update", "nothing"][seed % 2]
    # one load after another, so that later loads meet the earlier ones' rows
    for k in range(2):
        columns, rows = random_load(rng, existing, rng.randint(1, 80),
                                    duplicates=action == "nothing" and k == 1)
        n = check_same(dsn, autoconn, schema, columns, rows, action, None, "id")
        assert n is not None and n > 0
        existing = [r[0] for r in contents(autoconn, schema, "a", "id")]


def test_default_conflict_target_is_the_primary_key_and_defaults_fill_the_rest(
        dsn, autoconn, schema):
    rng = random.Random(10)
    existing = setup_wide(autoconn, schema, rng, 10)
    rows = [(existing[0], 7), (existing[1], None), (123, 9)]
    n = check_same(dsn, autoconn, schema, ["id", "i"], rows, "update", None, "id")
    assert n == 3
    got = autoconn.execute(f"SELECT i, d, n FROM {q(schema, 'a')} WHERE id = 123").fetchone()
    assert got == (9, "default", 42)
    # update leaves the columns the frame lacks as they were
    old = autoconn.execute(f"SELECT f, s FROM {q(schema, 'b')} WHERE id = %s",
                           [existing[0]]).fetchone()
    assert autoconn.execute(f"SELECT f, s FROM {q(schema, 'a')} WHERE id = %s",
                            [existing[0]]).fetchone() == old


def test_do_nothing_keeps_the_first_of_duplicate_keys(dsn, autoconn, schema):
    rng = random.Random(11)
    existing = setup_wide(autoconn, schema, rng, 5)
    rows = [(500, 1), (existing[0], 2), (500, 3), (501, 4), (500, 5), (501, 6)]
    n = check_same(dsn, autoconn, schema, ["id", "i"], rows, "nothing", None, "id")
    assert n == 2
    assert autoconn.execute(f"SELECT id, i FROM {q(schema, 'a')} WHERE id IN (500, 501) ORDER BY id"
                            ).fetchall() == [(500, 1), (501, 4)]


def test_only_key_columns(dsn, autoconn, schema):
    """DO UPDATE with nothing but the key: SET key = EXCLUDED.key (rows count as updated)."""
    rng = random.Random(12)
    existing = setup_wide(autoconn, schema, rng, 10)
    rows = [(existing[3],), (77,)]
    for action in ("update", "nothing"):
        check_same(dsn, autoconn, schema, ["id"], rows, action, None, "id")


def test_empty_frame(dsn, autoconn, schema):
    rng = random.Random(13)
    setup_wide(autoconn, schema, rng, 3)
    assert check_same(dsn, autoconn, schema, ["id", "s"], [], "update", None, "id") == 0


def test_odd_names(dsn, autoconn, schema):
    """Quotes, percent signs (placeholders to a driver), spaces and capitals."""
    psycopg2 = pytest.importorskip("psycopg2")
    twin(autoconn, schema, 'CREATE TABLE {t} ("I%sd" int8 PRIMARY KEY, "v""q" text,'
                           ' "sp ace" float8, "%%" int4 DEFAULT 7)')
    cols = ["I%sd", 'v"q', "sp ace"]
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), cols, [(k, f"v{k}", k / 2) for k in range(5)])

    def load2(frame, table, **options):
        c = psycopg2.connect(dsn)
        try:
            n = zcimport.copy_dataframe(frame, table, c, **options)
            c.commit()
            return n
        finally:
            c.close()

    rows = [(k, f"w{k}", None) for k in range(3, 8)]
    for load in (None, load2):
        for action in ("update", "nothing"):
            check_same(dsn, autoconn, schema, cols, rows, action, None, '"I%sd"', load=load,
                       oracle_keys=["I%sd"])


# ---------------------------------------------------------------------------
# conflict targets
# ---------------------------------------------------------------------------


def test_two_column_primary_key(dsn, autoconn, schema):
    twin(autoconn, schema, "CREATE TABLE {t} (k1 int4, v text, k2 text, w float8 DEFAULT 1.5,"
                           " PRIMARY KEY (k2, k1))")
    seed = [(k % 4, f"v{k}", f"k{k % 3}") for k in range(12)]
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), ["k1", "v", "k2"], [r for r in seed if r[0] < 3])
    rows = [(k % 5, f"new{k}", f"k{k % 3}") for k in range(15)]
    for action in ("update", "nothing"):
        check_same(dsn, autoconn, schema, ["k1", "v", "k2"], rows, action, None, "k1, k2",
                   oracle_keys=["k2", "k1"])
    # the key in the other order, given explicitly: the same index
    rows = [(k % 5, f"again{k}", f"k{k % 3}") for k in range(15)]
    check_same(dsn, autoconn, schema, ["k1", "v", "k2"], rows, "update", ["k1", "k2"], "k1, k2")


def test_unique_constraint_that_is_not_the_primary_key(dsn, autoconn, schema):
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 PRIMARY KEY, code text NOT NULL UNIQUE,"
                           " v int4, w text DEFAULT 'w')")
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), ["id", "code", "v"],
                    [(k, f"c{k}", k) for k in range(10)])
    rows = [(f"c{k}", 100 + k, k) for k in range(14, 4, -1)]
    for action in ("update", "nothing"):
        n = check_same(dsn, autoconn, schema, ["code", "v", "id"], rows, action, ["code"],
                       "code")
        assert n == (10 if action == "update" else 0)


def test_rows_are_inserted_in_key_order(dsn, autoconn, schema):
    """A serial column the frame lacks is numbered in the conflict key's order
    (the documented difference from a scan of the rows in the frame's order);
    everything else is as the oracle has it."""
    twin(autoconn, schema, "CREATE TABLE {t} (id serial PRIMARY KEY, code text UNIQUE, v int4)")
    rows = [("m", 1), ("b", 2), ("z", 3), ("a", 4), ("m", 5)]
    frame = make_frame(["s", "i"], rows).rename(columns={"s": "code", "i": "v"})
    with psycopg.connect(dsn, autocommit=True) as c:
        assert zcimport.copy_dataframe(frame, (schema, "a"), c, on_conflict="nothing",
                                       conflict_columns="code") == 4
    assert run_oracle(dsn, q(schema, "b"), ["code", "v"], rows, "nothing", ["code"]) == (4, None)
    assert contents(autoconn, schema, "a", "id") == [
        (1, "a", 4), (2, "b", 2), (3, "m", 1), (5, "z", 3)]  # 4: the second "m"
    assert contents(autoconn, schema, "b", "id") == [
        (1, "m", 1), (2, "b", 2), (3, "z", 3), (4, "a", 4)]


def test_partitioned_target(dsn, autoconn, schema):
    twin(autoconn, schema,
         "CREATE TABLE {t} (id int8, region int4, v text, PRIMARY KEY (id, region))"
         " PARTITION BY LIST (region)")
    for t in ("a", "b"):
        for r in range(3):
            autoconn.execute(f"CREATE TABLE {q(schema, f'{t}_{r}')} PARTITION OF {q(schema, t)}"
                             f" FOR VALUES IN ({r})")
        insert_rows(autoconn, q(schema, t), ["id", "region", "v"],
                    [(k, k % 3, f"old{k}") for k in range(30)])
    rng = random.Random(20)
    rows = [(k, k % 3, f"new{k}") for k in rng.sample(range(60), 40)]
    for action in ("nothing", "update"):
        check_same(dsn, autoconn, schema, ["region", "v", "id"],
                   [(r[1], r[2], r[0]) for r in rows], action, None, "id, region",
                   oracle_keys=["id", "region"])
    # a row for a partition that does not exist: the server's 23514 both ways
    check_same(dsn, autoconn, schema, ["id", "region", "v"], [(1, 1, "x"), (2, 7, "y")],
               "update", None, "id, region", expect_error="23514", oracle_keys=["id", "region"])


def test_triggers_fire_as_for_the_oracle(dsn, autoconn, schema):
    s = qi(schema)
    autoconn.execute(
        f"CREATE FUNCTION {s}.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " NEW.note := TG_OP || ':' || coalesce(NEW.v, 'null'); RETURN NEW; END $$")
    autoconn.execute(
        f"CREATE FUNCTION {s}.audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" EXECUTE format('INSERT INTO {s}.%I VALUES ($1, $2, $3)', TG_ARGV[0])"
        " USING TG_OP, NEW.id, NEW.note; RETURN NULL; END $$")
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 PRIMARY KEY, v text, note text)")
    for t in ("a", "b"):
        autoconn.execute(f"CREATE TABLE {q(schema, 'audit_' + t)} (op text, id int8, note text)")
        autoconn.execute(f"CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON {q(schema, t)}"
                         f" FOR EACH ROW EXECUTE FUNCTION {s}.stamp()")
        autoconn.execute(f"CREATE TRIGGER audit AFTER INSERT OR UPDATE ON {q(schema, t)}"
                         f" FOR EACH ROW EXECUTE FUNCTION {s}.audit('audit_{t}')")
        insert_rows(autoconn, q(schema, t), ["id", "v"], [(k, f"v{k}") for k in range(10)])
    rows = [(k, None if k % 4 == 0 else f"w{k}") for k in range(5, 15)]
    for action in ("update", "nothing"):
        check_same(dsn, autoconn, schema, ["id", "v"], rows, action, None, "id")
        # the same rows fired the same triggers (in key order rather than the
        # frame's, so compared as sets)
        audit = [sorted(contents(autoconn, schema, f"audit_{t}", "1, 2, 3")) for t in "ab"]
        assert audit[0] == audit[1] and len(audit[0]) > 10


# ---------------------------------------------------------------------------
# errors: the same SQLSTATE as the oracle, and nothing left behind
# ---------------------------------------------------------------------------


def test_error_duplicate_keys_in_one_load_update(dsn, autoconn, schema):
    existing = setup_wide(autoconn, schema, random.Random(30), 10)
    for dup in (existing[2], 999):  # an existing key twice, a new key twice
        rows = [(1000, 1), (dup, 2), (1001, 3), (dup, 4)]
        check_same(dsn, autoconn, schema, ["id", "i"], rows, "update", None, "id",
                   expect_error="21000")


def test_error_another_unique_index(dsn, autoconn, schema):
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 PRIMARY KEY, u int4 UNIQUE, v text)")
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), ["id", "u", "v"], [(k, k, "x") for k in range(10)])
    for action in ("update", "nothing"):
        rows = [(100, 100, "a"), (101, 5, "b")]  # a new id whose u is taken
        check_same(dsn, autoconn, schema, ["id", "u", "v"], rows, action, None, "id",
                   expect_error="23505")
    rows = [(3, 7, "c")]  # an update that takes another row's u
    check_same(dsn, autoconn, schema, ["id", "u", "v"], rows, "update", None, "id",
               expect_error="23505")


def test_error_not_null(dsn, autoconn, schema):
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 PRIMARY KEY, v text NOT NULL)")
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), ["id", "v"], [(k, "x") for k in range(5)])
    for action in ("update", "nothing"):
        for rows in ([(10, "a"), (11, None)], [(2, None)]):
            check_same(dsn, autoconn, schema, ["id", "v"], rows, action, None, "id",
                       expect_error="23502")


def test_error_no_unique_index_for_the_conflict_columns(dsn, autoconn, schema):
    setup_wide(autoconn, schema, random.Random(31), 5)
    for action in ("update", "nothing"):
        check_same(dsn, autoconn, schema, ["id", "i"], [(1, 2)], action, ["i"], "id",
                   expect_error="42P10")


def test_error_no_primary_key(dsn, autoconn, schema):
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 UNIQUE, v text)")
    for action in ("update", "nothing"):
        # zcimport: no conflict target (its own 42P10); the oracle: ON
        # CONFLICT (id) works there, so only zcimport's side is compared
        with psycopg.connect(dsn) as c:
            c.execute("SELECT 1")
            with pytest.raises(zcimport.NoConflictTargetError) as info:
                zcimport.copy_dataframe(make_frame(["id"], [(1,)]), (schema, "a"), c,
                                        on_conflict=action)
            assert info.value.sqlstate == "42P10" and info.value.pgcode == "42P10"
            assert isinstance(info.value, psycopg.errors.InvalidColumnReference)
            assert "no primary key" in str(info.value) and "conflict_columns" in str(info.value)
            # raised before anything changed: the transaction is still usable
            assert c.info.transaction_status == pq.TransactionStatus.INTRANS
            assert c.execute("SELECT 1").fetchone() == (1,)
            assert staging_tables(c) == 0
    assert contents(autoconn, schema, "a", "id") == []


def test_error_unknown_table_and_column(dsn, autoconn, schema):
    setup_wide(autoconn, schema, random.Random(32), 3)
    with psycopg.connect(dsn, autocommit=True) as c:
        with pytest.raises(psycopg.errors.UndefinedTable):
            zcimport.copy_dataframe(make_frame(["id"], [(1,)]), (schema, "nope"), c,
                                    on_conflict="update")
        with pytest.raises(psycopg.errors.UndefinedColumn):
            zcimport.copy_dataframe(pd.DataFrame({"id": [1], "zz": [2]}), (schema, "a"), c,
                                    on_conflict="update")
        with pytest.raises(psycopg.errors.UndefinedColumn):
            zcimport.copy_dataframe(make_frame(["id"], [(1,)]), (schema, "a"), c,
                                    on_conflict="update", conflict_columns=["zz"])
        assert staging_tables(c) == 0


def test_failure_inside_the_callers_transaction(dsn, autoconn, schema):
    existing = setup_wide(autoconn, schema, random.Random(33), 5)
    before = contents(autoconn, schema, "a", "id")
    with psycopg.connect(dsn) as c:
        c.execute("SELECT 1")
        rows = [(existing[0], 1), (existing[0], 2)]
        with pytest.raises(psycopg.errors.CardinalityViolation):
            zcimport.copy_dataframe(make_frame(["id", "i"], rows), (schema, "a"), c,
                                    on_conflict="update")
        # aborted, as after any failed statement
        assert c.info.transaction_status == pq.TransactionStatus.INERROR
        c.rollback()
        assert staging_tables(c) == 0
        # success inside the caller's transaction: nothing committed, staging dropped
        n = zcimport.copy_dataframe(make_frame(["id", "i"], [(existing[1], 5), (99, 6)]),
                                    (schema, "a"), c, on_conflict="update")
        assert n == 2 and staging_tables(c) == 0
        assert c.info.transaction_status == pq.TransactionStatus.INTRANS
        c.rollback()
    assert contents(autoconn, schema, "a", "id") == before


def test_invalid_arguments_are_refused_before_connecting():
    frame = pd.DataFrame({"id": [1]})
    nowhere = "host=/nonexistent-zcimport-dir port=1 connect_timeout=1"
    for kwargs, fragment in (
            ({"on_conflict": "replace"}, "on_conflict must be"),
            ({"on_conflict": "UPDATE"}, "on_conflict must be"),
            ({"on_conflict": True}, "on_conflict must be"),
            ({"conflict_columns": ["id"]}, "conflict_columns needs on_conflict"),
            ({"on_conflict": "update", "conflict_columns": []}, "empty"),
            ({"on_conflict": "update", "conflict_columns": ["id", "id"]}, "twice"),
            ({"on_conflict": "update", "freeze": True}, "freeze=True"),
            ({"on_conflict": "nothing", "create": True}, "needs conflict_columns")):
        with pytest.raises(ValueError, match=fragment):
            zcimport.copy_dataframe(frame, "t", nowhere, **kwargs)
        with pytest.raises(ValueError, match=fragment):
            asyncio.run(zcimport.copy_dataframe_async(frame, "t", nowhere, **kwargs))
    with pytest.raises(TypeError):
        zcimport.copy_dataframe(frame, "t", nowhere, on_conflict="update", conflict_columns=[1])


def test_create_with_conflict_columns_makes_the_primary_key(dsn, autoconn, schema):
    frame = pd.DataFrame({"id": np.arange(5), "v": ["a", "b", "c", "d", "e"]})
    with psycopg.connect(dsn, autocommit=True) as c:
        assert zcimport.copy_dataframe(frame, (schema, "new"), c, create=True,
                                       on_conflict="update", conflict_columns=["id"]) == 5
        pk = c.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE conrelid = %s::regclass AND contype = 'p'",
                       [q(schema, "new")]).fetchone()
        assert pk == ("PRIMARY KEY (id)",)
        frame2 = pd.DataFrame({"id": [3, 4, 5], "v": ["x", "y", "z"]})
        assert zcimport.copy_dataframe(frame2, (schema, "new"), c, create=True,
                                       if_exists="append", on_conflict="update",
                                       conflict_columns="id") == 3
        assert contents(c, schema, "new", "id") == [
            (0, "a"), (1, "b"), (2, "c"), (3, "x"), (4, "y"), (5, "z")]
        # fail: the table exists; nothing was changed
        with pytest.raises(zcimport.TableExistsError):
            zcimport.copy_dataframe(frame2, (schema, "new"), c, create=True,
                                    on_conflict="nothing", conflict_columns="id")
        # a key twice in the frame of a new table: 21000, and no table is left
        with pytest.raises(psycopg.errors.CardinalityViolation):
            zcimport.copy_dataframe(pd.DataFrame({"id": [1, 1]}), (schema, "new2"), c,
                                    create=True, on_conflict="update", conflict_columns="id")
        assert c.execute("SELECT to_regclass(%s)", [q(schema, "new2")]).fetchone() == (None,)
        assert staging_tables(c) == 0


# ---------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------


def _driver_loads(dsn, autoconn, schema, load: Loader, seed: int) -> None:
    rng = random.Random(seed)
    existing = setup_wide(autoconn, schema, rng, 40)
    for action in ("update", "nothing"):
        columns, rows = random_load(rng, existing, 50, duplicates=action == "nothing")
        check_same(dsn, autoconn, schema, columns, rows, action, None, "id", load=load)
    rows = [(existing[0], 1), (existing[0], 2)]
    check_same(dsn, autoconn, schema, ["id", "i"], rows, "update", None, "id", load=load,
               expect_error="21000")
    check_same(dsn, autoconn, schema, ["id", "i"], [(1, 2)], "update", ["i"], "id", load=load,
               expect_error="42P10")


@pytest.mark.parametrize("how", ["autocommit", "transaction", "dsn"])
def test_psycopg(dsn, autoconn, schema, how):
    if how == "dsn":
        def load(frame, table, **options):
            return zcimport.copy_dataframe(frame, table, dsn, **options)
    else:
        load = psycopg_loader(dsn, autocommit=how == "autocommit")
    _driver_loads(dsn, autoconn, schema, load, 40)


def test_psycopg_libpq_path(dsn, autoconn, schema, monkeypatch):
    from zcimport import _copy

    monkeypatch.setattr(_copy, "FORCE_LIBPQ", True)
    _driver_loads(dsn, autoconn, schema, psycopg_loader(dsn), 41)


@pytest.mark.parametrize("autocommit", [True, False])
def test_async(dsn, autoconn, schema, autocommit):
    def load(frame, table, **options):
        async def main():
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=autocommit) as c:
                n = await zcimport.copy_dataframe_async(frame, table, c, **options)
                if not autocommit:
                    await c.commit()
                return n

        return asyncio.run(main())

    _driver_loads(dsn, autoconn, schema, load, 42)


@pytest.mark.parametrize("autocommit", [True, False])
def test_psycopg2(dsn, autoconn, schema, autocommit):
    psycopg2 = pytest.importorskip("psycopg2")

    def load(frame, table, **options):
        c = psycopg2.connect(dsn)
        try:
            c.autocommit = autocommit
            n = zcimport.copy_dataframe(frame, table, c, **options)
            if not autocommit:
                c.commit()
            return n
        finally:
            c.close()

    _driver_loads(dsn, autoconn, schema, load, 43)


@pytest.mark.parametrize("kind", ["engine", "connection", "session"])
def test_sqlalchemy(dsn, autoconn, schema, kind):
    sa = pytest.importorskip("sqlalchemy")
    psycopg2 = pytest.importorskip("psycopg2")
    engine = sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(dsn))

    def load(frame, table, **options):
        if kind == "engine":
            return zcimport.copy_dataframe(frame, table, engine, **options)
        if kind == "connection":
            with engine.begin() as sc:
                return zcimport.copy_dataframe(frame, table, sc, **options)
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            n = zcimport.copy_dataframe(frame, table, session, **options)
            session.commit()
            return n

    try:
        _driver_loads(dsn, autoconn, schema, load, 44)
    finally:
        engine.dispose()


def test_sqlalchemy_psycopg3(dsn, autoconn, schema):
    sa = pytest.importorskip("sqlalchemy")
    try:
        engine = sa.create_engine("postgresql+psycopg://",
                                  creator=lambda: psycopg.connect(dsn))
    except Exception:  # SQLAlchemy 1.4: no psycopg 3 dialect
        pytest.skip("this SQLAlchemy has no postgresql+psycopg dialect")
    try:
        def load(frame, table, **options):
            return zcimport.copy_dataframe(frame, table, engine, **options)

        _driver_loads(dsn, autoconn, schema, load, 45)
    finally:
        engine.dispose()


def test_load_frames(dsn, autoconn, schema):
    from zcimport import _copy

    rng = random.Random(46)
    existing = setup_wide(autoconn, schema, rng, 20)
    columns, rows = random_load(rng, existing, 30)

    def load(frame, table, **options):
        with psycopg.connect(dsn, autocommit=True) as c:
            return _copy.load_frames(c, [frame.iloc[:10], frame.iloc[10:]], table, **options)

    check_same(dsn, autoconn, schema, columns, rows, "update", None, "id", load=load)


# ---------------------------------------------------------------------------
# the statements
# ---------------------------------------------------------------------------


def test_the_statements():
    u = _upsert.Upsert(("s", "t"), ["id", "v w", 'q"'], "update")
    u.set_primary_key([("id",)])
    assert u.insert_sql() == (
        f'INSERT INTO "s"."t" ("id", "v w", "q""") SELECT "id", "v w", "q""" FROM'
        f' pg_temp."{u.stage}" ORDER BY "id", ctid ON CONFLICT ("id") DO UPDATE SET'
        f' "v w" = EXCLUDED."v w", "q""" = EXCLUDED."q"""')
    assert u.create_stage_sql() == (
        f'CREATE TEMP TABLE pg_temp."{u.stage}" ON COMMIT DROP AS SELECT "id", "v w", "q"""'
        f' FROM "s"."t" WITH NO DATA')
    # a conflict column that is not loaded (a serial key): no ORDER BY
    u = _upsert.Upsert("t", ["v"], "nothing", ["id"])
    assert u.insert_sql().endswith(' FROM pg_temp."%s" ON CONFLICT ("id") DO NOTHING' % u.stage)
    with pytest.raises(zcimport.NoConflictTargetError):
        u.set_primary_key([])
    assert _upsert.Upsert("t", ["a"], "update").stage != _upsert.Upsert("t", ["a"], "update").stage


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------


def cli_process(*args: Any) -> subprocess.CompletedProcess:
    """python3 -m zcimport ARGS, for real."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "ZCIMPORT_DSN"}
    env["PYTHONPATH"] = str(PYTHON_DIR)
    return subprocess.run([sys.executable, "-m", "zcimport", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def cli(capsys: Any) -> Callable[..., subprocess.CompletedProcess]:
    """zcimport.cli.main(ARGS) in this process (a subprocess costs seconds of imports):
    a CompletedProcess of its exit code, stdout and stderr."""
    from zcimport import cli as cli_module

    def run(*args: Any) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = cli_module.main([str(a) for a in args])
        except SystemExit as ex:  # argparse
            code = int(ex.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_cli(dsn, autoconn, schema, tmp_path, cli):
    twin(autoconn, schema, "CREATE TABLE {t} (id int8 PRIMARY KEY, v text, x float8,"
                           " u int4 UNIQUE)")
    seed = [(k, f"old{k}", k / 2, k) for k in range(20)]
    for t in ("a", "b"):
        insert_rows(autoconn, q(schema, t), ["id", "v", "x", "u"], seed)
    rows = [(k, f"new{k}", k / 4) for k in range(10, 40, 3)]
    path = tmp_path / "up.csv"
    pd.DataFrame(rows, columns=["id", "v", "x"]).to_csv(path, index=False)
    target = f"{schema}.a"
    for action in ("update", "nothing"):
        run = cli_process if action == "update" else cli
        r = run("load", path, "-t", target, "--dsn", dsn, "--on-conflict", action,
                "--chunk-rows", "4")
        assert r.returncode == 0, r.stderr
        n, state = run_oracle(dsn, q(schema, "b"), ["id", "v", "x"], rows, action, ["id"])
        assert state is None
        done = "inserted" if action == "nothing" else "inserted or updated"
        assert r.stdout.startswith(f"upserted {n} rows into {schema}.a ({done}) in "), r.stdout
        assert contents(autoconn, schema, "a", "id") == contents(autoconn, schema, "b", "id")
    # a .zci stream, on an explicit unique column
    zci = tmp_path / "up.zci"
    zcimport.dump(pd.DataFrame({"u": [2, 1], "v": ["z2", "z1"], "id": [2, 1]}), str(zci))
    r = cli("load", zci, "-t", target, "--dsn", dsn, "--on-conflict", "update",
            "--conflict-columns", "u")
    assert r.returncode == 0 and r.stdout.startswith("upserted 2 rows"), (r.stderr, r.stdout)
    assert autoconn.execute(f"SELECT id, v FROM {q(schema, 'a')} WHERE u IN (1, 2)"
                            " ORDER BY u").fetchall() == [(1, "z1"), (2, "z2")]
    # --create: the table is made with the conflict columns as its key
    r = cli("load", path, "-t", f"{schema}.c", "--dsn", dsn, "--create", "--on-conflict",
            "update", "--conflict-columns", "id")
    assert r.returncode == 0, r.stderr
    assert autoconn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass"
                            " AND contype = 'p'", [q(schema, "c")]).fetchone() == (1,)
    before = contents(autoconn, schema, "a", "id")
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"id": [1, 2, 1], "v": ["a", "b", "c"]}).to_csv(dup, index=False)
    for args, code, fragment in (
            (["--on-conflict", "update"], 6, "SQLSTATE 21000"),
            (["--on-conflict", "update", "--conflict-columns", "v"], 5, "SQLSTATE 42P10"),
            (["--on-conflict", "upsert"], 2, "invalid choice"),
            (["--conflict-columns", "id"], 2, "--conflict-columns needs --on-conflict"),
            (["--on-conflict", "update", "--freeze"], 2, "--freeze cannot be used"),
            (["--on-conflict", "update", "--create", "--if-exists", "append"], 2,
             "--create with --on-conflict needs --conflict-columns"),
            (["--on-conflict", "update", "--conflict-columns", "id,"], 2, "empty column")):
        r = cli("load", dup, "-t", target, "--dsn", dsn, *args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert fragment in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    twin(autoconn, schema, "CREATE TABLE {s}.{name}_nokey (id int8, v text)")
    r = cli("load", dup, "-t", f"{schema}.a_nokey", "--dsn", dsn, "--on-conflict", "nothing")
    assert r.returncode == 5 and "no primary key" in r.stderr and "42P10" in r.stderr, r.stderr
    assert contents(autoconn, schema, "a", "id") == before
    assert staging_tables(autoconn) == 0
