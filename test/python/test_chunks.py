"""Several frames in ONE stream: zcimport._encode.FrameStream and load_frames.

The streams are decoded with the independent reference decoder
(zci_reference): one header, the dictionaries of each chunk's categoricals,
the batches of every frame, and an end marker with the total.  Later frames
are converted to the first frame's dtypes, or refused with a message naming
the column and the frame.  End-to-end: load_frames() into the test cluster,
with progress, create=, and a later frame that does not fit.
"""

from __future__ import annotations

import gc
import io
import weakref
from typing import Any, Iterator, List

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

import zci_reference as ref
import zcimport
from zcimport import _copy, _encode
from zcimport._encode import FrameStream, dump_frames
from zcimport._progress import Progress


def stream_bytes(frames: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    dump_frames(frames, buf, **kwargs)
    return buf.getvalue()


def decode(frames: Any, **kwargs: Any) -> ref.Stream:
    return ref.decode(stream_bytes(frames, **kwargs))


# ---------------------------------------------------------------------------
# the stream
# ---------------------------------------------------------------------------


def test_one_header_batches_of_every_frame_and_the_total():
    frames = [pd.DataFrame({"a": np.arange(k * 10, k * 10 + 5, dtype=np.int64),
                            "f": np.linspace(0, 1, 5)}) for k in range(4)]
    data = stream_bytes(iter(frames), batch_rows=2)
    assert data.count(ref.MAGIC) == 1
    s = ref.decode(data)
    assert s.names == ["a", "f"]
    assert s.total_rows == 20
    assert [b.rows for b in s.batches] == [2, 2, 1] * 4
    assert s.column_values(0) == [v for f in frames for v in f["a"]]


def test_a_single_frame_without_widening_is_exactly_dump(dump_bytes):
    df = pd.DataFrame({"a": np.arange(7), "s": list("abcdefg"),
                       "c": pd.Categorical(list("xyxyxyx"))})
    assert stream_bytes([df], batch_rows=3, widen=False) == dump_bytes(df, batch_rows=3)


def test_dictionaries_are_replaced_per_chunk():
    frames = [
        pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])}),
        pd.DataFrame({"c": pd.Categorical(["z", None, "y"])}),
        pd.DataFrame({"c": pd.Categorical(["y", "z"], categories=["y", "z"])}),  # same as before?
        pd.DataFrame({"c": pd.Categorical(["q"])}),
    ]
    s = decode(frames)
    # frame 2's categories are ['y', 'z'], frame 3's too: not sent again
    assert s.dictionaries == [(0, ["a", "b"]), (0, ["y", "z"]), (0, ["q"])]
    assert s.column_values(0) == ["a", "b", "a", "z", None, "y", "y", "z", "q"]
    assert s.columns[0].index_type == "int32"
    assert s.total_rows == 9


def test_categorical_codes_are_widened_for_more_categories_later():
    many = [f"k{i}" for i in range(300)]  # int16 codes
    frames = [pd.DataFrame({"c": pd.Categorical(["a", "b"])}),  # int8 codes
              pd.DataFrame({"c": pd.Categorical(many)})]
    assert frames[1]["c"].cat.codes.dtype == np.int16
    s = decode(frames)
    assert s.column_values(0) == ["a", "b"] + many
    assert [len(d[1]) for d in s.dictionaries] == [2, 300]


def test_text_columns_get_a_mask_for_later_nulls():
    frames = [pd.DataFrame({"s": pd.Series(["a", "b"], dtype=object),
                            "d": np.array([b"x", b"y"], dtype=object)}),
              pd.DataFrame({"s": [None, "c"], "d": np.array([None, b"z"], dtype=object)}),
              pd.DataFrame({"s": [np.nan, np.nan], "d": [None, None]})]  # all missing
    s = decode(frames)
    assert [c.nulls for c in s.columns] == ["bytemask", "bytemask"]
    assert s.column_values(0) == ["a", "b", None, "c", None, None]
    assert s.column_values(1) == [b"x", b"y", None, b"z", None, None]


def test_later_frames_take_the_first_frames_dtypes():
    first = pd.DataFrame({
        "i": np.array([1, 2], dtype=np.int32),
        "I": pd.array([1, None], dtype="Int64"),
        "f": np.array([0.5, np.nan]),
        "b": np.array([True, False]),
        "ts": pd.to_datetime(["2021-01-01", "2021-01-02"]),
        "tz": pd.to_datetime(["2021-01-01", "2021-01-02"]).tz_localize("UTC"),
        "td": pd.to_timedelta([1, 2], unit="s"),
        "s": ["x", "y"],
    })
    later = pd.DataFrame({
        "i": np.array([3.0, 4.0]),                                 # whole floats
        "I": np.array([np.nan, 5.0]),                              # NaN -> NULL
        "f": np.array([7, 8], dtype=np.int64),                     # ints -> floats
        "b": pd.array([True, True], dtype="boolean"),              # no NA
        "ts": ["2021-02-01", "2021-02-02 03:04:05"],               # strings
        "tz": pd.to_datetime(["2021-02-01 01:00"]).tz_localize("Europe/Berlin").repeat(2),
        "td": ["3s", None],
        "s": [np.nan, np.nan],                                     # all missing
    })
    s = decode([first, later])
    assert s.column_values(0) == [1, 2, 3, 4]
    assert s.columns[0].type == "int32"
    assert s.column_values(1) == [1, None, None, 5]
    assert s.column_values(2) == [0.5, None, 7.0, 8.0]
    assert s.column_values(3) == [True, False, True, True]
    per = {c.name: {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}.get(c.unit, 1)
           for c in s.columns}  # pandas 3 makes microseconds where pandas 2 made nanoseconds
    assert s.column_values(4)[2:] == [pd.Timestamp("2021-02-01").value // per["ts"],
                                      pd.Timestamp("2021-02-02 03:04:05").value // per["ts"]]
    assert s.column_values(5)[2] == pd.Timestamp("2021-02-01 00:00", tz="UTC").value // per["tz"]
    assert s.column_values(6)[2:] == [3 * 10**9 // per["td"], None]
    assert s.column_values(7) == ["x", "y", None, None]


@pytest.mark.parametrize("later,message", [
    (pd.DataFrame({"i": [1.0, np.nan]}), "has a missing value (row 4)"),
    (pd.DataFrame({"i": [1.5, 2.0]}), "cannot safely cast"),
    (pd.DataFrame({"i": ["a", "b"]}), "frame 2 (rows 3 to 4)"),
])
def test_later_frames_that_do_not_fit_numpy_ints(later, message):
    frames = [pd.DataFrame({"i": np.array([1, 2])}), later]
    with pytest.raises((TypeError, ValueError)) as ei:
        stream_bytes(frames)
    assert "column 'i'" in str(ei.value)
    assert message in str(ei.value)


@pytest.mark.parametrize("frames,message", [
    ([pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]})], "frame 2 has the columns ['b']"),
    ([pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [1], "a": [2]})], "has the columns"),
    ([pd.DataFrame({"a": [None]}), pd.DataFrame({"a": ["x"]})], "null wire type"),
    ([pd.DataFrame({"a": ["x"]}), pd.DataFrame({"a": [1.5]})], "not text or objects"),
    ([pd.DataFrame({"a": ["x"]}), pd.DataFrame({"a": [b"x"]})], "would be sent as binary"),
    ([pd.DataFrame({"a": pd.to_datetime(["2021"])}),
      pd.DataFrame({"a": pd.to_datetime(["2021"]).tz_localize("UTC")})], "time zone"),
    ([pd.DataFrame({"a": pd.to_datetime(["2021"]).tz_localize("UTC")}),
      pd.DataFrame({"a": pd.to_datetime(["2021"])})], "no time zone"),
])
def test_frames_that_do_not_fit(frames, message):
    with pytest.raises((TypeError, ValueError, KeyError)) as ei:
        stream_bytes(frames)
    assert message in str(ei.value)


def test_a_selected_column_missing_from_a_later_frame():
    with pytest.raises(KeyError, match="frame 2: column 'a' is not in"):
        stream_bytes([pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]})], columns=["a"])


def test_columns_selection_applies_to_every_frame():
    frames = [pd.DataFrame({"a": [1], "b": ["x"], "c": [0.5]}),
              pd.DataFrame({"c": [1.5], "b": ["y"], "a": [2], "extra": [0]})]
    s = decode(frames, columns={"b": "B", "a": "A"})
    assert s.names == ["B", "A"]
    assert s.column_values(0) == ["x", "y"]
    assert s.column_values(1) == [1, 2]


def test_empty_frames_are_skipped_until_one_has_rows():
    frames = [pd.DataFrame({"s": pd.Series([], dtype=object)}),
              pd.DataFrame({"s": ["a"]}),
              pd.DataFrame({"s": pd.Series([], dtype=object)}),
              pd.DataFrame({"s": ["b", None]})]
    st = FrameStream(iter(frames))
    assert st.plan[0].wire_type == "utf8"  # from the frame with rows
    buf = io.BytesIO()
    _encode.write_chunks(st.chunks(), buf)
    s = ref.decode(buf.getvalue())
    assert s.column_values(0) == ["a", "b", None]
    assert st.rows == 3 and st.frames == 4


def test_only_empty_frames_make_an_empty_stream():
    s = decode([pd.DataFrame({"a": np.array([], dtype=np.int64)})] * 3)
    assert s.total_rows == 0 and s.batches == [] and s.names == ["a"]


def test_no_frames_is_an_error():
    with pytest.raises(ValueError, match="no frames"):
        FrameStream(iter([]))


def test_mappings_of_arrays_are_frames_too():
    frames = ({"v": np.arange(k, k + 3)} for k in (0, 3, 6))
    assert decode(frames).column_values(0) == list(range(9))


def test_a_stream_is_sent_once():
    st = FrameStream([pd.DataFrame({"a": [1]})])
    list(st.chunks())
    with pytest.raises(RuntimeError):
        list(st.chunks())


def test_chunks_carry_their_rows():
    st = FrameStream([pd.DataFrame({"a": np.arange(5)}), pd.DataFrame({"a": np.arange(3)})],
                     batch_rows=2)
    rows = [c.rows for c in st.chunks()]
    assert rows == [0, 2, 2, 1, 2, 1, 0]


def test_only_one_frame_is_held_at_a_time():
    refs: List[Any] = []
    held: List[int] = []

    def frames() -> Iterator[pd.DataFrame]:
        for k in range(5):
            gc.collect()
            held.append(sum(r() is not None for r in refs))
            df = pd.DataFrame({"a": np.arange(1000) + k, "s": ["x"] * 1000,
                               "c": pd.Categorical(["p", "q"] * 500)})
            refs.append(weakref.ref(df))
            yield df
            del df

    out = io.BytesIO()
    st = FrameStream(frames(), batch_rows=300)
    for chunk in st.chunks():
        _encode.write_parts(out, chunk)
        del chunk
    # when a frame is asked for, the one before it is gone
    assert held == [0, 0, 0, 0, 0]
    assert ref.decode(out.getvalue()).total_rows == 5000


def test_progress_is_told_rows_and_bytes():
    p = Progress(False)
    frames = [pd.DataFrame({"a": np.arange(10)})] * 3
    data_len = len(stream_bytes(frames))
    dump_frames(frames, io.BytesIO(), progress=p)
    assert p.rows == 30
    assert p.bytes == data_len
    assert "30 rows" in p.summary("dumped", "to x")


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


def gen_frames(n_frames: int, rows: int) -> Iterator[pd.DataFrame]:
    for k in range(n_frames):
        base = k * rows
        yield pd.DataFrame({
            "id": np.arange(base, base + rows, dtype=np.int64),
            "s": [f"r{base + i}" if (base + i) % 5 else None for i in range(rows)],
            "c": pd.Categorical([f"cat{k}-{i % 3}" for i in range(rows)]),
        })


def test_load_frames_in_one_copy(conn, table):
    seen: List[int] = []
    n = _copy.load_frames(conn, gen_frames(4, 250), table, create=True, batch_rows=100,
                          progress=seen.append)
    assert n == 1000
    assert sum(seen) == 1000
    rows = conn.execute(sql.SQL("SELECT id, s, c FROM {} ORDER BY id").format(
        sql.Identifier(table))).fetchall()
    want = [(i, f"r{i}" if i % 5 else None, f"cat{i // 250}-{(i % 250) % 3}") for i in range(1000)]
    assert rows == want
    types = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE"
                         " attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
                         [table]).fetchall()
    assert [t for (t,) in types] == ["bigint", "text", "text"]


def test_one_copy_statement_for_all_frames(fake_pg):
    with psycopg.connect(fake_pg.dsn) as c:
        assert _copy.load_frames(c, gen_frames(3, 10), "t") == 30
    assert len(fake_pg.streams) == 1
    assert ref.decode(fake_pg.streams[0]).total_rows == 30


def test_a_later_frame_that_does_not_fit_fails_the_load(conn, table, dsn):
    def frames() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({"a": np.arange(3)})
        yield pd.DataFrame({"a": [1.0, np.nan]})

    conn.execute(sql.SQL("CREATE TABLE {} (a int8)").format(sql.Identifier(table)))
    conn.commit()
    with pytest.raises(ValueError) as ei:
        _copy.load_frames(conn, frames(), table)
    # the client's error, not the server's QueryCanceled
    assert "column 'a'" in str(ei.value) and "frame 2" in str(ei.value)
    conn.rollback()
    assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(table))).fetchone() == (0,)
    conn.rollback()  # release the table for the fixture's DROP


def test_copy_dataframe_progress_bar(capsys, dsn, table):
    zcimport.copy_dataframe(pd.DataFrame({"a": np.arange(5000)}), table, dsn, create=True,
                            progress=True, batch_rows=1000)
    err = capsys.readouterr().err
    assert "5,000/5,000 rows" in err and "MB" in err and "rows/s" in err


def test_copy_dataframe_progress_callable(fake_pg):
    seen: List[int] = []
    with psycopg.connect(fake_pg.dsn) as c:
        zcimport.copy_dataframe(pd.DataFrame({"a": np.arange(2500)}), "t", c,
                                batch_rows=1000, progress=seen.append)
    assert seen == [1000, 1000, 500]


def test_dump_reports_progress(tmp_path, capsys):
    seen: List[int] = []
    df = pd.DataFrame({"a": np.arange(2500)})
    assert zcimport.dump(df, tmp_path / "a.zci", batch_rows=1000, progress=seen.append) == 2500
    assert seen == [1000, 1000, 500]
    zcimport.dump(df, tmp_path / "b.zci", batch_rows=1000, progress=True)
    assert "2,500/2,500 rows" in capsys.readouterr().err
    assert (tmp_path / "a.zci").read_bytes() == (tmp_path / "b.zci").read_bytes()
