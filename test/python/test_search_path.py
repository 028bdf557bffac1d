"""Every SQL string the client sends is schema-qualified (issue 8, item 4).

A schema earlier in ``search_path`` than ``pg_catalog`` may hold operators,
functions and types with the names of the built-in ones.  PostgreSQL picks
them over the built-in ones, and they run as the loading user.  These tests
create such a schema, full of look-alikes that record that they ran (a
non-transactional sequence, and a WARNING), put it first in the
``search_path`` of the loading connection, and run every way of loading:
psycopg 3 (socket and libpq paths, in and out of a transaction), asyncio,
psycopg2, SQLAlchemy, ``create=`` with every ``if_exists``, ``plan(conn=)``
and the command line.  Nothing in the schema may run, and the tables that
``create=`` makes have the built-in types.

A static test also lexes the SQL strings of the package's source, and of
the statements a load sends (recorded by the fake server), for unqualified
operators, functions, catalogs and types.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import decimal
import ipaddress
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
import psycopg2
import pytest
import sqlalchemy as sa
from psycopg import sql

import zcimport
from zcimport import _copy, _ddl

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "zcimport"

# -- the hostile schema ---------------------------------------------------------

#: Types (as domains) named like built-in ones: those that are not keywords
#: (text, date...) would be picked by an unqualified name; keyword types
#: (bigint = int8...) must stay the built-in ones too.
EVIL_TYPES = ("text", "bytea", "date", "timestamptz", "jsonb", "uuid", "inet", "int8", "int4",
              "int2", "float8", "float4", "bool", "numeric", "timestamp", "interval", "varchar")

#: Operators for the pairs of types that catalog queries compare.  A pair
#: that has no operator of its own in pg_catalog (oid = regclass) wins even
#: when pg_catalog comes first in search_path.
EVIL_OPERATOR_TYPES = (
    ("int2", "int2"), ("int2", "int4"), ("int4", "int2"), ("int4", "int4"), ("int8", "int8"),
    ("int4", "int8"), ("int8", "int4"), ("oid", "oid"), ("oid", "regclass"),
    ("regclass", "oid"), ("regclass", "regclass"), ("oid", "int4"), ("name", "name"),
    ("name", "text"), ("text", "name"), ("text", "text"), ("bool", "bool"), ("char", "char"),
)
EVIL_OPERATORS = {"=": "eq", "<>": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}

#: Functions named like built-in ones (the client calls them qualified).
EVIL_FUNCTIONS = (
    ("pg_backend_pid", "", "int4", "pg_catalog.pg_backend_pid()"),
    ("to_regclass", "x text", "regclass", "pg_catalog.to_regclass(x)"),
    ("version", "", "text", "pg_catalog.version()"),
    ("current_setting", "x text", "text", "pg_catalog.current_setting(x)"),
    ("format_type", "x oid, y int4", "text", "pg_catalog.format_type(x, y)"),
    ("quote_ident", "x text", "text", "pg_catalog.quote_ident(x)"),
    ("set_config", "x text, y text, z bool", "text", "pg_catalog.set_config(x, y, z)"),
)


def _evil_ddl(s: str) -> List[str]:
    """The statements that create schema s and its look-alikes."""
    out = [
        f"CREATE SCHEMA {s}",
        f"CREATE SEQUENCE {s}.hits",
        f"CREATE FUNCTION {s}.hit(what text) RETURNS bool LANGUAGE plpgsql"
        f" SET search_path = pg_catalog AS $$ BEGIN"
        f" PERFORM pg_catalog.nextval('{s}.hits');"
        f" RAISE WARNING 'search_path test: {s}.% ran', what; RETURN true; END $$",
    ]
    for t in EVIL_TYPES:
        out.append(f"CREATE DOMAIN {s}.{t} AS pg_catalog.{t}"
                   f" CHECK ({s}.hit('type {t}'))")
    for op, name in EVIL_OPERATORS.items():
        for left, right in EVIL_OPERATOR_TYPES:
            fn = f"{s}.{name}_{left}_{right}"
            out.append(
                f"CREATE FUNCTION {fn}(a pg_catalog.{left}, b pg_catalog.{right})"
                f" RETURNS pg_catalog.bool LANGUAGE plpgsql SET search_path = pg_catalog"
                f" AS $$ BEGIN PERFORM {s}.hit('operator {left} {op} {right}');"
                f" RETURN a OPERATOR(pg_catalog.{op}) b; END $$")
            out.append(f"CREATE OPERATOR {s}.{op} (LEFTARG = pg_catalog.{left},"
                       f" RIGHTARG = pg_catalog.{right}, FUNCTION = {fn})")
    for name, args, ret, body in EVIL_FUNCTIONS:
        out.append(
            f"CREATE FUNCTION {s}.{name}({args}) RETURNS pg_catalog.{ret} LANGUAGE plpgsql"
            f" SET search_path = pg_catalog AS $$ BEGIN PERFORM {s}.hit('function {name}');"
            f" RETURN {body}; END $$")
    return out


class Evil:
    """The hostile schema, and conninfo strings that put it first."""

    def __init__(self, autoconn: Any, dsn: str, name: str) -> None:
        self.autoconn = autoconn
        self.name = name
        self.path = f"{name}, pg_catalog, public"
        #: The test database, with the hostile schema first in search_path.
        self.dsn = psycopg.conninfo.make_conninfo(dsn, options=f"-c search_path={name},pg_catalog,public")

    def reset(self) -> None:
        self.autoconn.execute(f"SELECT pg_catalog.setval('{self.name}.hits', 1, false)")

    def hits(self) -> int:
        last, called = self.autoconn.execute(
            f"SELECT last_value, is_called FROM {self.name}.hits").fetchone()
        return int(last) if called else 0

    def check(self, notices: Sequence[str] = ()) -> None:
        """Assert that nothing of the schema ran."""
        ran = Counter(n.strip().rpartition(f"{self.name}.")[2] for n in notices
                      if "search_path test" in n)
        assert self.hits() == 0 and not ran, f"{self.hits()} calls into {self.name}: {dict(ran)}"


@pytest.fixture(scope="module")
def evil(dsn: str) -> Iterator[Evil]:
    with psycopg.connect(dsn, autocommit=True) as c:
        name = f"evil_{uuid.uuid4().hex[:8]}"
        with c.transaction():
            for stmt in _evil_ddl(name):
                c.execute(stmt)
        try:
            yield Evil(c, dsn, name)
        finally:
            c.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def hostile(evil: Evil) -> Iterator[Evil]:
    evil.reset()
    yield evil


def test_the_hostile_schema_works(hostile: Evil) -> None:
    """The look-alikes do run when a statement names things without a schema."""
    notes: List[str] = []
    with psycopg.connect(hostile.dsn) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        assert c.execute("SELECT pg_backend_pid() = 1").fetchone() == (False,)
        c.execute("CREATE TEMP TABLE probe (a text, b date)")
        assert c.execute(
            "SELECT t.typnamespace::pg_catalog.regnamespace::pg_catalog.text"
            " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t"
            " ON t.oid OPERATOR(pg_catalog.=) a.atttypid"
            " WHERE a.attrelid OPERATOR(pg_catalog.=) 'probe'::pg_catalog.regclass"
            " AND a.attnum OPERATOR(pg_catalog.>) 0").fetchall() == [(hostile.name,)] * 2
        c.rollback()
    assert hostile.hits() >= 2
    assert any("function pg_backend_pid" in n for n in notes)
    assert any("operator int4 = int4" in n for n in notes)


# -- frames and tables ------------------------------------------------------------


def every_kind_frame(n: int = 40) -> pd.DataFrame:
    """A frame with a column of each kind create= makes a type for."""
    k = np.arange(n)
    return pd.DataFrame({
        "b": k % 3 == 0,
        "i16": k.astype(np.int16),
        "i64": k * 7,
        "u64": k.astype(np.uint64),
        "f32": (k / 4).astype(np.float32),
        "f64": np.where(k % 5 == 0, np.nan, k / 3),
        "I32": pd.array([None if i % 4 == 1 else i for i in k], dtype="Int32"),
        "ts": pd.date_range("2021-03-28", periods=n, freq="37min"),
        "tstz": pd.date_range("2021-03-28", periods=n, freq="37min", tz="Europe/Berlin"),
        "td": pd.to_timedelta(k, unit="s"),
        "s": [None if i % 6 == 0 else f"name {i}" for i in k],
        "cat": pd.Categorical([["x", "y", "z"][i % 3] for i in k]),
        "d": [dt.date(2020, 1, 1) + dt.timedelta(days=int(i)) for i in k],
        "dec": [decimal.Decimal(int(i)) / 8 for i in k],
        "js": [{"k": int(i)} for i in k],
        "u": [uuid.UUID(int=int(i)) for i in k],
        "ip": [ipaddress.ip_address(f"10.0.0.{i % 250}") for i in k],
        "by": [bytes([int(i) % 256]) * 3 for i in k],
    })


#: What create= makes of every_kind_frame().
EXPECTED_TYPES = {
    "b": "boolean", "i16": "smallint", "i64": "bigint", "u64": "numeric(20,0)",
    "f32": "real", "f64": "double precision", "I32": "integer",
    "ts": "timestamp without time zone", "tstz": "timestamp with time zone",
    "td": "interval", "s": "text", "cat": "text", "d": "date", "dec": "numeric",
    "js": "jsonb", "u": "uuid", "ip": "inet", "by": "bytea",
}


def table_types(autoconn: Any, table: str) -> dict:
    """{column: format_type} of table, with the type's schema shown if not pg_catalog."""
    rows = autoconn.execute(
        "SELECT a.attname, t.typnamespace::regnamespace::text, format_type(a.atttypid, a.atttypmod)"
        " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        [table]).fetchall()
    return {name: (typ if ns == "pg_catalog" else f"{ns}: {typ}") for name, ns, typ in rows}


def make_table(autoconn: Any, table: str) -> None:
    cols = ", ".join(f"{sql.Identifier(c).as_string(autoconn)} {t}"
                     for c, t in EXPECTED_TYPES.items())
    autoconn.execute(f"CREATE TABLE {sql.Identifier(table).as_string(autoconn)} ({cols})")


def public(table: str) -> Tuple[str, str]:
    """The table in public (create= makes an unqualified table in the first
    schema of search_path, which is the hostile one here)."""
    return ("public", table)


def count(autoconn: Any, table: str) -> int:
    return autoconn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                            ).fetchone()[0]


# -- psycopg 3 -----------------------------------------------------------------------


@pytest.mark.parametrize("force_libpq", [False, True])
@pytest.mark.parametrize("autocommit", [False, True])
def test_psycopg_load(hostile, autoconn, table, monkeypatch, force_libpq, autocommit):
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    make_table(autoconn, table)
    frame = every_kind_frame()
    notes: List[str] = []
    with psycopg.connect(hostile.dsn, autocommit=autocommit) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        if not autocommit:
            c.execute("SELECT 1")  # in a transaction: the check runs in a savepoint
        assert zcimport.copy_dataframe(frame, table, c) == len(frame)
        assert zcimport.plan(frame, conn=c).transport  # executes nothing
        if not autocommit:
            c.commit()
    hostile.check(notes)
    assert count(autoconn, table) == len(frame)


@pytest.mark.parametrize("if_exists", ["fail", "replace", "append", "truncate"])
def test_psycopg_create(hostile, autoconn, table, if_exists):
    frame = every_kind_frame()
    notes: List[str] = []
    with psycopg.connect(hostile.dsn, autocommit=True) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        assert zcimport.copy_dataframe(frame, public(table), c, create=True) == len(frame)
        if if_exists != "fail":
            assert zcimport.copy_dataframe(frame, public(table), c, create=True,
                                           if_exists=if_exists) == len(frame)
        else:
            with pytest.raises(zcimport.TableExistsError):
                zcimport.copy_dataframe(frame, public(table), c, create=True)
    hostile.check(notes)
    assert table_types(autoconn, table) == EXPECTED_TYPES
    assert count(autoconn, table) == len(frame) * (2 if if_exists == "append" else 1)


def test_psycopg_load_frames(hostile, autoconn, table):
    frame = every_kind_frame()
    notes: List[str] = []
    with psycopg.connect(hostile.dsn) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        assert _copy.load_frames(c, [frame.iloc[:10], frame.iloc[10:]], public(table),
                                 create=True) == len(frame)
        c.commit()
    hostile.check(notes)
    assert table_types(autoconn, table) == EXPECTED_TYPES


# -- asyncio -----------------------------------------------------------------------------


@pytest.mark.parametrize("force_libpq", [False, True])
def test_async_load_and_create(hostile, autoconn, table, monkeypatch, force_libpq):
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    frame = every_kind_frame()
    notes: List[str] = []

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(hostile.dsn) as c:
            c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
            await c.execute("SELECT 1")
            assert await zcimport.copy_dataframe_async(frame, public(table), c,
                                                       create=True) == len(frame)
            assert await zcimport.copy_dataframe_async(frame, public(table), c, create=True,
                                                       if_exists="replace") == len(frame)
            assert await zcimport.copy_dataframe_async(frame, table, c) == len(frame)
            assert zcimport.plan(frame, conn=c).transport
            await c.commit()

    asyncio.run(main())
    hostile.check(notes)
    assert table_types(autoconn, table) == EXPECTED_TYPES
    assert count(autoconn, table) == 2 * len(frame)


# -- psycopg2 and SQLAlchemy ----------------------------------------------------------------


@pytest.mark.parametrize("autocommit", [False, True])
def test_psycopg2(hostile, autoconn, table, autocommit):
    frame = every_kind_frame()
    c = psycopg2.connect(hostile.dsn)
    try:
        c.autocommit = autocommit
        if not autocommit:
            with c.cursor() as cur:
                cur.execute("SELECT 1")  # in a transaction: the check uses a savepoint
        assert zcimport.copy_dataframe(frame, public(table), c, create=True) == len(frame)
        assert zcimport.copy_dataframe(frame, public(table), c, create=True,
                                       if_exists="truncate") == len(frame)
        assert zcimport.copy_dataframe(frame, table, c) == len(frame)
        assert zcimport.plan(frame, conn=c).transport
        if not autocommit:
            c.commit()
        notes = list(c.notices)
    finally:
        c.close()
    hostile.check(notes)
    assert table_types(autoconn, table) == EXPECTED_TYPES
    assert count(autoconn, table) == 2 * len(frame)


def _engine(dsn: str, path: str) -> Any:
    """A psycopg2 engine whose connections get path once SQLAlchemy has set them up."""
    e = sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(dsn))

    @sa.event.listens_for(e, "checkout")
    def set_path(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET search_path = {path}")
        dbapi_conn.commit()

    return e


def test_sqlalchemy(hostile, dsn, autoconn, table):
    frame = every_kind_frame()
    e = _engine(dsn, hostile.path)
    try:
        assert zcimport.copy_dataframe(frame, public(table), e, create=True) == len(frame)
        with e.connect() as sc:
            assert zcimport.copy_dataframe(frame, public(table), sc, create=True,
                                           if_exists="append") == len(frame)
            assert zcimport.plan(frame, conn=sc).transport
            if hasattr(sc, "commit"):  # SQLAlchemy 2: the load is in the autobegun transaction
                sc.commit()
        with e.begin() as sc:
            assert zcimport.copy_dataframe(frame, table, sc) == len(frame)
    finally:
        e.dispose()
    hostile.check()
    assert table_types(autoconn, table) == EXPECTED_TYPES
    assert count(autoconn, table) == 3 * len(frame)


# -- the command line ----------------------------------------------------------------------


def _cli(*args: Any) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PG")}
    env["PYTHONPATH"] = str(PACKAGE.parent)
    return subprocess.run([sys.executable, "-m", "zcimport", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_load(hostile, autoconn, table, tmp_path):
    # a column without a value in the first chunk makes the command read the
    # table's column types; the summary reads the table's schema and name
    path = tmp_path / "x.csv"
    n = 3000
    pd.DataFrame({
        "id": np.arange(n),
        "late": [None] * 2000 + [f"v{i}" for i in range(1000)],
        "d": ["2024-01-02"] * n,
    }).to_csv(path, index=False)
    r = _cli("load", path, "-t", f"public.{table}", "--dsn", hostile.dsn, "--create",
             "--chunk-rows", "500", "--parse-dates", "d")
    assert r.returncode == 0, r.stderr
    hostile.check([r.stderr])
    assert count(autoconn, table) == n
    r = _cli("load", path, "-t", table, "--dsn", hostile.dsn, "--chunk-rows", "500")
    assert r.returncode == 0, r.stderr
    hostile.check([r.stderr])
    zci = tmp_path / "x.zci"
    zcimport.dump(pd.DataFrame({"id": np.arange(10)}), str(zci))
    r = _cli("load", zci, "-t", f"public.{table}_z", "--dsn", hostile.dsn, "--create")
    try:
        assert r.returncode == 0, r.stderr
        hostile.check([r.stderr])
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table + "_z")))
    assert count(autoconn, table) == 2 * n


# -- static: the SQL in the package, and what a load sends ---------------------------------

#: SQL keywords (and grammar constructs) that may precede "(" unqualified.
_CALL_KEYWORDS = {"coalesce", "with", "values", "numeric", "varchar", "exists", "in", "and",
                  "or", "not", "on", "where", "select", "from", "as", "operator",
                  "conflict", "key"}  # ON CONFLICT (...), PRIMARY KEY (...)
#: Type keywords of the grammar (always pg_catalog's).
_KEYWORD_TYPES = {"bigint", "integer", "smallint", "boolean", "real", "double", "numeric",
                  "timestamp", "interval", "varchar"}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>"(?:[^"]|"")*")
  | (?P<ph>%s|\{\}|\$\d+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<id>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<cast>::)
  | (?P<op>[-+*/<>=~!@#%^&|`?]+)
  | (?P<punct>[(),.;\[\]])
""", re.X)


def sql_problems(text: str) -> List[str]:
    """What in a SQL statement is looked up through search_path.

    Operators outside OPERATOR(schema.op), calls of unqualified functions,
    pg_* catalogs without pg_catalog., casts to unqualified types, NULLIF
    and IN (...) (which look "=" up), and column types of CREATE TABLE
    that are neither keywords nor qualified.  User tables are always
    double-quoted by the client (or a placeholder), so quoted identifiers
    are not checked.
    """
    toks: List[Tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return [f"cannot lex {text[pos:pos + 20]!r}"]
        pos = m.end()
        if m.lastgroup != "ws":
            toks.append((m.lastgroup or "", m.group()))
    out = []
    upper = [t.upper() for _, t in toks]
    for i, (kind, tok) in enumerate(toks):
        prev = toks[i - 1] if i else ("", "")
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        qualified = prev == ("punct", ".")
        low = tok.lower()
        if kind == "op":
            inside = (i >= 4 and toks[i - 4][1].upper() == "OPERATOR" and toks[i - 1][1] == "."
                      and toks[i - 2][1] == "pg_catalog")
            # ON CONFLICT ... DO UPDATE SET "c" = EXCLUDED."c": an assignment
            assignment = (tok == "=" and prev[0] == "qid" and nxt[1].upper() == "EXCLUDED"
                          and i >= 2 and upper[i - 2] in ("SET", ",")
                          and any(upper[j:j + 3] == ["DO", "UPDATE", "SET"] for j in range(i)))
            if not inside and not assignment:
                out.append(f"operator {tok} without OPERATOR(pg_catalog.{tok})")
        elif kind == "id":
            if nxt == ("punct", "(") and not qualified and low not in _CALL_KEYWORDS:
                out.append(f"unqualified call {tok}(")
            if low in ("nullif", "in") and nxt == ("punct", "("):
                out.append(f"{tok.upper()} (...) looks up = through search_path")
            if low.startswith("pg_") and low not in ("pg_catalog", "pg_temp") and not qualified:
                out.append(f"catalog {tok} without pg_catalog.")
            if prev[0] == "cast" and low not in _KEYWORD_TYPES and nxt != ("punct", "."):
                out.append(f"cast to unqualified type {tok}")
    # CREATE TABLE "t" ("a" type, ...): each column's type
    m = re.match(r"\s*CREATE\s+TABLE\s", text, re.I)
    if m:
        body = text[text.index("(") + 1:text.rindex(")")]
        for col in re.split(r",(?![^(]*\))", body):
            if re.match(r"\s*PRIMARY\s+KEY\s*\(", col, re.I):
                continue  # a table constraint, not a column
            typ = re.sub(r'^\s*"(?:[^"]|"")*"\s*', "", col).strip()
            word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", typ)
            if word and word.group().lower() not in _KEYWORD_TYPES and "." not in typ:
                out.append(f"column type {typ} without a schema")
    return out


def test_sql_problems_finds_what_it_should() -> None:
    assert sql_problems("SELECT zcimport.version() WHERE pid = pg_catalog.pg_backend_pid()")
    assert sql_problems("SELECT x FROM pg_class")
    assert sql_problems("SELECT pg_backend_pid()")
    assert sql_problems("SELECT nullif(a, 0)")
    assert sql_problems("SELECT '1'::regclass")
    assert sql_problems('CREATE TABLE "t" ("a" bigint, "b" text)')
    assert not sql_problems(
        "SELECT zcimport.version(), coalesce((SELECT encrypted FROM pg_catalog.pg_stat_gssapi"
        " WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), false)")
    assert not sql_problems('CREATE TABLE "s"."t" ("a" bigint, "b" pg_catalog.text,'
                            ' "c" numeric(20,0), "d" double precision)')
    assert not sql_problems("SELECT '1'::pg_catalog.regclass")
    # an upsert's SET list assigns; an "=" anywhere else is an operator
    assert not sql_problems('INSERT INTO "t" ("a", "b") SELECT "a", "b" FROM pg_temp."s"'
                            ' ORDER BY "a", ctid ON CONFLICT ("a") DO UPDATE SET "b" = EXCLUDED."b"')
    assert sql_problems('INSERT INTO "t" ("a") SELECT "a" FROM "s" WHERE "a" = "a"')
    assert sql_problems('INSERT INTO "t" ("a") SELECT "a" FROM "s" ON CONFLICT ("a") DO UPDATE'
                        ' SET "a" = EXCLUDED."a" WHERE "t"."a" = EXCLUDED."a"')
    assert not sql_problems('CREATE TABLE "t" ("a" bigint, PRIMARY KEY ("a"))')


_SQL_START = re.compile(
    r"\s*(SELECT|COPY|CREATE|DROP|TRUNCATE|INSERT|UPDATE|DELETE|WITH|SET|SHOW|ALTER|LOCK"
    r"|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\s+(?![a-z]+\b(?:\s|$))")


def _string_of(node: ast.AST) -> Optional[str]:
    """The text of a string literal, an f-string or a + of them ({} for the rest)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_of(node.left), _string_of(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def package_sql() -> List[Tuple[str, int, str]]:
    """(file, line, text) of every string in the package that is a SQL statement."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docstrings = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr):
                    docstrings.add(id(body[0].value))
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        for node in ast.walk(tree):
            if id(node) in docstrings or isinstance(parents.get(id(node)), (ast.BinOp, ast.JoinedStr)):
                continue
            text = _string_of(node)
            if text is not None and _SQL_START.match(text):
                found.append((path.name, getattr(node, "lineno", 0), text))
    return found


def test_package_sql_is_schema_qualified() -> None:
    found = package_sql()
    # the statements this test must see, at least
    texts = " ".join(t for _, _, t in found)
    for needle in ("zcimport.version()", "pg_catalog.to_regclass", "pg_catalog.pg_attribute",
                   "CREATE TABLE", "COPY {}", "pg_catalog.pg_index", "CREATE TEMP TABLE",
                   "INSERT INTO {}"):
        assert needle in texts, needle
    problems = [(f, line, p, t) for f, line, t in found for p in sql_problems(t)]
    assert not problems, "\n".join(f"{f}:{line}: {p}: {t!r}" for f, line, p, t in problems)


def test_what_a_load_sends_is_schema_qualified(fake_pg) -> None:
    frame = every_kind_frame(5).drop(columns=["u64"])
    with psycopg.connect(fake_pg.dsn) as c:
        c.execute("SELECT 1")  # in a transaction: the check runs in a savepoint
        zcimport.copy_dataframe(frame, "t", c)
        c.commit()
    assert fake_pg.queries
    problems = [(q, p) for q in fake_pg.queries for p in sql_problems(q)]
    assert not problems, problems
    statements = _ddl.ddl_statements(("s", "t"), _ddl.column_types(zcimport.plan(
        every_kind_frame(5))), "replace", True)
    statements.append(_ddl.exists_query("t")[0])
    problems = [(q, p) for q in statements for p in sql_problems(q)]
    assert not problems, problems


def test_upsert_statements_are_schema_qualified() -> None:
    from zcimport import _upsert

    for action, keys in (("update", None), ("nothing", ["k"]), ("update", ["a", "k"])):
        u = _upsert.Upsert(("s", "t"), ["a", "k", "b"], action, keys)
        query, params = u.primary_key_query()
        if keys is None:
            u.set_primary_key([("k",)])
        check = u.check_sql()
        assert check.startswith("EXPLAIN ")
        statements = [query, u.create_stage_sql(), check[len("EXPLAIN "):], u.insert_sql(),
                      u.drop_stage_sql()]
        statements += _ddl.ddl_statements(("s", "t"), [("a", "text"), ("k", "bigint")],
                                          "replace", True, ["k"])
        problems = [(q, p) for q in statements for p in sql_problems(q)]
        assert not problems, problems


# -- upsert (on_conflict=) -------------------------------------------------------------------


def make_keyed_table(autoconn: Any, table: str) -> None:
    make_table(autoconn, table)
    autoconn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (i64)").format(sql.Identifier(table)))


@pytest.mark.parametrize("autocommit", [False, True])
def test_upsert_psycopg(hostile, autoconn, table, autocommit):
    make_keyed_table(autoconn, table)
    frame = every_kind_frame()
    notes: List[str] = []
    with psycopg.connect(hostile.dsn, autocommit=autocommit) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        assert zcimport.copy_dataframe(frame.iloc[:25], table, c, on_conflict="nothing") == 25
        assert zcimport.copy_dataframe(frame, table, c, on_conflict="nothing") == 15
        assert zcimport.copy_dataframe(frame, public(table), c, on_conflict="update") == 40
        assert zcimport.copy_dataframe(frame, table, c, on_conflict="update",
                                       conflict_columns=["i64"]) == 40
        with pytest.raises(psycopg.errors.InvalidColumnReference):
            zcimport.copy_dataframe(frame, table, c, on_conflict="update", conflict_columns="s")
        if not autocommit:
            c.rollback()
            assert zcimport.copy_dataframe(frame, table, c, on_conflict="update") == 40
            c.commit()
        # create= with a key (new table, in public: the hostile schema is first)
        assert zcimport.copy_dataframe(frame, public(table + "_k"), c, create=True,
                                       on_conflict="update", conflict_columns=["i64"]) == 40
        if not autocommit:
            c.commit()
    try:
        hostile.check(notes)
        assert table_types(autoconn, table + "_k") == EXPECTED_TYPES
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table + "_k")))
    assert count(autoconn, table) == len(frame)


def test_upsert_async(hostile, autoconn, table):
    make_keyed_table(autoconn, table)
    frame = every_kind_frame()
    notes: List[str] = []

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(hostile.dsn) as c:
            c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
            assert await zcimport.copy_dataframe_async(frame.iloc[:10], table, c,
                                                       on_conflict="nothing") == 10
            assert await zcimport.copy_dataframe_async(frame, public(table), c,
                                                       on_conflict="update") == 40
            await c.commit()

    asyncio.run(main())
    hostile.check(notes)
    assert count(autoconn, table) == len(frame)


@pytest.mark.parametrize("autocommit", [False, True])
def test_upsert_psycopg2(hostile, autoconn, table, autocommit):
    make_keyed_table(autoconn, table)
    frame = every_kind_frame()
    c = psycopg2.connect(hostile.dsn)
    try:
        c.autocommit = autocommit
        assert zcimport.copy_dataframe(frame.iloc[:10], table, c, on_conflict="nothing") == 10
        assert zcimport.copy_dataframe(frame, public(table), c, on_conflict="update") == 40
        if not autocommit:
            c.commit()
        notes = list(c.notices)
    finally:
        c.close()
    hostile.check(notes)
    assert count(autoconn, table) == len(frame)


def test_upsert_sqlalchemy(hostile, dsn, autoconn, table):
    make_keyed_table(autoconn, table)
    frame = every_kind_frame()
    e = _engine(dsn, hostile.path)
    try:
        assert zcimport.copy_dataframe(frame.iloc[:10], table, e, on_conflict="nothing") == 10
        with e.begin() as sc:
            assert zcimport.copy_dataframe(frame, public(table), sc, on_conflict="update") == 40
    finally:
        e.dispose()
    hostile.check()
    assert count(autoconn, table) == len(frame)


def test_upsert_cli(hostile, autoconn, table, tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"id": np.arange(30), "v": [f"v{i}" for i in range(30)]}).to_csv(path,
                                                                                  index=False)
    r = _cli("load", path, "-t", f"public.{table}", "--dsn", hostile.dsn, "--create",
             "--on-conflict", "update", "--conflict-columns", "id", "--chunk-rows", "10")
    assert r.returncode == 0, r.stderr
    hostile.check([r.stderr])
    for action in ("update", "nothing"):
        r = _cli("load", path, "-t", table, "--dsn", hostile.dsn, "--on-conflict", action)
        assert r.returncode == 0, r.stderr
        hostile.check([r.stderr])
    assert count(autoconn, table) == 30
