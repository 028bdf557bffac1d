"""The seed benchmark: load a DataFrame of N rows (a float64, b int64) into
``CREATE TABLE t (a float8, b int8)`` with zcimport and with its peers, side
by side in one run, on the durable private cluster of test/cluster.sh.

Peers: (1) zcimport.copy_dataframe over psycopg 3; (2) ADBC's PostgreSQL
driver, ``cursor.adbc_ingest`` of ``pa.Table.from_pandas(df)`` (conversion
timed); (3) pandas ``to_sql`` on an ADBC connection; (4) polars
``write_database(engine="adbc")`` of a polars frame built beforehand; (5)
pgpq's Arrow-to-binary-COPY encoder with psycopg 3; (6) a NumPy structured
array in PostgreSQL's binary COPY format sent with psycopg 3; (7) asyncpg
copy_records_to_table; (8) the CSV recipe of the pandas docs (to_sql with
method=psql_insert_copy, SQLAlchemy + psycopg2); (9) a server-side
``COPY t FROM 'file' (FORMAT binary)`` with no client work.  A peer whose
packages are not installed is skipped, with a message on stderr and in the
report.  Every load goes
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

    PYTHONPATH=python .venv/latest/bin/python bench/seed.py --rows 200000 --reps 3 --rss-rows 0
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import Peer, Samples  # noqa: E402

TABLE = "t"
RSS_TABLE = "t_rss"
SECTION = "seed"

#: Targets: (peer key, minimum ratio of the peer's median to zcimport's).
SPEED_TARGETS: List[Tuple[str, float]] = [("file", 1.15), ("csv", 5.0), ("adbc", 2.0)]
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


class Peers(common.PeerRunners):
    """The contenders, with their connections opened up front (only those
    that the peers in keys need): zcimport, ADBC, pandas over ADBC, polars,
    pgpq, the CSV recipe and the server-side file from common.PeerRunners,
    and the two below."""

    file_format = "binary"

    def __init__(self, server: common.Server, df: pd.DataFrame, file_path: str,
                 keys: Sequence[str]) -> None:
        super().__init__(server, df, file_path, table=TABLE, keys=keys)

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

    def all(self) -> List[Peer]:
        """The peers, in report order."""
        return [
            self.zcimport_peer(),
            self.adbc_peer(),
            self.pandas_adbc_peer(),
            self.polars_peer(),
            self.pgpq_peer(),
            Peer("numpy", "NumPy binary COPY",
                 "a big-endian NumPy structured array (int16 field count, int32 length + float8,"
                 " int32 length + int8) with the PGCOPY header and trailer, built in the timed part,"
                 f" sent with psycopg 3 `cursor.copy('COPY t (a, b) FROM STDIN (FORMAT binary)').write()`"
                 f" in {CHUNK_BYTES >> 20} MiB memoryview slices",
                 self.numpy_binary, self.rollback_pg3),
            Peer("asyncpg", "asyncpg copy_records_to_table",
                 "`records = list(zip(a.tolist(), b.tolist()))` (timed), then"
                 " `copy_records_to_table('t', records=records, columns=['a', 'b'])` in a transaction",
                 self.asyncpg_records),
            self.csv_peer(),
            Peer("file", "server-side binary COPY",
                 "`COPY t FROM '<file>' (FORMAT binary)` on the server, no client work (the file is"
                 " written once beforehand with `COPY t TO`, and is in the page cache)",
                 self.server_file, self.rollback_pg3),
        ]


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def check_table(admin: "psycopg.Connection[Any]", expected: common.Checksum) -> Optional[str]:
    """None if the table's checksum matches the frame's, else both."""
    got = common.table_checksum(admin, TABLE)
    return None if got.matches(expected) else f"{got} (expected {expected})"


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


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def report(args: argparse.Namespace, info: List[Tuple[str, str]], server: common.Server,
           durable: Dict[str, str], settings: List[Tuple[str, str, str]], peers: Sequence[Peer],
           samples: Dict[str, Samples], frame_bytes: int, rss: Optional[Dict[str, Any]],
           profiles: List[common.Profile], perf_note: Optional[str]) -> str:
    """The markdown report."""
    out = common.report_preamble(
        f"Seed benchmark: {args.rows:,} rows of (a float8, b int8)", args, info, server, durable,
        settings, f"{args.rows:,} rows; `a` float64 ~ N(0, 1), `b` int64 uniform over the"
                  f" whole int64 range; {common.format_bytes(frame_bytes)}; seed {args.seed}")
    w = out.append

    w("### Load time")
    w("")
    w(f"Each load goes into a fresh table `CREATE TABLE t (a float8, b int8)` (DROP, CREATE,"
      f" CHECKPOINT before it, not timed) and is timed up to and including COMMIT; the table is"
      f" then checked (count, count(a), exact sum(b), sum(a)). {args.reps} repetitions,"
      f" interleaved: each repetition runs every peer once, the first peer rotating.")
    w("")
    out += common.timing_table(peers, samples, args.rows)
    out += common.all_times(peers, samples)

    w("### Targets")
    w("")
    targets = common.speed_targets(samples, SPEED_TARGETS,
                                   "zcimport ≥ {minimum:g}× faster than the {name}")
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
            out += common.profile_lines(prof)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


PEER_KEYS = ["zcimport", "adbc", "pandas_adbc", "polars", "pgpq", "numpy", "asyncpg", "csv", "file"]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    keys = PEER_KEYS
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_size_arguments(p, rows=10_000_000)
    p.add_argument("--rss-rows", type=int, default=50_000_000,
                   help="rows of the frame of the RSS measurement (default 50,000,000, i.e. 800 MB;"
                        " 0 to skip it)")
    p.add_argument("--no-profile", action="store_true", help="skip the perf profiles")
    common.add_call_graph_argument(p)
    common.add_peers_argument(p, keys)
    common.add_server_arguments(p, port=54331, dbname="zcimport_bench")
    common.add_run_arguments(p, SECTION)
    p.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rss-conninfo", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        return args
    common.check_args(p, args, keys)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark; 0 on success (missed targets and failed peers are
    reported, not errors), 2 when it cannot run (cluster, durability)."""
    args = parse_args(argv)
    if args.rss_child:
        return rss_child(args)
    return common.run_guarded("seed.py", run, args)


def run(args: argparse.Namespace) -> int:
    """The benchmark proper."""
    log = common.begin_run(args, SECTION)
    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        ctx = common.RunContext.open(server, allow_nondurable=args.allow_nondurable, log=log)
        admin = ctx.admin

        log(f"building the frame of {args.rows:,} rows")
        df = common.seed_frame(args.rows, args.seed)
        frame_bytes = int(df.memory_usage(index=False, deep=True).sum())
        expected = common.frame_checksum(df)

        with common.server_writable_dir() as file_dir:
            file_path = ""
            if "file" in args.peer_keys:
                log("writing the server-side binary COPY file")
                file_path = common.prepare_server_file(admin, df, file_dir / "seed.bin", table=TABLE,
                                                       ddl=common.SEED_DDL, file_format="binary")
            contenders = Peers(server, df, file_path, args.peer_keys)
            try:
                import zcimport

                plan = zcimport.plan(df, conn=contenders.pg3)
                ctx.info.append(common.transport_info(plan.transport, server, contenders.pg3))
                peers = [p for p in contenders.all() if p.key in args.peer_keys]
                samples = common.run_reps(admin, peers, args.reps, table=TABLE, ddl=common.SEED_DDL,
                                          check=lambda: check_table(admin, expected), log=log)

                profiles: List[common.Profile] = []
                perf_note = common.profiling_unavailable(args.no_profile)
                if perf_note is None:
                    pid = contenders.pg3.info.backend_pid

                    def profile(label: str, load: Callable[[], None]) -> common.Profile:
                        return common.profile_load(admin, label, pid, load, table=TABLE,
                                                   ddl=common.SEED_DDL, call_graph=args.call_graph)
                    log("profiling a zcimport load")
                    profiles.append(profile("zcimport load", contenders.zcimport))
                    if "file" in args.peer_keys:
                        log("profiling the server-side binary COPY")
                        profiles.append(profile("server-side binary COPY", contenders.server_file))
            finally:
                contenders.close()

        del df, contenders
        gc.collect()
        rss: Optional[Dict[str, Any]] = None
        if args.rss_rows > 0:
            log(f"measuring the client's peak RSS for {args.rss_rows:,} rows in a subprocess")
            rss = measure_rss(server, args.rss_rows, args.seed)
        ctx.close(args)

        text = report(args, ctx.info, server, ctx.durable, ctx.settings, peers, samples, frame_bytes,
                      rss, profiles, perf_note)
    return common.emit_report(text, SECTION, args, log)


if __name__ == "__main__":
    sys.exit(main())
