"""Announce an organisation's node: the base URL where its server answers.

* ``announce_node`` (an organisation admin; the network admin only for an organisation
  without its own admin, as for registering its people, see
  :func:`~carbonledger.core.rules.identity.has_own_admin`): items
  ``{"kind": "node", "org": ORG, "url": URL}``. The latest announcement of an
  organisation wins; its state keeps it as ``state.orgs[ORG]["node"]``.

Nodes on a chain fetch the sealed blobs they do not hold from the announced URLs (after
the peers their operator configured), so a node attached with nothing but the chain's
URL and the contract's address finds its peers on the ledger itself. The URL is public
and is only a place to ask: every blob fetched is checked against the SHA-256 its
signed item holds, so a wrong URL costs a failed request, never a wrong byte.

This rule does not refuse URLs at private or loopback addresses: a name's addresses are
known only by resolving it, which is I/O and differs from node to node, and whether a
private address is reachable and meant is a fact of the network the nodes share (a
consortium on one private network), which only each node's operator knows; a rule
changed now would also void announcements already on ledgers. Each node refuses to
ask an announced non-public address unless its operator allows it
(:mod:`carbonledger.adapters.evm.peer_policy`).

The contract keeps nothing of this type but the signer's nonce
(:data:`~carbonledger.core.authority.CHAIN_KEEPS_NONCE_ONLY`): an announcement that
breaks this rule, sent straight to the contract, is void on every node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import expect_kind, require_org_admin
from carbonledger.core.rules.identity import has_own_admin
from carbonledger.core.state import LedgerState
from carbonledger.errors import InvalidInput, PermissionDenied

__all__ = ["NODE_URL_MAX", "announce_node", "announced_nodes", "check_node_url"]

#: The longest URL an announcement may carry (characters).
NODE_URL_MAX = 200
# A scheme, a host (name, IPv4 or [IPv6]) with an optional port, an optional path;
# no user info, query, fragment, whitespace or control character (\Z: no final newline).
_URL = re.compile(
    r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?\Z"
)


def check_node_url(value: object, what: str = "node URL") -> str:
    """``value`` if it is a node's base URL as announcements carry it, else
    :class:`InvalidInput` naming what is wrong."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: {value!r} is not a URL")
    if len(value) > NODE_URL_MAX:
        raise InvalidInput(f"{what}: longer than {NODE_URL_MAX} characters")
    if not _URL.match(value):
        raise InvalidInput(
            f"{what}: {value!r} is not a node's base URL: give http(s)://host[:port][/path],"
            " with no whitespace, user, query or fragment"
        )
    return value


def announce_node(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "node")
    sender = body["sender"]
    for item in items:
        org = str(item.get("org"))
        what = f"announce the node of {org!r}"
        require_org_admin(state, sender, org, what)
        if state.identities.get(sender, {}).get("org") != org and has_own_admin(state, org):
            raise PermissionDenied(
                f"{what}: organisation {org!r} has its own admin; only its own admins"
                f" announce its node, and signer {sender} is not one of them"
            )
        url = check_node_url(item.get("url"), what)
        node = {"url": url, "by": sender, "since": state.now}
        state.orgs[org] = {**state.orgs[org], "node": node}


def announced_nodes(state: LedgerState) -> list[tuple[str, str]]:
    """Each organisation's announced node, (org, url), in the organisations' order."""
    return [
        (org_id, str(org["node"]["url"])) for org_id, org in state.orgs.items() if org.get("node")
    ]
