"""``carbonledger chain``: deploy the contracts to an EVM chain, attach a node to one,
show their status, bring the store to the chain once (``sync``) or keep it there
(``follow``, :mod:`carbonledger.cli.chain_follow`).

Needs the ``[evm]`` extra. ``chain deploy`` writes to the home's config.json::

    "backend": "evm", "evm": {"rpc": URL, "contract": ADDRESS, "chain_id": N,
                              "deploy_block": N, "offchain": "offchain.db" or a URL,
                              "confirmations": N (a node's depth, optional)}

and copies the ledger's entries (its genesis, organisations, ...) onto the chain.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.chain_follow import follow_cmd
from carbonledger.cli.chain_peers import announce_cmd, peers_cmd
from carbonledger.cli.common import HomeOption, home_of, passphrase
from carbonledger.services.backends import open_evm

__all__ = ["chain_app", "open_evm_ledger", "register"]

chain_app = typer.Typer(
    help="The EVM backend: deploy the contracts, attach a node, sync or follow the chain."
)


def open_evm_ledger(home: Path | None, key: Any = None) -> Any:
    """The home's EVM ledger (``backend: "evm"`` in config.json); ``key`` to write."""
    return open_evm(home_of(home), key)


@chain_app.command("deploy")
def deploy_cmd(
    rpc: str = typer.Option(
        ..., "--rpc", help="JSON-RPC URL of the chain (anvil, Besu, geth, an L2)"
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="database URL of the off-chain store (postgresql+psycopg://...);"
        " default offchain.db (SQLite) in the home",
    ),
    time_skew_ms: int | None = typer.Option(
        None,
        "--time-skew-ms",
        min=0,
        max=3_600_000,
        help="how long (ms) before its block a DAO transaction's ledger time may be;"
        " default 0 on anvil (the adapter mines each block), 60000 on other chains",
    ),
    home: Path | None = HomeOption,
) -> None:
    """Deploy CarbonLedger (the admin key operates it), copy the ledger onto it, switch the home."""
    h = home_of(home)
    h.config()
    section = h.deploy_evm(h.key(passphrase()), rpc, mirror=db, time_skew_ms=time_skew_ms)
    typer.echo(
        f"deployed CarbonLedger at {section['contract']} (chain {section['chain_id']},"
        f" block {section['deploy_block']}); off-chain store {_shown(section['offchain'])}"
    )


def _shown(url: str) -> str:
    if "://" not in url:
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@chain_app.command("attach")
def attach_cmd(
    rpc: str = typer.Option(..., "--rpc", help="JSON-RPC URL of the chain"),
    contract: str = typer.Option(..., "--contract", help="address of the ledger's contract"),
    db: str | None = typer.Option(
        None, "--db", help="database URL of the off-chain store; default offchain.db here"
    ),
    confirmations: int = typer.Option(
        0,
        "--confirmations",
        min=0,
        help="the node's depth: serve and chain follow take only blocks this many below the latest",
    ),
    peer: list[str] = typer.Option(
        [],
        "--peer",
        help="base URL of another node's server (repeatable): sealed blobs are fetched"
        " from it by hash",
    ),
    allow_private_peers: bool = typer.Option(
        False,
        "--allow-private-peers",
        help="also ask nodes announced at loopback, private or other non-public addresses"
        " (nodes on one private network; peers given with --peer are always asked)",
    ),
    home: Path | None = HomeOption,
) -> None:
    """Make a new home a node of a ledger on a chain: its store built from the chain alone
    (sealed blobs from its peers)."""
    h = home_of(home)
    config = h.attach_evm(
        passphrase(), rpc, contract, mirror=db, peers=peer, allow_private_peers=allow_private_peers
    )
    if confirmations:
        config["evm"]["confirmations"] = confirmations
        h.config_file.write_text(jsonlib.dumps(config, indent=2) + "\n")
    ledger = open_evm_ledger(home)
    try:
        status = {**ledger.status(), **ledger.exchange.status()}
    finally:
        ledger.close()
    typer.echo(
        f"attached to ledger {config['ledger_id']} at {config['evm']['contract']} (chain"
        f" {config['evm']['chain_id']}); {status['entries_off_chain']} entries read from the"
        f" chain; this node's key {config['node']} (it relays this node's users'"
        " transactions: on a chain other than anvil or Hardhat's node, fund it for gas)"
    )
    if status.get("waiting_for_blobs"):
        typer.echo(f"waiting for sealed blobs: {status['waiting_for_blobs']['reason']}")


@chain_app.command("status")
def status_cmd(home: Path | None = HomeOption, json: bool = typer.Option(False, "--json")) -> None:
    """The chain, the contract, and entries on chain beside the off-chain store."""
    ledger = open_evm_ledger(home)
    try:
        info = ledger.status()
        info.update(ledger.exchange.status())
    finally:
        ledger.close()
    if json:
        typer.echo(jsonlib.dumps(info, indent=2))
        return
    for k, v in info.items():
        typer.echo(f"{k}: {v}")


@chain_app.command("sync")
def sync_cmd(
    home: Path | None = HomeOption,
    confirmations: int = typer.Option(
        0, "--confirmations", min=0, help="take only blocks this many below the latest"
    ),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Bring the off-chain store to the chain (behind: caught up; diverged: rebuilt)."""
    ledger = open_evm_ledger(home, home_of(home).key(passphrase()))
    try:
        added = ledger.sync(confirmations=confirmations)
        info = ledger.status()
    finally:
        ledger.close()
    if json:
        typer.echo(jsonlib.dumps({"taken": added, **info}, indent=2))
        return
    typer.echo(f"{added} entries taken from the chain; {info['entries_off_chain']} in the store")


chain_app.command("follow")(follow_cmd)
chain_app.command("peers")(peers_cmd)
chain_app.command("announce")(announce_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(chain_app, name="chain")
