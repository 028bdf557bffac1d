"""The Python package installs with pip from python/, and works installed.

A copy of python/ (without build artifacts, so that nothing lands in the
checkout) is installed into a fresh virtual environment, as a user would:

    BASE_PYTHON -m venv VENV
    VENV/bin/python -m pip install COPY

BASE_PYTHON is the interpreter the test environment was made from; pip
takes numpy, pandas and psycopg (at the versions pyproject.toml allows) and
the build's setuptools from the package index (or pip's cache).  Then, from
outside the checkout: ``import zcimport`` imports the installed copy, its C
module works, the metadata is pyproject.toml's, and the console script
runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

#: pip installs take a while, and test the package, not the environment's libraries
pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
#: The version of zcimport, written once (see the top-level Makefile).
VERSION = (PYTHON_DIR / "zcimport" / "VERSION").read_text().strip()
#: The interpreter the running environment was made from (a venv's base).
BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable

_IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.so", "*.o", "dist")


def _clean_env() -> Dict[str, str]:
    """The environment without anything that would import the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _require(module: str, package: str, python: str = BASE_PYTHON) -> None:
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                           env=_clean_env())
    if probe.returncode != 0:
        pytest.skip(f"{python} cannot import {module}: install {package}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """A venv with zcimport pip-installed from a copy of python/."""
    _require("ensurepip", "the Debian package python3-venv (make deps)")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: install build-essential")
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    shutil.copytree(PYTHON_DIR, src, ignore=_IGNORE)
    venv = root / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, env=_clean_env())
    py = venv / "bin" / "python"
    before = sorted(p.name for p in PYTHON_DIR.iterdir())
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", str(src)],
        capture_output=True, text=True, env=_clean_env(), cwd=root, timeout=900)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    yield {"root": root, "venv": venv, "python": py, "src": src, "before": before,
           "pip": pip.stdout}


def _run(installed: Dict[str, Any], code: str) -> Any:
    out = subprocess.run([str(installed["python"]), "-c", textwrap.dedent(code)],
                         capture_output=True, text=True, env=_clean_env(),
                         cwd=installed["root"], timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pip_install_leaves_the_checkout_alone(installed):
    assert sorted(p.name for p in PYTHON_DIR.iterdir()) == installed["before"]
    assert not list(PYTHON_DIR.glob("*.egg-info"))


def test_import_uses_the_installed_copy_and_its_c_module(installed):
    info = _run(installed, """
        import json, os, socket, sys
        import zcimport, zcimport._wire as w, zcimport._pack as p
        a, b = socket.socketpair()
        sent, has_data, owed = w.send_copy_data(a.fileno(), [b"abc", memoryview(b"de")])
        frame = b.recv(100)
        print(json.dumps({"file": zcimport.__file__, "wire": w.__file__, "pack": p.__file__,
                          "packed": p.pack_utf8(["ab", "é"], 0, 2)[2].hex(),
                          "prefix": sys.prefix, "frame": frame.hex(),
                          "sent": sent, "has_data": has_data, "owed": owed,
                          "version": zcimport.__version__}))
    """)
    venv = str(installed["venv"])
    assert info["file"].startswith(venv) and "site-packages" in info["file"]
    assert info["wire"].startswith(venv) and info["wire"].endswith(".so")
    assert info["pack"].startswith(venv) and info["pack"].endswith(".so")
    assert bytes.fromhex(info["packed"]) == "abé".encode()
    assert not info["file"].startswith(str(REPO))
    assert bytes.fromhex(info["frame"]) == b"d\x00\x00\x00\x09abcde"
    assert (info["sent"], info["has_data"], info["owed"]) == (5, False, 0)
    assert info["version"] == VERSION


def test_installed_package_has_every_module_and_py_typed(installed):
    info = _run(installed, """
        import json, os, zcimport
        d = os.path.dirname(zcimport.__file__)
        print(json.dumps(sorted(os.listdir(d))))
    """)
    for name in ["__init__.py", "_async.py", "_accessor.py", "_copy.py", "_drivers.py",
                 "_encode.py", "_format.py", "_objects.py", "_plan.py", "py.typed"]:
        assert name in info
    for ext in ("_wire.", "_pack."):
        assert any(n.startswith(ext) and n.endswith(".so") for n in info)
    assert not any(n.endswith(".c") for n in info)


def test_installed_package_plans_and_dumps(installed):
    info = _run(installed, """
        import io, json
        import pandas as pd, zcimport
        df = pd.DataFrame({"a": [1, 2, 3], "s": ["x", None, "z"]})
        buf = io.BytesIO()
        zcimport.dump(df, buf)
        plan = zcimport.plan(df)
        print(json.dumps({"size": len(buf.getvalue()), "wire": [c.wire_type for c in plan]}))
    """)
    assert info["wire"] == ["int64", "utf8"]
    assert info["size"] > 0


def test_metadata_comes_from_pyproject(installed):
    info = _run(installed, """
        import json
        from importlib import metadata
        m = metadata.metadata("zcimport")
        eps = [(e.name, e.value) for e in metadata.entry_points(group="console_scripts")
               if e.name == "zcimport"]
        print(json.dumps({"name": m["Name"], "version": m["Version"],
                          "requires_python": m["Requires-Python"],
                          "requires": metadata.requires("zcimport"),
                          "extras": m.get_all("Provides-Extra"), "eps": eps}))
    """)
    assert info["name"] == "zcimport" and info["version"] == VERSION
    assert info["requires_python"] == ">=3.11"
    # "psycopg (>=3.1.8)" or "psycopg>=3.1.8", 'extra == "x"' or "extra == 'x'"
    requires = {re.sub(r"[\s()]", "", r).replace('"', "'") for r in info["requires"]}
    assert {"numpy>=1.26", "pandas>=2.2", "psycopg>=3.1.8", "pyarrow>=18;extra=='arrow'",
            "polars>=1.10;extra=='polars'", "pyarrow>=18;extra=='polars'",
            "SQLAlchemy>=2.0;extra=='sqlalchemy'", "psycopg2>=2.9;extra=='psycopg2'",
            "tqdm>=4.66;extra=='progress'", "tables>=3.9;extra=='hdf5'"} == requires
    assert sorted(info["extras"]) == ["arrow", "hdf5", "polars", "progress", "psycopg2",
                                      "sqlalchemy"]
    assert info["eps"] == [["zcimport", "zcimport.cli:main"]]


def test_console_script(installed):
    script = installed["venv"] / "bin" / "zcimport"
    assert script.exists() and os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!" + str(installed["venv"]))
    assert "from zcimport.cli import main" in text
    has_cli = _run(installed, """
        import importlib.util, json
        print(json.dumps(importlib.util.find_spec("zcimport.cli") is not None))
    """)
    if not has_cli:
        pytest.skip("zcimport/cli.py does not exist yet: the script is installed, not run")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                         env=_clean_env(), cwd=installed["root"], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()


def test_setup_py_still_builds_in_place(tmp_path):
    """What `make` runs: setup.py build_ext --inplace, next to the sources."""
    _require("setuptools", "setuptools (python/requirements/*.txt)", sys.executable)
    src = tmp_path / "python"
    shutil.copytree(PYTHON_DIR, src, ignore=_IGNORE)
    out = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                         cwd=src, capture_output=True, text=True, env=_clean_env(), timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Beta" not in out.stderr  # no [tool.setuptools] beta warning
    built = sorted((src / "zcimport").glob("_*.so"))
    assert [p.name.split(".")[0] for p in built] == ["_pack", "_wire"]
    env = _clean_env()
    env["PYTHONPATH"] = str(src)
    check = subprocess.run([sys.executable, "-c", "import zcimport._pack as p, zcimport._wire as w;"
                            " print(p.__file__); print(w.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == [str(p) for p in built]


def test_installed_copy_loads_into_the_database(installed, dsn):
    """The installed package (not the checkout) loads a frame end to end."""
    code = """
        import json, sys, psycopg, pandas as pd, zcimport
        with psycopg.connect(sys.argv[1]) as c:
            c.execute("CREATE TEMP TABLE t (a int, s text)")
            n = zcimport.copy_dataframe(pd.DataFrame({"a": [1, 2], "s": ["x", None]}), "t", c)
            rows = c.execute("SELECT a, s FROM t ORDER BY a").fetchall()
        print(json.dumps({"n": n, "rows": rows, "file": zcimport.__file__}))
    """
    out = subprocess.run([str(installed["python"]), "-c", textwrap.dedent(code), dsn],
                         capture_output=True, text=True, env=_clean_env(),
                         cwd=installed["root"], timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["n"] == 2 and info["rows"] == [[1, "x"], [2, None]]
    assert info["file"].startswith(str(installed["venv"]))


@pytest.mark.parametrize("value,werror", [(None, False), ("0", False), ("", False), ("1", True)])
def test_setup_py_makes_warnings_errors_only_when_asked(tmp_path, value, werror):
    """-Werror only with ZCIMPORT_WERROR=1 (make python-ext ZC_WERROR=1): a
    user's pip install must not fail on a new compiler warning."""
    _require("setuptools", "setuptools (python/requirements/*.txt)", sys.executable)
    env = _clean_env()
    env.pop("ZCIMPORT_WERROR", None)
    if value is not None:
        env["ZCIMPORT_WERROR"] = value
    src = tmp_path / "python"
    shutil.copytree(PYTHON_DIR, src, ignore=_IGNORE)
    out = subprocess.run([sys.executable, "setup.py", "--dry-run", "build_ext", "--force",
                          "--build-temp", str(tmp_path / "build")],
                         cwd=src, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    compiles = [line for line in (out.stdout + out.stderr).splitlines()
                if " -c zcimport/_" in line]
    assert sorted(re.search(r"-c (zcimport/_\w+\.c)", c).group(1) for c in compiles) == [
        "zcimport/_pack.c", "zcimport/_wire.c"]
    for c in compiles:
        assert bool(re.search(r" -Werror(\s|$)", c)) == werror, c
