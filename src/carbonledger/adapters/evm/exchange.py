"""Sealed blobs between nodes: what a follower does not hold, it fetches from its peers.

Sealed blobs (ciphertext of a channel) do not travel in calldata: each signed item
that names one commits to its SHA-256, so the chain binds the bytes without carrying
them. The node that signed a transaction holds its blobs in its store; every node
serves the blobs it holds by content hash (``GET /api/v1/blobs/{sha256}`` and, for a
whole EVM transaction's at once, ``POST /api/v1/blobs``). A follower looks in its own
store first, then asks its peers in their order: those of ``evm.peers`` in the home's
config.json (set by ``chain attach --peer`` and ``chain peers``), then the nodes the
organisations announced on the ledger (``chain announce``, the node's own left out), then,
while blobs are still missing, the nodes announced in entries it has not taken yet
(:mod:`~carbonledger.adapters.evm.ahead`).

Who may fetch: whoever reaches a node's API, as anyone reading calldata could before.
The bytes are ciphertext; their authenticity comes from the chain, not the transport:
each blob a peer serves is checked against the hash the signed item holds, and one
that does not match is refused (named, with the peer) and never reaches a store. An
entry whose blobs no peer has yet is not skipped: following stops before it, and the
node tries again; what it waits for is written to ``blobs-waiting.json`` in the home
(``chain status`` shows it) and removed once the entry is taken.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from carbonledger.adapters.evm.peer_policy import PeerPolicy, Route
from carbonledger.adapters.evm.rpc import NodeUnreachable
from carbonledger.core.authority import apply_followed
from carbonledger.core.blobs import BLOB_BATCH_MAX, is_blob_id, referenced_blobs
from carbonledger.core.rules.nodes import announced_nodes
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, check_tx, utc_now
from carbonledger.errors import CarbonLedgerError, ConfigurationError, NotFound
from carbonledger.ports.channels import ChannelStore

__all__ = [
    "BLOBS_PATH",
    "BlobSource",
    "BlobsUnavailable",
    "PeerExchange",
    "StoreBlobs",
    "announced_peers",
    "check_peer_url",
    "fill_blobs",
    "keep_blobs",
]

#: The route of a node's API that serves sealed blobs by SHA-256 (hex).
BLOBS_PATH = "/api/v1/blobs"


class BlobsUnavailable(NodeUnreachable):
    """An entry's sealed blobs are held by no peer that answered (yet): the node stops
    before that entry and tries again (transient, like a chain node that is down)."""

    def __init__(self, message: str, missing: Sequence[str], tried: Sequence[str]) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.tried = tuple(tried)


class BlobSource(Protocol):
    """Where a follower fetches the sealed blobs it does not hold."""

    def fetch(self, ids: Collection[str], where: str) -> dict[str, bytes]:
        """Every blob of ``ids``, each checked against its SHA-256, or
        :class:`BlobsUnavailable` naming those missing (``where``: the entry's EVM
        transaction, for the message)."""
        ...

    def done(self) -> None:
        """Nothing is waited for any more."""
        ...


class StoreBlobs:
    """Blobs from another store on this machine (a node's copy of an older store, or a
    second node in the same process), each checked against its hash."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store

    def fetch(self, ids: Collection[str], where: str) -> dict[str, bytes]:
        got = _held(self.store, ids)
        missing = sorted(set(ids) - got.keys())
        if missing:
            raise BlobsUnavailable(
                f"{where}: {len(missing)} sealed blob(s) that neither this node's store nor"
                f" the other store holds ({', '.join(missing[:5])})",
                missing,
                (),
            )
        return got

    def done(self) -> None:
        """Nothing to clear."""


def check_peer_url(url: str) -> str:
    """``url`` as a peer's base URL (``http(s)://host[:port]``, no trailing slash)."""
    shown = url.strip().rstrip("/")
    if not shown.startswith(("http://", "https://")) or len(shown.split("://", 1)[1]) == 0:
        raise ConfigurationError(f"peer {url!r}: give the node's base URL, http(s)://host:port")
    return shown


def announced_peers(
    state: LedgerState, configured: Sequence[str] = (), own: str | None = None
) -> list[str]:
    """``configured`` peers, then the nodes announced in ``state`` but for ``own`` (this
    node's URL) and those already listed."""
    out = list(configured)
    skip = {*out, *([own.rstrip("/")] if own else [])}
    for _, url in announced_nodes(state):
        shown = url.rstrip("/")
        if shown not in skip:
            skip.add(shown)
            out.append(shown)
    return out


class PeerExchange:
    """Fetches sealed blobs from the peers ``peers()`` names (read at each fetch, so a
    peer added while a server runs is asked from then on), then from those ``hints()``
    names if any are missing; ``waiting`` is the file where what the node waits for is
    written (None: nowhere). ``policy`` says which peers are asked and where requests go
    (:mod:`~carbonledger.adapters.evm.peer_policy`; by default, only peers at public
    addresses)."""

    def __init__(
        self,
        peers: Callable[[], Sequence[str]],
        waiting: Path | None = None,
        *,
        timeout_s: float = 10.0,
        hints: Callable[[], Sequence[str]] | None = None,
        policy: PeerPolicy | None = None,
    ) -> None:
        self.peers = peers
        self.waiting = waiting
        self.timeout_s = timeout_s
        self.hints = hints
        self.policy = policy or PeerPolicy()
        self._failing: set[str] = set()  # peers whose last request failed

    def _asked(self, missing: Callable[[], bool]) -> Iterator[str]:
        """The peers, then the hints (read only while ``missing()``: the peers did not
        have every blob), those that failed to answer last time after the others: a peer
        announced at a URL where nothing answers costs each fetch a timeout at most once
        the others are asked first."""
        seen: set[str] = set()
        later: list[str] = []

        def fresh(urls: Iterable[str]) -> Iterator[str]:
            for url in urls:
                shown = url.rstrip("/")
                if shown in seen:
                    continue
                seen.add(shown)
                if shown in self._failing:
                    later.append(shown)
                else:
                    yield shown

        yield from fresh(self.peers())
        if self.hints is not None and missing():
            yield from fresh(self.hints())
        for url in later:
            if not missing():
                return
            yield url

    def fetch(self, ids: Collection[str], where: str) -> dict[str, bytes]:
        """Every blob of ``ids`` (each checked against its SHA-256), from the first peers
        that have them; :class:`BlobsUnavailable` naming the missing ones, the peers
        tried and what each answered, if any is left."""
        wanted = sorted(set(ids))
        got: dict[str, bytes] = {}
        tried: list[str] = []
        problems: list[str] = []
        for peer in self._asked(lambda: any(b not in got for b in wanted)):
            left = [b for b in wanted if b not in got]
            if not left:
                break
            try:
                route = self.policy.route(peer)
            except (OSError, UnicodeError, ValueError) as exc:  # as a node that is down
                problems.append(f"{peer} did not serve them (its host does not resolve: {exc})")
                tried.append(peer)
                self._failing.add(peer)
                continue
            if route.refused is not None:
                problems.append(f"{peer} refused: {route.refused}")
                continue
            tried.append(peer)
            try:
                served = self._ask(route, left)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{peer} did not serve them ({type(exc).__name__}: {exc})")
                self._failing.add(peer)
                continue
            self._failing.discard(peer)
            for blob_id in left:
                data = served.get(blob_id)
                if data is None:
                    continue
                actual = hashlib.sha256(data).hexdigest()
                if actual != blob_id:
                    problems.append(
                        f"{peer} served blob {blob_id} with SHA-256 {actual}: refused"
                        " (it does not match the hash the signed item holds)"
                    )
                    continue
                got[blob_id] = data
        missing = [b for b in wanted if b not in got]
        if missing:
            self._wait(where, missing, tried, problems)
        return got

    def _ask(self, route: Route, ids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for at in range(0, len(ids), BLOB_BATCH_MAX):
                res = client.post(
                    f"{route.base}{BLOBS_PATH}",
                    json={"ids": list(ids[at : at + BLOB_BATCH_MAX])},
                    headers=route.headers,
                    extensions=route.extensions,
                )
                res.raise_for_status()
                for blob_id, text in res.json()["blobs"].items():
                    out[str(blob_id)] = base64.b64decode(text, validate=True)
        return out

    def _wait(self, where: str, missing: list[str], tried: list[str], problems: list[str]) -> None:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        why = "; ".join(problems) if problems else "no peer had them"
        if not tried and not problems:
            why = "no peers are configured or announced (chain peers --add URL; chain announce URL)"
        message = (
            f"{where}: waiting for {len(missing)} sealed blob(s) ({shown}) that this node"
            f" does not hold; peers tried: {', '.join(tried) or 'none'}; {why}"
        )
        if self.waiting is not None:
            record = {
                "since": utc_now(),
                "where": where,
                "blobs": missing,
                "peers_tried": tried,
                "reason": why,
            }
            tmp = self.waiting.with_name(self.waiting.name + ".tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            os.replace(tmp, self.waiting)
        raise BlobsUnavailable(message, missing, tried)

    def done(self) -> None:
        """Nothing is waited for any more (the entry was taken)."""
        if self.waiting is not None:
            self.waiting.unlink(missing_ok=True)

    def status(self) -> dict[str, Any]:
        """The peers asked, those refused (each with why), and what the node waits for
        (None when nothing)."""
        found: Any = None
        if self.waiting is not None and self.waiting.exists():
            try:
                found = json.loads(self.waiting.read_text())
            except (OSError, ValueError):
                found = None
        asked: list[str] = []
        refused: list[dict[str, str]] = []
        for peer in self.peers():
            why = self.policy.refusal(peer)
            if why is None:
                asked.append(peer)
            else:
                refused.append({"url": peer, "reason": why})
        return {"peers": asked, "peers_refused": refused, "waiting_for_blobs": found}


def _named(tx: SignedTx) -> list[str]:
    """The blob ids ``tx``'s items name, in their first order."""
    items = tx.objects if tx.objects is not None else [json.loads(i) for i in tx.items]
    seen: dict[str, None] = {}
    for item in items:
        for ref in referenced_blobs(item):
            if is_blob_id(ref.blob):
                seen.setdefault(ref.blob, None)
    return list(seen)


def keep_blobs(channels: ChannelStore, txs: Sequence[SignedTx]) -> None:
    """Put the sealed blobs ``txs`` carry into the node's store before they are sent: the
    chain does not carry them, so the node that signed them must hold them whatever
    happens after the chain takes the entries (a crash before the store takes them, a
    store rebuilt from the chain). Until their entries are taken they are unreferenced."""
    rows: dict[str, tuple[str, str, int, bytes]] = {}
    for t in txs:
        if not t.blobs:
            continue
        carried = t.blob_map()
        items = t.objects if t.objects is not None else [json.loads(i) for i in t.items]
        for item in items:
            for ref in referenced_blobs(item):
                data = carried.get(ref.blob)
                if data is not None:
                    rows[ref.blob] = (ref.blob, ref.channel, ref.epoch, data)
    if not rows:
        return
    bulk = getattr(channels, "put_blobs", None)
    if bulk is not None:
        bulk(list(rows.values()))
        return
    for row in rows.values():
        channels.put_blob(*row)


class _Store(Protocol):
    """A node's store as :func:`fill_blobs` reads it."""

    @property
    def channels(self) -> ChannelStore: ...

    def state(self) -> LedgerState: ...


def _refused_anyway(
    state: LedgerState, txs: Sequence[SignedTx | CarbonLedgerError], now: str | None
) -> int:
    """The index of the first of ``txs`` the core refuses whatever blobs it carries (its
    signature or a rule; blobs are checked after the rules), else ``len(txs)``: the
    node refuses that entry, naming it, rather than wait for blobs no one may have."""
    work = state.copy()
    when = now or utc_now()
    for n, t in enumerate(txs):
        if not isinstance(t, SignedTx):
            return n
        try:
            checked = check_tx(t)
            items = (
                list(t.objects) if t.objects is not None else [json.loads(i) for i in checked.items]
            )
            apply_followed(work, checked.body, items, now=when)  # a void entry holds
        except CarbonLedgerError:
            return n
    return len(txs)


def fill_blobs(
    store: _Store,
    exchange: BlobSource | None,
    txs: Sequence[SignedTx | CarbonLedgerError],
    where: str,
    now: str | None = None,
) -> list[SignedTx | CarbonLedgerError]:
    """``txs`` (one EVM transaction's, taken at ledger time ``now``) each carrying the
    sealed blobs its items name: from ``store``, else from ``exchange`` in one request.
    A transaction that carries blobs already (older calldata) is left as it is; one the
    core refuses whatever its blobs, and those after it, are left without them (the
    node refuses it by its rule instead of waiting). The core's rules then check that
    each named blob is carried, and the store checks each blob's hash again."""
    channels = store.channels
    wants = {
        n: _named(t)
        for n, t in enumerate(txs)
        if isinstance(t, SignedTx) and not t.blobs and t.type != "genesis"
    }
    found = _held(channels, {b for ids in wants.values() for b in ids})
    missing = {b for ids in wants.values() for b in ids} - found.keys()
    if missing:
        upto = _refused_anyway(store.state(), txs, now)
        wants = {n: ids for n, ids in wants.items() if n < upto}
        missing = {b for ids in wants.values() for b in ids} - found.keys()
    if missing:
        if exchange is None:
            raise BlobsUnavailable(
                f"{where}: {len(missing)} sealed blob(s) this node does not hold"
                f" ({', '.join(sorted(missing)[:5])}) and no peers to fetch them from",
                sorted(missing),
                (),
            )
        found.update(exchange.fetch(missing, where))
    if exchange is not None:
        exchange.done()
    out = list(txs)
    for n, ids in wants.items():
        t = out[n]
        if ids and isinstance(t, SignedTx):
            out[n] = t.with_blobs([found[b] for b in ids])
    return out


def _held(channels: ChannelStore, ids: Collection[str]) -> dict[str, bytes]:
    """Those of ``ids`` the store holds intact."""
    found: dict[str, bytes] = {}
    for blob_id in ids:
        try:
            data = channels.blob(blob_id)
        except NotFound:
            continue
        if hashlib.sha256(data).hexdigest() == blob_id:
            found[blob_id] = data
    return found
