"""``carbonledger chain``: deploy the contracts to an EVM chain and show their status.

Needs the ``[evm]`` extra. ``chain deploy`` writes to the home's config.json::

    "backend": "evm", "evm": {"rpc": URL, "contract": ADDRESS, "chain_id": N,
                              "deploy_block": N, "offchain": "offchain.db"}

and copies the ledger's entries (its genesis, organisations, ...) onto the chain.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.common import HomeOption, home_of, passphrase
from carbonledger.errors import ConfigurationError

__all__ = ["chain_app", "open_evm_ledger", "register"]

chain_app = typer.Typer(help="The EVM backend: deploy the contracts, show their status.")


def _evm() -> Any:
    try:
        from carbonledger.adapters import evm
    except ImportError as exc:
        raise ConfigurationError(
            f"the EVM backend needs the [evm] extra: pip install 'carbonledger[evm]' ({exc})"
        ) from exc
    return evm


def open_evm_ledger(home: Path | None, key: Any = None) -> Any:
    """The home's EVM ledger (``backend: "evm"`` in config.json); ``key`` to write."""
    h = home_of(home)
    config = h.config()
    evm_cfg = config.get("evm")
    if config.get("backend") != "evm" or not evm_cfg:
        raise ConfigurationError(
            f"{h.path} is not on the EVM backend: run `carbonledger chain deploy`"
        )
    evm = _evm()
    return evm.EvmLedger(
        evm_cfg["rpc"],
        evm_cfg["contract"],
        h.path / evm_cfg.get("offchain", "offchain.db"),
        key,
        deploy_block=int(evm_cfg.get("deploy_block", 0)),
    )


@chain_app.command("deploy")
def deploy_cmd(
    rpc: str = typer.Option(
        ..., "--rpc", help="JSON-RPC URL of the chain (anvil, Besu, geth, an L2)"
    ),
    home: Path | None = HomeOption,
) -> None:
    """Deploy CarbonLedger (the admin key operates it), copy the ledger onto it, switch the home."""
    evm = _evm()
    h = home_of(home)
    config = h.config()
    if config.get("backend") == "evm":
        raise ConfigurationError(
            f"{h.path} is already on the EVM backend at {config['evm']['rpc']}"
        )
    key = h.key(passphrase())
    client = evm.Rpc(rpc)
    info = evm.deploy(client, key, config["ledger_id"])
    ledger = evm.EvmLedger(
        client, info["address"], h.path / "offchain.db", key, deploy_block=info["block"]
    )
    embedded = h.ledger(key)
    try:
        import sqlite3

        from carbonledger.core.tx import tx_from_parts

        conn = sqlite3.connect(embedded.path)
        rows = conn.execute("SELECT body, signature, first_leaf, n_leaves FROM tx ORDER BY seq")
        for body, sig, first, count in rows.fetchall():
            items = [
                bytes(d)
                for (d,) in conn.execute(
                    "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (first, first + count),
                )
            ]
            ledger.submit([tx_from_parts(bytes(body), items, bytes(sig))])
        conn.close()
        # Channel keys and sealed blobs move to the off-chain store.
        for blob_id, _digest in embedded.channels.blob_ids():
            ledger.channels.put_blob(blob_id, "", 0, embedded.channels.blob(blob_id))
    finally:
        embedded.close()
    config["backend"] = "evm"
    config["evm"] = {
        "rpc": rpc,
        "contract": info["address"],
        "chain_id": info["chain_id"],
        "deploy_block": info["block"],
        "offchain": "offchain.db",
    }
    h.config_file.write_text(jsonlib.dumps(config, indent=2) + "\n")
    typer.echo(f"deployed CarbonLedger at {info['address']} (chain {info['chain_id']})")
    ledger.close()


@chain_app.command("status")
def status_cmd(home: Path | None = HomeOption, json: bool = typer.Option(False, "--json")) -> None:
    """The chain, the contract, and entries on chain beside the off-chain store."""
    ledger = open_evm_ledger(home)
    try:
        info = ledger.status()
    finally:
        ledger.close()
    if json:
        typer.echo(jsonlib.dumps(info, indent=2))
        return
    for k, v in info.items():
        typer.echo(f"{k}: {v}")


def register(app: typer.Typer) -> None:
    app.add_typer(chain_app, name="chain")
