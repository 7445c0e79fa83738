"""EVM backend: the ledger on any Ethereum JSON-RPC chain (optional extra ``[evm]``).

Importing this package needs ``eth-account``, ``eth-abi`` and ``httpx``; the core
and the embedded backend never import it.
"""

from __future__ import annotations

from carbonledger.adapters.evm.ledger import EvmLedger, deploy
from carbonledger.adapters.evm.rpc import Rpc, RpcError

__all__ = ["EvmLedger", "Rpc", "RpcError", "deploy"]
