"""Every column type a real frame holds, against PostgreSQL's own COPY.

The same frame is loaded twice into identical tables: with zcimport, and
with psycopg's COPY of the same values as Python objects (``write_row``);
the tables must be identical (EXCEPT ALL both ways).  First a frame built to
hold every awkward value (unicode, empty strings, tabs and newlines,
backslashes, quotes, 300-character strings, NULLs in every column, DST
edges, negative durations), then real-world CSV files that ship with Debian
(we did not write them), read with pandas.read_csv as users read them, with
low-cardinality strings turned into categoricals.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

import zcimport
from oracle import assert_same_table, python_value

TRICKY = [
    "plain", "", "héllo wörld", "中文字符", "emoji 😀🎉", "tab\there", "line\nbreak",
    "cr\rlf\r\n", "back\\slash", "quote ' single", 'quote " double', "`backtick`",
    "\\N", "NULL", "x" * 300, "ünïcödé " * 40, " leading and trailing ", ",comma,",
    "ё" * 7,
]


@pytest.fixture
def conn(utc_conn: psycopg.Connection) -> psycopg.Connection:
    """The shared UTC connection (conftest.utc_conn)."""
    return utc_conn


def oracle_value(v: Any) -> Any:
    """What write_row gets for one value of the frame."""
    if isinstance(v, (dict, list)):
        return Jsonb(v)
    return python_value(v)


def oracle_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the oracle gets it.  A float32 loads into numeric by its
    own shortest form (0.1f is 0.1, as pandas prints it), so the oracle gets
    that text: as a Python float it would be 0.10000000149011612."""
    out = frame.copy()
    for name, dtype in frame.dtypes.items():
        if dtype == np.float32:
            out[name] = pd.Series([None if np.isnan(x) else decimal.Decimal(str(x))
                                   for x in frame[name].to_numpy()], dtype=object, index=frame.index)
    return out


def load_twins(conn: psycopg.Connection, frame: pd.DataFrame, ddl: str,
               batch_rows: Any = None) -> None:
    """Create zc and cp with ddl; load frame both ways; compare."""
    conn.execute(f"CREATE TEMP TABLE zc ({ddl})")
    conn.execute(f"CREATE TEMP TABLE cp ({ddl})")
    assert zcimport.copy_dataframe(frame, "zc", conn, batch_rows=batch_rows) == len(frame)
    names = sql.SQL(", ").join(sql.Identifier(str(c)) for c in frame.columns)
    with conn.cursor().copy(sql.SQL("COPY cp ({}) FROM STDIN").format(names)) as copy:
        for row in oracle_frame(frame).astype(object).itertuples(index=False, name=None):
            copy.write_row([oracle_value(v) for v in row])
    assert_same_table(conn, "zc", "cp")
    assert conn.execute("SELECT count(*) FROM zc").fetchone()[0] == len(frame)


def with_nulls(values: List[Any], every: int, offset: int) -> List[Any]:
    """values with None at every every-th position, starting at offset."""
    return [None if i % every == offset else v for i, v in enumerate(values)]


def test_every_type_with_awkward_values(conn):
    n = len(TRICKY) * 3
    rng = np.random.default_rng(11)
    strings = (TRICKY * 3)[:n]
    dst = pd.to_datetime(["2024-03-31 00:59:59", "2024-03-31 01:00:00", "2024-10-27 00:59:59",
                          "2024-10-27 01:00:00", "2024-03-10 06:59:59.999999",
                          "2024-11-03 05:30:00"] * 10, format="ISO8601")[:n].tz_localize("UTC")
    frame = pd.DataFrame({
        "s": pd.Series(with_nulls(strings, 7, 3), dtype=object),
        "st": pd.array(with_nulls(strings[::-1], 5, 0), dtype="string"),
        "cat": pd.Categorical(with_nulls([["north", "south", "eäst", "w'est"][i % 4] for i in range(n)], 6, 2)),
        "d": pd.Series(with_nulls([dt.date(1970, 1, 1) + dt.timedelta(days=int(x))
                                   for x in rng.integers(-800_000, 2_900_000, n)], 9, 4), dtype=object),
        "dur": pd.to_timedelta(with_nulls([int(x) * 1000 for x in rng.integers(-10**14, 10**14, n)], 8, 1),
                               unit="ns"),
        "b": pd.Series(with_nulls([bytes(rng.integers(0, 256, int(k), dtype=np.uint8))
                                   for k in rng.integers(0, 40, n)], 10, 5), dtype=object),
        "dec": pd.Series(with_nulls([decimal.Decimal(str(x)) for x in
                                     ["0", "-1.5", "123456789012345678901234567890.123456789",
                                      "1E+3", "NaN", "0.000001", "-0"] * 9][:n], 11, 6),
                         dtype=object),
        "j": pd.Series(with_nulls([{"k": i, "s": strings[i], "l": [1, None, "x"]} if i % 2 else [i, "é"]
                                   for i in range(n)], 12, 7), dtype=object),
        "u": pd.Series(with_nulls([uuid.UUID(int=int(x)) for x in rng.integers(0, 2**62, n)], 13, 8),
                       dtype=object),
        "ip": pd.Series(with_nulls([ipaddress.ip_address("192.0.2.1"), ipaddress.ip_network("2001:db8::/32"),
                                    ipaddress.ip_address("::1")] * n, 4, 0)[:n], dtype=object),
        "tz_berlin": pd.Series(dst).dt.tz_convert("Europe/Berlin").where(np.arange(n) % 9 != 5),
        "tz_ny": pd.Series(dst).dt.tz_convert("America/New_York").where(np.arange(n) % 5 != 2),
        "u64": np.array([0, 1, 2**63, 2**64 - 1] * n, dtype=np.uint64)[:n],
        "f": np.array([1 / 3, 0.1, -2.5, 1e-300, 1e300] * n)[:n],
        "f32": np.array([0.1, 1 / 3, 3.4e38, -1e-45] * n, dtype=np.float32)[:n],
        "ni": pd.array(with_nulls(list(range(n)), 3, 1), dtype="Int64"),
        "nothing": pd.Series([None] * n, dtype=object),
    })
    load_twins(conn, frame, """
        s text, st varchar(400), cat text, d date, dur interval, b bytea, dec numeric,
        j jsonb, u uuid, ip inet, tz_berlin timestamptz, tz_ny timestamptz, u64 numeric,
        f numeric, f32 numeric, ni int8, nothing int4""", batch_rows=10)


def test_strings_into_char_varchar_and_types_with_input_functions(conn):
    conn.execute("CREATE TYPE zc_mood AS ENUM ('sad', 'ok', 'happy')")
    n = 300
    frame = pd.DataFrame({
        "c": pd.Series(with_nulls([["a", "bb", "ccc", ""][i % 4] for i in range(n)], 7, 3), dtype=object),
        "mood": pd.Categorical(with_nulls([["sad", "ok", "happy"][i % 3] for i in range(n)], 5, 1),
                               categories=["sad", "ok", "happy", "unused"]),
        "dt": pd.Series(with_nulls([f"2024-0{1 + i % 9}-1{i % 10}" for i in range(n)], 6, 0), dtype=object),
        "arr": pd.Series(with_nulls([f"{{{i},{i + 1}}}" for i in range(n)], 8, 2), dtype=object),
        "num": pd.Series(with_nulls([f"{i}.{i % 7}" for i in range(n)], 9, 4), dtype=object),
    })
    load_twins(conn, frame, "c char(4), mood zc_mood, dt date, arr int4[], num numeric(8,1)")


def test_categorical_replaced_dictionary_and_many_batches(conn):
    values = [f"category {i % 37} ✓" for i in range(5000)]
    frame = pd.DataFrame({"c": pd.Categorical(with_nulls(values, 17, 3)),
                          "k": np.arange(5000, dtype=np.int64)})
    load_twins(conn, frame, "c text, k int8", batch_rows=333)


# ---------------------------------------------------------------------------
# real-world CSV files shipped by Debian packages
# ---------------------------------------------------------------------------


def ddl_for(frame: pd.DataFrame) -> str:
    """A column list for the frame's dtypes (what a user would create)."""
    parts = []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            t = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            t = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            t = "double precision"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            t = "timestamptz" if getattr(dtype, "tz", None) else "timestamp"
        else:
            t = "text"
        parts.append(f'"{name}" {t}')
    return ", ".join(parts)


def categorize(frame: pd.DataFrame) -> pd.DataFrame:
    """What users do: low-cardinality string columns become categoricals."""
    out = frame.copy()
    for name in out.columns:
        if (out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype)) \
                and out[name].nunique() <= len(out) // 2:
            out[name] = out[name].astype("category")
    return out


def real_world_frames() -> Dict[str, pd.DataFrame]:
    """Debian's and Ubuntu's release tables, and tzdata's zone tables."""
    frames = {}
    for name in ("debian", "ubuntu"):
        path = Path(f"/usr/share/distro-info/{name}.csv")
        if path.exists():
            frames[name] = pd.read_csv(path, parse_dates=["created", "release", "eol"])
    zone = Path("/usr/share/zoneinfo/zone1970.tab")
    if zone.exists():
        frames["zone1970"] = pd.read_csv(zone, sep="\t", comment="#", header=None,
                                         names=["codes", "coordinates", "tz", "comments"])
        frames["zone1970"]["continent"] = frames["zone1970"]["tz"].str.split("/").str[0]
    iso = Path("/usr/share/zoneinfo/iso3166.tab")
    if iso.exists():
        frames["iso3166"] = pd.read_csv(iso, sep="\t", comment="#", header=None,
                                        names=["code", "country"], keep_default_na=False)
    return frames


REAL_WORLD = real_world_frames()


@pytest.mark.parametrize("name", sorted(REAL_WORLD))
@pytest.mark.parametrize("categorical", [False, True])
def test_real_world_csv(conn, name, categorical):
    frame = REAL_WORLD[name]
    if categorical:
        frame = categorize(frame)
        assert any(isinstance(d, pd.CategoricalDtype) for d in frame.dtypes) or name == "iso3166"
    load_twins(conn, frame, ddl_for(frame), batch_rows=16)


def test_the_real_world_files_are_there():
    # deps.sh installs distro-info-data and tzdata: the tests above must run
    assert {"debian", "ubuntu", "zone1970", "iso3166"} <= set(REAL_WORLD)


def test_durations_beyond_the_microsecond_range(conn):
    # An interval holds days and microseconds apart: a duration in s or ms
    # whose microseconds overflow int64 still loads when its days fit int32,
    # as COPY of the same timedelta does; beyond that, 22008 as COPY gives.
    # (Python's timedelta, the oracle's, holds up to 999,999,999 days)
    ms = np.array([-71_500_697_197_576_578, 80_000_000_000_000_000, -1, 86_399_999, 0], dtype="m8[ms]")
    s = np.array([80_000_000_000_000, -80_000_000_000_000, 1, -86_400, 0], dtype="m8[s]")
    ns = np.array([-1, 499, 500, 1500, 86_399_999_999_500], dtype="m8[ns]")
    conn.execute("CREATE TEMP TABLE zc (ms interval, s interval, ns interval)")
    conn.execute("CREATE TEMP TABLE cp (ms interval, s interval, ns interval)")
    assert zcimport.copy_dataframe({"ms": ms, "s": s, "ns": ns}, "zc", conn) == 5
    with conn.cursor().copy("COPY cp (ms, s, ns) FROM STDIN") as copy:
        for a, b, c in zip(ms, s, ns):
            # the oracle: Python's timedelta, rounded to microseconds as PostgreSQL rounds
            copy.write_row([dt.timedelta(milliseconds=int(a.astype(np.int64))),
                            dt.timedelta(seconds=int(b.astype(np.int64))),
                            dt.timedelta(microseconds=round(int(c.astype(np.int64)) / 1000))])
    assert_same_table(conn, "zc", "cp")
    assert conn.execute("SELECT min(ms)::text FROM zc").fetchone()[0] == \
        "-827554366 days +06:53:43.422"
    too_far = np.array([2**62], dtype="m8[s]")  # 5e13 days
    with pytest.raises(psycopg.errors.DatetimeFieldOverflow) as info:
        zcimport.copy_dataframe({"s": too_far}, "zc", conn, columns=["s"])
    assert "out of range for type interval" in str(info.value)
