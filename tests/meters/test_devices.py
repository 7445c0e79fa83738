"""Device, utility and credential registration rules on the ledger (issue #8)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from carbonledger.core.domain import account_ref
from carbonledger.credentials import (
    BitstringStatusList,
    Ed25519Signer,
    issue,
    issue_status_list,
    meter_readings_credential,
    status_entry,
)
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import grant, submit_one
from carbonledger.services.devices import (
    CredentialReader,
    credential_digest,
    ledger_status_checker,
    post_credentials,
    publish_status_list,
    register_device,
    register_utility,
    set_device_status,
)
from tests.identity.test_identity import World

METER = Ed25519Signer.from_seed(b"\x01" * 32)
UTILITY = Ed25519Signer.from_seed(b"\x02" * 32)
STRANGER = Ed25519Signer.from_seed(b"\x03" * 32)


def _world(path: Path) -> World:
    w = World(path)
    register_device(
        w.ledger, w.admin, device_id="m1", did=METER.did, site="acme-hq", meter="E1",
        valid_from=date(2023, 1, 1),
    )  # fmt: skip
    return w


@pytest.fixture
def world(tmp_path: Path) -> World:
    return _world(tmp_path / "home")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One ledger for the refusal table: refused transactions leave it unchanged."""
    return _world(tmp_path_factory.mktemp("shared") / "home")


def readings(signer: Ed25519Signer = METER, *, day: int = 1, meter: str = "E1", **extra):  # type: ignore[no-untyped-def]
    start = datetime(2023, 1, day, tzinfo=UTC)
    unsigned = meter_readings_credential(
        issuer=signer.did,
        meter_id=meter,
        site_id="acme-hq",
        interval_seconds=3600,
        readings=[(start + timedelta(hours=h), "1000") for h in range(24)],
        valid_from=start + timedelta(days=1),
    )
    unsigned.update(extra)
    return issue(unsigned, signer)


def test_registration_is_recorded_and_state_is_json(world: World) -> None:
    register_utility(
        world.ledger, world.admin, utility_id="comed", did=UTILITY.did, name="ComEd",
        eia_id="4110", accounts=["acme-hq/E1"],
    )  # fmt: skip
    state = world.ledger.state()
    assert state.devices["m1"]["did"] == METER.did
    # the ledger names the meter and the billed account by reference, never by number
    ref = account_ref("acme-hq", "E1")
    assert (state.devices["m1"]["site"], state.devices["m1"]["meter_ref"]) == ("acme-hq", ref)
    assert state.devices["comed"]["account_refs"] == [f"acme-hq/{ref}"]
    assert "E1" not in json.dumps(state.devices)
    json.dumps(state.to_json())  # JSON-able: the state is snapshotted as canonical JSON
    assert [s.item["id"] for s in world.ledger.items(ItemQuery(kind="device"))] == ["m1"]
    assert world.ledger.verify().ok


def test_only_the_sites_organisation_admin_registers_a_device(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    with pytest.raises(PermissionDenied, match="not an admin of 'acme'"):
        register_device(
            world.ledger, alice, device_id="m2", did=STRANGER.did, site="acme-hq", meter="E2",
            valid_from=date(2023, 1, 1),
        )  # fmt: skip
    bob = world.user("globex", "bob", ["org_admin"])
    with pytest.raises(PermissionDenied, match="not an admin of 'acme'"):
        register_device(
            world.ledger, bob, device_id="m2", did=STRANGER.did, site="acme-hq", meter="E2",
            valid_from=date(2023, 1, 1),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"id": "m1"}, DuplicateEntity, "already registered"),
        ({"did": METER.did}, Conflict, "already registered to 'm1'"),
        ({"did": "did:key:zNotAKey"}, InvalidInput, "did"),
        ({"site": "nowhere"}, NotFound, "not registered"),
        ({"org": "globex"}, InvalidInput, "belongs to 'acme'"),
        ({"role": "toaster"}, InvalidInput, "role"),
        ({"valid_from": "yesterday"}, InvalidInput, "valid_from"),
        ({"meter_ref": ""}, InvalidInput, "meter_ref must be the account reference"),
        ({"meter_ref": "E2"}, InvalidInput, "the number itself is never public"),
        ({"meter": "E2"}, InvalidInput, r"field\(s\) \['meter'\] may not be public"),
    ],
)
def test_bad_device_registrations_are_refused(
    shared: World, change: dict[str, str], error: type[Exception], message: str
) -> None:
    item = {
        "kind": "device", "id": "m2", "org": "acme", "site": "acme-hq", "did": STRANGER.did,
        "meter_ref": account_ref("acme-hq", "E2"), "role": "meter",
        "valid_from": "2023-01-01T00:00:00Z", **change,
    }  # fmt: skip
    with pytest.raises(error, match=message):
        submit_one(shared.ledger, shared.admin, "register_device", [item])


def test_only_the_network_admin_registers_utilities(world: World) -> None:
    carol = world.user("acme", "carol", ["org_admin"])
    with pytest.raises(PermissionDenied, match="not the network admin"):
        register_utility(world.ledger, carol, utility_id="comed", did=UTILITY.did, eia_id="4110")
    with pytest.raises(InvalidInput, match="EIA utility id or a name"):
        register_utility(world.ledger, world.admin, utility_id="comed", did=UTILITY.did)
    with pytest.raises(NotFound, match="unregistered site"):
        register_utility(
            world.ledger, world.admin, utility_id="x", did=UTILITY.did, name="X",
            accounts=["nowhere/E1"],
        )  # fmt: skip


def test_posted_credentials_are_sealed_and_anchored_by_hash(world: World) -> None:
    credential = readings()
    report = post_credentials(world.ledger, world.store, world.admin, [credential, credential])
    assert (report.posted, report.duplicates, report.rejected) == (1, 1, [])
    (anchor,) = [s.item for s in world.ledger.items(ItemQuery(kind="credential"))]
    assert anchor["sha256"] == credential_digest(credential)
    assert (anchor["holder"], anchor["site"], anchor["account_ref"]) == (
        "m1", "acme-hq", account_ref("acme-hq", "E1"),
    )  # fmt: skip
    assert "readings" not in json.dumps(anchor)  # the readings are sealed, not public
    opened = CredentialReader(world.ledger, world.store, world.admin).credential(anchor)
    assert opened == credential
    again = post_credentials(world.ledger, world.store, world.admin, [credential])
    assert (again.posted, again.duplicates) == (0, 1)
    world.ledger.close()
    raw = b"".join(p.read_bytes() for p in world.home.path.glob("ledger.db*"))
    assert b"2023-01-01T05:00:00Z" not in raw


def test_unregistered_or_mismatched_issuers_are_refused(world: World) -> None:
    report = post_credentials(world.ledger, world.store, world.admin, [readings(STRANGER)])
    assert report.posted == 0
    assert "is not a registered, active device" in report.rejected[0][1]
    wrong_meter = post_credentials(world.ledger, world.store, world.admin, [readings(meter="E9")])
    assert wrong_meter.posted == 0  # the anchor names the device's meter; the rule holds it
    # A poster that names the registered device but another issuer is refused by the rule.
    digest = credential_digest(readings(STRANGER))
    item = {
        "kind": "credential", "id": f"vc-{digest[:40]}", "org": "acme", "site": "acme-hq",
        "type": "MeterReadingsCredential", "issuer": STRANGER.did, "holder": "m1",
        "account_ref": account_ref("acme-hq", "E1"), "period": {"start": "a", "end": "b"},
        "sha256": digest,
        "sealed": {"channel": "acme", "epoch": 0, "blob": "0" * 64},
    }  # fmt: skip
    with pytest.raises(PermissionDenied, match="not the DID registered for 'm1'"):
        submit_one(world.ledger, world.admin, "anchor_credentials", [item])
    with pytest.raises(NotFound, match="not a registered device"):
        submit_one(world.ledger, world.admin, "anchor_credentials", [{**item, "holder": "m9"}])
    # an anchor that also names the account number is refused: the number is sealed
    leaky = {**item, "issuer": METER.did, "account": "E1"}
    with pytest.raises(InvalidInput, match=r"\['account'\] may not be public"):
        submit_one(world.ledger, world.admin, "anchor_credentials", [leaky])


def test_a_revoked_device_can_post_no_more(world: World) -> None:
    assert post_credentials(world.ledger, world.store, world.admin, [readings()]).posted == 1
    alice = world.user("acme", "alice", ["member"])
    with pytest.raises(PermissionDenied, match="not an admin"):
        set_device_status(world.ledger, alice, "m1", status="revoked")
    set_device_status(world.ledger, world.admin, "m1", status="revoked", reason="key leaked")
    with pytest.raises(Conflict, match="already revoked"):
        set_device_status(world.ledger, world.admin, "m1", status="retired")
    report = post_credentials(world.ledger, world.store, world.admin, [readings(day=2)])
    assert report.posted == 0
    assert "not a registered, active device" in report.rejected[0][1]
    assert world.ledger.verify().ok


def test_members_post_and_auditors_do_not(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    assert post_credentials(world.ledger, world.store, alice, [readings()]).posted == 1
    dana = world.user("audits", "dana", ["auditor"])
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor")
    with pytest.raises(PermissionDenied):
        post_credentials(world.ledger, world.store, dana, [readings(day=2)])


def test_status_lists_on_the_ledger_revoke_credentials(world: World) -> None:
    url = "urn:carbonledger:status:m1"
    entry = {"credentialStatus": status_entry(url, 7)}
    credential = readings(**entry)
    bits = BitstringStatusList()
    publish_status_list(world.ledger, world.admin, issue_status_list(bits, METER, list_id=url))
    report = post_credentials(world.ledger, world.store, world.admin, [credential])
    assert report.posted == 1
    bits.set(7)
    publish_status_list(world.ledger, world.admin, issue_status_list(bits, METER, list_id=url))
    assert world.ledger.state().devices[f"status_list:{url}"]["version"] == 2
    checker = ledger_status_checker(world.ledger)
    errors = checker(credential, datetime.now(UTC))
    assert errors
    assert errors[0].startswith("revoked")
    late = post_credentials(world.ledger, world.store, world.admin, [readings(day=3, **entry)])
    assert late.posted == 0
    assert "revoked" in late.rejected[0][1]
    # A list signed by an unregistered DID is refused.
    with pytest.raises(NotFound, match="not a registered DID"):
        publish_status_list(
            world.ledger, world.admin, issue_status_list(bits, STRANGER, list_id="urn:x")
        )
    assert world.ledger.verify().ok
