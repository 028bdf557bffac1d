"""The differential oracle: PostgreSQL's own COPY, fed through psycopg.

A frame is loaded once with zcimport and once with psycopg's COPY (text
format, ``write_row`` with Python objects), into twin tables; the tables
must then be identical, compared with EXCEPT ALL both ways.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql


def python_value(v: Any, nan_as_null: bool = True) -> Any:
    """What psycopg's write_row should get for one frame value."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, pd.Timedelta):
        return v.to_pytimedelta()
    if isinstance(v, (float, np.floating)):
        return None if (nan_as_null and math.isnan(v)) else float(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else pd.Timestamp(v).to_pydatetime()
    return v


def copy_rows(conn: psycopg.Connection, table: str, frame: pd.DataFrame,
              columns: Optional[Sequence[str]] = None, nan_as_null: bool = True,
              freeze: bool = False) -> int:
    """Load frame into table with psycopg's own COPY; returns rowcount."""
    names = list(columns) if columns is not None else [str(c) for c in frame.columns]
    stmt = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(*table.split(".")),
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
        sql.SQL(" WITH (FREEZE)") if freeze else sql.SQL(""))
    with conn.cursor() as cur:
        with cur.copy(stmt) as copy:
            for row in frame[list(frame.columns)].astype(object).itertuples(index=False, name=None):
                copy.write_row([python_value(v, nan_as_null) for v in row])
        return cur.rowcount


def differences(conn: psycopg.Connection, a: str, b: str) -> Iterable[Any]:
    """Rows of a not in b and of b not in a (EXCEPT ALL both ways)."""
    ia, ib = sql.Identifier(*a.split(".")), sql.Identifier(*b.split("."))
    q = sql.SQL("SELECT * FROM {} EXCEPT ALL SELECT * FROM {}")
    extra_a = conn.execute(q.format(ia, ib)).fetchall()
    extra_b = conn.execute(q.format(ib, ia)).fetchall()
    return extra_a + extra_b


def assert_same_table(conn: psycopg.Connection, a: str, b: str) -> None:
    """Tables a and b hold the same multiset of rows."""
    diff = list(differences(conn, a, b))
    assert diff == [], f"{a} and {b} differ: {diff[:5]}"
