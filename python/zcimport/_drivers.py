"""Loading through other drivers: psycopg2, and SQLAlchemy Engines/Connections.

:func:`zcimport.copy_dataframe` hands every connection that is not a psycopg 3
``Connection`` or a connection string to :func:`load_with_driver`, and
:func:`zcimport.plan` asks :func:`describe_transport` how such a connection
would carry the stream.

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
    An ``Engine``: a pooled DBAPI connection is taken with
    ``engine.raw_connection()``; the load runs on it, is committed (rolled
    back on error), and the connection goes back to the pool.

    A ``Connection``: the load runs on its DBAPI connection, in the
    Connection's transaction:

    - a transaction is in progress (``conn.begin()``, ``engine.begin()``, a
      ``future`` Connection that has autobegun, a savepoint): the load joins
      it and is not committed; the caller commits.
    - no transaction, ``future=True`` Connection (SQLAlchemy 2.0 style):
      the Connection *autobegins* a transaction, exactly as its
      ``execute()`` would; the load is not committed: call
      ``conn.commit()``.
    - no transaction, legacy (1.x style) Connection: legacy Connections run
      data-changing statements in "autocommit" (SQLAlchemy commits after an
      INSERT executed outside a transaction), and their DBAPI transaction is
      rolled back when the Connection goes back to the pool.  A load there
      runs in its own transaction, ``with conn.begin():``, committed when it
      succeeds, as an INSERT would be.

    An ORM ``Session``: ``session.connection()`` (which begins the
    session's transaction if needed); the load is not committed.

    The DBAPI connection behind may be psycopg2 (SQLAlchemy 1.4's only
    psycopg dialect) or psycopg 3 (SQLAlchemy 2.0's ``postgresql+psycopg``),
    which then takes the zero-copy path of :func:`zcimport._copy.load`.
"""

from __future__ import annotations

import inspect
import logging
import struct
import sys
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

from . import _copy
from ._copy import ExtensionNotInstalledError, TableArg
from ._encode import Part, iter_chunks
from ._format import MAGIC, MessageKind
from ._plan import Plan

log = logging.getLogger("zcimport")

#: The transport of psycopg2 connections, as :func:`describe_transport` and
#: ``Plan.transport`` show it.
PSYCOPG2_TRANSPORT = "psycopg2 copy_expert (copies each batch)"

#: Bytes per ``read()`` psycopg2 asks of the stream reader: each read builds
#: one bytes object of at most this size, which libpq sends as one CopyData.
READ_BYTES = 1 << 20

#: What :func:`load_with_driver` passes to a ``prepare`` hook: a function
#: running one SQL statement (``%s`` placeholders, parameters optional) on
#: the load's connection and transaction, returning its rows (``[]`` for a
#: statement without a result).
Execute = Callable[..., List[Tuple[Any, ...]]]

#: A hook run on the load's connection, in the load's transaction, after the
#: extension check and before the COPY (e.g. CREATE TABLE for ``create=``).
Prepare = Callable[[Execute], None]

#: Called with the number of rows of each batch, once it has been handed to
#: the driver.
ProgressFn = Callable[[int], Any]

_MESSAGE = struct.Struct("<IIQ")


# --------------------------------------------------------------------------
# Recognizing connections
# --------------------------------------------------------------------------


def _is_psycopg2(conn: Any) -> bool:
    """True for a psycopg2 connection (psycopg2 is only imported if it is)."""
    mod = sys.modules.get("psycopg2.extensions")
    return mod is not None and isinstance(conn, mod.connection)


def _is_sqlalchemy(conn: Any) -> bool:
    return type(conn).__module__.split(".", 1)[0] == "sqlalchemy"


def _sqlalchemy_kind(conn: Any) -> Optional[str]:
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


def _is_psycopg3(conn: Any) -> bool:
    mod = sys.modules.get("psycopg")
    return mod is not None and isinstance(conn, mod.Connection)


def describe_transport(conn: Any) -> Optional[str]:
    """How COPY data travels on conn, for a connection this module handles.

    Returns ``"psycopg2 copy_expert (copies each batch)"`` for psycopg2
    connections (and SQLAlchemy objects on psycopg2, prefixed with
    ``"SQLAlchemy: "``), the psycopg 3 description (``"socket"``, or
    ``"libpq (...)"`` with the reason) for SQLAlchemy objects on psycopg 3
    and for psycopg 3 ``AsyncConnection``s; None for anything else
    (psycopg 3 ``Connection``s and strings are described by
    :func:`zcimport._copy.transport`).  Nothing is executed on conn; an
    Engine is described by its dialect's driver, without connecting.
    """
    if _is_psycopg2(conn):
        return PSYCOPG2_TRANSPORT
    mod = sys.modules.get("psycopg")
    if mod is not None and isinstance(conn, mod.AsyncConnection):
        return _copy.transport(conn)[1]  # type: ignore[arg-type]
    kind = _sqlalchemy_kind(conn)
    if kind == "engine":
        driver = getattr(conn.dialect, "driver", "")
        if driver == "psycopg2":
            return "SQLAlchemy: " + PSYCOPG2_TRANSPORT
        if driver == "psycopg":
            return "SQLAlchemy: psycopg 3 (socket unless SSL or GSSAPI encryption is in use)"
        return f"SQLAlchemy: driver {driver!r} is not supported"
    if kind == "connection":
        raw = dbapi_connection(conn.connection)
        if _is_psycopg2(raw):
            return "SQLAlchemy: " + PSYCOPG2_TRANSPORT
        if _is_psycopg3(raw):
            return "SQLAlchemy: " + _copy.transport(raw)[1]
        return f"SQLAlchemy: driver {type(raw).__module__} is not supported"
    return None


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
        return sql2.Identifier(*_copy._split_table_name(table))
    if isinstance(table, tuple):
        if not 1 <= len(table) <= 2 or not all(isinstance(p, str) and p for p in table):
            raise ValueError("a table tuple must be (schema, name) or (name,), of non-empty strings")
        return sql2.Identifier(*table)
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


def _psycopg2_execute(cur: Any) -> Execute:
    def execute(query: Any, params: Optional[Sequence[Any]] = None) -> List[Tuple[Any, ...]]:
        cur.execute(query, params)
        return list(cur.fetchall()) if cur.description is not None else []

    return execute


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
            if getattr(ex, "pgcode", None) not in ("42883", "3F000"):
                raise
            after = conn.get_transaction_status()
            if not in_tx and after == ext.TRANSACTION_STATUS_INERROR:
                conn.rollback()  # the transaction held nothing but the check
                after = conn.get_transaction_status()
            msg = (
                f"the zcimport extension is not installed in database"
                f" {conn.info.dbname!r}: run CREATE EXTENSION zcimport in that"
                f" database ({ex.pgcode}: {ex.diag.message_primary})"
            )
            if after == ext.TRANSACTION_STATUS_INERROR:
                msg += "; the current transaction is aborted and must be rolled back"
            elif in_tx:
                msg += "; the check ran in a savepoint, the current transaction is still usable"
            raise ExtensionNotInstalledError(msg) from ex
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
) -> int:
    """COPY a planned frame on a psycopg2 connection, in its transaction.

    Nothing is committed, with one exception: on an ``autocommit``
    connection, a ``prepare`` hook (the DDL of ``create=``) and the COPY run
    in one transaction block (BEGIN ... COMMIT, ROLLBACK on error), so that
    a failed load leaves no table behind.  Returns the number of rows
    loaded (the COPY tag's count).  Server errors are psycopg2 exceptions
    (with ``pgcode``), unchanged.
    """
    stmt = psycopg2_copy_statement(conn, table, [c.name for c in plan], freeze)
    block = prepare is not None and conn.autocommit
    if not block:
        return _load_psycopg2(conn, plan, stmt, batch_rows, progress, prepare)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
    try:
        rows = _load_psycopg2(conn, plan, stmt, batch_rows, progress, prepare)
    except BaseException:
        if not conn.closed:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK")
        raise
    with conn.cursor() as cur:
        cur.execute("COMMIT")
    return rows


def _load_psycopg2(conn: Any, plan: Plan, stmt: str, batch_rows: int,
                   progress: Optional[ProgressFn], prepare: Optional[Prepare]) -> int:
    import psycopg2

    version = check_extension_psycopg2(conn)
    if prepare is not None:
        # create= / if_exists= (zcimport._ddl) run here, in the load's
        # transaction, before the COPY.
        with conn.cursor() as cur:
            prepare(_psycopg2_execute(cur))
    log.debug("zcimport: server library %s; %d rows, %d columns, batches of %d rows, via %s",
              version, plan.rows, len(plan), batch_rows, PSYCOPG2_TRANSPORT)
    log.info("zcimport: sending COPY data through psycopg2's copy_expert, which copies it")
    reader = StreamReader(iter_chunks(plan, batch_rows), progress)
    with conn.cursor() as cur:
        try:
            cur.copy_expert(stmt, reader, size=READ_BYTES)
        except psycopg2.Error:
            # An exception in read() (a packing error, KeyboardInterrupt, a
            # progress callback) made psycopg2 send CopyFail: raise it, not
            # psycopg2's "COPY from stdin failed" (which is its __context__).
            # The transaction is aborted either way.
            if reader.error is not None:
                raise reader.error
            raise
        rows = cur.rowcount
    log.debug("zcimport: loaded %d rows (%d bytes) via %s", rows, reader.bytes_read,
              PSYCOPG2_TRANSPORT)
    return int(rows)


# --------------------------------------------------------------------------
# psycopg 3 behind SQLAlchemy
# --------------------------------------------------------------------------


def _load_psycopg3(
    conn: Any,
    plan: Plan,
    table: TableArg,
    batch_rows: int,
    freeze: bool,
    progress: Optional[ProgressFn],
    prepare: Optional[Prepare],
) -> int:
    params = inspect.signature(_copy.load).parameters
    kwargs: Dict[str, Any] = {}
    if progress is not None:
        if "progress" in params:
            kwargs["progress"] = progress
        else:  # pragma: no cover - depends on the version of _copy.load
            log.debug("zcimport: progress is not reported on this path")
    if prepare is not None:
        if "prepare" in params:
            kwargs["prepare"] = prepare
        else:  # pragma: no cover - depends on the version of _copy.load
            def execute(query: Any, q_params: Optional[Sequence[Any]] = None
                        ) -> List[Tuple[Any, ...]]:
                cur = conn.execute(query, q_params)
                return list(cur.fetchall()) if cur.description is not None else []

            # As on psycopg2: the extension check, then the hook, then the
            # COPY (whose own check is then a second round trip).
            _copy.check_extension(conn)
            prepare(execute)
    return int(_copy.load(conn, plan, table, batch_rows, freeze, **kwargs))


def _load_raw(raw: Any, plan: Plan, table: TableArg, batch_rows: int, freeze: bool,
              progress: Optional[ProgressFn], prepare: Optional[Prepare]) -> int:
    if _is_psycopg2(raw):
        return load_psycopg2(raw, plan, table, batch_rows, freeze,
                             progress=progress, prepare=prepare)
    if _is_psycopg3(raw):
        return _load_psycopg3(raw, plan, table, batch_rows, freeze, progress, prepare)
    raise TypeError(
        "SQLAlchemy's DBAPI connection is a"
        f" {type(raw).__module__}.{type(raw).__name__}; zcimport needs psycopg2"
        " (postgresql+psycopg2://) or psycopg 3 (postgresql+psycopg://)"
    )


# --------------------------------------------------------------------------
# SQLAlchemy
# --------------------------------------------------------------------------


def _load_engine(engine: Any, plan: Plan, table: TableArg, batch_rows: int, freeze: bool,
                 progress: Optional[ProgressFn], prepare: Optional[Prepare]) -> int:
    pooled = engine.raw_connection()
    try:
        raw = dbapi_connection(pooled)
        try:
            rows = _load_raw(raw, plan, table, batch_rows, freeze, progress, prepare)
            pooled.commit()
        except BaseException:
            try:
                pooled.rollback()
            except Exception:  # the connection may be broken; the pool handles it
                log.debug("zcimport: rollback after a failed load failed", exc_info=True)
            raise
    finally:
        pooled.close()  # back to the pool
    return rows


def _load_connection(sa_conn: Any, plan: Plan, table: TableArg, batch_rows: int, freeze: bool,
                     progress: Optional[ProgressFn], prepare: Optional[Prepare]) -> int:
    import sqlalchemy.future

    if sa_conn.closed:
        raise ValueError("the SQLAlchemy Connection is closed")
    if sa_conn.in_transaction():
        return _load_raw(dbapi_connection(sa_conn.connection), plan, table, batch_rows,
                         freeze, progress, prepare)
    if isinstance(sa_conn, sqlalchemy.future.Connection):
        # 2.0 style: autobegin, as execute() would; the caller commits.
        sa_conn.begin()
        return _load_raw(dbapi_connection(sa_conn.connection), plan, table, batch_rows,
                         freeze, progress, prepare)
    # Legacy Connection outside a transaction: "autocommit", as an INSERT.
    with sa_conn.begin():
        return _load_raw(dbapi_connection(sa_conn.connection), plan, table, batch_rows,
                         freeze, progress, prepare)


def load_with_driver(
    plan: Plan,
    table: TableArg,
    conn: Any,
    *,
    batch_rows: int,
    freeze: bool = False,
    progress: Optional[ProgressFn] = None,
    prepare: Optional[Prepare] = None,
) -> Optional[int]:
    """Load through psycopg2 or SQLAlchemy; None if conn is neither.

    Args:
        plan: the planned frame (:func:`zcimport._plan.make_plan`).
        table: as for :func:`zcimport.copy_dataframe`; on psycopg2 a
            ``psycopg2.sql.Composable`` is accepted instead of a psycopg 3
            one.
        conn: a psycopg2 connection, a SQLAlchemy ``Engine``,
            ``Connection`` or ORM ``Session`` (see the module's docstring
            for the transaction each one uses).
        batch_rows: rows per batch.
        freeze: COPY with FREEZE.
        progress: called with the rows of each batch handed to the driver.
        prepare: called with an ``execute(query, params=None) -> rows``
            function on the load's connection and transaction, after the
            extension check and before the COPY; for DDL such as
            ``create=``.

    Returns:
        The number of rows loaded, or None when conn is not one of these
        (psycopg 3 connections and strings are loaded by the caller).

    Raises:
        TypeError: a psycopg 3 ``AsyncConnection`` or a SQLAlchemy async
            object (use :func:`zcimport.copy_dataframe_async`), or a
            SQLAlchemy engine whose driver is neither psycopg2 nor psycopg.
        ExtensionNotInstalledError: the extension is not installed.
        psycopg2.Error / psycopg.Error: the server's errors, unchanged.
    """
    if _is_psycopg2(conn):
        return load_psycopg2(conn, plan, table, batch_rows, freeze,
                             progress=progress, prepare=prepare)
    mod = sys.modules.get("psycopg")
    if mod is not None and isinstance(conn, mod.AsyncConnection):
        raise TypeError("an AsyncConnection: use await zcimport.copy_dataframe_async(...)")
    kind = _sqlalchemy_kind(conn)
    if kind is None:
        return None
    if kind == "async":
        raise TypeError(
            "a SQLAlchemy async engine or connection: use await"
            " zcimport.copy_dataframe_async(...) with a psycopg AsyncConnection")
    if kind == "engine":
        return _load_engine(conn, plan, table, batch_rows, freeze, progress, prepare)
    if kind == "session":
        conn = conn.connection()  # begins the session's transaction if needed
    return _load_connection(conn, plan, table, batch_rows, freeze, progress, prepare)
