"""What every loading path shares: the table argument, the COPY statement, the errors.

The lowest module of the database side.  It imports psycopg and
:mod:`zcimport._ddl` (which splits and quotes table names without a
connection), nothing else of the package, so that the loading modules
import one way::

    _ddl  <-  _base  <-  _dbapi (psycopg2, SQLAlchemy)  <-  _copy (psycopg 3)  <-  _drivers, _async
    _ddl  <-  _upsert (the statements of on_conflict=)  <-  _dbapi, _copy, _async

:class:`ExtensionNotInstalledError` and :data:`TableArg` are also exported
by :mod:`zcimport._copy` and by the package.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import sql

from ._ddl import Execute, split_table_name, table_tuple

#: The table argument of copy_dataframe().
TableArg = Union[str, Tuple[str, str], Tuple[str], sql.Composable]

#: A ``prepare`` hook: called with an ``execute(query, params=None) -> rows``
#: function on the load's connection and transaction, after the extension
#: check and before the COPY (:func:`zcimport._ddl.prepare_table`).
Prepare = Callable[[Execute], Any]

#: Called with the number of rows of each batch, once it has been handed to
#: the driver.
ProgressFn = Callable[[int], Any]


class ExtensionNotInstalledError(psycopg.ProgrammingError):
    """The zcimport extension is not installed in the target database.

    Raised by :func:`copy_dataframe` when ``SELECT zcimport.version()``
    fails with undefined_function or invalid_schema_name; the original
    driver error (psycopg or psycopg2) is the ``__cause__``.
    """


#: The SQLSTATEs of a missing extension: undefined_function, invalid_schema_name.
MISSING_EXTENSION_SQLSTATES = ("42883", "3F000")


def extension_missing_message(dbname: str, sqlstate: str, error: str, *, in_transaction: bool,
                              aborted: bool) -> str:
    """The message of :class:`ExtensionNotInstalledError`, for every driver."""
    msg = (
        f"the zcimport extension is not installed in database {dbname!r}: run"
        f" CREATE EXTENSION zcimport in that database ({sqlstate}: {error})"
    )
    if aborted:
        msg += "; the current transaction is aborted and must be rolled back"
    elif in_transaction:
        msg += "; the check ran in a savepoint, the current transaction is still usable"
    return msg


def client_hint(sqlstate: Optional[str], message: Optional[str]) -> Optional[str]:
    """The Python client's hint for a server error, or None.

    The server's hints hold for any client; the ones that name this
    package's options or pandas are given here, from the error's SQLSTATE
    and primary message (psycopg's ``diag.message_primary``, psycopg2's
    ``diag.message_primary``).
    """
    if not message:
        return None
    if sqlstate == "22P02" and message.startswith("value NaN is not an integer"):
        return "NaN is loaded as NULL unless nan_as_null=False was given."
    if sqlstate == "42804" and (" but the stream sends utf8 for it" in message
                                or " but the stream sends dictionary[" in message):
        return "Convert numbers in pandas first, for example with pd.to_numeric()."
    return None


def add_client_hint(ex: BaseException) -> BaseException:
    """Add :func:`client_hint` to a driver error as a note (``__notes__``), once.

    Works for psycopg 3 (``sqlstate``) and psycopg2 (``pgcode``) errors;
    returns ex, so that ``raise add_client_hint(ex)`` reads.
    """
    diag = getattr(ex, "diag", None)
    state = getattr(ex, "sqlstate", None) or getattr(ex, "pgcode", None)
    hint = client_hint(state, getattr(diag, "message_primary", None))
    note = f"hint: {hint}" if hint else None
    if note is not None and note not in getattr(ex, "__notes__", ()):
        ex.add_note(note)
    return ex


def table_identifier(table: TableArg) -> sql.Composable:
    """The table as SQL: see :func:`zcimport.copy_dataframe` for the accepted forms."""
    if isinstance(table, sql.Composable):
        return table
    if isinstance(table, tuple):
        return sql.Identifier(*table_tuple(table))
    if isinstance(table, str):
        return sql.Identifier(*split_table_name(table))
    raise TypeError(
        f"table must be a str, a (schema, name) tuple or a psycopg.sql.Composable,"
        f" not {type(table).__name__}"
    )


def copy_statement(table: TableArg, names: Sequence[str], freeze: bool = False) -> sql.Composed:
    """``COPY {table} ({names}) FROM STDIN WITH (FORMAT zcimport[, FREEZE])``."""
    options = "FORMAT zcimport, FREEZE" if freeze else "FORMAT zcimport"
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (" + options + ")").format(
        table_identifier(table), sql.SQL(", ").join(sql.Identifier(n) for n in names))


__all__ = [
    "ExtensionNotInstalledError",
    "MISSING_EXTENSION_SQLSTATES",
    "Prepare",
    "ProgressFn",
    "TableArg",
    "copy_statement",
    "extension_missing_message",
    "table_identifier",
]
