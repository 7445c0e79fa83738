"""An organisation with its own admin registers its own people.

The network admin registers an organisation and its first admin (the bootstrap). Once
one of the organisation's own admins (an identity of the organisation with the
org_admin role) has enrolled, only the organisation's own admins register its users:
the network admin's own signed registration of a member or an admin for it, the route
to taking the organisation over, is refused by the embedded ledger, and the contract
reverts it too from that admin's enrolment on (its ``ownAdmin``, the core's
``has_own_admin``), before that admin holds the channel's key as after, with the core's
rules off. The network admin still revokes the organisation's people.

Enrolment: the certificate must chain, signature by signature, to the organisation's
CA certificate recorded on the ledger, whose key the organisation made on its own
node. The network admin, who holds the network CA's key, cannot make one: a CA of its
own for the organisation (its name, signed by the network CA) is refused by the
embedded ledger, and the contract reverts it
(``tests/evm/test_enrolment_certificates.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tx import SignedTx
from carbonledger.crypto import x509ca
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import PermissionDenied
from carbonledger.services.channels import grant
from carbonledger.services.identity import (
    enroll,
    make_enrolment_request,
    register_user,
    revoke_user,
)
from tests.conformance.world import PASS, World
from tests.evm.test_rules import _forge, _tx

OWN = "'acme' has its own admin"


def _registration(w: World, signer: PrivateKey, name: str, roles: list[str]) -> SignedTx:
    """``signer``'s own signed registration of ``name`` in acme (a secret only it knows)."""
    salt = "00" * 16
    item = {"kind": "registration", "id": name, "org": "acme", "roles": roles, "salt": salt}
    item |= {"secret_sha256": hashlib.sha256(bytes(16) + b"mine").hexdigest()}
    return _tx(w, signer, "register_identity", [{**item, "expires": "2099-01-01T00:00:00Z"}])


def _own_user(w: World, registrar: PrivateKey, name: str, roles: list[str]) -> PrivateKey:
    """``registrar`` registers ``name`` in acme; acme's CA certifies the user's key."""
    secret = register_user(w.ledger, registrar, org="acme", name=name, roles=roles)
    key, request = make_enrolment_request("acme", name, secret)
    enroll(w.ledger, key, request, w.ca.issue(w.ledger, request, PASS))
    return key


def test_only_its_own_admins_register_an_organisations_people_once_it_has_one(
    embedded: World,
) -> None:
    w = embedded
    # The bootstrap: the network admin registers acme's first admin.
    ada = w.user("acme", "ada", ["org_admin"])
    for name, roles in (("mole", ["member"]), ("boss", ["org_admin"])):
        with pytest.raises(PermissionDenied, match=OWN):
            w.ledger.submit([_registration(w, w.admin, name, roles)])
        assert f"acme/{name}" not in w.ledger.state().registrations
    # Nor does an admin of another organisation.
    bob_admin = w.user("globex", "gina", ["org_admin"])
    with pytest.raises(PermissionDenied, match="not an admin of 'acme'"):
        w.ledger.submit([_registration(w, bob_admin, "mole", ["member"])])
    # acme's own admin registers its people, admins too.
    carl = _own_user(w, ada, "carl", ["member"])
    abe = _own_user(w, ada, "abe", ["org_admin"])
    state = w.ledger.state()
    assert state.identities[carl.address]["org"] == "acme"
    assert state.registrations["acme/abe"]["registered_by"] == ada.address
    # Other organisations (no admin of their own) are still registered by the network admin.
    w.user("dealers", "dex", ["member"])
    # The network admin still revokes acme's people.
    revoke_user(w.ledger, w.admin, None, carl.address, reason="left", store=w.store)
    assert w.ledger.state().identities[carl.address]["status"] == "revoked"
    # A revoked own admin still counts: the network admin does not take acme back by
    # revoking its admins.
    revoke_user(w.ledger, w.admin, None, ada.address, reason="left", store=w.store)
    revoke_user(w.ledger, w.admin, None, abe.address, reason="left", store=w.store)
    with pytest.raises(PermissionDenied, match=OWN):
        w.ledger.submit([_registration(w, w.admin, "boss", ["org_admin"])])
    report = w.ledger.verify()
    assert report.ok, report.error


def test_the_contract_reverts_the_network_admins_registration_once_its_own_admin_enrolled(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = chain
    # Before acme has an admin of its own the network admin registers for it, on chain.
    w.ledger.submit([_registration(w, w.admin, "early", ["member"])])
    ada = w.user("acme", "ada", ["org_admin"])  # the bootstrap, on chain
    with pytest.raises(PermissionDenied, match=OWN):  # the node's own rules, first
        w.ledger.submit([_registration(w, w.admin, "mole", ["member"])])
    # The window: ada has enrolled but holds no channel key yet. The contract judges as
    # the core does (ownAdmin, set by ada's enrolment), with the core's rules off.
    for name, roles in (("mole", ["member"]), ("boss", ["org_admin"])):
        _forge(
            w, monkeypatch, _registration(w, w.admin, name, roles), PermissionDenied, "OrgOfItsOwn"
        )
    grant(w.ledger, w.store, w.admin, "acme", ada.address)  # acme takes its channel over
    for name, roles in (("mole", ["member"]), ("boss", ["org_admin"])):
        _forge(
            w, monkeypatch, _registration(w, w.admin, name, roles), PermissionDenied, "OrgOfItsOwn"
        )
    # Another organisation's admin, from outside it: reverted too.
    gina = w.user("globex", "gina", ["org_admin"])
    tx = _registration(w, gina, "mole", ["member"])
    _forge(w, monkeypatch, tx, PermissionDenied, "NotOrgAdmin")
    # acme's own admin registers its people on chain.
    carl = _own_user(w, ada, "carl", ["member"])
    revoke_user(w.ledger, w.admin, None, carl.address, reason="left", store=w.store)
    # Revoking its own admin does not hand acme back to the network admin on chain either.
    revoke_user(w.ledger, w.admin, None, ada.address, reason="left", store=w.store)
    _forge(
        w,
        monkeypatch,
        _registration(w, w.admin, "boss", ["org_admin"]),
        PermissionDenied,
        "OrgOfItsOwn",
    )
    assert "acme/mole" not in w.ledger.state().registrations
    report = w.ledger.verify()
    assert report.ok, report.error


def test_a_member_enrolling_does_not_close_the_organisation_to_the_network_admin(
    chain: World,
) -> None:
    # Only an identity with the org_admin role counts (has_own_admin): after acme's first
    # member enrolls, the network admin still registers acme's first admin, on chain.
    w = chain
    w.user("acme", "carl", ["member"])
    ada = w.user("acme", "ada", ["org_admin"])
    assert w.ledger.state().identities[ada.address]["org"] == "acme"
    report = w.ledger.verify()
    assert report.ok, report.error


def _forged_certificate(w: World, csr: bytes) -> str:
    """What the network admin, holding the network CA's key, can sign for acme's user: a
    certificate from a CA of its own making for acme (acme's name, the network CA's
    signature, a key the network admin holds), naming the registered roles."""
    own_ca = x509ca.create_intermediate_ca(w.ca._load("root", PASS), "acme", "Acme Corp")
    return x509ca.issue_certificate(own_ca, csr, roles=["org_admin"], org_id="acme").decode()


def test_the_network_admin_cannot_certify_a_user_of_an_organisation_with_its_own_ca(
    embedded: World,
) -> None:
    w = embedded
    # Registered in the bootstrap, when the network admin may still register for acme.
    secret = register_user(w.ledger, w.admin, org="acme", name="mole", roles=["org_admin"])
    key, request = make_enrolment_request("acme", "mole", secret)
    forged = _forged_certificate(w, request.csr)
    with pytest.raises(PermissionDenied, match=r"certificate refused.*signature does not verify"):
        enroll(w.ledger, key, request, forged)
    assert key.address not in w.ledger.state().identities
    # Only acme's CA (the key acme holds) certifies it.
    enroll(w.ledger, key, request, w.ca.issue(w.ledger, request, PASS))
    assert w.ledger.state().identities[key.address]["org"] == "acme"


def test_on_the_network_admins_node_registering_for_b_after_its_admin_exits_2(
    tmp_path: Path, node: Any
) -> None:
    from tests.api_helpers import PASS as NODE_PASS  # the passphrase the CLI runs with
    from tests.evm_homes import cli_json, cli_ok, org_b_joins
    from tests.process_helpers import run_cli

    # B joins with its own CA key; A registers B and B's first admin, who enrolls on B.
    a, b = org_b_joins(tmp_path, node.url, passphrase=NODE_PASS)
    for grant_first in (False, True):
        if grant_first:  # B takes its channel over: the contract now refuses it as well
            cli_ok(a, "channel", "grant", "orgb", "orgb/bea")
        for roles in ("member", "org_admin"):
            res = run_cli(a, "user", "register", "mole", "--org", "orgb", "--roles", roles)
            assert res.returncode == 2, res.stdout + res.stderr
            (line,) = res.stderr.strip().splitlines()
            assert "organisation 'orgb' has its own admin" in line
    # B's admin registers B's people on B's node.
    cli_ok(b, "user", "register", "carol", "--org", "orgb", "--as", "orgb/bea")
    users = cli_json(a, "user", "list", "--org", "orgb")
    assert "mole" not in {u["name"] for u in users}
