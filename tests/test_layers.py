"""The layering rules, read from the source with ``ast`` (nothing is imported).

uipc is built in layers (uipc/__init__.py, README "Layers"): ``uipc/uapi`` (the ABI:
structs and constants), the sans-I/O core ``uipc/kernel``, the wire format
``uipc/protocol``, the daemon ``uipc/server`` and the client ``uipc/client``.
These tests hold the boundaries: every ``import`` and ``from ... import``
under ``uipc/`` counts, at module level, inside functions and under ``if
TYPE_CHECKING:`` alike (a typing import still couples two layers).

- the core imports no I/O module (sockets, threads, clocks, randomness,
  processes, signals, mappings, ``os`` at all) and no outer layer;
- ``uipc/uapi`` imports only pure standard-library modules and itself;
- the client never imports the core or the server: it knows the daemon only
  through the protocol;
- the server never imports the client;
- ``uipc/protocol`` imports the uapi only, and the core only in ``gen.py``,
  the build step that renders docs/protocol.md from the syscall table.

A second test computes the import graph of ``uipc/kernel`` (executed imports
only: ``if TYPE_CHECKING:`` blocks excluded) and allows a cycle only through
``uipc.kernel.kernel``, which the object modules import for types and which
imports them back for its hooks.

``python -m tests.test_layers`` prints every import cycle of the core.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: modules the core may not import: I/O, clocks, randomness, processes, and
#: dynamic imports that would hide any of them from this test
CORE_IO_MODULES = frozenset({
    # the core's rule: no sockets, threads, clocks or os process calls
    "socket", "select", "selectors", "threading", "time", "random", "subprocess", "signal",
    "asyncio", "mmap", "ctypes", "os",
    # the same things under other names
    "_thread", "multiprocessing", "concurrent", "socketserver", "ssl", "fcntl", "termios",
    "resource", "pathlib", "shutil", "tempfile", "io", "logging", "faulthandler",
    "datetime", "sched", "secrets", "uuid", "importlib",
})
#: what the uapi may import: the pure standard library
PURE_STDLIB = frozenset({
    "__future__", "abc", "array", "collections", "dataclasses", "enum", "errno", "functools",
    "itertools", "math", "numbers", "operator", "re", "struct", "types", "typing",
})
#: the layers of the core, outward; the core may use only itself and the uapi
CORE_MAY_IMPORT = ("uipc.kernel", "uipc.uapi")

#: Imports that break a rule today, each with the reason and when it goes.
#: An entry that no longer matches an import fails too, so the list shrinks.
#: (uipc/server/daemon.py's main() imported uipc.client.control for --status
#: and --stop until that moved to uipc/cli/daemon.py.)
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One imported module, as the importing file names it."""

    path: str      #: the importing file, relative to the repository: uipc/kernel/msg.py
    importer: str  #: its module: uipc.kernel.msg
    module: str    #: the absolute module imported: uipc.kernel.ids, os, ...
    line: int
    type_checking: bool  #: under ``if TYPE_CHECKING:`` (never executed)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


# --- reading the source -------------------------------------------------------------
def module_name(path: Path, root: Path) -> str:
    """uipc/kernel/msg.py -> uipc.kernel.msg; uipc/kernel/__init__.py -> uipc.kernel."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package_module(name: str, root: Path) -> bool:
    """Whether ``name`` (a.b.c) is a module or package file under ``root``."""
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node, with whether it sits under ``if TYPE_CHECKING:`` (its else
    branch runs, so it does not count)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_checking
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_checking
                yield from _walk(stmt, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every module the file at ``path`` imports, anywhere in it.

    ``from pkg import name`` imports ``pkg.name`` when that is a module under
    ``root`` (``from uipc.kernel import msg``), else ``pkg`` itself; relative
    imports are resolved against the file's package.
    """
    rel = path.relative_to(root).as_posix()
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=rel)
    for node, tc in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, this, alias.name, node.lineno, tc)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "__future__":
                continue
            # one Import per module: ``from a import x, y`` of a module's names is one
            names = (f"{mod}.{alias.name}" for alias in node.names)
            for name in dict.fromkeys(n if is_package_module(n, root) else mod for n in names):
                yield Import(rel, this, name, node.lineno, tc)


def all_imports(root: Path) -> list[Import]:
    return [imp for path in sorted((root / "uipc").rglob("*.py"))
            for imp in imports_of(path, root)]


# --- the rules ----------------------------------------------------------------------
def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _top(module: str) -> str:
    return module.split(".")[0]


def rule_broken(imp: Import) -> str | None:
    """Which rule ``imp`` breaks, or None."""
    path, mod = imp.path, imp.module
    # the root package re-exports the client (uipc/__init__.py): importing it
    # is importing the client
    uipc_client = mod == "uipc" or _within(mod, "uipc.client")
    if path.startswith("uipc/kernel/"):
        if _top(mod) in CORE_IO_MODULES:
            return "the core does no I/O and uses no clock, randomness or os"
        if _top(mod) == "uipc" and not _within(mod, *CORE_MAY_IMPORT):
            return "the core imports only uipc.kernel and uipc.uapi"
    elif path.startswith("uipc/uapi/"):
        if _top(mod) == "uipc" and not _within(mod, "uipc.uapi"):
            return "the uapi imports only itself"
        if _top(mod) != "uipc" and _top(mod) not in PURE_STDLIB:
            return "the uapi imports only pure standard-library modules"
    elif path.startswith("uipc/client/"):
        if _within(mod, "uipc.kernel", "uipc.server"):
            return "the client reaches the core only through the daemon (uipc.protocol)"
    elif path.startswith("uipc/server/"):
        if uipc_client:
            return "the server never imports the client"
    elif path.startswith("uipc/protocol/"):
        allowed = ("uipc.protocol", "uipc.uapi") + (
            ("uipc.kernel",) if path == "uipc/protocol/gen.py" else ())
        if _top(mod) == "uipc" and not _within(mod, *allowed):
            return ("the protocol imports only uipc.uapi (and uipc.kernel in gen.py, the "
                    "build step)")
    return None


def violations(imports: Iterable[Import]) -> list[tuple[Import, str]]:
    return [(imp, why) for imp in imports if (why := rule_broken(imp)) is not None]


# --- the core's import graph --------------------------------------------------------
def kernel_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    """module -> the uipc.kernel modules it imports when run (TYPE_CHECKING excluded)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.path.startswith("uipc/kernel/"):
            continue
        edges = graph.setdefault(imp.importer, set())
        if not imp.type_checking and _within(imp.module, "uipc.kernel") and \
                imp.module != imp.importer:
            edges.add(imp.module)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    return sorted(c for c in strongly_connected(graph) if len(c) > 1)


def bad_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    return [c for c in cycles(graph) if "uipc.kernel.kernel" not in c]


# --- the tests ----------------------------------------------------------------------
def test_every_layer_keeps_to_its_imports() -> None:
    found = violations(all_imports(ROOT))
    unexpected = [f"{imp}: {why}" for imp, why in found
                  if (imp.path, imp.module) not in KNOWN_EXCEPTIONS]
    assert not unexpected, "layer rules broken:\n" + "\n".join(unexpected)


def test_known_exceptions_still_exist() -> None:
    """Each listed exception still breaks its rule; once fixed, delete its entry."""
    found = {(imp.path, imp.module) for imp, _ in violations(all_imports(ROOT))}
    stale = [f"{path} -> {mod}" for path, mod in KNOWN_EXCEPTIONS if (path, mod) not in found]
    assert not stale, "fixed, delete from KNOWN_EXCEPTIONS:\n" + "\n".join(stale)


def test_core_cycles_only_through_the_kernel_object() -> None:
    graph = kernel_graph(all_imports(ROOT))
    assert "uipc.kernel.kernel" in graph
    bad = bad_cycles(graph)
    assert not bad, "import cycles in uipc/kernel not through uipc.kernel.kernel:\n" + \
        "\n".join(" <-> ".join(c) for c in bad)


# the checker itself, on planted trees: each rule catches what it should
def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in ("uipc", "uipc/kernel", "uipc/uapi", "uipc/client", "uipc/server",
                "uipc/protocol"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").touch()


@pytest.mark.parametrize("rel, text", [
    ("uipc/kernel/bad.py", "def f():\n    import socket\n"),
    ("uipc/kernel/bad.py", "import os.path\n"),
    ("uipc/kernel/bad.py", "from time import monotonic\n"),
    ("uipc/kernel/bad.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    from uipc.server import daemon\n"),
    ("uipc/kernel/bad.py", "from uipc import protocol\n"),
    ("uipc/kernel/bad.py", "from .. import client\n"),
    ("uipc/kernel/bad.py", "import uipc\n"),
    ("uipc/uapi/bad.py", "import socket\n"),
    ("uipc/uapi/bad.py", "from uipc.kernel import ids\n"),
    ("uipc/client/bad.py", "class C:\n    def m(self):\n        from uipc.kernel.ids import ipcperms\n"),
    ("uipc/client/bad.py", "from uipc.server import daemon\n"),
    ("uipc/server/bad.py", "def main():\n    from uipc.client import control\n"),
    ("uipc/server/bad.py", "import uipc\n"),
    ("uipc/protocol/bad.py", "from uipc.kernel import entry\n"),
    ("uipc/protocol/gen.py", "from uipc.server import daemon\n"),
])
def test_checker_catches(tmp_path: Path, rel: str, text: str) -> None:
    _plant(tmp_path, {rel: text, "uipc/kernel/ids.py": "", "uipc/kernel/entry.py": "",
                      "uipc/server/daemon.py": "", "uipc/client/control.py": "",
                      "uipc/protocol/__init__.py": ""})
    found = violations(imports_of(tmp_path / rel, tmp_path))
    assert found, f"{rel}: {text!r} passed the checker"


@pytest.mark.parametrize("rel, text", [
    ("uipc/kernel/ok.py", "import errno\nfrom uipc.kernel.ids import x\nfrom uipc.uapi import ipc\n"),
    ("uipc/kernel/ok.py", "from . import ids\n"),
    ("uipc/uapi/ok.py", "import struct\nfrom dataclasses import dataclass\nfrom uipc.uapi import ipc\n"),
    ("uipc/client/ok.py", "import socket\nfrom uipc import protocol as P\n"),
    ("uipc/server/ok.py", "import socket\nfrom uipc.kernel import ids\n"),
    ("uipc/protocol/gen.py", "from uipc.kernel import entry\n"),
])
def test_checker_allows(tmp_path: Path, rel: str, text: str) -> None:
    _plant(tmp_path, {rel: text, "uipc/kernel/ids.py": "", "uipc/kernel/entry.py": "",
                      "uipc/uapi/ipc.py": "", "uipc/protocol/__init__.py": ""})
    assert violations(imports_of(tmp_path / rel, tmp_path)) == []


def test_cycle_check_on_planted_graphs() -> None:
    through_kernel = {"uipc.kernel.kernel": {"uipc.kernel.msg"},
                      "uipc.kernel.msg": {"uipc.kernel.kernel"}}
    assert cycles(through_kernel) == [["uipc.kernel.kernel", "uipc.kernel.msg"]]
    assert bad_cycles(through_kernel) == []
    elsewhere = {"uipc.kernel.ids": {"uipc.kernel.task"}, "uipc.kernel.task": {"uipc.kernel.ids"},
                 "uipc.kernel.kernel": set()}
    assert bad_cycles(elsewhere) == [["uipc.kernel.ids", "uipc.kernel.task"]]


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    _plant(tmp_path, {"uipc/kernel/a.py": "from typing import TYPE_CHECKING\n"
                                          "if TYPE_CHECKING:\n    from uipc.kernel import b\n"
                                          "else:\n    from uipc.kernel import c\n",
                      "uipc/kernel/b.py": "", "uipc/kernel/c.py": ""})
    imps = list(imports_of(tmp_path / "uipc/kernel/a.py", tmp_path))
    assert [(i.module, i.type_checking) for i in imps if i.module.startswith("uipc.kernel.")] == \
        [("uipc.kernel.b", True), ("uipc.kernel.c", False)]


if __name__ == "__main__":
    graph = kernel_graph(all_imports(ROOT))
    for comp in cycles(graph):
        print(" <-> ".join(comp))
        for v in comp:
            print(f"    {v} -> {', '.join(sorted(graph[v] & set(comp)))}")
    for imp, why in violations(all_imports(ROOT)):
        known = " (known exception)" if (imp.path, imp.module) in KNOWN_EXCEPTIONS else ""
        print(f"{imp}: {why}{known}")
