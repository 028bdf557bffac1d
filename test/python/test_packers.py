"""The two implementations of the object-column packers against each other:
zcimport._pack (C) and zcimport._pack_py (Python) must give byte-identical
results and identical errors (type, message, UnicodeEncodeError's
attributes) on random inputs, and zcimport._packers must choose between
them as ZCIMPORT_IMPL says."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List

import numpy as np
import pandas as pd
import pytest

from zcimport import _pack_py

try:
    from zcimport import _pack as _pack_c
except ImportError:  # pragma: no cover - the C module is not built
    _pack_c = None

needs_c = pytest.mark.skipif(_pack_c is None, reason="zcimport._pack (C) is not built")

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
MISSING = (pd.NA, pd.NaT)
FUNCS = ["pack_utf8", "pack_binary", "pack_date32"]


class Text(str):
    """A str subclass whose own methods lie: the packers must not call them."""

    def encode(self, *a: Any, **k: Any) -> bytes:  # pragma: no cover - must not run
        return b"lie"

    def __len__(self) -> int:  # pragma: no cover - must not run
        return 99


class Blob(bytes):
    def __len__(self) -> int:  # pragma: no cover - must not run
        return 99


class Day(dt.date):
    def toordinal(self) -> int:  # pragma: no cover - must not run
        return 1


class Other:
    pass


class NanFloat(float):
    pass


def _released() -> memoryview:
    m = memoryview(b"gone")
    m.release()
    return m


# value makers: (weight for utf8 columns, binary, date32, maker)
def _text(r: random.Random) -> str:
    alphabet = r.choice(["abc xyz", "aé€ü", "中文字", "😀🎉a", "a\x00\x7f\x80\u07ff\u0800\uffff"])
    return "".join(r.choice(alphabet) for _ in range(r.randrange(0, 12)))


def _surrogate(r: random.Random) -> str:
    s = list(_text(r) + "x")
    s.insert(r.randrange(len(s)), r.choice(["\ud800", "\udfff", "\udc80\ud800"]))
    return "".join(s)


def _bytes(r: random.Random) -> bytes:
    return bytes(r.randrange(256) for _ in range(r.randrange(0, 10)))


MAKERS: List[Any] = [
    (30, 0, 0, _text),
    (3, 0, 0, lambda r: Text(_text(r))),
    (1, 0, 0, _surrogate),
    (8, 6, 6, lambda r: None),
    (3, 3, 3, lambda r: float("nan")),
    (2, 2, 2, lambda r: np.float64("nan")),
    (1, 1, 1, lambda r: NanFloat("nan")),
    (2, 2, 2, lambda r: pd.NA),
    (2, 2, 2, lambda r: pd.NaT),
    (1, 1, 1, lambda r: 1.5),
    (1, 1, 1, lambda r: np.float32("nan")),
    (1, 1, 1, lambda r: r.randrange(-5, 5)),
    (1, 1, 1, lambda r: decimal.Decimal("1.5")),
    (1, 1, 1, lambda r: Other()),
    (1, 1, 1, lambda r: dt.datetime(2020, 1, 2, 3)),
    (1, 1, 1, lambda r: pd.Timestamp("2021-05-06")),
    (0, 30, 0, _bytes),
    (0, 4, 0, lambda r: bytearray(_bytes(r))),
    (0, 4, 0, lambda r: memoryview(_bytes(r))),
    (0, 2, 0, lambda r: Blob(_bytes(r))),
    (0, 1, 0, lambda r: memoryview(b"abcdefgh")[::2]),
    (0, 1, 0, lambda r: memoryview(np.arange(6, dtype=np.int16).reshape(2, 3))),
    (0, 1, 0, lambda r: _released()),
    (1, 0, 1, _bytes),
    (1, 1, 0, lambda r: dt.date(2000, 1, 1)),
    (0, 0, 30, lambda r: dt.date.fromordinal(r.randrange(1, dt.date.max.toordinal() + 1))),
    (0, 0, 3, lambda r: Day(1969, 12, 31)),
    (1, 0, 1, _text),
]


def _column(r: random.Random, func: str, n: int, clean: bool) -> List[Any]:
    """n random values for func's column kind; clean: no value that errs."""
    k = {"pack_utf8": 0, "pack_binary": 1, "pack_date32": 2, "scan_objects": None}[func]
    weights = [sum(m[:3]) if k is None else m[k] for m in MAKERS]
    if clean:
        ok = {0: (0, 1, 3, 4, 5, 6, 7, 8), 1: (3, 4, 5, 6, 7, 8, 16, 17, 18, 19),
              2: (3, 4, 5, 6, 7, 8, 25, 26)}[k if k is not None else 0]
        weights = [w if i in ok else 0 for i, w in enumerate(weights)]
    makers = r.choices([m[3] for m in MAKERS], weights, k=n)
    return [m(r) for m in makers]


def _container(r: random.Random, vals: List[Any]) -> Any:
    """The values as one of the containers the packers accept."""
    how = r.randrange(5)
    if how == 0:
        return list(vals)
    if how == 1:
        return tuple(vals)
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    if how == 2:
        return arr
    if how == 3:  # every other value of a twice longer array
        big = np.empty(2 * len(vals), dtype=object)
        big[::2] = vals
        return big[::2]
    return arr[::-1].copy()[::-1]


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """fn's result, or what identifies its error."""
    try:
        return ("ok", fn(*args))
    except Exception as ex:  # noqa: BLE001 - the error is what is compared
        if isinstance(ex, UnicodeError):
            return ("error", type(ex), str(ex), ex.args)
        return ("error", type(ex), str(ex))


def assert_same(func: str, args: tuple, python: Any = None) -> Any:
    """Call func of both modules with args; assert identical outcomes."""
    c = outcome(getattr(_pack_c, func), *args)
    p = outcome(python or getattr(_pack_py, func), *args)
    assert p == c, f"{func}{args!r}: Python {p!r} != C {c!r}"
    if c[0] == "ok" and func != "scan_objects":
        assert [type(x) for x in p[1]] == [type(x) for x in c[1]]
    return c


def _random_call(r: random.Random, func: str) -> tuple:
    n = r.choice([0, 1, 3, 10, 40, 200])
    vals = _column(r, func, n, clean=r.random() < 0.5)
    values = _container(r, vals)
    missing = r.choice([MISSING, MISSING, (), None, (pd.NA,)])
    if func == "scan_objects":
        return (values, missing)
    start = r.randrange(0, n + 1)
    stop = r.randrange(start, n + 1)
    name = r.choice(["s", "colonne é", 7, None])
    return (values, start, stop, missing, r.random() < 0.7, name, r.randrange(0, 1000))


@needs_c
@pytest.mark.parametrize("chunk_rows", [7, _pack_py.CHUNK_ROWS])
@pytest.mark.parametrize("func", FUNCS + ["scan_objects"])
def test_random_inputs_give_identical_results_and_errors(func, chunk_rows, monkeypatch):
    monkeypatch.setattr(_pack_py, "CHUNK_ROWS", chunk_rows)
    r = random.Random(f"{func}-{chunk_rows}-{os.environ.get('ZC_PACKERS_SEED', '1')}")
    outcomes = {"ok": 0, "error": 0, "bad": 0}
    for _ in range(250):
        out = assert_same(func, _random_call(r, func))
        outcomes[out[0]] += 1
        if func == "scan_objects" and out[0] == "ok":
            outcomes["bad"] += out[1]["utf8_bad"] >= 0 or out[1]["binary_bad"] >= 0
    # both paths were taken, many times
    if func == "scan_objects":
        assert outcomes["ok"] == 250 and outcomes["bad"] > 20, outcomes
    else:
        assert outcomes["ok"] > 40 and outcomes["error"] > 20, outcomes


@needs_c
def test_large_string_batches_cross_chunks_identically():
    r = random.Random(5)
    vals = _column(r, "pack_utf8", 3 * _pack_py.CHUNK_ROWS + 11, clean=True)
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    for args in [(arr, 0, len(arr), MISSING, True, "s", 0), (arr, 5, len(arr) - 3, MISSING, True)]:
        assert assert_same("pack_utf8", args)[0] == "ok"
    assert_same("scan_objects", (arr, MISSING))
    plain = np.array([_text(r) for _ in range(2 * _pack_py.CHUNK_ROWS + 1)], dtype=object)
    assert assert_same("pack_utf8", (plain, 0, len(plain)))[0] == "ok"
    plain[-1] = None  # the first error is in the last chunk
    c = assert_same("pack_utf8", (plain, 0, len(plain), MISSING, False, "s"))
    assert c[1] is ValueError and f"row {len(plain) - 1}" in c[2]


@needs_c
@pytest.mark.parametrize("args", [
    (np.array(["a"], dtype=object), 0, 2),
    (np.array(["a"], dtype=object), -1, 1),
    (np.array(["a"], dtype=object), 1, 0),
    (np.arange(3), 0, 1),
    (np.array([["a"]], dtype=object), 0, 1),
    (np.array(["2020-01-01"], dtype="M8[D]"), 0, 1),
    (42, 0, 0),
    ("abc", 0, 1),
    (np.array(["a"], dtype=object), 0, 1, [pd.NA]),
    (np.array(["a"], dtype=object), 0, 1, tuple(range(9))),
    (memoryview(np.array([None, "x"], dtype=object)), 0, 2),
    (Other(), 0, 0),
])
@pytest.mark.parametrize("func", FUNCS)
def test_argument_errors_are_identical(func, args):
    assert_same(func, args)
    assert_same("scan_objects", (args[0],) + args[3:4])


@needs_c
def test_surrogate_errors_carry_the_same_attributes():
    arr = np.array(["ok", "ab\udc80\ud800cd"], dtype=object)
    c = assert_same("pack_utf8", (arr, 0, 2, MISSING, True, "t", 10))
    assert c[1] is UnicodeEncodeError
    assert c[3] == ("utf-8", "ab\udc80\ud800cd", 2, 3,
                    "lone surrogate in column 't', row 11, which UTF-8 cannot encode")


def test_the_comparison_can_fail(monkeypatch):
    """A Python packer that differs from C by one byte, or by its error, is caught."""
    if _pack_c is None:  # pragma: no cover
        pytest.skip("zcimport._pack (C) is not built")
    arr = np.array(["ab", None, "é"], dtype=object)

    def off_by_one(*args: Any) -> Any:
        mask, offsets, data, nulls = _pack_py.pack_utf8(*args)
        return mask, offsets, data[:-1] + b"?", nulls

    with pytest.raises(AssertionError, match="Python"):
        assert_same("pack_utf8", (arr, 0, 3, MISSING, True, "s"), python=off_by_one)

    def other_message(*args: Any) -> Any:
        raise TypeError("column 's', row 0: something else")

    with pytest.raises(AssertionError, match="Python"):
        assert_same("pack_utf8", (np.array([1], dtype=object), 0, 1, MISSING, True, "s"),
                    python=other_message)


def test_python_packers_alone():
    """What the Python packers give, without the C module to compare with."""
    arr = np.array(["a", None, "é😀", Text("xy"), np.nan, pd.NA], dtype=object)
    mask, offsets, data, nulls = _pack_py.pack_utf8(arr, 0, 6, MISSING, True, "s")
    assert mask == b"\x00\x01\x00\x00\x01\x01" and nulls == 3
    assert data == "aé😀xy".encode()
    assert list(np.frombuffer(offsets, "<i8")) == [0, 1, 1, 7, 9, 9, 9]
    mask, days, nulls = _pack_py.pack_date32([dt.date(1970, 1, 2), None, Day(1969, 12, 31)],
                                             0, 3, (), True)
    assert list(np.frombuffer(days, "<i4")) == [1, 0, -1] and mask == b"\x00\x01\x00"
    _, offsets, data, _ = _pack_py.pack_binary((b"ab", bytearray(b"c"), memoryview(b"de")), 0, 3)
    assert data == b"abcde" and list(np.frombuffer(offsets, "<i8")) == [0, 2, 3, 5]
    info = _pack_py.scan_objects(np.array([None, "ab", 1, "é", b"xyz", "\ud800"], dtype=object))
    assert info == {"nulls": 1, "first_null": 0, "types": [(str, 1, 3), (int, 2, 1), (bytes, 4, 1)],
                    "utf8_bytes": 4, "utf8_max": 2, "utf8_bad": 5,
                    "binary_bytes": 3, "binary_max": 3, "binary_bad": -1}
    with pytest.raises(TypeError, match=r"column 's', row 7: expected str .* not test_packers\.Other"):
        _pack_py.pack_utf8([Other()], 0, 1, (), True, "s", 7)


def test_a_batch_too_large_is_the_first_error_in_row_order(monkeypatch):
    monkeypatch.setattr(_pack_py, "MAX_DATA", 10)
    msg = ("column 's': the values of rows 3 to 6 take more than 10 bytes (at least {}), more"
           " than a batch message can hold (1 GiB); use a smaller batch_rows")
    with pytest.raises(ValueError) as ei:
        _pack_py.pack_utf8(["abcdef", "ghijk", "l", 5], 0, 4, (), True, "s", 3)
    assert str(ei.value) == msg.format(11)
    with pytest.raises(ValueError) as ei:  # the fast path (str only)
        _pack_py.pack_utf8(["abcdef", "ghijk", "l", "m"], 0, 4, (), True, "s", 3)
    assert str(ei.value) == msg.format(11)
    with pytest.raises(TypeError, match="row 4"):  # an earlier error wins
        _pack_py.pack_utf8(["abcdef", 5, "ghijk", "l"], 0, 4, (), True, "s", 3)


def _impl_in_subprocess(value: Any, *, hide_c: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ZCIMPORT_IMPL"}
    if value is not None:
        env["ZCIMPORT_IMPL"] = value
    env["PYTHONPATH"] = str(PYTHON_DIR)
    code = "import zcimport, zcimport._packers as p; print(zcimport.IMPL, p.pack_utf8.__module__)"
    if hide_c:  # as if the C module were not built
        code = "import sys; sys.modules['zcimport._pack'] = None\n" + code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("value,hide_c,expected", [
    ("python", False, "python zcimport._pack_py"),
    (None, True, "python zcimport._pack_py"),
    ("PYTHON", True, "python zcimport._pack_py"),
    pytest.param("c", False, "c zcimport._pack", marks=needs_c),
    pytest.param(None, False, "c zcimport._pack", marks=needs_c),
])
def test_zcimport_impl_chooses(value, hide_c, expected):
    out = _impl_in_subprocess(value, hide_c=hide_c)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


@pytest.mark.parametrize("value,fragment", [
    ("c", "ZCIMPORT_IMPL=c but the C module zcimport._pack cannot be imported"),
    ("rust", "ZCIMPORT_IMPL='rust': expected 'c' or 'python'"),
])
def test_zcimport_impl_errors(value, fragment):
    out = _impl_in_subprocess(value, hide_c=True)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and fragment in out.stderr
