"""Handlers of NumPy arrays.

- bool, int8..int64, uint8..uint64, float32, float64: sent as they are
  (``float16`` is not supported: convert it first);
- datetime64 and timedelta64 in s, ms, us or ns: ``timestamp`` and
  ``duration`` with NaT as NULL, sent as they are;
- object arrays: see :mod:`zcimport._objects`;
- fixed-width strings (``<U``, ``S``): converted per batch.

A read-only array (pandas' Copy-on-Write views) is sent as it is: the
stream only reads the memory.  Strided or big-endian arrays are copied once
(:class:`zcimport._core._Prepared`).
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from ._core import (
    ColumnInput,
    FixedWidthData,
    Handler,
    PlannedColumn,
    _numeric_wire_type,
    _planned,
    _Prepared,
    _time_unit,
)
from ._format import WireType
from ._objects import _plan_converted_text, plan_objects


def _numpy_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """NumPy bool, integer, float, datetime64 and timedelta64 arrays."""
    v = inp.values
    if not isinstance(v, np.ndarray):
        return None
    kind = v.dtype.kind
    prep = _Prepared()
    if kind in "mM":
        unit = _time_unit(v.dtype, inp)
        values = prep.array(v, "values", inp.name).view(np.int64)
        wire = WireType.TIMESTAMP if kind == "M" else WireType.DURATION
        return _planned(inp, prep, wire, FixedWidthData(values),
                        sentinel=True, unit=unit)
    numeric = _numeric_wire_type(v.dtype)
    if numeric is None:
        return None
    values = prep.array(v, "values", inp.name)
    return _planned(inp, prep, numeric, FixedWidthData(values),
                    sentinel=inp.nan_as_null and kind == "f")


def _object_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """NumPy object arrays: see the module's docstring."""
    v = inp.values
    if not isinstance(v, np.ndarray) or v.dtype != object:
        return None
    if v.ndim != 1:  # pragma: no cover - select_columns checks
        raise ValueError(f"column {inp.name!r} is not 1-D")
    return plan_objects(inp, v)


def _numpy_strings_handler(inp: ColumnInput) -> Optional[PlannedColumn]:
    """NumPy fixed-width strings: <U as utf8, S as binary, converted per batch.

    As NumPy does when it reads them, trailing NUL characters are dropped.
    """
    v = inp.values
    if not isinstance(v, np.ndarray) or v.dtype.kind not in "US":
        return None
    binary = v.dtype.kind == "S"

    def convert(start: int, stop: int) -> np.ndarray:
        return v[start:stop].astype(object)

    what = "bytes" if binary else "str"
    return _plan_converted_text(inp, _Prepared(), v, convert,
                                f"NumPy {v.dtype.str} values converted to {what} per batch",
                                binary=binary)


#: In the order the registry tries them.
HANDLERS: List[Handler] = [_numpy_handler, _object_handler, _numpy_strings_handler]
