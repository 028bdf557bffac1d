"""Shared fixtures of the Python client's tests.

Run with, from the repository root:  PYTHONPATH=python /usr/bin/python3 -m pytest test/python -q

The unit tests need no database.  End-to-end tests take the ``dsn`` (or
``conn``) fixture, which skips unless ZC_TEST_DSN names a database where
``CREATE EXTENSION zcimport`` has been run (test/cluster.sh provides one).
"""

from __future__ import annotations

import io
import os
import uuid
from typing import Any, Callable, Iterator

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Import the package from this checkout's python/, whatever the working
# directory and PYTHONPATH are.
_PYTHON_DIR = str(Path(__file__).resolve().parents[2] / "python")
if sys.path[:1] != [_PYTHON_DIR]:
    sys.path.insert(0, _PYTHON_DIR)


def pytest_configure(config: Any) -> None:
    """Register the ``server_side`` and ``once`` markers (see test/run.sh)."""
    config.addinivalue_line(
        "markers",
        "server_side: a suite that exercises the server, not the Python stack; make test runs it"
        " in the first Python environment only (-m 'not server_side' in the others)")
    config.addinivalue_line(
        "markers",
        "once: a slow test of packaging or resources (pip installs, the CLI's peak memory)"
        " rather than of results; make test runs it in the first Python environment only,"
        " and the others check the same code paths' results")


@pytest.fixture(scope="session")
def dsn() -> str:
    """The conninfo of the test database; skips when ZC_TEST_DSN is unset."""
    value = os.environ.get("ZC_TEST_DSN")
    if not value:
        pytest.skip("ZC_TEST_DSN is not set: no test database")
    return value


@pytest.fixture
def conn(dsn: str) -> Iterator[Any]:
    """A psycopg 3 connection to the test database, rolled back afterwards."""
    import psycopg

    with psycopg.connect(dsn) as c:
        yield c
        if not c.closed:
            c.rollback()


@pytest.fixture
def autoconn(dsn: str) -> Iterator[Any]:
    """An autocommit connection, for tables that must outlive a rollback."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def table(request: Any, autoconn: Any) -> Iterator[str]:
    """A unique table name (prefixed after the test module), dropped afterwards."""
    from psycopg import sql

    prefix = request.module.__name__.rpartition(".")[2].replace("test_", "", 1)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    yield name
    autoconn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def utc_conn(dsn: str) -> Iterator[Any]:
    """A connection in UTC with the library loaded, rolled back afterwards."""
    import psycopg

    with psycopg.connect(dsn) as c:
        c.execute("SELECT zcimport.version()")
        c.execute("SET TIME ZONE 'UTC'")
        yield c
        if not c.closed:
            c.rollback()


def _dump_bytes(df: Any, **kwargs: Any) -> bytes:
    import zcimport

    buf = io.BytesIO()
    zcimport.dump(df, buf, **kwargs)
    return buf.getvalue()


@pytest.fixture
def dump_bytes() -> Callable[..., bytes]:
    """A function: zcimport.dump(df, **kwargs) into memory, as bytes."""
    return _dump_bytes


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """A small frame with one column of each supported kind."""
    n = 10
    return pd.DataFrame(
        {
            "b": np.arange(n) % 3 == 0,
            "i8": np.arange(n, dtype=np.int8),
            "i64": np.arange(n, dtype=np.int64) * -7,
            "u16": np.arange(n, dtype=np.uint16),
            "f32": np.linspace(0, 1, n, dtype=np.float32),
            "f64": np.where(np.arange(n) % 4 == 0, np.nan, np.arange(n) / 3),
            "ts": pd.date_range("2021-03-28", periods=n, freq="37min"),
            "tstz": pd.date_range("2021-03-28", periods=n, freq="37min", tz="Europe/Berlin"),
            "td": pd.to_timedelta(np.arange(n), unit="s"),
            "I32": pd.array([None if k % 3 == 1 else k for k in range(n)], dtype="Int32"),
            "boolean": pd.array([None if k % 5 == 0 else k % 2 == 0 for k in range(n)], dtype="boolean"),
            "F64": pd.array([None if k % 4 == 2 else k * 0.5 for k in range(n)], dtype="Float64"),
        }
    )


# -- a fake PostgreSQL server ------------------------------------------------------
#
# Just enough of the frontend/backend protocol (v3) for psycopg and zcimport:
# startup without authentication, simple and extended queries for the few
# statements the client sends, and COPY FROM STDIN, whose stream it decodes
# with the reference decoder.  It lets the tests drive the real libpq and
# psycopg code paths (raw socket writes, Copy.write, CopyDone, errors,
# notices, savepoints) without a database.


class FakeServer:
    """A PostgreSQL impostor on a Unix socket; see the knobs in __init__."""

    def __init__(self) -> None:
        import socket
        import tempfile
        import threading

        self.dir = tempfile.mkdtemp(prefix="zcfake", dir="/tmp")
        self.port = 5432
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(os.path.join(self.dir, f".s.PGSQL.{self.port}"))
        self.listener.listen(8)
        # knobs
        self.extension_installed = True
        self.fail_after: "int | None" = None  # stream bytes before a 22P04 error
        self.notice_every: "int | None" = None  # stream bytes between notices
        self.gss_encrypted = False
        self.close_after: "int | None" = None  # stream bytes before hanging up
        # records
        self.queries: "list[str]" = []
        self.streams: "list[bytes]" = []
        self.copy_messages: "list[list[int]]" = []  # CopyData sizes per COPY
        self.copy_ends: "list[str]" = []  # "done", or "fail: <message>"
        self.received_after_error: "list[int]" = []
        self.errors: "list[BaseException]" = []
        self._threads: "list[threading.Thread]" = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    @property
    def dsn(self) -> str:
        return f"host={self.dir} port={self.port} user=zc dbname=zcdb"

    def close(self) -> None:
        import shutil

        self.listener.close()
        for t in self._threads:
            t.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- plumbing

    def _accept(self) -> None:
        import threading

        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    @staticmethod
    def _recv(c: Any, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            b = c.recv(n - len(buf))
            if not b:
                raise EOFError
            buf += b
        return bytes(buf)

    @staticmethod
    def _msg(t: bytes, body: bytes = b"") -> bytes:
        import struct

        return t + struct.pack(">i", len(body) + 4) + body

    def _fields(self, t: bytes, severity: str, code: str, message: str) -> bytes:
        body = b""
        for k, v in (("S", severity), ("V", severity), ("C", code), ("M", message)):
            body += k.encode() + v.encode() + b"\0"
        return self._msg(t, body + b"\0")

    def _error(self, code: str, message: str) -> bytes:
        return self._fields(b"E", "ERROR", code, message)

    def _rfq(self, status: str) -> bytes:
        return self._msg(b"Z", status.encode())

    def _serve(self, c: Any) -> None:
        import struct

        try:
            while True:
                (n,) = struct.unpack(">i", self._recv(c, 4))
                body = self._recv(c, n - 4)
                (code,) = struct.unpack(">i", body[:4])
                if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                    c.sendall(b"N")
                    continue
                break
            out = self._msg(b"R", struct.pack(">i", 0))
            for k, v in (("server_version", "15.0"), ("client_encoding", "UTF8"),
                         ("server_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                         ("integer_datetimes", "on"), ("standard_conforming_strings", "on"),
                         ("TimeZone", "UTC")):
                out += self._msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
            out += self._msg(b"K", struct.pack(">ii", 4242, 1234))
            c.sendall(out + self._rfq("I"))
            self._loop(c)
        except EOFError:
            pass
        except BaseException as ex:  # pragma: no cover - reported by the fixture
            self.errors.append(ex)
        finally:
            c.close()

    def _command(self, q: str, status: str) -> "tuple[bytes, str]":
        """Run a transaction-control statement: (response, new status)."""
        u = q.strip().upper()
        if status == "E" and not u.startswith(("ROLLBACK", "COMMIT")):
            return self._error("25P02", "current transaction is aborted"), "E"
        if u.startswith("BEGIN"):
            return self._msg(b"C", b"BEGIN\0"), "T"
        if u.startswith("COMMIT"):
            tag = b"ROLLBACK\0" if status == "E" else b"COMMIT\0"
            return self._msg(b"C", tag), "I"
        if u.startswith("ROLLBACK TO"):
            return self._msg(b"C", b"ROLLBACK\0"), "T"
        if u.startswith("ROLLBACK"):
            return self._msg(b"C", b"ROLLBACK\0"), "I"
        if u.startswith("SAVEPOINT"):
            return self._msg(b"C", b"SAVEPOINT\0"), status
        if u.startswith("RELEASE"):
            return self._msg(b"C", b"RELEASE\0"), status
        return self._error("42601", f"fake server cannot run {q!r}"), "E" if status == "T" else status

    def _row(self, names_types: "list[tuple[str, int]]", values: "list[bytes]") -> bytes:
        import struct

        desc = struct.pack(">h", len(names_types))
        for name, oid in names_types:
            desc += name.encode() + b"\0" + struct.pack(">ihihih", 0, 0, oid, -1, -1, 0)
        row = struct.pack(">h", len(values))
        for v in values:
            row += struct.pack(">i", len(v)) + v
        return self._msg(b"T", desc) + self._msg(b"D", row) + self._msg(b"C", b"SELECT 1\0")

    def _loop(self, c: Any) -> None:
        import struct

        status = "I"
        pending = ""
        skip_to_sync = False
        while True:
            t = self._recv(c, 1)
            (n,) = struct.unpack(">i", self._recv(c, 4))
            body = self._recv(c, n - 4)
            if t == b"X":
                return
            if t in b"dcf":
                continue  # copy messages outside COPY are discarded
            if t == b"P":
                pending = body[body.index(b"\0") + 1:].split(b"\0")[0].decode()
                self.queries.append(pending)
                if not skip_to_sync:
                    c.sendall(self._msg(b"1"))
            elif t == b"B":
                if not skip_to_sync:
                    c.sendall(self._msg(b"2"))
            elif t == b"D":
                if not skip_to_sync:
                    c.sendall(self._msg(b"n"))
            elif t == b"E":
                if not skip_to_sync:
                    resp, status = self._command(pending, status)
                    skip_to_sync = resp[:1] == b"E"
                    c.sendall(resp)
            elif t == b"S":
                skip_to_sync = False
                c.sendall(self._rfq(status))
            elif t == b"Q":
                q = body[:-1].decode()
                self.queries.append(q)
                status = self._simple(c, q, status)
            else:
                raise AssertionError(f"unexpected message {t!r}")

    def _simple(self, c: Any, q: str, status: str) -> str:
        u = q.strip().upper()
        failed = "E" if status == "T" else status
        if status == "E":
            resp, status = self._command(q, status)
            c.sendall(resp + self._rfq(status))
            return status
        if "ZCIMPORT.VERSION()" in u:
            if not self.extension_installed:
                c.sendall(self._error("3F000", 'schema "zcimport" does not exist') + self._rfq(failed))
                return failed
            gss = b"t" if self.gss_encrypted else b"f"
            c.sendall(self._row([("version", 25), ("coalesce", 16)], [b"0.1-fake", gss]) + self._rfq(status))
            return status
        if u == "SELECT 1":
            c.sendall(self._row([("?column?", 23)], [b"1"]) + self._rfq(status))
            return status
        if u.startswith("COPY ") and "FORMAT ZCIMPORT" in u:
            return self._copy(c, status)
        resp, status = self._command(q, status)
        c.sendall(resp + self._rfq(status))
        return status

    def _copy(self, c: Any, status: str) -> str:
        import struct

        import zci_reference

        failed = "E" if status == "T" else status
        c.sendall(self._msg(b"G", struct.pack(">bh", 1, 0)))
        stream = bytearray()
        sizes: "list[int]" = []
        self.streams.append(b"")
        self.copy_messages.append(sizes)
        next_notice = self.notice_every
        while True:
            t = self._recv(c, 1)
            (n,) = struct.unpack(">i", self._recv(c, 4))
            body = self._recv(c, n - 4)
            if t == b"d":
                stream += body
                sizes.append(len(body))
                self.streams[-1] = bytes(stream)
                if self.close_after is not None and len(stream) >= self.close_after:
                    raise EOFError  # hang up without a word
                if self.fail_after is not None and len(stream) >= self.fail_after:
                    c.sendall(self._error("22P04", "zcimport: fake failure") + self._rfq(failed))
                    # like PostgreSQL: discard copy messages until the next query
                    after = 0
                    while True:
                        t = self._recv(c, 1)
                        (n,) = struct.unpack(">i", self._recv(c, 4))
                        self._recv(c, n - 4)
                        if t not in b"dcf":
                            raise AssertionError(f"unexpected message {t!r} after the error")
                        after += n + 1
                        if t in b"cf":
                            self.received_after_error.append(after)
                            self.copy_ends.append("done" if t == b"c" else "fail")
                            return failed
                while next_notice is not None and len(stream) >= next_notice:
                    c.sendall(self._fields(b"N", "NOTICE", "00000", f"progress {next_notice}"))
                    next_notice += self.notice_every  # type: ignore[operator]
            elif t == b"c":
                self.copy_ends.append("done")
                try:
                    rows = zci_reference.decode(bytes(stream)).total_rows
                except zci_reference.FormatError as ex:
                    c.sendall(self._error("22P04", f"bad stream: {ex}") + self._rfq(failed))
                    return failed
                c.sendall(self._msg(b"C", f"COPY {rows}\0".encode()) + self._rfq(status))
                return status
            elif t == b"f":
                msg = body[:-1].decode()
                self.copy_ends.append(f"fail: {msg}")
                c.sendall(self._error("57014", f"COPY from stdin failed: {msg}") + self._rfq(failed))
                return failed
            else:
                raise AssertionError(f"unexpected message {t!r} during COPY")


@pytest.fixture
def fake_pg() -> Iterator[FakeServer]:
    """A fake PostgreSQL server (no database needed); see FakeServer."""
    server = FakeServer()
    yield server
    server.close()
    assert not server.errors, server.errors
