"""Handlers of pandas extension arrays.

- nullable ``Int*``, ``UInt*``, ``boolean``, ``Float*`` (masked arrays):
  values and byte mask sent as they are;
- tz-aware ``datetime64[unit, tz]``: ``timestamptz``, sent as it is;
- ``string`` (pd.NA) and pandas 3's ``str`` (NaN) with Python storage: the
  object array of str, packed per batch (:mod:`zcimport._objects`); the
  pyarrow storage is an Arrow array, for :mod:`zcimport._src_arrow`, which
  comes first in the registry;
- ``category``: a ``dictionary`` column (codes sent as they are) when the
  categories are strings, else materialized as the categories' dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from ._core import (
    _INT_TYPES,
    BaseMaskedArray,
    ColumnInput,
    FixedWidthData,
    Handler,
    PlannedColumn,
    _as_values,
    _numeric_wire_type,
    _planned,
    _Prepared,
    _time_unit,
    _unsupported,
    log,
    plan_column,
)
from ._format import MAX_MESSAGE_LEN, MAX_TZ_LEN, MESSAGE_FIXED_LEN, NullEncoding, WireType, align8
from . import _packers
from ._objects import (
    MISSING,
    DictionaryData,
    NullData,
    _plan_converted_text,
    _plan_text,
    _surrogate_error,
    _type_name,
)


def _masked_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """pandas' nullable Int*, UInt*, boolean and Float* arrays."""
    v = inp.values
    if BaseMaskedArray is None or not isinstance(v, BaseMaskedArray):
        return None
    data = getattr(v, "_data", None)
    mask = getattr(v, "_mask", None)
    if not isinstance(data, np.ndarray) or not isinstance(mask, np.ndarray):
        return None
    wire = _numeric_wire_type(data.dtype)
    if wire is None or mask.dtype != np.bool_:
        raise _unsupported(inp)
    prep = _Prepared()
    mask = prep.array(mask, "mask", inp.name)
    data = prep.array(data, "values", inp.name)
    sentinel = inp.nan_as_null and data.dtype.kind == "f"
    return _planned(inp, prep, wire, FixedWidthData(mask, data),
                    nulls=NullEncoding.BYTEMASK, sentinel=sentinel)


def _datetimetz_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """tz-aware datetime64[unit, tz]: UTC values, sent as timestamptz."""
    if not isinstance(getattr(inp.values, "dtype", None), pd.DatetimeTZDtype):
        return None
    dtype: pd.DatetimeTZDtype = inp.values.dtype
    raw = getattr(inp.values, "_ndarray", None)  # the M8 values, UTC, no copy
    if not isinstance(raw, np.ndarray):  # pragma: no cover - other pandas versions
        raw = np.asarray(inp.values.asi8).view(f"M8[{dtype.unit}]")  # type: ignore[union-attr]
    unit = _time_unit(raw.dtype, inp)
    tz = str(dtype.tz)
    if len(tz) > MAX_TZ_LEN or not (tz.isascii() and tz.isprintable()):
        tz = ""  # informational, and the stream takes printable ASCII only: drop it
    prep = _Prepared()
    values = prep.array(raw, "values", inp.name).view(np.int64)
    return _planned(inp, prep, WireType.TIMESTAMPTZ, FixedWidthData(values),
                    sentinel=True, unit=unit, tz=tz)


def _string_dtype_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """pandas' StringDtype: an object array of str and pd.NA."""
    v = inp.values
    if not isinstance(getattr(v, "dtype", None), pd.StringDtype):
        return None
    prep = _Prepared()
    nd = getattr(v, "_ndarray", None)
    if isinstance(nd, np.ndarray) and nd.dtype == object and nd.ndim == 1:
        info = _packers.scan_objects(nd, MISSING)
        for t, row, _ in info["types"]:
            if not issubclass(t, str):  # pragma: no cover - pandas validates
                raise TypeError(f"column {inp.name!r}, row {row}: holds {_type_name(t)}")
        return _plan_text(inp, prep, nd, info, "str values packed per batch")

    ext: Any = v  # an ExtensionArray: its to_numpy() takes na_value

    def convert(start: int, stop: int) -> np.ndarray:  # e.g. string[pyarrow]
        return np.asarray(ext[start:stop].to_numpy(dtype=object, na_value=None))

    return _plan_converted_text(inp, prep, v, convert,
                                f"{inp.dtype} values converted to str per batch")


def _string_categories(cats: pd.Index) -> bool:
    if isinstance(cats.dtype, pd.StringDtype):
        return True
    return bool(cats.dtype == object
                and pd.api.types.infer_dtype(cats, skipna=False) == "string")


def _materialize(cat: pd.Categorical) -> Any:
    """The values of a categorical as an array of its categories' dtype.

    NULLs (code -1) become a mask (numbers, booleans), NaT (datetimes) or
    None (objects).
    """
    codes = np.asarray(cat.codes)
    cv = cat.categories._values
    missing = codes < 0
    if isinstance(cv, np.ndarray) and cv.dtype.kind in "biuf":
        if len(cv):
            taken = cv.take(np.where(missing, 0, codes))
        else:
            taken = np.zeros(len(codes), dtype=cv.dtype)
        if not missing.any():
            return taken
        if cv.dtype.kind == "b":
            return pd.arrays.BooleanArray(taken, missing)
        if cv.dtype.kind == "f":
            return pd.arrays.FloatingArray(taken, missing)
        return pd.arrays.IntegerArray(taken, missing)
    if isinstance(cv, np.ndarray):
        if len(cv):
            out = cv.take(np.where(missing, 0, codes))
        else:
            out = np.empty(len(codes), dtype=cv.dtype)
        if missing.any():
            out = out.astype(object) if out.dtype != object else out
            out[missing] = None
        return out
    return cv.take(codes, allow_fill=True)  # an ExtensionArray: NaT, NA...


def _nbytes(values: Any) -> int:
    if isinstance(values, np.ndarray):
        return values.nbytes
    if BaseMaskedArray is not None and isinstance(values, BaseMaskedArray):
        return int(values._data.nbytes + values._mask.nbytes)
    return int(getattr(values, "nbytes", 0))


def _categorical_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """pandas' category dtype: dictionary columns, or materialized."""
    v = inp.values
    if not isinstance(v, pd.Categorical):
        return None
    cats = v.categories
    if len(cats) == 0:
        # no category, so every value is NULL: the null wire type loads into
        # a column of any type, as COPY of NULLs does
        return _planned(inp, _Prepared(), WireType.NULL, NullData())
    if not _string_categories(cats):
        values = _as_values(_materialize(v))
        inner_dtype = str(cats.dtype)
        inner = ColumnInput(source=inp.source, name=inp.name, values=values,
                            dtype=f"category of {inner_dtype}", nan_as_null=inp.nan_as_null)
        col = plan_column(inner)
        p = col.plan
        size = _nbytes(values)
        reason = f"categorical of {inner_dtype} materialized"
        log.info("zcimport: column %r: %s (%d bytes)", inp.name, reason, size)
        plan = dataclasses.replace(
            p, dtype=inp.dtype, zero_copy=False,
            reason=reason + (f"; {p.reason}" if p.reason else ""),
            packed_bytes=p.packed_bytes + size)
        return dataclasses.replace(col, plan=plan)

    prep = _Prepared()
    raw = getattr(v, "_ndarray", None)
    codes = raw if isinstance(raw, np.ndarray) else np.asarray(v.codes)
    codes = prep.array(codes, "codes", inp.name)
    index_type = _INT_TYPES.get(("i", codes.dtype.itemsize))
    if codes.dtype.kind != "i" or index_type is None:  # pragma: no cover
        raise _unsupported(inp, f"categorical codes of dtype {codes.dtype}")
    entries = np.asarray(cats.to_numpy(dtype=object))
    info = _packers.scan_objects(entries, MISSING)
    if info["utf8_bad"] >= 0:
        k = info["utf8_bad"]
        err = _surrogate_error(inp.name, k, entries[k])
        err.reason = f"lone surrogate in category {k} of column {inp.name!r}, which UTF-8 cannot encode"
        raise err
    _, offsets, data, _ = _packers.pack_utf8(entries, 0, len(entries), MISSING, False, inp.name, 0)
    length = MESSAGE_FIXED_LEN + 16 + align8(len(offsets)) + align8(len(data))
    if length > MAX_MESSAGE_LEN:
        raise ValueError(
            f"column {inp.name!r}: its {len(entries)} categories take {length} bytes,"
            " more than a dictionary message can hold (1 GiB)")
    dd = DictionaryData(codes, len(entries), offsets, data)
    prep.note(f"dictionary of {len(entries)} categories packed; codes sent as they are",
              dd.dictionary_bytes, inp.name)
    col = _planned(inp, prep, WireType.DICTIONARY, dd)
    col.index_type = int(index_type)
    col.value_type = int(WireType.UTF8)
    return col


#: In the order the registry tries them.
HANDLERS: List[Handler] = [_masked_handler, _datetimetz_handler, _string_dtype_handler,
                           _categorical_handler]
