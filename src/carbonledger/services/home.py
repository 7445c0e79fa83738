"""The ledger home: where a deployment keeps its ledger file, keys and configuration.

``$CARBONLEDGER_HOME`` if set, else ``$XDG_DATA_HOME/carbonledger``, else
``~/.local/share/carbonledger``. Layout::

    config.json        ledger id, admin address, backend ("embedded" or "evm")
    ledger.db          the embedded ledger (SQLite, WAL)
    offchain.db        on the EVM backend, the default off-chain store (SQLite)
    keys/admin.json    the admin's key, Ethereum keystore v3 (scrypt), mode 0600
    keys/ORG/USER.json users' keys enrolled from this machine
    ca/                the network CA and each organisation's CA (keys encrypted)
    factors/           factor editions added with ``carbonledger factors load``
"""

from __future__ import annotations

import json
import os
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import decrypt_key, encrypt_key, load_keystore, save_keystore
from carbonledger.errors import ConfigurationError, InvalidInput
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services import backends
from carbonledger.services.identity import CertificateAuthority

__all__ = ["PASSPHRASE_ENV", "USER_PASSPHRASE_ENV", "Home", "closing_ledgers", "default_home"]

USER_PASSPHRASE_ENV = "CARBONLEDGER_USER_PASSPHRASE"  # noqa: S105 - a variable name
PASSPHRASE_ENV = "CARBONLEDGER_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
# scrypt cost for the admin keystore: 2**16 takes about 0.2 s here, a balance
# between brute-force cost and a CLI that unlocks the key on every write.
KEYSTORE_SCRYPT_N = 2**16


def default_home() -> Path:
    env = os.environ.get("CARBONLEDGER_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "carbonledger"


#: Ledgers opened through a home, so a command can close what it opened when it
#: ends (connections left to the garbage collector keep a WAL alive behind the
#: next command run in the same process).
_OPENED: weakref.WeakSet[Any] = weakref.WeakSet()


@contextmanager
def closing_ledgers() -> Iterator[None]:
    """Close, on leaving, every ledger opened through a :class:`Home` inside the block."""
    before = {id(ledger) for ledger in _OPENED}
    try:
        yield
    finally:
        for ledger in list(_OPENED):
            if id(ledger) not in before:
                ledger.close()
                _OPENED.discard(ledger)


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def ledger_file(self) -> Path:
        return self.path / "ledger.db"

    @property
    def keystore_file(self) -> Path:
        """The admin's keystore; in a home attached to a chain, its node's own key."""
        admin = self.path / "keys" / "admin.json"
        node = self.path / "keys" / "node.json"
        return node if node.exists() and not admin.exists() else admin

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    def exists(self) -> bool:
        return self.config_file.exists()

    def config(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.config_file.read_text())
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"no ledger at {self.path}: run `carbonledger init` (or set CARBONLEDGER_HOME)"
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{self.config_file} is unreadable: {exc}") from exc
        return data

    def init(
        self, passphrase: str, *, name: str = "carbonledger", scrypt_n: int = KEYSTORE_SCRYPT_N
    ) -> PrivateKey:
        """Create the admin key (here, on this machine), its keystore and the genesis entry."""
        if self.exists():
            raise ConfigurationError(f"{self.path} already holds a ledger")
        if not passphrase:
            raise InvalidInput("a passphrase is required to encrypt the admin key")
        self.keystore_file.parent.mkdir(parents=True, exist_ok=True)
        key = PrivateKey.generate()
        save_keystore(self.keystore_file, encrypt_key(key, passphrase, n=scrypt_n))
        ledger_id = f"cl-{uuid.uuid4().hex[:16]}"
        created = utc_now()
        root_ca = self.ca.create_root(f"{name} network CA", passphrase)
        genesis = build_tx(
            key,
            tx_type="genesis",
            ledger_id=ledger_id,
            nonce=0,
            created=created,
            items=[
                {
                    "kind": "ledger",
                    "id": ledger_id,
                    "name": name,
                    "admin": key.address,
                    "admin_public_key": key.public_key.to_bytes().hex(),
                    "root_ca": root_ca,
                    "created": created,
                }
            ],
        )
        backends.create_embedded(self.ledger_file, key, genesis)
        config = {
            "ledger_id": ledger_id,
            "name": name,
            "admin": key.address,
            "backend": "embedded",
            "created": created,
        }
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")
        return key

    @property
    def ca(self) -> CertificateAuthority:
        """The network CA and the organisations' CAs (keys encrypted with the admin passphrase)."""
        return CertificateAuthority(self.path / "ca")

    def user_keystore(self, org: str, name: str) -> Path:
        return self.path / "keys" / org / f"{name}.json"

    def user_key(self, org: str, name: str, passphrase: str) -> PrivateKey:
        """Unlock a user's key kept in this home (users may also keep theirs elsewhere)."""
        path = self.user_keystore(org, name)
        try:
            keystore = load_keystore(path)
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no keystore for {name!r} of {org!r} at {path}") from exc
        return decrypt_key(keystore, passphrase)

    def key(self, passphrase: str) -> PrivateKey:
        """Unlock the admin key."""
        try:
            keystore = load_keystore(self.keystore_file)
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no admin keystore at {self.keystore_file}") from exc
        return decrypt_key(keystore, passphrase)

    @property
    def backend(self) -> str:
        """``"embedded"`` (the default) or ``"evm"`` (``chain deploy``, ``demo --backend evm``)."""
        return str(self.config().get("backend", "embedded"))

    def mirror_location(self, evm: dict[str, Any]) -> str | Path:
        """The EVM backend's off-chain store: a database URL, or a file in the home."""
        mirror = str(evm.get("offchain", "offchain.db"))
        return mirror if "://" in mirror else self.path / mirror

    def ledger(self, key: PrivateKey | None = None) -> LedgerPort:
        """Open the ledger on the home's backend (:func:`backends.open_ledger`);
        pass the admin key to write."""
        ledger = backends.open_ledger(self, key)
        _OPENED.add(ledger)
        return ledger

    def deploy_evm(
        self,
        key: PrivateKey,
        rpc: str,
        *,
        mirror: str | None = None,
        time_skew_ms: int | None = None,
    ) -> dict[str, Any]:
        """Deploy ``CarbonLedger``, copy this home's entries onto it and switch to the EVM backend.

        ``key`` is the admin key (it operates the contract); ``mirror`` a database URL
        for the off-chain store (PostgreSQL), else ``offchain.db`` here;
        ``time_skew_ms`` as for :func:`carbonledger.adapters.evm.deploy`. Returns the
        ``evm`` section written to config.json.
        """
        config = self.config()
        if config.get("backend") == "evm":
            raise ConfigurationError(
                f"{self.path} is already on the EVM backend at {config['evm']['rpc']}"
            )
        section = backends.deploy_evm(self, key, rpc, mirror=mirror, time_skew_ms=time_skew_ms)
        config["backend"] = "evm"
        config["evm"] = section
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")
        return section

    def attach_evm(
        self,
        passphrase: str,
        rpc: str,
        contract: str,
        *,
        mirror: str | None = None,
        peers: Sequence[str] = (),
        allow_private_peers: bool = False,
    ) -> dict[str, Any]:
        """Make this home a node of the ledger at ``contract`` on the chain at ``rpc``, its
        store built from the chain alone (no other home's files or keys).

        The node gets its own key (``keys/node.json``, encrypted with ``passphrase``): it
        signs the store's checkpoints and relays its users' transactions. ``peers``: the
        nodes it fetches sealed blobs from (``evm.peers``); ``allow_private_peers``: it
        also asks nodes announced at non-public addresses. Returns the config written.
        """
        if self.exists():
            raise ConfigurationError(f"{self.path} already holds a ledger")
        if not passphrase:
            raise InvalidInput("a passphrase is required to encrypt the node's key")
        self.path.mkdir(parents=True, exist_ok=True)
        key = PrivateKey.generate()
        section, state = backends.attach_evm(
            self, key, rpc, contract, mirror=mirror, peers=peers, allow_private=allow_private_peers
        )
        if state.ledger_id is None:
            raise ConfigurationError(f"the ledger at {contract} has no genesis entry yet")
        (self.path / "keys").mkdir(exist_ok=True)
        save_keystore(self.path / "keys" / "node.json", encrypt_key(key, passphrase))
        config = {
            "ledger_id": state.ledger_id,
            "name": state.ledger_id,
            "admin": state.admin,
            "node": key.address,
            "backend": "evm",
            "created": utc_now(),
            "evm": section,
        }
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")
        return config
