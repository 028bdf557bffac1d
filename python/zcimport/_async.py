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

The writer, the stream and the load are those of the synchronous path,
written once as generators of operations (:mod:`zcimport._drive`), here
run by :func:`zcimport._drive.run_async`.  So the rest of
:class:`zcimport._copy.ZcWriter`'s protocol guarantees hold:
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
import inspect
import logging
from typing import Any, Awaitable, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, waiting
from psycopg.copy import AsyncLibpqWriter

from ._base import ExtensionNotInstalledError, TableArg, add_client_hint, table_identifier
from ._copy import (
    LoadRequest,
    ProgressArg,
    WriterCore,
    _answer_as_context,
    _reporter,
    check_extension_gen,
    load_request,
    plan_load_gen,
    stream_gen,
)
from ._drive import CopyStream, run_async
from ._encode import Part
from ._libpq import CopyEnd, copy_fail_message
from ._plan import ColumnsArg, Plan
from ._upsert import ConflictColumnsArg, Upsert

log = logging.getLogger("zcimport")

#: psycopg >= 3.2's wait_async() takes the interval between its checks (0,
#: its default, makes it poll without sleeping); 3.1's takes no such argument.
_WAIT_ASYNC_KW = ({"interval": 0.1}
                  if "interval" in inspect.signature(waiting.wait_async).parameters else {})

#: Bytes handed to one executor call of the socket writer.  Bounds how long
#: a cancellation waits for the call in flight.
SLICE_BYTES = 8 << 20

class AsyncZcWriter(WriterCore, AsyncLibpqWriter):
    """The asyncio twin of :class:`zcimport._copy.ZcWriter`.

    ``write(data)`` (what ``AsyncCopy.write`` calls) and ``send(parts)`` go
    through the same path: the raw socket when :attr:`raw` is true (writes
    run in the default executor, at most ``slice_bytes`` a call, see the
    module's docstring), libpq otherwise, in pieces, watching for a server
    error between them (:mod:`zcimport._libpq`).  ``finish`` ends the COPY
    as ``AsyncLibpqWriter.finish`` does, through a cancellation of the task
    (see :meth:`_end_copy`).  The logic is :class:`zcimport._copy.WriterCore`'s.
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
        self._setup(raw, transport_desc, max_message,
                    SLICE_BYTES if slice_bytes is None else slice_bytes)

    async def write(self, data: Any) -> None:
        """Send one buffer (used by ``AsyncCopy.write``)."""
        await self.send([data])

    async def send(self, parts: Sequence[Part]) -> bool:
        """Send the concatenation of parts; False once the writer has stopped."""
        return await run_async(self._send_gen(parts), self.connection)

    async def finish(self, exc: Optional[BaseException] = None) -> None:
        """End the COPY: CopyDone (or CopyFail if exc) and read the result."""
        await run_async(self._finish_gen(), self.connection)
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
        # CopyFail: the server's answer becomes exc's __context__ in
        # load_async (psycopg 3.3 would drop it)
        self._conclude(end, encoding, exc, cancelled)


async def check_extension_async(conn: "psycopg.AsyncConnection[Any]") -> Tuple[str, bool]:
    """The asyncio twin of :func:`zcimport._copy.check_extension`.

    Runs ``SELECT zcimport.version()`` (which loads the server library), in
    a savepoint inside a transaction; returns (version, GSSAPI encryption in
    use).  Raises :class:`ExtensionNotInstalledError` when the extension is
    missing.
    """
    return await run_async(check_extension_gen(conn.info), conn)


#: ``execute(query, params=None) -> rows``, awaited: what an async
#: ``prepare`` hook receives (``%s`` placeholders; ``[]`` for a statement
#: without rows).
AsyncExecute = Callable[..., Awaitable[List[Tuple[Any, ...]]]]

#: A hook run on the load's connection, in its transaction, after the
#: extension check and before the COPY (the DDL of ``create=``).
AsyncPrepare = Callable[[AsyncExecute], Awaitable[Any]]

#: Called after each batch: ``report(rows, nbytes)``.
Report = Callable[[int, int], None]


async def load_async(
    conn: "psycopg.AsyncConnection[Any]",
    plan: Plan,
    table: TableArg,
    batch_rows: int,
    freeze: bool = False,
    *,
    report: Optional[Report] = None,
    prepare: Optional[Any] = None,
    upsert: Optional[Upsert] = None,
) -> int:
    """COPY a planned frame on an AsyncConnection, in its current transaction.

    ``prepare`` (a :class:`zcimport._copy.CreateTable`, or a hook awaited
    with an :data:`AsyncExecute`) runs after the extension check and before
    the COPY; ``report(rows, nbytes)`` is called after each batch has been
    sent.  ``upsert`` (:class:`zcimport._upsert.Upsert`) makes the COPY go
    into a staging table, inserted into the table with ON CONFLICT
    afterwards; the INSERT's row count is then returned.
    """
    # Packing a batch of strings takes a while: do it off the event loop.
    gen = plan_load_gen(conn, plan, table, batch_rows, freeze, prepare=prepare, report=report,
                        upsert=upsert, pack_in_thread=not plan.zero_copy)
    return await run_async(gen, conn, copy_stream=_copy_stream)


async def _copy_stream(conn: "psycopg.AsyncConnection[Any]", op: CopyStream) -> Tuple[int, int]:
    """Run the COPY statement and send the stream (a CopyStream operation); (rows, bytes)."""
    client_error: Optional[BaseException] = None
    async with conn.cursor() as cur:
        writer = AsyncZcWriter(cur, raw=op.raw, transport_desc=op.transport)
        try:
            async with cur.copy(op.stmt, writer=writer) as copy:
                try:
                    await _send_stream(copy, writer, op.chunks, op.report, op.pack_in_thread)
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
            elif isinstance(ex, psycopg.Error):
                add_client_hint(ex)  # the Python options that would avoid the server's error
            raise
        return cur.rowcount, writer.bytes_sent


async def _send_stream(copy: "psycopg.AsyncCopy", writer: AsyncZcWriter,
                       chunks: Iterable[Sequence[Part]], report: Optional[Report] = None,
                       pack_in_thread: bool = False) -> None:
    """Send the whole stream in an open COPY (:func:`zcimport._copy.stream_gen`)."""
    await run_async(stream_gen(writer, chunks, report, pack_in_thread), writer.connection, copy)


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
    progress: ProgressArg = False,
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
    req = load_request(df, table, columns=columns, batch_rows=batch_rows,
                       nan_as_null=nan_as_null, freeze=freeze, create=create,
                       if_exists=if_exists, progress=progress, on_conflict=on_conflict,
                       conflict_columns=conflict_columns)
    table_identifier(table)  # not a psycopg2.sql object
    if isinstance(conn, psycopg.Connection):
        raise TypeError("a synchronous psycopg Connection: use zcimport.copy_dataframe(...)")
    if not isinstance(conn, (str, psycopg.AsyncConnection)):
        raise TypeError(
            "conn must be a psycopg 3 AsyncConnection or a connection string,"
            f" not {type(conn).__module__}.{type(conn).__name__}"
        )
    if isinstance(conn, str):
        async with await psycopg.AsyncConnection.connect(conn) as own:
            return await load_request_async(req, own)
    return await load_request_async(req, conn)


async def load_request_async(req: LoadRequest, conn: "psycopg.AsyncConnection[Any]") -> int:
    """Run a load (:class:`zcimport._copy.LoadRequest`) on an AsyncConnection, in its
    current transaction (in a transaction block of its own on an autocommit
    connection, when it runs DDL or an upsert)."""
    with req.progress_bar() as bar:
        gen, block = req.gen(conn, _reporter(bar), pack_in_thread=not req.plan.zero_copy)
        if block and conn.autocommit:
            async with conn.transaction():
                return await run_async(gen, conn, copy_stream=_copy_stream)
        return await run_async(gen, conn, copy_stream=_copy_stream)
