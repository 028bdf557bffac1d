"""The version of zcimport is written once, and every part reports it.

python/zcimport/VERSION is the one place: the Python package reads it
(``zcimport.__version__``, and pip's metadata through setup.py), the
Makefile passes it to the library (``zcimport.version()``) and takes the
extension's SQL version from it, its major.minor (the install script's name
and the control file's default_version).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import zcimport

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "python" / "zcimport" / "VERSION").read_text().strip()
EXTVERSION = ".".join(VERSION.split(".")[:2])


def test_version_file_is_a_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


def test_python_package_reads_the_version_file():
    assert zcimport.__version__ == VERSION


def test_makefile_derives_the_extension_version():
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "zc-print-versions"],
        input="zc-print-versions:\n\t@echo $(ZCIMPORT_VERSION) $(EXTVERSION) $(DATA_built)\n",
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [VERSION, EXTVERSION, f"zcimport--{EXTVERSION}.sql"]
    control = (REPO / "zcimport.control.in").read_text()
    assert "default_version = '@EXTVERSION@'" in control


def test_server_reports_the_same_version(conn):
    row = conn.execute(
        "SELECT zcimport.version(),"
        " (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'zcimport'),"
        " (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'zcimport')").fetchone()
    assert row == (VERSION, EXTVERSION, EXTVERSION)


def test_loaded_module_reports_the_version(conn):
    """PostgreSQL 18 lists loaded libraries with PG_MODULE_MAGIC_EXT's name and version."""
    if conn.info.server_version < 180000:
        pytest.skip(f"pg_get_loaded_modules() is new in PostgreSQL 18 (server {conn.info.server_version})")
    conn.execute("SELECT zcimport.version()")  # loads the library in this backend
    rows = conn.execute(
        "SELECT module_name, version FROM pg_catalog.pg_get_loaded_modules()"
        " WHERE file_name = 'pg_zcimport.so'").fetchall()
    assert rows == [("zcimport", VERSION)]
