"""Load through SQLAlchemy: an Engine, or a Connection in a transaction.

    ZCIMPORT_DSN="dbname=mydb" python3 sqlalchemy_load.py
    ZCIMPORT_DSN="postgresql://me@db/mydb" python3 sqlalchemy_load.py

zcimport uses the DBAPI connection underneath (psycopg2 with SQLAlchemy
1.4; psycopg 3 too with SQLAlchemy 2.0's postgresql+psycopg://).
"""

import os

import pandas as pd
import psycopg
import sqlalchemy as sa

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_sqlalchemy"


def engine_url(dsn: str) -> str:
    """A SQLAlchemy psycopg2 URL from a conninfo string or a URL."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    query = {k: v for k, v in params.items() if k not in ("user", "password", "dbname")}
    return str(sa.engine.URL.create(
        "postgresql+psycopg2", username=params.get("user"), password=params.get("password"),
        database=params.get("dbname"), query=query))


engine = sa.create_engine(engine_url(DSN))
df = pd.DataFrame({"word": ["alpha", "beta", "gamma"], "n": [1, 2, 3]})

with engine.begin() as c:
    c.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    c.execute(sa.text(f"CREATE TABLE {TABLE} (word text, n integer)"))

# An Engine: a pooled connection is used, the load committed.
zcimport.copy_dataframe(df, TABLE, engine)

# A Connection: the load joins its transaction; engine.begin() commits it.
with engine.begin() as c:
    zcimport.copy_dataframe(df, TABLE, c)
    c.execute(sa.text(f"UPDATE {TABLE} SET n = n * 10 WHERE word = 'beta'"))

with engine.connect() as c:
    rows = c.execute(sa.text(f"SELECT count(*), sum(n) FROM {TABLE}")).one()
print(f"{TABLE}: {rows[0]} rows, sum(n) = {rows[1]}")
engine.dispose()
