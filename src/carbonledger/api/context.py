"""What a running server holds: the ledger, the operator key, sessions and service accounts."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.api.coalesce import BillCoalescer
from carbonledger.api.readers import (
    EncodedViews,
    OpenedBlobs,
    SharedChannelKeys,
    SharedDetailReader,
    UnwrappedKeys,
)
from carbonledger.core.domain import Bill
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError, NotFound
from carbonledger.factors import DataWarning, FactorCatalog
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.access import ReadAccess
from carbonledger.services.home import Home
from carbonledger.services.importer import ImportReport
from carbonledger.services.records import RecordReader
from carbonledger.services.signin import SignIn

T = TypeVar("T")

__all__ = [
    "AppContext",
    "ServiceAccount",
    "api_tokens_file",
    "new_api_token",
    "store_api_token",
]


def api_tokens_file(home: Home) -> Path:
    return home.path / "api_tokens.json"


def store_api_token(home: Home, token: str, account: ServiceAccount) -> None:
    """Remember ``token`` for ``account``; only its SHA-256 is stored."""
    path = api_tokens_file(home)
    tokens = json.loads(path.read_text()) if path.exists() else {}
    tokens[hashlib.sha256(token.encode()).hexdigest()] = {
        "org": account.org,
        "name": account.name,
        "address": account.address,
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(tokens, indent=2) + "\n")


def new_api_token(home: Home, account: ServiceAccount) -> str:
    """Create and store an API token for a service account; shown once."""
    token = "clk_" + secrets.token_urlsafe(32)
    store_api_token(home, token, account)
    return token


@dataclass(frozen=True)
class ServiceAccount:
    """An ERP integration: an enrolled identity whose key the server holds."""

    org: str
    name: str
    address: str


@dataclass
class AppContext:
    """The ledger (any backend, through its port), the operator key and the server's state.

    Writes go through :meth:`write` and :meth:`submit`; when the ledger is a
    :class:`GroupCommitLedger` (as :meth:`open` makes it, on every backend: one
    append per batch is one fsync, one database commit or one mined EVM
    transaction), concurrent requests share a commit; on any other ledger each
    write is committed before the request returns.
    """

    home: Home
    ledger: LedgerPort
    operator: PrivateKey
    passphrase: str
    catalog: FactorCatalog
    lock: threading.Lock = field(default_factory=threading.Lock)
    _service: dict[str, ServiceAccount] = field(default_factory=dict)
    _service_keys: dict[str, PrivateKey] = field(default_factory=dict)
    _bills: BillCoalescer = field(init=False)
    _opened: OpenedBlobs = field(default_factory=OpenedBlobs)
    _unwrapped: UnwrappedKeys = field(default_factory=UnwrappedKeys)
    _bases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ids of calculation bases held in ``_bases`` found to hash to their id (a basis
    #: kept there is never replaced, so once is enough).
    checked_bases: set[str] = field(default_factory=set)
    #: Member views of records, encoded once (see :mod:`carbonledger.api.listing`).
    views: EncodedViews = field(default_factory=EncodedViews)
    #: Sign-in, shared by the API and the web UI.
    signin: SignIn = field(init=False)

    def __post_init__(self) -> None:
        self._bills = BillCoalescer(self.ledger, self.catalog, self.lock)
        self.signin = SignIn(self.home, self.ledger, identity=self.identity)

    def peek(self, look: Callable[[LedgerState], T]) -> T:
        """``look`` at the ledger's state (as ``state()`` gives it) without copying it where
        the ledger allows that (group commit); ``look`` must not change what it reads."""
        if isinstance(self.ledger, GroupCommitLedger):
            return self.ledger.peek(look)
        return look(self.ledger.state())

    def current(self) -> AbstractContextManager[None]:
        """One request's view of the ledger: other processes' commits taken in once, at
        its start (:meth:`GroupCommitLedger.current`), not at each lookup."""
        if isinstance(self.ledger, GroupCommitLedger):
            return self.ledger.current()
        return nullcontext()

    def identity(self, address: str) -> dict[str, Any] | None:
        """The identity enrolled as ``address``, as the ledger holds it now (None if none)."""
        return self.peek(lambda state: state.identities.get(address))

    @property
    def sessions(self) -> dict[str, tuple[PrivateKey, float]]:
        """Key sessions opened by sign-in with a passphrase (what a logout closes)."""
        return self.signin.sessions

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise building transactions; with group commit, queue them for a shared commit."""
        with self.lock:
            if isinstance(self.ledger, GroupCommitLedger):
                with self.ledger.deferred():
                    yield
            else:
                yield

    def _committed(self, receipts: list[Receipt]) -> list[Receipt]:
        """Wait for the queued commit (group commit); else ``receipts`` are already final."""
        if isinstance(self.ledger, GroupCommitLedger):
            return self.ledger.wait()
        return receipts

    @classmethod
    def open(cls, home: Home, passphrase: str) -> AppContext:
        """Unlock the operator key and open the ledger (the demo data after `demo`)."""
        operator = home.key(passphrase)
        catalog = FactorCatalog(home=home.path)
        with warnings.catch_warnings():
            # Loaded once here; self-contradicting data stays listed in each edition's
            # ``warnings`` (served by /api/v1/factors) instead of warning per request.
            warnings.simplefilter("ignore", DataWarning)
            catalog.editions()
        ctx = cls(home, GroupCommitLedger(home.ledger(operator)), operator, passphrase, catalog)
        ctx.reload_service_accounts()
        return ctx

    def write(self, work: Callable[[], T]) -> T:
        """Run ``work`` (which submits transactions) and wait until they are committed.

        Building transactions is serialised (nonces, duplicate checks); the commit
        itself is shared with other requests (group commit).
        """
        with self._writing():
            result = work()
        self._committed([])
        return result

    def submit(self, txs: list[SignedTx]) -> list[Receipt]:
        """Append client-signed ``txs``; their commit and checkpoint are shared with others."""
        with self._writing():
            receipts = self.ledger.submit(txs)
        return self._committed(receipts)

    def record_bills(self, key: PrivateKey, bills: list[Bill], source: str | None) -> ImportReport:
        """Record ``bills`` signed with ``key`` (held by the server); returns once durable.

        Concurrent requests by the same signer are recorded in one signed transaction
        and one commit, each judged as if the requests had come one after another.
        """
        return self._bills.record(key, bills, source)

    async def record_bills_async(
        self, key: PrivateKey, bills: list[Bill], source: str | None
    ) -> ImportReport:
        """:meth:`record_bills` for an ``async`` route: no thread waits for the commit."""
        return await self._bills.record_async(key, bills, source)

    def reader_for(self, key: PrivateKey) -> RecordReader:
        """A record reader for ``key``, through the read-time access check.

        An auditor's read is recorded on the ledger (through :meth:`write`) before
        anything is decrypted; a grant that has ended refuses it.
        """

        # The state as it is now, not a copy: the reader only reads it, and a group
        # commit replaces its state on each change rather than changing it in place.
        def now() -> LedgerState:
            return self.peek(lambda current: current)

        access = ReadAccess(self.ledger, key, write=self.write, state=now)
        state = now()
        keys = SharedChannelKeys(state, self.ledger.channels, key, self._unwrapped, access=access)
        details = SharedDetailReader(keys, self.ledger.channels, self._opened)
        return RecordReader(self.ledger, details, bases=self._bases)

    def reload_service_accounts(self) -> None:
        path = api_tokens_file(self.home)
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        self._service = {
            h: ServiceAccount(v["org"], v["name"], v["address"]) for h, v in data.items()
        }

    def service_account(self, token: str) -> ServiceAccount | None:
        return self._service.get(hashlib.sha256(token.encode()).hexdigest())

    def service_key(self, account: ServiceAccount) -> PrivateKey:
        key = self._service_keys.get(account.address)
        if key is None:
            try:
                key = self.home.user_key(account.org, account.name, self.passphrase)
            except ConfigurationError as exc:
                raise NotFound(f"service account {account.org}/{account.name} has no key") from exc
            self._service_keys[account.address] = key
        return key

    def register_service_token(self, token: str, account: ServiceAccount) -> None:
        store_api_token(self.home, token, account)
        self.reload_service_accounts()
