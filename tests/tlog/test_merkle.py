"""RFC 6962 consistency proofs against the published transparency-dev/merkle probes.

Every probe file must verify or fail exactly as the reference implementation says;
the proofs we generate for the RFC 6962 reference tree must equal the published
ones; and for every pair of sizes up to 40 our proof equals the RFC's recursive
SUBPROOF (written out below from RFC 6962 section 2.1.2) and verifies, while a
tree that differs anywhere in the old part does not.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from carbonledger.core.merkle import (
    consistency_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
)

PROBES = sorted(
    (Path(__file__).parents[1] / "data/tlog/transparency-dev-merkle/consistency").rglob("*.json")
)
# The RFC 6962 reference leaves (certificate-transparency's test vectors), as hex.
LEAVES = [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]  # fmt: skip


def _b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


@pytest.mark.parametrize("path", PROBES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_published_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    ok = verify_consistency(
        probe["size1"],
        probe["size2"],
        base64.b64decode(probe["root1"]),
        base64.b64decode(probe["root2"]),
        _b64(probe["proof"]),
    )
    assert ok is not probe["wantErr"], probe["desc"]


def _node(hashes: list[bytes]):  # type: ignore[no-untyped-def]
    def node(level: int, idx: int) -> bytes:
        return root_from_leaf_hashes(hashes[idx << level : (idx + 1) << level])

    return node


def test_generated_proofs_equal_the_published_happy_paths() -> None:
    hashes = [leaf_hash(bytes.fromhex(h)) for h in LEAVES]
    happy = [p for p in PROBES if p.stem == "happy-path"]
    assert len(happy) >= 4
    for path in happy:
        probe = json.loads(path.read_text())
        m, n = probe["size1"], probe["size2"]
        assert root_from_leaf_hashes(hashes[:m]) == base64.b64decode(probe["root1"])
        assert root_from_leaf_hashes(hashes[:n]) == base64.b64decode(probe["root2"])
        assert consistency_proof(m, n, _node(hashes)) == _b64(probe["proof"]), path


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 2.1.2 SUBPROOF(m, D[n], b), literally."""
    n = len(leaves)
    if m == n:
        return [] if whole else [root_from_leaf_hashes(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_from_leaf_hashes(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]


def test_every_pair_of_sizes_to_40_matches_the_rfc() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(40)]
    node = _node(hashes)
    for n in range(1, 41):
        new_root = root_from_leaf_hashes(hashes[:n])
        for m in range(1, n):
            proof = consistency_proof(m, n, node)
            assert proof == _subproof(m, hashes[:n], True), (m, n)
            old_root = root_from_leaf_hashes(hashes[:m])
            assert verify_consistency(m, n, old_root, new_root, proof)
            # a fork: the same sizes, one old leaf different
            forked = [*hashes[: m - 1], leaf_hash(b"forged"), *hashes[m:n]]
            assert not verify_consistency(
                m,
                n,
                old_root,
                root_from_leaf_hashes(forked),
                consistency_proof(m, n, _node(forked)),
            )


def test_node_hash_is_the_rfc_interior_hash() -> None:
    # MTH of the two first reference leaves, by hand: SHA-256(0x01 || h0 || h1).
    h0, h1 = (leaf_hash(bytes.fromhex(h)) for h in LEAVES[:2])
    assert node_hash(h0, h1) == root_from_leaf_hashes([h0, h1])
