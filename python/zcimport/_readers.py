"""Input files for the command line: CSV/TSV, JSON lines, pickle, NumPy,
``.zci`` streams, and Parquet, Feather and HDF5 when their packages are there.

:func:`open_source` opens a file and returns a :class:`Source`, whose
:meth:`~Source.frames` yields the file's rows as DataFrames (or mappings of
columns), one chunk at a time, for :class:`zcimport._encode.FrameStream`;
or a :class:`ZciSource` for a ``.zci`` file, whose bytes go to the server
as they are.

**CSV and TSV** files are read by pyarrow's streaming CSV reader when
pyarrow is installed (:class:`ArrowCsvSource`: record batches of one schema,
pinned from the first block; ``csv_engine="auto"``), else, or with
``csv_engine="pandas"``, by pandas (:class:`CsvSource`), as follows.  Both
detect columns of ISO 8601 dates and timestamps (``detect_dates``).

With pandas, they are read in chunks of ``chunk_rows`` rows.  The first
chunk is read once on its own, to infer the columns' dtypes; the whole file
is then read chunk by chunk (the first chunk again) with those dtypes given
explicitly to ``pandas.read_csv(dtype=...)``, so that every chunk has the
same dtypes:

- text columns are read as text in every chunk (``dtype=object``, or
  pandas 3's ``str``: a later chunk of "01234" stays "01234");
  ``--parse-dates`` columns are parsed in every chunk, and so are text
  columns of ISO 8601 dates (``datetime.date`` objects), timestamps and
  timestamps with offsets (in UTC);
- integers become pandas' nullable ``Int64`` (``UInt64`` beyond int64), so
  that a later chunk may have empty fields; booleans ``boolean``.  Number
  and boolean columns are not given to ``read_csv`` as dtypes (its
  nullable-integer parser goes through floats, slowly and inexactly): each
  chunk is parsed as pandas infers it, and the stream converts it to the
  first chunk's dtypes exactly (``1.5`` in an integer column is an error,
  and so is an integer beyond 2**53 in a chunk that pandas read as floats
  because it also has empty fields);
- a column whose every value in the first chunk is missing has no dtype to
  infer: it is read as text (pandas' ``string``), unless the target table
  has a ``boolean``, integer or floating-point column of that name, which
  then decides (``boolean``, ``Int64``, ``float64``): see
  :meth:`CsvSource.resolve_empty`;
- a later chunk with a value that does not fit (a word in a column of
  numbers) stops the load with an error naming the column, the chunk's rows
  and the value.

A file with fewer rows than ``chunk_rows`` is read once.

**JSON lines** are read in chunks too (``read_json(lines=True,
chunksize=...)``); the first chunk's dtypes are made nullable in the same
way, and later chunks are converted to them by the FrameStream.  Dates are
parsed only in ``--parse-dates`` columns.

**Pickle** and **.npz** files are read whole; **.npy** files are memory
mapped and sent in chunks.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import struct
from typing import IO, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ._format import (
    DESC_FIXED_LEN,
    HEADER_FIXED_LEN,
    MAGIC,
    MESSAGE_FIXED_LEN,
    MessageKind,
    NullEncoding,
    TimeUnit,
    WireType,
    align8,
)

log = logging.getLogger("zcimport")

#: The formats :func:`open_source` reads.
FORMATS = ("csv", "tsv", "jsonl", "pickle", "npy", "npz", "zci", "parquet", "feather", "hdf5")

#: File name extensions and their formats.
EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".pkl": "pickle", ".pickle": "pickle", ".npy": "npy", ".npz": "npz", ".zci": "zci",
    ".parquet": "parquet", ".pq": "parquet", ".feather": "feather", ".arrow": "feather",
    ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5",
}

#: Compression extensions pandas undoes by itself (CSV, TSV, JSON lines, pickle).
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip", ".zst")

#: Default rows per chunk.
DEFAULT_CHUNK_ROWS = 100_000

#: The CSV readers (--csv-engine).
CSV_ENGINES = ("auto", "pandas", "pyarrow")


class InputError(Exception):
    """The input file is missing, unreadable, or not what its format says."""


class MissingPackageError(Exception):
    """Reading the format needs an optional package that is not installed."""


class OptionError(ValueError):
    """A reader option does not fit the file (e.g. --parse-dates names no column)."""


class ChunkError(ValueError):
    """A later chunk of a file does not fit the dtypes of the first chunk."""


@dataclasses.dataclass
class ReadOptions:
    """Options of the readers (the command line's reader options)."""

    sep: Optional[str] = None
    parse_dates: Sequence[str] = ()
    null: Optional[str] = None
    encoding: Optional[str] = None
    skip_rows: int = 0
    hdf_key: Optional[str] = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    #: CSV/TSV: "auto" (pyarrow when it is installed and can read the file
    #: with these options, else pandas), "pandas" or "pyarrow"
    csv_engine: str = "auto"
    #: CSV/TSV: detect ISO 8601 date and timestamp columns
    detect_dates: bool = True


#: Which options apply to which formats (the rest are refused).
OPTION_FORMATS = {
    "sep": ("csv", "tsv"),
    "null": ("csv", "tsv"),
    "encoding": ("csv", "tsv", "jsonl"),
    "skip_rows": ("csv", "tsv", "jsonl"),
    "hdf_key": ("hdf5",),
    "parse_dates": ("csv", "tsv", "jsonl", "pickle", "npz", "parquet", "feather", "hdf5"),
    "csv_engine": ("csv", "tsv"),
    "detect_dates": ("csv", "tsv"),
}

#: The values of the options that mean "not given".
_DEFAULTS = {"csv_engine": "auto", "detect_dates": True}

_OPTION_FLAGS = {"sep": "--sep", "null": "--null", "encoding": "--encoding",
                 "skip_rows": "--skip-rows", "hdf_key": "--hdf-key",
                 "parse_dates": "--parse-dates", "csv_engine": "--csv-engine",
                 "detect_dates": "--no-parse-dates"}


def detect_format(path: str) -> str:
    """The format of a file from its name (``data.csv.gz`` is CSV)."""
    name = os.path.basename(path).lower()
    for comp in COMPRESSIONS:
        if name.endswith(comp):
            name = name[: -len(comp)]
            break
    _, ext = os.path.splitext(name)
    try:
        return EXTENSIONS[ext]
    except KeyError:
        raise OptionError(
            f"{path}: cannot tell the format from the file name; use --format with one of"
            f" {', '.join(FORMATS)}") from None


def check_options(fmt: str, opts: ReadOptions) -> None:
    """Refuse reader options that mean nothing for the format."""
    for field, formats in OPTION_FORMATS.items():
        value = getattr(opts, field)
        if field in _DEFAULTS:
            given = value != _DEFAULTS[field]
        else:
            given = value is not None and value != 0 and not (
                isinstance(value, (list, tuple)) and not value)
        if given and fmt not in formats:
            raise OptionError(f"{_OPTION_FLAGS[field]} does not apply to {fmt} input"
                              f" (only to {', '.join(formats)})")
    if opts.chunk_rows < 1:
        raise OptionError("--chunk-rows must be at least 1")
    if opts.skip_rows < 0:
        raise OptionError("--skip-rows cannot be negative")
    if opts.csv_engine not in CSV_ENGINES:
        raise OptionError(f"--csv-engine {opts.csv_engine!r}: use one of {', '.join(CSV_ENGINES)}")


def _check_readable(path: str) -> None:
    """Raise InputError with a one-line reason when path cannot be read."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as ex:
        raise InputError(f"{path}: cannot read: {ex.strerror or ex}") from None


def _input_error(path: str, ex: BaseException, what: str = "cannot read") -> InputError:
    msg = str(ex).strip().replace("\n", " ") or type(ex).__name__
    return InputError(f"{path}: {what}: {msg}")


# --------------------------------------------------------------------------
# Sources of frames
# --------------------------------------------------------------------------


class Source:
    """A file read as frames.

    Attributes:
        path, format: the file and its format.
        uniform: every frame has the same dtypes (no need to widen the
            stream's header for later frames).
        total_rows: the number of rows, when known before reading.
        empty_columns: columns that had no value in the first chunk (their
            type is then chosen by :meth:`resolve_empty`).
    """

    path: str
    format: str
    uniform: bool = False
    total_rows: Optional[int] = None

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        self.path = path
        self.format = fmt
        self.opts = opts
        self.empty_columns: List[Any] = []

    def first(self) -> Any:
        """The first frame (for ``zcimport plan``); it is read if need be."""
        raise NotImplementedError

    def frames(self) -> Iterator[Any]:
        """All the frames, in order, one at a time."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (idempotent)."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def resolve_empty(self, kinds: Mapping[Any, str]) -> None:
        """Choose the dtype of columns without a value in the first chunk.

        ``kinds`` maps such a column to ``"bool"``, ``"int"``, ``"float"``
        or anything else (text), e.g. from the target table's column types.
        """

    def _parse_dates(self, frame: Any) -> Any:
        """Convert the --parse-dates columns of a frame read whole."""
        if not self.opts.parse_dates:
            return frame
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(dict(frame))
        for c in self.opts.parse_dates:
            if c not in frame.columns:
                raise OptionError(f"{self.path}: --parse-dates names {c!r}, which is not a"
                                  " column of the file")
            try:
                frame[c] = pd.to_datetime(frame[c])
            except (TypeError, ValueError, OverflowError) as ex:
                raise ChunkError(f"{self.path}: column {c!r} (--parse-dates): {ex}") from ex
        return frame


def _empty_dtype(kind: str) -> str:
    return {"bool": "boolean", "int": "Int64", "float": "float64"}.get(kind, "string")


def _nullable_dtype(dtype: Any) -> Optional[str]:
    """The dtype later chunks are read with, for a first chunk's dtype."""
    if not isinstance(dtype, np.dtype):
        return None
    if dtype.kind == "i":
        return "Int64"
    if dtype.kind == "u":
        return "UInt64"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "f":
        return "float64"
    if dtype.kind == "O":
        return "object"
    return None


def _is_empty_column(s: pd.Series) -> bool:
    return len(s) > 0 and isinstance(s.dtype, np.dtype) and s.dtype.kind in "fO" \
        and bool(s.isna().all())


_EXACT = 2**53  # floats hold every integer up to here


def _beyond_floats(s: pd.Series) -> bool:
    """Integers beyond 2**53: a float column with missing values and whole
    numbers that large, or an integer column with numbers that large (a later
    chunk with missing values would be read as floats)."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
        return len(s) > 0 and bool(np.abs(s.to_numpy().astype(np.float64)).max() >= _EXACT)
    if not (isinstance(s.dtype, np.dtype) and s.dtype.kind == "f"):
        return False
    v = s.to_numpy()
    finite = v[np.isfinite(v)]
    if len(finite) == len(v) or not len(finite):
        return False
    return bool((np.abs(finite) >= _EXACT).any() and (finite == np.floor(finite)).all())


def _check_exact_ints(path: str, chunk: pd.DataFrame, columns: Sequence[Any], start: int) -> None:
    """Integer columns that pandas read as floats (a chunk with missing values)
    must not hold integers that floats cannot hold exactly."""
    for c in columns:
        if c not in chunk.columns:
            continue
        s = chunk[c]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
            v = np.abs(s.to_numpy())
            big = v >= _EXACT
            if big.any():
                i = int(np.argmax(big))
                raise ChunkError(
                    f"{path}: column {c!r} holds integers, and in rows {start + 1:,} to"
                    f" {start + len(chunk):,} also missing values, so pandas reads that chunk"
                    f" as floating point, which cannot hold {s.iloc[i]:.0f} (row"
                    f" {start + i + 1:,}) exactly; load such a column into a table column"
                    " from a file without empty fields, or split the file")


def _python_ints(values: np.ndarray) -> Tuple[Any, Any]:
    """Integer literals and missing values as int64 or uint64 values and a
    mask, through Python ints (pandas cannot mix NaN and uint64); (None,
    None) when they are not that."""
    missing = np.asarray(pd.isna(values), dtype=bool)
    ints = []
    for v, m in zip(values, missing):
        if m:
            ints.append(0)
        elif isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
            ints.append(int(v))
        else:
            return None, None
    if ints and min(ints) >= 0 and max(ints) >= 2**63:
        if max(ints) >= 2**64:
            return None, None
        return np.array(ints, dtype=np.uint64), missing
    if ints and (min(ints) < -2**63 or max(ints) >= 2**63):
        return None, None
    return np.array(ints, dtype=np.int64), missing


def _exact_ints(values: np.ndarray) -> Any:
    """An object array of integer literals (and NaN) as an exact Int64/UInt64 array.

    Raises ValueError when a value is not an integer literal.
    """
    data: Any = None
    mask: Any = None
    try:
        from pandas._libs import lib

        data, mask = lib.maybe_convert_numeric(values, set(), convert_to_masked_nullable=True)
    except (ImportError, TypeError, AttributeError):  # pragma: no cover - other pandas
        missing = np.asarray(pd.isna(values))
        data = np.array([0 if m else int(v) for v, m in zip(values, missing)], dtype=np.int64)
        mask = missing
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iu":
        data, mask = _python_ints(values)
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "iu":
        bad = ""
        for v in values:
            if isinstance(v, str) and not re.fullmatch(r"\s*[+-]?\d+\s*", v):
                bad = f": {v!r}"
                break
        raise ValueError(f"not an integer{bad}")
    if mask is None:
        mask = np.zeros(len(data), dtype=bool)
    if data.dtype.kind == "u":
        return pd.arrays.IntegerArray(data.astype(np.uint64), mask)
    return pd.arrays.IntegerArray(data.astype(np.int64), mask)


_PANDAS2 = int(pd.__version__.split(".")[0]) >= 2

#: ISO 8601 dates and timestamps, as pyarrow's CSV reader infers them:
#: YYYY-MM-DD, then [T or space]hh[:mm[:ss[.fraction]]] and a zone (Z, +hh,
#: +hhmm, +hh:mm) after a time.
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ISO_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_ISO_TIMESTAMP = rf"{_ISO_DATE}(?:[T ]\d{{2}}(?::\d{{2}}(?::\d{{2}}(?:\.\d{{1,9}})?)?)?{_ISO_ZONE}?)?"
_DATE_KIND_RE = {
    "date": _ISO_DATE,
    "timestamp": rf"{_ISO_DATE}(?:[T ]\d{{2}}(?::\d{{2}}(?::\d{{2}}(?:\.\d{{1,9}})?)?)?)?",
    "timestamptz": rf"{_ISO_DATE}[T ]\d{{2}}(?::\d{{2}}(?::\d{{2}}(?:\.\d{{1,9}})?)?)?{_ISO_ZONE}",
}
_DATE_KIND_TEXT = {"date": "dates (YYYY-MM-DD)", "timestamp": "timestamps without a time zone",
                   "timestamptz": "timestamps with a time zone offset"}


def _int_literals(s: pd.Series) -> bool:
    """A text column whose values are all integers (pandas leaves integers
    beyond int64 as text when some fields are empty), that fit in int64 or
    uint64."""
    v = s[s.notna()].astype(object).astype(str)
    v = v[v != ""]
    if not len(v) or not bool(v.str.fullmatch(r"\s*[+-]?\d+\s*").all()):
        return False
    try:
        _exact_ints(v.to_numpy(dtype=object))
    except (ValueError, OverflowError, TypeError):
        return False
    return True


def _is_text_dtype(dtype: Any) -> bool:
    """object, or one of pandas' string dtypes (``str`` of pandas 3, ``string``)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind == "O"
    return isinstance(dtype, pd.StringDtype)


def _date_kind(s: pd.Series) -> Optional[str]:
    """"date", "timestamp" or "timestamptz" when every value of a text column
    is an ISO 8601 date or timestamp (and they agree on having a time zone
    offset), else None."""
    v = s[s.notna()]
    if not len(v):
        return None
    try:
        v = v.astype(object).astype(str)
        if not bool(v.str.fullmatch(_ISO_TIMESTAMP).all()):
            return None
    except (TypeError, ValueError, AttributeError):
        return None
    rest = v.str.slice(10)
    if not bool((rest.str.len() > 0).any()):
        kind = "date"
    else:
        zone = rest.str.contains(_ISO_ZONE + "$")
        if bool(zone.all()):
            kind = "timestamptz"
        elif bool(zone.any()):
            return None  # some with a time zone, some without
        else:
            kind = "timestamp"
    try:
        _parse_iso(v.iloc[:1000], kind)
    except (TypeError, ValueError, OverflowError):
        return None  # e.g. 2021-02-30
    return kind


def _parse_iso(s: pd.Series, kind: str) -> Any:
    """Text of one date kind to dates (datetime.date objects, None for
    missing), timestamps (datetime64) or timestamps in UTC."""
    if kind == "date":
        mask = s.isna().to_numpy()
        out = np.full(len(s), None, dtype=object)
        if (~mask).any():
            days = np.array(s.to_numpy(dtype=object)[~mask].astype(str), dtype="datetime64[D]")
            out[~mask] = days.astype(object)
        return out
    kwargs: Dict[str, Any] = {"format": "ISO8601"} if _PANDAS2 else {}
    return pd.to_datetime(s, utc=kind == "timestamptz", **kwargs)


def _to_utc(s: pd.Series) -> Any:
    """Text of dates and times in UTC (pandas 2 parses formats that vary
    only with format="mixed")."""
    try:
        return pd.to_datetime(s, utc=True)
    except (TypeError, ValueError):
        if not _PANDAS2:
            raise
        return pd.to_datetime(s, utc=True, format="mixed")


class CsvSource(Source):
    """CSV and TSV files, in chunks (see the module's docstring)."""

    engine = "pandas"

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        kwargs: Dict[str, Any] = {
            "sep": opts.sep if opts.sep is not None else ("\t" if fmt == "tsv" else ","),
            "encoding": opts.encoding,
            "skiprows": opts.skip_rows or None,
            "parse_dates": list(opts.parse_dates) or False,
        }
        if opts.null is not None:
            kwargs["na_values"] = [opts.null]
            kwargs["keep_default_na"] = False
        self._kwargs = kwargs
        sample = self._read(nrows=opts.chunk_rows)
        self.columns = list(sample.columns)
        #: text columns of ISO 8601 dates or timestamps (not --no-parse-dates),
        #: and their kind: "date", "timestamp", "timestamptz"
        self.dates: Dict[Any, str] = {}
        #: dtypes the first chunk is converted to (nullable ints and booleans...)
        self._first_dtypes: Dict[Any, Any] = {}
        #: dtypes every chunk is read with: text stays text ("01" is not 1)
        self._read_dtypes: Dict[Any, Any] = {}
        #: columns of integers (checked for floats that lost digits)
        self._int_columns: List[Any] = []
        #: --parse-dates columns that pandas left as text: UTC offsets that vary
        self._utc: List[Any] = []
        #: integer columns with empty fields and values beyond 2**53, which
        #: pandas would read as floats, losing digits (or beyond int64, as
        #: text): read as text, converted exactly
        self._exact_int_columns: List[Any] = []
        for c in opts.parse_dates:
            s = sample[c]
            if s.dtype.kind != "M" and not isinstance(s.dtype, pd.DatetimeTZDtype) \
                    and not s.isna().all():
                iso = _date_kind(s) if _is_text_dtype(s.dtype) else None
                if iso is not None:
                    # ISO 8601 text that pandas did not parse (formats that vary:
                    # 12:00:00 and 12:00:00.5): read as text, parsed as ISO 8601
                    self.dates[c] = "timestamp" if iso == "date" else iso
                    self._read_dtypes[c] = s.dtype
                    kwargs["parse_dates"] = [d for d in kwargs["parse_dates"] if d != c] \
                        or False
                    continue
                self._check_dates(c, s)
                self._utc.append(c)
        for c in sample.columns:
            if c in opts.parse_dates:
                continue
            s = sample[c]
            if _is_empty_column(s):
                self.empty_columns.append(c)
                self._first_dtypes[c] = "string"
                self._read_dtypes[c] = object
                continue
            kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else "?"
            if _is_text_dtype(s.dtype):
                # text stays text in every chunk ("01" is not 1): object, or
                # pandas 3's str
                self._read_dtypes[c] = s.dtype
                if _int_literals(s):
                    # integers beyond int64 with empty fields, which pandas
                    # leaves as text: converted exactly
                    self._read_dtypes[c] = object
                    self._exact_int_columns.append(c)
                    continue
                if opts.detect_dates:
                    date_kind = _date_kind(s)
                    if date_kind is not None:
                        self.dates[c] = date_kind
            elif kind in "iu":
                self._first_dtypes[c] = "Int64" if kind == "i" else "UInt64"
                self._int_columns.append(c)
            elif kind == "b":
                self._first_dtypes[c] = "boolean"
        candidates = [c for c in sample.columns
                      if c not in opts.parse_dates and _beyond_floats(sample[c])]
        if candidates:
            raw = self._read(nrows=opts.chunk_rows, usecols=candidates,
                             dtype={c: object for c in candidates}, parse_dates=False)
            for c in candidates:
                try:
                    _exact_ints(raw[c].to_numpy(dtype=object))
                except ValueError:
                    continue
                self._exact_int_columns.append(c)
                self._read_dtypes[c] = object
                self._first_dtypes.pop(c, None)
                if c in self._int_columns:
                    self._int_columns.remove(c)
            del raw
        if len(sample) < opts.chunk_rows:
            if self._exact_int_columns:
                sample = self._read(nrows=opts.chunk_rows, dtype=self._read_dtypes)
            self._sample: Optional[pd.DataFrame] = sample  # the whole file
            self.total_rows = len(sample)
            self.uniform = True
        else:
            self._sample = None
            del sample

    def _read(self, **kwargs: Any) -> Any:
        try:
            return pd.read_csv(self.path, **{**self._kwargs, **kwargs})
        except UnicodeDecodeError as ex:
            raise InputError(
                f"{self.path}: cannot decode the file as {self.opts.encoding or 'utf-8'}:"
                f" {ex.reason} at byte {ex.start}; use --encoding") from None
        except pd.errors.EmptyDataError:
            raise InputError(f"{self.path}: the file is empty (no header line)") from None
        except pd.errors.ParserError as ex:
            raise _input_error(self.path, ex, "cannot parse") from None
        except ValueError as ex:
            if "parse_dates" in str(ex):
                raise OptionError(f"{self.path}: --parse-dates: {ex}") from None
            raise _input_error(self.path, ex, "cannot parse") from None
        except OSError as ex:
            raise _input_error(self.path, ex) from None

    def _check_dates(self, c: Any, s: pd.Series) -> None:
        """A --parse-dates column pandas could not parse: UTC offsets, or an error."""
        try:
            _to_utc(s)
        except (TypeError, ValueError, OverflowError) as ex:
            bad = s[pd.to_datetime(s, errors="coerce", utc=True).isna() & s.notna()]
            what = f"row {int(bad.index[0]) + 1:,} holds {bad.iloc[0]!r}" if len(bad) else str(ex)
            raise ChunkError(f"{self.path}: column {c!r} (--parse-dates) cannot be parsed as"
                             f" dates: {what}") from None

    def resolve_empty(self, kinds: Mapping[Any, str]) -> None:
        for c in self.empty_columns:
            if c in kinds:
                kind = kinds[c]
                self._first_dtypes[c] = _empty_dtype(kind)
                if kind in ("int", "float", "bool"):
                    self._read_dtypes.pop(c, None)  # numbers: inferred per chunk
                if kind == "int":
                    self._int_columns.append(c)

    def _fix_dates(self, frame: pd.DataFrame, start: int = 0) -> pd.DataFrame:
        for c in self._utc:
            try:
                frame[c] = _to_utc(frame[c])
            except (TypeError, ValueError, OverflowError) as ex:
                raise ChunkError(f"{self.path}: column {c!r} (--parse-dates): {ex}") from None
        for c, kind in self.dates.items():
            if c not in frame.columns:
                continue
            s = frame[c]
            notna = s.notna()
            if not _is_text_dtype(s.dtype):  # a chunk that pandas read otherwise
                s = s.astype(object).where(notna, None)
            text = s[notna].astype(object).astype(str)
            ok = text.str.fullmatch(_DATE_KIND_RE[kind])
            bad = None if bool(ok.all()) else int(np.argmax(~ok.to_numpy()))
            if bad is None:
                try:
                    frame[c] = _parse_iso(s, kind)
                    continue
                except (TypeError, ValueError, OverflowError):
                    parsed = pd.to_datetime(text, errors="coerce", utc=True)
                    bad = int(np.argmax(parsed.isna().to_numpy())) if bool(
                        parsed.isna().any()) else 0
            row = start + int(np.flatnonzero(notna.to_numpy())[bad]) + 1
            raise ChunkError(
                f"{self.path}: column {c!r}: row {row:,} holds {text.iloc[bad]!r}, but the"
                f" column was read as {_DATE_KIND_TEXT[kind]}, as the values of its first"
                f" {self.opts.chunk_rows:,} rows are; load it as text with --no-parse-dates,"
                " use a larger --chunk-rows, or fix the value")
        return frame

    def _convert(self, frame: pd.DataFrame, start: int = 0) -> pd.DataFrame:
        frame = frame.astype({c: d for c, d in self._first_dtypes.items() if c in frame.columns})
        return self._fix_ints(self._fix_dates(frame, start), start)

    def _fix_ints(self, frame: pd.DataFrame, start: int) -> pd.DataFrame:
        for c in self._exact_int_columns:
            try:
                values = frame[c].to_numpy(dtype=object, copy=True)
                values[values == ""] = np.nan  # pandas' missing value of a column it left as text
                frame[c] = _exact_ints(values)
            except ValueError as ex:
                raise ChunkError(
                    f"{self.path}: column {c!r} holds integers, but in rows {start + 1:,} to"
                    f" {start + len(frame):,}: {ex}") from None
        return frame

    def first(self) -> Any:
        if self._sample is not None:
            return self._convert(self._sample)
        return self._convert(self._read(nrows=self.opts.chunk_rows, dtype=self._read_dtypes))

    def frames(self) -> Iterator[Any]:
        if self._sample is not None:
            sample, self._sample = self._sample, None
            yield self._convert(sample)
            return
        reader = self._read(chunksize=self.opts.chunk_rows, dtype=self._read_dtypes)
        start = 0
        with reader:
            while True:
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
                except (ValueError, TypeError, OverflowError) as ex:
                    if isinstance(ex, pd.errors.ParserError):
                        raise _input_error(self.path, ex, "cannot parse") from None
                    end = start + self.opts.chunk_rows
                    raise ChunkError(
                        f"{self.path}: in rows {start + 1:,} to {end:,} (after the header):"
                        f" {ex}") from None
                if start == 0:
                    chunk = self._convert(chunk)
                else:
                    _check_exact_ints(self.path, chunk, self._int_columns, start)
                    chunk = self._fix_ints(self._fix_dates(chunk, start), start)
                start += len(chunk)
                yield chunk
                del chunk


#: pandas' default missing values (read_csv's na_values), for pyarrow's reader.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]

_ARROW_TYPE_TEXT = {"int64": "an integer", "double": "a number", "bool": "a boolean",
                    "date32[day]": "an ISO 8601 date (YYYY-MM-DD)",
                    "timestamp[us]": "an ISO 8601 timestamp without a time zone",
                    "timestamp[us, tz=UTC]": "an ISO 8601 timestamp with a time zone offset",
                    "uint64": "an integer", "decimal128(38, 0)": "an integer"}


class _Fallback(Exception):
    """The pyarrow reader cannot read the file as asked (--csv-engine auto
    then reads it with pandas)."""


def have_pyarrow() -> bool:
    """Whether pyarrow can be imported."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def _csv_sep(fmt: str, opts: ReadOptions) -> str:
    return opts.sep if opts.sep is not None else ("\t" if fmt == "tsv" else ",")


def arrow_csv_unsupported(path: str, fmt: str, opts: ReadOptions) -> Optional[str]:
    """Why pyarrow's CSV reader cannot read this file with these options, or None."""
    sep = _csv_sep(fmt, opts)
    if len(sep) != 1:
        return (f"--sep {sep!r} is not one character (pandas reads a longer separator as a"
                " regular expression)")
    if sep in ('"', "\n", "\r"):
        return f"--sep {sep!r} cannot be a field separator"
    if path.lower().endswith(".zip"):
        return "it does not read .zip files"
    return None


class ArrowCsvSource(Source):
    """CSV and TSV files read by pyarrow's streaming, multithreaded reader
    (``pyarrow.csv.open_csv``), as Arrow record batches of one schema.

    The first block of the file (about ``chunk_rows`` rows) is read once
    with pyarrow's type inference; the file is then read block by block
    (the first again) with every column's type given explicitly
    (``ConvertOptions(column_types=...)``), so that all batches have the
    same schema:

    - text stays text ("01" in a later block stays "01"); integers are
      int64 (uint64 or decimal beyond int64), numbers float64, booleans bool;
    - ISO 8601 dates are date32, timestamps timestamp[us] (timestamp[us,
      UTC] with a zone offset), unless ``detect_dates`` is off (then text);
      ``--parse-dates`` columns are timestamp[us];
    - times of day stay text; a column without a value in the first block
      is text unless :meth:`resolve_empty` says otherwise;
    - NULL: an unquoted field that is one of pandas' missing values (an
      empty field, NA, NULL, ...), or only the ``null`` string when it is
      given; a quoted field is never NULL (``""`` is an empty string), as
      in COPY's CSV format.

    :meth:`frames` yields the record batches themselves when :attr:`arrow`
    is set (the stream sends their buffers as they are), else each batch
    converted to a DataFrame of pandas' nullable dtypes.
    """

    engine = "pyarrow"
    arrow_capable = True

    def __init__(self, path: str, fmt: str, opts: ReadOptions, strict: bool = False) -> None:
        super().__init__(path, fmt, opts)
        import pyarrow as pa
        import pyarrow.csv as pcsv

        self._pa, self._pcsv = pa, pcsv
        self._strict = strict
        self._sep = _csv_sep(fmt, opts)
        #: yield record batches (else DataFrames) from frames()
        self.arrow = False
        #: ISO 8601 date columns: "date", "timestamp" or "timestamptz"
        self.dates: Dict[Any, str] = {}
        self._block, self._stream_block = self._block_sizes()
        # the first block, parsed on its own (open_csv would read ahead dozens
        # of blocks of this size)
        first = self._read_head()
        schema = first.schema
        self._first_rows = first.num_rows
        names = list(schema.names)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            self._cannot(f"the header names the column {dup!r} twice")
        self.columns = names
        for c in opts.parse_dates:
            if c not in names:
                raise OptionError(f"{path}: --parse-dates names {c!r}, which is not a column of"
                                  " the file")
        types: Dict[str, Any] = {}
        doubles = []
        for f in schema:
            t, name = f.type, f.name
            if name in opts.parse_dates:
                if pa.types.is_timestamp(t):
                    types[name] = pa.timestamp("us", "UTC" if t.tz else None)
                elif pa.types.is_date(t) or pa.types.is_null(t):
                    types[name] = pa.timestamp("us")
                else:
                    self._cannot(f"column {name!r} (--parse-dates) holds values that are not ISO"
                                 " 8601 dates or timestamps, which the pyarrow reader does not"
                                 " parse")
                self.dates[name] = "timestamptz" if types[name].tz else "timestamp"
            elif pa.types.is_null(t):
                self.empty_columns.append(name)
                types[name] = pa.string()
            elif pa.types.is_timestamp(t) or pa.types.is_date(t):
                if not opts.detect_dates:
                    types[name] = pa.string()
                elif pa.types.is_date(t):
                    types[name] = pa.date32()
                    self.dates[name] = "date"
                else:
                    types[name] = pa.timestamp("us", "UTC" if t.tz else None)
                    self.dates[name] = "timestamptz" if t.tz else "timestamp"
            elif pa.types.is_time(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
                types[name] = pa.string()
            elif pa.types.is_floating(t):
                types[name] = pa.float64()
                doubles.append(name)
            elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
                raise InputError(f"{path}: cannot decode column {name!r} as"
                                 f" {opts.encoding or 'utf-8'}; use --encoding")
            else:
                types[name] = t
        self._types = types
        if doubles and self._first_rows:
            self._exact_ints(doubles)

    # -- reading

    def _cannot(self, why: str) -> None:
        if self._strict:
            raise OptionError(f"{self.path}: --csv-engine pyarrow: {why}; use --csv-engine"
                              " pandas")
        raise _Fallback(why)

    def _input(self) -> Any:
        if self.path.lower().endswith(".xz"):
            import lzma

            return lzma.open(self.path, "rb")
        return self.path  # pyarrow undoes .gz, .bz2, .zst, .lz4 itself

    def _raw_head(self, nbytes: int) -> bytes:
        """The first nbytes of the file (decompressed)."""
        try:
            if self.path.lower().endswith(".xz"):
                import lzma

                with lzma.open(self.path, "rb") as f:
                    return f.read(nbytes)
            with self._pa.input_stream(self.path, compression="detect") as f:
                head: bytes = f.read(nbytes)
                return head
        except (OSError, ValueError, EOFError) as ex:
            raise _input_error(self.path, ex) from None

    def _read_head(self, column_types: Optional[Mapping[str, Any]] = None,
                   include: Sequence[str] = ()) -> Any:
        """The first block (about chunk_rows rows) as a Table: the head of
        the file, cut after a line (an earlier one when the cut would split
        a quoted field)."""
        head = getattr(self, "_head", None)
        if head is None:
            head = self._raw_head(self._block + 1)
            whole = len(head) <= self._block
            cuts = 0 if whole else 8
            self._head = head = head if whole else head[:head.rfind(b"\n", 0, self._block) + 1]
        else:
            cuts = 0
        while True:
            try:
                return self._parse_head(head, column_types, include)
            except (InputError, ChunkError):
                end = head.rfind(b"\n", 0, len(head) - 1)
                if cuts <= 0 or end <= 0:
                    raise
                cuts -= 1
                self._head = head = head[:end + 1]

    def _parse_head(self, head: bytes, column_types: Optional[Mapping[str, Any]],
                    include: Sequence[str]) -> Any:
        pcsv = self._pcsv
        try:
            return pcsv.read_csv(self._pa.py_buffer(head), **self._options(
                column_types, include, max(len(head) + 1, 1024), threads=False))
        except (self._pa.ArrowInvalid, OSError, UnicodeDecodeError, LookupError) as ex:
            raise self._error(ex, 0) from None

    def _block_sizes(self) -> Tuple[int, int]:
        """Bytes per block: of the first block, which fixes the types, about
        chunk_rows rows (by the first MiB's lines); of the blocks of the
        stream, a quarter of that (pyarrow's reader reads ahead some 30 to 40
        blocks, which bounds its memory)."""
        head = self._raw_head(1 << 20)
        lines = head.split(b"\n")
        if len(lines) > 1:
            lines = lines[:-1]
        longest = max(len(x) for x in lines) + 1
        avg = (sum(len(x) for x in lines) + len(lines)) / len(lines)
        size = int(self.opts.chunk_rows * avg) + longest
        first = max(min(size, 1 << 30), 4 * longest, 1024)
        return first, max(first // 4, 4 * longest, 1024)

    def _open(self, column_types: Optional[Mapping[str, Any]] = None,
              include: Sequence[str] = (), block: Optional[int] = None) -> Any:
        try:
            return self._pcsv.open_csv(self._input(), memory_pool=_arrow_pool(), **self._options(
                column_types, include, block or self._stream_block))
        except (self._pa.ArrowInvalid, OSError, UnicodeDecodeError, LookupError) as ex:
            raise self._error(ex, 0) from None

    def _options(self, column_types: Optional[Mapping[str, Any]], include: Sequence[str],
                 block: int, threads: bool = True) -> Dict[str, Any]:
        pcsv = self._pcsv
        null = [self.opts.null] if self.opts.null is not None else _PANDAS_NA
        return dict(
            read_options=pcsv.ReadOptions(
                use_threads=threads, block_size=block, skip_rows=self.opts.skip_rows,
                encoding=self.opts.encoding or "utf8"),
            parse_options=pcsv.ParseOptions(delimiter=self._sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types=dict(column_types or {}), null_values=null,
                strings_can_be_null=True, quoted_strings_can_be_null=False,
                true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"],
                include_columns=list(include)))

    def _next(self, reader: Any, start: int) -> Any:
        """The next record batch, or None at the end."""
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None
        except (self._pa.ArrowInvalid, OSError, UnicodeDecodeError) as ex:
            raise self._error(ex, start) from None

    def _error(self, ex: BaseException, start: int) -> Exception:
        """A pyarrow error as an InputError or a ChunkError."""
        path = self.path
        msg = str(ex).strip()
        if isinstance(ex, UnicodeDecodeError) or "invalid UTF8" in msg or "UTF-8" in msg:
            return InputError(f"{path}: cannot decode the file as {self.opts.encoding or 'utf-8'}"
                              f" (after row {start:,}); use --encoding")
        if isinstance(ex, LookupError):
            return OptionError(f"--encoding: {msg}")
        if "Empty CSV file" in msg:
            return InputError(f"{path}: the file is empty (no header line)")
        if "straddl" in msg:
            return InputError(f"{path}: cannot parse: a row after row {start:,} is longer than"
                              f" the reader's block of {self._stream_block:,} bytes; use a larger"
                              " --chunk-rows, or --csv-engine pandas")
        m = re.search(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+):"
                      r" (?:invalid value|expected (?:no|a) zone offset in) '(.*?)'", msg, re.S)
        if m:
            names = list(self._types) if hasattr(self, "_types") else []
            k = int(m.group(1))
            col = names[k] if k < len(names) else f"#{k}"
            typ, value = m.group(2), m.group(3)
            row = self._find_row(col, value, start)
            where = f"row {row:,}" if row else f"a row after row {start:,}"
            what = _ARROW_TYPE_TEXT.get(typ, typ)
            hint = "use a larger --chunk-rows, or fix the value"
            if col in self.dates and col not in self.opts.parse_dates:
                hint = ("load the column as text with --no-parse-dates, use a larger"
                        " --chunk-rows, or fix the value")
            return ChunkError(
                f"{path}: column {col!r}: {where} holds {value!r}, which is not {what}, the"
                f" column's type as the first {self._first_rows:,} rows fixed it (pyarrow"
                f" reader); {hint}")
        if "CSV parse error" in msg:
            return InputError(f"{path}: cannot parse (after row {start:,}):"
                              f" {_one_line(msg)}")
        return _input_error(path, ex)

    def _find_row(self, col: str, value: str, start: int) -> Optional[int]:
        """The row (from 1, after the header) at or after start holding value."""
        try:
            import pyarrow.compute as pc

            reader = self._open({col: self._pa.string()}, [col])
            rows = 0
            try:
                for batch in reader:
                    n = batch.num_rows
                    if rows + n > start:
                        arr = batch.column(0)
                        if rows < start:
                            arr = arr.slice(start - rows)
                        i: Optional[int] = pc.index(arr, value).as_py()
                        if i is not None and i >= 0:
                            return max(rows, start) + i + 1
                    rows += n
            finally:
                _close(reader)
        except Exception:  # only for the message
            log.debug("zcimport: cannot find the row of a bad value", exc_info=True)
        return None

    def _exact_ints(self, doubles: List[str]) -> None:
        """Columns of integer literals that pyarrow read as float64 because
        one is beyond int64: uint64, or decimal128(38, 0), exactly."""
        pa = self._pa
        import pyarrow.compute as pc

        batch = self._read_head({n: pa.string() for n in doubles}, doubles)
        for n in doubles:
            arr = pc.drop_null(batch.column(n))
            if not len(arr) or not pc.all(pc.match_substring_regex(
                    arr, r"^\s*[+-]?\d+\s*$")).as_py():
                continue
            values = [int(v) for v in arr.to_pylist()]
            lo, hi = min(values), max(values)
            if lo >= 0 and hi < 2**64:
                self._types[n] = pa.uint64()
            elif -10**38 < lo and hi < 10**38:
                self._types[n] = pa.decimal128(38, 0)

    # -- the Source interface

    @property
    def schema(self) -> Any:
        """The schema of every batch."""
        return self._pa.schema([(n, self._types[n]) for n in self.columns])

    def resolve_empty(self, kinds: Mapping[Any, str]) -> None:
        pa = self._pa
        for c in self.empty_columns:
            if c in kinds:
                self._types[c] = {"bool": pa.bool_(), "int": pa.int64(),
                                  "float": pa.float64()}.get(kinds[c], pa.string())

    def batches(self) -> Iterator[Any]:
        """The file's record batches, of :attr:`schema`."""
        reader = self._open(self._types)
        start = 0
        try:
            while True:
                batch = self._next(reader, start)
                if batch is None:
                    break
                if not batch.num_rows:
                    continue
                start += batch.num_rows
                yield batch
                del batch
        finally:
            _close(reader)
        if start == 0:
            yield self._pa.RecordBatch.from_pylist([], schema=self.schema)
        self.total_rows = start

    def _frame(self, batch: Any) -> Any:
        if self.arrow:
            return batch
        return batch.to_pandas(types_mapper=_arrow_types_mapper())

    def first(self) -> Any:
        for batch in self.batches():
            return self._frame(batch)
        raise AssertionError("unreachable")  # pragma: no cover

    def frames(self) -> Iterator[Any]:
        for batch in self.batches():
            yield self._frame(batch)


def _arrow_pool() -> Any:
    """jemalloc's memory pool, else the system's: pyarrow's default, mimalloc,
    keeps more of the memory of the blocks it has read (about 20 MB more for
    blocks of 20,000 rows), and the client's memory should stay bounded by a
    few blocks."""
    import pyarrow as pa

    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, AttributeError):  # pragma: no cover - built without
        return pa.system_memory_pool()


def _close(reader: Any) -> None:
    close = getattr(reader, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # pragma: no cover
            pass


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


def _open_text(path: str, encoding: Optional[str]) -> IO[str]:
    """A text file, decompressed according to its name (.gz, .bz2, .xz)."""
    lower = path.lower()
    if lower.endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding=encoding)
    if lower.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rt", encoding=encoding)
    if lower.endswith(".xz"):
        import lzma

        return lzma.open(path, "rt", encoding=encoding)
    if lower.endswith((".zip", ".zst")):
        raise OptionError(f"{path}: --skip-rows is not supported for .zip and .zst JSON lines")
    return open(path, "r", encoding=encoding)


class JsonLinesSource(Source):
    """JSON lines (one object per line), in chunks."""

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        self._first: Optional[pd.DataFrame] = None
        self._reader: Any = None
        self._handle: Optional[IO[str]] = None
        self._read_first()

    def _open(self) -> Any:
        src: Any = self.path
        if self.opts.skip_rows:
            self._handle = _open_text(self.path, self.opts.encoding)
            for _ in itertools.islice(self._handle, self.opts.skip_rows):
                pass
            src = self._handle
        try:
            return pd.read_json(src, lines=True, chunksize=self.opts.chunk_rows,
                                encoding=self.opts.encoding,
                                convert_dates=list(self.opts.parse_dates) or False,
                                keep_default_dates=False)
        except (ValueError, OSError) as ex:
            raise _input_error(self.path, ex) from None

    def _next(self, start: int) -> Optional[pd.DataFrame]:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError as ex:
            raise InputError(
                f"{self.path}: cannot decode the file as {self.opts.encoding or 'utf-8'}:"
                f" {ex.reason}; use --encoding") from None
        except (ValueError, TypeError) as ex:
            raise _input_error(
                self.path, ex,
                f"cannot read the JSON lines after row {start:,}") from None

    def _read_first(self) -> None:
        self._reader = self._open()
        first = self._next(0)
        if first is None:
            first = pd.DataFrame()
        for c in self.opts.parse_dates:
            if len(first) and c not in first.columns:
                raise OptionError(f"{self.path}: --parse-dates names {c!r}, which is not a"
                                  " key of the JSON objects")
        self.empty_columns = [c for c in first.columns
                              if c not in self.opts.parse_dates and _is_empty_column(first[c])]
        self._kinds: Dict[Any, str] = {}
        self._int_columns: List[Any] = []
        if len(first) < self.opts.chunk_rows:
            self.total_rows = len(first)
            self.uniform = True
        self._first = first
        if not len(first.columns):
            raise InputError(f"{self.path}: no JSON object in the file")

    def resolve_empty(self, kinds: Mapping[Any, str]) -> None:
        self._kinds.update(kinds)

    def _normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        dtypes: Dict[Any, Any] = {}
        self._int_columns = []
        for c in frame.columns:
            if c in self.empty_columns:
                dtypes[c] = _empty_dtype(self._kinds.get(c, "text"))
                if dtypes[c] == "Int64":
                    self._int_columns.append(c)
                continue
            d = _nullable_dtype(frame[c].dtype)
            if d in ("Int64", "UInt64", "boolean"):
                dtypes[c] = d
            if d in ("Int64", "UInt64"):
                self._int_columns.append(c)
        return frame.astype(dtypes) if dtypes else frame

    def first(self) -> Any:
        assert self._first is not None
        return self._normalize(self._first)

    def frames(self) -> Iterator[Any]:
        first, self._first = self._first, None
        if first is None:
            raise RuntimeError("the frames of a JSON lines file can be read once")
        start = len(first)
        columns = list(first.columns)
        known = set(columns)
        yield self._normalize(first)
        del first
        try:
            while True:
                chunk = self._next(start)
                if chunk is None:
                    return
                new = [c for c in chunk.columns if c not in known]
                if new:
                    row = int(chunk[new[0]].notna().to_numpy().argmax())
                    raise ChunkError(
                        f"{self.path}: the object on row {start + row + 1:,} has the key"
                        f" {new[0]!r}, which no object of the first {self.opts.chunk_rows:,}"
                        " rows has, so the stream has no column for it; use a larger"
                        " --chunk-rows")
                if list(chunk.columns) != columns:
                    chunk = chunk.reindex(columns=columns)  # absent keys are NULL
                _check_exact_ints(self.path, chunk, self._int_columns, start)
                start += len(chunk)
                yield chunk
                del chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._handle is not None:
            self._handle.close()


class PickleSource(Source):
    """A pickled DataFrame (or Series), read whole."""

    uniform = True

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        import pickle

        try:
            obj = pd.read_pickle(path)
        except (pickle.UnpicklingError, EOFError, ImportError, AttributeError, ValueError,
                TypeError, IndexError, KeyError, OSError) as ex:
            raise _input_error(path, ex, "cannot unpickle") from None
        if isinstance(obj, pd.Series):
            obj = obj.to_frame(name=obj.name if obj.name is not None else "value")
        if not isinstance(obj, pd.DataFrame):
            raise InputError(f"{path}: the pickle holds a {type(obj).__module__}."
                             f"{type(obj).__name__}, not a pandas DataFrame or Series")
        names = [c if isinstance(c, str) else str(c) for c in obj.columns]
        if len(set(names)) == len(names) and names != list(obj.columns):
            obj.columns = names  # as the stream names them, so that --columns finds them
        self._frame: Optional[pd.DataFrame] = self._parse_dates(obj)
        self.total_rows = len(obj)

    def first(self) -> Any:
        return self._frame

    def frames(self) -> Iterator[Any]:
        frame, self._frame = self._frame, None
        yield frame


class NpySource(Source):
    """A .npy array, memory-mapped and sent in chunks of rows.

    A structured array's fields are the columns; a 1-D array is one column,
    ``value``; a 2-D array's columns are ``c0``, ``c1``, ...
    """

    uniform = True

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as ex:
            if "allow_pickle" in str(ex) or "Object arrays" in str(ex):
                raise InputError(f"{path}: the array holds Python objects, which .npy stores"
                                 " as a pickle; zcimport does not unpickle .npy files") from None
            raise _input_error(path, ex) from None
        except OSError as ex:
            raise _input_error(path, ex) from None
        if not isinstance(arr, np.ndarray):  # pragma: no cover - np.load of a .npz
            raise InputError(f"{path}: not a .npy array")
        if arr.dtype.names is None and arr.ndim not in (1, 2):
            raise InputError(f"{path}: a {arr.ndim}-D array; zcimport loads 1-D arrays (one"
                             " column), 2-D arrays (columns c0, c1, ...) and structured arrays")
        if arr.dtype.names is not None and arr.ndim != 1:
            raise InputError(f"{path}: a {arr.ndim}-D structured array; zcimport loads 1-D ones")
        if arr.dtype.names is not None:
            for name in arr.dtype.names:
                if arr.dtype[name].shape:
                    raise InputError(f"{path}: field {name!r} is a sub-array"
                                     f" {arr.dtype[name].shape}; zcimport loads scalar fields")
        self._arr = arr
        self.total_rows = len(arr)

    def _columns(self, sub: np.ndarray) -> Dict[str, np.ndarray]:
        if sub.dtype.names is not None:
            return {name: sub[name] for name in sub.dtype.names}
        if sub.ndim == 1:
            return {"value": sub}
        return {f"c{i}": sub[:, i] for i in range(sub.shape[1])}

    def first(self) -> Any:
        return self._columns(self._arr[: self.opts.chunk_rows])

    def frames(self) -> Iterator[Any]:
        n = len(self._arr)
        step = self.opts.chunk_rows
        if n == 0:
            yield self._columns(self._arr)
            return
        for start in range(0, n, step):
            yield self._columns(self._arr[start:start + step])


class NpzSource(Source):
    """A .npz archive: each array a column (1-D, all of one length), read whole."""

    uniform = True

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as ex:
            if "allow_pickle" in str(ex) or "Object arrays" in str(ex):
                raise InputError(f"{path}: an array holds Python objects, which .npz stores"
                                 " as a pickle; zcimport does not unpickle them") from None
            raise _input_error(path, ex) from None
        if not arrays:
            raise InputError(f"{path}: the archive holds no array")
        lengths = {}
        for k, a in arrays.items():
            if a.ndim != 1:
                raise InputError(f"{path}: array {k!r} is {a.ndim}-D; each array of a .npz"
                                 " is one column and must be 1-D")
            lengths[k] = len(a)
        if len(set(lengths.values())) > 1:
            desc = ", ".join(f"{k}: {n:,}" for k, n in lengths.items())
            raise InputError(f"{path}: the arrays have different lengths ({desc})")
        self._frame: Optional[Any] = self._parse_dates(arrays) if opts.parse_dates else arrays
        self.total_rows = next(iter(lengths.values()))

    def first(self) -> Any:
        return self._frame

    def frames(self) -> Iterator[Any]:
        frame, self._frame = self._frame, None
        yield frame


def _need(package: str, what: str, apt: Optional[str], pip: str) -> Any:
    """Import package, or say which package to install (apt only when
    Debian has one: Debian 12 has no pyarrow)."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        how = f"apt install {apt}, or pip install {pip}" if apt else f"pip install {pip}"
        raise MissingPackageError(
            f"reading {what} needs {pip}, which is not installed ({how})") from None


def _arrow_types_mapper() -> Any:
    """Arrow types to pandas' nullable dtypes, so that chunks agree."""
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return mapping.get


class ArrowSource(Source):
    """Parquet (``ParquetFile.iter_batches``, ``chunk_rows`` rows at a time)
    and Feather / Arrow IPC files (memory-mapped, by record batches),
    through pyarrow.

    When :attr:`arrow` is set (the stream takes Arrow record batches), the
    batches are sent as they are; else (or with ``--parse-dates``) each is
    converted to a DataFrame, integer and boolean columns to pandas'
    nullable dtypes, so that the batches agree on them.
    """

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        #: yield record batches (else DataFrames) from frames()
        self.arrow = False
        #: --parse-dates converts text with pandas: DataFrames then
        self.arrow_capable = not opts.parse_dates
        what = "Parquet" if fmt == "parquet" else "Feather"
        pa = _need("pyarrow", what, None, "pyarrow")
        self._mapper = _arrow_types_mapper()
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                self._pf = pq.ParquetFile(path)
                self.total_rows = self._pf.metadata.num_rows
            else:
                import pyarrow.feather as feather

                try:
                    self._ipc = pa.ipc.open_file(pa.memory_map(path, "r"))
                    self.total_rows = sum(self._ipc.get_batch(i).num_rows
                                          for i in range(self._ipc.num_record_batches))
                except pa.ArrowInvalid:  # Feather version 1
                    self._ipc = None
                    self._table = feather.read_table(path)
                    self.total_rows = self._table.num_rows
        except (OSError, ValueError) as ex:  # ArrowInvalid is a ValueError
            raise _input_error(path, ex) from None

    def _batches(self) -> Iterator[Any]:
        if self.format == "parquet":
            yield from self._pf.iter_batches(batch_size=self.opts.chunk_rows)
        elif self._ipc is not None:
            for i in range(self._ipc.num_record_batches):
                yield self._ipc.get_batch(i)
        else:
            yield from self._table.to_batches(max_chunksize=self.opts.chunk_rows)

    @property
    def schema(self) -> Any:
        """The schema of every batch."""
        if self.format == "parquet":
            return self._pf.schema_arrow
        return self._ipc.schema if self._ipc is not None else self._table.schema

    def _frame(self, batch: Any) -> Any:
        if self.arrow:
            return batch
        return self._parse_dates(batch.to_pandas(types_mapper=self._mapper))

    def _empty(self) -> Any:
        import pyarrow as pa

        return self._frame(pa.RecordBatch.from_pylist([], schema=self.schema))

    def first(self) -> Any:
        for batch in self._batches():
            return self._frame(batch)
        return self._empty()

    def frames(self) -> Iterator[Any]:
        empty = True
        for batch in self._batches():
            empty = False
            yield self._frame(batch)
        if empty:
            yield self._empty()


class HdfSource(Source):
    """A pandas HDF5 store (PyTables): table format in chunks, fixed format whole.

    (Not tested here: PyTables is not installed on the machines zcimport is
    tested on.)
    """

    def __init__(self, path: str, fmt: str, opts: ReadOptions) -> None:
        super().__init__(path, fmt, opts)
        _need("tables", "HDF5", "python3-tables", "tables")
        try:
            self._store = pd.HDFStore(path, mode="r")
            keys = self._store.keys()
        except Exception as ex:  # PyTables' HDF5ExtError is a RuntimeError
            msg = str(ex)
            if "signature not found" in msg or "unable to open" in msg.lower():
                msg = "not an HDF5 file"
            raise _input_error(path, Exception(msg.splitlines()[-1] if msg else ""),
                               "cannot open") from None
        if opts.hdf_key is not None:
            key = opts.hdf_key if opts.hdf_key.startswith("/") else "/" + opts.hdf_key
            if key not in keys:
                self._store.close()
                raise OptionError(f"{path}: no key {opts.hdf_key!r} in the store (keys:"
                                  f" {', '.join(keys) or 'none'})")
        elif len(keys) == 1:
            key = keys[0]
        else:
            self._store.close()
            raise OptionError(f"{path}: the store holds {len(keys)} keys"
                              f" ({', '.join(keys) or 'none'}); choose one with --hdf-key")
        self._key = key
        storer = self._store.get_storer(key)
        self._table = bool(getattr(storer, "is_table", False))
        self.total_rows = int(storer.nrows) if self._table and storer.nrows is not None else None

    def first(self) -> Any:
        if self._table:
            return self._parse_dates(self._store.select(self._key, start=0,
                                                        stop=self.opts.chunk_rows))
        return self._parse_dates(self._store.select(self._key))

    def frames(self) -> Iterator[Any]:
        try:
            if self._table:
                for chunk in self._store.select(self._key, chunksize=self.opts.chunk_rows):
                    yield self._parse_dates(chunk)
            else:
                yield self._parse_dates(self._store.select(self._key))
        finally:
            self.close()

    def close(self) -> None:
        self._store.close()


# --------------------------------------------------------------------------
# .zci streams
# --------------------------------------------------------------------------


@dataclasses.dataclass
class ZciColumn:
    """A column of a stream's header."""

    name: str
    wire_type: WireType
    nulls: NullEncoding
    sentinel: bool
    unit: str
    index_type: Optional[WireType]
    tz: str

    @property
    def wire(self) -> str:
        """The wire type, with its unit / time zone / index type."""
        s = self.wire_type.wire_name
        if self.wire_type in (WireType.TIMESTAMP, WireType.TIMESTAMPTZ, WireType.DURATION):
            s += f"[{self.unit}" + (f", {self.tz}]" if self.tz else "]")
        if self.wire_type == WireType.DICTIONARY and self.index_type is not None:
            s += f"[{self.index_type.wire_name}]"
        return s


_HEADER = struct.Struct("<8sHcBIII")
_DESC = struct.Struct("<BBBBBBHHH")
_MESSAGE = struct.Struct("<IIQ")
_LENGTH = struct.Struct("<Q")


class ZciSource:
    """A ``.zci`` stream file: its header's columns, and its bytes.

    The header is decoded (to name the COPY's columns and create the
    table); the messages are only skimmed, by their lengths, to count the
    rows for the progress bar.  The bytes are sent as they are: the server
    validates the stream.

    Attributes:
        columns: the header's columns.
        total_rows: the rows of the stream (the end marker's count), or
            None when the skim could not make sense of the messages.
        batches, dictionaries: messages counted by the skim.
        row_marks: (offset of the end of a batch, its rows), per batch.
        size: the file's size in bytes.
    """

    format = "zci"
    uniform = True

    def __init__(self, path: str, opts: Optional[ReadOptions] = None) -> None:
        self.path = path
        self.size = os.path.getsize(path)
        self.total_rows: Optional[int] = None
        self.batches = 0
        self.dictionaries = 0
        self.row_marks: List[Tuple[int, int]] = []
        self.problem = ""
        try:
            with open(path, "rb") as f:
                self.columns = self._header(f)
                self._skim(f)
        except OSError as ex:
            raise _input_error(path, ex) from None

    def _header(self, f: IO[bytes]) -> List[ZciColumn]:
        fixed = f.read(HEADER_FIXED_LEN)
        if len(fixed) < HEADER_FIXED_LEN or fixed[:8] != MAGIC:
            raise InputError(f"{self.path}: not a zcimport stream (no zcimport magic number at"
                             " the start)")
        _, version, order, _flags, ncols, length, _ = _HEADER.unpack(fixed)
        if version != 1 or order != b"L":
            raise InputError(f"{self.path}: a zcimport stream of version {version}, byte order"
                             f" {order!r}; this client reads version 1, 'L'")
        if not HEADER_FIXED_LEN <= length <= (1 << 20) or ncols < 1:
            raise InputError(f"{self.path}: the stream's header is malformed (header length"
                             f" {length}, {ncols} columns)")
        body = f.read(length - HEADER_FIXED_LEN)
        if len(body) < length - HEADER_FIXED_LEN:
            raise InputError(f"{self.path}: the file ends inside the stream's header")
        cols = []
        off = 0
        try:
            for _ in range(ncols):
                wire, nulls, flags, unit, index, _value, nlen, tzlen, _ = _DESC.unpack_from(body, off)
                start = off + DESC_FIXED_LEN
                name = body[start:start + nlen].decode("utf-8")
                tz = body[start + nlen:start + nlen + tzlen].decode("utf-8")
                off = align8(start + nlen + tzlen)
                cols.append(ZciColumn(
                    name=name, wire_type=WireType(wire), nulls=NullEncoding(nulls),
                    sentinel=bool(flags & 1), unit=TimeUnit(unit).wire_name if wire in (
                        WireType.TIMESTAMP, WireType.TIMESTAMPTZ, WireType.DURATION) else "",
                    index_type=WireType(index) if wire == WireType.DICTIONARY else None, tz=tz))
        except (struct.error, ValueError, UnicodeDecodeError) as ex:
            raise InputError(f"{self.path}: the stream's header is malformed: {ex}") from None
        return cols

    def _skim(self, f: IO[bytes]) -> None:
        """Count batches and rows by the messages' lengths (no decoding)."""
        per_batch = 0
        for c in self.columns:
            per_batch += (1 if c.nulls != NullEncoding.NONE else 0) + (
                2 if c.wire_type in (WireType.UTF8, WireType.BINARY) else 1)
        rows = 0
        while True:
            head = f.read(MESSAGE_FIXED_LEN)
            if len(head) < MESSAGE_FIXED_LEN:
                self.problem = "the stream stops before its end marker"
                return
            kind, _, count = _MESSAGE.unpack(head)
            if kind == MessageKind.END:
                self.total_rows = count if count == rows else None
                if count != rows:
                    self.problem = f"the end marker says {count} rows, the batches hold {rows}"
                return
            nbuf = per_batch if kind == MessageKind.BATCH else 2 if \
                kind == MessageKind.DICTIONARY else -1
            if nbuf < 0:
                self.problem = f"unknown message kind {kind}"
                return
            for _ in range(nbuf):
                raw = f.read(8)
                if len(raw) < 8:
                    self.problem = "the stream stops inside a message"
                    return
                (n,) = _LENGTH.unpack(raw)
                f.seek(align8(n), os.SEEK_CUR)
            if f.tell() > self.size:
                self.problem = "the stream stops inside a message"
                return
            if kind == MessageKind.BATCH:
                rows += count
                self.batches += 1
                self.row_marks.append((f.tell(), count))
            else:
                self.dictionaries += 1

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The file's bytes, ``size`` at a time."""
        try:
            with open(self.path, "rb") as f:
                while True:
                    data = f.read(size)
                    if not data:
                        return
                    yield data
        except OSError as ex:
            raise _input_error(self.path, ex) from None

    def column_types(self) -> List[Tuple[str, str]]:
        """(name, SQL type) of the header's columns (utf8 is text)."""
        from ._ddl import sql_type

        return [(c.name, sql_type(c.wire_type)) for c in self.columns]


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------

_SOURCES = {
    "csv": CsvSource, "tsv": CsvSource, "jsonl": JsonLinesSource, "pickle": PickleSource,
    "npy": NpySource, "npz": NpzSource, "parquet": ArrowSource, "feather": ArrowSource,
    "hdf5": HdfSource,
}


def open_source(path: str, fmt: Optional[str] = None,
                opts: Optional[ReadOptions] = None) -> Any:
    """Open an input file: a :class:`Source`, or a :class:`ZciSource`.

    Raises:
        InputError: the file is missing, unreadable or malformed.
        MissingPackageError: the format needs pyarrow or PyTables.
        OptionError: the format is unknown, or an option does not apply.
    """
    opts = opts or ReadOptions()
    if fmt is None:
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise OptionError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    check_options(fmt, opts)
    _check_readable(path)
    if fmt == "zci":
        return ZciSource(path, opts)
    if fmt in ("csv", "tsv"):
        return _open_csv(path, fmt, opts)
    return _SOURCES[fmt](path, fmt, opts)


def _open_csv(path: str, fmt: str, opts: ReadOptions) -> Source:
    """A CSV/TSV file with the engine that --csv-engine chooses."""
    engine = opts.csv_engine
    if engine == "pandas":
        return CsvSource(path, fmt, opts)
    if engine == "pyarrow":
        _need("pyarrow", "CSV with --csv-engine pyarrow", None, "pyarrow")
        why = arrow_csv_unsupported(path, fmt, opts)
        if why:
            raise OptionError(f"{path}: --csv-engine pyarrow: {why}; use --csv-engine pandas")
        return ArrowCsvSource(path, fmt, opts, strict=True)
    if have_pyarrow() and arrow_csv_unsupported(path, fmt, opts) is None:
        try:
            return ArrowCsvSource(path, fmt, opts)
        except _Fallback as ex:
            log.info("zcimport: reading %s with pandas: pyarrow cannot: %s", path, ex)
    return CsvSource(path, fmt, opts)


__all__ = [
    "ArrowCsvSource",
    "CSV_ENGINES",
    "ChunkError",
    "CsvSource",
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "InputError",
    "MissingPackageError",
    "OptionError",
    "ReadOptions",
    "Source",
    "ZciSource",
    "detect_format",
    "open_source",
]
