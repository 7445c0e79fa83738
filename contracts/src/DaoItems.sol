// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";

/// One action of a proposal as the chain performs it; travels packed in two words:
/// `kind | param << 8 | amount << 16 | to << 80`, then `value`.
struct DaoAction {
    uint8 kind; // DaoJson.A_OFFSET, A_REC, A_FUND or A_PARAM
    uint8 param; // set_param: the parameter's index
    uint64 amount; // tokens issued or paid
    address to; // holder of the issued tokens, or the paid identity
    uint256 value; // issue: the ERC-1155 token id; set_param: the value
}

/// @title Reading governance items: ids, addresses and the DAO's parameters
library DaoJson {
    uint8 internal constant A_OFFSET = 1;
    uint8 internal constant A_REC = 2;
    uint8 internal constant A_FUND = 3;
    uint8 internal constant A_PARAM = 4;

    uint256 internal constant P_GUARDIAN = 12;
    uint256 internal constant MAX_DURATION_MS = 365 * 86_400_000;
    uint256 internal constant MAX_INT = 2 ** 63 - 1;
    uint256 internal constant BPS = 10_000;

    error BadId();
    error BadAmount();
    error UnknownParam(uint256 pos);
    error BadParam(uint256 param);

    /// An action from its two words.
    function unpack(uint256 w, uint256 value) internal pure returns (DaoAction memory) {
        return DaoAction(uint8(w), uint8(w >> 8), uint64(w >> 16), address(uint160(w >> 80)), value);
    }

    /// carbonledger ids: a letter or digit, then up to 63 letters, digits, `.`, `_`, `-`.
    function checkId(bytes calldata b, uint256 s, uint256 e) internal pure {
        if (e <= s || e - s > 64) revert BadId();
        for (uint256 i = s; i < e; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "0" && c <= "9") || (c >= "A" && c <= "Z") || (c >= "a" && c <= "z");
            if (!ok && (i == s || (c != "." && c != "_" && c != "-"))) revert BadId();
        }
    }

    /// `0x` and 40 hex characters spanning exactly `s`..`e`.
    function addressAt(bytes calldata b, uint256 s, uint256 e) internal pure returns (address) {
        if (e - s != 42) revert J.BadJson(s);
        J.lit(b, s, bytes32("0x"), 2);
        return J.addr(b, s + 2);
    }

    /// A token amount, as check_amount: 1 to 2^63 - 1.
    function amount(uint256 value) internal pure returns (uint256) {
        if (value == 0 || value > MAX_INT) revert BadAmount();
        return value;
    }

    /// The index of a parameter name (core.dao.model.PARAMS, in order).
    function paramIndex(bytes calldata b, uint256 ks, uint256 ke) internal pure returns (uint256) {
        if (J.isKey(b, ks, ke, bytes32("voting_delay_ms"), 15)) return 0;
        if (J.isKey(b, ks, ke, bytes32("voting_period_ms"), 16)) return 1;
        if (J.isKey(b, ks, ke, bytes32("timelock_ms"), 11)) return 2;
        if (J.isKey(b, ks, ke, bytes32("grace_ms"), 8)) return 3;
        if (J.isKey(b, ks, ke, bytes32("proposal_cancel_ms"), 18)) return 4;
        if (J.isKey(b, ks, ke, bytes32("vote_cancel_ms"), 14)) return 5;
        if (J.isKey(b, ks, ke, bytes32("quorum"), 6)) return 6;
        if (J.isKey(b, ks, ke, bytes32("proposal_threshold"), 18)) return 7;
        if (J.isKey(b, ks, ke, bytes32("burn_bps"), 8)) return 8;
        if (J.isKey(b, ks, ke, bytes32("reward_bps"), 10)) return 9;
        if (J.isKey(b, ks, ke, bytes32("transferable"), 12)) return 10;
        if (J.isKey(b, ks, ke, bytes32("limited_mode"), 12)) return 11;
        if (J.isKey(b, ks, ke, bytes32("guardian"), 8)) return P_GUARDIAN;
        revert UnknownParam(ks);
    }

    /// A parameter's value spanning `vs`..`ve`, in range as check_param has it; a
    /// guardian is an address (0: null) whose identity the caller checks.
    function paramValue(bytes calldata b, uint256 idx, uint256 vs, uint256 ve) internal pure returns (uint256) {
        if (idx == 10 || idx == 11) {
            if (ve - vs == 4 && J.word(b, vs, 4) == bytes32("true")) return 1;
            if (ve - vs == 5 && J.word(b, vs, 5) == bytes32("false")) return 0;
            revert BadParam(idx);
        }
        if (idx == P_GUARDIAN) {
            if (ve - vs == 4 && J.word(b, vs, 4) == bytes32("null")) return 0;
            if (ve - vs != 44 || b[vs] != '"' || b[ve - 1] != '"') revert BadParam(idx);
            return uint160(addressAt(b, vs + 1, ve - 1));
        }
        if (b[vs] < "0" || b[vs] > "9") revert BadParam(idx);
        uint256 v = J.number(b, vs, ve);
        (uint256 low, uint256 high) =
            idx < 6 ? (idx == 0 || idx >= 4 ? 0 : 1, MAX_DURATION_MS) : idx < 8 ? (1, MAX_INT) : (0, BPS);
        if (v < low || v > high) revert BadParam(idx);
        return v;
    }
}

/// @title Reading a proposal's and the DAO setup's items (pure; called by the Governor)
/// @dev Its own contract so that the Governor stays well under the 24 KB code limit.
contract DaoItems {
    uint256 internal constant MAX_PARTS = 10;
    uint256 internal constant MAX_ACTIONS = 10;

    error WrongKind();
    error BadParts();
    error BadAction(uint256 action);
    error TokenExists(uint256 id);
    error ReservedTokenId();

    /// @notice A dao_setup item's parameters: `given` has bit i set for each parameter i
    /// it names, with its value in `values[i]` (a guardian as an address, 0 for null).
    function setup(bytes calldata b) external pure returns (uint256 given, uint256[13] memory values) {
        // {"kind":"dao_setup","name":"..","params":{..},"symbol":".."}
        J.lit(b, 0, bytes32('{"kind":"dao_setup",'), 20);
        (bool found, uint256 vs,) = J.find(b, 20, bytes32("params"), 6);
        if (!found || b[vs] == "n") return (0, values);
        if (b[vs] != "{") revert J.BadJson(vs);
        uint256 q = vs + 1;
        if (b[q] == "}") return (0, values);
        while (true) {
            (uint256 ks, uint256 ke, uint256 ps, uint256 pe) = J.next(b, q);
            uint256 idx = DaoJson.paramIndex(b, ks, ke);
            values[idx] = DaoJson.paramValue(b, idx, ps, pe);
            given |= 1 << idx;
            if (!J.more(b, pe, "}")) break;
            q = pe + 1;
        }
    }

    /// @notice A proposal item: its key (keccak256 of its id), its number of parts and
    /// its actions in order (two words each, see `DaoAction`), each read and
    /// range-checked (identities and the token network are the caller's to check).
    function proposal(bytes calldata b) external pure returns (bytes32 pid, uint256 parts, uint256[] memory packed) {
        // {"description":..,"id":"..","kind":"proposal","parts":[..],"projects":[..],"title":..}
        J.lit(b, 0, bytes32("{"), 1);
        (uint256 vs, uint256 ve) = J.get(b, 1, bytes32("id"), 2);
        (uint256 s, uint256 e) = J.text(b, vs, ve);
        DaoJson.checkId(b, s, e);
        pid = keccak256(b[s:e]);
        (vs, ve) = J.get(b, ve + 1, bytes32("kind"), 4);
        if (ve - vs != 10 || J.word(b, vs, 10) != bytes32('"proposal"')) revert WrongKind();
        (vs, ve) = J.get(b, ve + 1, bytes32("parts"), 5);
        packed = new uint256[](2 * MAX_PARTS * MAX_ACTIONS);
        uint256 n;
        (parts, n) = _parts(b, vs, packed);
        assembly {
            mstore(packed, mul(n, 2))
        }
    }

    /// The parts array at `p`: 1-10 parts of 1-10 actions each.
    function _parts(bytes calldata b, uint256 p, uint256[] memory packed)
        internal
        pure
        returns (uint256 parts, uint256 n)
    {
        if (b[p] != "[" || b[p + 1] == "]") revert BadParts();
        uint256 q = p + 1;
        while (true) {
            if (++parts > MAX_PARTS || b[q] != "{") revert BadParts();
            (uint256 as_,) = J.get(b, q + 1, bytes32("actions"), 7);
            if (b[as_] != "[" || b[as_ + 1] == "]") revert BadParts();
            uint256 r = as_ + 1;
            uint256 inPart;
            uint256 actionsEnd;
            while (true) {
                if (++inPart > MAX_ACTIONS) revert BadParts();
                (DaoAction memory a, uint256 end) = _action(b, r, n);
                if (a.kind <= DaoJson.A_REC) {
                    // Each issue a new token: no id twice in one proposal.
                    for (uint256 j; j < n; ++j) {
                        if (uint8(packed[2 * j]) <= DaoJson.A_REC && packed[2 * j + 1] == a.value) {
                            revert TokenExists(a.value);
                        }
                    }
                }
                packed[2 * n] = uint256(a.kind) | (uint256(a.param) << 8) | (uint256(a.amount) << 16)
                    | (uint256(uint160(a.to)) << 80);
                packed[2 * n + 1] = a.value;
                ++n;
                if (!J.more(b, end, "]")) {
                    actionsEnd = end + 1;
                    break;
                }
                r = end + 1;
            }
            uint256 partEnd = J.rest(b, actionsEnd);
            if (!J.more(b, partEnd, "]")) break;
            q = partEnd + 1;
        }
    }

    /// The `n`th action, starting at `p`; where it ends.
    function _action(bytes calldata b, uint256 p, uint256 n) internal pure returns (DaoAction memory a, uint256 end) {
        if (b[p] != "{") revert BadAction(n);
        // value spans (start, end) of: amount, name, to, token, type, value (token: its own walk)
        uint256[12] memory span;
        uint256 q = p + 1;
        uint256 tokenType; // 1 OFFSET, 2 REC, 3 another
        while (true) {
            (uint256 ks, uint256 ke, uint256 vs) = J.keyAt(b, q);
            uint256 ve;
            if (J.isKey(b, ks, ke, bytes32("token"), 5)) {
                (tokenType, ve) = _token(b, vs, a, n);
                span[6] = vs;
                span[7] = ve;
                if (!J.more(b, ve, "}")) {
                    end = ve + 1;
                    break;
                }
                q = ve + 1;
                continue;
            }
            ve = J.skip(b, vs);
            uint256 k = J.isKey(b, ks, ke, bytes32("amount"), 6)
                ? 0
                : J.isKey(b, ks, ke, bytes32("name"), 4)
                    ? 1
                    : J.isKey(b, ks, ke, bytes32("to"), 2)
                        ? 2
                        : J.isKey(b, ks, ke, bytes32("type"), 4) ? 4 : J.isKey(b, ks, ke, bytes32("value"), 5) ? 5 : 6;
            if (k < 6) (span[2 * k], span[2 * k + 1]) = (vs, ve);
            if (!J.more(b, ve, "}")) {
                end = ve + 1;
                break;
            }
            q = ve + 1;
        }
        if (span[9] == 0) revert BadAction(n);
        (uint256 ts, uint256 te) = J.text(b, span[8], span[9]);
        if (te - ts == 12 && J.word(b, ts, 12) == bytes32("issue_offset")) a.kind = DaoJson.A_OFFSET;
        else if (te - ts == 9 && J.word(b, ts, 9) == bytes32("issue_rec")) a.kind = DaoJson.A_REC;
        else if (te - ts == 4 && J.word(b, ts, 4) == bytes32("fund")) a.kind = DaoJson.A_FUND;
        else if (te - ts == 9 && J.word(b, ts, 9) == bytes32("set_param")) a.kind = DaoJson.A_PARAM;
        else revert BadAction(n);
        if (a.kind == DaoJson.A_FUND) {
            if (span[5] == 0 || span[1] == 0) revert BadAction(n);
            (uint256 s, uint256 e) = J.text(b, span[4], span[5]);
            a.to = DaoJson.addressAt(b, s, e);
            a.amount = uint64(DaoJson.amount(_number(b, span[0], span[1], n)));
        } else if (a.kind == DaoJson.A_PARAM) {
            if (span[3] == 0 || span[11] == 0) revert BadAction(n);
            (uint256 s, uint256 e) = J.text(b, span[2], span[3]);
            uint256 idx = DaoJson.paramIndex(b, s, e);
            a.param = uint8(idx);
            a.value = DaoJson.paramValue(b, idx, span[10], span[11]);
        } else if (span[7] == 0 || tokenType != a.kind) {
            revert BadAction(n);
        }
    }

    function _number(bytes calldata b, uint256 vs, uint256 ve, uint256 n) internal pure returns (uint256) {
        if (ve == 0 || b[vs] < "0" || b[vs] > "9") revert BadAction(n);
        return J.number(b, vs, ve);
    }

    /// The issue_token item of an issue action, at `p`: its token id, holder and amount
    /// into `a`; its type (1 OFFSET, 2 REC, 3 another) and where it ends.
    function _token(bytes calldata b, uint256 p, DaoAction memory a, uint256 n)
        internal
        pure
        returns (uint256 tokenType, uint256 end)
    {
        if (b[p] != "{") revert BadAction(n);
        uint256[8] memory span; // amount, id, to, type
        uint256 q = p + 1;
        while (true) {
            (uint256 ks, uint256 ke, uint256 vs, uint256 ve) = J.next(b, q);
            uint256 k = J.isKey(b, ks, ke, bytes32("amount"), 6)
                ? 0
                : J.isKey(b, ks, ke, bytes32("id"), 2)
                    ? 1
                    : J.isKey(b, ks, ke, bytes32("to"), 2) ? 2 : J.isKey(b, ks, ke, bytes32("type"), 4) ? 3 : 4;
            if (k < 4) (span[2 * k], span[2 * k + 1]) = (vs, ve);
            if (!J.more(b, ve, "}")) {
                end = ve + 1;
                break;
            }
            q = ve + 1;
        }
        if (span[1] == 0 || span[3] == 0 || span[5] == 0 || span[7] == 0) revert BadAction(n);
        (uint256 s, uint256 e) = J.text(b, span[6], span[7]);
        tokenType = e - s == 6 && J.word(b, s, 6) == bytes32("OFFSET")
            ? DaoJson.A_OFFSET
            : e - s == 3 && J.word(b, s, 3) == bytes32("REC") ? DaoJson.A_REC : 3;
        (s, e) = J.text(b, span[4], span[5]);
        a.to = DaoJson.addressAt(b, s, e);
        (s, e) = J.text(b, span[2], span[3]);
        DaoJson.checkId(b, s, e);
        a.value = J.tokenId(b[s:e]);
        if (a.value == 0) revert ReservedTokenId();
        a.amount = uint64(DaoJson.amount(_number(b, span[0], span[1], n)));
    }
}
