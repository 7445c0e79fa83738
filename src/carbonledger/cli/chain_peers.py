"""``carbonledger chain peers``: the nodes this home fetches sealed blobs from;
``chain announce``: an organisation's node announced on the ledger.

Sealed blobs do not travel in calldata on the EVM backend: a node takes an entry once
it holds the blobs the entry names, from its own store or from a peer (any other
node's server, which serves the blobs it holds by hash). The peers are those of
``evm.peers`` in config.json, then the nodes the organisations announced on the ledger
(this node's own left out); a running server reads them at each fetch, so a peer added
or announced is asked from then on.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

import typer

from carbonledger.cli.common import AsOption, HomeOption, home_of, open_ledger
from carbonledger.core.rules.nodes import announced_nodes, check_node_url
from carbonledger.errors import ConfigurationError, InvalidInput
from carbonledger.services.backends import EVM, home_peer_policy, home_peers
from carbonledger.services.registry import announce_node

__all__ = ["announce_cmd", "peers_cmd"]


def peers_cmd(
    add: list[str] = typer.Option(
        [], "--add", help="base URL of a node's server to fetch sealed blobs from (repeatable)"
    ),
    remove: list[str] = typer.Option([], "--remove", help="a peer to stop asking (repeatable)"),
    private: bool | None = typer.Option(
        None,
        "--allow-private-peers/--refuse-private-peers",
        help="whether nodes announced at loopback, private or other non-public addresses are"
        " asked (evm.allow_private_peers; refused by default)",
        show_default=False,
    ),
    json: bool = typer.Option(False, "--json"),
    home: Path | None = HomeOption,
) -> None:
    """Show, add or remove the nodes this home fetches sealed blobs from; whether it asks
    nodes announced at private addresses."""
    from carbonledger.adapters.evm.exchange import check_peer_url
    from carbonledger.adapters.evm.peer_policy import ALLOW_PRIVATE_PEERS

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
    if add or remove or private is not None:
        config["evm"]["peers"] = peers
        if private is not None:
            config["evm"][ALLOW_PRIVATE_PEERS] = private
        h.config_file.write_text(jsonlib.dumps(config, indent=2) + "\n")
    own = config.get("node_url")
    shown: list[dict[str, str | None]] = [
        {"url": p, "org": None, "source": "config", "refused": None} for p in peers
    ]
    ledger = h.ledger()
    try:
        announced = announced_nodes(ledger.state())
    finally:
        ledger.close()
    policy = home_peer_policy(h)
    for org, url in announced:
        shown_url = url.rstrip("/")
        if shown_url not in {*peers, own}:
            why = policy.refusal(shown_url)
            shown.append({"url": shown_url, "org": org, "source": "announced", "refused": why})
    if json:
        typer.echo(jsonlib.dumps(shown))
        return
    for p in shown:
        line = p["url"] if p["org"] is None else f"{p['url']} (announced by {p['org']})"
        typer.echo(line if p["refused"] is None else f"{line}: not asked, {p['refused']}")
    if not shown:
        typer.echo("no peers: sealed blobs this node does not hold cannot be fetched")


def announce_cmd(
    url: str = typer.Argument(..., help="base URL where this node's server answers"),
    org: str | None = typer.Option(
        None, "--org", help="the organisation whose node it is (default: the signer's)"
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Announce this node's URL for an organisation (its admin): every node of the ledger
    fetches sealed blobs from it."""
    shown = check_node_url(url.rstrip("/"), "chain announce")  # a newline is refused, not cut
    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    try:
        org_id = org or ledger.state().identities.get(key.address, {}).get("org")
        if org_id is None:
            raise InvalidInput("chain announce: give --org (the signer has no organisation)")
        receipt = announce_node(ledger, key, str(org_id), shown)
    finally:
        ledger.close()
    config = h.config()
    config["node_url"] = shown  # left out of this node's own peers
    h.config_file.write_text(jsonlib.dumps(config, indent=2) + "\n")
    typer.echo(f"node of {org_id} announced at {shown} (entry {receipt.seq})")
