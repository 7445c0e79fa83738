"""Offsets directory editions on the ledger, and the proof that a project is in one (pure).

The network admin registers an edition (SHA-256 of the file, RFC 6962 root over
its projects); an offset token, and a DAO proposal, name a project of it with
an inclusion proof. Editions live in ``state.tokens`` under
``"@directory:<id>"``, a key no token id can take.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.core.merkle import leaf_hash, verify_inclusion
from carbonledger.core.state import LedgerState
from carbonledger.errors import InvalidInput, NotFound

__all__ = ["DIRECTORY_PREFIX", "HEX64", "PROJECT_FIELDS", "offset_project", "project_leaf"]

DIRECTORY_PREFIX = "@directory:"
#: Fields of a directory project that an offset token carries (and the leaf commits to).
PROJECT_FIELDS = ("id", "name", "registry", "status", "type", "country")
HEX64 = re.compile(r"^[0-9a-f]{64}\Z")


def project_leaf(project: Mapping[str, object]) -> bytes:
    """The directory leaf of a project: canonical JSON of its :data:`PROJECT_FIELDS`."""
    return canonical({k: project.get(k) for k in PROJECT_FIELDS})


def offset_project(state: LedgerState, ref: dict[str, Any], what: str) -> dict[str, Any]:
    """The project ``ref`` names (``{directory, project, project_proof}``), proven in its edition.

    Returns the project's :data:`PROJECT_FIELDS`.
    """
    directory = state.tokens.get(DIRECTORY_PREFIX + str(ref.get("directory")))
    if directory is None:
        raise NotFound(f"{what}: offset directory {ref.get('directory')!r} is not registered")
    project = ref.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("id"), str):
        raise InvalidInput(f"{what}: project must be a directory entry with an id")
    proof = ref.get("project_proof")
    if not isinstance(proof, dict):
        raise InvalidInput(f"{what}: project_proof {{index, path}} is required")
    index, path = proof.get("index"), proof.get("path")
    if (
        not isinstance(index, int)
        or not isinstance(path, list)
        or not all(isinstance(h, str) and HEX64.match(h) for h in path)
    ):
        raise InvalidInput(f"{what}: project_proof must be {{index: int, path: [sha256 hex]}}")
    ok = 0 <= index < directory["projects"] and verify_inclusion(
        leaf_hash(project_leaf(project)),
        index,
        directory["projects"],
        [bytes.fromhex(h) for h in path],
        bytes.fromhex(directory["root"]),
    )
    if not ok:
        raise NotFound(
            f"{what}: project {project['id']!r} is not in offset directory {directory['id']!r}"
        )
    return {k: project.get(k) for k in PROJECT_FIELDS}
