// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CanonicalJson as J} from "./CanonicalJson.sol";

/// @title X.509 certificates as items spell them (PEM in a JSON string)
/// @notice What the ledger checks of a certificate: whose secp256k1 key it certifies,
/// and who signed it. An organisation CA's key is secp256k1 (carbonledger.crypto.x509ca),
/// so its ECDSA signature over the SHA-256 of a certificate's to-be-signed part is
/// checked with `ecrecover`: the CA's address is one of the two the signature recovers.
/// The rest (names, roles, validity, extensions, the CA's own chain to the network CA)
/// the core checks on every node.
library Certificates {
    error BadCertificate(uint256 pos);

    /// SubjectPublicKeyInfo of a secp256k1 key, up to its point's X and Y: id-ecPublicKey,
    /// secp256k1, a BIT STRING of 66 bytes, an uncompressed point (22 bytes).
    bytes32 internal constant K1_KEY = hex"301006072a8648ce3d020106052b8104000a03420004";
    uint256 internal constant K1_KEY_LEN = 22;

    /// The DER of the PEM certificate in the JSON string value at [vs, ve) (its quotes
    /// included; line breaks escaped, as canonical JSON writes them).
    function der(bytes calldata b, uint256 vs, uint256 ve) internal pure returns (bytes memory out) {
        J.lit(b, vs, bytes32('"-----BEGIN CERTIFICATE-----\\n'), 30);
        if (ve < vs + 58) revert BadCertificate(vs);
        J.lit(b, ve - 28, bytes32('-----END CERTIFICATE-----\\n"'), 28);
        uint256 end = ve - 28;
        out = new bytes(((end - vs) * 3) / 4);
        uint256 bad = type(uint256).max;
        // In assembly, by a table of the characters' values (a certificate is some 800):
        // four characters (three bytes) at a time where all four are base64 digits, as
        // whole groups of a PEM line are; one at a time for the rest (an escaped line
        // break, the padding, a character that is not base64).
        assembly ("memory-safe") {
            // Each character's value + 1 (0: not base64; 0xfe "=", 0xfd a backslash),
            // by its 32-character block.
            function val(c) -> v {
                let w := 0
                switch shr(5, c)
                case 1 { w := 0x00000000000000000000003f0000004035363738393a3b3c3d3e000000fe0000 }
                case 2 { w := 0x000102030405060708090a0b0c0d0e0f101112131415161718191a00fd000000 }
                case 3 { w := 0x001b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233340000000000 }
                v := byte(and(c, 31), w)
            }
            let o := add(out, 32)
            let n := 0
            let acc := 0
            let bits := 0
            let i := add(vs, 30)
            for {} lt(i, end) {} {
                if and(iszero(bits), lt(add(i, 3), end)) {
                    let w4 := calldataload(add(b.offset, i))
                    // A digit's value + 1 is 1..64: minus 1, below 64 (0 wraps around).
                    let d0 := sub(val(byte(0, w4)), 1)
                    let d1 := sub(val(byte(1, w4)), 1)
                    let d2 := sub(val(byte(2, w4)), 1)
                    let d3 := sub(val(byte(3, w4)), 1)
                    if lt(or(or(d0, d1), or(d2, d3)), 64) {
                        // 32 bytes written, the first 3 kept: what follows is written next
                        // or is past the data (memory not yet allocated to anything).
                        mstore(add(o, n), shl(232, or(or(shl(18, d0), shl(12, d1)), or(shl(6, d2), d3))))
                        n := add(n, 3)
                        i := add(i, 4)
                        continue
                    }
                }
                let v := val(byte(0, calldataload(add(b.offset, i))))
                if gt(v, 64) {
                    if eq(v, 0xfe) { break } // padding: the data has ended
                    // An escaped line break: a backslash and an "n".
                    if eq(byte(0, calldataload(add(b.offset, add(i, 1)))), 110) {
                        i := add(i, 2)
                        continue
                    }
                    v := 0
                }
                if iszero(v) {
                    bad := i
                    break
                }
                acc := or(shl(6, acc), sub(v, 1))
                bits := add(bits, 6)
                if gt(bits, 7) {
                    bits := sub(bits, 8)
                    mstore8(add(o, n), shr(bits, acc))
                    n := add(n, 1)
                    acc := and(acc, sub(shl(bits, 1), 1))
                }
                i := add(i, 1)
            }
            mstore(out, n)
        }
        if (bad != type(uint256).max) revert BadCertificate(bad);
    }

    /// The DER element at `p`, which must have tag `tag`: where its content starts and ends.
    function _tlv(bytes memory d, uint256 p, uint256 tag) private pure returns (uint256 s, uint256 e) {
        if (p + 2 > d.length || uint8(d[p]) != tag) revert BadCertificate(p);
        uint256 len = uint8(d[p + 1]);
        s = p + 2;
        if (len >= 0x80) {
            uint256 k = len - 0x80;
            if (k == 0 || k > 2) revert BadCertificate(p);
            len = 0;
            for (uint256 i; i < k; ++i) {
                len = (len << 8) | uint8(d[s + i]);
            }
            s += k;
        }
        e = s + len;
        if (e > d.length) revert BadCertificate(p);
    }

    /// A DER INTEGER of at most 32 bytes of value at `p`, and where the next element starts.
    function _uint(bytes memory d, uint256 p) private pure returns (uint256 v, uint256 e) {
        uint256 s;
        (s, e) = _tlv(d, p, 0x02);
        if (e - s > 33 || (e - s == 33 && d[s] != 0)) revert BadCertificate(p);
        for (uint256 i = s; i < e; ++i) {
            v = (v << 8) | uint8(d[i]);
        }
    }

    /// The address of the secp256k1 key a certificate certifies, and the two addresses
    /// its signature recovers to (the issuer's is one of them if the issuer's key is
    /// secp256k1; either may be 0 for a signature that recovers to no key).
    function parse(bytes memory d) internal view returns (address key, address a, address b) {
        (uint256 cs,) = _tlv(d, 0, 0x30); // Certificate
        (uint256 ts, uint256 te) = _tlv(d, cs, 0x30); // tbsCertificate
        bytes32 h;
        assembly ("memory-safe") {
            if iszero(staticcall(gas(), 2, add(add(d, 32), cs), sub(te, cs), 0, 32)) { revert(0, 0) }
            h := mload(0)
        }
        uint256 p = ts;
        if (uint8(d[p]) == 0xa0) (, p) = _tlv(d, p, 0xa0); // version
        (, p) = _tlv(d, p, 0x02); // serialNumber
        for (uint256 i; i < 4; ++i) {
            (, p) = _tlv(d, p, 0x30); // signature, issuer, validity, subject
        }
        (uint256 ks, uint256 ke) = _tlv(d, p, 0x30); // subjectPublicKeyInfo
        bytes32 prefix;
        bytes32 point;
        assembly ("memory-safe") {
            prefix := mload(add(add(d, 32), ks))
            point := keccak256(add(add(d, 32), add(ks, K1_KEY_LEN)), 64)
        }
        if (ke - ks != K1_KEY_LEN + 64 || prefix & ~bytes32(type(uint256).max >> (8 * K1_KEY_LEN)) != K1_KEY) {
            revert BadCertificate(ks);
        }
        key = address(uint160(uint256(point)));
        (, p) = _tlv(d, te, 0x30); // signatureAlgorithm
        (uint256 bs, uint256 be) = _tlv(d, p, 0x03); // signatureValue
        if (d[bs] != 0) revert BadCertificate(bs);
        (uint256 ss,) = _tlv(d, bs + 1, 0x30); // ECDSA-Sig-Value
        (uint256 r, uint256 q) = _uint(d, ss);
        (uint256 s, uint256 qe) = _uint(d, q);
        if (qe != be) revert BadCertificate(q);
        a = ecrecover(h, 27, bytes32(r), bytes32(s));
        b = ecrecover(h, 28, bytes32(r), bytes32(s));
    }
}
