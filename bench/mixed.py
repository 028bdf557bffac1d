"""The mixed benchmark: load a DataFrame of N rows with the column types of
real data (id int64, ts datetime64[ns], price float64 with NaN, qty nullable
Int32 with NA, name object strings, region categorical, flag bool) into

    CREATE TABLE t (id int8, ts timestamp, price float8, qty int4,
                    name text, region text, flag bool)

with zcimport and with its peers, side by side in one run, on the durable
private cluster of test/cluster.sh.

The frame is built as a pandas user gets it: with pandas 3 the name
column is pandas' default string dtype ``str`` (pyarrow-backed when pyarrow
is installed) and the categorical's categories too; ``--strings object``
builds the old frame of object columns of str instead.

Peers: (1) zcimport.copy_dataframe over psycopg 3; (2) ADBC's PostgreSQL
driver, ``cursor.adbc_ingest`` of ``pa.Table.from_pandas(df)`` (conversion
timed); (3) pandas ``to_sql`` on an ADBC connection; (4) polars
``write_database(engine="adbc")`` of a polars frame built beforehand; (5)
pgpq's Arrow-to-binary-COPY encoder with psycopg 3; (6) asyncpg
copy_records_to_table, with the records built from the frame in the timed
part (column-wise .tolist() / to_numpy(dtype=object, na_value=None), then
zip); (7) the CSV recipe of the pandas docs (to_sql with
method=psql_insert_copy, SQLAlchemy + psycopg2); (8) a server-side
``COPY t FROM 'file' (FORMAT csv)`` with no client work.  A peer whose
packages are not installed is skipped, with a message on stderr and in the
report.  Every load goes
into a fresh table (DROP, CREATE, CHECKPOINT: not timed) and is timed up to
and including COMMIT, then checked against checksums computed from the
frame (row count; exact sums of id, qty, id*qty, octet lengths of name;
counts of non-NULL values; count(DISTINCT name); count and sum(id) per
region; sum(flag::int); min, max and exact sum of ts, and that every ts
matches its id).  The repetitions are interleaved (each repetition runs
every peer once, the first peer rotating); the report gives the median, min
and max.

Also measured: the client's peak RSS growth during a zcimport load of a
large frame of one pyarrow-backed string column (in a subprocess); where
the client spends the time of a zcimport load
(planning, packing the strings per batch, sending and waiting on the
socket, the end of COPY, COMMIT; from zcimport.plan() and zcimport.dump()
into a null sink, from loads with the client's phases timed, and from
cProfile), the CPU time of the client and of the server backend during a
load, and the server backend's profile (perf record with DWARF call graphs)
of a zcimport load and of the asyncpg load.

Prints a markdown report; --write replaces the "mixed" section of
BENCHMARKS.md.  Run from the repository root, e.g.:

    PYTHONPATH=python .venv/latest/bin/python bench/mixed.py --rows 100000 --reps 3 --rss-rows 0
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Frame, Peer, Samples  # noqa: E402

TABLE = "t"
SECTION = "mixed"
DDL = "id int8, ts timestamp, price float8, qty int4, name text, region text, flag bool"
COLUMNS = ["id", "ts", "price", "qty", "name", "region", "flag"]

#: Targets: (peer key, minimum ratio of the peer's median to zcimport's).
SPEED_TARGETS: List[Tuple[str, float]] = [("asyncpg", 1.3), ("csv", 5.0), ("adbc", 2.0)]
#: The aim beyond the targets (reported as its own row).
AIM_TARGETS: List[Tuple[str, float]] = [("adbc", 3.0)]
#: Target: peak RSS growth of the client during the load of a pyarrow string
#: column, share of the frame's bytes.
RSS_TARGET = 0.05
RSS_TABLE = "t_rss"

#: Loads of the client breakdown (phases timed, not profiled), and of the
#: plan()/dump() measurements.
BREAKDOWN_LOADS = 3

# --------------------------------------------------------------------------
# The frame
# --------------------------------------------------------------------------

#: ts of row i is TS_BASE + i seconds.
TS_BASE = np.datetime64("2024-01-01T00:00:00", "ns")
TS_BASE_SQL = "timestamp '2024-01-01 00:00:00'"
#: Distinct values of the name column.
NAME_COUNT = 5000
#: Share of NaN in price and of NA in qty.
MISSING_SHARE = 0.05

# Short given names and family names, a fifth or so of them not ASCII
# (Latin with diacritics, and a few Greek, Cyrillic and CJK ones); every
# given name is one word, so "given family" names are distinct.
GIVEN_NAMES = [
    "Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas",
    "Karen", "Liam", "Maria", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara",
    "Umar", "Vera", "Will", "Xavier", "Yara", "Zack", "Alice", "Bruno", "Chen", "Diana",
    "Eric", "Fatima", "George", "Hannah", "Ivan", "Julia", "Kevin", "Lena", "Mark", "Nina",
    "Oscar", "Petra", "Rahul", "Sofia", "Tom", "Uma", "Victor", "Wendy", "Yusuf", "Zara",
    "Amir", "Clara", "Daniel", "Elena", "Frank", "Laura", "Mia", "Peter", "Sara", "Leo",
    "Zoë", "José", "Chloé", "Renée", "Søren", "Łukasz", "Björn", "Inês", "Zoé", "Jürgen",
    "Ágnes", "Ömer", "François", "Mónica", "Nikolaï", "Анна", "Дмитрий", "Νίκος", "美咲", "伟",
]
FAMILY_NAMES = [
    "Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Johnson",
    "Roberts", "Walker", "Wright", "Robinson", "Thompson", "White", "Hughes", "Edwards",
    "Green", "Hall", "Wood", "Harris", "Martin", "Jackson", "Clarke", "Clark", "Turner",
    "Hill", "Scott", "Cooper", "Morris", "Ward", "Moore", "King", "Watson", "Baker",
    "Young", "Allen", "Mitchell", "Anderson", "Lee", "Schmidt", "Schneider", "Fischer",
    "Weber", "Wagner", "Becker", "Rossi", "Russo", "Bianchi", "Dubois", "Laurent", "Moreau",
    "Silva", "Santos", "Kowalski", "Nowak", "Novak", "Kim", "Park", "Nguyen", "Tanaka",
    "Müller", "Schäfer", "García", "Martínez", "López", "Dvořák", "Šimić", "Øster",
    "Ñúñez", "Gonçalves", "Kovačević", "Lefèvre", "Bergström", "Öztürk", "Иванов",
    "Петрова", "Παπαδόπουλος", "王", "佐藤",
]
#: Ten regions; the categorical's categories, in this order.
REGIONS = ["north", "south", "east", "west", "central", "north-east", "north-west",
           "south-east", "south-west", "overseas"]
#: How often each region occurs (normalized).
REGION_WEIGHTS = [18, 16, 15, 14, 10, 8, 7, 6, 4, 2]


def name_pool(rng: np.random.Generator) -> np.ndarray:
    """NAME_COUNT distinct "given family" names, as an object array of str."""
    combos = [f"{g} {f}" for g in GIVEN_NAMES for f in FAMILY_NAMES]
    assert len(set(combos)) == len(combos) >= NAME_COUNT
    pick = np.sort(rng.choice(len(combos), size=NAME_COUNT, replace=False))
    pool = np.empty(NAME_COUNT, dtype=object)
    pool[:] = [combos[i] for i in pick]
    return pool


#: --strings: how the frame holds its strings.
STRING_MODES = ("default", "object")


def string_dtype_label(dtype: Any) -> str:
    """A dtype, with the storage of pandas' string dtypes: 'str (StringDtype,
    storage pyarrow, na_value nan)'."""
    if isinstance(dtype, pd.StringDtype):
        return (f"{dtype} (StringDtype, storage {dtype.storage},"
                f" na_value {getattr(dtype, 'na_value', pd.NA)})")
    return str(dtype)


def infer_string_setting() -> str:
    """pandas' ``future.infer_string`` option (True by default in pandas 3)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(pd.get_option("future.infer_string"))
        except Exception:  # pandas < 2.1 has no such option (OptionError, a KeyError)
            return "not an option of this pandas"


def mixed_frame(rows: int, seed: int = 42, strings: str = "default") -> pd.DataFrame:
    """The mixed frame, built deterministically from seed.

    ``strings`` "default" leaves the strings to pandas' inference, as a
    user's frame gets them (pandas 3: the ``str`` dtype, pyarrow-backed when
    pyarrow is installed; pandas < 3: object); "object" makes ``name`` an
    object column of str and the categories an object Index, the frame of
    pandas < 3.  The values are the same either way.

    - ``id`` int64: 0 .. rows-1;
    - ``ts`` datetime64[ns] (naive): 2024-01-01 + id seconds;
    - ``price`` float64: log-normal, rounded to cents, 5% NaN;
    - ``qty`` Int32 (pandas nullable): 1 .. 999, 5% NA;
    - ``name`` object: str values drawn (Zipf-like, a few names are frequent)
      from a pool of 5,000 distinct names; rows that draw the same name hold
      the same str object, as pandas' CSV reader does;
    - ``region`` category: 10 string categories, uneven frequencies;
    - ``flag`` bool: true with probability 1/2.
    """
    rng = np.random.default_rng(seed)
    pool = name_pool(rng)
    ids = np.arange(rows, dtype=np.int64)
    ts = TS_BASE + ids.astype("timedelta64[s]")
    price = np.round(rng.lognormal(3.0, 1.0, rows), 2)
    price[rng.random(rows) < MISSING_SHARE] = np.nan
    qty = pd.arrays.IntegerArray(rng.integers(1, 1000, rows, dtype=np.int64).astype(np.int32),
                                 rng.random(rows) < MISSING_SHARE)
    weights = 1.0 / (np.arange(NAME_COUNT) + 10.0)
    names = pool[rng.choice(NAME_COUNT, size=rows, p=weights / weights.sum())]
    rw = np.asarray(REGION_WEIGHTS, dtype=float)
    region = pd.Categorical.from_codes(
        rng.choice(len(REGIONS), size=rows, p=rw / rw.sum()).astype(np.int8), categories=REGIONS)
    flag = rng.random(rows) < 0.5
    if strings == "object":
        names = pd.Series(names, dtype=object)
        region = region.set_categories(pd.Index(REGIONS, dtype=object), rename=True)
    return pd.DataFrame({"id": ids, "ts": ts, "price": price, "qty": qty, "name": names,
                         "region": region, "flag": flag})


# --------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------


def exact_sum(values: np.ndarray) -> int:
    """The exact sum of an int64 array, as a Python int (no overflow)."""
    v = np.asarray(values, dtype=np.int64)
    hi = v >> 32  # arithmetic shift: v == hi * 2**32 + lo, 0 <= lo < 2**32
    lo = v & np.int64(0xFFFFFFFF)
    return int(hi.sum(dtype=np.int64)) * (1 << 32) + int(lo.sum(dtype=np.int64))


#: Keys compared within rounding (sums of float8 in another order).
FLOAT_KEYS = ("price_sum",)


def frame_checksum(df: pd.DataFrame) -> Dict[str, Any]:
    """The checksums of the mixed frame, computed from the frame itself."""
    out: Dict[str, Any] = {"rows": len(df)}
    ids = df["id"].to_numpy(dtype=np.int64)
    out["id_sum"] = exact_sum(ids)

    ts_ns = df["ts"].to_numpy().view(np.int64)
    valid = ts_ns != np.iinfo(np.int64).min  # NaT
    ts_us = ts_ns[valid] // 1000  # whole seconds here: no rounding
    out["ts_count"] = int(valid.sum())
    out["ts_min_us"] = int(ts_us.min()) if len(ts_us) else None
    out["ts_max_us"] = int(ts_us.max()) if len(ts_us) else None
    out["ts_us_sum"] = exact_sum(ts_us)
    out["ts_aligned"] = int(np.count_nonzero(
        valid & (ts_ns == TS_BASE.astype(np.int64) + ids * 1_000_000_000)))

    price = df["price"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(price)
    out["price_count"] = int(ok.sum())
    out["price_sum"] = float(price[ok].sum())
    out["price_abs_sum"] = float(np.abs(price[ok]).sum())

    qty_na = df["qty"].isna().to_numpy()
    qty = df["qty"].to_numpy(dtype=np.int64, na_value=0)
    out["qty_count"] = int((~qty_na).sum())
    out["qty_sum"] = exact_sum(qty)
    out["qty_id_sum"] = exact_sum(qty * ids)

    codes, uniques = pd.factorize(df["name"], use_na_sentinel=True)
    has = codes >= 0
    octets = np.array([len(s.encode("utf-8")) for s in uniques], dtype=np.int64)
    chars = np.array([len(s) for s in uniques], dtype=np.int64)
    row_octets = np.where(has, octets[np.where(has, codes, 0)], 0) if len(uniques) else \
        np.zeros(len(df), dtype=np.int64)
    out["name_count"] = int(has.sum())
    out["name_distinct"] = len(uniques)
    out["name_octets"] = exact_sum(row_octets)
    out["name_chars"] = exact_sum(np.where(has, chars[np.where(has, codes, 0)], 0)) if len(uniques) else 0
    out["name_id_octets"] = exact_sum(row_octets * ids)
    out["name_min"] = min(uniques) if len(uniques) else None  # code point order = C collation
    out["name_max"] = max(uniques) if len(uniques) else None

    region = df["region"].cat
    rcodes = region.codes.to_numpy()
    per_region = {}
    for k, cat in enumerate(region.categories):
        sel = rcodes == k
        if sel.any():
            per_region[str(cat)] = (int(sel.sum()), exact_sum(ids[sel]))
    if (rcodes < 0).any():
        per_region[None] = (int((rcodes < 0).sum()), exact_sum(ids[rcodes < 0]))
    out["region_count"] = int((rcodes >= 0).sum())
    out["per_region"] = per_region

    flag = df["flag"].to_numpy(dtype=bool)
    out["flag_count"] = len(flag)
    out["flag_true"] = int(flag.sum())
    out["flag_id_sum"] = exact_sum(ids[flag])
    return out


CHECK_SQL = f"""
SELECT count(*),
       coalesce(sum(id), 0)::text,
       count(ts),
       (extract(epoch FROM min(ts)) * 1000000)::int8,
       (extract(epoch FROM max(ts)) * 1000000)::int8,
       coalesce(sum((extract(epoch FROM ts) * 1000000)::int8), 0)::text,
       count(*) FILTER (WHERE ts = {TS_BASE_SQL} + id * interval '1 second'),
       count(price), coalesce(sum(price), 0), coalesce(sum(abs(price)), 0),
       count(qty), coalesce(sum(qty), 0)::text, coalesce(sum(qty::int8 * id), 0)::text,
       count(name), count(DISTINCT name), coalesce(sum(octet_length(name)), 0)::text,
       coalesce(sum(char_length(name)), 0)::text,
       coalesce(sum(octet_length(name)::int8 * id), 0)::text,
       min(name COLLATE "C"), max(name COLLATE "C"),
       count(region),
       count(flag), coalesce(sum(flag::int), 0)::text,
       coalesce(sum(id) FILTER (WHERE flag), 0)::text
FROM {TABLE}"""
CHECK_KEYS = ["rows", "id_sum", "ts_count", "ts_min_us", "ts_max_us", "ts_us_sum", "ts_aligned",
              "price_count", "price_sum", "price_abs_sum", "qty_count", "qty_sum", "qty_id_sum",
              "name_count", "name_distinct", "name_octets", "name_chars", "name_id_octets",
              "name_min", "name_max", "region_count", "flag_count", "flag_true", "flag_id_sum"]
CHECK_DESCRIPTION = (
    "count(*); exact sum(id); count(ts), min(ts), max(ts), exact sum of ts in µs, and that"
    " every ts = 2024-01-01 + id seconds; count(price) and sum(price) (within 1e-9 of"
    " sum(|price|)); count(qty), exact sum(qty) and sum(qty * id); count(name),"
    " count(DISTINCT name), exact sums of octet_length(name), char_length(name) and"
    " octet_length(name) * id, min and max of name (COLLATE \"C\"); count and sum(id) per"
    " region; sum(flag::int) and sum(id) where flag")


def table_checksum(conn: "psycopg.Connection[Any]") -> Dict[str, Any]:
    """The checksums read back from the table."""
    row = conn.execute(CHECK_SQL).fetchone()
    assert row is not None
    out: Dict[str, Any] = {}
    for key, value in zip(CHECK_KEYS, row):
        if key in ("price_sum", "price_abs_sum"):
            out[key] = float(value)
        elif key in ("name_min", "name_max"):
            out[key] = value
        elif value is None:
            out[key] = None
        else:
            out[key] = int(value)
    per_region = {}
    for region, count, id_sum in conn.execute(
            f"SELECT region, count(*), coalesce(sum(id), 0)::text FROM {TABLE} GROUP BY region"):
        per_region[region] = (int(count), int(id_sum))
    out["per_region"] = per_region
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.rollback()
    return out


def checksum_mismatches(expected: Dict[str, Any], got: Dict[str, Any]) -> List[str]:
    """The keys whose values differ ("key: got X, expected Y")."""
    bad = []
    for key, want in expected.items():
        have = got.get(key)
        if key == "price_abs_sum":
            continue
        if key in FLOAT_KEYS:
            tol = 1e-9 * max(abs(expected["price_abs_sum"]), abs(got.get("price_abs_sum") or 0), 1.0)
            if have is None or abs(have - want) > tol:
                bad.append(f"{key}: got {have!r}, expected {want!r}")
        elif have != want:
            bad.append(f"{key}: got {have!r}, expected {want!r}")
    return bad


# --------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------


def asyncpg_records(df: pd.DataFrame) -> List[Tuple[Any, ...]]:
    """The frame as a list of tuples of Python values for asyncpg: missing
    values as None, timestamps as datetime.datetime.

    Column by column with vectorized conversions, then zip: the fastest of
    the user-level conversions tried (see RECORDS_DESCRIPTION).
    """
    return list(zip(
        df["id"].tolist(),                                          # int
        df["ts"].to_numpy().astype("datetime64[us]").tolist(),      # datetime.datetime, NaT -> None
        df["price"].to_numpy(dtype=object, na_value=None).tolist(),  # float, NaN -> None
        df["qty"].to_numpy(dtype=object, na_value=None).tolist(),    # int, <NA> -> None
        df["name"].tolist(),                                        # str
        df["region"].tolist(),                                      # the categories' str
        df["flag"].tolist(),                                        # bool
    ))


def itertuples_records(df: pd.DataFrame) -> List[Tuple[Any, ...]]:
    """The same records the row-wise way (only timed once, for the report)."""
    obj = df.astype(object)
    obj["ts"] = pd.Series(df["ts"].dt.to_pydatetime(), index=df.index, dtype=object)
    obj = obj.where(df.notna(), None)
    return list(obj.itertuples(index=False, name=None))


RECORDS_DESCRIPTION = (
    "`records = list(zip(df['id'].tolist(),"
    " df['ts'].to_numpy().astype('datetime64[us]').tolist(),"
    " df['price'].to_numpy(dtype=object, na_value=None).tolist(),"
    " df['qty'].to_numpy(dtype=object, na_value=None).tolist(), df['name'].tolist(),"
    " df['region'].tolist(), df['flag'].tolist()))` (timed: NaN and NA become None,"
    " datetime64 values datetime.datetime, the categorical its str values), then"
    " `copy_records_to_table('t', records=records, columns=[...])` in a transaction")


class Peers(common.PeerRunners):
    """The contenders, with their connections opened up front (only those
    that the peers in keys need): zcimport, ADBC, pandas over ADBC, polars,
    pgpq, the CSV recipe and the server-side CSV file from
    common.PeerRunners, and asyncpg below."""

    file_format = "csv"

    def __init__(self, server: common.Server, df: pd.DataFrame, file_path: str,
                 keys: Sequence[str]) -> None:
        super().__init__(server, df, file_path, table=TABLE, keys=keys)

    # 2.
    def asyncpg_copy(self) -> None:
        """Records from the frame, then copy_records_to_table in a transaction."""
        assert self.apg is not None
        apg = self.apg

        async def run() -> None:
            records = asyncpg_records(self.df)
            async with apg.transaction():
                await apg.copy_records_to_table(TABLE, records=records, columns=COLUMNS)
        self.loop.run_until_complete(run())

    def all(self) -> List[Peer]:
        """The peers, in report order."""
        return [
            self.zcimport_peer(),
            self.adbc_peer(),
            self.pandas_adbc_peer(),
            self.polars_peer(),
            self.pgpq_peer(),
            Peer("asyncpg", "asyncpg copy_records_to_table", RECORDS_DESCRIPTION, self.asyncpg_copy),
            self.csv_peer(),
            Peer("file", "server-side CSV COPY (no client)",
                 "`COPY t FROM '<file>' (FORMAT csv)` on the server, then COMMIT: no client work at"
                 " all, not a way to load a DataFrame (the file is written once beforehand with"
                 " `COPY t TO '<file>' (FORMAT csv)` and is in the page cache)",
                 self.server_file, self.rollback_pg3),
        ]


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def check_table(admin: "psycopg.Connection[Any]", expected: Dict[str, Any]) -> Optional[str]:
    """None if the table's checksums match the frame's, else the mismatches."""
    bad = checksum_mismatches(expected, table_checksum(admin))
    return "; ".join(bad)[:600] if bad else None


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (any user's, as /proc allows), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NullSink:
    """A binary file object that discards what it is given."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.bytes += n
        return n


#: The phases of a zcimport load, as timed by PhaseTimer: (key, label, what).
PHASES: List[Tuple[str, str, str]] = [
    ("plan", "planning: `make_plan`",
     "dtype dispatch of the 7 columns, the scan of the object column, the categorical's dictionary"),
    ("scan", "… of which the object-column scan: `_packers.scan_objects`",
     "one C pass over the objects of 'name' (kinds, NULLs, UTF-8 lengths), and one over the"
     " 10 categories of 'region'"),
    ("pack_plan", "… of which packing the dictionary: `_packers.pack_utf8`",
     "the 10 categories of 'region'"),
    ("check", "extension check: `SELECT zcimport.version()`", "one round trip"),
    ("encode", "encoding the batches: `iter_chunks`",
     "stream and message headers, slicing the column buffers, packing 'name' per batch"),
    ("pack_batch", "… of which packing strings: `_packers.pack_utf8`",
     "offsets and UTF-8 bytes of 'name', one batch at a time"),
    ("send", "sending: `_wire.send_copy_data`",
     "sendmsg() of the buffers in CopyData messages; poll() while the socket buffer is full"),
    ("drain", "reading server notices: `ServerInput.drain`", "between messages when the socket is full"),
    ("finish", "end of COPY: `ZcWriter.finish`",
     "CopyDone, then waiting for the server to insert what it has not yet, and its CommandComplete"),
    ("commit", "COMMIT: `conn.commit()`", "WAL flush (fsync) on the server"),
]
#: The phases that do not overlap (the others are parts of one of them).
TOP_PHASES = ["plan", "check", "encode", "send", "drain", "finish", "commit"]


class PhaseTimer:
    """Wall and CPU time of the phases of zcimport loads, by wrapping the
    client's functions (zcimport._copy, zcimport._packers, zcimport._wire)
    for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.wall: Dict[str, float] = {}
        self.cpu: Dict[str, float] = {}
        self.calls: Dict[str, int] = {}
        self._stack: List[str] = []

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()

    def _add(self, key: str, wall: float, cpu: float) -> None:
        self.wall[key] = self.wall.get(key, 0.0) + wall
        self.cpu[key] = self.cpu.get(key, 0.0) + cpu
        self.calls[key] = self.calls.get(key, 0) + 1

    def wrap(self, key: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
        """fn, timed under key (or under key(stack) when key is callable)."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            k = key(self._stack) if callable(key) else key
            self._stack.append(k)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(k, time.perf_counter() - t0, time.thread_time() - c0)
                self._stack.pop()
        return timed

    def wrap_generator(self, key: str, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """A generator function whose every step is timed under key."""
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            gen = fn(*args, **kwargs)
            while True:
                self._stack.append(key)
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    item = next(gen)
                except StopIteration:
                    return
                finally:
                    self._add(key, time.perf_counter() - t0, time.thread_time() - c0)
                    self._stack.pop()
                yield item
        return timed

    @contextlib.contextmanager
    def installed(self) -> Iterator["PhaseTimer"]:
        import zcimport._copy as zc_copy
        import zcimport._packers as zc_pack
        import zcimport._wire as zc_wire

        patches = [
            (zc_copy, "make_plan", self.wrap("plan", zc_copy.make_plan)),
            (zc_copy, "check_extension", self.wrap("check", zc_copy.check_extension)),
            (zc_copy, "iter_chunks", self.wrap_generator("encode", zc_copy.iter_chunks)),
            (zc_pack, "scan_objects", self.wrap("scan", zc_pack.scan_objects)),
            (zc_pack, "pack_utf8", self.wrap(
                lambda stack: "pack_plan" if "plan" in stack else "pack_batch", zc_pack.pack_utf8)),
            (zc_wire, "send_copy_data", self.wrap("send", zc_wire.send_copy_data)),
            (zc_copy.ServerInput, "drain", self.wrap("drain", zc_copy.ServerInput.drain)),
            (zc_copy.ZcWriter, "finish", self.wrap("finish", zc_copy.ZcWriter.finish)),
        ]
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
        try:
            for obj, name, new in patches:
                setattr(obj, name, new)
            yield self
        finally:
            for obj, name, old in saved:
                setattr(obj, name, old)


@dataclass
class ClientBreakdown:
    """Where the client's time goes in a zcimport load."""

    plan_s: List[float] = field(default_factory=list)
    dump_s: List[float] = field(default_factory=list)
    dump_bytes: int = 0
    #: per instrumented load: phase -> (wall, cpu)
    loads: List[Dict[str, Tuple[float, float]]] = field(default_factory=list)
    total_wall: List[float] = field(default_factory=list)
    client_cpu: List[float] = field(default_factory=list)
    server_cpu: List[float] = field(default_factory=list)
    calls: Dict[str, int] = field(default_factory=dict)
    cprofile_wall: float = 0.0
    cprofile_top: List[Tuple[str, int, float, float]] = field(default_factory=list)
    records_columnwise_s: Optional[float] = None
    records_itertuples_s: Optional[float] = None
    error: Optional[str] = None

    def median(self, key: str, which: int) -> float:
        return statistics.median(l.get(key, (0.0, 0.0))[which] for l in self.loads)


def _cprofile_name(key: Tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    path = Path(filename)
    parts = path.parts
    where = "/".join(parts[-2:]) if "zcimport" in parts or "psycopg" in parts else path.name
    return f"{where}:{line}({func})"


def measure_client(admin: "psycopg.Connection[Any]", conn: "psycopg.Connection[Any]",
                   df: pd.DataFrame, log: Callable[[str], None],
                   with_records: bool) -> ClientBreakdown:
    """plan() and dump() into a null sink; instrumented loads; a cProfile."""
    import zcimport

    out = ClientBreakdown()
    try:
        for _ in range(BREAKDOWN_LOADS):
            gc.collect()
            seconds, _ = common.time_call(lambda: zcimport.plan(df))
            out.plan_s.append(seconds)
            sink = NullSink()
            gc.collect()
            seconds, _ = common.time_call(lambda: zcimport.dump(df, sink))
            out.dump_s.append(seconds)
            out.dump_bytes = sink.bytes

        pid = conn.info.backend_pid
        timer = PhaseTimer()
        for i in range(BREAKDOWN_LOADS):
            common.fresh_table(admin, TABLE, DDL)
            gc.collect()
            timer.reset()
            with timer.installed():
                s0, c0, t0 = proc_cpu_seconds(pid), time.process_time(), time.perf_counter()
                zcimport.copy_dataframe(df, TABLE, conn)
                tc = time.perf_counter()
                cc = time.thread_time()
                conn.commit()
                timer._add("commit", time.perf_counter() - tc, time.thread_time() - cc)
                t1, c1, s1 = time.perf_counter(), time.process_time(), proc_cpu_seconds(pid)
            out.loads.append({k: (timer.wall[k], timer.cpu[k]) for k in timer.wall})
            out.calls = dict(timer.calls)
            out.total_wall.append(t1 - t0)
            out.client_cpu.append(c1 - c0)
            out.server_cpu.append(s1 - s0)
            bad = checksum_mismatches(frame_checksum_cached(df), table_checksum(admin))
            if bad:
                raise common.BenchError("wrong table contents after an instrumented load: "
                                        + "; ".join(bad))
            log(f"instrumented load {i + 1}/{BREAKDOWN_LOADS}: {t1 - t0:.3f} s")

        common.fresh_table(admin, TABLE, DDL)
        gc.collect()
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        common.load_zcimport(df, TABLE, conn)
        prof.disable()
        out.cprofile_wall = time.perf_counter() - t0
        stats = pstats.Stats(prof)
        rows = []
        for key, (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append((_cprofile_name(key), nc, tt, ct))
        rows.sort(key=lambda r: -r[2])
        out.cprofile_top = rows[:12]
        log(f"cProfile'd load: {out.cprofile_wall:.3f} s")

        if with_records:
            gc.collect()
            out.records_columnwise_s, recs = common.time_call(lambda: asyncpg_records(df))
            del recs
            gc.collect()
            out.records_itertuples_s, recs = common.time_call(lambda: itertuples_records(df))
            del recs
            gc.collect()
    except Exception as ex:
        out.error = f"{type(ex).__name__}: {ex}"
        with contextlib.suppress(Exception):
            conn.rollback()
    finally:
        common.drop_table(admin, TABLE)
    return out


def rss_frame(rows: int, seed: int) -> pd.DataFrame:
    """The frame of the RSS measurement: the mixed frame's ``name`` column
    alone, as a pyarrow-backed string column (pandas 3's default ``str``
    when pyarrow is installed; ``string[pyarrow]`` on older pandas)."""
    name = mixed_frame(rows, seed)["name"]
    dtype = name.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        name = name.astype(pd.StringDtype("pyarrow"))
    return pd.DataFrame({"name": name})


def rss_child(args: argparse.Namespace) -> int:
    """The RSS subprocess: build the frame, reset VmHWM, load, report JSON."""
    import json

    import zcimport  # imported before the baseline
    from psycopg import sql

    conn = psycopg.connect(args.rss_conninfo)
    conn.autocommit = True
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(RSS_TABLE)))
    conn.execute(sql.SQL("CREATE TABLE {} (name text)").format(sql.Identifier(RSS_TABLE)))
    conn.autocommit = False
    df = rss_frame(args.rss_rows, args.seed)
    frame_bytes = int(df.memory_usage(index=False, deep=True).sum())
    plan = zcimport.plan(df)
    col = list(plan)[0]
    gc.collect()
    rss_before = common.proc_status_bytes("VmRSS")
    common.reset_peak_rss()
    hwm_reset = common.proc_status_bytes("VmHWM")
    t0 = time.perf_counter()
    rows = common.load_zcimport(df, RSS_TABLE, conn)
    seconds = time.perf_counter() - t0
    hwm = common.proc_status_bytes("VmHWM")
    rss_after = common.proc_status_bytes("VmRSS")
    conn.autocommit = True
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(RSS_TABLE)))
    conn.close()
    print(json.dumps({
        "rows": rows, "frame_bytes": frame_bytes, "dtype": string_dtype_label(df["name"].dtype),
        "wire": col.wire_type, "zero_copy": bool(col.zero_copy), "reason": col.reason,
        "rss_before": rss_before, "hwm_after_reset": hwm_reset, "hwm": hwm,
        "rss_after": rss_after, "growth": hwm - rss_before, "seconds": seconds,
    }))
    return 0


def measure_rss(server: common.Server, rows: int, seed: int) -> Dict[str, Any]:
    """Run the RSS subprocess; its JSON result, or {"error": ...}."""
    import json
    import subprocess

    if common.package_version("pyarrow") is None:
        return {"error": "pyarrow is not installed (pip install pyarrow): no pyarrow string column"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child",
           "--rss-rows", str(rows), "--seed", str(seed), "--rss-conninfo", server.conninfo()]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unexpected output: {proc.stdout[-300:]!r} {proc.stderr[-300:]!r}"}


def rss_lines(rss: Optional[Dict[str, Any]]) -> List[str]:
    """The report's section on the client memory of a pyarrow string column."""
    out = ["### Client memory of a zcimport load (pyarrow string column)", ""]
    if not rss:
        return out + ["Not measured (`--rss-rows 0`).", ""]
    if "error" in rss:
        return out + [f"The measurement failed: `{rss['error']}`", ""]
    how = "sent as it is (zero copy)" if rss["zero_copy"] else f"packed: {rss['reason']}"
    out += [f"In a subprocess: a frame of one column, the mixed frame's `name` as {rss['dtype']}"
            f" ({rss['rows']:,} rows, {common.format_bytes(rss['frame_bytes'])},"
            f" {rss['frame_bytes']:,} bytes by `memory_usage(deep=True)`; wire type"
            f" `{rss['wire']}`, {how}) is built first; then VmRSS is read, VmHWM reset (`5` into"
            f" `/proc/self/clear_refs`), the frame loaded into `CREATE TABLE {RSS_TABLE} (name text)`"
            f" with zcimport and committed ({rss['seconds']:.1f} s), and VmHWM read.", ""]
    out.append(common.md_table(["", "bytes", ""], [
        ("VmRSS before the load", f"{rss['rss_before']:,}", common.format_bytes(rss["rss_before"])),
        ("VmHWM right after the reset", f"{rss['hwm_after_reset']:,}",
         common.format_bytes(rss["hwm_after_reset"])),
        ("VmHWM after the load", f"{rss['hwm']:,}", common.format_bytes(rss["hwm"])),
        ("**peak growth** (VmHWM − VmRSS before)", f"{rss['growth']:,}",
         f"{common.format_bytes(rss['growth'])} = "
         f"**{rss['growth'] / rss['frame_bytes']:.2%} of the frame**"),
        ("VmRSS after the load", f"{rss['rss_after']:,}", common.format_bytes(rss["rss_after"])),
    ], "lrl"))
    return out + [""]


_CHECKSUM_CACHE: Dict[int, Dict[str, Any]] = {}


def frame_checksum_cached(df: pd.DataFrame) -> Dict[str, Any]:
    """frame_checksum, once per frame object."""
    key = id(df)
    if key not in _CHECKSUM_CACHE:
        _CHECKSUM_CACHE[key] = frame_checksum(df)
    return _CHECKSUM_CACHE[key]


# --------------------------------------------------------------------------
# Server profile: groups for this benchmark's code paths
# --------------------------------------------------------------------------


def _rx(pattern: str) -> Any:
    import re

    return re.compile(pattern)


#: Groups of frames of the zcimport server library (pg_zcimport.so), by symbol.
ZC_GROUPS: List[Tuple[str, Any]] = [
    ("zcimport: converters (conv_utf8, conv_dict_*, conv_float64_to_float8, ...)",
     _rx(r"^(conv_|convert_|value_from_text|text_in_server_encoding|nulls_prepass|"
         r"check_domain_null|finish_values|time_to_|set_time_unit|report_)")),
    ("zcimport: tuple forming of rows without NULLs (form_fast)", _rx(r"^(form_fast|form_generic)")),
    ("zcimport: stream decoding and input (zc_decoder_*, copyin_read, ...)",
     _rx(r"^(zc_decoder|decode_|read_body|walk_|offsets_|copyin_read|zc_input|memory_read|"
         r"file_read|decoder_alloc|trim_truncated|fail|set_message)")),
    ("zcimport: insert glue (zc_insert_*, buffers_flush)",
     _rx(r"^(zc_insert|buffer_|buffers_flush|route_row|insert_single)")),
]
ZC_OTHER = "zcimport: load loop (zc_load, into which load_batch and form_generic are inlined) and other"

#: Groups of the backend's other user-space code, by symbol (the object does
#: not matter), checked in this order; before them come the zcimport groups.
PG_GROUPS: List[Tuple[str, Any]] = [
    ("text validation (pg_verify_mbstr, pg_utf8_verifystr)",
     _rx(r"^(pg_verify_mbstr|pg_verify_mbstr_len|pg_utf8_verifystr|pg_utf8_verifychar|"
         r"pg_encoding_verifymbstr|pg_verifymbstr|pg_utf8_islegal|pg_any_to_server|"
         r"pg_mbstrlen)")),
    ("text datums (cstring_to_text_with_len, textin, ...)",
     _rx(r"^(cstring_to_text|textin$|text_to_cstring|varcharin|bpcharin)")),
    ("tuple forming (heap_form_tuple, heap_fill_tuple, heap_compute_data_size)",
     _rx(r"^(heap_form_tuple|heap_fill_tuple|heap_compute_data_size|heap_tuple_set_datum|"
         r"fill_val|heap_form_minimal_tuple)")),
    ("WAL (XLog*, CRC)", common.USER_GROUPS[1][1]),
    ("heap insert (heap_multi_insert, heap_insert, RelationPutHeapTuple, PageAdd*)",
     common.USER_GROUPS[2][1]),
    ("buffer manager and storage (bufmgr, smgr, md, fd)", common.USER_GROUPS[3][1]),
    ("executor per-row work (ExecInsert*, triggers, constraints, tuple routing)",
     _rx(r"^(ExecInsertIndexTuples|ExecAR|ExecBR|ExecConstraints|ExecPartitionCheck|"
         r"ExecFindPartition|ExecComputeStoredGenerated|ExecEvalExpr|ExecInterpExpr|"
         r"ExecResetTupleTable)")),
    ("COPY input and datatype parsing (CopyFrom, NextCopyFrom, pq_*, *recv, *in)",
     _rx(r"^(Copy|NextCopyFrom|BeginCopyFrom|EndCopyFrom|pq_|ReceiveFunctionCall|"
         r"InputFunctionCall|resetStringInfo|enlargeStringInfo|appendBinaryStringInfo|"
         r"secure_read|secure_raw_read|ProcessClientReadInterrupt|pgstat_progress_update|"
         r"(int2|int4|int8|float4|float8|bool|text|varchar|bpchar|timestamp|timestamptz|date|"
         r"numeric|record|array)(in|recv)$|float8in_internal|pg_strtoint|DecodeDateTime|"
         r"ParseDateTime|DecodeTime|DecodeDate|DecodeNumber|tm2timestamp|ValidateDate|"
         r"strtod|__strtod|____strtod|__strtol|____strtol)")),
    ("memory contexts (palloc, pfree, AllocSet*)", common.USER_GROUPS[5][1]),
]


def classify_mixed(chain: Sequence[Frame]) -> Tuple[str, str]:
    """(group, the frame that decided it): seed.py's rule (the first frame
    from the leaf up that belongs to a group; kernel samples by what the
    backend was doing), with finer groups for this frame's code paths."""
    if not chain:
        return common.GROUP_OTHER, "?"
    if chain[0].kernel:
        return common.kernel_group(chain), chain[0].sym
    for frame in chain:
        if frame.kernel:
            continue
        if "zcimport" in frame.obj:  # pg_zcimport.so (or "... (deleted)")
            if not frame.resolved:
                return ZC_OTHER, f"{frame.obj}+{frame.ip:#x}"
            for label, pattern in ZC_GROUPS:
                if pattern.match(frame.sym):
                    return label, frame.sym
            return ZC_OTHER, frame.sym
        if not frame.resolved:
            continue
        for label, pattern in PG_GROUPS:
            if pattern.match(frame.sym):
                return label, frame.sym
    leaf = chain[0]
    return common.GROUP_OTHER, leaf.sym if leaf.resolved else f"{leaf.obj}+{leaf.ip:#x}"


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def fmt_ms(x: float) -> str:
    """Milliseconds."""
    return f"{x * 1000:,.0f} ms" if x >= 0.0995 else f"{x * 1000:.1f} ms"


def describe_frame(df: pd.DataFrame, args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(column, what it holds) rows for the report."""
    n = len(df)
    names = df["name"]
    codes, uniques = pd.factorize(names)
    non_ascii_u = np.array([not s.isascii() for s in uniques])
    non_ascii_rows = int(non_ascii_u[codes].sum()) if len(uniques) else 0
    octets = np.array([len(s.encode("utf-8")) for s in uniques])
    avg_octets = float(octets[codes].mean()) if len(uniques) else 0.0
    counts = df["region"].value_counts(sort=False)
    if df["name"].dtype == object:
        shared = "rows with the same name share one str object, as pandas' CSV reader does"
    else:
        shared = "held in the string array's own buffers (UTF-8 bytes and offsets)"
    return [
        ("strings", f"`--strings {args.strings}`: pandas {pd.__version__},"
                    f" `pd.options.future.infer_string` = {infer_string_setting()};"
                    + (" the strings are what pandas infers for str values, as a user's frame"
                       " gets them" if args.strings == "default" else
                       " `name` forced to an object column of str, the categories to an object"
                       " Index (the frame of pandas < 3)")),
        ("`id` int64", f"0 … {n - 1:,}"),
        ("`ts` datetime64[ns]", "2024-01-01 00:00:00 + id seconds (naive)"),
        ("`price` float64", f"log-normal (μ 3, σ 1) rounded to cents;"
                            f" {int(df['price'].isna().sum()):,} NaN ({df['price'].isna().mean():.1%})"),
        ("`qty` Int32 (nullable)", f"uniform 1 … 999; {int(df['qty'].isna().sum()):,} NA"
                                   f" ({df['qty'].isna().mean():.1%})"),
        (f"`name` {string_dtype_label(df['name'].dtype)}",
         f"{len(uniques):,} distinct \"given family\" names drawn Zipf-like from a pool of"
         f" {NAME_COUNT:,}; {shared}; {non_ascii_rows / max(n, 1):.1%}"
         f" of rows ({int(non_ascii_u.sum()):,} of the distinct names) not ASCII (e.g. Zoë, Müller,"
         f" Dvořák, Иванов, 王); {avg_octets:.1f} UTF-8 bytes per value on average"),
        ("`region` category",
         f"{len(df['region'].cat.categories)} string categories (categories dtype"
         f" {string_dtype_label(df['region'].cat.categories.dtype)}), int8 codes, no NULL;"
         f" most frequent {counts.max() / max(n, 1):.0%}, least {counts.min() / max(n, 1):.0%}"),
        ("`flag` bool", f"{df['flag'].mean():.1%} true"),
    ]


def report(args: argparse.Namespace, info: List[Tuple[str, str]], server: common.Server,
           durable: Dict[str, str], settings: List[Tuple[str, str, str]], frame_rows: List[Tuple[str, str]],
           plan_rows: List[Tuple[Any, ...]], peers: Sequence[Peer], samples: Dict[str, Samples],
           frame_bytes: int, client: Optional[ClientBreakdown], profiles: List[common.Profile],
           perf_note: Optional[str], rss: Optional[Dict[str, Any]] = None) -> str:
    """The markdown report."""
    out = common.report_preamble(
        f"Mixed benchmark: {args.rows:,} rows of (id int8, ts timestamp, price float8, qty int4,"
        " name text, region text, flag bool)", args, info, server, durable, settings,
        f"{args.rows:,} rows, 7 columns (below); {common.format_bytes(frame_bytes)}"
        f" by `df.memory_usage(deep=True)` (which counts a shared str object once"
        f" per row); seed {args.seed}")
    w = out.append

    w("### The frame")
    w("")
    w(common.md_table(["column", "values"], frame_rows))
    w("")
    w("How zcimport sends it (`zcimport.plan(df)`):")
    w("")
    w(common.md_table(["column", "dtype", "wire type", "nulls", "NaN/NaT as NULL", "zero copy",
                       "bytes packed", "why not zero copy"], plan_rows, "llllllrl"))
    w("")

    w("### Load time")
    w("")
    w(f"Each load goes into a fresh table `CREATE TABLE t ({DDL})` (DROP, CREATE, CHECKPOINT"
      f" before it, not timed) and is timed up to and including COMMIT; the table is then checked"
      f" against checksums computed from the frame ({CHECK_DESCRIPTION}). {args.reps} repetitions,"
      f" interleaved: each repetition runs every peer once, the first peer rotating.")
    w("")
    zc = samples.get("zcimport")
    out += common.timing_table(peers, samples, args.rows)
    if client is not None and client.records_columnwise_s is not None:
        w(f"Building the asyncpg records is part of its timed load: column by column as above took"
          f" {client.records_columnwise_s:.3f} s of it (measured once, separately); the row-wise"
          f" way, `df.astype(object)` with `ts` from `df['ts'].dt.to_pydatetime()`, then"
          f" `.where(df.notna(), None).itertuples(index=False, name=None)`, took"
          f" {client.records_itertuples_s:.3f} s, so the faster one is used.")
        w("")
    out += common.all_times(peers, samples)

    w("### Targets")
    w("")
    targets = common.speed_targets(samples, SPEED_TARGETS, "zcimport ≥ {minimum:g}× faster than {name}")
    targets += common.speed_targets(samples, AIM_TARGETS,
                                    "(aim) zcimport ≥ {minimum:g}× faster than {name}")
    rss_label = (f"client peak RSS growth < {RSS_TARGET:.0%} of the frame's bytes"
                 " (one pyarrow string column, below)")
    if rss and "error" not in rss:
        share = rss["growth"] / rss["frame_bytes"]
        targets.append((rss_label, f"{share:.2%}", "PASS" if share < RSS_TARGET else "FAIL"))
    else:
        targets.append((rss_label, "not measured", "n/a"))
    w(common.md_table(["target", "measured", "result"], targets, "lrc"))
    w("")
    out += rss_lines(rss)

    w("### Where the client spends its time (zcimport load)")
    w("")
    if client is None:
        w("Not measured.")
        w("")
    elif client.error:
        w(f"The measurement failed: `{client.error}`")
        w("")
    if client is not None and client.loads:
        plan_med = statistics.median(client.plan_s)
        dump_med = statistics.median(client.dump_s)
        load_med = zc.median if zc is not None and zc.ok else statistics.median(client.total_wall)
        w(f"**Without the socket.** `zcimport.plan(df)` (planning only) and"
          f" `zcimport.dump(df, sink)` into a sink whose `write()` discards the data (planning and"
          f" encoding every batch, {common.format_bytes(client.dump_bytes)} of stream), median of"
          f" {BREAKDOWN_LOADS}, next to the load's median from the table above:")
        w("")
        w(common.md_table(["", "time", "share of the load"], [
            ("planning: `zcimport.plan(df)`", fmt_ms(plan_med), f"{plan_med / load_med:.0%}"),
            ("encoding the batches: `dump(df, sink)` − `plan(df)`", fmt_ms(dump_med - plan_med),
             f"{(dump_med - plan_med) / load_med:.0%}"),
            ("the rest of the load: sending, waiting for the server, COMMIT (load − dump)",
             fmt_ms(load_med - dump_med), f"{(load_med - dump_med) / load_med:.0%}"),
            ("**the load** (`copy_dataframe` + COMMIT, median above)", fmt_ms(load_med), "100%"),
        ], "lrr"))
        w("")
        total = statistics.median(client.total_wall)
        w(f"**Phases of a load.** {BREAKDOWN_LOADS} more loads (fresh table each) with the client's"
          f" functions wrapped in timers (`time.perf_counter` for wall time, `time.thread_time` for"
          f" the client's CPU time); medians.  These loads took {fmt_ms(total)} (median; timers"
          f" included).  Over the whole load the client used"
          f" {fmt_ms(statistics.median(client.client_cpu))} of CPU and the server backend"
          f" {fmt_ms(statistics.median(client.server_cpu))} (utime + stime from"
          f" `/proc/<backend pid>/stat`, 10 ms ticks), i.e. the backend was busy"
          f" {statistics.median(client.server_cpu) / total:.0%} of the wall time and the client"
          f" {statistics.median(client.client_cpu) / total:.0%}.")
        w("")
        rows = []
        top_sum = 0.0
        for key, label, what in PHASES:
            wall = client.median(key, 0)
            cpu = client.median(key, 1)
            if key in TOP_PHASES:
                top_sum += wall
            calls = client.calls.get(key, 0)
            rows.append((label, fmt_ms(wall), f"{wall / total:.1%}", fmt_ms(cpu),
                         fmt_ms(max(wall - cpu, 0.0)), f"{calls:,}", what))
        other = total - top_sum
        rows.append(("other (psycopg's COPY setup, Python glue)", fmt_ms(other),
                     f"{other / total:.1%}", "", "", "", "the rest of the wall time"))
        rows.append(("**total**", fmt_ms(total), "100%", fmt_ms(statistics.median(client.client_cpu)),
                     "", "", "process CPU in the CPU column"))
        w(common.md_table(["phase", "wall", "share", "client CPU", "wall − CPU (waiting)", "calls",
                           "what"], rows, "lrrrrrl"))
        w("")
        w("Wall − CPU of *sending* is the time the client waits in poll() for room in the socket"
          " buffer, i.e. for the server to read (the server is busier than the client); wall − CPU"
          " of the *end of COPY* and of COMMIT is waiting for the server to finish the last batches"
          " and to flush WAL.")
        w("")
        if client.cprofile_top:
            w(f"**cProfile** of one more load ({client.cprofile_wall:.3f} s with the profiler),"
              " the functions with the most own time (C functions called from Python count as"
              " functions):")
            w("")
            w(common.md_table(["function", "calls", "own time", "cumulative"],
                              [(f"`{name}`", f"{nc:,}", fmt_ms(tt), fmt_ms(ct))
                               for name, nc, tt, ct in client.cprofile_top], "lrrr"))
            w("")

    w("### Where the server spends its time")
    w("")
    if perf_note:
        w(f"Not profiled: {perf_note}.")
        w("")
        return "\n".join(out).rstrip() + "\n"
    cmd = profiles[0].command if profiles else "perf record"
    w(f"`{cmd}` (pid from `conn.info.backend_pid`, or asyncpg's `get_server_pid()`) during one"
      " load of the same frame into a fresh table (COMMIT included).  Shares are of the backend's"
      " own CPU samples (`cpu-clock`): the WAL writer, checkpointer and the client are not"
      " included.  DWARF call graphs, as in the seed benchmark (Debian's `postgres` has no frame"
      " pointers).")
    w("")
    w("*Groups*: as in the seed benchmark, each sample goes to the first frame of its call chain,"
      " from the leaf up, that belongs to a group, so that libc calls (memcpy), generic helpers"
      " and the static functions of the stripped `postgres` count for their nearest categorised"
      " caller; kernel samples are split by what the backend was doing.  Finer groups than the"
      " seed's for this frame: the zcimport server library (`pg_zcimport.so`) is split into its"
      " converters (`conv_utf8`, `conv_dict_*`, `value_from_text`, ...), tuple forming"
      " (`form_fast`; `form_generic`, the path of rows with NULLs or variable-width columns,"
      " is inlined into `zc_load`), stream decoding and its insert glue; text validation"
      " (`pg_verify_mbstr`, whose `pg_utf8_verifystr` is static), text datums"
      " (`cstring_to_text_with_len`), tuple forming (`heap_form_tuple`, `heap_fill_tuple`,"
      " `heap_compute_data_size`) and memory contexts (`palloc`, `AllocSet*`) have groups of"
      " their own.  The column \"mostly\" names the frames that decided the largest parts.")
    w("")
    w("*Top symbols*: `perf report " + " ".join(common.PERF_REPORT_ARGS) + " --percent-limit 1`"
      " (self time of each symbol); a bare address is a static function of the stripped binary,"
      " shown with its most frequent caller.")
    w("")
    for prof in profiles:
        out += common.profile_lines(prof)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

PEER_KEYS = ["zcimport", "adbc", "pandas_adbc", "polars", "pgpq", "asyncpg", "csv", "file"]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_size_arguments(p, rows=1_000_000)
    p.add_argument("--strings", choices=STRING_MODES, default="default",
                   help="how the frame holds its strings: default (what pandas infers, as a"
                        " user's frame gets them: pandas 3's str dtype, pyarrow-backed when"
                        " pyarrow is installed) or object (object columns of str, the frame of"
                        " pandas < 3)")
    p.add_argument("--rss-rows", type=int, default=10_000_000,
                   help="rows of the one-column pyarrow string frame of the client RSS"
                        " measurement (default 10,000,000; 0 to skip it)")
    p.add_argument("--no-profile", action="store_true", help="skip the perf profiles")
    p.add_argument("--no-breakdown", action="store_true",
                   help="skip the client breakdown (plan/dump, instrumented loads, cProfile)")
    common.add_call_graph_argument(p)
    p.add_argument("--perf-freq", type=int, default=10000,
                   help="perf record's sampling frequency in Hz (default 10000; 0 for perf's"
                        " default, 4000)")
    common.add_peers_argument(p, PEER_KEYS)
    common.add_server_arguments(p, port=54332, dbname="zcimport_bench")
    common.add_run_arguments(p, SECTION)
    p.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rss-conninfo", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        return args
    common.check_args(p, args, PEER_KEYS)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success (missed targets and failed peers are
    reported, not errors), 2 when it cannot run (cluster, durability)."""
    args = parse_args(argv)
    if args.rss_child:
        return rss_child(args)
    return common.run_guarded("mixed.py", run, args)


def plan_table(df: pd.DataFrame, conn: "psycopg.Connection[Any]") -> Tuple[List[Tuple[Any, ...]], str]:
    """Rows of the plan table, and the transport."""
    import zcimport

    plan = zcimport.plan(df, conn=conn)
    rows = []
    for c in plan:
        wire = c.wire_type + (f"[{c.unit}]" if c.unit else "")
        rows.append((f"`{c.name}`", c.dtype, wire, c.nulls, "yes" if c.sentinel else "no",
                     "yes" if c.zero_copy else "no", f"{c.packed_bytes:,}", c.reason))
    return rows, plan.transport


def run(args: argparse.Namespace) -> int:
    """The benchmark proper."""
    log = common.begin_run(args, SECTION)
    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        ctx = common.RunContext.open(server, allow_nondurable=args.allow_nondurable, log=log)
        admin = ctx.admin

        log(f"building the frame of {args.rows:,} rows")
        df = mixed_frame(args.rows, args.seed, args.strings)
        frame_bytes = int(df.memory_usage(index=False, deep=True).sum())
        expected = frame_checksum_cached(df)
        frame_rows = describe_frame(df, args)

        client: Optional[ClientBreakdown] = None
        with common.server_writable_dir() as file_dir:
            file_path = ""
            if "file" in args.peer_keys:
                log("writing the server-side CSV file")
                file_path = common.prepare_server_file(admin, df, file_dir / "mixed.csv", table=TABLE,
                                                       ddl=DDL, file_format="csv")
            contenders = Peers(server, df, file_path, args.peer_keys)
            try:
                plan_rows, transport = plan_table(df, contenders.pg3)
                ctx.info.append(common.transport_info(transport, server, contenders.pg3))
                peers = [p for p in contenders.all() if p.key in args.peer_keys]
                samples = common.run_reps(admin, peers, args.reps, table=TABLE, ddl=DDL,
                                          check=lambda: check_table(admin, expected), log=log)

                if not args.no_breakdown:
                    log("client breakdown of zcimport loads")
                    client = measure_client(admin, contenders.pg3, df, log,
                                            with_records="asyncpg" in args.peer_keys)

                profiles: List[common.Profile] = []
                perf_note = common.profiling_unavailable(args.no_profile)
                if perf_note is None:
                    def profile(label: str, pid: int, load: Callable[[], None]) -> common.Profile:
                        return common.profile_load(admin, label, pid, load, table=TABLE, ddl=DDL,
                                                   call_graph=args.call_graph,
                                                   frequency=args.perf_freq or None,
                                                   classify=classify_mixed)
                    log("profiling a zcimport load")
                    profiles.append(profile("zcimport load", contenders.pg3.info.backend_pid,
                                            contenders.zcimport))
                    if contenders.apg is not None:
                        log("profiling an asyncpg copy_records_to_table load")
                        profiles.append(profile("asyncpg copy_records_to_table load (for comparison)",
                                                contenders.apg.get_server_pid(), contenders.asyncpg_copy))
            finally:
                contenders.close()

        del df, contenders
        _CHECKSUM_CACHE.clear()
        gc.collect()
        rss: Optional[Dict[str, Any]] = None
        if args.rss_rows > 0:
            log(f"measuring the client's peak RSS for a pyarrow string column of {args.rss_rows:,}"
                " rows in a subprocess")
            rss = measure_rss(server, args.rss_rows, args.seed)
        ctx.close(args)
        text = report(args, ctx.info, server, ctx.durable, ctx.settings, frame_rows, plan_rows, peers,
                      samples, frame_bytes, client, profiles, perf_note, rss)
    return common.emit_report(text, SECTION, args, log)


if __name__ == "__main__":
    sys.exit(main())
