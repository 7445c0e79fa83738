"""The committed contract artifacts are what the pinned npm solc makes of the sources."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


def test_committed_artifacts_match_the_sources() -> None:
    if not (CONTRACTS / "node_modules" / "solc").exists():
        if os.environ.get("CARBONLEDGER_REQUIRE_EVM") == "1":
            pytest.fail("contracts/node_modules is missing: run npm ci in contracts/")
        pytest.skip(reason="npm solc is not installed: run `npm ci` in contracts/")
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "build.js", "--check"], cwd=CONTRACTS, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_package_ships_the_same_artifact() -> None:
    built = json.loads((CONTRACTS / "build" / "CarbonLedger.json").read_text())
    shipped_path = ROOT / "src/carbonledger/adapters/evm/artifacts/CarbonLedger.json"
    shipped = json.loads(shipped_path.read_text())
    assert shipped == built
    assert built["settings"]["evmVersion"] == "cancun"
    assert built["compiler"]["version"].startswith("0.8.37")
