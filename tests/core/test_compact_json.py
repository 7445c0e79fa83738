"""A record's compact form read straight from its JSON bytes (the check of every typed
transaction) is exactly what decoding and packing it field by field gives, or nothing.

The reference is :func:`compact_record` over the decoded item, and ``expand`` must
give back the same bytes. Records are drawn with texts that canonical JSON writes as
they are and texts it escapes, non-ASCII text, capital hex, ids in every form
``uuid.UUID`` reads and epochs beyond 32 bits; then single bytes of a plain record
are changed, removed or added, as an attacker editing a leaf would.
"""

from __future__ import annotations

import string
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.canonical import canonical, loads_canonical
from carbonledger.core.compact_record import compact_from_json, compact_record, expand
from carbonledger.core.tx import SignedTx, build_tx, signing_digest, tx_from_parts
from carbonledger.core.typed import pack_items
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput

KEY = PrivateKey.generate()

_PLAIN = string.ascii_letters + string.digits + " -./:_!#$%&'()*+,;<=>?@[]^`{|}~"
_ODD_TEXTS = st.one_of(
    st.text(alphabet=_PLAIN, min_size=254, max_size=257),  # the length byte's limit
    st.text(min_size=1, max_size=6),  # anything: quotes, backslashes, controls, non-ASCII
    st.sampled_from(["a\x7f", "\x1f", "é", "\U0001f600", '"', "\\", ""]),
)
_ODD_HEX = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex().upper()),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()[:-1] + "A"),
    st.text(alphabet="0123456789abcdefg", min_size=63, max_size=65),
)
_ODD_EPOCHS = st.sampled_from([2**32 - 1, 2**32, 10**10, 10**11, -1, True, "3", None])


def _odd_ids(rid: str) -> st.SearchStrategy[str]:
    u = uuid.UUID(rid)
    return st.sampled_from(
        [str(u).upper(), u.hex, "{" + str(u) + "}", "urn:uuid:" + str(u), str(u)[:-1]]
    )


_ODD = {
    "id": None,  # see _odd_ids
    "org": _ODD_TEXTS,
    "site": _ODD_TEXTS,
    "account": _ODD_HEX,
    "activity": _ODD_TEXTS,
    "period.start": st.one_of(_ODD_TEXTS, st.just("2024-1-1")),
    "period.end": st.one_of(_ODD_TEXTS, st.just("2024-01-3")),
    "trace.schema": _ODD_TEXTS,
    "trace.basis": _ODD_HEX,
    "trace.scope": _ODD_TEXTS,
    "detail.channel": _ODD_TEXTS,
    "detail.epoch": _ODD_EPOCHS,
    "detail.blob": _ODD_HEX,
    "detail.commitment": _ODD_HEX,
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A plain record with a few of its fields (or none) made odd."""
    item = _plain_record(draw(st.integers(0, 10**9)))
    if draw(st.booleans()):  # the plain texts at their widest
        item["site"] = draw(st.text(alphabet=_PLAIN, min_size=0, max_size=255))
        item["org"] = item["detail"]["channel"] = draw(st.text(alphabet=_PLAIN, max_size=255))
        item["detail"]["epoch"] = draw(st.integers(0, 2**32 - 1))
    for name in draw(st.lists(st.sampled_from(sorted(_ODD)), max_size=2, unique=True)):
        value = draw(_odd_ids(item["id"]) if name == "id" else _ODD[name])
        if "." in name:
            outer, inner = name.split(".")
            item[outer][inner] = value
        else:
            item[name] = value
    if draw(st.integers(0, 19)) == 0:
        item["extra"] = 1
    return item


def _plain_record(n: int) -> dict[str, Any]:
    return {
        "kind": "emissions_record",
        "id": str(uuid.UUID(int=n * 7919)),
        "org": "acme",
        "site": "acme-chi",
        "account": f"{n:064x}",
        "activity": "electricity",
        "period": {"start": "2024-01-01", "end": "2024-01-31"},
        "trace": {"schema": "carbonledger.trace/1", "basis": "ab" * 32, "scope": "2-location"},
        "detail": {"channel": "acme", "epoch": 3, "blob": "cd" * 32, "commitment": "ef" * 32},
    }


@settings(max_examples=400, deadline=None)
@given(records())
def test_reading_the_bytes_gives_what_packing_the_fields_gives(item: dict[str, Any]) -> None:
    data = canonical(item)
    fast, slow = compact_from_json(data), compact_record(data, item)
    if fast is not None:
        assert fast == slow
        assert expand(fast) == data
    if slow is not None and all(0x20 <= b < 0x7F for b in data):
        # Printable ASCII throughout: every record that packs at all is read this way.
        assert fast == slow


_BYTES = st.one_of(st.sampled_from(list(b'"\\ AFZafz09{}:,-\x7f\x00\xc3\xff')), st.integers(0, 255))


@settings(max_examples=500, deadline=None)
@given(records(), st.sampled_from(["replace", "remove", "add"]), st.data())
def test_a_changed_byte_is_read_only_as_the_record_it_now_is(
    item: dict[str, Any], how: str, draw: st.DataObject
) -> None:
    data = canonical(item)
    at = draw.draw(st.integers(0, len(data) - 1))
    byte = bytes([draw.draw(_BYTES)])
    if how == "replace":
        changed = data[:at] + byte + data[at + 1 :]
    elif how == "remove":
        changed = data[:at] + data[at + 1 :]
    else:
        changed = data[:at] + byte + data[at:]
    fast = compact_from_json(changed)
    if fast is None:
        return
    # Whatever is read from the bytes is canonical JSON that packs the long way alike.
    assert compact_record(changed, loads_canonical(changed)) == fast
    assert expand(fast) == changed


@pytest.mark.parametrize(
    ("plain", "spelled"),
    [
        (b'"epoch":3}', b'"epoch":03}'),  # JSON has no leading zeros
        (b'"epoch":3}', b'"epoch":3.0}'),
        (b'"epoch":3}', b'"epoch":-3}'),
        (b'"epoch":3}', b'"epoch": 3}'),  # whitespace
        (b'"acme-chi"', b'"acme\\u002dchi"'),  # an escape canonical JSON does not write
        (b'"electricity"', b'"electricit\xc3\xbf"'),  # UTF-8 (y with diaeresis): the long way
        (b'"ab', b'"AB'),  # capital hex
        (b'"2024-01-01"', b'"2024-01-1"'),
        (b'"acme","period"', b'"acmf","period"'),  # org is not the channel
    ],
)
def test_other_spellings_of_a_record_are_not_read_from_its_bytes(
    plain: bytes, spelled: bytes
) -> None:
    data = canonical(_plain_record(5))
    assert compact_from_json(data) is not None
    assert plain in data
    changed = data.replace(plain, spelled, 1)
    assert compact_from_json(changed) is None
    try:
        item = loads_canonical(changed)
    except InvalidInput:
        return  # not canonical JSON: a typed transaction carrying it is refused
    # The long way decides: only the non-ASCII record packs.
    assert (compact_record(changed, item) is not None) == (b"\xc3" in spelled)


@pytest.mark.parametrize("which", [0, 1])
def test_a_packed_hash_over_other_records_is_refused_whichever_way_they_are_read(
    which: int,
) -> None:
    """The sender signs a body whose packed hash is of other records than its items (the
    contract would take those): refused, for a record read from its bytes (0) and for
    one too odd for that, decoded and packed the long way (1)."""
    items = [_plain_record(1), {**_plain_record(2), "site": "zürich-1"}]
    assert compact_from_json(canonical(items[0])) is not None
    assert compact_from_json(canonical(items[1])) is None
    tx = _signed(items)
    assert tx.body["v"] == 2
    assert pack_items(tx.type, tx.sender, tx.items) == tx.packed
    assert tx_from_parts(tx.body_bytes, tx.items, tx.signature).body["v"] == 2
    others = [dict(item) for item in items]
    others[which]["site"] += "x"
    body = {**tx.body, "packed": _signed(others).body["packed"]}
    body_bytes = canonical(body)
    signature = KEY.sign_digest(signing_digest(body_bytes, body))
    with pytest.raises(InvalidInput, match="packed items hash"):
        tx_from_parts(body_bytes, tx.items, signature)


def _signed(items: list[dict[str, Any]]) -> SignedTx:
    return build_tx(
        KEY,
        tx_type="record_emissions",
        ledger_id="cl-test",
        nonce=1,
        created="2024-02-01T00:00:00.000Z",
        items=items,
    )
