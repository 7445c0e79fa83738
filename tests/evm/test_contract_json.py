"""The contract's canonical-JSON reader, called directly on anvil (no state machine first).

The reader finds string ends by scanning 32 bytes at a time for a quote or a
backslash. These tests send crafted, correctly signed transactions straight to
``submit`` (``eth_call`` from the operator, so nothing is mined) and tell a parse
failure (``BadJson``) from any later refusal (``NotEnrolled``,
``InsufficientBalance``): strings of every length around the 32-byte steps are
read, and a string holding an escape is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from carbonledger.core.tx import SignedTx, build_tx
from carbonledger.crypto.keys import PrivateKey
from tests.conformance.test_evm import _need_evm

LEDGER = "json-reader"


@pytest.fixture(scope="module")
def chain() -> Iterator[dict[str, Any]]:
    anvil = _need_evm()
    from carbonledger.adapters.evm import Rpc, deploy
    from carbonledger.adapters.evm.base import TX_ABI
    from carbonledger.adapters.evm.chain import _mine_and_wait, _Sender, artifact
    from carbonledger.adapters.evm.reverts import errors_by_selector as _errors_by_selector
    from carbonledger.adapters.evm.reverts import selector as _selector

    node = anvil.Anvil()
    admin = PrivateKey.generate()
    rpc = Rpc(node.url)
    chain = {
        "rpc": rpc,
        "admin": admin,
        "address": deploy(rpc, admin, LEDGER)["address"],
        "selector": _selector(f"submit({TX_ABI})"),
        "errors": _errors_by_selector(artifact()["abi"]),
    }
    # The admin's genesis, mined: the admin is then enrolled, with nonce 1.
    genesis = _tx(admin, "genesis", 0, "2026-01-01T00:00:00.000Z", [{"kind": "x"}])
    raw, tx_hash = _Sender(rpc, admin).sign(chain["address"], _calldata(chain, genesis), 500_000)
    rpc.call("eth_sendRawTransaction", raw)
    (receipt,) = _mine_and_wait(rpc, [tx_hash], True)
    assert receipt["status"] == "0x1"
    try:
        yield chain
    finally:
        rpc.close()
        node.stop()


def _tx(key: PrivateKey, kind: str, nonce: int, created: str, items: list[Any]) -> SignedTx:
    return build_tx(key, tx_type=kind, ledger_id=LEDGER, nonce=nonce, created=created, items=items)


def _calldata(chain: dict[str, Any], tx: SignedTx) -> bytes:
    from eth_abi.abi import encode as abi_encode

    from carbonledger.adapters.evm.base import TX_ABI

    sig = tx.signature
    call = (tx.body_bytes, sig[:32], sig[32:64], sig[64], list(tx.items), [], [])
    return bytes(chain["selector"]) + abi_encode([TX_ABI], [[call]])


def _error(chain: dict[str, Any], tx: SignedTx) -> str | None:
    """The custom error's name that ``submit([tx])`` reverts with, or None if it passes."""
    from carbonledger.adapters.evm.rpc import RpcError

    data = _calldata(chain, tx)
    request = {"from": chain["admin"].address, "to": chain["address"], "data": "0x" + data.hex()}
    try:
        chain["rpc"].call("eth_call", request, "latest")
    except RpcError as exc:
        raw = exc.data if isinstance(exc.data, str) else (exc.data or {}).get("data", "")
        name, _ = chain["errors"][bytes.fromhex(raw[2:10])]
        return str(name)
    return None


@pytest.mark.parametrize("length", [0, 1, 23, 31, 32, 33, 40, 63])
def test_created_of_any_length_up_to_63_is_read(chain: dict[str, Any], length: int) -> None:
    # A second genesis parses (created found, type read) and is then refused by the rule.
    tx = _tx(chain["admin"], "genesis", 1, "7" * length, [{"kind": "x"}])
    assert _error(chain, tx) == "AlreadyEnrolled"


def test_created_longer_than_the_reader_looks_is_refused(chain: dict[str, Any]) -> None:
    tx = _tx(chain["admin"], "genesis", 1, "7" * 64, [{"kind": "x"}])
    assert _error(chain, tx) == "BadJson"


@pytest.mark.parametrize("created", ['2026"', "a\\b", "\n", "x" * 40 + '"'])
def test_created_with_an_escape_is_refused(chain: dict[str, Any], created: str) -> None:
    assert _error(chain, _tx(chain["admin"], "genesis", 1, created, [{"kind": "x"}])) == "BadJson"


@pytest.mark.parametrize("length", [1, 2, 8, 20, 31, 32, 33, 50, 63, 64])
def test_token_ids_of_every_length_are_read_from_the_end(
    chain: dict[str, Any], length: int
) -> None:
    # A retirement the admin has no balance for: parsed, then refused on the balance.
    item = {"amount": 1, "token": "t" * length}
    tx = _tx(chain["admin"], "retire_token", 1, "2026-01-01T00:00:00.000Z", [item])
    assert _error(chain, tx) == "InsufficientBalance"


def test_a_token_id_longer_than_ids_may_be_is_refused(chain: dict[str, Any]) -> None:
    item = {"amount": 1, "token": "t" * 65}
    tx = _tx(chain["admin"], "retire_token", 1, "2026-01-01T00:00:00.000Z", [item])
    assert _error(chain, tx) == "BadJson"


@pytest.mark.parametrize("token", ['a"b', "a\\b", '"', "ab\\"])
def test_a_token_id_holding_an_escape_is_refused(chain: dict[str, Any], token: str) -> None:
    item = {"amount": 1, "token": token}
    tx = _tx(chain["admin"], "retire_token", 1, "2026-01-01T00:00:00.000Z", [item])
    assert _error(chain, tx) == "BadJson"


def test_unknown_types_of_any_length_parse_and_need_an_enrolled_sender(
    chain: dict[str, Any],
) -> None:
    stranger = PrivateKey.generate()
    for length in (1, 31, 32, 33, 55):
        tx = _tx(stranger, "y" * length, 0, "2026-01-01T00:00:00.000Z", [{"kind": "x"}])
        assert _error(chain, tx) == "NotEnrolled", length


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (1, "InsufficientBalance"),
        (0, "BadAmount"),  # read, then refused as an amount
        (10**19 - 1, "InsufficientBalance"),  # 19 digits: read (below 2^64)
        (10**19, "BadJson"),  # 20 digits: not read
    ],
)
def test_amounts_are_read_as_up_to_19_digits(
    chain: dict[str, Any], amount: int, error: str
) -> None:
    item = {"amount": amount, "token": "t"}
    tx = _tx(chain["admin"], "retire_token", 1, "2026-01-01T00:00:00.000Z", [item])
    assert _error(chain, tx) == error
