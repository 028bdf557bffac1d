"""The setuptools shim of the zcimport Python package: its C extension.

The package's metadata is in pyproject.toml (PEP 621).  This file declares
what pyproject.toml cannot without setuptools' beta [tool.setuptools] table
(as of setuptools 66): the package, its py.typed marker and stubs, its
version (read from zcimport/VERSION, the one place the version of zcimport
is written, which is installed with the package), and its two extension
modules: zcimport._wire (socket I/O), built from zcimport/_wire.c, and
zcimport._pack (packing of object columns), from zcimport/_pack.c.

    pip install ./python                                  # install
    cd python && python3 setup.py -q build_ext --inplace  # what `make` runs

Warnings are errors (-Werror) only with ZCIMPORT_WERROR=1 in the
environment (`make python-ext ZC_WERROR=1` sets it, as make test does): a
user's pip install must not fail on a newer compiler's new warning.
"""

import os
from pathlib import Path

from setuptools import Extension, setup

_CFLAGS = ["-Wall", "-Wextra"]
if os.environ.get("ZCIMPORT_WERROR") == "1":
    _CFLAGS.append("-Werror")

_VERSION = (Path(__file__).parent / "zcimport" / "VERSION").read_text(encoding="ascii").strip()

setup(
    version=_VERSION,
    packages=["zcimport"],
    package_data={"zcimport": ["py.typed", "VERSION", "_wire.pyi"]},
    include_package_data=False,  # not the C sources next to the modules
    ext_modules=[
        Extension("zcimport._wire", sources=["zcimport/_wire.c"], extra_compile_args=_CFLAGS),
        Extension("zcimport._pack", sources=["zcimport/_pack.c"], extra_compile_args=_CFLAGS),
    ],
)
