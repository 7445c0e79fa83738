"""Register organisations (with their CA and data channel) and sites on the ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from carbonledger.core.domain import Organisation, Site
from carbonledger.core.items import OrganisationItem
from carbonledger.core.rules.nodes import check_node_url
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.channels import new_epoch_keys, submit_one

__all__ = ["announce_node", "register_orgs", "register_sites"]


def register_orgs(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    orgs: Sequence[Organisation],
    *,
    ca_certs: Mapping[str, str] | None = None,
) -> Receipt:
    """Register ``orgs`` with the signer as their admin; each gets a channel (epoch 0)."""
    state = ledger.state()
    me = state.identities.get(key.address)
    if me is None:
        raise NotFound(f"{key.address} is not an enrolled identity")
    items: list[OrganisationItem] = []
    for org in orgs:
        _, wrapped, hashes = new_epoch_keys(
            str(state.ledger_id), org.id, 0, {key.address: me["public_key"]}
        )
        store.put_keys(org.id, 0, wrapped)
        items.append(
            org.item(
                admins=[key.address], channel_keys=hashes, ca_cert=(ca_certs or {}).get(org.id)
            )
        )
    return submit_one(ledger, key, "register_org", items)


def register_sites(ledger: LedgerPort, key: PrivateKey, sites: Sequence[Site]) -> Receipt:
    return submit_one(ledger, key, "register_site", [s.item() for s in sites])


def announce_node(ledger: LedgerPort, key: PrivateKey, org: str, url: str) -> Receipt:
    """Announce ``url`` as the base URL of ``org``'s node (signed by one of its admins):
    every node of the ledger fetches sealed blobs from it."""
    item = {"kind": "node", "org": org, "url": check_node_url(url)}
    return submit_one(ledger, key, "announce_node", [item])
