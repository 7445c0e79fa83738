"""Attacks by an auditor whose grant has ended, holding every key it was ever given.

The auditor keeps the wrapped keys of every epoch it was granted. Once its grant
ends, the channel's epoch is *stale*: the core seals nothing new under it, and a
member who writes rotates it (a ``channel_rotate`` before its sealed entries), so
the auditor, with its own private key and the raw SQLite file (every wrapped
key of every epoch, every sealed blob), opens nothing recorded afterwards.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, InvalidInput, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.audit import run_audit
from carbonledger.services.channels import grant, rotate, submit_one
from carbonledger.services.devices import post_credentials
from carbonledger.services.digital_auditor import run_digital_audit
from carbonledger.services.home import Home
from carbonledger.services.records import RecordReader
from tests.access.test_attacks import _raw_attack, _raw_opens, _records, _soon, _wait_past
from tests.cli_helpers import PASS, Run, _clean, _ok
from tests.identity.test_cli import _enroll, acme_and_audits
from tests.identity.test_identity import World
from tests.meters.test_devices import _world as devices_world
from tests.meters.test_devices import readings


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "home")


@pytest.fixture
def cli_home(tmp_path: Path, cli: Run) -> Path:
    """Org acme with site hq, org audits (an audit firm), made through the CLI."""
    return acme_and_audits(tmp_path / "home", cli)


def _expired_auditor(world: World) -> tuple[PrivateKey, PrivateKey, str]:
    """acme's member alice (one bill sealed at epoch 0) and auditor dana, whose grant ended."""
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    dana = world.user("audits", "dana", ["auditor"])
    # The bill first: an auditor's grant carries every epoch so far, and only the grant
    # itself has to land inside the short window (however loaded the machine is).
    assert world.bills(alice, "acme-hq", range(1, 2)).recorded == 1
    until = _soon(3)
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor",
          until=until)  # fmt: skip
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


@pytest.mark.parametrize("workers", ["0", "2"])  # in one process, and the parallel path
def test_through_the_cli_a_members_import_rotates_and_the_raw_file_keeps_the_bill(
    cli: Run, cli_home: Path, tmp_path: Path, workers: str
) -> None:
    world = cli_home
    alice = _enroll(cli, "acme", "alice", "member")
    _ok(cli("channel", "grant", "acme", alice, "--role", "member"))
    dana = _enroll(cli, "audits", "dana", "auditor")
    until = _soon(10)  # room for the refused rotation below on a loaded machine
    _ok(cli("channel", "grant", "acme", dana, "--role", "auditor", "--until", until))
    # While dana's grant holds, alice (a member, not an admin) may not rotate.
    res = _ok(cli("channel", "rotate", "acme", "--as", "acme/alice"), 2)
    assert "only a stale epoch" in _clean(res.stderr)
    _wait_past(until)
    later = tmp_path / "later.csv"
    later.write_text("account,start,end,amount,unit\nE1,2023-04-01,2023-04-30,1300,kWh\n")
    _ok(
        cli(
            "bills",
            "import",
            str(later),
            "--site",
            "hq",
            "--as",
            "acme/alice",
            "--workers",
            workers,
        )
    )
    records = json.loads(_ok(cli("records", "list", "--json")).stdout)
    (new,) = [r for r in records if r["period"]["start"] == "2023-04-01"]
    shown = json.loads(
        _ok(cli("records", "show", new["id"], "--as", "acme/alice", "--json")).stdout
    )
    assert shown["billed"]["amount"] == "1300"
    home = Home(world)
    ledger = home.ledger()
    try:
        (item,) = [s.item for s in ledger.items(ItemQuery(kind="emissions_record", id=new["id"]))]
        assert [s.item["channel"] for s in ledger.items(ItemQuery(kind="channel_rotate"))] == [
            "acme"
        ]
    finally:
        ledger.close()
    ledger_id = str(home.config()["ledger_id"])
    blob = item["detail"]["blob"]
    assert _raw_opens(world, ledger_id, home.user_key("audits", "dana", PASS), blob) == []
    assert _raw_opens(world, ledger_id, home.user_key("acme", "alice", PASS), blob) == [1]


def test_a_members_credential_upload_rotates_before_sealing(tmp_path: Path) -> None:
    world = devices_world(tmp_path / "home")
    alice, dana, until = _expired_auditor(world)
    # The same credential anchored straight under the stale epoch: refused by the core.
    stale = {"kind": "credential", "id": "vc-" + "0" * 40, "sha256": "0" * 64,
             "type": "MeterReadingsCredential",
             "org": "acme", "site": "acme-hq",
             "sealed": {"channel": "acme", "epoch": 0, "blob": "0" * 64}}  # fmt: skip
    with pytest.raises(Conflict, match=f"ended at {until}"):
        submit_one(world.ledger, alice, "anchor_credentials", [stale])
    assert post_credentials(world.ledger, world.store, alice, [readings()]).posted == 1
    (anchor,) = [s.item for s in world.ledger.items(ItemQuery(kind="credential"))]
    assert anchor["sealed"]["epoch"] == 1
    assert _rotations(world) == ["acme"]
    world.ledger.close()
    ledger_id = str(world.home.config()["ledger_id"])
    blob = anchor["sealed"]["blob"]
    assert _raw_opens(world.home.path, ledger_id, dana, blob) == []
    assert _raw_opens(world.home.path, ledger_id, alice, blob) == [1]


def test_an_admins_digital_audit_rotates_before_sealing_its_result(world: World) -> None:
    _, dana, _ = _expired_auditor(world)
    report = run_digital_audit(world.ledger, world.store, world.admin, "acme",
                               start=date(2023, 1, 1), end=date(2023, 12, 31))  # fmt: skip
    (result,) = [s.item for s in world.ledger.items(ItemQuery(kind="audit_result"))]
    assert result["id"] == report.id
    assert result["sealed"]["epoch"] == 1
    assert _rotations(world) == ["acme"]
    world.ledger.close()
    ledger_id = str(world.home.config()["ledger_id"])
    blob = result["sealed"]["blob"]
    assert _raw_opens(world.home.path, ledger_id, dana, blob) == []
    assert _raw_opens(world.home.path, ledger_id, world.admin, blob) == [1]
