"""The packers of object columns: the C module, or its Python version.

zcimport packs object columns (str, bytes, datetime.date) batch by batch
with four functions, ``scan_objects``, ``pack_utf8``, ``pack_binary`` and
``pack_date32``, which :mod:`zcimport._pack` (C, ``_pack.c``) and
:mod:`zcimport._pack_py` (pure Python, with NumPy) both implement, with the
same results and errors.  This module chooses one, once, at import, as
psycopg's ``PSYCOPG_IMPL`` does, from the environment variable
``ZCIMPORT_IMPL``:

- ``c``: the C module, and ImportError if it is not built;
- ``python``: the Python version, even when the C module is built;
- unset (or empty): the C module if it imports, else the Python version
  (logged at DEBUG on the ``zcimport`` logger).

Any other value raises ImportError.  :data:`IMPL` says which was chosen
(``"c"`` or ``"python"``); ``zcimport.IMPL`` and ``zcimport --version`` show
it.  Callers use the functions as attributes of this module
(``_packers.pack_utf8(...)``), so that a profiler can wrap them here.

The socket writer, :mod:`zcimport._wire`, has no Python version: without
it, loads go through libpq's COPY (see ``docs/zero-copy.md``).
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Tuple

log = logging.getLogger("zcimport")

#: The environment variable that chooses the implementation.
ENV = "ZCIMPORT_IMPL"
#: Its values.
IMPLS = ("c", "python")


def _choose(value: Optional[str]) -> Tuple[str, ModuleType]:
    """(impl, module) for a value of ZCIMPORT_IMPL (None: unset)."""
    want = (value or "").strip().lower()
    if want not in ("",) + IMPLS:
        raise ImportError(f"{ENV}={value!r}: expected 'c' or 'python' (or unset: C if built)")
    if want in ("", "c"):
        try:
            from . import _pack  # type: ignore[attr-defined]  # the C module
        except ImportError as ex:
            if want == "c":
                raise ImportError(
                    f"{ENV}=c but the C module zcimport._pack cannot be imported ({ex}):"
                    " run `make python-ext`, or reinstall with pip") from ex
            log.debug("zcimport._pack (C) cannot be imported (%s): object columns are"
                      " packed by zcimport._pack_py (Python)", ex)
        else:
            log.debug("object columns are packed by zcimport._pack (C)")
            return "c", _pack
    from . import _pack_py

    if want == "python":
        log.debug("%s=python: object columns are packed by zcimport._pack_py (Python)", ENV)
    return "python", _pack_py


IMPL, _module = _choose(os.environ.get(ENV))

scan_objects: Callable[..., Dict[str, Any]] = _module.scan_objects
pack_utf8: Callable[..., Tuple[Any, bytes, bytes, int]] = _module.pack_utf8
pack_binary: Callable[..., Tuple[Any, bytes, bytes, int]] = _module.pack_binary
pack_date32: Callable[..., Tuple[Any, bytes, int]] = _module.pack_date32
