"""Token accounting without I/O: units, Scope 2 allocation, offsets directory, net emissions.

Marginal (time-of-use) displacement lives in :mod:`carbonledger.core.tokens.marginal`
and needs numpy; it is not imported here.
"""

from carbonledger.core.tokens.model import (
    AUDITED,
    BASE_UNITS,
    MAX_AMOUNT,
    OFFSET,
    REC,
    TOKEN_TYPES,
    SerialRange,
)

__all__ = ["AUDITED", "BASE_UNITS", "MAX_AMOUNT", "OFFSET", "REC", "TOKEN_TYPES", "SerialRange"]
