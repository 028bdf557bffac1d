"""Load a DataFrame on a psycopg 3 AsyncConnection.

    ZCIMPORT_DSN="dbname=mydb" python3 async_load.py

The socket writes run in the event loop's default executor, so other
tasks keep running during the load (here, a ticker counts its ticks).
"""

import asyncio
import os

import numpy as np
import pandas as pd
import psycopg

import zcimport

DSN = os.environ.get("ZCIMPORT_DSN", "")
TABLE = "zcimport_example_async"


async def main() -> None:
    n = 1_000_000
    df = pd.DataFrame({"id": np.arange(n, dtype=np.int64), "x": np.random.default_rng(0).random(n)})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async with await psycopg.AsyncConnection.connect(DSN) as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.execute(f"CREATE TABLE {TABLE} (id bigint, x double precision)")
        task = asyncio.create_task(ticker())
        rows = await zcimport.copy_dataframe_async(df, TABLE, conn)
        task.cancel()
        await conn.commit()
    print(f"loaded {rows} rows into {TABLE}; the event loop ticked {ticks} times meanwhile")


asyncio.run(main())
