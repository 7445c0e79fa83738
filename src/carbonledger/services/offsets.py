"""The offsets directory: the shipped edition, later editions a user loads, and its ledger entry.

The package ships ``data/offsets/projects.csv.gz`` (the directory's CSV,
gzipped, content unchanged). ``load_directory(FILE, home=H)`` checks a newer
edition parses and keeps it, gzipped, as ``<home>/offsets/projects.csv.gz``;
:func:`open_directory` then prefers it. Before an offset token can name a project
of an edition, the network admin registers that edition on the ledger
(:func:`register_directory`: its SHA-256 and Merkle root; idempotent).
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path

from carbonledger.core.tokens.directory import DIRECTORY_PREFIX
from carbonledger.core.tokens.offsets import OffsetDirectory, parse_directory
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.channels import submit_one

__all__ = [
    "PACKAGE_DIRECTORY",
    "load_directory",
    "open_directory",
    "package_directory",
    "register_directory",
]

PACKAGE_DIRECTORY = "offsets/projects.csv.gz"
_HOME_FILE = ("offsets", "projects.csv.gz")


@lru_cache(maxsize=1)
def package_directory() -> OffsetDirectory:
    """The edition shipped with the package (parsed once per process)."""
    raw = resources.files("carbonledger.data").joinpath(PACKAGE_DIRECTORY).read_bytes()
    return parse_directory(gzip.decompress(raw), source="projects.csv (package edition)")


def open_directory(home: Path | None = None) -> OffsetDirectory:
    """The edition loaded into ``home`` if any, else the package's."""
    if home is not None:
        path = home.joinpath(*_HOME_FILE)
        if path.exists():
            return parse_directory(gzip.decompress(path.read_bytes()), source=str(path))
    return package_directory()


def load_directory(file: Path, *, home: Path) -> OffsetDirectory:
    """Check and keep a newer edition of ``projects.csv`` (plain or ``.gz``) in ``home``."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror}") from exc
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    directory = parse_directory(data, source=file.name)
    target = home.joinpath(*_HOME_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(data, mtime=0))
    return directory


def register_directory(
    ledger: LedgerPort, admin: PrivateKey, directory: OffsetDirectory
) -> Receipt | None:
    """Record the edition on the ledger (network admin); None if it already is."""
    if DIRECTORY_PREFIX + directory.id in ledger.state().tokens:
        return None
    return submit_one(ledger, admin, "register_offset_directory", [directory.ledger_item()])
