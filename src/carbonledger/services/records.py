"""Reading emissions records back: full traces, recomputation, totals."""

from __future__ import annotations

from typing import Any

from carbonledger.core.calculator import merge_trace, recompute
from carbonledger.errors import NotFound
from carbonledger.ports.ledger import ItemQuery, LedgerPort, StoredItem

__all__ = ["RecordReader", "find_item"]


def find_item(ledger: LedgerPort, item_id: str) -> StoredItem:
    """The first item with id ``item_id`` (a record, basis, site or organisation)."""
    for stored in ledger.items(ItemQuery(id=item_id, limit=1)):
        return stored
    raise NotFound(f"no record, site or organisation with id {item_id!r}")


class RecordReader:
    """Joins records to their calculation bases (each basis read once)."""

    def __init__(self, ledger: LedgerPort) -> None:
        self._ledger = ledger
        self._bases: dict[str, dict[str, Any]] = {}

    def basis(self, basis_id: str) -> dict[str, Any]:
        basis = self._bases.get(basis_id)
        if basis is None:
            stored = find_item(self._ledger, basis_id)
            if stored.item.get("kind") != "calculation_basis":
                raise NotFound(f"{basis_id} is not a calculation basis")
            basis = self._bases[basis_id] = stored.item["basis"]
        return basis

    def trace(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record's full trace: inputs, results, factor provenance, steps, formula."""
        return merge_trace(record["trace"], self.basis(record["trace"]["basis"]))

    def recompute(self, record: dict[str, Any]) -> dict[str, Any]:
        """Results recomputed from the trace and basis alone."""
        return recompute(self.trace(record))
