// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Reading carbonledger's canonical JSON in calldata, without a parser
/// @notice Canonical JSON (sorted keys, no whitespace, quotes inside strings always
/// escaped) puts a transaction body's fields at places that can be found from its
/// two ends: `{"count":N,"created":"T","items_root":"H","ledger":"L","nonce":N,`
/// ... `,"sender":"0x..","type":"Y","v":1}`. An item's first key (`amount`) and
/// its last keys (`to`, `token`, `type`) are anchored the same way. A literal that
/// starts with an unescaped quote can only be structure, so each check below is
/// exact; any other layout reverts with `BadJson(offset)`.
library CanonicalJson {
    error BadJson(uint256 pos);

    struct Head {
        uint256 count;
        bytes32 itemsRoot;
        uint256 ledgerAt;
        uint64 nonce;
        address sender;
        bytes32 typeHash;
        uint256 typeAt; // where the type's text starts
    }

    /// The longest id carbonledger accepts (core.state.ID_PATTERN: 64 characters).
    uint256 internal constant ID_MAX = 64;
    uint256 internal constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;

    // -- primitives ---------------------------------------------------------------

    function word(bytes calldata b, uint256 pos, uint256 n) internal pure returns (bytes32 got) {
        if (pos + n > b.length) revert BadJson(pos);
        assembly {
            // The first n bytes (n <= 32; shr by 256 gives 0, so n = 32 keeps all).
            got := and(calldataload(add(b.offset, pos)), not(shr(mul(8, n), not(0))))
        }
    }

    function lit(bytes calldata b, uint256 pos, bytes32 want, uint256 n) internal pure {
        if (word(b, pos, n) != want) revert BadJson(pos);
    }

    /// A JSON integer (1-19 digits, no leading zero) at `pos`, and the index after it.
    function digits(bytes calldata b, uint256 pos) internal pure returns (uint256 v, uint256 end) {
        uint256 len = b.length;
        assembly {
            // Wraps on a long run of digits, which the length check below refuses.
            for { end := pos } lt(end, len) { end := add(end, 1) } {
                let c := byte(0, calldataload(add(b.offset, end)))
                if or(lt(c, 0x30), gt(c, 0x39)) { break }
                v := add(mul(v, 10), sub(c, 0x30))
            }
        }
        uint256 n = end - pos;
        if (n == 0 || n > 19 || (n > 1 && b[pos] == "0")) revert BadJson(pos);
    }

    uint256 internal constant LOW7 = 0x7f * ONES;

    /// 0x80 in each byte of `w` that equals `c`, 0 elsewhere (exact: no carries).
    function _eq(uint256 w, uint256 c) private pure returns (uint256) {
        unchecked {
            uint256 x = w ^ (c * ONES);
            return ~(((x & LOW7) + LOW7) | x | LOW7);
        }
    }

    /// 0x80 in each byte of `w` that is `"` or a backslash.
    function _specials(uint256 w) internal pure returns (uint256) {
        return _eq(w, 0x22) | _eq(w, 0x5c);
    }

    /// The index (0 = most significant) of the leftmost byte with its top bit set.
    function _firstByte(uint256 m) private pure returns (uint256) {
        return (255 - Math.log2(m)) / 8;
    }

    /// Index of the next `"` at or after `pos` (strings holding no escapes), within
    /// `max` bytes; a backslash first reverts. Scans 32 bytes a step.
    function quoteAfter(bytes calldata b, uint256 pos, uint256 max) internal pure returns (uint256 j) {
        uint256 stop = pos + max;
        if (stop > b.length) stop = b.length;
        j = _seek(b, pos, stop, true);
        if (j >= stop || b[j] != '"') revert BadJson(pos);
    }

    /// Index just after the previous `"` before `end` (exclusive), within `max` bytes;
    /// a backslash first reverts. Scans 32 bytes a step.
    function quoteBefore(bytes calldata b, uint256 end, uint256 max) internal pure returns (uint256) {
        if (end > b.length) revert BadJson(end);
        uint256 stop = end > max ? end - max : 0;
        for (uint256 i = end; i > stop; i = i > 32 ? i - 32 : 0) {
            // The 32 bytes before i, or the first i of them right-aligned.
            uint256 w;
            assembly {
                switch lt(i, 32)
                case 0 { w := calldataload(sub(add(b.offset, i), 32)) }
                default { w := shr(mul(8, sub(32, i)), calldataload(b.offset)) }
            }
            uint256 m = _specials(w);
            if (i - stop < 32) m &= (uint256(1) << (8 * (i - stop))) - 1;
            if (m != 0) {
                m &= ~m + 1; // the rightmost: nearest to i
                uint256 j = i + _firstByte(m) - 32;
                if (b[j] != '"') break;
                return j + 1;
            }
        }
        revert BadJson(end);
    }

    /// 32 nibbles, one per byte of `x` (big-endian), from the low 128 bits.
    function _spread(uint256 x) private pure returns (uint256) {
        x &= type(uint128).max;
        x = (x | (x << 64)) & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff;
        x = (x | (x << 32)) & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
        x = (x | (x << 16)) & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;
        x = (x | (x << 8)) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
        x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
        return x;
    }

    /// Lowercase hex (32 characters) of the low 128 bits of `x`.
    function hex32(uint256 x) internal pure returns (bytes32) {
        x = _spread(x);
        uint256 ge10 = ((x + 6 * ONES) >> 4) & ONES;
        return bytes32(x + 0x30 * ONES + ge10 * 0x27);
    }

    /// The 16 bytes that 32 hex characters (either case) spell.
    function unhex32(bytes32 w) internal pure returns (uint256 x) {
        x = uint256(w) | (0x20 * ONES);
        x = (x & (0x0f * ONES)) + ((x >> 6) & ONES) * 9;
        x = ((x >> 4) | x) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
        x = ((x >> 8) | x) & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;
        x = ((x >> 16) | x) & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
        x = ((x >> 32) | x) & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff;
        x = ((x >> 64) | x) & 0x00000000000000000000000000000000ffffffffffffffffffffffffffffffff;
    }

    /// The address spelt by the 40 hex characters at `pos` (EIP-55 case ignored).
    function addr(bytes calldata b, uint256 pos) internal pure returns (address) {
        uint256 hi = unhex32(word(b, pos, 32));
        uint256 lo = unhex32(word(b, pos + 8, 32));
        return address(uint160(((hi >> 96) << 128) | lo));
    }

    // -- hashes -------------------------------------------------------------------

    function leaf(bytes calldata item) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), item));
    }

    /// RFC 6962 Merkle root of the items' leaf hashes.
    function itemsRoot(bytes[] calldata items) internal pure returns (bytes32) {
        uint256 n = items.length;
        if (n == 1) return leaf(items[0]);
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            level[i] = leaf(items[i]);
        }
        return _mth(level, 0, n);
    }

    function _mth(bytes32[] memory h, uint256 lo, uint256 hi) internal pure returns (bytes32) {
        uint256 n = hi - lo;
        if (n == 1) return h[lo];
        uint256 k = 1;
        while (k << 1 < n) k <<= 1;
        return sha256(abi.encodePacked(bytes1(0x01), _mth(h, lo, lo + k), _mth(h, lo + k, hi)));
    }

    // -- the body -----------------------------------------------------------------

    function head(bytes calldata b, uint256 ledgerLen) internal pure returns (Head memory h) {
        lit(b, 0, bytes32('{"count":'), 9);
        uint256 p;
        (h.count, p) = digits(b, 9);
        lit(b, p, bytes32(',"created":"'), 12);
        p = quoteAfter(b, p + 12, 64);
        lit(b, p, bytes32('","items_root":"'), 16);
        p += 16;
        h.itemsRoot = bytes32((unhex32(word(b, p, 32)) << 128) | unhex32(word(b, p + 32, 32)));
        // The root must be spelt exactly as carbonledger writes it (lowercase).
        if (
            word(b, p, 32) != hex32(uint256(h.itemsRoot) >> 128)
                || word(b, p + 32, 32) != hex32(uint256(h.itemsRoot))
        ) revert BadJson(p);
        p += 64;
        lit(b, p, bytes32('","ledger":"'), 12);
        h.ledgerAt = p + 12;
        p = h.ledgerAt + ledgerLen;
        lit(b, p, bytes32('","nonce":'), 10);
        uint256 nonce;
        (nonce, p) = digits(b, p + 10);
        h.nonce = uint64(nonce);
        lit(b, p, bytes32(","), 1);
        // From the end: ,"sender":"0x<40 hex>","type":"<type>","v":1}
        uint256 end = b.length;
        lit(b, end - 8, bytes32('","v":1}'), 8);
        uint256 typeStart = quoteBefore(b, end - 8, 64);
        h.typeHash = keccak256(b[typeStart:end - 8]);
        h.typeAt = typeStart;
        lit(b, typeStart - 10, bytes32('","type":"'), 10);
        uint256 senderAt = typeStart - 50;
        lit(b, senderAt - 13, bytes32(',"sender":"0x'), 13);
        if (senderAt - 13 < p) revert BadJson(senderAt);
        h.sender = addr(b, senderAt);
    }

    // -- items --------------------------------------------------------------------

    /// `{"amount":N,` starts every token item.
    function amount(bytes calldata item) internal pure returns (uint256 v) {
        lit(item, 0, bytes32('{"amount":'), 10);
        uint256 p;
        (v, p) = digits(item, 10);
        lit(item, p, bytes32(","), 1);
    }

    /// `..."token":"<id>"}` ends transfers, mints and retirements.
    function _tokenAtEnd(bytes calldata item) private pure returns (uint256 id, uint256 start) {
        uint256 end = item.length - 2;
        lit(item, end, bytes32('"}'), 2);
        start = quoteBefore(item, end, ID_MAX + 1);
        lit(item, start - 10, bytes32(',"token":"'), 10);
        id = tokenId(item[start:end]);
    }

    function tokenAmount(bytes calldata item) internal pure returns (uint256 id, uint256 value) {
        value = amount(item);
        (id,) = _tokenAtEnd(item);
    }

    /// Transfers and mints: `{"amount":N,...,"to":"0x..","token":"<id>"}`.
    function tokenToAmount(bytes calldata item) internal pure returns (uint256 id, address to, uint256 value) {
        value = amount(item);
        uint256 start;
        (id, start) = _tokenAtEnd(item);
        lit(item, start - 11, bytes32('"'), 1);
        uint256 pos = start - 51;
        lit(item, pos - 9, bytes32(',"to":"0x'), 9);
        to = addr(item, pos);
    }

    /// The ERC-1155 id of a token id string; 0 for an id of only zeros (never a token).
    function tokenId(bytes calldata s) internal pure returns (uint256) {
        uint256 c;
        for (uint256 i; i < s.length; ++i) {
            assembly {
                c := byte(0, calldataload(add(s.offset, i)))
            }
            if (c != 0x30) return uint256(keccak256(s));
        }
        return 0;
    }

    /// The holder of an organisation's audited emissions: `org:<id>` as an address.
    function orgHolder(bytes calldata org) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked("org:", org)))));
    }

    /// An issue item: its id (checked at `idAt`), type, holder and amount.
    function issue(bytes calldata item, uint256 idAt, uint256 orgAt)
        internal
        pure
        returns (uint256 id, uint8 kind, address to, uint256 value)
    {
        value = amount(item);
        lit(item, idAt - 7, bytes32(',"id":"'), 7);
        uint256 idEnd = quoteAfter(item, idAt, ID_MAX + 1);
        lit(item, idEnd, bytes32('","kind":"token"'), 16);
        id = tokenId(item[idAt:idEnd]);
        uint256 end = item.length;
        uint256 toAt;
        if (word(item, end - 15, 15) == bytes32('","type":"REC"}')) {
            kind = 1;
            toAt = end - 55;
        } else if (end >= 29 && word(item, end - 29, 29) == bytes32('","type":"AUDITED_EMISSIONS"}')) {
            lit(item, orgAt - 8, bytes32(',"org":"'), 8);
            uint256 orgEnd = quoteAfter(item, orgAt, ID_MAX + 1);
            lit(item, orgEnd, bytes32('","period":'), 11);
            return (id, 3, orgHolder(item[orgAt:orgEnd]), value);
        } else {
            // ...,"to":"0x..","type":"OFFSET","vintage":YYYY}
            lit(item, end - 1, bytes32("}"), 1);
            uint256 v = end - 1;
            while (v > 0 && uint8(item[v - 1]) >= 0x30 && uint8(item[v - 1]) <= 0x39) --v;
            lit(item, v - 28, bytes32('","type":"OFFSET","vintage":'), 28);
            kind = 2;
            toAt = v - 68;
        }
        lit(item, toAt - 9, bytes32(',"to":"0x'), 9);
        to = addr(item, toAt);
    }

    /// A revocation item: `{"address":"0x<40 hex>",...`.
    function revokedAddress(bytes calldata item) internal pure returns (address) {
        lit(item, 0, bytes32('{"address":"0x'), 14);
        lit(item, 54, bytes32('"'), 1);
        return addr(item, 14);
    }

    // -- nested values (governance items) ------------------------------------------

    /// The first index in [i, end) holding a byte that matters: `"` or a backslash in a
    /// string, else `"` or a bracket; `end` if none. 32 bytes at a time.
    function _seek(bytes calldata b, uint256 i, uint256 end, bool inString) private pure returns (uint256) {
        while (i < end) {
            uint256 w;
            assembly {
                w := calldataload(add(b.offset, i))
            }
            uint256 m;
            if (inString) {
                m = _specials(w);
            } else {
                m = _eq(w, 0x22);
                // { and [ (and } and ]) differ only in bit 0x20.
                uint256 folded = w | (0x20 * ONES);
                m |= _eq(folded, 0x7b) | _eq(folded, 0x7d);
            }
            unchecked {
                uint256 left = end - i;
                if (left < 32) m &= ~(type(uint256).max >> (8 * left));
                if (m != 0) return i + _firstByte(m);
                i += 32;
            }
        }
        return end;
    }

    /// Index just after the value that starts at `p`: a string, a scalar, or an object or
    /// array, whose brackets must nest properly (a 256-level stack of bits).
    function skip(bytes calldata b, uint256 p) internal pure returns (uint256) {
        uint256 len = b.length;
        if (p >= len) revert BadJson(p);
        uint256 c;
        assembly {
            c := byte(0, calldataload(add(b.offset, p)))
        }
        if (c == 0x22) return stringEnd(b, p);
        if (c != 0x7b && c != 0x5b) {
            // A number or a literal: up to the next , } or ].
            uint256 i = p;
            while (i < len) {
                assembly {
                    c := byte(0, calldataload(add(b.offset, i)))
                }
                if (c == 0x2c || c == 0x7d || c == 0x5d) break;
                if (c == 0x22 || c == 0x7b || c == 0x5b) revert BadJson(i);
                ++i;
            }
            if (i == p) revert BadJson(p);
            return i;
        }
        uint256 stack; // bit d: 1 if depth d+1 is an object
        uint256 depth;
        uint256 pos = p;
        while (true) {
            pos = _seek(b, pos, len, false);
            if (pos == len) revert BadJson(p);
            assembly {
                c := byte(0, calldataload(add(b.offset, pos)))
            }
            if (c == 0x22) {
                pos = stringEnd(b, pos);
                continue;
            }
            if (c == 0x7b || c == 0x5b) {
                if (depth == 256) revert BadJson(pos);
                if (c == 0x7b) stack |= 1 << depth;
                ++depth;
            } else {
                if (depth == 0) revert BadJson(pos);
                --depth;
                if (((stack >> depth) & 1 == 1) != (c == 0x7d)) revert BadJson(pos);
                stack &= ~(1 << depth);
                if (depth == 0) return pos + 1;
            }
            ++pos;
        }
        revert BadJson(p); // unreachable
    }

    /// Index just after the string (escapes allowed) whose opening quote is at `p`.
    function stringEnd(bytes calldata b, uint256 p) internal pure returns (uint256) {
        uint256 len = b.length;
        uint256 i = p + 1;
        while (true) {
            i = _seek(b, i, len, true);
            if (i >= len) revert BadJson(p);
            if (b[i] == '"') return i + 1;
            i += 2; // an escape and the character it escapes
        }
        revert BadJson(p); // unreachable
    }

    /// The key of an object's next member: `p` is just after its `{` or a `,`. Returns
    /// where the key's text starts and ends, and where its value starts.
    function keyAt(bytes calldata b, uint256 p) internal pure returns (uint256 ks, uint256 ke, uint256 vs) {
        lit(b, p, bytes32('"'), 1);
        ks = p + 1;
        ke = quoteAfter(b, ks, 64);
        lit(b, ke, bytes32('":'), 2);
        vs = ke + 2;
    }

    /// The next member of an object: `p` is just after its `{` or a `,`. Returns where
    /// the key's text starts and ends, and the value's start and end.
    function next(bytes calldata b, uint256 p)
        internal
        pure
        returns (uint256 ks, uint256 ke, uint256 vs, uint256 ve)
    {
        (ks, ke, vs) = keyAt(b, p);
        ve = skip(b, vs);
    }

    /// The end of the object whose members continue at `p` (a `,` or its `}`).
    function rest(bytes calldata b, uint256 p) internal pure returns (uint256) {
        while (more(b, p, "}")) {
            (,,, p) = next(b, p + 1);
        }
        return p + 1;
    }

    /// After a member or element ending at `p`: true if another follows (`,`), false at
    /// the closing `close` bracket.
    function more(bytes calldata b, uint256 p, bytes1 close) internal pure returns (bool) {
        if (p >= b.length) revert BadJson(p);
        if (b[p] == ",") return true;
        if (b[p] != close) revert BadJson(p);
        return false;
    }

    /// Whether the key spanning `ks`..`ke` is `key` (its first `n` <= 32 bytes).
    function isKey(bytes calldata b, uint256 ks, uint256 ke, bytes32 key, uint256 n)
        internal
        pure
        returns (bool)
    {
        return ke - ks == n && word(b, ks, n) == key;
    }

    /// The value of member `key` (found by walking from `p`, just after `{` or `,`):
    /// its start and end, and whether it was found before the object ended.
    function find(bytes calldata b, uint256 p, bytes32 key, uint256 n)
        internal
        pure
        returns (bool found, uint256 vs, uint256 ve)
    {
        if (p < b.length && b[p] == "}") return (false, p, p);
        while (true) {
            uint256 ks;
            uint256 ke;
            (ks, ke, vs, ve) = next(b, p);
            if (isKey(b, ks, ke, key, n)) return (true, vs, ve);
            if (!more(b, ve, "}")) return (false, ve, ve);
            p = ve + 1;
        }
    }

    /// As `find`, reverting when the member is absent.
    function get(bytes calldata b, uint256 p, bytes32 key, uint256 n)
        internal
        pure
        returns (uint256 vs, uint256 ve)
    {
        bool found;
        (found, vs, ve) = find(b, p, key, n);
        if (!found) revert BadJson(p);
    }

    /// A whole number value spanning exactly `vs`..`ve`.
    function number(bytes calldata b, uint256 vs, uint256 ve) internal pure returns (uint256 v) {
        uint256 end;
        (v, end) = digits(b, vs);
        if (end != ve) revert BadJson(vs);
    }

    /// A string value without escapes spanning `vs`..`ve`: its text's start and end.
    function text(bytes calldata b, uint256 vs, uint256 ve) internal pure returns (uint256, uint256) {
        if (ve < vs + 2 || b[vs] != '"' || quoteAfter(b, vs + 1, ve - vs) != ve - 1) revert BadJson(vs);
        return (vs + 1, ve - 1);
    }
}
