"""The C2SP tlog-witness ``add-checkpoint`` decision, without I/O.

A witness keeps, per log origin, the latest checkpoint it cosigned, and cosigns a
new one only if a consistency proof shows the old tree is a prefix of the new
(c2sp.org/tlog-witness). :func:`add_checkpoint` takes the request body and what the
witness knows, and returns the HTTP answer the spec requires plus the new state.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from carbonledger.core.merkle import EMPTY_ROOT, verify_consistency
from carbonledger.core.note import (
    Note,
    NoteKey,
    Verifier,
    cosign,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from carbonledger.errors import CarbonLedgerError

__all__ = ["MAX_PROOF_LINES", "SIZE_CONTENT_TYPE", "Answer", "Request", "add_checkpoint", "request"]

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP answer: status, content type, body; ``note`` is the checkpoint to keep on 200."""

    status: int
    content_type: str
    body: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed add-checkpoint body."""

    old: int
    proof: tuple[bytes, ...]
    note: Note


def request(old: int, proof: list[bytes], note: str) -> str:
    """The add-checkpoint body: ``old N``, base64 proof lines, a blank line, the checkpoint."""
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{note}"


def _parse(body: str) -> Request | str:
    head, sep, rest = body.partition("\n\n")
    if not sep:
        return "the body has no blank line before the checkpoint"
    lines = head.split("\n")
    m = _OLD.fullmatch(lines[0])
    if m is None:
        return "the first line is not 'old <size>'"
    if len(lines) - 1 > MAX_PROOF_LINES:
        return f"more than {MAX_PROOF_LINES} consistency proof lines"
    try:
        proof = tuple(base64.b64decode(line, validate=True) for line in lines[1:])
        note = parse_note(rest)
    except (ValueError, CarbonLedgerError) as exc:
        return f"malformed request: {exc}"
    if any(len(h) != 32 for h in proof):
        return "a consistency proof line is not a 32-byte hash"
    return Request(int(m.group(1)), proof, note)


def add_checkpoint(  # noqa: PLR0911 - one return per answer the spec names, in its order
    body: str,
    logs: dict[str, Verifier],
    latest: dict[str, tuple[int, bytes]],
    key: NoteKey,
    now: int,
) -> Answer:
    """Decide an add-checkpoint request as c2sp.org/tlog-witness says.

    ``logs``: the trusted note key of each known origin; ``latest``: the (size, root)
    last cosigned per origin; ``now``: POSIX seconds for the cosignature.
    """
    parsed = _parse(body)
    if isinstance(parsed, str):
        return Answer(400, "text/plain", parsed + "\n")
    try:
        cp = parse_checkpoint(parsed.note.text)
    except CarbonLedgerError as exc:
        return Answer(400, "text/plain", f"{exc}\n")
    trusted = logs.get(cp.origin)
    if trusted is None:
        return Answer(404, "text/plain", f"unknown log origin {cp.origin!r}\n")
    try:
        verify_note(parsed.note, [trusted])
    except CarbonLedgerError as exc:
        return Answer(403, "text/plain", f"{exc}\n")
    if parsed.old > cp.size:
        return Answer(400, "text/plain", f"old size {parsed.old} is above size {cp.size}\n")
    size, root = latest.get(cp.origin, (0, EMPTY_ROOT))
    if parsed.old != size:
        return Answer(409, SIZE_CONTENT_TYPE, f"{size}\n")
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        return Answer(422, "text/plain", "a checkpoint of size 0 must have the empty root\n")
    if parsed.old == 0:
        if parsed.proof:
            return Answer(422, "text/plain", "from size 0 the consistency proof must be empty\n")
    elif parsed.old == cp.size:
        if parsed.proof or cp.root != root:
            return Answer(422, "text/plain", f"a different tree at the same size {cp.size}\n")
    elif not verify_consistency(parsed.old, cp.size, root, cp.root, parsed.proof):
        return Answer(422, "text/plain", f"the consistency proof from {parsed.old} fails\n")
    line = cosign(key, parsed.note.text, now)
    return Answer(200, "text/plain; charset=utf-8", line, parsed.note.encode())
