"""Pure core: units, emission factors and the calculator (no I/O)."""
