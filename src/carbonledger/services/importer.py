"""Bills to emissions records on the ledger: validate, calculate, sign, append.

Behaviour (documented for users in the README):

* every bad row is reported with its line, field and reason and skipped; the
  good rows are recorded;
* a bill already on the ledger (same site, account and period, same amount,
  unit and activity) is counted as a duplicate and not recorded again, so a
  re-run of an import, complete or interrupted, records each bill once;
* a bill whose period overlaps an accepted period of the same account, or
  that repeats a period with a different amount, is rejected as overlapping;
* on a chain, a bill another node recorded first while this import sent it (its
  entry void) is rejected naming its account and period, not counted, and the rest
  of its entry is sent again (:func:`carbonledger.services.resubmit.commit_records`);
* what was billed (account number, amount, unit, cost, document hash, source
  file) and the results (kg CO2e, kg CO2, renewable and non-renewable kWh) are
  sealed in the organisation's channel; the public record carries the account's
  reference, the period, the scope, the calculation basis and commitments to the
  sealed details, nothing a non-member could compute an amount from;
* records are signed in transactions of ``batch_size`` records and committed
  ``commit_every`` transactions at a time; each commit is atomic, so a crash
  loses at most the uncommitted batches (``import_bills`` builds the next group
  while one commits), which a re-run then records.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from carbonledger.core.calculator import (
    TRACE_SCHEMA,
    CalculationPlan,
    plan_for,
    result_texts,
    results,
)
from carbonledger.core.domain import Bill, PeriodIndex, overlap_error, record_id
from carbonledger.core.factor_values import Location, Resolution
from carbonledger.core.rules.channels import channel_access
from carbonledger.core.rules.common import require_active_signer, require_org_writer
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.core.units import normalise_unit
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, RowError
from carbonledger.factors import FactorCatalog
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort, PeriodKey
from carbonledger.services.channels import (
    ChannelKeys,
    UnwrappedKey,
    fresh_epochs,
    state_to_read,
)
from carbonledger.services.resubmit import Lost, commit_records, ordered_by_chain, sign_again
from carbonledger.services.sealing import DetailReader, SaltPool, bill_detail, seal_details

__all__ = [
    "ImportReport",
    "ImportSession",
    "basis_item",
    "import_bills",
    "lost_row",
    "record_item",
    "rotate_stale",
    "site_location",
    "tx_items_limit",
]


@dataclass
class ImportReport:
    """What an import did: every row is recorded, a duplicate, or rejected."""

    rows: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: list[RowError] = field(default_factory=list)
    kg_co2e: Decimal = Decimal(0)
    record_ids: list[str] = field(default_factory=list)
    #: Each recorded public item by id, when the caller asks (a dict, not None): a
    #: server answers with the record it has just built rather than reading it back.
    items: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "rejected": [
                {"line": e.line, "field": e.field, "reason": e.reason} for e in self.rejected
            ],
            "kg_co2e": str(self.kg_co2e),
        }


def site_location(site: dict[str, Any]) -> Location:
    return Location(
        zip=site.get("zip"),
        utility_id=site.get("utility_id"),
        subregion=site.get("subregion"),
        state=site.get("state"),
        country=site.get("country"),
    )


def record_item(
    bill: Bill,
    *,
    rid: str,
    org: str,
    epoch: int,
    period: tuple[str, str],
    commitment: str,
    plan: CalculationPlan,
) -> dict[str, Any]:
    """The public ledger item of one emissions record; what was billed and the results
    are sealed (see :data:`carbonledger.core.rules.records.RECORD_FIELDS`).

    ``commitment`` is the salted commitment to the sealed details; the trace names
    the calculation basis (of ``plan``, the record's calculation) and scope only.
    """
    return {
        "kind": "emissions_record",
        "id": rid,
        "org": org,
        "site": bill.site,
        "account": bill.account_ref,
        "activity": bill.activity,
        "period": {"start": period[0], "end": period[1]},
        "trace": {"schema": TRACE_SCHEMA, "basis": plan.basis_id, "scope": plan.scope},
        "detail": {"channel": org, "epoch": epoch, "blob": "", "commitment": commitment},
    }


def basis_item(plan: CalculationPlan) -> dict[str, Any]:
    """The ledger item of a calculation basis, recorded once before the first record using it."""
    return {"kind": "calculation_basis", "id": plan.basis_id, "basis": plan.basis}


def _same_quantity(amount: str, unit: str, bill: Bill) -> bool:
    try:
        return Decimal(amount) == bill.amount and normalise_unit(unit) == normalise_unit(bill.unit)
    except CarbonLedgerError:
        return False


class _Known:
    """Accepted periods: from the ledger, then from this import as rows are accepted."""

    def __init__(self, ledger: LedgerPort, reader: DetailReader) -> None:
        self.index = PeriodIndex()
        self.reader = reader
        #: Periods by (account, start, end): a :class:`PeriodKey` from the ledger, or
        #: (record id, amount, unit, activity item) for a bill accepted in this import
        #: (made into a PeriodKey only when a later row repeats it).
        self.exact: dict[tuple[str, date, date], PeriodKey | _Accepted] = {}
        self._ledger = ledger
        #: Accounts whose periods on the ledger were read.
        self.loaded: set[str] = set()

    def load(self, account: str) -> None:
        """Read the periods already on the ledger for ``account``, once."""
        if account not in self.loaded:
            self.loaded.add(account)
            for p in self._ledger.periods([account]):
                self.add(p)

    def add(self, p: PeriodKey) -> None:
        start, end = date.fromisoformat(p.start), date.fromisoformat(p.end)
        self.index.add(p.account, start, end, p.record_id)
        self.exact[(p.account, start, end)] = p

    def accept(self, account: str, start: date, end: date, accepted: _Accepted) -> None:
        """A bill of this import is accepted (its dates already parsed)."""
        self.index.add(account, start, end, accepted[0])
        self.exact[(account, start, end)] = accepted

    def get(self, account: str, start: date, end: date) -> PeriodKey | None:
        """The accepted period exactly ``start..end`` of ``account``, if any."""
        found = self.exact.get((account, start, end))
        if found is None or isinstance(found, PeriodKey):
            return found
        rid, amount, unit, item = found
        return PeriodKey(account, _iso(start), _iso(end), rid, amount, unit, item)

    def quantity(self, p: PeriodKey) -> tuple[str, str, str]:
        """Amount, unit and activity of an accepted bill (opening its sealed details if needed)."""
        activity = str(p.item.get("activity"))
        if p.amount is not None and p.unit is not None:
            return p.amount, p.unit, activity
        detail = self.reader.detail(p.item)
        return str(detail["amount"]), str(detail["unit"]), activity


#: A bill accepted in this import: record id, amount, unit and its activity item.
_Accepted = tuple[str, str, str, dict[str, Any]]


@lru_cache(maxsize=4096)
def _iso(day: date) -> str:
    # Cached: bills repeat the same few hundred period dates, and isoformat is not free.
    return day.isoformat()


class _Batcher:
    """Collects items into signed transactions and commits them a group at a time."""

    def __init__(
        self,
        ledger: LedgerPort,
        key: PrivateKey,
        ledger_id: str,
        nonce: int,
        *,
        sizes: tuple[int, int],
        progress: Callable[[int], None] | None,
        background: bool = False,
    ) -> None:
        self.ledger, self.key, self.ledger_id, self.nonce = ledger, key, ledger_id, nonce
        self.batch_size, self.commit_every = sizes
        self.progress = progress
        self.items: list[dict[str, Any]] = []
        self.details: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.records = 0
        self.pending: list[SignedTx] = []
        self.sealer: Callable[[list[tuple[dict[str, Any], dict[str, Any]]]], list[bytes]] | None = (
            None
        )
        # With ``background``, a group is committed by one writer thread while the next
        # is built: SQLite writes and syncs without holding the interpreter, so the
        # commit overlaps the next group's checks and sealing. One group at most is in
        # flight, so commits keep their order and a crash loses at most two groups,
        # each atomic, which a re-run records once.
        self._writer = ThreadPoolExecutor(1, "ledger-writer") if background else None
        self._inflight: tuple[Future[Any], int] | None = None
        #: Records another writer recorded first (a chain's void entries), with why.
        self.lost: list[Lost] = []

    def add(self, item: dict[str, Any], detail: dict[str, Any] | None = None) -> None:
        self.items.append(item)
        if detail is not None:
            self.details.append((item, detail))
            self.records += 1
        if len(self.items) >= self.batch_size:
            self.flush(final=False)

    def flush(self, *, final: bool) -> None:
        blobs: list[bytes] = []
        if self.details and self.sealer is not None:
            blobs = self.sealer(self.details)
            self.details = []
        if self.items:
            self.pending.append(
                build_tx(
                    self.key,
                    tx_type="record_emissions",
                    ledger_id=self.ledger_id,
                    nonce=self.nonce,
                    created=utc_now(),
                    items=self.items,
                    blobs=blobs,
                    # Built by record_item and basis_item from text and integers (the
                    # basis was encoded, so checked, when its id was computed).
                    checked=True,
                )
            )
            self.nonce += 1
            self.items = []
        if self.pending and (final or len(self.pending) >= self.commit_every):
            pending, records = self.pending, self.records
            self.pending, self.records = [], 0
            if self._writer is None:
                # Signed again if another writer (this signer on another node) took the nonces.
                self.nonce = commit_records(self.ledger, self.key, pending, lost=self.lost)
                self._committed(records)
            else:
                pending = self.wait(pending)
                self._inflight = (
                    self._writer.submit(
                        commit_records, self.ledger, self.key, pending, lost=self.lost
                    ),
                    records,
                )
        if final:
            self.wait()

    def wait(self, following: list[SignedTx] | None = None) -> list[SignedTx]:
        """Wait for the group being committed in the background (its error is raised
        here); ``following``, the next group, is returned signed again with fresh nonces
        if that commit had to take new ones (another writer took the signer's)."""
        following = following or []
        if self._inflight is not None:
            done, records = self._inflight
            self._inflight = None
            nonce = done.result()
            self._committed(records)
            if following and following[0].nonce != nonce:
                following = sign_again(self.key, following, nonce)
            self.nonce = nonce + len(following)
        return following

    def _committed(self, records: int) -> None:
        if self.progress is not None:
            self.progress(records)

    def close(self) -> None:
        """Let a group still being committed finish, and stop the writer thread."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)


def tx_items_limit(ledger: object) -> int:
    """How many items one signed transaction may hold on ``ledger``'s backend (a chain
    bounds the calldata and gas of a transaction; ``max_tx_items`` where it does)."""
    limit = getattr(ledger, "max_tx_items", None)
    return limit if isinstance(limit, int) and limit > 0 else 1_000_000


def import_bills(
    ledger: LedgerPort,
    key: PrivateKey,
    catalog: FactorCatalog,
    bills: Iterable[Bill],
    *,
    store: ChannelStore,
    source: str | None = None,
    batch_size: int = 1000,
    commit_every: int = 5,
    progress: Callable[[int], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Record ``bills`` on ``ledger``, signed with ``key``; see the module docstring."""
    session = ImportSession(
        ledger,
        key,
        catalog,
        store=store,
        source=source,
        sizes=(batch_size, commit_every),
        progress=progress,
        report=report,
        background=True,
    )
    # The cyclic garbage collector is paused: an import makes a few dicts a bill, none
    # in a cycle (they are freed by reference counting), and each collection would walk
    # every object of the process, the factor tables included, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        session.add(bills)
        return session.finish()
    finally:
        session.out.close()
        if collecting:
            gc.enable()


class ImportSession:
    """An import in progress: accepted periods, bases and batches kept across calls to add."""

    def __init__(
        self,
        ledger: LedgerPort,
        key: PrivateKey,
        catalog: FactorCatalog,
        *,
        store: ChannelStore,
        source: str | None = None,
        sizes: tuple[int, int] = (1000, 5),
        progress: Callable[[int], None] | None = None,
        report: ImportReport | None = None,
        rotate: bool = True,
        background: bool = False,
        unwrapped: MutableMapping[UnwrappedKey, bytes] | None = None,
    ) -> None:
        """``background``: commit each group in a writer thread while the next is built
        (call ``out.close()`` when done); otherwise each commit happens in ``add``.
        ``unwrapped``: channel keys unwrapped by earlier sessions (see
        :class:`~carbonledger.services.channels.ChannelKeys`), shared by a server's batches."""
        self.report = report if report is not None else ImportReport()
        # Read, never changed: not copied where the ledger allows (a server's batches).
        state = self.state = state_to_read(ledger)
        if state.ledger_id is None:
            raise CarbonLedgerError("the ledger has no genesis entry; run `carbonledger init`")
        ledger_id = state.ledger_id
        require_active_signer(state, key.address)  # fail before any work, with the reason
        if rotate and rotate_stale(ledger, store, key):
            state = self.state = state_to_read(ledger)
        keys = ChannelKeys(state, store, key, unwrapped=unwrapped)
        self.known = _Known(ledger, DetailReader(keys, store))
        self.epochs = {org: int(ch["epoch"]) for org, ch in state.channels.items()}
        self.out = _Batcher(
            ledger,
            key,
            ledger_id,
            state.next_nonce(key.address),
            sizes=(min(sizes[0], tx_items_limit(ledger)), sizes[1]),
            progress=progress,
            background=background,
        )
        # Details are made by bill_detail (text and None): no float to look for. The
        # sealer holds the epochs, not the session: a session that held itself through
        # its batcher lived until the collector's full pass (a server makes one a batch).
        epochs = self.epochs
        self.out.sealer = lambda pairs: seal_details(keys, pairs, epochs, checked=True)
        self.catalog, self.source = catalog, source
        self.bases = set(state.bases)
        self.salts = SaltPool()
        # One shared stand-in item per activity for periods accepted in this import.
        self.activity_items: dict[str, dict[str, Any]] = {}
        self.resolutions: dict[tuple[str, str, int], Resolution] = {}
        self.by_location: dict[tuple[Location, str, int], Resolution] = {}
        self.years: dict[tuple[date, date], int] = {}
        self.writable = {org: _refusal(state, key.address, org) for org in state.orgs}
        #: Each record batched: its report, row and kg CO2e (to take back a record
        #: another writer recorded first), kept only on a chain, where that can happen.
        self.rows: dict[str, tuple[ImportReport, int, Decimal]] | None = (
            {} if ordered_by_chain(ledger) else None
        )

    def finish(self) -> ImportReport:
        """Sign and commit what is still batched; the records another writer recorded
        first meanwhile (see :func:`commit_records`) are reported as rejected rows."""
        self.out.flush(final=True)
        for item, why in self.out.lost:
            report, line, kg = (self.rows or {}).pop(item["id"])
            report.recorded -= 1
            report.kg_co2e -= kg
            if item["id"] in report.record_ids:
                report.record_ids.remove(item["id"])
            if report.items is not None:
                report.items.pop(item["id"], None)
            report.rejected.append(lost_row(line, why))
        self.out.lost.clear()
        return self.report

    def add(self, bills: Iterable[Bill]) -> None:
        """Check, calculate and batch ``bills`` (committing full batches as they fill)."""
        for bill in bills:
            self._add(bill)

    def _resolve(self, bill: Bill, site: dict[str, Any]) -> Resolution | RowError:
        period = (bill.start, bill.end)
        year = self.years.get(period)
        if year is None:  # bills repeat a few hundred periods: the midpoint's year once each
            year = self.years[period] = bill.year
        rkey = (bill.site, bill.activity, year)
        resolution = self.resolutions.get(rkey)
        if resolution is None:
            # A resolution depends on the site's location, not on the site: sites at one
            # location (a ZIP code, a country) share it and the calculation plan built
            # on it (its basis, hashed once), rather than building one per site and year.
            location = site_location(site)
            lkey = (location, bill.activity, year)
            resolution = self.by_location.get(lkey)
            if resolution is None:
                try:
                    resolution = self.catalog.resolve(bill.activity, location, year=year)
                except CarbonLedgerError as exc:
                    unknown = "no factors for activity" in str(exc)
                    return RowError(bill.line or 0, "activity" if unknown else "site", str(exc))
                self.by_location[lkey] = resolution
            self.resolutions[rkey] = resolution
        return resolution

    def _add(self, bill: Bill) -> None:
        report = self.report
        report.rows += 1
        site = self.state.sites.get(bill.site)
        ref = bill.account_ref
        account = f"{bill.site}/{ref}"
        verdict = _check(bill, site, account, self.known, self.writable)
        if verdict is not None or site is None:  # an unknown site is a RowError
            if verdict is _DUPLICATE:
                report.duplicates += 1
            else:
                report.rejected.append(verdict)  # type: ignore[arg-type]
            return
        resolution = self._resolve(bill, site)
        if isinstance(resolution, RowError):
            report.rejected.append(resolution)
            return
        try:
            # The figures only: the public item names the basis, the results are sealed.
            plan = plan_for(resolution, bill.unit)
            figures = results(bill.amount, plan)
        except CarbonLedgerError as exc:
            report.rejected.append(RowError(bill.line or 0, "unit", str(exc)))
            return
        period = (_iso(bill.start), _iso(bill.end))
        rid = record_id(bill.site, ref, period[0], period[1])
        activity = self.activity_items.get(bill.activity)
        if activity is None:
            activity = self.activity_items[bill.activity] = {"activity": bill.activity}
        self.known.accept(
            account, bill.start, bill.end, (rid, str(bill.amount), bill.unit, activity)
        )
        if plan.basis_id not in self.bases:
            self.bases.add(plan.basis_id)
            self.out.add(basis_item(plan))
        detail, commitment = bill_detail(bill, rid, self.source, self.salts, result_texts(figures))
        org = site["org"]
        item = record_item(
            bill,
            rid=rid,
            org=org,
            epoch=self.epochs.get(org, 0),
            period=period,
            commitment=commitment,
            plan=plan,
        )
        self.out.add(item, detail)
        if report.items is not None:
            report.items[rid] = item
        report.recorded += 1
        report.kg_co2e += figures[0]
        if self.rows is not None:
            self.rows[rid] = (report, bill.line or 0, figures[0])
        if len(report.record_ids) < 10_000:
            report.record_ids.append(rid)


def lost_row(line: int, why: str) -> RowError:
    """The rejected row of a record another writer recorded first (a chain's void entry)."""
    return RowError(line, "period", f"recorded first by another writer, not recorded: {why}")


_DUPLICATE = object()


def rotate_stale(ledger: LedgerPort, store: ChannelStore, key: PrivateKey) -> bool:
    """Rotate the stale channels ``key`` may write (someone whose access ended holds the key).

    Run before any sealing, so nothing imported opens with an ended grant's keys.
    Returns whether any channel was rotated.
    """
    state = state_to_read(ledger)
    writable = [org for org in state.orgs if _refusal(state, key.address, org) is None]
    return bool(fresh_epochs(ledger, store, key, writable))


def _refusal(state: LedgerState, signer: str, org: str) -> str | None:
    """Why ``signer`` may not record (sealed) emissions for ``org``, or None if it may."""
    try:
        require_org_writer(state, signer, org, "record")
        channel_access(state, org, signer)
    except CarbonLedgerError as exc:
        return str(exc)
    return None


def _check(
    bill: Bill,
    site: dict[str, Any] | None,
    account: str,
    known: _Known,
    writable: dict[str, str | None],
) -> RowError | object | None:
    """Why ``bill`` (of ``account``, its site and reference) is not to be recorded: a
    :class:`RowError`, ``_DUPLICATE``, or None."""
    line = bill.line or 0
    if site is None:
        return RowError(line, "site", f"site {bill.site!r} is not registered")
    refusal = writable.get(site["org"])
    if refusal is not None:
        return RowError(line, "site", refusal)
    if account not in known.loaded:
        known.load(account)
    same = known.get(account, bill.start, bill.end)
    if same is not None:
        amount, unit, activity = known.quantity(same)
        if activity == bill.activity and _same_quantity(amount, unit, bill):
            return _DUPLICATE
        return RowError(
            line,
            "period",
            f"{bill.start}..{bill.end} for account {bill.account!r} is already recorded"
            f" with {amount} {unit} of {activity} (record {same.record_id})",
        )
    other = known.index.overlap(account, bill.start, bill.end)
    if other is not None:
        return RowError(line, "period", str(overlap_error(bill, other)))
    return None
