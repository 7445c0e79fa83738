"""EVM backend: gas of the DAO's transactions for the demo-sized proposal.

    .venv/bin/python benchmarks/dao_gas.py

Starts its own anvil, runs the conformance suite's full proposal (set up, issue
governance tokens, propose a 500 t offset issue and a treasury payment, two
quadratic votes, queue, execute), then moves the DAO-issued offsets like any
token, and prints the gas of each EVM transaction by carbonledger type.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conformance.suite import DAO_TOKEN, _run_proposal
from tests.conformance.world import LEDGER_ID, build_world

from carbonledger.adapters.evm import EvmLedger, Rpc, deploy
from carbonledger.adapters.evm.anvil import Anvil
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.tokens import retire, transfer


def main() -> None:
    with Anvil() as node, tempfile.TemporaryDirectory() as tmp:

        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            rpc = Rpc(node.url)
            info = deploy(rpc, admin, LEDGER_ID)
            ledger = EvmLedger(rpc, info["address"], path / "offchain.db", admin)
            return ledger, ledger.channels

        w = build_world(open_ledger, Path(tmp))
        _run_proposal(w)
        transfer(w.ledger, w.alice, DAO_TOKEN, to="globex/bob", amount=100)
        retire(w.ledger, w.alice, DAO_TOKEN, amount=50, beneficiary="Acme", reason="2023")
        ledger = w.ledger
        assert isinstance(ledger, EvmLedger)
        bodies = [body for _, body, _, _ in ledger._mirror_rows()]
        entries = ledger.chain_entries()
        print(f"{'transaction':<16} {'items':>6} {'gas':>10}")
        for n, (entry, body) in enumerate(zip(entries, bodies, strict=True)):
            tx_type = body.split(b'"type":"')[-1].split(b'"')[0].decode()
            # The DAO's transactions, then the DAO-issued offsets transferred and retired.
            if not tx_type.startswith("dao_") and n < len(entries) - 2:
                continue
            receipt = ledger.rpc.call("eth_getTransactionReceipt", entry["evm_tx"])
            count = int(body.split(b'"count":')[1].split(b",")[0])
            print(f"{tx_type:<16} {count:>6} {int(receipt['gasUsed'], 16):>10,}")


if __name__ == "__main__":
    main()
