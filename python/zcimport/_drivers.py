"""Loading through other drivers: psycopg2, and SQLAlchemy Engines/Connections/Sessions.

:func:`zcimport.copy_dataframe` hands every connection that is not a psycopg 3
``Connection`` or a connection string to :func:`load_with_driver`, and
:func:`zcimport.plan` asks :func:`describe_transport` how such a connection
would carry the stream.

This module is the front of that layer, above everything it uses::

    _ddl <- _base <- _dbapi <- _copy <- _drivers

- :mod:`zcimport._dbapi`: psycopg2 (:func:`load_psycopg2`, through
  ``copy_expert`` and a :class:`StreamReader`, which copies) and the DBAPI
  connection behind SQLAlchemy objects, in the transaction the load runs
  in (:func:`sqlalchemy_dbapi`; the module's docstring has the rules);
- :mod:`zcimport._copy`: :func:`load_with_driver`, which picks the path:
  psycopg2, or psycopg 3 (SQLAlchemy's ``postgresql+psycopg://``, and its
  plain ``postgresql://`` from SQLAlchemy 2.1 on), which takes the zero-copy
  path of :func:`zcimport._copy.load`.

Both are re-exported here under their historical names.
"""

from __future__ import annotations

from typing import Any, Optional

import psycopg

from ._base import ExtensionNotInstalledError, Prepare, ProgressFn, TableArg
from ._copy import _load_raw, load_with_driver, transport  # noqa: F401 (re-exported)
from ._dbapi import (  # noqa: F401 (re-exported)
    PSYCOPG2_TRANSPORT,
    READ_BYTES,
    StreamReader,
    _chunk_rows,
    _is_sqlalchemy,
    _psycopg2_table,
    check_extension_psycopg2,
    dbapi_connection,
    engine_transport,
    is_psycopg2,
    is_psycopg3,
    load_psycopg2,
    psycopg2_copy_statement,
    sqlalchemy_dbapi,
    sqlalchemy_kind,
    unsupported_driver,
)
from ._ddl import Execute

# The names of earlier versions of this module.
_is_psycopg2 = is_psycopg2
_is_psycopg3 = is_psycopg3
_sqlalchemy_kind = sqlalchemy_kind


def describe_transport(conn: Any) -> Optional[str]:
    """How COPY data travels on conn, for a connection this module handles.

    Returns ``"psycopg2 copy_expert (copies each batch)"`` for psycopg2
    connections (and SQLAlchemy objects on psycopg2, prefixed with
    ``"SQLAlchemy: "``), the psycopg 3 description (``"socket"``, or
    ``"libpq (...)"`` with the reason) for SQLAlchemy objects on psycopg 3
    and for psycopg 3 ``AsyncConnection``s; None for anything else
    (psycopg 3 ``Connection``s and strings are described by
    :func:`zcimport._copy.transport`).  Nothing is executed on conn; an
    Engine is described by its dialect's driver, without connecting.
    """
    if is_psycopg2(conn):
        return PSYCOPG2_TRANSPORT
    if isinstance(conn, psycopg.AsyncConnection):
        return transport(conn)[1]  # type: ignore[arg-type]
    kind = sqlalchemy_kind(conn)
    if kind == "engine":
        return engine_transport(conn)
    if kind == "connection":
        raw = dbapi_connection(conn.connection)
        if is_psycopg2(raw):
            return "SQLAlchemy: " + PSYCOPG2_TRANSPORT
        if isinstance(raw, psycopg.Connection):
            return "SQLAlchemy: " + transport(raw)[1]
        return f"SQLAlchemy: driver {type(raw).__module__} is not supported"
    return None


__all__ = [
    "PSYCOPG2_TRANSPORT",
    "READ_BYTES",
    "Execute",
    "ExtensionNotInstalledError",
    "Prepare",
    "ProgressFn",
    "StreamReader",
    "TableArg",
    "check_extension_psycopg2",
    "dbapi_connection",
    "describe_transport",
    "load_psycopg2",
    "load_with_driver",
    "psycopg2_copy_statement",
    "sqlalchemy_dbapi",
]
