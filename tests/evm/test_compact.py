"""Emissions records carried compactly: the same bytes come back, or JSON is sent.

Expected sizes by hand: the fixed part is 169 bytes (a marker, four SHA-256s,
a UUID's 16 bytes, a 4-byte epoch, two 10-character dates), and the texts here
are "electricity" (11), "acme" (4), "acme-chi" (8), "carbonledger.trace/1" (20)
and "2" (1), each with a length byte: 169 + 5 + 44 = 218 bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from carbonledger.adapters.evm.compact import compact_record, expand
from carbonledger.core.canonical import canonical


def _item(**changes: Any) -> dict[str, Any]:
    item = {
        "kind": "emissions_record",
        "id": "0b6f3c1e-5d2a-5f4b-9c3d-2e1f0a9b8c7d",
        "org": "acme",
        "site": "acme-chi",
        "account": hashlib.sha256(b"meter").hexdigest(),
        "activity": "electricity",
        "period": {"start": "2024-01-01", "end": "2024-01-31"},
        "trace": {"schema": "carbonledger.trace/1", "basis": "ab" * 32, "scope": "2"},
        "detail": {"channel": "acme", "epoch": 12, "blob": "cd" * 32, "commitment": "ef" * 32},
    }
    item.update(changes)
    return item


def test_a_record_round_trips_in_218_bytes() -> None:
    item = _item()
    data = canonical(item)
    small = compact_record(data, item)
    assert small is not None
    assert len(small) == 218
    assert expand(small) == data
    assert len(data) > 2.5 * len(small)


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "not-a-uuid"},
        {"site": 'acme"chi'},
        {"site": "acme\\chi"},
        {"account": "AB" * 32},  # hex in capitals: expanding gives lowercase
        {"detail": {"channel": "globex", "epoch": 0, "blob": "cd" * 32, "commitment": "ef" * 32}},
        {"period": {"start": "2024-1-1", "end": "2024-01-31"}},
        {"kind": "calculation_basis"},
        {"extra": 1},
    ],
)
def test_anything_else_travels_as_json(changes: dict[str, Any]) -> None:
    item = _item(**changes)
    assert compact_record(canonical(item), item) is None


def test_a_compact_record_that_would_inject_structure_is_refused() -> None:
    small = compact_record(canonical(_item()), _item())
    assert small is not None
    forged = small.replace(b"\x08acme-chi", b'\x08acme"chi')
    with pytest.raises(ValueError, match="quote"):
        expand(forged)
