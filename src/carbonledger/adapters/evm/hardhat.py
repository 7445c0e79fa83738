"""Start and stop Hardhat's node (npm ``hardhat``, 2.x) for tests: a second JSON-RPC
implementation beside anvil.

Its settings are in contracts/hardhat.config.js (anvil's chain id, accounts and gas
limit; no mining of its own, so the adapter mines each batch as it does on anvil).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from carbonledger.adapters.evm.anvil import LocalNode
from carbonledger.errors import ConfigurationError

__all__ = ["Hardhat", "find_hardhat"]

_CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"


def find_hardhat() -> str | None:
    """``$CARBONLEDGER_HARDHAT``, else contracts/node_modules/.bin/hardhat, else ``hardhat``
    on PATH."""
    env = os.environ.get("CARBONLEDGER_HARDHAT")
    if env:
        return env
    local = _CONTRACTS / "node_modules" / ".bin" / "hardhat"
    if local.exists():
        return str(local)
    return shutil.which("hardhat")


class Hardhat(LocalNode):
    """A running ``hardhat node`` on 127.0.0.1; ``url`` is its JSON-RPC endpoint."""

    name = "hardhat"

    def __init__(self) -> None:
        binary = find_hardhat()
        if binary is None:
            raise ConfigurationError("hardhat not found: run `npm ci` in contracts/")
        super().__init__()
        config = _CONTRACTS / "hardhat.config.js"
        args = [binary, "--config", str(config), "node"]
        args += ["--hostname", "127.0.0.1", "--port", str(self.port)]
        # Node.js takes a few seconds to load Hardhat.
        quiet = {"HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
        self._start(args, cwd=_CONTRACTS, wait=60, env=quiet)

    def __enter__(self) -> Hardhat:
        return self
