"""Every way into zcimport, against the test cluster (ZC_TEST_DSN).

For each kind of connection: psycopg 3 (sync and async), a conninfo string
and a URL, psycopg2, SQLAlchemy Engines, Connections (legacy and 2.0 style,
with and without a transaction) and ORM Sessions, and the pandas accessor,
these tests load the same mixed frame (strings, a categorical, NULLs of
every kind, naive and aware timestamps), read it back and compare it with
values written out by hand; check which transaction the load runs in; and
check that server errors arrive with their SQLSTATE.

The modules are tested directly (``zcimport._drivers``, ``zcimport._async``,
``zcimport._accessor``), and through the public API once it is wired to
them (``needs_drivers``, ``needs_async``, ``needs_accessor``: skipped,
with the reason, until then).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import subprocess
import sys
import time
import urllib.parse
import uuid
from typing import Any, Iterator, List, Tuple

from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.sql
import pytest
import sqlalchemy as sa
import sqlalchemy.future
import sqlalchemy.orm
from psycopg import errors, sql

import zcimport

# Whether `import zcimport` registered the accessor (before this module does).
ACCESSOR_WIRED = "zcimport._accessor" in sys.modules

from zcimport import _async, _copy, _drivers  # noqa: E402
from zcimport import _accessor  # noqa: E402,F401  (registers DataFrame.zcimport)
from zcimport._plan import make_plan  # noqa: E402

UTC = dt.timezone.utc
SA_VERSION = tuple(int(p) for p in sa.__version__.split(".")[:2])
_PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def _drivers_wired() -> bool:
    """Whether zcimport.copy_dataframe hands other connections to _drivers."""
    e = sa.create_engine("sqlite://")
    try:
        zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), "t", e)
    except TypeError as ex:  # _drivers: "SQLAlchemy's DBAPI connection is a sqlite3..."
        return "conn must be" not in str(ex)
    except Exception:  # pragma: no cover
        return True
    finally:
        e.dispose()
    return True  # pragma: no cover


_WIRING = ("apply the wiring patches to zcimport/__init__.py and zcimport/_copy.py;"
           " this skip lifts by itself")
needs_drivers = pytest.mark.skipif(
    not _drivers_wired(),
    reason="zcimport.copy_dataframe does not use zcimport._drivers yet: " + _WIRING)
needs_async = pytest.mark.skipif(
    not hasattr(zcimport, "copy_dataframe_async"),
    reason="zcimport.copy_dataframe_async is not exported yet: " + _WIRING)
needs_accessor = pytest.mark.skipif(
    not ACCESSOR_WIRED,
    reason="import zcimport does not import zcimport._accessor yet: " + _WIRING)


# ---------------------------------------------------------------------------
# the frame, its table, and the values expected back
# ---------------------------------------------------------------------------


DDL = (
    "id bigint PRIMARY KEY, name text, kind text, qty integer, price double precision,"
    " ts timestamp, tstz timestamptz, flag boolean"
)


def mixed_frame() -> pd.DataFrame:
    """Six rows: strings (with None and ""), a categorical (with a missing
    value and an unused category), a nullable integer, floats with NaN,
    naive timestamps with NaT, aware timestamps across a DST change, bools."""
    return pd.DataFrame(
        {
            "id": np.arange(6, dtype=np.int64),
            "name": ["alpha", None, "gamma", "δέλτα ✓", "", "zeta"],
            "kind": pd.Categorical(["a", "b", None, "a", "c", "b"],
                                   categories=["a", "b", "c", "unused"]),
            "qty": pd.array([1, None, 3, -4, None, 2**31 - 1], dtype="Int32"),
            "price": [1.5, np.nan, -0.25, 1e10, 0.0, 3.0],
            # one Timestamp at a time: pandas >= 3 infers a single format
            # from the first string, which the others do not all match
            "ts": pd.Series([pd.Timestamp(t) if t else pd.NaT for t in [
                "2021-01-01 00:00:00", None, "1999-12-31 23:59:59.999999",
                "2038-01-19 03:14:08", "1970-01-01", "2000-02-29 12:00"]],
                dtype="datetime64[ns]"),
            # tz_localize: pandas 3's DatetimeIndex(..., ambiguous=array) fails
            "tstz": pd.DatetimeIndex(
                ["2021-03-28 00:30", "2021-03-28 01:15", "2021-03-28 03:00", None,
                 "2021-03-28 03:45", "2021-10-31 02:30"], dtype="datetime64[ns]").tz_localize(
                "Europe/Berlin", ambiguous=np.array([True, True, True, True, True, False])),
            "flag": [True, False, True, True, False, False],
        }
    )


#: The rows the mixed frame must load as, written out by hand.
EXPECTED: List[Tuple[Any, ...]] = [
    (0, "alpha", "a", 1, 1.5, dt.datetime(2021, 1, 1),
     dt.datetime(2021, 3, 27, 23, 30, tzinfo=UTC), True),
    (1, None, "b", None, None, None,
     dt.datetime(2021, 3, 28, 0, 15, tzinfo=UTC), False),
    (2, "gamma", None, 3, -0.25, dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
     dt.datetime(2021, 3, 28, 1, 0, tzinfo=UTC), True),
    (3, "δέλτα ✓", "a", -4, 1e10, dt.datetime(2038, 1, 19, 3, 14, 8),
     None, True),
    (4, "", "c", None, 0.0, dt.datetime(1970, 1, 1),
     dt.datetime(2021, 3, 28, 1, 45, tzinfo=UTC), False),
    (5, "zeta", "b", 2**31 - 1, 3.0, dt.datetime(2000, 2, 29, 12, 0),
     dt.datetime(2021, 10, 31, 1, 30, tzinfo=UTC), False),
]


def test_the_expected_rows_describe_the_frame() -> None:
    """Guards the hand-written values against a pandas that parses otherwise."""
    df = mixed_frame()
    assert [None if pd.isna(t) else t.tz_convert("UTC").to_pydatetime() for t in df.tstz] == \
        [r[6] for r in EXPECTED]


@pytest.fixture
def table(autoconn: psycopg.Connection) -> Iterator[str]:
    """A new table for the mixed frame, dropped afterwards."""
    name = f"integ_{uuid.uuid4().hex[:10]}"
    autoconn.execute(sql.SQL("CREATE TABLE {} (" + DDL + ")").format(sql.Identifier(name)))
    yield name
    drop_table(autoconn, name)


@pytest.fixture
def small_table(autoconn: psycopg.Connection) -> Iterator[str]:
    """A table (v smallint), for range errors; dropped afterwards."""
    name = f"integ_s_{uuid.uuid4().hex[:10]}"
    autoconn.execute(sql.SQL("CREATE TABLE {} (v smallint)").format(sql.Identifier(name)))
    yield name
    drop_table(autoconn, name)


def drop_table(autoconn: psycopg.Connection, name: str) -> None:
    """DROP the table, first ending the sessions that still lock it.

    A failed test may leave its own connection (a fixture torn down after
    this one) in a transaction holding a lock on the table: the DROP would
    wait for it forever.
    """
    autoconn.execute(
        "SELECT pg_catalog.pg_terminate_backend(l.pid) FROM pg_catalog.pg_locks l"
        " WHERE l.relation = pg_catalog.to_regclass(%s)"
        " AND l.pid <> pg_catalog.pg_backend_pid()",
        [sql.Identifier(name).as_string(autoconn)])
    autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def committed_rows(autoconn: psycopg.Connection, name: str) -> List[Tuple[Any, ...]]:
    """The committed rows of a mixed-frame table, by id (seen from another session)."""
    return autoconn.execute(
        sql.SQL("SELECT id, name, kind, qty, price, ts, tstz, flag FROM {} ORDER BY id")
        .format(sql.Identifier(name))).fetchall()


def count(autoconn: psycopg.Connection, name: str) -> int:
    return autoconn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()[0]


def out_of_range_frame(n: int = 10, bad_row: int = 7) -> pd.DataFrame:
    """v: small numbers and one 40000 (out of range for smallint) at bad_row."""
    v = np.arange(n, dtype=np.int64) % 1000
    v[bad_row] = 40_000
    return pd.DataFrame({"v": v})


def url_of(dsn: str, scheme: str = "postgresql") -> str:
    """The test conninfo as a URL (host may be a socket directory)."""
    p = psycopg.conninfo.conninfo_to_dict(dsn)
    query = {k: v for k, v in p.items() if k not in ("user", "password", "dbname")}
    user = urllib.parse.quote(p.get("user", ""), safe="")
    return (f"{scheme}://{user}@/{urllib.parse.quote(p.get('dbname', ''), safe='')}"
            f"?{urllib.parse.urlencode(query)}")


@pytest.fixture(scope="module")
def noext_dsn(dsn: str) -> Iterator[str]:
    """A database without the zcimport extension, dropped afterwards."""
    name = f"integ_noext_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield psycopg.conninfo.make_conninfo(dsn, dbname=name)
        finally:
            c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# ---------------------------------------------------------------------------
# psycopg 3, sync; conninfo strings and URLs
# ---------------------------------------------------------------------------


def test_psycopg3_connection_runs_in_the_callers_transaction(dsn, autoconn, table):
    with psycopg.connect(dsn) as c:
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        assert count(autoconn, table) == 0
        c.rollback()
        assert count(autoconn, table) == 0
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        c.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_psycopg3_error_has_its_sqlstate(dsn, small_table):
    with psycopg.connect(dsn) as c:
        with pytest.raises(errors.NumericValueOutOfRange) as info:
            zcimport.copy_dataframe(out_of_range_frame(), small_table, c)
        assert info.value.sqlstate == "22003"
        assert "row 7, column v" in str(info.value)


@pytest.mark.parametrize("form", ["conninfo", "url"])
def test_connection_string_commits(dsn, autoconn, table, form):
    target = dsn if form == "conninfo" else url_of(dsn)
    assert zcimport.copy_dataframe(mixed_frame(), table, target) == 6
    assert committed_rows(autoconn, table) == EXPECTED


@pytest.mark.parametrize("form", ["conninfo", "url", "postgres-url"])
def test_connection_string_error_commits_nothing(dsn, autoconn, small_table, form):
    target = {"conninfo": dsn, "url": url_of(dsn),
              "postgres-url": url_of(dsn, "postgres")}[form]
    with pytest.raises(errors.NumericValueOutOfRange) as info:
        zcimport.copy_dataframe(out_of_range_frame(), small_table, target)
    assert info.value.sqlstate == "22003"
    assert count(autoconn, small_table) == 0


# ---------------------------------------------------------------------------
# psycopg 3, async
# ---------------------------------------------------------------------------


def test_async_connection_runs_in_its_transaction(dsn, autoconn, table):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            assert await _async.copy_dataframe_async(mixed_frame(), table, c) == 6
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            assert count(autoconn, table) == 0
            await c.rollback()
            assert count(autoconn, table) == 0
            assert await _async.copy_dataframe_async(mixed_frame(), table, c, batch_rows=2) == 6
            await c.commit()

    asyncio.run(main())
    assert committed_rows(autoconn, table) == EXPECTED


def test_async_inside_a_transaction_block_checks_in_a_savepoint(dsn, autoconn, table):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            async with c.transaction():
                await c.execute("SELECT 1")
                assert await _async.copy_dataframe_async(mixed_frame(), table, c) == 6
                cur = await c.execute(sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(table)))
                assert (await cur.fetchone()) == (6,)

    asyncio.run(main())
    assert committed_rows(autoconn, table) == EXPECTED


@pytest.mark.parametrize("form", ["conninfo", "url"])
def test_async_connection_string_commits(dsn, autoconn, table, form):
    target = dsn if form == "conninfo" else url_of(dsn)
    assert asyncio.run(_async.copy_dataframe_async(mixed_frame(), table, target)) == 6
    assert committed_rows(autoconn, table) == EXPECTED


def test_async_server_error_mid_stream_has_its_sqlstate(dsn, autoconn, small_table, caplog):
    n = 2_000_000
    frame = out_of_range_frame(n, bad_row=n - 5)  # an error in the last batch

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            with pytest.raises(errors.NumericValueOutOfRange) as info:
                await _async.copy_dataframe_async(frame, small_table, c, batch_rows=100_000)
            assert info.value.sqlstate == "22003"
            assert f"row {n - 5}" in str(info.value)
            await c.rollback()
            assert await (await c.execute("SELECT 1")).fetchone() == (1,)

    asyncio.run(main())
    assert count(autoconn, small_table) == 0


def test_async_stops_sending_at_an_early_error(dsn, small_table, caplog):
    v = np.zeros(3_000_000, dtype=np.int64)
    v[0] = 99_999
    with caplog.at_level(logging.DEBUG, logger="zcimport"):
        with pytest.raises(errors.NumericValueOutOfRange):
            asyncio.run(_async.copy_dataframe_async(pd.DataFrame({"v": v}), small_table, dsn,
                                                    batch_rows=65_536))
    assert any("stop sending" in r.getMessage() for r in caplog.records)


def test_async_load_does_not_block_the_event_loop(dsn, autoconn):
    """A ticker coroutine keeps running while 48 MB go out."""
    n = 4_000_000
    frame = pd.DataFrame({"a": np.arange(n, dtype=np.int64), "f": np.random.default_rng(1).random(n)})
    ticks: List[float] = []

    async def main() -> Tuple[float, float]:
        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.002)

        async with await psycopg.AsyncConnection.connect(dsn) as c:
            await c.execute("CREATE TEMP TABLE big (a int8, f float8)")
            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            assert await _async.copy_dataframe_async(frame, "big", c) == n
            t1 = time.perf_counter()
            task.cancel()
            cur = await c.execute("SELECT sum(a), sum(f) FROM big")
            assert await cur.fetchone() == (int(frame.a.sum()), pytest.approx(frame.f.sum()))
            return t0, t1

    t0, t1 = asyncio.run(main())
    inside = [t for t in ticks if t0 <= t <= t1]
    # The load takes a fraction of a second; a blocked loop would tick once.
    # Generous bounds: the CPUs are shared.
    assert len(inside) >= max(3, int((t1 - t0) / 0.002 * 0.1)), (len(inside), t1 - t0)
    assert max(np.diff([t0] + inside + [t1])) < 0.5


def test_async_cancellation_sends_copyfail_and_raises_cancelled(dsn, autoconn, small_table):
    n = 20_000_000
    frame = pd.DataFrame({"v": np.ones(n, dtype=np.int16)})

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            task = asyncio.create_task(_async.copy_dataframe_async(frame, small_table, c))
            await asyncio.sleep(0.2)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
            await c.rollback()
            assert await (await c.execute("SELECT 1")).fetchone() == (1,)
            # and a timeout is a timeout
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(_async.copy_dataframe_async(frame, small_table, c), 0.2)
            await c.rollback()
            assert await _async.copy_dataframe_async(frame.iloc[:10], small_table, c) == 10
            await c.commit()

    asyncio.run(main())
    assert count(autoconn, small_table) == 10


def test_async_libpq_fallback(dsn, autoconn, table, monkeypatch, caplog):
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", True)

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            assert _drivers.describe_transport(c) == "libpq (forced)"
            with caplog.at_level(logging.INFO, logger="zcimport"):
                assert await _async.copy_dataframe_async(mixed_frame(), table, c) == 6
            await c.commit()

    asyncio.run(main())
    assert committed_rows(autoconn, table) == EXPECTED
    assert any("through libpq" in r.getMessage() for r in caplog.records)


def test_async_ssl_connection_falls_back_to_libpq(dsn):
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params.update(host="127.0.0.1", sslmode="require")
    frame = pd.DataFrame({"a": np.arange(50_000) / 4, "b": np.arange(50_000) * 7})

    async def main() -> None:
        try:
            c = await psycopg.AsyncConnection.connect(**params)
        except psycopg.OperationalError as ex:
            pytest.skip(f"the test server does not take SSL connections: {ex}")
        async with c:
            assert c.pgconn.ssl_in_use
            assert _drivers.describe_transport(c) == "libpq (SSL is in use)"
            await c.execute("CREATE TEMP TABLE t (a float8, b int8)")
            assert await _async.copy_dataframe_async(frame, "t", c, batch_rows=4096) == 50_000
            cur = await c.execute("SELECT sum(a), sum(b) FROM t")
            assert await cur.fetchone() == (float(frame.a.sum()), int(frame.b.sum()))

    asyncio.run(main())


def test_async_notices_reach_the_notice_handler(dsn):
    frame = pd.DataFrame({"a": np.arange(200_000, dtype=np.int32)})

    async def main() -> List[str]:
        notes: List[str] = []
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            c.add_notice_handler(lambda d: notes.append(d.message_primary))
            await c.execute("CREATE TEMP TABLE n (a int)")
            await c.execute(
                "CREATE FUNCTION pg_temp.tn() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF new.a % 1000 = 0 THEN RAISE NOTICE 'row %', new.a; END IF;"
                " RETURN new; END $$")
            await c.execute("CREATE TRIGGER tn BEFORE INSERT ON n FOR EACH ROW"
                            " EXECUTE FUNCTION pg_temp.tn()")
            assert await _async.copy_dataframe_async(frame, "n", c, batch_rows=5000) == 200_000
        return notes

    notes = asyncio.run(main())
    assert notes == [f"row {k}" for k in range(0, 200_000, 1000)]


def test_async_missing_extension(noext_dsn):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(noext_dsn) as c:
            await c.execute("CREATE TABLE t (a float8)")
            with pytest.raises(zcimport.ExtensionNotInstalledError) as info:
                await _async.copy_dataframe_async(pd.DataFrame({"a": [1.0]}), "t", c)
            assert "CREATE EXTENSION zcimport" in str(info.value)
            assert "savepoint" in str(info.value)
            assert await (await c.execute("SELECT count(*) FROM t")).fetchone() == (0,)
            await c.rollback()

    asyncio.run(main())


def test_async_create_if_exists_and_progress(dsn, autoconn):
    name = f"integ_c_{uuid.uuid4().hex[:8]}"
    got: List[int] = []

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as c:
            # autocommit: the DDL and a failing COPY run in one block
            def fail(rows: int) -> None:
                raise KeyError("from the progress callback")

            with pytest.raises(KeyError, match="from the progress callback") as info:
                await _async.copy_dataframe_async(mixed_frame(), name, c, create=True,
                                                  batch_rows=2, progress=fail)
            assert isinstance(info.value.__context__, errors.QueryCanceled)
            assert autoconn.execute("SELECT to_regclass(%s)", [name]).fetchone() == (None,)
            assert await _async.copy_dataframe_async(
                mixed_frame(), name, c, create=True, batch_rows=4, progress=got.append) == 6
            with pytest.raises(zcimport._ddl.TableExistsError):
                await _async.copy_dataframe_async(mixed_frame(), name, c, create=True)
            assert await _async.copy_dataframe_async(
                mixed_frame(), name, c, create=True, if_exists="append") == 6
            assert await _async.copy_dataframe_async(
                mixed_frame(), name, c, create=True, if_exists="replace", freeze=True) == 6
            with pytest.raises(ValueError, match="create=True"):
                await _async.copy_dataframe_async(mixed_frame(), name, c, if_exists="append")

    try:
        asyncio.run(main())
        assert got == [4, 2]
        assert committed_rows(autoconn, name) == EXPECTED
        types = autoconn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum", [name]).fetchall()
        assert types == [("id", "bigint"), ("name", "text"), ("kind", "text"),
                         ("qty", "integer"), ("price", "double precision"),
                         ("ts", "timestamp without time zone"),
                         ("tstz", "timestamp with time zone"), ("flag", "boolean")]
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_async_refuses_other_connections(dsn):
    with psycopg.connect(dsn) as c:
        with pytest.raises(TypeError, match="copy_dataframe"):
            asyncio.run(_async.copy_dataframe_async(pd.DataFrame({"a": [1]}), "t", c))
        with pytest.raises(TypeError, match="copy_dataframe_async"):
            asyncio.run(_async_load_with_driver_of_async(dsn))


async def _async_load_with_driver_of_async(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as c:
        _drivers.load_with_driver(make_plan(pd.DataFrame({"a": [1]})), "t", c, batch_rows=10)


# ---------------------------------------------------------------------------
# psycopg2
# ---------------------------------------------------------------------------



def pg2_load(df: pd.DataFrame, table: Any, conn: Any, batch_rows: int = 4, **kw: Any) -> int:
    n = _drivers.load_with_driver(make_plan(df), table, conn, batch_rows=batch_rows, **kw)
    assert n is not None
    return n


@pytest.fixture
def pg2(dsn: str) -> Iterator[Any]:
    c = psycopg2.connect(dsn)
    yield c
    c.close()


def test_psycopg2_rollback_leaves_nothing_commit_keeps(pg2, autoconn, table):
    assert pg2_load(mixed_frame(), table, pg2) == 6
    assert pg2.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    assert count(autoconn, table) == 0
    pg2.rollback()
    assert count(autoconn, table) == 0
    assert pg2_load(mixed_frame(), table, pg2) == 6
    pg2.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_psycopg2_joins_an_open_transaction(pg2, autoconn, table):
    with pg2.cursor() as cur:
        cur.execute(psycopg2.sql.SQL("INSERT INTO {} (id) VALUES (100)").format(
            psycopg2.sql.Identifier(table)))
        assert pg2_load(mixed_frame(), table, pg2) == 6  # the check runs in a savepoint
        cur.execute(psycopg2.sql.SQL("SELECT count(*) FROM {}").format(
            psycopg2.sql.Identifier(table)))
        assert cur.fetchone() == (7,)
    pg2.rollback()
    assert count(autoconn, table) == 0


def test_psycopg2_autocommit_commits_at_once(pg2, autoconn, table):
    pg2.autocommit = True
    assert pg2_load(mixed_frame(), table, pg2) == 6
    assert committed_rows(autoconn, table) == EXPECTED


def test_psycopg2_error_has_its_pgcode(pg2, autoconn, small_table):
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange) as info:
        pg2_load(out_of_range_frame(100_000, 70_001), small_table, pg2, batch_rows=10_000)
    assert info.value.pgcode == "22003"
    assert "row 70001, column v" in str(info.value)
    assert pg2.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR
    pg2.rollback()
    assert count(autoconn, small_table) == 0


def test_psycopg2_exception_while_reading_is_raised_as_itself(pg2, autoconn, small_table):
    def progress(rows: int) -> None:
        raise KeyError("from the progress callback")

    with pytest.raises(KeyError, match="from the progress callback") as info:
        pg2_load(pd.DataFrame({"v": np.ones(10_000, dtype=np.int16)}), small_table, pg2,
                 batch_rows=1000, progress=progress)
    assert isinstance(info.value.__context__, psycopg2.errors.QueryCanceled)
    pg2.rollback()
    assert count(autoconn, small_table) == 0


def test_psycopg2_progress_counts_every_batch(pg2, table):
    got: List[int] = []
    assert pg2_load(mixed_frame(), table, pg2, batch_rows=4, progress=got.append) == 6
    assert got == [4, 2]
    pg2.rollback()


def test_psycopg2_prepare_hook_runs_in_the_load_transaction(pg2, autoconn):
    name = f"integ_p_{uuid.uuid4().hex[:8]}"
    seen: List[Any] = []

    def prepare(execute: Any) -> None:
        seen.append(execute("SELECT %s::int + 1", [41]))
        execute(f'CREATE TABLE "{name}" (a integer)')

    try:
        assert pg2_load(pd.DataFrame({"a": [1, 2, 3]}), name, pg2, prepare=prepare) == 3
        assert seen == [[(42,)]]
        pg2.rollback()  # the CREATE TABLE goes too
        assert autoconn.execute("SELECT to_regclass(%s)", [name]).fetchone() == (None,)
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_psycopg2_autocommit_runs_prepare_and_copy_in_one_block(pg2, autoconn):
    name = f"integ_p_{uuid.uuid4().hex[:8]}"
    pg2.autocommit = True

    def prepare(execute: Any) -> None:
        execute(f'CREATE TABLE "{name}" (v smallint)')

    try:
        with pytest.raises(psycopg2.errors.NumericValueOutOfRange):
            pg2_load(out_of_range_frame(), name, pg2, prepare=prepare)
        assert autoconn.execute("SELECT to_regclass(%s)", [name]).fetchone() == (None,)
        assert pg2.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        assert pg2_load(pd.DataFrame({"v": [1, 2]}), name, pg2, prepare=prepare) == 2
        assert autoconn.execute(f'SELECT count(*) FROM "{name}"').fetchone() == (2,)
        assert pg2.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_psycopg2_table_forms(pg2, autoconn, table):
    assert pg2_load(mixed_frame(), ("public", table), pg2) == 6
    pg2.rollback()
    assert pg2_load(mixed_frame(), psycopg2.sql.Identifier("public", table), pg2) == 6
    pg2.rollback()
    assert pg2_load(mixed_frame(), f'public."{table}"', pg2) == 6
    pg2.rollback()
    with pytest.raises(TypeError, match="psycopg 3 sql.Composable"):
        pg2_load(mixed_frame(), sql.Identifier(table), pg2)


def test_psycopg2_freeze(pg2, autoconn):
    name = f"integ_f_{uuid.uuid4().hex[:8]}"
    with pg2.cursor() as cur:
        cur.execute(f'CREATE TABLE "{name}" (a integer)')
    try:
        assert pg2_load(pd.DataFrame({"a": [1, 2]}), name, pg2, freeze=True) == 2
        pg2.commit()
        assert autoconn.execute(f'SELECT count(*) FROM "{name}"').fetchone() == (2,)
    finally:
        autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_psycopg2_missing_extension(noext_dsn):
    c = psycopg2.connect(noext_dsn)
    try:
        with c.cursor() as cur:
            cur.execute("CREATE TABLE t (a float8)")
        with pytest.raises(zcimport.ExtensionNotInstalledError) as info:
            pg2_load(pd.DataFrame({"a": [1.0]}), "t", c)
        assert "CREATE EXTENSION zcimport" in str(info.value)
        assert "savepoint" in str(info.value)
        assert isinstance(info.value.__cause__, (psycopg2.errors.InvalidSchemaName,
                                                 psycopg2.errors.UndefinedFunction))
        assert "\n" not in str(info.value)
        with c.cursor() as cur:  # the transaction is still usable
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (0,)
        c.rollback()
        with pytest.raises(zcimport.ExtensionNotInstalledError):
            pg2_load(pd.DataFrame({"a": [1.0]}), "t", c)  # outside a transaction
        assert c.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    finally:
        c.close()


def test_psycopg2_transport_says_it_copies(pg2):
    assert _drivers.describe_transport(pg2) == "psycopg2 copy_expert (copies each batch)"
    plan = make_plan(mixed_frame(), transport=_drivers.describe_transport(pg2))
    assert "psycopg2 copy_expert (copies each batch)" in str(plan)


@pytest.mark.parametrize("size", [1, 7, 8, 100, 1 << 20, -1])
def test_stream_reader_serves_the_dump_exactly(size):
    df = mixed_frame()
    expected = io.BytesIO()
    zcimport.dump(df, expected, batch_rows=2)
    from zcimport._encode import iter_chunks

    got: List[int] = []
    reader = _drivers.StreamReader(iter_chunks(make_plan(df), 2), got.append)
    pieces = []
    while True:
        b = reader.read(size)
        assert isinstance(b, bytes)
        if not b:
            break
        assert size < 0 or len(b) <= size
        pieces.append(b)
    assert b"".join(pieces) == expected.getvalue()
    assert got == [2, 2, 2]
    assert reader.read(10) == b""

    class Counter:
        def __init__(self) -> None:
            self.calls: List[Tuple[int, int]] = []

        def update(self, rows: int, nbytes: int) -> None:
            self.calls.append((rows, nbytes))

    counter = Counter()
    reader = _drivers.StreamReader(iter_chunks(make_plan(df), 4), counter)
    while reader.read(size):
        pass
    assert [r for r, _ in counter.calls] == [0, 0, 4, 2, 0]  # header, dictionary, batches, end
    four = io.BytesIO()
    zcimport.dump(df, four, batch_rows=4)
    assert sum(n for _, n in counter.calls) == len(four.getvalue())


@needs_drivers
def test_public_copy_dataframe_with_psycopg2(pg2, autoconn, table, small_table):
    assert zcimport.copy_dataframe(mixed_frame(), table, pg2) == 6
    pg2.commit()
    assert committed_rows(autoconn, table) == EXPECTED
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange) as info:
        zcimport.copy_dataframe(out_of_range_frame(), small_table, pg2)
    assert info.value.pgcode == "22003"
    pg2.rollback()


@needs_drivers
def test_public_plan_shows_the_psycopg2_copy(pg2):
    plan = zcimport.plan(mixed_frame(), conn=pg2)
    assert plan.transport == "psycopg2 copy_expert (copies each batch)"
    assert "psycopg2 copy_expert (copies each batch)" in str(plan)


def test_plan_needs_a_connection_object(dsn):
    with pytest.raises(TypeError, match="connection string names no connection"):
        zcimport.plan(mixed_frame(), conn=dsn)
    with pytest.raises(TypeError, match="does not know connections of type builtins.object"):
        zcimport.plan(mixed_frame(), conn=object())


@needs_drivers
def test_public_progress_on_psycopg2_counts_rows_and_bytes(pg2, table):
    counter = zcimport.Progress()  # counts without drawing
    frame = mixed_frame()
    assert zcimport.copy_dataframe(frame, table, pg2, batch_rows=2, progress=counter) == 6
    pg2.rollback()
    assert counter.rows == 6
    assert counter.bytes == len(zcimport_dump_bytes(frame, batch_rows=2))


def zcimport_dump_bytes(frame: pd.DataFrame, **kwargs: Any) -> bytes:
    """The stream dump() writes for frame."""
    out = io.BytesIO()
    zcimport.dump(frame, out, **kwargs)
    return out.getvalue()


# ---------------------------------------------------------------------------
# SQLAlchemy
# ---------------------------------------------------------------------------



@pytest.fixture
def engine(dsn: str) -> Iterator[Any]:
    """A psycopg2 engine on the test database, from a URL."""
    e = sa.create_engine(url_of(dsn, "postgresql+psycopg2"))
    yield e
    e.dispose()


@pytest.fixture
def future_engine(dsn: str) -> Iterator[Any]:
    e = sa.create_engine(url_of(dsn, "postgresql+psycopg2"), future=True)
    yield e
    e.dispose()


def sa_load(df: pd.DataFrame, table: str, conn: Any, **kw: Any) -> int:
    n = _drivers.load_with_driver(make_plan(df), table, conn, batch_rows=4, **kw)
    assert n is not None
    return n


def test_sqlalchemy_engine_commits_and_returns_the_connection(engine, autoconn, table):
    assert sa_load(mixed_frame(), table, engine) == 6
    assert committed_rows(autoconn, table) == EXPECTED
    assert engine.pool.checkedout() == 0
    assert _drivers.describe_transport(engine) == \
        "SQLAlchemy: psycopg2 copy_expert (copies each batch)"


def test_sqlalchemy_engine_error_commits_nothing(engine, autoconn, small_table):
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange) as info:
        sa_load(out_of_range_frame(), small_table, engine)
    assert info.value.pgcode == "22003"
    assert count(autoconn, small_table) == 0
    assert engine.pool.checkedout() == 0


def test_sqlalchemy_connection_in_a_transaction(engine, autoconn, table):
    with engine.connect() as c:
        assert _drivers.describe_transport(c) == \
            "SQLAlchemy: psycopg2 copy_expert (copies each batch)"
        tx = c.begin()
        assert sa_load(mixed_frame(), table, c) == 6
        assert c.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar() == 6
        assert count(autoconn, table) == 0
        tx.rollback()
        assert count(autoconn, table) == 0
        with c.begin():
            assert sa_load(mixed_frame(), table, c) == 6
    assert committed_rows(autoconn, table) == EXPECTED


def test_sqlalchemy_engine_begin(engine, autoconn, table):
    with engine.begin() as c:
        assert sa_load(mixed_frame(), table, c) == 6
    assert committed_rows(autoconn, table) == EXPECTED


@pytest.mark.skipif(SA_VERSION >= (2, 0), reason=(
    f"SQLAlchemy {sa.__version__} has no legacy (1.x-style) Connections: every"
    " Connection autobegins (test_sqlalchemy_future_connection_autobegins)"))
def test_sqlalchemy_legacy_connection_without_a_transaction_autocommits(engine, autoconn, table):
    with engine.connect() as c:
        assert not c.in_transaction()
        assert sa_load(mixed_frame(), table, c) == 6
        assert not c.in_transaction()
        assert committed_rows(autoconn, table) == EXPECTED  # before the Connection closes


def test_sqlalchemy_future_connection_autobegins(future_engine, autoconn, table):
    with future_engine.connect() as c:
        assert isinstance(c, sqlalchemy.future.Connection) and not c.in_transaction()
        assert sa_load(mixed_frame(), table, c) == 6
        assert c.in_transaction()  # autobegun, as execute() would
        assert count(autoconn, table) == 0
        c.rollback()
        assert count(autoconn, table) == 0
        assert sa_load(mixed_frame(), table, c) == 6
        c.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_sqlalchemy_future_connection_closed_without_commit_keeps_nothing(
        future_engine, autoconn, table):
    with future_engine.connect() as c:
        assert sa_load(mixed_frame(), table, c) == 6
    assert count(autoconn, table) == 0


def test_sqlalchemy_connection_error_has_its_pgcode(engine, autoconn, small_table):
    with engine.connect() as c:
        with pytest.raises(psycopg2.errors.NumericValueOutOfRange) as info:
            with c.begin():
                sa_load(out_of_range_frame(), small_table, c)
        assert info.value.pgcode == "22003"
        assert c.execute(sa.text("SELECT 1")).scalar() == 1  # usable after the rollback
    assert count(autoconn, small_table) == 0


def test_sqlalchemy_session(future_engine, autoconn, table):
    with sqlalchemy.orm.Session(future_engine) as s:
        assert sa_load(mixed_frame(), table, s) == 6
        s.rollback()
        assert count(autoconn, table) == 0
        assert sa_load(mixed_frame(), table, s) == 6
        s.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_sqlalchemy_other_drivers_are_refused():
    e = sa.create_engine("sqlite://")
    assert _drivers.describe_transport(e) == "SQLAlchemy: driver 'pysqlite' is not supported"
    with pytest.raises(TypeError, match="psycopg2"):
        sa_load(pd.DataFrame({"a": [1]}), "t", e)
    e.dispose()


def test_psycopg3_behind_sqlalchemy_2(dsn, autoconn, table):
    """The branch SQLAlchemy 2.0's postgresql+psycopg:// takes (SQLAlchemy 1.4
    here cannot make such an engine): a psycopg 3 DBAPI connection."""
    got: List[int] = []
    seen: List[Any] = []

    def prepare(execute: Any) -> None:
        seen.append(execute("SELECT %s::int * 2", [21]))

    with psycopg.connect(dsn) as c:
        assert _drivers._load_raw(c, make_plan(mixed_frame()), table, 4, False,
                                  got.append, prepare) == 6
        assert seen == [[(42,)]] and got == [4, 2]
        c.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_other_objects_are_not_handled():
    plan = make_plan(pd.DataFrame({"a": [1]}))
    assert _drivers.load_with_driver(plan, "t", object(), batch_rows=1) is None
    assert _drivers.describe_transport(object()) is None
    assert _drivers.describe_transport("dbname=x") is None


@needs_drivers
def test_public_copy_dataframe_with_sqlalchemy(engine, future_engine, autoconn, table):
    assert zcimport.copy_dataframe(mixed_frame(), table, engine) == 6
    assert committed_rows(autoconn, table) == EXPECTED
    autoconn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
    with future_engine.connect() as c:
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        c.commit()
    assert committed_rows(autoconn, table) == EXPECTED
    assert "psycopg2 copy_expert" in str(zcimport.plan(mixed_frame(), conn=engine))


# ---------------------------------------------------------------------------
# SQLAlchemy URLs and drivers, through the public API
# ---------------------------------------------------------------------------

#: The driver a plain postgresql:// URL means: psycopg 3 from SQLAlchemy 2.1
#: on, psycopg2 before.
PLAIN_URL_DRIVER = "psycopg" if SA_VERSION >= (2, 1) else "psycopg2"

_SCHEMES = {
    "postgresql": PLAIN_URL_DRIVER,
    "postgresql+psycopg": "psycopg",
    "postgresql+psycopg2": "psycopg2",
}


def _driver_missing(driver: str) -> str:
    """Why an engine of this driver cannot be made here ("" if it can)."""
    if driver == "psycopg" and SA_VERSION < (2, 0):
        return f"SQLAlchemy {sa.__version__} has no psycopg 3 dialect (2.0 added it)"
    try:
        __import__(driver)
    except ImportError:
        return f"{driver} is not installed"
    return ""


@pytest.fixture(params=sorted(_SCHEMES))
def url_engine(request: Any, dsn: str) -> Iterator[Any]:
    """An engine from a URL of each scheme; its expected driver is ``.zc_driver``."""
    scheme = request.param
    driver = _SCHEMES[scheme]
    missing = _driver_missing(driver)
    if missing:
        pytest.skip(f"{scheme}:// means {driver} here: {missing}")
    e = sa.create_engine(url_of(dsn, scheme))
    # the driver SQLAlchemy picked, and the DBAPI connection it makes
    assert e.dialect.driver == driver, (scheme, sa.__version__, e.dialect.driver)
    e.zc_driver = driver  # type: ignore[attr-defined]
    yield e
    e.dispose()


def _driver_error(driver: str) -> type:
    """The driver's NumericValueOutOfRange."""
    return errors.NumericValueOutOfRange if driver == "psycopg" \
        else psycopg2.errors.NumericValueOutOfRange


def _sqlstate(ex: BaseException) -> Any:
    return getattr(ex, "sqlstate", None) or getattr(ex, "pgcode", None)


def _transport_of(driver: str) -> str:
    return "psycopg2 copy_expert" if driver == "psycopg2" else "psycopg 3"


@needs_drivers
def test_url_engine_uses_its_driver_and_commits(url_engine, autoconn, table):
    driver = url_engine.zc_driver
    raw = url_engine.raw_connection()
    try:
        dbapi = _drivers.dbapi_connection(raw)
        assert type(dbapi).__module__.split(".")[0] == driver
    finally:
        raw.close()
    assert _transport_of(driver) in str(zcimport.plan(mixed_frame(), conn=url_engine))
    assert zcimport.copy_dataframe(mixed_frame(), table, url_engine, batch_rows=4) == 6
    assert committed_rows(autoconn, table) == EXPECTED
    assert url_engine.pool.checkedout() == 0


@needs_drivers
def test_url_engine_error_commits_nothing(url_engine, autoconn, small_table):
    with pytest.raises(_driver_error(url_engine.zc_driver)) as info:
        zcimport.copy_dataframe(out_of_range_frame(), small_table, url_engine)
    assert _sqlstate(info.value) == "22003"
    assert count(autoconn, small_table) == 0
    assert url_engine.pool.checkedout() == 0


@needs_drivers
def test_url_engine_begin_commits_with_the_block(url_engine, autoconn, table):
    with url_engine.begin() as c:
        c.execute(sa.text(f'INSERT INTO "{table}" (id) VALUES (100)'))
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        # one transaction: the Connection sees the rows, nobody else does yet
        assert c.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar() == 7
        assert count(autoconn, table) == 0
    assert count(autoconn, table) == 7
    assert [r for r in committed_rows(autoconn, table) if r[0] != 100] == EXPECTED


@needs_drivers
def test_url_engine_begin_rolls_back_with_the_block(url_engine, autoconn, table):
    with pytest.raises(RuntimeError, match="after the load"):
        with url_engine.begin() as c:
            assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
            raise RuntimeError("after the load")
    assert count(autoconn, table) == 0


@needs_drivers
def test_url_connection_transaction_commit_and_rollback(url_engine, autoconn, table):
    with url_engine.connect() as c:
        desc = _drivers.describe_transport(c)
        assert desc.startswith("SQLAlchemy: ")
        assert ("copy_expert" in desc) == (url_engine.zc_driver == "psycopg2")
        tx = c.begin()
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        assert c.in_transaction()
        tx.rollback()
        assert count(autoconn, table) == 0
        with c.begin():
            assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
            assert count(autoconn, table) == 0
    assert committed_rows(autoconn, table) == EXPECTED


@needs_drivers
def test_url_connection_failure_commits_nothing(url_engine, autoconn, small_table):
    driver = url_engine.zc_driver
    with url_engine.connect() as c:
        with pytest.raises(_driver_error(driver)) as info:
            with c.begin():
                c.execute(sa.text(f'INSERT INTO "{small_table}" (v) VALUES (1)'))
                zcimport.copy_dataframe(out_of_range_frame(), small_table, c)
        assert _sqlstate(info.value) == "22003"
        assert not c.in_transaction()
        assert c.execute(sa.text("SELECT 1")).scalar() == 1  # usable after the rollback
    assert count(autoconn, small_table) == 0


@needs_drivers
@pytest.mark.skipif(SA_VERSION < (2, 0), reason="SQLAlchemy 1.4 Connections are legacy ones")
def test_url_connection_autobegins_and_the_caller_commits(url_engine, autoconn, table):
    with url_engine.connect() as c:
        assert not c.in_transaction()
        assert zcimport.copy_dataframe(mixed_frame(), table, c) == 6
        assert c.in_transaction()  # autobegun, as execute() would
        assert count(autoconn, table) == 0
        c.commit()
        assert count(autoconn, table) == 6
        more = mixed_frame()
        more["id"] += 100
        assert zcimport.copy_dataframe(more, table, c) == 6
        assert c.in_transaction()
        # closed without commit: rolled back
    assert committed_rows(autoconn, table) == EXPECTED


@needs_drivers
@pytest.mark.skipif(SA_VERSION < (2, 0), reason="SQLAlchemy 1.4 has no psycopg 3 dialect")
def test_psycopg_session_commits_and_rolls_back(dsn, autoconn, table):
    e = sa.create_engine(url_of(dsn, "postgresql+psycopg"))
    try:
        with sqlalchemy.orm.Session(e) as s:
            assert zcimport.copy_dataframe(mixed_frame(), table, s) == 6
            s.rollback()
            assert count(autoconn, table) == 0
            assert zcimport.copy_dataframe(mixed_frame(), table, s) == 6
            s.commit()
        assert committed_rows(autoconn, table) == EXPECTED
    finally:
        e.dispose()


def _async_engine(dsn: str, scheme: str) -> Any:
    try:
        from sqlalchemy.ext.asyncio import create_async_engine
    except ImportError as ex:  # pragma: no cover
        pytest.skip(f"sqlalchemy.ext.asyncio: {ex}")
    try:
        return create_async_engine(url_of(dsn, scheme))
    except Exception as ex:  # no greenlet, no asyncpg...
        pytest.skip(f"cannot make a {scheme}:// async engine here: {type(ex).__name__}: {ex}")


@needs_drivers
@pytest.mark.parametrize("scheme", ["postgresql+asyncpg", "postgresql+psycopg"])
def test_sqlalchemy_async_engines_are_refused_with_the_way_out(dsn, scheme):
    """asyncpg is not a psycopg: zcimport cannot load through it; SQLAlchemy
    async objects are refused, pointing to copy_dataframe_async."""
    if scheme.endswith("asyncpg"):
        pytest.importorskip("asyncpg", reason="asyncpg is not installed")
    elif SA_VERSION < (2, 0):
        pytest.skip("SQLAlchemy 1.4 has no psycopg 3 dialect")
    ae = _async_engine(dsn, scheme)
    try:
        frame = pd.DataFrame({"a": [1]})
        with pytest.raises(TypeError, match="copy_dataframe_async"):
            zcimport.copy_dataframe(frame, "t", ae)
        with pytest.raises(TypeError, match="AsyncConnection"):
            asyncio.run(zcimport.copy_dataframe_async(frame, "t", ae))
    finally:
        ae.sync_engine.dispose()  # it never connected (no greenlet needed)


@needs_drivers
@pytest.mark.skipif(SA_VERSION < (2, 0), reason="SQLAlchemy 1.4 does not know asyncpg's sync use")
def test_sqlalchemy_sync_engine_on_an_async_driver_is_refused_before_connecting(dsn):
    pytest.importorskip("asyncpg", reason="asyncpg is not installed")
    try:
        e = sa.create_engine(url_of(dsn, "postgresql+asyncpg"))
    except Exception as ex:
        pytest.skip(f"SQLAlchemy refuses a sync asyncpg engine itself: {ex}")
    try:
        assert _drivers.describe_transport(e) == "SQLAlchemy: driver 'asyncpg' is not supported"
        with pytest.raises(TypeError, match="asyncpg"):
            zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), "t", e)
        assert e.pool.checkedout() == 0
    finally:
        e.dispose()


# ---------------------------------------------------------------------------
# the accessor
# ---------------------------------------------------------------------------


def test_accessor_to_postgres(dsn, autoconn, table):
    with psycopg.connect(dsn) as c:
        assert mixed_frame().zcimport.to_postgres(table, c, batch_rows=3) == 6
        c.commit()
    assert committed_rows(autoconn, table) == EXPECTED


def test_accessor_to_postgres_conninfo_and_error(dsn, autoconn, small_table):
    with pytest.raises(errors.NumericValueOutOfRange) as info:
        out_of_range_frame().zcimport.to_postgres(small_table, dsn)
    assert info.value.sqlstate == "22003"
    assert count(autoconn, small_table) == 0
    ok = pd.DataFrame({"x": np.arange(5, dtype=np.int16)})
    assert ok.zcimport.to_postgres(small_table, dsn, columns={"x": "v"}) == 5
    assert count(autoconn, small_table) == 5


def test_accessor_to_postgres_async(dsn, autoconn, table):
    async def main() -> int:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            return await mixed_frame().zcimport.to_postgres_async(table, c)

    assert asyncio.run(main()) == 6
    assert committed_rows(autoconn, table) == EXPECTED


def test_accessor_plan_and_dump_match_the_functions(tmp_path):
    df = mixed_frame()
    assert str(df.zcimport.plan()) == str(zcimport.plan(df))
    assert str(df.zcimport.plan(columns=["id", "name"])) == \
        str(zcimport.plan(df, columns=["id", "name"]))
    buf = io.BytesIO()
    assert df.zcimport.dump(buf, batch_rows=2) == 6
    ref = io.BytesIO()
    zcimport.dump(df, ref, batch_rows=2)
    assert buf.getvalue() == ref.getvalue()
    assert df.zcimport.dump(tmp_path / "f.zci", batch_rows=2) == 6
    assert (tmp_path / "f.zci").read_bytes() == ref.getvalue()


def test_accessor_registration_is_idempotent():
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(_accessor)
    assert pd.DataFrame.zcimport.__name__ == "ZcimportAccessor"
    assert isinstance(pd.DataFrame({"a": [1]}).zcimport, pd.DataFrame.zcimport)


@needs_accessor
def test_import_zcimport_registers_the_accessor():
    code = ("import pandas as pd, zcimport; "
            "print(type(pd.DataFrame({'a': [1]}).zcimport).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(_PYTHON_DIR)}, check=True)
    assert out.stdout.strip() == "ZcimportAccessor"


@needs_drivers
def test_accessor_with_psycopg2(pg2, autoconn, table):
    assert mixed_frame().zcimport.to_postgres(table, pg2) == 6
    pg2.commit()
    assert committed_rows(autoconn, table) == EXPECTED
    assert "psycopg2" in str(mixed_frame().zcimport.plan(conn=pg2))


# ---------------------------------------------------------------------------
# the public async function
# ---------------------------------------------------------------------------


@needs_async
def test_public_copy_dataframe_async(dsn, autoconn, table):
    async def main() -> int:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            n = await zcimport.copy_dataframe_async(mixed_frame(), table, c)
            # psycopg's C libpq wrapper does not tell GSSAPI encryption
            # (only its ctypes one does): then the plan says it cannot know
            assert zcimport.plan(mixed_frame(), conn=c).transport == (
                "socket" if psycopg.pq.__impl__ == "python"
                else "socket (unless GSSAPI encryption is in use)")
            return n

    assert asyncio.run(main()) == 6
    assert committed_rows(autoconn, table) == EXPECTED


@needs_drivers
def test_public_copy_dataframe_refuses_an_async_connection(dsn):
    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            with pytest.raises(TypeError, match="copy_dataframe_async"):
                zcimport.copy_dataframe(pd.DataFrame({"a": [1]}), "t", c)

    asyncio.run(main())


# ---------------------------------------------------------------------------
# docs/examples: each one runs against the test database
# ---------------------------------------------------------------------------


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"

#: What each example must print.
EXAMPLE_OUTPUT = {
    "psycopg3_load.py": "loaded 1000 rows into zcimport_example_psycopg3 (100 NULL values)",
    "async_load.py": "loaded 1000000 rows into zcimport_example_async",
    "conninfo_load.py": "loaded 4 rows into zcimport_example_conninfo (total population 6120000)",
    "psycopg2_load.py": "loaded 3 rows into zcimport_example_psycopg2",
    "sqlalchemy_load.py": "zcimport_example_sqlalchemy: 6 rows, sum(n) = 48",
    "accessor_load.py": "loaded 3 rows into zcimport_example_accessor",
    "sql_functions.py": "loaded 3 rows into zcimport_example_sql with zcimport.import_bytea",
    "psql_copy.sh": "loaded 500 rows into zcimport_example_psql with psql \\copy",
    "cli_load.sh": "loaded 4 rows into zcimport_example_cli",
}

_EXAMPLE_MARKS = {
    "async_load.py": needs_async,
    "psycopg2_load.py": needs_drivers,
    "sqlalchemy_load.py": needs_drivers,
    "accessor_load.py": needs_accessor,
}


def _cli_exists() -> bool:
    import importlib.util

    return importlib.util.find_spec("zcimport.cli") is not None


def _example_params() -> List[Any]:
    params = []
    for path in sorted(EXAMPLES.glob("*.py")) + sorted(EXAMPLES.glob("*.sh")):
        marks = [_EXAMPLE_MARKS[path.name]] if path.name in _EXAMPLE_MARKS else []
        if path.name == "cli_load.sh":
            marks.append(pytest.mark.skipif(
                not _cli_exists(), reason="zcimport/cli.py does not exist yet"))
        params.append(pytest.param(path, marks=marks, id=path.name))
    return params


def test_every_example_is_checked():
    assert sorted(EXAMPLE_OUTPUT) == sorted(p.name for p in EXAMPLES.iterdir()
                                            if p.suffix in (".py", ".sh"))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.sh")), ids=lambda p: p.name)
def test_shell_examples_parse(path):
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("path", _example_params())
def test_example_runs(path, dsn, autoconn, tmp_path):
    import os
    import shutil

    if path.suffix == ".sh" and shutil.which("psql") is None:
        pytest.skip("psql is not on the PATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(ZCIMPORT_DSN=dsn, PYTHONPATH=str(_PYTHON_DIR), PYTHON=sys.executable)
    cmd = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert EXAMPLE_OUTPUT[path.name] in out.stdout, out.stdout
    finally:
        for (name,) in autoconn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'zcimport\\_example\\_%%'"
                " AND relkind = 'r'").fetchall():
            autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
