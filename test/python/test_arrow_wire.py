"""The wire types Arrow needs, against PostgreSQL's own COPY of their text.

For each new wire type (bitbool, utf8_32, binary_32 with and without based
offsets, date64, time32, time64, decimal128, decimal256, dictionaries with
unsigned codes) and each target type it loads into, a seeded generator makes
values (edge values first: the largest decimals of a precision, negative
scales, scales beyond the precision, 00:00 and 24:00, negative and
non-midnight date64), the reference encoder (zci_reference.encode) lays them
out under the null encodings 0, 1 and 2, and they are loaded twice: with
COPY ... (FORMAT zcimport) into table A, and as text with plain COPY into
the twin table B.  The rows must be identical, or both loads must fail with
the same SQLSTATE (checked value by value when the whole load fails).

One documented difference: a decimal with scale > 0 that is a whole number
(12.00) loads into an integer column as 12, while COPY rejects the text
"12.00"; the oracle gets "12" for it.

Needs ZC_TEST_DSN (see conftest.py); with ZC_TEST_SERVER_LOG naming the
server's log file, each test also checks that no backend crashed.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import psycopg
import pytest
from psycopg import sql

import zci_reference as ref

SEED = 20240601
DAY_MS = 86_400_000
EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection with the library loaded; checks the server
    log for crashes afterwards when ZC_TEST_SERVER_LOG is set."""
    log = os.environ.get("ZC_TEST_SERVER_LOG")
    start = Path(log).stat().st_size if log and Path(log).exists() else 0
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT zcimport.version()")
        c.execute("SET TimeZone = 'UTC'")
        yield c
        _TABLE_TYPES.clear()
        c.execute("DROP TABLE IF EXISTS arrow_wire_a, arrow_wire_b")
    if log and Path(log).exists():
        with open(log, "rb") as f:
            f.seek(start)
            tail = f.read().decode("utf-8", "replace")
        assert "terminated by signal" not in tail, tail
        assert "was terminated" not in tail, tail


# ---------------------------------------------------------------------------
# COPY text format
# ---------------------------------------------------------------------------

def copy_text_field(s: Optional[str]) -> str:
    """A field of COPY's text format."""
    if s is None:
        return "\\N"
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


@dataclass
class Case:
    """One wire column into one target type: values, and their text."""

    name: str
    target: str
    col: ref.EncColumn
    text: Callable[[Any], Optional[str]]
    setup: List[str] = field(default_factory=list)


def load_zcimport(c: psycopg.Connection, table: str, col: ref.EncColumn,
                  batch_rows: Optional[int]) -> Optional[str]:
    """Load with FORMAT zcimport; the SQLSTATE on failure."""
    data = ref.encode([col], batch_rows)
    try:
        with c.cursor().copy(sql.SQL("COPY {} (v) FROM STDIN WITH (FORMAT zcimport)")
                             .format(sql.Identifier(table))) as cp:
            cp.write(data)
    except psycopg.Error as ex:
        assert ex.sqlstate, ex
        return ex.sqlstate
    return None


def load_text(c: psycopg.Connection, table: str, texts: List[Optional[str]]) -> Optional[str]:
    """Load with plain COPY of the text; the SQLSTATE on failure."""
    payload = "".join(copy_text_field(t) + "\n" for t in texts).encode("utf-8")
    try:
        with c.cursor().copy(sql.SQL("COPY {} (v) FROM STDIN")
                             .format(sql.Identifier(table))) as cp:
            cp.write(payload)
    except psycopg.Error as ex:
        assert ex.sqlstate, ex
        return ex.sqlstate
    return None


def rows_of(c: psycopg.Connection, table: str) -> List[Tuple[Any, ...]]:
    return c.execute(sql.SQL("SELECT v::text FROM {} ORDER BY ord")
                     .format(sql.Identifier(table))).fetchall()


def fresh(c: psycopg.Connection, table: str, target: str) -> None:
    c.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    c.execute(sql.SQL("CREATE TABLE {} (ord bigserial, v " + target + ")")
              .format(sql.Identifier(table)))


_TABLE_TYPES: dict = {}


def run_case(c: psycopg.Connection, case: Case, batch_rows: Optional[int] = 16) -> int:
    """Load the case both ways and compare; returns the rows compared."""
    for stmt in case.setup:
        c.execute(stmt)
    a, b = "arrow_wire_a", "arrow_wire_b"
    col = case.col
    texts = [None if v is None else case.text(v) for v in col.values]
    for t in (a, b):
        # recreate the twin tables only when the target type changes
        if _TABLE_TYPES.get((id(c), t)) != case.target:
            fresh(c, t, case.target)
            _TABLE_TYPES[(id(c), t)] = case.target
        else:
            c.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(t)))
    sa = load_zcimport(c, a, col, batch_rows)
    sb = load_text(c, b, texts)
    if sa is None and sb is None:
        ra, rb = rows_of(c, a), rows_of(c, b)
        assert ra == rb, f"{case.name} into {case.target}"
        assert len(ra) == len(col.values)
        return len(ra)
    # a failed load inserts nothing
    if sa is not None:
        assert rows_of(c, a) == []
    # compare value by value
    for i, v in enumerate(col.values):
        one = ref.EncColumn(col.type, [v], nulls=col.nulls, flags=col.flags, unit=col.unit,
                            byte4=col.byte4, byte5=col.byte5, name=col.name,
                            first=col.first, based=col.based, dictionary=col.dictionary)
        c.execute(sql.SQL("TRUNCATE {}, {}").format(sql.Identifier(a), sql.Identifier(b)))
        sa1 = load_zcimport(c, a, one, None)
        sb1 = load_text(c, b, [texts[i]])
        assert sa1 == sb1, (f"{case.name} into {case.target}: value {v!r} "
                            f"(text {texts[i]!r}): zcimport {sa1}, COPY {sb1}")
        if sa1 is None:
            assert rows_of(c, a) == rows_of(c, b), f"{case.name}: value {v!r}"
    return len(col.values)


# ---------------------------------------------------------------------------
# Values and their text
# ---------------------------------------------------------------------------

def with_nulls(rng: random.Random, values: List[Any], nulls: int) -> List[Any]:
    if nulls == 0:
        return values
    return [None if rng.random() < 0.15 else v for v in values]


def ms_text(ms: int) -> str:
    t = EPOCH + dt.timedelta(milliseconds=ms)
    return t.isoformat(sep=" ", timespec="microseconds")


def day_text(ms: int) -> str:
    return (EPOCH + dt.timedelta(days=ms // DAY_MS)).date().isoformat()


def tod_text(v: int, per_second: int) -> str:
    """A time of day of v units (per_second per second); ns keep 9 digits."""
    secs, frac = divmod(v, per_second)
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    digits = len(str(per_second)) - 1
    out = f"{h:02d}:{m:02d}:{s:02d}"
    if digits:
        out += "." + str(frac).rjust(digits, "0")
    return out


def int_oracle_text(unscaled: int, scale: int) -> str:
    """The oracle's text of a decimal for an integer column: the integer when
    the value is whole (see the module docstring), else the decimal."""
    if scale <= 0:
        return ref.decimal_text(unscaled, scale)
    q, r = divmod(abs(unscaled), 10**scale)
    if r == 0:
        return ("-" if unscaled < 0 and q else "") + str(q)
    return ref.decimal_text(unscaled, scale)


def decimal_values(rng: random.Random, precision: int, n: int, wide: int) -> List[int]:
    top = 10**precision - 1
    edge = [top, -top, 0, 1, -1, 10 ** (precision - 1)]
    if wide == 16:
        edge += [2**127 - 1, -(2**127)]  # beyond the precision: loaded as they are
    else:
        edge += [2**255 - 1, -(2**255)]
    vals = edge + [rng.randint(-top, top) for _ in range(n)]
    vals += [rng.randint(-999, 999) * 10 ** rng.randint(0, 6) for _ in range(n // 2)]
    return vals


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_bitbool(db: psycopg.Connection, nulls: int) -> None:
    rng = random.Random(SEED + nulls)
    vals = with_nulls(rng, [rng.random() < 0.5 for _ in range(203)], nulls)
    n = run_case(db, Case("bitbool", "bool", ref.EncColumn("bitbool", vals, nulls=nulls),
                          lambda v: "t" if v else "f"), batch_rows=37)
    assert n == 203


@pytest.mark.parametrize("wire", ["utf8_32", "utf8", "binary_32", "binary"])
@pytest.mark.parametrize("based", [False, True])
@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_strings(db: psycopg.Connection, wire: str, based: bool, nulls: int) -> None:
    rng = random.Random(hash((SEED, wire, based, nulls)) & 0xFFFF)
    words = ["", "a", "héllo", "tab\there", "line\nbreak", "back\\slash", "😀", "x" * 40,
             "12.5", "-3"]
    if wire.startswith("binary"):
        vals: List[Any] = [bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
                           for _ in range(90)]
        targets = [("bytea", lambda v: "\\x" + v.hex())]
    else:
        vals = [rng.choice(words) + rng.choice(words) for _ in range(90)]
        targets = [("text", lambda v: v), ("varchar(6)", lambda v: v)]
    vals = with_nulls(rng, vals, nulls)
    for target, text in targets:
        col = ref.EncColumn(wire, vals, nulls=nulls, based=based,
                            first=rng.randrange(0, 50) if based or rng.random() < 0.5 else 0)
        run_case(db, Case(wire, target, col, text), batch_rows=rng.choice([16, 17, 33, None]))
    if not wire.startswith("binary"):
        nums = with_nulls(rng, [str(rng.randint(-10**6, 10**6) / 100) for _ in range(40)], nulls)
        run_case(db, Case(wire, "numeric", ref.EncColumn(wire, nums, nulls=nulls, based=based,
                                                         first=3), lambda v: v))


@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_date64(db: psycopg.Connection, nulls: int) -> None:
    rng = random.Random(SEED + 64 + nulls)
    lo = -62_135_596_800_000  # 0001-01-01
    hi = 253_402_300_799_999  # 9999-12-31 23:59:59.999
    edge = [0, -1, 1, DAY_MS, -DAY_MS, -DAY_MS + 1, DAY_MS * 19_782 + 45_296_789, lo, hi,
            -86_400_001, 951_782_400_000]
    vals = edge + [rng.randint(lo, hi) for _ in range(150)]
    vals += [rng.randint(-700_000, 700_000) * DAY_MS for _ in range(20)]
    vals = with_nulls(rng, vals, nulls)
    col = ref.EncColumn("date64", vals, nulls=nulls)
    run_case(db, Case("date64", "date", col, day_text))
    run_case(db, Case("date64", "timestamp", col, ms_text))
    run_case(db, Case("date64", "timestamp(0)", col, ms_text))
    for tz in ("UTC", "Europe/Berlin", "America/Sao_Paulo"):
        run_case(db, Case("date64", "timestamptz", col, ms_text, [f"SET TimeZone = '{tz}'"]))
    db.execute("SET TimeZone = 'UTC'")


@pytest.mark.parametrize("wire,unit,per_second", [
    ("time32", 0, 1), ("time32", 1, 1000), ("time64", 2, 10**6), ("time64", 3, 10**9),
])
@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_time(db: psycopg.Connection, wire: str, unit: int, per_second: int, nulls: int) -> None:
    rng = random.Random(SEED + unit * 10 + nulls)
    day = 86_400 * per_second
    vals = [0, day, day - 1, 1, per_second, 3_723 * per_second]
    vals += [rng.randint(0, day) for _ in range(150)]
    if per_second == 10**9:
        # ties are rounded to even on integers here, by rint() on a double in
        # time_in(): keep them to the regression test
        vals = [v + 1 if v % 1000 == 500 else v for v in vals]
    vals = with_nulls(rng, vals, nulls)
    col = ref.EncColumn(wire, vals, nulls=nulls, unit=unit)
    run_case(db, Case(wire, "time", col, lambda v: tod_text(v, per_second)))
    run_case(db, Case(wire, "time(2)", col, lambda v: tod_text(v, per_second)))
    run_case(db, Case(wire, "timetz", col, lambda v: tod_text(v, per_second),
                      ["SET TimeZone = 'Asia/Kolkata'"]))
    db.execute("SET TimeZone = 'UTC'")
    # past 24:00:00: 22008 both ways
    over = ref.EncColumn(wire, [0, day + rng.randint(1, day)], unit=unit)
    assert run_case(db, Case(wire, "time", over, lambda v: tod_text(v, per_second))) == 2


#: less of the decimal grid at ZC_TEST_SCALE < 1: it tests the server, not
#: Python (and make test runs it, marked server_side, in the first Python
#: environment only)
SCALE = float(os.environ.get("ZC_TEST_SCALE", "1"))

DECIMAL_TARGETS = ["numeric", "int2", "int4", "int8", "float4", "float8", "text",
                   "varchar(12)", "numeric(20,4)"]


@pytest.mark.server_side
@pytest.mark.parametrize("wire,width,maxp", [("decimal128", 16, 38), ("decimal256", 32, 76)])
@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_decimal(db: psycopg.Connection, wire: str, width: int, maxp: int, nulls: int) -> None:
    rng = random.Random(SEED + maxp + nulls)
    precisions = [1, 2, 9, 18, 19, maxp, rng.randint(1, maxp)]
    if SCALE < 1:  # the matrix's other Python environments: 1, 19 and maxp
        precisions = [1, 19, maxp]
    for precision in precisions:
        scales = sorted({0, 2, -3, precision, precision + 3, -precision,
                         rng.randint(-20, precision + 5)})
        scales = [s for s in scales if -128 <= s <= 127]
        for scale in scales:
            vals = with_nulls(rng, decimal_values(rng, precision, 12, width), nulls)
            col = ref.EncColumn(wire, vals, nulls=nulls, byte4=precision, byte5=scale)
            for target in DECIMAL_TARGETS:
                if target.startswith("int"):
                    text = (lambda v, s=scale: int_oracle_text(v, s))
                else:
                    text = (lambda v, s=scale: ref.decimal_text(v, s))
                run_case(db, Case(f"{wire}({precision},{scale})", target, col, text),
                         batch_rows=rng.choice([16, 17, None]))


@pytest.mark.parametrize("index_type", [6, 7, 8, 9])
@pytest.mark.parametrize("nulls", [0, 1, 2])
def test_unsigned_dictionary(db: psycopg.Connection, index_type: int, nulls: int) -> None:
    rng = random.Random(SEED + index_type * 3 + nulls)
    entries = ["red", "green", "blue", "", "tab\tx", "héllo"]
    codes = with_nulls(rng, [rng.randrange(len(entries)) for _ in range(120)], nulls)
    col = ref.EncColumn("dictionary", codes, nulls=nulls, byte4=index_type, byte5=16,
                        dictionary=entries)
    run_case(db, Case("dictionary", "text", col, lambda k: entries[k]), batch_rows=33)
    run_case(db, Case("dictionary", "varchar(4)", col, lambda k: entries[k]), batch_rows=33)


def test_garbage_bitmap_bits_are_ignored(db: psycopg.Connection) -> None:
    """The reference encoder sets the validity bits past n; the decoder must
    ignore them for every new type (17 rows: 7 garbage bits)."""
    cols = [
        ref.EncColumn("bitbool", [True] * 16 + [None], nulls=1),
        ref.EncColumn("date64", [DAY_MS] * 16 + [None], nulls=1),
        ref.EncColumn("time32", [1] * 16 + [None], nulls=1, unit=0),
        ref.EncColumn("decimal128", [1] * 16 + [None], nulls=1, byte4=5, byte5=1),
        ref.EncColumn("utf8_32", ["x"] * 16 + [None], nulls=1, based=True, first=9),
    ]
    targets = ["bool", "date", "time", "numeric", "text"]
    for col, target in zip(cols, targets):
        fresh(db, "arrow_wire_a", target)
        assert load_zcimport(db, "arrow_wire_a", col, None) is None
        assert db.execute("SELECT count(*), count(v) FROM arrow_wire_a").fetchone() == (17, 16)
