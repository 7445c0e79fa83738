"""Nodes announced further on in the chain: where a node that is behind asks for blobs.

A node following the chain from its first block meets sealed entries before it has
taken the announcements (``announce_node``) made later in the chain, so the peers its
state names are not yet those it needs. When an entry's blobs are missing, the node
reads the announcements in the entries it has not taken yet, the latest of each
organisation, and asks those URLs too.

Why a URL from an entry not yet taken is safe to ask: the chain took the entry from an
enrolled, active signer (the contract checks that much), but the core's rule on who may
announce has not been applied to it yet. That does not matter here, because the URL is
only a place to ask: each blob a peer serves is checked against the SHA-256 that the
signed item naming it holds, and refused if it differs (:mod:`.exchange`), so a URL
announced by someone who may not announce, or one that is wrong, costs a failed request
and never a wrong byte. Each URL passes the core's check of a node's URL first
(:func:`~carbonledger.core.rules.nodes.check_node_url`); such URLs are asked only while
blobs are missing and never become peers of the node (its state's announcements do,
once taken and judged by the rule). Like every announced URL, they are asked only at
public addresses unless the node's operator allows private ones
(:mod:`~carbonledger.adapters.evm.peer_policy`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from carbonledger.adapters.evm.calldata import Calls
from carbonledger.core.rules.nodes import check_node_url
from carbonledger.errors import CarbonLedgerError

__all__ = ["AnnouncedAhead"]


class AnnouncedAhead:
    """The node URLs announced in EVM transactions a node has not taken yet; each EVM
    transaction's call is read once, through ``calls``, which the node then takes its
    entries from (:mod:`~carbonledger.adapters.evm.calldata`)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self._seen: dict[str, list[tuple[str, str]]] = {}
        self.pending: list[str] = []  # EVM transactions of the entries to take, in order
        self.at = 0  # where in ``pending`` the entries not taken yet start

    def urls(self) -> list[str]:
        """The latest URL each organisation announced in the pending EVM transactions
        (those taken already announce in the node's state)."""
        latest: dict[str, str] = {}
        for evm_tx in dict.fromkeys(self.pending[self.at :]):
            for org, url in self._announced(evm_tx):
                latest.pop(org, None)  # the latest last
                latest[org] = url
        return list(reversed(list(latest.values())))

    def _announced(self, evm_tx: str) -> list[tuple[str, str]]:
        found = self._seen.get(evm_tx)
        if found is None:
            found = self._seen[evm_tx] = _read(self, evm_tx)
        return found


def _read(ahead: AnnouncedAhead, evm_tx: str) -> list[tuple[str, str]]:
    """(org, url) of each announcement the EVM transaction carries, as signed."""
    try:
        entries = ahead.calls.read(evm_tx)
    except (CarbonLedgerError, ValueError, KeyError, TypeError):
        return []  # the follower names what is wrong with it when it gets there
    out: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry[0], bytes):
            continue  # typed transactions are transfers, retirements and records
        out += _items(entry[0], entry[4])
    return out


def _items(body: bytes, items: Iterable[bytes]) -> list[tuple[str, str]]:
    try:
        if json.loads(body).get("type") != "announce_node":
            return []
        decoded: list[Any] = [json.loads(i) for i in items]
    except (ValueError, AttributeError):
        return []
    out = []
    for item in decoded:
        try:
            out.append((str(item["org"]), check_node_url(item["url"])))
        except (CarbonLedgerError, KeyError, TypeError):
            continue
    return out
