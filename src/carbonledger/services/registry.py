"""Register organisations and sites on the ledger."""

from __future__ import annotations

from collections.abc import Sequence

from carbonledger.core.domain import Organisation, Site
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import LedgerPort, Receipt

__all__ = ["register_orgs", "register_sites"]


def _submit(
    ledger: LedgerPort, key: PrivateKey, tx_type: str, items: list[dict[str, object]]
) -> Receipt:
    state = ledger.state()
    if state.ledger_id is None:
        raise CarbonLedgerError("the ledger has no genesis entry; run `carbonledger init`")
    tx = build_tx(
        key,
        tx_type=tx_type,
        ledger_id=state.ledger_id,
        nonce=state.next_nonce(key.address),
        created=utc_now(),
        items=items,
    )
    return ledger.submit([tx])[0]


def register_orgs(ledger: LedgerPort, key: PrivateKey, orgs: Sequence[Organisation]) -> Receipt:
    return _submit(ledger, key, "register_org", [o.item() for o in orgs])


def register_sites(ledger: LedgerPort, key: PrivateKey, sites: Sequence[Site]) -> Receipt:
    return _submit(ledger, key, "register_site", [s.item() for s in sites])
