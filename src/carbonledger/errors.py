"""Errors raised by carbonledger.

Every error the package raises derives from :class:`CarbonLedgerError`; each
subclass also derives from the matching built-in so callers that catch the
built-in keep working::

    CarbonLedgerError(Exception)
    ├── InvalidInput(ValueError)          bad value from a user, a file or a request
    │   ├── UnknownUnit                   a unit we do not convert (names the unit)
    │   ├── RowError                      one bad row in an import (line, field, reason)
    │   └── OverlappingPeriod             a bill period overlaps an accepted one
    ├── NotFound(LookupError)             an organisation, site, record or factor is absent
    │   └── FactorNotFound                no factor for the region, year and gas asked for
    ├── Conflict(ValueError)              the ledger state does not allow the transaction
    │   └── DuplicateEntity               the id is already registered
    ├── PermissionDenied(PermissionError) the signer's roles or channel access do not allow it
    ├── SignatureInvalid(ValueError)      a signature does not verify or names another signer
    ├── IntegrityError(ValueError)        stored ledger data does not hold (names the entry)
    └── ConfigurationError(RuntimeError)  the ledger home or a configuration file is unusable
"""

from __future__ import annotations

__all__ = [
    "CarbonLedgerError",
    "ConfigurationError",
    "Conflict",
    "DuplicateEntity",
    "FactorNotFound",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "OverlappingPeriod",
    "PermissionDenied",
    "RowError",
    "SignatureInvalid",
    "UnknownUnit",
]


class CarbonLedgerError(Exception):
    """Root of every error raised by carbonledger."""


class InvalidInput(CarbonLedgerError, ValueError):
    """A value from a user, file or request is not acceptable."""


class UnknownUnit(InvalidInput):
    """A unit of measure that carbonledger does not convert."""


class RowError(InvalidInput):
    """One row of an import file is invalid."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(f"line {line}: {field}: {reason}")
        self.line = line
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[RowError], tuple[int, str, str]]:
        # Rebuilt from its parts (not its message), so it crosses process boundaries.
        return (RowError, (self.line, self.field, self.reason))


class OverlappingPeriod(InvalidInput):
    """A bill's period overlaps a bill already accepted for the same account."""


class NotFound(CarbonLedgerError, LookupError):
    """The thing asked for does not exist."""


class FactorNotFound(NotFound):
    """No emission factor matches the region, edition and gas asked for."""


class Conflict(CarbonLedgerError, ValueError):
    """The ledger's current state does not allow this transaction."""


class DuplicateEntity(Conflict):
    """The id is already registered."""


class PermissionDenied(CarbonLedgerError, PermissionError):
    """The signer's roles, revocation status or channel access do not allow this."""


class SignatureInvalid(CarbonLedgerError, ValueError):
    """A signature does not verify, or verifies for another signer."""


class IntegrityError(CarbonLedgerError, ValueError):
    """Stored ledger data does not hold; the message names the first bad entry."""

    def __init__(self, message: str, *, entry: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry


class ConfigurationError(CarbonLedgerError, RuntimeError):
    """The ledger home or a configuration file cannot be used."""
