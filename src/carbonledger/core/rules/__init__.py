"""Rules of the ledger's transaction types, one module per area.

Each rule is ``rule(state, body, items) -> None``: it raises a
:class:`~carbonledger.errors.CarbonLedgerError` if the transaction does not hold
and otherwise advances ``state`` (replacing nested values, never mutating them).
The table of every rule and the function that applies it live in
:mod:`carbonledger.core.authority`; the DAO's rules in :mod:`carbonledger.core.dao.rules`.
"""

__all__: list[str] = []
