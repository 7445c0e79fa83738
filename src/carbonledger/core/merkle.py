"""RFC 6962 / RFC 9162 Merkle tree over SHA-256: roots, proofs and their checks.

The ledger is an append-only log. Its tree hash (MTH) is RFC 6962's, so any
Certificate Transparency tooling can check our proofs. Nodes are addressed as
``(level, index)``: level 0 are leaves, and node ``(k, i)`` is the perfect
subtree over leaves ``[i * 2**k, (i + 1) * 2**k)``. A store keeps those
perfect-subtree hashes as they complete (see :class:`MerkleAccumulator`) and
proofs are built from O(log n) of them through a ``node(level, index)`` callable.

The verification functions need nothing but hashes, for third parties who
hold no database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Final

from carbonledger.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleAccumulator",
    "NodeLookup",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
#: MTH of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

#: ``node(level, index)`` returns the stored hash of a perfect subtree.
NodeLookup = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def leaf_hashes(datas: Iterable[bytes]) -> list[bytes]:
    """Return the leaf hash of each of ``datas`` (one comprehension: no call per leaf)."""
    return [_sha256(b"\x00" + data).digest() for data in datas]


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _pair_level(level: Sequence[bytes]) -> list[bytes]:
    # Hashes consecutive pairs; an odd last element is left for the caller.
    it = iter(level)
    return [_sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH (RFC 6962 section 2.1) over the given leaf hashes.

    Pairing from the left level by level and carrying an odd last node up
    unchanged builds exactly the tree that splits at the largest power of two
    below n, without recursion.
    """
    level = list(hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = _pair_level(level)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _largest_power_of_two_below(n: int) -> int:
    # The RFC's k: the largest power of two strictly smaller than n (n >= 2).
    return 1 << ((n - 1).bit_length() - 1)


class MerkleAccumulator:
    """Incremental Merkle tree over an unbounded log in O(log n) memory.

    It keeps the frontier: the roots of the perfect subtrees whose sizes are
    the binary digits of the log size. Appends report every perfect subtree
    they complete so a store can persist it for later proofs.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        # _frontier[k] is the root of the level-k perfect subtree that has no
        # parent yet, present exactly when bit k of the size is set.
        self._frontier: list[bytes | None] = []
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the completed nodes as (level, index, hash).

        The leaf itself comes first, then each parent it completes, bottom up.
        """
        _check_hash(leaf_hash)
        index = self._size
        out = [(0, index, leaf_hash)]
        carry = leaf_hash
        level = 0
        frontier = self._frontier
        while (index >> level) & 1:
            left = frontier[level]
            frontier[level] = None
            carry = _sha256(b"\x01" + left + carry).digest()  # type: ignore[operator]
            level += 1
            out.append((level, index >> level, carry))
        if level == len(frontier):
            frontier.append(carry)
        else:
            frontier[level] = carry
        self._size = index + 1
        return out

    def extend(
        self, hashes: Iterable[bytes], *, min_level: int = 0
    ) -> list[tuple[int, int, bytes]]:
        """Append many leaf hashes; return the completed nodes as (level, index, hash).

        Nodes are listed level by level (all new leaves, then level 1, ...) and by
        index within a level. Work is done a whole level at a time, which keeps
        Python overhead per leaf to a single hash call. ``min_level``: nodes below
        that level are computed but not listed (a store that keeps only the higher
        ones need not walk the others).
        """
        run = list(hashes)
        # Checked with C-level passes; a per-item Python call would double the cost.
        if run and (set(map(type, run)) != {bytes} or set(map(len, run)) != {HASH_SIZE}):
            raise InvalidInput(f"every leaf hash must be {HASH_SIZE} bytes")
        start = self._size
        new_size = start + len(run)
        out: list[tuple[int, int, bytes]] = []
        frontier = self._frontier
        level = 0
        # run holds the new level-`level` nodes, whose first index is start >> level.
        while run:
            first = start >> level
            if level >= min_level:
                out.extend(zip(repeat(level), range(first, first + len(run)), run, strict=False))
            if level == len(frontier):
                frontier.append(None)
            if first & 1:
                # The first new node is a right child; its left sibling waits in the frontier.
                run.insert(0, frontier[level])  # type: ignore[arg-type]
            frontier[level] = run[-1] if len(run) % 2 else None
            run = _pair_level(run)
            level += 1
        self._size = new_size
        return out

    def root(self) -> bytes:
        """Return MTH of all leaves so far (``EMPTY_ROOT`` when empty)."""
        acc: bytes | None = None
        # The smallest subtree is the deepest right child: fold from it leftwards.
        for h in self._frontier:
            if h is not None:
                acc = h if acc is None else _sha256(b"\x01" + h + acc).digest()
        return EMPTY_ROOT if acc is None else acc

    def frontier(self) -> list[bytes]:
        """Return the frontier hashes, largest (leftmost) subtree first."""
        return [h for h in reversed(self._frontier) if h is not None]

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> MerkleAccumulator:
        """Resume an accumulator from ``size`` and a list made by :meth:`frontier`.

        Raises:
            InvalidInput: the number of hashes is not the number of 1 bits in size.
        """
        if size < 0:
            raise InvalidInput(f"log size must be >= 0, got {size}")
        if len(frontier) != size.bit_count():
            raise InvalidInput(
                f"a log of size {size} has {size.bit_count()} frontier hashes, got {len(frontier)}"
            )
        acc = cls()
        acc._frontier = [None] * size.bit_length()
        levels = [k for k in reversed(range(size.bit_length())) if (size >> k) & 1]
        for level, h in zip(levels, frontier, strict=True):
            _check_hash(h)
            acc._frontier[level] = h
        acc._size = size
        return acc


def _check_hash(h: bytes) -> None:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise InvalidInput(f"a tree hash must be {HASH_SIZE} bytes")


def subtree_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """Return MTH of leaves ``[start, end)`` from at most log2(end - start) + 1 stored nodes.

    The range is split into aligned perfect subtrees, largest first, and those
    are folded right to left. This is MTH of the range only when ``start`` is a
    multiple of the smallest power of two >= ``end - start``, which holds for
    every subtree of an RFC 6962 tree (the ones proofs ask for).

    Raises:
        InvalidInput: the range is empty or not aligned as above.
    """
    n = end - start
    if start < 0 or n < 1:
        raise InvalidInput(f"subtree range [{start}, {end}) is empty or negative")
    if start % (1 << (n - 1).bit_length()):
        raise InvalidInput(f"subtree range [{start}, {end}) is not a subtree of the log")
    parts: list[bytes] = []
    pos = start
    for level in reversed(range(n.bit_length())):
        if (n >> level) & 1:
            parts.append(node(level, pos >> level))
            pos += 1 << level
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """Return the RFC 9162 audit path (PATH, section 2.1.3.1) for leaf ``index``.

    At most one sibling is at the right edge and not perfect, so this makes
    O(log n) calls to ``node``.

    Raises:
        InvalidInput: ``index`` is not in ``[0, size)``.
    """
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a log of size {size}")
    siblings: list[bytes] = []
    lo, hi = 0, size
    # Walk from the root down, recording each sibling; the proof lists them leaf first.
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            siblings.append(subtree_hash(lo + k, hi, node))
            hi = lo + k
        else:
            siblings.append(node(k.bit_length() - 1, lo // k))
            lo += k
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, new_size: int, node: NodeLookup) -> list[bytes]:
    """Return the RFC 9162 consistency proof (PROOF, section 2.1.4.1).

    The proof is empty when ``old_size`` is 0 or equals ``new_size``, which
    need no proof. O(log n) calls to ``node``.

    Raises:
        InvalidInput: not ``0 <= old_size <= new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise InvalidInput(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    items: list[bytes] = []
    lo, hi = 0, new_size
    # SUBPROOF's b: while true, the subtree holding the old tree's end is the old
    # tree itself, whose root the verifier already has, so it is not sent.
    whole_old_tree = True
    while hi != old_size:
        k = _largest_power_of_two_below(hi - lo)
        if old_size - lo <= k:
            items.append(subtree_hash(lo + k, hi, node))
            hi = lo + k
        else:
            items.append(node(k.bit_length() - 1, lo // k))
            lo += k
            whole_old_tree = False
    if not whole_old_tree:
        items.append(subtree_hash(lo, hi, node))
    items.reverse()
    return items


def _skip_right_edge(fn: int, sn: int) -> tuple[int, int]:
    # Climb past the levels where the node is a lone right-edge node with no
    # sibling: RFC 9162 "right-shift fn and sn equally until LSB(fn) is set or fn is 0".
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 2.1.3.2).

    Raises:
        InvalidInput: the index, size or proof length cannot belong together,
            or a hash has the wrong length.
    """
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a log of size {size}")
    _check_hash(leaf_hash)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        _check_hash(p)
        if sn == 0:
            raise InvalidInput("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _skip_right_edge(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidInput("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Return True if ``proof`` puts ``leaf_hash`` at ``index`` in the tree ``root`` of ``size``."""
    try:
        return root_from_inclusion_proof(leaf_hash, index, size, proof) == root
    except InvalidInput:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Return True if ``proof`` shows the tree ``old_root`` is a prefix of ``new_root``.

    RFC 9162 section 2.1.4.2. Equal sizes need equal roots and an empty proof. As in
    the reference implementation (transparency-dev/merkle), a proof from the empty
    tree is meaningless and never verifies: a caller that accepts growth from size 0
    (a witness's first checkpoint) needs no proof at all.
    """
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof or any(not isinstance(p, bytes) or len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new; its root starts the path.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            fn, sn = _skip_right_edge(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
