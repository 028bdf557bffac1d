"""psycopg2 and SQLAlchemy: loading through psycopg2, and the connection behind SQLAlchemy.

The plumbing of :mod:`zcimport._drivers` that does not need psycopg 3's
loader: :mod:`zcimport._copy` imports this module (to load psycopg2
connections and the DBAPI connections of SQLAlchemy objects), and
:mod:`zcimport._drivers` re-exports it.  It imports nothing of
:mod:`zcimport._copy`.

psycopg2
    The load runs ``COPY ... FROM STDIN WITH (FORMAT zcimport)`` with
    ``cursor.copy_expert(statement, file, size)``, where ``file`` is a
    :class:`StreamReader` that serves the stream (header, dictionaries,
    batches, end marker) from the encoder's parts.  psycopg2 accepts only
    ``bytes`` from ``read()``, so every piece of the stream is copied once
    into a ``bytes`` object (and again by libpq into its output buffer):
    this path is never zero-copy, and ``plan(df, conn=psycopg2_conn)`` says
    so.  The load runs in the connection's current transaction (psycopg2
    opens one implicitly unless ``autocommit`` is on) and is not committed.
    psycopg2 does not look for server errors while it sends COPY data, so
    after an error the rest of the stream is still sent (the server discards
    it) before the error is raised, as ``psycopg2.Error`` with its
    ``pgcode``.

SQLAlchemy
    :func:`sqlalchemy_dbapi` is a context manager that gives the DBAPI
    connection behind an ``Engine``, a ``Connection`` or an ORM
    ``Session``, in the transaction the load must run in:

    - an ``Engine``: a pooled DBAPI connection, ``engine.raw_connection()``;
      the load is committed (rolled back on error), and the connection goes
      back to the pool.
    - a ``Connection`` in a transaction (``conn.begin()``,
      ``engine.begin()``, a 2.0-style Connection that has autobegun, a
      savepoint): the load joins it and is not committed.
    - a 2.0-style ``Connection`` (SQLAlchemy 2.x, or ``future=True`` on
      1.4) not in a transaction: it *autobegins* one, exactly as its
      ``execute()`` would; the load is not committed: call
      ``conn.commit()``.
    - a legacy (SQLAlchemy 1.4) ``Connection`` not in a transaction: legacy
      Connections run data-changing statements in "autocommit", and their
      DBAPI transaction is rolled back when the Connection goes back to the
      pool; a load there runs in its own transaction, ``with conn.begin():``,
      committed when it succeeds, as an INSERT would be.
    - an ORM ``Session``: ``session.connection()`` (which begins the
      session's transaction if needed); the load is not committed.

    The DBAPI connection may be psycopg2 (``postgresql+psycopg2://``; what a
    plain ``postgresql://`` URL means up to SQLAlchemy 2.0) or psycopg 3
    (``postgresql+psycopg://``; what a plain ``postgresql://`` URL means
    from SQLAlchemy 2.1 on), which :mod:`zcimport._copy` loads on its
    zero-copy path.  Other drivers (asyncpg, pg8000...) are a TypeError.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from ._base import (
    MISSING_EXTENSION_SQLSTATES,
    ExtensionNotInstalledError,
    Prepare,
    ProgressFn,
    TableArg,
    add_client_hint,
    extension_missing_message,
)
from ._ddl import Execute, dbapi_execute, split_table_name, table_tuple
from ._encode import Part, iter_chunks
from ._format import MAGIC, MessageKind
from ._plan import Plan
from ._upsert import Upsert, dbapi_run

log = logging.getLogger("zcimport")

#: The transport of psycopg2 connections, as ``describe_transport`` and
#: ``Plan.transport`` show it.
PSYCOPG2_TRANSPORT = "psycopg2 copy_expert (copies each batch)"

#: Bytes per ``read()`` psycopg2 asks of the stream reader: each read builds
#: one bytes object of at most this size, which libpq sends as one CopyData.
READ_BYTES = 1 << 20

_MESSAGE = struct.Struct("<IIQ")


# --------------------------------------------------------------------------
# Recognizing connections
# --------------------------------------------------------------------------


def is_psycopg2(conn: Any) -> bool:
    """True for a psycopg2 connection (psycopg2 is only imported if it is)."""
    mod = sys.modules.get("psycopg2.extensions")
    return mod is not None and isinstance(conn, mod.connection)


def _is_sqlalchemy(conn: Any) -> bool:
    return type(conn).__module__.split(".", 1)[0] == "sqlalchemy"


def sqlalchemy_kind(conn: Any) -> Optional[str]:
    """"engine", "connection", "session", "async" or None."""
    if not _is_sqlalchemy(conn):
        return None
    import sqlalchemy.engine

    if isinstance(conn, sqlalchemy.engine.Engine):
        return "engine"
    if isinstance(conn, sqlalchemy.engine.Connection):
        return "connection"
    try:
        from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

        if isinstance(conn, (AsyncConnection, AsyncEngine)):
            return "async"
    except ImportError:  # pragma: no cover - no asyncio extension
        pass
    try:
        from sqlalchemy.orm import Session

        if isinstance(conn, Session):
            return "session"
    except ImportError:  # pragma: no cover
        pass
    return None


def dbapi_connection(pool_connection: Any) -> Any:
    """The driver's connection behind a SQLAlchemy pooled connection.

    ``pool_connection`` is what ``Connection.connection`` or
    ``Engine.raw_connection()`` return (a ``_ConnectionFairy``):
    ``.driver_connection`` (SQLAlchemy 1.4.24+: the driver's own
    connection), else ``.dbapi_connection``, else ``.connection``.
    """
    for attr in ("driver_connection", "dbapi_connection", "connection"):
        raw = getattr(pool_connection, attr, None)
        if raw is not None:
            return raw
    raise TypeError(f"cannot find the DBAPI connection of {pool_connection!r}")


def is_psycopg3(conn: Any) -> bool:
    mod = sys.modules.get("psycopg")
    return mod is not None and isinstance(conn, mod.Connection)


# --------------------------------------------------------------------------
# psycopg2
# --------------------------------------------------------------------------


def _chunk_rows(chunk: Sequence[Part]) -> int:
    """Rows of a batch chunk; 0 for other chunks.

    ``Chunk.rows`` when the encoder gives it, else read from the batch
    message's header.
    """
    rows = getattr(chunk, "rows", None)
    if rows is not None:
        return int(rows)
    if not chunk:
        return 0
    head = bytes(memoryview(chunk[0])[:_MESSAGE.size])
    if len(head) < _MESSAGE.size or head[: len(MAGIC)] == MAGIC:
        return 0
    kind, _, count = _MESSAGE.unpack(head)
    return count if kind == MessageKind.BATCH else 0


class StreamReader:
    """A read()-able file over a zcimport stream given as chunks of parts.

    ``read(size)`` returns the next at most ``size`` bytes of the stream as
    one ``bytes`` object (a copy: psycopg2's ``copy_expert`` accepts nothing
    else), and ``b""`` at the end.  Chunks are taken from the iterator only
    when needed, so a packed batch is built when psycopg2 reaches it and
    released once it has been read.

    Args:
        chunks: the stream, as :func:`zcimport._encode.iter_chunks` yields it.
        progress: called with the row count of each batch once all of it has
            been read; an object with an ``update(rows, nbytes)`` method
            (:class:`zcimport.Progress`) gets that instead, for every chunk
            (``rows`` is 0 for the header, dictionaries and end marker).
    """

    def __init__(self, chunks: Iterator[List[Part]], progress: Optional[ProgressFn] = None) -> None:
        self._chunks = chunks
        self._progress = progress
        self._parts: List[memoryview] = []
        self._index = 0
        self._offset = 0
        self._rows = 0  # rows of the current chunk, reported when it is done
        self._nbytes = 0  # its bytes
        update = getattr(progress, "update", None)
        self._update: Optional[Callable[[int, int], Any]] = update if callable(update) else None
        #: Bytes returned by read() so far.
        self.bytes_read = 0
        #: Batches read whole so far.
        self.batches = 0
        #: The exception read() raised (psycopg2 then sends CopyFail and
        #: raises QueryCanceled in its place; :func:`load_psycopg2` raises
        #: this one again).
        self.error: Optional[BaseException] = None

    def _next_chunk(self) -> bool:
        rows, nbytes, self._rows, self._nbytes = self._rows, self._nbytes, 0, 0
        if rows:
            self.batches += 1
        if self._update is not None:
            if rows or nbytes:
                self._update(rows, nbytes)
        elif rows and self._progress is not None:
            self._progress(rows)
        self._parts = []
        for chunk in self._chunks:
            views = []
            for p in chunk:
                v = memoryview(p)
                if v.format != "B" or v.ndim != 1:
                    v = v.cast("B")
                if v.nbytes:
                    views.append(v)
            self._rows = _chunk_rows(chunk)
            self._nbytes = sum(v.nbytes for v in views)
            del chunk
            if views:
                self._parts, self._index, self._offset = views, 0, 0
                return True
        return False

    def read(self, size: int = -1) -> bytes:
        """Up to size bytes of the stream (all the rest if size < 0)."""
        try:
            return self._read(size)
        except BaseException as ex:
            self.error = ex
            raise

    def _read(self, size: int) -> bytes:
        out: List[memoryview] = []
        want = size if size is not None and size >= 0 else sys.maxsize
        while want > 0:
            if self._index >= len(self._parts):
                if not self._next_chunk():
                    break
            view = self._parts[self._index]
            piece = view[self._offset : self._offset + want]
            out.append(piece)
            want -= piece.nbytes
            self._offset += piece.nbytes
            if self._offset >= view.nbytes:
                self._index += 1
                self._offset = 0
        data = b"".join(out)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        """Always True."""
        return True


def _psycopg2_table(table: TableArg) -> Any:
    """The table as psycopg2 SQL (psycopg2.sql.Composable)."""
    from psycopg2 import sql as sql2

    if isinstance(table, sql2.Composable):
        return table
    if isinstance(table, str):
        return sql2.Identifier(*split_table_name(table))
    if isinstance(table, tuple):
        return sql2.Identifier(*table_tuple(table))
    mod = sys.modules.get("psycopg.sql")
    if mod is not None and isinstance(table, mod.Composable):
        raise TypeError(
            "a psycopg 3 sql.Composable cannot be used as the table on a psycopg2"
            " connection: give a string, a (schema, name) tuple or a psycopg2.sql.Composable")
    raise TypeError(
        f"table must be a str, a (schema, name) tuple or a psycopg2.sql.Composable,"
        f" not {type(table).__name__}"
    )


def psycopg2_copy_statement(conn: Any, table: TableArg, names: Sequence[str],
                            freeze: bool = False) -> str:
    """The COPY statement as a string, quoted by psycopg2 for conn."""
    from psycopg2 import sql as sql2

    options = "FORMAT zcimport, FREEZE" if freeze else "FORMAT zcimport"
    stmt = sql2.SQL("COPY {} ({}) FROM STDIN WITH (" + options + ")").format(
        _psycopg2_table(table), sql2.SQL(", ").join(sql2.Identifier(n) for n in names))
    return str(stmt.as_string(conn))


def check_extension_psycopg2(conn: Any) -> str:
    """``SELECT zcimport.version()`` on a psycopg2 connection; the version.

    Inside a transaction the check runs in a savepoint, so that a failure
    leaves the transaction usable; when psycopg2 had to begin a transaction
    for the check alone and the check failed, that transaction is rolled
    back.  Raises :class:`ExtensionNotInstalledError` (its ``__cause__`` is
    the psycopg2 error) when the extension is not installed.
    """
    import psycopg2
    import psycopg2.extensions as ext

    status = conn.get_transaction_status()
    in_tx = status == ext.TRANSACTION_STATUS_INTRANS
    with conn.cursor() as cur:
        try:
            if in_tx:
                cur.execute("SAVEPOINT zcimport_check")
                try:
                    cur.execute("SELECT zcimport.version()")
                    row = cur.fetchone()
                except psycopg2.Error:
                    cur.execute("ROLLBACK TO SAVEPOINT zcimport_check")
                    cur.execute("RELEASE SAVEPOINT zcimport_check")
                    raise
                cur.execute("RELEASE SAVEPOINT zcimport_check")
            else:
                cur.execute("SELECT zcimport.version()")
                row = cur.fetchone()
        except psycopg2.Error as ex:
            if getattr(ex, "pgcode", None) not in MISSING_EXTENSION_SQLSTATES:
                raise
            after = conn.get_transaction_status()
            if not in_tx and after == ext.TRANSACTION_STATUS_INERROR:
                conn.rollback()  # the transaction held nothing but the check
                after = conn.get_transaction_status()
            raise ExtensionNotInstalledError(extension_missing_message(
                conn.info.dbname, ex.pgcode, ex.diag.message_primary, in_transaction=in_tx,
                aborted=after == ext.TRANSACTION_STATUS_INERROR)) from ex
    assert row is not None
    return str(row[0])


def load_psycopg2(
    conn: Any,
    plan: Plan,
    table: TableArg,
    batch_rows: int,
    freeze: bool = False,
    *,
    progress: Optional[ProgressFn] = None,
    prepare: Optional[Prepare] = None,
    upsert: Optional[Upsert] = None,
) -> int:
    """COPY a planned frame on a psycopg2 connection, in its transaction.

    Nothing is committed, with one exception: on an ``autocommit``
    connection, a ``prepare`` hook (the DDL of ``create=``), the COPY and an
    upsert's statements run in one transaction block (BEGIN ... COMMIT,
    ROLLBACK on error), so that a failed load leaves nothing behind.
    ``upsert`` (:class:`zcimport._upsert.Upsert`) makes the COPY go into a
    staging table, inserted into the table with ON CONFLICT afterwards.
    Returns the number of rows loaded (the COPY tag's count; for an upsert,
    the INSERT's).  Server errors are psycopg2 exceptions (with ``pgcode``),
    unchanged.
    """
    names = [c.name for c in plan]
    stmt = psycopg2_copy_statement(conn, table, names, freeze)
    if upsert is not None:
        stmt = psycopg2_copy_statement(conn, upsert.stage_table, names, freeze)
    block = (prepare is not None or upsert is not None) and conn.autocommit
    if not block:
        return _load_psycopg2(conn, plan, stmt, batch_rows, progress, prepare, upsert)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
    try:
        rows = _load_psycopg2(conn, plan, stmt, batch_rows, progress, prepare, upsert)
    except BaseException:
        if not conn.closed:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK")
        raise
    with conn.cursor() as cur:
        cur.execute("COMMIT")
    return rows


def _load_psycopg2(conn: Any, plan: Plan, stmt: str, batch_rows: int,
                   progress: Optional[ProgressFn], prepare: Optional[Prepare],
                   upsert: Optional[Upsert] = None) -> int:
    import psycopg2

    version = check_extension_psycopg2(conn)
    if prepare is not None:
        # create= / if_exists= (zcimport._ddl) run here, in the load's
        # transaction, before the COPY.
        with conn.cursor() as cur:
            prepare(dbapi_execute(cur))
    if upsert is not None:
        # the COPY (stmt) goes into the staging table
        with conn.cursor() as cur:
            upsert.start(dbapi_run(cur))
    log.debug("zcimport: server library %s; %d rows, %d columns, batches of %d rows, via %s",
              version, plan.rows, len(plan), batch_rows, PSYCOPG2_TRANSPORT)
    log.info("zcimport: sending COPY data through psycopg2's copy_expert, which copies it")
    reader = StreamReader(iter_chunks(plan, batch_rows), progress)
    with conn.cursor() as cur:
        try:
            cur.copy_expert(stmt, reader, size=READ_BYTES)
        except psycopg2.Error as ex:
            # An exception in read() (a packing error, KeyboardInterrupt, a
            # progress callback) made psycopg2 send CopyFail: raise it, not
            # psycopg2's "COPY from stdin failed" (which is its __context__).
            # The transaction is aborted either way.
            if reader.error is not None:
                raise reader.error
            add_client_hint(ex)  # the hints that name Python options (_base.client_hint)
            raise
        rows = cur.rowcount
    log.debug("zcimport: loaded %d rows (%d bytes) via %s", rows, reader.bytes_read,
              PSYCOPG2_TRANSPORT)
    if upsert is not None:
        with conn.cursor() as cur:
            rows = upsert.finish(dbapi_run(cur), rows)
    return int(rows)


# --------------------------------------------------------------------------
# SQLAlchemy
# --------------------------------------------------------------------------


def unsupported_driver(raw: Any) -> TypeError:
    """The error for a SQLAlchemy DBAPI connection that is neither psycopg2 nor psycopg 3."""
    return TypeError(
        "SQLAlchemy's DBAPI connection is a"
        f" {type(raw).__module__}.{type(raw).__name__}; zcimport needs psycopg2"
        " (postgresql+psycopg2://) or psycopg 3 (postgresql+psycopg://; a plain"
        " postgresql:// URL from SQLAlchemy 2.1 on)"
    )


def _is_legacy_connection(sa_conn: Any) -> bool:
    """A SQLAlchemy 1.4 Connection without ``future=True`` (none exist in 2.x)."""
    try:
        import sqlalchemy.future
    except ImportError:  # pragma: no cover - a SQLAlchemy without the future package
        return False
    return not isinstance(sa_conn, sqlalchemy.future.Connection)


@contextlib.contextmanager
def _engine_dbapi(engine: Any) -> Iterator[Any]:
    pooled = engine.raw_connection()
    try:
        try:
            yield dbapi_connection(pooled)
        except BaseException:
            try:
                pooled.rollback()
            except Exception:  # the connection may be broken; the pool handles it
                log.debug("zcimport: rollback after a failed load failed", exc_info=True)
            raise
        pooled.commit()
    finally:
        pooled.close()  # back to the pool


@contextlib.contextmanager
def _connection_dbapi(sa_conn: Any) -> Iterator[Any]:
    if sa_conn.closed:
        raise ValueError("the SQLAlchemy Connection is closed")
    if sa_conn.in_transaction():
        yield dbapi_connection(sa_conn.connection)
    elif not _is_legacy_connection(sa_conn):
        # 2.0 style: autobegin, as execute() would; the caller commits.
        sa_conn.begin()
        yield dbapi_connection(sa_conn.connection)
    else:
        # Legacy Connection outside a transaction: "autocommit", as an INSERT.
        with sa_conn.begin():
            yield dbapi_connection(sa_conn.connection)


def sqlalchemy_dbapi(conn: Any) -> "contextlib.AbstractContextManager[Any]":
    """The DBAPI connection behind a SQLAlchemy object, in the load's transaction.

    ``with sqlalchemy_dbapi(conn) as raw:`` for an ``Engine`` (committed on
    a normal exit, rolled back on an exception), a ``Connection`` or an ORM
    ``Session`` (see the module's docstring).  Raises TypeError for an
    async engine or connection, and for anything that is not SQLAlchemy's.
    """
    kind = sqlalchemy_kind(conn)
    if kind == "engine":
        driver = getattr(conn.dialect, "driver", "")
        if driver not in ("psycopg2", "psycopg"):
            # refused before connecting (an async driver, asyncpg, cannot
            # even connect outside an event loop)
            raise TypeError(
                f"a SQLAlchemy engine on driver {driver!r}: zcimport needs psycopg2"
                " (postgresql+psycopg2://) or psycopg 3 (postgresql+psycopg://; a plain"
                " postgresql:// URL from SQLAlchemy 2.1 on); for asyncio, use await"
                " zcimport.copy_dataframe_async(...) with a psycopg AsyncConnection")
        return _engine_dbapi(conn)
    if kind == "session":
        return _connection_dbapi(conn.connection())  # begins its transaction if needed
    if kind == "connection":
        return _connection_dbapi(conn)
    if kind == "async":
        raise TypeError(
            "a SQLAlchemy async engine or connection: use await"
            " zcimport.copy_dataframe_async(...) with a psycopg AsyncConnection")
    raise TypeError(f"not a SQLAlchemy Engine, Connection or Session: {type(conn).__name__}")


def engine_transport(engine: Any) -> str:
    """How an Engine's connections would carry the stream, from its dialect's driver."""
    driver = getattr(engine.dialect, "driver", "")
    if driver == "psycopg2":
        return "SQLAlchemy: " + PSYCOPG2_TRANSPORT
    if driver == "psycopg":
        return "SQLAlchemy: psycopg 3 (socket unless SSL or GSSAPI encryption is in use)"
    return f"SQLAlchemy: driver {driver!r} is not supported"


__all__ = [
    "PSYCOPG2_TRANSPORT",
    "READ_BYTES",
    "StreamReader",
    "check_extension_psycopg2",
    "dbapi_connection",
    "engine_transport",
    "load_psycopg2",
    "psycopg2_copy_statement",
    "sqlalchemy_dbapi",
    "sqlalchemy_kind",
    "unsupported_driver",
]
