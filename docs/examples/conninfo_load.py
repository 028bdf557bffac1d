"""Load with a connection string or a URL: zcimport connects, commits, closes.

    ZCIMPORT_DSN="dbname=mydb" python3 conninfo_load.py
    ZCIMPORT_DSN="postgresql://me@db.example.com/mydb" python3 conninfo_load.py
"""

import os

import pandas as pd
import psycopg

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_conninfo"

df = pd.DataFrame(
    {
        "city": ["Paris", "Berlin", None, "Zürich"],            # None -> NULL
        "population": pd.array([2_100_000, 3_600_000, None, 420_000], dtype="Int64"),
    }
)

with psycopg.connect(DSN, autocommit=True) as admin:
    admin.execute(f"DROP TABLE IF EXISTS {TABLE}")
    admin.execute(f"CREATE TABLE {TABLE} (city text, population bigint)")

# A conninfo string ("host=... dbname=...") or a URL ("postgresql://..."):
# the load is committed when copy_dataframe returns.
rows = zcimport.copy_dataframe(df, TABLE, DSN)

with psycopg.connect(DSN) as conn:
    total = conn.execute(f"SELECT sum(population) FROM {TABLE}").fetchone()[0]
print(f"loaded {rows} rows into {TABLE} (total population {total})")
