"""`user`, `ca`, `channel`, `audit` and `proof --reveal` commands, end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from carbonledger.services.home import Home
from tests.cli.test_cli import BILLS
from tests.cli_helpers import PASS, Run, _clean, _ok


def acme_and_audits(path: Path, cli: Run) -> Path:
    """A home at ``path`` with org acme (site hq) and org audits (an audit firm)."""
    Home(path).init(PASS, scrypt_n=2**10)
    _ok(cli("org", "add", "acme", "--name", "Acme Corp", "--country", "US"))
    _ok(cli("org", "add", "audits", "--name", "Audit Firm", "--country", "GB"))
    _ok(cli("site", "add", "hq", "--org", "acme", "--name", "HQ", "--country", "US",
            "--zip", "60601", "--utility", "4110"))  # fmt: skip
    return path


@pytest.fixture
def world(tmp_path: Path, cli: Run) -> Path:
    """Org acme with site hq and a year-2023 quarter of bills; org audits (an audit firm)."""
    path = acme_and_audits(tmp_path / "home", cli)
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS)
    _ok(cli("bills", "import", str(bills), "--site", "hq"))
    return path


def _enroll(cli: Run, org: str, name: str, roles: str) -> str:
    out = json.loads(_ok(cli("user", "register", name, "--org", org, "--roles", roles,
                             "--json")).stdout)  # fmt: skip
    res = _ok(cli("user", "enroll", name, "--org", org, "--secret", out["secret"]))
    assert f"{name} enrolled as 0x" in _clean(res.stdout)
    users = json.loads(_ok(cli("user", "list", "--org", org, "--json")).stdout)
    (me,) = [u for u in users if u["name"] == name]
    assert me["roles"] == sorted(roles.split(","))
    return str(me["address"])


@pytest.mark.parametrize(
    ("args", "purpose"),
    [
        (("user",), "Identities"),
        (("user", "register"), "one-time enrolment secret"),
        (("user", "enroll"), "make your key here"),
        (("user", "revoke"), "Revoke a user's key"),
        (("user", "list"), "List identities"),
        (("ca",), "Certificate authorities"),
        (("ca", "show"), "Print a CA certificate"),
        (("channel",), "Data channels"),
        (("channel", "grant"), "Grant access"),
        (("channel", "revoke"), "Remove a member"),
        (("channel", "members"), "List a channel's members"),
        (("audit",), "Audits"),
        (("audit", "run"), "Check every record"),
        (("audit", "list"), "List signed audit reports"),
    ],
)
def test_help(cli: Run, args: tuple[str, ...], purpose: str) -> None:
    assert purpose in _clean(_ok(cli(*args, "--help")).stdout)


def test_ca_show_prints_certificates(cli: Run, world: Path) -> None:
    assert _ok(cli("ca", "show")).stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert _ok(cli("ca", "show", "acme")).stdout.startswith("-----BEGIN CERTIFICATE-----")
    res = _ok(cli("ca", "show", "nowhere"), 2)
    assert "no certificate authority 'org-nowhere'" in _clean(res.stderr)


def test_user_lifecycle_and_member_import(cli: Run, world: Path, tmp_path: Path) -> None:
    alice = _enroll(cli, "acme", "alice", "member")
    _ok(cli("channel", "grant", "acme", "acme/alice"))
    members = json.loads(_ok(cli("channel", "members", "acme", "--json")).stdout)
    assert {m["address"]: m["role"] for m in members["members"]}[alice] == "member"
    more = tmp_path / "more.csv"
    more.write_text("account,start,end,amount,unit\nE1,2023-04-01,2023-04-30,1300,kWh\n")
    _ok(cli("bills", "import", str(more), "--site", "hq", "--as", "acme/alice"))
    res = _ok(cli("user", "revoke", "acme/alice", "--reason", "left"))
    assert "revoked" in res.stdout
    more.write_text("account,start,end,amount,unit\nE1,2023-05-01,2023-05-31,1400,kWh\n")
    res = _ok(cli("bills", "import", str(more), "--site", "hq", "--as", "acme/alice"), 2)
    assert "was revoked" in _clean(res.stderr)
    assert _ok(cli("verify")).stdout.startswith("OK")


def test_wrong_secret_and_unknown_user(cli: Run, world: Path) -> None:
    _ok(cli("user", "register", "bob", "--org", "acme"))
    res = _ok(cli("user", "enroll", "bob", "--org", "acme", "--secret", "guess"), 2)
    assert "wrong enrolment secret for 'bob'" in _clean(res.stderr)
    res = _ok(cli("user", "enroll", "nobody", "--org", "acme", "--secret", "x"), 2)
    assert "'nobody' is not registered in 'acme'" in _clean(res.stderr)
    res = _ok(cli("user", "revoke", "acme/nobody"), 2)
    assert "no enrolled identity 'acme/nobody'" in _clean(res.stderr)


def test_auditor_channel_and_audit(cli: Run, world: Path) -> None:
    dana = _enroll(cli, "audits", "dana", "auditor")
    res = _ok(cli("audit", "run", "acme", "--start", "2023-01-01", "--end", "2023-12-31",
                  "--as", "audits/dana"), 2)  # fmt: skip
    assert "is not a member of channel 'acme'" in _clean(res.stderr)
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    _ok(cli("channel", "grant", "acme", dana, "--role", "auditor", "--until",
            until.replace("+00:00", "Z")))  # fmt: skip
    res = _ok(cli("audit", "run", "acme", "--start", "2023-01-01", "--end", "2023-12-31",
                  "--as", "audits/dana", "--json"))  # fmt: skip
    report = json.loads(res.stdout)
    assert (report["records"], report["verified"], report["failures"]) == (3, 3, [])
    listed = json.loads(_ok(cli("audit", "list", "--org", "acme", "--json")).stdout)
    assert [r["id"] for r in listed] == [report["id"]]
    _ok(cli("channel", "revoke", "acme", dana))
    state = json.loads(_ok(cli("channel", "members", "acme", "--json")).stdout)
    assert state["epoch"] == 1
    assert dana not in {m["address"] for m in state["members"]}


def test_proof_reveal_lets_a_third_party_recompute(cli: Run, world: Path, tmp_path: Path) -> None:
    record = json.loads(_ok(cli("records", "list", "--json")).stdout)[0]
    plain, revealed = tmp_path / "plain.json", tmp_path / "revealed.json"
    _ok(cli("proof", record["id"], "-o", str(plain)))
    _ok(cli("proof", record["id"], "--reveal", "-o", str(revealed)))
    assert "detail" not in json.loads(plain.read_text())
    assert json.loads(revealed.read_text())["detail"]["amount"] == "1000"
    assert "recompute" not in _clean(_ok(cli("check-proof", str(plain))).stdout)
    assert "emissions recompute" in _clean(_ok(cli("check-proof", str(revealed))).stdout)
    doc = json.loads(revealed.read_text())
    doc["detail"]["amount"] = "999"  # a lie about the billed amount
    revealed.write_text(json.dumps(doc))
    res: Result = _ok(cli("check-proof", str(revealed)), 2)
    assert "do not match the record's commitment" in _clean(res.stderr)
