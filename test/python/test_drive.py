"""zcimport._drive: one generator of operations, run by the blocking and the asyncio driver.

Needs no database: the operations that touch a connection are given fakes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, List, Optional, Sequence, Tuple

import pytest

from zcimport._drive import Call, Close, Gen, Query, Readable, Rollback, run, run_async, run_queries


class FakeConn:
    """What the drivers call for Query, Rollback and Close, in both flavours."""

    def __init__(self) -> None:
        self.log: List[Any] = []
        self.fail_on: Optional[str] = None

    def _execute(self, query: str, params: Optional[Sequence[Any]]) -> "FakeCursor":
        self.log.append((query, params))
        if query == self.fail_on:
            raise ValueError(f"failed: {query}")
        return FakeCursor(query)

    def close(self) -> None:
        self.log.append("close")

    def rollback(self) -> None:
        self.log.append("rollback")


class FakeCursor:
    def __init__(self, query: str) -> None:
        self.description = [("x",)] if query.startswith("SELECT") else None
        self.rowcount = 7

    def fetchall(self) -> List[Tuple[str]]:
        return [("row",)]


class SyncConn(FakeConn):
    def execute(self, query: str, params: Optional[Sequence[Any]] = None) -> FakeCursor:
        return self._execute(query, params)


class AsyncCursor(FakeCursor):
    async def fetchall(self) -> List[Tuple[str]]:  # type: ignore[override]
        return [("row",)]


class AsyncConn(FakeConn):
    async def execute(self, query: str, params: Optional[Sequence[Any]] = None) -> AsyncCursor:
        cur = self._execute(query, params)
        out = AsyncCursor(query)
        out.description, out.rowcount = cur.description, cur.rowcount
        return out

    async def close(self) -> None:  # type: ignore[override]
        super().close()

    async def rollback(self) -> None:  # type: ignore[override]
        super().rollback()


def flow(fd: int) -> Gen[List[Any]]:
    """Every kind of result and an exception thrown in at a yield."""
    seen: List[Any] = []
    seen.append((yield Query("SELECT 1", (1,))))
    seen.append((yield Query("CREATE x")))
    seen.append((yield Call(lambda: threading.get_ident())) != 0)
    try:
        yield Call(lambda: 1 // 0)
    except ZeroDivisionError as ex:
        seen.append(f"caught {type(ex).__name__} at the yield")
    try:
        yield Query("DROP y")
    except ValueError as ex:
        seen.append(str(ex))
    yield Rollback()
    yield Readable(fd, 5.0)
    yield Close("done")
    return seen


EXPECTED = [
    ([("row",)], 7),
    ([], 7),
    True,
    "caught ZeroDivisionError at the yield",
    "failed: DROP y",
]


@pytest.fixture()
def readable_fd():
    a, b = socket.socketpair()
    b.send(b"x")
    yield a.fileno()
    a.close()
    b.close()


def test_the_blocking_and_the_asyncio_driver_give_the_same_results(readable_fd):
    sync = SyncConn()
    sync.fail_on = "DROP y"
    assert run(flow(readable_fd), sync) == EXPECTED
    aconn = AsyncConn()
    aconn.fail_on = "DROP y"
    assert asyncio.run(run_async(flow(readable_fd), aconn)) == EXPECTED
    assert sync.log == aconn.log == [("SELECT 1", (1,)), ("CREATE x", None), ("DROP y", None),
                                     "rollback", "close"]


def test_the_asyncio_driver_runs_calls_off_the_loop():
    def where() -> Gen[Tuple[int, int]]:
        off = yield Call(threading.get_ident)
        on = yield Call(threading.get_ident, in_thread=False)
        return off, on

    off, on = asyncio.run(run_async(where(), None))
    assert on == threading.get_ident() and off != on
    a, b = run(where(), None)
    assert a == b == threading.get_ident()


def test_a_cancelled_call_completes_then_is_thrown_in():
    """The call in flight is not abandoned: it returns, then the generator
    sees CancelledError at its yield (and may record what the call did)."""
    done = threading.Event()
    release = threading.Event()
    state: List[str] = []

    def slow() -> str:
        done.set()
        release.wait(5)
        state.append("call returned")
        return "value"

    def gen() -> Gen[None]:
        try:
            yield Call(slow)
        except asyncio.CancelledError:
            state.append("cancelled at the yield, after the call: " + ",".join(state))
            raise

    async def main() -> None:
        task = asyncio.ensure_future(run_async(gen(), None))
        await asyncio.get_running_loop().run_in_executor(None, done.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the call
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert state == ["call returned", "cancelled at the yield, after the call: call returned"]


def test_run_queries_with_any_driver():
    def gen() -> Gen[int]:
        rows, _ = yield Query("SELECT a", ("p",))
        _, count = yield Query("UPDATE b")
        return len(rows) + count

    calls: List[Any] = []

    def run_query(query: str, params: Optional[Sequence[Any]] = None) -> Tuple[List[Any], int]:
        calls.append((query, params))
        return ([1, 2], 0) if query.startswith("SELECT") else ([], 5)

    assert run_queries(gen(), run_query) == 7
    assert calls == [("SELECT a", ("p",)), ("UPDATE b", None)]


def test_an_interrupt_between_operations_leaves_the_generator_usable():
    """A KeyboardInterrupt raised by an operation is thrown in at the yield;
    one raised by the generator's own code leaves through the driver."""
    def gen() -> Gen[str]:
        try:
            yield Call(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
        except KeyboardInterrupt:
            pass
        raise KeyboardInterrupt("from the generator")

    with pytest.raises(KeyboardInterrupt, match="from the generator"):
        run(gen(), None)

