"""Attacks by an auditor whose grant has ended, holding every key it was ever given.

The auditor keeps the wrapped keys of every epoch it was granted. Once its grant
ends, the channel's epoch is *stale*: the core seals nothing new under it, and a
member who writes rotates it (a ``channel_rotate`` before its sealed entries), so
the auditor, with its own private key and the raw SQLite file (every wrapped
key of every epoch, every sealed blob), opens nothing recorded afterwards.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, InvalidInput, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.audit import run_audit
from carbonledger.services.channels import grant, rotate, submit_one
from carbonledger.services.records import RecordReader
from tests.test_access_attacks import _raw_attack, _records, _soon, _wait_past
from tests.test_identity import World


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "home")


def _expired_auditor(world: World) -> tuple[PrivateKey, PrivateKey, str]:
    """acme's member alice (one bill sealed at epoch 0) and auditor dana, whose grant ended."""
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    dana = world.user("audits", "dana", ["auditor"])
    until = _soon(3)
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor",
          until=until)  # fmt: skip
    assert world.bills(alice, "acme-hq", range(1, 2)).recorded == 1
    _wait_past(until)
    return alice, dana, until


def _rotations(world: World) -> list[str]:
    return [s.item["channel"] for s in world.ledger.items(ItemQuery(kind="channel_rotate"))]


def test_a_member_importing_after_the_grant_ended_shuts_the_auditor_out(world: World) -> None:
    alice, dana, _ = _expired_auditor(world)
    # A member (not an admin) imports a bill billed after the grant ended.
    assert world.bills(alice, "acme-hq", range(2, 3)).recorded == 1
    assert _rotations(world) == ["acme"]  # rotated by the import itself, before sealing
    channel = world.ledger.state().channels["acme"]
    assert channel["epoch"] == 1
    assert set(channel["keys"]["1"]) == {world.admin.address, alice.address}
    old, new = _records(world)
    assert (old["detail"]["epoch"], new["detail"]["epoch"]) == (0, 1)
    assert RecordReader.for_member(world.ledger, world.store, alice).detail(new)["amount"] == (
        "987654.321"
    )
    with pytest.raises(PermissionDenied, match="ended at"):
        RecordReader.for_member(world.ledger, world.store, dana).detail(new)
    # Her own key against the raw file: the bill sealed while her grant held opens
    # (the harness works); the one sealed after it ended does not, under any epoch.
    assert _raw_attack(world, dana, old, new) == ([0], [])
    assert _raw_attack(world, alice, new) == ([1],)


def test_a_record_sealed_under_the_stale_epoch_is_refused_by_the_core(world: World) -> None:
    alice, dana, until = _expired_auditor(world)
    (old,) = _records(world)
    # Sealed under epoch 0 (which dana still opens), signed by a member, sent straight.
    replay = {**old, "id": "sealed-under-the-stale-epoch",
              "period": {"start": "2023-03-01", "end": "2023-03-28"}}  # fmt: skip
    with pytest.raises(Conflict) as refused:
        submit_one(world.ledger, alice, "record_emissions", [replay])
    message = str(refused.value)
    assert "stale" in message
    assert dana.address in message
    assert f"ended at {until}" in message
    assert "carbonledger channel rotate acme" in message
    assert len(_records(world)) == 1
    assert world.ledger.verify().ok


def test_a_current_auditor_cannot_seal_a_report_under_the_stale_epoch(world: World) -> None:
    _, _, _ = _expired_auditor(world)
    carol = world.user("audits", "carol", ["auditor"])
    grant(world.ledger, world.store, world.admin, "acme", carol.address, role="auditor")
    # carol may read but not rotate (she does not write acme's records): refused, with
    # the command to run; once a writer rotates, her report is recorded.
    with pytest.raises(Conflict, match="channel rotate acme"):
        run_audit(world.ledger, world.store, carol, "acme", start=date(2023, 1, 1),
                  end=date(2023, 12, 31))  # fmt: skip
    rotate(world.ledger, world.store, world.admin, "acme")
    report = run_audit(world.ledger, world.store, carol, "acme", start=date(2023, 1, 1),
                       end=date(2023, 12, 31))  # fmt: skip
    assert report.verified == 1


def _rotation(channel: str, epoch: int, *holders: str) -> list[dict[str, object]]:
    keys = {a: f"{n:064x}" for n, a in enumerate(holders, start=1)}
    return [{"kind": "channel_rotate", "channel": channel, "epoch": epoch, "keys": keys}]


def test_a_member_rotates_only_a_stale_epoch_and_only_to_the_valid_members(world: World) -> None:
    bob = world.user("acme", "bob", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", bob.address, role="member")
    # While nobody's access has ended, a member may not rotate (only the admin may).
    valid = (world.admin.address, bob.address)
    with pytest.raises(PermissionDenied, match="only a stale epoch"):
        submit_one(world.ledger, bob, "channel_rotate", _rotation("acme", 1, *valid))
    alice, dana, _ = _expired_auditor(world)
    valid = (world.admin.address, bob.address, alice.address)
    # Leaving out a still-valid member, or keeping the expired auditor: refused.
    for holders in (valid[:2], (*valid, dana.address)):
        with pytest.raises(InvalidInput, match="exactly the remaining members"):
            submit_one(world.ledger, alice, "channel_rotate", _rotation("acme", 1, *holders))
    # A current auditor does not write acme's records: it may not rotate.
    carol = world.user("audits", "carol", ["auditor"])
    grant(world.ledger, world.store, world.admin, "acme", carol.address, role="auditor")
    with pytest.raises(PermissionDenied, match="only a stale epoch"):
        submit_one(world.ledger, carol, "channel_rotate",
                   _rotation("acme", 1, *valid, carol.address))  # fmt: skip
    assert world.ledger.state().channels["acme"]["epoch"] == 0
    rotate(world.ledger, world.store, alice, "acme")
    channel = world.ledger.state().channels["acme"]
    assert (channel["epoch"], set(channel["keys"]["1"])) == (1, {*valid, carol.address})
    assert world.ledger.verify().ok
