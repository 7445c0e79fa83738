"""Ethereum keystore v3 files (Web3 Secret Storage Definition).

The format is geth's, so a key created here can be imported into an Ethereum
wallet and a wallet's key file can sign ledger entries. Encryption uses scrypt
and AES-128-CTR; decryption also accepts PBKDF2-HMAC-SHA256 files.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path
from typing import Any, Final, cast

import orjson
from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt as _pycryptodome_scrypt

from carbonledger.crypto.keys import PrivateKey, checksum_address, keccak256
from carbonledger.errors import ConfigurationError, InvalidInput

__all__ = ["decrypt_key", "encrypt_key", "load_keystore", "save_keystore"]

_DKLEN: Final = 32
# Bounds on what a keystore file may ask of us when decrypting: a hostile file
# with n = 2**30 would otherwise exhaust memory, one with c = 2**40 hang forever.
_MAX_SCRYPT_MEMORY: Final = 1 << 30
_MAX_PBKDF2_ROUNDS: Final = 10_000_000
_MAC_MISMATCH: Final = "wrong passphrase or corrupted keystore (MAC mismatch)"


def _scrypt_maxmem(n: int, r: int, p: int) -> int:
    # OpenSSL needs 128*r*(n + 2) bytes for V plus 128*r*p for B; add slack.
    return 128 * r * (n + 2 + p) + (1 << 20)


def _scrypt(passphrase: bytes, salt: bytes, *, n: int, r: int, p: int, dklen: int) -> bytes:
    if n.bit_length() - 1 >= 16 * r:
        # OpenSSL enforces RFC 7914's n < 2**(16 r) and refuses, but real keystores
        # break it (the Web3 Secret Storage test vector has n = 2**18 with r = 1);
        # pycryptodome computes the same function without that check.
        derived = _pycryptodome_scrypt(  # its stubs say str; bytes are what it takes
            passphrase,  # type: ignore[arg-type]
            salt,  # type: ignore[arg-type]
            dklen,
            N=n,
            r=r,
            p=p,
        )
        return bytes(cast(bytes, derived))
    return hashlib.scrypt(
        passphrase, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=_scrypt_maxmem(n, r, p)
    )


def _aes_128_ctr(key16: bytes, iv16: bytes, data: bytes) -> bytes:
    # The 16-byte IV is the full initial counter block, as geth uses it.
    cipher = AES.new(key16, AES.MODE_CTR, nonce=b"", initial_value=iv16)
    return bytes(cipher.encrypt(data))


def encrypt_key(
    key: PrivateKey, passphrase: str, *, n: int = 2**18, r: int = 8, p: int = 1
) -> dict[str, Any]:
    """Encrypt ``key`` under ``passphrase`` into a keystore v3 dictionary.

    The defaults are geth's "standard" scrypt cost (about a second and 256 MiB).

    Raises:
        InvalidInput: the scrypt parameters are not usable.
    """
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise InvalidInput("scrypt needs n a power of two > 1, r >= 1 and p >= 1")
    salt = secrets.token_bytes(32)
    iv = secrets.token_bytes(16)
    derived = _scrypt(passphrase.encode("utf-8"), salt, n=n, r=r, p=p, dklen=_DKLEN)
    ciphertext = _aes_128_ctr(derived[:16], iv, key.to_bytes())
    mac = keccak256(derived[16:32] + ciphertext)
    return {
        "address": key.address[2:].lower(),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": "scrypt",
            "kdfparams": {"dklen": _DKLEN, "n": n, "p": p, "r": r, "salt": salt.hex()},
            "mac": mac.hex(),
        },
        "id": str(uuid.uuid4()),
        "version": 3,
    }


def _field(obj: Any, name: str, kind: type) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise InvalidInput(f"keystore is missing the field {name!r}")
    value = obj[name]
    # bool is an int subclass; a JSON true is never a valid count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidInput(f"keystore field {name!r} must be of type {kind.__name__}")
    return value


def _hex_field(obj: Any, name: str) -> bytes:
    text = _field(obj, name, str)
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise InvalidInput(f"keystore field {name!r} is not hex") from None


def _derive(crypto: Any, passphrase: bytes) -> bytes:
    kdf = _field(crypto, "kdf", str)
    params = _field(crypto, "kdfparams", dict)
    dklen = _field(params, "dklen", int)
    if not _DKLEN <= dklen <= 64:
        raise InvalidInput(f"keystore dklen must be between 32 and 64, got {dklen}")
    salt = _hex_field(params, "salt")
    if kdf == "scrypt":
        n, r, p = (_field(params, k, int) for k in ("n", "r", "p"))
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise InvalidInput("keystore scrypt parameters are invalid")
        if 128 * r * n > _MAX_SCRYPT_MEMORY or p > 64:
            raise InvalidInput("keystore scrypt parameters exceed the allowed cost")
        return _scrypt(passphrase, salt, n=n, r=r, p=p, dklen=dklen)
    if kdf == "pbkdf2":
        if _field(params, "prf", str) != "hmac-sha256":
            raise InvalidInput("keystore pbkdf2 prf must be hmac-sha256")
        c = _field(params, "c", int)
        if not 1 <= c <= _MAX_PBKDF2_ROUNDS:
            raise InvalidInput(f"keystore pbkdf2 iteration count is out of range: {c}")
        return hashlib.pbkdf2_hmac("sha256", passphrase, salt, c, dklen)
    raise InvalidInput(f"keystore kdf {kdf!r} is not supported (scrypt or pbkdf2)")


def decrypt_key(keystore: dict[str, Any], passphrase: str) -> PrivateKey:
    """Decrypt a keystore v3 dictionary and return its private key.

    Raises:
        InvalidInput: the passphrase is wrong, the keystore is malformed or
            corrupted, or its address does not belong to the decrypted key.
    """
    if not isinstance(keystore, dict) or keystore.get("version") != 3:
        raise InvalidInput("not a version 3 keystore")
    # geth wrote "Crypto" in early versions; both spellings are in the wild.
    crypto = keystore.get("crypto", keystore.get("Crypto"))
    if not isinstance(crypto, dict):
        raise InvalidInput("keystore is missing the field 'crypto'")
    if _field(crypto, "cipher", str) != "aes-128-ctr":
        raise InvalidInput("keystore cipher must be aes-128-ctr")
    iv = _hex_field(_field(crypto, "cipherparams", dict), "iv")
    if len(iv) != 16:
        raise InvalidInput("keystore iv must be 16 bytes")
    ciphertext = _hex_field(crypto, "ciphertext")
    expected_mac = _hex_field(crypto, "mac")
    derived = _derive(crypto, passphrase.encode("utf-8"))
    if not hmac.compare_digest(keccak256(derived[16:32] + ciphertext), expected_mac):
        raise InvalidInput(_MAC_MISMATCH)
    key = PrivateKey.from_bytes(_aes_128_ctr(derived[:16], iv, ciphertext))
    address = keystore.get("address")
    if address is not None:
        stated = checksum_address("0x" + str(address).removeprefix("0x").lower())
        if stated != key.address:
            raise InvalidInput(f"keystore says address {stated} but holds the key of {key.address}")
    return key


def save_keystore(
    path: str | os.PathLike[str], keystore: dict[str, Any], *, overwrite: bool = False
) -> None:
    """Write ``keystore`` as JSON to ``path`` atomically, readable by the owner only.

    The file is written to a temporary sibling with mode 0600, flushed to disk,
    then moved into place, so a crash leaves either no file or a whole one.
    Unless ``overwrite`` is set an existing file is kept: replacing a key file
    by mistake loses the key.

    Raises:
        ConfigurationError: the file exists (without ``overwrite``) or cannot be written.
    """
    target = Path(path)
    data = orjson.dumps(keystore, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target exists, with no window for a race.
            os.link(tmp, target)
            os.unlink(tmp)
        _fsync_dir(target.parent)
    except FileExistsError:
        raise ConfigurationError(f"keystore {target} already exists; not overwriting") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot write keystore {target}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_keystore(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a keystore JSON file.

    Raises:
        ConfigurationError: the file cannot be read.
        InvalidInput: the file is not a JSON object.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read keystore {path}: {exc}") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"keystore {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"keystore {path} is not a JSON object")
    return data
