"""Embedded backend: the whole ledger in one SQLite file, nothing to start.

``ledger`` appends and reads (hash chain, Merkle nodes, signed checkpoints),
``channels`` keeps sealed blobs and wrapped keys in the same file, ``schema``
creates its tables, and ``verify`` and ``verify_checks`` re-check a file from its
bytes. Group commit (``carbonledger.adapters.group_commit``) wraps this backend or
any other.
"""

from __future__ import annotations

from carbonledger.adapters.sqlite.channels import SqliteChannelStore
from carbonledger.adapters.sqlite.ledger import SqliteLedger

__all__ = ["SqliteChannelStore", "SqliteLedger"]
