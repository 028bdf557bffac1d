"""The pandas accessor: ``df.zcimport.to_postgres("table", conn, **options)``.

Importing this module registers the ``zcimport`` DataFrame accessor
(``import zcimport`` does it).  Every method delegates to the package's
public functions, imported when called::

    df.zcimport.to_postgres("measurements", conn)          # zcimport.copy_dataframe
    await df.zcimport.to_postgres_async("measurements", aconn)
    print(df.zcimport.plan())                               # zcimport.plan
    df.zcimport.dump("m.zci")                               # zcimport.dump
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import IO, TYPE_CHECKING, Any, Union

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ._plan import Plan

log = logging.getLogger("zcimport")

#: The attribute name of the accessor on DataFrames.
ACCESSOR_NAME = "zcimport"


class ZcimportAccessor:
    """``DataFrame.zcimport``: load this frame with zcimport.

    Each method takes the keyword arguments of the function it calls
    (``columns=``, ``batch_rows=``, ``nan_as_null=``, ``freeze=``, and
    whatever else that function accepts).
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def to_postgres(self, table: Any, conn: Any, **options: Any) -> int:
        """Load the frame into table: :func:`zcimport.copy_dataframe`.

        Args:
            table: the target table (``"name"``, ``"schema.name"``, a tuple
                or a ``sql.Composable``).
            conn: anything :func:`zcimport.copy_dataframe` accepts: a
                psycopg 3 connection, a connection string or URL, a psycopg2
                connection, a SQLAlchemy Engine or Connection.
            **options: keyword arguments of :func:`zcimport.copy_dataframe`.

        Returns:
            The number of rows loaded.
        """
        from ._api import copy_dataframe

        return int(copy_dataframe(self._df, table, conn, **options))

    async def to_postgres_async(self, table: Any, conn: Any, **options: Any) -> int:
        """Load the frame on a psycopg ``AsyncConnection`` (or a conninfo):
        :func:`zcimport.copy_dataframe_async`."""
        from ._async import copy_dataframe_async

        return int(await copy_dataframe_async(self._df, table, conn, **options))

    def plan(self, **options: Any) -> "Plan":
        """How each column would be sent: :func:`zcimport.plan`.

        ``conn=`` adds how the stream would travel on that connection.
        """
        from ._api import plan

        return plan(self._df, **options)

    def dump(self, file: Union[IO[bytes], str, "os.PathLike[str]"], **options: Any) -> int:
        """Write the frame's zcimport stream to a file: :func:`zcimport.dump`.

        Returns:
            The number of rows written.
        """
        from ._api import dump

        return int(dump(self._df, file, **options))


def register() -> None:
    """Register the accessor on ``pd.DataFrame`` (once; repeated calls and
    re-imports do nothing)."""
    # On the class, a pandas accessor is the accessor class itself.
    existing = getattr(pd.DataFrame, ACCESSOR_NAME, None)
    if existing is not None:
        if getattr(existing, "__qualname__", None) == ZcimportAccessor.__qualname__ and \
                getattr(existing, "__module__", None) == ZcimportAccessor.__module__:
            return  # ours, from an earlier import of this module
        log.warning("zcimport: DataFrame.%s is already defined (%r); replacing it",
                    ACCESSOR_NAME, existing)
    with warnings.catch_warnings():
        # pandas warns when an accessor replaces an attribute; said above.
        warnings.simplefilter("ignore", UserWarning)
        pd.api.extensions.register_dataframe_accessor(ACCESSOR_NAME)(ZcimportAccessor)


register()
