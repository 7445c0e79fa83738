"""Nodes announced on the ledger: a node attached with only the chain's URL and the
contract's address finds its peers there.

An organisation's admin announces its node's base URL (``chain announce URL``); every
node asks the announced URLs for the sealed blobs it does not hold, after the peers its
operator configured. A node following from the chain's first block meets the sealed
entries before the announcement made after them: it reads the announcements further on
in the chain to find where to ask (each blob is checked against the hash its signed
item holds, wherever it came from). Who may announce is a core rule: an organisation's
admin, or the network admin for an organisation without its own admin; the contract
keeps nothing of an announcement but the signer's nonce, so one that breaks the rule,
sent straight to the contract, is void on every node and never a peer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.adapters.evm.exchange import announced_peers
from carbonledger.errors import InvalidInput, PermissionDenied
from tests.api_helpers import PASS
from tests.cli_helpers import _clean
from tests.conformance.test_evm import _need_evm
from tests.conformance.world import World
from tests.evm.test_blobs import ROWS, _blob_ids, _first, _stored, _total
from tests.evm.test_channel_owners import send_unchecked
from tests.evm.test_follow_rules import new_node
from tests.evm.test_rules import _tx
from tests.evm_homes import cli_json, cli_ok, evm_home, org_b_joins, write_bills
from tests.process_helpers import free_port, run_cli, serving


@pytest.fixture
def node() -> Iterator[Any]:
    with _need_evm().Anvil() as running:
        yield running


def _attach_alone(home: Path, rpc: str, contract: str) -> str:
    """``chain attach`` with the chain's URL and the contract's address, and no peer; the
    nodes of these tests are announced at 127.0.0.1, which a node asks only when its
    operator allows private peers (tests/evm/test_private_peers.py)."""
    return _clean(
        cli_ok(
            home, "chain", "attach", "--rpc", rpc, "--contract", contract, "--allow-private-peers"
        )
    )


def _refused(home: Path, *args: str) -> str:
    """The one line on stderr of a CLI run that exits 2."""
    res = run_cli(home, *args)
    assert res.returncode == 2, res.stdout + res.stderr
    (line,) = _clean(res.stderr).strip().splitlines()
    return line


def test_a_node_attached_with_no_peer_reads_the_sealed_records_from_the_announced_node(
    tmp_path: Path, node: Any
) -> None:
    first, contract = _first(tmp_path, node.url)  # bills sealed in the first home's store
    ids = _blob_ids(first)
    third = tmp_path / "third"
    with serving(first) as url:
        # The network admin announces bench's node (bench has no admin of its own yet),
        # after the sealed entries: a node following from block 0 meets those first.
        out = cli_ok(first, "chain", "announce", url, "--org", "bench")
        assert f"node of bench announced at {url}" in out
        _attach_alone(third, node.url, contract)
        status = cli_json(third, "chain", "status")
    assert status["entries_off_chain"] == status["entries_on_chain"]
    assert status["waiting_for_blobs"] is None
    assert status["peers"] == [url]
    assert cli_json(third, "chain", "peers") == [
        {"url": url, "org": "bench", "source": "announced", "refused": None}
    ]
    assert cli_json(first, "chain", "peers") == []  # its own URL is no peer of its own
    assert cli_json(third, "verify")["ok"] is True
    assert all(_stored(third, b) is not None for b in ids)
    # The auditor of bench, with their own key on the third node, reads the records.
    (third / "keys" / "bench").mkdir(parents=True)
    shutil.copy(first / "keys" / "bench" / "aud.json", third / "keys" / "bench")
    seen = cli_json(third, "records", "list", "--limit", "0", "--as", "bench/aud")
    assert len(seen) == ROWS
    assert _total(seen) == _total(cli_json(first, "records", "list", "--limit", "0"))

    # Someone who is no admin of bench, and URLs that are no node's base URL: one line.
    line = _refused(first, "chain", "announce", "http://evil.example", "--as", "bench/aud")
    assert "is not an admin of 'bench'" in line
    for bad in ("http://127.0.0.1:1\n", "ftp://example.org", "http://a b", "http://" + "a" * 200):
        line = _refused(first, "chain", "announce", bad, "--org", "bench")
        assert "is not a node's base URL" in line or "longer than 200" in line
    assert [p["url"] for p in cli_json(third, "chain", "peers")] == [url]


def test_an_announced_node_that_is_down_is_named_and_the_node_catches_up_from_another(
    tmp_path: Path, node: Any
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing answers there
    first, contract = _first_with(tmp_path, node.url, down)
    third = tmp_path / "third"
    out = _attach_alone(third, node.url, contract)
    assert "waiting for sealed blobs" in out
    status = cli_json(third, "chain", "status")
    assert status["entries_off_chain"] < status["entries_on_chain"]
    waiting = status["waiting_for_blobs"]
    assert waiting["peers_tried"] == [down]
    assert f"{down} did not serve them" in waiting["reason"]
    assert status["peers"] == [down]  # taken before the sealed entries: a peer

    # bench announces where its node really is: the third node, still stopped before
    # the sealed entries, finds it further on in the chain and catches up.
    with serving(first) as url:
        cli_ok(first, "chain", "announce", url, "--org", "bench")
        synced = cli_json(third, "chain", "sync")
    assert synced["entries_off_chain"] == synced["entries_on_chain"]
    status = cli_json(third, "chain", "status")
    assert status["waiting_for_blobs"] is None
    assert status["peers"] == [url]  # the latest announcement of bench wins
    assert cli_json(third, "verify")["ok"] is True


def _first_with(tmp_path: Path, rpc: str, announced: str) -> tuple[Path, str]:
    """The first home of :func:`_first`, its node announced at ``announced`` before its
    bills are recorded."""
    first = evm_home(tmp_path / "first", rpc, 3, passphrase=PASS).path
    cli_ok(first, "chain", "announce", announced, "--org", "bench")
    report = cli_json(first, "bills", "import", str(write_bills(tmp_path / "a.csv", 3, 4)))
    assert report["recorded"] == ROWS
    return first, str(cli_json(first, "chain", "status")["contract"])


def test_an_announcement_by_someone_who_may_not_is_refused_and_void_on_every_node(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    w = chain
    ledger: Any = w.ledger
    alice = w.alice  # a member of acme, no admin
    item = {"kind": "node", "org": "acme", "url": "http://alice.example:8000"}
    forged = _tx(w, alice, "announce_node", [item])
    with pytest.raises(PermissionDenied, match="is not an admin of 'acme'"):
        ledger.submit([forged])  # her own node's rules refuse it first
    entries = len(ledger.chain_entries())
    send_unchecked(ledger, forged, monkeypatch)  # the contract takes it: nonce only
    for bad in ("http://acme.example\n", "javascript:alert(1)", "http://acme.example/?q"):
        wrong = _tx(w, w.admin, "announce_node", [{**item, "url": bad}])
        with pytest.raises(InvalidInput, match="is not a node's base URL"):
            ledger.submit([wrong])
    ada = w.user("acme", "ada", ["org_admin"])
    ledger.submit([_tx(w, ada, "announce_node", [{**item, "url": "https://acme.example"}])])
    # acme has its own admin now: the network admin no longer announces for it.
    by_admin = _tx(w, w.admin, "announce_node", [{**item, "url": "https://admin.example"}])
    with pytest.raises(PermissionDenied, match="has its own admin"):
        ledger.submit([by_admin])
    follower = new_node(ledger, tmp_path / "node")
    try:
        follower.sync()
        checked = follower.verify()
        assert checked.ok, checked.error
        why = f"announce the node of 'acme': signer {alice.address} is not an admin of 'acme'"
        assert f"entry {entries + 1} is void: {why}" in " ".join(checked.notes)
        for state in (follower.state(), ledger.state()):
            assert announced_peers(state) == ["https://acme.example"]
            assert state.orgs["acme"]["node"]["by"] == ada.address
    finally:
        follower.close()


def test_an_organisation_with_its_own_admin_announces_its_node_from_its_own_node(
    tmp_path: Path, node: Any
) -> None:
    first, second = org_b_joins(
        tmp_path, node.url, passphrase=PASS
    )  # orgb's own admin bea, on B's node
    b_url = f"http://127.0.0.1:{free_port()}"
    out = cli_ok(second, "chain", "announce", b_url + "/", "--as", "orgb/bea")
    assert f"node of orgb announced at {b_url}" in out
    # The network admin no longer speaks for orgb, as for registering its people.
    line = _refused(first, "chain", "announce", "http://a.example", "--org", "orgb")
    assert "organisation 'orgb' has its own admin" in line
    cli_ok(first, "chain", "sync")
    cli_ok(first, "chain", "peers", "--allow-private-peers")  # b_url is on loopback
    assert cli_json(first, "chain", "peers") == [
        {"url": b_url, "org": "orgb", "source": "announced", "refused": None}
    ]
    assert cli_json(second, "chain", "peers") == []  # its own URL is no peer of its own
