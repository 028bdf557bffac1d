"""COPY data through libpq (SSL/GSSAPI connections): sending, and noticing errors.

On connections that are SSL- or GSSAPI-encrypted, zcimport cannot write to
the socket itself: the writers (:class:`zcimport._copy.ZcWriter`, its asyncio
twin) hand the stream to libpq with ``PQputCopyData``, in pieces of
:data:`PIECE_BYTES`, and flush libpq's output buffer after each piece (in
non-blocking mode libpq would otherwise buffer the whole stream in memory,
and send it only when the COPY ends).

Noticing a server error while sending
-------------------------------------
During COPY IN, libpq reads what the server sends (whenever a write would
block, and in ``PQconsumeInput``) and parses notices and notifications at
once, but it leaves an ErrorResponse unparsed in its input buffer until the
COPY has ended: no libpq call reports it (``PQisBusy``, ``PQgetResult``,
``PQtransactionStatus`` all still say COPY IN).  psycopg's own writer
therefore finds out about a cancel or a ``statement_timeout`` only once the
whole stream has been sent.

:class:`ErrorWatch` finds out from what libpq does not say.  During COPY IN
the server sends nothing but notices (and, in principle, notifications),
which libpq parses and hands to psycopg, and, when the COPY fails, an
ErrorResponse followed by ReadyForQuery, after which it says nothing more.
So: if libpq has read bytes from the server and parsed no notice or
notification from them, and no more bytes arrive for a while
(:attr:`ErrorWatch.quiet`, which covers a message whose end is still on its
way, even after a TCP retransmission), what waits in libpq's buffer is an
ErrorResponse.  The writer then stops sending; the CopyDone that follows
makes libpq read the error, which psycopg raises.

Which bytes libpq has read: on TCP (every SSL and GSSAPI connection),
``TCP_INFO``'s ``tcpi_bytes_received`` minus the bytes still queued in the
socket (``FIONREAD``) counts every read, libpq's own included.  Elsewhere
(Unix sockets, with ``FORCE_LIBPQ``; non-Linux systems) the watch only
knows of the reads it makes itself when the socket is readable: an error
read by libpq behind its back is then seen only at the end, as before.
The watch never mistakes a notice for an error, so it never stops a load
that would have succeeded: bytes from which libpq parses a notice are taken
to be that notice (an error read in the same gulp is then seen at the end).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import sys
import time
from typing import Any, Callable, Iterable, Iterator, List, Optional

import psycopg
from psycopg import pq
from psycopg.abc import PQGen
from psycopg.errors import error_from_result
from psycopg import waiting
from psycopg.waiting import Ready, Wait

try:  # Unix only; elsewhere the watch counts only its own reads
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    termios = None  # type: ignore[assignment]

log = logging.getLogger("zcimport")

#: Bytes per PQputCopyData call (as psycopg's own writer: libpq gets slow
#: with much larger buffers).  The watch looks for an error before each.
PIECE_BYTES = 128 << 10

#: ``struct tcp_info`` (Linux): offset of ``tcpi_rto`` (u32, microseconds)
#: and of ``tcpi_bytes_received`` (u64, Linux 4.1 and later).
_TCPI_RTO = 8
_TCPI_BYTES_RECEIVED = 128
_TCP_INFO_LEN = 256

#: Bounds of :attr:`ErrorWatch.quiet`, in seconds.
QUIET_MIN = 0.1
QUIET_MAX = 1.0

#: Seconds between the wake-ups of :func:`wait_through_interrupts`.
WAKE_INTERVAL = 0.1


def pieces(views: Iterable[memoryview], size: Optional[int] = None) -> Iterator[memoryview]:
    """The byte views cut in slices of at most size bytes (no copies).

    ``size`` defaults to :data:`PIECE_BYTES`.
    """
    if size is None:
        size = PIECE_BYTES
    for view in views:
        n = view.nbytes
        if n <= size:
            if n:
                yield view
            continue
        for i in range(0, n, size):
            yield view[i : i + size]


class _TcpCounter:
    """Bytes the application has read from a TCP socket (see the module's docstring)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._sock: Optional[socket.socket] = None
        if fcntl is None or not hasattr(socket, "TCP_INFO") or not sys.platform.startswith("linux"):
            return  # struct tcp_info is Linux's
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            self._sock = sock
            if self.consumed() is None:
                self.close()
        else:
            sock.close()

    @property
    def usable(self) -> bool:
        return self._sock is not None

    def _info(self) -> Optional[bytes]:
        if self._sock is None:
            return None
        try:
            info = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        except OSError:
            return None
        return info if len(info) >= _TCPI_BYTES_RECEIVED + 8 else None

    def consumed(self) -> Optional[int]:
        """Bytes read from the socket so far; None if unknown."""
        info = self._info()
        if info is None:
            return None
        # received first, queued second: data arriving in between makes the
        # count low for a moment, never high
        received: int = struct.unpack_from("<Q", info, _TCPI_BYTES_RECEIVED)[0]
        try:
            queued: int = struct.unpack(
                "i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return None
        return received - queued

    def rto(self) -> Optional[float]:
        """The connection's retransmission timeout, in seconds."""
        info = self._info()
        if info is None:
            return None
        rto: int = struct.unpack_from("<I", info, _TCPI_RTO)[0]
        return rto / 1e6

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ErrorWatch:
    """Whether the server has reported an error while COPY data go through libpq.

    Created when the COPY data phase starts; :meth:`update` after each libpq
    call that may have read from the server (or with ``read=True`` to make
    libpq read what is waiting); :attr:`suspected` once libpq holds bytes
    it parsed nothing from, :meth:`confirmed` once they have been followed
    by :attr:`quiet` seconds of silence.  :meth:`close` gives the
    connection's notice handler back.  See the module's docstring.
    """

    def __init__(self, pgconn: Any) -> None:
        self.pgconn = pgconn
        self.fd: int = pgconn.socket
        self._tcp = _TcpCounter(self.fd)
        rto = self._tcp.rto() if self._tcp.usable else None
        #: Seconds of silence after unexplained bytes that make them an error.
        self.quiet: float = QUIET_MIN if rto is None else min(QUIET_MAX, max(QUIET_MIN, rto + 0.05))
        self._seen = self._tcp.consumed() if self._tcp.usable else None
        self._parsed = 0  # notices and notifications parsed by libpq
        self._parsed_seen = 0
        self._since: Optional[float] = None  # when unexplained bytes last came
        self._handler = pgconn.notice_handler
        pgconn.notice_handler = self._on_notice

    def _on_notice(self, res: Any) -> None:
        self._parsed += 1
        handler = self._handler
        if handler is not None:
            handler(res)

    @property
    def suspected(self) -> bool:
        """libpq has read bytes from which it parsed nothing."""
        return self._since is not None

    def confirmed(self) -> bool:
        """Suspected, and no byte has come since for :attr:`quiet` seconds."""
        return self._since is not None and time.monotonic() - self._since >= self.quiet

    def remaining(self) -> float:
        """Seconds until a suspicion is confirmed (0 if it is, or if there is none)."""
        if self._since is None:
            return 0.0
        return max(0.0, self._since + self.quiet - time.monotonic())

    def readable(self) -> bool:
        """Whether the socket has something to read, now."""
        try:
            r, _, _ = select.select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return True  # let libpq find out what is wrong
        return bool(r)

    def update(self, read: bool = False) -> None:
        """Account for what libpq has read and parsed (reading first if read)."""
        pgconn = self.pgconn
        if read:
            pgconn.consume_input()
        pgconn.is_busy()  # parses notices (and notifications) that are complete
        while True:
            n = pgconn.notifies()
            if n is None:
                break
            self._parsed += 1
            handler = getattr(pgconn, "notify_handler", None)
            if handler is not None:
                handler(n)
        got = read  # without a byte count: the socket was readable
        if self._tcp.usable:
            consumed = self._tcp.consumed()
            if consumed is not None and self._seen is not None:
                got = consumed > self._seen
                self._seen = max(self._seen, consumed)
        if self._parsed != self._parsed_seen:
            self._parsed_seen = self._parsed  # the bytes were those messages
            self._since = None
        elif got:
            self._since = time.monotonic()

    def poll(self) -> None:
        """:meth:`update`, reading first if the socket is readable."""
        self.update(read=self.readable())

    def close(self) -> None:
        """Give the notice handler back; release the socket counter."""
        if self.pgconn.notice_handler == self._on_notice:
            self.pgconn.notice_handler = self._handler
        self._tcp.close()


def put_gen(pgconn: Any, piece: memoryview, watch: Optional[ErrorWatch]) -> PQGen[None]:
    """A psycopg generator: PQputCopyData(piece), then flush libpq's buffer.

    Reads the server's input when the socket is readable while it waits
    (so that a server blocked on writing notices never deadlocks, and so
    that the watch sees it).
    """
    while pgconn.put_copy_data(piece) == 0:
        yield Wait.W
    while pgconn.flush() != 0:
        if watch is not None:
            watch.update()
        ready = yield Wait.RW
        # psycopg may resume a generator with None after an interruption
        if ready is None or ready & Ready.R:
            if watch is not None:
                watch.update(read=True)
            else:
                pgconn.consume_input()
    if watch is not None:
        watch.update()


def copy_fail_message(encoding: str, exc: Optional[BaseException]) -> Optional[bytes]:
    """The CopyFail message psycopg sends for exc (None: send CopyDone)."""
    if exc is None:
        return None
    return f"error from Python: {type(exc).__qualname__} - {exc}".encode(encoding, "replace")


class CopyEnd:
    """CopyDone (or CopyFail), then the COPY's result, restartable.

    :meth:`gen` is a psycopg generator; if an exception escapes it midway
    (a KeyboardInterrupt raised as a libpq call returns), calling it again
    goes on from where the protocol is: a CopyDone/CopyFail already queued
    is not queued twice.  It also ends a COPY whose CopyInResponse had not
    been read yet (psycopg interrupted while starting it).
    :attr:`results` collects the results.
    """

    def __init__(self, pgconn: Any, message: Optional[bytes]) -> None:
        self.pgconn = pgconn
        self.message = message
        self.queued = False
        self.results: List[Any] = []

    def gen(self) -> PQGen[List[Any]]:
        pgconn = self.pgconn
        while True:
            if not self.queued:
                try:
                    while pgconn.put_copy_end(self.message) == 0:
                        yield Wait.W
                except psycopg.OperationalError:
                    if pgconn.status != pq.ConnStatus.OK:
                        raise
                    # "no COPY in progress": queued by an earlier, interrupted
                    # run, or the COPY has not started (see below)
                self.queued = True
            while pgconn.flush() != 0:
                ready = yield Wait.RW
                if ready is None or ready & Ready.R:
                    pgconn.consume_input()
            if pgconn.is_busy():
                yield Wait.R
                pgconn.consume_input()
                continue
            res = pgconn.get_result()
            if res is None:
                return self.results
            if res.status == pq.ExecStatus.COPY_IN:
                self.queued = False  # the COPY starts only now: end it
                continue
            self.results.append(res)

    def outcome(self, encoding: str) -> Any:
        """The COPY's result (a PGresult), or the server's error (an Error)."""
        res = self.results[0] if self.results else None
        if res is not None and res.status == pq.ExecStatus.COMMAND_OK:
            return res
        if res is None:
            return psycopg.OperationalError("the COPY ended without a result")
        return error_from_result(res, encoding=encoding)


def wait_through_interrupts(conn: Any, end: CopyEnd, cancel: bool,
                            on_give_up: Callable[[str], None]) -> Optional[BaseException]:
    """Run end to completion on a synchronous connection, through Ctrl-C.

    A KeyboardInterrupt while waiting does not cut the protocol short (as
    it does in psycopg, whose generator it can stop midway, leaving the
    connection in COPY): the first one sends a cancel request if
    ``cancel`` (the server would otherwise finish a COPY that CopyDone
    ended) and the wait goes on; a second one gives up: ``on_give_up`` is
    called (it closes the connection) and the interrupt raised.  Returns
    the first interrupt, or None.
    """
    interrupt: Optional[BaseException] = None
    while True:
        try:
            # The third argument is how often the wait wakes up (so that
            # Ctrl-C is seen), passed by position: psycopg 3.1 calls it
            # ``timeout``, 3.2+ ``interval``, and 3.3's ``timeout`` is a
            # deadline that raises when it expires.
            waiting.wait(end.gen(), end.pgconn.socket, WAKE_INTERVAL)
            return interrupt
        except KeyboardInterrupt as ki:
            if interrupt is not None:
                on_give_up("a second interrupt while the COPY was ending")
                raise
            interrupt = ki
            if cancel:
                try:
                    conn.cancel()
                except Exception:  # pragma: no cover - best effort
                    log.debug("zcimport: could not send a cancel request", exc_info=True)


__all__ = ["PIECE_BYTES", "CopyEnd", "ErrorWatch", "copy_fail_message", "pieces", "put_gen",
           "wait_through_interrupts"]
