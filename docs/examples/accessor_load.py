"""The pandas accessor: df.zcimport.to_postgres(table, conn, **options).

    ZCIMPORT_DSN="dbname=mydb" python3 accessor_load.py

`import zcimport` registers DataFrame.zcimport; its methods are
copy_dataframe (to_postgres, to_postgres_async), plan and dump.
"""

import io
import os

import pandas as pd
import psycopg

import zcimport  # noqa: F401  (registers the accessor)

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_accessor"

df = pd.DataFrame(
    {
        "Name": ["Ada", "Grace", "Edsger"],
        "born": pd.to_datetime(["1815-12-10", "1906-12-09", "1930-05-11"]),
    }
)

with psycopg.connect(DSN) as conn:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"CREATE TABLE {TABLE} (name text, born timestamp)")
    print(df.zcimport.plan())
    # options are copy_dataframe's: here, a renaming of the frame's columns
    rows = df.zcimport.to_postgres(TABLE, conn, columns={"Name": "name", "born": "born"})
    conn.commit()

buf = io.BytesIO()
df.zcimport.dump(buf)
print(f"loaded {rows} rows into {TABLE}; the same frame as a .zci stream is {len(buf.getvalue())} bytes")
