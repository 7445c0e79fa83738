"""The token part of the demo, run after the foundation's demo on the same ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from carbonledger.crypto.keys import PrivateKey
from carbonledger.services.demo import run_demo
from carbonledger.services.demo_tokens import run_token_demo
from carbonledger.services.home import Home
from carbonledger.services.identity import enroll, make_enrolment_request, register_user

PASS = "demo-passphrase"


def test_token_demo_after_the_demo(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)
    monkeypatch.setattr("carbonledger.services.demo.KEYSTORE_SCRYPT_N", 2**10, raising=False)
    home = Home(tmp_path / "demo")
    run_demo(home, PASS)
    admin = home.key(PASS)
    ledger = home.ledger(admin)

    def enroll_user(org: str, name: str, roles: list[str]) -> PrivateKey:
        secret = register_user(ledger, admin, org=org, name=name, roles=roles)
        key, request = make_enrolment_request(org, name, secret)
        enroll(ledger, key, request, home.ca.issue(ledger, request, PASS))
        return key

    summary = run_token_demo(ledger, ledger.channels, admin, home, PASS, enroll=enroll_user)
    s2, net = summary["scope2"], summary["net"]
    location = Decimal(s2["location_kg_co2e"])
    market = Decimal(s2["market_kg_co2e"])
    assert market < location
    # 2,400 MWh retired for Chicago and 900 for San Francisco (capped at its consumption).
    assert Decimal(s2["covered_kwh"]) <= Decimal(3_300_000)
    exact = {k: Decimal(v) for k, v in net["exact"].items()}
    assert exact["offsets_kg_co2e"] == 1_200_000
    assert exact["net_kg_co2e"] == exact["audited_kg_co2e"] - 1_200_000
    assert exact["rec_displacement_kg_co2e"] == location - market > 0
    assert net["offsets_t_co2e"] == "1,200.000"
    assert len(summary["steps"]) == 5
    assert ledger.verify().ok
    ledger.close()
