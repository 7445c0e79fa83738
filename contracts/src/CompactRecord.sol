// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";

/// @title Emissions records carried compactly: their fields, not their JSON
/// @notice An emissions record's public item is mostly fixed text around four SHA-256s
/// in hex; in calldata (the chain's price is per byte) it travels as its fields:
/// `0x00 | account(32) | blob(32) | commitment(32) | basis(32) | id(16, a UUID) |
/// epoch(4) | start(10) | end(10)` then `activity, org, site, schema, scope`, each one
/// length byte and its text. These bytes are what the sender signs (EIP-712 typed data
/// over the packed items, carbonledger.core.typed), so the contract hashes them as
/// they are and reads the record's organisation and site from the fields; every node's
/// core writes the canonical JSON back (carbonledger.core.compact_record) and refuses
/// a record that does not give back a well-formed item.
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
}
