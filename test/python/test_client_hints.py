"""The hints that name Python options come from the client, not the server.

The server's hints hold for any client (psql's \\copy of a .zci file, a
client in another language); :func:`zcimport._base.client_hint` adds the
ones that name ``nan_as_null=`` or pandas, from the SQLSTATE and message.
Also: a float that is not a whole number, loaded into an integer column,
gets the SQLSTATE core's COPY gives the same value as text (22P02).
"""
from __future__ import annotations

import argparse
import math

import pandas as pd
import pytest

import zcimport
from zcimport._base import add_client_hint, client_hint

NAN_HINT = "NaN is loaded as NULL unless nan_as_null=False was given."
TO_NUMERIC_HINT = "Convert numbers in pandas first, for example with pd.to_numeric()."


def test_client_hint_matches_sqlstate_and_message():
    assert client_hint("22P02", "value NaN is not an integer") == NAN_HINT
    assert client_hint("22P02", "value 2.5 is not an integer") is None
    assert client_hint("22003", "value NaN is not an integer") is None
    mismatch = 'column "s" is of type integer, but the stream sends {} for it'
    assert client_hint("42804", mismatch.format("utf8")) == TO_NUMERIC_HINT
    assert client_hint("42804", mismatch.format("dictionary[int8 codes, utf8 values]")) == \
        TO_NUMERIC_HINT
    assert client_hint("42804", mismatch.format("utf8_32")) is None
    assert client_hint("42804", mismatch.format("float64")) is None
    assert client_hint(None, None) is None


class _Diag:
    def __init__(self, primary: str) -> None:
        self.message_primary = primary


class _Psycopg2Like(Exception):
    """What add_client_hint reads of a psycopg2 error: pgcode and diag."""

    def __init__(self, pgcode: str, primary: str) -> None:
        super().__init__(primary)
        self.pgcode = pgcode
        self.diag = _Diag(primary)


def test_add_client_hint_adds_one_note():
    ex = _Psycopg2Like("22P02", "value NaN is not an integer")
    assert add_client_hint(ex) is ex
    add_client_hint(ex)
    assert ex.__notes__ == ["hint: " + NAN_HINT]
    other = _Psycopg2Like("22003", "value 1e+300 is out of range for type integer")
    add_client_hint(other)
    assert not hasattr(other, "__notes__")


def _copy_text(conn, table: str, text: str) -> None:
    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        copy.write(text)


@pytest.mark.parametrize("value, text", [(1.5, "1.5"), (-0.25, "-0.25"), (math.inf, "Infinity"),
                                         (math.nan, "NaN")])
def test_fractional_float_into_integer_has_cores_sqlstate(dsn, value, text):
    """zcimport's SQLSTATE for a non-whole float is core COPY's for its text (the oracle)."""
    import psycopg

    states = []
    for load in ("zcimport", "core"):
        with psycopg.connect(dsn) as c:
            c.execute("CREATE TEMP TABLE t (a int4)")
            with pytest.raises(psycopg.Error) as info:
                if load == "zcimport":
                    zcimport.copy_dataframe(pd.DataFrame({"a": [1.0, value]}), "t", c,
                                            nan_as_null=False)
                else:
                    _copy_text(c, "t", f"1\n{text}\n")
            states.append(info.value.sqlstate)
            if load == "zcimport":
                # the server's hint names no option of the Python client
                assert info.value.diag.message_hint is None
    assert states == ["22P02", "22P02"]


def test_server_hints_name_no_python_option(conn):
    import psycopg

    conn.execute("CREATE TEMP TABLE t (a int4)")
    with pytest.raises(psycopg.errors.DatatypeMismatch) as info:
        zcimport.copy_dataframe(pd.DataFrame({"a": ["1"]}), "t", conn)
    hint = info.value.diag.message_hint
    assert "numeric takes decimal strings" in hint
    assert "pandas" not in hint and "pd." not in hint
    assert add_client_hint(info.value).__notes__ == ["hint: " + TO_NUMERIC_HINT]


def test_cli_message_has_the_client_hint(conn):
    import psycopg

    from zcimport.cli import classify

    conn.execute("CREATE TEMP TABLE t (a int8)")
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as info:
        zcimport.copy_dataframe(pd.DataFrame({"a": [math.nan]}), "t", conn, nan_as_null=False)
    _, message = classify(info.value, argparse.Namespace(command="load", table="t"))
    assert "value NaN is not an integer" in message
    assert "hint: " + NAN_HINT in message
    assert message.endswith("(SQLSTATE 22P02)")


def test_psycopg2_error_carries_the_client_hint(dsn):
    psycopg2 = pytest.importorskip("psycopg2")

    c = psycopg2.connect(dsn)
    try:
        with c.cursor() as cur:
            cur.execute("CREATE TEMP TABLE t (a int8)")
        with pytest.raises(psycopg2.Error) as info:
            zcimport.copy_dataframe(pd.DataFrame({"a": [math.nan]}), "t", c, nan_as_null=False)
        assert info.value.pgcode == "22P02"
        assert info.value.__notes__ == ["hint: " + NAN_HINT]
    finally:
        c.close()


def test_psycopg_error_carries_the_client_hint(conn):
    import psycopg

    conn.execute("CREATE TEMP TABLE t (a int8)")
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as info:
        zcimport.copy_dataframe(pd.DataFrame({"a": [math.nan]}), "t", conn, nan_as_null=False)
    assert getattr(info.value, "__notes__", None) == ["hint: " + NAN_HINT]


def test_async_error_carries_the_client_hint(dsn):
    import asyncio

    import psycopg

    async def load() -> psycopg.Error:
        async with await psycopg.AsyncConnection.connect(dsn) as c:
            await c.execute("CREATE TEMP TABLE t (a int8)")
            try:
                await zcimport.copy_dataframe_async(pd.DataFrame({"a": [math.nan]}), "t", c,
                                                    nan_as_null=False)
            except psycopg.Error as ex:
                return ex
        raise AssertionError("the load did not fail")

    ex = asyncio.run(load())
    assert ex.sqlstate == "22P02"
    assert getattr(ex, "__notes__", None) == ["hint: " + NAN_HINT]
