"""Reading emissions records back: full traces, sealed details, recomputation.

A record's public item has no result (see :mod:`carbonledger.core.rules.records`):
:meth:`RecordReader.full` gives a member the record as it was calculated, with
its account number, results and kg CO2e opened from the sealed details, and
:meth:`RecordReader.view` gives each reader what it may see: the full record
where it holds the channel's key, the public item elsewhere.
"""

from __future__ import annotations

from typing import Any

from carbonledger.core.calculator import merge_trace, recompute
from carbonledger.core.ids import ambiguous
from carbonledger.core.units import normalise_unit
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, NotFound, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, StoredItem
from carbonledger.services.access import ReadAccess
from carbonledger.services.channels import ChannelKeys
from carbonledger.services.sealing import DetailReader

__all__ = ["RecordReader", "find_item"]

# Items read to tell a unique prefix from an ambiguous one (enough to list some).
_PREFIX_SCAN = 50


def find_item(ledger: LedgerPort, item_id: str) -> StoredItem:
    """The first item with id ``item_id``, or with the one id that starts with it.

    A record, basis, site or organisation; a prefix that names several ids is
    refused, listing them (see :func:`carbonledger.core.ids.resolve_id`).
    """
    if not item_id:
        raise InvalidInput("a record id is needed (got an empty one)")
    for stored in ledger.items(ItemQuery(id=item_id, limit=1)):
        return stored
    found: dict[str, StoredItem] = {}
    for stored in ledger.items(ItemQuery(id_prefix=item_id, limit=_PREFIX_SCAN)):
        found.setdefault(str(stored.item.get("id")), stored)
    if len(found) > 1:
        raise InvalidInput(ambiguous(item_id, found, "record"))
    for stored in found.values():
        return stored
    raise NotFound(f"no record, site or organisation with id {item_id!r}")


class RecordReader:
    """Joins records to their calculation bases and, for members, their sealed details."""

    def __init__(
        self,
        ledger: LedgerPort,
        details: DetailReader | None = None,
        *,
        bases: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """``bases``: calculation bases already read, by id, shared with other readers (a
        basis is named by the SHA-256 of its content: it never changes)."""
        self._ledger = ledger
        self._details = details
        self._bases: dict[str, dict[str, Any]] = {} if bases is None else bases

    @classmethod
    def for_member(
        cls,
        ledger: LedgerPort,
        store: ChannelStore,
        key: PrivateKey,
        *,
        access: ReadAccess | None = None,
    ) -> RecordReader:
        """A reader that opens sealed details with ``key`` (a channel member's).

        Each channel is opened through the read-time access check (``access``, by
        default a :class:`ReadAccess` that records an auditor's read on ``ledger``).
        """
        state = ledger.state()
        gate = access if access is not None else ReadAccess(ledger, key)
        return cls(ledger, DetailReader(ChannelKeys(state, store, key, access=gate), store))

    def basis(self, basis_id: str) -> dict[str, Any]:
        basis = self._bases.get(basis_id)
        if basis is None:
            stored = find_item(self._ledger, basis_id)
            if stored.item.get("kind") != "calculation_basis":
                raise NotFound(f"{basis_id} is not a calculation basis")
            basis = self._bases[basis_id] = stored.item["basis"]
        return basis

    def detail(self, record: dict[str, Any]) -> dict[str, Any]:
        """What was billed (amount, unit, cost, document), for a member of the channel."""
        if "detail" not in record:
            return record
        if self._details is None:
            raise PermissionDenied(
                f"record {record.get('id')}: its details are sealed in channel"
                f" {record['detail']['channel']!r}; a member's key is needed"
            )
        return self._details.detail(record)

    def full(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as a member sees it: the public item with its account number,
        results (``trace.results``) and ``kg_co2e`` opened from the sealed details.

        Raises PermissionDenied (or NotFound for a key not wrapped for the reader)."""
        if record.get("kind") != "emissions_record" or "detail" not in record:
            return record
        detail = self.detail(record)
        results = dict(detail.get("results") or {})
        return {
            **record,
            "account": detail.get("account", record["account"]),
            "account_ref": record["account"],
            "kg_co2e": results.get("kg_co2e"),
            "trace": {**record["trace"], "results": results},
        }

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        """:meth:`full` where this reader holds the channel's key, else the public item."""
        if self._details is None or record.get("kind") != "emissions_record":
            return record
        try:
            return self.full(record)
        except (PermissionDenied, NotFound):
            return record

    def trace(self, record: dict[str, Any]) -> dict[str, Any]:
        """The full trace: inputs and results (for members), factor provenance, steps,
        formula."""
        public = record["trace"]
        if "inputs" not in public and self._details is not None and "detail" in record:
            detail = self._details.detail(record)
            public = {
                **public,
                "inputs": {"amount": detail["amount"], "unit": normalise_unit(detail["unit"])},
                "results": detail.get("results") or public.get("results") or {},
            }
        return merge_trace(public, self.basis(public["basis"]))

    def recompute(self, record: dict[str, Any]) -> dict[str, Any]:
        """Results recomputed from the trace, its basis and the sealed amount."""
        trace = self.trace(record)
        if "inputs" not in trace:
            self.detail(record)  # raises PermissionDenied naming the channel
        return recompute(trace)
