"""Build the zcimport Python package's C module in place.

    cd python && /usr/bin/python3 setup.py -q build_ext --inplace

A pyproject.toml will replace this file's metadata later.
"""

from setuptools import Extension, setup

setup(
    name="zcimport",
    version="0.1.0",
    packages=["zcimport"],
    package_data={"zcimport": ["py.typed"]},
    ext_modules=[
        Extension(
            "zcimport._wire",
            sources=["zcimport/_wire.c", "zcimport/_pack.c"],
            depends=["zcimport/_pack.h"],
            extra_compile_args=["-Wall", "-Wextra", "-Werror"],
        )
    ],
)
