"""zcimport._wire against a socketpair: CopyData framing, splitting, partial
writes, early stop at message boundaries, buffer release, socket errors,
signals; the writer's protocol logic with a fake libpq connection; and the
whole psycopg path (real libpq) against a fake PostgreSQL server."""

from __future__ import annotations

import errno
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import psycopg
import pytest

import zci_reference as ref
import zcimport
from zcimport import _copy, _libpq

try:
    from zcimport import _wire
except ImportError as ex:  # pragma: no cover
    raise ImportError(f"zcimport._wire is not built ({ex}): run `make python-ext`") from ex


# -- helpers ---------------------------------------------------------------------


def parse_copy_data(data: bytes):
    """Split bytes into CopyData payloads; assert exact, complete framing."""
    out = []
    i = 0
    while i < len(data):
        assert i + 5 <= len(data), "partial frame header"
        assert data[i:i + 1] == b"d", f"bad message type at {i}: {data[i:i + 1]!r}"
        (length,) = struct.unpack_from(">i", data, i + 1)
        assert length >= 4
        end = i + 1 + length
        assert end <= len(data), "truncated message"
        out.append(data[i + 5:end])
        i = end
    return out


class Reader(threading.Thread):
    """Reads the peer end until EOF (or until stopped), optionally slowly."""

    def __init__(self, sock, chunk=1 << 20, delay=0.0, limit=None):
        super().__init__(daemon=True)
        self.sock = sock
        self.chunk = chunk
        self.delay = delay
        self.limit = limit
        self.data = bytearray()
        self.error = None

    def run(self):
        try:
            while self.limit is None or len(self.data) < self.limit:
                b = self.sock.recv(self.chunk)
                if not b:
                    break
                self.data += b
                if self.delay:
                    time.sleep(self.delay)
        except OSError as ex:
            self.error = ex


@pytest.fixture(autouse=True)
def python_sigint():
    """Python's own SIGINT handler, installed again at the OS level, for each
    test: the tests that send themselves SIGINT expect KeyboardInterrupt, and
    a handler left behind by an earlier test or library (at the OS level,
    where signal.getsignal does not look) would turn them into hangs."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def send_all(ours, parts, **kw):
    """Call send_copy_data; the peer must be drained by a Reader."""
    return _wire.send_copy_data(ours.fileno(), parts, **kw)


# -- framing -------------------------------------------------------------------------


def test_framing_is_exact(pair):
    ours, peer = pair
    arr = np.arange(10, dtype=np.int64)
    parts = [b"abc", memoryview(arr).cast("B"), bytearray(b"xyz"), b"", arr]
    payload = b"abc" + arr.tobytes() + b"xyz" + arr.tobytes()
    r = Reader(peer)
    r.start()
    assert send_all(ours, parts) == (len(payload), False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert bytes(r.data) == b"d" + struct.pack(">i", len(payload) + 4) + payload


def test_empty_parts_send_nothing(pair):
    ours, peer = pair
    assert send_all(ours, []) == (0, False, 0)
    assert send_all(ours, [b"", bytearray()]) == (0, False, 0)
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(10)


def test_split_into_messages(pair):
    ours, peer = pair
    payload = os.urandom(10_500)
    parts = [memoryview(payload)[i:i + 777] for i in range(0, len(payload), 777)]
    r = Reader(peer)
    r.start()
    assert send_all(ours, parts, max_message=1000) == (len(payload), False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    msgs = parse_copy_data(bytes(r.data))
    assert [len(m) for m in msgs] == [1000] * 10 + [500]
    assert b"".join(msgs) == payload


def test_many_parts_beyond_iov_max(pair):
    ours, peer = pair
    pieces = [bytes([i % 251]) * (1 + i % 3) for i in range(5000)]
    payload = b"".join(pieces)
    assert len(pieces) > _wire.IOV_MAX
    r = Reader(peer)
    r.start()
    assert send_all(ours, pieces, max_message=3001) == (len(payload), False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert b"".join(parse_copy_data(bytes(r.data))) == payload


def test_partial_writes_small_sndbuf(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = np.random.default_rng(1).integers(0, 255, 3_000_000, dtype=np.uint8)
    parts = [payload[i:i + 100_003] for i in range(0, len(payload), 100_003)]
    r = Reader(peer, chunk=7000, delay=0.0002)
    r.start()
    t0 = time.monotonic()
    assert send_all(ours, parts, max_message=250_000) == (len(payload), False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(30)
    assert time.monotonic() - t0 < 30
    msgs = parse_copy_data(bytes(r.data))
    assert [len(m) for m in msgs] == [250_000] * 12
    assert b"".join(msgs) == payload.tobytes()


def test_blocking_socket_works_too(pair):
    ours, peer = pair
    ours.setblocking(True)
    payload = bytes(range(256)) * 4000
    r = Reader(peer)
    r.start()
    assert send_all(ours, [payload], max_message=100_000)[0] == len(payload)
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert b"".join(parse_copy_data(bytes(r.data))) == payload


def test_payload_over_1gib_is_split():
    # 1 GiB + 3 bytes of calloc'd zeros (never resident), with markers
    n = (1 << 30) + 3
    buf = np.zeros(n, dtype=np.uint8)
    buf[0], buf[(1 << 30) - 2], buf[(1 << 30) - 1], buf[-1] = 1, 2, 3, 4
    ours, peer = socket.socketpair()
    try:
        ours.setblocking(False)
        headers = []
        markers = {}
        state = {"pos": 0}

        def reader():
            # frame headers may be split across recv()s
            carry = bytearray()
            payload_pos = 0
            left = 0
            while True:
                b = peer.recv(1 << 22)
                if not b:
                    break
                view = memoryview(b)
                while len(view):
                    if left == 0:
                        need = 5 - len(carry)
                        carry += view[:need]
                        view = view[need:]
                        if len(carry) < 5:
                            break
                        headers.append(bytes(carry))
                        left = struct.unpack(">i", carry[1:])[0] - 4
                        carry = bytearray()
                        continue
                    k = min(left, len(view))
                    for pos in (0, (1 << 30) - 2, (1 << 30) - 1, n - 1):
                        if payload_pos <= pos < payload_pos + k:
                            markers[pos] = view[pos - payload_pos]
                    payload_pos += k
                    left -= k
                    view = view[k:]
            state["pos"] = payload_pos

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        assert _wire.send_copy_data(ours.fileno(), [buf]) == (n, False, 0)
        ours.shutdown(socket.SHUT_WR)
        t.join(120)
        assert headers == [b"d" + struct.pack(">i", (1 << 30) - 1 + 4),
                           b"d" + struct.pack(">i", 4 + 4)]
        assert state["pos"] == n
        assert markers == {0: 1, (1 << 30) - 2: 2, (1 << 30) - 1: 3, n - 1: 4}
    finally:
        ours.close()
        peer.close()


def test_max_message_limits():
    assert _wire.MAX_MESSAGE == (1 << 30) - 1
    a, b = socket.socketpair()
    with a, b:
        for bad in (0, -1, 1 << 30):
            with pytest.raises(ValueError):
                _wire.send_copy_data(a.fileno(), [b"x"], max_message=bad)
        with pytest.raises(ValueError):
            _wire.send_copy_data(-1, [b"x"])
        with pytest.raises(ValueError):
            _wire.send_copy_data(a.fileno(), [b"xy"], in_message=3)
        with pytest.raises(ValueError):
            _wire.send_copy_data(a.fileno(), [b"xy"], in_message=-1)
        with pytest.raises(TypeError):
            _wire.send_copy_data(a.fileno(), [b"xy"], progress=(0, 0))
        with pytest.raises(TypeError):
            _wire.send_copy_data(a.fileno(), 42)


def test_in_message_resumes_without_header(pair):
    ours, peer = pair
    r = Reader(peer)
    r.start()
    # 3 bytes finishing a message begun elsewhere, then new messages
    assert send_all(ours, [b"abc", b"defgh"], in_message=3, max_message=4) == (8, False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert bytes(r.data) == b"abc" + b"d\x00\x00\x00\x08defg" + b"d\x00\x00\x00\x05h"


# -- early stop ------------------------------------------------------------------------


def test_stops_before_first_message_when_peer_has_data(pair):
    ours, peer = pair
    peer.sendall(b"E\x00\x00\x00\x04")
    progress = [None, None]
    assert send_all(ours, [b"x" * 100], progress=progress) == (0, True, 0)
    assert progress == [0, 0]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(10)  # nothing was sent


def test_stops_only_at_message_boundaries(pair):
    ours, peer = pair
    size = 1000
    payload = os.urandom(400 * size)
    got = bytearray()
    done = threading.Event()

    def server():
        # read the first message, then "fail": answer, and keep reading
        while len(got) < 5 + size:
            got.extend(peer.recv(65536))
        peer.sendall(b"E\x00\x00\x00\x04")
        peer.settimeout(0.5)
        while not done.is_set():
            try:
                b = peer.recv(65536)
            except socket.timeout:
                continue
            if not b:
                break
            got.extend(b)

    t = threading.Thread(target=server, daemon=True)
    t.start()
    parts = [payload]
    sent_total, owed, has_data = 0, 0, False
    while True:
        sent, has_data, owed = send_all(ours, parts, max_message=size, in_message=owed)
        sent_total += sent
        parts = _copy._skip(parts, sent)
        if owed == 0:
            break
        # blocked mid-message with the answer pending: finish the message
    assert has_data
    assert sent_total < len(payload)
    assert sent_total % size == 0  # a whole number of messages
    time.sleep(0.2)
    done.set()
    ours.shutdown(socket.SHUT_WR)
    t.join(5)
    msgs = parse_copy_data(bytes(got))  # complete messages only
    assert all(len(m) == size for m in msgs)
    assert b"".join(msgs) == payload[:sent_total]
    assert ours.recv(5) == b"E\x00\x00\x00\x04"  # left for libpq


def test_blocked_mid_message_with_data_returns_owed(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = b"z" * 2_000_000
    progress = [None, None]

    def answer():
        time.sleep(0.3)
        peer.sendall(b"N\x00\x00\x00\x04")

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    sent, has_data, owed = send_all(ours, [payload], progress=progress)
    t.join()
    # one big message: the peer never read, so we were blocked inside it
    assert has_data and 0 < sent < len(payload) and owed == len(payload) - sent
    assert progress == [sent, owed]
    assert ours.recv(5) == b"N\x00\x00\x00\x04"  # what libpq would consume
    r = Reader(peer)
    r.start()
    assert send_all(ours, _copy._skip([payload], sent), in_message=owed) == (owed, False, 0)
    ours.shutdown(socket.SHUT_WR)
    r.join(10)
    assert bytes(r.data)[:5] == b"d" + struct.pack(">i", len(payload) + 4)
    assert len(r.data) == 5 + len(payload)


# -- buffer views released -------------------------------------------------------------


def test_views_released_on_success(pair):
    ours, peer = pair
    ba = bytearray(b"q" * 1000)
    arr = np.arange(100)
    before = (sys.getrefcount(ba), sys.getrefcount(arr))
    r = Reader(peer)
    r.start()
    send_all(ours, [ba, arr, memoryview(ba)], max_message=64)
    assert (sys.getrefcount(ba), sys.getrefcount(arr)) == before
    ba.extend(b"more")  # BufferError if an export were still held
    arr.resize(200, refcheck=False)


def test_views_released_on_errors(pair):
    ours, peer = pair
    ba = bytearray(b"q" * 1000)
    before = sys.getrefcount(ba)
    with pytest.raises(TypeError):
        send_all(ours, [ba, 123])
    with pytest.raises(BufferError):
        send_all(ours, [ba, memoryview(np.arange(10))[::2]])
    with pytest.raises(ValueError):
        send_all(ours, [ba], in_message=5000)
    ba.extend(b"x")
    assert sys.getrefcount(ba) == before
    peer.close()
    big = bytearray(8 << 20)
    with pytest.raises(OSError):
        # the closed peer shows as readable first; then EPIPE inside a message
        sent, has_data, owed = send_all(ours, [big])
        assert has_data
        send_all(ours, [big], in_message=len(big))
    big.extend(b"x")
    ba.extend(b"x")


def test_views_released_on_signal(pair):
    ours, peer = pair
    big = bytearray(16 << 20)
    progress = [None, None]
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        send_all(ours, [big], progress=progress)  # the peer never reads
    assert time.monotonic() - t0 < 2
    sent, owed = progress
    assert 0 < sent < len(big) and owed == len(big) - sent
    big.extend(b"x")


# -- socket errors -----------------------------------------------------------------------


def test_epipe_raises_oserror_without_sigpipe(tmp_path):
    # SIGPIPE restored to its default action: without MSG_NOSIGNAL the child dies.
    code = textwrap.dedent(
        """
        import signal, socket, threading, errno
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        from zcimport import _wire
        a, b = socket.socketpair()
        a.setblocking(False)
        def close_soon():
            b.recv(100000)
            b.close()
        threading.Thread(target=close_soon).start()
        progress = [None, None]
        try:
            _wire.send_copy_data(a.fileno(), [bytearray(64 << 20)], progress=progress)
        except OSError as ex:
            assert ex.errno in (errno.EPIPE, errno.ECONNRESET), ex
            assert progress[1] > 0
            print("OSError", errno.errorcode[ex.errno])
        else:
            print("no error")
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, (res.returncode, res.stderr)
    assert res.stdout.strip() in ("OSError EPIPE", "OSError ECONNRESET")


def test_closed_peer_at_boundary_reports_data(pair):
    ours, peer = pair
    peer.close()
    assert send_all(ours, [b"abc"]) == (0, True, 0)
    assert _wire.peek(ours.fileno(), 10) == b""


def test_bad_fd():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as ei:
        _wire.send_copy_data(w, [b"x"])
    assert ei.value.errno == errno.EBADF


# -- peek ---------------------------------------------------------------------------------


def test_peek(pair):
    ours, peer = pair
    assert _wire.peek(ours.fileno(), 10) is None
    peer.sendall(b"hello")
    time.sleep(0.05)
    assert _wire.peek(ours.fileno(), 3) == b"hel"
    assert _wire.peek(ours.fileno(), 100) == b"hello"
    assert ours.recv(100) == b"hello"  # not consumed by peek
    peer.close()
    assert _wire.peek(ours.fileno(), 10) == b""


def _notice(message: str, severity: str = "NOTICE") -> bytes:
    body = f"S{severity}\0V{severity}\0C00000\0M{message}\0\0".encode()
    return b"N" + struct.pack(">i", len(body) + 4) + body


class NoticeSink:
    def __init__(self):
        self.socket = None
        self.got = []

    def notice_handler(self, fields):
        self.got.append(psycopg.errors.Diagnostic(fields).message_primary)


def test_server_input_reads_async_messages_whole(pair):
    ours, peer = pair
    sink = NoticeSink()
    sink.socket = ours.fileno()
    inp = _copy.ServerInput(sink)
    assert inp.drain() is False  # nothing there
    status = b"S" + struct.pack(">i", 4 + 10) + b"app\0name\0\0"[:10]
    stream = _notice("one") + status + _notice("two" * 100)
    for i in range(len(stream)):  # byte by byte: always aligned afterwards
        peer.sendall(stream[i:i + 1])
        time.sleep(0.0005)
        assert inp.drain() is False
        assert inp.in_message == (i + 1 not in (len(_notice("one")),
                                                len(_notice("one")) + len(status), len(stream)))
    assert sink.got == ["one", "two" * 100] and inp.notices == 2
    # an error is left unread, also after a notice in the same read
    error = b"E" + struct.pack(">i", 5) + b"x"
    peer.sendall(_notice("three") + error)
    time.sleep(0.05)
    assert inp.drain() is True and inp.drain() is True
    assert sink.got[-1] == "three"
    assert ours.recv(100) == error


def test_server_input_eof(pair):
    ours, peer = pair
    sink = NoticeSink()
    sink.socket = ours.fileno()
    inp = _copy.ServerInput(sink)
    peer.sendall(_notice("x")[:7])
    time.sleep(0.05)
    assert inp.drain() is False and inp.in_message
    peer.close()
    with pytest.raises(psycopg.OperationalError):
        inp.drain()
    ours2, peer2 = socket.socketpair()
    with ours2, peer2:
        sink.socket = ours2.fileno()
        inp = _copy.ServerInput(sink)
        peer2.close()
        assert inp.drain() is True  # EOF at a boundary: let libpq report it


def test_server_input_complete_waits_for_the_rest(pair):
    ours, peer = pair
    sink = NoticeSink()
    sink.socket = ours.fileno()
    inp = _copy.ServerInput(sink)
    msg = _notice("slow")
    peer.sendall(msg[:3])
    time.sleep(0.05)
    inp.drain()
    threading.Timer(0.2, peer.sendall, (msg[3:],)).start()
    inp.complete()
    assert sink.got == ["slow"] and not inp.in_message


def test_skip_and_take():
    parts = [b"abc", memoryview(b"defgh"), bytearray(b"ij")]
    join = lambda ps: b"".join(bytes(p) for p in ps)  # noqa: E731
    for n in range(11):
        assert join(_copy._skip(parts, n)) == b"abcdefghij"[n:]
        assert join(_copy._take(parts, n)) == b"abcdefghij"[:n]
    arr = np.arange(4, dtype=np.int32)
    (v,) = _copy._skip([arr], 6)
    assert bytes(v) == arr.tobytes()[6:] and np.shares_memory(np.frombuffer(v, np.uint8), arr)


# -- the writer's protocol logic, with a fake libpq connection ----------------------------


class FakePgconn:
    """Just enough of psycopg's PGconn for ZcWriter's raw path."""

    def __init__(self, sock):
        self.sock = sock
        self.socket = sock.fileno()
        self.notices = []
        self.flushes = 0

    def flush(self):
        self.flushes += 1
        return 0

    def notice_handler(self, fields):
        self.notices.append(psycopg.errors.Diagnostic(fields).message_primary)

    def consume_input(self):  # libpq must not read during the raw phase
        raise AssertionError("consume_input called")


class FakeConnection:
    def __init__(self, pgconn):
        self.pgconn = pgconn

    def wait(self, gen):
        try:
            while True:
                next(gen)
        except StopIteration as ex:
            return ex.value


def make_writer(sock, **kw):
    pgconn = FakePgconn(sock)
    cursor = type("Cursor", (), {})()
    cursor.connection = FakeConnection(pgconn)
    return _copy.ZcWriter(cursor, raw=True, transport_desc="socket", **kw), pgconn


def test_writer_sends_through_socket(pair):
    ours, peer = pair
    w, pgconn = make_writer(ours, max_message=100)
    r = Reader(peer)
    r.start()
    w.write(b"header")
    arr = np.arange(50, dtype=np.int64)
    assert w.send([b"x" * 7, memoryview(arr).cast("B")])
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    msgs = parse_copy_data(bytes(r.data))
    assert b"".join(msgs) == b"header" + b"x" * 7 + arr.tobytes()
    assert msgs[0] == b"header" and all(len(m) <= 100 for m in msgs)
    assert pgconn.flushes == 1 and w.bytes_sent == 6 + 7 + 400 and not w.stopped


def test_writer_passes_notices_on_and_goes_on(pair):
    ours, peer = pair
    w, pgconn = make_writer(ours, max_message=100)
    peer.sendall(_notice("hello"))
    time.sleep(0.05)
    r = Reader(peer)
    r.start()
    assert w.send([b"a" * 1000])
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert pgconn.notices == ["hello"]
    assert b"".join(parse_copy_data(bytes(r.data))) == b"a" * 1000
    assert not w.stopped


def test_writer_stops_on_error_at_boundary(pair):
    ours, peer = pair
    w, pgconn = make_writer(ours, max_message=100)
    r = Reader(peer)
    r.start()
    assert w.send([b"a" * 250])
    peer.sendall(b"E" + struct.pack(">i", 5) + b"x")
    time.sleep(0.05)
    assert w.send([b"b" * 1000]) is False
    assert w.stopped and w.send([b"c"]) is False
    ours.shutdown(socket.SHUT_WR)
    r.join(5)
    assert b"".join(parse_copy_data(bytes(r.data))) == b"a" * 250
    assert pgconn.notices == []
    assert _wire.peek(ours.fileno(), 1) == b"E"


def test_writer_finishes_message_on_error_mid_message(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    w, pgconn = make_writer(ours, max_message=1 << 20)
    payload = b"p" * (3 << 20)

    r = Reader(peer, delay=0.002)

    def server():
        time.sleep(0.2)  # let the writer block inside the first message
        peer.sendall(b"E" + struct.pack(">i", 5) + b"x")
        time.sleep(0.1)
        r.run()  # then read slowly

    t = threading.Thread(target=server, daemon=True)
    t.start()
    assert w.send([payload]) is False
    ours.shutdown(socket.SHUT_WR)
    t.join(10)
    msgs = parse_copy_data(bytes(r.data))  # whole messages, nothing half sent
    assert len(msgs) >= 1 and all(len(m) == 1 << 20 for m in msgs)
    assert len(msgs) < 3 and w.stopped
    assert _wire.peek(ours.fileno(), 1) == b"E"  # left for libpq


@pytest.mark.parametrize("max_message", [1, 3, 5, 7, 13, 64, 1000, 4093, 65536])
def test_interrupt_leaves_whole_messages_only(max_message):
    # The sender blocks on a full socket, SIGINT interrupts it wherever it is:
    # mid-message, or at a boundary before any byte of the next header.  What
    # it then reports as owed, sent with in_message=owed, must complete the
    # stream: the peer may only ever see whole CopyData messages.
    ours, peer = socket.socketpair()
    try:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ours.setblocking(False)
        payload = bytes(range(256)) * 4096  # 1 MiB: more than the buffers hold
        progress = [0, 0]
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            _wire.send_copy_data(ours.fileno(), [payload], max_message=max_message,
                                 progress=progress)
        sent, owed = progress
        assert 0 < sent < len(payload) and owed >= 0
        r = Reader(peer)
        r.start()
        if owed:
            rest = memoryview(payload)[sent:sent + owed]
            done, _, left = _wire.send_copy_data(ours.fileno(), [rest], in_message=owed,
                                                 watch_input=False)
            assert (done, left) == (owed, 0)
        ours.shutdown(socket.SHUT_WR)
        r.join(10)
        msgs = parse_copy_data(bytes(r.data))
        assert b"".join(msgs) == payload[:sent + owed]
        assert all(len(m) == max_message for m in msgs)
    finally:
        ours.close()
        peer.close()


def test_writer_completes_interrupted_message(pair, monkeypatch):
    ours, peer = pair
    w, pgconn = make_writer(ours, max_message=1 << 20)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = np.random.default_rng(5).integers(1, 256, 1 << 20, dtype=np.uint8)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt) as ei:
        w.send([payload])
    assert w._owed > 0
    finished = []
    monkeypatch.setattr(_copy.ZcWriter, "_end_copy", lambda self, exc=None: finished.append(exc))
    r = Reader(peer)
    r.start()
    w.finish(ei.value)
    ours.shutdown(socket.SHUT_WR)
    r.join(10)
    (msg,) = parse_copy_data(bytes(r.data))  # the one message, completed
    assert msg == payload.tobytes()  # with its own bytes, not zeros
    assert finished == [ei.value] and w._owed == 0


def test_writer_completes_interrupted_messages_at_random_points(monkeypatch):
    """SIGINT lands anywhere in ZcWriter.send (in the C call, or in the Python
    around it); finish() must complete the message in flight with the
    stream's own bytes: the peer sees whole CopyData messages whose payload
    is a prefix of the stream (the server decodes what it gets before it
    reads the CopyFail: zeros there fail the COPY as an invalid stream)."""
    monkeypatch.setattr(_copy.ZcWriter, "_end_copy", lambda self, exc=None: None)
    rng = np.random.default_rng(20261201)
    mid_message = 0
    for round_ in range(12):
        ours, peer = socket.socketpair()
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            ours.setblocking(False)
            max_message = int(rng.choice([7, 1000, 4093, 65536, 1 << 20]))
            sizes = rng.integers(1, 1 << 20, 12)
            parts = [rng.integers(0, 256, int(k), dtype=np.uint8) for k in sizes]
            payload = b"".join(p.tobytes() for p in parts)
            w, _ = make_writer(ours, max_message=max_message)
            r = Reader(peer, chunk=4096, delay=0.0005)  # about 8 MB/s: the writer blocks
            r.start()
            timer = threading.Timer(float(rng.uniform(0.01, 0.4)), os.kill,
                                    (os.getpid(), signal.SIGINT))
            timer.start()
            with pytest.raises(KeyboardInterrupt) as ei:
                w.send(parts)
            mid_message += w._owed > 0
            w.finish(ei.value)
            ours.shutdown(socket.SHUT_WR)
            r.join(30)
            data = b"".join(parse_copy_data(bytes(r.data)))
            assert 0 < len(data) <= len(payload), round_
            assert data == payload[:len(data)], (round_, max_message)
            assert w._owed == 0
        finally:
            ours.close()
            peer.close()
    assert mid_message >= 3  # most interruptions land inside a message


class FakeLibpq:
    """Just enough of psycopg's PGconn for ZcWriter's libpq path."""

    def __init__(self, sock):
        self.socket = sock.fileno()
        self.written = []
        self.notice_handler = None
        self.notify_handler = None

    def put_copy_data(self, data):
        self.written.append(bytes(data))
        assert memoryview(data).format == "B" and memoryview(data).ndim == 1
        return 1

    def flush(self):
        return 0

    def consume_input(self):
        pass

    def is_busy(self):
        return 0

    def notifies(self):
        return None


def test_writer_libpq_fallback(pair, monkeypatch):
    ours, _ = pair
    monkeypatch.setattr(_libpq, "PIECE_BYTES", 32)
    pgconn = FakeLibpq(ours)
    cursor = type("Cursor", (), {})()
    cursor.connection = FakeConnection(pgconn)
    w = _copy.ZcWriter(cursor, raw=False, transport_desc="libpq (SSL is in use)")
    arr = np.arange(3, dtype=np.int64)
    assert w.send([b"h", memoryview(arr), arr])
    assert pgconn.written == [b"h", arr.tobytes(), arr.tobytes()]
    big = np.arange(100, dtype=np.int64)
    assert w.send([big])  # in pieces of PIECE_BYTES, each flushed
    assert b"".join(pgconn.written[3:]) == big.tobytes()
    assert {len(p) for p in pgconn.written[3:]} == {_libpq.PIECE_BYTES}
    assert w.bytes_sent == 49 + 800


# -- psycopg + libpq against a fake PostgreSQL server (conftest.FakeServer) ---------


def _frame(n=1000):
    return pd.DataFrame({
        "a": np.arange(n, dtype=np.int64),
        "b": np.where(np.arange(n) % 7 == 0, np.nan, np.arange(n) * 0.5),
        "m": pd.array([None if i % 3 == 0 else i for i in range(n)], dtype="Int32"),
        "t": pd.date_range("2020", periods=n, freq="s", tz="UTC"),
    })


def _dump(df, **kw):
    buf = io.BytesIO()
    zcimport.dump(df, buf, **kw)
    return buf.getvalue()


def _copy_queries(server):
    return [q for q in server.queries if q.startswith("COPY")]


@pytest.mark.parametrize("force_libpq", [False, True])
def test_copy_sends_exactly_the_dump_stream(fake_pg, monkeypatch, caplog, force_libpq):
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    df = _frame(5000)
    with psycopg.connect(fake_pg.dsn) as conn:
        with caplog.at_level("INFO", logger="zcimport"):
            rows = zcimport.copy_dataframe(df, "public.t", conn, batch_rows=1000)
        assert rows == 5000
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    (stream,) = fake_pg.streams
    assert stream == _dump(df, batch_rows=1000)  # no PGCOPY signature or trailer
    assert fake_pg.copy_ends == ["done"]
    assert _copy_queries(fake_pg) == [
        'COPY "public"."t" ("a", "b", "m", "t") FROM STDIN WITH (FORMAT zcimport)']
    assert fake_pg.queries.index("BEGIN") < fake_pg.queries.index(_copy_queries(fake_pg)[0])
    probe = [q for q in fake_pg.queries if "zcimport.version()" in q]
    assert len(probe) == 1
    fallback = [r for r in caplog.records if "through libpq" in r.getMessage()]
    assert len(fallback) == force_libpq and all(r.levelname == "INFO" for r in fallback)
    sizes = fake_pg.copy_messages[0]
    if not force_libpq:
        assert sizes[0] == ref.decode(stream).header_len  # the header alone first
        assert max(sizes) <= _copy.MESSAGE_BYTES


def test_copy_large_frame_splits_messages(fake_pg, monkeypatch):
    monkeypatch.setattr(_copy, "MESSAGE_BYTES", 64 << 10)
    df = pd.DataFrame({"x": np.arange(300_000, dtype=np.float64)})
    with psycopg.connect(fake_pg.dsn) as conn:
        assert zcimport.copy_dataframe(df, "t", conn) == 300_000
    assert fake_pg.streams[0] == _dump(df)
    sizes = fake_pg.copy_messages[0]
    assert max(sizes) == 64 << 10 and len(sizes) > 30


def test_copy_columns_and_renames(fake_pg):
    df = _frame(10)
    with psycopg.connect(fake_pg.dsn) as conn:
        zcimport.copy_dataframe(df, ("my schema", "T"), conn, columns={"b": "B", "a": "id"})
    assert _copy_queries(fake_pg) == [
        'COPY "my schema"."T" ("B", "id") FROM STDIN WITH (FORMAT zcimport)']
    assert ref.decode(fake_pg.streams[0]).names == ["B", "id"]


def test_copy_with_conninfo_commits_and_closes(fake_pg):
    assert zcimport.copy_dataframe(_frame(10), "t", fake_pg.dsn) == 10
    assert fake_pg.queries[-1] == "COMMIT"


def test_copy_with_conninfo_rolls_back_on_error(fake_pg):
    fake_pg.fail_after = 1
    with pytest.raises(psycopg.errors.BadCopyFileFormat):
        zcimport.copy_dataframe(_frame(10), "t", fake_pg.dsn)
    assert fake_pg.queries[-1] == "ROLLBACK"


def test_copy_empty_frame(fake_pg):
    df = _frame(0)
    with psycopg.connect(fake_pg.dsn) as conn:
        assert zcimport.copy_dataframe(df, "t", conn) == 0
    assert fake_pg.streams[0] == _dump(df)


@pytest.mark.parametrize("force_libpq", [False, True])
def test_server_error_stops_early_and_propagates(fake_pg, monkeypatch, force_libpq):
    # through libpq too: the writer notices the error libpq leaves unparsed
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    fake_pg.fail_after = 1 << 20
    df = pd.DataFrame({"x": np.zeros(8_000_000)})  # 64 MB
    with psycopg.connect(fake_pg.dsn) as conn:
        with pytest.raises(psycopg.errors.BadCopyFileFormat) as ei:
            zcimport.copy_dataframe(df, "t", conn)
        assert ei.value.sqlstate == "22P04"
        assert "fake failure" in str(ei.value)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        conn.rollback()
        # the connection is in sync: it can run another load
        fake_pg.fail_after = None
        assert zcimport.copy_dataframe(_frame(10), "t", conn) == 10
    received = len(fake_pg.streams[0]) + fake_pg.received_after_error[0]
    assert received < (1 << 20) + (16 << 20), "the client did not stop early"
    assert fake_pg.copy_ends[0] == "done"  # CopyDone after the stop, not CopyFail


@pytest.mark.parametrize("force_libpq", [False, True])
def test_notices_do_not_stop_the_load(fake_pg, monkeypatch, force_libpq):
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    fake_pg.notice_every = 1 << 20
    df = pd.DataFrame({"x": np.arange(2_000_000, dtype=np.float64)})  # 16 MB
    got = []
    with psycopg.connect(fake_pg.dsn) as conn:
        conn.add_notice_handler(lambda d: got.append(d.message_primary))
        assert zcimport.copy_dataframe(df, "t", conn) == 2_000_000
    assert fake_pg.streams[0] == _dump(df)
    assert len(got) >= 10 and got[0] == f"progress {1 << 20}"


@pytest.mark.parametrize("force_libpq", [False, True])
def test_many_notices_do_not_deadlock(fake_pg, monkeypatch, force_libpq):
    # a notice per 256 bytes: MBs of notices while the client is writing
    # (through libpq too, where none may be taken for an error)
    monkeypatch.setattr(_copy, "FORCE_LIBPQ", force_libpq)
    fake_pg.notice_every = 256
    df = pd.DataFrame({"x": np.arange(1_000_000, dtype=np.int64)})
    got = []
    with psycopg.connect(fake_pg.dsn) as conn:
        conn.add_notice_handler(lambda d: got.append(1))
        assert zcimport.copy_dataframe(df, "t", conn) == 1_000_000
    assert len(got) > 30_000


def test_exception_in_copy_block_sends_copyfail(fake_pg, monkeypatch):
    def boom(plan, batch_rows):
        yield [b"\x89ZCI"]  # a header chunk
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(_copy, "iter_chunks", boom)
    with psycopg.connect(fake_pg.dsn) as conn:
        with pytest.raises(RuntimeError, match="encoder exploded") as ei:
            zcimport.copy_dataframe(_frame(10), "t", conn)
        assert isinstance(ei.value.__context__, psycopg.errors.QueryCanceled)
    assert fake_pg.copy_ends == ["fail: error from Python: RuntimeError - encoder exploded"]


def test_extension_missing_outside_transaction(fake_pg):
    fake_pg.extension_installed = False
    with psycopg.connect(fake_pg.dsn) as conn:
        with pytest.raises(zcimport.ExtensionNotInstalledError) as ei:
            zcimport.copy_dataframe(_frame(3), "t", conn)
        msg = str(ei.value)
        assert "CREATE EXTENSION zcimport" in msg and "'zcdb'" in msg and "aborted" not in msg
        assert isinstance(ei.value.__cause__, psycopg.errors.InvalidSchemaName)
        assert isinstance(ei.value, psycopg.ProgrammingError)
        # the transaction held only the check: it was rolled back
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not _copy_queries(fake_pg)


def test_extension_missing_inside_transaction_uses_savepoint(fake_pg):
    fake_pg.extension_installed = False
    with psycopg.connect(fake_pg.dsn) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(zcimport.ExtensionNotInstalledError) as ei:
            zcimport.copy_dataframe(_frame(3), "t", conn)
        assert "still usable" in str(ei.value)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert any(q.startswith("SAVEPOINT") for q in fake_pg.queries)
    assert any(q.startswith("ROLLBACK TO") for q in fake_pg.queries)


def test_extension_missing_autocommit(fake_pg):
    fake_pg.extension_installed = False
    with psycopg.connect(fake_pg.dsn, autocommit=True) as conn:
        with pytest.raises(zcimport.ExtensionNotInstalledError):
            zcimport.copy_dataframe(_frame(3), "t", conn)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert "BEGIN" not in fake_pg.queries


def test_autocommit_copy(fake_pg):
    with psycopg.connect(fake_pg.dsn, autocommit=True) as conn:
        assert zcimport.copy_dataframe(_frame(7), "t", conn) == 7
    assert "BEGIN" not in fake_pg.queries


def test_server_reported_gss_selects_libpq(fake_pg, caplog):
    fake_pg.gss_encrypted = True
    df = _frame(100)
    with psycopg.connect(fake_pg.dsn) as conn:
        with caplog.at_level("INFO", logger="zcimport"):
            assert zcimport.copy_dataframe(df, "t", conn) == 100
    assert fake_pg.streams[0] == _dump(df)
    assert any("GSSAPI" in r.getMessage() for r in caplog.records)


def test_plan_with_real_connection(fake_pg):
    with psycopg.connect(fake_pg.dsn) as conn:
        pl = zcimport.plan(_frame(3), conn=conn)
        # psycopg's binary libpq cannot be asked whether GSSAPI encrypts
        assert pl.transport in ("socket", "socket (unless GSSAPI encryption is in use)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # nothing ran


def test_server_hanging_up_raises_operational_error(fake_pg):
    fake_pg.close_after = 1 << 20
    df = pd.DataFrame({"x": np.zeros(4_000_000)})  # 32 MB
    with psycopg.connect(fake_pg.dsn) as conn:
        with pytest.raises(psycopg.OperationalError):
            zcimport.copy_dataframe(df, "t", conn)
        assert conn.closed


def test_writer_failed_call_leaves_no_stale_progress(pair):
    ours, peer = pair
    w, _ = make_writer(ours, max_message=100)
    r = Reader(peer)
    r.start()
    assert w.send([b"a" * 250])
    w._call = ([b"x" * 200], [123, 45])  # as a previous call could have left it
    with pytest.raises(BufferError):
        w.send([b"ok", memoryview(np.arange(10))[::2]])
    assert w._owed == 0 and w._owed_parts() == ([], 0)
    assert w._broken is None and w.bytes_sent == 250


def test_signal_is_noticed_while_every_write_succeeds():
    # 7-byte messages to a reader that keeps up: every sendmsg() succeeds,
    # none is short and poll() never times out; the call must still let
    # Python run its SIGINT handler every 100 ms (Ctrl-C), not at the end
    ours, peer = socket.socketpair()
    try:
        ours.setblocking(False)
        payload = bytes(64 << 20)  # millions of messages: many seconds of syscalls
        r = Reader(peer)
        r.start()
        progress = [0, 0]
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            _wire.send_copy_data(ours.fileno(), [payload], max_message=7, progress=progress)
        assert time.monotonic() - t0 < 2
        sent, owed = progress
        assert 0 < sent < len(payload) and 0 <= owed <= 7
        if owed:
            _wire.send_copy_data(ours.fileno(), [memoryview(payload)[sent:sent + owed]],
                                 in_message=owed, watch_input=False)
        ours.shutdown(socket.SHUT_WR)
        r.join(30)
        assert len(b"".join(parse_copy_data(bytes(r.data)))) == sent + owed
    finally:
        ours.close()
        peer.close()


def test_signal_interrupts_a_blocking_socket(pair):
    ours, peer = pair
    ours.setblocking(True)
    big = bytearray(16 << 20)
    progress = [None, None]
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        send_all(ours, [big], progress=progress)  # blocks in sendmsg()
    assert time.monotonic() - t0 < 2
    assert progress[1] == len(big) - progress[0] > 0
    big.extend(b"x")
