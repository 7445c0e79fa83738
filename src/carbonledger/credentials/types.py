"""carbonledger's credential types: meter readings, utility bills, audit results.

Builders return unsigned credentials (pass them to :func:`~carbonledger.credentials.issue`);
validators check a credential's subject and raise ``InvalidInput`` naming the
field. Quantities and money are decimal strings, never floats, so the JCS bytes
that are signed are the same on every platform. Terms live under
``https://carbonledger.org/ns/v1#`` (bundled context ``carbonledger-v1.jsonld``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from carbonledger.credentials.bundled import CARBONLEDGER_CONTEXT, inline_context
from carbonledger.credentials.proof import format_datetime, parse_datetime
from carbonledger.credentials.vc import VC_V2_CONTEXT, issuer_id
from carbonledger.errors import InvalidInput

__all__ = [
    "AUDIT_RESULT",
    "CARBONLEDGER_CONTEXT",
    "METER_READINGS",
    "UTILITY_BILL",
    "VERDICTS",
    "VOCAB",
    "RecordVerdict",
    "audit_result_credential",
    "check_context",
    "meter_readings_credential",
    "reading_pair",
    "utility_bill_credential",
    "validate",
    "validate_audit_result",
    "validate_meter_readings",
    "validate_utility_bill",
]

VOCAB: Final = "https://carbonledger.org/ns/v1#"
METER_READINGS: Final = "MeterReadingsCredential"
UTILITY_BILL: Final = "UtilityBillCredential"
AUDIT_RESULT: Final = "AuditResultCredential"
VERDICTS: Final = ("verified", "unverifiable", "contradicted")
_ENERGY_UNITS: Final = ("Wh",)
_DECIMAL_RE: Final = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
_UTC_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

Verdict = Literal["verified", "unverifiable", "contradicted"]


def _decimal_text(value: Decimal | str | int, field: str, *, negative: bool = False) -> str:
    if isinstance(value, float | bool):
        raise InvalidInput(f"{field}: use Decimal or a decimal string, not {type(value).__name__}")
    try:
        number = Decimal(value) if isinstance(value, Decimal | int) else Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field}: not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise InvalidInput(f"{field}: must be finite, got {value!r}")
    if number < 0 and not negative:
        raise InvalidInput(f"{field}: must not be negative, got {value!r}")
    text = format(number, "f")
    return "0" if text in ("-0", "0") else text


def _check_decimal(value: object, field: str, *, negative: bool = False) -> Decimal:
    if not isinstance(value, str) or not _DECIMAL_RE.match(value):
        raise InvalidInput(f"{field}: must be a decimal string such as '12.5', got {value!r}")
    number = Decimal(value)
    if number < 0 and not negative:
        raise InvalidInput(f"{field}: must not be negative, got {value!r}")
    return number


def _utc(value: datetime | str, field: str) -> str:
    moment = parse_datetime(value, field) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInput(f"{field}: needs an aware datetime (UTC), got {value!r}")
    return format_datetime(moment)


def _check_utc(value: object, field: str) -> datetime:
    if not isinstance(value, str) or not _UTC_RE.match(value):
        raise InvalidInput(f"{field}: must be an ISO 8601 UTC time like 2024-01-01T00:00:00Z")
    return parse_datetime(value, field)


def _check_date(value: object, field: str) -> date:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a date string YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: not a date YYYY-MM-DD: {value!r}") from None


def _check_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field}: must be a non-empty string")
    return value


def _envelope(
    kind: str,
    issuer: str,
    subject: dict[str, Any],
    cred_id: str | None,
    valid_from: datetime | None,
) -> dict[str, Any]:
    _check_text(issuer, "issuer")
    credential: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT, inline_context()],
        "type": ["VerifiableCredential", kind],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from or datetime.now(UTC)),
        "credentialSubject": subject,
    }
    if cred_id is not None:
        credential["id"] = _check_text(cred_id, "id")
    return credential


def check_context(credential: Mapping[str, Any]) -> None:
    """Require carbonledger's terms in ``@context``: the URL (older credentials) or inline.

    Raises:
        InvalidInput: neither the context URL nor the inline context is there.
    """
    ctx = credential.get("@context")
    if not isinstance(ctx, list) or (
        CARBONLEDGER_CONTEXT not in ctx and inline_context() not in ctx
    ):
        raise InvalidInput(f"@context: must include {CARBONLEDGER_CONTEXT} or its terms inline")


def _subject(credential: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    if not isinstance(credential, Mapping):
        raise InvalidInput("a credential must be a JSON object")
    types = credential.get("type")
    if not isinstance(types, list) or kind not in types:
        raise InvalidInput(f"type: not a {kind}")
    check_context(credential)
    subject = credential.get("credentialSubject")
    if not isinstance(subject, Mapping):
        raise InvalidInput("credentialSubject: must be one JSON object")
    return subject


# --- meter readings ------------------------------------------------------------------


def reading_pair(row: object, index: int) -> tuple[object, object]:
    """(start, value) of one reading: ``{"start", "value"}``, or the older ``[start, value]``.

    Credentials issued before readings became JSON-LD objects carry pairs; they
    are still anchored on existing ledgers, so both shapes are read.
    """
    if isinstance(row, Mapping) and row.keys() == {"start", "value"}:
        return row["start"], row["value"]
    if isinstance(row, list) and len(row) == 2:
        return row[0], row[1]
    raise InvalidInput(f"readings[{index}]: must be an object {{start, value}}")


def meter_readings_credential(
    *,
    issuer: str,
    meter_id: str,
    site_id: str,
    interval_seconds: int,
    readings: Iterable[tuple[datetime | str, Decimal | str | int]],
    unit: str = "Wh",
    credential_id: str | None = None,
    valid_from: datetime | None = None,
) -> dict[str, Any]:
    """A meter's batch of interval readings, signed by the meter's ``did:key``.

    ``readings`` are (interval start, energy) pairs in time order; the period runs
    from the first start to the last start plus one interval, and the total is
    their exact decimal sum.
    """
    if unit not in _ENERGY_UNITS:
        raise InvalidInput(f"unit: must be one of {_ENERGY_UNITS}, got {unit!r}")
    if not isinstance(interval_seconds, int) or interval_seconds <= 0:
        raise InvalidInput("intervalSeconds: must be a positive integer")
    rows = [
        {
            "start": _utc(at, f"readings[{i}].start"),
            "value": _decimal_text(v, f"readings[{i}].value"),
        }
        for i, (at, v) in enumerate(readings)
    ]
    if not rows:
        raise InvalidInput("readings: at least one reading is needed")
    last = parse_datetime(rows[-1]["start"], "readings[-1].start")
    subject = {
        "type": "MeterReadings",
        "meterId": _check_text(meter_id, "meterId"),
        "siteId": _check_text(site_id, "siteId"),
        "unit": unit,
        "intervalSeconds": interval_seconds,
        "periodStart": rows[0]["start"],
        "periodEnd": format_datetime(last + timedelta(seconds=interval_seconds)),
        "total": _decimal_text(sum((Decimal(r["value"]) for r in rows), Decimal(0)), "total"),
        "readings": rows,
    }
    credential = _envelope(METER_READINGS, issuer, subject, credential_id, valid_from)
    validate_meter_readings(credential)
    return credential


def validate_meter_readings(credential: Mapping[str, Any]) -> None:
    """Check a MeterReadingsCredential's subject.

    Raises:
        InvalidInput: a missing or malformed field, readings out of order or off
            the interval grid, outside the period, or a total that is not their sum.
    """
    subject = _subject(credential, METER_READINGS)
    issuer = issuer_id(credential)
    if issuer is None or not issuer.startswith("did:key:"):
        raise InvalidInput("issuer: a meter signs as its did:key")
    _check_text(subject.get("meterId"), "meterId")
    _check_text(subject.get("siteId"), "siteId")
    if subject.get("unit") not in _ENERGY_UNITS:
        raise InvalidInput(f"unit: must be one of {_ENERGY_UNITS}")
    step = subject.get("intervalSeconds")
    if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
        raise InvalidInput("intervalSeconds: must be a positive integer")
    start = _check_utc(subject.get("periodStart"), "periodStart")
    end = _check_utc(subject.get("periodEnd"), "periodEnd")
    if end <= start:
        raise InvalidInput("periodEnd: must be after periodStart")
    rows = subject.get("readings")
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("readings: must be a non-empty list of {start, value} objects")
    total = Decimal(0)
    previous: datetime | None = None
    interval = timedelta(seconds=step)
    for i, row in enumerate(rows):
        at_text, value = reading_pair(row, i)
        at = _check_utc(at_text, f"readings[{i}].start")
        total += _check_decimal(value, f"readings[{i}].value")
        if at < start or at + interval > end:
            raise InvalidInput(f"readings[{i}].start: outside the period")
        if (at - start) % interval:
            raise InvalidInput(f"readings[{i}].start: not on the {step}-second interval grid")
        if previous is not None and at <= previous:
            raise InvalidInput(f"readings[{i}].start: not after the previous reading")
        previous = at
    if _check_decimal(subject.get("total"), "total") != total:
        raise InvalidInput(f"total: {subject.get('total')} is not the sum of readings ({total})")


# --- utility bills -------------------------------------------------------------------


def utility_bill_credential(
    *,
    issuer: str,
    account: str,
    site_id: str,
    period_start: date,
    period_end: date,
    amount: Decimal | str | int,
    unit: str,
    cost: Decimal | str | int,
    currency: str,
    credential_id: str | None = None,
    valid_from: datetime | None = None,
) -> dict[str, Any]:
    """A utility's bill for one account and site; period dates are inclusive."""
    for name, value in (("periodStart", period_start), ("periodEnd", period_end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise InvalidInput(f"{name}: must be a date")
    subject = {
        "type": "UtilityBill",
        "account": _check_text(account, "account"),
        "siteId": _check_text(site_id, "siteId"),
        "periodStart": period_start.isoformat(),
        "periodEnd": period_end.isoformat(),
        "amount": _decimal_text(amount, "amount"),
        "unit": _check_text(unit, "unit"),
        "cost": _decimal_text(cost, "cost", negative=True),
        "currency": currency,
    }
    credential = _envelope(UTILITY_BILL, issuer, subject, credential_id, valid_from)
    validate_utility_bill(credential)
    return credential


def validate_utility_bill(credential: Mapping[str, Any]) -> None:
    """Check a UtilityBillCredential's subject.

    Raises:
        InvalidInput: a missing or malformed field, or an inverted period.
    """
    subject = _subject(credential, UTILITY_BILL)
    _check_text(subject.get("account"), "account")
    _check_text(subject.get("siteId"), "siteId")
    start = _check_date(subject.get("periodStart"), "periodStart")
    end = _check_date(subject.get("periodEnd"), "periodEnd")
    if end < start:
        raise InvalidInput("periodEnd: must not be before periodStart (dates are inclusive)")
    _check_decimal(subject.get("amount"), "amount")
    _check_text(subject.get("unit"), "unit")
    _check_decimal(subject.get("cost"), "cost", negative=True)  # credits are negative
    currency = subject.get("currency")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise InvalidInput(f"currency: must be an ISO 4217 code like 'USD', got {currency!r}")


# --- audit results -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordVerdict:
    """An auditor's finding on one record."""

    record_id: str
    verdict: Verdict
    reason: str


def audit_result_credential(
    *,
    issuer: str,
    organisation: str,
    period_start: date,
    period_end: date,
    records: Sequence[RecordVerdict],
    credential_id: str | None = None,
    valid_from: datetime | None = None,
) -> dict[str, Any]:
    """An auditor's verdict on every record it checked for an organisation and period."""
    subject = {
        "type": "AuditResult",
        "organisation": _check_text(organisation, "organisation"),
        "periodStart": period_start.isoformat(),
        "periodEnd": period_end.isoformat(),
        "recordsChecked": len(records),
        "records": [
            {
                "type": "RecordVerdict",
                "recordId": r.record_id,
                "verdict": r.verdict,
                "reason": r.reason,
            }
            for r in records
        ],
    }
    credential = _envelope(AUDIT_RESULT, issuer, subject, credential_id, valid_from)
    validate_audit_result(credential)
    return credential


def validate_audit_result(credential: Mapping[str, Any]) -> None:
    """Check an AuditResultCredential's subject.

    Raises:
        InvalidInput: a missing field, an unknown verdict, a verdict without a
            reason, a repeated record, or a count that does not match.
    """
    subject = _subject(credential, AUDIT_RESULT)
    _check_text(subject.get("organisation"), "organisation")
    start = _check_date(subject.get("periodStart"), "periodStart")
    if _check_date(subject.get("periodEnd"), "periodEnd") < start:
        raise InvalidInput("periodEnd: must not be before periodStart")
    records = subject.get("records")
    if not isinstance(records, list):
        raise InvalidInput("records: must be a list")
    if subject.get("recordsChecked") != len(records):
        raise InvalidInput(f"recordsChecked: must equal the number of records ({len(records)})")
    seen: set[str] = set()
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInput(f"records[{i}]: must be an object")
        rid = _check_text(record.get("recordId"), f"records[{i}].recordId")
        if rid in seen:
            raise InvalidInput(f"records[{i}].recordId: {rid} appears twice")
        seen.add(rid)
        if record.get("verdict") not in VERDICTS:
            raise InvalidInput(f"records[{i}].verdict: must be one of {VERDICTS}")
        _check_text(record.get("reason"), f"records[{i}].reason")


_VALIDATORS: Final = {
    METER_READINGS: validate_meter_readings,
    UTILITY_BILL: validate_utility_bill,
    AUDIT_RESULT: validate_audit_result,
}


def validate(credential: Mapping[str, Any]) -> str:
    """Validate a carbonledger credential by its type; return that type.

    Raises:
        InvalidInput: no carbonledger type, or the type's validator rejects it.
    """
    types = credential.get("type") if isinstance(credential, Mapping) else None
    for kind in types if isinstance(types, list) else ():
        validator = _VALIDATORS.get(kind)
        if validator is not None:
            validator(credential)
            return str(kind)
    raise InvalidInput(f"type: not one of {sorted(_VALIDATORS)}")
