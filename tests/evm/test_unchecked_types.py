"""An entry the contract keeps nothing of does not stop the nodes: it is kept void.

The contract checks every entry's signature, nonce and active signer, and keeps state
only for the types it judges (identities, organisations, sites, channels, records,
tokens, the DAO). Of any other type (audit reports, disclosures, devices, a type no
rule knows) it keeps only the signer's nonce, so any enrolled user could once put on
the chain an entry that every following node refused, stopping them all. The core
now judges such an entry void on a chain (its nonce taken, nothing of it applied, its
reason named), every node alike and ``verify`` again, since no later state of the
chain can depend on it. Each entry below is signed by acme's member alice and sent
straight to the contract with her node's rules off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tx import build_tx, utc_now
from carbonledger.errors import InvalidInput
from tests.conformance.world import LEDGER_ID, World
from tests.evm.test_channel_owners import send_unchecked
from tests.evm.test_follow_rules import new_node
from tests.evm.test_rules import _tx


def test_an_entry_of_a_type_the_contract_does_not_judge_is_void_on_every_node(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    w = chain
    ledger: Any = w.ledger
    alice = w.alice
    # A type no rule knows, and an audit report by someone who is no auditor.
    unknown = _tx(w, alice, "nonsense", [{"kind": "nonsense"}])
    with pytest.raises(InvalidInput, match="unknown transaction type 'nonsense'"):
        w.ledger.submit([unknown])  # her own node's rules refuse it first
    entries = len(ledger.chain_entries())
    send_unchecked(ledger, unknown, monkeypatch)
    item = {"kind": "audit_report", "org": "acme"}
    report = build_tx(
        alice, tx_type="audit_report", ledger_id=LEDGER_ID, nonce=unknown.nonce + 1,
        created=utc_now(), items=[item],
    )  # fmt: skip
    send_unchecked(ledger, report, monkeypatch)
    # The node that sent them, and a new node, follow on past them.
    w.ledger.sync()  # type: ignore[attr-defined]
    dave = w.user("acme", "dave", ["member"])  # a later entry, judged as ever
    node = new_node(ledger, tmp_path / "node")
    try:
        node.sync()
        state = node.state()
        assert state.nonces[alice.address] == ledger.state().nonces[alice.address]
        assert state.identities[dave.address]["name"] == "dave"
        rows = node._mirror_rows()
        assert len(rows) == entries + 2 + 2  # both void entries, dave's two entries
        checked = node.verify()
        assert checked.ok, checked.error
        notes = " ".join(checked.notes)
        assert f"entry {entries + 1} is void: unknown transaction type 'nonsense'" in notes
        why = f"audit report: signer {alice.address} does not hold the auditor role"
        assert f"entry {entries + 2} is void: {why}" in notes
        mine = ledger.verify()  # the node that sent them judges them alike
        assert mine.ok, mine.error
        assert notes == " ".join(mine.notes)
    finally:
        node.close()  # the two share one JSON-RPC client: closed last
