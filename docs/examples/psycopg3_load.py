"""Load a DataFrame on a psycopg 3 connection (the zero-copy path).

    ZCIMPORT_DSN="dbname=mydb" python3 psycopg3_load.py

The load runs in the connection's transaction: nothing is visible to other
sessions until you commit.
"""

import os

import numpy as np
import pandas as pd
import psycopg

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_psycopg3"

n = 1000
df = pd.DataFrame(
    {
        "ts": pd.date_range("2024-01-01", periods=n, freq="min"),
        "sensor": pd.Categorical(np.where(np.arange(n) % 3 == 0, "north", "south")),
        "value": np.where(np.arange(n) % 10 == 0, np.nan, np.arange(n) / 4),  # NaN -> NULL
        "ok": np.arange(n) % 7 != 0,
    }
)

with psycopg.connect(DSN) as conn:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"CREATE TABLE {TABLE} (ts timestamp, sensor text, value float8, ok boolean)")

    print(zcimport.plan(df, conn=conn))        # per column: wire type, zero-copy or why not
    rows = zcimport.copy_dataframe(df, TABLE, conn)
    conn.commit()                              # the caller commits

    nulls = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE value IS NULL").fetchone()[0]
    print(f"loaded {rows} rows into {TABLE} ({nulls} NULL values)")
