"""The I/O of a load, written once, run by a synchronous or an asyncio driver.

The COPY writers (:class:`zcimport._copy.ZcWriter` and its asyncio twin
:class:`zcimport._async.AsyncZcWriter`) and the loading flow around them
(extension check, DDL, upsert statements, the COPY) are written as
generators that do no I/O of their own: they *yield* an operation (one of
the small classes below) and are sent its result, as psycopg's own
``psycopg.generators`` are.  :func:`run` performs each operation with
blocking calls on a ``psycopg.Connection``; :func:`run_async` performs it
on a ``psycopg.AsyncConnection`` without blocking the event loop.  An
exception of an operation (a socket error, a KeyboardInterrupt landing
inside it, a cancelled task) is thrown into the generator at its ``yield``,
so that the generator's own ``try`` blocks see it as if the call had been
made in place.

The operations:

* :class:`Call` -- a blocking call (``_wire.send_copy_data``, packing a
  batch): made in place by :func:`run`, in the loop's default executor by
  :func:`run_async` (see :func:`in_thread`).
* :class:`Readable` -- wait until a socket is readable, or a timeout.
* :class:`PgWait` -- run a psycopg generator (``connection.wait(gen)``).
* :class:`Write` -- ``copy.write(data)`` on the open ``Copy``.
* :class:`Close` -- close the connection (after a broken COPY).
* :class:`Query` -- run a statement; its result is ``(rows, rowcount)``.
* :class:`Rollback` -- roll the connection's transaction back.
* :class:`Hook` -- call a ``prepare`` hook with an ``execute`` function.
* :class:`CopyStream` -- run a COPY statement and send a stream
  (the driver's ``copy_stream`` callable does it).

This module imports nothing else of the package.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import select
from typing import (
    Any,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

log = logging.getLogger("zcimport")

T = TypeVar("T")


class Call(NamedTuple):
    """Call ``fn()``; ``in_thread``: off the event loop (asyncio driver only)."""

    fn: Callable[[], Any]
    in_thread: bool = True


class Readable(NamedTuple):
    """Wait until ``fd`` is readable, or ``timeout`` seconds."""

    fd: int
    timeout: float


class PgWait(NamedTuple):
    """Run a psycopg generator on the connection (``connection.wait``)."""

    gen: Any


class Write(NamedTuple):
    """``copy.write(data)`` on the COPY in progress."""

    data: Any


class Close(NamedTuple):
    """Close the connection; ``message`` says why (logged as a warning)."""

    message: str


class Query(NamedTuple):
    """Run ``query`` (``%s`` placeholders); the result is ``(rows, rowcount)``.

    ``savepoint``: run it in a savepoint (``connection.transaction()``).
    """

    query: Any
    params: Optional[Sequence[Any]] = None
    savepoint: bool = False


class Rollback(NamedTuple):
    """Roll the connection's transaction back."""


class Hook(NamedTuple):
    """Call ``fn(execute)``, execute running ``execute(query, params=None) -> rows``
    on the connection (awaited when the asyncio driver's fn returns an awaitable)."""

    fn: Callable[[Any], Any]


class CopyStream(NamedTuple):
    """Run the COPY statement and send the chunks; the result is ``(rows, bytes)``."""

    stmt: Any
    chunks: Iterable[Sequence[Any]]
    raw: bool
    transport: str
    report: Optional[Callable[[int, int], None]]
    pack_in_thread: bool = False


Op = Union[Call, Readable, PgWait, Write, Close, Query, Rollback, Hook, CopyStream]

#: A generator of operations returning a T.
Gen = Generator[Op, Any, T]

#: ``run(query, params=None) -> (rows, rowcount)``, what a Query does.
Run = Callable[..., Tuple[List[Any], int]]


class _Steps:
    """A generator of operations, stepped: what both drivers do between operations.

    ``next()`` resumes the generator with the last result (``give``) or
    exception (``throw``) and returns its next operation, or None once it
    has returned (its value is then ``value``).  Each of ``give`` and
    ``throw`` sets what is sent in one assignment: an interruption between
    an operation and the next step leaves one or the other.
    """

    def __init__(self, gen: "Gen[Any]") -> None:
        self._gen = gen
        self._resume: Callable[[Any], Op] = gen.send
        self._arg: Any = None
        self.value: Any = None

    def next(self) -> Optional[Op]:
        try:
            return self._resume(self._arg)
        except StopIteration as stop:
            self.value = stop.value
            return None

    def give(self, result: Any) -> None:
        self._arg, self._resume = result, self._gen.send

    def throw(self, ex: BaseException) -> None:
        self._arg, self._resume = ex, self._gen.throw


def _drive(gen: "Gen[T]", perform: Callable[[Op], Any]) -> T:
    """Drive gen to its end, performing each operation with perform."""
    steps = _Steps(gen)
    op = steps.next()
    while op is not None:
        try:
            steps.give(perform(op))
        except BaseException as ex:  # noqa: B902 - thrown in at the yield
            steps.throw(ex)
        op = steps.next()
    return steps.value  # type: ignore[no-any-return]


def run_queries(gen: "Gen[T]", run_query: Run) -> T:
    """Drive a generator that yields only :class:`Query` operations with ``run_query``
    (any driver's: psycopg, psycopg2...)."""

    def perform(op: Op) -> Any:
        if not isinstance(op, Query):  # pragma: no cover - a bug
            raise TypeError(f"a query generator yielded {op!r}")
        return run_query(op.query, op.params)

    return _drive(gen, perform)


# --------------------------------------------------------------------------
# The synchronous driver
# --------------------------------------------------------------------------


def _rows(cur: Any) -> Tuple[List[Any], int]:
    return (list(cur.fetchall()) if cur.description is not None else []), cur.rowcount


def psycopg_query(conn: Any) -> Run:
    """A :data:`Run` on a psycopg 3 (synchronous) connection."""

    def run_query(query: Any, params: Optional[Sequence[Any]] = None) -> Tuple[List[Any], int]:
        return _rows(conn.execute(query, params))

    return run_query


def _perform(op: Op, conn: Any, copy: Any, copy_stream: Optional[Callable[..., Any]]) -> Any:
    if isinstance(op, Call):
        return op.fn()
    if isinstance(op, Readable):
        select.select([op.fd], [], [], op.timeout)
        return None
    if isinstance(op, PgWait):
        return conn.wait(op.gen)
    if isinstance(op, Write):
        return copy.write(op.data)
    if isinstance(op, Close):
        log.warning("zcimport: closing the connection: %s", op.message)
        conn.close()
        return None
    if isinstance(op, Query):
        if op.savepoint:
            with conn.transaction():
                return _rows(conn.execute(op.query, op.params))
        return _rows(conn.execute(op.query, op.params))
    if isinstance(op, Rollback):
        return conn.rollback()
    if isinstance(op, Hook):
        return op.fn(lambda query, params=None: psycopg_query(conn)(query, params)[0])
    if isinstance(op, CopyStream):
        assert copy_stream is not None
        return copy_stream(conn, op)
    raise TypeError(f"not an operation: {op!r}")  # pragma: no cover - a bug


def run(gen: "Gen[T]", conn: Any, copy: Any = None,
        copy_stream: Optional[Callable[..., Any]] = None) -> T:
    """Drive gen to its end with blocking calls on a psycopg ``Connection``.

    ``copy`` is the open ``Copy`` (for :class:`Write`); ``copy_stream(conn,
    op)`` performs :class:`CopyStream`.  Returns what gen returns.
    """
    return _drive(gen, lambda op: _perform(op, conn, copy, copy_stream))


# --------------------------------------------------------------------------
# The asyncio driver
# --------------------------------------------------------------------------


async def in_thread(fn: Callable[[], T]) -> Tuple[T, bool]:
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


async def wait_readable(fd: int, timeout: float) -> None:
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


async def _rows_async(cur: Any) -> Tuple[List[Any], int]:
    return (list(await cur.fetchall()) if cur.description is not None else []), cur.rowcount


def async_execute(conn: Any) -> Callable[..., Awaitable[List[Any]]]:
    """``execute(query, params=None) -> rows``, awaited, on an AsyncConnection."""

    async def execute(query: Any, params: Optional[Sequence[Any]] = None) -> List[Any]:
        return (await _rows_async(await conn.execute(query, params)))[0]

    return execute


async def _perform_async(op: Op, conn: Any, copy: Any,
                         copy_stream: Optional[Callable[..., Awaitable[Any]]]) -> Any:
    if isinstance(op, Call):
        if not op.in_thread:
            return op.fn()
        value, cancelled = await in_thread(op.fn)
        if cancelled:
            # the call is over: the generator sees the cancellation at its
            # yield (what the call did is in the state it keeps, see
            # zcimport._copy.WriterCore._call)
            raise asyncio.CancelledError()
        return value
    if isinstance(op, Readable):
        return await wait_readable(op.fd, op.timeout)
    if isinstance(op, PgWait):
        return await conn.wait(op.gen)
    if isinstance(op, Write):
        return await copy.write(op.data)
    if isinstance(op, Close):
        log.warning("zcimport: closing the connection: %s", op.message)
        return await conn.close()
    if isinstance(op, Query):
        if op.savepoint:
            async with conn.transaction():
                return await _rows_async(await conn.execute(op.query, op.params))
        return await _rows_async(await conn.execute(op.query, op.params))
    if isinstance(op, Rollback):
        return await conn.rollback()
    if isinstance(op, Hook):
        result = op.fn(async_execute(conn))
        return await result if inspect.isawaitable(result) else result
    if isinstance(op, CopyStream):
        assert copy_stream is not None
        return await copy_stream(conn, op)
    raise TypeError(f"not an operation: {op!r}")  # pragma: no cover - a bug


async def run_async(gen: "Gen[T]", conn: Any, copy: Any = None,
                    copy_stream: Optional[Callable[..., Awaitable[Any]]] = None) -> T:
    """Drive gen to its end on a psycopg ``AsyncConnection``: as :func:`run`, awaited."""
    steps = _Steps(gen)
    op = steps.next()
    while op is not None:
        try:
            steps.give(await _perform_async(op, conn, copy, copy_stream))
        except BaseException as ex:  # noqa: B902 - thrown in at the yield
            steps.throw(ex)
        op = steps.next()
    return steps.value  # type: ignore[no-any-return]


__all__ = ["Call", "Close", "CopyStream", "Gen", "Hook", "Op", "PgWait", "Query", "Readable",
           "Rollback", "Run", "Write", "async_execute", "in_thread", "psycopg_query", "run",
           "run_async", "run_queries", "wait_readable"]
