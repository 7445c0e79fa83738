"""The one read-time access check for sealed channel data.

Every read of sealed data (records, traces, reports, audits, the API, the web UI
and the opentaps routes) opens channel keys through :class:`ReadAccess`:

* the core decides (:func:`carbonledger.core.rules.channels.read_access`) whether
  the reader may read the channel *now*: an active identity, a current member,
  its grant started and not ended;
* an auditor's read is then recorded on the ledger as a ``channel_read``
  transaction, committed before anything is decrypted; the core checks it again
  at its ledger time, so a grant that ended in between refuses the read, and a
  read that could not be recorded is not made.

Members of the organisation read without a ledger entry (their access is the
organisation's own data); their grant and identity are still checked each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from carbonledger.core.rules.channels import read_access
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.ledger import LedgerPort, Receipt

__all__ = ["ReadAccess", "record_read"]

T = TypeVar("T")
Writer = Callable[[Callable[[], Any]], Any]


def _direct(work: Callable[[], T]) -> T:
    return work()


def record_read(
    ledger: LedgerPort,
    reader: PrivateKey,
    channel: str,
    *,
    purpose: str = "read",
    period: tuple[str, str] | None = None,
    write: Writer = _direct,
) -> Receipt | None:
    """Record (and commit) that ``reader`` reads ``channel``; refused if it may not now.

    Returns the receipt, or ``None`` under a group-committing ``write`` (which
    returns once the entry is committed, without a receipt).
    """
    item: dict[str, Any] = {"kind": "channel_read", "channel": channel, "purpose": purpose}
    if period is not None:
        item["since"], item["until"] = period

    def submit() -> Receipt | None:
        state = ledger.state()
        tx = build_tx(
            reader,
            tx_type="channel_read",
            ledger_id=str(state.ledger_id),
            nonce=state.next_nonce(reader.address),
            created=utc_now(),
            items=[item],
        )
        receipts = ledger.submit([tx])
        return receipts[0] if receipts else None

    receipt: Receipt | None = write(submit)
    return receipt


class ReadAccess:
    """The access check of one reader over one ledger, called per channel before decryption.

    ``write`` runs a submission (a server passes its serialised, group-committed
    writer); ``recorded`` names channels whose read this caller has just recorded
    itself (an audit records its period with the read).
    """

    def __init__(
        self,
        ledger: LedgerPort,
        reader: PrivateKey,
        *,
        purpose: str = "read",
        write: Writer = _direct,
        recorded: Iterable[str] = (),
        state: Callable[[], LedgerState] | None = None,
    ) -> None:
        self._ledger, self._reader, self._purpose, self._write = ledger, reader, purpose, write
        self._recorded = set(recorded)
        self.receipts: list[Receipt | None] = []
        # How to read the ledger's state now (a server passes a read that copies nothing).
        self._state = state if state is not None else ledger.state

    def __call__(self, channel: str) -> None:
        """Raise :class:`~carbonledger.errors.PermissionDenied` unless the read may happen now."""
        member = read_access(self._state(), channel, self._reader.address, utc_now())
        if member.get("role") == "auditor" and channel not in self._recorded:
            self.receipts.append(
                record_read(
                    self._ledger, self._reader, channel, purpose=self._purpose, write=self._write
                )
            )
            self._recorded.add(channel)
