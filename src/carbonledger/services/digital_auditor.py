"""The digital auditor: every emissions record checked against signed meter and utility data.

For each emissions record of an organisation in a period, the auditor (a channel
member: an auditor granted access, or an admin of the organisation) opens the
sealed bill amount and looks for credentials anchored on the ledger for the same
site and account:

* **meter readings**: MeterReadingsCredentials of a device registered (on the
  ledger) to that site and meter. The readings whose interval *starts* inside the
  bill period (its dates taken as whole UTC days, end inclusive) are summed; they
  support the record when they cover every interval of the period and their sum
  equals the billed amount within :data:`TOLERANCE` (the larger of 0.5 % of the
  bill and 1 kWh). A sum above the bill plus the tolerance contradicts the record
  even when readings are missing; a shortfall with readings missing only leaves
  it unverifiable. The same interval read twice with different values is a
  contradiction.
* **utility bill**: a UtilityBillCredential for the same site, account and exact
  period from the utility registered for that account (or for the site's EIA
  utility id), whose amount, converted to the record's unit, equals it exactly.

Every credential used must hold: it is the one anchored (its JCS SHA-256),
well formed, its proof verifies, its issuer is the DID registered for that
device or utility, it was valid (``validFrom``/``validUntil``) when it was
anchored (the ledger's time, not the device's), it is not revoked in the
issuer's status list on the ledger, its readings fall inside the device's
registration, and it was not anchored after the device's revocation took effect.

A record is *contradicted* when any matching credential fails a check or
disagrees with it (the reason names which and why), *verified* when meter
readings or a utility bill support it and nothing contradicts it, and
*unverifiable* otherwise. The findings go into an AuditResultCredential signed
by the auditor's ``did:key``, sealed in the organisation's channel, with its
SHA-256 recorded on the ledger.

:class:`ReadingsMonitor` is the streaming mode: it checks readings as they
arrive against the bills already recorded for that meter and reports a
mismatch as soon as one is certain.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any, Final

import orjson

from carbonledger.core.rules.channels import channel_access
from carbonledger.core.rules.common import is_org_admin
from carbonledger.core.units import convert, dimension
from carbonledger.credentials.did import Secp256k1Signer, Signer
from carbonledger.credentials.proof import canonicalize, parse_datetime
from carbonledger.credentials.status import StatusListChecker
from carbonledger.credentials.types import (
    CARBONLEDGER_CONTEXT,
    METER_READINGS,
    RecordVerdict,
    audit_result_credential,
    validate,
)
from carbonledger.credentials.vc import issue, issuer_id, verify
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, InvalidInput, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.channels import ChannelKeys, submit_one
from carbonledger.services.devices import CredentialReader, ledger_status_checker
from carbonledger.services.records import RecordReader

_np: ModuleType | None
try:  # optional: only speeds up parsing a year of timestamps
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is not a dependency
    _np = None

__all__ = [
    "TOLERANCE",
    "AuditEvent",
    "DigitalAuditReport",
    "Finding",
    "ReadingsMonitor",
    "Tolerance",
    "fast_readings",
    "run_digital_audit",
]


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a meter's summed readings may be from the billed amount."""

    relative: Decimal = Decimal("0.005")  # 0.5 % of the bill
    absolute_kwh: Decimal = Decimal(1)  # never less than 1 kWh (rounding of small bills)

    def allowed(self, bill_kwh: Decimal) -> Decimal:
        return max(abs(bill_kwh) * self.relative, self.absolute_kwh)


#: The documented default: the larger of 0.5 % of the bill and 1 kWh.
TOLERANCE: Final = Tolerance()
_WH_PER_KWH: Final = Decimal(1000)
_DECIMALS: Final = re.compile(r"(?:0|[1-9]\d*)(?:\.\d+)?(?:,(?:0|[1-9]\d*)(?:\.\d+)?)*")
_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
_STAMPS: Final = re.compile(f"{_STAMP}(?:,{_STAMP})*")


@dataclass(frozen=True, slots=True)
class Finding:
    """The verdict on one emissions record, with the reason and the evidence used."""

    record_id: str
    site: str
    account: str
    period: tuple[str, str]
    verdict: str  # verified | unverifiable | contradicted
    reason: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record_id,
            "site": self.site,
            "account": self.account,
            "period": list(self.period),
            "verdict": self.verdict,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@dataclass
class DigitalAuditReport:
    """Every record's finding, the signed AuditResultCredential and where it was recorded."""

    id: str
    org: str
    start: date
    end: date
    auditor: str
    findings: list[Finding] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    sha256: str | None = None
    receipt: Receipt | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {"verified": 0, "unverifiable": 0, "contradicted": 0}
        for f in self.findings:
            out[f.verdict] += 1
        return out

    def by_verdict(self, verdict: str) -> list[Finding]:
        return [f for f in self.findings if f.verdict == verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "auditor": self.auditor,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "sha256": self.sha256,
            "entry": None if self.receipt is None else self.receipt.seq,
        }


def _day_start(day: str) -> datetime:
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _bounds(period: Mapping[str, str]) -> tuple[datetime, datetime]:
    """A bill period (inclusive dates) as UTC instants [start, end)."""
    return _day_start(period["start"]), _day_start(period["end"]) + timedelta(days=1)


def _kwh(text: str) -> str:
    return f"{Decimal(text).normalize():f}"


@dataclass
class _Checked:
    """A credential opened and checked once: its problems (empty when it holds)."""

    anchor: dict[str, Any]
    credential: dict[str, Any] | None
    problems: list[str]
    times: list[int] = field(default_factory=list)  # interval starts, Unix seconds
    values: list[Decimal] = field(default_factory=list)  # Wh
    step: int = 0


class _Checker:
    """Checks credentials against the ledger's registrations and status lists."""

    def __init__(
        self,
        ledger: LedgerPort,
        devices: Mapping[str, Any],
        sites: Mapping[str, Any],
        status: StatusListChecker,
    ) -> None:
        self._ledger = ledger
        self._devices = devices
        self._sites = sites
        self._status = status

    def check(
        self, anchor: dict[str, Any], credential: dict[str, Any] | None, anchored_at: datetime
    ) -> _Checked:
        if credential is None:
            return _Checked(anchor, None, ["sealed credential could not be opened"])
        problems: list[str] = []
        readings: tuple[list[int], list[Decimal]] = ([], [])
        try:
            if METER_READINGS in (credential.get("type") or ()):
                kind, readings = METER_READINGS, fast_readings(credential)
            else:
                kind = validate(credential)
        except CarbonLedgerError as exc:
            return _Checked(anchor, credential, [f"malformed: {exc}"])
        if kind != anchor.get("type"):
            problems.append(f"type: the sealed credential is a {kind}, the anchor says otherwise")
        issuer = issuer_id(credential)
        holder = self._devices.get(str(anchor.get("holder")), {})
        if issuer != anchor.get("issuer") or issuer != holder.get("did"):
            problems.append(
                f"issuer: {issuer} is not the DID registered for {holder.get('kind', 'device')}"
                f" {anchor.get('holder')!r} ({holder.get('did')})"
            )
        result = verify(credential, now=anchored_at, status_checker=self._status)
        problems.extend(result.errors)
        subject = credential["credentialSubject"]
        if subject.get("siteId") != anchor.get("site"):
            problems.append(f"site: the credential names {subject.get('siteId')!r}")
        checked = _Checked(anchor, credential, problems, *readings)
        if holder.get("status") == "revoked":
            effective = parse_datetime(str(holder["effective"]), "effective")
            if anchored_at >= effective:
                problems.append(
                    f"revoked: {holder['kind']} {holder['id']!r} was revoked effective"
                    f" {holder['effective']} ({holder.get('reason') or 'no reason given'});"
                    f" this credential was anchored at {anchored_at:%Y-%m-%dT%H:%M:%SZ}"
                )
        if kind == METER_READINGS:
            self._readings(checked, holder, subject)
        elif holder.get("kind") == "utility" and not self._bills(holder, anchor):
            problems.append(
                f"registration: utility {holder.get('id')!r} does not bill this account"
            )
        return checked

    def _bills(self, utility: Mapping[str, Any], anchor: Mapping[str, Any]) -> bool:
        site, account = str(anchor.get("site")), str(anchor.get("account"))
        if f"{site}/{account}" in utility.get("accounts", ()):
            return True
        eia = utility.get("eia_id")
        return eia is not None and self._sites.get(site, {}).get("utility_id") == eia

    @staticmethod
    def _readings(checked: _Checked, holder: Mapping[str, Any], subject: Mapping[str, Any]) -> None:
        problems = checked.problems
        if holder.get("kind") != "device":
            problems.append("registration: meter readings must come from a registered device")
            return
        if subject.get("meterId") != holder.get("meter"):
            problems.append(
                f"registration: device {holder['id']!r} is registered to meter"
                f" {holder.get('meter')!r}, the credential names {subject.get('meterId')!r}"
            )
        start = parse_datetime(str(holder["valid_from"]), "valid_from")
        ends = [holder.get("valid_until")]
        if holder.get("status") == "retired":
            ends.append(holder.get("effective"))
        end = min((parse_datetime(str(e), "until") for e in ends if e), default=None)
        first = parse_datetime(subject["periodStart"], "periodStart")
        last = parse_datetime(subject["periodEnd"], "periodEnd")
        if first < start or (end is not None and last > end):
            until = "" if end is None else f" until {end:%Y-%m-%dT%H:%M:%SZ}"
            problems.append(
                f"registration: device {holder['id']!r} is registered to"
                f" {holder.get('site')}/{holder.get('meter')} from {holder['valid_from']}{until};"
                f" the readings run {subject['periodStart']} to {subject['periodEnd']}"
            )
        checked.step = int(subject["intervalSeconds"])


_EPOCH: Final = datetime(1970, 1, 1)  # naive: the stamps are parsed without their "Z"
_SECOND: Final = timedelta(seconds=1)


def _epoch_seconds(stamps: Sequence[str]) -> list[int]:
    """Unix seconds of ``YYYY-MM-DDTHH:MM:SSZ`` stamps (numpy when installed: 6x faster)."""
    if _np is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # never let numpy guess at a time zone
            parsed = _np.array([t[:-1] for t in stamps], dtype="datetime64[s]")
        seconds: list[int] = parsed.astype(_np.int64).tolist()
        return seconds
    parse = datetime.fromisoformat
    return [(parse(t[:-1]) - _EPOCH) // _SECOND for t in stamps]


def _reading_header(credential: Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    """The subject and interval of a MeterReadingsCredential, its fields checked."""
    subject = credential.get("credentialSubject")
    ctx = credential.get("@context")
    if not isinstance(subject, Mapping) or not isinstance(ctx, list):
        raise InvalidInput("credentialSubject: must be one JSON object")
    if CARBONLEDGER_CONTEXT not in ctx:
        raise InvalidInput(f"@context: must include {CARBONLEDGER_CONTEXT}")
    if not str(issuer_id(credential)).startswith("did:key:"):
        raise InvalidInput("issuer: a meter signs as its did:key")
    for name in ("meterId", "siteId"):
        if not isinstance(subject.get(name), str) or not subject[name].strip():
            raise InvalidInput(f"{name}: must be a non-empty string")
    if subject.get("unit") != "Wh":
        raise InvalidInput("unit: must be one of ('Wh',)")
    step = subject.get("intervalSeconds")
    if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
        raise InvalidInput("intervalSeconds: must be a positive integer")
    return subject, step


def fast_readings(credential: Mapping[str, Any]) -> tuple[list[int], list[Decimal]]:
    """Check a MeterReadingsCredential like ``validate`` does, vectorised; return its readings.

    The same rules as :func:`carbonledger.credentials.types.validate_meter_readings`
    (UTC times on the interval grid, in order, inside the period; decimal values;
    the total their sum), checked with numpy so a year of hourly data takes
    milliseconds, not seconds. Returns interval starts (Unix seconds) and Wh.

    Raises:
        InvalidInput: the first rule that does not hold.
    """
    subject, step = _reading_header(credential)
    rows = subject.get("readings")
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("readings: must be a non-empty list of [start, value]")
    try:
        start = int(parse_datetime(subject["periodStart"], "periodStart").timestamp())
        end = int(parse_datetime(subject["periodEnd"], "periodEnd").timestamp())
        stamps, texts = zip(*rows, strict=True)
        # One C-level regex match over the joined column beats one match per reading.
        if not _STAMPS.fullmatch(",".join(stamps)):
            raise InvalidInput("readings: times must be ISO 8601 UTC like 2024-01-01T00:00:00Z")
        times = _epoch_seconds(stamps)
        if not _DECIMALS.fullmatch(",".join(texts)):
            raise InvalidInput("readings: values must be decimal strings such as '12.5'")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"readings: must be [start, value] pairs ({exc})") from exc
    if end <= start:
        raise InvalidInput("periodEnd: must be after periodStart")
    if times[0] < start or times[-1] + step > end:
        raise InvalidInput("readings: a reading lies outside the period")
    if any((t - start) % step for t in times):
        raise InvalidInput(f"readings: a reading is not on the {step}-second interval grid")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise InvalidInput("readings: not in time order")
    values = [Decimal(v) for v in texts]
    if any(v < 0 for v in values):
        raise InvalidInput("readings: values must not be negative")
    total = sum(values, Decimal(0))
    if not isinstance(subject.get("total"), str) or Decimal(subject["total"]) != total:
        raise InvalidInput(f"total: {subject.get('total')} is not the sum of readings ({total})")
    return times, values


def _meter_verdict(
    checked: list[_Checked], bill_kwh: Decimal, ps: datetime, pe: datetime, tol: Tolerance
) -> tuple[str, str]:
    """('ok' | 'partial' | 'none' | 'contradicted', reason) for the meter readings of one bill."""
    values: dict[int, Decimal] = {}
    covered = 0
    names = []
    lo, hi = int(ps.timestamp()), int(pe.timestamp())
    for c in checked:
        names.append(c.anchor["holder"])
        if c.times and lo <= c.times[0] and c.times[-1] < hi and values.keys().isdisjoint(c.times):
            values.update(zip(c.times, c.values, strict=True))  # the usual case, at C speed
            covered += c.step * len(c.times)
            continue
        for at, wh in zip(c.times, c.values, strict=True):
            if not lo <= at < hi:
                continue
            seen = values.get(at)
            if seen is None:
                values[at] = wh
                covered += c.step
            elif seen != wh:
                return "contradicted", (
                    f"meter {c.anchor['holder']!r} signed two readings for"
                    f" {datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}: {seen} Wh and {wh} Wh"
                )
    if not values:
        return "none", ""
    total = sum(values.values(), Decimal(0)) / _WH_PER_KWH
    allowed = tol.allowed(bill_kwh)
    diff = total - bill_kwh
    meters = "/".join(sorted(set(names)))
    told = (
        f"meter {meters!r}: {len(values)} signed readings sum to {_kwh(str(total))} kWh;"
        f" the bill says {_kwh(str(bill_kwh))} kWh (difference {_kwh(str(diff))} kWh,"
        f" tolerance {_kwh(str(allowed))} kWh)"
    )
    length = int((pe - ps).total_seconds())
    if diff > allowed or (covered >= length and abs(diff) > allowed):
        return "contradicted", told
    if covered < length:
        share = Decimal(covered * 100) / length
        return "partial", f"{told}; readings cover only {share:.1f}% of the period"
    return "ok", told


class _Evidence:
    """The organisation's anchored credentials by (site, account, type), checked lazily."""

    def __init__(self, ledger: LedgerPort, store: ChannelStore, key: PrivateKey, org: str) -> None:
        state = ledger.state()
        self._ledger = ledger
        self._reader = CredentialReader(ledger, store, key)
        self._checker = _Checker(ledger, state.devices, state.sites, ledger_status_checker(ledger))
        self._by: dict[tuple[str, str, str], list[tuple[dict[str, Any], int, int]]] = {}
        self._times: dict[int, datetime] = {}
        self._done: dict[str, _Checked] = {}
        for stored in ledger.items(ItemQuery(kind="credential", org=org)):
            a = stored.item
            self._by.setdefault((a["site"], a["account"], a["type"]), []).append(
                (a, stored.seq, stored.leaf_index)
            )

    def _anchored_at(self, seq: int, leaf: int) -> datetime:
        when = self._times.get(seq)
        if when is None:
            evidence = self._ledger.proof(leaf, with_tx=True).tx
            when = self._times[seq] = parse_datetime(str(evidence["ledger_time"]), "ledger time")
        return when

    def matching(
        self, site: str, account: str, kind: str, ps: datetime, pe: datetime
    ) -> list[_Checked]:
        out = []
        for anchor, seq, leaf in self._by.get((site, account, kind), ()):
            a_start, a_end = _anchor_bounds(anchor["period"])
            if a_end <= ps or a_start >= pe:
                continue
            done = self._done.get(anchor["sha256"])
            if done is None:
                try:
                    credential: dict[str, Any] | None = self._reader.credential(anchor)
                    problem = None
                except CarbonLedgerError as exc:
                    credential, problem = None, str(exc)
                done = self._checker.check(anchor, credential, self._anchored_at(seq, leaf))
                if problem is not None:
                    done.problems[:] = [f"sealed credential: {problem}"]
                if len(self._done) >= 4096:  # bound memory: a year of hourly data is large
                    self._done.clear()
                self._done[anchor["sha256"]] = done
            out.append(done)
        return out


def _anchor_bounds(period: Mapping[str, str]) -> tuple[datetime, datetime]:
    start, end = period["start"], period["end"]
    if "T" in start:
        return parse_datetime(start, "start"), parse_datetime(end, "end")
    return _bounds(period)


def _bill_verdict(
    checked: list[_Checked], record: Mapping[str, Any], amount: Decimal, unit: str
) -> tuple[str, str]:
    period = record["period"]
    same = [
        c
        for c in checked
        if c.credential is None
        or (
            c.anchor["period"]["start"] == period["start"]
            and c.anchor["period"]["end"] == period["end"]
        )
    ]
    if not same:
        return "none", ""
    for c in same:
        if c.problems or c.credential is None:
            continue
        subject = c.credential["credentialSubject"]
        try:
            billed = convert(Decimal(subject["amount"]), subject["unit"], unit)
        except CarbonLedgerError as exc:
            return "contradicted", f"utility bill credential {c.anchor['id']}: {exc}"
        if billed != amount:
            return "contradicted", (
                f"utility {c.anchor['holder']!r} billed {subject['amount']} {subject['unit']}"
                f" for {period['start']}..{period['end']}; the record says {amount} {unit}"
            )
        return "ok", f"utility {c.anchor['holder']!r} billed {subject['amount']} {subject['unit']}"
    return "none", ""


def _judge(
    evidence: _Evidence, record: Mapping[str, Any], detail: Mapping[str, Any], tol: Tolerance
) -> Finding:
    site, account = record["site"], record["account"]
    period = record["period"]
    ps, pe = _bounds(period)
    amount, unit = Decimal(str(detail["amount"])), str(detail["unit"])
    meters = evidence.matching(site, account, METER_READINGS, ps, pe)
    bills = evidence.matching(site, account, "UtilityBillCredential", ps, pe)

    def finding(verdict: str, reason: str, used: Iterable[str] = ()) -> Finding:
        return Finding(
            record["id"],
            site,
            account,
            (period["start"], period["end"]),
            verdict,
            reason,
            tuple(used),
        )

    for c in (*meters, *bills):
        if c.problems:
            what = "meter readings" if c.anchor["type"] == METER_READINGS else "utility bill"
            return finding(
                "contradicted",
                f"{what} credential {c.anchor['id']} from {c.anchor['holder']!r}: "
                + "; ".join(c.problems),
                [c.anchor["id"]],
            )
    used = [c.anchor["id"] for c in (*meters, *bills)]
    reasons: list[str] = []
    supported = False
    if meters:
        if dimension(unit) != "energy":
            reasons.append(f"meter readings are energy; the bill is in {unit}")
        else:
            state, why = _meter_verdict(meters, convert(amount, unit, "kWh"), ps, pe, tol)
            if state == "contradicted":
                return finding("contradicted", why, used)
            supported |= state == "ok"
            if why:
                reasons.append(why)
    state, why = _bill_verdict(bills, record, amount, unit)
    if state == "contradicted":
        return finding("contradicted", why, used)
    supported |= state == "ok"
    if why:
        reasons.append(why)
    if supported:
        return finding("verified", "; ".join(reasons), used)
    if not used:
        return finding("unverifiable", f"no credentials for {site}/{account} in the period")
    return finding("unverifiable", "; ".join(reasons) or "no credential covers the period", used)


def run_digital_audit(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    org: str,
    *,
    start: date,
    end: date,
    signer: Signer | None = None,
    tolerance: Tolerance = TOLERANCE,
    record: bool = True,
) -> DigitalAuditReport:
    """Audit ``org``'s records whose period overlaps [start, end] against its credentials.

    ``key`` must be able to read the organisation's channel (an auditor with access,
    who records a ``channel_read`` first, or an admin). ``signer`` signs the
    AuditResultCredential; by default the key's own ``did:key`` (secp256k1). With
    ``record`` the credential is sealed in the channel and its hash put on the ledger.
    """
    state = ledger.state()
    channel_access(state, org, key.address)  # a clear error before anything else
    roles = state.identities.get(key.address, {}).get("roles", ())
    if not is_org_admin(state, key.address, org) and key.address != state.admin:
        if "auditor" not in roles:
            raise PermissionDenied(f"{key.address} is neither an auditor nor an admin of {org!r}")
        submit_one(
            ledger,
            key,
            "channel_read",
            [
                {
                    "kind": "channel_read",
                    "channel": org,
                    "purpose": "digital audit",
                    "since": start.isoformat(),
                    "until": end.isoformat(),
                }
            ],
        )
    signer = signer or Secp256k1Signer(key)
    reader = RecordReader.for_member(ledger, store, key)
    evidence = _Evidence(ledger, store, key, org)
    report = DigitalAuditReport(f"ar-{uuid.uuid4().hex[:16]}", org, start, end, signer.did)
    query = ItemQuery(
        kind="emissions_record", org=org, since=start.isoformat(), until=end.isoformat()
    )
    for stored in ledger.items(query):
        item = stored.item
        try:
            detail = reader.detail(item)
        except CarbonLedgerError as exc:
            report.findings.append(
                Finding(
                    item["id"],
                    item["site"],
                    item["account"],
                    (item["period"]["start"], item["period"]["end"]),
                    "contradicted",
                    f"its sealed bill details do not open: {exc}",
                )
            )
            continue
        report.findings.append(_judge(evidence, item, detail, tolerance))
    unsigned = audit_result_credential(
        issuer=signer.did,
        organisation=org,
        period_start=start,
        period_end=end,
        records=[RecordVerdict(f.record_id, f.verdict, f.reason) for f in report.findings],  # type: ignore[arg-type]
        credential_id=f"urn:carbonledger:audit:{report.id}",
    )
    report.credential = issue(unsigned, signer)
    report.sha256 = hashlib.sha256(canonicalize(report.credential)).hexdigest()
    if record:
        report.receipt = _record(ledger, store, key, report)
    return report


def _record(
    ledger: LedgerPort, store: ChannelStore, key: PrivateKey, report: DigitalAuditReport
) -> Receipt:
    state = ledger.state()
    epoch = int(state.channels[report.org]["epoch"])
    keys = ChannelKeys(state, store, key)
    blob_id, blob = keys.seal(report.org, epoch, orjson.dumps(report.credential))
    store.put_blob(blob_id, report.org, epoch, blob)
    item = {
        "kind": "audit_result",
        "id": report.id,
        "org": report.org,
        "auditor": report.auditor,
        "sha256": report.sha256,
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "counts": report.counts,
        "sealed": {"channel": report.org, "epoch": epoch, "blob": blob_id},
    }
    return submit_one(ledger, key, "audit_result", [item])


# --- streaming ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What the monitor concluded from one credential for one record (or the credential)."""

    kind: str  # invalid | mismatch | verified | pending
    credential: str
    record: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "credential": self.credential,
            "record": self.record,
            "reason": self.reason,
        }


@dataclass
class _Bill:
    record: dict[str, Any]
    kwh: Decimal
    start: datetime
    end: datetime
    values: dict[int, Decimal] = field(default_factory=dict)
    covered: int = 0
    settled: bool = False


class ReadingsMonitor:
    """Checks meter readings as they arrive against the bills recorded for that meter.

    Build it once (it opens the organisation's sealed bill amounts with ``key``),
    then call :meth:`observe` with each credential posted. A mismatch is reported
    as soon as it is certain: at once when the readings so far already exceed the
    bill plus the tolerance, otherwise when the period is fully covered.
    """

    def __init__(
        self,
        ledger: LedgerPort,
        store: ChannelStore,
        key: PrivateKey,
        org: str,
        *,
        tolerance: Tolerance = TOLERANCE,
    ) -> None:
        state = ledger.state()
        channel_access(state, org, key.address)
        self._tol = tolerance
        self._checker = _Checker(ledger, state.devices, state.sites, ledger_status_checker(ledger))
        self._devices = state.devices
        reader = RecordReader.for_member(ledger, store, key)
        self._bills: dict[tuple[str, str], list[_Bill]] = {}
        for stored in ledger.items(ItemQuery(kind="emissions_record", org=org)):
            item = stored.item
            detail = reader.detail(item)
            unit = str(detail["unit"])
            if dimension(unit) != "energy":
                continue
            ps, pe = _bounds(item["period"])
            kwh = convert(Decimal(str(detail["amount"])), unit, "kWh")
            self._bills.setdefault((item["site"], item["account"]), []).append(
                _Bill(item, kwh, ps, pe)
            )

    def observe(
        self, credential: dict[str, Any], *, anchored_at: datetime | None = None
    ) -> list[AuditEvent]:
        """Check one MeterReadingsCredential; return what it showed, mismatches first."""
        name = f"vc-{hashlib.sha256(canonicalize(credential)).hexdigest()[:40]}"
        issuer = issuer_id(credential)
        holder = next(
            (
                h
                for h in self._devices.values()
                if h.get("kind") == "device" and h.get("did") == issuer
            ),
            None,
        )
        if holder is None:
            return [
                AuditEvent("invalid", name, None, f"issuer {issuer} is not a registered device")
            ]
        subject = credential.get("credentialSubject") or {}
        anchor = {
            "id": name,
            "type": METER_READINGS,
            "issuer": issuer,
            "holder": holder["id"],
            "site": subject.get("siteId"),
            "account": holder["meter"],
        }
        checked = self._checker.check(anchor, credential, anchored_at or datetime.now(UTC))
        if checked.problems:
            return [AuditEvent("invalid", name, None, "; ".join(checked.problems))]
        events = []
        for bill in self._bills.get((holder["site"], holder["meter"]), ()):
            if bill.settled:
                continue
            touched = False
            lo, hi = int(bill.start.timestamp()), int(bill.end.timestamp())
            for at, wh in zip(checked.times, checked.values, strict=True):
                if lo <= at < hi and at not in bill.values:
                    bill.values[at] = wh
                    bill.covered += checked.step
                    touched = True
            if touched:
                events.append(self._settle(bill, name))
        events.sort(key=lambda e: e.kind != "mismatch")
        return events

    def _settle(self, bill: _Bill, name: str) -> AuditEvent:
        total = sum(bill.values.values(), Decimal(0)) / _WH_PER_KWH
        allowed = self._tol.allowed(bill.kwh)
        diff = total - bill.kwh
        complete = bill.covered >= int((bill.end - bill.start).total_seconds())
        rid = bill.record["id"]
        told = (
            f"readings so far sum to {_kwh(str(total))} kWh; the bill"
            f" {bill.record['period']['start']}..{bill.record['period']['end']} says"
            f" {_kwh(str(bill.kwh))} kWh (tolerance {_kwh(str(allowed))} kWh)"
        )
        if diff > allowed or (complete and abs(diff) > allowed):
            bill.settled = True
            return AuditEvent("mismatch", name, rid, told)
        if complete:
            bill.settled = True
            return AuditEvent("verified", name, rid, told)
        return AuditEvent("pending", name, rid, told)
