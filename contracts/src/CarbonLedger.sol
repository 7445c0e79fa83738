// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {CanonicalJson as J} from "./CanonicalJson.sol";
import {Governor} from "./Governor.sol";
import {CompactRecord as CR} from "./CompactRecord.sol";
import {LedgerItems as L} from "./LedgerItems.sol";
import {MemberItems} from "./MemberItems.sol";
import {TypedTx} from "./TypedTx.sol";
import {
    AUDITED,
    AUDITOR,
    ENROLLED,
    MEMBER,
    NETWORK_ADMIN,
    OFFSET,
    OFFSET_DEALER,
    ORG_ADMIN,
    REC,
    REC_DEALER,
    REVOKED
} from "./Roles.sol";

/// @title carbonledger on an EVM chain
/// @notice Records every carbonledger transaction (canonical JSON body signed with
/// EIP-191 personal_sign by its sender, or for transfers, retirements and emissions
/// records EIP-712 typed data over their packed items, see `submitPacked` and
/// TypedTx.sol), sent by any account that pays the gas: the
/// carbonledger signature (recovered here) is what counts, never the EVM sender. It
/// enforces the signer's nonce, roles and revocation; who may act for an organisation
/// (organisations by the network admin, sites, registrations, revocations and channel
/// grants by the organisation's admins; registrations only by its own admins once one
/// has enrolled, `ownAdmin`; channel grants, removals and rotations only by identities
/// of the organisation once its own admin holds the channel's key, `channelOwned`;
/// enrolments against their registration with
/// the registered roles, emissions records by the site's organisation's writers); and
/// the token network (ERC-1155 balances, dealer roles, totals issued and retired,
/// audited emissions minted retired and never transferable, token id 0 never
/// existing). Its `governor` (Governor.sol) enforces the DAO's rules on the dao_*
/// transactions and mints what executed proposals issue.
/// @dev The full state machine (carbonledger.core.state.apply) runs off chain on
/// the same bytes; the bodies and items travel in calldata (the chain's data
/// availability; typed transactions packed, see `submitPacked`) and their
/// hashes in the `Entry` event, so `verify` replays them against what the chain
/// committed to. What the chain cannot check (certificates beyond their key and
/// their organisation CA's signature,
/// sealed contents, channel epochs, periods) the core checks on every node. Metadata
/// is never stored: only hashes of ids, roles, balances and totals.
contract CarbonLedger is ERC1155 {
    // -- transaction types (keccak256 of the body's "type") ----------------------
    bytes32 internal constant T_GENESIS = keccak256("genesis");
    bytes32 internal constant T_ENROLL = keccak256("enroll");
    bytes32 internal constant T_REVOKE = keccak256("revoke_identity");
    bytes32 internal constant T_ISSUE = keccak256("issue_token");
    bytes32 internal constant T_MINT = keccak256("mint_token");
    bytes32 internal constant T_TRANSFER = keccak256("transfer_token");
    bytes32 internal constant T_RETIRE = keccak256("retire_token");
    bytes32 internal constant T_ORG = keccak256("register_org");
    bytes32 internal constant T_SITE = keccak256("register_site");
    bytes32 internal constant T_REGISTER = keccak256("register_identity");
    bytes32 internal constant T_GRANT = keccak256("channel_grant");
    bytes32 internal constant T_CHANNEL_REVOKE = keccak256("channel_revoke");
    bytes32 internal constant T_ROTATE = keccak256("channel_rotate");
    bytes32 internal constant T_RECORD = keccak256("record_emissions");

    struct Account {
        uint64 nonce; // next carbonledger nonce of this signer
        uint32 roles; // ENROLLED | REVOKED | role bits
        bytes20 org; // LedgerItems.orgKey of its organisation; 0 for the network admin
    }

    /// A user registered by an organisation admin, until it enrols once.
    struct Registration {
        bytes32 secretSha256; // sha256(salt || secret)
        bytes16 salt;
        uint32 roles; // role bits, exactly as registered
        uint8 status; // 0: none, 1: pending, 2: enrolled
        uint64 expires; // the secret's expiry (seconds since 1970, UTC)
    }

    struct Token {
        address issuer;
        uint8 kind; // REC, OFFSET or AUDITED; 0: does not exist
    }

    struct Totals {
        uint128 issued;
        uint128 retired;
    }

    /// One carbonledger transaction as signed, with the sender's hints.
    /// `hints` are offsets into items that the contract checks (never trusts):
    /// issue_token: [offset of the id value, offset of the org value (audited)];
    /// dao_*: [ledger time in ms, which the governor bounds by the block's second].
    /// Any other transaction's hints are ignored.
    /// `blobs`: the transaction's sealed blobs and the channel keys it wraps
    /// (ciphertext, each committed to by its SHA-256 in the signed items). The
    /// contract never reads them: they travel in calldata so that every node can
    /// rebuild its store from the chain, and each node checks them on sync.
    struct Tx {
        bytes body;
        bytes32 r;
        bytes32 s;
        uint8 v;
        bytes[] items;
        uint256[] hints;
        bytes[] blobs;
    }

    /// EIP-712 (typed data, see `submitPacked`): the struct a typed transaction signs.
    bytes32 internal constant TX_TYPEHASH =
        keccak256("Transaction(string type,uint64 nonce,string created,bytes32 itemsRoot,bytes[] items)");

    address public immutable admin;
    /// The DAO's rules (dao_* transactions); the issuer of the tokens its proposals issue.
    Governor public immutable governor;
    /// Reads the items of membership transactions (organisations, sites, registrations,
    /// enrolments, channel grants).
    MemberItems public immutable reader;
    bytes32 internal immutable ledgerWord;
    uint256 internal immutable ledgerLen;
    /// EIP712Domain(string name,string version,bytes32 salt): "carbonledger", "2",
    /// keccak256(ledger id); no chain id, so the embedded backend checks the same signature.
    bytes32 internal immutable domainSeparator;

    mapping(address => Account) public accounts;
    mapping(uint256 => Token) public tokens;
    mapping(uint256 => Totals) public totals;
    /// Registered organisations: the address of each one's CA key (secp256k1), which
    /// signs its users' certificates; address(1) for one without a CA. 0: not registered.
    /// And the admins each was registered with.
    mapping(bytes20 => address) internal orgs;
    mapping(bytes20 => mapping(address => bool)) public orgAdmins;
    /// Organisations whose channel one of their own admins (an identity of the
    /// organisation with the org_admin role) has been granted: from then on only
    /// identities of the organisation grant, revoke and rotate in it, never the network
    /// admin (core.rules.channels.run_by_its_own). Never unset.
    mapping(bytes20 => bool) internal channelOwned;
    /// Organisations one of whose own admins (an identity of the organisation with the
    /// org_admin role) has enrolled: from then on only its own admins register its
    /// people (core.rules.identity.has_own_admin). Never unset: revoking its admins does
    /// not hand the organisation back.
    mapping(bytes20 => bool) internal ownAdmin;
    /// Each site's organisation (by keccak256 of the site id).
    mapping(bytes32 => bytes20) public sites;
    /// Registrations by keccak256 of "<org>/<name>".
    mapping(bytes32 => Registration) public registrations;
    /// ERC-1155 balances, kept here (OpenZeppelin's are private and only reachable
    /// through its batch `_update`).
    mapping(uint256 => mapping(address => uint256)) internal _balances;
    /// The DAO's limited mode: offsets and RECs are issued only by executed proposals.
    bool public limitedMode;

    /// One accepted transaction: the SHA-256 of its body and its items root, or for a
    /// typed transaction its EIP-712 digest and the hash of its packed items.
    event Entry(address indexed sender, uint64 indexed nonce, bytes32 txHash, bytes32 itemsRoot);
    event Issued(uint256 indexed id, address indexed issuer, uint8 kind, address holder, uint256 amount);
    event Retired(uint256 indexed id, address indexed holder, uint256 amount, bytes32 leaf);
    event Roles(address indexed account, uint32 roles);

    error OnlyThroughLedger();
    error WrongLedger();
    error BadSignature(address signer, address sender);
    error BadNonce(address sender, uint64 expected, uint64 given);
    error ItemsMismatch();
    error NotEnrolled(address account);
    error Revoked(address account);
    error AlreadyEnrolled(address account);
    error MissingRole(address account, uint32 role);
    error UnknownToken(uint256 id);
    error TokenExists(uint256 id);
    error ReservedTokenId();
    error NotTransferable(uint256 id);
    error NotIssuer(uint256 id, address sender);
    error InsufficientBalance(address holder, uint256 id, uint256 available, uint256 amount);
    error SelfTransfer();
    error BadAmount();
    error NotGovernor();
    error LimitedMode(address sender);
    error NotNetworkAdmin(address sender);
    error UnknownOrg(bytes20 org);
    error OrgExists(bytes20 org);
    error AdminNotEnrolled(address admin);
    error NotOrgAdmin(address sender, bytes20 org);
    error SiteExists(bytes32 site);
    error UnknownSite(bytes32 site);
    error SiteOfOtherOrg(bytes32 site, bytes20 org);
    error NotWriter(address sender, bytes20 org);
    error RegistrationExists(bytes32 registration);
    error NotRegistered(bytes32 registration);
    error RegistrationUsed(bytes32 registration);
    error WrongSecret(bytes32 registration);
    error EnrolmentExpired(bytes32 registration, uint64 expires);
    error KeyEnrolled(address account);
    error ItemCount();
    error NotAnIdentity(address account);
    error NetworkAdminKey(address account);
    error AlreadyRevoked(address account);
    error NotActiveIdentity(address account);
    error OtherOrg(address account, bytes20 org);
    error ChannelOfItsOwn(address sender, bytes20 org);
    error OrgOfItsOwn(address sender, bytes20 org);
    error NotCertified(address account, bytes20 org);

    constructor(string memory ledgerId, address admin_, Governor governor_) ERC1155("") {
        bytes memory id = bytes(ledgerId);
        require(id.length > 0 && id.length <= 32, "ledger id: 1-32 bytes");
        admin = admin_;
        ledgerWord = bytes32(id);
        ledgerLen = id.length;
        domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,bytes32 salt)"),
                keccak256("carbonledger"),
                keccak256("2"),
                keccak256(id)
            )
        );
        // Deployed first, for this contract's address: the link must hold both ways.
        require(address(governor_.ledger()) == address(this), "governor of another ledger");
        governor = governor_;
        reader = new MemberItems();
    }

    // -- writing -------------------------------------------------------------------

    /// @notice Append `txs` atomically: all are accepted or the call reverts. Anyone may
    /// send them: each carries its signer's signature, which is what is checked.
    function submit(Tx[] calldata txs) external {
        for (uint256 i; i < txs.length; ++i) {
            _apply(txs[i]);
        }
    }

    /// @notice Append `txs` and the typed-data transactions packed in `packed`
    /// atomically, in the order `packed` gives: a 0x00 byte there takes the next of
    /// `txs`; a transaction type code (1 transfer_token, 2 retire_token, 3
    /// record_emissions) starts a typed transaction, laid out as TypedTx.sol says.
    /// Its sender signed the EIP-712 struct
    /// `Transaction(string type,uint64 nonce,string created,bytes32 itemsRoot,bytes[] items)`
    /// over the packed items (carbonledger.core.typed), so the contract hashes them as
    /// they are and reads their fixed-width fields; `itemsRoot` (the RFC 6962 root of the
    /// items' canonical JSON, which proofs end at) is taken as signed. The core checks
    /// the same signature on every node, that each packed item is its JSON item and that
    /// `itemsRoot` is their root.
    function submitPacked(Tx[] calldata txs, bytes calldata packed) external {
        uint256 next;
        uint256 pos;
        while (pos < packed.length) {
            if (packed[pos] == 0x00) {
                _apply(txs[next++]);
                ++pos;
            } else {
                pos = _applyTyped(packed, pos);
            }
        }
        if (next != txs.length) revert ItemCount();
    }

    /// @notice Typed transactions only, packed back to back as `submitPacked` takes
    /// them, as the whole calldata (no selector, no ABI encoding: the adapter sends such
    /// a call only when its first four bytes are no function's selector).
    fallback() external {
        uint256 pos;
        while (pos < msg.data.length) {
            pos = _applyTyped(msg.data, pos);
        }
    }

    function _applyTyped(bytes calldata p, uint256 pos) internal returns (uint256) {
        uint256 code = TypedTx.code(p, pos);
        bytes32 ty = code == 1 ? T_TRANSFER : code == 2 ? T_RETIRE : code == 3 ? T_RECORD : bytes32(0);
        if (ty == 0) revert TypedTx.Malformed(pos);
        TypedTx.Head memory h = TypedTx.read(p, pos, ty, domainSeparator, TX_TYPEHASH);
        address signer = h.signer;
        if (signer != h.sender || signer == address(0)) revert BadSignature(signer, h.sender);
        Account memory acct = accounts[signer];
        if (acct.nonce != h.nonce) revert BadNonce(signer, acct.nonce, h.nonce);
        acct.nonce += 1;
        _active(signer, acct.roles);
        bytes20 allowed;
        uint256 at = h.items;
        for (uint256 i; i < h.count; ++i) {
            (uint256 s, uint256 e) = TypedTx.item(p, at);
            at = e;
            if (code == 1) {
                (uint256 id, address to, uint256 amount) = TypedTx.transfer(p, s, e);
                _transferOne(signer, id, to, amount);
            } else if (code == 2) {
                (uint256 id, uint256 amount) = TypedTx.retirement(p, s, e);
                _retireOne(signer, id, amount, keccak256(p[s:e]));
            } else {
                allowed = _recordOne(signer, acct, p[s:e], allowed);
            }
        }
        accounts[signer] = acct;
        emit Entry(signer, h.nonce, h.digest, h.itemsHash);
        return h.next;
    }

    function _apply(Tx calldata t) internal {
        bytes calldata body = t.body;
        J.Head memory h = J.head(body, ledgerLen);
        if (J.word(body, h.ledgerAt, ledgerLen) != ledgerWord) revert WrongLedger();
        if (h.count != t.items.length) revert ItemsMismatch();
        if (J.itemsRoot(t.items) != h.itemsRoot) revert ItemsMismatch();

        bytes32 txHash = sha256(body);
        address signer = ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(txHash), t.v, t.r, t.s);
        if (signer != h.sender) revert BadSignature(signer, h.sender);

        Account memory acct = accounts[signer];
        if (acct.nonce != h.nonce) revert BadNonce(signer, acct.nonce, h.nonce);
        acct.nonce += 1;

        bytes32 ty = h.typeHash;
        if (ty == T_GENESIS) {
            if (signer != admin || acct.roles != 0) revert AlreadyEnrolled(signer);
            acct.roles = ENROLLED | NETWORK_ADMIN;
            emit Roles(signer, acct.roles);
        } else if (ty == T_ENROLL) {
            _enroll(signer, acct, t.items);
        } else {
            _active(signer, acct.roles);
            if (ty == T_RECORD) _record(signer, acct, t.items);
            else if (ty == T_REVOKE) _revoke(signer, acct, t.items);
            else if (ty == T_ISSUE) _issue(signer, acct.roles, t.items, t.hints);
            else if (ty == T_MINT) _mint(signer, t.items);
            else if (ty == T_TRANSFER) _transfer(signer, t.items);
            else if (ty == T_RETIRE) _retire(signer, t.items, h.itemsRoot);
            else if (ty == T_ORG) _registerOrg(signer, t.items);
            else if (ty == T_SITE) _registerSite(signer, acct, t.items);
            else if (ty == T_REGISTER) _register(signer, acct, t.items);
            else if (ty == T_GRANT) _grant(signer, acct, t.items);
            else if (ty == T_CHANNEL_REVOKE) _channelChange(signer, acct, t.items, false);
            else if (ty == T_ROTATE) _channelChange(signer, acct, t.items, true);
            else if (J.word(body, h.typeAt, 4) == "dao_") {
                governor.govern(ty, signer, acct.roles, t.items, t.hints);
            }
        }
        accounts[signer] = acct;
        emit Entry(signer, h.nonce, txHash, h.itemsRoot);
    }

    function _active(address who, uint32 roles) internal pure {
        if (roles & ENROLLED == 0) revert NotEnrolled(who);
        if (roles & REVOKED != 0) revert Revoked(who);
    }

    function _activeAccount(address who) internal view {
        _active(who, accounts[who].roles);
    }

    // -- organisations and their members (core.rules.registry, identity, channels) ---

    /// core.rules.common.is_org_admin: registered as one of its admins, or an identity
    /// of the organisation holding the org_admin role.
    function _isOrgAdmin(address who, Account memory a, bytes20 org) internal view returns (bool) {
        return (a.org == org && a.roles & ORG_ADMIN != 0) || orgAdmins[org][who];
    }

    /// core.rules.common.require_org_admin: the organisation exists, and the signer is
    /// the network admin or one of its admins.
    function _requireOrgAdmin(address who, Account memory a, bytes20 org) internal view {
        if (orgs[org] == address(0)) revert UnknownOrg(org);
        if (who != admin && !_isOrgAdmin(who, a, org)) revert NotOrgAdmin(who, org);
    }

    function _registerOrg(address sender, bytes[] calldata items) internal {
        if (sender != admin) revert NotNetworkAdmin(sender);
        for (uint256 i; i < items.length; ++i) {
            bytes calldata item = items[i];
            (bytes20 org, address[] memory admins, address ca) = reader.organisation(item);
            if (orgs[org] != address(0)) revert OrgExists(org);
            orgs[org] = ca;
            for (uint256 k; k < admins.length; ++k) {
                address who = admins[k];
                if (accounts[who].roles & ENROLLED == 0) revert AdminNotEnrolled(who);
                orgAdmins[org][who] = true;
            }
        }
    }

    function _registerSite(address sender, Account memory acct, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            (bytes32 site, bytes20 org) = reader.site(items[i]);
            if (sites[site] != 0) revert SiteExists(site);
            _requireOrgAdmin(sender, acct, org);
            sites[site] = org;
        }
    }

    function _register(address sender, Account memory acct, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            (bytes32 key, bytes20 org, uint32 roles, bytes16 salt, bytes32 secret, uint64 expires) =
                reader.registration(items[i]);
            _requireOrgAdmin(sender, acct, org);
            // Once one of its own admins has enrolled, only its own admins register its
            // people (core.rules.identity.has_own_admin).
            if (ownAdmin[org] && acct.org != org) revert OrgOfItsOwn(sender, org);
            if (registrations[key].status != 0) revert RegistrationExists(key);
            registrations[key] = Registration(secret, salt, roles, 1, expires);
        }
    }

    /// The signer's key takes the roles its registration holds, once its certificate
    /// certifies that key and is signed by the organisation's CA key recorded with the
    /// organisation (its names, roles and validity are checked by the core).
    function _enroll(address signer, Account memory acct, bytes[] calldata items) internal {
        if (items.length != 1) revert ItemCount();
        bytes calldata item = items[0];
        (bytes32 key, bytes20 org, uint256 s, uint256 e, address holder, address ia, address ib) =
            reader.enrolment(item);
        Registration storage reg = registrations[key];
        if (reg.status == 0) revert NotRegistered(key);
        if (reg.status != 1) revert RegistrationUsed(key);
        if (acct.roles != 0) revert KeyEnrolled(signer);
        if (block.timestamp > reg.expires) revert EnrolmentExpired(key, reg.expires);
        if (sha256(abi.encodePacked(reg.salt, item[s:e])) != reg.secretSha256) revert WrongSecret(key);
        address ca = orgs[org];
        if (holder != signer || (ia != ca && ib != ca)) revert NotCertified(signer, org);
        reg.status = 2;
        acct.roles = ENROLLED | reg.roles;
        acct.org = org;
        if (acct.roles & ORG_ADMIN != 0) ownAdmin[org] = true;
        emit Roles(signer, acct.roles);
    }

    function _revoke(address sender, Account memory acct, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            address who = J.revokedAddress(items[i]);
            Account storage a = accounts[who];
            uint32 roles = a.roles;
            if (roles & ENROLLED == 0) revert NotAnIdentity(who);
            if (roles & NETWORK_ADMIN != 0) revert NetworkAdminKey(who);
            _requireOrgAdmin(sender, acct, a.org);
            if (roles & REVOKED != 0) revert AlreadyRevoked(who);
            a.roles = roles | REVOKED;
            // The signer's own account is written back from memory at the end.
            if (who == sender) acct.roles |= REVOKED;
            emit Roles(who, roles | REVOKED);
        }
    }

    /// A channel's id is its organisation's: its admins grant access, to the
    /// organisation's own identities as members and to auditors of any organisation.
    /// The grant that first gives one of the organisation's own admins the key hands
    /// the channel to the organisation (`channelOwned`).
    function _grant(address sender, Account memory acct, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            (bytes20 org, address member, bool auditor) = reader.grant(items[i]);
            _requireOrgAdmin(sender, acct, org);
            _requireOwnIfOwned(sender, acct, org);
            Account memory m = member == sender ? acct : accounts[member];
            if (m.roles & ENROLLED == 0 || m.roles & REVOKED != 0) revert NotActiveIdentity(member);
            if (auditor && m.roles & AUDITOR == 0) revert MissingRole(member, AUDITOR);
            if (!auditor && m.org != org) revert OtherOrg(member, org);
            if (m.org == org && m.roles & ORG_ADMIN != 0) channelOwned[org] = true;
        }
    }

    /// Once its own admin holds the key, an organisation's channel is changed only by
    /// identities of the organisation (never by an admin from outside it).
    function _requireOwnIfOwned(address sender, Account memory acct, bytes20 org) internal view {
        if (channelOwned[org] && acct.org != org) revert ChannelOfItsOwn(sender, org);
    }

    /// channel_revoke (its admins) and channel_rotate (its admins, or a writer of the
    /// organisation when the epoch is stale, which the core judges): who the chain can
    /// tell may not. What the new keys are wrapped for the core checks on every node.
    function _channelChange(address sender, Account memory acct, bytes[] calldata items, bool rotate)
        internal
        view
    {
        for (uint256 i; i < items.length; ++i) {
            bytes20 org = reader.channel(items[i]);
            if (!rotate || !(acct.org == org && acct.roles & MEMBER != 0)) _requireOrgAdmin(sender, acct, org);
            _requireOwnIfOwned(sender, acct, org);
        }
    }

    /// Emissions records (calculation bases pass): each for a registered site, naming the
    /// site's organisation, whose admin or member the signer is (require_org_writer).
    function _record(address sender, Account memory acct, bytes[] calldata items) internal view {
        bytes20 allowed; // the last organisation the signer was found to write for
        for (uint256 i; i < items.length; ++i) {
            // Records travel compactly only in typed transactions (submitPacked).
            if (CR.isCompact(items[i])) revert ItemsMismatch();
            allowed = _recordOne(sender, acct, items[i], allowed);
        }
    }

    /// One item of an emissions entry; `allowed`: the last organisation the signer was
    /// found to write for (returned, updated).
    function _recordOne(address sender, Account memory acct, bytes calldata item, bytes20 allowed)
        internal
        view
        returns (bytes20)
    {
        bool isRecord = true;
        bytes32 site;
        bytes20 org;
        if (CR.isCompact(item)) {
            (uint256 ss, uint256 se, uint256 os, uint256 oe) = CR.siteAndOrg(item);
            (site, org) = (keccak256(item[ss:se]), L.orgKey(item, os, oe));
        } else {
            (isRecord, site, org) = L.record(item);
        }
        if (!isRecord) return allowed;
        bytes20 owner = sites[site];
        if (owner == 0) revert UnknownSite(site);
        if (owner != org) revert SiteOfOtherOrg(site, org);
        if (org == allowed) return allowed;
        if (!(acct.org == org && acct.roles & MEMBER != 0) && !_isOrgAdmin(sender, acct, org)) {
            revert NotWriter(sender, org);
        }
        return org;
    }

    function _issue(address sender, uint32 roles, bytes[] calldata items, uint256[] calldata hints) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes calldata item = items[i];
            (uint256 id, uint8 kind, address to, uint256 amount) = J.issue(item, hints[2 * i], hints[2 * i + 1]);
            if (id == 0) revert ReservedTokenId();
            if (tokens[id].kind != 0) revert TokenExists(id);
            if (kind != AUDITED && limitedMode) revert LimitedMode(sender);
            uint32 need = kind == REC ? REC_DEALER : kind == OFFSET ? OFFSET_DEALER : AUDITOR;
            if (roles & need == 0) revert MissingRole(sender, need);
            tokens[id] = Token(sender, kind);
            if (kind == AUDITED) {
                // Minted retired to the organisation: no balance ever exists to move.
                totals[id] = Totals(uint128(amount), uint128(amount));
                emit Issued(id, sender, kind, to, amount);
                emit Retired(id, to, amount, J.leaf(item));
            } else {
                _activeAccount(to);
                totals[id] = Totals(uint128(amount), 0);
                emit Issued(id, sender, kind, to, amount);
                _move(address(0), to, id, amount);
            }
        }
    }

    /// @notice Offsets and RECs that an executed DAO proposal issues: the governor checks
    /// the proposal and is their issuer, so they then move like any dealer's tokens.
    function daoIssue(uint256 id, uint8 kind, address to, uint256 amount) external {
        if (msg.sender != address(governor)) revert NotGovernor();
        if (id == 0) revert ReservedTokenId();
        if (tokens[id].kind != 0) revert TokenExists(id);
        _activeAccount(to);
        tokens[id] = Token(msg.sender, kind);
        totals[id] = Totals(uint128(amount), 0);
        emit Issued(id, msg.sender, kind, to, amount);
        _move(address(0), to, id, amount);
    }

    /// @notice The DAO's limited mode, as its governor sets it (dao_setup, set_param).
    function setLimitedMode(bool on) external {
        if (msg.sender != address(governor)) revert NotGovernor();
        limitedMode = on;
    }

    function _mint(address sender, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            (uint256 id, address to, uint256 amount) = J.tokenToAmount(items[i]);
            Token memory tok = _token(id);
            if (limitedMode) revert LimitedMode(sender);
            if (tok.kind == AUDITED) revert NotTransferable(id);
            if (tok.issuer != sender) revert NotIssuer(id, sender);
            _activeAccount(to);
            totals[id].issued += uint128(amount);
            _move(address(0), to, id, amount);
        }
    }

    function _transfer(address sender, bytes[] calldata items) internal {
        for (uint256 i; i < items.length; ++i) {
            (uint256 id, address to, uint256 amount) = J.tokenToAmount(items[i]);
            _transferOne(sender, id, to, amount);
        }
    }

    function _transferOne(address sender, uint256 id, address to, uint256 amount) internal {
        // No token lookup: unknown and audited tokens hold no balance anywhere, so
        // moving one fails the balance check in `_move`.
        if (to == sender) revert SelfTransfer();
        _activeAccount(to);
        _move(sender, to, id, amount);
    }

    function _retire(address sender, bytes[] calldata items, bytes32 root) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes calldata item = items[i];
            (uint256 id, uint256 amount) = J.tokenAmount(item);
            _retireOne(sender, id, amount, items.length == 1 ? root : J.leaf(item));
        }
    }

    /// `leaf`: the retirement's leaf hash (its entry's items root when it is the only
    /// item), or in a typed transaction the keccak256 of its packed item.
    function _retireOne(address sender, uint256 id, uint256 amount, bytes32 leaf) internal {
        // As for transfers, the balance check refuses unknown and audited tokens.
        totals[id].retired += uint128(amount);
        _move(sender, address(0), id, amount);
        emit Retired(id, sender, amount, leaf);
    }

    function _token(uint256 id) internal view returns (Token memory tok) {
        tok = tokens[id];
        if (tok.kind == 0) revert UnknownToken(id);
    }

    /// One id, one amount: the balances are updated here directly (no one-element
    /// arrays through OpenZeppelin's batch `_update`), with ERC-1155's event.
    function _move(address from, address to, uint256 id, uint256 amount) internal {
        if (amount == 0 || amount > type(uint64).max) revert BadAmount();
        if (from != address(0)) {
            uint256 have = _balances[id][from];
            if (have < amount) revert InsufficientBalance(from, id, have, amount);
            unchecked {
                _balances[id][from] = have - amount;
            }
        }
        if (to != address(0)) {
            // Cannot overflow: amounts are below 2^64 and totals below 2^128.
            unchecked {
                _balances[id][to] += amount;
            }
        }
        emit TransferSingle(msg.sender, from, to, id, amount);
    }

    function balanceOf(address account, uint256 id) public view override returns (uint256) {
        return _balances[id][account];
    }

    // -- ERC-1155: tokens move only through signed ledger transactions -------------

    function safeTransferFrom(address, address, uint256, uint256, bytes memory) public pure override {
        revert OnlyThroughLedger();
    }

    function safeBatchTransferFrom(address, address, uint256[] memory, uint256[] memory, bytes memory)
        public
        pure
        override
    {
        revert OnlyThroughLedger();
    }

    function setApprovalForAll(address, bool) public pure override {
        revert OnlyThroughLedger();
    }
}
