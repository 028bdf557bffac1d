"""The seed benchmark: load a DataFrame of N rows (a float64, b int64) into
``CREATE TABLE t (a float8, b int8)`` with zcimport and with its peers, side
by side in one run, on the durable private cluster of test/cluster.sh.

Peers: (1) zcimport.copy_dataframe over psycopg 3; (2) the CSV recipe of the
pandas docs (to_sql with method=psql_insert_copy, SQLAlchemy + psycopg2);
(3) a NumPy structured array in PostgreSQL's binary COPY format sent with
psycopg 3; (4) asyncpg copy_records_to_table; (5) a server-side
``COPY t FROM 'file' (FORMAT binary)`` with no client work.  Every load goes
into a fresh table (DROP, CREATE, CHECKPOINT: not timed) and is timed up to
and including COMMIT, then checked (count, exact sum(b), sum(a)).  The
repetitions are interleaved (each repetition runs every peer once) so that
machine noise spreads evenly; the report gives the median, min and max.

Also measured: the client's peak RSS growth during a zcimport load of a
large frame (in a subprocess), and the server backend's profile (perf record
with DWARF call graphs) of a zcimport load and of the server-side binary
COPY.

Prints a markdown report; --write replaces the "seed" section of
BENCHMARKS.md.  Run from the repository root, e.g.:

    PYTHONPATH=python /usr/bin/python3 bench/seed.py --rows 200000 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Samples  # noqa: E402

TABLE = "t"
RSS_TABLE = "t_rss"
SECTION = "seed"

#: Targets: (peer key, minimum ratio of the peer's median to zcimport's).
SPEED_TARGETS: List[Tuple[str, float]] = [("file", 1.15), ("csv", 5.0)]
#: Target: peak RSS growth of the client during the load, share of the frame.
RSS_TARGET = 0.05

#: PostgreSQL's binary COPY header: signature, flags (int32), header
#: extension length (int32).
PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
#: The binary COPY trailer: a field count of -1.
PGCOPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
#: One tuple of t in binary COPY: field count, then (length, value) per field.
PGCOPY_ROW = np.dtype([("nfields", ">i2"), ("len_a", ">i4"), ("a", ">f8"),
                       ("len_b", ">i4"), ("b", ">i8")])
#: Bytes per Copy.write() for the NumPy binary peer.
CHUNK_BYTES = 1 << 20


# --------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------


@dataclass
class Peer:
    """One way of loading the frame; load() is timed, COMMIT included."""

    key: str
    name: str
    description: str
    load: Callable[[], None]
    #: Roll back whatever the peer's connection left open after a failure.
    reset: Callable[[], None] = lambda: None


def numpy_binary_copy_buffer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The whole binary COPY stream of (a, b) as one uint8 array: header, one
    big-endian structured record per row, trailer.  (No NULLs: the seed frame
    has no NaN.)"""
    n = len(a)
    head, width = len(PGCOPY_HEADER), PGCOPY_ROW.itemsize
    buf = np.empty(head + n * width + len(PGCOPY_TRAILER), dtype=np.uint8)
    buf[:head] = np.frombuffer(PGCOPY_HEADER, dtype=np.uint8)
    rows = buf[head:head + n * width].view(PGCOPY_ROW)
    rows["nfields"] = 2
    rows["len_a"] = 8
    rows["a"] = a
    rows["len_b"] = 8
    rows["b"] = b
    buf[head + n * width:] = np.frombuffer(PGCOPY_TRAILER, dtype=np.uint8)
    return buf


class Peers:
    """The five contenders, with their connections opened up front."""

    def __init__(self, server: common.Server, df: pd.DataFrame, file_path: str) -> None:
        import asyncpg

        self.df = df
        self.file_path = file_path
        self.pg3 = common.connect(server)
        self.engine = common.make_engine(server)
        self.loop = asyncio.new_event_loop()
        self.apg = self.loop.run_until_complete(asyncpg.connect(**server.asyncpg_kwargs()))

    def close(self) -> None:
        """Close every connection."""
        self.loop.run_until_complete(self.apg.close())
        self.loop.close()
        self.engine.dispose()
        self.pg3.close()

    def _rollback_pg3(self) -> None:
        if not self.pg3.closed:
            self.pg3.rollback()

    # 1.
    def zcimport(self) -> None:
        """zcimport.copy_dataframe(df, "t", conn), then COMMIT."""
        common.load_zcimport(self.df, TABLE, self.pg3)

    # 2.
    def csv_recipe(self) -> None:
        """df.to_sql('t', engine, if_exists='append', index=False, method=psql_insert_copy)."""
        common.load_csv_recipe(self.df, TABLE, self.engine)

    # 3.
    def numpy_binary(self) -> None:
        """Build the binary COPY stream with NumPy, send it in 1 MiB slices."""
        buf = numpy_binary_copy_buffer(self.df["a"].to_numpy(), self.df["b"].to_numpy())
        view = memoryview(buf)
        with self.pg3.cursor() as cur:
            with cur.copy("COPY t (a, b) FROM STDIN (FORMAT binary)") as copy:
                for i in range(0, len(view), CHUNK_BYTES):
                    copy.write(view[i:i + CHUNK_BYTES])
        self.pg3.commit()

    # 4.
    def asyncpg_records(self) -> None:
        """Records from the frame, then copy_records_to_table in a transaction."""
        async def run() -> None:
            records = list(zip(self.df["a"].to_numpy().tolist(), self.df["b"].to_numpy().tolist()))
            async with self.apg.transaction():
                await self.apg.copy_records_to_table(TABLE, records=records, columns=["a", "b"])
        self.loop.run_until_complete(run())

    # 5.
    def server_file(self) -> None:
        """COPY t FROM 'file' (FORMAT binary) on the server, then COMMIT."""
        self.pg3.execute(sql.SQL("COPY t FROM {} (FORMAT binary)").format(sql.Literal(self.file_path)))
        self.pg3.commit()

    def all(self) -> List[Peer]:
        """The peers, in report order."""
        return [
            Peer("zcimport", "zcimport",
                 '`zcimport.copy_dataframe(df, "t", conn)` (psycopg 3), then `conn.commit()`',
                 self.zcimport, self._rollback_pg3),
            Peer("csv", "CSV recipe (pandas docs)",
                 "`df.to_sql('t', engine, if_exists='append', index=False, method=psql_insert_copy)`:"
                 " the `psql_insert_copy` insertion method of the pandas 1.5 user guide"
                 " (csv.writer into a StringIO, then psycopg2 `copy_expert('COPY ... FROM STDIN WITH CSV')`),"
                 " SQLAlchemy engine, psycopg2",
                 self.csv_recipe),
            Peer("numpy", "NumPy binary COPY",
                 "a big-endian NumPy structured array (int16 field count, int32 length + float8,"
                 " int32 length + int8) with the PGCOPY header and trailer, built in the timed part,"
                 f" sent with psycopg 3 `cursor.copy('COPY t (a, b) FROM STDIN (FORMAT binary)').write()`"
                 f" in {CHUNK_BYTES >> 20} MiB memoryview slices",
                 self.numpy_binary, self._rollback_pg3),
            Peer("asyncpg", "asyncpg copy_records_to_table",
                 "`records = list(zip(a.tolist(), b.tolist()))` (timed), then"
                 " `copy_records_to_table('t', records=records, columns=['a', 'b'])` in a transaction",
                 self.asyncpg_records),
            Peer("file", "server-side binary COPY",
                 "`COPY t FROM '<file>' (FORMAT binary)` on the server, no client work (the file is"
                 " written once beforehand with `COPY t TO`, and is in the page cache)",
                 self.server_file, self._rollback_pg3),
        ]


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def prepare_server_file(admin: "psycopg.Connection[Any]", df: pd.DataFrame, directory: Path) -> str:
    """Write the frame as a binary COPY file, with the server's COPY TO."""
    path = str(directory / "seed.bin")
    common.fresh_table(admin, TABLE, common.SEED_DDL)
    with psycopg.connect(admin.info.dsn) as conn:
        common.load_zcimport(df, TABLE, conn)
    admin.execute(sql.SQL("COPY t TO {} (FORMAT binary)").format(sql.Literal(path)))
    common.drop_table(admin, TABLE)
    return path


def run_reps(admin: "psycopg.Connection[Any]", peers: Sequence[Peer], reps: int,
             expected: common.Checksum, log: Callable[[str], None]) -> Dict[str, Samples]:
    """Time every peer reps times, interleaved; a failing peer is dropped."""
    samples = {p.key: Samples(p.name) for p in peers}
    for rep in range(reps):
        # every repetition runs each peer once; the first peer rotates
        order = [peers[(rep + i) % len(peers)] for i in range(len(peers))]
        for peer in order:
            s = samples[peer.key]
            if s.error is not None:
                continue
            common.fresh_table(admin, TABLE, common.SEED_DDL)
            gc.collect()
            try:
                seconds, _ = common.time_call(peer.load)
            except Exception as ex:  # a failing peer is reported, not fatal
                s.error = f"{type(ex).__name__}: {str(ex).strip()[:300]}"
                try:
                    peer.reset()
                except Exception:
                    pass
                log(f"rep {rep + 1}/{reps} {peer.name}: FAILED {s.error}")
                continue
            got = common.table_checksum(admin, TABLE)
            if not got.matches(expected):
                s.error = f"wrong table contents after the load: {got} (expected {expected})"
                log(f"rep {rep + 1}/{reps} {peer.name}: FAILED {s.error}")
                continue
            s.times.append(seconds)
            log(f"rep {rep + 1}/{reps} {peer.name}: {seconds:.3f} s")
    common.drop_table(admin, TABLE)
    return samples


def rss_child(args: argparse.Namespace) -> int:
    """The RSS subprocess: build the frame, reset VmHWM, load, report JSON."""
    importlib.import_module("zcimport")  # imported before the baseline

    conn = psycopg.connect(args.rss_conninfo)
    conn.autocommit = True
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(RSS_TABLE)))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(RSS_TABLE),
                                                        sql.SQL(common.SEED_DDL)))
    conn.autocommit = False
    df = common.seed_frame(args.rss_rows, args.seed)
    frame_bytes = int(df.memory_usage(index=False, deep=True).sum())
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
        "rows": rows, "frame_bytes": frame_bytes, "rss_before": rss_before,
        "hwm_after_reset": hwm_reset, "hwm": hwm, "rss_after": rss_after,
        "growth": hwm - rss_before, "seconds": seconds,
    }))
    return 0


def measure_rss(server: common.Server, rows: int, seed: int) -> Dict[str, Any]:
    """Run the RSS subprocess; its JSON result, or {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child",
           "--rss-rows", str(rows), "--seed", str(seed), "--rss-conninfo", server.conninfo()]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unexpected output: {proc.stdout[-300:]!r} {proc.stderr[-300:]!r}"}


@dataclass
class Profile:
    """A backend profile of one load."""

    label: str
    seconds: float = 0.0
    header: str = ""
    top: Optional[List[common.PerfEntry]] = None
    groups: Optional[List[common.GroupShare]] = None
    callers: Optional[Dict[Tuple[str, int], str]] = None
    command: str = ""
    warning: Optional[str] = None
    error: Optional[str] = None


def profile_load(admin: "psycopg.Connection[Any]", label: str, pid: int,
                 load: Callable[[], None], call_graph: str) -> Profile:
    """perf record around one load into a fresh table."""
    prof = Profile(label)
    common.fresh_table(admin, TABLE, common.SEED_DDL)
    rec = common.PerfRecorder(pid, call_graph=call_graph)
    prof.command = " ".join(rec.command[:-1] + ["<backend pid>"]).replace(str(rec.data), "perf.data")
    try:
        with rec:
            if rec.error is None:
                prof.seconds, _ = common.time_call(load)
        if rec.error is not None:
            prof.error = rec.error
            return prof
        prof.top, header = common.perf_report(rec.data, percent_limit=1)
        chains = common.perf_callchains(rec.data)
        event = header.split(" of ", 1)[-1] if " of " in header else "samples"
        prof.header = f"{len(chains):,} samples of {event}"
        prof.groups = common.group_profile(chains)
        prof.callers = common.unresolved_callers(chains)
        deleted = sorted({f.obj for c in chains for f in c if f.dso.endswith("(deleted)")})
        if deleted:
            prof.warning = (f"{', '.join(deleted)}: the file was replaced on disk after the backend"
                            " loaded it (a reinstall during the run), so perf could not resolve"
                            " its symbols; its samples show as bare offsets")
    except Exception as ex:
        prof.error = f"{type(ex).__name__}: {ex}"
    finally:
        rec.cleanup()
        common.drop_table(admin, TABLE)
    return prof


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    """Seconds with 3 significant decimals."""
    return f"{x:.3f} s" if x < 100 else f"{x:.1f} s"


def fmt_rate(rows: int, seconds: float) -> str:
    """Rows per second, in millions."""
    return f"{rows / seconds / 1e6:.2f} M"


def report(args: argparse.Namespace, info: List[Tuple[str, str]], server: common.Server,
           durable: Dict[str, str], settings: List[Tuple[str, str, str]], peers: Sequence[Peer],
           samples: Dict[str, Samples], frame_bytes: int, rss: Optional[Dict[str, Any]],
           profiles: List[Profile], perf_note: Optional[str]) -> str:
    """The markdown report."""
    out: List[str] = []
    w = out.append
    w(f"## Seed benchmark: {args.rows:,} rows of (a float8, b int8)")
    w("")
    w(f"Command (from the repository root): `{common.command_line()}`")
    w("")
    for warning in args.warnings:
        w(f"**Warning**: {warning}.")
        w("")
    rows = list(info)
    rows.append(("load average", f"{args.loadavg_start} at the start, {args.loadavg_end} at the end"
                                 " (1, 5, 15 min; the machine is shared)"))
    rows.append(("server", server.describe()))
    rows.append(("durability", ", ".join(f"{k}={v}" for k, v in sorted(durable.items()))))
    rows.append(("frame", f"{args.rows:,} rows; `a` float64 ~ N(0, 1), `b` int64 uniform over the"
                          f" whole int64 range; {common.format_bytes(frame_bytes)}; seed {args.seed}"))
    w(common.md_table(["", ""], rows))
    w("")
    w("Cluster settings that differ from the defaults (`pg_settings.source <> 'default'`,"
      " without per-session sources):")
    w("")
    w(common.md_table(["setting", "value", "source"], settings))
    w("")

    w("### Load time")
    w("")
    w(f"Each load goes into a fresh table `CREATE TABLE t (a float8, b int8)` (DROP, CREATE,"
      f" CHECKPOINT before it, not timed) and is timed up to and including COMMIT; the table is"
      f" then checked (count, count(a), exact sum(b), sum(a)). {args.reps} repetitions,"
      f" interleaved: each repetition runs every peer once, the first peer rotating.")
    w("")
    zc = samples.get("zcimport")
    table_rows = []
    for p in peers:
        s = samples[p.key]
        if not s.ok:
            table_rows.append((p.name, "FAILED", "", "", "", s.error or "no samples"))
            continue
        ratio = f"{s.median / zc.median:.2f}×" if zc is not None and zc.ok else "n/a"
        note = f" (failed later: {s.error})" if s.error else ""
        table_rows.append((p.name, fmt_s(s.median), fmt_s(s.min), fmt_s(s.max),
                           fmt_rate(args.rows, s.median), ratio + note))
    w(common.md_table(["peer", "median", "min", "max", "rows/s (median)",
                       "median / zcimport median"], table_rows, "lrrrrr"))
    w("")
    for i, p in enumerate(peers, 1):
        w(f"{i}. **{p.name}**: {p.description}.")
    w("")
    w("All times, in the order they ran: " + "; ".join(
        f"{samples[p.key].name} " + ", ".join(f"{t:.3f}" for t in samples[p.key].times)
        for p in peers) + " (seconds).")
    w("")

    w("### Targets")
    w("")
    targets = []
    for key, minimum in SPEED_TARGETS:
        s = samples.get(key)
        label = f"zcimport ≥ {minimum:g}× faster than the {s.name if s else key}"
        if s is None or not s.ok or zc is None or not zc.ok:
            targets.append((label, "not measured", "n/a"))
            continue
        ratio = s.median / zc.median
        targets.append((label, f"{ratio:.2f}×", "PASS" if ratio >= minimum else "FAIL"))
    rss_label = f"client peak RSS growth < {RSS_TARGET:.0%} of the frame's bytes"
    if rss and "error" not in rss:
        share = rss["growth"] / rss["frame_bytes"]
        targets.append((rss_label, f"{share:.2%}", "PASS" if share < RSS_TARGET else "FAIL"))
    else:
        targets.append((rss_label, "not measured", "n/a"))
    w(common.md_table(["target", "measured", "result"], targets, "lrc"))
    w("")

    w("### Client memory of a zcimport load")
    w("")
    if not rss:
        w("Not measured (`--rss-rows 0`).")
    elif "error" in rss:
        w(f"The measurement failed: `{rss['error']}`")
    else:
        w(f"In a subprocess: a frame of {rss['rows']:,} rows ({common.format_bytes(rss['frame_bytes'])},"
          f" {rss['frame_bytes']:,} bytes) is built first; then VmRSS is read, VmHWM reset"
          f" (`5` into `/proc/self/clear_refs`), the frame loaded with zcimport and committed"
          f" ({rss['seconds']:.1f} s), and VmHWM read.")
        w("")
        w(common.md_table(["", "bytes", ""], [
            ("VmRSS before the load", f"{rss['rss_before']:,}", common.format_bytes(rss["rss_before"])),
            ("VmHWM right after the reset", f"{rss['hwm_after_reset']:,}",
             common.format_bytes(rss["hwm_after_reset"])),
            ("VmHWM after the load", f"{rss['hwm']:,}", common.format_bytes(rss["hwm"])),
            ("**peak growth** (VmHWM − VmRSS before)", f"{rss['growth']:,}",
             f"{common.format_bytes(rss['growth'])} = "
             f"**{rss['growth'] / rss['frame_bytes']:.2%} of the frame**"),
            ("VmRSS after the load", f"{rss['rss_after']:,}", common.format_bytes(rss["rss_after"])),
        ], "lrl"))
    w("")

    w("### Server profile")
    w("")
    if perf_note:
        w(f"Not profiled: {perf_note}.")
        w("")
    else:
        cmd = profiles[0].command if profiles else "perf record"
        w(f"`{cmd}` (pid from `conn.info.backend_pid`) during one load of the same frame into a"
          " fresh table (COMMIT included).  Shares are of the backend's own CPU samples"
          " (`cpu-clock`): the WAL writer, checkpointer and the client are not included.")
        if args.call_graph == "dwarf":
            w("Call graphs are unwound with DWARF rather than frame pointers (`-g`): Debian's"
              " `postgres` is built without frame pointers, so `-g` chains skip its frames and"
              " would credit e.g. heapam.c's static functions to zcimport's `buffers_flush`;"
              " the self-time table is the same either way.")
        w("")
        w("*Groups*: each sample goes to the first frame of its call chain, from the leaf up, that"
          " belongs to a group, so that libc calls (memcpy), generic helpers (hash_search) and the"
          " static functions of the stripped Debian `postgres` binary count for their nearest"
          " categorised caller; kernel samples are split by what the backend was doing (writing"
          " data files, WAL, reading its input, page faults).  The column \"mostly\" names the"
          " frames that decided the largest parts.")
        w("")
        w("*Top symbols*: `perf report " + " ".join(common.PERF_REPORT_ARGS) + " --percent-limit 1`"
          " (self time of each symbol, as perf reports it); a bare address is a static function"
          " of the stripped binary, shown with its most frequent caller.")
        w("")
        for prof in profiles:
            w(f"#### {prof.label}")
            w("")
            if prof.error:
                w(f"Profiling failed: `{prof.error}`")
                w("")
                continue
            w(f"{prof.header}; the profiled load took {prof.seconds:.3f} s (with perf attached).")
            w("")
            if prof.warning:
                w(f"**Warning**: {prof.warning}.")
                w("")
            assert prof.groups is not None and prof.top is not None and prof.callers is not None
            w(common.md_table(
                ["group", "share", "mostly"],
                [(g.label, f"{g.percent:.1f}%",
                  ", ".join(f"`{name}` {pct:.1f}%" for name, pct in g.top if pct >= 0.05))
                 for g in prof.groups],
                "lrl"))
            w("")
            rows = []
            for e in prof.top[:25]:
                sym = f"`{e.symbol}`"
                if e.symbol.startswith("0x"):
                    caller = prof.callers.get((e.dso, int(e.symbol, 16)))
                    if caller:
                        sym += f" (static, called from `{caller}`)"
                rows.append((sym, e.dso, f"{e.percent:.2f}%"))
            w(common.md_table(["symbol", "object", "self"], rows, "llr"))
            w("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    keys = ["zcimport", "csv", "numpy", "asyncpg", "file"]
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="rows of the frame (default 10,000,000)")
    p.add_argument("--reps", type=int, default=5, help="repetitions per peer, at least 3 (default 5)")
    p.add_argument("--rss-rows", type=int, default=50_000_000,
                   help="rows of the frame of the RSS measurement (default 50,000,000, i.e. 800 MB;"
                        " 0 to skip it)")
    p.add_argument("--no-profile", action="store_true", help="skip the perf profiles")
    p.add_argument("--call-graph", choices=sorted(common.CALL_GRAPH_ARGS), default="dwarf",
                   help="perf record's call graphs: dwarf (default; right for the Debian postgres,"
                        " which has no frame pointers) or fp (perf record -g)")
    p.add_argument("--peers", default=",".join(keys),
                   help=f"comma-separated subset of {','.join(keys)} (default: all; zcimport is"
                        " always included)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the frame (default 42)")
    p.add_argument("--port", type=int, default=int(os.environ.get("ZC_PGPORT", "54331")),
                   help="port of the private cluster (default $ZC_PGPORT or 54331); ignored when"
                        " PGHOST/PGPORT name an existing server")
    p.add_argument("--dbname", default="zcimport_bench",
                   help="database, created if missing (default zcimport_bench)")
    p.add_argument("--allow-nondurable", action="store_true",
                   help="run even if fsync, synchronous_commit or full_page_writes is off")
    p.add_argument("--write", action="store_true",
                   help="replace the 'seed' section of BENCHMARKS.md with the report")
    p.add_argument("--output", type=Path, default=common.BENCHMARKS_MD,
                   help="the file that --write updates (default BENCHMARKS.md)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rss-conninfo", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        return args
    if args.reps < 3:
        p.error("--reps must be at least 3")
    if args.rows < 1:
        p.error("--rows must be positive")
    args.peer_keys = [k.strip() for k in args.peers.split(",") if k.strip()]
    unknown = set(args.peer_keys) - set(keys)
    if unknown:
        p.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if "zcimport" not in args.peer_keys:
        args.peer_keys.insert(0, "zcimport")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success (missed targets and failed peers are
    reported, not errors), 2 when it cannot run (cluster, durability)."""
    args = parse_args(argv)
    if args.rss_child:
        return rss_child(args)
    try:
        return run(args)
    except common.BenchError as ex:
        print(f"seed.py: {ex}", file=sys.stderr)
        return 2


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    """The benchmark proper."""
    args.loadavg_start = loadavg()
    args.warnings = []

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[seed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        log(f"server: {server.describe()}")
        common.ensure_database(server)
        admin = common.connect(server, autocommit=True)
        off = common.non_durable(admin)
        if off and not args.allow_nondurable:
            raise common.BenchError(
                f"the server is not durable ({', '.join(off)}): benchmarks need ZC_PGDURABLE=1"
                " (stop the cluster so that it is created again) or --allow-nondurable")
        durable = common.durability(admin)
        info = common.machine_info(admin)
        library = common.server_library(admin)
        if library:
            info.append(("server library", f"`{library[0]}`, {library[1]}"))
        settings = common.cluster_settings(admin)

        log(f"building the frame of {args.rows:,} rows")
        df = common.seed_frame(args.rows, args.seed)
        frame_bytes = int(df.memory_usage(index=False, deep=True).sum())
        expected = common.frame_checksum(df)

        # A directory the server's OS user can write (sticky, world-writable).
        file_dir = Path(tempfile.mkdtemp(prefix="zcimport-bench-"))
        os.chmod(file_dir, 0o1777)
        try:
            file_path = ""
            if "file" in args.peer_keys:
                log("writing the server-side binary COPY file")
                file_path = prepare_server_file(admin, df, file_dir)
            contenders = Peers(server, df, file_path)
            try:
                import zcimport

                plan = zcimport.plan(df, conn=contenders.pg3)
                info.append(("zcimport transport", f"{plan.transport} (connections use"
                             f" host={server.host}; {'SSL' if contenders.pg3.pgconn.ssl_in_use else 'no SSL'})"))
                peers = [p for p in contenders.all() if p.key in args.peer_keys]
                log(f"{args.reps} interleaved repetitions of: {', '.join(p.name for p in peers)}")
                samples = run_reps(admin, peers, args.reps, expected, log)

                profiles: List[Profile] = []
                perf_note = None if not args.no_profile else "--no-profile was given"
                if perf_note is None:
                    perf_note = common.perf_unavailable()
                if perf_note is None:
                    pid = contenders.pg3.info.backend_pid
                    log("profiling a zcimport load")
                    profiles.append(profile_load(admin, "zcimport load", pid, contenders.zcimport,
                                                 args.call_graph))
                    if "file" in args.peer_keys:
                        log("profiling the server-side binary COPY")
                        profiles.append(profile_load(admin, "server-side binary COPY", pid,
                                                     contenders.server_file, args.call_graph))
            finally:
                contenders.close()
        finally:
            shutil.rmtree(file_dir, ignore_errors=True)

        del df, contenders
        gc.collect()
        rss: Optional[Dict[str, Any]] = None
        if args.rss_rows > 0:
            log(f"measuring the client's peak RSS for {args.rss_rows:,} rows in a subprocess")
            rss = measure_rss(server, args.rss_rows, args.seed)
        if library and common.server_library(admin) != library:
            args.warnings.append(
                f"the zcimport server library `{library[0]}` was reinstalled during the run"
                f" (it was {library[1]}; now {common.server_library(admin)}): connections opened"
                " before that kept the old code, so parts of this run may have measured different"
                " builds; rerun when nobody is installing")
        admin.close()
        args.loadavg_end = loadavg()

        text = report(args, info, server, durable, settings, peers, samples, frame_bytes,
                      rss, profiles, perf_note)
    print(text)
    if args.write:
        common.write_section(SECTION, text, args.output)
        log(f"wrote the '{SECTION}' section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
