"""Off-chain store on SQLAlchemy 2 (PostgreSQL in production, SQLite for tests).

Holds, for the EVM backend, everything the chain does not: the mirrored log
(signed transaction bodies, items with their query columns, Merkle nodes,
signed checkpoints, the state snapshot) and the channel store (sealed blobs and
wrapped keys). Its schema is managed by the alembic scripts in ``migrations/``.
"""

from __future__ import annotations

from carbonledger.adapters.sqlstore.channels import SqlChannelStore
from carbonledger.adapters.sqlstore.ledger import SqlLedger, make_engine
from carbonledger.adapters.sqlstore.migrate import upgrade

__all__ = ["SqlChannelStore", "SqlLedger", "make_engine", "upgrade"]
