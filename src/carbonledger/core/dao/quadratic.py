"""Quadratic votes, exactly: votes = the square root of the tokens locked.

DAO tokens are whole units (no fractions). Votes are integers of *vote units*,
``VOTE_SCALE = 10**7`` to one vote, so a vote is shown to 7 decimal places:

    units(tokens) = round(sqrt(tokens) * 10**7)   (to nearest; ties cannot occur)

computed with integers only: ``s = isqrt(tokens * 10**14)`` and one more unit
when ``tokens * 10**14 > s*s + s`` (i.e. the root is at least ``s + 1/2``; the
root of an integer is never exactly ``k + 1/2``). So 200,000 tokens give
4,472,135,955 units (447.2135955 votes; the root is 447.21359549995...) and
100,000 give 3,162,277,660 units (316.227766 votes). Every backend computes the
same integers (the EVM mirror: a Babylonian ``isqrt`` over ``uint256`` and the
same comparison), and a ballot's units differ from the exact root by at most
half a unit (0.00000005 votes).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from carbonledger.errors import InvalidInput

__all__ = [
    "VOTE_DECIMALS",
    "VOTE_SCALE",
    "format_votes",
    "parse_votes",
    "votes_decimal",
    "votes_for",
]

VOTE_DECIMALS = 7
VOTE_SCALE = 10**VOTE_DECIMALS
_SQUARE_SCALE = VOTE_SCALE * VOTE_SCALE


def votes_for(tokens: int) -> int:
    """Vote units of ``tokens`` locked: ``round(sqrt(tokens) * 10**7)``, in integers."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise InvalidInput(f"tokens must be a non-negative integer, got {tokens!r}")
    scaled = tokens * _SQUARE_SCALE
    root = math.isqrt(scaled)
    return root + 1 if scaled > root * root + root else root


def votes_decimal(units: int) -> Decimal:
    """Vote units as an exact Decimal number of votes."""
    return Decimal(units).scaleb(-VOTE_DECIMALS)


def format_votes(units: int) -> str:
    """``4472135955`` -> ``"447.2135955"``; ``3162277660`` -> ``"316.227766"``; ``0`` -> ``"0"``."""
    whole, frac = divmod(units, VOTE_SCALE)
    text = f"{frac:0{VOTE_DECIMALS}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def parse_votes(text: str) -> int:
    """``"632"`` or ``"447.2135955"`` votes -> vote units (at most 7 decimals)."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidInput(f"{text!r} is not a number of votes") from exc
    units = value.scaleb(VOTE_DECIMALS)
    if not value.is_finite() or units != units.to_integral_value() or value < 0:
        raise InvalidInput(
            f"{text!r}: votes are non-negative with at most {VOTE_DECIMALS} decimals"
        )
    return int(units)
