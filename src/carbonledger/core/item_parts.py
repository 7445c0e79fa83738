"""The values ledger items and transaction bodies are made of (typed dicts).

The item kinds themselves are in :mod:`carbonledger.core.items`.
"""

# No ``from __future__ import annotations`` here: Python 3.11 reads ``NotRequired``
# (``__required_keys__``) only from evaluated annotations.
from typing import Any, NotRequired, TypedDict

__all__ = [
    "ChannelKeys",
    "DirectoryProject",
    "Manifest",
    "ManifestEntry",
    "Period",
    "ProjectProof",
    "ProjectRef",
    "ProposalPart",
    "RecordDetail",
    "RecordTrace",
    "Sealed",
    "Serial",
    "TxBody",
    "WrappedKeys",
]

#: Wrapped channel keys: member address -> key wrapped for it (hex), or digests of them.
WrappedKeys = dict[str, str]


# -- the signed body of a transaction ------------------------------------------
class TxBody(TypedDict):
    """What a sender signs (:mod:`carbonledger.core.tx`): the items through their root.

    ``tx_from_parts`` checks every field's type but ``created`` (the sender's clock:
    shown, never trusted; ledger time is the entry's).
    """

    v: int
    type: str
    ledger: str
    sender: str
    nonce: int
    created: object
    count: int
    items_root: str
    payload: NotRequired[dict[str, Any]]
    #: Typed-data bodies (``v`` 2) only: the EIP-712 hash of the packed items (hex).
    packed: NotRequired[str]


# -- values items share -------------------------------------------------------
class Period(TypedDict):
    """Dates (``YYYY-MM-DD``) or times, both ends inclusive."""

    start: str
    end: str


class Serial(TypedDict):
    """Registry serials ``prefix+start .. prefix+end`` (see ``core.tokens.model.SerialRange``)."""

    prefix: str
    start: int
    end: int


class Sealed(TypedDict, total=False):
    """A blob sealed for a channel: its SHA-256 (hex), the channel and the key epoch."""

    channel: str
    epoch: int
    blob: str


class ManifestEntry(TypedDict):
    record: str
    leaf: str


class Manifest(TypedDict):
    entries: list[ManifestEntry]
    root: str


class ProjectProof(TypedDict):
    index: int
    path: list[str]


class DirectoryProject(TypedDict):
    """What an offset token carries of its directory project (the leaf commits to it)."""

    id: str
    name: str
    registry: str
    status: str
    type: str
    country: str | None


class ProjectRef(TypedDict):
    """A project a proposal names: its directory edition and inclusion proof."""

    directory: str
    project: DirectoryProject
    project_proof: ProjectProof


class ChannelKeys(TypedDict):
    """A channel key epoch and the key wrapped for each member."""

    epoch: int
    keys: WrappedKeys


class RecordTrace(TypedDict):
    """The public part of a record's calculation trace (the rest is sealed)."""

    schema: str
    basis: str
    scope: str


class RecordDetail(TypedDict):
    """The salted commitment to a record's sealed detail, and where it is sealed."""

    channel: str
    epoch: int
    blob: str
    commitment: str


class ProposalPart(TypedDict):
    """A part of a proposal, voted on its own: its actions (see core.dao.actions)."""

    title: str
    actions: list[dict[str, Any]]
