"""Split a quantity into parts that add up to it exactly (largest-remainder rounding).

Rounding each share on its own can leave the parts a unit or two off the whole
(renewable + non-renewable kWh != the kWh billed); here each part is rounded down
to the whole's precision and the units left over go to the largest remainders.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal, localcontext

from carbonledger.errors import InvalidInput

__all__ = ["largest_remainder"]


def largest_remainder(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, each part at ``total``'s precision.

    The parts sum exactly to ``total``; ties between equal remainders go to the
    earlier part. Weights must be >= 0 and not all 0.
    """
    if any(w < 0 for w in weights) or not any(weights):
        raise InvalidInput(f"weights must be >= 0 and not all 0, got {list(weights)}")
    exponent = total.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    quantum = Decimal(1).scaleb(-places)
    with localcontext() as exact:
        # Enough digits for the whole in units of its last place and each share of it
        # (a unit conversion can give a total of 40 digits, past the default 28).
        digits = len(total.as_tuple().digits) + max(len(w.as_tuple().digits) for w in weights)
        exact.prec = max(exact.prec, digits + 10)
        units = (total / quantum).to_integral_value()
        whole = sum(weights, Decimal(0))
        raw = [units * w / whole for w in weights]
        floors = [r.to_integral_value(rounding=ROUND_FLOOR) for r in raw]
        left = int(units - sum(floors, Decimal(0)))
        by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
        for i in by_remainder[:left]:
            floors[i] += 1
        return [(f * quantum).quantize(quantum) for f in floors]
