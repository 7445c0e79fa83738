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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import decrypt_key, encrypt_key, load_keystore, save_keystore
from carbonledger.errors import ConfigurationError, IntegrityError, InvalidInput
from carbonledger.services.identity import CertificateAuthority

if TYPE_CHECKING:
    from carbonledger.adapters.evm import EvmLedger

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
        if not self.ledger_file.exists():
            # a checkpoint remembered for a ledger file no longer here is not this ledger's
            Path(f"{self.ledger_file}.checkpoint").unlink(missing_ok=True)
        ledger = SqliteLedger(self.ledger_file, operator=key)
        try:
            ledger.submit(
                [
                    build_tx(
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
                ]
            )
        finally:
            ledger.close()
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

    def ledger(self, key: PrivateKey | None = None) -> SqliteLedger:
        """Open the ledger; pass the admin key to write.

        On the EVM backend this is an :class:`~carbonledger.adapters.evm.EvmLedger`
        (the same port, reads served by its off-chain store); it is typed as the
        embedded ledger because callers use only what both offer.
        """
        config = self.config()
        if config.get("backend") == "evm":
            ledger: SqliteLedger = self.evm_ledger(key)  # type: ignore[assignment]
        else:
            ledger = SqliteLedger(self.ledger_file, operator=key)
        _OPENED.add(ledger)
        return ledger

    def evm_ledger(self, key: PrivateKey | None = None) -> EvmLedger:
        """The EVM backend in config.json (``evm``: rpc, contract, deploy block, store)."""
        config = self.config()
        evm_cfg = config.get("evm")
        if config.get("backend") != "evm" or not evm_cfg:
            raise ConfigurationError(
                f"{self.path} is not on the EVM backend: run `carbonledger chain deploy`"
            )
        evm = _evm()
        ledger: EvmLedger = evm.EvmLedger(
            evm_cfg["rpc"],
            evm_cfg["contract"],
            self.mirror_location(evm_cfg),
            key,
            deploy_block=int(evm_cfg.get("deploy_block", 0)),
            chain_id=evm_cfg.get("chain_id"),
            checkpoint_signer=config.get("node"),
        )
        return ledger

    def attach_evm(
        self, passphrase: str, rpc: str, contract: str, *, mirror: str | None = None
    ) -> dict[str, Any]:
        """Make this home a node of the ledger at ``contract`` on the chain at ``rpc``, its
        store built from the chain alone (no other home's files or keys).

        The node gets its own key (``keys/node.json``, encrypted with ``passphrase``): it
        signs the store's checkpoints and relays its users' transactions. Returns the
        config written.
        """
        if self.exists():
            raise ConfigurationError(f"{self.path} already holds a ledger")
        if not passphrase:
            raise InvalidInput("a passphrase is required to encrypt the node's key")
        evm = _evm()
        client = evm.Rpc(rpc)
        chain_id = int(client.call("eth_chainId"), 16)
        block = first_block_with_code(client, contract)
        self.path.mkdir(parents=True, exist_ok=True)
        key = PrivateKey.generate()
        offchain = mirror or "offchain.db"
        location = offchain if "://" in offchain else self.path / offchain
        ledger = evm.EvmLedger(
            client,
            contract,
            location,
            key,
            deploy_block=block,
            chain_id=chain_id,
            checkpoint_signer=key.address,
        )
        try:
            if ledger.status()["entries_off_chain"]:
                raise ConfigurationError(
                    f"the off-chain store {offchain!r} is not empty: give an empty database"
                )
            ledger.sync()
            state = ledger.state()
        finally:
            ledger.close()
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
            "evm": {
                "rpc": rpc,
                "contract": ledger.address,
                "chain_id": chain_id,
                "deploy_block": block,
                "offchain": offchain,
            },
        }
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")
        return config

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
        evm = _evm()
        offchain = mirror or "offchain.db"
        location = offchain if "://" in offchain else self.path / offchain
        client = evm.Rpc(rpc)
        info = evm.deploy(client, key, config["ledger_id"], time_skew_ms=time_skew_ms)
        ledger = evm.EvmLedger(
            client,
            info["address"],
            location,
            key,
            deploy_block=info["block"],
            chain_id=info["chain_id"],
        )
        embedded = SqliteLedger(self.ledger_file, operator=key)
        try:
            if ledger.status()["entries_off_chain"]:
                raise ConfigurationError(
                    f"the off-chain store {offchain!r} is not empty: give an empty database"
                )
            _copy_entries(embedded, ledger)
        finally:
            embedded.close()
            ledger.close()
        section = {
            "rpc": rpc,
            "contract": info["address"],
            "chain_id": info["chain_id"],
            "deploy_block": info["block"],
            "offchain": offchain,
        }
        config["backend"] = "evm"
        config["evm"] = section
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")
        return section


def first_block_with_code(rpc: Any, address: str) -> int:
    """The block that created the contract at ``address`` (the first with its code)."""
    latest = int(rpc.call("eth_blockNumber"), 16)
    if rpc.call("eth_getCode", address, hex(latest)) in (None, "0x"):
        raise ConfigurationError(f"no contract at {address} on the node at {rpc.url}")
    lo, hi = 0, latest
    while lo < hi:
        mid = (lo + hi) // 2
        if rpc.call("eth_getCode", address, hex(mid)) in (None, "0x"):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _evm() -> Any:
    try:
        from carbonledger.adapters import evm
    except ImportError as exc:
        raise ConfigurationError(
            f"the EVM backend needs the [evm] extra: pip install 'carbonledger[evm]' ({exc})"
        ) from exc
    return evm


def _blobs(conn: Any, items: list[bytes]) -> list[bytes]:
    """The sealed blobs that ``items`` name, which travel with their transaction."""
    from carbonledger.core.blobs import referenced_blobs
    from carbonledger.core.canonical import loads

    names = {ref.blob for data in items for ref in referenced_blobs(loads(data))}
    out: list[bytes] = []
    for name in sorted(names):
        row = conn.execute("SELECT data FROM blob WHERE id = ?", (name,)).fetchone()
        if row is None:
            raise IntegrityError(f"sealed blob {name[:16]}... is missing; run verify")
        out.append(bytes(row[0]))
    return out


def _copy_entries(embedded: SqliteLedger, ledger: EvmLedger) -> None:
    """Every entry of the embedded ledger onto the chain, in order, each with the sealed
    blobs it names; the wrapped channel keys into the off-chain store."""
    import sqlite3

    from carbonledger.core.tx import tx_from_parts

    conn = sqlite3.connect(embedded.path)
    try:
        # First: the chain carries each key with the entry that wraps it.
        keys = conn.execute("SELECT channel, epoch, member, wrapped FROM channel_key").fetchall()
        for channel, epoch, member, wrapped in keys:
            ledger.channels.put_keys(channel, int(epoch), {member: bytes(wrapped)})
        rows = conn.execute("SELECT body, signature, first_leaf, n_leaves FROM tx ORDER BY seq")
        for body, sig, first, count in rows.fetchall():
            items = [
                bytes(d)
                for (d,) in conn.execute(
                    "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (first, first + count),
                )
            ]
            ledger.submit([tx_from_parts(bytes(body), items, bytes(sig), _blobs(conn, items))])
    finally:
        conn.close()
