"""A value with a final newline is not the value without it: a pattern anchored with
``$`` also matches before a final newline, so each check here refuses ``value + "\\n"``
where it accepts ``value`` (the same registry serial, grid region or address would
otherwise be two different strings the ledger takes as one kind of thing)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from carbonledger.core.tokens.model import SerialRange, check_grid_region
from carbonledger.crypto.keys import PrivateKey, checksum_address
from carbonledger.errors import CarbonLedgerError

ADDRESS = PrivateKey.generate().address

CHECKS: dict[str, tuple[Callable[[str], object], str]] = {
    "address": (checksum_address, ADDRESS),
    "grid region": (lambda v: check_grid_region(v, "item"), "GB"),
    "serial prefix": (
        lambda v: SerialRange.parse({"prefix": v, "start": 1, "end": 2}, "item"),
        "GO-2024-",
    ),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_value_is_accepted_and_with_a_final_newline_refused(name: str) -> None:
    check, good = CHECKS[name]
    check(good)
    with pytest.raises((CarbonLedgerError, ValueError)):
        check(good + "\n")
