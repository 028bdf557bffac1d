"""zcimport: load files into PostgreSQL with COPY ... WITH (FORMAT zcimport).

  zcimport load SOURCE --table T [--dsn DSN] [options]   load a file into a table
  zcimport plan SOURCE [options]                         how each column would be sent
  zcimport dump SOURCE OUT.zci [options]                 write a .zci stream file

SOURCE is a CSV or TSV file (read in chunks: by pyarrow's CSV reader when
pyarrow is installed, its record batches sent as Arrow, else by pandas;
see --csv-engine), JSON lines, a pickled DataFrame, a .npy or .npz file, a
.zci stream (sent as it is), or Parquet and Feather files (sent as Arrow)
and HDF5 files when pyarrow / PyTables are installed.  The format comes
from the file name (data.csv.gz is CSV), or from --format.  CSV columns of
ISO 8601 dates and timestamps load as date, timestamp and timestamptz
(--no-parse-dates: as text).

The load runs in one transaction: table creation (--create), then one
COPY of the whole file; it is committed at the end, or nothing is loaded.
With --on-conflict the file is COPYed into a temporary staging table, then
inserted with INSERT ... ON CONFLICT (an upsert), in the same transaction.
The connection is --dsn, else $ZCIMPORT_DSN, else libpq's defaults and
environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, ~/.pgpass...).
See docs/cli.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import traceback
import warnings
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

#: Exit codes.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_CONNECT = 4
EXIT_TARGET = 5
EXIT_DATA = 6
EXIT_PACKAGE = 7
EXIT_INTERRUPTED = 130

EXIT_CODES = """\
exit codes:
  0    success
  1    internal error (run again with --debug for the traceback)
  2    usage: bad options or arguments (also --columns or --parse-dates
       naming a column the file does not have, or an invalid --dsn)
  3    input: the file is missing, unreadable or malformed (or the output
       file of dump cannot be written)
  4    connection: the server cannot be reached, authentication failed, the
       database does not exist, or the connection was lost
  5    target: the table does not exist (without --create) or exists (with
       --if-exists fail), a column does not exist, no privilege, the
       zcimport extension is not installed, or the server refused the load
       for another reason (FREEZE conditions, read-only transaction, no
       primary key or unique index for --on-conflict...)
  6    data: a value or a type does not fit (type mismatch, value out of
       range, constraint violation, malformed stream, a later chunk that
       does not fit the types of the first one, an unsupported dtype; with
       --on-conflict update, a key twice in the file)
  7    a package the format needs is not installed (pyarrow for Parquet,
       Feather and --csv-engine pyarrow, PyTables for HDF5)
  130  interrupted (Ctrl-C); nothing was loaded
"""

log = logging.getLogger("zcimport")


class UsageError(Exception):
    """Bad options: exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with one line on stderr for a usage error."""

    def error(self, message: str) -> NoReturn:
        prog = self.prog
        self.exit(EXIT_USAGE, f"zcimport: error: {message} (see {prog} --help)\n")


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative: {n}")
    return n


def _add_reader_options(p: argparse.ArgumentParser) -> None:
    from ._readers import CSV_ENGINES, DEFAULT_CHUNK_ROWS, FORMATS

    g = p.add_argument_group("reading the input")
    g.add_argument("--format", choices=FORMATS,
                   help="the input's format (default: from the file name's extension)")
    g.add_argument("--sep", help="CSV/TSV: the field separator (default ',' for CSV, tab for"
                   " TSV)")
    g.add_argument("--parse-dates", metavar="COL,...",
                   help="columns to parse as timestamps (CSV, TSV, JSON lines; for"
                   " other formats, text columns converted with pandas.to_datetime)")
    g.add_argument("--no-parse-dates", dest="detect_dates", action="store_false",
                   help="CSV/TSV: do not detect dates: columns of ISO 8601 dates and"
                   " timestamps (2021-06-30, 2021-06-30 12:34:56, 2021-06-30T12:34:56+02:00),"
                   " which are otherwise loaded as date, timestamp and timestamptz, stay text"
                   " (--parse-dates columns are still parsed)")
    g.add_argument("--csv-engine", choices=CSV_ENGINES,
                   help="CSV/TSV: the reader: pyarrow's streaming, multithreaded reader, whose"
                   " record batches are sent as Arrow, or pandas.read_csv in chunks (default"
                   " auto: pyarrow when it is installed and supports the options, else"
                   " pandas)")
    g.add_argument("--null", metavar="STR",
                   help="CSV/TSV: the string that means NULL, as COPY's NULL option; then"
                   " only it is NULL (an empty field is an empty string). Default: pandas'"
                   " missing values (empty field, NA, NULL, NaN, n/a, ...)")
    g.add_argument("--encoding", help="CSV/TSV/JSON lines: the file's text encoding"
                   " (default utf-8)")
    g.add_argument("--skip-rows", type=_non_negative, metavar="N",
                   help="CSV/TSV/JSON lines: lines to skip at the start of the file (before"
                   " the header line)")
    g.add_argument("--hdf-key", metavar="KEY",
                   help="HDF5: the key of the frame in the store (needed when it holds"
                   " several)")
    g.add_argument("--chunk-rows", type=_positive, metavar="N",
                   help=f"rows read at a time from CSV, TSV, JSON lines, .npy, Parquet,"
                   f" HDF5 (default {DEFAULT_CHUNK_ROWS:,}; pyarrow's CSV reader reads"
                   " blocks of about as many rows); memory is bounded by one chunk; the"
                   " first chunk of a CSV, TSV or JSON lines file fixes the column types")


def _add_stream_options(p: argparse.ArgumentParser, batch: bool = True) -> None:
    g = p.add_argument_group("the stream")
    g.add_argument("--columns", metavar="a,b,c | a=x,b=y",
                   help="load only these columns of the file, in this order; a=x loads the"
                   " file's column a into the table's column x. For a .zci stream: the"
                   " COPY column list (the table columns its columns go to, by position)")
    if batch:
        g.add_argument("--batch-rows", type=_positive, metavar="N",
                       help="rows per batch of the stream (default: about 4 MiB of column"
                       " data per batch)")
    nan = g.add_mutually_exclusive_group()
    nan.add_argument("--nan-as-null", dest="nan_as_null", action="store_const", const=True,
                     help="load NaN in float columns as NULL (the default)")
    nan.add_argument("--keep-nan", dest="nan_as_null", action="store_const", const=False,
                     help="load NaN in float columns as NaN")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no summary line (errors are still printed)")
    g.add_argument("-v", "--verbose", action="store_true",
                   help="log what the client does (columns that are copied, DDL, ...)")
    g.add_argument("--debug", action="store_true",
                   help="show tracebacks and debug messages")


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 78)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``zcimport`` command."""
    from . import IMPL, __version__
    from ._ddl import IF_EXISTS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="zcimport", description=__doc__, epilog=EXIT_CODES,
                     formatter_class=fmt)
    parser.add_argument("--version", action="version",
                        version=f"zcimport {__version__} (object column packers: {IMPL})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    load = sub.add_parser(
        "load", help="load a file into a table", formatter_class=fmt, epilog=EXIT_CODES,
        description=_wrap("Load SOURCE into the table T with one COPY ... WITH (FORMAT zcimport),"
        " in one transaction, committed at the end."))
    load.add_argument("source", metavar="SOURCE", help="the input file")
    g = load.add_argument_group("the target")
    g.add_argument("-t", "--table", required=True, metavar="T",
                   help="the table: name or schema.name (double-quote parts with dots;"
                   " names are used as written, case included)")
    g.add_argument("-d", "--dsn", metavar="DSN",
                   help="libpq connection string or URL (default: $ZCIMPORT_DSN, else"
                   " libpq's defaults and PG* environment variables)")
    g.add_argument("--create", action="store_true",
                   help="create the table from the columns' types first (see --if-exists)")
    g.add_argument("--if-exists", choices=IF_EXISTS,
                   help="with --create, when the table exists: fail (the default), append to"
                   " it, replace it (DROP and CREATE), or truncate it")
    g.add_argument("--freeze", action="store_true",
                   help="COPY with FREEZE (the table must be created or truncated by this"
                   " load: --create)")
    from ._upsert import ON_CONFLICT

    g.add_argument("--on-conflict", choices=ON_CONFLICT,
                   help="upsert: rows whose key is already in the table are skipped"
                   " (nothing) or overwrite the table's row (update): INSERT ... ON CONFLICT"
                   " ... DO NOTHING / DO UPDATE, on the table's primary key unless"
                   " --conflict-columns")
    g.add_argument("--conflict-columns", metavar="a,b",
                   help="with --on-conflict: the conflict target, columns of a unique index or"
                   " constraint (default: the primary key); with --create, the primary key"
                   " of a table it creates")
    _add_reader_options(load)
    _add_stream_options(load)
    _add_output_options(load)

    plan = sub.add_parser(
        "plan", help="show how each column would be sent", formatter_class=fmt,
        epilog=EXIT_CODES,
        description=_wrap("Print the plan of SOURCE's stream: per column, the wire type, whether"
        " it goes without a copy (and why not), and the table --create would make. Only"
        " the first chunk of a chunked file is read. For a .zci stream: its header's"
        " columns and its row count."))
    plan.add_argument("source", metavar="SOURCE", help="the input file")
    plan.add_argument("-t", "--table", metavar="T",
                      help="the table name of the CREATE TABLE shown (default: the file's"
                      " name)")
    _add_reader_options(plan)
    _add_stream_options(plan, batch=False)
    _add_output_options(plan)

    dump = sub.add_parser(
        "dump", help="write a .zci stream file", formatter_class=fmt, epilog=EXIT_CODES,
        description=_wrap("Write SOURCE's stream to OUT (a .zci file that psql's \\copy ... WITH"
        " (FORMAT zcimport) or zcimport load can load), reading the input in chunks."))
    dump.add_argument("source", metavar="SOURCE", help="the input file")
    dump.add_argument("out", metavar="OUT", help="the .zci file to write ('-': stdout)")
    _add_reader_options(dump)
    _add_stream_options(dump)
    _add_output_options(dump)
    return parser


def parse_columns(text: Optional[str]) -> Union[None, List[str], Dict[str, str]]:
    """``a,b,c`` -> a list; ``a=x,b=y`` (or ``a,b=y``) -> a dict."""
    if text is None:
        return None
    items = [s.strip() for s in text.split(",")]
    if not items or any(not s for s in items):
        raise UsageError(f"--columns {text!r}: an empty column name")
    if not any("=" in s for s in items):
        return items
    out: Dict[str, str] = {}
    for s in items:
        key, eq, value = s.partition("=")
        key, value = key.strip(), value.strip()
        if not key or (eq and not value):
            raise UsageError(f"--columns {text!r}: {s!r} is not a or a=x")
        if key in out:
            raise UsageError(f"--columns {text!r}: {key!r} appears twice")
        out[key] = value or key
    return out


def _read_options(args: argparse.Namespace) -> Any:
    from ._readers import DEFAULT_CHUNK_ROWS, ReadOptions

    dates = [s.strip() for s in args.parse_dates.split(",")] if args.parse_dates else []
    if any(not d for d in dates):
        raise UsageError(f"--parse-dates {args.parse_dates!r}: an empty column name")
    return ReadOptions(sep=args.sep, parse_dates=dates, null=args.null,
                       encoding=args.encoding, skip_rows=args.skip_rows or 0,
                       hdf_key=args.hdf_key,
                       chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS,
                       csv_engine=args.csv_engine or "auto", detect_dates=args.detect_dates)


class _Closing:
    """Closes the source at the end of a command."""

    def __init__(self) -> None:
        self.sources: List[Any] = []

    def close(self) -> None:
        for s in self.sources:
            close = getattr(s, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # pragma: no cover - best effort
                    log.debug("zcimport: closing the input failed", exc_info=True)
        self.sources = []


_opened = _Closing()


def _open(args: argparse.Namespace) -> Any:
    from ._readers import OptionError, open_source

    try:
        source = open_source(args.source, args.format, _read_options(args))
    except OptionError as ex:
        raise UsageError(str(ex)) from None
    _opened.sources.append(source)
    if source.format == "zci":
        given = [flag for flag, v in (("--chunk-rows", args.chunk_rows),
                                      ("--batch-rows", getattr(args, "batch_rows", None)),
                                      ("--nan-as-null/--keep-nan", args.nan_as_null))
                 if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: does not apply to a .zci stream, which is"
                             " sent as it is")
    return source


def _nan_as_null(args: argparse.Namespace) -> bool:
    return True if args.nan_as_null is None else args.nan_as_null


def _zci_names(source: Any, columns: Any) -> List[str]:
    names = [c.name for c in source.columns]
    if columns is None:
        return names
    if isinstance(columns, list):
        if len(columns) != len(names):
            raise UsageError(f"the stream {source.path} has {len(names)} columns"
                             f" ({', '.join(names)}); --columns names {len(columns)}")
        return columns
    unknown = [k for k in columns if k not in names]
    if unknown:
        raise UsageError(f"--columns: the stream {source.path} has no column {unknown[0]!r}"
                         f" (its columns: {', '.join(names)})")
    return [columns.get(n, n) for n in names]


def _arrow_header(source: Any, args: argparse.Namespace) -> Any:
    """The stream's header columns planned from an Arrow source's schema, when
    the stream takes Arrow record batches (zcimport's Arrow support), else None."""
    if not getattr(source, "arrow_capable", False):
        return None
    try:
        import inspect

        from ._encode import FrameStream
        from ._plan import StreamPlan
    except ImportError:
        return None
    if "header" not in inspect.signature(FrameStream.__init__).parameters:
        return None
    import pyarrow as pa

    empty = pa.RecordBatchReader.from_batches(source.schema, iter(()))
    try:
        plan = StreamPlan(empty, columns=parse_columns(args.columns),
                          nan_as_null=_nan_as_null(args))
    except KeyError as ex:
        raise UsageError(f"--columns: {ex.args[0]} ({source.path})") from None
    source.arrow = True
    return plan.planned_columns


def _stream(source: Any, args: argparse.Namespace, first_only: bool = False) -> Any:
    """The FrameStream of a source (reads and plans the first frame, or, for
    Arrow record batches, plans the header from their schema)."""
    from ._encode import FrameStream

    chunked = source.format in ("csv", "tsv", "jsonl")
    kwargs: Dict[str, Any] = {}
    header = _arrow_header(source, args)
    if header is not None:
        kwargs["header"] = header
    try:
        return FrameStream(
            [source.first()] if first_only else source.frames(),
            columns=parse_columns(args.columns), nan_as_null=_nan_as_null(args),
            batch_rows=getattr(args, "batch_rows", None), widen=not source.uniform,
            what="chunk" if chunked else "frame",
            hint="the column types come from the first chunk: use a larger --chunk-rows,"
            " or fix the value" if chunked else "", **kwargs)
    except KeyError as ex:
        raise UsageError(f"--columns: {ex.args[0]} ({source.path})") from None


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def _connect(args: argparse.Namespace) -> Any:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    dsn = args.dsn if args.dsn is not None else os.environ.get("ZCIMPORT_DSN", "")
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as ex:
        raise UsageError(f"invalid connection string (--dsn / $ZCIMPORT_DSN): "
                         f"{_one_line(str(ex))}") from None
    kwargs: Dict[str, Any] = {}
    if "application_name" not in params and "PGAPPNAME" not in os.environ:
        kwargs["application_name"] = "zcimport"
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.Error as ex:
        raise _ConnectError(ex) from ex


class _ConnectError(Exception):
    def __init__(self, ex: Exception) -> None:
        super().__init__(str(ex))
        self.error = ex


# Every operator and function is schema-qualified (an earlier search_path
# schema could shadow them); NULLIF would look "=" up through search_path.
_KINDS_QUERY = """
SELECT a.attname, coalesce(b.typname, t.typname)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
LEFT JOIN pg_catalog.pg_type b ON b.oid OPERATOR(pg_catalog.=) t.typbasetype
WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%s)
  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
"""

_TYPE_KINDS = {"bool": "bool", "int2": "int", "int4": "int", "int8": "int",
               "float4": "float", "float8": "float"}


def _target_kinds(conn: Any, table: str, source: Any, columns: Any) -> Dict[Any, str]:
    """For the columns without a value in the first chunk: the table's kind of type."""
    from ._ddl import table_name

    rows = conn.execute(_KINDS_QUERY, [table_name(table)]).fetchall()
    types = {name: _TYPE_KINDS.get(typ, "text") for name, typ in rows}
    out = {}
    for label in source.empty_columns:
        if isinstance(columns, dict):
            if label not in columns:
                continue
            target = columns[label]
        else:
            target = str(label)
        if target in types:
            out[label] = types[target]
    return out


def _qualified(conn: Any, table: str) -> str:
    """schema.name of the table, as the server resolves it."""
    from ._ddl import table_name

    try:
        row = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
            " WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%s)",
            [table_name(table)]).fetchone()
    except Exception:  # pragma: no cover - only for the summary
        return table
    if row is None:  # pragma: no cover
        return table
    return ".".join(p if re.fullmatch(r"[a-z_][a-z0-9_$]*", p) else '"' + p.replace('"', '""') + '"'
                    for p in row)


class _Interrupts:
    """Ctrl-C during a load is acted on between two chunks of the stream.

    The COPY's data go to the socket in CopyData messages that must not be
    cut short.  While :attr:`deferring`, a SIGINT only sets :attr:`pending`;
    the progress callback, called after each chunk has been handed to the
    connection (at a message boundary), then raises KeyboardInterrupt, and
    the COPY ends with CopyFail.  A second Ctrl-C raises at once.
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.deferring and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt


_interrupts = _Interrupts()


def _progress(args: argparse.Namespace, total: Optional[int], desc: str = "") -> Any:
    from ._progress import Progress

    p = Progress(enabled=not args.quiet and sys.stderr.isatty(), total_rows=total,
                 desc=desc, leave=False, warn=False)
    update = p.update

    def checked(rows: int, nbytes: int = 0) -> None:
        update(rows, nbytes)
        _interrupts.check()

    p.update = checked  # type: ignore[method-assign]
    return p


def cmd_load(args: argparse.Namespace) -> int:
    """``zcimport load``."""
    from ._copy import load_frames, load_zci
    from ._ddl import check_if_exists, table_name

    from ._upsert import check_on_conflict

    if_exists = args.if_exists or "fail"
    keys: Optional[Sequence[str]] = None
    if args.conflict_columns is not None:
        keys = [s.strip() for s in args.conflict_columns.split(",")]
        if any(not k for k in keys):
            raise UsageError(f"--conflict-columns {args.conflict_columns!r}: an empty column"
                             " name")
    try:
        check_if_exists(args.create, if_exists)
        table_name(args.table)
        keys = check_on_conflict(args.on_conflict, keys, freeze=args.freeze, create=args.create)
    except ValueError as ex:
        raise UsageError(_option_names(str(ex))) from None
    columns = parse_columns(args.columns)
    source = _open(args)
    progress = _progress(args, source.total_rows, args.table)
    try:
        with _connect(args) as conn:
            _interrupts.deferring = True
            if source.format == "zci":
                names = _zci_names(source, columns)
                create = [(n, t) for n, (_, t) in zip(names, source.column_types())] \
                    if args.create else None
                rows = load_zci(conn, source.chunks(), args.table, names, freeze=args.freeze,
                                create_columns=create, if_exists=if_exists, progress=progress,
                                row_marks=source.row_marks, on_conflict=args.on_conflict,
                                conflict_columns=keys)
            else:
                if source.empty_columns and not (args.create and if_exists == "replace"):
                    source.resolve_empty(_target_kinds(conn, args.table, source, columns))
                stream = _stream(source, args)
                rows = load_frames(conn, stream, args.table, freeze=args.freeze,
                                   create=args.create, if_exists=if_exists, progress=progress,
                                   on_conflict=args.on_conflict, conflict_columns=keys)
            _interrupts.check()  # a Ctrl-C during the last chunk: do not commit
            where = _qualified(conn, args.table)
            conn.commit()
    finally:
        _interrupts.deferring = False
        progress.close()
    if not args.quiet:
        if args.on_conflict is None:
            print(progress.summary("loaded", f"into {where}", rows), flush=True)
        else:
            done = "inserted" if args.on_conflict == "nothing" else "inserted or updated"
            print(progress.summary("upserted", f"into {where} ({done})", rows), flush=True)
    return EXIT_OK


def _option_names(message: str) -> str:
    """A ValueError of the library's argument checks, in the command line's words."""
    for api, option in (("if_exists=", "--if-exists "), ("needs create=True", "needs --create"),
                        ("create=True", "--create"), ("create=", "--create"),
                        ("table name", "--table"), ("freeze=True", "--freeze"),
                        ("conflict_columns (--conflict-columns)", "--conflict-columns"),
                        ("conflict_columns", "--conflict-columns"),
                        ("on_conflict='nothing' or 'update'", "--on-conflict"),
                        ("on_conflict", "--on-conflict")):
        message = message.replace(api, option)
    return message


def _print_zci_plan(source: Any, args: argparse.Namespace) -> None:
    from ._progress import format_bytes

    names = _zci_names(source, parse_columns(args.columns))
    head = ["column", "wire", "nulls", "sentinel", "create as"]
    rows = [[n, c.wire, c.nulls.wire_name, "yes" if c.sentinel else "no", t]
            for n, c, (_, t) in zip(names, source.columns, source.column_types())]
    rows_text = (f"{source.total_rows:,} rows" if source.total_rows is not None
                 else f"rows unknown ({source.problem}; the server will reject the stream)")
    print(f"zcimport stream {source.path}: {len(names)} column{'s' * (len(names) != 1)},"
          f" {rows_text}, {source.batches:,} batches, {source.dictionaries:,} dictionaries,"
          f" {format_bytes(source.size)}")
    print(_table(head, rows))
    print("sent as it is: the server decodes and validates the stream")


def _table(head: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(r: List[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def cmd_plan(args: argparse.Namespace) -> int:
    """``zcimport plan``."""
    from ._ddl import column_types, create_table_sql

    source = _open(args)
    if source.format == "zci":
        _print_zci_plan(source, args)
        return EXIT_OK
    stream = _stream(source, args, first_only=True)
    print(stream.plan)
    if source.total_rows is not None:
        print(f"rows in the file: {source.total_rows:,}")
    elif getattr(source, "engine", "") == "pyarrow":
        print(f"the file is read by pyarrow's CSV reader in blocks of about"
              f" {source.opts.chunk_rows:,} rows, every block with the types of the first one,"
              + (" sent as Arrow record batches" if getattr(source, "arrow", False) else
                 " converted to DataFrames"))
    else:
        print(f"the file is read in chunks of {source.opts.chunk_rows:,} rows (pandas); this"
              " plan is the first chunk's, later chunks are converted to its types")
    for c, kind in getattr(source, "dates", {}).items():
        if c not in source.opts.parse_dates:
            print(f"column {c!r} holds ISO 8601 {kind}s: loaded as {kind} (--no-parse-dates:"
                  " as text)".replace("timestamptzs", "timestamps with a time zone"))
    for c in source.empty_columns:
        print(f"column {c!r} has no value in the first chunk: it is read as text, unless the"
              " target table's column is boolean, integer or floating-point")
    table = args.table or os.path.basename(args.source).split(".")[0] or "t"
    print("--create would run: " + create_table_sql(table, column_types(stream.header_columns)))
    return EXIT_OK


def cmd_dump(args: argparse.Namespace) -> int:
    """``zcimport dump``."""
    from ._encode import write_chunks

    source = _open(args)
    to_stdout = args.out == "-"
    if not to_stdout and os.path.abspath(args.out) == os.path.abspath(args.source):
        raise UsageError("OUT is the input file")
    stream = None if source.format == "zci" else _stream(source, args)
    progress = _progress(args, source.total_rows, os.path.basename(args.out))
    try:
        out = sys.stdout.buffer if to_stdout else open(args.out, "wb")
    except OSError as ex:
        raise _OutputError(f"{args.out}: cannot write: {ex.strerror or ex}") from None
    done = False
    try:
        if stream is None:
            for data in source.chunks():
                out.write(data)
                progress.update(0, len(data))
            rows = source.total_rows or 0
        else:
            write_chunks(stream.chunks(), out, progress)
            rows = stream.rows
        out.flush()
        done = True
    except OSError as ex:
        if isinstance(ex, BrokenPipeError) or getattr(ex, "filename", None) not in (None, args.out):
            raise
        raise _OutputError(f"{args.out}: cannot write: {ex.strerror or ex}") from None
    finally:
        progress.close()
        if not to_stdout:
            out.close()
            if not done:
                try:
                    os.unlink(args.out)
                except OSError:  # pragma: no cover
                    pass
    if not args.quiet:
        line = progress.summary("dumped", f"to {args.out if not to_stdout else 'stdout'}", rows)
        print(line, file=sys.stderr if to_stdout else sys.stdout, flush=True)
    return EXIT_OK


class _OutputError(Exception):
    """The output file of dump cannot be written: exit code 3."""


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


_CONNECTION_STATES = ("08", "28", "3D", "57P01", "57P02", "57P03")


def _server_message(ex: Any, table: Optional[str]) -> str:
    from ._base import client_hint

    diag = getattr(ex, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(ex)
    parts = [primary]
    detail = getattr(diag, "message_detail", None)
    hint = getattr(diag, "message_hint", None)
    context = getattr(diag, "context", None)
    if detail:
        parts.append(detail)
    if context:
        # the innermost line says where: "COPY t, batch 1, row 7, column v"
        parts.append(context.splitlines()[0])
    if hint:
        parts.append("hint: " + hint)
    client = client_hint(ex.sqlstate, primary)
    if client:
        parts.append("hint: " + client)
    if ex.sqlstate == "42P01" and table is not None:
        parts.append("use --create to create the table")
    msg = "; ".join(_one_line(p) for p in parts)
    if ex.sqlstate:
        msg += f" (SQLSTATE {ex.sqlstate})"
    return msg


def classify(ex: BaseException, args: Optional[argparse.Namespace] = None) -> Tuple[int, str]:
    """(exit code, one-line message) for an exception of a command."""
    import psycopg

    from ._base import ExtensionNotInstalledError
    from ._ddl import TableExistsError
    from ._readers import ChunkError, InputError, MissingPackageError

    table = getattr(args, "table", None) if args is not None and \
        getattr(args, "command", "") == "load" else None
    if isinstance(ex, KeyboardInterrupt):
        what = "nothing was loaded" if table is not None else "stopped"
        return EXIT_INTERRUPTED, f"interrupted; {what}"
    if isinstance(ex, UsageError):
        return EXIT_USAGE, str(ex)
    if isinstance(ex, (InputError, _OutputError)):
        return EXIT_INPUT, str(ex)
    if isinstance(ex, MissingPackageError):
        return EXIT_PACKAGE, str(ex)
    if isinstance(ex, TableExistsError):
        return EXIT_TARGET, (f"table {ex.table} already exists; use --if-exists append,"
                             " replace or truncate to load into it")
    if isinstance(ex, ExtensionNotInstalledError):
        return EXIT_TARGET, _one_line(str(ex))
    if isinstance(ex, _ConnectError):
        return EXIT_CONNECT, f"cannot connect to the database: {_one_line(str(ex.error))}"
    if isinstance(ex, psycopg.Error):
        state = ex.sqlstate or ""
        if not state or state.startswith(_CONNECTION_STATES):
            if isinstance(ex, (psycopg.OperationalError, psycopg.InterfaceError)) or state:
                return EXIT_CONNECT, f"connection lost: {_one_line(str(ex))}"
            return EXIT_INTERNAL, _one_line(str(ex))
        msg = _server_message(ex, table)
        if state[:2] in ("21", "22", "23") or state == "42804":
            return EXIT_DATA, msg
        return EXIT_TARGET, msg
    if isinstance(ex, (ChunkError, TypeError, ValueError)):
        return EXIT_DATA, _one_line(str(ex))
    if isinstance(ex, KeyError):
        return EXIT_USAGE, _one_line(str(ex.args[0]) if ex.args else str(ex))
    if isinstance(ex, MemoryError):
        return EXIT_INTERNAL, "out of memory; try a smaller --chunk-rows or --batch-rows"
    if isinstance(ex, BrokenPipeError):
        return EXIT_OK, ""
    return EXIT_INTERNAL, (f"internal error: {type(ex).__name__}: {_one_line(str(ex))}"
                           " (run again with --debug for the traceback)")


def _setup_logging(args: argparse.Namespace) -> Any:
    """Log the "zcimport" logger to stderr; returns a function that undoes it."""
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = (log.level, log.propagate)
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    # psycopg logs a warning when the COPY it ends failed ("error ignored
    # terminating <psycopg.Copy>"): the error itself is reported, in one line
    pg_log = logging.getLogger("psycopg")
    quiet = logging.NullHandler()
    if not args.debug:
        pg_log.addHandler(quiet)

    def restore() -> None:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]
        pg_log.removeHandler(quiet)

    return restore


_COMMANDS = {"load": cmd_load, "plan": cmd_plan, "dump": cmd_dump}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``zcimport`` command; returns the exit code (see ``zcimport --help``)."""
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    restore_logging = _setup_logging(args)
    try:
        previous = signal.signal(signal.SIGINT, _interrupts.handler)
    except ValueError:  # not the main thread: leave SIGINT alone
        previous = None
    try:
        try:
            with warnings.catch_warnings():
                if not (args.debug or args.verbose):
                    warnings.simplefilter("ignore")  # pandas' warnings are not errors
                return _COMMANDS[args.command](args)
        finally:
            _opened.close()
    except BaseException as ex:  # every error is one line on stderr
        if isinstance(ex, SystemExit):
            raise
        code, msg = classify(ex, args)
        if args.debug and not isinstance(ex, KeyboardInterrupt):
            traceback.print_exc()
        if msg:
            try:
                print(f"zcimport: error: {msg}", file=sys.stderr, flush=True)
            except OSError:  # pragma: no cover - stderr is gone
                pass
        return code
    finally:
        _interrupts.pending = _interrupts.deferring = False
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        restore_logging()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
