"""``carbonledger chain peers``: the nodes this home fetches sealed blobs from.

Sealed blobs do not travel in calldata on the EVM backend: a node takes an entry once
it holds the blobs the entry names, from its own store or from a peer (any other
node's server, which serves the blobs it holds by hash). The list is ``evm.peers`` in
config.json; a running server reads it at each fetch, so a peer added here is asked
from then on.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

from carbonledger.cli.common import HomeOption, home_of
from carbonledger.errors import ConfigurationError
from carbonledger.services.backends import EVM, home_peers

__all__ = ["peers_cmd"]


def peers_cmd(
    add: list[str] = typer.Option(
        [], "--add", help="base URL of a node's server to fetch sealed blobs from (repeatable)"
    ),
    remove: list[str] = typer.Option([], "--remove", help="a peer to stop asking (repeatable)"),
    json: bool = typer.Option(False, "--json"),
    home: Path | None = HomeOption,
) -> None:
    """Show, add or remove the nodes this home fetches sealed blobs from."""
    from carbonledger.adapters.evm.exchange import check_peer_url

    h = home_of(home)
    config = h.config()
    if config.get("backend") != EVM:
        raise ConfigurationError(f"{h.path} is not on the EVM backend: it has no peers")
    peers = home_peers(h)
    gone = {check_peer_url(p) for p in remove}
    unknown = sorted(gone - set(peers))
    if unknown:
        raise ConfigurationError(f"not a peer of this home: {', '.join(unknown)}")
    peers = [p for p in peers if p not in gone]
    peers += [u for u in dict.fromkeys(check_peer_url(p) for p in add) if u not in peers]
    if add or remove:
        config["evm"]["peers"] = peers
        h.config_file.write_text(jsonlib.dumps(config, indent=2) + "\n")
    if json:
        typer.echo(jsonlib.dumps(peers))
        return
    for p in peers:
        typer.echo(p)
    if not peers:
        typer.echo("no peers: sealed blobs this node does not hold cannot be fetched")
