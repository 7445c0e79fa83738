"""The one module that opens ledger backends: a home's config.json says which.

Everything else (services, the API, the web UI) is typed against
:class:`~carbonledger.ports.ledger.LedgerPort` and gets its ledger from here, as an
httpx client gets its transport: ``"embedded"`` is the SQLite ledger file in the
home, ``"evm"`` a ``CarbonLedger`` contract with its off-chain store (a SQLite
file in the home, or a PostgreSQL database given by URL). The EVM adapter is an
optional extra, imported only when a home needs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.canonical import loads
from carbonledger.core.tx import SignedTx, tx_from_parts
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError, IntegrityError
from carbonledger.ports.ledger import LedgerPort

if TYPE_CHECKING:
    from carbonledger.adapters.evm import EvmLedger
    from carbonledger.services.home import Home

__all__ = [
    "EMBEDDED",
    "EVM",
    "WAITING_FILE",
    "attach_evm",
    "create_embedded",
    "deploy_evm",
    "evm_module",
    "first_block_with_code",
    "home_peer_policy",
    "home_peers",
    "open_evm",
    "open_ledger",
    "prune_blobs",
    "reopener",
]

EMBEDDED = "embedded"
EVM = "evm"


def open_ledger(home: Home, key: PrivateKey | None = None) -> LedgerPort:
    """The home's ledger on whichever backend config.json names; ``key`` (the admin's) to write."""
    if home.backend == EVM:
        return open_evm(home, key)
    return SqliteLedger(home.ledger_file, operator=key)


def create_embedded(path: Path, admin: PrivateKey, genesis: SignedTx) -> None:
    """A new embedded ledger file at ``path`` holding only ``genesis``; ``admin`` signs
    its first checkpoint."""
    if not path.exists():
        # a checkpoint remembered for a ledger file no longer here is not this ledger's
        Path(f"{path}.checkpoint").unlink(missing_ok=True)
    with closing(SqliteLedger(path, operator=admin)) as ledger:
        ledger.submit([genesis])


def evm_module() -> Any:
    """The EVM adapter package, or a clear error naming the extra it needs."""
    try:
        from carbonledger.adapters import evm
    except ImportError as exc:
        raise ConfigurationError(
            f"the EVM backend needs the [evm] extra: pip install 'carbonledger[evm]' ({exc})"
        ) from exc
    return evm


def open_evm(home: Home, key: PrivateKey | None = None) -> EvmLedger:
    """The EVM backend in config.json (``evm``: rpc, contract, deploy block, store)."""
    config = home.config()
    evm_cfg = config.get("evm")
    if config.get("backend") != EVM or not evm_cfg:
        raise ConfigurationError(
            f"{home.path} is not on the EVM backend: run `carbonledger chain deploy`"
        )
    ledger: EvmLedger = evm_module().EvmLedger(
        evm_cfg["rpc"],
        evm_cfg["contract"],
        home.mirror_location(evm_cfg),
        key,
        deploy_block=int(evm_cfg.get("deploy_block", 0)),
        chain_id=evm_cfg.get("chain_id"),
        checkpoint_signer=config.get("node"),
    )
    from carbonledger.adapters.evm.exchange import PeerExchange, announced_peers

    def peers() -> list[str]:
        # Read at each fetch: a peer added or announced while a server runs is asked.
        own = home.config().get("node_url")
        return announced_peers(ledger.mirror.state(), home_peers(home), own)

    ledger.exchange = PeerExchange(
        peers, home.path / WAITING_FILE, hints=ledger.ahead.urls, policy=home_peer_policy(home)
    )
    return ledger


def home_peer_policy(home: Home) -> Any:
    """Which peers this home's node asks (a
    :class:`~carbonledger.adapters.evm.peer_policy.PeerPolicy`): those of ``evm.peers``
    as they are, announced ones at public addresses only unless
    ``evm.allow_private_peers``; both read from config.json at each request."""
    from carbonledger.adapters.evm.peer_policy import ALLOW_PRIVATE_PEERS, PeerPolicy

    def allow_private() -> bool:
        return home.config().get("evm", {}).get(ALLOW_PRIVATE_PEERS) is True

    return PeerPolicy(lambda: home_peers(home), allow_private)


#: Where a node writes the sealed blobs it waits for (``chain status`` shows them).
WAITING_FILE = "blobs-waiting.json"


def home_peers(home: Home) -> list[str]:
    """The nodes this home fetches sealed blobs from (``evm.peers`` in config.json)."""
    peers = home.config().get("evm", {}).get("peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
        raise ConfigurationError(f"{home.config_file}: evm.peers must be a list of URLs")
    return list(peers)


def deploy_evm(
    home: Home,
    key: PrivateKey,
    rpc: str,
    *,
    mirror: str | None = None,
    time_skew_ms: int | None = None,
) -> dict[str, Any]:
    """Deploy ``CarbonLedger`` and copy the home's embedded entries onto it.

    Returns the ``evm`` section for config.json (the caller switches the home).
    """
    evm = evm_module()
    offchain = mirror or "offchain.db"
    location = offchain if "://" in offchain else home.path / offchain
    client = evm.Rpc(rpc)
    info = evm.deploy(client, key, home.config()["ledger_id"], time_skew_ms=time_skew_ms)
    ledger = evm.EvmLedger(
        client,
        info["address"],
        location,
        key,
        deploy_block=info["block"],
        chain_id=info["chain_id"],
    )
    embedded = SqliteLedger(home.ledger_file, operator=key)
    try:
        if ledger.status()["entries_off_chain"]:
            raise ConfigurationError(
                f"the off-chain store {offchain!r} is not empty: give an empty database"
            )
        _copy_entries(embedded, ledger)
    finally:
        embedded.close()
        ledger.close()
    return {
        "rpc": rpc,
        "contract": info["address"],
        "chain_id": info["chain_id"],
        "deploy_block": info["block"],
        "offchain": offchain,
    }


def attach_evm(
    home: Home,
    key: PrivateKey,
    rpc: str,
    contract: str,
    *,
    mirror: str | None,
    peers: Sequence[str] = (),
    allow_private: bool = False,
) -> Any:
    """Build ``home``'s store from the chain alone for the ledger at ``contract``;
    ``key`` is the node's own (it signs the store's checkpoints); sealed blobs come
    from ``peers``, then the announced nodes (at non-public addresses only if
    ``allow_private``). Returns the ``evm`` section for config.json and the ledger's state."""
    evm_module()
    from carbonledger.adapters.evm.attach import attach

    offchain = mirror or "offchain.db"
    location = offchain if "://" in offchain else home.path / offchain
    return attach(
        rpc, contract, location, key, offchain=offchain, peers=peers,
        waiting=home.path / WAITING_FILE, allow_private_peers=allow_private,
    )  # fmt: skip


def first_block_with_code(rpc: Any, address: str) -> int:
    """The block that created the contract at ``address`` (the first with its code)."""
    evm_module()
    from carbonledger.adapters.evm.attach import first_block_with_code as first_block

    return first_block(rpc, address)


def _blobs(conn: sqlite3.Connection, items: list[bytes]) -> list[bytes]:
    """The sealed blobs that ``items`` name, which travel with their transaction."""
    names = {ref.blob for data in items for ref in referenced_blobs(loads(data))}
    out: list[bytes] = []
    for name in sorted(names):
        row = conn.execute("SELECT data FROM blob WHERE id = ?", (name,)).fetchone()
        if row is None:
            raise IntegrityError(f"sealed blob {name[:16]}... is missing; run verify")
        out.append(bytes(row[0]))
    return out


def _copy_entries(embedded: SqliteLedger, ledger: LedgerPort) -> None:
    """Every entry of the embedded ledger onto ``ledger``, in order, each with the sealed
    blobs it names; the wrapped channel keys into its channel store."""
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


def prune_blobs(home: Home, *, delete: bool) -> list[str]:
    """Unreferenced sealed blobs of the home's embedded ledger; removed with ``delete``."""
    if home.backend != EMBEDDED:
        raise ConfigurationError("blobs prune works on the embedded ledger only")
    with closing(SqliteLedger(home.ledger_file)) as ledger:
        return [str(i) for i in ledger.prune_blobs(delete=delete)]


def reopener(ledger: LedgerPort) -> Callable[[], LedgerPort]:
    """A function that opens ``ledger``'s storage again, for reading, in a forked process
    (the workers of a parallel import each need their own connections)."""
    inner: Any = getattr(ledger, "inner", ledger)  # group commit wraps a backend
    inner = getattr(inner, "mirror", inner)  # the EVM backend reads its off-chain store
    if isinstance(inner, SqliteLedger):
        path = inner.path
        return lambda: SqliteLedger(path)
    engine = getattr(inner, "engine", None)
    if engine is not None:
        from carbonledger.adapters.sqlstore import SqlLedger

        url = engine.url.render_as_string(hide_password=False)
        return lambda: SqlLedger(url)
    raise ConfigurationError(f"{type(inner).__name__} cannot be reopened by another process")
