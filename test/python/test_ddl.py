"""zcimport._ddl: the table that create=True / --create makes, and if_exists.

Unit tests of the DDL text (types of every dtype and kind of object,
quoting, schema-qualified names, each if_exists), of the driver-independent
pieces (render, prepare_table with a recording execute), and end-to-end
tests of copy_dataframe(create=True, if_exists=...) against the test
cluster, including FREEZE after replace/truncate, rollback of the DDL when
the load fails, and the psycopg2 path of prepare_table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from typing import Any, List

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

import zcimport
from zcimport import _ddl
from zcimport._format import WireType
from zcimport._plan import make_plan

# ---------------------------------------------------------------------------
# column types
# ---------------------------------------------------------------------------

N = 3

DTYPE_CASES = [
    ("bool", np.array([True, False, True]), "boolean"),
    ("boolean", pd.array([True, None, False], dtype="boolean"), "boolean"),
    ("int8", np.arange(N, dtype=np.int8), "smallint"),
    ("int16", np.arange(N, dtype=np.int16), "smallint"),
    ("uint8", np.arange(N, dtype=np.uint8), "smallint"),
    ("int32", np.arange(N, dtype=np.int32), "integer"),
    ("uint16", np.arange(N, dtype=np.uint16), "integer"),
    ("int64", np.arange(N, dtype=np.int64), "bigint"),
    ("uint32", np.arange(N, dtype=np.uint32), "bigint"),
    ("uint64", np.arange(N, dtype=np.uint64), "numeric(20,0)"),
    ("Int8", pd.array([1, None, 3], dtype="Int8"), "smallint"),
    ("Int32", pd.array([1, None, 3], dtype="Int32"), "integer"),
    ("Int64", pd.array([1, None, 3], dtype="Int64"), "bigint"),
    ("UInt64", pd.array([1, None, 3], dtype="UInt64"), "numeric(20,0)"),
    ("float32", np.ones(N, dtype=np.float32), "real"),
    ("float64", np.ones(N), "double precision"),
    ("Float32", pd.array([1.5, None, 2], dtype="Float32"), "real"),
    ("Float64", pd.array([1.5, None, 2], dtype="Float64"), "double precision"),
    ("datetime64", pd.date_range("2021", periods=N).values, "timestamp"),
    ("datetime64[s]", np.array(["2021-01-01", "NaT", "2021-01-03"], dtype="M8[s]"), "timestamp"),
    ("datetimetz", pd.date_range("2021", periods=N, tz="Europe/Berlin"), "timestamptz"),
    ("timedelta", pd.to_timedelta([1, 2, 3], unit="s").values, "interval"),
    ("str", np.array(["a", None, "c"], dtype=object), "text"),
    ("string", pd.array(["a", None, "c"], dtype="string"), "text"),
    ("numpy <U", np.array(["a", "b", "c"]), "text"),
    ("numpy S", np.array([b"a", b"b", b"c"]), "bytea"),
    ("bytes", np.array([b"a", None, bytearray(b"c")], dtype=object), "bytea"),
    ("date", np.array([dt.date(2020, 1, 1), None, dt.date(2020, 1, 3)], dtype=object), "date"),
    ("Decimal", np.array([decimal.Decimal("1.5"), None, decimal.Decimal("NaN")], dtype=object),
     "numeric"),
    ("dict/list", np.array([{"a": 1}, [1, 2], None], dtype=object), "jsonb"),
    ("UUID", np.array([uuid.uuid4(), None, uuid.uuid4()], dtype=object), "uuid"),
    ("ipaddress", np.array([ipaddress.ip_address("10.0.0.1"), None,
                            ipaddress.ip_network("10.0.0.0/8")], dtype=object), "inet"),
    ("datetime objects", np.array([dt.datetime(2020, 1, 1), None, dt.datetime(2021, 1, 1)],
                                  dtype=object), "timestamp"),
    ("aware datetime objects", np.array([dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)] * N,
                                        dtype=object), "timestamptz"),
    ("timedelta objects", np.array([dt.timedelta(1), None, dt.timedelta(2)], dtype=object),
     "interval"),
    ("all None", np.array([None, None, None], dtype=object), "text"),
    ("category of str", pd.Categorical(["a", "b", None]), "text"),
    ("category of int", pd.Categorical([1, 2, None]), "bigint"),
    ("category of Decimal", pd.Categorical([decimal.Decimal(1), decimal.Decimal(2), None]),
     "numeric"),
]


@pytest.mark.parametrize("label,values,expected", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_column_type_of_each_dtype_and_kind(label, values, expected):
    plan = make_plan({"c": values})
    assert _ddl.column_types(plan) == [("c", expected)]


def test_value_kind_is_recorded_for_object_columns():
    plan = make_plan({"d": np.array([decimal.Decimal(1)], dtype=object),
                      "n": np.array([None], dtype=object),
                      "i": np.arange(1)})
    kinds = [c.value_kind for c in plan.planned_columns]
    assert kinds == ["decimal", "null", ""]


@pytest.mark.parametrize("wire", list(WireType))
def test_every_wire_type_has_a_column_type(wire):
    assert _ddl.sql_type(wire)
    assert _ddl.sql_type(wire.wire_name) == _ddl.sql_type(int(wire))


def test_kind_matters_for_utf8_only():
    assert _ddl.sql_type("utf8", "json") == "jsonb"
    assert _ddl.sql_type("utf8", "str") == "text"
    assert _ddl.sql_type("binary", "json") == "bytea"
    assert _ddl.sql_type("int64", "decimal") == "bigint"


# ---------------------------------------------------------------------------
# quoting and rendering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,quoted", [
    ("t", '"t"'),
    ("Sales", '"Sales"'),
    ('we"ird', '"we""ird"'),
    ("a b.c", '"a b.c"'),
    ("é", '"é"'),
    ("select", '"select"'),
])
def test_quote_ident(name, quoted):
    assert _ddl.quote_ident(name) == quoted


@pytest.mark.parametrize("bad", ["", "a\0b"])
def test_quote_ident_refuses(bad):
    with pytest.raises(ValueError):
        _ddl.quote_ident(bad)


@pytest.mark.parametrize("table,text", [
    ("t", '"t"'),
    ("s.t", '"s"."t"'),
    ('"my.schema".T', '"my.schema"."T"'),
    ('"a""b".c', '"a""b"."c"'),
    (("s", "t"), '"s"."t"'),
    (("t",), '"t"'),
    (sql.Identifier("s", 'x"y'), '"s"."x""y"'),
    (sql.SQL("{}.{}").format(sql.Identifier("s"), sql.Identifier("t")), '"s"."t"'),
])
def test_table_name(table, text):
    assert _ddl.table_name(table) == text


def test_table_name_refuses_bad_names():
    with pytest.raises(ValueError):
        _ddl.table_name("a.b.c")
    with pytest.raises(ValueError):
        _ddl.table_name(("",))
    with pytest.raises(TypeError):
        _ddl.table_name(sql.Literal(1))


def test_render_psycopg2_objects():
    sql2 = pytest.importorskip("psycopg2.sql")
    assert _ddl.render(sql2.Identifier("s", 'a"b')) == '"s"."a""b"'
    q = sql2.SQL("SELECT {} FROM {}").format(sql2.Identifier("c"), sql2.Identifier("t"))
    assert _ddl.render(q) == 'SELECT "c" FROM "t"'
    assert _ddl.table_name(sql2.Identifier("x")) == '"x"'


def test_rendered_identifiers_match_psycopg(conn):
    for name in ["t", 'we"ird', "Sales", "a b", "é"]:
        assert _ddl.render(sql.Identifier("s", name)) == sql.Identifier("s", name).as_string(conn)


# ---------------------------------------------------------------------------
# statements
# ---------------------------------------------------------------------------


def test_create_table_sql():
    cols = [("id", "bigint"), ('Na"me', "text"), ("ts", "timestamptz")]
    assert _ddl.create_table_sql("public.Events", cols) == (
        'CREATE TABLE "public"."Events" ("id" bigint, "Na""me" pg_catalog.text,'
        ' "ts" pg_catalog.timestamptz)')
    with pytest.raises(ValueError):
        _ddl.create_table_sql("t", [])


COLS = [("a", "bigint")]


@pytest.mark.parametrize("if_exists,exists,expected", [
    ("fail", False, ['CREATE TABLE "t" ("a" bigint)']),
    ("replace", False, ['CREATE TABLE "t" ("a" bigint)']),
    ("append", False, ['CREATE TABLE "t" ("a" bigint)']),
    ("truncate", False, ['CREATE TABLE "t" ("a" bigint)']),
    ("replace", True, ['DROP TABLE "t"', 'CREATE TABLE "t" ("a" bigint)']),
    ("append", True, []),
    ("truncate", True, ['TRUNCATE TABLE "t"']),
])
def test_ddl_statements(if_exists, exists, expected):
    assert _ddl.ddl_statements("t", COLS, if_exists, exists) == expected


def test_ddl_statements_fail_when_the_table_exists():
    with pytest.raises(_ddl.TableExistsError) as ei:
        _ddl.ddl_statements("s.t", COLS, "fail", True)
    assert isinstance(ei.value, ValueError)
    assert ei.value.sqlstate == "42P07"
    assert ei.value.table == '"s"."t"'
    assert "already exists" in str(ei.value)


def test_check_if_exists():
    _ddl.check_if_exists(False, "fail")
    for v in _ddl.IF_EXISTS:
        _ddl.check_if_exists(True, v)
    with pytest.raises(ValueError, match="needs create=True"):
        _ddl.check_if_exists(False, "append")
    with pytest.raises(ValueError, match="must be one of"):
        _ddl.check_if_exists(True, "upsert")


def test_types_not_keywords_are_schema_qualified():
    # A type named text (or a domain) in an earlier search_path schema must
    # not be what create= creates; keyword types always mean pg_catalog's.
    for wire in WireType:
        for kind in ("", "decimal", "json", "uuid", "ip", "str"):
            t = _ddl.qualified_type(_ddl.sql_type(wire, kind))
            assert t.startswith("pg_catalog.") or t in (
                "boolean", "smallint", "integer", "bigint", "numeric", "numeric(20,0)", "real",
                "double precision", "timestamp", "interval"), t
    assert _ddl.qualified_type("text") == "pg_catalog.text"
    assert _ddl.qualified_type("myschema.mytype") == "myschema.mytype"
    assert _ddl.qualified_type("varchar(10)") == "varchar(10)"


def test_exists_query():
    q, params = _ddl.exists_query("s.T")
    assert "to_regclass(%s)" in q
    assert params == ('"s"."T"',)


class Recorder:
    """An Execute that records statements; the table exists or not."""

    def __init__(self, exists: bool) -> None:
        self.exists = exists
        self.calls: List[Any] = []

    def __call__(self, query: str, params: Any = None) -> List[Any]:
        self.calls.append((query, params))
        if "to_regclass" in query:
            return [(self.exists,)]
        return []


@pytest.mark.parametrize("if_exists,exists,action,statements", [
    ("fail", False, "created", ['CREATE TABLE "t" ("a" bigint)']),
    ("append", True, "kept", []),
    ("replace", True, "replaced", ['DROP TABLE "t"', 'CREATE TABLE "t" ("a" bigint)']),
    ("truncate", True, "truncated", ['TRUNCATE TABLE "t"']),
    ("truncate", False, "created", ['CREATE TABLE "t" ("a" bigint)']),
])
def test_prepare_table_with_any_execute(if_exists, exists, action, statements):
    rec = Recorder(exists)
    assert _ddl.prepare_table(rec, "t", COLS, if_exists) == action
    assert rec.calls[0] == _ddl.exists_query("t")
    assert [q for q, _ in rec.calls[1:]] == statements


def test_prepare_table_takes_a_plan():
    rec = Recorder(False)
    _ddl.prepare_table(rec, "t", make_plan(pd.DataFrame({"x": [1.5], "y": ["s"]})))
    assert rec.calls[1][0] == 'CREATE TABLE "t" ("x" double precision, "y" pg_catalog.text)'


def test_prepare_table_fail_runs_nothing_but_the_check():
    rec = Recorder(True)
    with pytest.raises(zcimport.TableExistsError):
        _ddl.prepare_table(rec, "t", COLS, "fail")
    assert len(rec.calls) == 1


def test_copy_dataframe_checks_if_exists_before_connecting():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="needs create=True"):
        zcimport.copy_dataframe(df, "t", "host=/nonexistent port=1", if_exists="replace")
    with pytest.raises(ValueError, match="must be one of"):
        zcimport.copy_dataframe(df, "t", "host=/nonexistent port=1", create=True,
                                if_exists="nope")


# ---------------------------------------------------------------------------
# against the database
# ---------------------------------------------------------------------------


def column_types_in_catalog(conn: psycopg.Connection, table: str, schema: str = "public") -> List[Any]:
    return conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [sql.Identifier(schema, table).as_string(conn)]).fetchall()


def test_created_table_has_the_documented_types(conn, table):
    frame = pd.DataFrame({label: values for label, values, _ in DTYPE_CASES})
    n = zcimport.copy_dataframe(frame, table, conn, create=True)
    assert n == N
    got = column_types_in_catalog(conn, table)
    want = []
    for label, _, t in DTYPE_CASES:
        want.append((label, {"timestamp": "timestamp without time zone",
                             "timestamptz": "timestamp with time zone",
                             "numeric(20,0)": "numeric(20,0)"}.get(t, t)))
    assert got == want


def test_created_table_round_trips_values(conn, table):
    frame = pd.DataFrame({
        "i": np.array([1, 2, 3], dtype=np.int64),
        "Mixed Case": ["a", None, "c"],
        'q"uote': [decimal.Decimal("1.25"), None, decimal.Decimal("-3")],
        "j": [{"k": [1, 2]}, None, []],
        "u64": np.array([0, 2**64 - 1, 5], dtype=np.uint64),
    })
    zcimport.copy_dataframe(frame, table, conn, create=True)
    rows = conn.execute(sql.SQL("SELECT * FROM {} ORDER BY i").format(sql.Identifier(table))).fetchall()
    assert rows == [
        (1, "a", decimal.Decimal("1.25"), {"k": [1, 2]}, decimal.Decimal(0)),
        (2, None, None, None, decimal.Decimal(2**64 - 1)),
        (3, "c", decimal.Decimal("-3"), [], decimal.Decimal(5)),
    ]


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]


def test_each_if_exists(autoconn, table, dsn):
    df = pd.DataFrame({"a": np.arange(3), "b": ["x", "y", "z"]})
    # fail (default): created, then refused
    assert zcimport.copy_dataframe(df, table, dsn, create=True) == 3
    with pytest.raises(zcimport.TableExistsError):
        zcimport.copy_dataframe(df, table, dsn, create=True)
    assert count(autoconn, table) == 3
    # append
    assert zcimport.copy_dataframe(df, table, dsn, create=True, if_exists="append") == 3
    assert count(autoconn, table) == 6
    # truncate keeps the definition (and an extra column's default)
    autoconn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN extra int DEFAULT 7").format(
        sql.Identifier(table)))
    assert zcimport.copy_dataframe(df, table, dsn, create=True, if_exists="truncate") == 3
    assert count(autoconn, table) == 3
    assert [r[0] for r in column_types_in_catalog(autoconn, table)] == ["a", "b", "extra"]
    # replace: the frame's definition
    df2 = pd.DataFrame({"c": [1.5]})
    assert zcimport.copy_dataframe(df2, table, dsn, create=True, if_exists="replace") == 1
    assert column_types_in_catalog(autoconn, table) == [("c", "double precision")]


def test_if_exists_creates_missing_tables(autoconn, table, dsn):
    for mode in ("append", "truncate", "replace"):
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        assert zcimport.copy_dataframe(pd.DataFrame({"a": [1, 2]}), table, dsn, create=True,
                                       if_exists=mode) == 2
        assert count(autoconn, table) == 2


def test_schema_qualified_and_quoted_names(autoconn, dsn):
    schema = f"Sch.{uuid.uuid4().hex[:6]}"
    autoconn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        quoted = '"' + schema.replace('"', '""') + '".' + '"My Table"'
        n = zcimport.copy_dataframe(pd.DataFrame({"Col": [1]}), quoted, dsn, create=True)
        assert n == 1
        assert column_types_in_catalog(autoconn, "My Table", schema) == [("Col", "bigint")]
        n = zcimport.copy_dataframe(pd.DataFrame({"Col": [2]}), (schema, "My Table"), dsn,
                                    create=True, if_exists="append")
        rows = autoconn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(
            sql.Identifier(schema, "My Table"))).fetchall()
        assert rows == [(1,), (2,)]
    finally:
        autoconn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.parametrize("mode", ["replace", "truncate", "fail"])
def test_freeze_after_create_replace_truncate(autoconn, table, dsn, mode):
    df = pd.DataFrame({"a": np.arange(100)})
    if mode != "fail":
        zcimport.copy_dataframe(df, table, dsn, create=True)
    # COPY FREEZE is refused unless the table was created or truncated in
    # the same transaction: the DDL and the COPY share it
    assert zcimport.copy_dataframe(df, table, dsn, create=True, if_exists=mode, freeze=True) == 100
    assert count(autoconn, table) == 100


def test_append_with_freeze_is_refused(autoconn, table, dsn):
    df = pd.DataFrame({"a": [1]})
    zcimport.copy_dataframe(df, table, dsn, create=True)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        zcimport.copy_dataframe(df, table, dsn, create=True, if_exists="append", freeze=True)


def test_failed_load_rolls_back_the_truncate(dsn, table):
    df = pd.DataFrame({"a": np.arange(10)})
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE TABLE {} (a int8 CHECK (a < 5))").format(sql.Identifier(table)))
        c.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(sql.Identifier(table)))
        with pytest.raises(psycopg.errors.CheckViolation):
            zcimport.copy_dataframe(df, table, c, create=True, if_exists="truncate")
        # an autocommit connection ran the TRUNCATE and the COPY in one
        # transaction block: both were rolled back
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert count(c, table) == 1
        with pytest.raises(psycopg.errors.CheckViolation):
            zcimport.copy_dataframe(df, table, c, create=True, if_exists="append")
        assert count(c, table) == 1


def test_new_table_is_rolled_back_with_a_failed_load(autoconn, table, dsn):
    # The table is created, then the load fails (a string with a NUL, which
    # text cannot hold): no table remains.
    df = pd.DataFrame({"s": ["ok", "bad\0"]})
    with pytest.raises(psycopg.Error):
        zcimport.copy_dataframe(df, table, dsn, create=True)
    assert autoconn.execute("SELECT to_regclass(%s)", [table]).fetchone() == (None,)
    with psycopg.connect(dsn, autocommit=True) as c:
        with pytest.raises(psycopg.Error):
            zcimport.copy_dataframe(df, table, c, create=True)
    assert autoconn.execute("SELECT to_regclass(%s)", [table]).fetchone() == (None,)


def test_create_in_the_callers_transaction_is_not_committed(conn, table):
    zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), table, conn, create=True)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert count(conn, table) == 1
    conn.rollback()
    assert conn.execute("SELECT to_regclass(%s)", [table]).fetchone() == (None,)


def test_prepare_table_with_psycopg2(dsn, table, autoconn):
    psycopg2 = pytest.importorskip("psycopg2")
    c2 = psycopg2.connect(dsn)
    try:
        with c2.cursor() as cur:
            execute = _ddl.dbapi_execute(cur)
            plan = make_plan(pd.DataFrame({"x": [1], 'we"ird': ["a"]}))
            assert _ddl.prepare_table(execute, table, plan) == "created"
            with pytest.raises(zcimport.TableExistsError):
                _ddl.prepare_table(execute, table, plan)
            assert _ddl.prepare_table(execute, table, plan, "truncate") == "truncated"
            assert _ddl.prepare_table(execute, table, plan, "replace") == "replaced"
        c2.commit()
    finally:
        c2.close()
    assert column_types_in_catalog(autoconn, table) == [("x", "bigint"), ('we"ird', "text")]
