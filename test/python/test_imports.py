"""The modules of python/zcimport import one way: their import graph has no cycle.

The graph is read from the source with ``ast``: every ``from . import x``,
``from .x import y``, ``import zcimport.x`` and ``from zcimport import y``,
at module level or inside a function (a function-level import does not make
a cycle go away, it only hides it until the function runs), but not those
under ``if TYPE_CHECKING:``, which never run.  ``from . import name`` where
name is not a submodule is an import of the package's ``__init__``.  The
package importing its submodules is not an edge back: a submodule that
imports ``zcimport`` (``__init__``) while ``__init__`` imports it is.

Needs no database.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "zcimport"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> List[ast.stmt]:
    """The Import/ImportFrom nodes of tree, except under ``if TYPE_CHECKING:``."""
    out: List[ast.stmt] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph(package: Path = PACKAGE) -> Dict[str, Dict[str, int]]:
    """{module: {imported module: line of the first such import}} for the package."""
    modules = {p.stem for p in package.glob("*.py")}
    # submodules that are not Python source: the C extensions (_wire, _pack)
    extensions = {p.name.split(".")[0] for p in package.iterdir()
                  if p.suffix in (".c", ".so", ".pyd")}
    submodules = modules | extensions
    name = package.name
    graph: Dict[str, Dict[str, int]] = {}
    for path in sorted(package.glob("*.py")):
        edges: Dict[str, int] = {}

        def add(target: str, line: int) -> None:
            if target in modules and target != path.stem:
                edges.setdefault(target, line)

        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level > 1:
                    continue  # above the package
                if node.level == 1 or node.module == name or (
                        node.module or "").startswith(name + "."):
                    base = node.module if node.level == 1 else (
                        node.module[len(name) + 1:] if node.module != name else None)
                    if base:
                        add(base.split(".")[0], node.lineno)
                    else:  # from . import a, b / from zcimport import a, b
                        for alias in node.names:
                            add(alias.name if alias.name in submodules else "__init__",
                                node.lineno)
            else:
                for alias in node.names:
                    if alias.name == name:
                        add("__init__", node.lineno)
                    elif alias.name.startswith(name + "."):
                        add(alias.name.split(".")[1], node.lineno)
        graph[path.stem] = edges
    return graph


def find_cycle(graph: Dict[str, Dict[str, int]]) -> Optional[List[str]]:
    """A cycle of the graph as [a, b, ..., a], or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {m: WHITE for m in graph}
    stack: List[str] = []

    def visit(m: str) -> Optional[List[str]]:
        color[m] = GREY
        stack.append(m)
        for n in sorted(graph.get(m, {})):
            if color.get(n, BLACK) == GREY:
                return stack[stack.index(n):] + [n]
            if color.get(n) == WHITE:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        color[m] = BLACK
        return None

    for m in sorted(graph):
        if color[m] == WHITE:
            found = visit(m)
            if found:
                return found
    return None


def all_cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """One cycle per strongly connected component that has one."""
    cycles: List[List[str]] = []
    g = {m: dict(e) for m, e in graph.items()}
    while True:
        cycle = find_cycle(g)
        if cycle is None:
            return cycles
        cycles.append(cycle)
        for m in cycle[:-1]:  # drop the component's nodes and look again
            g.pop(m, None)
        for e in g.values():
            for m in cycle:
                e.pop(m, None)


def _describe(cycle: List[str], graph: Dict[str, Dict[str, int]]) -> str:
    hops = [f"{a}.py:{graph[a][b]} imports {b}" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(cycle) + "  (" + "; ".join(hops) + ")"


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph()
    assert "_copy" in graph and "__init__" in graph
    cycles = all_cycles(graph)
    report = "\n".join(_describe(c, graph) for c in cycles)
    print("import cycles:\n" + (report or "none"))
    assert not cycles, "the modules of python/zcimport import each other in a cycle:\n" + report


def test_the_database_modules_are_layered():
    """_drive <- _ddl <- _upsert <- _base <- _dbapi <- _copy <- _drivers/_async <- _api:
    nothing imports upwards.  _drive (the operations and the sync and async
    drivers) imports nothing of the package; _api (the public functions,
    which dispatch on the connection's type) is imported by nothing below it."""
    graph = import_graph()
    assert graph["_drive"] == {}
    order = ["_drive", "_ddl", "_upsert", "_base", "_dbapi", "_copy", "_drivers", "_async",
             "_api"]
    for i, low in enumerate(order):
        for high in order[i + 1:]:
            if low in graph and high in graph:
                assert high not in graph[low], \
                    f"{low}.py:{graph[low][high]} imports {high}, which is above it"


def test_the_checker_sees_function_level_cycles(tmp_path):
    pkg = tmp_path / "zcimport"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from ._a import f\nfrom . import _b  # noqa\n")
    (pkg / "_a.py").write_text("def f():\n    from ._b import g\n    return g\n")
    (pkg / "_b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._c import x\n"
        "def g():\n    from . import _a\n    return _a\n")
    (pkg / "_c.py").write_text("from ._b import g\n")
    (pkg / "_wire.c").write_text("")
    graph = import_graph(pkg)
    assert graph["_a"] == {"_b": 2}
    assert graph["_b"] == {"_a": 5}  # not _c: under TYPE_CHECKING
    assert find_cycle(graph) == ["_a", "_b", "_a"]
    assert "_a.py:2 imports _b; _b.py:5 imports _a" in _describe(find_cycle(graph), graph)


@pytest.mark.parametrize("module", sorted(p.stem for p in PACKAGE.glob("_*.py")
                                          if p.stem != "__main__"))
def test_each_module_imports_first(module):
    """Every module imports by itself, first, in a fresh interpreter."""
    code = f"import importlib; importlib.import_module('zcimport.{module}')"
    env_path = str(PACKAGE.parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    if out.returncode != 0 and last.startswith("ModuleNotFoundError") and "zcimport" not in last:
        pytest.skip(f"an optional dependency is missing: {last}")
    assert out.returncode == 0, out.stderr


def test_old_names_still_import():
    """Names that moved down a layer are still where they were."""
    copy = importlib.import_module("zcimport._copy")
    drivers = importlib.import_module("zcimport._drivers")
    base = importlib.import_module("zcimport._base")
    ddl = importlib.import_module("zcimport._ddl")
    assert copy.ExtensionNotInstalledError is base.ExtensionNotInstalledError
    assert drivers.ExtensionNotInstalledError is base.ExtensionNotInstalledError
    assert copy._split_table_name is ddl.split_table_name
    for name in ["table_identifier", "copy_statement", "TableArg", "transport", "load",
                 "check_extension", "load_with_driver", "FORCE_LIBPQ"]:
        assert hasattr(copy, name), name
    for name in ["load_with_driver", "describe_transport", "StreamReader", "load_psycopg2",
                 "check_extension_psycopg2", "dbapi_connection", "_chunk_rows", "_load_raw",
                 "PSYCOPG2_TRANSPORT", "READ_BYTES"]:
        assert hasattr(drivers, name), name
