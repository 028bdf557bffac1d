"""Load on a psycopg2 connection (through cursor.copy_expert).

    ZCIMPORT_DSN="dbname=mydb" python3 psycopg2_load.py

psycopg2 takes COPY data only as bytes objects, so this path copies each
batch once (plan() says so); a psycopg 3 connection sends the frame's
memory as it is.  The load runs in the connection's transaction.
"""

import os

import pandas as pd
import psycopg2

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_psycopg2"

df = pd.DataFrame(
    {
        "sku": ["A-1", "B-2", "C-3"],
        "price": [9.99, 24.5, None],
        "added": pd.to_datetime(["2024-03-01", "2024-03-02", None]),
    }
)

conn = psycopg2.connect(DSN)
try:
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} (sku text, price numeric(10,2), added timestamp)")

    print(zcimport.plan(df, conn=conn).transport)   # psycopg2 copy_expert (copies each batch)
    try:
        rows = zcimport.copy_dataframe(df, TABLE, conn)
        conn.commit()
    except psycopg2.Error as ex:
        conn.rollback()
        raise SystemExit(f"load failed: {ex.pgcode} {ex}")
    print(f"loaded {rows} rows into {TABLE}")
finally:
    conn.close()
