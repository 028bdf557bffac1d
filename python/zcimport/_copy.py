"""The database side: COPY ... FROM STDIN WITH (FORMAT zcimport) via psycopg 3.

psycopg runs the COPY: it sends the statement and receives CopyInResponse;
on exit of the ``cursor.copy()`` block, the writer sends CopyDone (CopyFail
after an exception) and reads the result (raising the server's error, if
any).  In between, :class:`ZcWriter`, a :class:`psycopg.copy.LibpqWriter`,
sends the stream.  When the connection is neither SSL- nor
GSSAPI-encrypted, it writes CopyData messages straight to the socket with
``zcimport._wire.send_copy_data`` (sendmsg() pointing into the DataFrame's
memory); otherwise it falls back to libpq's PQputCopyData, which copies
(:mod:`zcimport._libpq`).  On both paths it stops sending once the server
has reported an error.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import logging
import os
import time
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import generators, pq, sql
from psycopg.copy import LibpqWriter
from psycopg.waiting import Wait

from . import _dbapi
from ._base import (
    MISSING_EXTENSION_SQLSTATES,
    ExtensionNotInstalledError,
    add_client_hint,
    Prepare,
    TableArg,
    copy_statement,
    extension_missing_message,
    table_identifier,
)
from ._ddl import (
    Execute,
    check_if_exists,
    column_types,
    execute_as_run,
    prepare_table_gen,
    render,
    split_table_name,
    table_name,
)
from ._drive import (
    Call,
    Close,
    CopyStream,
    Gen,
    Hook,
    PgWait,
    Query,
    Readable,
    Rollback,
    Write,
    run,
    run_queries,
)
from ._encode import Chunk, FrameStream, Part, iter_chunks
from ._libpq import CopyEnd, ErrorWatch, copy_fail_message, pieces, put_gen, wait_through_interrupts
from ._plan import ColumnsArg, Plan, make_plan, resolve_batch_rows
from ._progress import Progress, progress_bar, reporter
from ._upsert import ConflictColumnsArg, Upsert, check_on_conflict, make_upsert

try:
    from . import _wire
except ImportError:  # pragma: no cover - the C module is not built
    _wire = None  # type: ignore[assignment]

#: The C module is built (else only the libpq path is usable).
_WIRE_BUILT = _wire is not None

log = logging.getLogger("zcimport")

#: Payload bytes per CopyData message on the socket path.  The stream's
#: framing is independent of CopyData boundaries; smaller messages let the
#: server read them without buffering a whole batch twice, and let the client
#: notice a server error sooner (it checks before each message).
MESSAGE_BYTES = 1 << 20

#: Force the libpq fallback even on unencrypted connections (for tests).
FORCE_LIBPQ = False


#: Re-exported from zcimport._ddl, where it moved (the name of older releases).
_split_table_name = split_table_name


# --------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------


def _gss_enc_in_use(pgconn: Any) -> Optional[bool]:
    """PQgssEncInUse() through psycopg's ctypes libpq; None if unknown."""
    if pq.__impl__ != "python":
        return None  # another libpq may be loaded; ask the server instead
    try:
        from psycopg.pq import _pq_ctypes

        libpq = getattr(_pq_ctypes, "pq")  # the ctypes CDLL
        fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(("PQgssEncInUse", libpq))
    except (ImportError, AttributeError):  # pragma: no cover - libpq < 12
        return None
    ptr = pgconn.pgconn_ptr
    if ptr is None:
        return None
    return bool(fn(ptr))


def transport(conn: "psycopg.Connection[Any]", server_gss: Optional[bool] = None) -> Tuple[bool, str]:
    """(raw socket usable, description) for this connection."""
    pgconn = conn.pgconn
    if not _WIRE_BUILT:
        return False, "libpq (the zcimport._wire C module is not built)"
    if FORCE_LIBPQ:
        return False, "libpq (forced)"
    if pgconn.ssl_in_use:
        return False, "libpq (SSL is in use)"
    # Either libpq or the server (pg_stat_gssapi) saying so is enough.
    client_gss = _gss_enc_in_use(pgconn)
    gss = None if client_gss is None and server_gss is None else bool(client_gss or server_gss)
    if gss:
        return False, "libpq (GSSAPI encryption is in use)"
    if gss is None:
        return True, "socket (unless GSSAPI encryption is in use)"
    return True, "socket"


def _flush_gen(pgconn: Any) -> Any:
    """A psycopg generator: flush libpq's output buffer."""
    while pgconn.flush() != 0:
        yield Wait.W


def _skip(parts: Sequence[Part], n: int) -> List[Part]:
    """parts without their first n bytes."""
    out: List[Part] = []
    for p in parts:
        view = memoryview(p)
        size = view.nbytes
        if n >= size:
            n -= size
            continue
        if n:
            out.append(view.cast("B")[n:])
            n = 0
        else:
            out.append(p)
    return out


def _take(parts: Sequence[Part], n: int) -> List[Part]:
    """The first n bytes of parts."""
    out: List[Part] = []
    for p in parts:
        if n <= 0:
            break
        view = memoryview(p)
        size = view.nbytes
        if size <= n:
            out.append(p)
        else:
            out.append(view.cast("B")[:n])
        n -= size
    return out


#: Messages the server may send during COPY IN besides an error: these are
#: read and handled by the writer; anything else is left for libpq.
_ASYNC_MESSAGES = b"NSA"  # NoticeResponse, ParameterStatus, NotificationResponse

def _parse_fields(body: bytes) -> Dict[int, Optional[bytes]]:
    """The fields of an ErrorResponse/NoticeResponse body, by field code."""
    fields: Dict[int, Optional[bytes]] = {}
    i = 0
    while i < len(body) and body[i] != 0:
        j = body.index(b"\0", i + 1)
        fields[body[i]] = body[i + 1 : j]
        i = j + 1
    return fields


class ServerInput:
    """What the server sends while the writer writes behind libpq's back.

    During COPY IN the server only speaks to report a problem (an
    ErrorResponse, followed by ReadyForQuery) or to pass on notices (RAISE
    NOTICE in a trigger, WARNINGs...), rarely a ParameterStatus.  libpq does
    not read while zcimport writes to the socket, so this class does: it
    reads NoticeResponse, ParameterStatus and NotificationResponse messages
    *whole* (possibly over several calls), so that the socket always stays
    aligned on a message boundary, and leaves any other message unread, for
    libpq to read after CopyDone.  Notices are handed to psycopg's notice
    handlers (``pgconn.notice_handler``, as a field dict, which
    ``psycopg.errors.Diagnostic`` accepts) and logged at DEBUG;
    ParameterStatus and notifications are only logged (libpq does not see
    them).
    """

    def __init__(self, pgconn: Any) -> None:
        self._pgconn = pgconn
        self._fd = pgconn.socket
        self._msg: Optional[bytearray] = None  # the async message being read
        self._need = 0  # its length, once its header is known (else 5)
        #: Notices read so far.
        self.notices = 0

    @property
    def in_message(self) -> bool:
        """True while an async message has been read only in part."""
        return self._msg is not None

    def drain(self) -> bool:
        """Read the async messages that are available, without blocking.

        Returns True when something else is waiting (an error, or the end of
        the connection) at a message boundary, False otherwise.
        """
        while True:
            if self._msg is None:
                head = _wire.peek(self._fd, 1)
                if head is None:
                    return False
                if not head or head[0] not in _ASYNC_MESSAGES:
                    return True  # EOF, ErrorResponse, ...
                self._msg = bytearray()
                self._need = 5
            try:
                b = os.read(self._fd, self._need - len(self._msg))
            except BlockingIOError:
                return False
            except InterruptedError:
                continue
            if not b:
                raise psycopg.OperationalError(
                    "the server closed the connection in the middle of a message")
            self._msg += b
            if self._need == 5 and len(self._msg) == 5:
                length = int.from_bytes(self._msg[1:5], "big")
                if length < 4:
                    raise psycopg.OperationalError(
                        f"invalid message length {length} from the server")
                self._need = 1 + length
            if len(self._msg) == self._need:
                msg, self._msg = bytes(self._msg), None
                self._dispatch(msg[:1], msg[5:])

    def complete_gen(self) -> Gen[None]:
        """Until an async message read in part has been read whole (a generator
        of :mod:`zcimport._drive` operations)."""
        while self._msg is not None:
            self.drain()
            if self._msg is not None:
                yield Readable(self._fd, 0.1)

    def complete(self) -> None:
        """Block until an async message read in part has been read whole."""
        run(self.complete_gen(), None)

    def _dispatch(self, kind: bytes, body: bytes) -> None:
        if kind == b"N":
            self.notices += 1
            fields = _parse_fields(body)
            log.debug("zcimport: server notice during COPY: %s: %s",
                      (fields.get(ord("S")) or b"").decode("utf-8", "replace"),
                      (fields.get(ord("M")) or b"").decode("utf-8", "replace"))
            handler = getattr(self._pgconn, "notice_handler", None)
            if handler is not None:
                try:
                    handler(fields)
                except Exception:  # pragma: no cover - psycopg logs its own
                    log.exception("zcimport: error in a notice handler")
        elif kind == b"S":
            name, _, rest = body.partition(b"\0")
            log.debug("zcimport: parameter status during COPY (not seen by libpq): %s = %s",
                      name.decode("utf-8", "replace"),
                      rest.rstrip(b"\0").decode("utf-8", "replace"))
        else:
            log.debug("zcimport: notification during COPY dropped: %r", body)


def byte_views(parts: Sequence[Part]) -> Iterator[memoryview]:
    """The parts as 1-D byte memoryviews (for the libpq fallback's writes)."""
    for p in parts:
        view = memoryview(p)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        yield view


class WriterCore:
    """The COPY writer's logic, written once for the sync and async writers.

    The methods ending in ``_gen`` are generators of
    :mod:`zcimport._drive` operations: :class:`ZcWriter` runs them with
    :func:`zcimport._drive.run`, :class:`zcimport._async.AsyncZcWriter`
    with :func:`zcimport._drive.run_async`.  A subclass is also a psycopg
    ``LibpqWriter`` (``AsyncLibpqWriter``), which gives ``connection``,
    ``cursor`` and ``_pgconn``.

    The raw path calls ``_wire.send_copy_data`` (a :class:`Call`: in place,
    or in a worker thread) in a loop and hands each result to
    :meth:`_after_send`, which counts the bytes, reads the server's
    notices, and decides whether to go on (and with what), to stop because
    the server reported an error (never in the middle of a CopyData
    message), or to return.

    Before each call the writer stores, in one assignment, the parts it
    passes and the progress list the call fills in (``_call``): whatever
    interrupts the writer (a KeyboardInterrupt in the call or in the
    Python code around it, a cancelled task), ``_call`` tells how much of
    a CopyData message went out, and :meth:`_owed_parts` what its rest
    is.  ``finish`` sends that rest, the stream's own bytes, before
    CopyFail: the server then has a well-formed prefix of the stream, and
    answers the CopyFail with QueryCanceled.  (Any other filling, zeros
    say, would be decoded before the CopyFail is read, and would fail the
    COPY as an invalid stream.)
    """

    connection: Any
    cursor: Any
    _pgconn: Any
    #: (parts, [sent, owed]) of the last send_copy_data call: its parts
    #: and the progress it reported (or [0, in_message] before it has).
    _call: Tuple[Sequence[Part], List[int]] = ((), [0, 0])

    def _setup(self, raw: Optional[bool], transport_desc: str, max_message: Optional[int],
               slice_bytes: Optional[int]) -> None:
        if raw is None:
            raw, transport_desc = transport(self.connection)
        self.raw: bool = raw
        self.transport: str = transport_desc
        self.max_message: int = MESSAGE_BYTES if max_message is None else max_message
        #: Bytes handed to one send_copy_data call at the most (None: no limit).
        self.slice_bytes: Optional[int] = slice_bytes
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
        #: The server's error that ended the COPY, once ``finish`` has read it.
        self.end_error: Optional[BaseException] = None
        if not raw:
            log.info("zcimport: sending COPY data through libpq, which copies it: %s",
                     transport_desc)

    # -- sending

    def _send_gen(self, parts: Sequence[Part]) -> Gen[bool]:
        """Send the concatenation of parts; False once the writer has stopped."""
        if self.stopped:
            return False
        if not self.raw:
            return (yield from self._send_libpq_gen(parts))
        return (yield from self._send_raw_gen(list(parts), 0, stop_on_error=True))

    def _send_libpq_gen(self, parts: Sequence[Part]) -> Gen[bool]:
        if self._watch is None:
            self._watch = ErrorWatch(self._pgconn)
        watch = self._watch
        for piece in pieces(byte_views(parts)):
            watch.poll()
            while watch.suspected:  # pause until it is confirmed or explained
                if watch.confirmed():
                    return self._stop()
                yield Readable(watch.fd, watch.remaining())
                watch.poll()
            yield PgWait(put_gen(self._pgconn, piece, watch))
            self.bytes_sent += piece.nbytes
        return True

    def _send_raw_gen(self, parts: List[Part], in_message: int, *,
                      stop_on_error: bool) -> Gen[bool]:
        if self._input is None:
            # libpq must have nothing of its own queued before our bytes.
            yield PgWait(_flush_gen(self._pgconn))
            self._input = ServerInput(self._pgconn)
        remaining = sum(memoryview(p).nbytes for p in parts)
        while True:
            # at most slice_bytes per call (but a message's rest whole)
            n = remaining if self.slice_bytes is None else max(
                in_message, min(remaining, self.slice_bytes))
            piece = parts if n >= remaining else _take(parts, n)
            if not (yield from self._send_piece_gen(piece, in_message, stop_on_error)):
                return False
            remaining -= n
            if remaining <= 0:
                return True
            parts = _skip(parts, n)
            in_message = 0

    def _send_piece_gen(self, parts: List[Part], in_message: int,
                        stop_on_error: bool) -> Gen[bool]:
        assert self._input is not None
        fd = self._pgconn.socket
        error_pending = False
        while True:
            # what is true if the call fails before it sends anything; one
            # assignment, so that an interruption sees the old or the new
            progress = [0, in_message]
            self._call = (parts, progress)
            call = functools.partial(
                _wire.send_copy_data, fd, parts, max_message=self.max_message,
                in_message=in_message, progress=progress, watch_input=not error_pending)
            try:
                sent, has_data, owed = yield Call(call)
            except GeneratorExit:
                raise
            except BaseException as ex:  # the progress list says what was sent
                self._interrupted(ex, progress[0])
                raise
            result, parts, in_message, error_pending = self._after_send(
                parts, sent, has_data, owed, error_pending, stop_on_error)
            if result is not None:
                self._call = ((), [0, 0])  # at a boundary; drop the parts
                return result

    @property
    def _owed(self) -> int:
        """Payload bytes of a CopyData message left half sent (0 at a boundary)."""
        return int(self._call[1][1] or 0)

    def _owed_parts(self) -> Tuple[List[Part], int]:
        """The rest of the CopyData message left half sent, and its length."""
        parts, progress = self._call
        sent, owed = int(progress[0] or 0), int(progress[1] or 0)
        if owed <= 0:
            return [], 0
        rest = _take(_skip(parts, sent), owed)
        if sum(memoryview(p).nbytes for p in rest) != owed:  # pragma: no cover - a bug
            raise AssertionError(f"the half-sent message lacks {owed} bytes, parts have fewer")
        return rest, owed

    def _after_send(
        self,
        parts: List[Part],
        sent: int,
        has_data: bool,
        owed: int,
        error_pending: bool,
        stop_on_error: bool,
    ) -> Tuple[Optional[bool], List[Part], int, bool]:
        """After a send: (result or None to go on, parts, in_message, error_pending)."""
        self.bytes_sent += sent
        if not has_data:
            if error_pending and stop_on_error:
                return self._stop(), parts, 0, error_pending
            return True, parts, 0, error_pending
        parts = _skip(parts, sent)
        assert self._input is not None
        try:
            # Read notices (also mid-message: a server blocked writing them
            # to us would never read the rest of the message).
            if self._input.drain():
                error_pending = True
        except BaseException as ex:
            self._interrupted(ex, 0)
            raise
        if error_pending and stop_on_error:
            if owed == 0:
                return self._stop(), parts, 0, error_pending
            parts = _take(parts, owed)  # finish this message only
        return None, parts, owed, error_pending

    def _stop(self) -> bool:
        """Stop sending: the server has reported something (an error)."""
        log.debug("zcimport: the server has reported something; stop sending after %d bytes",
                  self.bytes_sent)
        self.stopped = True
        return False

    def _interrupted(self, ex: BaseException, sent: int) -> None:
        """Record the state when sending raised ex (``_call`` holds the rest)."""
        self.bytes_sent += sent
        if isinstance(ex, (OSError, psycopg.OperationalError)):
            self._broken = ex  # the connection is gone or unusable

    # -- ending

    def _finish_gen(self) -> Gen[None]:
        """Before CopyDone/CopyFail: complete a half-sent message and a half-read one."""
        self.finishing = True
        if self._broken is not None:
            yield from self._close_gen(
                f"the connection broke while sending COPY data: {self._broken}")
        rest, owed = self._owed_parts()
        if owed:
            # Interrupted inside a CopyData message (e.g. KeyboardInterrupt):
            # complete it with the rest of its bytes, to keep the protocol in
            # sync and the stream well-formed; exc is set, so CopyFail
            # follows and the server answers QueryCanceled.
            self._call = ((), [0, 0])
            try:
                yield from self._send_raw_gen(rest, owed, stop_on_error=False)
            except GeneratorExit:
                raise
            except BaseException as ex:
                yield from self._close_gen(
                    f"COPY was interrupted inside a message and could not be completed: {ex}")
            del rest
        if self._input is not None and self._input.in_message:
            try:
                # libpq must start reading at a boundary
                yield from self._input.complete_gen()
            except GeneratorExit:
                raise
            except BaseException as ex:
                yield from self._close_gen(f"could not read a message from the server: {ex}")
        if self._watch is not None:
            self._watch.close()

    def _close_gen(self, message: str) -> Gen[None]:
        yield Close(message)
        raise psycopg.OperationalError(message)

    def _conclude(self, end: CopyEnd, encoding: str, exc: Optional[BaseException],
                  interrupt: Optional[BaseException]) -> None:
        """After CopyDone (CopyFail if exc): the COPY's result, or its error raised.

        ``interrupt``: a KeyboardInterrupt or CancelledError that came while
        the end was awaited; it is raised last, with the server's error, if
        any, as its ``__context__``.
        """
        outcome = end.outcome(encoding)
        if isinstance(outcome, BaseException):
            self.end_error = outcome
            if interrupt is not None:
                try:
                    raise outcome
                except psycopg.Error:
                    raise interrupt  # noqa: B904 - the server's answer is its context
            if exc is None:
                raise outcome
            # CopyFail: exc ended the COPY and leaves the copy block as it
            # is; the server's answer (QueryCanceled, or an error it had
            # reported before) becomes its __context__ in send_stream.  Not
            # raised here: psycopg 3.3 would log it and drop it, 3.1 would
            # raise it in exc's place.
            return
        self.cursor._results = [outcome]  # as LibpqWriter.finish: the COPY's rowcount
        if interrupt is not None:
            raise interrupt


class ZcWriter(WriterCore, LibpqWriter):
    """A psycopg COPY writer that sends buffers without copying them.

    ``write(data)`` (what ``Copy.write`` calls) and ``send(parts)`` both go
    through the same path, so that ordering is preserved: the raw socket
    when :attr:`raw` is true, libpq otherwise.

    On the libpq path, the stream goes in pieces of
    :data:`zcimport._libpq.PIECE_BYTES`, each flushed before the next, and
    before each piece :class:`zcimport._libpq.ErrorWatch` tells whether the
    server has reported an error; if it has, the writer stops as on the
    raw path.

    :meth:`finish` sends CopyDone (CopyFail with an exception) and reads
    the result, as psycopg's does, except that a KeyboardInterrupt while it
    waits does not leave the connection in the middle of the COPY: the
    protocol is completed (a cancel request is sent if the COPY was ending
    normally), and the interrupt is raised afterwards, with the server's
    error, if any, as its ``__context__``.

    On the raw path, before each CopyData message (and whenever it cannot
    write), the writer checks whether the server has sent something.
    Notices are read and passed on (see :class:`ServerInput`), and sending
    goes on.  Anything else (an ErrorResponse) makes the writer stop at the
    next message boundary, without reading it: :attr:`stopped` becomes
    true, further sends are skipped, and psycopg's CopyDone on exit of the
    copy block makes libpq read the error, which psycopg raises.

    A CopyData message that was started is always finished: if sending is
    interrupted inside one (KeyboardInterrupt), :meth:`finish` completes it
    with the rest of its own bytes before CopyFail, so that the server sees
    a well-formed prefix of the stream and answers QueryCanceled; if the
    socket fails (EPIPE...), the connection is closed and
    ``psycopg.OperationalError`` raised.

    The logic is :class:`WriterCore`'s, run with blocking calls.
    """

    def __init__(
        self,
        cursor: "psycopg.Cursor[Any]",
        *,
        raw: Optional[bool] = None,
        transport_desc: str = "",
        max_message: Optional[int] = None,
    ) -> None:
        super().__init__(cursor)
        self._setup(raw, transport_desc, max_message, None)

    def write(self, data: Any) -> None:
        """Send one buffer (used by ``Copy.write``)."""
        self.send([data])

    def send(self, parts: Sequence[Part]) -> bool:
        """Send the concatenation of parts; False once the writer has stopped."""
        return run(self._send_gen(parts), self.connection)

    def finish(self, exc: Optional[BaseException] = None) -> None:
        """End the COPY: CopyDone (or CopyFail if exc) and read the result."""
        run(self._finish_gen(), self.connection)
        self._end_copy(exc)

    def _end_copy(self, exc: Optional[BaseException]) -> None:
        """CopyDone (CopyFail if exc) and the result, through Ctrl-C (see the class)."""
        encoding = self.connection.info.encoding
        end = CopyEnd(self._pgconn, copy_fail_message(encoding, exc))
        interrupt = wait_through_interrupts(self.connection, end, cancel=exc is None,
                                            on_give_up=self._give_up)
        self._conclude(end, encoding, exc, interrupt)

    def _give_up(self, message: str) -> None:
        log.warning("zcimport: closing the connection: %s", message)
        self.connection.close()


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


#: The extension check.  Like every SQL string the client sends, it names
#: every function, operator, type and catalog with its schema, so that
#: nothing in an earlier ``search_path`` schema can stand in for them.
_PROBE = sql.SQL(
    "SELECT zcimport.version(), coalesce((SELECT encrypted FROM pg_catalog.pg_stat_gssapi"
    " WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), false)"
)


def check_extension_gen(info: Any) -> Gen[Tuple[str, bool]]:
    """:func:`check_extension` as a generator of :mod:`zcimport._drive`
    operations; ``info`` is the connection's ``info``."""
    status = info.transaction_status
    try:
        rows, _ = yield Query(_PROBE, savepoint=status == pq.TransactionStatus.INTRANS)
    except psycopg.Error as ex:
        if ex.sqlstate not in MISSING_EXTENSION_SQLSTATES:
            raise
        after = info.transaction_status
        if status == pq.TransactionStatus.IDLE and after == pq.TransactionStatus.INERROR:
            yield Rollback()  # the transaction held nothing but the check
            after = info.transaction_status
        raise ExtensionNotInstalledError(extension_missing_message(
            info.dbname, str(ex.sqlstate), str(ex),
            in_transaction=status == pq.TransactionStatus.INTRANS,
            aborted=after == pq.TransactionStatus.INERROR)) from ex
    return str(rows[0][0]), bool(rows[0][1])


def check_extension(conn: "psycopg.Connection[Any]") -> Tuple[str, bool]:
    """Run ``SELECT zcimport.version()``, which loads the server library.

    Returns (version, GSSAPI encryption in use).  Inside a transaction the
    check runs in a savepoint, so that a failure leaves the caller's
    transaction usable.  Raises :class:`ExtensionNotInstalledError` when the
    extension is missing.
    """
    return run(check_extension_gen(conn.info), conn)


#: What ``progress=`` of the loading functions accepts: ``True``/``False``
#: (a tqdm bar on stderr, or none), a :class:`zcimport._progress.Progress`,
#: or any callable taking the row count of each batch sent.
ProgressArg = Union[bool, Progress, Callable[[int], Any], None]

def _reporter(progress: ProgressArg) -> Optional[Callable[[int, int], None]]:
    """A function of (rows, bytes) reporting to progress, or None.

    Besides what :func:`zcimport._progress.reporter` takes, any object with
    an ``update(rows, nbytes)`` method (what :func:`load_with_driver` hands
    down, as :class:`zcimport._dbapi.StreamReader` takes it).
    """
    update = getattr(progress, "update", None)
    if callable(update) and not callable(progress) and not isinstance(progress, Progress):
        return update  # type: ignore[no-any-return]
    return reporter(progress)


def _chunk_bytes(chunk: Sequence[Part]) -> int:
    return sum(memoryview(p).nbytes for p in chunk)


def stream_gen(writer: WriterCore, chunks: Iterable[Sequence[Part]],
               report: Optional[Callable[[int, int], None]] = None,
               pack_in_thread: bool = False) -> Gen[None]:
    """Send a stream's chunks in an open COPY (a generator of :mod:`zcimport._drive`
    operations, run with the ``Copy`` for :class:`zcimport._drive.Write`).

    The first chunk (the header) goes through ``Copy.write``, so that psycopg
    knows data was sent and does not append PostgreSQL's binary trailer; the
    others through the writer, until it stops.  ``report(rows, nbytes)`` is
    called after each chunk has been handed to the connection (``rows`` is
    the chunk's ``rows`` attribute: a batch's row count, else 0).
    ``pack_in_thread``: the next chunk is made off the event loop (packing
    strings takes a while; asyncio driver only).
    """
    it = iter(chunks)
    first = next(it, None)
    if first is None:
        return
    for part in first:
        yield Write(part)
    if report is not None:
        report(getattr(first, "rows", 0), _chunk_bytes(first))
    del first
    while True:
        chunk = yield Call(functools.partial(next, it, None), in_thread=pack_in_thread)
        if chunk is None:
            break
        rows = getattr(chunk, "rows", 0)
        n = _chunk_bytes(chunk) if report is not None else 0
        sent = yield from writer._send_gen(chunk)
        del chunk  # release a packed batch before the next one is packed
        if not sent:
            break
        if report is not None:
            report(rows, n)


def send_stream(
    conn: "psycopg.Connection[Any]",
    stmt: sql.Composed,
    chunks: Iterable[Sequence[Part]],
    *,
    raw: bool,
    transport_desc: str,
    report: Optional[Callable[[int, int], None]] = None,
) -> Tuple[int, int]:
    """Run the COPY statement and send the stream's chunks; (rows, bytes).

    The first chunk (the header) goes through ``Copy.write``, so that psycopg
    knows data was sent and does not append PostgreSQL's binary trailer; the
    others through the :class:`ZcWriter`.  ``report(rows, nbytes)`` is
    called after each chunk has been handed to the connection (``rows`` is
    the chunk's ``rows`` attribute: a batch's row count, else 0).
    """
    client_error: Optional[BaseException] = None
    with conn.cursor() as cur:
        writer = ZcWriter(cur, raw=raw, transport_desc=transport_desc)
        try:
            with cur.copy(stmt, writer=writer) as copy:
                try:
                    run(stream_gen(writer, chunks, report), conn, copy)
                except BaseException as ex:
                    # the client's own errors (a frame that does not fit the
                    # stream, a value that cannot be packed, a failing
                    # progress callback) and KeyboardInterrupt: psycopg ends
                    # the COPY with CopyFail, and they are raised as they are,
                    # with the server's QueryCanceled as their context
                    if not isinstance(ex, psycopg.Error):
                        client_error = ex
                    raise
        except psycopg.Error as ex:
            if client_error is not None and not conn.closed:
                raise client_error  # the COPY was ended with CopyFail because of it
            add_client_hint(ex)  # the Python options that would avoid the server's error
            raise
        except OSError as ex:
            if writer._broken is None:
                raise
            # the socket failed (EPIPE...): the writer closed the connection
            # when the COPY ended; psycopg 3.3 logs its OperationalError and
            # raises the OSError in its place, 3.1 raises it: raise it on both
            if not conn.closed:
                writer._give_up(f"the connection broke while sending COPY data: {ex}")
            raise psycopg.OperationalError(
                f"the connection broke while sending COPY data: {ex}") from ex
        except KeyboardInterrupt as ex:
            if writer.finishing or conn.closed:
                _answer_as_context(ex, writer)
                raise  # the writer ended the COPY (the server's answer is the context)
            if conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                raise  # before the COPY was sent
            # Ctrl-C while psycopg was starting the COPY: it leaves the
            # connection in COPY IN, with nobody to end it.  End it here.
            try:
                writer.finish(ex)
            except psycopg.Error:
                raise ex  # noqa: B904 - the server's answer is its context
            _answer_as_context(ex, writer)
            raise
        except Exception as ex:
            if ex is client_error:
                _answer_as_context(ex, writer)
            raise
        rows = cur.rowcount
    return rows, writer.bytes_sent


def _answer_as_context(ex: BaseException, writer: WriterCore) -> None:
    """Make the server's answer to CopyFail ex's ``__context__``, if nothing else is."""
    answer = getattr(writer, "end_error", None)
    if answer is not None and answer is not ex and ex.__context__ is None:
        ex.__context__ = answer


def copy_statement_of(table: TableArg, names: Optional[Sequence[str]],
                      freeze: bool = False) -> sql.Composed:
    """:func:`copy_statement`; without a column list when names is None."""
    if names is not None:
        return copy_statement(table, names, freeze)
    options = "FORMAT zcimport, FREEZE" if freeze else "FORMAT zcimport"
    return sql.SQL("COPY {} FROM STDIN WITH (" + options + ")").format(table_identifier(table))


def load_gen(
    conn: Any,
    table: TableArg,
    names: Optional[Sequence[str]],
    chunks: Callable[[], Iterable[Sequence[Part]]],
    *,
    freeze: bool,
    prepare: Optional[Prepare],
    report: Optional[Callable[[int, int], None]],
    what: str,
    upsert: Optional[Upsert] = None,
    pack_in_thread: bool = False,
) -> Gen[int]:
    """A load, as a generator of :mod:`zcimport._drive` operations.

    The extension check, ``prepare`` (a :class:`CreateTable`, whose
    statements are yielded, or any hook called with an ``execute``
    function), an upsert's first statements, the COPY of ``chunks()``
    (:class:`zcimport._drive.CopyStream`), an upsert's INSERT.  ``conn`` is
    only read (its transport).  Returns the rows loaded (the COPY's count;
    for an upsert, the INSERT's).
    """
    version, server_gss = yield from check_extension_gen(conn.info)
    raw, desc = transport(conn, server_gss)
    stmt = copy_statement_of(table, names, freeze)
    log.debug("zcimport: server library %s; %s, via %s", version, what, desc)
    t0 = time.perf_counter()
    if isinstance(prepare, CreateTable):
        yield from prepare.gen()
    elif prepare is not None:
        yield Hook(prepare)
    if upsert is not None:
        # the COPY goes into a staging table (zcimport._upsert)
        assert names is not None
        yield from upsert.start_gen()
        stmt = copy_statement(upsert.stage_table, names, freeze)
    rows, nbytes = yield CopyStream(stmt, chunks(), raw, desc, report, pack_in_thread)
    log.debug("zcimport: loaded %d rows (%d bytes) in %.3f s via %s", rows, nbytes,
              time.perf_counter() - t0, desc)
    if upsert is not None:
        rows = yield from upsert.finish_gen(rows)
    return int(rows)


def _copy_stream(conn: "psycopg.Connection[Any]", op: CopyStream) -> Tuple[int, int]:
    return send_stream(conn, op.stmt, op.chunks, raw=op.raw, transport_desc=op.transport,
                       report=op.report)


def _run_load(conn: "psycopg.Connection[Any]", gen: Gen[int]) -> int:
    """Run a :func:`load_gen` on a psycopg ``Connection``, through Ctrl-C (see :func:`_settle`)."""
    try:
        return run(gen, conn, copy_stream=_copy_stream)
    except KeyboardInterrupt:
        _settle(conn)  # nothing to do unless a query before or after the COPY was interrupted
        raise


def _settle(conn: "psycopg.Connection[Any]") -> None:
    """After a Ctrl-C in one of the queries before the COPY: leave conn usable.

    psycopg cancels a query interrupted while it waits for the result, but
    a KeyboardInterrupt raised in its Python code between sending a query
    and waiting leaves the connection ACTIVE, with the result unread ("another
    command is already in progress" ever after).  Read that result here
    (cancelling the query first), so that the caller gets the interrupt with
    the connection idle, in a transaction, or in an aborted one.
    """
    if conn.closed or conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
        return
    try:
        conn.pgconn.get_cancel().cancel()
        conn.wait(generators.fetch_many(conn.pgconn))
    except BaseException as ex:  # noqa: B902 - a second Ctrl-C, a broken connection
        log.warning("zcimport: closing the connection: could not end the query"
                    " interrupted by Ctrl-C: %r", ex)
        conn.close()


def _in_transaction(conn: "psycopg.Connection[Any]", needed: bool, fn: Callable[[], int]) -> int:
    """fn(), inside a transaction block when needed and conn is in autocommit."""
    if needed and conn.autocommit:
        with conn.transaction():
            return fn()
    return fn()


def load(
    conn: "psycopg.Connection[Any]",
    plan: Plan,
    table: TableArg,
    batch_rows: int,
    freeze: bool = False,
    *,
    progress: ProgressArg = None,
    prepare: Optional[Prepare] = None,
    upsert: Optional[Upsert] = None,
) -> int:
    """COPY a planned frame on conn, in its current transaction.

    ``progress`` is reported to after each batch; ``prepare`` (a hook
    taking an ``execute`` function, e.g. the DDL of ``create=``) runs after
    the extension check and before the COPY, in the same transaction.
    ``upsert`` (:class:`zcimport._upsert.Upsert`) makes the COPY go into a
    staging table, inserted into the table with ON CONFLICT afterwards.
    Returns the rows loaded (the COPY command tag's count; for an upsert,
    the INSERT's).
    """
    return _run_load(conn, plan_load_gen(conn, plan, table, batch_rows, freeze,
                                         prepare=prepare, report=_reporter(progress),
                                         upsert=upsert))


def plan_load_gen(conn: Any, plan: Plan, table: TableArg, batch_rows: int, freeze: bool, *,
                  prepare: Optional[Prepare], report: Optional[Callable[[int, int], None]],
                  upsert: Optional[Upsert], pack_in_thread: bool = False) -> Gen[int]:
    """:func:`load_gen` for a planned frame, in batches of batch_rows."""
    return load_gen(conn, table, [c.name for c in plan], lambda: iter_chunks(plan, batch_rows),
                    freeze=freeze, prepare=prepare, report=report, upsert=upsert,
                    what=f"{plan.rows} rows, {len(plan)} columns, batches of {batch_rows} rows",
                    pack_in_thread=pack_in_thread)


def load_frames(
    conn: "psycopg.Connection[Any]",
    frames: Union[FrameStream, Iterable[Any]],
    table: TableArg,
    *,
    columns: ColumnsArg = None,
    batch_rows: Optional[int] = None,
    nan_as_null: bool = True,
    freeze: bool = False,
    create: bool = False,
    if_exists: str = "fail",
    progress: ProgressArg = None,
    on_conflict: Optional[str] = None,
    conflict_columns: ConflictColumnsArg = None,
) -> int:
    """Load several frames with ONE COPY, in conn's current transaction.

    The frames form one stream (:class:`zcimport._encode.FrameStream`): the
    first frame fixes the columns and their wire types, later frames are
    converted to the first one's dtypes, and only one frame is held at a
    time.  ``frames`` may also be a FrameStream already made (its options
    then apply, and ``columns``, ``batch_rows`` and ``nan_as_null`` are
    ignored).  The other arguments are those of :func:`zcimport.copy_dataframe`;
    ``create=True`` creates the table from the header's columns;
    ``on_conflict`` makes the load an upsert (:mod:`zcimport._upsert`).
    Nothing is committed (on an autocommit connection, the DDL, the COPY and
    an upsert's statements run in one transaction block, which commits).

    Returns:
        The total number of rows loaded (for an upsert: inserted or updated).
    """
    check_if_exists(create, if_exists)
    keys = check_on_conflict(on_conflict, conflict_columns, freeze=freeze, create=create)
    table_identifier(table)
    stream = frames if isinstance(frames, FrameStream) else FrameStream(
        frames, columns=columns, nan_as_null=nan_as_null, batch_rows=batch_rows)
    return _load_stream(conn, stream, table, freeze=freeze, create=create,
                        if_exists=if_exists, progress=progress, on_conflict=on_conflict,
                        conflict_columns=keys)


def _table_text(conn: Any, table: TableArg) -> Any:
    """The table in a form zcimport._ddl can render without a connection."""
    if isinstance(table, sql.Composable) and not isinstance(table, (sql.Identifier, sql.SQL)):
        try:
            render(table)
        except TypeError:
            return sql.SQL(table.as_string(conn))
    return table


class CreateTable:
    """The ``prepare`` step of ``create=True``: create (replace, truncate,
    keep) the table (:func:`zcimport._ddl.prepare_table`), for any driver."""

    def __init__(self, target: Any, columns: Sequence[Tuple[str, str]], if_exists: str,
                 primary_key: Optional[Sequence[str]] = None) -> None:
        self.target = target
        self.columns = list(columns)
        self.if_exists = if_exists
        self.primary_key = primary_key

    def gen(self) -> Gen[str]:
        """The statements, as :class:`zcimport._drive.Query` operations; returns what was done."""
        action = yield from prepare_table_gen(self.target, self.columns, self.if_exists,
                                              self.primary_key)
        log.info("zcimport: table %s %s", table_name(self.target), action)
        return action

    def __call__(self, execute: Execute) -> str:
        """As a :data:`Prepare` hook: run the statements with ``execute``."""
        return run_queries(self.gen(), execute_as_run(execute))


def _create_hook(conn: Any, table: TableArg, plan: Any, if_exists: str,
                 primary_key: Optional[Sequence[str]] = None) -> CreateTable:
    return CreateTable(_table_text(conn, table), column_types(plan), if_exists, primary_key)


def _load_stream(
    conn: "psycopg.Connection[Any]",
    stream: FrameStream,
    table: TableArg,
    *,
    freeze: bool,
    create: bool,
    if_exists: str,
    progress: ProgressArg,
    on_conflict: Optional[str] = None,
    conflict_columns: Optional[Sequence[str]] = None,
) -> int:
    with progress_bar(progress) as bar:
        prepare = _create_hook(conn, table, stream.header_columns, if_exists,
                               conflict_columns) if create else None
        upsert = make_upsert(_table_text(conn, table), stream.names, on_conflict,
                             conflict_columns)
        return _in_transaction(conn, create or upsert is not None, lambda: _run_load(
            conn, load_gen(conn, table, stream.names, stream.chunks, freeze=freeze,
                           prepare=prepare, report=_reporter(bar), upsert=upsert,
                           what=f"a stream of frames, {len(stream.names)} columns")))


def load_zci(
    conn: "psycopg.Connection[Any]",
    chunks: Iterable[Any],
    table: TableArg,
    names: Optional[Sequence[str]],
    *,
    freeze: bool = False,
    create_columns: Optional[Sequence[Tuple[str, str]]] = None,
    if_exists: str = "fail",
    progress: ProgressArg = None,
    row_marks: Optional[Sequence[Tuple[int, int]]] = None,
    on_conflict: Optional[str] = None,
    conflict_columns: ConflictColumnsArg = None,
) -> int:
    """COPY a ready-made zcimport stream (a ``.zci`` file), bytes as they are.

    Args:
        chunks: the stream's bytes, in pieces of any size (e.g. a file read
            1 MiB at a time); they are not decoded, the server validates.
        names: the COPY column list (the stream's columns by position), or
            None for all the table's columns.
        create_columns: ``(name, type)`` pairs: create the table
            (:func:`zcimport._ddl.prepare_table` with ``if_exists``) first;
            None to load into an existing table.
        row_marks: ``(stream offset, rows)`` of the end of each batch, to
            report rows to ``progress`` as the bytes go (optional).
        on_conflict, conflict_columns: an upsert, as for
            :func:`zcimport.copy_dataframe` (``names`` is then required).

    Returns:
        The rows loaded (the COPY command tag; for an upsert, the INSERT's).
    """
    report = _reporter(progress)
    if create_columns is not None:
        check_if_exists(True, if_exists)
    keys = check_on_conflict(on_conflict, conflict_columns, freeze=freeze,
                             create=create_columns is not None)
    if names is None:
        if on_conflict is not None:
            raise ValueError("an upsert of a .zci stream needs its column names (names=)")
        stmt_names: Optional[Sequence[str]] = None
    else:
        stmt_names = list(names)

    def counted() -> Iterator[Chunk]:
        marks = list(row_marks or ())
        pos = 0
        k = 0
        for data in chunks:
            n = memoryview(data).nbytes
            pos += n
            rows = 0
            while k < len(marks) and marks[k][0] <= pos:
                rows += marks[k][1]
                k += 1
            yield Chunk([data], rows)

    upsert = None if stmt_names is None else make_upsert(
        _table_text(conn, table), stmt_names, on_conflict, keys)
    prepare = None if create_columns is None else CreateTable(
        _table_text(conn, table), create_columns, if_exists, keys)
    return _in_transaction(conn, create_columns is not None or upsert is not None, lambda: (
        _run_load(conn, load_gen(conn, table, stmt_names, counted, freeze=freeze,
                                 prepare=prepare, report=report, what="a stream of bytes",
                                 upsert=upsert))))


@dataclasses.dataclass
class LoadRequest:
    """A frame's load, checked and planned, before any connection is used.

    What :func:`zcimport.copy_dataframe` and
    :func:`zcimport.copy_dataframe_async` share: :func:`load_request` makes
    one from their arguments (raising their ValueError and TypeError before
    anything is sent); :func:`load_request_sync`, :func:`load_other` and
    :func:`zcimport._async.load_request_async` run it.
    """

    plan: Plan
    table: TableArg
    batch_rows: int
    freeze: bool
    create: bool
    if_exists: str
    progress: ProgressArg
    on_conflict: Optional[str]
    #: The conflict columns of an upsert (None: the primary key).
    keys: Optional[Sequence[str]]

    def steps(self, conn: Any) -> Tuple[Optional[CreateTable], Optional[Upsert]]:
        """The DDL of ``create=`` and the upsert of ``on_conflict=``, on conn (None: none)."""
        prepare = _create_hook(conn, self.table, self.plan, self.if_exists,
                               self.keys) if self.create else None
        upsert = make_upsert(_table_text(conn, self.table), [c.name for c in self.plan],
                             self.on_conflict, self.keys)
        return prepare, upsert

    def gen(self, conn: Any, report: Optional[Callable[[int, int], None]], *,
            pack_in_thread: bool = False) -> Tuple[Gen[int], bool]:
        """The load on a psycopg 3 connection (:func:`plan_load_gen`), and whether it
        needs a transaction block (DDL or an upsert: several statements)."""
        prepare, upsert = self.steps(conn)
        gen = plan_load_gen(conn, self.plan, self.table, self.batch_rows, self.freeze,
                            prepare=prepare, report=report, upsert=upsert,
                            pack_in_thread=pack_in_thread)
        return gen, self.create or upsert is not None

    def progress_bar(self) -> Any:
        """``with`` it: what to report progress to (see :func:`zcimport._progress.progress_bar`)."""
        return progress_bar(self.progress, total_rows=self.plan.rows)


def load_request(
    df: Any,
    table: TableArg,
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
) -> LoadRequest:
    """Check the arguments of :func:`zcimport.copy_dataframe` and plan the frame."""
    check_if_exists(create, if_exists)
    keys = check_on_conflict(on_conflict, conflict_columns, freeze=freeze, create=create)
    the_plan = make_plan(df, columns=columns, nan_as_null=nan_as_null)
    batch = resolve_batch_rows(the_plan, batch_rows)
    if not _is_other_sql(table):
        table_identifier(table)  # validate before connecting
    return LoadRequest(the_plan, table, batch, freeze, create, if_exists, progress, on_conflict,
                       keys)


def load_request_sync(req: LoadRequest, conn: "psycopg.Connection[Any]") -> int:
    """Run a load on a psycopg ``Connection``, in its current transaction."""
    with req.progress_bar() as bar:
        gen, block = req.gen(conn, _reporter(bar))
        return _in_transaction(conn, block, lambda: _run_load(conn, gen))


def _is_other_sql(table: Any) -> bool:
    """A psycopg2.sql object (for psycopg2 connections): validated by that path."""
    return type(table).__module__.startswith("psycopg2")


def load_other(req: LoadRequest, conn: Any) -> Optional[int]:
    """Load through psycopg2 or SQLAlchemy (:func:`load_with_driver`); None for other objects."""
    prepare = None if not req.create else CreateTable(req.table, column_types(req.plan),
                                                      req.if_exists, req.keys)
    upsert = make_upsert(req.table, [c.name for c in req.plan], req.on_conflict, req.keys) \
        if _dbapi.is_psycopg2(conn) or _dbapi.sqlalchemy_kind(conn) is not None else None
    with req.progress_bar() as bar:
        report = _reporter(bar)
        # the driver's reader calls update(rows, nbytes) for every chunk
        rows = load_with_driver(
            req.plan, req.table, conn, batch_rows=req.batch_rows, freeze=req.freeze,
            progress=SimpleNamespace(update=report) if report is not None else None,
            prepare=prepare, upsert=upsert)
    return None if rows is None else int(rows)


# --------------------------------------------------------------------------
# Other drivers: psycopg2, SQLAlchemy (zcimport._dbapi)
# --------------------------------------------------------------------------


def _load_raw(raw: Any, plan: Plan, table: TableArg, batch_rows: int, freeze: bool,
              progress: Any, prepare: Optional[Prepare], upsert: Optional[Upsert] = None) -> int:
    """Load on the DBAPI connection behind a SQLAlchemy object."""
    if _dbapi.is_psycopg2(raw):
        return _dbapi.load_psycopg2(raw, plan, table, batch_rows, freeze,
                                    progress=progress, prepare=prepare, upsert=upsert)
    if isinstance(raw, psycopg.Connection):
        return int(load(raw, plan, table, batch_rows, freeze, progress=progress, prepare=prepare,
                        upsert=upsert))
    raise _dbapi.unsupported_driver(raw)


def load_with_driver(
    plan: Plan,
    table: TableArg,
    conn: Any,
    *,
    batch_rows: int,
    freeze: bool = False,
    progress: Any = None,
    prepare: Optional[Prepare] = None,
    upsert: Optional[Upsert] = None,
) -> Optional[int]:
    """Load through psycopg2 or SQLAlchemy; None if conn is neither.

    Args:
        plan: the planned frame (:func:`zcimport._plan.make_plan`).
        table: as for :func:`zcimport.copy_dataframe`; on psycopg2 a
            ``psycopg2.sql.Composable`` is accepted instead of a psycopg 3
            one.
        conn: a psycopg2 connection, a SQLAlchemy ``Engine``,
            ``Connection`` or ORM ``Session`` (see :mod:`zcimport._dbapi`
            for the transaction each one uses).
        batch_rows: rows per batch.
        freeze: COPY with FREEZE.
        progress: called with the rows of each batch handed to the driver;
            an object with an ``update(rows, nbytes)`` method gets that
            instead, for every chunk.
        prepare: called with an ``execute(query, params=None) -> rows``
            function on the load's connection and transaction, after the
            extension check and before the COPY; for DDL such as
            ``create=``.
        upsert: an upsert (:class:`zcimport._upsert.Upsert`): the COPY goes
            into its staging table, then INSERT ... ON CONFLICT; the DDL,
            the COPY and the upsert run in one transaction.

    Returns:
        The number of rows loaded (for an upsert, the INSERT's row count),
        or None when conn is not one of these
        (psycopg 3 connections and strings are loaded by the caller).

    Raises:
        TypeError: a psycopg 3 ``AsyncConnection`` or a SQLAlchemy async
            object (use :func:`zcimport.copy_dataframe_async`), or a
            SQLAlchemy engine whose driver is neither psycopg2 nor psycopg.
        ExtensionNotInstalledError: the extension is not installed.
        psycopg2.Error / psycopg.Error: the server's errors, unchanged.
    """
    if _dbapi.is_psycopg2(conn):
        return _dbapi.load_psycopg2(conn, plan, table, batch_rows, freeze,
                                    progress=progress, prepare=prepare, upsert=upsert)
    if isinstance(conn, psycopg.AsyncConnection):
        raise TypeError("an AsyncConnection: use await zcimport.copy_dataframe_async(...)")
    if _dbapi.sqlalchemy_kind(conn) is None:
        return None
    with _dbapi.sqlalchemy_dbapi(conn) as raw:
        if upsert is not None and isinstance(raw, psycopg.Connection):
            # the DDL, the COPY and the upsert in one transaction
            return _in_transaction(raw, True, lambda: _load_raw(
                raw, plan, table, batch_rows, freeze, progress, prepare, upsert))
        return _load_raw(raw, plan, table, batch_rows, freeze, progress, prepare, upsert)
