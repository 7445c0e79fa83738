"""The contract enforces the ledger's rules by itself, from any sender.

Each forgery is signed by a real, enrolled key and sent straight to the contract
with the core's rules switched off (as a node that skipped them, or anyone
calling ``submit`` with its own EVM account would): the chain alone must refuse
it, with the error class the embedded backend raises, and nothing reaches the
off-chain store. The positive paths (the conformance suite) run with the rules on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto import x509ca
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import (
    CarbonLedgerError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SignatureInvalid,
)
from carbonledger.services.identity import make_enrolment_request, register_user
from tests.conformance.suite import _rec
from tests.conformance.test_evm import _evm_world
from tests.conformance.world import LEDGER_ID, PASS, World


@pytest.fixture
def world(anvil_url: str, tmp_path: Path) -> Iterator[World]:
    w = _evm_world(anvil_url, tmp_path)
    yield w
    w.ledger.close()


def _tx(w: World, key: PrivateKey, tx_type: str, items: list[dict[str, Any]]) -> SignedTx:
    nonce = w.ledger.state().next_nonce(key.address)
    return build_tx(
        key, tx_type=tx_type, ledger_id=LEDGER_ID, nonce=nonce, created=utc_now(), items=items
    )


def _forge(
    w: World,
    monkeypatch: pytest.MonkeyPatch,
    tx: SignedTx,
    error: type[CarbonLedgerError],
    match: str,
    hints: list[int] | None = None,
) -> None:
    """Send ``tx`` with the core's rules off (and ``hints`` if given): the chain refuses it."""
    from carbonledger.adapters.evm import calls as evm_calls
    from carbonledger.adapters.evm import ledger as evm_ledger

    size = w.ledger.state().size
    with monkeypatch.context() as m:
        m.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
        if hints is not None:
            m.setattr(evm_ledger.EvmLedger, "_hints", staticmethod(lambda *a: hints))
        with pytest.raises(error, match=match):
            w.ledger.submit([tx])
    assert w.ledger.state().size == size


UUID = "0b6f3c1e-5d2a-5f4b-9c3d-2e1f0a9b8c7d"


def _record(site: str, org: str, rid: str = UUID) -> dict[str, Any]:
    """An emissions record's public item, well formed (the core's shape). With a UUID
    for id it travels compactly (adapters.evm.compact), else as JSON."""
    account = hashlib.sha256(b"meter 1").hexdigest()
    return {
        "kind": "emissions_record",
        "id": rid,
        "org": org,
        "site": site,
        "account": account,
        "activity": "electricity",
        "period": {"start": "2024-01-01", "end": "2024-01-31"},
        "trace": {"schema": "carbonledger.trace/1", "basis": "ab" * 32, "scope": "2"},
        "detail": {"channel": org, "epoch": 0, "blob": "cd" * 32, "commitment": "ef" * 32},
    }


def test_enrolment_gets_the_registered_roles_never_a_hint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    # A key with no registration at all, claiming every dealer role in the hint.
    stranger = PrivateKey.generate()
    # Certified by acme's CA (the contract checks that before the registration).
    csr = x509ca.make_csr(stranger, common_name="mallory", org_id="acme")
    forged = x509ca.issue_certificate(
        w.ca._load("org-acme", PASS), csr, roles=["member"], org_id="acme"
    ).decode()
    item = {"kind": "identity", "id": "mallory", "org": "acme", "certificate": forged}
    item["secret"] = "s"
    _forge(
        w, monkeypatch, _tx(w, stranger, "enroll", [item]), NotFound, "NotRegistered", [8 | 16 | 32]
    )
    # A registered member with the wrong secret.
    secret = register_user(w.ledger, w.admin, org="acme", name="mallory", roles=["member"])
    key, request = make_enrolment_request("acme", "mallory", secret)
    cert = w.ca.issue(w.ledger, request, PASS)
    wrong = {**item, "certificate": cert, "secret": secret + "x"}
    _forge(w, monkeypatch, _tx(w, key, "enroll", [wrong]), PermissionDenied, "WrongSecret")
    # The right secret, with the hint claiming dealer and auditor roles: the chain gives the
    # registered roles only (member), so a REC issued by this key is refused on chain.
    from carbonledger.adapters.evm import calls as evm_calls
    from carbonledger.adapters.evm import ledger as evm_ledger

    right = {**wrong, "secret": secret}
    with monkeypatch.context() as m:
        m.setattr(evm_ledger.EvmLedger, "_hints", staticmethod(lambda *a: [8 | 16 | 32]))
        w.ledger.submit([_tx(w, key, "enroll", [right])])
    w.users["acme/mallory"] = key
    _forge(
        w,
        monkeypatch,
        _tx(w, key, "enroll", [right]),
        CarbonLedgerError,
        "KeyEnrolled|RegistrationUsed",
    )
    with monkeypatch.context() as m:
        m.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
        with pytest.raises(PermissionDenied, match="MissingRole"):
            w.ledger.submit([_issue_rec(w, key)])
    # A registration whose secret expired (in 2020): its enrolment is refused on chain.
    from carbonledger.core.rules.identity import secret_hash

    old = {
        "kind": "registration",
        "id": "late",
        "org": "acme",
        "roles": ["member"],
        "salt": "00" * 16,
        "secret_sha256": secret_hash("00" * 16, "s3cret"),
        "expires": "2020-01-01T00:00:00Z",
    }
    w.ledger.submit([_tx(w, w.admin, "register_identity", [old])])
    late = {**item, "id": "late", "secret": "s3cret"}
    tx = _tx(w, PrivateKey.generate(), "enroll", [late])
    _forge(w, monkeypatch, tx, PermissionDenied, "the enrolment secret expired: EnrolmentExpired")
    report = w.ledger.verify()
    assert report.ok, report.error


def _issue_rec(w: World, key: PrivateKey) -> SignedTx:
    item = {
        "kind": "token",
        "type": "REC",
        "id": "rec-forged",
        "to": w.alice.address,
        "amount": 5,
        "facility": "nowhere",
    }
    return _tx(w, key, "issue_token", [item])


def test_a_revocation_by_a_non_admin_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    item = {"kind": "revocation", "address": w.bob.address, "reason": "forged"}
    # alice is a member of acme; bob belongs to globex; dana is an auditor elsewhere.
    for signer in (w.alice, w.dana):
        _forge(
            w,
            monkeypatch,
            _tx(w, signer, "revoke_identity", [item]),
            PermissionDenied,
            "NotOrgAdmin",
        )
    admin_item = {**item, "address": w.admin.address}
    _forge(
        w,
        monkeypatch,
        _tx(w, w.admin, "revoke_identity", [admin_item]),
        PermissionDenied,
        "NetworkAdminKey",
    )
    nobody = {**item, "address": PrivateKey.generate().address}
    _forge(w, monkeypatch, _tx(w, w.admin, "revoke_identity", [nobody]), NotFound, "NotAnIdentity")
    assert w.ledger.state().identities[w.bob.address]["status"] == "active"


@pytest.mark.parametrize("rid", [UUID, "not-a-uuid"])
def test_a_record_for_another_organisations_site_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch, rid: str
) -> None:
    """Records travelling compactly (a UUID id) and as JSON (any other id) alike."""
    w = world
    # bob (globex) writes for acme's site, naming acme, then naming globex.
    for org, error in (("acme", "NotWriter"), ("globex", "SiteOfOtherOrg")):
        tx = _tx(w, w.bob, "record_emissions", [_record("acme-chi", org, rid)])
        _forge(w, monkeypatch, tx, PermissionDenied, error)
    # A dealer of another organisation, and a site that does not exist.
    tx = _tx(w, w.recs, "record_emissions", [_record("acme-chi", "acme", rid)])
    _forge(w, monkeypatch, tx, PermissionDenied, "NotWriter")
    tx = _tx(w, w.alice, "record_emissions", [_record("acme-nowhere", "acme", rid)])
    _forge(w, monkeypatch, tx, NotFound, "UnknownSite")


def test_a_compact_record_is_hashed_as_what_was_signed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob signs a record for his own site (EIP-712 typed data over its compact bytes);
    the calldata says acme's site instead: the digest of what was sent recovers another
    key than bob's, so the entry is refused."""
    from carbonledger.adapters.evm import calls as evm_calls

    w = world
    tx = _tx(w, w.bob, "record_emissions", [_record("globex-hq", "globex")])
    real_encode = evm_calls.encode_typed

    def forged(t: SignedTx, packed: Sequence[bytes], carried: Sequence[bytes]) -> bytes:
        (real,) = packed
        changed = real.replace(b"\x09globex-hq", b"\x08acme-chi")
        assert changed != real
        return real_encode(t, [changed], carried)

    monkeypatch.setattr(evm_calls, "encode_typed", forged)
    _forge(w, monkeypatch, tx, SignatureInvalid, "BadSignature")


def test_a_grant_by_a_non_admin_of_the_channel_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    item = {
        "kind": "channel_grant",
        "channel": "acme",
        "member": w.dana.address,
        "role": "auditor",
        "until": None,
        "keys": {"0": "ab" * 32},
    }
    for signer in (w.alice, w.bob):
        _forge(
            w, monkeypatch, _tx(w, signer, "channel_grant", [item]), PermissionDenied, "NotOrgAdmin"
        )
    # Even the admin may grant a member's access only to the organisation's own people.
    other = {**item, "member": w.bob.address, "role": "member"}
    _forge(w, monkeypatch, _tx(w, w.admin, "channel_grant", [other]), PermissionDenied, "OtherOrg")
    unknown = {**item, "channel": "initech"}
    _forge(w, monkeypatch, _tx(w, w.admin, "channel_grant", [unknown]), NotFound, "UnknownOrg")
    assert w.dana.address not in w.ledger.state().channels["acme"]["members"]


def test_organisations_sites_and_registrations_only_by_their_admins(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    site = {
        "kind": "site",
        "id": "acme-forged",
        "org": "acme",
        "name": "Forged",
        "country": "US",
        "zip": "60601",
    }
    for signer in (w.alice, w.bob):
        _forge(
            w, monkeypatch, _tx(w, signer, "register_site", [site]), PermissionDenied, "NotOrgAdmin"
        )
    dup = {**site, "id": "acme-chi"}
    _forge(w, monkeypatch, _tx(w, w.admin, "register_site", [dup]), CarbonLedgerError, "SiteExists")
    org = {
        "kind": "organisation",
        "id": "initech",
        "name": "Initech",
        "admins": [w.alice.address],
        "channel": {"keys": {w.alice.address: "ab" * 32}},
    }
    _forge(
        w, monkeypatch, _tx(w, w.alice, "register_org", [org]), PermissionDenied, "NotNetworkAdmin"
    )
    registration = {
        "kind": "registration",
        "id": "mole",
        "org": "globex",
        "roles": ["org_admin"],
        "salt": "00" * 16,
        "secret_sha256": "ab" * 32,
        "expires": "2099-01-01T00:00:00Z",
    }
    tx = _tx(w, w.alice, "register_identity", [registration])
    _forge(w, monkeypatch, tx, PermissionDenied, "NotOrgAdmin")
    bad_role = {**registration, "roles": ["network_admin"]}
    _forge(
        w, monkeypatch, _tx(w, w.admin, "register_identity", [bad_role]), InvalidInput, "BadRole"
    )
    state = w.ledger.state()
    assert "acme-forged" not in state.sites
    assert "initech" not in state.orgs
    assert "globex/mole" not in state.registrations


def test_any_account_that_pays_the_gas_may_relay(world: World) -> None:
    """No operator: a signed transaction sent from another EVM account is accepted."""
    from carbonledger.adapters.evm.chain import _mine_and_wait, _Sender
    from carbonledger.services.tokens import transfer

    w = world
    ledger: Any = w.ledger
    _rec(w, 10, token_id="rec-relay")
    state = ledger.state()
    tx = _tx(w, w.alice, "transfer_token", [_transfer_item(w, "rec-relay")])
    data, gas, _ = ledger._prepare(state, [tx], utc_now())
    relayer = PrivateKey.generate()
    ledger.rpc.call("anvil_setBalance", relayer.address, hex(10**21))
    sender = _Sender(ledger.rpc, relayer)
    raw, tx_hash = sender.sign(ledger.address, data, gas)
    ledger.rpc.call("eth_sendRawTransaction", raw)
    (receipt,) = _mine_and_wait(ledger.rpc, [tx_hash], True)
    assert receipt is not None
    assert int(receipt["status"], 16) == 1
    assert ledger.sync() == 1
    assert ledger.state().next_nonce(w.alice.address) == tx.nonce + 1
    transfer(ledger, w.bob, token="rec-relay", to="acme/alice", amount=1)
    report = ledger.verify()
    assert report.ok, report.error


def _transfer_item(w: World, token: str) -> dict[str, Any]:
    return {
        "kind": "token_transfer",
        "id": "relayed-1",
        "token": token,
        "from": w.alice.address,
        "to": w.bob.address,
        "amount": 2,
    }
