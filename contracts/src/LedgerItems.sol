// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";
import {AUDITOR, CONSUMER, MEMBER, OFFSET_DEALER, ORG_ADMIN, REC_DEALER} from "./Roles.sol";

/// @title Reading the items of the membership transactions (organisations, sites,
/// registrations, enrolments, channel grants) and of emissions records
/// @notice Each reader returns only what the contract checks against its own state
/// (who may act for which organisation); the rest of an item (certificates, sealed
/// details, periods) is checked by the core on every node. Organisations, sites and
/// registrations are named on chain by the keccak256 of their ids.
library LedgerItems {
    error BadRole(uint256 pos);

    /// An organisation's key: the first 20 bytes of keccak256 of its id (packs with an
    /// account's nonce and roles in one slot).
    function orgKey(bytes calldata b, uint256 s, uint256 e) internal pure returns (bytes20) {
        return bytes20(keccak256(b[s:e]));
    }

    /// The string member `key` (text without escapes), searched from `p` (just after
    /// `{` or a `,`): its text's start and end, and where the next member starts.
    function str(bytes calldata b, uint256 p, bytes32 key, uint256 n)
        internal
        pure
        returns (uint256 s, uint256 e, uint256 next)
    {
        (uint256 vs, uint256 ve) = J.get(b, p, key, n);
        (s, e) = J.text(b, vs, ve);
        next = ve + 1;
    }

    /// The address spelt by a string member's text (`0x` and 40 hex characters).
    function addressText(bytes calldata b, uint256 s, uint256 e) internal pure returns (address) {
        if (e - s != 42 || J.word(b, s, 2) != "0x") revert J.BadJson(s);
        return J.addr(b, s + 2);
    }

    /// The role bit of a role's name; `network_admin` is never granted.
    function roleBit(bytes calldata b, uint256 s, uint256 e) internal pure returns (uint32) {
        bytes32 w = J.word(b, s, e - s > 32 ? 32 : e - s);
        uint256 n = e - s;
        if (n == 6 && w == "member") return MEMBER;
        if (n == 7 && w == "auditor") return AUDITOR;
        if (n == 8 && w == "consumer") return CONSUMER;
        if (n == 9 && w == "org_admin") return ORG_ADMIN;
        if (n == 10 && w == "rec_dealer") return REC_DEALER;
        if (n == 13 && w == "offset_dealer") return OFFSET_DEALER;
        revert BadRole(s);
    }

    /// `n` decimal digits at `pos`.
    function _num(bytes calldata b, uint256 pos, uint256 n) private pure returns (uint256 v) {
        for (uint256 i; i < n; ++i) {
            uint8 c = uint8(b[pos + i]);
            if (c < 0x30 || c > 0x39) revert J.BadJson(pos + i);
            v = v * 10 + (c - 0x30);
        }
    }

    /// Seconds since 1970 of a UTC time spelt `YYYY-MM-DDTHH:MM:SSZ` at `s` (how
    /// registrations write their expiry); days from the civil date (H. Hinnant's algorithm).
    function utcSeconds(bytes calldata b, uint256 s, uint256 e) internal pure returns (uint64) {
        if (
            e - s != 20 || b[s + 4] != "-" || b[s + 7] != "-" || b[s + 10] != "T" || b[s + 13] != ":"
                || b[s + 16] != ":" || b[s + 19] != "Z"
        ) revert J.BadJson(s);
        uint256 y = _num(b, s, 4);
        uint256 m = _num(b, s + 5, 2);
        uint256 d = _num(b, s + 8, 2);
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31) revert J.BadJson(s);
        if (m <= 2) y -= 1;
        uint256 era = y / 400;
        uint256 yoe = y - era * 400;
        uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        uint256 dayNo = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
        return uint64(dayNo * 86400 + _num(b, s + 11, 2) * 3600 + _num(b, s + 14, 2) * 60 + _num(b, s + 17, 2));
    }

    /// A registration: `{"expires":"T","id":"N","kind":..,"org":"O","roles":[..],
    /// "salt":"<32 hex>","secret_sha256":"<64 hex>"}`.
    function registration(bytes calldata b)
        internal
        pure
        returns (bytes32 key, bytes20 org, uint32 roles, bytes16 salt, bytes32 secret, uint64 expires)
    {
        (uint256 ns, uint256 ne, uint256 p) = str(b, 1, "expires", 7);
        expires = utcSeconds(b, ns, ne);
        (ns, ne, p) = str(b, p, "id", 2);
        uint256 os;
        uint256 oe;
        (os, oe, p) = str(b, p, "org", 3);
        org = orgKey(b, os, oe);
        key = keccak256(abi.encodePacked(b[os:oe], "/", b[ns:ne]));
        (uint256 vs, uint256 ve) = J.get(b, p, "roles", 5);
        if (b[vs] != "[" || b[vs + 1] == "]") revert BadRole(vs);
        uint256 q = vs;
        do {
            uint256 end = J.skip(b, q + 1);
            (uint256 s, uint256 e) = J.text(b, q + 1, end);
            roles |= roleBit(b, s, e);
            q = end;
        } while (J.more(b, q, "]"));
        if (q + 1 != ve) revert J.BadJson(q);
        uint256 ss;
        uint256 se;
        (ss, se, p) = str(b, ve + 1, "salt", 4);
        if (se - ss != 32) revert J.BadJson(ss);
        salt = bytes16(uint128(J.unhex32(J.word(b, ss, 32))));
        (ss, se,) = str(b, p, "secret_sha256", 13);
        if (se - ss != 64) revert J.BadJson(ss);
        secret = bytes32((J.unhex32(J.word(b, ss, 32)) << 128) | J.unhex32(J.word(b, ss + 32, 32)));
        // Spelt as the core compares it (lowercase hex), so both judge an enrolment alike.
        if (J.word(b, ss, 32) != J.hex32(uint256(secret) >> 128) || J.word(b, ss + 32, 32) != J.hex32(uint256(secret))) {
            revert J.BadJson(ss);
        }
    }

    /// An enrolment: `{"certificate":..,"id":"N","kind":..,"org":"O","secret":"S"}`:
    /// the registration's key, the organisation's, and where the secret's text lies.
    function enrolment(bytes calldata b)
        internal
        pure
        returns (bytes32 key, bytes20 org, uint256 secretStart, uint256 secretEnd)
    {
        (uint256 ns, uint256 ne, uint256 p) = str(b, 1, "id", 2);
        uint256 os;
        uint256 oe;
        (os, oe, p) = str(b, p, "org", 3);
        org = orgKey(b, os, oe);
        key = keccak256(abi.encodePacked(b[os:oe], "/", b[ns:ne]));
        (secretStart, secretEnd,) = str(b, p, "secret", 6);
    }

    /// An organisation: `{"admins":["0x..",..],..,"id":"O",..}`: its key and where
    /// its admins' list lies (read with `nextAdmin`).
    function organisation(bytes calldata b) internal pure returns (bytes20 org, uint256 admins) {
        (uint256 vs, uint256 ve) = J.get(b, 1, "admins", 6);
        if (b[vs] != "[") revert J.BadJson(vs);
        (uint256 s, uint256 e,) = str(b, ve + 1, "id", 2);
        return (orgKey(b, s, e), vs);
    }

    /// The admin after position `q` of the admins' list (`[` or the previous `,`), and
    /// whether another follows.
    function nextAdmin(bytes calldata b, uint256 q) internal pure returns (address who, uint256 end, bool more) {
        end = J.skip(b, q + 1);
        (uint256 s, uint256 e) = J.text(b, q + 1, end);
        who = addressText(b, s, e);
        more = J.more(b, end, "]");
    }

    /// A site: `{..,"id":"S","kind":..,"name":..,"org":"O",..}`.
    function site(bytes calldata b) internal pure returns (bytes32 id, bytes20 org) {
        (uint256 s, uint256 e, uint256 p) = str(b, 1, "id", 2);
        id = keccak256(b[s:e]);
        (s, e,) = str(b, p, "org", 3);
        org = orgKey(b, s, e);
    }

    /// A channel_rotate or channel_revoke item: `{"channel":"C",..}`: the channel's
    /// organisation (its channel id is the organisation's id).
    function channel(bytes calldata b) internal pure returns (bytes20 org) {
        (uint256 s, uint256 e,) = str(b, 1, "channel", 7);
        org = orgKey(b, s, e);
    }

    /// A channel grant: `{"channel":"C",..,"member":"0x..","role":"R",..}`: the
    /// channel's organisation (its channel id is the organisation's id), the member,
    /// and whether the role is "auditor" (else "member").
    function grant(bytes calldata b) internal pure returns (bytes20 org, address member, bool auditor) {
        (uint256 s, uint256 e, uint256 p) = str(b, 1, "channel", 7);
        org = orgKey(b, s, e);
        (s, e, p) = str(b, p, "member", 6);
        member = addressText(b, s, e);
        (s, e,) = str(b, p, "role", 4);
        if (e - s == 7 && J.word(b, s, 7) == "auditor") return (org, member, true);
        if (e - s != 6 || J.word(b, s, 6) != "member") revert BadRole(s);
    }

    /// An emissions record's site and organisation, read from its end, where canonical
    /// JSON puts its last keys: `..,"kind":"emissions_record","org":"O","period":{"end":
    /// "E","start":"S"},"site":"X","trace":{"basis":"B","schema":"C","scope":"D"}}`.
    /// Strings read backwards hold no quote or backslash, so each literal is structure
    /// and these are the item's own members, not nested ones. A calculation basis
    /// (`..,"kind":"calculation_basis"}`) gives `isRecord` false.
    function record(bytes calldata b) internal pure returns (bool isRecord, bytes32 siteId, bytes20 org) {
        uint256 p = b.length;
        if (p >= 29 && J.word(b, p - 29, 29) == bytes32('","kind":"calculation_basis"}')) {
            return (false, 0, 0);
        }
        J.lit(b, p - 3, bytes32('"}}'), 3);
        // Each literal ends with the opening quote of the text found after it.
        p = J.quoteBefore(b, p - 3, 64); // the scope
        J.lit(b, p - 11, bytes32('","scope":"'), 11);
        p = J.quoteBefore(b, p - 11, 256); // the schema
        J.lit(b, p - 12, bytes32('","schema":"'), 12);
        p = J.quoteBefore(b, p - 12, 65); // the basis
        J.lit(b, p - 20, bytes32('","trace":{"basis":"'), 20);
        uint256 siteEnd = p - 20;
        p = J.quoteBefore(b, siteEnd, 65);
        siteId = keccak256(b[p:siteEnd]);
        J.lit(b, p - 11, bytes32('"},"site":"'), 11);
        p = J.quoteBefore(b, p - 11, 32); // the period's start
        J.lit(b, p - 11, bytes32('","start":"'), 11);
        p = J.quoteBefore(b, p - 11, 32); // its end
        J.lit(b, p - 19, bytes32('","period":{"end":"'), 19);
        uint256 orgEnd = p - 19;
        p = J.quoteBefore(b, orgEnd, 65);
        org = orgKey(b, p, orgEnd);
        J.lit(b, p - 34, bytes32(',"kind":"emissions_record"'), 26);
        J.lit(b, p - 8, bytes32(',"org":"'), 8);
        isRecord = true;
    }
}
