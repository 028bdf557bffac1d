"""Loading on a psycopg 3 ``AsyncConnection``: :func:`copy_dataframe_async`.

The same load as :func:`zcimport.copy_dataframe` (same plan, same stream,
same COPY statement, same extension check), driven by asyncio.

How the zero-copy socket writes stay off the event loop
-------------------------------------------------------
Each CopyData write is ``zcimport._wire.send_copy_data``, the C function the
synchronous path uses, run in the loop's default executor
(``loop.run_in_executor``).  It releases the GIL for all socket I/O and
waits for the socket with poll() in that worker thread, so the event loop
keeps running while a batch goes out.  The alternative, non-blocking
writes driven by ``loop.add_writer``, would need a second, non-blocking
framing loop around sendmsg(): ``send_copy_data`` waits for room in the
socket itself (it cannot return "would block" mid-call), and it is the code
that guarantees that a CopyData message is never abandoned half sent.  One
executor hop per slice (at most :data:`SLICE_BYTES` bytes, a few
milliseconds of sending) costs tens of microseconds and keeps the latency of
cancellation bounded.

Only one thread touches the socket at a time: the coroutine awaits each
call, and when the task is cancelled (``task.cancel()``, a timeout,
Ctrl-C under ``asyncio.run``) it first waits for the call in flight to
return, then completes a half-sent message with the rest of its bytes,
sends CopyFail, and re-raises ``CancelledError``; the connection stays
usable (its transaction is in error, as after any failed statement).

The rest of :class:`zcimport._copy.ZcWriter`'s protocol guarantees hold:
before each message, and whenever the socket is full, the server's input is
checked in the event loop's thread (:class:`zcimport._copy.ServerInput`,
non-blocking): notices go to the connection's notice handlers and sending
goes on; an error makes the writer stop at the next message boundary, and
psycopg raises it after CopyDone.  On SSL or GSSAPI-encrypted connections
the stream goes through libpq (which copies it), in pieces, with the same
early stop (:mod:`zcimport._libpq`).
Columns that must be packed (strings, objects) are packed a batch at a time
in the executor too, so that packing does not hold up the event loop for a
whole batch.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, sql, waiting
from psycopg.copy import AsyncLibpqWriter

from ._copy import (
    _PROBE,
    _answer_as_context,
    MESSAGE_BYTES,
    ExtensionNotInstalledError,
    RawSendState,
    ServerInput,
    TableArg,
    _flush_gen,
    _skip,
    _take,
    byte_views,
    copy_statement,
    table_identifier,
    transport,
)
from ._drivers import _chunk_rows
from ._encode import Part, iter_chunks
from ._libpq import CopyEnd, ErrorWatch, copy_fail_message, pieces, put_gen
from ._plan import ColumnsArg, Plan, make_plan, resolve_batch_rows
from ._upsert import ConflictColumnsArg, Upsert, check_on_conflict, make_upsert

try:
    from . import _wire
except ImportError:  # pragma: no cover - the C module is not built
    _wire = None  # type: ignore[assignment]

log = logging.getLogger("zcimport")

#: psycopg >= 3.2's wait_async() takes the interval between its checks (0,
#: its default, makes it poll without sleeping); 3.1's takes no such argument.
_WAIT_ASYNC_KW = ({"interval": 0.1}
                  if "interval" in inspect.signature(waiting.wait_async).parameters else {})

#: Bytes handed to one executor call of the socket writer.  Bounds how long
#: a cancellation waits for the call in flight.
SLICE_BYTES = 8 << 20

T = TypeVar("T")


async def _in_thread(fn: Callable[[], T]) -> Tuple[T, bool]:
    """Run fn in the default executor; (result, cancelled while waiting).

    The call is never abandoned: if the awaiting task is cancelled, this
    waits for fn to return (the socket must not be touched by anyone else
    meanwhile) and reports the cancellation to the caller, which re-raises
    it once the protocol is back at a safe point.  An exception of fn is
    raised as it is.
    """
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, fn)
    cancelled = False
    while True:
        try:
            return await asyncio.shield(fut), cancelled
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                return fut.result(), True
            cancelled = True


async def _wait_readable(fd: int, timeout: float) -> None:
    """Wait until fd is readable, or timeout seconds."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[None]" = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)


class AsyncZcWriter(RawSendState, AsyncLibpqWriter):
    """The asyncio twin of :class:`zcimport._copy.ZcWriter`.

    ``write(data)`` (what ``AsyncCopy.write`` calls) and ``send(parts)`` go
    through the same path: the raw socket when :attr:`raw` is true (writes
    run in the default executor, see the module's docstring), libpq
    otherwise, in pieces, watching for a server error between them
    (:mod:`zcimport._libpq`).  ``finish`` ends the COPY as
    ``AsyncLibpqWriter.finish`` does, through a cancellation of the task
    (see :meth:`_end_copy`).
    """

    def __init__(
        self,
        cursor: "psycopg.AsyncCursor[Any]",
        *,
        raw: Optional[bool] = None,
        transport_desc: str = "",
        max_message: Optional[int] = None,
        slice_bytes: Optional[int] = None,
    ) -> None:
        super().__init__(cursor)
        if raw is None:
            raw, transport_desc = transport(self.connection)  # type: ignore[arg-type]
        self.raw: bool = raw
        self.transport: str = transport_desc
        self.max_message = MESSAGE_BYTES if max_message is None else max_message
        self.slice_bytes = SLICE_BYTES if slice_bytes is None else slice_bytes
        #: The server reported something other than notices; nothing more is sent.
        self.stopped = False
        #: Payload bytes written (both paths).
        self.bytes_sent = 0
        self._input: Optional[ServerInput] = None
        self._call = ((), [0, 0])
        self._broken: Optional[BaseException] = None
        self._watch: Optional[ErrorWatch] = None
        #: :meth:`finish` has been called.
        self.finishing = False
        #: The server's error that ended the COPY, if any.
        self.end_error: Optional[BaseException] = None
        if not raw:
            log.info("zcimport: sending COPY data through libpq, which copies it: %s",
                     transport_desc)

    async def write(self, data: Any) -> None:
        """Send one buffer (used by ``AsyncCopy.write``)."""
        await self.send([data])

    async def send(self, parts: Sequence[Part]) -> bool:
        """Send the concatenation of parts; False once the writer has stopped."""
        if self.stopped:
            return False
        if not self.raw:
            return await self._send_libpq(parts)
        return await self._send_raw(list(parts), 0, stop_on_error=True)

    async def _send_libpq(self, parts: Sequence[Part]) -> bool:
        """The libpq path: as :meth:`zcimport._copy.ZcWriter._send_libpq`."""
        if self._watch is None:
            self._watch = ErrorWatch(self._pgconn)
        watch = self._watch
        for piece in pieces(byte_views(parts)):
            watch.poll()
            while watch.suspected:  # pause until it is confirmed or explained
                if watch.confirmed():
                    return self._stop()
                await _wait_readable(watch.fd, watch.remaining())
                watch.poll()
            await self.connection.wait(put_gen(self._pgconn, piece, watch))
            self.bytes_sent += piece.nbytes
        return True

    async def _send_raw(self, parts: List[Part], in_message: int, *,
                        stop_on_error: bool) -> bool:
        if self._input is None:
            # libpq must have nothing of its own queued before our bytes.
            await self.connection.wait(_flush_gen(self._pgconn))
            self._input = ServerInput(self._pgconn)
        remaining = sum(memoryview(p).nbytes for p in parts)
        while True:
            n = max(in_message, min(remaining, self.slice_bytes))
            piece = parts if n == remaining else _take(parts, n)
            if not await self._send_piece(piece, in_message, stop_on_error):
                return False
            remaining -= n
            if remaining <= 0:
                return True
            parts = _skip(parts, n)
            in_message = 0

    async def _send_piece(self, parts: List[Part], in_message: int,
                          stop_on_error: bool) -> bool:
        assert self._input is not None
        fd = self._pgconn.socket
        error_pending = False
        while True:
            progress = [0, in_message]  # what holds if the call fails at once
            self._call = (parts, progress)  # what finish() completes, if need be
            call = functools.partial(
                _wire.send_copy_data, fd, parts, max_message=self.max_message,
                in_message=in_message, progress=progress, watch_input=not error_pending)
            try:
                (sent, has_data, owed), cancelled = await _in_thread(call)
            except BaseException as ex:
                self._interrupted(ex, progress[0])
                raise
            if cancelled:
                self.bytes_sent += sent
                raise asyncio.CancelledError()
            result, parts, in_message, error_pending = self._after_send(
                parts, sent, has_data, owed, error_pending, stop_on_error)
            if result is not None:
                self._call = ((), [0, 0])  # at a boundary; drop the parts
                return result

    async def finish(self, exc: Optional[BaseException] = None) -> None:
        """End the COPY: CopyDone (or CopyFail if exc) and read the result."""
        self.finishing = True
        if self._broken is not None:
            await self._close(f"the connection broke while sending COPY data: {self._broken}")
        rest, owed = self._owed_parts()
        if owed:
            # the rest of the half-sent message, its own bytes (see RawSendState)
            self._call = ((), [0, 0])
            try:
                await self._send_raw(rest, owed, stop_on_error=False)
            except BaseException as ex:
                await self._close(
                    f"COPY was interrupted inside a message and could not be completed: {ex}")
            del rest
        if self._input is not None and self._input.in_message:
            try:
                while self._input.in_message:
                    self._input.drain()
                    if self._input.in_message:
                        await _wait_readable(self._pgconn.socket, 0.1)
            except BaseException as ex:
                await self._close(f"could not read a message from the server: {ex}")
        if self._watch is not None:
            self._watch.close()
        await self._end_copy(exc)

    async def _end_copy(self, exc: Optional[BaseException]) -> None:
        """CopyDone (CopyFail if exc) and the result, through a cancellation.

        What ``AsyncLibpqWriter.finish`` does, except that a cancellation
        of the task while it waits does not leave the connection in the
        middle of the COPY (psycopg 3.1 abandons the protocol there): the
        end is completed (with a cancel request first, if the COPY was
        ending normally), then ``CancelledError`` is raised.  A second
        cancellation gives up: the connection is closed.
        """
        encoding = self.connection.info.encoding
        end = CopyEnd(self._pgconn, copy_fail_message(encoding, exc))
        cancelled: Optional[BaseException] = None
        while True:
            try:
                await waiting.wait_async(end.gen(), self._pgconn.socket, **_WAIT_ASYNC_KW)
                break
            except (asyncio.CancelledError, KeyboardInterrupt) as ex:
                if cancelled is not None:
                    log.warning("zcimport: closing the connection: cancelled twice while"
                                " the COPY was ending")
                    await self.connection.close()
                    raise
                cancelled = ex
                if exc is None:
                    try:
                        await asyncio.get_running_loop().run_in_executor(
                            None, self._pgconn.get_cancel().cancel)
                    except Exception:  # pragma: no cover - best effort
                        log.debug("zcimport: could not send a cancel request", exc_info=True)
        outcome = end.outcome(encoding)
        if isinstance(outcome, BaseException):
            self.end_error = outcome
            if cancelled is None:
                if exc is None:
                    raise outcome
                # CopyFail: exc leaves the copy block as it is and the
                # server's answer becomes its __context__ in load_async (as
                # in _copy.ZcWriter._end_copy: psycopg 3.3 would drop it)
                return
            try:
                raise outcome
            except psycopg.Error:
                raise cancelled  # noqa: B904 - the server's answer is its context
        self.cursor._results = [outcome]  # as AsyncLibpqWriter.finish: the rowcount
        if cancelled is not None:
            raise cancelled

    async def _close(self, message: str) -> None:
        log.warning("zcimport: closing the connection: %s", message)
        await self.connection.close()
        raise psycopg.OperationalError(message)


async def check_extension_async(conn: "psycopg.AsyncConnection[Any]") -> Tuple[str, bool]:
    """The asyncio twin of :func:`zcimport._copy.check_extension`.

    Runs ``SELECT zcimport.version()`` (which loads the server library), in
    a savepoint inside a transaction; returns (version, GSSAPI encryption in
    use).  Raises :class:`ExtensionNotInstalledError` when the extension is
    missing.
    """
    status = conn.info.transaction_status
    try:
        if status == pq.TransactionStatus.INTRANS:
            async with conn.transaction():
                row = await (await conn.execute(_PROBE)).fetchone()
        else:
            row = await (await conn.execute(_PROBE)).fetchone()
    except (pg_errors.UndefinedFunction, pg_errors.InvalidSchemaName) as ex:
        after = conn.info.transaction_status
        if status == pq.TransactionStatus.IDLE and after == pq.TransactionStatus.INERROR:
            await conn.rollback()  # the transaction held nothing but the check
            after = conn.info.transaction_status
        msg = (
            f"the zcimport extension is not installed in database"
            f" {conn.info.dbname!r}: run CREATE EXTENSION zcimport in that"
            f" database ({ex.sqlstate}: {ex})"
        )
        if after == pq.TransactionStatus.INERROR:
            msg += "; the current transaction is aborted and must be rolled back"
        elif status == pq.TransactionStatus.INTRANS:
            msg += "; the check ran in a savepoint, the current transaction is still usable"
        raise ExtensionNotInstalledError(msg) from ex
    assert row is not None
    return str(row[0]), bool(row[1])


#: ``execute(query, params=None) -> rows``, awaited: what an async
#: ``prepare`` hook receives (``%s`` placeholders; ``[]`` for a statement
#: without rows).
AsyncExecute = Callable[..., Awaitable[List[Tuple[Any, ...]]]]

#: A hook run on the load's connection, in its transaction, after the
#: extension check and before the COPY (the DDL of ``create=``).
AsyncPrepare = Callable[[AsyncExecute], Awaitable[Any]]

#: Called after each batch: ``report(rows, nbytes)``.
Report = Callable[[int, int], None]


def _execute_on(conn: "psycopg.AsyncConnection[Any]") -> AsyncExecute:
    async def execute(query: Any, params: Optional[Sequence[Any]] = None
                      ) -> List[Tuple[Any, ...]]:
        cur = await conn.execute(query, params)
        return list(await cur.fetchall()) if cur.description is not None else []

    return execute


async def _upsert_start(conn: "psycopg.AsyncConnection[Any]", upsert: Upsert) -> None:
    """The async twin of :meth:`zcimport._upsert.Upsert.start`."""
    execute = _execute_on(conn)
    if upsert.keys is None:
        upsert.set_primary_key(await execute(*upsert.primary_key_query()))
    stmt = upsert.create_stage_sql()
    log.debug("zcimport: %s", stmt)
    await execute(stmt)
    await execute(upsert.check_sql())


async def _upsert_finish(conn: "psycopg.AsyncConnection[Any]", upsert: Upsert,
                         copied: int) -> int:
    """The async twin of :meth:`zcimport._upsert.Upsert.finish`."""
    stmt = upsert.insert_sql()
    log.debug("zcimport: %s", stmt)
    rows = (await conn.execute(stmt)).rowcount
    await conn.execute(upsert.drop_stage_sql())
    upsert.log_done(copied, rows)
    return rows


async def load_async(
    conn: "psycopg.AsyncConnection[Any]",
    plan: Plan,
    table: TableArg,
    batch_rows: int,
    freeze: bool = False,
    *,
    report: Optional[Report] = None,
    prepare: Optional[AsyncPrepare] = None,
    upsert: Optional[Upsert] = None,
) -> int:
    """COPY a planned frame on an AsyncConnection, in its current transaction.

    ``prepare`` (awaited with an :data:`AsyncExecute`) runs after the
    extension check and before the COPY; ``report(rows, nbytes)`` is called
    after each batch has been sent.  ``upsert``
    (:class:`zcimport._upsert.Upsert`) makes the COPY go into a staging
    table, inserted into the table with ON CONFLICT afterwards; the INSERT's
    row count is then returned.
    """
    version, server_gss = await check_extension_async(conn)
    raw, desc = transport(conn, server_gss)  # type: ignore[arg-type]
    stmt = copy_statement(table, [c.name for c in plan], freeze)
    if prepare is not None:
        await prepare(_execute_on(conn))
    if upsert is not None:
        await _upsert_start(conn, upsert)
        stmt = copy_statement(upsert.stage_table, [c.name for c in plan], freeze)
    log.debug("zcimport: server library %s; %d rows, %d columns, batches of %d rows,"
              " via %s (asyncio)", version, plan.rows, len(plan), batch_rows, desc)
    t0 = time.perf_counter()
    client_error: Optional[BaseException] = None
    async with conn.cursor() as cur:
        writer = AsyncZcWriter(cur, raw=raw, transport_desc=desc)
        try:
            async with cur.copy(stmt, writer=writer) as copy:
                try:
                    await _send_stream(copy, writer, plan, batch_rows, report)
                except BaseException as ex:
                    if not isinstance(ex, psycopg.Error):
                        client_error = ex
                    raise
        except pg_errors.QueryCanceled:
            # psycopg ended the COPY with CopyFail because of an exception
            # on this side (a cancellation, a packing error, a progress
            # callback) and raised the server's answer in its place: raise
            # the original (the server's answer is its __context__).
            if isinstance(client_error, asyncio.CancelledError):
                raise asyncio.CancelledError() from None
            if client_error is not None:
                raise client_error
            raise
        except (asyncio.CancelledError, KeyboardInterrupt) as ex:
            if writer.finishing or conn.closed:
                raise  # the writer ended the COPY
            if conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                raise  # before the COPY was sent
            # cancelled while psycopg was starting the COPY: psycopg 3.1
            # leaves the connection in it, with nobody to end it.  End it.
            try:
                await writer.finish(ex)
            except psycopg.Error:
                pass  # the server's answer to the CopyFail
            raise
        except Exception as ex:
            if ex is client_error:
                _answer_as_context(ex, writer)  # the COPY was ended with CopyFail because of it
            raise
        rows = cur.rowcount
    log.debug("zcimport: loaded %d rows (%d bytes) in %.3f s via %s (asyncio)",
              rows, writer.bytes_sent, time.perf_counter() - t0, desc)
    if upsert is not None:
        rows = await _upsert_finish(conn, upsert, rows)
    return rows


async def _send_stream(copy: "psycopg.AsyncCopy", writer: AsyncZcWriter, plan: Plan,
                       batch_rows: int, report: Optional[Report] = None) -> None:
    """Send the whole stream of a planned frame in an open COPY."""
    # Packing a batch of strings takes a while: do it off the event loop.
    pack_in_thread = not plan.zero_copy
    chunks = iter_chunks(plan, batch_rows)
    # Through AsyncCopy.write, so that psycopg knows data was sent (and
    # does not append PostgreSQL's binary trailer).
    (header,) = next(chunks)
    await copy.write(header)
    while True:
        if pack_in_thread:
            chunk, cancelled = await _in_thread(functools.partial(next, chunks, None))
            if cancelled:
                raise asyncio.CancelledError()
        else:
            chunk = next(chunks, None)
        if chunk is None:
            break
        rows = _chunk_rows(chunk) if report is not None else 0
        nbytes = sum(memoryview(p).nbytes for p in chunk) if report is not None else 0
        sent = await writer.send(chunk)
        del chunk  # release a packed batch before the next one is packed
        if not sent:
            break
        if report is not None:
            report(rows, nbytes)


def _reporter(progress: Any) -> Optional[Report]:
    """report(rows, nbytes) for progress= (a Progress, or a callable of rows)."""
    if progress is None or progress is False:
        return None
    update = getattr(progress, "update", None)
    if callable(update):  # zcimport.Progress
        return lambda rows, nbytes: update(rows, nbytes)
    if callable(progress):
        return lambda rows, nbytes: progress(rows) if rows else None
    raise TypeError(
        f"progress must be a bool, a Progress or a callable, not {type(progress).__name__}")


def _table_text(conn: "psycopg.AsyncConnection[Any]", table: TableArg) -> Any:
    """The table in a form zcimport._ddl can render without a connection."""
    from . import _ddl

    if isinstance(table, sql.Composable) and not isinstance(table, (sql.Identifier, sql.SQL)):
        try:
            _ddl.render(table)
        except TypeError:
            return sql.SQL(table.as_string(conn))
    return table


def _create_hook(conn: "psycopg.AsyncConnection[Any]", table: TableArg, plan: Plan,
                 if_exists: str, primary_key: Optional[Sequence[str]] = None) -> AsyncPrepare:
    """The async twin of the DDL step of ``create=True`` (zcimport._ddl)."""
    from . import _ddl

    target = _table_text(conn, table)
    columns = _ddl.column_types(plan)

    async def prepare(execute: AsyncExecute) -> str:
        query, params = _ddl.exists_query(target)
        rows = await execute(query, params)
        exists = bool(rows and rows[0][0])
        for stmt in _ddl.ddl_statements(target, columns, if_exists, exists, primary_key):
            log.debug("zcimport: %s", stmt)
            await execute(stmt)
        action = "created" if not exists else {
            "replace": "replaced", "truncate": "truncated"}.get(if_exists, "kept")
        log.info("zcimport: table %s %s", _ddl.table_name(target), action)
        return action

    return prepare


async def copy_dataframe_async(
    df: Any,
    table: TableArg,
    conn: Union["psycopg.AsyncConnection[Any]", str],
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
    freeze: bool = False,
    create: bool = False,
    if_exists: str = "fail",
    progress: Any = False,
    on_conflict: Optional[str] = None,
    conflict_columns: ConflictColumnsArg = None,
) -> int:
    """Load a DataFrame into a table, on a psycopg 3 ``AsyncConnection``.

    The asyncio form of :func:`zcimport.copy_dataframe`: same arguments,
    same stream, same errors.  The event loop keeps running during the load
    (socket writes and packing run in the loop's default executor).

    Args:
        df, table, columns, batch_rows, nan_as_null, freeze: as for
            :func:`zcimport.copy_dataframe` (a DataFrame, a mapping of
            arrays, or an Arrow source: Table, RecordBatchReader, polars,
            ``__arrow_c_stream__``...).
        conn: a ``psycopg.AsyncConnection``: the load runs in its current
            transaction (or implicitly starts one), which is not committed.
            Or a connection string (conninfo or URL): an AsyncConnection is
            opened, the load committed, and the connection closed (rolled
            back on error).
        create, if_exists: as for :func:`zcimport.copy_dataframe`: create
            (replace, truncate, keep) the table from the frame's dtypes
            first, in the load's transaction (on an autocommit connection,
            the DDL and the COPY run in one transaction block).
        progress: as for :func:`zcimport.copy_dataframe`: True draws a tqdm
            bar on stderr; a :class:`zcimport.Progress` or a callable of each
            batch's row count is reported to.
        on_conflict, conflict_columns: an upsert, as for
            :func:`zcimport.copy_dataframe`: ``"nothing"`` or ``"update"``,
            on the primary key or on ``conflict_columns`` (on an autocommit
            connection, in one transaction block).

    Returns:
        The number of rows loaded (for an upsert: the rows the INSERT ...
        ON CONFLICT inserted or updated).

    Raises:
        TypeError, ValueError: as for :func:`zcimport.copy_dataframe`,
            before anything is sent; TypeError for a connection of another
            kind.
        ExtensionNotInstalledError: the extension is not installed.
        zcimport.TableExistsError: ``create=True``, ``if_exists="fail"`` and
            the table exists.
        zcimport.NoConflictTargetError: ``on_conflict`` without
            ``conflict_columns`` and the table has no primary key (SQLSTATE
            42P10).
        psycopg.Error: the server's errors, with their ``sqlstate``.
        asyncio.CancelledError: the task was cancelled; the COPY was ended
            with CopyFail (nothing is loaded) and the connection's
            transaction is in error.
    """
    if create or if_exists != "fail":
        from ._ddl import check_if_exists

        check_if_exists(create, if_exists)
    keys = check_on_conflict(on_conflict, conflict_columns, freeze=freeze, create=create)
    the_plan = make_plan(df, columns=columns, nan_as_null=nan_as_null)
    batch = resolve_batch_rows(the_plan, batch_rows)
    table_identifier(table)  # validate before connecting
    if isinstance(conn, psycopg.Connection):
        raise TypeError("a synchronous psycopg Connection: use zcimport.copy_dataframe(...)")
    if not isinstance(conn, (str, psycopg.AsyncConnection)):
        raise TypeError(
            "conn must be a psycopg 3 AsyncConnection or a connection string,"
            f" not {type(conn).__module__}.{type(conn).__name__}"
        )

    bar: Any = progress
    if isinstance(progress, bool):
        from ._progress import make_progress

        bar = make_progress(progress, total_rows=the_plan.rows)
    report = _reporter(bar)

    async def run(c: "psycopg.AsyncConnection[Any]") -> int:
        prepare = _create_hook(c, table, the_plan, if_exists, keys) if create else None
        upsert = make_upsert(_table_text(c, table), [p.name for p in the_plan], on_conflict,
                             keys)
        if (create or upsert is not None) and c.autocommit:
            async with c.transaction():
                return await load_async(c, the_plan, table, batch, freeze,
                                        report=report, prepare=prepare, upsert=upsert)
        return await load_async(c, the_plan, table, batch, freeze,
                                report=report, prepare=prepare, upsert=upsert)

    try:
        if isinstance(conn, str):
            async with await psycopg.AsyncConnection.connect(conn) as own:
                return await run(own)
        return await run(conn)
    finally:
        if isinstance(progress, bool) and bar is not None and hasattr(bar, "close"):
            bar.close()
