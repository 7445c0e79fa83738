"""A small network built through the ledger port only, on any backend.

Organisations with CAs and channels, sites, dealers, an auditor and members,
each enrolled with a key made on the user's side: every step is a signed
transaction submitted through :class:`~carbonledger.ports.ledger.LedgerPort`, so
the same world is built on the embedded ledger and on an EVM chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonledger.core.domain import Organisation, Site
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.channels import grant
from carbonledger.services.identity import (
    CertificateAuthority,
    enroll,
    make_enrolment_request,
    register_user,
)
from carbonledger.services.registry import register_orgs, register_sites

PASS = "conformance passphrase"
LEDGER_ID = "cl-conformance"
ORGS = (
    Organisation("acme", "Acme Corp", "US"),
    Organisation("globex", "Globex", "US"),
    Organisation("dealers", "Green Dealers", "US"),
    Organisation("audits", "Audit Firm", "GB"),
)
SITES = (
    Site("acme-chi", "acme", "Chicago", "US", "60601", utility_id="4110"),
    Site("globex-hq", "globex", "HQ", "US", "10001", utility_id="4226"),
)

#: Opens a backend for a ledger whose admin (and operator) is ``admin``:
#: returns the port and the channel store that goes with it.
Backend = Callable[[PrivateKey, Path], tuple[LedgerPort, ChannelStore]]


@dataclass
class World:
    ledger: LedgerPort
    store: ChannelStore
    ca: CertificateAuthority
    admin: PrivateKey
    users: dict[str, PrivateKey]

    def user(self, org: str, name: str, roles: list[str]) -> PrivateKey:
        secret = register_user(self.ledger, self.admin, org=org, name=name, roles=roles)
        key, request = make_enrolment_request(org, name, secret)
        enroll(self.ledger, key, request, self.ca.issue(self.ledger, request, PASS))
        self.users[f"{org}/{name}"] = key
        return key

    def __getattr__(self, name: str) -> PrivateKey:
        for path, key in self.users.items():
            if path.endswith("/" + name):
                return key
        raise AttributeError(name)


def genesis_item(admin: PrivateKey, root_ca: str) -> dict[str, Any]:
    return {
        "kind": "ledger",
        "id": LEDGER_ID,
        "name": "conformance",
        "admin": admin.address,
        "admin_public_key": admin.public_key.to_bytes().hex(),
        "root_ca": root_ca,
        "created": "2024-01-01T00:00:00Z",
    }


def build_world(backend: Backend, path: Path) -> World:
    admin = PrivateKey.generate()
    ca = CertificateAuthority(path / "ca")
    root = ca.create_root("conformance network CA", PASS)
    ledger, store = backend(admin, path)
    ledger.submit(
        [
            build_tx(
                admin,
                tx_type="genesis",
                ledger_id=LEDGER_ID,
                nonce=0,
                created=utc_now(),
                items=[genesis_item(admin, root)],
            )
        ]
    )
    certs = {o.id: ca.create_org(o.id, o.name, PASS) for o in ORGS}
    register_orgs(ledger, store, admin, list(ORGS), ca_certs=certs)
    register_sites(ledger, admin, list(SITES))
    world = World(ledger, store, ca, admin, {})
    world.user("dealers", "recs", ["rec_dealer"])
    world.user("dealers", "offsets", ["offset_dealer"])
    world.user("audits", "dana", ["auditor"])
    alice = world.user("acme", "alice", ["member", "consumer"])
    bob = world.user("globex", "bob", ["member"])
    grant(ledger, store, admin, "acme", alice.address, role="member")
    grant(ledger, store, admin, "globex", bob.address, role="member")
    return world


def alice_to_bob(w: World, token: str, n: int, prefix: str) -> list[SignedTx]:
    """``n`` transactions, each a transfer of 1 of ``token`` from alice to bob, with
    consecutive nonces from alice's next one (item ids ``prefix`` + a counter)."""
    nonce = w.ledger.state().next_nonce(w.alice.address)
    return [
        build_tx(
            w.alice,
            tx_type="transfer_token",
            ledger_id=LEDGER_ID,
            nonce=nonce + i,
            created=utc_now(),
            items=[
                {
                    "kind": "token_transfer",
                    "id": f"{prefix}{i}",
                    "token": token,
                    "from": w.alice.address,
                    "to": w.bob.address,
                    "amount": 1,
                }
            ],
        )
        for i in range(n)
    ]


def reopen(ledger: LedgerPort, operator: PrivateKey | None) -> LedgerPort:
    """Close ``ledger`` and open the same ledger again, as a new process would: from
    what the backend stored (the file, the database, the chain and its mirror)."""
    from carbonledger.adapters.group_commit import GroupCommitLedger
    from carbonledger.adapters.sqlite.ledger import SqliteLedger
    from carbonledger.adapters.sqlstore import SqlLedger

    if isinstance(ledger, GroupCommitLedger):
        ledger.close()  # stops its writer after the queued commits, closes the backend
        return GroupCommitLedger(reopen(ledger.inner, operator))
    ledger.close()  # type: ignore[attr-defined]
    if isinstance(ledger, SqliteLedger):
        return SqliteLedger(ledger.path, operator=operator)
    if isinstance(ledger, SqlLedger):
        return SqlLedger(_url(ledger), operator=operator)
    from carbonledger.adapters.evm import EvmLedger, Rpc

    if isinstance(ledger, EvmLedger):
        mirror = ledger.mirror
        where = mirror.path if isinstance(mirror, SqliteLedger) else _url(mirror)
        rpc = Rpc(ledger.rpc.url)  # closing the ledger closed its client
        return EvmLedger(rpc, ledger.address, where, operator, deploy_block=ledger.deploy_block)
    raise TypeError(f"no way to reopen a {type(ledger).__name__}")  # a new backend: add it


def _url(ledger: Any) -> str:
    return str(ledger.engine.url.render_as_string(hide_password=False))
