"""The core's shape, read from its source: no import circle, no impure import.

These parse the package's source with :mod:`ast`, so they fail on the commit that
breaks the rule, whoever runs them.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "carbonledger"
CORE = PACKAGE / "core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(root.rglob("*.py"))}


def _imports(path: Path, name: str) -> Iterator[str]:
    """Every module ``path`` imports, at top level or inside a function (deferred imports count)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # ``from pkg import mod`` imports the submodule ``pkg.mod``.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _core_graph() -> dict[str, set[str]]:
    modules = _modules(CORE)
    return {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle() -> None:
    # a -> b -> c -> a is one circle of three; d hangs off it and is not in it.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_core_has_no_import_cycle() -> None:
    graph = _core_graph()
    assert len(graph) > 30  # the walk really read the core
    assert _cycles(graph) == []


#: What the core may import besides itself and the standard library: the error tree,
#: the package's in-memory cryptography (keys, X.509 chains, sealing, DIDs and
#: credential proofs: functions over bytes, no files, no network), and pure libraries.
ALLOWED_PACKAGE = (
    "carbonledger.errors",
    "carbonledger.crypto.keys",
    "carbonledger.crypto.sealed",
    "carbonledger.crypto.x509ca",
    "carbonledger.crypto.x509chain",
    "carbonledger.credentials.did",
    "carbonledger.credentials.proof",
    "carbonledger.credentials.vc",
)
ALLOWED_LIBRARIES = frozenset({"cryptography", "coincurve", "Crypto", "orjson", "rfc8785", "numpy"})
#: Standard-library modules that do I/O: the core reads no file, socket, process or database.
IO_STDLIB = frozenset({
    "sqlite3", "socket", "http", "urllib", "subprocess", "asyncio", "shutil", "ssl",
    "multiprocessing", "threading", "tempfile", "os", "pathlib", "glob", "requests",
})  # fmt: skip


def _outside(name: str, imported: str) -> bool:
    top = imported.split(".", maxsplit=1)[0]
    if imported.startswith("carbonledger.core") or top == "__future__":
        return False
    if top == "carbonledger":
        # ``from carbonledger.errors import X`` yields the module and ``...errors.X``.
        return not any(imported == a or imported.rpartition(".")[0] == a for a in ALLOWED_PACKAGE)
    if top in sys.stdlib_module_names:
        return top in IO_STDLIB
    return top not in ALLOWED_LIBRARIES


def test_the_purity_check_refuses_adapters_services_and_io() -> None:
    assert _outside("carbonledger.core.x", "carbonledger.adapters.sqlite_ledger")
    assert _outside("carbonledger.core.x", "carbonledger.services.dao")
    assert _outside("carbonledger.core.x", "sqlite3")
    assert _outside("carbonledger.core.x", "httpx")
    assert not _outside("carbonledger.core.x", "carbonledger.errors.InvalidInput")
    assert not _outside("carbonledger.core.x", "decimal")


def test_core_imports_only_itself_errors_stdlib_and_pure_libraries() -> None:
    found = [
        f"{name} imports {imported}"
        for name, path in _modules(CORE).items()
        for imported in sorted(set(_imports(path, name)))
        if _outside(name, imported)
    ]
    assert found == []
