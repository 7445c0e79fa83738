"""A network of organisations on one chain, each running its own node, used as its people would.

One anvil chain; three homes, each in its own directory with its own keys and its own
``carbonledger serve``: organisation A (``orga``, which deploys the ledger and so is the
network admin), organisation B (``orgb``) and an audit firm (``audita``), both joining with
``chain attach``. Between homes only what a real network exchanges passes: the RPC URL,
the contract's address and each node's server URL (its peers fetch sealed blobs there),
each organisation's CA request (a CSR) and the one-time enrolment secret of its first
admin, handed over out of band. Each organisation
enrolls its own users on its own node and records bills through its own server; every
node shows the others' public records; A grants the audit firm's auditor access and the
auditor audits A on the audit firm's node (sealed totals, each record checked, an
audited-emissions token); a certificate moves from A to B and B retires it; a DAO
proposal is voted on from A's node and B's; every node verifies and all three show the
same public ledger.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from carbonledger.cli import app
from carbonledger.crypto.keys import PrivateKey
from carbonledger.services.home import Home
from tests.api_helpers import PASS, records_over_http, sign_in_over_http
from tests.conformance.test_evm import _need_evm
from tests.process_helpers import free_port, serving

pytestmark = pytest.mark.slow

# eGRID2023 rev. 2, subregion RFCW (ZIP 60601 + utility 4110, ComEd): 916.054 lb CO2e/MWh
# (subregions_egrid2023r2.csv). 1,000 kWh = 1 MWh; 916.054 lb x 0.45359237 kg/lb =
# 415.51510493... kg, rounded half-even to 1e-6. 2,000 kWh: 831.03020986... -> 831.030210.
KG_1000_KWH = Decimal("415.515105")
KG_2000_KWH = Decimal("831.030210")
HOMES = ("a", "b", "audit")
#: What anyone reads on any node (``GET /api/v1/items?kind=...``, no sign-in).
PUBLIC_KINDS = ("organisation", "site", "registration", "identity", "channel_grant",
                "channel_revoke", "calculation_basis", "emissions_record", "channel_read",
                "audit_report", "token", "token_transfer", "token_retirement", "proposal",
                "vote")  # fmt: skip


_RUNNER = CliRunner()


def run_cli(home: Path, *args: str) -> Result:
    """``carbonledger ARGS`` on ``home``: in this process (a CLI process starts in 3-6 s on a
    busy machine; the servers run as their own processes)."""
    env = {
        "CARBONLEDGER_HOME": str(home),
        "CARBONLEDGER_PASSPHRASE": PASS,
        "CARBONLEDGER_USER_PASSPHRASE": PASS,
        "COLUMNS": "500",
    }
    return _RUNNER.invoke(app, list(args), env=env)


def _ok(home: Path, *args: str) -> str:
    res = run_cli(home, *args)
    assert res.exit_code == 0, f"{args}: {res.stdout}{res.stderr}"
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.stdout


def _json(home: Path, *args: str) -> Any:
    return json.loads(_ok(home, *args, "--json"))


#: How long a node's server may take to follow the chain (it polls about once a second;
#: the machine may be loaded).
FOLLOW_S = 90.0


def _followed(*homes: Path) -> None:
    """Wait until each home's server has taken every entry on the chain (no sync by hand:
    ``serve`` follows the chain); ``chain status`` only reads."""
    deadline = time.monotonic() + FOLLOW_S
    for home in homes:
        while True:
            status = _json(home, "chain", "status")
            if status["entries_off_chain"] == status["entries_on_chain"]:
                break
            assert time.monotonic() < deadline, f"{home.name} did not follow: {status}"
            time.sleep(0.5)


def _address(home: Path, who: str) -> str:
    org, _, name = who.partition("/")
    found = [u["address"] for u in _json(home, "user", "list", "--org", org) if u["name"] == name]
    assert len(found) == 1, (who, found)
    return str(found[0])


@dataclass
class Network:
    rpc: str
    contract: str
    root: Path
    a: Path
    b: Path
    audit: Path
    urls: dict[str, str]

    def user_key(self, home: Path, who: str) -> PrivateKey:
        """The user's own key, from the keystore in their own organisation's home."""
        org, _, name = who.partition("/")
        return Home(home).user_key(org, name, PASS)


def _enrol(home: Path, registrar: Path, who: str, roles: str, *, as_: str | None = None) -> None:
    """``registrar`` registers ``who`` (its organisation admin, ``--as``, or the network
    admin); the secret goes to the user, who enrolls with a key made on ``home``."""
    org, _, name = who.partition("/")
    acting = ["--as", as_] if as_ else []
    reg = _json(registrar, "user", "register", name, "--org", org, "--roles", roles, *acting)
    # (a node brings its store to the chain before it signs anything)
    _ok(home, "user", "enroll", name, "--org", org, "--secret", reg["secret"])


def _join(net_root: Path, a: Path, home: Path, org: str, name: str, admin: str) -> None:
    """An organisation joins: its own CA request on its node; the network admin (A)
    certifies and registers it and registers its first admin; the admin enrolls on the
    organisation's node; A hands the channel over (grants the admin its key) and the
    organisation's admin takes A out of it."""
    csr = net_root / f"{org}.csr"  # public: travels to the network admin
    _ok(home, "ca", "request", org, "--name", name, "--out", str(csr))
    assert "PRIVATE KEY" not in csr.read_text()
    _ok(a, "org", "add", org, "--name", name, "--country", "US", "--ca-csr", str(csr))
    _enrol(home, a, f"{org}/{admin}", "org_admin")
    _ok(a, "channel", "grant", org, f"{org}/{admin}")
    network_admin = json.loads((a / "config.json").read_text())["admin"]
    _ok(home, "channel", "revoke", org, network_admin, "--as", f"{org}/{admin}")


def bootstrap(rpc: str, root: Path, urls: dict[str, str]) -> str:
    """The three homes under ``root``, as their people set them up, each node the others'
    peer at ``urls`` (where their servers will run); the contract's address."""
    a, b, audit = (root / h for h in HOMES)
    # A: a ledger with organisation A and its site, deployed to the chain.
    _ok(a, "init", "--name", "carbon-network")
    _ok(a, "org", "add", "orga", "--name", "A Corp", "--country", "US")
    _ok(a, "site", "add", "a-hq", "--org", "orga", "--name", "A HQ", "--country", "US",
        "--zip", "60601", "--utility", "4110")  # fmt: skip
    _ok(a, "chain", "deploy", "--rpc", rpc)
    contract = str(_json(a, "chain", "status")["contract"])

    # B and the audit firm: nodes of their own, from the RPC URL and the address only.
    # Sealed blobs are not on the chain: each node fetches them from the others' servers.
    for home in (b, audit):
        peers = [arg for h in HOMES if h != home.name for arg in ("--peer", urls[h])]
        attach = ("chain", "attach", "--rpc", rpc, "--contract", contract, *peers)
        out = " ".join(_ok(home, *attach).split())
        node = json.loads((home / "config.json").read_text())["node"]
        assert f"this node's key {node}" in out
        assert "on a chain other than anvil or Hardhat's node, fund it for gas" in out
    _ok(a, "chain", "peers", "--add", urls["b"], "--add", urls["audit"])
    _join(root, a, b, "orgb", "B Corp", "bea")
    _join(root, a, audit, "audita", "Audit Firm", "ada")

    # Each organisation enrolls its own users on its own node.
    _enrol(a, a, "orga/alice", "member")
    _enrol(a, a, "orga/rex", "member,rec_dealer")
    _ok(a, "channel", "grant", "orga", "orga/alice")
    _ok(b, "site", "add", "b-plant", "--org", "orgb", "--name", "B Plant", "--country",
        "US", "--zip", "60601", "--utility", "4110", "--as", "orgb/bea")  # fmt: skip
    _enrol(b, b, "orgb/carol", "member", as_="orgb/bea")
    _ok(b, "channel", "grant", "orgb", "orgb/carol", "--as", "orgb/bea")
    _enrol(audit, audit, "audita/dana", "auditor", as_="audita/ada")
    return contract


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    anvil = _need_evm().Anvil()
    root = tmp_path_factory.mktemp("network")
    a, b, audit = (root / h for h in HOMES)
    ports = {h: free_port() for h in HOMES}
    peers = {h: f"http://127.0.0.1:{p}" for h, p in ports.items()}
    try:
        contract = bootstrap(anvil.url, root, peers)
        with (
            serving(a, port=ports["a"]) as url_a,
            serving(b, port=ports["b"]) as url_b,
            serving(audit, port=ports["audit"]) as url_audit,
        ):
            urls = {"a": url_a, "b": url_b, "audit": url_audit}
            yield Network(anvil.url, contract, root, a, b, audit, urls)
    finally:
        anvil.stop()


def _bill(site: str, month: int, kwh: int) -> dict[str, str]:
    return {
        "site": site,
        "account": f"{site}-E1",
        "start": f"2023-{month:02d}-01",
        "end": f"2023-{month:02d}-28",
        "amount": str(kwh),
        "unit": "kWh",
    }


def _post_bills(url: str, auth: dict[str, str], bills: list[dict[str, str]]) -> dict[str, Any]:
    res = httpx.post(f"{url}/api/v1/bills", json=bills, headers=auth, timeout=120)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def _public(url: str, kind: str) -> list[dict[str, Any]]:
    res = httpx.get(f"{url}/api/v1/items", params={"kind": kind, "limit": 1000}, timeout=60)
    assert res.status_code == 200, res.text
    items: list[dict[str, Any]] = res.json()
    return items


def _files(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in home.rglob("*")
        if p.is_file() and not p.name.startswith("offchain.db")
    }


def test_homes_share_no_key_and_no_file(network: Network) -> None:
    homes = [network.a, network.b, network.audit]
    contents = [_files(h) for h in homes]
    for n, mine in enumerate(contents):
        for other in contents[n + 1 :]:
            assert not set(mine.values()) & set(other.values())
    # Each holds the keys of its own people only.
    keys = {
        h.name: sorted(str(p.relative_to(h)) for p in (h / "keys").rglob("*.json")) for h in homes
    }
    assert keys == {
        "a": ["keys/admin.json", "keys/orga/alice.json", "keys/orga/rex.json"],
        "b": ["keys/node.json", "keys/orgb/bea.json", "keys/orgb/carol.json"],
        "audit": ["keys/audita/ada.json", "keys/audita/dana.json", "keys/node.json"],
    }
    cas = {h.name: sorted(p.name for p in (h / "ca").glob("*.key")) for h in homes}
    assert cas == {"a": ["org-orga.key", "root.key"], "b": ["org-orgb.key"],
                   "audit": ["org-audita.key"]}  # fmt: skip
    # B's channel is B's alone: A's admin was taken out before anything was sealed in it.
    members = _json(network.b, "channel", "members", "orgb")["members"]
    assert sorted(m["name"] for m in members) == ["bea", "carol"]
    admin = json.loads((network.a / "config.json").read_text())["admin"]
    assert admin not in {m["address"] for m in members}


def test_each_organisation_records_on_its_own_node_and_every_node_shows_them(
    network: Network,
) -> None:
    alice = sign_in_over_http(network.urls["a"], network.user_key(network.a, "orga/alice"))
    carol = sign_in_over_http(network.urls["b"], network.user_key(network.b, "orgb/carol"))
    posted = _post_bills(network.urls["a"], alice, [_bill("a-hq", m, 1000) for m in (1, 2, 3)])
    assert (posted["recorded"], posted["rejected"]) == (3, []), posted
    # (A recorded the calculation basis both sites use: B's node records it as well.)
    posted = _post_bills(network.urls["b"], carol, [_bill("b-plant", m, 2000) for m in (1, 2)])
    assert (posted["recorded"], posted["rejected"]) == (2, []), posted
    _followed(network.a, network.b, network.audit)

    # Every node serves all five records; the reader sees results where its channel lets it.
    for url, auth in ((network.urls["a"], alice), (network.urls["b"], carol)):
        records = records_over_http(url, auth)
        assert sorted(r["site"] for r in records) == ["a-hq"] * 3 + ["b-plant"] * 2
    mine_a = [r for r in records_over_http(network.urls["a"], alice) if r["org"] == "orga"]
    assert [Decimal(r["kg_co2e"]) for r in mine_a] == [KG_1000_KWH] * 3
    theirs_a = [r for r in records_over_http(network.urls["a"], alice) if r["org"] == "orgb"]
    assert all(r.get("kg_co2e") is None for r in theirs_a)
    mine_b = [r for r in records_over_http(network.urls["b"], carol) if r["org"] == "orgb"]
    assert [Decimal(r["kg_co2e"]) for r in mine_b] == [KG_2000_KWH] * 2
    # A's admin (the network admin) cannot open B's bills on its own node either.
    shown = _json(network.a, "records", "list", "--org", "orgb")
    assert len(shown) == 2
    assert all(r.get("kg_co2e") is None for r in shown)
    own = _json(network.a, "records", "list", "--org", "orga")
    assert [Decimal(str(r["kg_co2e"])) for r in own] == [KG_1000_KWH] * 3


def test_the_auditor_audits_a_on_its_own_node(network: Network) -> None:
    dana_address = _address(network.audit, "audita/dana")
    _ok(network.a, "channel", "grant", "orga", dana_address, "--role", "auditor")
    _followed(network.audit)
    dana = sign_in_over_http(network.urls["audit"], network.user_key(network.audit, "audita/dana"))
    # The records of A, with their sealed results, on the audit firm's own server.
    seen = [r for r in records_over_http(network.urls["audit"], dana) if r["org"] == "orga"]
    assert [Decimal(r["kg_co2e"]) for r in seen] == [KG_1000_KWH] * 3
    # One record opened there: what A billed, recomputed from its trace alone.
    one = httpx.get(f"{network.urls['audit']}/api/v1/records/{seen[0]['id']}", headers=dana)
    assert one.status_code == 200, one.text
    assert (one.json()["billed"]["amount"], one.json()["billed"]["unit"]) == ("1000", "kWh")
    assert Decimal(one.json()["recomputed"]["kg_co2e"]) == KG_1000_KWH
    res = httpx.post(
        f"{network.urls['audit']}/api/v1/audits",
        json={"org": "orga", "start": "2023-01-01", "end": "2023-12-31"},
        headers=dana,
        timeout=300,
    )
    assert res.status_code == 201, res.text
    report = res.json()
    assert (report["records"], report["verified"], report["failures"]) == (3, 3, [])
    # An audited-emissions token for A's records (opentaps' call), minted by the auditor.
    ids = ",".join(r["id"] for r in seen)
    res = httpx.post(
        f"{network.urls['audit']}/api/v1/utilityemissionchannel/emissionscontract/recordAuditedEmissionsToken",
        data={"emissionsRecordsToAudit": ids},
        headers=dana,
        timeout=120,
    )
    assert res.status_code == 201, res.text
    token = res.json()
    # 3 x 415.515105 kg = 1246.545315 kg CO2e = 1,246,545,315 mg, minted retired to A
    assert (token["type"], token["org"], token["unit"]) == ("AUDITED_EMISSIONS", "orga", "mg CO2e")
    assert token["issued"] == token["retired"] == 1_246_545_315
    assert token["issuer"] == dana_address
    _followed(network.a, network.b)
    for url in network.urls.values():
        audits = httpx.get(f"{url}/api/v1/audits", params={"org": "orga"}, timeout=60).json()
        assert [x["id"] for x in audits] == [report["id"]]
        tokens = [t for t in _public(url, "token") if t["id"] == token["tokenId"]]
        assert len(tokens) == 1


def test_a_certificate_moves_from_a_to_b_and_b_retires_it(network: Network) -> None:
    out = _ok(network.a, "rec", "issue", "--as", "orga/rex", "--to", "orga/alice", "--mwh", "10",
              "--facility", "Prairie Wind", "--region", "RFCW", "--generated-from",
              "2023-01-01", "--generated-to", "2023-03-31", "--registry", "M-RETS",
              "--serial-prefix", "MRETS-2023-", "--serial-start", "1")  # fmt: skip
    token = re.search(r"\b(rec-[0-9a-z-]+|[0-9a-f]{8,})\b", out)
    assert token is not None, out
    tid = token.group(1)
    _ok(network.a, "token", "transfer", tid, "--to", "orgb/carol", "--amount", "4",
        "--as", "orga/alice")  # fmt: skip
    _followed(network.b)
    _ok(network.b, "token", "retire", tid, "--amount", "3", "--beneficiary", "B Corp",
        "--reason", "Scope 2 2023", "--org", "orgb", "--site", "b-plant",
        "--period-start", "2023-01-01", "--period-end", "2023-03-31",
        "--as", "orgb/carol")  # fmt: skip
    _followed(network.a, network.audit)
    alice = _address(network.a, "orga/alice")
    carol = _address(network.b, "orgb/carol")
    for home in (network.a, network.b, network.audit):
        held = {r["holder"]: r for r in _json(home, "token", "balance", "--token", tid)}
        # 10 MWh issued to alice; 4 moved to carol, who retired 3 of them
        assert (held[alice]["available"], held[alice]["retired"]) == (6, 0)
        assert (held[carol]["available"], held[carol]["retired"]) == (1, 3)
        assert set(held) == {alice, carol}


def test_a_dao_proposal_is_voted_on_from_two_nodes(network: Network) -> None:
    params = ("voting_delay_ms=0", "voting_period_ms=1h", "quorum=1", "proposal_threshold=10")
    _ok(network.a, "dao", "setup", *(arg for p in params for arg in ("--param", p)))
    _ok(network.a, "dao", "issue", "orga/alice=1000", "orgb/carol=1000")
    out = _ok(network.a, "dao", "propose", "--title", "Raise the quorum", "--description",
              "Two organisations now vote", "--set", "quorum=20000000", "--id", "p-quorum",
              "--as", "orga/alice")  # fmt: skip
    assert "p-quorum" in out
    _ok(network.a, "dao", "vote", "p-quorum", "--amount", "100", "--choice", "for",
        "--as", "orga/alice")  # fmt: skip
    _followed(network.b)
    _ok(network.b, "dao", "vote", "p-quorum", "--amount", "400", "--choice", "against",
        "--as", "orgb/carol")  # fmt: skip
    _followed(network.a, network.audit)
    alice, carol = _address(network.a, "orga/alice"), _address(network.b, "orgb/carol")
    for home in (network.a, network.b, network.audit):
        shown = _json(home, "dao", "show", "p-quorum")
        # quadratic: 100 tokens locked give sqrt(100) = 10 votes, 400 give 20
        (part,) = shown["parts"]
        assert (part["votes"]["for"], part["votes"]["against"]) == ("10", "20"), shown
        assert {b["voter"] for b in shown["ballots"]} == {alice, carol}, shown["ballots"]
        assert shown["voters"] == 2


def test_every_node_verifies_and_shows_the_same_public_ledger(network: Network) -> None:
    _followed(network.a, network.b, network.audit)
    users = {"a": "orga/alice", "b": "orgb/carol", "audit": "audita/dana"}
    views = []
    for name, home in (("a", network.a), ("b", network.b), ("audit", network.audit)):
        report = _json(home, "verify")
        assert report["ok"] is True, (name, report)
        status = _json(home, "chain", "status")
        assert status["entries_on_chain"] == status["entries_off_chain"] == report["entries"]
        # The node's own server verifies too, for one of its own people.
        url = network.urls[name]
        auth = sign_in_over_http(url, network.user_key(home, users[name]))
        verified = httpx.post(f"{url}/api/v1/verify", headers=auth, timeout=300)
        assert verified.status_code == 200, verified.text
        assert verified.json()["ok"] is True, verified.json()
        view: dict[str, Any] = {kind: _public(url, kind) for kind in PUBLIC_KINDS}
        view["status"] = httpx.get(f"{url}/api/v1/status", timeout=60).json()
        views.append(view)
        # Every node waits for no sealed blob and serves each one a record names (B's
        # and A's, taken from each other's servers), as its hash says.
        assert status["waiting_for_blobs"] is None, status
        assert sorted(status["peers"]) == sorted(u for h, u in network.urls.items() if h != name)
        for record in view["emissions_record"]:
            blob_id = record["detail"]["blob"]
            res = httpx.get(f"{url}/api/v1/blobs/{blob_id}", timeout=60)
            assert res.status_code == 200, res.text
            assert hashlib.sha256(res.content).hexdigest() == blob_id
    for kind in PUBLIC_KINDS:
        assert views[0][kind], kind
    assert len(views[0]["emissions_record"]) == 5
    assert views[0]["status"]["organisations"] == 3
    assert views[0] == views[1] == views[2]
