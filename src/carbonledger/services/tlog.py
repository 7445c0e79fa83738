"""The ledger's history as a transparency log: verify a home, prune blobs, serve proofs."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol, cast

from carbonledger.core.note import parse_checkpoint, parse_note
from carbonledger.core.witness import request
from carbonledger.errors import CarbonLedgerError, ConfigurationError, IntegrityError, NotFound
from carbonledger.ports.ledger import LedgerPort, VerifyReport
from carbonledger.services import backends
from carbonledger.services.home import Home

__all__ = [
    "TransparencyLog",
    "consistency_json",
    "cosigned_file",
    "latest_cosigned",
    "log_info",
    "log_of",
    "prune_blobs",
    "submit_to_witness",
    "verify_home",
]


def verify_home(home: Home, *, max_errors: int = 100) -> VerifyReport:
    """``verify`` of the home's ledger, plus what only the home knows.

    A home that created a ledger (config.json names it) must find its genesis: an
    empty ledger file there is a lost ledger, not an empty one.
    """
    config = home.config()
    ledger = home.ledger()
    try:
        report = ledger.verify(max_errors=max_errors)
    finally:
        ledger.close()
    if report.entries == 0 and config.get("ledger_id") and config.get("backend") != "evm":
        reason = (
            f"this home created ledger {config['ledger_id']}, but {home.ledger_file} holds"
            " no entries: the file was truncated or replaced"
        )
        report.ok = False
        report.error = report.error or reason
        report.errors.insert(0, {"entry": None, "leaf": None, "error": reason})
    return report


def prune_blobs(home: Home, *, delete: bool) -> list[str]:
    """Unreferenced sealed blobs of the home's embedded ledger; removed with ``delete``."""
    return backends.prune_blobs(home, delete=delete)


class TransparencyLog(Protocol):
    """What a ledger offers as a transparency log (the embedded backend)."""

    path: str

    def latest_note(self) -> str: ...

    def log_vkey(self) -> str: ...

    def consistency(self, first: int, second: int) -> list[bytes]: ...


def log_of(ledger: LedgerPort) -> TransparencyLog:
    """The ledger (or the one a wrapper such as group commit holds) as a transparency log.

    Raises:
        NotFound: the backend keeps no signed notes (the EVM backend's history is the chain).
    """
    inner = getattr(ledger, "inner", ledger)
    if not all(hasattr(inner, m) for m in ("latest_note", "log_vkey", "consistency")):
        raise NotFound("this ledger backend serves no signed checkpoint notes")
    return cast("TransparencyLog", inner)


def log_info(ledger: LedgerPort) -> dict[str, Any]:
    """Origin, verifier key and the latest checkpoint (what ``witness add`` remembers)."""
    log = log_of(ledger)
    note = latest_cosigned(ledger)
    cp = parse_checkpoint(parse_note(note).text)
    return {"origin": cp.origin, "vkey": log.log_vkey(), "size": cp.size, "checkpoint": note}


def consistency_json(ledger: LedgerPort, first: int, second: int) -> dict[str, Any]:
    """A consistency proof as the API serves it: hashes in hex and in base64."""
    proof = log_of(ledger).consistency(first, second)
    return {
        "first": first,
        "second": second,
        "proof": [h.hex() for h in proof],
        "proof_base64": [base64.b64encode(h).decode() for h in proof],
    }


def cosigned_file(ledger: LedgerPort) -> Path:
    """Where the home keeps the latest checkpoint with the cosignatures witnesses returned."""
    return Path(f"{log_of(ledger).path}.cosigned")


def latest_cosigned(ledger: LedgerPort) -> str:
    """The latest checkpoint note with every cosignature collected for it."""
    note = log_of(ledger).latest_note()
    try:
        kept = cosigned_file(ledger).read_text()
    except OSError:
        return note
    try:
        if parse_note(kept).text == parse_note(note).text:
            return kept
    except CarbonLedgerError:
        pass  # a damaged file of cosignatures only loses the cosignatures
    return note


def submit_to_witness(ledger: LedgerPort, url: str) -> list[str]:
    """Ask a C2SP witness at ``url`` to cosign the latest checkpoint; keep its cosignatures.

    The first request claims old size 0; a witness that knows the log answers 409 with
    its size, and the request is made again with a consistency proof from that size.
    """
    log = log_of(ledger)
    note = latest_cosigned(ledger)
    size = parse_checkpoint(parse_note(note).text).size
    old = 0
    for _ in range(2):
        proof = [] if old in (0, size) else log.consistency(old, size)
        status, text = _post(url.rstrip("/") + "/add-checkpoint", request(old, proof, note))
        if status == 409 and text.strip().isdigit() and int(text) != old:
            old = int(text)
            if old > size:
                raise IntegrityError(
                    f"the witness at {url} has cosigned size {old} of this log, above its"
                    f" size {size}: this ledger lost entries the witness saw"
                )
            continue
        if status != 200:
            raise IntegrityError(f"the witness at {url} refused: HTTP {status} {text.strip()}")
        lines = [line + "\n" for line in text.splitlines() if line]
        merged = parse_note(note.rstrip("\n") + "\n" + "".join(lines))
        cosigned_file(ledger).write_text(merged.encode())
        return lines
    raise IntegrityError(f"the witness at {url} keeps answering 409")


def _post(url: str, body: str) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body.encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=30) as res:  # noqa: S310 - http(s) given by the user
            return int(res.status), bytes(res.read()).decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read()).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigurationError(f"{url} cannot be reached ({exc})") from exc
