"""The SQL functions: zcimport.import_bytea() and zcimport.describe().

    ZCIMPORT_DSN="dbname=mydb" python3 sql_functions.py

For drivers, poolers and ORMs that cannot run COPY: the whole stream is
sent as one bytea parameter (so it is held in memory on both sides) and
loaded into every column of the table, in order.
"""

import io
import os

import pandas as pd
import psycopg

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_sql"

df = pd.DataFrame({"k": [1, 2, 3], "label": ["one", None, "three"]})
stream = io.BytesIO()
zcimport.dump(df, stream)

with psycopg.connect(DSN) as conn:
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"CREATE TABLE {TABLE} (k bigint, label text)")

    for row in conn.execute(
        "SELECT column_no, name, wire_type, nulls FROM zcimport.describe(%s)",
        [stream.getvalue()],
    ):
        print("stream column:", row)

    rows = conn.execute(
        "SELECT zcimport.import_bytea(%s::regclass, %s)", [TABLE, stream.getvalue()]
    ).fetchone()[0]
    conn.commit()
print(f"loaded {rows} rows into {TABLE} with zcimport.import_bytea")
