"""The port is the boundary: the services, the API and the web UI never import an adapter.

Read statically (``ast``), so an import inside a function, a ``TYPE_CHECKING``
block or a ``from carbonledger.adapters import evm`` counts as much as one at the
top. One module may: the factory that opens a home's ledger on its backend.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import carbonledger

PACKAGE = Path(carbonledger.__file__).parent
LAYERS = ("api", "web", "services")
FACTORY = PACKAGE / "services" / "backends.py"
#: Concrete backends (group commit, the log format and the verify checks are not one).
CONCRETE = (
    "carbonledger.adapters.sqlite",
    "carbonledger.adapters.evm",
    "carbonledger.adapters.sqlstore",
)


def _is_concrete(module: str) -> bool:
    return any(module == c or module.startswith((c + ".", c + "_")) for c in CONCRETE)


def concrete_imports(path: Path) -> list[str]:
    """``line: module`` for every import of a concrete adapter in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from carbonledger.adapters import evm`` names the adapter as an attribute
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found += [f"{node.lineno}: {n}" for n in names if _is_concrete(n)]
    return found


def _layer_files() -> list[Path]:
    """Every module of the layers but the factory."""
    files = (p for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py"))
    return sorted(p for p in files if p != FACTORY)


@pytest.mark.parametrize("path", _layer_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_layer_module_imports_a_concrete_adapter(path: Path) -> None:
    assert concrete_imports(path) == []


def test_the_check_sees_every_way_of_importing_an_adapter(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from carbonledger.ports.ledger import LedgerPort\n"
        "from carbonledger.adapters.group_commit import GroupCommitLedger\n"
        "if TYPE_CHECKING:\n"
        "    from carbonledger.adapters.evm import EvmLedger\n"
        "def f():\n"
        "    import carbonledger.adapters.sqlite_ledger\n"
        "    from carbonledger.adapters import sqlstore\n"
        "    from carbonledger.adapters.sqlite.ledger import SqliteLedger\n"
    )
    assert concrete_imports(source) == [
        "5: carbonledger.adapters.evm",
        "5: carbonledger.adapters.evm.EvmLedger",
        "7: carbonledger.adapters.sqlite_ledger",
        "8: carbonledger.adapters.sqlstore",
        "9: carbonledger.adapters.sqlite.ledger",
        "9: carbonledger.adapters.sqlite.ledger.SqliteLedger",
    ]


def test_the_factory_is_where_the_layers_get_their_ledgers() -> None:
    assert FACTORY not in _layer_files()
    assert concrete_imports(FACTORY), "the factory opens the backends itself"
    assert len(_layer_files()) > 50  # the layers were found where they are


def test_the_layers_import_services_by_name_in_code_not_at_run_time() -> None:
    """A service the pages use is a plain import (a renamed or missing module fails at
    import and in mypy), never a name looked up with importlib at run time."""
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in [*_layer_files(), FACTORY]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "importlib"
    ]
    assert found == []
