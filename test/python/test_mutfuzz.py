"""Server-level mutation fuzzing: a fixed-seed slice of test/python/mutfuzz.py.

Mutated streams of every dtype go through COPY (and some through
import_bytea, import_file and describe); none may crash or hang the server,
every rejection must be an expected SQLSTATE and leave 0 rows, and every
accepted stream must load exactly the rows the reference decoder reads,
converted as docs/types.md says.  The slice sends ZC_MUTFUZZ_COUNT streams
(default 5000, seed 20261201; about 30-40 s on 2 cores), and saves what it
finds under ZC_MUTFUZZ_FINDINGS (default /tmp/mutfuzz-findings).
The long mode, with any seed and count, is the module itself:

    PYTHONPATH=python /usr/bin/python3 test/python/mutfuzz.py --seed 7 --count 100000 --dsn "$ZC_TEST_DSN"

The tests without a database check the fuzzer's own parts: its stream model,
its mutations and the oracle's conversion rules.
"""

from __future__ import annotations

import io
import math
import os
import random
import struct

import numpy as np
import pandas as pd
import pytest

import mutfuzz as mf
import zci_reference as ref

#: a server suite: make test runs it in the first Python environment only
pytestmark = pytest.mark.server_side

SLICE_SEED = 20261201
#: a quarter in the matrix's other Python environments (ZC_TEST_SCALE, test/run.sh)
SLICE_COUNT = int(os.environ.get("ZC_MUTFUZZ_COUNT",
                                 str(int(5000 * float(os.environ.get("ZC_TEST_SCALE", "1"))))))
SLICE_SECONDS = float(os.environ.get("ZC_MUTFUZZ_SECONDS", "150"))  # a bound, not the target


def test_mutated_streams_never_crash_and_fail_cleanly(dsn: str) -> None:
    fz = mf.Fuzzer(dsn, SLICE_SEED, mf.default_server_log(dsn),
                   findings_dir=os.environ.get("ZC_MUTFUZZ_FINDINGS", "/tmp/mutfuzz-findings"),
                   frames=60, synth=80)
    s = fz.run(SLICE_COUNT, seconds=SLICE_SECONDS)
    print(s.line())
    assert s.sent >= min(SLICE_COUNT, 1000), s.line()
    assert s.crashes == 0 and s.hangs == 0, s.line()
    assert not s.findings, f"{s.line()}\nsaved: {s.finding_files}"
    # the slice exercises both outcomes and the side paths
    assert s.compared > 100 and s.rejected["22P04"] > 100, s.line()
    assert s.paths["import_bytea"] and s.paths["describe"], s.paths


# -- the fuzzer's parts, without a database -----------------------------------------


@pytest.fixture(scope="module")
def seeds() -> "list[mf.Seed]":
    return mf.build_seeds(random.Random(5), n_frames=10, n_synth=40, n_big=1)


def test_seeds_cover_every_wire_type_and_round_trip(seeds: "list[mf.Seed]") -> None:
    kinds = set()
    for s in seeds:
        if s.model is None:
            continue
        assert mf.serialize(s.model)[0] == s.data, s.name
        for d in s.model.descs:
            kinds.add((d.tname, d.nulls))
    # every wire type: the older ones from frames and hand-built models, the
    # Arrow ones (20-27) from the arrow_* fixtures at least
    assert {t for t, _ in kinds} == set(ref.ALL_TYPE_NAMES.values())
    assert {n for _, n in kinds} == {0, 1, 2}


def test_hand_built_streams_are_valid() -> None:
    rng = random.Random(3)
    for _ in range(200):
        data = mf.serialize(mf.synth_model(rng))[0]
        ref.decode(data, strict_text=False)
    big = mf.serialize(mf.synth_model(rng, big=True))[0]
    assert ref.decode(big, strict_text=False).total_rows >= 999


def test_bitmaps_keep_the_rows(seeds: "list[mf.Seed]") -> None:
    rng = random.Random(1)
    done = 0
    for s in seeds:
        if s.model is None or not any(d.nulls == 2 for d in s.model.descs):
            continue
        b = mf.to_bitmaps(rng, s.model)
        assert all(d.nulls in (0, 1) for d in b.descs)
        mine = ref.decode(mf.serialize(b)[0], strict_text=False)
        orig = ref.decode(s.data, strict_text=False)
        for i, d in enumerate(s.model.descs):
            if d.nulls == 2:
                assert mine.column_values(i) == orig.column_values(i) or d.tname in ("float32", "float64")
        done += 1
    assert done


def test_mutations_are_deterministic(seeds: "list[mf.Seed]") -> None:
    a = mf.Mutator(random.Random(11), seeds)
    b = mf.Mutator(random.Random(11), seeds)
    pick = random.Random(2)
    for _ in range(300):
        s = seeds[pick.randrange(len(seeds))]
        assert a.mutate(s) == b.mutate(s)


def test_huge_row_counts_do_not_reach_the_reference_decoder() -> None:
    m = mf.Model([mf.Desc(mf.T["int64"])], [mf.Msg(1, 0, 1 << 40, [mf.Buf(b"\0" * 8, "values", 0)]),
                                             mf.Msg(3, 0, 1 << 40)])
    with pytest.raises(ref.FormatError):
        mf.reference_decode(mf.serialize(m)[0])
    z = mf.Model([mf.Desc(mf.T["null"])], [mf.Msg(1, 0, 1 << 31, [mf.Buf(b"", "values", 0)]),
                                            mf.Msg(3, 0, 0)])
    assert mf.zero_width_rows(mf.serialize(z)[0]) == 1 << 31


def _col(t: str, unit: "str | None" = None) -> ref.Column:
    return ref.Column(t, "none", False, unit, None, None, "c", "")


def test_oracle_conversion_rules() -> None:
    cell = mf.expected_cell
    # nanoseconds round to microseconds, ties to even
    assert cell(_col("timestamp", "ns"), 1500, "timestamp") == (2, False)
    assert cell(_col("timestamp", "ns"), 2500, "timestamp") == (2, False)
    assert cell(_col("timestamp", "ns"), -1500, "timestamp") == (-2, False)
    assert cell(_col("timestamp", "s"), -(1 << 62), "timestamp")[1]  # before 4713 BC
    # durations split as Python's timedelta: -1 us is -1 day + 86399.999999 s
    assert cell(_col("duration", "us"), -1, "interval") == ((0, -1, 86399999999), False)
    assert cell(_col("duration", "s"), 1 << 62, "interval")[1]
    # narrowing is range-checked; floats must be whole
    assert cell(_col("int64"), 40000, "smallint") == (40000, True)
    assert cell(_col("float64"), 2.5, "integer")[1]
    assert cell(_col("float64"), 2.0, "integer") == (2, False)
    assert cell(_col("float64"), 1e300, "real")[1]  # overflow
    assert cell(_col("float64"), 1e-300, "real")[1]  # underflow
    assert cell(_col("float64"), math.inf, "numeric(6,2)")[1]
    assert cell(_col("int32"), 9999, "numeric(6,2)") == ("9999", False)
    assert cell(_col("int32"), 10000, "numeric(6,2)")[1]
    # text must be valid UTF-8 without NUL
    assert cell(_col("utf8"), "a\x00b", "text")[1]
    assert cell(_col("utf8"), ref.InvalidText(b"\xff"), "text")[1]
    assert cell(_col("date32"), mf.DATE_END, "date")[1]
    with pytest.raises(mf.PairError):
        cell(_col("utf8"), "1", "integer")
    assert mf.canon_read("interval", struct.pack(">qii", 5, -1, 0)) == (0, -1, 5)


def test_prediction_of_a_frame(dump_bytes) -> None:
    df = pd.DataFrame({"v": np.array([1, 40000], dtype="int64"),
                       "s": pd.Series(["a", None], dtype=object)})
    stream = ref.decode(dump_bytes(df))
    t = mf.Table("t", "natural", [mf.TCol("c0", "smallint", True), mf.TCol("c1", "text", True)])
    p = mf.predict(stream, t)
    assert p.must_fail and "40000" in p.must_fail[0]
    t.cols[0].sqltype = "integer"
    p = mf.predict(stream, t)
    assert not p.must_fail and p.rows == {(1, "a"): 1, (40000, None): 1}
    t.cols[1].not_null = True
    assert mf.predict(stream, t).must_fail
