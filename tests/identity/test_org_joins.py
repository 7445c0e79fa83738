"""An organisation joining a ledger with its own CA key, and taking its channel over.

Through the CLI on the embedded ledger (the rules are the core's, the same on every
backend; ``tests/network/test_three_homes.py`` runs the same story on three nodes).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import PASS, Run, _clean, _ok
from tests.identity.test_cli import _enroll


def _home(path: Path, cli: Run) -> Path:
    from carbonledger.services.home import Home

    Home(path).init(PASS, scrypt_n=2**10)
    return path


def test_an_org_ca_key_made_on_its_side_certifies_its_users(cli: Run, tmp_path: Path) -> None:
    home = _home(tmp_path / "home", cli)
    csr = tmp_path / "beta.csr"
    _ok(cli("ca", "request", "beta", "--name", "Beta Ltd", "--out", str(csr)))
    assert csr.read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert not (home / "ca" / "org-beta.crt").exists()  # certified by the network admin
    again = _ok(cli("ca", "request", "beta", "--name", "Beta Ltd"), 2)
    assert "already holds a CA for 'beta'" in _clean(again.stderr)
    _ok(cli("org", "add", "beta", "--name", "Beta Ltd", "--ca-csr", str(csr)))
    recorded = json.loads(_ok(cli("org", "list", "--json")).stdout)
    (beta,) = [o for o in recorded if o["id"] == "beta"]
    assert beta["ca_cert"].startswith("-----BEGIN CERTIFICATE-----")
    # The organisation's CA (its own key, the certificate the ledger holds) certifies users.
    _enroll(cli, "beta", "bea", "org_admin")
    assert (home / "ca" / "org-beta.crt").read_text() == beta["ca_cert"]


def test_a_ca_request_is_refused_for_another_org_or_unreadable(cli: Run, tmp_path: Path) -> None:
    _home(tmp_path / "home", cli)
    csr = tmp_path / "beta.csr"
    _ok(cli("ca", "request", "beta", "--name", "Beta Ltd", "--out", str(csr)))
    res = _ok(cli("org", "add", "gamma", "--name", "Gamma", "--ca-csr", str(csr)), 2)
    assert "the CA request names organisation 'beta', not 'gamma'" in _clean(res.stderr)
    res = _ok(cli("org", "add", "gamma", "--name", "Gamma", "--ca-csr", str(tmp_path / "no")), 2)
    assert "cannot read" in _clean(res.stderr)
    csr.write_text("-----BEGIN CERTIFICATE REQUEST-----\nnonsense\n")
    res = _ok(cli("org", "add", "beta", "--name", "Beta Ltd", "--ca-csr", str(csr)), 2)
    assert "is not a PEM CSR" in _clean(res.stderr)
    assert json.loads(_ok(cli("org", "list", "--json")).stdout) == []


def test_an_org_admin_takes_its_channel_over_from_the_network_admin(
    cli: Run, tmp_path: Path
) -> None:
    home = _home(tmp_path / "home", cli)
    network_admin = json.loads((home / "config.json").read_text())["admin"]
    _ok(cli("org", "add", "beta", "--name", "Beta Ltd", "--country", "US"))
    bea = _enroll(cli, "beta", "bea", "org_admin")
    # The organisation's admin registers its sites and people (--as), not a member.
    _ok(cli("site", "add", "b1", "--org", "beta", "--name", "B1", "--country", "US",
            "--zip", "60601", "--utility", "4110", "--as", "beta/bea"))  # fmt: skip
    # Now that beta has its own admin, the network admin no longer registers its people.
    for roles in ("member", "org_admin"):
        res = _ok(cli("user", "register", "mole", "--org", "beta", "--roles", roles), 2)
        assert len(res.stderr.strip().splitlines()) == 1
        assert "organisation 'beta' has its own admin" in _clean(res.stderr)
    out = _ok(cli("user", "register", "carol", "--org", "beta", "--as", "beta/bea", "--json"))
    secret = json.loads(out.stdout)["secret"]
    _ok(cli("user", "enroll", "carol", "--org", "beta", "--secret", secret))
    res = _ok(cli("site", "add", "b2", "--org", "beta", "--name", "B2", "--country", "US",
                  "--as", "beta/carol"), 2)  # fmt: skip
    assert "is not an admin of 'beta'" in _clean(res.stderr)

    # Before it holds the channel's key, the admin cannot take the network admin out.
    res = _ok(cli("channel", "revoke", "beta", network_admin, "--as", "beta/bea"), 2)
    assert "no admin left" in _clean(res.stderr)
    res = _ok(cli("channel", "grant", "beta", "beta/carol", "--as", "beta/bea"), 2)
    assert f"{bea} is not a member of channel 'beta'" in _clean(res.stderr)
    _ok(cli("channel", "grant", "beta", "beta/bea"))
    _ok(cli("channel", "grant", "beta", "beta/carol", "--as", "beta/bea"))
    # Now that beta's own admin holds the key, the network admin no longer changes it.
    for args in (["rotate", "beta"], ["revoke", "beta", bea]):
        res = _ok(cli("channel", *args), 2)
        assert "run by its organisation's own admins" in _clean(res.stderr)
    # A member who is no admin may not remove anyone.
    res = _ok(cli("channel", "revoke", "beta", network_admin, "--as", "beta/carol"), 2)
    assert "is not an admin of 'beta'" in _clean(res.stderr)
    _ok(cli("channel", "revoke", "beta", network_admin, "--as", "beta/bea"))
    members = json.loads(_ok(cli("channel", "members", "beta", "--json")).stdout)
    assert members["epoch"] == 1
    assert {m["address"] for m in members["members"]} == {bea, _address(cli, "beta/carol")}
    # The last admin (carol is a member, not an admin) stays.
    res = _ok(cli("channel", "revoke", "beta", bea, "--as", "beta/bea"), 2)
    assert "no admin left" in _clean(res.stderr)

    # What carol records now is sealed for beta's people only.
    bills = tmp_path / "b.csv"
    bills.write_text("account,start,end,amount,unit\nE1,2023-01-01,2023-01-31,1000,kWh\n")
    _ok(cli("bills", "import", str(bills), "--site", "b1", "--as", "beta/carol"))
    as_admin = json.loads(_ok(cli("records", "list", "--json")).stdout)
    assert len(as_admin) == 1
    assert as_admin[0].get("kg_co2e") is None
    # eGRID2023 RFCW, 1 MWh: 916.054 lb x 0.45359237 = 415.515105 kg (rounded half-even)
    as_carol = json.loads(_ok(cli("records", "list", "--as", "beta/carol", "--json")).stdout)
    assert as_carol[0]["kg_co2e"] == "415.515105"
    assert _ok(cli("verify")).stdout.startswith("OK")


def _address(cli: Run, who: str) -> str:
    org, _, name = who.partition("/")
    users = json.loads(_ok(cli("user", "list", "--org", org, "--json")).stdout)
    (me,) = [u for u in users if u["name"] == name]
    return str(me["address"])
