// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Typed-data transactions packed in calldata (carbonledger.core.typed)
/// @notice One typed transaction: `code(1) | sender(20) | nonce(8) | created (1-byte
/// length, text) | itemsRoot(32) | r(32) | s(32) | v(1) | count(2) | count x (length(2),
/// packed item) | blob count(2) | blob count x (length(4), blob)`. Its sender signed the
/// EIP-712 struct `Transaction(string type,uint64 nonce,string created,bytes32 itemsRoot,
/// bytes[] items)` over the packed items, so reading it is hashing fixed-width fields
/// and the items as they are: no JSON is read on chain. The fields are read with
/// `calldataload` at fixed offsets; every read lies before `next`, which is checked to
/// be within the calldata given.
library TypedTx {
    /// secp256k1's n / 2: a signature with a higher s is the malleable twin (EIP-2).
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    error Malformed(uint256 pos);

    struct Head {
        address sender; // as the transaction names it
        address signer; // as its signature recovers (0 for a malformed signature)
        uint64 nonce;
        bytes32 digest; // EIP-712 digest: what the sender signed
        bytes32 itemsHash; // EIP-712 hash of the packed items as a bytes[]
        uint256 items; // where the first item's length is, in `p`
        uint256 count;
        uint256 next; // where the next transaction starts, in `p`
    }

    /// The type code of the transaction at `pos` (1 transfer, 2 retire, 3 records).
    function code(bytes calldata p, uint256 pos) internal pure returns (uint256 c) {
        assembly ("memory-safe") {
            c := byte(0, calldataload(add(p.offset, pos)))
        }
    }

    /// Reads the transaction at `pos` whose type hashes to `ty`, and recovers its signer.
    function read(bytes calldata p, uint256 pos, bytes32 ty, bytes32 domain, bytes32 typeHash)
        internal
        view
        returns (Head memory h)
    {
        bytes32 digest;
        bytes32 itemsHash;
        uint256 q;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            let base := add(p.offset, pos)
            let w := calldataload(base)
            mstore(h, shr(96, shl(8, w))) // sender
            let nonce := and(shr(24, w), 0xffffffffffffffff)
            mstore(add(h, 64), nonce)
            let m := mload(0x40)
            let clen := byte(29, w)
            calldatacopy(m, add(base, 30), clen)
            let created := keccak256(m, clen)
            q := add(base, add(30, clen))
            let root := calldataload(q)
            r := calldataload(add(q, 32))
            s := calldataload(add(q, 64))
            v := byte(0, calldataload(add(q, 96)))
            let n := shr(240, calldataload(add(q, 97)))
            q := add(q, 99)
            mstore(add(h, 160), sub(q, p.offset))
            mstore(add(h, 192), n)
            // Each item's keccak256 at m + 32 i; the item itself copied past them to hash it.
            let buf := add(m, mul(n, 32))
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let len := shr(240, calldataload(q))
                calldatacopy(buf, add(q, 2), len)
                mstore(add(m, mul(i, 32)), keccak256(buf, len))
                q := add(q, add(2, len))
            }
            itemsHash := keccak256(m, mul(n, 32))
            let blobs := shr(240, calldataload(q))
            q := add(q, 2)
            for { let i := 0 } lt(i, blobs) { i := add(i, 1) } {
                q := add(q, add(4, shr(224, calldataload(q))))
            }
            q := sub(q, p.offset)
            mstore(m, typeHash)
            mstore(add(m, 32), ty)
            mstore(add(m, 64), nonce)
            mstore(add(m, 96), created)
            mstore(add(m, 128), root)
            mstore(add(m, 160), itemsHash)
            let structHash := keccak256(m, 192)
            mstore(m, 0x1901)
            mstore(add(m, 32), domain)
            mstore(add(m, 64), structHash)
            digest := keccak256(add(m, 30), 66)
        }
        if (q > p.length) revert Malformed(pos);
        h.digest = digest;
        h.itemsHash = itemsHash;
        h.next = q;
        if (uint256(s) <= HALF_N && (v == 27 || v == 28)) h.signer = ecrecover(digest, v, r, s);
    }

    /// The item at `at` (its length's position in `p`): where its bytes start and end.
    function item(bytes calldata p, uint256 at) internal pure returns (uint256 start, uint256 end) {
        assembly ("memory-safe") {
            start := add(at, 2)
            end := add(start, shr(240, calldataload(add(p.offset, at))))
        }
    }

    /// A packed transfer at [s, e): `to(20) | amount(8) | token length(1) | token | id`.
    function transfer(bytes calldata p, uint256 s, uint256 e)
        internal
        pure
        returns (uint256 id, address to, uint256 amount)
    {
        uint256 w;
        assembly ("memory-safe") {
            w := calldataload(add(p.offset, s))
            to := shr(96, w)
            w := calldataload(add(p.offset, add(s, 20)))
            amount := shr(192, w)
        }
        uint256 n = uint8(w >> 184);
        if (s + 29 + n > e) revert Malformed(s);
        id = uint256(keccak256(p[s + 29:s + 29 + n]));
    }

    /// A packed retirement at [s, e): `amount(8) | token length(1) | token | JSON`.
    function retirement(bytes calldata p, uint256 s, uint256 e) internal pure returns (uint256 id, uint256 amount) {
        uint256 w;
        assembly ("memory-safe") {
            w := calldataload(add(p.offset, s))
        }
        amount = w >> 192;
        uint256 n = uint8(w >> 184);
        if (s + 9 + n > e) revert Malformed(s);
        id = uint256(keccak256(p[s + 9:s + 9 + n]));
    }
}
