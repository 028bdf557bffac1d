"""The zcimport demo (what `make demo` runs, through test/demo.sh): build the
seed frame (N rows: a float64, b int64), load it into a fresh table once
with zcimport and once with the CSV recipe of the pandas docs, check that
the row count and the checksums read back match the frame, and print the
rows per second of each and their ratio.

Uses the server named by PGHOST/PGPORT (test/demo.sh starts a private
durable cluster and sets them), or else starts the private cluster of
test/cluster.sh itself.  Exits 1 if a load fails or a check does not match.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TABLE = "seed"


@dataclass
class Result:
    """One load of the demo."""

    name: str
    seconds: float = 0.0
    checksum: Optional[common.Checksum] = None
    ok: bool = False
    error: Optional[str] = None


def run_load(admin: Any, name: str, load: Callable[[], Any], expected: common.Checksum) -> Result:
    """Fresh table, timed load (COMMIT included), checksum read back."""
    res = Result(name)
    common.fresh_table(admin, TABLE, common.SEED_DDL)
    gc.collect()
    try:
        res.seconds, _ = common.time_call(load)
    except Exception as ex:
        res.error = f"{type(ex).__name__}: {ex}"
        return res
    res.checksum = common.table_checksum(admin, TABLE)
    res.ok = res.checksum.matches(expected)
    return res


def describe_check(res: Result, expected: common.Checksum) -> str:
    """'rows 10,000,000 = 10,000,000, sum(b) ... : OK'."""
    got = res.checksum
    assert got is not None
    return (f"rows {got.rows:,} (expected {expected.rows:,}), non-NULL a {got.a_count:,},"
            f" sum(b) {got.b_sum} (expected {expected.b_sum}),"
            f" sum(a) {got.a_sum:.6f} (expected {expected.a_sum:.6f}): "
            + ("OK" if res.ok else "MISMATCH"))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_size_arguments(p, rows=10_000_000, reps=False)
    common.add_server_arguments(p, port=54330, dbname="zcimport_demo",
                                port_help="port of the private cluster when PGHOST/PGPORT are not set"
                                          " (default $ZC_PGPORT or {port})")
    args = p.parse_args(argv)
    if args.rows < 1:
        p.error("--rows must be positive")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; 0 when both loads succeeded and matched."""
    return common.run_guarded("demo.py", run, parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The demo proper."""
    import zcimport

    def say(msg: str = "") -> None:
        print(msg, flush=True)

    with common.cluster(args.port, dbname=args.dbname, durable=True) as server:
        common.ensure_database(server)
        admin = common.connect(server, autocommit=True)
        version = admin.execute("SELECT zcimport.version()").fetchone()
        settings = common.durability(admin)
        say(f"server: {server.describe()}, database {server.dbname}")
        say(f"zcimport: server library {version[0] if version else '?'},"
            f" Python client {zcimport.__version__}")
        say("durability: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
        say()

        say(f"building the seed frame: {args.rows:,} rows, a float64 ~ N(0,1), b int64 (seed {args.seed})")
        t0 = time.perf_counter()
        df = common.seed_frame(args.rows, args.seed)
        expected = common.frame_checksum(df)
        frame_bytes = int(df.memory_usage(index=False).sum())
        say(f"  {common.format_bytes(frame_bytes)} in {time.perf_counter() - t0:.1f} s;"
            f" sum(b) = {expected.b_sum}")
        say()

        with common.connect(server) as conn:
            say(str(zcimport.plan(df, conn=conn)))
            say()
            results: List[Result] = []
            say(f'loading with zcimport: zcimport.copy_dataframe(df, "{TABLE}", conn); conn.commit()')
            results.append(run_load(admin, "zcimport",
                                    lambda: common.load_zcimport(df, TABLE, conn), expected))
        engine = common.make_engine(server)
        try:
            say(f"loading with the CSV recipe of the pandas docs: df.to_sql('{TABLE}', engine,"
                " if_exists='append', index=False, method=psql_insert_copy)")
            results.append(run_load(admin, "CSV recipe",
                                    lambda: common.load_csv_recipe(df, TABLE, engine), expected))
        finally:
            engine.dispose()
        common.drop_table(admin, TABLE)
        admin.close()

    say()
    say("==== summary ====")
    for res in results:
        if res.error:
            say(f"{res.name:>10}: FAILED: {res.error}")
            continue
        say(f"{res.name:>10}: {args.rows:,} rows in {res.seconds:.2f} s ="
            f" {args.rows / res.seconds:,.0f} rows/s")
        say(f"{'':>10}  {describe_check(res, expected)}")
    ok = all(r.ok for r in results)
    if ok:
        zc, csv_ = results
        say(f"zcimport loaded the frame {csv_.seconds / zc.seconds:.1f}x faster than the CSV recipe"
            f" ({zc.seconds:.2f} s vs {csv_.seconds:.2f} s), both verified.")
    else:
        say("DEMO FAILED: a load failed or its data did not match the frame.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
