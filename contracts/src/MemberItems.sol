// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";
import {Certificates as C} from "./Certificates.sol";
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

    /// An enrolment's registration, organisation and secret (see LedgerItems.enrolment),
    /// the address of the key its certificate certifies, and the two addresses the
    /// certificate's signature recovers to (its issuer's is one: Certificates.parse).
    function enrolment(bytes calldata b)
        external
        view
        returns (
            bytes32 key,
            bytes20 org,
            uint256 secretStart,
            uint256 secretEnd,
            address holder,
            address issuerA,
            address issuerB
        )
    {
        (key, org, secretStart, secretEnd) = LedgerItems.enrolment(b);
        (uint256 vs, uint256 ve) = J.get(b, 1, "certificate", 11);
        (holder, issuerA, issuerB) = C.parse(C.der(b, vs, ve));
    }

    /// An organisation's key, its admins (each must be an enrolled identity) and the
    /// address of its CA's secp256k1 key; address(1), which no key signs for, when it
    /// has no CA (its users cannot enrol).
    function organisation(bytes calldata b)
        external
        view
        returns (bytes20 org, address[] memory admins, address ca)
    {
        (bool hasCa, uint256 vs, uint256 ve) = J.find(b, 1, "ca_cert", 7);
        ca = address(1);
        if (hasCa && b[vs] == '"') (ca,,) = C.parse(C.der(b, vs, ve));
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
