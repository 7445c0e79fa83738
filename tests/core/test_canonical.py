"""The one signed byte form: RFC 8785 (JCS), checked against its reference implementation."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.canonical import canonical, jcs, loads_canonical
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.tx import TX_VERSION, signing_digest, tx_from_parts
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from tests.ledger_helpers import new_ledger, record, tx

_SAFE = 2**53 - 1
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-_SAFE, max_value=_SAFE)
    | st.text(alphabet=st.characters(codec="utf-8"))
)


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8")), inner, max_size=4)
        ),
        max_leaves=20,
    )


_json = _nested(_scalars)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_equals_the_rfc8785_reference_for_every_value_it_can_hold(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


_with_floats = _nested(_scalars | st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(_with_floats)
def test_credentials_encoding_is_the_reference_and_the_ledgers_where_both_apply(
    value: Any,
) -> None:
    # One definition: jcs (credentials, any JSON) is RFC 8785 itself, and on every
    # value the ledger's encoder accepts (no float anywhere) the two write one byte form.
    assert jcs(value) == rfc8785.dumps(value)
    try:
        ledger = canonical(value)
    except InvalidInput:
        assert _holds_float(value)
    else:
        assert ledger == jcs(value)


def _holds_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_holds_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_float(v) for v in value)
    return False


def test_credentials_encoding_refuses_what_json_cannot_carry_exactly() -> None:
    for bad in (2**53 + 1, Decimal("1.5"), math.nan):
        with pytest.raises(InvalidInput, match="RFC 8785"):
            jcs({"x": bad})


def test_keys_are_ordered_by_utf16_code_units_not_code_points() -> None:
    # U+10000 is D800 DC00 in UTF-16, so it sorts before U+FFFF (FFFF); by code
    # point (and by UTF-8 bytes) it would sort after.
    value = {"\uffff": 1, "\U00010000": 2, "a": 3}
    out = canonical(value)
    assert out == '{"a":3,"\U00010000":2,"\uffff":1}'.encode()
    assert out == rfc8785.dumps(value)


@pytest.mark.parametrize("bad", [1.5, math.nan, math.inf, {"a": [0.0]}, {"k": {"x": -1e20}}])
def test_floats_and_nan_are_refused_not_rounded_or_nulled(bad: Any) -> None:
    with pytest.raises(InvalidInput, match="float"):
        canonical(bad)


def test_decimals_travel_as_strings_and_big_token_amounts_exactly() -> None:
    assert canonical({"kg": Decimal("0.000001")}) == b'{"kg":"0.000001"}'
    assert canonical({"amount": 2**63 - 1}) == b'{"amount":9223372036854775807}'


@pytest.mark.parametrize(
    "data",
    [
        b'{"kind":"site","kind":"emissions_record"}',  # duplicate key: readers disagree
        b'{"b":1,"a":2}',  # key order
        b'{"a": 1}',  # whitespace
        b'{"a":1.0}',  # float
        b'{"a":"\\u0041"}',  # needless escape
        b'{"a":NaN}',
    ],
)
def test_received_bytes_in_any_other_form_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        loads_canonical(data, "item 0")


def test_received_canonical_bytes_are_read() -> None:
    assert loads_canonical(b'{"a":[1,"x",null],"b":true}') == {"a": [1, "x", None], "b": True}


def test_a_signed_item_with_a_duplicate_key_is_refused_by_the_ledger(
    tmp_path: Path, admin: PrivateKey
) -> None:
    """A member signs an item whose bytes say ``kind`` twice: this package would read
    the last, another reader the first. The ledger refuses the bytes, and the refused
    transaction leaves nothing behind."""
    ledger = new_ledger(tmp_path / "ledger.db", admin)
    before = ledger.verify()
    good = tx(admin, "record_emissions", 4, [record("s0", 1)])
    data = good.items[0]
    forged = data.replace(b'{"', b'{"kind":"site","', 1)
    hashes = [leaf_hash(forged)]
    root = root_from_leaf_hashes(hashes).hex()
    # Signed as typed data (``v`` 2), the forged item has no packed form: refused as read.
    typed = canonical({**good.body, "items_root": root})
    with pytest.raises(InvalidInput, match="no packed form"):
        tx_from_parts(typed, [forged], admin.sign_digest(signing_digest(typed)))
    # Signed in the JSON form (``v`` 1), it reaches the ledger, which refuses its bytes.
    body = {k: v for k, v in good.body.items() if k != "packed"}
    body_bytes = canonical({**body, "v": TX_VERSION, "items_root": root})
    signed = tx_from_parts(body_bytes, [forged], admin.sign_digest(signing_digest(body_bytes)))
    with pytest.raises(InvalidInput, match="not canonical"):
        ledger.submit([signed])
    after = ledger.verify()
    assert after.ok
    assert after.leaves == before.leaves


def test_a_float_inside_a_dict_subclass_is_refused_too() -> None:
    from collections import OrderedDict

    with pytest.raises(InvalidInput, match="float"):
        canonical({"a": [OrderedDict(x=None, y=math.nan)]})
