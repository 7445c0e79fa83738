"""A record transaction built from its items carries exactly the bytes any node checks.

The builder writes a record of plain values and its compact form from the fields at
once; whatever it writes must be the record's canonical JSON, and the packed form
signed must be what a receiving node reads back from those bytes. Records are drawn
as in ``test_compact_json``: plain ones, and ones with texts canonical JSON escapes,
non-ASCII text, capital hex, ids in other spellings, epochs beyond 32 bits or an
extra field, each of which must still be signed as its canonical JSON.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from carbonledger.core.canonical import canonical
from carbonledger.core.tx import tx_from_parts
from carbonledger.core.typed import pack_items
from tests.core.test_compact_json import _plain_record, _signed, records


@settings(max_examples=400, deadline=None)
@given(records())
def test_a_built_record_is_its_canonical_json_and_packs_as_a_node_reads_it(
    item: dict[str, Any],
) -> None:
    items = [_plain_record(1), item]  # beside a plain record: mixed transactions too
    expected = [canonical(i) for i in items]
    tx = _signed(items)
    assert list(tx.items) == expected
    # What a node that receives the bytes packs, and what the signature covers.
    assert tx.packed == pack_items(tx.type, tx.sender, tx.items)
    again = tx_from_parts(tx.body_bytes, tx.items, tx.signature)
    assert again.body == tx.body


def test_a_plain_record_is_signed_as_typed_data() -> None:
    tx = _signed([_plain_record(n) for n in range(3)])
    assert tx.body["v"] == 2
    assert tx.packed is not None
    assert all(p[:1] == b"\x00" for p in tx.packed)
