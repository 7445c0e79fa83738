// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";

/// @title Emissions records carried compactly, hashed as the canonical JSON that was signed
/// @notice An emissions record's public item is mostly fixed text around four SHA-256s
/// in hex; in calldata (the chain's price is per byte) it travels as its fields:
/// `0x00 | account(32) | blob(32) | commitment(32) | basis(32) | id(16, a UUID) |
/// epoch(4) | start(10) | end(10)` then `activity, org, site, schema, scope`, each one
/// length byte and its text. The contract writes the canonical JSON back in memory to
/// hash its leaf, so the signature over the items root holds unchanged on both
/// backends, and reads the record's organisation and site from the fields. Texts may
/// hold no quote or backslash, so the JSON written has exactly these members (the
/// adapter sends a record compactly only when this gives back its exact bytes; the
/// Python mirror is carbonledger.adapters.evm.compact).
library CompactRecord {
    uint256 internal constant FIXED = 169; // the marker and the fixed-size fields

    /// Whether `item` is compact (a JSON item starts with `{`).
    function isCompact(bytes calldata item) internal pure returns (bool) {
        return item.length > 0 && item[0] == 0x00;
    }

    /// The i-th text (0: activity, 1: org, 2: site, 3: schema, 4: scope): start and end.
    function text(bytes calldata c, uint256 i) internal pure returns (uint256 s, uint256 e) {
        e = FIXED;
        for (uint256 k; k <= i; ++k) {
            if (e >= c.length) revert J.BadJson(e);
            s = e + 1;
            e = s + uint8(c[e]);
        }
        if (e > c.length) revert J.BadJson(s);
    }

    /// The record's site id and organisation id (start, end of each).
    function siteAndOrg(bytes calldata c)
        internal
        pure
        returns (uint256 siteStart, uint256 siteEnd, uint256 orgStart, uint256 orgEnd)
    {
        (orgStart, orgEnd) = text(c, 1);
        (siteStart, siteEnd) = text(c, 2);
    }

    function _hex64(uint256 m, bytes32 x) private pure returns (uint256) {
        bytes32 hi = J.hex32(uint256(x) >> 128);
        bytes32 lo = J.hex32(uint256(x));
        assembly {
            mstore(m, hi)
            mstore(add(m, 32), lo)
        }
        return m + 64;
    }

    function _lit(uint256 m, bytes32 w, uint256 n) private pure returns (uint256) {
        assembly {
            mstore(m, w)
        }
        return m + n;
    }

    /// Copies `c[s:e]` (checked to hold no quote or backslash, 32 bytes a step) to memory
    /// at `m`.
    function _copy(uint256 m, bytes calldata c, uint256 s, uint256 e) private pure returns (uint256) {
        for (uint256 i = s; i < e; i += 32) {
            uint256 mask = J._specials(uint256(_word(c, i)));
            if (e - i < 32) mask &= ~(type(uint256).max >> (8 * (e - i)));
            if (mask != 0) revert J.BadJson(i);
        }
        assembly {
            calldatacopy(m, add(c.offset, s), sub(e, s))
        }
        return m + e - s;
    }

    function _word(bytes calldata c, uint256 pos) private pure returns (bytes32 w) {
        assembly {
            w := calldataload(add(c.offset, pos))
        }
    }

    /// The decimal digits of `v` at `m`.
    function _uint(uint256 m, uint256 v) private pure returns (uint256) {
        uint256 n = 1;
        for (uint256 t = v; t >= 10; t /= 10) ++n;
        for (uint256 i = n; i > 0; --i) {
            assembly {
                mstore8(add(m, sub(i, 1)), add(48, mod(v, 10)))
            }
            v /= 10;
        }
        return m + n;
    }

    /// The leaf hash (RFC 6962: sha256 of 0x00 and the item) of a compact record's
    /// canonical JSON, written in free memory that is left free afterwards.
    function leaf(bytes calldata c) internal view returns (bytes32 out) {
        if (c.length < FIXED + 10) revert J.BadJson(0);
        uint256 start;
        assembly {
            start := mload(0x40)
            mstore8(start, 0)
        }
        uint256 m = start + 1;
        (uint256 s, uint256 e) = text(c, 0);
        m = _lit(m, '{"account":"', 12);
        m = _hex64(m, _word(c, 1));
        m = _lit(m, '","activity":"', 14);
        m = _copy(m, c, s, e);
        m = _lit(m, '","detail":{"blob":"', 20);
        m = _hex64(m, _word(c, 33));
        m = _lit(m, '","channel":"', 13);
        (uint256 os, uint256 oe) = text(c, 1);
        m = _copy(m, c, os, oe);
        m = _lit(m, '","commitment":"', 16);
        m = _hex64(m, _word(c, 65));
        m = _lit(m, '","epoch":', 10);
        m = _uint(m, uint32(bytes4(_word(c, 145))));
        m = _lit(m, '},"id":"', 8);
        bytes32 h = J.hex32(uint128(bytes16(_word(c, 129))));
        assembly {
            // 8-4-4-4-12 hex digits with dashes
            mstore(m, h)
            mstore8(add(m, 8), 0x2d)
            mstore(add(m, 9), shl(64, h))
            mstore8(add(m, 13), 0x2d)
            mstore(add(m, 14), shl(96, h))
            mstore8(add(m, 18), 0x2d)
            mstore(add(m, 19), shl(128, h))
            mstore8(add(m, 23), 0x2d)
            mstore(add(m, 24), shl(160, h))
            m := add(m, 36)
        }
        m = _lit(m, '","kind":"emissions_record","or', 31);
        m = _lit(m, 'g":"', 4);
        m = _copy(m, c, os, oe);
        m = _lit(m, '","period":{"end":"', 19);
        m = _copy(m, c, 159, 169);
        m = _lit(m, '","start":"', 11);
        m = _copy(m, c, 149, 159);
        m = _lit(m, '"},"site":"', 11);
        (s, e) = text(c, 2);
        m = _copy(m, c, s, e);
        m = _lit(m, '","trace":{"basis":"', 20);
        m = _hex64(m, _word(c, 97));
        m = _lit(m, '","schema":"', 12);
        (s, e) = text(c, 3);
        m = _copy(m, c, s, e);
        m = _lit(m, '","scope":"', 11);
        uint256 last;
        (s, last) = text(c, 4);
        if (last != c.length) revert J.BadJson(last);
        m = _copy(m, c, s, last);
        m = _lit(m, '"}}', 3);
        assembly {
            if iszero(staticcall(gas(), 2, start, sub(m, start), 0, 32)) { revert(0, 0) }
            out := mload(0)
        }
    }
}
