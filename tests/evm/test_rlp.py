"""The adapter's own RLP encoder against pyrlp (the reference), and the EVM transactions
it signs read back by eth-account as any node reads them."""

from __future__ import annotations

import pytest
import rlp
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.adapters.evm.chain import _Sender, rlp_bytes, rlp_int, rlp_list
from carbonledger.crypto.keys import PrivateKey, keccak256

#: Byte strings around RLP's length boundaries (1 byte under 0x80, 55 and 56 bytes, long).
SIZES = st.sampled_from([0, 1, 2, 55, 56, 57, 255, 256, 65_535, 65_536, 130_000])


@given(st.one_of(st.binary(max_size=300), SIZES.map(lambda n: b"\x7f" * n)))
def test_byte_strings_encode_as_pyrlp_does(data: bytes) -> None:
    assert rlp_bytes(data) == rlp.encode(data)


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_integers_encode_as_pyrlp_does(value: int) -> None:
    assert rlp_int(value) == rlp.encode(value)


@given(st.lists(st.one_of(st.binary(max_size=80), st.integers(0, 2**64)), max_size=12))
def test_lists_encode_as_pyrlp_does(items: list[bytes | int]) -> None:
    payload = b"".join(rlp_int(i) if isinstance(i, int) else rlp_bytes(i) for i in items)
    assert rlp_list(payload) == rlp.encode(items)


@pytest.mark.parametrize("size", [0, 1, 55, 56, 120_000])
def test_a_signed_transaction_reads_back_with_its_signer_and_fields(size: int) -> None:
    class _Node:  # what _Sender asks a node when it starts: chain id, nonce, gas price
        def batch(self, calls: object) -> list[str]:
            return ["0x7a69", "0x2a", "0x3b9aca00"]

    key = PrivateKey.generate()
    sender = _Sender(_Node(), key)  # type: ignore[arg-type]
    to = PrivateKey.generate().address
    data = bytes(range(256)) * (size // 256) + b"\x01" * (size % 256)
    raw, tx_hash = sender.sign(to, data, 5_000_000)
    assert Account.recover_transaction(raw) == key.address
    fields = rlp.decode(bytes.fromhex(raw[4:]))
    assert int.from_bytes(fields[0], "big") == 31337  # chain id
    assert int.from_bytes(fields[1], "big") == 42  # the node's pending nonce
    assert int.from_bytes(fields[4], "big") == 5_000_000
    assert "0x" + fields[5].hex() == to.lower()
    assert fields[7] == data
    assert sender.nonce == 43
    assert tx_hash == "0x" + keccak256(bytes.fromhex(raw[2:])).hex()
