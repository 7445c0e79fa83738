"""Builders shared by the ledger tests (real keys, real SQLite files)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.calculator import basis_id
from carbonledger.core.domain import Organisation, Site, account_ref, record_id
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.channels import new_epoch_keys

LEDGER_ID = "cl-test"
# Records name the calculation basis they were computed with; the tests' records
# share this one, recorded by new_ledger() as entry 4.
BASIS: dict[str, Any] = {"formula": "kg = amount * 0.5 (test basis)"}
BASIS_ID = basis_id(BASIS)
BASIS_ITEM: dict[str, Any] = {"kind": "calculation_basis", "id": BASIS_ID, "basis": BASIS}
# The rules check that a record names a blob its transaction carries, not what the
# blob holds (only members can open it): the tests' records share this one.
BLOB = b"sealed details of the test records"
BLOB_ID = hashlib.sha256(BLOB).hexdigest()


def genesis(key: PrivateKey) -> SignedTx:
    return build_tx(
        key,
        tx_type="genesis",
        ledger_id=LEDGER_ID,
        nonce=0,
        created=utc_now(),
        items=[
            {
                "kind": "ledger",
                "id": LEDGER_ID,
                "name": "test",
                "admin": key.address,
                "admin_public_key": key.public_key.to_bytes().hex(),
                "created": "2024-01-01T00:00:00Z",
            }
        ],
    )


def tx(
    key: PrivateKey,
    tx_type: str,
    nonce: int,
    items: list[dict[str, Any]],
    *,
    ledger_id: str = LEDGER_ID,
) -> SignedTx:
    """A signed transaction carrying ``items`` and, if they name it, the test blob."""
    named = any(ref.blob == BLOB_ID for item in items for ref in referenced_blobs(item))
    return build_tx(
        key,
        tx_type=tx_type,
        ledger_id=ledger_id,
        nonce=nonce,
        created=utc_now(),
        items=items,
        blobs=[BLOB] if named else [],
    )


def record(
    site: str,
    month: int,
    *,
    org: str = "acme",
    account: str = "E1",
    year: int = 2023,
    kwh: int = 1000,
) -> dict[str, Any]:
    start = date(year, 1, 1) + timedelta(days=31 * (month - 1))
    end = start + timedelta(days=29)
    ref = account_ref(site, account)
    return {
        "kind": "emissions_record",
        "id": record_id(site, ref, start, end),
        "org": org,
        "site": site,
        "account": ref,
        "activity": "electricity",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "trace": {"schema": "test", "basis": BASIS_ID, "scope": "2-location"},
        # ``kwh`` makes each record's commitment its own (the details are not opened).
        "detail": {
            "channel": org,
            "epoch": 0,
            "blob": BLOB_ID,
            "commitment": hashlib.sha256(f"{ref}{start}{kwh}".encode()).hexdigest(),
        },
    }


def new_ledger(path: Path, key: PrivateKey, *, sites: int = 2) -> SqliteLedger:
    ledger = SqliteLedger(path, operator=key)
    setup(ledger, key, sites=sites)
    return ledger


def setup(ledger: LedgerPort, key: PrivateKey, *, sites: int = 2) -> None:
    """Genesis, organisation acme (admin ``key``), sites s0.., the test basis: 4 entries."""
    ledger.submit([genesis(key)])
    _, wrapped, hashes = new_epoch_keys(
        LEDGER_ID, "acme", 0, {key.address: key.public_key.to_bytes().hex()}
    )
    ledger.channels.put_keys("acme", 0, wrapped)
    org = Organisation("acme", "Acme").item(admins=[key.address], channel_keys=hashes)
    ledger.submit([tx(key, "register_org", 1, [org])])
    ledger.submit(
        [
            tx(
                key,
                "register_site",
                2,
                [Site(f"s{i}", "acme", f"Site {i}", "US", "60601").item() for i in range(sites)],
            )
        ]
    )
    ledger.submit([tx(key, "record_emissions", 3, [BASIS_ITEM])])


def fill(ledger: LedgerPort, key: PrivateKey, *, txs: int, per_tx: int, site: str = "s0") -> None:
    nonce = ledger.state().next_nonce(key.address)
    month = 1
    batch = []
    for n in range(txs):
        items = []
        for _ in range(per_tx):
            items.append(record(site, month, year=2000))
            month += 1
        batch.append(tx(key, "record_emissions", nonce + n, items))
    ledger.submit(batch)
