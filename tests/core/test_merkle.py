"""Tests for the RFC 6962 / 9162 Merkle tree against published vectors and a naive model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    NodeLookup,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)
from carbonledger.errors import InvalidInput

H = bytes.fromhex

# transparency-dev/merkle testonly/constants.go and proof/verify_test.go (RFC 6962 data
# shared with Certificate Transparency).
CT_LEAVES = [H(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                            "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
CT_ROOTS = [H(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
# Leaf indexes are 0-based here (the Go file lists them 1-based).
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (1, 1, []),
]  # fmt: skip


# --- a naive model written straight from RFC 6962 section 2.1 ---------------------------


def naive_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]  # d holds leaf hashes already
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:])).digest()


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def synthetic_leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


class CountingStore:
    """Perfect-subtree hashes, filled from the accumulator's output; counts lookups."""

    def __init__(self, leaves: Sequence[bytes], *, batch: bool = True) -> None:
        self.acc = MerkleAccumulator()
        self.nodes: dict[tuple[int, int], bytes] = {}
        if batch:
            emitted = self.acc.extend(leaves)
        else:
            emitted = [node for h in leaves for node in self.acc.append(h)]
        for level, idx, h in emitted:
            assert (level, idx) not in self.nodes
            self.nodes[level, idx] = h
        self.calls = 0

    def node(self, level: int, idx: int) -> bytes:
        self.calls += 1
        return self.nodes[level, idx]


def flip(proof: list[bytes], i: int) -> list[bytes]:
    bad = list(proof)
    bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
    return bad


# --- published vectors ---------------------------------------------------------------


def test_hash_prefixes_and_empty_root() -> None:
    assert CT_ROOTS[0] == EMPTY_ROOT
    assert leaf_hash(b"") == CT_ROOTS[1]
    leaves = [leaf_hash(x) for x in CT_LEAVES]
    assert node_hash(leaves[0], leaves[1]) == CT_ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_ct_roots(size: int) -> None:
    leaves = [leaf_hash(x) for x in CT_LEAVES[:size]]
    assert root_from_leaf_hashes(leaves) == CT_ROOTS[size]
    assert naive_mth(leaves) == CT_ROOTS[size]
    acc = MerkleAccumulator()
    acc.extend(leaves)
    assert acc.root() == CT_ROOTS[size]


def test_ct_size_8_root_is_the_one_quoted_in_the_spec() -> None:
    assert CT_ROOTS[8].hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, expected: list[str]) -> None:
    leaves = [leaf_hash(x) for x in CT_LEAVES[:size]]
    store = CountingStore(leaves)
    proof = inclusion_proof(index, size, store.node)
    assert [p.hex() for p in proof] == expected
    assert verify_inclusion(leaves[index], index, size, proof, CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "expected"), CT_CONSISTENCY)
def test_ct_consistency_vectors(old: int, new: int, expected: list[str]) -> None:
    store = CountingStore([leaf_hash(x) for x in CT_LEAVES[:new]])
    proof = consistency_proof(old, new, store.node)
    assert [p.hex() for p in proof] == expected
    assert verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], proof)


# --- the accumulator -----------------------------------------------------------------


def test_accumulator_matches_naive_for_every_size_and_emits_true_subtrees() -> None:
    leaves = synthetic_leaves(130)
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    assert acc.size == 0
    for i, h in enumerate(leaves):
        emitted = acc.append(h)
        assert emitted[0] == (0, i, h)
        for level, idx, node in emitted:
            assert node == naive_mth(leaves[idx << level : (idx + 1) << level])
            assert (idx + 1) << level == i + 1  # each completes exactly at this leaf
        assert acc.size == i + 1
        assert acc.root() == naive_mth(leaves[: i + 1]) == root_from_leaf_hashes(leaves[: i + 1])


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.integers(min_value=0, max_value=70), max_size=8))
def test_extend_in_chunks_equals_append_one_by_one(chunks: list[int]) -> None:
    leaves = synthetic_leaves(sum(chunks))
    batched, single = MerkleAccumulator(), MerkleAccumulator()
    batch_nodes: list[tuple[int, int, bytes]] = []
    pos = 0
    for c in chunks:
        batch_nodes += batched.extend(leaves[pos : pos + c])
        pos += c
        assert batched.root() == naive_mth(leaves[:pos])
    single_nodes = [n for h in leaves for n in single.append(h)]
    assert sorted(batch_nodes) == sorted(single_nodes)
    assert len({(lv, i) for lv, i, _ in batch_nodes}) == len(batch_nodes)
    assert batched.frontier() == single.frontier()
    assert batched.size == single.size == len(leaves)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 13, 64, 100])
def test_resume_from_frontier(size: int) -> None:
    leaves = synthetic_leaves(size + 9)
    acc = MerkleAccumulator()
    acc.extend(leaves[:size])
    frontier = acc.frontier()
    assert len(frontier) == bin(size).count("1")
    resumed = MerkleAccumulator.from_frontier(size, frontier)
    assert resumed.root() == acc.root()
    assert resumed.extend(leaves[size:]) == acc.extend(leaves[size:])
    assert resumed.root() == naive_mth(leaves)


def test_from_frontier_rejects_wrong_shapes() -> None:
    with pytest.raises(InvalidInput):
        MerkleAccumulator.from_frontier(3, [bytes(32)])
    with pytest.raises(InvalidInput):
        MerkleAccumulator.from_frontier(1, [b"short"])
    with pytest.raises(InvalidInput):
        MerkleAccumulator.from_frontier(-1, [])


def test_bad_leaf_hashes_are_rejected() -> None:
    acc = MerkleAccumulator()
    with pytest.raises(InvalidInput):
        acc.append(b"short")
    with pytest.raises(InvalidInput):
        acc.extend([bytes(32), b"x" * 31])
    assert acc.size == 0


# --- proofs against the naive model ---------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), batch=st.booleans())
def test_inclusion_proofs_equal_naive_and_verify(size: int, batch: bool) -> None:
    leaves = synthetic_leaves(size)
    store = CountingStore(leaves, batch=batch)
    root = store.acc.root()
    assert root == naive_mth(leaves)
    bound = 2 * size.bit_length() + 1
    for index in range(size):
        store.calls = 0
        proof = inclusion_proof(index, size, store.node)
        assert store.calls <= bound  # O(log n) lookups
        assert proof == naive_path(index, leaves)
        assert verify_inclusion(leaves[index], index, size, proof, root)
        assert root_from_inclusion_proof(leaves[index], index, size, proof) == root


@pytest.mark.parametrize("size", [2, 3, 5, 8, 11, 32, 37])
def test_tampered_inclusion_proofs_fail(size: int) -> None:
    leaves = synthetic_leaves(size)
    store = CountingStore(leaves)
    root = store.acc.root()
    for index in range(size):
        proof = inclusion_proof(index, size, store.node)
        leaf = leaves[index]
        for i in range(len(proof)):
            assert not verify_inclusion(leaf, index, size, flip(proof, i), root)
        for wrong in {index - 1, index + 1, index ^ 2} - {index}:
            assert not verify_inclusion(leaf, wrong, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, flip([root], 0)[0])
        assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)
        assert not verify_inclusion(leaves[(index + 1) % size], index, size, proof, root)
        assert not verify_inclusion(leaf, index, size * 2, proof, root)
        assert not verify_inclusion(leaf, index, size, [*proof, root], root)
        assert not verify_inclusion(leaf, index, size, [root, *proof], root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not verify_inclusion(leaf, index, size, [*proof[:-1], b""], root)


def test_inclusion_argument_errors() -> None:
    store = CountingStore(synthetic_leaves(4))
    for index, size in [(4, 4), (-1, 4), (0, 0)]:
        with pytest.raises(InvalidInput):
            inclusion_proof(index, size, store.node)
        assert not verify_inclusion(bytes(32), index, size, [], EMPTY_ROOT)
        with pytest.raises(InvalidInput):
            root_from_inclusion_proof(bytes(32), index, size, [])


def test_consistency_all_pairs_up_to_40() -> None:
    leaves = synthetic_leaves(40)
    roots = [naive_mth(leaves[:n]) for n in range(41)]
    for new in range(1, 41):
        store = CountingStore(leaves[:new])
        for old in range(new + 1):
            store.calls = 0
            proof = consistency_proof(old, new, store.node)
            assert store.calls <= 2 * new.bit_length() + 1
            expected = [] if old in (0, new) else naive_subproof(old, leaves[:new], True)
            assert proof == expected, (old, new)
            # from the empty tree there is nothing to prove (transparency-dev/merkle refuses it)
            assert verify_consistency(old, new, roots[old], roots[new], proof) is (old > 0)
            if not proof:
                continue
            for i in range(len(proof)):
                assert not verify_consistency(old, new, roots[old], roots[new], flip(proof, i))
            assert not verify_consistency(old, new, roots[new], roots[old], proof)
            assert not verify_consistency(old, new, flip([roots[old]], 0)[0], roots[new], proof)
            assert not verify_consistency(old, new, roots[old], flip([roots[new]], 0)[0], proof)
            assert not verify_consistency(old, new, roots[old], roots[new], proof[:-1])
            assert not verify_consistency(old, new, roots[old], roots[new], [*proof, roots[new]])
            assert not verify_consistency(old, new, roots[old], roots[new], [proof[0], *proof])
            assert not verify_consistency(old, new, roots[old], roots[new], [])
            for wrong_old in {old - 1, old + 1, old ^ 2} - {old}:
                if 0 < wrong_old < new:
                    assert not verify_consistency(wrong_old, new, roots[old], roots[new], proof)
            assert not verify_consistency(old, new * 2, roots[old], roots[new], proof)


def test_consistency_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert not verify_consistency(0, 0, a, a, [])  # from size 0: meaningless, refused
    assert not verify_consistency(0, 5, a, b, [])
    assert verify_consistency(3, 3, a, a, [])
    assert not verify_consistency(3, 3, a, b, [])
    assert not verify_consistency(3, 3, a, a, [EMPTY_ROOT])
    assert not verify_consistency(0, 5, a, b, [EMPTY_ROOT])
    assert not verify_consistency(5, 3, a, b, [])
    assert not verify_consistency(1, 2, a, b, [])
    store = CountingStore(synthetic_leaves(4))
    with pytest.raises(InvalidInput):
        consistency_proof(5, 4, store.node)
    with pytest.raises(InvalidInput):
        consistency_proof(-1, 4, store.node)


def test_subtree_hash_decomposes_right_edges() -> None:
    leaves = synthetic_leaves(64)
    store = CountingStore(leaves)
    node: NodeLookup = store.node
    for start, end in [(0, 64), (32, 45), (48, 63), (40, 41), (0, 37), (16, 31)]:
        store.calls = 0
        assert subtree_hash(start, end, node) == naive_mth(leaves[start:end])
        assert store.calls == bin(end - start).count("1")
    for start, end in [(3, 7), (8, 4), (8, 8), (-2, 2)]:
        with pytest.raises(InvalidInput):
            subtree_hash(start, end, node)
