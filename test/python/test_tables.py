"""zcimport behaves exactly as COPY FROM on every kind of table.

Each scenario creates the same tables twice, with the prefixes ``zc_`` and
``cp_``, loads the same frame into ``zc_...`` with zcimport and into
``cp_...`` with PostgreSQL's own COPY (through psycopg), both in one
transaction so that ``now()`` agrees, and then compares every table the
load touched (targets, partitions, audit tables written by triggers) with
EXCEPT ALL both ways.  Where a load fails, the two SQLSTATEs must be equal
and neither load may leave a row behind.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import errors, sql

import zcimport
from oracle import assert_same_table, copy_rows

PREFIXES = ("zc_", "cp_")


@pytest.fixture
def conn(utc_conn: psycopg.Connection) -> psycopg.Connection:
    """The shared UTC connection (conftest.utc_conn)."""
    return utc_conn


@pytest.fixture(scope="module")
def audit_functions(dsn: str) -> Iterator[None]:
    """Trigger functions shared by the twins; their audit table is TG_ARGV[0]."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("""
        CREATE OR REPLACE FUNCTION zc_test_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('INSERT INTO %I VALUES ($1, $2, $3, $4)', TG_ARGV[0])
                USING TG_WHEN || ' ' || TG_LEVEL, NEW.k, NEW.v, NULL::bigint;
            RETURN NEW;
        END $$;
        CREATE OR REPLACE FUNCTION zc_test_audit_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE n bigint;
        BEGIN
            EXECUTE format('SELECT count(*) FROM %I', TG_ARGV[1]) INTO n;
            EXECUTE format('INSERT INTO %I VALUES ($1, NULL, NULL, $2)', TG_ARGV[0])
                USING TG_WHEN || ' ' || TG_LEVEL, n;
            RETURN NULL;
        END $$;
        CREATE OR REPLACE FUNCTION zc_test_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('INSERT INTO %I SELECT ''transition'', sum(k), sum(v), count(*) FROM newrows',
                           TG_ARGV[0]);
            RETURN NULL;
        END $$;
        CREATE OR REPLACE FUNCTION zc_test_before_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.k % 7 = 0 THEN
                RETURN NULL;
            END IF;
            NEW.v := coalesce(NEW.v, -1) * 2;
            RETURN NEW;
        END $$;
        CREATE OR REPLACE FUNCTION zc_test_instead() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('INSERT INTO %I VALUES (''instead'', $1, $2, NULL)', TG_ARGV[0])
                USING NEW.k, NEW.v;
            RETURN NEW;
        END $$;
        """)
    yield
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("DROP FUNCTION zc_test_audit_row(), zc_test_audit_stmt(), zc_test_transition(),"
                  " zc_test_before_row(), zc_test_instead()")


def frame(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """k = 0 .. n-1 (int32), v float64 with NaN, g Int64 with NA, ts naive."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=n) * 100
    v[rng.random(n) < 0.05] = np.nan
    g = pd.array(rng.integers(-1000, 1000, n), dtype="Int64")
    g[rng.random(n) < 0.1] = pd.NA
    ts = pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) * 61, unit="s"))
    return pd.DataFrame({"k": np.arange(n, dtype=np.int32), "v": v, "g": g, "ts": ts})


def twin_load(conn: psycopg.Connection, ddl: str, data: pd.DataFrame, target: str,
              compare: Sequence[str] = (), columns: Optional[Sequence[str]] = None,
              batch_rows: int = 500) -> Dict[str, Any]:
    """Create the twins, load both ways, compare; returns {prefix: error or rowcount}."""
    for p in PREFIXES:
        conn.execute(ddl.format(p=p))
    results: Dict[str, Any] = {}
    for p in PREFIXES:
        table = p + target
        try:
            with conn.transaction():
                if p == "zc_":
                    cols = list(columns) if columns is not None else None
                    results[p] = zcimport.copy_dataframe(
                        data[cols] if cols else data, table, conn, batch_rows=batch_rows)
                else:
                    results[p] = copy_rows(conn, table, data[list(columns)] if columns else data)
        except psycopg.Error as ex:
            results[p] = ex
    zc, cp = results["zc_"], results["cp_"]
    if isinstance(cp, psycopg.Error) or isinstance(zc, psycopg.Error):
        assert isinstance(zc, psycopg.Error) and isinstance(cp, psycopg.Error), (
            f"zcimport: {zc!r}; COPY: {cp!r}")
        assert zc.sqlstate == cp.sqlstate, f"zcimport {zc.sqlstate} ({zc}); COPY {cp.sqlstate} ({cp})"
    else:
        assert zc == cp, f"zcimport says {zc} rows, COPY {cp}"
    for name in (target, *compare):
        assert_same_table(conn, "zc_" + name, "cp_" + name)
    return results


def rows(conn: psycopg.Connection, table: str) -> int:
    """Row count of a table."""
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


# ---------------------------------------------------------------------------
# defaults and generated columns
# ---------------------------------------------------------------------------


def test_defaults_constant_volatile_identity_and_generated(conn):
    result = twin_load(conn, """
        CREATE SEQUENCE {p}seq START 100;
        CREATE TABLE {p}t (
            id serial,
            ident int8 GENERATED ALWAYS AS IDENTITY,
            k int4,
            c text DEFAULT 'constant',
            e int4 DEFAULT (2 + 3),
            v float8,
            n int8 DEFAULT nextval('{p}seq'),
            at timestamptz DEFAULT now(),
            up text DEFAULT upper('abc') || 'x',
            g int8,
            gen int8 GENERATED ALWAYS AS (k * 10 + coalesce(g, 0)) STORED,
            ts timestamp
        )""", frame(), "t", columns=["k", "v", "g", "ts"])
    assert result["zc_"] == 3000
    assert conn.execute("SELECT min(id), max(id), min(n), max(n), count(DISTINCT at) FROM zc_t").fetchone() == (
        1, 3000, 100, 3099, 1)


def test_volatile_default_that_reads_the_table(conn):
    # COPY inserts row by row when a default is volatile; the function sees
    # the rows of the same COPY as COPY lets it see them
    twin_load(conn, """
        CREATE TABLE {p}t (k int4, v float8, seen bigint);
        CREATE FUNCTION {p}rows_so_far() RETURNS bigint LANGUAGE sql VOLATILE
            AS 'SELECT count(*) FROM {p}t';
        ALTER TABLE {p}t ALTER COLUMN seen SET DEFAULT {p}rows_so_far();
        """, frame(400), "t", columns=["k", "v"], batch_rows=64)


def test_defaults_on_a_table_with_dropped_columns(conn):
    twin_load(conn, """
        CREATE TABLE {p}t (gone1 int4, k int4, gone2 text, v float8, g int8 DEFAULT 7, ts timestamp);
        ALTER TABLE {p}t DROP COLUMN gone1, DROP COLUMN gone2;
        """, frame(), "t", columns=["k", "v", "ts"])


# ---------------------------------------------------------------------------
# partitioned tables
# ---------------------------------------------------------------------------


PARTITIONS = """
    CREATE TABLE {p}t (k int4, v float8, g int8, ts timestamp) PARTITION BY RANGE (k);
    CREATE TABLE {p}t_lo PARTITION OF {p}t FOR VALUES FROM (MINVALUE) TO (1000)
        PARTITION BY LIST ((k % 3));
    CREATE TABLE {p}t_lo0 PARTITION OF {p}t_lo FOR VALUES IN (0);
    CREATE TABLE {p}t_lo_rest PARTITION OF {p}t_lo DEFAULT;
    CREATE TABLE {p}t_mid (ts timestamp, dropme int4, g int8, v float8, k int4);
    ALTER TABLE {p}t_mid DROP COLUMN dropme;
    ALTER TABLE {p}t ATTACH PARTITION {p}t_mid FOR VALUES FROM (1000) TO (2000);
    CREATE TABLE {p}t_hi PARTITION OF {p}t FOR VALUES FROM (2000) TO (MAXVALUE);
"""
PARTITION_NAMES = ("t_lo0", "t_lo_rest", "t_mid", "t_hi")


def test_partitions_and_sub_partitions(conn):
    result = twin_load(conn, PARTITIONS, frame(), "t", compare=PARTITION_NAMES)
    assert result["zc_"] == 3000
    assert [rows(conn, "zc_" + n) for n in PARTITION_NAMES] == [334, 666, 1000, 1000]


def test_partition_with_a_before_row_trigger(conn, audit_functions):
    twin_load(conn, PARTITIONS + """
        CREATE TABLE {p}audit (what text, k int4, v float8, n bigint);
        CREATE TRIGGER br BEFORE INSERT ON {p}t_mid FOR EACH ROW EXECUTE FUNCTION zc_test_before_row();
        CREATE TRIGGER ar AFTER INSERT ON {p}t_hi FOR EACH ROW EXECUTE FUNCTION zc_test_audit_row('{p}audit');
        """, frame(), "t", compare=PARTITION_NAMES + ("audit",))


def test_partitioned_target_with_transition_table(conn, audit_functions):
    twin_load(conn, PARTITIONS + """
        CREATE TABLE {p}audit (what text, k int4, v float8, n bigint);
        CREATE TRIGGER tt AFTER INSERT ON {p}t REFERENCING NEW TABLE AS newrows
            FOR EACH STATEMENT EXECUTE FUNCTION zc_test_transition('{p}audit');
        """, frame(), "t", compare=PARTITION_NAMES + ("audit",))
    assert conn.execute("SELECT n FROM zc_audit WHERE what = 'transition'").fetchone() == (3000,)


def test_row_that_fits_no_partition(conn):
    results = twin_load(conn, """
        CREATE TABLE {p}t (k int4, v float8, g int8, ts timestamp) PARTITION BY RANGE (k);
        CREATE TABLE {p}t_a PARTITION OF {p}t FOR VALUES FROM (0) TO (2500);
        """, frame(), "t", compare=("t_a",))
    assert isinstance(results["zc_"], errors.CheckViolation)
    assert "no partition of relation" in str(results["zc_"])
    assert rows(conn, "zc_t") == 0


# ---------------------------------------------------------------------------
# triggers
# ---------------------------------------------------------------------------


def test_before_row_trigger_that_changes_and_skips_rows(conn, audit_functions):
    result = twin_load(conn, """
        CREATE TABLE {p}t (k int4, v float8, g int8, ts timestamp);
        CREATE TRIGGER br BEFORE INSERT ON {p}t FOR EACH ROW EXECUTE FUNCTION zc_test_before_row();
        """, frame(), "t")
    assert result["zc_"] == 3000 - 429  # rows with k % 7 = 0 are skipped, not counted


def test_after_row_and_statement_triggers_and_transition_tables(conn, audit_functions):
    twin_load(conn, """
        CREATE TABLE {p}t (k int4, v float8, g int8, ts timestamp);
        CREATE TABLE {p}audit (what text, k int4, v float8, n bigint);
        CREATE TRIGGER ar AFTER INSERT ON {p}t FOR EACH ROW EXECUTE FUNCTION zc_test_audit_row('{p}audit');
        CREATE TRIGGER bs BEFORE INSERT ON {p}t FOR EACH STATEMENT
            EXECUTE FUNCTION zc_test_audit_stmt('{p}audit', '{p}t');
        CREATE TRIGGER as_ AFTER INSERT ON {p}t FOR EACH STATEMENT
            EXECUTE FUNCTION zc_test_audit_stmt('{p}audit', '{p}t');
        CREATE TRIGGER tt AFTER INSERT ON {p}t REFERENCING NEW TABLE AS newrows
            FOR EACH STATEMENT EXECUTE FUNCTION zc_test_transition('{p}audit');
        """, frame(), "t", compare=("audit",))
    audit = dict(conn.execute("SELECT what, count(*) FROM zc_audit GROUP BY 1").fetchall())
    assert audit == {"AFTER ROW": 3000, "BEFORE STATEMENT": 1, "AFTER STATEMENT": 1, "transition": 1}


def test_before_and_after_row_triggers_with_an_index(conn, audit_functions):
    twin_load(conn, """
        CREATE TABLE {p}t (k int4 PRIMARY KEY, v float8, g int8, ts timestamp);
        CREATE TABLE {p}audit (what text, k int4, v float8, n bigint);
        CREATE TRIGGER br BEFORE INSERT ON {p}t FOR EACH ROW EXECUTE FUNCTION zc_test_before_row();
        CREATE TRIGGER ar AFTER INSERT ON {p}t FOR EACH ROW EXECUTE FUNCTION zc_test_audit_row('{p}audit');
        """, frame(), "t", compare=("audit",))


def test_instead_of_trigger_on_a_view(conn, audit_functions):
    result = twin_load(conn, """
        CREATE TABLE {p}base (k int4, v float8, g int8, ts timestamp);
        CREATE TABLE {p}audit (what text, k int4, v float8, n bigint);
        CREATE VIEW {p}t AS SELECT * FROM {p}base;
        CREATE TRIGGER io INSTEAD OF INSERT ON {p}t FOR EACH ROW EXECUTE FUNCTION zc_test_instead('{p}audit');
        """, frame(500), "t", compare=("audit", "base"))
    assert result["zc_"] == 500
    assert rows(conn, "zc_audit") == 500


def test_foreign_keys(conn):
    twin_load(conn, """
        CREATE TABLE {p}parent (k int4 PRIMARY KEY);
        INSERT INTO {p}parent SELECT generate_series(0, 2999);
        CREATE TABLE {p}t (k int4 REFERENCES {p}parent, v float8, g int8, ts timestamp);
        """, frame(), "t")
    results = twin_load(conn, """
        CREATE TABLE {p}parent2 (k int4 PRIMARY KEY);
        INSERT INTO {p}parent2 SELECT generate_series(0, 2990);
        CREATE TABLE {p}t2 (k int4 REFERENCES {p}parent2, v float8, g int8, ts timestamp);
        """, frame(), "t2")
    assert isinstance(results["zc_"], errors.ForeignKeyViolation)


# ---------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ddl,error", [
    ("CREATE TABLE {p}t (k int4 CHECK (k < 2500), v float8, g int8, ts timestamp)", errors.CheckViolation),
    ("CREATE TABLE {p}t (k int4, v float8, g int8 NOT NULL, ts timestamp)", errors.NotNullViolation),
    ("CREATE TABLE {p}t (k int4, v float8 NOT NULL, g int8, ts timestamp)", errors.NotNullViolation),
    ("CREATE DOMAIN {p}small AS int4 CHECK (VALUE < 2500);"
     "CREATE TABLE {p}t (k {p}small, v float8, g int8, ts timestamp)", errors.CheckViolation),
    ("CREATE DOMAIN {p}nn AS int8 NOT NULL;"
     "CREATE TABLE {p}t (k int4, v float8, g {p}nn, ts timestamp)", errors.NotNullViolation),
    ("CREATE TABLE {p}t (k int4, v float8, g int8 UNIQUE, ts timestamp)", errors.UniqueViolation),
    ("CREATE TABLE {p}t (k int4, v float8, g int8, ts timestamp, EXCLUDE USING btree (g WITH =))",
     errors.ExclusionViolation),
])
def test_constraint_violations_match_copy(conn, ddl, error):
    results = twin_load(conn, ddl, frame(), "t")
    assert isinstance(results["zc_"], error)
    assert rows(conn, "zc_t") == 0 and rows(conn, "cp_t") == 0


def test_constraints_that_hold(conn):
    twin_load(conn, """
        CREATE DOMAIN {p}pos AS int4 CHECK (VALUE >= 0);
        CREATE TABLE {p}t (k {p}pos PRIMARY KEY, v float8 CHECK (v IS NULL OR v > -1e6),
                           g int8, ts timestamp NOT NULL, UNIQUE (k, g));
        """, frame(), "t")


def test_error_context_names_table_batch_row_and_column(conn):
    conn.execute("CREATE TABLE zc_ctx (k int2 CHECK (k <> 1234), v float8, g int8, ts timestamp)")
    data = frame()
    with pytest.raises(errors.CheckViolation) as info:
        with conn.transaction():
            zcimport.copy_dataframe(data, "zc_ctx", conn, batch_rows=500)
    assert info.value.diag.context.startswith("COPY zc_ctx, batch 3, row 1234")
    conn.execute("CREATE TABLE zc_ctx2 (k int2, v float8, g int8, ts timestamp)")
    big = data.assign(k=data.k * 20)
    with pytest.raises(errors.NumericValueOutOfRange) as info:
        with conn.transaction():
            zcimport.copy_dataframe(big, "zc_ctx2", conn, batch_rows=500)
    assert info.value.diag.context.startswith("COPY zc_ctx2, batch 4, row 1639, column k")


# ---------------------------------------------------------------------------
# kinds of tables
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["TEMP", "UNLOGGED", ""])
def test_temp_unlogged_and_plain_tables_with_indexes(conn, kind):
    twin_load(conn, f"""
        CREATE {kind} TABLE {{p}}t (k int4, v float8, g int8, ts timestamp);
        CREATE INDEX ON {{p}}t (g);
        CREATE INDEX ON {{p}}t (ts DESC) WHERE v > 0;
        """, frame(), "t")


def test_quoted_names_in_a_schema(conn):
    conn.execute('CREATE SCHEMA "Odd Schema"')
    conn.execute('SET search_path = "Odd Schema", public')
    twin_load(conn, """
        CREATE TABLE "Odd Schema"."{p}Mixed Table" (k int4, "V value" float8, g int8, ts timestamp);
        """, frame().rename(columns={"v": "V value"}), "Mixed Table")


def test_freeze_under_copys_conditions(dsn):
    data = frame(500)
    for p in PREFIXES:
        with psycopg.connect(dsn) as c:
            c.execute("SELECT zcimport.version()")
            c.execute(f"CREATE TABLE {p}frozen (k int4, v float8, g int8, ts timestamp)")
            if p == "zc_":
                zcimport.copy_dataframe(data, f"{p}frozen", c, freeze=True)
            else:
                copy_rows(c, f"{p}frozen", data, freeze=True)
    with psycopg.connect(dsn, autocommit=True) as c:
        try:
            assert_same_table(c, "zc_frozen", "cp_frozen")
            c.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            frozen = """SELECT count(*) FILTER (WHERE (t_infomask & 768) = 768), count(*)
                        FROM heap_page_items(get_raw_page(%s, 0))"""
            assert c.execute(frozen, ["zc_frozen"]).fetchone() == c.execute(frozen, ["cp_frozen"]).fetchone()
            assert c.execute(frozen, ["zc_frozen"]).fetchone()[0] > 0
        finally:
            c.execute("DROP TABLE IF EXISTS zc_frozen, cp_frozen")


def test_freeze_refused_as_copy_refuses_it(conn):
    conn.commit()
    conn.execute("CREATE TABLE zc_nf (k int4)")
    conn.execute("CREATE TABLE zc_nfp (k int4) PARTITION BY RANGE (k)")
    conn.commit()
    try:
        data = pd.DataFrame({"k": np.arange(3, dtype=np.int32)})
        for table, error in (("zc_nf", errors.ObjectNotInPrerequisiteState),
                             ("zc_nfp", errors.FeatureNotSupported)):
            with pytest.raises(error) as zc:
                zcimport.copy_dataframe(data, table, conn, freeze=True)
            conn.rollback()
            with pytest.raises(error) as cp:
                copy_rows(conn, table, data, freeze=True)
            conn.rollback()
            assert str(zc.value).splitlines()[0] == str(cp.value).splitlines()[0]
    finally:
        conn.execute("DROP TABLE zc_nf, zc_nfp")
        conn.commit()
