"""One signing path: raw digest signing only in the recipes, and each recipe's signature
checked by an independent implementation of its format.

A key that signs any 32 bytes it is handed can be made to sign a ledger
transaction disguised as a sign-in challenge. So only the key itself, the
ledger's transaction and checkpoint modules and the recipes of the other formats
(:mod:`carbonledger.crypto.recipes`) may call ``sign_digest``; the test reads the
source, so a new caller fails on the commit that adds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_account import Account
from eth_account.messages import encode_defunct

from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.recipes import (
    recover_personal_message,
    sign_evm_transaction,
    sign_personal_message,
    sign_sha256_compact,
)
from carbonledger.errors import InvalidInput

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "carbonledger"
#: The only modules that may sign a raw digest.
SIGNERS = {
    "carbonledger/crypto/keys.py",
    "carbonledger/crypto/recipes.py",
    "carbonledger/core/tx.py",
    "carbonledger/core/checkpoint.py",
}
KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


def test_raw_digest_signing_only_in_the_recipes() -> None:
    callers = {
        str(p.relative_to(SRC)) for p in PACKAGE.rglob("*.py") if "sign_digest" in p.read_text()
    }
    assert callers - SIGNERS == set()
    assert "carbonledger/core/tx.py" in callers  # the search really reads the source


@pytest.mark.parametrize("layer", ["services", "web", "adapters", "api", "cli", "credentials"])
def test_no_layer_above_the_core_signs_a_raw_digest(layer: str) -> None:
    offenders = [
        str(p.relative_to(SRC)) for p in (PACKAGE / layer).rglob("*.py")
        if "sign_digest" in p.read_text()
    ]  # fmt: skip
    assert offenders == []


def test_personal_message_is_what_a_wallet_recovers() -> None:
    message = "carbonledger wants you to sign in with your Ethereum account:\nnonce: 42"
    signature = sign_personal_message(KEY, message)
    assert Account.recover_message(encode_defunct(text=message), signature=signature) == KEY.address
    assert recover_personal_message(message, signature) == KEY.address
    assert recover_personal_message(message + " ", signature) != KEY.address


def test_sha256_compact_is_an_es256k_signature() -> None:
    data = b'{"credential":"reading"}'
    signature = sign_sha256_compact(KEY, data)
    assert len(signature) == 64
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), KEY.public_key.to_bytes())
    public.verify(der, data, ec.ECDSA(hashes.SHA256()))  # raises if it does not hold


def test_evm_transaction_recovers_to_its_sender() -> None:
    # An EIP-1559 transfer: chain 31337, nonce 7, fees, gas, to, value, data, access list.
    fields = [31337, 7, 10**9, 2 * 10**9, 21_000, bytes.fromhex("11" * 20), 5, b"", []]
    y, r, s = sign_evm_transaction(KEY, b"\x02" + rlp.encode(fields))
    raw = b"\x02" + rlp.encode([*fields, y, r, s])
    assert Account.recover_transaction(raw) == KEY.address


def test_evm_recipe_refuses_what_is_not_a_typed_transaction() -> None:
    # A 32-byte value starting >= 0x80 is a legacy RLP list, not a typed payload.
    with pytest.raises(InvalidInput, match="type byte"):
        sign_evm_transaction(KEY, b"\xc0" + bytes(31))
    with pytest.raises(InvalidInput, match="type byte"):
        sign_evm_transaction(KEY, b"")
