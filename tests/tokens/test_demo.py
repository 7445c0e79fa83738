"""The token part of the demo story (run by ``carbonledger demo``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from carbonledger.demo.story import run_demo
from carbonledger.services.home import Home

PASS = "demo-passphrase"


def test_token_story_in_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)
    monkeypatch.setattr("carbonledger.demo.story.KEYSTORE_SCRYPT_N", 2**10, raising=False)
    home = Home(tmp_path / "demo")
    result = run_demo(home, PASS)
    summary = result.tokens
    s2, net = summary["scope2"], summary["net"]
    location = Decimal(s2["location_kg_co2e"])
    market = Decimal(s2["market_kg_co2e"])
    assert market < location
    # 2,400 MWh retired for Chicago and 900 for San Francisco (capped at its consumption).
    assert Decimal(s2["covered_kwh"]) <= Decimal(3_300_000)
    exact = {k: Decimal(v) for k, v in net["exact"].items()}
    assert exact["offsets_kg_co2e"] == 1_200_000
    assert exact["net_kg_co2e"] == exact["audited_kg_co2e"] - 1_200_000
    assert exact["rec_displacement_kg_co2e"] == location - market
    assert location > market
    assert net["offsets_t_co2e"] == "1,200.000"
    assert len(summary["steps"]) == 5
    assert result.dao["status"] == "Executed"
    assert result.meters["audit"]["counts"]["contradicted"] == 1
    assert result.verify is not None
    assert result.verify.ok
    # the organisation's year has travel and freight, and its whole inventory
    assert result.travel is not None
    assert (result.travel.recorded, result.travel.rejected) == (13, [])
    figures = result.inventory["figures"]
    assert Decimal(figures["scope3_cat6"]["kg_co2e"]) > 0
    assert Decimal(figures["scope3_cat4"]["kg_co2e"]) > 0
    assert figures["scope2_market"]["kg_co2e"] == s2["market_kg_co2e"]
