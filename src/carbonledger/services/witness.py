"""Witnessing ledgers: keep the checkpoints seen, detect rollback, truncation and forks.

A witness directory (``<home>/witness`` by default) holds::

    witness.json   its name and cosigner vkey, and per log origin: where the log is
                   (an API URL or a ledger home), the log's vkey, and the latest
                   checkpoint seen and checked (a C2SP signed note)
    witness.pem    its Ed25519 cosigning key, encrypted with the passphrase

``add`` remembers a log; ``check`` fetches each log's latest checkpoint and a
consistency proof from the one remembered, and reports a log that went back
(rollback, truncation) or whose tree differs (fork). The same state backs the C2SP
``add-checkpoint`` endpoint of ``carbonledger witness serve``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from carbonledger.core.merkle import verify_consistency
from carbonledger.core.note import (
    COSIGNATURE_TYPE,
    NoteKey,
    Verifier,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from carbonledger.core.witness import Answer, add_checkpoint
from carbonledger.errors import (
    CarbonLedgerError,
    ConfigurationError,
    IntegrityError,
    InvalidInput,
    NotFound,
)

__all__ = ["LogSource", "Verdict", "WitnessStore", "open_source"]

_TIMEOUT_S = 30


class LogSource:
    """Where a log is read: a carbonledger API base URL or a ledger home on this machine."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.is_url = where.startswith(("http://", "https://"))

    def info(self) -> dict[str, Any]:
        """Origin, vkey and the latest checkpoint (signed note)."""
        if self.is_url:
            return dict(json.loads(self._get("/api/v1/log")))
        from carbonledger.services.tlog import log_info

        ledger = self._ledger()
        try:
            return log_info(ledger)
        finally:
            ledger.close()

    def consistency(self, first: int, second: int) -> list[bytes]:
        if self.is_url:
            query = urllib.parse.urlencode({"first": first, "second": second})
            body = json.loads(self._get(f"/api/v1/consistency?{query}"))
            return [bytes.fromhex(h) for h in body["proof"]]
        ledger = self._ledger()
        try:
            return list(ledger.consistency(first, second))
        finally:
            ledger.close()

    def _ledger(self) -> Any:
        from carbonledger.services.home import Home

        home = Home(Path(self.where))
        if not home.exists():
            raise ConfigurationError(f"{self.where} is neither an http(s) URL nor a ledger home")
        return home.ledger()

    def _get(self, path: str) -> bytes:
        url = self.where.rstrip("/") + path
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as res:  # noqa: S310 - http(s) only
                return bytes(res.read())
        except urllib.error.HTTPError as exc:
            raise NotFound(
                f"{url}: HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ConfigurationError(f"{url} cannot be reached ({exc})") from exc


def open_source(where: str) -> LogSource:
    """A log source from a URL or a home path (``~`` expanded)."""
    return LogSource(where if "://" in where else str(Path(where).expanduser()))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one log: ``ok`` or what went wrong, and the sizes seen."""

    origin: str
    ok: bool
    message: str
    old_size: int
    new_size: int | None


class WitnessStore:
    """A witness's directory: its key and the latest checkpoint checked for every log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @property
    def state_file(self) -> Path:
        return self.path / "witness.json"

    @property
    def key_file(self) -> Path:
        return self.path / "witness.pem"

    def state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {"logs": {}}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{self.state_file} is unreadable: {exc}") from exc
        return data

    def _save(self, state: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_file)

    # -- the cosigning key ------------------------------------------------
    def init(self, name: str, passphrase: str) -> Verifier:
        """Create the cosigning key (type 0x04) under ``name``; returns its vkey."""
        if self.key_file.exists():
            raise ConfigurationError(f"{self.path} already holds a witness key")
        if not passphrase:
            raise InvalidInput("a passphrase is required to encrypt the witness key")
        private = Ed25519PrivateKey.generate()
        key = NoteKey(name, private, COSIGNATURE_TYPE)
        self.path.mkdir(parents=True, exist_ok=True)
        pem = private.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase.encode())
        )
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        state = self.state()
        state.update(name=name, vkey=key.verifier.vkey)
        self._save(state)
        return key.verifier

    def key(self, passphrase: str) -> NoteKey:
        """Unlock the cosigning key."""
        state = self.state()
        try:
            private = load_pem_private_key(self.key_file.read_bytes(), passphrase.encode())
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no witness key at {self.path}: run `witness init`") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInput("wrong passphrase for the witness key") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigurationError(f"{self.key_file} is not an Ed25519 key")
        return NoteKey(str(state["name"]), private, COSIGNATURE_TYPE)

    # -- remembered logs --------------------------------------------------
    def add(self, where: str, vkey: str | None = None) -> dict[str, Any]:
        """Remember a log: its origin, vkey (given, or as the log states it) and checkpoint."""
        source = open_source(where)
        info = source.info()
        stated = Verifier.from_vkey(str(info["vkey"]))
        trusted = Verifier.from_vkey(vkey) if vkey else stated
        if trusted != stated:
            raise IntegrityError(f"{where} signs with {stated.vkey}, not the key given")
        note = parse_note(str(info["checkpoint"]))
        verify_note(note, [trusted])
        cp = parse_checkpoint(note.text)
        if cp.origin != trusted.name:
            raise IntegrityError(
                f"checkpoint origin {cp.origin!r} is not the key's {trusted.name!r}"
            )
        with self._lock:
            state = self.state()
            known = state["logs"].get(cp.origin)
            if known is not None and known["vkey"] != trusted.vkey:
                raise IntegrityError(f"log {cp.origin} is already witnessed under another key")
            entry: dict[str, Any] = {"source": source.where, "vkey": trusted.vkey}
            if known is None:
                entry.update(size=cp.size, checkpoint=note.encode())
            state["logs"][cp.origin] = {**(known or {}), **entry}
            self._save(state)
            return dict(state["logs"][cp.origin], origin=cp.origin)

    def check(self) -> list[Verdict]:
        """Check every remembered log against the checkpoint remembered for it."""
        return [self._check(origin) for origin in sorted(self.state()["logs"])]

    def _check(self, origin: str) -> Verdict:
        entry = self.state()["logs"][origin]
        old = parse_checkpoint(parse_note(entry["checkpoint"]).text)
        try:
            verifier = Verifier.from_vkey(entry["vkey"])
            info = open_source(entry["source"]).info()
            note = parse_note(str(info["checkpoint"]))
            verify_note(note, [verifier])
            new = parse_checkpoint(note.text)
            if new.origin != origin:
                raise IntegrityError(f"the log now answers as {new.origin!r}")
        except CarbonLedgerError as exc:
            return Verdict(origin, False, f"cannot check: {exc}", old.size, None)
        if new.size < old.size:
            return Verdict(
                origin,
                False,
                f"ROLLBACK: the log is at size {new.size}, but size {old.size} (root"
                f" {old.root.hex()}) was witnessed: entries were removed or the log truncated",
                old.size,
                new.size,
            )
        if new.size == old.size:
            ok = new.root == old.root
        else:
            try:
                proof = open_source(entry["source"]).consistency(old.size, new.size)
            except CarbonLedgerError as exc:
                return Verdict(
                    origin, False, f"FORK: no consistency proof ({exc})", old.size, new.size
                )
            ok = old.size == 0 or verify_consistency(old.size, new.size, old.root, new.root, proof)
        if not ok:
            return Verdict(
                origin,
                False,
                f"FORK: the tree at size {new.size} (root {new.root.hex()}) does not extend the"
                f" witnessed size {old.size} (root {old.root.hex()}): history was rewritten",
                old.size,
                new.size,
            )
        with self._lock:
            state = self.state()
            state["logs"][origin].update(size=new.size, checkpoint=note.encode())
            self._save(state)
        return Verdict(
            origin, True, f"consistent from size {old.size} to {new.size}", old.size, new.size
        )

    # -- the C2SP witness endpoint ------------------------------------------
    def add_checkpoint(self, body: str, key: NoteKey) -> Answer:
        """Decide and (on 200) persist an add-checkpoint request, atomically."""
        with self._lock:
            state = self.state()
            logs = {o: Verifier.from_vkey(e["vkey"]) for o, e in state["logs"].items()}
            latest = {}
            for origin, e in state["logs"].items():
                cp = parse_checkpoint(parse_note(e["checkpoint"]).text)
                latest[origin] = (cp.size, cp.root)
            answer = add_checkpoint(body, logs, latest, key, int(time.time()))
            if answer.status == 200:
                cp = parse_checkpoint(parse_note(answer.note).text)
                state["logs"][cp.origin].update(size=cp.size, checkpoint=answer.note + answer.body)
                self._save(state)
            return answer
