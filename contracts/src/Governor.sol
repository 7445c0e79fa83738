// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {CanonicalJson as J} from "./CanonicalJson.sol";
import {DaoAction, DaoItems, DaoJson} from "./DaoItems.sol";
import {ENROLLED, NETWORK_ADMIN, OFFSET, REC, REVOKED} from "./Roles.sol";

/// The token network's side of the DAO, as CarbonLedger exposes it to its governor.
interface ITokenNetwork {
    function accounts(address who) external view returns (uint64 nonce, uint32 roles);
    function tokens(uint256 id) external view returns (address issuer, uint8 kind);
    function daoIssue(uint256 id, uint8 kind, address to, uint256 amount) external;
    function setLimitedMode(bool on) external;
}

/// @title carbonledger's DAO on an EVM chain
/// @notice Enforces the rules of the governance transactions (carbonledger.core.rules.
/// governance) that CarbonLedger has authenticated: the governance token's balances
/// (available and locked), proposals with their stake and windows, quadratic votes
/// tallied per part, quorum, timelock, execution (offsets and RECs issued into
/// CarbonLedger's token network with the DAO as issuer, treasury payments, parameter
/// changes), settlement and release.
/// @dev Ledger time: each governance transaction carries the ledger time (ms) its rules
/// were checked at as `hints[0]`. The chain's clock bounds it: it lies within the
/// block's second or at most `timeSkewMs` before it (`block.timestamp * 1000 - skew
/// <= now < block.timestamp * 1000 + 1000`), and never before the ledger time of an
/// earlier governance transaction. The skew is 0 where the operator mines the blocks
/// (anvil: each block at the second of its ledger time); on chains it does not mine,
/// it is the delay allowed between checking a transaction and its block. Item fields are read from the signed items themselves; texts,
/// project proofs and serials are metadata checked off chain and committed by hash.
contract Governor {
    // -- transaction types ----------------------------------------------------------
    bytes32 internal constant T_SETUP = keccak256("dao_setup");
    bytes32 internal constant T_ISSUE = keccak256("dao_issue");
    bytes32 internal constant T_TRANSFER = keccak256("dao_transfer");
    bytes32 internal constant T_PROPOSE = keccak256("dao_propose");
    bytes32 internal constant T_VOTE = keccak256("dao_vote");
    bytes32 internal constant T_WITHDRAW = keccak256("dao_withdraw");
    bytes32 internal constant T_CANCEL = keccak256("dao_cancel");
    bytes32 internal constant T_QUEUE = keccak256("dao_queue");
    bytes32 internal constant T_EXECUTE = keccak256("dao_execute");
    bytes32 internal constant T_SETTLE = keccak256("dao_settle");
    bytes32 internal constant T_RELEASE = keccak256("dao_release");

    // -- proposal states (carbonledger.core.dao.model.STATES, in order) -------------------
    uint8 public constant PENDING = 0;
    uint8 public constant ACTIVE = 1;
    uint8 public constant CANCELED = 2;
    uint8 public constant QUORUM_FAILED = 3;
    uint8 public constant DEFEATED = 4;
    uint8 public constant SUCCEEDED = 5;
    uint8 public constant QUEUED = 6;
    uint8 public constant EXPIRED = 7;
    uint8 public constant EXECUTED = 8;

    uint256 internal constant BPS = 10_000;
    uint256 internal constant P_LIMITED = 11; // limited_mode
    /// Vote units are 1e-7 votes: units = round(sqrt(tokens * 1e14)).
    uint256 internal constant VOTE_SQUARE_SCALE = 1e14;

    /// Holder of the DAO's treasury (carbonledger's "dao:treasury").
    address public constant TREASURY = address(uint160(uint256(keccak256("dao:treasury"))));

    // -- proposal flags and ballot flags ------------------------------------------------
    uint8 internal constant F_CANCELED = 1;
    uint8 internal constant F_EXECUTED = 2;
    uint8 internal constant F_SETTLED = 4;
    uint8 internal constant B_WITHDRAWN = 1;
    uint8 internal constant B_RELEASED = 2;

    struct Params {
        uint64[10] values; // voting_delay_ms .. reward_bps
        bool transferable;
        bool limitedMode;
        address guardian; // 0: nobody
        bool setUp;
    }

    struct Holder {
        uint64 available;
        uint64 locked;
    }

    struct Supply {
        uint64 issued;
        uint64 burned;
    }

    struct Proposal {
        address proposer;
        uint64 stake;
        uint8 parts;
        uint8 actions;
        uint8 flags;
        uint64 voteStart;
        uint64 voteEnd;
        uint64 eta; // 0: not queued
        uint64 timelock;
        uint64 grace;
        uint64 proposalCancel;
        uint64 voteCancel;
        uint64 quorum;
        uint16 burnBps;
        uint16 rewardBps;
    }

    struct Ballot {
        uint64 amount; // 0: no ballot
        uint64 votes;
        uint64 castAt;
        uint32 choices; // two bits a part: 0 for, 1 against, 2 abstain
        uint8 flags;
    }

    ITokenNetwork public immutable ledger;
    DaoItems public immutable reader;
    /// How long (ms) before its block a governance transaction's ledger time may be.
    uint256 public immutable timeSkewMs;
    /// The ledger time of the latest governance transaction (ms).
    uint64 public lastMs;

    Params internal _params;
    Supply public supply;
    mapping(address => Holder) public holders;
    mapping(bytes32 => Proposal) public proposals;
    /// Per proposal and part: for | against << 85 | abstain << 170 (vote units).
    mapping(bytes32 => mapping(uint256 => uint256)) internal _tallies;
    mapping(bytes32 => mapping(address => Ballot)) public ballots;
    mapping(bytes32 => mapping(uint256 => DaoAction)) internal _actions;

    error NotLedger();
    error UnknownDaoType();
    error LedgerTime(uint256 nowMs, uint256 blockTimestamp);
    error ItemCount();
    error NotNetworkAdmin(address sender);
    error DaoNotSetUp();
    error DaoAlreadySetUp();
    error UnknownIdentity(address who);
    error RevokedIdentity(address who);
    error DaoNotTransferable(address sender);
    error SelfTransfer();
    error InsufficientTokens(address holder, uint256 available, uint256 amount);
    error TreasuryShort(uint256 available, uint256 amount);
    error ProposalExists(bytes32 proposal);
    error UnknownProposal(bytes32 proposal);
    error TokenExists(uint256 id);
    error VotingNotOpen(bytes32 proposal, uint256 voteStart, uint256 nowMs);
    error VotingClosed(bytes32 proposal, uint8 status);
    error AlreadyVoted(bytes32 proposal, address voter);
    error BadChoices(uint256 parts);
    error NoBallot(bytes32 proposal, address voter);
    error VoteCancelClosed(bytes32 proposal, uint256 closedAt);
    error ProposerCancelClosed(bytes32 proposal, uint256 closedAt, uint8 status);
    error NotProposerOrGuardian(bytes32 proposal, address sender);
    error WrongStatus(bytes32 proposal, uint8 status);
    error AlreadyExecuted(bytes32 proposal);
    error TimelockRunning(bytes32 proposal, uint256 eta, uint256 nowMs);
    error AlreadySettled(bytes32 proposal);
    error AlreadyReleased(bytes32 proposal, address voter);

    constructor(address ledger_, uint256 timeSkewMs_) {
        require(timeSkewMs_ <= 3_600_000, "time skew: at most an hour");
        ledger = ITokenNetwork(ledger_);
        reader = new DaoItems();
        timeSkewMs = timeSkewMs_;
    }

    /// @notice Apply one governance transaction that CarbonLedger has authenticated.
    function govern(bytes32 ty, address sender, uint32 roles, bytes[] calldata items, uint256[] calldata hints)
        external
    {
        if (msg.sender != address(ledger)) revert NotLedger();
        if (hints.length == 0) revert LedgerTime(0, block.timestamp);
        uint256 nowMs = hints[0];
        uint256 blockMs = block.timestamp * 1000;
        if (nowMs >= blockMs + 1000 || nowMs + timeSkewMs < blockMs || nowMs < lastMs) {
            revert LedgerTime(nowMs, block.timestamp);
        }
        lastMs = uint64(nowMs);
        if (ty == T_VOTE) _vote(sender, items, nowMs);
        else if (ty == T_EXECUTE) _execute(items, nowMs);
        else if (ty == T_QUEUE) _queue(items, nowMs);
        else if (ty == T_PROPOSE) _propose(sender, items, nowMs);
        else if (ty == T_ISSUE) _issue(sender, roles, items);
        else if (ty == T_TRANSFER) _transfer(sender, roles, items);
        else if (ty == T_WITHDRAW) _withdraw(sender, items, nowMs);
        else if (ty == T_CANCEL) _cancel(sender, items, nowMs);
        else if (ty == T_SETTLE) _settleTx(items, nowMs);
        else if (ty == T_RELEASE) _release(sender, items, nowMs);
        else if (ty == T_SETUP) _setup(sender, roles, items);
        else revert UnknownDaoType();
    }

    // -- the token ------------------------------------------------------------------

    function _setup(address sender, uint32 roles, bytes[] calldata list) internal {
        if (roles & NETWORK_ADMIN == 0) revert NotNetworkAdmin(sender);
        if (list.length != 1) revert ItemCount();
        if (_params.setUp) revert DaoAlreadySetUp();
        (uint256 given, uint256[13] memory values) = reader.setup(list[0]);
        Params memory p;
        p.values = [
            uint64(86_400_000), // voting_delay_ms
            259_200_000, // voting_period_ms
            172_800_000, // timelock_ms
            1_209_600_000, // grace_ms
            14_400_000, // proposal_cancel_ms
            14_400_000, // vote_cancel_ms
            6_320_000_000, // quorum
            100_000, // proposal_threshold
            2_500, // burn_bps
            5_000 // reward_bps
        ];
        p.transferable = true;
        p.guardian = sender;
        p.setUp = true;
        for (uint256 idx; idx < 13; ++idx) {
            if (given & (1 << idx) != 0) _setParam(p, idx, _checkGuardian(idx, values[idx]));
        }
        _params = p;
        if (p.limitedMode) ledger.setLimitedMode(true);
    }

    /// The value of parameter `idx`; a guardian must be an active identity (or null).
    function _checkGuardian(uint256 idx, uint256 value) internal view returns (uint256) {
        if (idx == DaoJson.P_GUARDIAN && value != 0) {
            (, uint32 roles) = ledger.accounts(address(uint160(value)));
            if (roles & ENROLLED == 0 || roles & REVOKED != 0) revert DaoJson.BadParam(idx);
        }
        return value;
    }

    function _issue(address sender, uint32 roles, bytes[] calldata items) internal {
        if (roles & NETWORK_ADMIN == 0) revert NotNetworkAdmin(sender);
        if (!_params.setUp) revert DaoNotSetUp();
        for (uint256 i; i < items.length; ++i) {
            (address to, uint256 amount) = _movement(items[i], bytes32('"dao_issue","to":"'), 18);
            uint256 issued = supply.issued + amount;
            if (issued > DaoJson.MAX_INT) revert DaoJson.BadAmount();
            supply.issued = uint64(issued);
            holders[to].available += uint64(amount);
        }
    }

    function _transfer(address sender, uint32 roles, bytes[] calldata items) internal {
        if (!_params.setUp) revert DaoNotSetUp();
        if (!_params.transferable && roles & NETWORK_ADMIN == 0) revert DaoNotTransferable(sender);
        for (uint256 i; i < items.length; ++i) {
            (address to, uint256 amount) = _movement(items[i], bytes32('"dao_transfer","to":"'), 21);
            if (to == sender) revert SelfTransfer();
            _take(sender, amount);
            holders[to].available += uint64(amount);
        }
    }

    /// `{"amount":N,"id":"<id>","kind":<kindTo><recipient>"}`: the recipient and amount.
    function _movement(bytes calldata b, bytes32 kindTo, uint256 n)
        internal
        view
        returns (address to, uint256 amount)
    {
        uint256 value = J.amount(b);
        (, uint256 p) = J.digits(b, 10);
        J.lit(b, p, bytes32(',"id":"'), 7);
        uint256 idEnd = J.quoteAfter(b, p + 7, 65);
        DaoJson.checkId(b, p + 7, idEnd);
        J.lit(b, idEnd, bytes32('","kind":'), 9);
        J.lit(b, idEnd + 9, kindTo, n);
        uint256 end = b.length - 2;
        J.lit(b, end, bytes32('"}'), 2);
        if (J.quoteAfter(b, idEnd + 9 + n, 64) != end) revert J.BadJson(end);
        to = _recipient(b, idEnd + 9 + n, end);
        amount = DaoJson.amount(value);
    }

    /// `treasury`, `dao:treasury` or an active identity's address, spanning `s`..`e`.
    function _recipient(bytes calldata b, uint256 s, uint256 e) internal view returns (address) {
        if (e - s == 8 && J.word(b, s, 8) == bytes32("treasury")) return TREASURY;
        if (e - s == 12 && J.word(b, s, 12) == bytes32("dao:treasury")) return TREASURY;
        return _identity(DaoJson.addressAt(b, s, e));
    }

    /// An enrolled, unrevoked identity of the ledger.
    function _identity(address who) internal view returns (address) {
        (, uint32 roles) = ledger.accounts(who);
        if (roles & ENROLLED == 0) revert UnknownIdentity(who);
        if (roles & REVOKED != 0) revert RevokedIdentity(who);
        return who;
    }

    function _take(address who, uint256 amount) internal {
        Holder storage h = holders[who];
        if (amount > h.available) revert InsufficientTokens(who, h.available, amount);
        h.available -= uint64(amount);
    }

    function _lock(address who, uint256 amount) internal {
        Holder storage h = holders[who];
        if (amount > h.available) revert InsufficientTokens(who, h.available, amount);
        h.available -= uint64(amount);
        h.locked += uint64(amount);
    }

    function _unlock(address who, uint256 amount) internal {
        Holder storage h = holders[who];
        h.locked -= uint64(amount);
        h.available += uint64(amount);
    }

    // -- parameters -------------------------------------------------------------------

    function _setParam(Params memory p, uint256 idx, uint256 value) internal pure {
        if (idx < 10) p.values[idx] = uint64(value);
        else if (idx == 10) p.transferable = value == 1;
        else if (idx == 11) p.limitedMode = value == 1;
        else p.guardian = address(uint160(value));
    }

    // -- proposals --------------------------------------------------------------------

    function _propose(address sender, bytes[] calldata list, uint256 nowMs) internal {
        Params memory params = _params;
        if (!params.setUp) revert DaoNotSetUp();
        for (uint256 i; i < list.length; ++i) {
            (bytes32 pid, uint256 parts, uint256[] memory packed) = reader.proposal(list[i]);
            if (proposals[pid].proposer != address(0)) revert ProposalExists(pid);
            uint256 n = packed.length / 2;
            for (uint256 k; k < n; ++k) {
                DaoAction memory a = DaoJson.unpack(packed[2 * k], packed[2 * k + 1]);
                if (a.kind == DaoJson.A_PARAM) {
                    _checkGuardian(a.param, a.value);
                } else {
                    _identity(a.to);
                    if (a.kind != DaoJson.A_FUND) {
                        // A dry run of the issue: the token must not exist yet.
                        (, uint8 kind) = ledger.tokens(a.value);
                        if (kind != 0) revert TokenExists(a.value);
                    }
                }
                _actions[pid][k] = a;
            }
            uint256 stake = params.values[7];
            _lock(sender, stake);
            uint256 start = nowMs + params.values[0];
            proposals[pid] = Proposal({
                proposer: sender,
                stake: uint64(stake),
                parts: uint8(parts),
                actions: uint8(n),
                flags: 0,
                voteStart: uint64(start),
                voteEnd: uint64(start + params.values[1]),
                eta: 0,
                timelock: params.values[2],
                grace: params.values[3],
                proposalCancel: params.values[4],
                voteCancel: params.values[5],
                quorum: params.values[6],
                burnBps: uint16(params.values[8]),
                rewardBps: uint16(params.values[9])
            });
        }
    }

    // -- votes --------------------------------------------------------------------------

    /// Vote units of `tokens` locked: round(sqrt(tokens) * 1e7), as core.dao.quadratic.
    function votesFor(uint256 tokens) public pure returns (uint256) {
        uint256 scaled = tokens * VOTE_SQUARE_SCALE;
        uint256 root = Math.sqrt(scaled);
        return scaled > root * root + root ? root + 1 : root;
    }

    function _vote(address voter, bytes[] calldata items, uint256 nowMs) internal {
        if (!_params.setUp) revert DaoNotSetUp();
        for (uint256 i; i < items.length; ++i) {
            bytes calldata b = items[i];
            // {"amount":N,"choices":["for",..],"kind":"vote","proposal":"<id>"}
            uint256 amount = J.amount(b);
            (, uint256 p) = J.digits(b, 10);
            J.lit(b, p, bytes32(',"choices":['), 12);
            p += 12;
            uint256 count;
            uint256 choices;
            bool bad;
            if (b[p] == "]") {
                bad = true;
            } else {
                while (true) {
                    uint256 c = J.word(b, p, 5) == bytes32('"for"') ? 0
                        : J.word(b, p, 9) == bytes32('"against"') ? 1
                        : J.word(b, p, 9) == bytes32('"abstain"') ? 2 : 3;
                    uint256 end = c == 0 ? p + 5 : c < 3 ? p + 9 : J.skip(b, p);
                    if (c == 3 || count >= 16) bad = true;
                    else choices |= c << (2 * count);
                    ++count;
                    p = end;
                    if (!J.more(b, p, "]")) break;
                    ++p;
                }
            }
            J.lit(b, p, bytes32('],"kind":"vote","proposal":"'), 28);
            bytes32 pid = _pidAt(b, p + 28);
            Proposal storage prop = _proposal(pid);
            _open(prop, pid, nowMs);
            Ballot storage ballot = ballots[pid][voter];
            if (ballot.amount != 0) revert AlreadyVoted(pid, voter);
            uint256 parts = prop.parts;
            if (bad || count != parts) revert BadChoices(parts);
            DaoJson.amount(amount);
            _lock(voter, amount);
            uint256 votes = votesFor(amount);
            for (uint256 k; k < parts; ++k) {
                _tallies[pid][k] += votes << (85 * ((choices >> (2 * k)) & 3));
            }
            ballots[pid][voter] = Ballot(uint64(amount), uint64(votes), uint64(nowMs), uint32(choices), 0);
        }
    }

    function _withdraw(address voter, bytes[] calldata items, uint256 nowMs) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_vote_withdrawal"), 19);
            Proposal storage prop = _proposal(pid);
            Ballot storage ballot = ballots[pid][voter];
            if (ballot.amount == 0 || ballot.flags & B_WITHDRAWN != 0) revert NoBallot(pid, voter);
            _open(prop, pid, nowMs);
            uint256 closes = uint256(ballot.castAt) + prop.voteCancel;
            if (nowMs >= closes) revert VoteCancelClosed(pid, closes);
            uint256 votes = ballot.votes;
            uint256 choices = ballot.choices;
            for (uint256 k; k < prop.parts; ++k) {
                _tallies[pid][k] -= votes << (85 * ((choices >> (2 * k)) & 3));
            }
            _unlock(voter, ballot.amount);
            ballot.flags |= B_WITHDRAWN;
        }
    }

    function _release(address voter, bytes[] calldata items, uint256 nowMs) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_release"), 11);
            Proposal storage prop = _proposal(pid);
            Ballot storage ballot = ballots[pid][voter];
            if (ballot.amount == 0 || ballot.flags & B_WITHDRAWN != 0) revert NoBallot(pid, voter);
            if (ballot.flags & B_RELEASED != 0) revert AlreadyReleased(pid, voter);
            uint8 status = _status(prop, pid, nowMs);
            if (status == PENDING || status == ACTIVE) revert WrongStatus(pid, status);
            _unlock(voter, ballot.amount);
            ballot.flags |= B_RELEASED;
        }
    }

    function _open(Proposal storage prop, bytes32 pid, uint256 nowMs) internal view {
        uint8 status = _status(prop, pid, nowMs);
        if (status == PENDING) revert VotingNotOpen(pid, prop.voteStart, nowMs);
        if (status != ACTIVE) revert VotingClosed(pid, status);
    }

    // -- lifecycle ------------------------------------------------------------------------

    function _cancel(address sender, bytes[] calldata items, uint256 nowMs) internal {
        if (!_params.setUp) revert DaoNotSetUp();
        address guardian = _params.guardian;
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_cancel"), 10);
            Proposal storage prop = _proposal(pid);
            uint8 status = _status(prop, pid, nowMs);
            if (status == CANCELED || status == EXECUTED) revert WrongStatus(pid, status);
            uint256 burn;
            if (sender == prop.proposer) {
                uint256 closes = uint256(prop.voteStart) + prop.proposalCancel;
                if ((status != PENDING && status != ACTIVE) || nowMs >= closes) {
                    revert ProposerCancelClosed(pid, closes, status);
                }
                if (status != PENDING) burn = uint256(prop.stake) * prop.burnBps / BPS;
            } else if (sender == guardian && guardian != address(0)) {
                if (status != PENDING && status != ACTIVE && status != SUCCEEDED && status != QUEUED) {
                    revert WrongStatus(pid, status);
                }
            } else {
                revert NotProposerOrGuardian(pid, sender);
            }
            prop.flags |= F_CANCELED;
            _settle(prop, burn, 0);
        }
    }

    function _queue(bytes[] calldata items, uint256 nowMs) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_queue"), 9);
            Proposal storage prop = _proposal(pid);
            uint8 status = _status(prop, pid, nowMs);
            if (status != SUCCEEDED) revert WrongStatus(pid, status);
            prop.eta = uint64(nowMs + prop.timelock);
        }
    }

    function _execute(bytes[] calldata items, uint256 nowMs) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_execute"), 11);
            Proposal storage prop = _proposal(pid);
            uint8 status = _status(prop, pid, nowMs);
            if (status == EXECUTED) revert AlreadyExecuted(pid);
            if (status != QUEUED) revert WrongStatus(pid, status);
            if (nowMs < prop.eta) revert TimelockRunning(pid, prop.eta, nowMs);
            uint256 n = prop.actions;
            for (uint256 k; k < n; ++k) {
                _perform(_actions[pid][k]);
            }
            prop.flags |= F_EXECUTED;
            _settle(prop, 0, uint256(prop.stake) * prop.rewardBps / BPS);
        }
    }

    function _perform(DaoAction storage a) internal {
        uint8 kind = a.kind;
        if (kind == DaoJson.A_OFFSET || kind == DaoJson.A_REC) {
            address to = _identity(a.to);
            ledger.daoIssue(a.value, kind == DaoJson.A_OFFSET ? OFFSET : REC, to, a.amount);
        } else if (kind == DaoJson.A_FUND) {
            address to = _identity(a.to);
            _pay(to, a.amount);
        } else {
            Params memory p = _params;
            _setParam(p, a.param, _checkGuardian(a.param, a.value));
            if (a.param == P_LIMITED) ledger.setLimitedMode(a.value == 1);
            _params = p;
        }
    }

    function _pay(address to, uint256 amount) internal {
        Holder storage t = holders[TREASURY];
        if (amount > t.available) revert TreasuryShort(t.available, amount);
        t.available -= uint64(amount);
        holders[to].available += uint64(amount);
    }

    function _settleTx(bytes[] calldata items, uint256 nowMs) internal {
        for (uint256 i; i < items.length; ++i) {
            bytes32 pid = _simple(items[i], bytes32("dao_settle"), 10);
            Proposal storage prop = _proposal(pid);
            if (prop.flags & F_SETTLED != 0) revert AlreadySettled(pid);
            uint8 status = _status(prop, pid, nowMs);
            uint256 burn;
            if (status == QUORUM_FAILED || status == DEFEATED) burn = uint256(prop.stake) * prop.burnBps / BPS;
            else if (status != EXPIRED) revert WrongStatus(pid, status);
            _settle(prop, burn, 0);
        }
    }

    /// The stake back to the proposer, minus `burn`, plus `reward` from the treasury
    /// (as much as it holds).
    function _settle(Proposal storage prop, uint256 burn, uint256 reward) internal {
        address who = prop.proposer;
        uint256 stake = prop.stake;
        Holder storage h = holders[who];
        h.locked -= uint64(stake);
        h.available += uint64(stake - burn);
        if (burn != 0) supply.burned += uint64(burn);
        uint256 treasury = holders[TREASURY].available;
        if (reward > treasury) reward = treasury;
        if (reward != 0) _pay(who, reward);
        prop.flags |= F_SETTLED;
    }

    // -- reading ---------------------------------------------------------------------------

    function _proposal(bytes32 pid) internal view returns (Proposal storage prop) {
        prop = proposals[pid];
        if (prop.proposer == address(0)) revert UnknownProposal(pid);
    }

    /// The state of a proposal at ledger time `nowMs` (core.dao.model.proposal_status).
    function _status(Proposal storage prop, bytes32 pid, uint256 nowMs) internal view returns (uint8) {
        uint8 flags = prop.flags;
        if (flags & F_CANCELED != 0) return CANCELED;
        if (flags & F_EXECUTED != 0) return EXECUTED;
        if (nowMs < prop.voteStart) return PENDING;
        uint256 end = prop.voteEnd;
        if (nowMs < end) return ACTIVE;
        uint256 mask = (1 << 85) - 1;
        uint256 first = _tallies[pid][0];
        if ((first & mask) + ((first >> 85) & mask) + (first >> 170) < prop.quorum) return QUORUM_FAILED;
        for (uint256 k; k < prop.parts; ++k) {
            uint256 t = k == 0 ? first : _tallies[pid][k];
            if (t & mask <= (t >> 85) & mask) return DEFEATED;
        }
        uint256 eta = prop.eta;
        if (nowMs >= (eta == 0 ? end : eta) + prop.grace) return EXPIRED;
        return eta == 0 ? SUCCEEDED : QUEUED;
    }

    /// `{"kind":"<kind>","proposal":"<id>"}`: the proposal's key.
    function _simple(bytes calldata b, bytes32 kind, uint256 n) internal pure returns (bytes32) {
        J.lit(b, 0, bytes32('{"kind":"'), 9);
        J.lit(b, 9, kind, n);
        J.lit(b, 9 + n, bytes32('","proposal":"'), 14);
        return _pidAt(b, 23 + n);
    }

    /// The proposal id from `s` to the item's closing `"}`: its key.
    function _pidAt(bytes calldata b, uint256 s) internal pure returns (bytes32) {
        uint256 end = b.length - 2;
        J.lit(b, end, bytes32('"}'), 2);
        if (J.quoteAfter(b, s, 65) != end) revert J.BadJson(s);
        DaoJson.checkId(b, s, end);
        return keccak256(b[s:end]);
    }

    /// @notice A proposal's state now (by block time) and its tally per part:
    /// [for, against, abstain] vote units.
    function proposalState(string calldata id) external view returns (uint8 state, uint256[3][] memory tally) {
        bytes32 pid = keccak256(bytes(id));
        Proposal storage prop = _proposal(pid);
        state = _status(prop, pid, block.timestamp * 1000);
        tally = new uint256[3][](prop.parts);
        uint256 mask = (1 << 85) - 1;
        for (uint256 k; k < prop.parts; ++k) {
            uint256 t = _tallies[pid][k];
            tally[k] = [t & mask, (t >> 85) & mask, t >> 170];
        }
    }

    /// @notice The parameters: the ten numbers (voting_delay_ms .. reward_bps), then
    /// transferable, limited_mode and the guardian.
    function parameters() external view returns (uint64[10] memory values, bool transferable, bool limitedMode, address guardian) {
        Params storage p = _params;
        return (p.values, p.transferable, p.limitedMode, p.guardian);
    }
}
