"""Contract reverts as carbonledger errors: each custom error of CarbonLedger (and its
reader of membership items), its Governor and the Governor's item reader, mapped to the
error class the embedded backend raises for the same refusal (with, for most, the
core's words).
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode

from carbonledger.crypto.keys import keccak256
from carbonledger.errors import (
    CarbonLedgerError,
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SignatureInvalid,
)

__all__ = ["ERRORS", "MEANING", "STATES", "errors_by_selector", "selector", "translate"]

#: Contract errors -> the carbonledger error they mean.
ERRORS: dict[str, type[CarbonLedgerError]] = {
    "OnlyThroughLedger": PermissionDenied,
    "WrongLedger": Conflict,
    "BadSignature": SignatureInvalid,
    "BadNonce": Conflict,
    "ItemsMismatch": InvalidInput,
    "NotEnrolled": PermissionDenied,
    "Revoked": PermissionDenied,
    "AlreadyEnrolled": Conflict,
    "MissingRole": PermissionDenied,
    "UnknownToken": NotFound,
    "TokenExists": Conflict,
    "ReservedTokenId": InvalidInput,
    "NotTransferable": PermissionDenied,
    "NotIssuer": PermissionDenied,
    "InsufficientBalance": Conflict,
    "SelfTransfer": InvalidInput,
    "BadAmount": InvalidInput,
    "BadJson": InvalidInput,
    # Organisations and their members (core.rules.registry, identity, channels, records)
    "UnknownOrg": NotFound,
    "OrgExists": DuplicateEntity,
    "AdminNotEnrolled": InvalidInput,
    "NotOrgAdmin": PermissionDenied,
    "ChannelOfItsOwn": PermissionDenied,
    "OrgOfItsOwn": PermissionDenied,
    "SiteExists": DuplicateEntity,
    "UnknownSite": NotFound,
    "SiteOfOtherOrg": PermissionDenied,
    "NotWriter": PermissionDenied,
    "RegistrationExists": DuplicateEntity,
    "NotRegistered": NotFound,
    "RegistrationUsed": Conflict,
    "WrongSecret": PermissionDenied,
    "NotCertified": PermissionDenied,
    "BadCertificate": InvalidInput,
    "EnrolmentExpired": PermissionDenied,
    "KeyEnrolled": DuplicateEntity,
    "NotAnIdentity": NotFound,
    "NetworkAdminKey": PermissionDenied,
    "AlreadyRevoked": Conflict,
    "NotActiveIdentity": InvalidInput,
    "OtherOrg": PermissionDenied,
    "BadRole": InvalidInput,
    # Governor (the DAO) and its item reader
    "NotGovernor": PermissionDenied,
    "LimitedMode": PermissionDenied,
    "UnknownDaoType": InvalidInput,
    "NotLedger": PermissionDenied,
    "LedgerTime": Conflict,
    "ItemCount": InvalidInput,
    "WrongKind": InvalidInput,
    "BadId": InvalidInput,
    "NotNetworkAdmin": PermissionDenied,
    "DaoNotSetUp": NotFound,
    "DaoAlreadySetUp": DuplicateEntity,
    "UnknownParam": InvalidInput,
    "BadParam": InvalidInput,
    "UnknownIdentity": NotFound,
    "RevokedIdentity": PermissionDenied,
    "DaoNotTransferable": PermissionDenied,
    "InsufficientTokens": Conflict,
    "TreasuryShort": Conflict,
    "ProposalExists": DuplicateEntity,
    "UnknownProposal": NotFound,
    "BadParts": InvalidInput,
    "BadAction": InvalidInput,
    "VotingNotOpen": Conflict,
    "VotingClosed": Conflict,
    "AlreadyVoted": DuplicateEntity,
    "BadChoices": InvalidInput,
    "NoBallot": NotFound,
    "VoteCancelClosed": Conflict,
    "ProposerCancelClosed": Conflict,
    "NotProposerOrGuardian": PermissionDenied,
    "WrongStatus": Conflict,
    "AlreadyExecuted": Conflict,
    "TimelockRunning": Conflict,
    "AlreadySettled": Conflict,
    "AlreadyReleased": Conflict,
}
#: What an error means, in the words of the core's refusal.
MEANING = {
    "UnknownOrg": "the organisation (or its channel) is not registered",
    "NotOrgAdmin": "the signer is not an admin of the organisation",
    "ChannelOfItsOwn": "the channel is run by its organisation's own admins; the signer is"
    " not one of them",
    "OrgOfItsOwn": "the organisation has its own admin, who alone registers its users; the"
    " signer is not one of them",
    "UnknownSite": "the site is not registered",
    "SiteOfOtherOrg": "the site belongs to another organisation",
    "NotWriter": "the signer is not a member or admin of the site's organisation",
    "NotRegistered": "the user is not registered in the organisation",
    "RegistrationUsed": "the user has already enrolled",
    "WrongSecret": "wrong enrolment secret",
    "NotCertified": "the certificate does not certify the signer's key, or is not signed by"
    " the organisation's CA key",
    "BadCertificate": "the certificate is not a PEM X.509 certificate of a secp256k1 key",
    "EnrolmentExpired": "the enrolment secret expired",
    "KeyEnrolled": "the key is already enrolled",
    "NotAnIdentity": "not an enrolled identity",
    "NetworkAdminKey": "the network admin's key cannot be revoked here",
    "AlreadyRevoked": "the identity is already revoked",
    "NotActiveIdentity": "not an active identity",
    "OtherOrg": "only auditors are granted access to another organisation's channel",
    "BadRole": "roles must be among org_admin, member, auditor, rec_dealer, offset_dealer"
    " and consumer",
    "LimitedMode": "the ledger is in limited mode: offsets and RECs are issued only through"
    " a DAO proposal",
    "LedgerTime": "the ledger time is not within the block's second (or the deployment's"
    " time skew before it), or is before an earlier governance transaction's",
    "NotNetworkAdmin": "the signer is not the network admin",
    "DaoNotSetUp": "the DAO is not set up on this ledger",
    "DaoAlreadySetUp": "the DAO is already set up on this ledger",
    "UnknownIdentity": "not an enrolled identity",
    "RevokedIdentity": "the identity is revoked",
    "DaoNotTransferable": "DAO tokens are not transferable on this ledger",
    "InsufficientTokens": "more DAO tokens asked than available (locked tokens cannot move)",
    "TreasuryShort": "the treasury holds fewer tokens than asked",
    "ProposalExists": "the proposal already exists",
    "UnknownProposal": "the proposal does not exist",
    "VotingNotOpen": "voting has not opened yet",
    "VotingClosed": "voting is closed",
    "AlreadyVoted": "the voter has already voted; one ballot per voter",
    "BadChoices": "choices must give for, against or abstain for each part",
    "NoBallot": "no ballot of this voter",
    "VoteCancelClosed": "the vote cancel window closed",
    "ProposerCancelClosed": "the proposer's cancellation window closed",
    "NotProposerOrGuardian": "only its proposer or the guardian may cancel it",
    "WrongStatus": "the proposal is not in a state that allows this",
    "AlreadyExecuted": "the proposal was already executed",
    "TimelockRunning": "the timelock runs until the proposal's eta",
    "AlreadySettled": "the proposal's stake was already settled",
    "AlreadyReleased": "the ballot's tokens were already released",
}
#: Proposal states as the Governor numbers them (core.dao.model.STATES).
STATES = (
    "Pending",
    "Active",
    "Canceled",
    "QuorumFailed",
    "Defeated",
    "Succeeded",
    "Queued",
    "Expired",
    "Executed",
)


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


def errors_by_selector(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    out: dict[bytes, tuple[str, list[str]]] = {}
    for entry in abi:
        if entry["type"] == "error":
            types = [i["type"] for i in entry["inputs"]]
            out[selector(f"{entry['name']}({','.join(types)})")] = (entry["name"], types)
    return out


def translate(
    errors: dict[bytes, tuple[str, list[str]]], raw: str, message: str
) -> CarbonLedgerError:
    """The carbonledger error that a revert's data (hex) means, naming the contract's error."""
    payload = bytes.fromhex(raw[2:]) if raw.startswith("0x") else b""
    found = errors.get(payload[:4])
    if found is None:
        return Conflict(f"the contract refused the transaction: {message}")
    name, types = found
    args = abi_decode(types, payload[4:]) if types else ()
    shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
    meaning = MEANING.get(name)
    if meaning and "uint8" in types:
        # Governor errors name a proposal's state by its number.
        meaning += f" (the proposal is {STATES[args[types.index('uint8')]]})"
    said = f"{meaning}: " if meaning else ""
    return ERRORS.get(name, Conflict)(
        f"the contract refused the transaction: {said}{name}({shown})"
    )
