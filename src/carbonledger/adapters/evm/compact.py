"""Emissions records in calldata: their fields, not their JSON.

The encoding is the core's (:mod:`carbonledger.core.compact_record`): a record's
compact bytes are also what the typed-data signature covers
(:mod:`carbonledger.core.typed`); this module keeps the adapter's names for it.
"""

from __future__ import annotations

from carbonledger.core.compact_record import compact_record, expand, is_compact

__all__ = ["compact_record", "expand", "is_compact"]
