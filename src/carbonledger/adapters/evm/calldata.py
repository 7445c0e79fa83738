"""EVM transactions' calls, read from the chain once for a node that is behind.

A node that misses an entry's sealed blobs reads the calls of the entries it has not
taken yet, for the nodes they announce (:mod:`~carbonledger.adapters.evm.ahead`); it
then takes those entries, from the same calls (:mod:`~carbonledger.adapters.evm.follow`).
One :class:`Calls` serves both: a call read for one is kept until the node has taken
its entries, so the chain is asked once. What is kept is bounded in bytes of calldata:
past the bound, calls are read and not kept (the earliest, which the node takes first,
are the ones kept).
"""

from __future__ import annotations

from typing import Any

from carbonledger.adapters.evm.packed import Selectors, Typed, decode_call
from carbonledger.adapters.evm.rpc import Rpc

__all__ = ["KEPT_BYTES", "Calls"]

#: At most this many bytes of calldata are kept (each call at most ~120 KB).
KEPT_BYTES = 32 * 1024 * 1024

Decoded = list[tuple[Any, ...] | Typed]


class Calls:
    """The transactions of each EVM transaction's call (:func:`.packed.decode_call`), read
    from ``rpc`` once and kept until :meth:`taken`."""

    def __init__(self, rpc: Rpc, selectors: Selectors, *, kept_bytes: int = KEPT_BYTES) -> None:
        self.rpc, self.selectors, self.kept_bytes = rpc, selectors, kept_bytes
        self._kept: dict[str, tuple[int, Decoded]] = {}
        self._size = 0

    def read(self, evm_tx: str) -> Decoded:
        """The transactions of ``evm_tx``'s call, in order (kept if there is room);
        raises what :func:`.packed.decode_call` raises for calldata it cannot read."""
        found = self._kept.get(evm_tx)
        if found is not None:
            return found[1]
        tx = self.rpc.call("eth_getTransactionByHash", evm_tx)
        data = bytes.fromhex(tx["input"][2:])
        decoded = decode_call(self.selectors, data, f"EVM transaction {evm_tx}")
        if self._size + len(data) <= self.kept_bytes:
            self._kept[evm_tx] = (len(data), decoded)
            self._size += len(data)
        return decoded

    def taken(self, evm_tx: str) -> None:
        """``evm_tx``'s entries are in the store: its call is not kept any more."""
        found = self._kept.pop(evm_tx, None)
        if found is not None:
            self._size -= found[0]
