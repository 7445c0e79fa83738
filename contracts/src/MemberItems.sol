// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {LedgerItems} from "./LedgerItems.sol";

/// @title The membership readers as a contract of their own
/// @notice Deployed by the ledger (as the Governor deploys its DaoItems) so that the
/// ledger's code stays under the 24 KB limit; membership transactions are rare, while
/// emissions records (read inline by the ledger) are the hot path.
contract MemberItems {
    function registration(bytes calldata b)
        external
        pure
        returns (bytes32 key, bytes20 org, uint32 roles, bytes16 salt, bytes32 secret, uint64 expires)
    {
        return LedgerItems.registration(b);
    }

    function enrolment(bytes calldata b)
        external
        pure
        returns (bytes32 key, bytes20 org, uint256 secretStart, uint256 secretEnd)
    {
        return LedgerItems.enrolment(b);
    }

    /// An organisation's key and its admins (each must be an enrolled identity).
    function organisation(bytes calldata b) external pure returns (bytes20 org, address[] memory admins) {
        uint256 q;
        (org, q) = LedgerItems.organisation(b);
        address[] memory found = new address[](b.length / 44);
        uint256 n;
        bool more = true;
        while (more) {
            (found[n++], q, more) = LedgerItems.nextAdmin(b, q);
        }
        admins = new address[](n);
        for (uint256 i; i < n; ++i) {
            admins[i] = found[i];
        }
    }

    function site(bytes calldata b) external pure returns (bytes32 id, bytes20 org) {
        return LedgerItems.site(b);
    }

    /// The organisation of a channel_rotate or channel_revoke item (its channel's id).
    function channel(bytes calldata b) external pure returns (bytes20 org) {
        return LedgerItems.channel(b);
    }

    function grant(bytes calldata b) external pure returns (bytes20 org, address member, bool auditor) {
        return LedgerItems.grant(b);
    }
}
