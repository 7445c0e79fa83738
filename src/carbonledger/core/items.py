"""Every kind of ledger item, defined once (as web3.py's ``types.py`` defines its values).

An item is a JSON object, one leaf of the ledger's Merkle tree, written in
canonical JSON (:mod:`carbonledger.core.canonical`); its ``kind`` says which of
the shapes below it has. The shapes are :class:`~typing.TypedDict`\\ s: they are
the items themselves, so typing them changes no byte a ledger stores. What a
field must hold beyond its type (an id's pattern, a serial range that matches
the amount, a project proven in its directory) is checked by the rule of the
transaction that carries the item, once, with an error naming the field.

The values they are made of (periods, serials, sealed blobs...) and the signed
body of a transaction are in :mod:`carbonledger.core.item_parts`. Builders (one per
kind that is built outside the core) are in :mod:`carbonledger.core.builders`.
``NotRequired`` marks a field some writers leave out; the rules read such a field
with ``item.get(field)``, so an absent field and a ``null`` one mean the same.
"""

# No ``from __future__ import annotations`` here: Python 3.11 reads ``NotRequired``
# (``__required_keys__``) only from evaluated annotations.
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from carbonledger.core.item_parts import (
    ChannelKeys,
    DirectoryProject,
    Manifest,
    Period,
    ProjectProof,
    ProjectRef,
    ProposalPart,
    RecordDetail,
    RecordTrace,
    Sealed,
    Serial,
    WrappedKeys,
)

__all__ = [
    "ITEM_TYPES", "AuditReportItem", "AuditResultItem", "CalculationBasisItem", "ChannelGrantItem",
    "ChannelReadItem", "ChannelRevokeItem", "ChannelRotateItem", "CredentialItem", "DaoIssueItem",
    "DaoProposalActItem", "DaoSetupItem", "DaoTransferItem", "DeviceItem", "DeviceStatusItem",
    "DisclosureItem", "EmissionsRecordItem", "IdentityItem", "LedgerItem", "OffsetDirectoryItem",
    "OrganisationItem", "ProposalItem", "RegistrationItem", "RevocationItem", "SiteItem",
    "StatusListItem", "TokenItem", "TokenMintItem", "TokenRetirementItem", "TokenTransferItem",
    "UtilityItem", "VoteItem",
]  # fmt: skip


# -- network, organisations, identities ---------------------------------------
class LedgerItem(TypedDict):
    kind: Literal["ledger"]
    id: str
    name: str
    admin: str
    admin_public_key: str
    admin_name: NotRequired[str]
    root_ca: str | None
    created: str


class OrganisationItem(TypedDict):
    kind: Literal["organisation"]
    id: str
    name: str
    country: str | None
    admins: list[str]
    ca_cert: NotRequired[str | None]
    channel: ChannelKeys  # the organisation channel's first key


class SiteItem(TypedDict):
    kind: Literal["site"]
    id: str
    org: str
    name: str
    address: str | None
    zip: str | None
    state: str | None
    country: str
    subregion: str | None
    utility_id: str | None


class RegistrationItem(TypedDict):
    kind: Literal["registration"]
    id: str
    org: str
    roles: list[str]
    salt: str
    secret_sha256: str
    expires: str


class IdentityItem(TypedDict):
    kind: Literal["identity"]
    id: str
    org: str
    certificate: str
    secret: str


class RevocationItem(TypedDict):
    kind: Literal["revocation"]
    address: str
    reason: str | None
    channels: dict[str, ChannelKeys]  # the channels rotated with the revocation


# -- channels -------------------------------------------------------------------
class ChannelGrantItem(TypedDict):
    kind: Literal["channel_grant"]
    channel: str
    member: str
    role: Literal["member", "auditor"]
    until: str | None
    keys: WrappedKeys


class ChannelRevokeItem(TypedDict):
    kind: Literal["channel_revoke"]
    channel: str
    member: str
    epoch: int
    keys: WrappedKeys


class ChannelRotateItem(TypedDict):
    kind: Literal["channel_rotate"]
    channel: str
    epoch: int
    keys: WrappedKeys


class ChannelReadItem(TypedDict):
    kind: Literal["channel_read"]
    channel: str
    purpose: str
    since: NotRequired[str]
    until: NotRequired[str]


# -- records, audits, disclosures ---------------------------------------------
class CalculationBasisItem(TypedDict):
    kind: Literal["calculation_basis"]
    id: str
    basis: dict[str, Any]  # the factor and conversions a record's trace refers to


class EmissionsRecordItem(TypedDict):
    kind: Literal["emissions_record"]
    id: str
    org: str
    site: str
    account: str | None
    period: Period
    activity: str
    trace: RecordTrace
    detail: RecordDetail


class AuditReportItem(TypedDict):
    kind: Literal["audit_report"]
    id: str
    org: str
    channel: str
    period: Period
    auditor: str
    records: int
    verified: int
    failures: list[str]
    sealed: NotRequired[Sealed]


class AuditResultItem(TypedDict):
    kind: Literal["audit_result"]
    id: str
    org: str
    auditor: str
    period: Period
    counts: dict[str, int]
    sha256: str
    sealed: Sealed


class DisclosureItem(TypedDict):
    kind: Literal["disclosure"]
    id: str
    org: str
    period: Period
    scopes: list[str]
    kg_co2e: str
    records: int
    records_root: str


# -- devices and credentials --------------------------------------------------
class DeviceItem(TypedDict):
    kind: Literal["device"]
    id: str
    org: str
    site: str
    did: str
    meter_ref: str  # a reference to the meter, never its number (sealed)
    role: str
    valid_from: str
    valid_until: str | None


class UtilityItem(TypedDict):
    kind: Literal["utility"]
    id: str
    did: str
    name: str | None
    eia_id: str | None
    account_refs: list[str]  # "site/account reference" pairs it bills


class DeviceStatusItem(TypedDict):
    kind: Literal["device_status"]
    id: str
    status: Literal["retired", "revoked"]
    reason: str | None
    effective: str | None


class StatusListItem(TypedDict):
    kind: Literal["status_list"]
    id: str
    url: str
    sha256: str
    credential: dict[str, Any]  # the signed BitstringStatusListCredential, whole


class CredentialItem(TypedDict):
    kind: Literal["credential"]
    id: str
    org: str | None
    site: str
    type: str
    issuer: str
    holder: str
    account_ref: str | None
    period: Period | None
    sha256: str
    sealed: Sealed


# -- tokens ---------------------------------------------------------------------
class OffsetDirectoryItem(TypedDict):
    kind: Literal["offset_directory"]
    id: str
    sha256: str
    root: str
    projects: int
    source: str


class TokenItem(TypedDict):
    """``issue_token``: a REC, an OFFSET or AUDITED_EMISSIONS, each with its own fields."""

    kind: Literal["token"]
    id: str
    type: Literal["REC", "OFFSET", "AUDITED_EMISSIONS"]
    amount: int
    # REC and OFFSET
    to: NotRequired[str]
    registry: NotRequired[str]
    serial: NotRequired[Serial]
    # REC
    facility: NotRequired[dict[str, str | None]]  # {name, id}
    grid_region: NotRequired[str]
    generation: NotRequired[Period]
    technology: NotRequired[str | None]
    # OFFSET
    directory: NotRequired[str]
    project: NotRequired[DirectoryProject]
    project_proof: NotRequired[ProjectProof]
    vintage: NotRequired[int]
    # AUDITED_EMISSIONS
    org: NotRequired[str]
    scope: NotRequired[str]
    period: NotRequired[Period]
    manifest: NotRequired[Manifest]
    report: NotRequired[str | None]


class TokenMintItem(TypedDict):
    kind: Literal["token_mint"]
    id: str
    token: str
    amount: int
    to: str
    serial: Serial


#: ``token_transfer`` has a ``from`` field, which the class syntax cannot name.
TokenTransferItem = TypedDict(
    "TokenTransferItem",
    {"kind": Literal["token_transfer"], "id": str, "token": str, "from": str, "to": str,
     "amount": int},
)  # fmt: skip


class TokenRetirementItem(TypedDict):
    kind: Literal["token_retirement"]
    id: str
    token: str
    holder: str
    amount: int
    serial: Serial | None
    beneficiary: str
    reason: str
    org: str | None
    site: str | None
    period: Period | None


# -- the DAO --------------------------------------------------------------------
class DaoSetupItem(TypedDict):
    kind: Literal["dao_setup"]
    name: str
    symbol: str
    params: dict[str, Any]


class DaoIssueItem(TypedDict):
    kind: Literal["dao_issue"]
    id: str
    to: str
    amount: int


class DaoTransferItem(TypedDict):
    kind: Literal["dao_transfer"]
    id: str
    to: str
    amount: int


class ProposalItem(TypedDict):
    kind: Literal["proposal"]
    id: str
    title: str
    description: str
    parts: list[ProposalPart]
    projects: list[ProjectRef]


class VoteItem(TypedDict):
    kind: Literal["vote"]
    proposal: str
    amount: int
    choices: list[Literal["for", "against", "abstain"]]


class DaoProposalActItem(TypedDict):
    """Queue, execute, cancel, settle, release or withdraw a vote: the proposal named."""

    kind: Literal[
        "dao_queue", "dao_execute", "dao_cancel", "dao_settle", "dao_release",
        "dao_vote_withdrawal",
    ]  # fmt: skip
    proposal: str


#: Every item kind and its shape.
ITEM_TYPES: Mapping[str, type] = {
    "ledger": LedgerItem,
    "organisation": OrganisationItem,
    "site": SiteItem,
    "registration": RegistrationItem,
    "identity": IdentityItem,
    "revocation": RevocationItem,
    "channel_grant": ChannelGrantItem,
    "channel_revoke": ChannelRevokeItem,
    "channel_rotate": ChannelRotateItem,
    "channel_read": ChannelReadItem,
    "calculation_basis": CalculationBasisItem,
    "emissions_record": EmissionsRecordItem,
    "audit_report": AuditReportItem,
    "audit_result": AuditResultItem,
    "disclosure": DisclosureItem,
    "device": DeviceItem,
    "utility": UtilityItem,
    "device_status": DeviceStatusItem,
    "status_list": StatusListItem,
    "credential": CredentialItem,
    "offset_directory": OffsetDirectoryItem,
    "token": TokenItem,
    "token_mint": TokenMintItem,
    "token_transfer": TokenTransferItem,
    "token_retirement": TokenRetirementItem,
    "dao_setup": DaoSetupItem,
    "dao_issue": DaoIssueItem,
    "dao_transfer": DaoTransferItem,
    "proposal": ProposalItem,
    "vote": VoteItem,
    **dict.fromkeys(
        ("dao_queue", "dao_execute", "dao_cancel", "dao_settle", "dao_release",
         "dao_vote_withdrawal"),
        DaoProposalActItem,
    ),
}  # fmt: skip
